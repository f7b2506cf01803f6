//! Packets: what a user calls one packet, made of the skbs that carried it
//! and each pass's nodes about them.
//!
//! Which skb belongs to which packet:
//! - **An skb's life.** An address names a new skb once the old one is
//!   freed: events are filed by address *and time* ([`lives`]), so a pass
//!   completed late still lands in the right life.
//! - **Clones, copies and segments seen made.** The exit of a cloning or
//!   segmenting function ([`SKB_CLONING_FUNCTIONS`](super::SKB_CLONING_FUNCTIONS),
//!   [`SKB_SEGMENTING_FUNCTIONS`](super::SKB_SEGMENTING_FUNCTIONS)) joins
//!   the new skb to its original's packet, from then on; so does the
//!   first other skb inside `__tcp_transmit_skb`, TCP's clone (whose
//!   `skb_clone` a namespace filter hides).
//! - **Headers.** An skb that appears with the headers of a packet in flight
//!   continues it ([`ident`]): a GSO segment (same flow and acknowledgment,
//!   sequence number inside the large skb's range) or a copy no probe saw
//!   made (same flow, IPv4 identification and sequence number). And an
//!   address whose headers change in what no hop rewrites (IP
//!   identification, TCP sequence and acknowledgment numbers and flags) was
//!   freed unseen and now carries another packet; a tunnel's outer header
//!   is a change of protocol and stays the same packet.
//!
//! A pass's nodes are split between packets: a node belongs to its skb's
//! packet, a node without skb to its nearest ancestor's; each packet keeps
//! its nodes and their ancestors ([`select`]). A packet is emitted when
//! every life of its skbs ended and no open pass still holds one of them,
//! when it went idle, or to stay within the limits; its hops and outcome
//! are worked out then.

mod describe;
mod fate;
mod hops;
mod ident;
mod lives;
mod select;

use std::collections::VecDeque;

use foldhash::HashMap;
use std::rc::Rc;

use crate::abi::{
    IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, PacketSummary, RawEvent, event_flag, probe_id, tcp_flag,
};

use super::StitchStats;
use super::lru::Lru;
use super::options::StitchLimits;
use super::pass::{Node, Pass};
use super::roles::{Made, ProbeRoles, Role};

pub use describe::{OutcomeNames, outcome_text, place_text};
pub use fate::{Outcome, Place, Sighting, Task, Unknown};
pub use hops::{HeaderChange, Hop};

use ident::{FlowKey, HeaderIndex, Ident, parsed};
use lives::Lives;

/// How long after a packet's headers were seen a new skb with them may
/// continue it: segmentation and copies follow within microseconds (a few
/// milliseconds under emulation), and IPv4 identifications of a busy flow
/// repeat every 65,536 packets.
const LINK_WINDOW_NS: u64 = 100_000_000;

/// One packet: the passes (cut down to its nodes) of its skbs, in order of
/// their start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    pub passes: Vec<Rc<Pass>>,
    /// The skbs, in order of appearance.
    pub skbs: Vec<SkbLife>,
    pub end: PacketEnd,
    /// This packet continues one emitted earlier at its pass limit.
    pub continued: bool,
    pub hops: Vec<Hop>,
    pub outcome: Outcome,
    /// Some event saw it on a device, with network headers or from an IP
    /// socket; not so a unix or netlink socket's skb.
    pub network: bool,
    /// Its headers as first seen whole (ports filled in), else as first
    /// seen, else its socket's addresses.
    pub headers: Option<RawEvent>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SkbLife {
    pub skb: u64,
    pub origin: SkbOrigin,
    /// Its free was seen.
    pub freed: bool,
}

/// How an skb joined its packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkbOrigin {
    /// The packet's first skb.
    First,
    /// Cloned or copied from `of`, seen made.
    Clone { of: u64 },
    /// One of the segments GSO cut `of` into, seen made (the first; the
    /// others continue it by their headers).
    Segment { of: u64 },
    /// Appeared with headers continuing `of`'s (a GSO segment, or a copy
    /// made unseen).
    Continues { of: u64 },
}

impl SkbOrigin {
    /// The skb it came from.
    pub fn from(self) -> Option<u64> {
        match self {
            SkbOrigin::First => None,
            SkbOrigin::Clone { of } | SkbOrigin::Segment { of } | SkbOrigin::Continues { of } => {
                Some(of)
            }
        }
    }
}

/// Why a packet was emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketEnd {
    /// Every skb was freed.
    Freed,
    /// No skb of it was seen for the idle time.
    Idle,
    /// Evicted, oldest first, to stay within the packet limits.
    Evicted,
    /// Reached its pass limit; it continues as a new packet.
    PassLimit,
    /// The input ended.
    TraceEnd,
    /// A pass that saw no skb at all, on its own.
    NoSkb,
}

impl PacketEnd {
    /// Short snake_case name, for JSON and markers.
    pub fn name(self) -> &'static str {
        match self {
            PacketEnd::Freed => "freed",
            PacketEnd::Idle => "idle",
            PacketEnd::Evicted => "evicted",
            PacketEnd::PassLimit => "pass_limit",
            PacketEnd::TraceEnd => "trace_end",
            PacketEnd::NoSkb => "no_skb",
        }
    }
}

/// What the packet was doing between two passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waiting {
    /// Enqueued on a qdisc in one pass, dequeued in the next.
    Qdisc,
    /// The next pass is a softirq (vector) that picked the packet up.
    Softirq(u8),
    Unknown,
}

/// The time between the end of one pass and the start of the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// Negative when the passes overlap (on different CPUs).
    pub ns: i64,
    pub waiting: Waiting,
}

impl Packet {
    pub fn start_ns(&self) -> u64 {
        self.passes.iter().map(|p| p.start_ns).min().unwrap_or(0)
    }

    pub fn end_ns(&self) -> u64 {
        self.passes.iter().map(|p| p.end_ns).max().unwrap_or(0)
    }

    /// From the start of the first pass to the end of the last.
    pub fn duration_ns(&self) -> u64 {
        self.end_ns().saturating_sub(self.start_ns())
    }

    /// From its first hop to its outcome (or its last hop).
    pub fn latency_ns(&self) -> u64 {
        let first = self.hops.first().map_or(0, |hop| hop.ts_ns);
        let last = self
            .outcome
            .at()
            .map(|at| at.ts_ns)
            .or(self.hops.last().map(|hop| hop.ts_ns))
            .unwrap_or(first);
        last.saturating_sub(first)
    }

    /// The gap before `passes[index]`, for every pass but the first.
    pub fn gap_before(&self, index: usize) -> Option<Gap> {
        let previous = self.passes.get(index.checked_sub(1)?)?;
        let next = self.passes.get(index)?;
        let skbs: Vec<u64> = self.skbs.iter().map(|life| life.skb).collect();
        let waiting = if previous.has_point_on(probe_id::QDISC_ENQUEUE, &skbs)
            && next.has_point_on(probe_id::QDISC_DEQUEUE, &skbs)
        {
            Waiting::Qdisc
        } else if let Some(vector) = next.softirq {
            Waiting::Softirq(vector)
        } else {
            Waiting::Unknown
        };
        Some(Gap {
            ns: next.start_ns.wrapping_sub(previous.end_ns) as i64,
            waiting,
        })
    }

    /// The events of its passes about its own skbs or no skb: not those of
    /// calls on other skbs kept around its nodes for context.
    pub fn events(&self) -> impl Iterator<Item = &RawEvent> {
        self.passes
            .iter()
            .flat_map(|pass| &pass.nodes)
            .filter(|node| {
                let skb = node.skb();
                skb == 0 || self.skbs.iter().any(|life| life.skb == skb)
            })
            .flat_map(|node| std::iter::once(&node.event).chain(node.exit.as_ref()))
    }
}

/// One skb's events in one pass, up to its free there.
#[derive(Clone, Copy, Debug)]
struct Run {
    start_ns: u64,
    free_ns: Option<u64>,
    /// The headers of its first event that had them.
    ident: Option<Ident>,
    /// The socket of its first event that showed one instead of headers.
    socket: Option<FlowKey>,
}

/// Each skb's runs in one pass: what the pass as a whole says about an
/// address, for its nodes filed one by one (a transmit path shows its
/// headers only once IP built them, and its first nodes belong to the same
/// skb as its later ones).
struct Runs {
    runs: Vec<(u64, Run)>,
}

impl Runs {
    fn of(pass: &Pass) -> Self {
        let mut runs: Vec<(u64, Run)> = Vec::new();
        for node in &pass.nodes {
            let skb = node.skb();
            if skb == 0 {
                continue;
            }
            let ts = node.event.ts_ns;
            let open = runs
                .iter()
                .rposition(|(addr, run)| *addr == skb && run.free_ns.is_none());
            let at = match open {
                Some(at) => at,
                None => {
                    runs.push((
                        skb,
                        Run {
                            start_ns: ts,
                            free_ns: None,
                            ident: None,
                            socket: None,
                        },
                    ));
                    runs.len() - 1
                }
            };
            let run = &mut runs[at].1;
            if run.ident.is_none() {
                run.ident = parsed(&node.event).map(Ident::of);
            }
            if run.socket.is_none() {
                run.socket = socket_of(&node.event);
            }
            if node.frees_skb() {
                run.free_ns = Some(ts);
            }
        }
        Runs { runs }
    }

    /// The run of `skb` an event at `ts` is part of: the last one begun by
    /// then, or its first.
    fn at(&self, skb: u64, ts: u64) -> Option<&Run> {
        let mut mine = self
            .runs
            .iter()
            .filter(|(addr, _)| *addr == skb)
            .map(|(_, run)| run);
        let first = mine.next()?;
        Some(mine.fold(first, |at, run| if run.start_ns <= ts { run } else { at }))
    }

    /// The first free of `skb` in this pass at or after `from`.
    fn first_free(&self, skb: u64, from: u64) -> Option<u64> {
        self.runs
            .iter()
            .filter(|(addr, _)| *addr == skb)
            .filter_map(|(_, run)| run.free_ns)
            .filter(|&free| free >= from)
            .min()
    }

    fn freed_between(&self, skb: u64, from: u64, to: u64) -> bool {
        self.first_free(skb, from).is_some_and(|free| free < to)
    }
}

/// A pass and which of its nodes are a packet's own.
struct Part {
    pass: Rc<Pass>,
    /// Sorted indices into `pass.nodes`.
    owned: Vec<u32>,
}

struct OpenPacket {
    parts: Vec<Part>,
    skbs: Vec<SkbLife>,
    /// Its earliest and latest event.
    first_ns: u64,
    last_ns: u64,
    continued: bool,
    /// It reached a socket or was dropped: a later event of one of its
    /// addresses with neither device nor headers is another skb's.
    settled: bool,
    /// A device received it.
    received: bool,
    /// A socket or the stack took it.
    delivered: bool,
}

/// The packets still open.
pub(super) struct Packets {
    open: Lru<OpenPacket>,
    lives: Lives,
    index: HeaderIndex,
    next_id: u64,
    /// Nodes held by open packets.
    held_nodes: u64,
    idle_ns: u64,
    limits: StitchLimits,
    /// Packets a pass touched, in order; reused between passes.
    touched: Vec<u64>,
    /// Complete packets and when they completed, oldest first: each waits
    /// the linger time (a skb may still turn out to continue it) and for
    /// the open passes that hold one of its skbs.
    waiting: VecDeque<(u64, u64)>,
    /// Per flow, the highest TCP acknowledgment sent and when.
    acks: HashMap<FlowKey, (u32, u64)>,
    acks_swept_ns: u64,
    /// Packets merged into others while filing the current pass: (from, into).
    merged: Vec<(u64, u64)>,
    /// Packets that looked for a packet they continue in the current pass.
    tried: Vec<u64>,
    /// Packets and flows the index has from the current pass.
    noted: Vec<(u64, FlowKey)>,
}

impl Packets {
    pub fn new(idle_ns: u64, limits: StitchLimits) -> Self {
        Packets {
            open: Lru::default(),
            lives: Lives::default(),
            index: HeaderIndex::new(idle_ns.min(LINK_WINDOW_NS)),
            next_id: 0,
            held_nodes: 0,
            idle_ns,
            limits,
            touched: Vec::new(),
            waiting: VecDeque::new(),
            acks: HashMap::default(),
            acks_swept_ns: 0,
            merged: Vec::new(),
            tried: Vec::new(),
            noted: Vec::new(),
        }
    }

    /// Files a completed pass's nodes under their packets, then emits the
    /// packets that ended: complete (unless `held` says an open pass still
    /// holds one of their skbs), full, evicted, or idle as of `now_ns`.
    pub fn add(
        &mut self,
        pass: Pass,
        now_ns: u64,
        roles: &ProbeRoles,
        held: &dyn Fn(u64) -> bool,
        done: &mut Vec<Packet>,
        stats: &mut StitchStats,
    ) {
        if pass.skbs.is_empty() {
            done.push(Packet {
                hops: Vec::new(),
                outcome: Outcome::Unknown {
                    why: Unknown::NoNetwork,
                    last: None,
                },
                network: false,
                headers: None,
                passes: vec![Rc::new(pass)],
                skbs: Vec::new(),
                end: PacketEnd::NoSkb,
                continued: false,
            });
            self.expire(now_ns, roles, done);
            return;
        }
        let pass = Rc::new(pass);
        self.touched.clear();
        self.merged.clear();
        self.tried.clear();
        self.noted.clear();
        let owners = self.file(&pass, roles);
        // Each packet's own node indices, in order.
        let mut owned: Vec<(u64, Vec<u32>)> = Vec::new();
        for (index, owner) in owners.iter().enumerate() {
            let Some(owner) = *owner else { continue };
            let owner = self.current_id(owner);
            match owned.iter_mut().find(|(id, _)| *id == owner) {
                Some((_, nodes)) => nodes.push(index as u32),
                None => owned.push((owner, vec![index as u32])),
            }
        }
        for (id, nodes) in owned {
            self.attach(id, &pass, nodes);
        }
        self.emit_ended(now_ns, roles, held, done, stats);
        self.expire(now_ns, roles, done);
    }

    /// The clock reached `now_ns` without a pass: emits what waited or
    /// idled long enough.
    pub fn tick(
        &mut self,
        now_ns: u64,
        roles: &ProbeRoles,
        held: &dyn Fn(u64) -> bool,
        done: &mut Vec<Packet>,
        stats: &mut StitchStats,
    ) {
        self.emit_ended(now_ns, roles, held, done, stats);
        self.expire(now_ns, roles, done);
    }

    /// Emits every open packet: the complete ones, then the others least
    /// recently active first.
    pub fn finish(&mut self, roles: &ProbeRoles, done: &mut Vec<Packet>) {
        while let Some((id, _)) = self.waiting.pop_front() {
            if self.complete(id) {
                self.emit(id, PacketEnd::Freed, roles, done);
            }
        }
        while let Some((id, _)) = self.open.oldest() {
            self.emit(id, PacketEnd::TraceEnd, roles, done);
        }
    }

    /// The owner (packet id) of each node of `pass`, following births,
    /// deaths and header changes in node order.
    fn file(&mut self, pass: &Pass, roles: &ProbeRoles) -> Vec<Option<u64>> {
        let runs = Runs::of(pass);
        let mut owners: Vec<Option<u64>> = Vec::with_capacity(pass.nodes.len());
        // Ancestors: (end index, owner, node index).
        let mut path: Vec<(u32, Option<u64>, usize)> = Vec::new();
        // Cloning calls and the first other skb seen inside each.
        let mut first_inside: Vec<(usize, u64)> = Vec::new();
        // The skb of the node before, its packet, and where its life ends
        // (other passes may have seen a free later in this pass's span);
        // the packet last touched.
        let mut last: Option<(u64, u64, Option<u64>)> = None;
        let mut touched: Option<u64> = None;
        for (index, node) in pass.nodes.iter().enumerate() {
            while path
                .last()
                .is_some_and(|&(end, _, _)| end as usize <= index)
            {
                path.pop();
            }
            let skb = node.skb();
            let ts = if node.event.skb == 0 {
                node.exit
                    .as_ref()
                    .map_or(node.event.ts_ns, |exit| exit.ts_ns)
            } else {
                node.event.ts_ns
            };
            // Headers not seen yet in this pass still have to be looked up
            // (a packet they continue) and noted, and an event with neither
            // device nor headers may show the address reused.
            let cached = last.filter(|&(addr, owner, until)| {
                addr == skb
                    && skb != 0
                    && until.is_none_or(|until| ts <= until)
                    && is_network_event(&node.event)
                    && parsed(&node.event)
                        .is_none_or(|pkt| self.noted.contains(&(owner, FlowKey::of(pkt))))
            });
            let owner = if let Some((_, owner, _)) = cached {
                // The same skb as the node before, in the same life (frees
                // and births in this pass clear this): the same packet.
                Some(self.current_id(owner))
            } else if skb != 0 {
                // Only the first other skb inside the innermost cloning call
                // is its clone (an ARP request sent on its behalf comes later).
                let caller = path
                    .iter()
                    .rev()
                    .find(|&&(_, _, at)| roles.clones_inside(pass.nodes[at].event.probe_id));
                let cloned_by = caller.and_then(|&(_, owner, at)| {
                    let original = pass.nodes[at].skb();
                    if original == skb {
                        return None;
                    }
                    let first = match first_inside.iter().find(|&&(call, _)| call == at) {
                        Some(&(_, first)) => first,
                        None => {
                            first_inside.push((at, skb));
                            skb
                        }
                    };
                    (first == skb).then_some((owner?, original))
                });
                Some(self.owner(skb, ts, &node.event, &runs, cloned_by))
            } else {
                path.iter()
                    .rev()
                    .find_map(|&(_, owner, _)| owner)
                    .map(|owner| self.current_id(owner))
            };
            last = match (cached, owner) {
                (Some(cached), _) => Some(cached),
                (None, Some(owner)) if skb != 0 => {
                    let until = self.lives.find(skb, ts).and_then(|(_, life)| life.until_ns);
                    Some((skb, owner, until))
                }
                _ => None,
            };
            if let Some(owner) = owner {
                if touched != Some(owner) {
                    self.touch(owner, ts);
                    touched = Some(owner);
                }
                if let Some((created, made)) = roles.new_skb(node) {
                    last = None;
                    let born = node.exit.as_ref().map_or(ts, |exit| exit.ts_ns);
                    let origin = match made {
                        Made::Clone => SkbOrigin::Clone { of: skb },
                        Made::Segment => SkbOrigin::Segment { of: skb },
                    };
                    self.birth(created, born, owner, origin, &runs);
                }
                if node.frees_skb() {
                    self.free(skb, ts);
                    last = None;
                }
                let role = roles.role(node.event.probe_id);
                if role != Role::Other
                    && let Some(packet) = self.open.get_mut(self.current_id(owner))
                {
                    packet.received |= role == Role::Receive;
                    // Consumed where it was received: taken by the stack.
                    let delivered = matches!(role, Role::Socket | Role::CopyToUser)
                        || (role == Role::Consume && packet.received);
                    packet.delivered |= delivered;
                    packet.settled |= delivered || role == Role::Drop;
                }
            }
            owners.push(owner);
            path.push((node.end, owner, index));
        }
        owners
    }

    /// The packet an event of `skb` at `ts` belongs to, made if need be.
    /// `cloned_by`: the packet and skb of a call around it that clones its
    /// skb inside (`__tcp_transmit_skb`), for an skb seen for the first time.
    fn owner(
        &mut self,
        skb: u64,
        ts: u64,
        event: &RawEvent,
        runs: &Runs,
        cloned_by: Option<(u64, u64)>,
    ) -> u64 {
        let run = runs.at(skb, ts);
        let (run_start, ident, socket) = run.map_or((ts, None, None), |run| {
            (run.start_ns, run.ident, run.socket)
        });
        // The earliest event of a life filed from a pass that completed
        // first, inside a call that clones: that life is the clone.
        if let (Some((packet, original)), Some((_, life))) = (cloned_by, self.lives.find(skb, ts))
            && life.from_ns >= ts
        {
            let (into, from) = (self.current_id(packet), self.current_id(life.packet));
            if into != from && self.open.get(into).is_some() && self.open.get(from).is_some() {
                self.merge(into, from, SkbOrigin::Clone { of: original });
            }
        }
        let owner = match self.lives.find(skb, ts) {
            Some((_, life)) if life.from_ns > ts && runs.freed_between(skb, ts, life.from_ns) => {
                // Freed in this pass before the life filed earlier began: an
                // skb of its own (only now seen whole).
                let id = self.fresh(skb, ts);
                let until = runs.first_free(skb, ts).unwrap_or(ts);
                self.lives.insert_ended(skb, run_start.min(ts), until, id);
                Some(id)
            }
            // Taken by a socket, then seen with neither device nor headers:
            // freed unseen, the address now holds another kind of skb (a
            // unix socket's).
            Some((_, life))
                if ts > life.from_ns
                    && !is_network_event(event)
                    && self
                        .open
                        .get(self.current_id(life.packet))
                        .is_some_and(|p| p.settled) =>
            {
                let id = self.fresh(skb, ts);
                self.lives.split(skb, run_start.max(ts), id);
                Some(id)
            }
            // Another socket's skb: TCP's retransmit-queue skbs show only
            // their socket and are freed unseen, then their address is
            // another connection's.
            Some((_, life))
                if ts > life.from_ns
                    && matches!((life.socket, socket), (Some(old), Some(new)) if old != new) =>
            {
                let id = self.fresh(skb, ts);
                self.lives.split(skb, run_start.max(life.from_ns + 1), id);
                if let Some(life) = self.lives.at(skb, ts) {
                    life.socket = socket;
                }
                Some(id)
            }
            Some((index, life)) => match (life.ident, ident) {
                (Some((old, seen)), Some(new)) if old != new && !old.tunnels_to(&new) => {
                    self.other_skb(skb, index, life, seen, run_start, new)
                }
                (None, Some(new)) => {
                    if let Some(life) = self.lives.get_mut(skb, index) {
                        life.ident = Some((new, run_start));
                    }
                    self.lives.at(skb, ts).map(|life| life.packet)
                }
                _ => self.lives.at(skb, ts).map(|life| life.packet),
            },
            None => None,
        };
        if let Some(socket) = socket
            && let Some(life) = self.lives.at(skb, ts)
            && life.socket.is_none()
        {
            life.socket = Some(socket);
        }
        let mut owner = match owner {
            Some(owner) => self.current_id(owner),
            None => match cloned_by.filter(|&(packet, _)| self.open.get(packet).is_some()) {
                Some((packet, original)) => {
                    self.lives.begin(skb, ts, packet);
                    self.add_skb(packet, skb, SkbOrigin::Clone { of: original });
                    packet
                }
                None => {
                    let id = self.fresh(skb, ts);
                    self.lives.begin(skb, ts, id);
                    if let Some(life) = self.lives.at(skb, ts) {
                        life.ident = ident.map(|ident| (ident, run_start));
                    }
                    id
                }
            },
        };
        if let Some(pkt) = parsed(event).copied() {
            // A packet whose first skb came from nowhere seen may continue
            // another: tried once per pass, as a pass filed later may show
            // the other earlier (a segment's receive completes before the
            // transmit that made it). The later packet joins the earlier.
            let unrooted = self
                .open
                .get(owner)
                .is_some_and(|p| p.skbs[0].origin == SkbOrigin::First);
            if unrooted && !self.tried.contains(&owner) {
                self.tried.push(owner);
                let open = &self.open;
                // Any packet still open, even taken or dropped: a raw
                // socket's clone of an echo reply whose original was
                // dropped, the other segments of one already delivered.
                // Recent: seen within the window, or in this pass (whose
                // later events were not noted again).
                let noted = &self.noted;
                let continues = self.index.continued(&pkt, ts, |id, recent| {
                    id != owner
                        && open.get(id).is_some()
                        && (recent || noted.iter().any(|&(packet, _)| packet == id))
                });
                if let Some(other) = continues {
                    let first = |id| self.open.get(id).map_or(u64::MAX, |p| p.first_ns);
                    let (into, from) = if first(other) <= first(owner) {
                        (other, owner)
                    } else {
                        (owner, other)
                    };
                    let of = self
                        .open
                        .get(into)
                        .and_then(|p| p.skbs.last())
                        .map_or(0, |l| l.skb);
                    self.merge(into, from, SkbOrigin::Continues { of });
                    owner = into;
                }
            }
            // Once per packet, flow and pass: its other events there carry
            // the same headers (or a segment's, inside the noted range),
            // unless they got ports (UDP's are written after IP's header)
            // or NAT rewrote them.
            let flow = FlowKey::of(&pkt);
            if self.noted.contains(&(owner, flow)) {
                return owner;
            }
            self.noted.push((owner, flow));
            self.index.note(&pkt, ts, owner);
            if pkt.l4_proto == IPPROTO_TCP && pkt.tcp_flags & tcp_flag::ACK != 0 {
                let ack = self.acks.entry(FlowKey::of(&pkt)).or_insert((pkt.ack, ts));
                if pkt.ack.wrapping_sub(ack.0) as i32 > 0 {
                    ack.0 = pkt.ack;
                }
                ack.1 = ack.1.max(ts);
            }
        }
        owner
    }

    /// `skb`'s life `index` carried `old` headers (first seen at `seen`);
    /// this pass shows it with `new` ones from `run_start` on: another skb
    /// took the address over unseen. It continues the next life if that
    /// one has the new headers (filed first, from a pass that completed
    /// earlier); otherwise it is a packet of its own.
    fn other_skb(
        &mut self,
        skb: u64,
        index: usize,
        life: lives::Life,
        seen: u64,
        run_start: u64,
        new: Ident,
    ) -> Option<u64> {
        if run_start <= seen {
            // The new headers come first: an earlier skb, ended before the
            // life's headers were seen.
            let id = self.fresh(skb, run_start);
            self.lives
                .insert_ended(skb, run_start, seen.saturating_sub(1), id);
            if let Some(inserted) = self.lives.get_mut(skb, index) {
                inserted.freed = false;
                inserted.ident = Some((new, run_start));
            }
            return Some(id);
        }
        if !life.freed
            && let Some(next) = self.lives.get_mut(skb, index + 1)
            && next.ident.is_some_and(|(ident, _)| ident == new)
        {
            next.from_ns = next.from_ns.min(run_start);
            let packet = next.packet;
            if let Some(life) = self.lives.get_mut(skb, index) {
                life.until_ns = Some(run_start.saturating_sub(1));
            }
            return Some(packet);
        }
        let id = self.fresh(skb, run_start);
        self.lives.split(skb, run_start, id);
        if let Some(life) = self.lives.at(skb, run_start) {
            life.ident = Some((new, run_start));
        }
        Some(id)
    }

    /// A new packet for `skb`, first seen at `ts`.
    fn fresh(&mut self, skb: u64, ts: u64) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.open.insert(
            id,
            OpenPacket {
                parts: Vec::new(),
                skbs: vec![SkbLife {
                    skb,
                    origin: SkbOrigin::First,
                    freed: false,
                }],
                first_ns: ts,
                last_ns: ts,
                continued: false,
                settled: false,
                received: false,
                delivered: false,
            },
        );
        id
    }

    /// `created` was made from an skb of packet `owner` at `ts`.
    fn birth(&mut self, created: u64, ts: u64, owner: u64, origin: SkbOrigin, runs: &Runs) {
        match self.lives.find(created, ts) {
            Some((_, life)) if life.packet == owner => {}
            // Filed already from a pass that completed first: the same skb,
            // unless this pass frees it before that life began.
            Some((_, life)) if life.from_ns >= ts => {
                if runs.freed_between(created, ts, life.from_ns) {
                    let until = runs.first_free(created, ts).unwrap_or(ts);
                    self.lives.insert_ended(created, ts, until, owner);
                    self.add_skb(owner, created, origin);
                } else if self.open.get(life.packet).is_some() {
                    self.merge(owner, life.packet, origin);
                }
            }
            // The address was another skb's, freed unseen.
            Some(_) => {
                self.lives.split(created, ts, owner);
                self.add_skb(owner, created, origin);
                self.join_next(created, ts, owner, runs, origin);
            }
            None => {
                self.lives.begin(created, ts, owner);
                self.add_skb(owner, created, origin);
            }
        }
    }

    /// The life of `skb` from `ts` (packet `owner`'s) ends where a later
    /// one was cut off by other headers, filed first from a pass that
    /// completed earlier: if that one has the headers this pass shows for
    /// `skb`, it is the same skb, and its packet is `owner`'s.
    fn join_next(&mut self, skb: u64, ts: u64, owner: u64, runs: &Runs, origin: SkbOrigin) {
        let Some((index, life)) = self.lives.find(skb, ts) else {
            return;
        };
        let ident = runs.at(skb, ts).and_then(|run| run.ident);
        let Some(next) = self.lives.get_mut(skb, index + 1).map(|next| *next) else {
            return;
        };
        let same = ident.is_some() && next.ident.map(|(ident, _)| ident) == ident;
        if life.freed || !same {
            return;
        }
        let packet = self.current_id(next.packet);
        if packet != owner && self.open.get(packet).is_some() {
            self.merge(owner, packet, origin);
        }
    }

    fn add_skb(&mut self, id: u64, skb: u64, origin: SkbOrigin) {
        if let Some(packet) = self.open.get_mut(id)
            && !packet.skbs.iter().any(|life| life.skb == skb)
        {
            packet.skbs.push(SkbLife {
                skb,
                origin,
                freed: false,
            });
        }
    }

    /// Packet `from` turns out to be part of `into`; its first skb joined
    /// by `origin`.
    fn merge(&mut self, into: u64, from: u64, origin: SkbOrigin) {
        if into == from {
            return;
        }
        let Some(merged) = self.open.remove(from) else {
            return;
        };
        for life in &merged.skbs {
            self.lives.reassign(life.skb, from, into);
        }
        self.merged.push((from, into));
        let Some(packet) = self.open.get_mut(into) else {
            return;
        };
        for (i, life) in merged.skbs.into_iter().enumerate() {
            // The same skb seen made here and filed on its own first.
            if let Some(known) = packet.skbs.iter_mut().find(|known| known.skb == life.skb) {
                known.freed |= life.freed;
                continue;
            }
            let origin = if i == 0 { origin } else { life.origin };
            packet.skbs.push(SkbLife { origin, ..life });
        }
        for part in merged.parts {
            match packet
                .parts
                .iter_mut()
                .find(|p| Rc::ptr_eq(&p.pass, &part.pass))
            {
                Some(mine) => {
                    mine.owned.extend(part.owned);
                    mine.owned.sort_unstable();
                    mine.owned.dedup();
                }
                None => packet.parts.push(part),
            }
        }
        packet.last_ns = packet.last_ns.max(merged.last_ns);
        packet.first_ns = packet.first_ns.min(merged.first_ns);
        packet.settled |= merged.settled;
        packet.received |= merged.received;
        packet.delivered |= merged.delivered;
        packet.continued |= merged.continued;
        self.touched.push(into);
    }

    /// The id a packet has now: merges while filing a pass move packets.
    fn current_id(&self, mut id: u64) -> u64 {
        while let Some(&(_, into)) = self.merged.iter().find(|&&(from, _)| from == id) {
            id = into;
        }
        id
    }

    fn free(&mut self, skb: u64, ts: u64) {
        let Some(life) = self.lives.at(skb, ts) else {
            return;
        };
        life.until_ns = Some(life.until_ns.map_or(ts, |until| until.min(ts)));
        let packet = life.packet;
        if let Some(open) = self.open.get_mut(packet)
            && let Some(life) = open.skbs.iter_mut().rev().find(|l| l.skb == skb)
        {
            life.freed = true;
        }
    }

    fn touch(&mut self, id: u64, ts: u64) {
        if let Some(packet) = self.open.get_mut(id) {
            packet.last_ns = packet.last_ns.max(ts);
            packet.first_ns = packet.first_ns.min(ts);
            self.open.touch(id);
            if !self.touched.contains(&id) {
                self.touched.push(id);
            }
        }
    }

    /// Adds `pass` (its nodes `owned`) to packet `id`.
    fn attach(&mut self, id: u64, pass: &Rc<Pass>, owned: Vec<u32>) {
        let Some(packet) = self.open.get_mut(id) else {
            return;
        };
        self.held_nodes += owned.len() as u64;
        packet.last_ns = packet.last_ns.max(pass.end_ns);
        match packet.parts.iter_mut().find(|p| Rc::ptr_eq(&p.pass, pass)) {
            Some(part) => {
                part.owned.extend(owned);
                part.owned.sort_unstable();
                part.owned.dedup();
            }
            None => packet.parts.push(Part {
                pass: Rc::clone(pass),
                owned,
            }),
        }
    }

    /// Emits the touched packets that are complete and settled, sets the
    /// other complete ones waiting (a GSO segment or a copy may still
    /// continue them), emits those that waited long enough and the full
    /// ones, then the oldest while over the limits.
    fn emit_ended(
        &mut self,
        now_ns: u64,
        roles: &ProbeRoles,
        held: &dyn Fn(u64) -> bool,
        done: &mut Vec<Packet>,
        stats: &mut StitchStats,
    ) {
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort_unstable();
        touched.dedup();
        for &id in &touched {
            let Some(packet) = self.open.get(id) else {
                continue;
            };
            if self.complete(id) {
                // Taken by a socket or the stack: nothing continues it. A
                // dropped one waits: a copy made before the drop (for a raw
                // socket) may still show up.
                if packet.delivered && !packet.skbs.iter().any(|life| held(life.skb)) {
                    self.emit(id, PacketEnd::Freed, roles, done);
                } else {
                    self.waiting.push_back((id, packet.last_ns));
                }
            } else if packet.parts.len() >= self.limits.passes_per_packet as usize {
                stats.packets_split += 1;
                self.emit(id, PacketEnd::PassLimit, roles, done);
            }
        }
        touched.clear();
        self.touched = touched;
        let linger = self.idle_ns.min(LINK_WINDOW_NS);
        let mut still_held = Vec::new();
        while let Some(&(id, completed)) = self.waiting.front() {
            if now_ns.saturating_sub(completed) < linger {
                break;
            }
            self.waiting.pop_front();
            // Gone already, or new events since: it is waited for anew.
            let Some(packet) = self.open.get(id) else {
                continue;
            };
            if packet.last_ns != completed || !self.complete(id) {
                continue;
            }
            if packet.skbs.iter().any(|life| held(life.skb)) {
                still_held.push((id, completed));
            } else {
                self.emit(id, PacketEnd::Freed, roles, done);
            }
        }
        for entry in still_held.into_iter().rev() {
            self.waiting.push_front(entry);
        }
        while self.open.len() > self.limits.open_packets as usize
            || self.held_nodes > self.limits.packet_nodes
        {
            let Some((id, _)) = self.open.oldest() else {
                break;
            };
            stats.packets_evicted += 1;
            self.emit(id, PacketEnd::Evicted, roles, done);
        }
    }

    /// Whether every life of the packet's skbs ended.
    fn complete(&self, id: u64) -> bool {
        self.open.get(id).is_some_and(|packet| {
            packet
                .skbs
                .iter()
                .all(|life| self.lives.ended(life.skb, id))
        })
    }

    /// Emits the packets idle for longer than the idle time.
    fn expire(&mut self, now_ns: u64, roles: &ProbeRoles, done: &mut Vec<Packet>) {
        while let Some((id, packet)) = self.open.oldest() {
            if now_ns.saturating_sub(packet.last_ns) <= self.idle_ns {
                break;
            }
            self.emit(id, PacketEnd::Idle, roles, done);
        }
        self.index.expire(now_ns);
        if now_ns.saturating_sub(self.acks_swept_ns) > self.idle_ns {
            let idle = self.idle_ns;
            self.acks
                .retain(|_, &mut (_, ts)| now_ns.saturating_sub(ts) <= idle);
            self.acks_swept_ns = now_ns;
        }
    }

    /// Emits packet `id`. At the pass limit the packet stays open with its
    /// skbs and starts afresh; otherwise it is gone, its lives too.
    fn emit(&mut self, id: u64, end: PacketEnd, roles: &ProbeRoles, done: &mut Vec<Packet>) {
        let (parts, skbs, continued) = if end == PacketEnd::PassLimit {
            let Some(open) = self.open.get_mut(id) else {
                return;
            };
            let parts = std::mem::take(&mut open.parts);
            let continued = std::mem::replace(&mut open.continued, true);
            (parts, open.skbs.clone(), continued)
        } else {
            let Some(open) = self.open.remove(id) else {
                return;
            };
            for life in &open.skbs {
                self.lives.forget(life.skb, id);
            }
            (open.parts, open.skbs, open.continued)
        };
        let held: u64 = parts.iter().map(|part| part.owned.len() as u64).sum();
        self.held_nodes = self.held_nodes.saturating_sub(held);
        let acks = &self.acks;
        let acked = |pkt: &PacketSummary| {
            acks.get(&FlowKey::of(pkt).reversed())
                .is_some_and(|&(ack, _)| ack.wrapping_sub(pkt.seq) as i32 > 0)
        };
        done.push(build(parts, skbs, end, continued, roles, &acked));
    }
}

/// The packet from its parts: events in time order for its hops and
/// outcome, and each pass cut down to its nodes.
fn build(
    mut parts: Vec<Part>,
    skbs: Vec<SkbLife>,
    end: PacketEnd,
    continued: bool,
    roles: &ProbeRoles,
    acked: &dyn Fn(&PacketSummary) -> bool,
) -> Packet {
    parts.sort_by_key(|part| part.pass.start_ns);
    let mut nodes: Vec<&Node> = parts
        .iter()
        .flat_map(|part| part.owned.iter().map(|&i| &part.pass.nodes[i as usize]))
        .collect();
    nodes.sort_by_key(|node| node.event.ts_ns);
    let outcome = fate::outcome(&nodes, &skbs, roles, end, acked);
    let hops = hops::hops(&nodes);
    let network = fate::is_network(&nodes);
    let headers = headers(&nodes);
    let addrs: Vec<u64> = skbs.iter().map(|life| life.skb).collect();
    let passes = parts
        .iter()
        .map(
            |part| match select::sub_pass(&part.pass, &part.owned, &addrs) {
                Some(pass) => Rc::new(pass),
                None => Rc::clone(&part.pass),
            },
        )
        .collect();
    Packet {
        passes,
        skbs,
        end,
        continued,
        hops,
        outcome,
        network,
        headers,
    }
}

/// The connection of the socket an event shows instead of headers, either
/// way round: the sender's socket on transmit, the receiver's once taken.
fn socket_of(event: &RawEvent) -> Option<FlowKey> {
    (event.flags & event_flag::FROM_SOCKET != 0 && event.pkt.l3_proto != 0).then(|| {
        let key = FlowKey::of(&event.pkt);
        let reversed = key.reversed();
        if (key.saddr, key.sport) <= (reversed.saddr, reversed.sport) {
            key
        } else {
            reversed
        }
    })
}

/// Whether an event shows its skb as a network packet: on a device, with
/// network headers, or with an IP socket's addresses.
fn is_network_event(event: &RawEvent) -> bool {
    event.flags & event_flag::HAS_DEV != 0
        || parsed(event).is_some()
        || (event.flags & event_flag::FROM_SOCKET != 0 && event.pkt.l3_proto != 0)
}

/// The event whose headers describe the packet: the first with whole
/// parsed headers (UDP's header is built after the skb, so the first parsed
/// one may say port 0; IP's length comes last), else the first parsed, else
/// the first socket's addresses; completed with the first device seen.
fn headers(nodes: &[&Node]) -> Option<RawEvent> {
    let has_ports = |event: &RawEvent| {
        !matches!(event.pkt.l4_proto, IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP)
            || (event.pkt.sport != 0 && event.pkt.dport != 0)
    };
    let events = || nodes.iter().map(|node| &node.event);
    // IP's total length is written last on transmit (`__ip_local_out`).
    let whole = |e: &RawEvent| parsed(e).is_some() && has_ports(e) && e.pkt.ip_len != 0;
    let mut best = events()
        .find(|e| whole(e))
        .or_else(|| events().find(|e| parsed(e).is_some() && has_ports(e)))
        .or_else(|| events().find(|e| parsed(e).is_some()))
        .or_else(|| {
            events().find(|e| e.flags & event_flag::FROM_SOCKET != 0 && e.pkt.l3_proto != 0)
        })
        .copied()?;
    if best.flags & event_flag::HAS_DEV == 0
        && let Some(device) = events().find(|e| e.flags & event_flag::HAS_DEV != 0)
    {
        best.flags |= event_flag::HAS_DEV;
        best.ifname = device.ifname;
        best.ifindex = device.ifindex;
        best.netns = device.netns;
    }
    Some(best)
}

#[cfg(test)]
mod tests;
