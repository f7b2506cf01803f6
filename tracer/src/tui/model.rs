//! What the views show: one [`Packet`] per journey, owned and compact (no
//! `Rc`, no per-node allocation), kept in arrival order with the oldest
//! evicted past a cap, and a sorted, filtered view over them.

use std::cmp::Ordering;
use std::collections::{HashMap, VecDeque};

use formats::abi::{FilterInsn, RawEvent};
use formats::filter;
use formats::stitch::CutReason;

/// What happened to a packet in the end (the stitcher's
/// [`Outcome`](formats::stitch::Outcome), reduced to what the list sorts
/// and counts by).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// Dropped with this drop reason (sch_tdma's drops: none, 0).
    Dropped(u32),
    /// Routed by the kernel and sent on.
    Forwarded,
    /// Taken by a socket or the stack's own handler.
    Delivered,
    /// Handed to a driver and not seen again.
    Sent,
    /// In a qdisc when the trace ended.
    Queued,
    Unknown,
}

/// One place on a packet's path, as the journey pane lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HopInfo {
    /// `veth0 ns:…`
    pub place: String,
    pub cpu: u32,
    pub ts_ns: u64,
    pub probe: u32,
    /// Header rewrites first seen there: `daddr 10.0.0.1 → 10.0.0.2, ttl 64 → 63`.
    pub changes: Vec<String>,
}

/// What kind of tree row a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// A pass (call tree of one CPU): `value` indexes [`Packet::passes`].
    Pass,
    /// A function call; `exit_ns` is 0 when its return was never seen.
    Call,
    /// A tracepoint event, described from [`Packet::points`].
    Point,
    /// A return whose entry was never seen; `value` is the return value.
    OrphanExit,
}

/// One row of a packet's tree. Pre-order: the subtree of `nodes[i]` is
/// `nodes[i + 1..end]`; passes are at depth 0, their roots at depth 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeNode {
    pub start_ns: u64,
    /// End of a call or pass; 0 when not known.
    pub exit_ns: u64,
    /// Return value of a call or orphan exit; pass index of a pass.
    pub value: u64,
    /// Index of a point's values in [`Packet::points`].
    pub point: Option<u32>,
    pub probe: u32,
    pub end: u32,
    pub depth: u16,
    pub kind: NodeKind,
}

impl TreeNode {
    pub fn duration_ns(&self) -> Option<u64> {
        (self.exit_ns != 0).then(|| self.exit_ns.saturating_sub(self.start_ns))
    }
}

/// The probe-specific values of a point event (the rest of its 184 bytes
/// is in the tree already or not shown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PointData {
    pub value: u64,
    pub aux: u64,
    pub extra: u32,
    pub args: [u64; 3],
}

impl PointData {
    pub fn of(event: &RawEvent) -> Self {
        PointData {
            value: event.value,
            aux: event.aux,
            extra: event.extra,
            args: event.args,
        }
    }

    /// An event of `probe` with these values, for the describers of `fmt`.
    pub fn event(&self, probe: u32) -> RawEvent {
        let mut event = RawEvent::zeroed();
        event.probe_id = probe;
        event.value = self.value;
        event.aux = self.aux;
        event.extra = self.extra;
        event.args = self.args;
        event
    }
}

/// A pass of a packet's journey, as the journey pane draws it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassInfo {
    pub cpu: u32,
    pub softirq: Option<u8>,
    pub start_ns: u64,
    pub end_ns: u64,
    pub comm: [u8; 16],
    /// The first device the pass saw, with its namespace.
    pub ifname: [u8; 16],
    pub netns: u32,
    pub cut: Option<CutReason>,
    /// Time since the previous pass ended and what the packet waited for.
    pub gap_before: Option<(i64, Wait)>,
}

/// What a packet waited for between two passes: the stitcher's
/// [`Waiting`](formats::stitch::Waiting), and sch_tdma's queue, which has
/// tracepoints of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    Qdisc,
    Tdma,
    Softirq(u8),
    Unknown,
}

/// sch_tdma's view of a packet: how long it waited in the qdisc and the
/// transmit window it left in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TdmaLane {
    /// From its `tdma_enqueue`, else the dequeue less the wait.
    pub enqueue_ns: u64,
    pub dequeue_ns: u64,
    pub waited_ns: u64,
    pub window: u32,
    /// The window's opening and end in trace time; the opening is known only
    /// when its `tdma_window_open` event was seen.
    pub window_open_ns: Option<u64>,
    pub window_end_ns: u64,
}

/// One packet.
#[derive(Clone, Debug, PartialEq)]
pub struct Packet {
    /// Arrival number: stable identity across sorting and eviction.
    pub seq: u64,
    pub start_ns: u64,
    pub duration_ns: u64,
    /// The first event carrying the packet summary (else the first event):
    /// the list's row and what the filter box matches.
    pub summary: RawEvent,
    /// Events with the packet's headers as each hop saw them (after NAT,
    /// say): the filter box accepts a packet if it matches the summary or
    /// one of these.
    pub matchers: Box<[RawEvent]>,
    pub outcome: Outcome,
    /// The outcome in words, with where and to whom.
    pub outcome_text: String,
    pub hops: Box<[HopInfo]>,
    pub passes: Box<[PassInfo]>,
    pub nodes: Box<[TreeNode]>,
    /// What points carry, indexed by [`TreeNode::point`].
    pub points: Box<[PointData]>,
    pub tdma: Option<TdmaLane>,
    /// Continues a packet split at the stitcher's pass limit.
    pub continued: bool,
}

impl Packet {
    pub fn length(&self) -> u32 {
        let pkt = &self.summary.pkt;
        if pkt.ip_len != 0 {
            u32::from(pkt.ip_len)
        } else {
            pkt.skb_len
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    Time,
    Duration,
    Length,
    Outcome,
}

impl SortKey {
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Time => SortKey::Duration,
            SortKey::Duration => SortKey::Length,
            SortKey::Length => SortKey::Outcome,
            SortKey::Outcome => SortKey::Time,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SortKey::Time => "time",
            SortKey::Duration => "duration",
            SortKey::Length => "length",
            SortKey::Outcome => "outcome",
        }
    }

    fn compare(self, a: &Packet, b: &Packet) -> Ordering {
        let by_key = match self {
            SortKey::Time => a.start_ns.cmp(&b.start_ns),
            SortKey::Duration => a.duration_ns.cmp(&b.duration_ns),
            SortKey::Length => a.length().cmp(&b.length()),
            SortKey::Outcome => a.outcome.cmp(&b.outcome),
        };
        by_key.then(a.seq.cmp(&b.seq))
    }
}

/// A compiled filter and the text it came from.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub text: String,
    program: Vec<FilterInsn>,
}

impl Filter {
    pub fn compile(text: &str) -> Result<Filter, filter::FilterError> {
        Ok(Filter {
            text: text.trim().to_owned(),
            program: filter::compile(text)?,
        })
    }

    pub fn accepts(&self, packet: &Packet) -> bool {
        std::iter::once(&packet.summary)
            .chain(packet.matchers.iter())
            .any(|event| filter::matches(&self.program, event))
    }
}

/// The packets, the order and filter of the list, and running counters.
#[derive(Debug)]
pub struct Model {
    /// Arrival order; `packets[i].seq == first_seq + i`.
    packets: VecDeque<Packet>,
    first_seq: u64,
    next_seq: u64,
    cap: usize,
    pub evicted: u64,
    /// Seqs of the packets shown, in list order.
    view: Vec<u64>,
    /// Packets added since the view was last brought up to date.
    unviewed: usize,
    sort: SortKey,
    descending: bool,
    filter: Filter,
    /// Drops by reason over every packet seen, evicted ones included.
    drops: HashMap<u32, u64>,
}

impl Model {
    /// A model that keeps at most `cap` packets, evicting the oldest.
    pub fn new(cap: usize) -> Self {
        Model {
            packets: VecDeque::new(),
            first_seq: 0,
            next_seq: 0,
            cap: cap.max(1),
            evicted: 0,
            view: Vec::new(),
            unviewed: 0,
            sort: SortKey::Time,
            descending: false,
            filter: Filter::default(),
            drops: HashMap::new(),
        }
    }

    /// Adds a packet (its `seq` is assigned here). The view catches up at
    /// the next [`Model::refresh`], so a burst costs one sort, not one each.
    pub fn push(&mut self, mut packet: Packet) {
        packet.seq = self.next_seq;
        self.next_seq += 1;
        if let Outcome::Dropped(reason) = packet.outcome {
            *self.drops.entry(reason).or_default() += 1;
        }
        self.packets.push_back(packet);
        self.unviewed += 1;
    }

    /// Evicts past the cap and brings the view up to date with new packets.
    pub fn refresh(&mut self) {
        let excess = self.packets.len().saturating_sub(self.cap);
        if excess > 0 {
            self.packets.drain(..excess);
            self.first_seq += excess as u64;
            self.evicted += excess as u64;
            self.unviewed = self.unviewed.min(self.packets.len());
            let first = self.first_seq;
            self.view.retain(|&seq| seq >= first);
        }
        if self.unviewed == 0 {
            return;
        }
        let new = self.packets.len() - self.unviewed;
        self.unviewed = 0;
        let before = self.view.len();
        for packet in self.packets.range(new..) {
            if self.filter.accepts(packet) {
                self.view.push(packet.seq);
            }
        }
        // New packets mostly arrive in order: a stable sort of a sorted
        // prefix plus a short run is close to linear.
        if self.view.len() > before {
            self.sort_view();
        }
    }

    pub fn packet_count(&self) -> usize {
        self.packets.len()
    }

    pub fn get(&self, seq: u64) -> Option<&Packet> {
        let index = seq.checked_sub(self.first_seq)?;
        self.packets.get(usize::try_from(index).ok()?)
    }

    /// The packets shown, in list order.
    pub fn view(&self) -> &[u64] {
        &self.view
    }

    pub fn sort(&self) -> (SortKey, bool) {
        (self.sort, self.descending)
    }

    pub fn set_sort(&mut self, key: SortKey, descending: bool) {
        self.sort = key;
        self.descending = descending;
        self.sort_view();
    }

    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    pub fn set_filter(&mut self, filter: Filter) {
        self.filter = filter;
        self.unviewed = 0;
        self.view = self
            .packets
            .iter()
            .filter(|packet| self.filter.accepts(packet))
            .map(|packet| packet.seq)
            .collect();
        self.sort_view();
    }

    /// Drop reasons with their counts, most frequent first.
    pub fn drops(&self) -> Vec<(u32, u64)> {
        let mut drops: Vec<(u32, u64)> = self.drops.iter().map(|(&r, &n)| (r, n)).collect();
        drops.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        drops
    }

    fn sort_view(&mut self) {
        let (packets, first, key) = (&self.packets, self.first_seq, self.sort);
        let at = |seq: u64| &packets[(seq - first) as usize];
        if self.descending {
            self.view.sort_by(|&a, &b| key.compare(at(b), at(a)));
        } else {
            self.view.sort_by(|&a, &b| key.compare(at(a), at(b)));
        }
    }
}

/// The slowest path of a tree: at each level, the child that took longest.
/// Returns one flag per node.
pub fn slowest_path(nodes: &[TreeNode]) -> Vec<bool> {
    let mut on_path = vec![false; nodes.len()];
    let mut range = 0..nodes.len();
    loop {
        let mut best: Option<(usize, u64)> = None;
        let mut i = range.start;
        while i < range.end {
            if let Some(ns) = nodes[i].duration_ns()
                && best.is_none_or(|(_, longest)| ns > longest)
            {
                best = Some((i, ns));
            }
            i = (nodes[i].end as usize).max(i + 1);
        }
        let Some((slowest, _)) = best else {
            return on_path;
        };
        on_path[slowest] = true;
        range = slowest + 1..nodes[slowest].end as usize;
    }
}
