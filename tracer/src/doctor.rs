//! `pkttrace doctor`: what this kernel lets pkttrace do, found by trying.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::time::{Duration, SystemTime};

use anyhow::Result;

use crate::backend::{self, tdma, tracepoint};
use crate::cli::BackendChoice;
use crate::cost::{self, ProbeCost};
use crate::host;
use crate::prog_stats;
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
    cost_rows(&mut out)?;
    Ok(choice.is_ok() && attached.is_ok())
}

/// Whether `--cost` can work here, and what the programs of any running
/// pkttrace cost so far.
fn cost_rows(out: &mut impl Write) -> std::io::Result<()> {
    let can = match prog_stats::enable_run_time() {
        // Closing it at once puts statistics back as they were.
        Ok(_fd) => "can be turned on (BPF_ENABLE_STATS)".to_string(),
        Err(e) => format!("cannot be turned on here ({e}): --cost has nothing to show"),
    };
    let holders = bpf_holders();
    let sysctl = prog_stats::run_time_enabled();
    let now = match (sysctl, holders.stats.as_slice()) {
        (Some(true), _) => "on system-wide (kernel.bpf_stats_enabled = 1)".to_string(),
        (_, []) if sysctl.is_none() => {
            format!("state unknown ({} unreadable)", prog_stats::STATS_SYSCTL)
        }
        (_, []) => "off (kernel.bpf_stats_enabled = 0, no process holds them on)".to_string(),
        (_, pids) => format!(
            "on while held by pid {} (kernel.bpf_stats_enabled = 0)",
            pids.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    row(out, "cost", format!("BPF run-time statistics {can}; {now}"))?;
    let running = running_pkttrace_costs(&holders.programs);
    if running.is_empty() {
        return row(out, "", "no other pkttrace is running");
    }
    let on_now = sysctl == Some(true) || !holders.stats.is_empty();
    let how = "`pkttrace --cost` turns them on for its trace, `sysctl kernel.bpf_stats_enabled=1` for everything";
    let mut noted = false;
    for (pid, (since_load, costs)) in &running {
        if !on_now && costs.iter().all(|c| c.runs == 0) {
            row(
                out,
                "",
                format!(
                    "pkttrace pid {pid}: {} probes, nothing counted: statistics are off ({how})",
                    costs.len()
                ),
            )?;
            continue;
        }
        if sysctl != Some(true) && !noted {
            row(
                out,
                "",
                format!("the runs and times below count only while statistics were on ({how})"),
            )?;
            noted = true;
        }
        row(
            out,
            "",
            format!(
                "pkttrace pid {pid}, since its programs were loaded: {}",
                cost::title(costs, *since_load)
            ),
        )?;
        for line in cost::table(costs, *since_load) {
            row(out, "", format!("  {line}"))?;
        }
    }
    Ok(())
}

/// A pkttrace program by its kernel name (names are cut to 15 bytes):
/// the probe it serves and its kind. Copies of a function probe all have
/// the same name, so they are named by how many there are.
fn pkttrace_program(name: &str) -> Option<(&'static str, &'static str)> {
    let kernel_name = |program: &str| program.get(..15).unwrap_or(program).to_string();
    if let Some(spec) = tracepoint::TRACEPOINTS
        .iter()
        .find(|s| kernel_name(s.program) == name)
    {
        return Some((spec.tracepoint, "tracepoint"));
    }
    if let Some(&(_, tp, _)) = tdma::TDMA_TRACEPOINTS
        .iter()
        .find(|t| kernel_name(t.0) == name)
    {
        return Some((tp, "raw_tp"));
    }
    match name {
        // `fentry_with_skb_at!` variants are fentry programs too.
        name if name.starts_with("fn_entry") => Some(("", "fentry")),
        "fn_exit" => Some(("", "fexit")),
        "kp_entry" => Some(("", "kprobe")),
        "kp_exit" => Some(("", "kretprobe")),
        _ => None,
    }
}

/// What one process's pkttrace programs have cost so far.
#[derive(Default)]
struct Running {
    first_load: Option<SystemTime>,
    probes: Vec<ProbeCost>,
    /// Function-probe programs by kind: copies, runs, run time.
    functions: BTreeMap<&'static str, (u64, u64, u64)>,
}

/// The programs of every other running pkttrace, by process: how long ago
/// its first program was loaded, and what each probe has cost since.
fn running_pkttrace_costs(
    holders: &HashMap<u32, u32>,
) -> BTreeMap<u32, (Duration, Vec<ProbeCost>)> {
    let mut by_pid: BTreeMap<u32, Running> = BTreeMap::new();
    for info in aya::programs::loaded_programs().flatten() {
        let Some((probe, kind)) = info.name_as_str().and_then(pkttrace_program) else {
            continue;
        };
        let Some(&pid) = holders.get(&info.id()) else {
            continue;
        };
        let running = by_pid.entry(pid).or_default();
        if let Some(loaded) = info.loaded_at() {
            running.first_load = Some(running.first_load.map_or(loaded, |t| t.min(loaded)));
        }
        let runs = info.run_count();
        let run_time_ns = info.run_time().as_nanos() as u64;
        if probe.is_empty() {
            let (copies, all_runs, all_ns) = running.functions.entry(kind).or_default();
            *copies += 1;
            *all_runs += runs;
            *all_ns += run_time_ns;
        } else {
            running.probes.push(ProbeCost {
                probe: probe.to_string(),
                kind,
                runs,
                run_time_ns,
                recursion_misses: 0,
            });
        }
    }
    by_pid
        .into_iter()
        .map(|(pid, mut running)| {
            for (kind, (copies, runs, run_time_ns)) in running.functions {
                running.probes.push(ProbeCost {
                    probe: format!("{copies} function{}", if copies == 1 { "" } else { "s" }),
                    kind,
                    runs,
                    run_time_ns,
                    recursion_misses: 0,
                });
            }
            let since = running
                .first_load
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .unwrap_or_default();
            (pid, (since, running.probes))
        })
        .collect()
}

/// BPF objects other processes hold open.
#[derive(Default)]
struct Holders {
    /// Program id → the process holding it.
    programs: HashMap<u32, u32>,
    /// Processes holding run-time statistics on (`BPF_ENABLE_STATS`).
    stats: Vec<u32>,
}

/// What every other process holds, from `/proc/*/fd` and `fdinfo`; this
/// process (doctor's own test programs) left out.
fn bpf_holders() -> Holders {
    let me = std::process::id();
    let mut holders = Holders::default();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return holders;
    };
    for pid in procs
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
    {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            if target.as_os_str() == "anon_inode:bpf-stats" {
                if !holders.stats.contains(&pid) {
                    holders.stats.push(pid);
                }
                continue;
            }
            if target.as_os_str() != "anon_inode:bpf-prog" {
                continue;
            }
            let info = std::fs::read_to_string(format!(
                "/proc/{pid}/fdinfo/{}",
                fd.file_name().to_string_lossy()
            ))
            .unwrap_or_default();
            if let Some(id) = info
                .lines()
                .find_map(|l| l.strip_prefix("prog_id:")?.trim().parse().ok())
            {
                holders.programs.insert(id, pid);
            }
        }
    }
    holders
}
