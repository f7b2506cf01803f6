//! Journeys: the passes of one packet's life, across CPUs and namespaces,
//! from the first pass that saw its skb until the skb (and every clone of
//! it) was freed.
//!
//! A pass belongs to the journey of every skb seen in it, so the pass in
//! which an ACK frees the data segment it acknowledges shows up in both the
//! ACK's and the segment's journey. Journeys merge only through an explicit
//! clone (see [`SKB_CLONING_FUNCTIONS`](super::SKB_CLONING_FUNCTIONS)).

use std::collections::HashMap;
use std::rc::Rc;

use crate::abi::probe_id;

use super::StitchStats;
use super::lru::Lru;
use super::options::StitchLimits;
use super::pass::Pass;
use super::roles::ProbeRoles;

/// The passes of one skb and its clones, in order of their start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Journey {
    pub passes: Vec<Rc<Pass>>,
    /// The skbs, in order of appearance.
    pub skbs: Vec<SkbLife>,
    pub end: JourneyEnd,
    /// This journey continues one emitted earlier at its pass limit.
    pub continued: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SkbLife {
    pub skb: u64,
    /// The skb it was cloned (or copied) from.
    pub clone_of: Option<u64>,
    /// Its free was seen, or its address reappeared as another skb's clone
    /// (so it must have been freed unseen).
    pub freed: bool,
}

/// Why a journey was emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JourneyEnd {
    /// Every skb was freed.
    Freed,
    /// No skb of it was seen for the idle time.
    Idle,
    /// Evicted, oldest first, to stay within the journey limits.
    Evicted,
    /// Reached its pass limit; it continues as a new journey.
    PassLimit,
    /// The input ended.
    TraceEnd,
    /// A pass that saw no skb at all, on its own.
    NoSkb,
}

impl JourneyEnd {
    /// Short snake_case name, for JSON and markers.
    pub fn name(self) -> &'static str {
        match self {
            JourneyEnd::Freed => "freed",
            JourneyEnd::Idle => "idle",
            JourneyEnd::Evicted => "evicted",
            JourneyEnd::PassLimit => "pass_limit",
            JourneyEnd::TraceEnd => "trace_end",
            JourneyEnd::NoSkb => "no_skb",
        }
    }
}

/// What the packet was doing between two passes of a journey.
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

impl Journey {
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
}

/// The journeys still waiting for their skbs to be freed.
pub(super) struct Journeys {
    open: Lru<OpenJourney>,
    /// Live skb → id of its open journey.
    by_skb: HashMap<u64, u64>,
    next_id: u64,
    /// Nodes of the passes held by open journeys (a shared pass counts once
    /// per journey).
    held_nodes: u64,
    idle_ns: u64,
    limits: StitchLimits,
    /// Journeys a pass touched, in order; reused between passes.
    touched: Vec<u64>,
}

struct OpenJourney {
    passes: Vec<Rc<Pass>>,
    skbs: Vec<SkbLife>,
    live: u32,
    last_ns: u64,
    continued: bool,
}

impl Journeys {
    pub fn new(idle_ns: u64, limits: StitchLimits) -> Self {
        Journeys {
            open: Lru::default(),
            by_skb: HashMap::new(),
            next_id: 0,
            held_nodes: 0,
            idle_ns,
            limits,
            touched: Vec::new(),
        }
    }

    /// Files a completed pass under the journeys of its skbs, following the
    /// skbs' births (clones) and deaths (frees) through the pass in order,
    /// then emits the journeys that ended: completed, full, evicted, or idle
    /// as of `now_ns`.
    pub fn add(
        &mut self,
        pass: Pass,
        now_ns: u64,
        roles: &ProbeRoles,
        done: &mut Vec<Journey>,
        stats: &mut StitchStats,
    ) {
        if pass.skbs.is_empty() {
            done.push(Journey {
                passes: vec![Rc::new(pass)],
                skbs: Vec::new(),
                end: JourneyEnd::NoSkb,
                continued: false,
            });
            self.expire(now_ns, done);
            return;
        }
        let pass = Rc::new(pass);
        self.touched.clear();
        // The skb last filed: most nodes of a pass are about the same skb,
        // and nothing changes for it until a clone or a free.
        let mut filed = 0;
        for node in &pass.nodes {
            let exit_skb = node.exit.as_ref().map_or(0, |exit| exit.skb);
            for skb in [node.event.skb, exit_skb] {
                if skb != 0 && skb != filed {
                    let id = self.journey_of(skb);
                    self.attach(id, &pass);
                    filed = skb;
                }
            }
            if let Some(created) = roles.new_skb(node) {
                let id = self.journey_of(node.skb());
                self.adopt(id, created, node.skb());
                self.attach(id, &pass);
                filed = 0;
            }
            if node.frees_skb() {
                self.free(node.event.skb);
                filed = 0;
            }
        }
        for i in 0..self.touched.len() {
            let id = self.touched[i];
            let Some(journey) = self.open.get_mut(id) else {
                continue;
            };
            if journey.live == 0 {
                self.emit(id, JourneyEnd::Freed, done);
            } else if journey.passes.len() >= self.limits.passes_per_journey as usize {
                stats.journeys_split += 1;
                self.emit(id, JourneyEnd::PassLimit, done);
            }
        }
        while self.open.len() > self.limits.open_journeys as usize
            || self.held_nodes > self.limits.journey_nodes
        {
            let Some((id, _)) = self.open.oldest() else {
                break;
            };
            stats.journeys_evicted += 1;
            self.emit(id, JourneyEnd::Evicted, done);
        }
        self.expire(now_ns, done);
    }

    /// Emits every open journey, least recently active first.
    pub fn finish(&mut self, done: &mut Vec<Journey>) {
        while let Some((id, _)) = self.open.oldest() {
            self.emit(id, JourneyEnd::TraceEnd, done);
        }
    }

    /// Emits the journeys idle for longer than the idle time.
    fn expire(&mut self, now_ns: u64, done: &mut Vec<Journey>) {
        while let Some((id, journey)) = self.open.oldest() {
            if now_ns.saturating_sub(journey.last_ns) <= self.idle_ns {
                break;
            }
            self.emit(id, JourneyEnd::Idle, done);
        }
    }

    /// The open journey of a live skb; a new one for an skb not seen yet
    /// (or seen freed: its address now names another skb).
    fn journey_of(&mut self, skb: u64) -> u64 {
        if let Some(&id) = self.by_skb.get(&skb) {
            return id;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.by_skb.insert(skb, id);
        self.open.insert(
            id,
            OpenJourney {
                passes: Vec::new(),
                skbs: vec![SkbLife {
                    skb,
                    clone_of: None,
                    freed: false,
                }],
                live: 1,
                last_ns: 0,
                continued: false,
            },
        );
        id
    }

    /// Adds `pass` to journey `id` (once) and marks the journey active.
    fn attach(&mut self, id: u64, pass: &Rc<Pass>) {
        let Some(journey) = self.open.get_mut(id) else {
            return;
        };
        if !journey
            .passes
            .last()
            .is_some_and(|last| Rc::ptr_eq(last, pass))
        {
            journey.passes.push(Rc::clone(pass));
            journey.last_ns = journey.last_ns.max(pass.end_ns);
            self.held_nodes += pass.nodes.len() as u64;
            self.touched.push(id);
            self.open.touch(id);
        }
    }

    /// Links the skb `created` from `original` into `original`'s journey `id`.
    fn adopt(&mut self, id: u64, created: u64, original: u64) {
        match self.by_skb.get(&created) {
            Some(&owner) if owner == id => return,
            // The address was another skb's, freed unseen.
            Some(_) => self.free(created),
            None => {}
        }
        if let Some(journey) = self.open.get_mut(id) {
            journey.skbs.push(SkbLife {
                skb: created,
                clone_of: Some(original),
                freed: false,
            });
            journey.live += 1;
            self.by_skb.insert(created, id);
        }
    }

    /// The skb's life ended: its address may name a new skb from now on.
    fn free(&mut self, skb: u64) {
        let Some(id) = self.by_skb.remove(&skb) else {
            return;
        };
        let Some(journey) = self.open.get_mut(id) else {
            return;
        };
        if let Some(life) = journey.skbs.iter_mut().find(|l| l.skb == skb && !l.freed) {
            life.freed = true;
            journey.live = journey.live.saturating_sub(1);
        }
        if !self.touched.contains(&id) {
            self.touched.push(id);
        }
    }

    /// Emits journey `id`. At the pass limit the journey stays open with
    /// its skbs and starts afresh; otherwise it is gone, its live skbs too.
    fn emit(&mut self, id: u64, end: JourneyEnd, done: &mut Vec<Journey>) {
        let journey = if end == JourneyEnd::PassLimit {
            let Some(open) = self.open.get_mut(id) else {
                return;
            };
            let passes = std::mem::take(&mut open.passes);
            let continued = std::mem::replace(&mut open.continued, true);
            Journey {
                passes,
                skbs: open.skbs.clone(),
                end,
                continued,
            }
        } else {
            let Some(open) = self.open.remove(id) else {
                return;
            };
            for life in open.skbs.iter().filter(|life| !life.freed) {
                if self.by_skb.get(&life.skb) == Some(&id) {
                    self.by_skb.remove(&life.skb);
                }
            }
            Journey {
                passes: open.passes,
                skbs: open.skbs,
                end,
                continued: open.continued,
            }
        };
        let held: u64 = journey.passes.iter().map(|p| p.nodes.len() as u64).sum();
        self.held_nodes = self.held_nodes.saturating_sub(held);
        let mut journey = journey;
        journey.passes.sort_by_key(|pass| pass.start_ns);
        done.push(journey);
    }
}
