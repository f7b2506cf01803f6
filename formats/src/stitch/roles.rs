//! Probes the stitcher treats specially beyond the fixed tracepoint ids.

use crate::meta::{TraceMeta, ValueKind};

use super::pass::{Node, NodeKind};

/// Kernel functions that make a new skb from the skb they are given.
///
/// Convention between the probes and the stitcher: the *exit* event of a
/// function probe on one of these carries the original skb in `skb` and the
/// new skb in `value` (for all but `__skb_clone` that is simply the
/// function's argument and return value). The stitcher then links the new
/// skb into the original's journey.
pub const SKB_CLONING_FUNCTIONS: &[&str] = &[
    "skb_clone",
    "__skb_clone",
    "skb_copy",
    "__pskb_copy_fclone",
    "skb_copy_expand",
    "skb_realloc_headroom",
];

/// The probe ids of this trace with a special role.
#[derive(Clone, Debug, Default)]
pub(super) struct ProbeRoles {
    cloning: Vec<u32>,
}

impl ProbeRoles {
    pub fn new(meta: &TraceMeta) -> Self {
        let cloning = meta
            .probes
            .as_slice()
            .iter()
            .filter(|p| p.value == ValueKind::Return)
            .filter(|p| SKB_CLONING_FUNCTIONS.contains(&p.name.as_str()))
            .map(|p| p.id)
            .collect();
        ProbeRoles { cloning }
    }

    /// The skb a returned cloning call created, if `node` is one.
    pub fn new_skb(&self, node: &Node) -> Option<u64> {
        let exit = node.exit.as_ref()?;
        let created = exit.value;
        let cloning = node.kind == NodeKind::Call && self.cloning.contains(&node.event.probe_id);
        (cloning && created != 0 && created != node.skb()).then_some(created)
    }
}
