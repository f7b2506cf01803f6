//! A pass: one call tree, what one CPU did with packets from the moment the
//! outermost traced function was entered until it returned.

use crate::abi::{RawEvent, event_flag, probe_id};

/// What a [`Node`] stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// A traced function call: `event` is its entry, `exit` its return when seen.
    Call,
    /// A tracepoint (or an event of a kind this version does not know).
    Point,
    /// A return whose entry was never seen (lost, or the probe was attached
    /// mid-call): `event` is the exit.
    OrphanExit,
}

/// One node of a call tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub kind: NodeKind,
    /// Nesting depth, 0 for the root.
    pub depth: u32,
    /// One past the index of this node's last descendant in [`Pass::nodes`]:
    /// the children are `nodes[index + 1..end]` at `depth + 1`.
    pub end: u32,
    /// The entry of a call, the point itself, or the exit of an orphan exit.
    pub event: RawEvent,
    /// The return of a call; `None` when it was never seen ("missing exit").
    pub exit: Option<RawEvent>,
}

impl Node {
    /// A call whose return was never seen.
    pub fn missing_exit(&self) -> bool {
        self.kind == NodeKind::Call && self.exit.is_none()
    }

    /// A call the kernel could not give a frame (its frame stack was full):
    /// its exit was never traced, rather than lost.
    pub fn untracked(&self) -> bool {
        self.kind == NodeKind::Call && self.event.flags & event_flag::UNTRACKED != 0
    }

    /// How a call without exit is marked in text.
    pub fn missing_exit_note(&self) -> &'static [u8] {
        if self.untracked() {
            b"(exit not traced: frame stack full)"
        } else {
            b"(no exit seen)"
        }
    }

    /// Time from entry to return, for calls that returned.
    pub fn duration_ns(&self) -> Option<u64> {
        self.exit
            .as_ref()
            .map(|exit| exit.ts_ns.saturating_sub(self.event.ts_ns))
    }

    /// The return value of a call or orphan exit (a signed register).
    pub fn ret(&self) -> Option<i64> {
        match self.kind {
            NodeKind::Call => self.exit.as_ref().map(|exit| exit.value as i64),
            NodeKind::OrphanExit => Some(self.event.value as i64),
            NodeKind::Point => None,
        }
    }

    /// The skb this node is about: the event's, else the exit's (a
    /// kretprobe's exit knows no skb, a kprobe's entry may not either).
    pub fn skb(&self) -> u64 {
        match (self.event.skb, &self.exit) {
            (0, Some(exit)) => exit.skb,
            (skb, _) => skb,
        }
    }

    /// A `kfree_skb` or `consume_skb` point: the end of its skb's life.
    pub fn frees_skb(&self) -> bool {
        self.kind == NodeKind::Point
            && matches!(
                self.event.probe_id,
                probe_id::KFREE_SKB | probe_id::CONSUME_SKB
            )
    }
}

/// Why a pass was emitted before its root returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutReason {
    /// The softirq it ran in ended first.
    SoftirqExit,
    /// The kernel lost events on this CPU: the open frames cannot be trusted.
    EventsLost,
    /// Open frames reached [`StitchLimits::open_frames`](super::StitchLimits).
    DepthLimit,
    /// Its task slept inside a traced function and was evicted from the
    /// sleeping tasks kept ([`StitchLimits::sleeping_tasks`](super::StitchLimits)).
    TaskLimit,
    /// Its task slept inside a traced function and woke up on another CPU,
    /// where a tracer that kept frames per CPU (records made before frames
    /// followed tasks) did not report the return.
    Migrated,
    /// The input ended.
    TraceEnd,
}

impl CutReason {
    /// Short snake_case name, for JSON and markers.
    pub fn name(self) -> &'static str {
        match self {
            CutReason::SoftirqExit => "softirq_exit",
            CutReason::EventsLost => "events_lost",
            CutReason::DepthLimit => "depth_limit",
            CutReason::TaskLimit => "task_limit",
            CutReason::Migrated => "migrated",
            CutReason::TraceEnd => "trace_end",
        }
    }
}

/// One call tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub cpu: u32,
    /// The softirq vector (2 NET_TX, 3 NET_RX) when the pass ran in a softirq
    /// that interrupted other traced code on the CPU.
    pub softirq: Option<u8>,
    /// Pre-order: `nodes[0]` is the root, the only node at depth 0.
    pub nodes: Vec<Node>,
    /// Every skb seen in the pass, the root's first.
    pub skbs: Vec<u64>,
    /// Nodes left out because the tree reached its size limit.
    pub omitted_nodes: u32,
    /// Set when the pass was emitted before its root returned.
    pub cut: Option<CutReason>,
    /// Timestamp of the first and the last event of the pass.
    pub start_ns: u64,
    pub end_ns: u64,
}

impl Pass {
    /// Whether every node is a tentative entry: the kernel emitted these
    /// frames only in case something inside them matched, and nothing did.
    pub fn is_tentative(&self) -> bool {
        self.nodes
            .iter()
            .all(|n| n.event.flags & crate::abi::event_flag::TENTATIVE != 0)
    }

    pub fn root(&self) -> Option<&Node> {
        self.nodes.first()
    }

    pub fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }

    /// Whether the pass holds `probe` as a point on one of `skbs`.
    pub(crate) fn has_point_on(&self, probe: u32, skbs: &[u64]) -> bool {
        self.nodes.iter().any(|node| {
            node.kind == NodeKind::Point
                && node.event.probe_id == probe
                && skbs.contains(&node.event.skb)
        })
    }

    /// Adds `skb` to the pass's skbs unless it is 0 or already there. Passes
    /// see few skbs, so a linear scan beats hashing.
    pub(super) fn note_skb(&mut self, skb: u64) {
        if skb != 0 && !self.skbs.contains(&skb) {
            self.skbs.push(skb);
        }
    }

    /// Empties the pass for reuse, keeping its allocations.
    pub(super) fn reset(&mut self, cpu: u32, softirq: Option<u8>) {
        self.cpu = cpu;
        self.softirq = softirq;
        self.nodes.clear();
        self.skbs.clear();
        self.omitted_nodes = 0;
        self.cut = None;
        self.start_ns = 0;
        self.end_ns = 0;
    }
}
