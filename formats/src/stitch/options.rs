//! How the stitcher groups its output and how much it may hold.

/// What a [`TreeSink`](super::TreeSink) receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Grouping {
    /// Each call tree as soon as it completes: for live tracing.
    #[default]
    Passes,
    /// Call trees grouped by skb, each group once all its skbs were freed
    /// (or it went idle): for reports.
    Packets,
}

/// Bounds on what the stitcher holds, so a hostile or broken event stream
/// cannot exhaust memory. Reaching one never loses events silently: trees
/// are cut or packets emitted early, marked, and counted in
/// [`StitchStats`](super::StitchStats).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StitchLimits {
    /// Open traced calls in one context: a task, or a softirq on a CPU
    /// (which runs at most a task and four nested softirq levels).
    pub open_frames: u32,
    /// Nodes kept per call tree; further ones are counted, not kept.
    pub nodes_per_pass: u32,
    /// Tasks kept asleep (or preempted) inside traced functions.
    pub sleeping_tasks: u32,
    /// Packets waiting for their skbs to be freed.
    pub open_packets: u32,
    /// Passes kept per packet before it is emitted and continued afresh.
    pub passes_per_packet: u32,
    /// Nodes held by all open packets together.
    pub packet_nodes: u64,
}

impl Default for StitchLimits {
    /// A node is about 400 bytes: sleeping tasks hold at most ~100 MB of
    /// trees, open packets as much.
    fn default() -> Self {
        StitchLimits {
            open_frames: 128,
            nodes_per_pass: 1024,
            sleeping_tasks: 256,
            open_packets: 16_384,
            passes_per_packet: 64,
            packet_nodes: 1 << 18,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StitchOptions {
    pub grouping: Grouping,
    /// A packet none of whose skbs was seen for this long (trace time) is
    /// emitted even though not all its skbs were seen freed.
    pub packet_idle_ns: u64,
    pub limits: StitchLimits,
}

impl Default for StitchOptions {
    fn default() -> Self {
        StitchOptions {
            grouping: Grouping::default(),
            packet_idle_ns: 1_000_000_000,
            limits: StitchLimits::default(),
        }
    }
}
