//! Which functions to probe, and why the others cannot be.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use anyhow::{Context, Result};
use formats::abi::probe_id;
use formats::meta::RetType;
use symbols::btf::{KernelBtf, Param};

use super::known::{self, Function, KnownFunctions};
use super::pattern::FuncPattern;
use super::trampoline::{self, Trampoline};
use super::{Selection, Skipped, Target};
use crate::UsageError;
use crate::backend::{Backend, profiles, qdiscs};

/// ftrace's `available_filter_functions`: the functions fentry can attach
/// to. Module functions are listed as `name [module]`.
const FTRACE_FUNCTIONS: &str = "/sys/kernel/tracing/available_filter_functions";
/// The functions kprobes refuse.
const KPROBE_BLACKLIST: &str = "/sys/kernel/debug/kprobes/blacklist";

/// A function's prototype, from BTF.
pub struct Prototype {
    pub params: Vec<Param>,
    pub ret: RetType,
}

impl Prototype {
    /// `name`'s prototype in `btf`.
    pub fn of(btf: &KernelBtf, name: &str) -> Result<Prototype, symbols::BtfError> {
        Ok(Prototype {
            params: btf.function_args(name)?,
            // Unknown prints as before (a signed register): better than
            // refusing to probe a function over how its result looks.
            ret: btf.return_type(name).unwrap_or_default(),
        })
    }
}

/// Facts about the running kernel that decide what can be probed. Read from
/// BTF, kallsyms, tracefs and debugfs only, so they are the same whether or
/// not this kernel lets pkttrace attach anything.
pub struct Traceability<'k> {
    known: KnownFunctions<'k>,
    /// ftrace's list as (name, module), when readable: fentry needs it.
    ftrace: Option<HashSet<(String, Option<String>)>>,
    /// `/sys/kernel/debug/kprobes/blacklist`, when readable.
    kprobe_denied: HashSet<String>,
    trampoline: Trampoline,
}

impl<'k> Traceability<'k> {
    /// The running kernel's, with `vmlinux` its BTF.
    pub fn read(vmlinux: &'k KernelBtf) -> Result<Self> {
        let ftrace = std::fs::read_to_string(FTRACE_FUNCTIONS)
            .ok()
            .map(|text| text.lines().filter_map(ftrace_entry).collect());
        let kprobe_denied = std::fs::read_to_string(KPROBE_BLACKLIST)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .map(str::to_string)
            .collect();
        Ok(Traceability {
            known: KnownFunctions::read(vmlinux)?,
            ftrace,
            kprobe_denied,
            trampoline: Trampoline::of_release(&crate::host::kernel_release()),
        })
    }

    /// From parts, for tests: no ftrace list, no deny list.
    #[cfg(test)]
    pub fn new(known: KnownFunctions<'k>, trampoline: Trampoline) -> Self {
        Traceability {
            known,
            ftrace: None,
            kprobe_denied: HashSet::new(),
            trampoline,
        }
    }

    /// ftrace's traceable functions as (name, module), when readable.
    pub fn into_ftrace(self) -> Option<HashSet<(String, Option<String>)>> {
        self.ftrace
    }

    pub fn known(&self) -> &KnownFunctions<'k> {
        &self.known
    }

    /// Why fentry/fexit cannot probe `f`, whose prototype is `proto` (`None`:
    /// no BTF), if they cannot.
    pub fn fentry_obstacle(&self, f: Function, proto: Option<&Prototype>) -> Option<String> {
        let Some(proto) = proto else {
            return Some(
                "no BTF: a BPF trampoline needs its prototype (a kprobe can probe it by name)"
                    .into(),
            );
        };
        if let Some(ftrace) = &self.ftrace {
            let key = (f.name.to_string(), f.module.map(str::to_string));
            if !ftrace.contains(&key) {
                return Some(
                    "not traceable (not in ftrace's available_filter_functions: notrace or inlined)"
                        .into(),
                );
            }
        }
        self.trampoline.refusal(&proto.params, proto.ret)
    }

    /// Why a kprobe cannot probe `f`, if it cannot.
    pub fn kprobe_obstacle(&self, f: Function) -> Option<String> {
        if self.kprobe_denied.contains(f.name) {
            return Some("on the kernel's kprobe deny list".into());
        }
        // A kprobe off ftrace's list needs a breakpoint in the function, and
        // Debian's 6.1 and 6.12 refused every one tried (EINVAL: notrace
        // helpers, BPF glue, a module's init and exit code): 84 and 94 of
        // --all-skb-funcs.
        let key = (f.name.to_string(), f.module.map(str::to_string));
        match &self.ftrace {
            Some(ftrace) if !ftrace.contains(&key) => Some(
                "not traceable (not in ftrace's available_filter_functions: notrace, inlined, or a module's init/exit code); the kernel refuses kprobes there"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// `name` or `name [module]`, a line of `available_filter_functions`.
fn ftrace_entry(line: &str) -> Option<(String, Option<String>)> {
    let mut words = line.split_whitespace();
    let name = words.next()?.to_string();
    let module = words
        .next()
        .and_then(|m| m.strip_prefix('[')?.strip_suffix(']'))
        .map(str::to_string);
    Some((name, module))
}

/// How the selected functions will be probed.
#[derive(Debug, Clone, Copy)]
pub struct Probing {
    /// fentry or kprobe.
    pub backend: Backend,
    /// Whether kprobes work here: under fentry, functions without BTF are
    /// probed by a kprobe on their name.
    pub kprobes: bool,
}

/// Why a wanted function is not among the known ones.
fn not_found(module: Option<&str>) -> String {
    match module {
        None => "not in this kernel's BTF nor a loaded module's functions (inlined everywhere, renamed or compiled out)".into(),
        Some(m) => format!("not a function of module {m} (inlined everywhere, renamed or compiled out)"),
    }
}

/// Resolves the selection into targets (in a stable order: by name, then
/// vmlinux before modules) and skipped functions. `installed_qdiscs`: the
/// kinds of the qdiscs installed now, for profiles that probe them (`dev`).
pub fn resolve(
    selection: &Selection,
    facts: &Traceability,
    probing: Probing,
    installed_qdiscs: &[String],
) -> Result<(Vec<Target>, Vec<Skipped>)> {
    let known = facts.known();
    // (name, module) → origin; the BTreeMap keeps the order stable for probe
    // ids and output. The first origin to name a function is kept: --func,
    // then --all-skb-funcs, then profiles.
    let mut wanted: BTreeMap<(String, Option<String>), String> = BTreeMap::new();
    let mut want = |name: &str, module: Option<&str>, origin: &str| {
        wanted
            .entry((name.to_string(), module.map(str::to_string)))
            .or_insert_with(|| origin.to_string());
    };
    let mut globs = selection.globs.clone();
    if let Some(path) = &selection.file {
        globs.extend(read_func_file(path)?);
    }
    for text in &globs {
        let pattern =
            FuncPattern::parse(text).map_err(|e| UsageError::error(format!("--func {e}")))?;
        let candidates: Box<dyn Iterator<Item = Function>> = match &pattern.module {
            Some(module) if !known.has_module(module) => {
                return Err(UsageError::error(format!(
                    "--func '{text}': {}",
                    known::not_loaded(module)
                )));
            }
            Some(module) => Box::new(known.in_module(module)),
            None => Box::new(known.iter()),
        };
        let mut any = false;
        for f in candidates.filter(|f| pattern.matches(f.name)) {
            want(f.name, f.module, "--func");
            any = true;
        }
        if !any && pattern.is_literal() {
            // Reported as skipped below, with the reason.
            want(&pattern.glob, pattern.module.as_deref(), "--func");
        } else if !any {
            return Err(UsageError::error(match &pattern.module {
                Some(module) => format!("--func '{text}' matches no function of module {module}"),
                None => format!(
                    "--func '{text}' matches no function in this kernel's BTF nor a loaded module's"
                ),
            }));
        }
    }
    if selection.all_skb_funcs {
        for f in known.iter() {
            let with_skb = f
                .btf
                .is_some_and(|btf| btf.func_skb_arg(f.name).ok().flatten().is_some());
            if with_skb {
                want(f.name, f.module, "--all-skb-funcs");
            }
        }
    }
    for name in &selection.profiles {
        let profile = profiles::find(name).ok_or_else(|| {
            let known: Vec<_> = profiles::PROFILES.iter().map(|p| p.name).collect();
            UsageError::error(format!(
                "unknown profile '{name}' (known: {})",
                known.join(", ")
            ))
        })?;
        let mut functions: Vec<String> = profile.functions.iter().map(|f| f.to_string()).collect();
        if profile.installed_qdiscs {
            functions.extend(qdiscs::enqueue_dequeue(installed_qdiscs, |f| {
                known.contains(f)
            }));
        }
        for function in &functions {
            let mut any = false;
            for f in known.named(function) {
                want(f.name, f.module, profile.name);
                any = true;
            }
            if !any {
                want(function, None, profile.name);
            }
        }
    }

    let mut targets = Vec::new();
    let mut skipped = Vec::new();
    for ((name, module), origin) in wanted {
        let id = probe_id::FIRST_DYNAMIC_PROBE_ID + targets.len() as u32;
        match target(facts, probing, &name, module.as_deref(), id, &origin) {
            Ok(target) => targets.push(target),
            Err(why) => skipped.push(Skipped {
                name,
                module,
                origin,
                why,
            }),
        }
    }
    Ok((targets, skipped))
}

/// The target for function `name` of `module` (`None`: vmlinux) with probe
/// id `id`, or why it cannot be probed.
fn target(
    facts: &Traceability,
    probing: Probing,
    name: &str,
    module: Option<&str>,
    id: u32,
    origin: &str,
) -> Result<Target, String> {
    let f = facts
        .known()
        .get(name, module)
        .ok_or_else(|| not_found(module))?;
    let proto = match f.btf {
        Some(btf) => Some(Prototype::of(btf, name).map_err(|e| format!("arguments unknown: {e}"))?),
        None => None,
    };
    let by_kprobe = probing.backend == Backend::Kprobe || proto.is_none();
    if by_kprobe && !probing.kprobes {
        return Err(
            "no BTF: only a kprobe could probe it by name, and this kernel allows no kprobes"
                .into(),
        );
    }
    let obstacle = if by_kprobe {
        facts.kprobe_obstacle(f)
    } else {
        facts.fentry_obstacle(f, proto.as_ref())
    };
    if let Some(why) = obstacle {
        return Err(why);
    }
    let params = proto.as_ref().map_or(&[][..], |p| &p.params);
    let (slots, nr_slots) = trampoline::trampoline_slots(params);
    let positions: Vec<Option<usize>> = if by_kprobe {
        trampoline::argument_registers(params)
    } else {
        slots.into_iter().map(Some).collect()
    };
    let position_of =
        |wanted: &dyn Fn(&Param) -> bool| params.iter().position(wanted).and_then(|i| positions[i]);
    Ok(Target {
        name: name.to_string(),
        module: module.map(str::to_string),
        btf: proto.is_some(),
        probe_id: id,
        skb_arg: position_of(&|p| p.is_skb),
        sock_arg: position_of(&|p| normalized(&p.type_name) == "struct sock *"),
        nf_state_arg: position_of(&|p| normalized(&p.type_name) == "struct nf_hook_state *"),
        nr_args: nr_slots,
        ret: proto.map_or(RetType::Unknown, |p| p.ret),
        origin: origin.to_string(),
    })
}

fn normalized(type_name: &str) -> String {
    type_name.replace("const ", "").replace("volatile ", "")
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::OnceLock;

    use super::*;
    use crate::backend::functions::known::Module;

    fn vmlinux() -> &'static KernelBtf {
        static VMLINUX: OnceLock<KernelBtf> = OnceLock::new();
        VMLINUX.get_or_init(|| KernelBtf::from_sys().expect("the running kernel exposes BTF"))
    }

    /// The running kernel's functions plus a module `sch_tdma` known only
    /// from kallsyms (built without BTF, as out-of-tree modules are) and a
    /// module `with_btf` whose BTF is vmlinux's, standing in for a module's
    /// split BTF.
    fn facts() -> Traceability<'static> {
        facts_of("6.18.0")
    }

    /// As [`facts`], with the BPF trampoline of kernel `release`.
    fn facts_of(release: &str) -> Traceability<'static> {
        let names = vmlinux().function_names().unwrap();
        let mut modules = BTreeMap::new();
        modules.insert(
            "sch_tdma".to_string(),
            Module::from_symbols(
                ["tdma_enqueue", "tdma_dequeue", "tdma_init"]
                    .map(String::from)
                    .to_vec(),
            ),
        );
        let stand_in = KernelBtf::from_sys().unwrap();
        modules.insert("with_btf".to_string(), Module::with_btf(stand_in).unwrap());
        let known = KnownFunctions::new(vmlinux(), names, modules);
        Traceability::new(known, Trampoline::of_release(release))
    }

    const FENTRY: Probing = Probing {
        backend: Backend::Fentry,
        kprobes: true,
    };

    fn funcs(globs: &[&str]) -> Selection {
        Selection {
            globs: globs.iter().map(|g| g.to_string()).collect(),
            ..Selection::default()
        }
    }

    fn labels(targets: &[Target]) -> Vec<(String, Option<String>, bool)> {
        targets
            .iter()
            .map(|t| (t.name.clone(), t.module.clone(), t.btf))
            .collect()
    }

    fn usage_error(result: Result<(Vec<Target>, Vec<Skipped>)>) -> String {
        let err = result.unwrap_err();
        assert!(err.downcast_ref::<UsageError>().is_some(), "{err:#}");
        err.to_string()
    }

    #[test]
    fn ftrace_lines_keep_their_module() {
        assert_eq!(ftrace_entry("ip_rcv"), Some(("ip_rcv".into(), None)));
        assert_eq!(
            ftrace_entry("tdma_enqueue [sch_tdma]"),
            Some(("tdma_enqueue".into(), Some("sch_tdma".into())))
        );
        assert_eq!(ftrace_entry(""), None);
    }

    #[test]
    fn module_globs_reach_only_that_module() {
        let facts = facts();
        let (targets, skipped) =
            resolve(&funcs(&["sch_tdma:tdma_*qu*"]), &facts, FENTRY, &[]).unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        let tdma = Some("sch_tdma".to_string());
        assert_eq!(
            labels(&targets),
            [
                ("tdma_dequeue".into(), tdma.clone(), false),
                ("tdma_enqueue".into(), tdma.clone(), false),
            ]
        );
        // Known from kallsyms only: a kprobe on its name, arguments unknown.
        let t = &targets[0];
        assert_eq!((t.skb_arg, t.sock_arg, t.nr_args), (None, None, 0));
        assert_eq!(t.ret, RetType::Unknown);
        assert!(t.by_kprobe(Backend::Fentry));

        // A plain glob matches vmlinux and modules alike.
        let (targets, _) = resolve(&funcs(&["tdma_en*"]), &facts, FENTRY, &[]).unwrap();
        assert_eq!(
            labels(&targets),
            [("tdma_enqueue".into(), tdma.clone(), false)]
        );

        // A module with BTF: arguments from its BTF, probed like vmlinux's.
        let (targets, _) = resolve(&funcs(&["with_btf:ip_rcv"]), &facts, FENTRY, &[]).unwrap();
        assert_eq!(
            labels(&targets),
            [("ip_rcv".into(), Some("with_btf".into()), true)]
        );
        assert_eq!(targets[0].skb_arg, Some(0));
        assert!(!targets[0].by_kprobe(Backend::Fentry));
    }

    #[test]
    fn functions_without_btf_need_kprobes() {
        let facts = facts();
        let no_kprobes = Probing {
            backend: Backend::Fentry,
            kprobes: false,
        };
        let (targets, skipped) =
            resolve(&funcs(&["sch_tdma:tdma_enqueue"]), &facts, no_kprobes, &[]).unwrap();
        assert!(targets.is_empty());
        assert_eq!(skipped[0].module.as_deref(), Some("sch_tdma"));
        assert!(
            skipped[0].why.contains("this kernel allows no kprobes"),
            "{}",
            skipped[0].why
        );
    }

    #[test]
    fn unknown_modules_and_empty_globs_are_usage_errors() {
        let facts = facts();
        assert_eq!(
            usage_error(resolve(&funcs(&["nosuch:x"]), &facts, FENTRY, &[])),
            "--func 'nosuch:x': no module 'nosuch' is loaded"
        );
        assert_eq!(
            usage_error(resolve(&funcs(&["sch_tdma:zz*"]), &facts, FENTRY, &[])),
            "--func 'sch_tdma:zz*' matches no function of module sch_tdma"
        );
        assert_eq!(
            usage_error(resolve(&funcs(&["no_such_prefix_*"]), &facts, FENTRY, &[])),
            "--func 'no_such_prefix_*' matches no function in this kernel's BTF nor a loaded module's"
        );
        assert!(
            usage_error(resolve(&funcs(&["sch_tdma:"]), &facts, FENTRY, &[]))
                .contains("no function glob")
        );
        // A name the module lacks is skipped with the reason, as in vmlinux.
        let (_, skipped) = resolve(&funcs(&["sch_tdma:tdma_peek"]), &facts, FENTRY, &[]).unwrap();
        assert_eq!(
            skipped[0].why,
            "not a function of module sch_tdma (inlined everywhere, renamed or compiled out)"
        );
    }

    #[test]
    fn dev_probes_the_installed_qdiscs_wherever_they_are() {
        let facts = facts();
        let dev = Selection {
            profiles: vec!["dev".into()],
            ..Selection::default()
        };
        let kinds = ["noqueue", "pfifo_fast", "tdma"].map(String::from);
        let (targets, skipped) = resolve(&dev, &facts, FENTRY, &kinds).unwrap();
        let probed = |name: &str| targets.iter().find(|t| t.name == name);
        let enqueue = probed("tdma_enqueue").expect("sch_tdma's enqueue");
        assert_eq!(enqueue.module.as_deref(), Some("sch_tdma"));
        assert_eq!(enqueue.origin, "dev");
        assert!(probed("pfifo_fast_enqueue").is_some() && probed("pfifo_fast_dequeue").is_some());
        assert!(probed("tbf_enqueue").is_none(), "no tbf installed");
        assert!(
            skipped.iter().all(|s| !s.name.starts_with("tdma_")),
            "{skipped:?}"
        );
        // Without installed qdiscs, only the device layer.
        let (targets, _) = resolve(&dev, &facts, FENTRY, &[]).unwrap();
        assert!(targets.iter().all(|t| !t.name.ends_with("_enqueue")));
    }

    #[test]
    fn probe_ids_are_unique_and_follow_the_order() {
        let facts = facts();
        let selection = Selection {
            profiles: vec!["ip-rx".into(), "dev".into()],
            globs: vec!["sch_tdma:*".into()],
            ..Selection::default()
        };
        let kinds = ["tdma".to_string()];
        let (first, _) = resolve(&selection, &facts, FENTRY, &kinds).unwrap();
        let (again, _) = resolve(&selection, &facts, FENTRY, &kinds).unwrap();
        assert_eq!(first, again, "the same selection plans the same ids");
        for (i, t) in first.iter().enumerate() {
            assert_eq!(t.probe_id, probe_id::FIRST_DYNAMIC_PROBE_ID + i as u32);
        }
        // --func comes first among origins, then profiles.
        let enqueue = first.iter().find(|t| t.name == "tdma_enqueue").unwrap();
        assert_eq!(enqueue.origin, "--func");
    }

    /// `ip6_xmit` (ip-tx) takes 7 arguments: refused by 6.1's trampolines,
    /// taken by 6.6's and kprobes (which read only registers: its skb is
    /// in the second).
    #[test]
    fn seven_arguments_need_linux_6_6_for_fentry() {
        let ip6_xmit = funcs(&["ip6_xmit"]);
        let (targets, skipped) =
            resolve(&ip6_xmit, &facts_of("6.1.0-56-amd64"), FENTRY, &[]).unwrap();
        assert!(targets.is_empty());
        assert_eq!(
            skipped[0].why,
            "7 argument slots: this kernel's BPF trampoline passes at most 6 (Linux 6.6 raised it to 12)"
        );
        let (targets, _) = resolve(&ip6_xmit, &facts_of("6.12.0"), FENTRY, &[]).unwrap();
        assert_eq!((targets[0].skb_arg, targets[0].nr_args), (Some(1), 7));
        let kprobes = Probing {
            backend: Backend::Kprobe,
            kprobes: true,
        };
        let (targets, _) = resolve(&ip6_xmit, &facts_of("6.1.0"), kprobes, &[]).unwrap();
        assert_eq!(
            (targets[0].skb_arg, targets[0].sock_arg),
            (Some(1), Some(0))
        );
    }

    /// On real data when this machine has modules with BTF (the host
    /// kernel may have none; the QEMU guests do).
    #[test]
    fn module_qualified_globs_on_the_running_kernel() {
        let known = KnownFunctions::read(vmlinux()).unwrap();
        let Some(module) = known
            .iter()
            .find_map(|f| f.module.filter(|_| f.btf.is_some()))
            .map(str::to_string)
        else {
            eprintln!("skipped: no loaded module with BTF here");
            return;
        };
        let facts = Traceability::new(known, Trampoline::of_release("6.18.0"));
        let kprobes = Probing {
            backend: Backend::Kprobe,
            kprobes: true,
        };
        let (targets, skipped) =
            resolve(&funcs(&[&format!("{module}:*")]), &facts, kprobes, &[]).unwrap();
        assert!(!targets.is_empty(), "{skipped:?}");
        assert!(
            targets
                .iter()
                .all(|t| t.module.as_deref() == Some(module.as_str()) && t.btf)
        );
    }
}
