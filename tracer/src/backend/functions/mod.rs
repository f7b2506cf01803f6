//! Function probes: which kernel functions to probe (`select`: profiles,
//! globs, a file, every function with an skb, and why others cannot be;
//! `known`: the functions of vmlinux and the loaded modules; `pattern`:
//! `--func [MODULE:]GLOB`; `trampoline`: what fentry can take) and attaching
//! them (`attach`).

mod attach;
mod known;
mod object;
mod pattern;
mod select;
#[cfg(test)]
mod tests;
mod trampoline;

use formats::meta::{ProbeDesc, ProbeKind, RetType, ValueKind};

pub use attach::{AttachSpec, Attached, attach};
pub use known::{Function, KnownFunctions, not_loaded};
pub use object::ObjectSpec;
pub use pattern::FuncPattern;
pub use select::{Probing, Prototype, Traceability, resolve};
pub use trampoline::Trampoline;

use super::Backend;

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
    /// The loaded module the function belongs to; `None` for vmlinux.
    pub module: Option<String>,
    /// Whether its prototype came from BTF (vmlinux's or its module's). A
    /// function without (a module built without BTF, known from kallsyms)
    /// can only be probed by a kprobe on its name, whatever the backend:
    /// its argument positions are `None`, `nr_args` 0 and `ret` unknown.
    pub btf: bool,
    pub probe_id: u32,
    /// Where the `struct sk_buff *` argument is: for the fentry backend its
    /// 8-byte slot in the trampoline's context (a struct passed by value
    /// before it takes one slot per 8 bytes), for kprobes its argument
    /// register (0–5; `None` when it is passed on the stack).
    pub skb_arg: Option<usize>,
    /// Where a `struct sock *` argument is, as `skb_arg`.
    pub sock_arg: Option<usize>,
    /// A `struct nf_hook_state *` argument, as `skb_arg`: its hook point is
    /// recorded.
    pub nf_state_arg: Option<usize>,
    /// Slots the arguments take in a trampoline's context: fexit finds the
    /// return value in the slot after them. 0 without BTF.
    pub nr_args: usize,
    /// How its exits print the return value.
    pub ret: RetType,
    /// Why it is probed: a profile name, `--func`, `--func-file`, `--all-skb-funcs`.
    pub origin: String,
}

impl Target {
    /// Whether it is probed by a kprobe on its name: with the kprobe
    /// backend, and for a function without BTF under any backend.
    pub fn by_kprobe(&self, backend: Backend) -> bool {
        backend == Backend::Kprobe || !self.btf
    }
}

/// A requested function that will not be probed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub name: String,
    /// Its module, when it was found in (or asked for in) one.
    pub module: Option<String>,
    pub origin: String,
    pub why: String,
}

/// The probe table rows of the targets.
pub fn probe_descs<'a>(
    probes: impl IntoIterator<Item = (&'a Target, ProbeKind)>,
) -> Vec<ProbeDesc> {
    probes
        .into_iter()
        .map(|(t, kind)| ProbeDesc {
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
