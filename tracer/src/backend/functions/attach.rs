//! Attaching function probes: one copy of the function-probe object per
//! function, all sharing the tracepoint object's maps.

use anyhow::{Context, Result};
use aya::programs::{FEntry, FExit, KProbe};
use aya::{Btf, Ebpf, EbpfLoader};

use super::Target;
use crate::backend::{Backend, describe, program};
use crate::pins::{PinDir, SHARED_MAPS};
use crate::prog_stats::{self, ProgStats};

/// The function-probe BPF object built by build.rs.
static FN_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/pkttrace-fn"));

/// Marks "no such argument" for the BPF side.
const NO_ARG: u32 = u32::MAX;

/// Loaded function-probe objects: dropping them detaches everything.
#[derive(Default)]
pub struct Attached {
    /// One object per attached target, in the same order.
    objects: Vec<Ebpf>,
    /// Their backend (none when nothing was attached).
    backend: Option<Backend>,
    pub attached: Vec<Target>,
    pub failed: Vec<(String, String)>,
}

/// What the kernel counted for one probed function's entry and exit programs.
pub struct FunctionStats<'a> {
    pub name: &'a str,
    pub entry: ProgStats,
    pub exit: ProgStats,
}

impl Attached {
    /// The kernel's statistics of every probed function's programs, in
    /// target order.
    pub fn stats(&self) -> Result<Vec<FunctionStats<'_>>> {
        let Some(backend) = self.backend else {
            return Ok(Vec::new());
        };
        let read = |ebpf: &Ebpf, target: &Target, program: &str| -> Result<ProgStats> {
            let fd = ebpf
                .program(program)
                .with_context(|| format!("program {program} missing"))?
                .fd()
                .with_context(|| format!("program {program} of {}", target.name))?;
            prog_stats::of(fd)
                .with_context(|| format!("statistics of {program} of {}", target.name))
        };
        self.objects
            .iter()
            .zip(&self.attached)
            .map(|(ebpf, target)| {
                let (entry, exit) = program_names(backend, target).map_err(anyhow::Error::msg)?;
                Ok(FunctionStats {
                    name: &target.name,
                    entry: read(ebpf, target, entry)?,
                    exit: read(ebpf, target, exit)?,
                })
            })
            .collect()
    }

    /// Calls of probed functions the kernel did not let pkttrace see, by
    /// function: it skips a probe that is already running on that CPU (a
    /// softirq interrupting the probe and calling the same function), so
    /// the call is missing from its tree and its callees hang one level up.
    pub fn skipped_calls(&self) -> Result<Vec<(&str, u64)>> {
        Ok(self
            .stats()?
            .into_iter()
            .filter_map(|f| {
                let misses = f.entry.recursion_misses + f.exit.recursion_misses;
                (misses > 0).then_some((f.name, misses))
            })
            .collect())
    }
}

#[repr(transparent)]
#[derive(Clone, Copy)]
struct U32Global(u32);
// SAFETY: a plain u32.
unsafe impl aya::Pod for U32Global {}

fn arg_global(arg: Option<usize>) -> U32Global {
    U32Global(arg.map_or(NO_ARG, |a| a as u32))
}

/// What every copy of the function-probe object is loaded with.
pub struct ObjectSpec<'a, O, C> {
    pub backend: Backend,
    pub btf: &'a Btf,
    /// The `OFFSETS` and `CONFIG` globals, as the tracepoint object has them.
    pub offsets: &'a O,
    pub config: &'a C,
    pub ring_bytes: u32,
    /// Entries of the shared stack map (as the tracepoint object has it).
    pub stack_entries: u32,
    /// Where the shared maps are pinned while loading.
    pub pins: &'a PinDir,
}

impl<O, C> Clone for ObjectSpec<'_, O, C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<O, C> Copy for ObjectSpec<'_, O, C> {}

/// Loads and attaches one object per target; a target that fails is reported
/// by name and reason and the rest go on.
pub fn attach<O: aya::Pod, C: aya::Pod>(targets: Vec<Target>, spec: &ObjectSpec<O, C>) -> Attached {
    let globals: Vec<TargetGlobals> = targets.iter().map(TargetGlobals::of).collect();
    let mut loader = shared_loader(spec);
    let mut out = Attached {
        backend: Some(spec.backend),
        ..Attached::default()
    };
    for (target, globals) in targets.into_iter().zip(&globals) {
        match attach_one(&mut loader, &target, globals, spec) {
            Ok(ebpf) => {
                out.objects.push(ebpf);
                out.attached.push(target);
            }
            Err(why) => out.failed.push((target.name, why)),
        }
    }
    out
}

fn attach_one<'a, O: aya::Pod, C: aya::Pod>(
    loader: &mut EbpfLoader<'a>,
    target: &Target,
    globals: &'a TargetGlobals,
    spec: &ObjectSpec<O, C>,
) -> Result<Ebpf, String> {
    let mut ebpf = load_one(loader, target, globals, spec)?;
    let (entry, exit) = program_names(spec.backend, target)?;
    match spec.backend {
        Backend::Fentry => {
            let prog: &mut FEntry = program(&mut ebpf, entry)?;
            prog.attach().map_err(|e| describe(&e))?;
            let prog: &mut FExit = program(&mut ebpf, exit)?;
            prog.attach().map_err(|e| describe(&e))?;
        }
        _ => {
            for name in [entry, exit] {
                let prog: &mut KProbe = program(&mut ebpf, name)?;
                prog.attach(&target.name, 0).map_err(|e| describe(&e))?;
            }
        }
    }
    Ok(ebpf)
}

/// fentry programs that read the skb from a fixed argument slot as a
/// BTF-typed pointer, by slot (`fentry_with_skb_at!` in `fn_main.rs`).
const FENTRY_WITH_SKB_AT: [&str; 4] = [
    "fn_entry_skb0",
    "fn_entry_skb1",
    "fn_entry_skb2",
    "fn_entry_skb3",
];

/// The entry and exit programs for `target` on `backend`.
fn program_names(
    backend: Backend,
    target: &Target,
) -> Result<(&'static str, &'static str), String> {
    match backend {
        Backend::Fentry => {
            let entry = target
                .skb_arg
                .and_then(|slot| FENTRY_WITH_SKB_AT.get(slot))
                .copied()
                .unwrap_or("fn_entry");
            Ok((entry, "fn_exit"))
        }
        Backend::Kprobe => Ok(("kp_entry", "kp_exit")),
        Backend::Tracepoint => Err("the tracepoint backend probes no functions".into()),
    }
}

/// The globals that differ between copies: which function a copy serves and
/// where its arguments are.
pub(super) struct TargetGlobals {
    probe: U32Global,
    skb: U32Global,
    sock: U32Global,
    nf_state: U32Global,
    nr_args: U32Global,
}

impl TargetGlobals {
    pub(super) fn of(target: &Target) -> Self {
        TargetGlobals {
            probe: U32Global(target.probe_id),
            skb: arg_global(target.skb_arg),
            sock: arg_global(target.sock_arg),
            nf_state: arg_global(target.nf_state_arg),
            nr_args: U32Global(target.nr_args as u32),
        }
    }
}

/// One loader for every copy, with what they share set once: aya parses the
/// kernel's BTF whenever a loader is made, which under emulation cost more
/// than the load itself.
pub(super) fn shared_loader<'a, O: aya::Pod, C: aya::Pod>(
    spec: &ObjectSpec<'a, O, C>,
) -> EbpfLoader<'a> {
    let mut loader = EbpfLoader::new();
    for map in SHARED_MAPS {
        loader.map_pin_path(map, spec.pins.path_of(map));
    }
    loader
        .btf(Some(spec.btf))
        .override_global("OFFSETS", spec.offsets, true)
        .override_global("CONFIG", spec.config, true)
        .map_max_entries("EVENTS", spec.ring_bytes)
        .map_max_entries("STACKS", spec.stack_entries);
    loader
}

/// Loads one copy of the function-probe object for `target` and its entry
/// and exit programs (through the verifier), without attaching them.
pub(super) fn load_one<'a, O: aya::Pod, C: aya::Pod>(
    loader: &mut EbpfLoader<'a>,
    target: &Target,
    globals: &'a TargetGlobals,
    spec: &ObjectSpec<O, C>,
) -> Result<Ebpf, String> {
    let mut ebpf = loader
        .override_global("PROBE_ID", &globals.probe, true)
        .override_global("SKB_ARG", &globals.skb, true)
        .override_global("SOCK_ARG", &globals.sock, true)
        .override_global("NF_STATE_ARG", &globals.nf_state, true)
        .override_global("NR_ARGS", &globals.nr_args, true)
        .load(FN_OBJECT)
        .map_err(|e| describe(&e))?;
    let (entry, exit) = program_names(spec.backend, target)?;
    match spec.backend {
        Backend::Fentry => {
            let prog: &mut FEntry = program(&mut ebpf, entry)?;
            prog.load(&target.name, spec.btf)
                .map_err(|e| describe(&e))?;
            let prog: &mut FExit = program(&mut ebpf, exit)?;
            prog.load(&target.name, spec.btf)
                .map_err(|e| describe(&e))?;
        }
        _ => {
            for name in [entry, exit] {
                let prog: &mut KProbe = program(&mut ebpf, name)?;
                prog.load().map_err(|e| describe(&e))?;
            }
        }
    }
    Ok(ebpf)
}
