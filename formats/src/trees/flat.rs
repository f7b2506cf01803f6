//! Flat output (one line or JSON object per event) of a trace with function
//! probes: events go through the stitcher first, so frames the kernel emitted
//! only tentatively (functions without an skb, in case something inside
//! them matched the filter) are dropped when nothing did, and every event of
//! a kept tree comes out, in time order, once the tree is complete.

use std::io;

use crate::abi::RawEvent;
use crate::meta::TraceMeta;
use crate::sink::{Sink, Summary};
use crate::stack::{Stack, StackFrame};
use crate::stitch::{Packet, Pass, StitchStats, TreeSink};

/// Replays the events of each completed pass into a flat [`Sink`].
pub struct FlatTrees<S: Sink> {
    flat: S,
    /// Reused buffer of one pass's events.
    events: Vec<RawEvent>,
}

impl<S: Sink> FlatTrees<S> {
    pub fn new(flat: S) -> Self {
        FlatTrees {
            flat,
            events: Vec::new(),
        }
    }

    pub fn into_inner(self) -> S {
        self.flat
    }

    fn replay(&mut self, pass: &Pass) -> io::Result<()> {
        self.events.clear();
        for node in &pass.nodes {
            self.events.push(node.event);
            self.events.extend(node.exit);
        }
        // Pre-order lists entries in time order; exits slot in between.
        self.events.sort_by_key(|e| e.ts_ns);
        for event in &self.events {
            self.flat.event(event)?;
        }
        Ok(())
    }
}

impl<S: Sink> TreeSink for FlatTrees<S> {
    fn begin(&mut self, meta: &TraceMeta) -> io::Result<()> {
        self.flat.begin(meta)
    }

    fn pass(&mut self, pass: &Pass) -> io::Result<()> {
        self.replay(pass)
    }

    fn packet(&mut self, packet: &Packet) -> io::Result<()> {
        for pass in &packet.passes {
            self.replay(pass)?;
        }
        Ok(())
    }

    fn finish(&mut self, summary: &Summary, _stats: &StitchStats) -> io::Result<()> {
        self.flat.finish(summary)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flat.flush()
    }

    fn stack(&mut self, stack: &Stack) -> io::Result<()> {
        self.flat.stack(stack)
    }

    fn symbol(&mut self, frame: &StackFrame) -> io::Result<()> {
        self.flat.symbol(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{event_flag, probe_id};
    use crate::stitch::testing::{entry, exit, func, meta, point};
    use crate::stitch::{StitchOptions, StitchSink};

    #[derive(Default)]
    struct Collect(Vec<RawEvent>);

    impl Sink for Collect {
        fn begin(&mut self, _: &TraceMeta) -> io::Result<()> {
            Ok(())
        }
        fn event(&mut self, event: &RawEvent) -> io::Result<()> {
            self.0.push(*event);
            Ok(())
        }
        fn lost(&mut self, _: u32, _: u64) -> io::Result<()> {
            Ok(())
        }
        fn finish(&mut self, _: &Summary) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn kept_trees_come_out_whole_and_in_time_order_tentative_ones_not_at_all() {
        const SKB: u64 = 0xffff_8880_0000_1000;
        let tentative = |mut e: RawEvent| {
            e.flags |= event_flag::TENTATIVE;
            e
        };
        let events = [
            tentative(entry(0, func::TCP_V4_CONNECT, 1, 0)),
            exit(0, func::TCP_V4_CONNECT, 2, 0, 0),
            entry(0, func::IP_QUEUE_XMIT, 10, SKB),
            point(0, probe_id::NET_DEV_QUEUE, 11, SKB, 0),
            exit(0, func::IP_QUEUE_XMIT, 12, SKB, 0),
        ];
        let mut sink =
            StitchSink::new(FlatTrees::new(Collect::default()), StitchOptions::default());
        sink.begin(&meta()).unwrap();
        for e in &events {
            sink.event(e).unwrap();
        }
        sink.finish(&Summary::default()).unwrap();
        let out = sink.into_inner().into_inner().0;
        assert_eq!(out, events[2..].to_vec());
    }
}
