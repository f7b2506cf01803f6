//! Function probes: which kernel functions to probe (`select`: profiles,
//! globs, a file, every function with an skb, and why others cannot be) and
//! attaching them (`attach`).

mod attach;
mod object;
mod select;
#[cfg(test)]
mod tests;

use formats::meta::{ProbeDesc, ProbeKind, RetType, ValueKind};

pub use attach::{AttachSpec, Attached, KPROBE_MULTI_ENV, attach};
pub use object::ObjectSpec;
pub use select::{Traceability, resolve};

/// Registers that carry arguments on x86-64: a kprobe sees no further ones.
const KPROBE_REGISTER_ARGS: usize = 6;
/// Arguments a BPF trampoline (fentry/fexit) can pass.
pub const TRAMPOLINE_MAX_ARGS: usize = 12;

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
