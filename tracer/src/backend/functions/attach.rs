//! Attaching function probes. The probe object is relocated once
//! (`object`); kprobes then need two program loads in all — one multi link
//! each for entries and returns where the kernel has kprobe-multi, else a
//! perf-event link per function — and fentry needs two loads per function
//! (the kernel binds a trampoline program to one function when it
//! verifies it), spread over the CPUs. Nothing emits until every probe is
//! attached (`FnObject::arm`).

use std::collections::{HashMap, HashSet};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};
use formats::abi::{FuncInfo, NO_ARG};
use formats::meta::ProbeKind;
use symbols::btf::KernelBtf;
use symbols::kallsyms::Kallsyms;

use super::Target;
use super::object::{FnObject, Layout, ObjectSpec};
use crate::backend::Backend;
use crate::bpf_sys::{self, KprobePmu, ProgKind};
use crate::prog_stats::{self, ProgStats};

/// Set to `0` to attach kprobes one by one even where the kernel has
/// kprobe-multi links (to compare the two).
pub const KPROBE_MULTI_ENV: &str = "PKTTRACE_KPROBE_MULTI";

/// What attaching needs besides the targets.
pub struct AttachSpec<'a> {
    pub backend: Backend,
    pub kernel: &'a KernelBtf,
    pub kallsyms: &'a Kallsyms,
    /// ftrace's traceable functions, when readable: a kprobe-multi link
    /// takes only those (it is built on ftrace), the rest go one by one.
    pub ftrace: Option<&'a HashSet<(String, Option<String>)>>,
    pub object: ObjectSpec<'a>,
}

/// How one function is hooked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Fentry,
    Kprobe,
}

/// The programs and links of every probed function: dropping it detaches
/// everything.
#[derive(Default)]
pub struct Attached {
    pub attached: Vec<Target>,
    /// How each of `attached` is hooked.
    hooks: Vec<Hook>,
    pub failed: Vec<(String, String)>,
    /// How the kprobes were attached, and why not with one multi link.
    pub kprobe_mode: Option<String>,
    /// Entry and exit programs with what they serve, for statistics.
    programs: Vec<ProgramPair>,
    links: Vec<OwnedFd>,
    _object: Option<FnObject>,
}

/// Entry programs (one per argument layout, for kprobes) and an exit
/// program, and the functions they serve.
struct ProgramPair {
    label: String,
    kind: &'static str,
    entries: Vec<OwnedFd>,
    exit: OwnedFd,
}

/// What the kernel counted for an entry/exit program pair: one function's
/// (fentry), or every kprobed function's at once (one program serves all).
pub struct ProgramStats<'a> {
    pub label: &'a str,
    pub kind: &'static str,
    pub entry: ProgStats,
    pub exit: ProgStats,
}

impl Attached {
    /// The probe kind of each attached target, in order.
    pub fn probe_kinds(&self) -> impl Iterator<Item = (&Target, ProbeKind)> {
        self.attached.iter().zip(&self.hooks).map(|(t, hook)| {
            let kind = match hook {
                Hook::Fentry => ProbeKind::Fentry,
                Hook::Kprobe => ProbeKind::Kprobe,
            };
            (t, kind)
        })
    }

    /// The kernel's statistics of every program pair.
    pub fn stats(&self) -> Result<Vec<ProgramStats<'_>>> {
        self.programs
            .iter()
            .map(|p| {
                let read = |fd: &OwnedFd, half: &str| {
                    prog_stats::of(fd.as_fd())
                        .with_context(|| format!("statistics of the {half} program of {}", p.label))
                };
                let mut entry = ProgStats::default();
                for fd in &p.entries {
                    let one = read(fd, "entry")?;
                    entry.run_cnt += one.run_cnt;
                    entry.run_time_ns += one.run_time_ns;
                    entry.recursion_misses += one.recursion_misses;
                }
                Ok(ProgramStats {
                    label: &p.label,
                    kind: p.kind,
                    entry,
                    exit: read(&p.exit, "exit")?,
                })
            })
            .collect()
    }

    /// Calls of probed functions the kernel did not let pkttrace see: it
    /// skips a probe that is already running on that CPU (a softirq
    /// interrupting the probe and calling the same function), so the call
    /// is missing from its tree and its callees hang one level up.
    pub fn skipped_calls(&self) -> Result<Vec<(String, u64)>> {
        Ok(self
            .stats()?
            .into_iter()
            .filter_map(|p| {
                let misses = p.entry.recursion_misses + p.exit.recursion_misses;
                (misses > 0).then(|| (p.label.to_string(), misses))
            })
            .collect())
    }
}

impl Drop for Attached {
    /// Closes the links from many threads at once: a kprobe's unregistering
    /// waits for an RCU grace period, and concurrent waits share them.
    fn drop(&mut self) {
        detach_in_parallel(std::mem::take(&mut self.links));
    }
}

fn detach_in_parallel(links: Vec<OwnedFd>) {
    const PER_THREAD: usize = 16;
    const MAX_THREADS: usize = 64;
    if links.len() <= PER_THREAD {
        return;
    }
    let threads = links.len().div_ceil(PER_THREAD).min(MAX_THREADS);
    let per_thread = links.len().div_ceil(threads);
    let mut links = links;
    std::thread::scope(|scope| {
        while !links.is_empty() {
            let chunk: Vec<OwnedFd> = links.drain(..per_thread.min(links.len())).collect();
            scope.spawn(move || drop(chunk));
        }
    });
}

/// One target ready to attach: its key (address) and how to hook it.
struct Planned {
    target: Target,
    address: u64,
    hook: Hook,
    /// fentry: the BTF id and the module's BTF object (None for vmlinux).
    btf_id: u32,
    module: Option<usize>,
}

/// Attaches every target it can; a target that fails is reported by name
/// and reason and the rest go on. `progress(done, total)` is called as
/// functions attach, from any thread.
pub fn attach(
    targets: Vec<Target>,
    spec: &AttachSpec<'_>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Attached> {
    let mut out = Attached::default();
    let mut module_btfs = ModuleBtfs::default();
    let mut planned = Vec::new();
    for target in targets {
        match plan_one(&target, spec, &mut module_btfs) {
            Ok(p) => planned.push(Planned { target, ..p }),
            Err(why) => out.failed.push((target.name, why)),
        }
    }
    let object = FnObject::create(&ObjectSpec {
        functions: planned.len() as u32 * 2,
        ..spec.object
    })?;
    for p in &planned {
        for (address, _) in spec
            .kallsyms
            .addresses_of(&p.target.name)
            .filter(|(_, module)| *module == p.target.module.as_deref())
        {
            object.add_function(address, &func_info(&p.target))?;
        }
    }
    let total = planned.len();
    let done = AtomicUsize::new(0);
    let tick = || progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
    let (kprobed, fentried): (Vec<Planned>, Vec<Planned>) =
        planned.into_iter().partition(|p| p.hook == Hook::Kprobe);
    if !kprobed.is_empty() {
        attach_kprobes(kprobed, spec, &object, &mut out, &tick)?;
    }
    if !fentried.is_empty() {
        attach_fentries(fentried, &object, &module_btfs, &mut out, &tick);
    }
    object.arm()?;
    out._object = Some(object);
    Ok(out)
}

/// Where a target's probes go, or why it cannot be probed.
fn plan_one(
    target: &Target,
    spec: &AttachSpec<'_>,
    module_btfs: &mut ModuleBtfs,
) -> Result<Planned, String> {
    let address = spec
        .kallsyms
        .addresses_of(&target.name)
        .find(|(_, module)| *module == target.module.as_deref())
        .map(|(address, _)| address)
        .ok_or_else(|| "not in /proc/kallsyms".to_string())?;
    let mut planned = Planned {
        target: target.clone(),
        address,
        hook: Hook::Kprobe,
        btf_id: 0,
        module: None,
    };
    if !target.by_kprobe(spec.backend) {
        match &target.module {
            None => {
                planned.btf_id = spec
                    .kernel
                    .function_id(&target.name)
                    .map_err(|e| e.to_string())?
                    .ok_or("not in this kernel's BTF")?;
                planned.hook = Hook::Fentry;
            }
            Some(module) => {
                if let Some((index, btf)) = module_btfs.get(module)
                    && let Some(id) = btf.function_id(&target.name).map_err(|e| e.to_string())?
                {
                    planned.btf_id = id;
                    planned.module = Some(index);
                    planned.hook = Hook::Fentry;
                } else {
                    return Err(format!("no BTF of module {module} in the kernel"));
                }
            }
        }
    }
    Ok(planned)
}

/// Loaded modules' BTF (parsed, and the kernel's object for attaching),
/// read once per module.
#[derive(Default)]
struct ModuleBtfs {
    by_name: HashMap<String, Option<usize>>,
    loaded: Vec<(KernelBtf, OwnedFd)>,
}

impl ModuleBtfs {
    fn get(&mut self, module: &str) -> Option<(usize, &KernelBtf)> {
        if !self.by_name.contains_key(module) {
            let found = KernelBtf::from_sys_module(module).ok().and_then(|btf| {
                let fd = bpf_sys::module_btf(module).ok()?;
                self.loaded.push((btf, fd));
                Some(self.loaded.len() - 1)
            });
            self.by_name.insert(module.to_string(), found);
        }
        let index = self.by_name[module]?;
        Some((index, &self.loaded[index].0))
    }

    fn fd(&self, index: usize) -> &OwnedFd {
        &self.loaded[index].1
    }
}

fn arg(position: Option<usize>) -> u32 {
    position.map_or(NO_ARG, |a| a as u32)
}

pub(super) fn func_info(target: &Target) -> FuncInfo {
    FuncInfo {
        probe_id: target.probe_id,
        skb_arg: arg(target.skb_arg),
        nr_args: target.nr_args as u32,
        _pad: 0,
    }
}

pub(super) fn layout(target: &Target) -> Layout {
    Layout {
        skb: arg(target.skb_arg),
        sock: arg(target.sock_arg),
        nf_state: arg(target.nf_state_arg),
    }
}

/// Exit programs read their function's facts from `FUNCS` only: one
/// relocation serves all.
pub(super) const EXIT_LAYOUT: Layout = Layout {
    skb: NO_ARG,
    sock: NO_ARG,
    nf_state: NO_ARG,
};

/// fentry programs that read the skb from a fixed argument slot as a
/// BTF-typed pointer, by slot (`fentry_with_skb_at!` in `fn_main.rs`).
const FENTRY_WITH_SKB_AT: [&str; 4] = [
    "fn_entry_skb0",
    "fn_entry_skb1",
    "fn_entry_skb2",
    "fn_entry_skb3",
];

fn fentry_program(target: &Target) -> &'static str {
    target
        .skb_arg
        .and_then(|slot| FENTRY_WITH_SKB_AT.get(slot))
        .copied()
        .unwrap_or("fn_entry")
}

/// Loads and attaches an fentry and an fexit program per target, on as
/// many threads as there are CPUs: the verifier's run is most of the cost.
fn attach_fentries(
    planned: Vec<Planned>,
    object: &FnObject,
    module_btfs: &ModuleBtfs,
    out: &mut Attached,
    tick: &(dyn Fn() + Sync),
) {
    let one = |p: &Planned| -> Result<[OwnedFd; 4], String> {
        let module_btf = p.module.map(|i| module_btfs.fd(i).as_fd());
        let kind = |exit| ProgKind::Trampoline {
            exit,
            btf_id: p.btf_id,
            module_btf,
        };
        let entry = object
            .load(layout(&p.target), fentry_program(&p.target), kind(false))
            .map_err(|e| e.to_string())?;
        let exit = object
            .load(EXIT_LAYOUT, "fn_exit", kind(true))
            .map_err(|e| e.to_string())?;
        let attach = |prog: &OwnedFd| {
            bpf_sys::attach_trampoline(prog.as_fd()).map_err(|e| format!("attaching: {e}"))
        };
        let entry_link = attach(&entry)?;
        let exit_link = attach(&exit)?;
        Ok([entry, exit, entry_link, exit_link])
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let results = in_parallel(&planned, workers, one, tick);
    for (p, result) in planned.into_iter().zip(results) {
        match result {
            Ok([entry, exit, entry_link, exit_link]) => {
                out.links.extend([entry_link, exit_link]);
                out.programs.push(ProgramPair {
                    label: p.target.name.clone(),
                    kind: "fentry+fexit",
                    entries: vec![entry],
                    exit,
                });
                out.attached.push(p.target);
                out.hooks.push(Hook::Fentry);
            }
            Err(why) => out.failed.push((p.target.name, why)),
        }
    }
}

/// Attaches the kprobe targets: for each argument layout one multi link
/// for entries (and one for every return) where the kernel has them, else a
/// kprobe and a kretprobe per function.
fn attach_kprobes(
    planned: Vec<Planned>,
    spec: &AttachSpec<'_>,
    object: &FnObject,
    out: &mut Attached,
    tick: &(dyn Fn() + Sync),
) -> Result<()> {
    let multi_wanted = std::env::var(KPROBE_MULTI_ENV).map_or(true, |v| v != "0");
    let (multi, mut single): (Vec<Planned>, Vec<Planned>) = if multi_wanted {
        planned.into_iter().partition(|p| {
            spec.ftrace
                .is_none_or(|f| f.contains(&(p.target.name.clone(), p.target.module.clone())))
        })
    } else {
        (Vec::new(), planned)
    };
    if !multi.is_empty() {
        match attach_multi(&multi, object) {
            Ok(links) => {
                out.links.extend(links.links);
                out.programs.extend(links.programs);
                for p in multi {
                    tick();
                    out.attached.push(p.target);
                    out.hooks.push(Hook::Kprobe);
                }
                out.kprobe_mode = Some("by kprobe-multi links".into());
            }
            Err(why) => {
                out.kprobe_mode = Some(format!("one by one (kprobe-multi: {why})"));
                single.extend(multi);
            }
        }
    } else if !multi_wanted {
        out.kprobe_mode = Some(format!("one by one ({KPROBE_MULTI_ENV}=0)"));
    }
    if single.is_empty() {
        return Ok(());
    }
    let pmu = KprobePmu::read().context("kprobes: reading the kprobe PMU")?;
    let exit = object
        .load(EXIT_LAYOUT, "kp_exit", ProgKind::Kprobe)
        .context("loading the kretprobe program")?;
    let mut entries: HashMap<Layout, OwnedFd> = HashMap::new();
    for p in &single {
        let layout = layout(&p.target);
        if let std::collections::hash_map::Entry::Vacant(slot) = entries.entry(layout) {
            slot.insert(
                object
                    .load(layout, "kp_entry", ProgKind::Kprobe)
                    .context("loading the kprobe program")?,
            );
        }
    }
    let one = |p: &Planned| -> Result<[OwnedFd; 2], String> {
        let symbol = &p.target.name;
        let link = |prog: &OwnedFd, ret| {
            bpf_sys::attach_kprobe(pmu, prog.as_fd(), symbol, ret, p.address)
                .map_err(|e| format!("attaching a k{}probe: {e}", if ret { "ret" } else { "" }))
        };
        Ok([
            link(&entries[&layout(&p.target)], false)?,
            link(&exit, true)?,
        ])
    };
    // Registering a kprobe mostly waits on kernel locks; a few threads
    // overlap the waits.
    let results = in_parallel(&single, 4, one, tick);
    let count = single.len();
    for (p, result) in single.into_iter().zip(results) {
        match result {
            Ok(links) => {
                out.links.extend(links);
                out.attached.push(p.target);
                out.hooks.push(Hook::Kprobe);
            }
            Err(why) => out.failed.push((p.target.name, why)),
        }
    }
    let mut entries = entries.into_values();
    let first = entries
        .next()
        .expect("one entry program per layout, and a target");
    out.programs.push(ProgramPair {
        label: format!("kprobes ({count} functions, one by one)"),
        kind: "kprobe+kretprobe",
        entries: std::iter::once(first).chain(entries).collect(),
        exit,
    });
    if out.kprobe_mode.is_none() {
        out.kprobe_mode = Some("one by one".into());
    }
    Ok(())
}

/// Programs and links of kprobe-multi attachment.
struct MultiLinks {
    programs: Vec<ProgramPair>,
    links: Vec<OwnedFd>,
}

/// Loads the kprobe programs for multi links, one entry program per
/// argument layout, and attaches them to their functions' addresses at
/// once, each address also being its function's cookie.
fn attach_multi(planned: &[Planned], object: &FnObject) -> Result<MultiLinks, String> {
    let mut by_layout: HashMap<Layout, Vec<u64>> = HashMap::new();
    for p in planned {
        by_layout
            .entry(layout(&p.target))
            .or_default()
            .push(p.address);
    }
    let load = |layout, name| {
        object
            .load(layout, name, ProgKind::KprobeMulti)
            .map_err(|e| e.to_string())
    };
    let mut links = Vec::new();
    let mut entries = Vec::new();
    for (layout, addrs) in &by_layout {
        let entry = load(*layout, "kp_entry")?;
        links.push(
            bpf_sys::attach_kprobe_multi(entry.as_fd(), addrs, addrs, false)
                .map_err(|e| e.to_string())?,
        );
        entries.push(entry);
    }
    let exit = load(EXIT_LAYOUT, "kp_exit")?;
    let addrs: Vec<u64> = planned.iter().map(|p| p.address).collect();
    links.push(
        bpf_sys::attach_kprobe_multi(exit.as_fd(), &addrs, &addrs, true)
            .map_err(|e| e.to_string())?,
    );
    Ok(MultiLinks {
        programs: vec![ProgramPair {
            label: format!(
                "kprobes ({} functions, {} multi links)",
                planned.len(),
                links.len()
            ),
            kind: "kprobe.multi",
            entries,
            exit,
        }],
        links,
    })
}

/// `work` on every item, on up to `workers` threads, results in item order;
/// `tick` after each item.
fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    work: impl Fn(&T) -> R + Sync,
    tick: &(dyn Fn() + Sync),
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, items.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let result = work(item);
                    *results[i].lock().expect("no worker panics holding it") = Some(result);
                    tick();
                }
            });
        }
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .expect("no worker panics holding it")
                .expect("every item is taken by a worker")
        })
        .collect()
}
