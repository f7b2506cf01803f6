//! Filtering after the fact (`pkttrace report FILE FILTER`): the program the
//! filter options compile to (`filter_args`, as for a live trace), run in
//! userspace by `formats::filter::matches`, the evaluator the BPF programs
//! run. Flat output keeps each event that matches (this module); call trees
//! keep each pass and packet with an event that matches, whole
//! (`formats::trees::select`).

use std::io;

use formats::abi::{FilterInsn, RawEvent};
use formats::meta::TraceMeta;
use formats::sink::{Sink, Summary};
use formats::stack::{Stack, StackFrame};

/// A [`Sink`] that passes on only the events `program` accepts.
pub struct EventFilter<S: Sink> {
    inner: S,
    program: Vec<FilterInsn>,
}

impl<S: Sink> EventFilter<S> {
    pub fn new(inner: S, program: Vec<FilterInsn>) -> Self {
        EventFilter { inner, program }
    }
}

impl<S: Sink> Sink for EventFilter<S> {
    fn begin(&mut self, meta: &TraceMeta) -> io::Result<()> {
        self.inner.begin(meta)
    }

    fn event(&mut self, event: &RawEvent) -> io::Result<()> {
        if formats::filter::matches(&self.program, event) {
            self.inner.event(event)
        } else {
            Ok(())
        }
    }

    fn lost(&mut self, cpu: u32, total_lost_on_cpu: u64) -> io::Result<()> {
        self.inner.lost(cpu, total_lost_on_cpu)
    }

    fn stack(&mut self, stack: &Stack) -> io::Result<()> {
        self.inner.stack(stack)
    }

    fn symbol(&mut self, frame: &StackFrame) -> io::Result<()> {
        self.inner.symbol(frame)
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        self.inner.finish(summary)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use formats::abi::{self, EventKind, event_flag, probe_id};
    use formats::meta::{TraceMeta, tracepoint_probes};
    use formats::stitch::{Grouping, StitchOptions, StitchSink};
    use formats::text::TextPrinter;
    use formats::trees::select::TreeSelect;
    use formats::trees::text::TreeTextPrinter;

    use super::*;

    fn meta() -> TraceMeta {
        TraceMeta {
            probes: tracepoint_probes().into(),
            ..TraceMeta::default()
        }
    }

    /// A point event of `probe` for skb `skb` carrying a UDP or TCP packet.
    fn point(probe: u32, skb: u64, l4: u8, ts_ns: u64) -> RawEvent {
        let mut ev = RawEvent::zeroed();
        ev.ts_ns = ts_ns;
        ev.probe_id = probe;
        ev.kind = EventKind::Point as u8;
        ev.skb = skb;
        ev.flags = event_flag::HAS_PACKET;
        ev.pkt.l3_proto = abi::ETH_P_IP;
        ev.pkt.l4_proto = l4;
        ev.pkt.saddr[..4].copy_from_slice(&[10, 0, 0, 1]);
        ev.pkt.daddr[..4].copy_from_slice(&[10, 0, 0, 2]);
        ev
    }

    fn run(sink: &mut dyn Sink, events: &[RawEvent]) {
        sink.begin(&meta()).unwrap();
        for ev in events {
            sink.event(ev).unwrap();
        }
        sink.finish(&Summary::default()).unwrap();
    }

    fn events() -> [RawEvent; 4] {
        [
            point(probe_id::NET_DEV_QUEUE, 0x100, abi::IPPROTO_UDP, 1),
            point(probe_id::NET_DEV_QUEUE, 0x200, abi::IPPROTO_TCP, 2),
            point(probe_id::CONSUME_SKB, 0x100, abi::IPPROTO_UDP, 3),
            point(probe_id::CONSUME_SKB, 0x200, abi::IPPROTO_TCP, 4),
        ]
    }

    #[test]
    fn flat_output_keeps_matching_events() {
        let udp = formats::filter::compile("udp").unwrap();
        let mut sink = EventFilter::new(TextPrinter::new(Vec::new()), udp);
        run(&mut sink, &events());
        let text = String::from_utf8(sink.inner.into_inner()).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.lines().all(|l| l.contains(" UDP ")), "{text}");
    }

    #[test]
    fn packets_are_kept_whole_when_an_event_matches() {
        // The TCP skb's free carries no packet: the packet is kept for its
        // queueing event, and shows both.
        let mut events = events();
        events[3].flags = 0;
        events[3].pkt = abi::PacketSummary::default();
        let options = StitchOptions {
            grouping: Grouping::Packets,
            ..StitchOptions::default()
        };
        let tcp = formats::filter::compile("tcp").unwrap();
        let printer = TreeTextPrinter::new(Vec::new());
        let mut sink = StitchSink::new(TreeSelect::new(printer, false, tcp), options);
        run(&mut sink, &events);
        let text = String::from_utf8(sink.into_inner().into_inner().into_inner()).unwrap();
        assert!(text.contains("0000000000000200"), "{text}");
        assert!(!text.contains("0000000000000100"), "{text}");
        assert!(text.contains("consume_skb"), "{text}");
    }
}
