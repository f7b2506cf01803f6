//! The stitcher: turns the flat event stream into call trees ("passes") and
//! groups them into packet "journeys".
//!
//! Events reach userspace through one ring buffer from all CPUs: in time
//! order per CPU, roughly so across CPUs. Function entries and exits nest
//! on their CPU, so a stack of open frames per CPU (module `context`) rebuilds
//! the call trees: an entry opens a frame under the innermost open one, an
//! exit closes the innermost open frame of the same probe, a tracepoint or
//! a function without an skb argument becomes part of the innermost open
//! frame. When the outermost frame returns, the tree is complete and handed
//! to a [`TreeSink`]. With [`Grouping::Journeys`] the trees are first filed
//! by skb ([`Journey`]) and handed over once the packet's life ended.
//!
//! Lost events, probes attached mid-call and odd input never make the
//! stitcher guess a parent: unmatched exits become trees of their own,
//! calls whose exits never came are marked, and every limit reached is
//! counted in [`StitchStats`].

mod context;
mod journey;
mod lru;
mod options;
mod pass;
mod roles;
mod tree_sink;

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

use std::io;
use std::rc::Rc;

use crate::abi::RawEvent;
use crate::meta::TraceMeta;

use context::{Contexts, Output};
use journey::Journeys;
use roles::ProbeRoles;

pub use journey::{Gap, Journey, JourneyEnd, SkbLife, Waiting};
pub use options::{Grouping, StitchLimits, StitchOptions};
pub use pass::{CutReason, Node, NodeKind, Pass};
pub use roles::SKB_CLONING_FUNCTIONS;
pub use tree_sink::{StitchSink, StitchStats, TreeSink};

/// Rebuilds call trees from events and hands them to a [`TreeSink`].
/// Deterministic: the same events always give the same output.
pub struct Stitcher {
    grouping: Grouping,
    roles: ProbeRoles,
    contexts: Contexts,
    journeys: Journeys,
    stats: StitchStats,
    /// The latest event time seen: the trace's clock for idle journeys.
    now_ns: u64,
    done_passes: Vec<Pass>,
    done_journeys: Vec<Journey>,
}

impl Stitcher {
    pub fn new(meta: &TraceMeta, options: StitchOptions) -> Self {
        Stitcher {
            grouping: options.grouping,
            roles: ProbeRoles::new(meta),
            contexts: Contexts::new(options.limits, meta.frames_per_task),
            journeys: Journeys::new(options.journey_idle_ns, options.limits),
            stats: StitchStats::default(),
            now_ns: 0,
            done_passes: Vec::new(),
            done_journeys: Vec::new(),
        }
    }

    pub fn push<S: TreeSink + ?Sized>(&mut self, event: &RawEvent, sink: &mut S) -> io::Result<()> {
        self.now_ns = self.now_ns.max(event.ts_ns);
        self.contexts.push(
            event,
            &mut Output {
                done: &mut self.done_passes,
                stats: &mut self.stats,
                roles: &self.roles,
            },
        );
        self.deliver(sink)
    }

    /// The kernel lost events of `cpu`: the trees open there are emitted as
    /// they are, marked [`CutReason::EventsLost`].
    pub fn events_lost<S: TreeSink + ?Sized>(&mut self, cpu: u32, sink: &mut S) -> io::Result<()> {
        self.contexts.events_lost(
            cpu,
            &mut Output {
                done: &mut self.done_passes,
                stats: &mut self.stats,
                roles: &self.roles,
            },
        );
        self.deliver(sink)
    }

    /// Emits everything still open. The stitcher is empty afterwards.
    pub fn finish<S: TreeSink + ?Sized>(&mut self, sink: &mut S) -> io::Result<()> {
        self.contexts.finish(&mut Output {
            done: &mut self.done_passes,
            stats: &mut self.stats,
            roles: &self.roles,
        });
        self.deliver(sink)?;
        self.journeys.finish(&mut self.done_journeys);
        self.deliver(sink)
    }

    pub fn stats(&self) -> &StitchStats {
        &self.stats
    }

    /// Hands completed passes (or the journeys they complete) to the sink.
    /// On a sink error the rest is dropped: output is broken anyway.
    fn deliver<S: TreeSink + ?Sized>(&mut self, sink: &mut S) -> io::Result<()> {
        let result = self.deliver_all(sink);
        self.done_passes.clear();
        self.done_journeys.clear();
        result
    }

    fn deliver_all<S: TreeSink + ?Sized>(&mut self, sink: &mut S) -> io::Result<()> {
        for pass in self.done_passes.drain(..) {
            if pass.is_tentative() {
                self.stats.tentative_passes += 1;
                self.contexts.recycle(pass);
                continue;
            }
            self.stats.passes += 1;
            self.stats.omitted_nodes += u64::from(pass.omitted_nodes);
            self.stats.cut_passes += u64::from(pass.cut.is_some());
            match self.grouping {
                Grouping::Passes => {
                    sink.pass(&pass)?;
                    self.contexts.recycle(pass);
                }
                Grouping::Journeys => self.journeys.add(
                    pass,
                    self.now_ns,
                    &self.roles,
                    &mut self.done_journeys,
                    &mut self.stats,
                ),
            }
        }
        for journey in self.done_journeys.drain(..) {
            self.stats.journeys += 1;
            sink.journey(&journey)?;
            for pass in journey.passes {
                if let Ok(pass) = Rc::try_unwrap(pass) {
                    self.contexts.recycle(pass);
                }
            }
        }
        Ok(())
    }
}
