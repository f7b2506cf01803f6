//! Function probes: which kernel functions to probe (profiles, globs, a file,
//! every function with an skb), why others cannot be, and attaching them —
//! one copy of the function-probe object per function, all sharing the
//! tracepoint object's maps.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use aya::programs::{FEntry, FExit, KProbe};
use aya::{Btf, Ebpf, EbpfLoader};
use formats::abi::probe_id;
use formats::meta::{ProbeDesc, ProbeKind, RetType, ValueKind};
use globset::{Glob, GlobSetBuilder};
use symbols::btf::KernelBtf;

use super::{Backend, describe, profiles, program};
use crate::UsageError;
use crate::pins::{PinDir, SHARED_MAPS};
use crate::prog_stats::{self, ProgStats};

/// The function-probe BPF object built by build.rs.
static FN_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/pkttrace-fn"));

/// Registers that carry arguments on x86-64: a kprobe sees no further ones.
const KPROBE_REGISTER_ARGS: usize = 6;
/// Arguments a BPF trampoline (fentry/fexit) can pass.
pub const TRAMPOLINE_MAX_ARGS: usize = 12;
/// Marks "no such argument" for the BPF side.
const NO_ARG: u32 = u32::MAX;

/// What the user asked to probe.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub profiles: Vec<String>,
    pub globs: Vec<String>,
    pub file: Option<std::path::PathBuf>,
    pub all_skb_funcs: bool,
}

impl Selection {
    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
            && self.globs.is_empty()
            && self.file.is_none()
            && !self.all_skb_funcs
    }
}

/// One function to probe and where its arguments are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub probe_id: u32,
    pub skb_arg: Option<usize>,
    pub sock_arg: Option<usize>,
    /// A `struct nf_hook_state *` argument: its hook point is recorded.
    pub nf_state_arg: Option<usize>,
    pub nr_args: usize,
    /// How its exits print the return value.
    pub ret: RetType,
    /// Why it is probed: a profile name, `--func`, `--func-file`, `--all-skb-funcs`.
    pub origin: String,
}

/// A requested function that will not be probed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub name: String,
    pub origin: String,
    pub why: String,
}

/// Facts about the running kernel that decide what can be probed.
pub struct Traceability {
    /// Functions in BTF (sorted).
    btf_functions: Vec<String>,
    /// ftrace's `available_filter_functions`, when readable: fentry needs it.
    ftrace: Option<std::collections::HashSet<String>>,
    /// `/sys/kernel/debug/kprobes/blacklist`, when readable.
    kprobe_denied: std::collections::HashSet<String>,
}

impl Traceability {
    pub fn read(kernel: &KernelBtf) -> Result<Self> {
        let btf_functions = kernel
            .function_names()
            .context("listing functions in BTF")?;
        let ftrace = std::fs::read_to_string("/sys/kernel/tracing/available_filter_functions")
            .ok()
            .map(|text| {
                text.lines()
                    .filter_map(|l| l.split_whitespace().next())
                    .map(str::to_string)
                    .collect()
            });
        let kprobe_denied = std::fs::read_to_string("/sys/kernel/debug/kprobes/blacklist")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .map(str::to_string)
            .collect();
        Ok(Traceability {
            btf_functions,
            ftrace,
            kprobe_denied,
        })
    }

    /// Every function in BTF, sorted.
    pub fn btf_functions(&self) -> &[String] {
        &self.btf_functions
    }

    /// Whether ftrace's list was readable (else fentry is only assumed).
    pub fn knows_ftrace(&self) -> bool {
        self.ftrace.is_some()
    }

    pub fn in_btf(&self, name: &str) -> bool {
        self.btf_functions
            .binary_search_by(|f| f.as_str().cmp(name))
            .is_ok()
    }

    /// Why `name` cannot be probed with `backend`, if it cannot.
    pub fn obstacle(&self, name: &str, backend: Backend) -> Option<String> {
        if !self.in_btf(name) {
            return Some(
                "not in this kernel's BTF (inlined everywhere, renamed or compiled out)".into(),
            );
        }
        match backend {
            Backend::Fentry => match &self.ftrace {
                Some(ftrace) if !ftrace.contains(name) => {
                    Some("not traceable (not in ftrace's available_filter_functions: notrace or inlined)".into())
                }
                _ => None,
            },
            Backend::Kprobe if self.kprobe_denied.contains(name) => {
                Some("on the kernel's kprobe deny list".into())
            }
            _ => None,
        }
    }
}

fn normalized(type_name: &str) -> String {
    type_name.replace("const ", "").replace("volatile ", "")
}

/// Resolves the selection into targets (in a stable order) and skipped names.
pub fn resolve(
    selection: &Selection,
    kernel: &KernelBtf,
    facts: &Traceability,
    backend: Backend,
) -> Result<(Vec<Target>, Vec<Skipped>)> {
    // name → origin; BTreeMap keeps the order stable for probe ids and output.
    let mut wanted: BTreeMap<String, String> = BTreeMap::new();
    let mut explicit: Vec<(String, String)> = Vec::new();
    for name in &selection.profiles {
        let profile = profiles::find(name).ok_or_else(|| {
            let known: Vec<_> = profiles::PROFILES.iter().map(|p| p.name).collect();
            UsageError::error(format!(
                "unknown profile '{name}' (known: {})",
                known.join(", ")
            ))
        })?;
        for f in profile.functions {
            explicit.push((f.to_string(), profile.name.to_string()));
        }
    }
    let mut globs = selection.globs.clone();
    if let Some(path) = &selection.file {
        globs.extend(read_func_file(path)?);
    }
    if !globs.is_empty() {
        let mut builder = GlobSetBuilder::new();
        for g in &globs {
            builder.add(Glob::new(g).map_err(|e| UsageError::error(format!("--func '{g}': {e}")))?);
        }
        let set = builder.build().map_err(UsageError::error)?;
        for (i, g) in globs.iter().enumerate() {
            let literal = !g.contains(['*', '?', '[']);
            let matched = facts
                .btf_functions
                .iter()
                .filter(|f| set.matches(f.as_str()).contains(&i));
            let mut any = false;
            for f in matched {
                wanted.entry(f.clone()).or_insert_with(|| "--func".into());
                any = true;
            }
            if !any && literal {
                // Reported as skipped below with the reason.
                explicit.push((g.clone(), "--func".into()));
            } else if !any {
                return Err(UsageError::error(format!(
                    "--func '{g}' matches no function in this kernel's BTF"
                )));
            }
        }
    }
    if selection.all_skb_funcs {
        for f in &facts.btf_functions {
            if kernel.func_skb_arg(f).ok().flatten().is_some() {
                wanted
                    .entry(f.clone())
                    .or_insert_with(|| "--all-skb-funcs".into());
            }
        }
    }
    let mut skipped = Vec::new();
    for (name, origin) in explicit {
        wanted.entry(name).or_insert(origin);
    }
    let mut targets = Vec::new();
    for (name, origin) in wanted {
        if let Some(why) = facts.obstacle(&name, backend) {
            skipped.push(Skipped { name, origin, why });
            continue;
        }
        let params = match kernel.function_args(&name) {
            Ok(p) => p,
            Err(e) => {
                skipped.push(Skipped {
                    name,
                    origin,
                    why: format!("arguments unknown: {e}"),
                });
                continue;
            }
        };
        let skb_arg = params.iter().position(|p| p.is_skb);
        let position_of = |c_type: &str| {
            params
                .iter()
                .position(|p| normalized(&p.type_name) == c_type)
        };
        let sock_arg = position_of("struct sock *");
        let nf_state_arg = position_of("struct nf_hook_state *");
        let limit = match backend {
            Backend::Kprobe => KPROBE_REGISTER_ARGS,
            _ => TRAMPOLINE_MAX_ARGS,
        };
        if params.len() > limit && backend != Backend::Kprobe {
            skipped.push(Skipped {
                name,
                origin,
                why: format!("{} arguments, more than a trampoline passes", params.len()),
            });
            continue;
        }
        let reachable = |p: Option<usize>| p.filter(|&i| i < KPROBE_REGISTER_ARGS);
        let id = probe_id::FIRST_DYNAMIC_PROBE_ID + targets.len() as u32;
        // Unknown prints as before (a signed register): better than
        // refusing to probe a function over how its result looks.
        let ret = kernel.return_type(&name).unwrap_or_default();
        targets.push(Target {
            name,
            probe_id: id,
            skb_arg: reachable(skb_arg),
            sock_arg: reachable(sock_arg),
            nf_state_arg: reachable(nf_state_arg),
            nr_args: params.len(),
            ret,
            origin,
        });
    }
    Ok((targets, skipped))
}

fn read_func_file(path: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("--func-file {}", path.display()))?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// The probe table rows of the targets.
pub fn probe_descs(targets: &[Target], backend: Backend) -> Vec<ProbeDesc> {
    let kind = match backend {
        Backend::Kprobe => ProbeKind::Kprobe,
        _ => ProbeKind::Fentry,
    };
    targets
        .iter()
        .map(|t| ProbeDesc {
            id: t.probe_id,
            name: t.name.clone(),
            category: t.origin.clone(),
            kind,
            value: if t.nf_state_arg.is_some() {
                ValueKind::NfHook
            } else {
                ValueKind::Return
            },
            ret: t.ret,
        })
        .collect()
}

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
struct TargetGlobals {
    probe: U32Global,
    skb: U32Global,
    sock: U32Global,
    nf_state: U32Global,
    nr_args: U32Global,
}

impl TargetGlobals {
    fn of(target: &Target) -> Self {
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
fn shared_loader<'a, O: aya::Pod, C: aya::Pod>(spec: &ObjectSpec<'a, O, C>) -> EbpfLoader<'a> {
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
fn load_one<'a, O: aya::Pod, C: aya::Pod>(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{ConfigGlobal, OffsetsGlobal, load_for_probing_with_pins};

    fn selection(globs: &[&str]) -> Selection {
        Selection {
            globs: globs.iter().map(|g| g.to_string()).collect(),
            ..Selection::default()
        }
    }

    /// The function-probe programs pass this kernel's verifier with every
    /// argument layout they meet: skb first, skb second, socket only, neither.
    /// kprobe-type programs load (without attaching) even on kernels built
    /// without kprobes, so this runs on the host too.
    #[test]
    fn function_probe_programs_pass_the_verifier() {
        let kernel = KernelBtf::from_sys().unwrap();
        let btf = Btf::from_sys_fs().unwrap();
        let facts = Traceability::read(&kernel).unwrap();
        let funcs = [
            "ip_rcv",
            "tcp_v4_do_rcv",
            "tcp_v4_connect",
            "tcp_set_state",
            "net_rx_action",
            "nf_hook_slow",
        ];
        let (targets, skipped) =
            resolve(&selection(&funcs), &kernel, &facts, Backend::Kprobe).unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(targets.len(), funcs.len());
        let by_name = |n: &str| targets.iter().find(|t| t.name == n).unwrap();
        assert_eq!(by_name("ip_rcv").skb_arg, Some(0));
        assert_eq!(by_name("tcp_v4_do_rcv").skb_arg, Some(1));
        assert_eq!(by_name("tcp_v4_do_rcv").sock_arg, Some(0));
        assert_eq!(by_name("tcp_v4_connect").skb_arg, None);
        assert_eq!(by_name("nf_hook_slow").nf_state_arg, Some(1));
        // Return types reach the probe table.
        let int = RetType::Int {
            size: 4,
            signed: true,
        };
        assert_eq!(by_name("ip_rcv").ret, int);
        assert_eq!(by_name("tcp_set_state").ret, RetType::Void);
        let descs = probe_descs(&targets, Backend::Kprobe);
        let desc = descs.iter().find(|d| d.name == "tcp_set_state").unwrap();
        assert_eq!(desc.ret, RetType::Void);

        let offsets = OffsetsGlobal(kernel.kernel_offsets().unwrap());
        let pins = PinDir::create().unwrap();
        let _main = load_for_probing_with_pins(offsets.0, &pins).unwrap();
        // With no filter the filter code is dead; with the longest filter the
        // verifier walks every instruction.
        let longest = formats::filter::compile(
            "(tcp or udp) and (host 10.0.0.1 or net fd00::/8) and not portrange 1-1023 and \
             ifname eth0 and (tcp-syn or tcp-fin or tcp-rst) and not pid 1 and netns 4026531840",
        )
        .unwrap();
        let configs = [
            formats::abi::TraceConfig::accept_all(),
            formats::filter::into_config(
                &longest,
                formats::abi::config_flag::FOLLOW_SKB | formats::abi::config_flag::STACKS,
            )
            .unwrap(),
        ];
        for config in configs {
            let config = ConfigGlobal(config);
            let spec = ObjectSpec {
                backend: Backend::Kprobe,
                btf: &btf,
                offsets: &offsets,
                config: &config,
                ring_bytes: 64 * 1024,
                stack_entries: 1,
                pins: &pins,
            };
            let globals: Vec<TargetGlobals> = targets.iter().map(TargetGlobals::of).collect();
            let mut loader = shared_loader(&spec);
            for (target, globals) in targets.iter().zip(&globals) {
                load_one(&mut loader, target, globals, &spec)
                    .unwrap_or_else(|e| panic!("{}: {e}", target.name));
            }
        }
    }

    #[test]
    fn unknown_functions_are_skipped_with_a_reason() {
        let kernel = KernelBtf::from_sys().unwrap();
        let facts = Traceability::read(&kernel).unwrap();
        let (targets, skipped) = resolve(
            &selection(&["no_such_function_xyz"]),
            &kernel,
            &facts,
            Backend::Fentry,
        )
        .unwrap();
        assert!(targets.is_empty());
        assert_eq!(skipped.len(), 1);
        assert!(
            skipped[0].why.contains("not in this kernel's BTF"),
            "{}",
            skipped[0].why
        );
        let err = resolve(
            &selection(&["no_such_prefix_*"]),
            &kernel,
            &facts,
            Backend::Fentry,
        )
        .unwrap_err();
        assert!(err.to_string().contains("matches no function"));
    }
}
