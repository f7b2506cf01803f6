//! sch_tdma's tracepoints: attached as raw tracepoints whenever the module
//! is loaded (its tracepoints exist only then, and it has no BTF on distro
//! kernels, so `tp_btf` cannot reach them).

use std::path::Path;

use anyhow::Result;
use aya::Ebpf;
use aya::programs::RawTracePoint;
use formats::abi::probe_id;

use super::describe;

/// Program name in the tracepoint object, tracepoint name, probe id.
pub const TDMA_TRACEPOINTS: &[(&str, &str, u32)] = &[
    ("rtp_tdma_enqueue", "tdma_enqueue", probe_id::TDMA_ENQUEUE),
    ("rtp_tdma_dequeue", "tdma_dequeue", probe_id::TDMA_DEQUEUE),
    ("rtp_tdma_drop", "tdma_drop", probe_id::TDMA_DROP),
    (
        "rtp_tdma_window_open",
        "tdma_window_open",
        probe_id::TDMA_WINDOW_OPEN,
    ),
    (
        "rtp_tdma_window_close",
        "tdma_window_close",
        probe_id::TDMA_WINDOW_CLOSE,
    ),
    ("rtp_tdma_change", "tdma_change", probe_id::TDMA_CHANGE),
];

/// The qdisc's kernel module name.
pub const MODULE: &str = "sch_tdma";

pub fn module_loaded() -> bool {
    Path::new("/sys/module").join(MODULE).exists()
}

pub fn is_tdma_tracepoint(name: &str) -> bool {
    TDMA_TRACEPOINTS.iter().any(|&(_, tp, _)| tp == name)
}

/// Attaches the sch_tdma tracepoints named in `selection` (all of them when
/// it is empty). Returns the names attached, and those that failed with why.
pub fn attach(
    ebpf: &mut Ebpf,
    selection: &[String],
) -> (Vec<&'static str>, Vec<(&'static str, String)>) {
    let mut attached = Vec::new();
    let mut failed = Vec::new();
    for &(program, tracepoint, _) in TDMA_TRACEPOINTS {
        if !selection.is_empty() && !selection.iter().any(|s| s == tracepoint) {
            continue;
        }
        match load_and_attach(ebpf, program, tracepoint) {
            Ok(()) => attached.push(tracepoint),
            Err(why) => failed.push((tracepoint, why)),
        }
    }
    (attached, failed)
}

fn load_and_attach(ebpf: &mut Ebpf, program: &str, tracepoint: &str) -> Result<(), String> {
    let prog: &mut RawTracePoint = ebpf
        .program_mut(program)
        .ok_or_else(|| format!("program {program} missing from the BPF object"))?
        .try_into()
        .map_err(|e| describe(&e))?;
    prog.load().map_err(|e| describe(&e))?;
    prog.attach(tracepoint).map_err(|e| describe(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{ConfigGlobal, OffsetsGlobal};

    /// The host cannot load the module, but its kernel verifies the programs:
    /// each loads (raw tracepoint programs bind to a tracepoint at attach).
    /// The tracepoint object, loaded with this kernel's offsets.
    fn tracepoint_object() -> Ebpf {
        let kernel = symbols::btf::KernelBtf::from_sys().unwrap();
        let offsets = OffsetsGlobal(kernel.kernel_offsets().unwrap());
        let config = ConfigGlobal(formats::abi::TraceConfig::accept_all());
        aya::EbpfLoader::new()
            .override_global("OFFSETS", &offsets, true)
            .override_global("CONFIG", &config, true)
            .map_max_entries("EVENTS", 64 * 1024)
            .load(crate::session::BPF_OBJECT)
            .unwrap()
    }

    #[test]
    fn tdma_programs_pass_the_verifier() {
        let mut ebpf = tracepoint_object();
        for &(program, _, _) in TDMA_TRACEPOINTS {
            let prog: &mut RawTracePoint = ebpf.program_mut(program).unwrap().try_into().unwrap();
            prog.load()
                .unwrap_or_else(|e| panic!("{program}: {}", describe(&e)));
        }
    }

    #[test]
    fn attaching_without_the_module_fails_per_tracepoint_not_wholesale() {
        if module_loaded() {
            eprintln!("skipped: sch_tdma is loaded here");
            return;
        }
        let mut ebpf = tracepoint_object();
        let (attached, failed) = attach(&mut ebpf, &["tdma_dequeue".to_string()]);
        assert!(attached.is_empty());
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].0, "tdma_dequeue");
    }
}
