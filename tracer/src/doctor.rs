//! `pkttrace doctor`: what this kernel lets pkttrace do, found by trying.

use std::io::Write;

use anyhow::Result;

use crate::backend::{self, tracepoint};
use crate::cli::BackendChoice;
use crate::host;
use crate::session::KernelInfo;

fn row(out: &mut impl Write, key: &str, value: impl AsRef<str>) -> std::io::Result<()> {
    writeln!(out, "{key:<12} {}", value.as_ref())
}

fn mounted(path: &str) -> bool {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(path))
}

/// Prints the report; returns whether tracing is possible here at all.
pub fn run() -> Result<bool> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    row(&mut out, "kernel", host::kernel_release())?;
    let (privileged, privileges) = host::privileges();
    row(&mut out, "privileges", &privileges)?;
    for (name, path) in [("bpffs", "/sys/fs/bpf"), ("tracefs", "/sys/kernel/tracing")] {
        let state = if mounted(path) {
            "mounted"
        } else {
            "not mounted"
        };
        row(&mut out, name, format!("{path} {state}"))?;
    }

    let info = match KernelInfo::load() {
        Ok(info) => info,
        Err(e) => {
            row(&mut out, "BTF", format!("unusable: {e:#}"))?;
            return Ok(false);
        }
    };
    let offsets = info.kernel.kernel_offsets();
    row(
        &mut out,
        "BTF",
        match &offsets {
            Ok(_) => "/sys/kernel/btf/vmlinux: struct offsets resolved".to_string(),
            Err(e) => format!("/sys/kernel/btf/vmlinux: {e}"),
        },
    )?;
    let reasons = info.kernel.drop_reasons().map(|r| r.len()).unwrap_or(0);
    row(
        &mut out,
        "drop reasons",
        format!("{reasons} names in enum skb_drop_reason"),
    )?;
    let Ok(offsets) = offsets else {
        return Ok(false);
    };
    if !privileged {
        row(
            &mut out,
            "backends",
            "not tried: loading BPF programs needs root",
        )?;
        return Ok(false);
    }

    let mut ebpf = match crate::session::load_for_probing(offsets) {
        Ok(ebpf) => ebpf,
        Err(e) => {
            row(&mut out, "BPF", format!("cannot load programs: {e:#}"))?;
            return Ok(false);
        }
    };
    let probes = backend::probe_all(&mut ebpf, &info.btf);
    for probe in &probes {
        let verdict = match &probe.result {
            Ok(()) => "yes (loaded and attached a test program)".to_string(),
            Err(e) => format!("no: {e}"),
        };
        row(&mut out, probe.backend.name(), verdict)?;
    }
    let attached = tracepoint::attach(&mut ebpf, &info.btf, &info.kernel, &[], true);
    match &attached {
        Ok(a) => {
            row(
                &mut out,
                "tracepoints",
                format!(
                    "{}/{} attach: {}",
                    a.tracepoints.len(),
                    tracepoint::TRACEPOINTS.len(),
                    a.tracepoints.join(" ")
                ),
            )?;
            for (tp, why) in &a.skipped {
                row(&mut out, "", format!("{tp}: {why}"))?;
            }
        }
        Err(e) => row(&mut out, "tracepoints", format!("none attach: {e:#}"))?,
    }
    let choice = backend::choose(BackendChoice::Auto, &probes);
    row(
        &mut out,
        "auto picks",
        match &choice {
            Ok((_, why)) => why.clone(),
            Err(e) => e.clone(),
        },
    )?;
    Ok(choice.is_ok() && attached.is_ok())
}
