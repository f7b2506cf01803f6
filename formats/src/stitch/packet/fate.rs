//! A packet's outcome: what finally became of it, from the milestones of
//! its skbs (see [`Role`]).
//!
//! Each skb is followed on its own: where it was last received or sent,
//! whether it sat in a qdisc, reached a socket, was copied to a process,
//! dropped or consumed. The packet's outcome is the furthest any of its
//! skbs got: delivered, then forwarded, sent, dropped, queued, unknown. A
//! TCP segment's clone is delivered while the original waits in the
//! retransmit queue: the segment was delivered. A qdisc's dequeue counts
//! as handing the skb to its driver.
//!
//! `kfree_skb` with `NOT_SPECIFIED` (before Linux 6.2 nearly every
//! `kfree_skb` said that, drops and plain frees alike) counts as a drop
//! only while the packet was on its way: it had been on a device or had a
//! network header, had not reached a socket, and no driver had taken it
//! (6.1's qdiscs drop that way too). A unix socket's skb freed so, or a socket freeing what
//! it read, is no drop.

use crate::abi::{RawEvent, event_flag, probe_id, tcp_flag};
use crate::stitch::pass::Node;
use crate::stitch::roles::{DropKind, ProbeRoles, Role};

use super::ident::parsed;
use super::{PacketEnd, SkbLife};

/// Where an event saw a packet: a device, or a namespace (a socket's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Place {
    pub netns: u32,
    /// 0 when no device was involved.
    pub ifindex: u32,
    pub ifname: [u8; 16],
}

impl Place {
    pub fn of(event: &RawEvent) -> Self {
        if event.flags & event_flag::HAS_DEV != 0 {
            Place {
                netns: event.netns,
                ifindex: event.ifindex,
                ifname: event.ifname,
            }
        } else {
            Place {
                netns: event.netns,
                ..Place::default()
            }
        }
    }
}

/// An event that saw the packet somewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sighting {
    pub probe: u32,
    pub ts_ns: u64,
    pub place: Place,
}

impl Sighting {
    fn of(event: &RawEvent) -> Self {
        Sighting {
            probe: event.probe_id,
            ts_ns: event.ts_ns,
            place: Place::of(event),
        }
    }
}

/// The process a packet's data was copied to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Task {
    pub pid: u32,
    pub comm: [u8; 16],
}

/// What finally became of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A socket or the stack's own handler took it (`at`: that event; the
    /// place is where it was received); `task` when its data was seen
    /// copied to a process. `acked`: no probe saw it taken, but its
    /// receiver's TCP acknowledged it (`at` is where it was received).
    Delivered {
        at: Sighting,
        task: Option<Task>,
        acked: bool,
    },
    /// Dropped with an `enum skb_drop_reason` (`reason`; `location` where,
    /// 0 if not known), or by sch_tdma (`at.probe` says which).
    Dropped {
        at: Sighting,
        reason: u32,
        location: u64,
    },
    /// Routed by the kernel (`ip_forward`) and sent on `at`'s device, not
    /// seen again.
    Forwarded { at: Sighting },
    /// Handed to `at`'s driver and not seen again: it left the machine, or
    /// went where nothing was traced.
    Sent { at: Sighting },
    /// Still in a qdisc when the trace ended.
    Queued { at: Sighting },
    Unknown {
        why: Unknown,
        last: Option<Sighting>,
    },
}

/// Why a packet's outcome is not known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unknown {
    /// The trace ended while it was on its way.
    TraceEnded,
    /// Nothing was seen of it for the idle time: what became of it was not
    /// probed (e.g. `__kfree_skb` has no tracepoint).
    NotSeenAfter,
    /// Emitted early to stay within the stitcher's limits.
    Evicted,
    /// None of its skbs reached a device or had network headers.
    NoNetwork,
}

impl Outcome {
    /// Short name, for JSON and the list.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Delivered { .. } => "delivered",
            Outcome::Dropped { .. } => "dropped",
            Outcome::Forwarded { .. } => "forwarded",
            Outcome::Sent { .. } => "sent",
            Outcome::Queued { .. } => "queued",
            Outcome::Unknown { .. } => "unknown",
        }
    }

    /// The event that decided it.
    pub fn at(&self) -> Option<&Sighting> {
        match self {
            Outcome::Delivered { at, .. }
            | Outcome::Dropped { at, .. }
            | Outcome::Forwarded { at }
            | Outcome::Sent { at }
            | Outcome::Queued { at } => Some(at),
            Outcome::Unknown { last, .. } => last.as_ref(),
        }
    }

    /// Order of preference between the fates of a packet's skbs.
    fn rank(&self) -> u8 {
        match self {
            Outcome::Delivered { .. } => 5,
            Outcome::Forwarded { .. } => 4,
            Outcome::Sent { .. } => 3,
            Outcome::Dropped { .. } => 2,
            Outcome::Queued { .. } => 1,
            Outcome::Unknown { .. } => 0,
        }
    }
}

impl Unknown {
    pub fn name(self) -> &'static str {
        match self {
            Unknown::TraceEnded => "trace_ended",
            Unknown::NotSeenAfter => "not_seen_after",
            Unknown::Evicted => "evicted",
            Unknown::NoNetwork => "no_network",
        }
    }
}

/// One skb's milestones so far.
#[derive(Default)]
struct SkbFate {
    skb: u64,
    network: bool,
    /// The last receive or transmit.
    last_move: Option<(Role, Sighting)>,
    last: Option<Sighting>,
    /// The last device it was seen on.
    last_device: Option<Place>,
    queued: Option<Sighting>,
    forwarded: bool,
    /// A driver (or a qdisc's dequeue, on the driver's behalf) took it.
    to_driver: bool,
    delivered: Option<(Sighting, Option<Task>)>,
    dropped: Option<(Sighting, u32, u64)>,
    /// Its first parsed headers.
    headers: Option<crate::abi::PacketSummary>,
}

impl SkbFate {
    fn see(&mut self, event: &RawEvent, role: Role, roles: &ProbeRoles) {
        if self.headers.is_none() {
            self.headers = parsed(event).copied();
        }
        let mut at = Sighting::of(event);
        if at.place.ifindex != 0 {
            self.last_device = Some(at.place);
        } else if let Some(device) = self.last_device {
            // Without a device of its own (sch_tdma, a dequeue) the event
            // is where the packet last was.
            if at.place.netns == 0 || at.place.netns == device.netns {
                at.place = device;
            }
        }
        self.network |= event.flags & event_flag::HAS_DEV != 0 || parsed(event).is_some();
        if at.place.netns != 0 {
            self.last = Some(at);
        }
        match role {
            Role::Receive | Role::Transmit => {
                self.last_move = Some((role, at));
                self.queued = None;
                self.to_driver = role == Role::Transmit;
            }
            // Entering a device's queue is leaving: what frees it next is
            // the driver or the qdisc, not a local consumer.
            Role::Enqueue if event.probe_id == probe_id::NET_DEV_QUEUE => {
                self.last_move = Some((Role::Transmit, at));
            }
            Role::Enqueue => self.queued = Some(at),
            Role::Dequeue => {
                self.queued = None;
                self.last_move = Some((Role::Transmit, at));
                self.to_driver = true;
            }
            Role::Forward => self.forwarded = true,
            Role::Socket => {
                if self.delivered.is_none() {
                    self.delivered = Some((self.received_at(at), None));
                }
            }
            Role::CopyToUser => {
                let task = Task {
                    pid: event.pid,
                    comm: event.comm,
                };
                let place = self
                    .delivered
                    .map_or_else(|| self.received_at(at), |(at, _)| at);
                self.delivered = Some((place, Some(task)));
            }
            Role::Drop => {
                let drop = match roles.drop_kind(event.value as u32) {
                    DropKind::Drop => true,
                    DropKind::Unspecified => {
                        self.network && self.delivered.is_none() && !self.to_driver
                    }
                    DropKind::NotADrop => false,
                };
                if drop {
                    self.dropped = Some((at, event.value as u32, event.aux));
                } else {
                    self.consumed(at);
                }
            }
            Role::Consume => self.consumed(at),
            Role::QdiscDrop => self.dropped = Some((at, 0, 0)),
            Role::Other => {}
        }
    }

    /// Freed after use: consumed by the stack if it was received last.
    fn consumed(&mut self, at: Sighting) {
        if self.delivered.is_none() && matches!(self.last_move, Some((Role::Receive, _))) {
            let mut place = self.received_at(at);
            place.probe = at.probe;
            place.ts_ns = at.ts_ns;
            self.delivered = Some((place, None));
        }
    }

    /// `at`, in the place of the last receive when `at` knows no device.
    fn received_at(&self, at: Sighting) -> Sighting {
        match self.last_move {
            Some((Role::Receive, received)) if at.place.ifindex == 0 => Sighting {
                place: received.place,
                ..at
            },
            _ => at,
        }
    }

    fn outcome(
        &self,
        end: PacketEnd,
        acked: &dyn Fn(&crate::abi::PacketSummary) -> bool,
    ) -> Outcome {
        let delivered_ts = self.delivered.map(|(at, _)| at.ts_ns);
        match (self.dropped, self.delivered) {
            (Some((at, reason, location)), _) if delivered_ts.is_none_or(|ts| ts <= at.ts_ns) => {
                return Outcome::Dropped {
                    at,
                    reason,
                    location,
                };
            }
            (_, Some((at, task))) => {
                return Outcome::Delivered {
                    at,
                    task,
                    acked: false,
                };
            }
            _ => {}
        }
        if let (Some((Role::Receive, at)), Some(headers)) = (self.last_move, &self.headers)
            && acknowledgeable(headers)
            && acked(headers)
        {
            return Outcome::Delivered {
                at,
                task: None,
                acked: true,
            };
        }
        if let Some(at) = self.queued.filter(|_| end == PacketEnd::TraceEnd) {
            return Outcome::Queued { at };
        }
        match self.last_move {
            Some((Role::Transmit, at)) if self.forwarded => Outcome::Forwarded { at },
            Some((Role::Transmit, at)) => Outcome::Sent { at },
            _ => Outcome::Unknown {
                why: unknown_why(end),
                last: self.last,
            },
        }
    }
}

fn unknown_why(end: PacketEnd) -> Unknown {
    match end {
        PacketEnd::TraceEnd | PacketEnd::PassLimit => Unknown::TraceEnded,
        PacketEnd::Evicted => Unknown::Evicted,
        PacketEnd::Freed | PacketEnd::Idle | PacketEnd::NoSkb => Unknown::NotSeenAfter,
    }
}

/// Whether a TCP segment takes sequence space, so that an acknowledgment
/// can cover it: SYN, FIN, or data (PSH, or longer than any headers).
fn acknowledgeable(pkt: &crate::abi::PacketSummary) -> bool {
    const MAX_HEADERS: u16 = 60 + 60;
    pkt.l4_proto == crate::abi::IPPROTO_TCP
        && (pkt.tcp_flags & (tcp_flag::SYN | tcp_flag::FIN | tcp_flag::PSH) != 0
            || pkt.ip_len > MAX_HEADERS)
}

/// The outcome of a packet whose events are `nodes`, in time order;
/// `acked` says whether TCP acknowledged a segment with these headers.
pub(super) fn outcome(
    nodes: &[&Node],
    lives: &[SkbLife],
    roles: &ProbeRoles,
    end: PacketEnd,
    acked: &dyn Fn(&crate::abi::PacketSummary) -> bool,
) -> Outcome {
    let mut skbs: Vec<SkbFate> = Vec::new();
    for node in nodes {
        let skb = node.skb();
        if skb == 0 {
            continue;
        }
        let at = match skbs.iter().position(|fate| fate.skb == skb) {
            Some(at) => at,
            None => {
                // A clone or segment starts where its original was: a raw
                // socket's clone of a received packet was received too.
                let from = lives
                    .iter()
                    .find(|life| life.skb == skb)
                    .and_then(|life| life.origin.from())
                    .and_then(|of| skbs.iter().find(|fate| fate.skb == of));
                let fate = match from {
                    Some(original) => SkbFate {
                        skb,
                        network: original.network,
                        last_move: original.last_move,
                        last: original.last,
                        last_device: original.last_device,
                        forwarded: original.forwarded,
                        headers: original.headers,
                        ..SkbFate::default()
                    },
                    None => SkbFate {
                        skb,
                        ..SkbFate::default()
                    },
                };
                skbs.push(fate);
                skbs.len() - 1
            }
        };
        skbs[at].see(&node.event, roles.role(node.event.probe_id), roles);
    }
    let network = skbs.iter().any(|fate| fate.network);
    if !network {
        return Outcome::Unknown {
            why: Unknown::NoNetwork,
            last: None,
        };
    }
    let mut best: Option<Outcome> = None;
    for fate in skbs.iter().filter(|fate| fate.network) {
        let outcome = fate.outcome(end, acked);
        let better = match &best {
            None => true,
            Some(best) => {
                outcome.rank() > best.rank()
                    || (outcome.rank() == best.rank()
                        && outcome.at().map(|at| at.ts_ns) > best.at().map(|at| at.ts_ns))
            }
        };
        if better {
            best = Some(outcome);
        }
    }
    best.unwrap_or(Outcome::Unknown {
        why: Unknown::NoNetwork,
        last: None,
    })
}

/// Whether any of the events shows a network packet.
pub(super) fn is_network(nodes: &[&Node]) -> bool {
    nodes
        .iter()
        .any(|node| super::is_network_event(&node.event))
}
