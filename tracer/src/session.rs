//! A live trace: load the BPF object with this kernel's offsets and the
//! compiled filter, attach, and pump the ring buffer into a sink.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use aya::maps::{MapData, PerCpuArray, RingBuf, StackTraceMap};
use aya::{Btf, Ebpf, EbpfLoader};
use formats::abi::{KernelOffsets, RawEvent, TraceConfig, config_flag, counter};
use formats::meta::{DropReasonTable, ProbeTable, TraceMeta, tracepoint_probes};
use formats::sink::{Sink, Summary};
use symbols::btf::KernelBtf;

use crate::UsageError;
use crate::backend::{self, Backend, functions, profiles, qdiscs, tdma, tracepoint};
use crate::cli::TraceArgs;
use crate::cost::{self, ProbeCost};
use crate::filter_args;
use crate::host;
use crate::pins::{PinDir, SHARED_MAPS};
use crate::prog_stats;
use crate::ring_wait::RingWait;
use crate::status::Status;
use crate::symbolize::{KallsymsSource, MAX_STACKS, Symbolizer};

/// The BPF object built by build.rs from tracer-ebpf.
pub(crate) static BPF_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/pkttrace-ebpf"));

/// How often lost/filtered counters are read during a live trace.
const COUNTER_INTERVAL: Duration = Duration::from_secs(1);
/// How long the reader sleeps between reads unless the ring fills up: bounds
/// how late a line appears at low rates, and how late Ctrl-C and
/// --duration are noticed.
const READ_INTERVAL: Duration = Duration::from_millis(50);

#[repr(transparent)]
#[derive(Clone, Copy)]
pub(crate) struct OffsetsGlobal(pub(crate) KernelOffsets);
// SAFETY: repr(C) plain old data with explicit padding (formats::abi).
unsafe impl aya::Pod for OffsetsGlobal {}

#[repr(transparent)]
#[derive(Clone, Copy)]
pub(crate) struct ConfigGlobal(pub(crate) TraceConfig);
// SAFETY: as above.
unsafe impl aya::Pod for ConfigGlobal {}

/// A global's bytes, as the object file holds them.
pub(crate) fn pod_bytes<T: aya::Pod>(value: &T) -> &[u8] {
    // SAFETY: Pod types are plain data without uninitialized bytes.
    unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }
}

/// When a live trace stops by itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    pub duration: Option<Duration>,
    pub max_events: Option<u64>,
}

impl Limits {
    pub fn from_args(args: &TraceArgs) -> Result<Self> {
        let duration = match args.duration {
            Some(s) if !(s.is_finite() && s > 0.0) => {
                return Err(UsageError::error(
                    "--duration must be a positive number of seconds",
                ));
            }
            Some(s) => Some(Duration::from_secs_f64(s)),
            None => None,
        };
        if args.max_events == Some(0) {
            return Err(UsageError::error("--max-events must be at least 1"));
        }
        Ok(Limits {
            duration,
            max_events: args.max_events,
        })
    }
}

/// Loaded and attached programs plus the maps userspace reads. Dropping it
/// detaches everything; the kernel does the same if the process dies.
pub struct Session {
    ebpf: Ebpf,
    /// Attached tracepoints, and sch_tdma's, by name.
    tracepoints: Vec<&'static str>,
    tdma_tracepoints: Vec<&'static str>,
    functions: functions::Attached,
    /// `--cost`: statistics on, and since when.
    cost: Option<CostMeter>,
    ring: RingBuf<MapData>,
    counters: PerCpuArray<MapData, u64>,
    /// Names stacks and drop locations for the sinks.
    symbolizer: Symbolizer,
    pub meta: TraceMeta,
    pub backend: Backend,
    /// Where the detach time is reported.
    status: Status,
}

impl Drop for Session {
    /// Detaches the function probes first, timed: with many functions it
    /// takes long enough to be worth a line.
    fn drop(&mut self) {
        let functions = std::mem::take(&mut self.functions);
        let count = functions.attached.len();
        if count > 0 {
            let started = Instant::now();
            drop(functions);
            self.status.info(format!(
                "detached {count} functions in {:.1} s",
                started.elapsed().as_secs_f64()
            ));
        }
    }
}

/// `--cost`: BPF run-time statistics held on while the probes are
/// attached. Programs are loaded just before they are attached and their
/// counters run from the load, so what they read at the end is what the
/// trace cost, events delivered while later probes attached included.
struct CostMeter {
    /// Keeps statistics on until the session ends; `None` when the kernel
    /// refused but they were on system-wide anyway.
    _stats: Option<OwnedFd>,
    /// When statistics were on and the first probe about to be attached.
    since: Instant,
}

impl CostMeter {
    /// Turns statistics on, or says in one line why the cost cannot be
    /// measured.
    fn turn_on(status: &Status) -> Option<CostMeter> {
        match prog_stats::enable_run_time() {
            Ok(fd) => Some(CostMeter {
                _stats: Some(fd),
                since: Instant::now(),
            }),
            Err(e) if prog_stats::run_time_enabled() == Some(true) => {
                status.warn(format!(
                    "--cost: the kernel refused to turn on BPF run-time statistics ({e}); they are on system-wide, so the cost comes from those"
                ));
                Some(CostMeter {
                    _stats: None,
                    since: Instant::now(),
                })
            }
            Err(e) => {
                status.warn(format!(
                    "--cost: the kernel refused to turn on BPF run-time statistics ({e}; they need Linux 5.8): tracing without the cost table"
                ));
                None
            }
        }
    }
}

/// Prints what [`Session::cost_table`] returned: the table, or why there
/// is none.
pub fn print_cost_table(table: Result<Option<Vec<String>>>, status: &Status) {
    match table {
        Ok(Some(lines)) => status.report(&lines),
        Ok(None) => {}
        Err(e) => status.warn(format!("--cost: {e:#}")),
    }
}

/// Loads the object with an accept-all filter, for capability probing.
pub fn load_for_probing(offsets: KernelOffsets) -> Result<Ebpf> {
    EbpfLoader::new()
        .override_global("OFFSETS", &OffsetsGlobal(offsets), true)
        .override_global("CONFIG", &ConfigGlobal(TraceConfig::accept_all()), true)
        // A small ring: nothing is traced.
        .map_max_entries("EVENTS", 64 * 1024)
        .load(BPF_OBJECT)
        .context("loading the BPF object")
}

/// Loads the object with its shared maps pinned in `pins`, as a trace with
/// function probes does.
#[cfg(test)]
pub(crate) fn load_for_probing_with_pins(offsets: KernelOffsets, pins: &PinDir) -> Result<Ebpf> {
    let mut loader = EbpfLoader::new();
    for map in SHARED_MAPS {
        loader.map_pin_path(map, pins.path_of(map));
    }
    loader
        .override_global("OFFSETS", &OffsetsGlobal(offsets), true)
        .override_global("CONFIG", &ConfigGlobal(TraceConfig::accept_all()), true)
        .map_max_entries("EVENTS", 64 * 1024)
        .load(BPF_OBJECT)
        .context("loading the BPF object")
}

/// What every trace needs from the kernel: its BTF in both readers.
pub struct KernelInfo {
    pub btf: Btf,
    pub kernel: KernelBtf,
}

impl KernelInfo {
    pub fn load() -> Result<Self> {
        let path = "/sys/kernel/btf/vmlinux";
        if !std::path::Path::new(path).exists() {
            bail!("this kernel has no BTF ({path} is missing; it needs CONFIG_DEBUG_INFO_BTF=y)");
        }
        let btf = Btf::from_sys_fs().context("reading kernel BTF")?;
        let kernel = KernelBtf::from_sys().context("reading kernel BTF")?;
        Ok(KernelInfo { btf, kernel })
    }
}

fn ring_bytes(kib: u32) -> Result<u32> {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    let bytes = kib as u64 * 1024;
    if !bytes.is_power_of_two() || bytes < page || bytes > (1 << 30) {
        return Err(UsageError::error(format!(
            "--ring-kib {kib}: the ring buffer must be a power of two between {} KiB and 1 GiB",
            page / 1024
        )));
    }
    Ok(bytes as u32)
}

/// Everything decided before anything is attached: what `--dry-run` shows.
pub struct Plan {
    info: KernelInfo,
    offsets: KernelOffsets,
    filter: filter_args::CompiledFilter,
    ring_bytes: u32,
    pub backend: Backend,
    pub backend_reason: String,
    pub functions: Vec<functions::Target>,
    pub skipped: Vec<functions::Skipped>,
    /// ftrace's traceable functions as (name, module), when readable.
    ftrace: Option<std::collections::HashSet<(String, Option<String>)>>,
    /// The profiles the functions come from (the defaults when none was
    /// named).
    profiles: Vec<String>,
    /// The kinds of the qdiscs installed now, when a profile probes them.
    qdiscs: Option<Vec<String>>,
    /// Set when the functions were planned only to be shown: this kernel
    /// allows neither fentry nor kprobes, and `--dry-run` shows what fentry
    /// would probe. Says why nothing can be.
    unprobeable: Option<String>,
}

impl Plan {
    /// Plans from BTF, kallsyms and what the kernel lets a probe program do.
    /// On a kernel that allows neither fentry nor kprobes, function probes
    /// are an error, except with `--dry-run`, which plans them as fentry
    /// would take them.
    pub fn make(args: &TraceArgs) -> Result<Plan> {
        let filter = filter_args::for_trace(args)?;
        let ring_bytes = ring_bytes(args.ring_kib)?;
        tracepoint::validate_selection(&args.tracepoints)?;
        if args.tracepoints.iter().any(|t| tdma::is_tdma_tracepoint(t)) && !tdma::module_loaded() {
            bail!(
                "{} is not loaded, so its tracepoints do not exist (insmod tdma-qdisc/module/{}.ko)",
                tdma::MODULE,
                tdma::MODULE
            );
        }
        host::require_privileges()?;
        let info = KernelInfo::load()?;
        let offsets = info
            .kernel
            .kernel_offsets()
            .context("computing struct offsets from kernel BTF")?;
        // Capability probing uses a throwaway copy of the object.
        let probes = {
            let mut probe_object = load_for_probing(offsets)?;
            backend::probe_all(&mut probe_object, &info.btf)
        };
        let (backend, backend_reason) =
            backend::choose(args.backend, &probes).map_err(anyhow::Error::msg)?;
        let works = |b: Backend| probes.iter().any(|p| p.backend == b && p.result.is_ok());
        let kprobes = works(Backend::Kprobe);
        let neither = !works(Backend::Fentry) && !kprobes;
        let mut selection = functions::Selection {
            profiles: args.profiles.clone(),
            globs: args.funcs.clone(),
            file: args.func_file.clone(),
            all_skb_funcs: args.all_skb_funcs,
        };
        let unprobeable = (backend == Backend::Tracepoint && neither).then(|| {
            format!(
                "function probes need fentry or kprobes, and this kernel allows neither ({backend_reason}); see `pkttrace doctor`"
            )
        });
        // How functions are planned: with the backend chosen, or for
        // --dry-run on a kernel that allows neither, as fentry would.
        let planned_as = match backend {
            Backend::Tracepoint if args.dry_run && neither => Some(Backend::Fentry),
            Backend::Tracepoint => None,
            b => Some(b),
        };
        if planned_as.is_none() && !selection.is_empty() {
            match &unprobeable {
                Some(why) => bail!("{why}"),
                None => bail!(
                    "function probes need fentry or kprobes, and --backend tracepoint uses neither"
                ),
            }
        }
        if planned_as.is_some() && selection.is_empty() {
            selection.profiles = profiles::DEFAULT_PROFILES
                .iter()
                .map(|p| p.to_string())
                .collect();
        }
        let mut qdisc_kinds = None;
        let (functions, skipped, ftrace) = match planned_as {
            None => (Vec::new(), Vec::new(), None),
            Some(planned_as) => {
                let facts = functions::Traceability::read(&info.kernel)?;
                if wants_installed_qdiscs(&selection) {
                    qdisc_kinds = Some(installed_qdisc_kinds(&Status::new(args.quiet)));
                }
                let probing = functions::Probing {
                    backend: planned_as,
                    kprobes,
                };
                let kinds = qdisc_kinds.as_deref().unwrap_or_default();
                let (functions, skipped) = functions::resolve(&selection, &facts, probing, kinds)?;
                (functions, skipped, facts.into_ftrace())
            }
        };
        Ok(Plan {
            info,
            offsets,
            filter,
            ring_bytes,
            backend,
            backend_reason,
            functions,
            skipped,
            ftrace,
            profiles: selection.profiles,
            qdiscs: qdisc_kinds,
            unprobeable: unprobeable.filter(|_| planned_as.is_some()),
        })
    }

    /// `--dry-run`: what would be probed and why the rest would not.
    pub fn print(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        match &self.unprobeable {
            Some(_) => writeln!(
                out,
                "backend: {}: this kernel allows neither fentry nor kprobes, so nothing would be probed; below is what fentry would probe",
                self.backend_reason
            )?,
            None => writeln!(out, "backend: {}", self.backend_reason)?,
        }
        for name in &self.profiles {
            let Some(profile) = profiles::find(name) else {
                continue;
            };
            write!(out, "profile {}: {}", profile.name, profile.about)?;
            match (&self.qdiscs, profile.installed_qdiscs) {
                (Some(kinds), true) if !kinds.is_empty() => {
                    writeln!(out, " (qdiscs installed now: {})", kinds.join(", "))?
                }
                (_, true) => writeln!(out, " (no qdisc found installed)")?,
                (_, false) => writeln!(out)?,
            }
        }
        writeln!(out, "functions to probe: {}", self.functions.len())?;
        for t in &self.functions {
            let arg = |a: Option<usize>| a.map_or("-".to_string(), |a| a.to_string());
            let how = if t.btf {
                format!(
                    "skb arg {:<2} sock arg {:<2}",
                    arg(t.skb_arg),
                    arg(t.sock_arg)
                )
            } else {
                "kprobe (no BTF)".to_string()
            };
            writeln!(
                out,
                "  probe  {:<40} {how} ({})",
                labelled(&t.name, t.module.as_deref()),
                t.origin
            )?;
        }
        writeln!(out, "functions skipped: {}", self.skipped.len())?;
        for s in &self.skipped {
            writeln!(
                out,
                "  skip   {:<40} {} ({})",
                labelled(&s.name, s.module.as_deref()),
                s.why,
                s.origin
            )?;
        }
        Ok(())
    }
}

/// `name`, or `name [module]` for a module's function, as kallsyms writes it.
fn labelled(name: &str, module: Option<&str>) -> String {
    match module {
        Some(module) => format!("{name} [{module}]"),
        None => name.to_string(),
    }
}

/// Whether a selected profile probes the qdiscs installed now (`dev`).
fn wants_installed_qdiscs(selection: &functions::Selection) -> bool {
    selection
        .profiles
        .iter()
        .any(|p| profiles::find(p).is_some_and(|p| p.installed_qdiscs))
}

/// The kinds of the qdiscs installed now; a namespace that cannot be read
/// is left out, said once.
fn installed_qdisc_kinds(status: &Status) -> Vec<String> {
    let installed = qdiscs::installed();
    if !installed.unread.is_empty() {
        status.warn(format!(
            "profile dev: the qdiscs of {} could not be read, so their enqueue/dequeue functions are not probed",
            installed.unread.join("; ")
        ));
    }
    installed.kinds
}

impl Session {
    /// Plans, loads and attaches. Fails without leaving anything attached:
    /// every program and link belongs to an `Ebpf` dropped on error.
    pub fn start(args: &TraceArgs, status: &Status) -> Result<Session> {
        let plan = Plan::make(args)?;
        // Functions planned only to be shown (`--dry-run` in another
        // command) cannot be attached.
        if let Some(why) = &plan.unprobeable {
            bail!("{why}");
        }
        Session::from_plan(plan, &args.tracepoints, args.cost, status)
    }

    /// `with_cost`: turn on BPF run-time statistics for the session, so
    /// that [`Session::cost_table`] can say what each probe cost.
    pub fn from_plan(
        plan: Plan,
        tracepoints: &[String],
        with_cost: bool,
        status: &Status,
    ) -> Result<Session> {
        status.info(format!("backend: {}", plan.backend_reason));
        // Read while the programs load and attach.
        let kallsyms = KallsymsSource::load_in_background();
        // Read from BTF before anything is attached: it takes tens of
        // milliseconds, and events written meanwhile would wait unread.
        let drop_reasons =
            DropReasonTable::new(plan.info.kernel.drop_reasons().unwrap_or_default());
        // Before anything is attached, so every run is counted.
        let cost = if with_cost {
            CostMeter::turn_on(status)
        } else {
            None
        };
        let with_functions = !plan.functions.is_empty();
        if with_functions {
            host::raise_open_file_limit();
        }
        // Function-probe objects find the shared maps through pins that exist
        // only while loading.
        let pins = if with_functions {
            Some(PinDir::create()?)
        } else {
            None
        };
        let mut loader = EbpfLoader::new();
        if let Some(pins) = &pins {
            for map in SHARED_MAPS {
                loader.map_pin_path(map, pins.path_of(map));
            }
        }
        let offsets = OffsetsGlobal(plan.offsets);
        let config = ConfigGlobal(plan.filter.config);
        let with_stacks = plan.filter.config.flags & config_flag::STACKS != 0;
        let stack_entries = if with_stacks { MAX_STACKS } else { 1 };
        let mut ebpf = loader
            .override_global("OFFSETS", &offsets, true)
            .override_global("CONFIG", &config, true)
            .map_max_entries("EVENTS", plan.ring_bytes)
            .map_max_entries("STACKS", stack_entries)
            .load(BPF_OBJECT)
            .context("loading the BPF object")?;

        let attached = tracepoint::attach(
            &mut ebpf,
            &plan.info.btf,
            &plan.info.kernel,
            tracepoints,
            with_functions,
        )?;
        for (tp, why) in &attached.skipped {
            status.warn(format!("tracepoint {tp} skipped: {why}"));
        }
        let tdma_selection: Vec<String> = tracepoints
            .iter()
            .filter(|t| tdma::is_tdma_tracepoint(t))
            .cloned()
            .collect();
        let tdma_wanted = tracepoints.is_empty() || !tdma_selection.is_empty();
        let tdma_attached = if tdma_wanted && tdma::module_loaded() {
            let (attached, failed) = tdma::attach(&mut ebpf, &tdma_selection);
            for (tp, why) in &failed {
                status.warn(format!("sch_tdma tracepoint {tp} not attached: {why}"));
            }
            attached
        } else {
            Vec::new()
        };
        let mut kallsyms = kallsyms;
        let function_probes = match &pins {
            Some(pins) => {
                let started = Instant::now();
                // Function probes are keyed by address: the symbols are needed now.
                let symbols = kallsyms
                    .wait()
                    .map_err(|e| anyhow::anyhow!("function probes need /proc/kallsyms: {e}"))?;
                let progress = status.progress("attaching", plan.functions.len());
                let spec = functions::AttachSpec {
                    backend: plan.backend,
                    kernel: &plan.info.kernel,
                    kallsyms: &symbols,
                    ftrace: plan.ftrace.as_ref(),
                    object: functions::ObjectSpec {
                        offsets: pod_bytes(&offsets),
                        config: pod_bytes(&config),
                        pins,
                        functions: 0,
                    },
                };
                let probes =
                    functions::attach(plan.functions, &spec, &|done, _| progress.set(done))?;
                drop(progress);
                kallsyms = KallsymsSource::Loaded(Some(symbols));
                for (name, why) in &probes.failed {
                    status.warn(format!("function {name} not probed: {why}"));
                }
                let mut notes: Vec<String> = Vec::new();
                if let Some(mode) = &probes.kprobe_mode {
                    notes.push(format!("kprobes {mode}"));
                }
                if !plan.skipped.is_empty() {
                    notes.push(format!(
                        "{} not traceable here: --dry-run says why",
                        plan.skipped.len()
                    ));
                }
                status.info(format!(
                    "probed {} functions with {} in {:.1} s{}",
                    probes.attached.len(),
                    plan.backend,
                    started.elapsed().as_secs_f64(),
                    if notes.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", notes.join("; "))
                    }
                ));
                probes
            }
            None => functions::Attached::default(),
        };
        drop(pins);
        status.info(format!(
            "attached {} tracepoints{}{}",
            attached.tracepoints.len(),
            if !tdma_attached.is_empty() {
                format!(" and {} of {}", tdma_attached.len(), tdma::MODULE)
            } else {
                String::new()
            },
            if plan.filter.text.is_empty() {
                String::new()
            } else {
                format!(", filter: {}", plan.filter.text)
            }
        ));

        let ring_buf = RingBuf::try_from(ebpf.take_map("EVENTS").context("EVENTS map missing")?)?;
        let counters =
            PerCpuArray::try_from(ebpf.take_map("COUNTERS").context("COUNTERS map missing")?)?;
        let symbolizer = if with_stacks {
            let map =
                StackTraceMap::try_from(ebpf.take_map("STACKS").context("STACKS map missing")?)?;
            // Stacks need names from the first event: wait for them now,
            // and say so if there will be none.
            let kallsyms = match kallsyms.wait() {
                Ok(k) => Some(k),
                Err(e) => {
                    status.warn(format!("stacks will show addresses only: {e}"));
                    None
                }
            };
            Symbolizer::new(Some(map), KallsymsSource::Loaded(kallsyms))
        } else {
            Symbolizer::new(None, kallsyms)
        };
        let mut probes = tracepoint_probes();
        probes.extend(functions::probe_descs(function_probes.probe_kinds()));
        let meta = TraceMeta {
            kernel_release: host::kernel_release(),
            hostname: host::hostname(),
            backend: plan.backend.name().to_string(),
            command_line: std::env::args().collect(),
            filter: plan.filter.text,
            probes: ProbeTable::new(probes),
            drop_reasons,
            clock: host::clock_base(),
            ring_bytes: plan.ring_bytes as u64,
            ..TraceMeta::default()
        };
        Ok(Session {
            ebpf,
            tracepoints: attached.tracepoints,
            tdma_tracepoints: tdma_attached,
            functions: function_probes,
            cost,
            ring: ring_buf,
            counters,
            symbolizer,
            meta,
            backend: plan.backend,
            status: *status,
        })
    }

    /// Per-CPU sums of one kernel counter.
    fn counter_per_cpu(&self, index: u32) -> Vec<u64> {
        self.counters
            .get(&index, 0)
            .map(|values| values.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Pumps events into `sink` until `stop` is set or a limit is reached.
    pub fn run(
        &mut self,
        sink: &mut dyn Sink,
        limits: Limits,
        stop: &AtomicBool,
        status: &Status,
    ) -> Result<Summary> {
        let started = Instant::now();
        sink.begin(&self.meta).context("writing output")?;
        let mut events = 0u64;
        let mut lost_seen: Vec<u64> = Vec::new();
        let mut untracked_seen = 0u64;
        let mut last_counters = Instant::now();
        let ring_wait = RingWait::new(&self.ring).context("waiting for the ring buffer")?;
        let mut reader_gone = false;
        // Read first, then wait: events written since the probes were
        // attached are printed at once, not a read interval later.
        loop {
            // Decided before reading, so what was written before the stop
            // still gets read.
            let mut finished = stop.load(Ordering::Relaxed)
                || limits.duration.is_some_and(|d| started.elapsed() >= d);
            while let Some(item) = self.ring.next() {
                let Some(event) = RawEvent::from_bytes(&item) else {
                    continue;
                };
                drop(item);
                match self
                    .symbolizer
                    .deliver(&event, sink)
                    .and_then(|()| sink.event(&event))
                {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                        // The reader went away (`| head`): stop quietly.
                        reader_gone = true;
                        finished = true;
                        break;
                    }
                    Err(e) => return Err(e).context("writing output"),
                }
                events += 1;
                if limits.max_events.is_some_and(|max| events >= max) {
                    finished = true;
                    break;
                }
            }
            if reader_gone {
                return Ok(self.summary(events, started));
            }
            let flushed = sink
                .clock(crate::host::clock_ns(libc::CLOCK_MONOTONIC))
                .and_then(|()| sink.flush());
            match flushed {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    return Ok(self.summary(events, started));
                }
                other => other.context("writing output")?,
            }
            if finished || last_counters.elapsed() >= COUNTER_INTERVAL {
                last_counters = Instant::now();
                self.report_lost(sink, &mut lost_seen, status)?;
                self.report_untracked(&mut untracked_seen, status);
            }
            if finished {
                break;
            }
            ring_wait.wait(READ_INTERVAL);
        }
        let summary = self.summary(events, started);
        self.report_skipped_calls(status);
        sink.finish(&summary).context("writing output")?;
        Ok(summary)
    }

    /// Tells the sink and the user about newly lost events, per CPU.
    fn report_lost(&self, sink: &mut dyn Sink, seen: &mut Vec<u64>, status: &Status) -> Result<()> {
        let lost = self.counter_per_cpu(counter::LOST);
        seen.resize(lost.len(), 0);
        for (cpu, (&now, before)) in lost.iter().zip(seen.iter_mut()).enumerate() {
            if now > *before {
                status.warn(format!(
                    "lost {} events on cpu {cpu} (ring buffer full; total {now}); try a larger --ring-kib or a narrower filter",
                    now - *before
                ));
                sink.lost(cpu as u32, now).context("writing output")?;
                *before = now;
            }
        }
        Ok(())
    }

    /// Tells the user about function entries the kernel could not give a
    /// frame: their calls show no exit and nothing nests in them.
    fn report_untracked(&self, seen: &mut u64, status: &Status) {
        let now: u64 = self.counter_per_cpu(counter::UNTRACKED).iter().sum();
        if now > *seen {
            status.warn(format!(
                "{} function entries could not be tracked (frame stack full; total {now}): their calls show no exit",
                now - *seen
            ));
            *seen = now;
        }
    }

    /// What every attached probe has cost since its program was loaded.
    fn probe_costs(&self) -> Result<Vec<ProbeCost>> {
        let program_cost = |program: &str, probe: &str, kind| -> Result<ProbeCost> {
            let fd = self
                .ebpf
                .program(program)
                .with_context(|| format!("program {program} missing"))?
                .fd()
                .with_context(|| format!("program {program}"))?;
            let stats =
                prog_stats::of(fd).with_context(|| format!("statistics of program {program}"))?;
            Ok(ProbeCost {
                probe: probe.to_string(),
                kind,
                runs: stats.run_cnt,
                run_time_ns: stats.run_time_ns,
                recursion_misses: stats.recursion_misses,
            })
        };
        let mut costs = Vec::new();
        for &name in &self.tracepoints {
            let spec = tracepoint::TRACEPOINTS
                .iter()
                .find(|s| s.tracepoint == name)
                .with_context(|| format!("tracepoint {name} unknown"))?;
            costs.push(program_cost(spec.program, name, "tracepoint")?);
        }
        for &name in &self.tdma_tracepoints {
            let (program, ..) = tdma::TDMA_TRACEPOINTS
                .iter()
                .find(|t| t.1 == name)
                .with_context(|| format!("sch_tdma tracepoint {name} unknown"))?;
            costs.push(program_cost(program, name, "raw_tp")?);
        }
        for f in self.functions.stats()? {
            // One row per program pair (a function's, or every kprobe's):
            // its calls, and the time of both halves.
            costs.push(ProbeCost {
                probe: f.label.to_string(),
                kind: f.kind,
                runs: f.entry.run_cnt,
                run_time_ns: f.entry.run_time_ns + f.exit.run_time_ns,
                recursion_misses: f.entry.recursion_misses + f.exit.recursion_misses,
            });
        }
        Ok(costs)
    }

    /// `--cost`: the title and table of what each probe has cost since it
    /// was attached; `None` without `--cost` (or if it cannot be measured).
    pub fn cost_table(&self) -> Result<Option<Vec<String>>> {
        let Some(meter) = &self.cost else {
            return Ok(None);
        };
        let duration = meter.since.elapsed();
        let costs = self
            .probe_costs()
            .context("reading BPF program statistics")?;
        let mut lines = vec![cost::title(&costs, duration)];
        lines.extend(
            cost::table(&costs, duration)
                .into_iter()
                .map(|l| format!("  {l}")),
        );
        Ok(Some(lines))
    }

    /// Tells the user about calls the kernel did not run a probe for.
    fn report_skipped_calls(&self, status: &Status) {
        if self.backend == Backend::Kprobe
            && !self.functions.attached.is_empty()
            && !host::counts_kprobe_recursion()
        {
            status.warn(
                "this kernel does not count kprobe calls it skips while another probe runs on the same CPU (it does from Linux 6.7): such calls are missing from their trees without notice",
            );
        }
        match self.functions.skipped_calls() {
            Ok(skipped) => {
                for (function, calls) in skipped {
                    status.warn(format!(
                        "function {function}: {calls} calls not traced (the kernel skips a probe already running on that CPU); their callees show one level up"
                    ));
                }
            }
            Err(e) => status.warn(format!("cannot tell which calls the kernel skipped: {e:#}")),
        }
    }

    fn summary(&self, events: u64, started: Instant) -> Summary {
        Summary {
            events,
            lost: self.counter_per_cpu(counter::LOST).iter().sum(),
            filtered: self.counter_per_cpu(counter::FILTERED).iter().sum(),
            untracked: self.counter_per_cpu(counter::UNTRACKED).iter().sum(),
            duration_ns: started.elapsed().as_nanos() as u64,
        }
    }
}
