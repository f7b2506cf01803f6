//! The stitcher: turns the flat event stream into call trees ("passes") and
//! groups them into packets.
//!
//! Events reach userspace through one ring buffer from all CPUs: in time
//! order per CPU, roughly so across CPUs. Function entries and exits nest
//! on their CPU, so a stack of open frames per CPU (module `context`) rebuilds
//! the call trees: an entry opens a frame under the innermost open one, an
//! exit closes the innermost open frame of the same probe, a tracepoint or
//! a function without an skb argument becomes part of the innermost open
//! frame. When the outermost frame returns, the tree is complete and handed
//! to a [`TreeSink`]. With [`Grouping::Packets`] the trees are first split
//! between the packets whose skbs they saw ([`Packet`], module `packet`)
//! and handed over once each packet's life ended.
//!
//! Lost events, probes attached mid-call and odd input never make the
//! stitcher guess a parent: unmatched exits become trees of their own,
//! calls whose exits never came are marked, and every limit reached is
//! counted in [`StitchStats`].

mod context;
mod lru;
mod options;
mod packet;
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
use packet::Packets;
use roles::ProbeRoles;

pub use options::{Grouping, StitchLimits, StitchOptions};
pub use packet::{
    Gap, HeaderChange, Hop, Outcome, OutcomeNames, Packet, PacketEnd, Place, Sighting, SkbLife,
    SkbOrigin, Task, Unknown, Waiting, outcome_text, place_text,
};
pub use pass::{CutReason, Node, NodeKind, Pass};
pub use roles::{SKB_CLONING_FUNCTIONS, SKB_SEGMENTING_FUNCTIONS};
pub use tree_sink::{StitchSink, StitchStats, TreeSink};

/// Rebuilds call trees from events and hands them to a [`TreeSink`].
/// Deterministic: the same events always give the same output.
pub struct Stitcher {
    grouping: Grouping,
    roles: ProbeRoles,
    contexts: Contexts,
    packets: Packets,
    stats: StitchStats,
    /// The latest event time seen: the trace's clock for idle packets.
    now_ns: u64,
    done_passes: Vec<Pass>,
    done_packets: Vec<Packet>,
}

impl Stitcher {
    pub fn new(meta: &TraceMeta, options: StitchOptions) -> Self {
        Stitcher {
            grouping: options.grouping,
            roles: ProbeRoles::new(meta),
            contexts: Contexts::new(options.limits, meta.frames_per_task),
            packets: Packets::new(options.packet_idle_ns, options.limits),
            stats: StitchStats::default(),
            now_ns: 0,
            done_passes: Vec::new(),
            done_packets: Vec::new(),
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
        self.packets.finish(&self.roles, &mut self.done_packets);
        self.deliver(sink)
    }

    /// The trace's clock reached `now_ns`: packets that waited long enough
    /// are handed over.
    pub fn advance<S: TreeSink + ?Sized>(&mut self, now_ns: u64, sink: &mut S) -> io::Result<()> {
        self.now_ns = self.now_ns.max(now_ns);
        let contexts = &self.contexts;
        self.packets.tick(
            self.now_ns,
            &self.roles,
            &|skb| contexts.holds(skb),
            &mut self.done_packets,
            &mut self.stats,
        );
        self.deliver(sink)
    }

    pub fn stats(&self) -> &StitchStats {
        &self.stats
    }

    /// Hands completed passes (or the packets they complete) to the sink.
    /// On a sink error the rest is dropped: output is broken anyway.
    fn deliver<S: TreeSink + ?Sized>(&mut self, sink: &mut S) -> io::Result<()> {
        let result = self.deliver_all(sink);
        self.done_passes.clear();
        self.done_packets.clear();
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
                Grouping::Packets => {
                    let contexts = &self.contexts;
                    self.packets.add(
                        pass,
                        self.now_ns,
                        &self.roles,
                        &|skb| contexts.holds(skb),
                        &mut self.done_packets,
                        &mut self.stats,
                    );
                }
            }
        }
        for packet in self.done_packets.drain(..) {
            self.stats.packets += 1;
            sink.packet(&packet)?;
            for pass in packet.passes {
                if let Ok(pass) = Rc::try_unwrap(pass) {
                    self.contexts.recycle(pass);
                }
            }
        }
        Ok(())
    }
}
