//! Which probe types this kernel allows, found by loading a tiny program of
//! each kind rather than by guessing from versions or config files.

#[cfg(test)]
mod filter_agreement;
pub mod functions;
pub mod profiles;
pub mod qdiscs;
pub mod tdma;
pub mod tracepoint;

use std::fmt;

use aya::programs::{BtfTracePoint, FEntry, KProbe};
use aya::{Btf, Ebpf};

use crate::cli::BackendChoice;

/// The probe backends, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Fentry,
    Kprobe,
    Tracepoint,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Fentry => "fentry",
            Backend::Kprobe => "kprobe",
            Backend::Tracepoint => "tracepoint",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Outcome of trying one program type.
#[derive(Debug, Clone)]
pub struct Probe {
    pub backend: Backend,
    /// `Ok(())` when a program of this type loaded and attached.
    pub result: Result<(), String>,
}

/// The filters every BPF program must pass the verifier with: none (the
/// filter code is dead) and the longest (the verifier walks all of it).
#[cfg(test)]
pub(crate) fn verifier_test_configs() -> [formats::abi::TraceConfig; 2] {
    let longest = formats::filter::compile(
        "(tcp or udp) and (host 10.0.0.1 or net fd00::/8) and not portrange 1-1023 and \
         ifname eth0 and (tcp-syn or tcp-fin or tcp-rst) and not pid 1 and netns 4026531840",
    )
    .expect("the longest filter compiles");
    [
        formats::abi::TraceConfig::accept_all(),
        formats::filter::into_config(
            &longest,
            formats::abi::config_flag::FOLLOW_SKB | formats::abi::config_flag::STACKS,
        )
        .expect("the longest filter fits"),
    ]
}

/// Tries every program type on a throwaway load of the BPF object.
pub fn probe_all(ebpf: &mut Ebpf, btf: &Btf) -> Vec<Probe> {
    vec![
        Probe {
            backend: Backend::Fentry,
            result: try_fentry(ebpf, btf),
        },
        Probe {
            backend: Backend::Kprobe,
            result: try_kprobe(ebpf),
        },
        Probe {
            backend: Backend::Tracepoint,
            result: try_tp_btf(ebpf, btf),
        },
    ]
}

fn try_fentry(ebpf: &mut Ebpf, btf: &Btf) -> Result<(), String> {
    let prog: &mut FEntry = program(ebpf, "doctor_fentry")?;
    prog.load("ip_rcv", btf).map_err(|e| describe(&e))?;
    let link = prog.attach().map_err(|e| describe(&e))?;
    prog.detach(link).map_err(|e| describe(&e))
}

fn try_kprobe(ebpf: &mut Ebpf) -> Result<(), String> {
    if !std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        return Err("kernel built without kprobes (no kprobe event source)".into());
    }
    let prog: &mut KProbe = program(ebpf, "doctor_kprobe")?;
    prog.load().map_err(|e| describe(&e))?;
    let link = prog.attach("ip_rcv", 0).map_err(|e| describe(&e))?;
    prog.detach(link).map_err(|e| describe(&e))
}

fn try_tp_btf(ebpf: &mut Ebpf, btf: &Btf) -> Result<(), String> {
    let prog: &mut BtfTracePoint = program(ebpf, "doctor_tp_btf")?;
    prog.load("netif_receive_skb", btf)
        .map_err(|e| describe(&e))?;
    let link = prog.attach().map_err(|e| describe(&e))?;
    prog.detach(link).map_err(|e| describe(&e))
}

pub(crate) fn program<'a, T>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut T, String>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
{
    let prog = ebpf
        .program_mut(name)
        .ok_or_else(|| format!("program {name} missing from the BPF object"))?;
    prog.try_into().map_err(|e| describe(&e))
}

/// One line, without the verifier log, with the chain of causes.
pub fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    // The verifier's log is pages long: kept only on request.
    if std::env::var_os("PKTTRACE_VERIFIER_LOG").is_none()
        && let Some(cut) = text.find(". Verifier output")
    {
        text.truncate(cut);
    }
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    if std::env::var_os("PKTTRACE_VERIFIER_LOG").is_some() {
        return text;
    }
    // ENOTSUPP, which libc cannot name: what it means for a trampoline.
    if text.contains("os error 524") {
        text.push_str(
            " (ENOTSUPP: this kernel's BPF trampoline cannot take this prototype, e.g. more than 6 argument slots before Linux 6.6)",
        );
    }
    text.replace('\n', " ")
}

/// Picks the backend for function probes: the first one that works, or the
/// one asked for (an error if it does not work here).
pub fn choose(choice: BackendChoice, probes: &[Probe]) -> Result<(Backend, String), String> {
    let works = |b: Backend| {
        probes
            .iter()
            .find(|p| p.backend == b)
            .map(|p| p.result.clone())
    };
    let explain = |b: Backend| match works(b) {
        Some(Ok(())) => format!("{b}: works"),
        Some(Err(e)) => format!("{b}: {e}"),
        None => format!("{b}: not tried"),
    };
    let wanted = match choice {
        BackendChoice::Fentry => Some(Backend::Fentry),
        BackendChoice::Kprobe => Some(Backend::Kprobe),
        BackendChoice::Tracepoint => Some(Backend::Tracepoint),
        BackendChoice::Auto => None,
    };
    if let Some(b) = wanted {
        return match works(b) {
            Some(Ok(())) => Ok((b, format!("{b} (asked for)"))),
            _ => Err(format!("backend {}", explain(b))),
        };
    }
    let order = [Backend::Fentry, Backend::Kprobe, Backend::Tracepoint];
    let mut skipped = Vec::new();
    for b in order {
        if let Some(Ok(())) = works(b) {
            let why = if skipped.is_empty() {
                format!("{b} (best available)")
            } else {
                format!("{b} ({})", skipped.join("; "))
            };
            return Ok((b, why));
        }
        skipped.push(explain(b));
    }
    Err(format!(
        "no probe type works on this kernel: {}",
        skipped.join("; ")
    ))
}
