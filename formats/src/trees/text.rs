//! The call-tree view: one line per call, point and return, indented by
//! nesting depth.
//!
//! ```text
//! ── 12:00:00.000001234 cpu 1 curl/123  skb ffff888000001000  TCP 10.0.0.1:41234 > 10.0.0.2:80 [S] seq 1 id 0 len 60  12.1us
//! → tcp_v4_connect
//!     → ip_queue_xmit
//!         ↔ __dev_queue_xmit  3.2us 64%  ret 0
//!             • net_dev_queue
//!     ← ip_queue_xmit  5.0us 41%  ret 0
//! ← tcp_v4_connect  12.1us  ret 0
//! ```
//!
//! A call with no calls inside is one line (`↔`), its points below it.
//! Durations come with their share of the parent call. The skb and packet
//! are repeated on a line only when they changed since last shown (another
//! skb, NAT, headers built on transmit). Packets start with a header that
//! lists their passes and what the packet did in between.

use std::io::{self, Write};

use crate::abi::{EventKind, PacketSummary, RawEvent, event_flag};
use crate::describe::{Names, c_str, push_uint};
use crate::meta::{TraceMeta, ValueKind};
use crate::sink::Summary;
use crate::stack::StackFrame;
use crate::stitch::{
    CutReason, Node, NodeKind, Outcome, OutcomeNames, Packet, PacketEnd, Pass, SkbOrigin,
    StitchStats, TreeSink, Waiting, outcome_text, place_text,
};
use crate::text::{push_packet, push_probe_value};
use crate::time::{push_zero_padded, time_of_day};

use super::{push_probe_name, share_percent, softirq_name};

const COLOR_BAD: &[u8] = b"\x1b[31m";
const COLOR_RESET: &[u8] = b"\x1b[0m";
const INDENT: &[u8] = b"    ";

/// Prints passes and packets as call trees. Each reaches the writer in
/// one `write_all`.
pub struct TreeTextPrinter<W: Write> {
    out: W,
    color: bool,
    /// Packets are printed with their passes.
    trees: bool,
    names: Option<Names>,
    buf: Vec<u8>,
}

impl<W: Write> TreeTextPrinter<W> {
    pub fn new(out: W) -> Self {
        TreeTextPrinter {
            out,
            color: false,
            trees: true,
            names: None,
            buf: Vec::with_capacity(4096),
        }
    }

    /// Whether packets come with their passes' call trees; without, a
    /// packet is its header line and its hops.
    pub fn with_trees(mut self, trees: bool) -> Self {
        self.trees = trees;
        self
    }

    /// Enables ANSI colors. The caller decides (terminal, `NO_COLOR`).
    pub fn with_color(mut self, color: bool) -> Self {
        self.color = color;
        self
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    /// Renders with `render` into the reused buffer, then writes it out.
    fn write_with(&mut self, render: impl FnOnce(&mut TreeWriter)) -> io::Result<()> {
        let Some(names) = &self.names else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "tree printer: tree before begin",
            ));
        };
        self.buf.clear();
        render(&mut TreeWriter::new(&mut self.buf, names, self.color));
        self.out.write_all(&self.buf)
    }
}

impl<W: Write> TreeSink for TreeTextPrinter<W> {
    fn begin(&mut self, meta: &TraceMeta) -> io::Result<()> {
        self.names = Some(Names::new(meta));
        Ok(())
    }

    fn symbol(&mut self, frame: &StackFrame) -> io::Result<()> {
        crate::describe::learn(&mut self.names, frame);
        Ok(())
    }

    fn pass(&mut self, pass: &Pass) -> io::Result<()> {
        self.write_with(|writer| writer.pass(pass))
    }

    fn packet(&mut self, packet: &Packet) -> io::Result<()> {
        let trees = self.trees;
        self.write_with(|writer| writer.packet(packet, trees))
    }

    /// Tells what the stitcher had to cut or evict, if anything.
    fn finish(&mut self, _summary: &Summary, stats: &StitchStats) -> io::Result<()> {
        if stats.has_anomalies() {
            let mut line = "── stitcher:".as_bytes().to_vec();
            push_stats(&mut line, stats);
            line.push(b'\n');
            self.out.write_all(&line)?;
        }
        self.out.flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Appends the nonzero anomaly counters as `, N what` items.
fn push_stats(out: &mut Vec<u8>, stats: &StitchStats) {
    let items: [(u64, &str); 11] = [
        (stats.missing_exits, "calls without exit"),
        (stats.orphan_exits, "exits without entry"),
        (stats.cut_passes, "trees cut short"),
        (stats.depth_cuts, "trees cut for depth"),
        (stats.tasks_evicted, "sleeping tasks evicted (limit)"),
        (stats.omitted_nodes, "events not kept (tree size limit)"),
        (stats.packets_evicted, "packets evicted (open packet limit)"),
        (stats.packets_split, "packets split (pass limit)"),
        (stats.unstitched_events, "events from impossible CPUs"),
        (stats.stray_softirq_exits, "softirq exits without entry"),
        (
            stats.untracked_calls,
            "calls without a kernel frame (no exit traced)",
        ),
    ];
    let mut first = true;
    for (count, what) in items.into_iter().filter(|(count, _)| *count != 0) {
        out.extend_from_slice(if first { b" " } else { b", " });
        first = false;
        push_uint(out, count);
        out.push(b' ');
        out.extend_from_slice(what.as_bytes());
    }
}

/// Renders into a buffer, remembering the skb and packet last shown.
struct TreeWriter<'a> {
    out: &'a mut Vec<u8>,
    names: &'a Names,
    color: bool,
    shown_skb: u64,
    shown_packet: Option<PacketView>,
}

impl<'a> TreeWriter<'a> {
    fn new(out: &'a mut Vec<u8>, names: &'a Names, color: bool) -> Self {
        TreeWriter {
            out,
            names,
            color,
            shown_skb: 0,
            shown_packet: None,
        }
    }

    /// A packet's header, its passes, and a blank line; a pass that saw
    /// no skb just as itself.
    fn packet(&mut self, packet: &Packet, trees: bool) {
        if packet.end == PacketEnd::NoSkb {
            packet.passes.iter().for_each(|pass| self.pass(pass));
            return;
        }
        self.packet_header(packet, trees);
        if trees {
            packet.passes.iter().for_each(|pass| self.pass(pass));
            self.out.push(b'\n');
        }
    }

    fn pass(&mut self, pass: &Pass) {
        self.pass_header(pass);
        let nodes = &pass.nodes;
        // Calls whose subtree is still being printed: (index, printed as `→`).
        let mut open: Vec<(usize, bool)> = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            self.close_finished(nodes, &mut open, i);
            let parent = open.last().map(|&(p, _)| &nodes[p]);
            self.indent(node.depth);
            match node.kind {
                NodeKind::Point => self.point(node),
                NodeKind::OrphanExit => self.orphan_exit(node),
                NodeKind::Call => {
                    let subtree = nodes.get(i + 1..node.end as usize).unwrap_or_default();
                    let calls_inside = subtree.iter().any(|n| n.kind == NodeKind::Call);
                    if calls_inside {
                        self.out.extend_from_slice("→ ".as_bytes());
                        push_probe_name(self.out, self.names, node.event.probe_id);
                        self.changes(&node.event, b"");
                    } else {
                        self.leaf_call(node, parent);
                    }
                    if !subtree.is_empty() {
                        open.push((i, calls_inside));
                    }
                }
            }
            self.end_line();
        }
        self.close_finished(nodes, &mut open, nodes.len());
    }

    /// Prints the `←` lines of the calls whose subtrees end before `index`.
    fn close_finished(&mut self, nodes: &[Node], open: &mut Vec<(usize, bool)>, index: usize) {
        while let Some(&(at, arrow)) = open.last() {
            if (nodes[at].end as usize) > index {
                break;
            }
            open.pop();
            if arrow {
                let parent = open.last().map(|&(p, _)| &nodes[p]);
                self.indent(nodes[at].depth);
                self.returned(&nodes[at], parent);
                self.end_line();
            }
        }
    }

    /// A call without calls inside: `↔ name  3.2us 64%  ret 0`.
    fn leaf_call(&mut self, node: &Node, parent: Option<&Node>) {
        if node.missing_exit() {
            self.out.extend_from_slice("→ ".as_bytes());
            push_probe_name(self.out, self.names, node.event.probe_id);
            self.marker(node.missing_exit_note());
            self.changes(&node.event, b"");
            return;
        }
        self.out.extend_from_slice("↔ ".as_bytes());
        push_probe_name(self.out, self.names, node.event.probe_id);
        self.timing(node, parent);
        self.changes(&node.event, b"");
        if let Some(exit) = &node.exit {
            self.changes(exit, "⇒ ".as_bytes());
        }
    }

    /// The `←` line of a call with calls inside.
    fn returned(&mut self, node: &Node, parent: Option<&Node>) {
        self.out.extend_from_slice("← ".as_bytes());
        push_probe_name(self.out, self.names, node.event.probe_id);
        match &node.exit {
            Some(exit) => {
                self.timing(node, parent);
                self.changes(exit, b"");
            }
            None => self.marker(node.missing_exit_note()),
        }
    }

    /// `  3.2us 64%  ret 0`.
    fn timing(&mut self, node: &Node, parent: Option<&Node>) {
        if let Some(ns) = node.duration_ns() {
            self.out.extend_from_slice(b"  ");
            push_duration(self.out, ns);
            if let Some(percent) = share_percent(node, parent) {
                self.out.push(b' ');
                push_uint(self.out, percent);
                self.out.push(b'%');
            }
        }
        if let Some(exit) = &node.exit {
            self.value(exit, EventKind::Exit);
        }
    }

    fn point(&mut self, node: &Node) {
        self.out.extend_from_slice("• ".as_bytes());
        push_probe_name(self.out, self.names, node.event.probe_id);
        let kind = EventKind::from_u8(node.event.kind).unwrap_or(EventKind::Point);
        self.value(&node.event, kind);
        self.changes(&node.event, b"");
    }

    fn orphan_exit(&mut self, node: &Node) {
        self.out.extend_from_slice("← ".as_bytes());
        push_probe_name(self.out, self.names, node.event.probe_id);
        self.value(&node.event, EventKind::Exit);
        self.marker(b"(no entry seen)");
        self.changes(&node.event, b"");
    }

    /// What the probe's value means, as the text printer shows it.
    fn value(&mut self, event: &RawEvent, kind: EventKind) {
        let Some(probe) = self.names.probes.get(event.probe_id) else {
            return;
        };
        if probe.value == ValueKind::None {
            return;
        }
        self.out.extend_from_slice(b"  ");
        push_probe_value(
            self.out,
            self.names,
            probe.value,
            Some(kind),
            event,
            self.color,
        );
        trim_end_spaces(self.out);
    }

    /// The skb and packet of `event` when they differ from those shown last.
    fn changes(&mut self, event: &RawEvent, prefix: &[u8]) {
        let skb_changed = event.skb != 0 && event.skb != self.shown_skb;
        let packet = PacketView::of(event).filter(|view| self.shown_packet != Some(*view));
        if !skb_changed && packet.is_none() {
            return;
        }
        self.out.extend_from_slice(b"  ");
        self.out.extend_from_slice(prefix);
        if skb_changed {
            self.out.extend_from_slice(b"skb ");
            push_skb(self.out, event.skb);
            self.out.push(b' ');
            self.shown_skb = event.skb;
        }
        if packet.is_some() {
            push_packet(self.out, event);
            self.shown_packet = packet;
        }
        trim_end_spaces(self.out);
    }

    /// `── 12:00:00.000001234 cpu 1 curl/123  softirq NET_RX  skb …  veth0 ns:…  TCP …  12.1us`
    fn pass_header(&mut self, pass: &Pass) {
        self.out.extend_from_slice("── ".as_bytes());
        let Some(root) = pass.root() else {
            self.out.extend_from_slice(b"(empty tree)\n");
            return;
        };
        self.time_of_day(root.event.ts_ns);
        self.out.extend_from_slice(b" cpu ");
        push_uint(self.out, pass.cpu);
        self.out.push(b' ');
        push_task(self.out, &root.event);
        if let Some(vector) = pass.softirq {
            self.out.extend_from_slice(b"  softirq ");
            push_softirq(self.out, vector);
        }
        self.shown_skb = pass.skbs.first().copied().unwrap_or(0);
        self.shown_packet = None;
        if self.shown_skb != 0 {
            self.out.extend_from_slice(b"  skb ");
            push_skb(self.out, self.shown_skb);
            if pass.skbs.len() > 1 {
                self.out.extend_from_slice(b" +");
                push_uint(self.out, pass.skbs.len() - 1);
            }
        }
        if let Some(event) = first_with(&pass.nodes, event_flag::HAS_DEV) {
            self.out.extend_from_slice(b"  ");
            push_device(self.out, event);
        }
        if let Some(event) = first_with(&pass.nodes, event_flag::HAS_PACKET) {
            self.out.extend_from_slice(b"  ");
            push_packet(self.out, event);
            trim_end_spaces(self.out);
            self.shown_packet = PacketView::of(event);
        }
        self.out.extend_from_slice(b"  ");
        push_duration(self.out, pass.duration_ns());
        if let Some(reason) = pass.cut {
            self.marker(cut_text(reason).as_bytes());
        }
        if pass.omitted_nodes > 0 {
            self.out.extend_from_slice(b"  (");
            push_uint(self.out, pass.omitted_nodes);
            self.out
                .extend_from_slice(b" more events not kept: tree size limit)");
        }
        self.out.push(b'\n');
    }

    /// `══ packet  TCP … [S] …  delivered at … to nc/370  3 hops 1.2ms  skb …
    /// +1 clone  3 passes  all freed`, then one line per hop (with the
    /// header rewrites first seen there), per pass, and per gap between
    /// passes.
    fn packet_header(&mut self, packet: &Packet, trees: bool) {
        self.out.extend_from_slice("══ packet".as_bytes());
        if packet.continued {
            self.out.extend_from_slice(b" (continued)");
        }
        if let Some(headers) = &packet.headers {
            self.out.extend_from_slice(b"  ");
            push_packet(self.out, headers);
            trim_end_spaces(self.out);
        }
        let names = self.names;
        let location = |addr: u64| names.locations.get(&addr).cloned();
        let outcome = outcome_text(
            &packet.outcome,
            &OutcomeNames {
                probes: &names.probes,
                drop_reasons: &names.drop_reasons,
                location: &location,
            },
        );
        self.out.extend_from_slice(b"  ");
        let bad = matches!(packet.outcome, Outcome::Dropped { .. });
        if bad && self.color {
            self.out.extend_from_slice(COLOR_BAD);
        }
        self.out.extend_from_slice(outcome.as_bytes());
        if bad && self.color {
            self.out.extend_from_slice(COLOR_RESET);
        }
        self.out.extend_from_slice(b"  ");
        push_uint(self.out, packet.hops.len());
        self.out.extend_from_slice(if packet.hops.len() == 1 {
            b" hop "
        } else {
            b" hops "
        });
        push_duration(self.out, packet.latency_ns());
        if let Some(first) = packet.skbs.first() {
            self.out.extend_from_slice(b"  skb ");
            push_skb(self.out, first.skb);
        }
        let clones = packet
            .skbs
            .iter()
            .filter(|l| matches!(l.origin, SkbOrigin::Clone { .. }))
            .count();
        let count = |wanted: fn(&SkbOrigin) -> bool| {
            packet.skbs.iter().filter(|l| wanted(&l.origin)).count()
        };
        let segments = count(|o| matches!(o, SkbOrigin::Segment { .. }));
        let continued = count(|o| matches!(o, SkbOrigin::Continues { .. }));
        for (count, one, many) in [
            (clones, &b" clone"[..], &b" clones"[..]),
            (segments, b" segment", b" segments"),
            (continued, b" by headers", b" by headers"),
        ] {
            if count > 0 {
                self.out.extend_from_slice(b" +");
                push_uint(self.out, count);
                self.out
                    .extend_from_slice(if count == 1 { one } else { many });
            }
        }
        self.out.extend_from_slice(b"  ");
        push_uint(self.out, packet.passes.len());
        self.out.extend_from_slice(if packet.passes.len() == 1 {
            b" pass  "
        } else {
            b" passes  "
        });
        self.out.extend_from_slice(end_text(packet.end).as_bytes());
        self.out.push(b'\n');
        for (i, hop) in packet.hops.iter().enumerate() {
            self.out.extend_from_slice(b"   hop ");
            push_uint(self.out, i + 1);
            self.out.extend_from_slice(b"  ");
            self.out
                .extend_from_slice(place_text(&hop.place).as_bytes());
            self.out.extend_from_slice(b"  cpu ");
            push_uint(self.out, hop.cpu);
            self.out.extend_from_slice(b"  ");
            self.time_of_day(hop.ts_ns);
            if let Some(previous) = i.checked_sub(1).and_then(|p| packet.hops.get(p)) {
                self.out.extend_from_slice(b"  +");
                push_duration(self.out, hop.ts_ns.saturating_sub(previous.ts_ns));
            }
            self.out.extend_from_slice(b"  ");
            push_probe_name(self.out, self.names, hop.probe);
            self.out.push(b'\n');
            for change in &hop.changes {
                self.out.extend_from_slice(b"         ");
                for (j, (field, before, after)) in change.fields().iter().enumerate() {
                    if j > 0 {
                        self.out.extend_from_slice(b", ");
                    }
                    self.out.extend_from_slice(field.as_bytes());
                    self.out.push(b' ');
                    self.out.extend_from_slice(before.as_bytes());
                    self.out.extend_from_slice(" → ".as_bytes());
                    self.out.extend_from_slice(after.as_bytes());
                }
                self.out.extend_from_slice(b"  (at ");
                push_probe_name(self.out, self.names, change.probe);
                self.out.extend_from_slice(b")\n");
            }
        }
        if !trees {
            return;
        }
        for (i, pass) in packet.passes.iter().enumerate() {
            if let Some(gap) = packet.gap_before(i) {
                self.out.extend_from_slice("      … ".as_bytes());
                if gap.ns < 0 {
                    self.out.extend_from_slice(b"overlapping by ");
                    push_duration(self.out, gap.ns.unsigned_abs());
                } else {
                    push_duration(self.out, gap.ns.unsigned_abs());
                    match gap.waiting {
                        Waiting::Qdisc => self.out.extend_from_slice(b" in qdisc"),
                        Waiting::Softirq(vector) => {
                            self.out.extend_from_slice(b" until ");
                            push_softirq(self.out, vector);
                            self.out.extend_from_slice(b" softirq");
                        }
                        Waiting::Unknown => self.out.extend_from_slice(b" later"),
                    }
                }
                self.out.push(b'\n');
            }
            self.out.extend_from_slice(b"   ");
            push_uint(self.out, i + 1);
            self.out.extend_from_slice(b"  cpu ");
            push_uint(self.out, pass.cpu);
            if let Some(vector) = pass.softirq {
                self.out.extend_from_slice(b"  softirq ");
                push_softirq(self.out, vector);
            }
            if let Some(event) = first_with(&pass.nodes, event_flag::HAS_DEV) {
                self.out.extend_from_slice(b"  ");
                push_device(self.out, event);
            }
            self.out.extend_from_slice(b"  ");
            self.time_of_day(pass.start_ns);
            self.out.extend_from_slice(b"  ");
            push_duration(self.out, pass.duration_ns());
            self.out.push(b'\n');
        }
    }

    /// `HH:MM:SS.nnnnnnnnn`, local time.
    fn time_of_day(&mut self, ts_ns: u64) {
        let (secs, nanos) = time_of_day(self.names.clock.local_ns(ts_ns));
        push_zero_padded(self.out, u64::from(secs / 3600), 2);
        self.out.push(b':');
        push_zero_padded(self.out, u64::from(secs / 60 % 60), 2);
        self.out.push(b':');
        push_zero_padded(self.out, u64::from(secs % 60), 2);
        self.out.push(b'.');
        push_zero_padded(self.out, u64::from(nanos), 9);
    }

    fn marker(&mut self, text: &[u8]) {
        self.out.extend_from_slice(b"  ");
        if self.color {
            self.out.extend_from_slice(COLOR_BAD);
        }
        self.out.extend_from_slice(text);
        if self.color {
            self.out.extend_from_slice(COLOR_RESET);
        }
    }

    fn indent(&mut self, depth: u32) {
        for _ in 0..depth {
            self.out.extend_from_slice(INDENT);
        }
    }

    fn end_line(&mut self) {
        self.out.push(b'\n');
    }
}

/// `curl/123`, just the comm for pid 0 (the idle task); anything but
/// printable ASCII as `?`, so process names cannot inject terminal escapes.
fn push_task(out: &mut Vec<u8>, event: &RawEvent) {
    push_kernel_name(out, &event.comm);
    if event.pid != 0 {
        out.push(b'/');
        push_uint(out, event.pid);
    }
}

/// `veth0 ns:4026532281` (`if7` for a device without a name).
fn push_device(out: &mut Vec<u8>, event: &RawEvent) {
    if event.ifname[0] == 0 {
        out.extend_from_slice(b"if");
        push_uint(out, event.ifindex);
    } else {
        push_kernel_name(out, &event.ifname);
    }
    if event.netns != 0 {
        out.extend_from_slice(b" ns:");
        push_uint(out, event.netns);
    }
}

fn push_kernel_name(out: &mut Vec<u8>, name: &[u8]) {
    out.extend(
        c_str(name)
            .iter()
            .map(|&b| if (0x20..0x7f).contains(&b) { b } else { b'?' }),
    );
}

fn push_softirq(out: &mut Vec<u8>, vector: u8) {
    match softirq_name(vector) {
        Some(name) => out.extend_from_slice(name.as_bytes()),
        None => push_uint(out, vector),
    }
}

fn cut_text(reason: CutReason) -> &'static str {
    match reason {
        CutReason::SoftirqExit => "(cut short: the softirq ended first)",
        CutReason::EventsLost => "(cut short: events lost)",
        CutReason::DepthLimit => "(cut short: too deep)",
        CutReason::TaskLimit => "(cut short: too many sleeping tasks)",
        CutReason::Migrated => "(cut short: its task woke up on another CPU)",
        CutReason::TraceEnd => "(cut short: trace ended)",
    }
}

fn end_text(end: PacketEnd) -> &'static str {
    match end {
        PacketEnd::Freed => "all freed",
        PacketEnd::Idle => "went idle before all were freed",
        PacketEnd::Evicted => "evicted: too many open packets",
        PacketEnd::PassLimit => "continues: pass limit",
        PacketEnd::TraceEnd => "trace ended before all were freed",
        PacketEnd::NoSkb => "no skb",
    }
}

/// What of an event's packet is worth showing again when it changes: all
/// but `skb->len`, which changes at every header pushed or pulled.
#[derive(Clone, Copy, PartialEq, Eq)]
struct PacketView {
    pkt: PacketSummary,
    from_socket: bool,
}

impl PacketView {
    fn of(event: &RawEvent) -> Option<Self> {
        (event.flags & event_flag::HAS_PACKET != 0).then_some(PacketView {
            pkt: PacketSummary {
                skb_len: 0,
                ..event.pkt
            },
            from_socket: event.flags & event_flag::FROM_SOCKET != 0,
        })
    }
}

/// The event that shows a pass's task, device and packet: the root's, or
/// the first node's that has what is asked for.
fn first_with(nodes: &[Node], flag: u8) -> Option<&RawEvent> {
    nodes
        .iter()
        .flat_map(|node| std::iter::once(&node.event).chain(node.exit.as_ref()))
        .find(|event| event.flags & flag != 0)
}

/// 16 hex digits, as the text printer shows skb addresses.
fn push_skb(out: &mut Vec<u8>, skb: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..16).rev() {
        out.push(DIGITS[(skb >> (shift * 4)) as usize & 0xf]);
    }
}

/// Removes the trailing spaces the text printer's parts end with.
fn trim_end_spaces(out: &mut Vec<u8>) {
    while out.last() == Some(&b' ') {
        out.pop();
    }
}

/// Appends a duration with three significant digits at most: `850ns`,
/// `3.2us`, `12.1us`, `1.25ms`, `2.00s`.
pub fn push_duration(out: &mut Vec<u8>, ns: u64) {
    const UNITS: [(u64, &[u8]); 3] = [(1_000_000_000, b"s"), (1_000_000, b"ms"), (1_000, b"us")];
    for (scale, unit) in UNITS {
        if ns >= scale {
            let whole = ns / scale;
            // Three significant digits: two decimals below 10 (one for
            // microseconds, whose tenths are already 100ns), one below 100.
            let decimals: u32 = match whole {
                0..10 if scale > 1_000 => 2,
                0..100 => 1,
                _ => 0,
            };
            let step = scale / 10u64.pow(decimals);
            let rounded = ns.saturating_add(step / 2) / step;
            let divisor = 10u64.pow(decimals);
            push_uint(out, rounded / divisor);
            if decimals > 0 {
                out.push(b'.');
                push_zero_padded(out, rounded % divisor, decimals as usize);
            }
            out.extend_from_slice(unit);
            return;
        }
    }
    push_uint(out, ns);
    out.extend_from_slice(b"ns");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{probe_id, tcp_flag};
    use crate::stitch::testing::{
        entry, exit, func, on_dev, point, softirq_entry, softirq_exit, tcp, tcp_socket, through,
    };
    use crate::stitch::{Grouping, StitchOptions};

    const CLIENT: ([u8; 4], u16) = ([10, 0, 0, 1], 41234);
    const SERVER: ([u8; 4], u16) = ([10, 0, 0, 2], 80);
    const SKB: u64 = 0xffff_8880_0400_0100;
    const CLONE: u64 = 0xffff_8880_0400_0200;

    fn render(grouping: Grouping, events: &[RawEvent]) -> String {
        let options = StitchOptions {
            grouping,
            ..StitchOptions::default()
        };
        let printer = through(TreeTextPrinter::new(Vec::new()), options, events);
        String::from_utf8(printer.into_inner()).unwrap()
    }

    fn syn(event: RawEvent) -> RawEvent {
        tcp(event, CLIENT, SERVER, tcp_flag::SYN, 1, 0)
    }

    /// A connect whose SYN is transmitted over a veth pair: the peer's
    /// receive softirq runs inside `__dev_queue_xmit` and drops it.
    fn connect() -> Vec<RawEvent> {
        vec![
            tcp_socket(entry(1, func::TCP_V4_CONNECT, 1, 0), CLIENT, SERVER),
            syn(entry(1, func::IP_QUEUE_XMIT, 2, SKB)),
            on_dev(
                syn(entry(1, func::DEV_QUEUE_XMIT, 3, SKB)),
                "veth0",
                4026531840,
            ),
            on_dev(
                syn(point(1, probe_id::NET_DEV_QUEUE, 4, SKB, 0)),
                "veth0",
                4026531840,
            ),
            softirq_entry(1, 5, 3),
            on_dev(syn(entry(1, func::IP_RCV, 6, SKB)), "veth1", 4026532281),
            syn(entry(1, func::TCP_V4_RCV, 7, SKB)),
            syn(point(1, probe_id::KFREE_SKB, 8, SKB, 3)),
            exit(1, func::TCP_V4_RCV, 9, SKB, 0),
            exit(1, func::IP_RCV, 10, SKB, 0),
            softirq_exit(1, 11, 3),
            exit(1, func::DEV_QUEUE_XMIT, 12, SKB, 0),
            entry(1, func::TCP_SET_STATE, 13, 0),
            exit(1, func::IP_QUEUE_XMIT, 15, SKB, 0),
            exit(1, func::TCP_V4_CONNECT, 21, 0, -115),
        ]
    }

    #[test]
    fn passes_as_call_trees() {
        assert_eq!(
            render(Grouping::Passes, &connect()),
            "\
── 19:26:16.000006000 cpu 1 curl/100  softirq NET_RX  skb ffff888004000100  veth1 ns:4026532281  TCP 10.0.0.1:41234 > 10.0.0.2:80 [S] seq 1 id 4242 len 116  4.0us
→ ip_rcv
    ↔ tcp_v4_rcv  2.0us 50%  ret 0
        • kfree_skb  drop NO_SOCKET
← ip_rcv  4.0us  ret 0
── 19:26:16.000001000 cpu 1 curl/100  skb ffff888004000100  veth0 ns:4026531840  TCP 10.0.0.1:41234 > 10.0.0.2:80 (socket)  20.0us
→ tcp_v4_connect
    → ip_queue_xmit  TCP 10.0.0.1:41234 > 10.0.0.2:80 [S] seq 1 id 4242 len 116
        ↔ __dev_queue_xmit  9.0us 69%  ret 0
            • net_dev_queue
        → tcp_set_state  (no exit seen)
    ← ip_queue_xmit  13.0us 65%  ret 0
← tcp_v4_connect  20.0us  ret -EINPROGRESS
── stitcher: 1 calls without exit
"
        );
    }

    #[test]
    fn returns_follow_the_btf_type() {
        let events = [
            syn(entry(1, func::IP_QUEUE_XMIT, 1, SKB)),
            entry(1, func::TCP_SET_STATE, 2, SKB),
            // A `void` function leaves whatever rax held.
            exit(1, func::TCP_SET_STATE, 3, SKB, 0x6_0800_1234_5678),
            entry(1, func::SKB_CLONE, 4, SKB),
            exit(1, func::SKB_CLONE, 5, SKB, 0),
            // `int` -22 as eax leaves it: zero-extended.
            exit(1, func::IP_QUEUE_XMIT, 9, SKB, 0xffff_ffea),
        ];
        let text = render(Grouping::Passes, &events);
        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(
            lines,
            [
                "→ ip_queue_xmit",
                "    ↔ tcp_set_state  1.0us 12%",
                "    ↔ skb_clone  1.0us 12%  ret NULL",
                "← ip_queue_xmit  8.0us  ret -EINVAL",
            ],
            "{text}"
        );
    }

    #[test]
    fn an_untracked_call_says_its_exit_was_not_traced() {
        let mut untracked = entry(1, func::SKB_CLONE, 2, SKB);
        untracked.flags |= crate::abi::event_flag::UNTRACKED;
        let events = [
            syn(entry(1, func::IP_QUEUE_XMIT, 1, SKB)),
            untracked,
            exit(1, func::IP_QUEUE_XMIT, 9, SKB, 0),
        ];
        let text = render(Grouping::Passes, &events);
        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(
            lines,
            [
                "→ ip_queue_xmit",
                "    → skb_clone  (exit not traced: frame stack full)",
                "← ip_queue_xmit  8.0us  ret 0",
                "── stitcher: 1 calls without a kernel frame (no exit traced)",
            ],
            "{text}"
        );
    }

    #[test]
    fn packets_list_their_passes_and_gaps() {
        let events = [
            syn(entry(0, func::IP_QUEUE_XMIT, 10, SKB)),
            entry(0, func::SKB_CLONE, 11, SKB),
            exit(0, func::SKB_CLONE, 12, SKB, CLONE as i64),
            on_dev(
                syn(point(0, probe_id::QDISC_ENQUEUE, 13, CLONE, 1)),
                "eth0",
                1,
            ),
            exit(0, func::IP_QUEUE_XMIT, 14, SKB, 0),
            syn(point(2, probe_id::QDISC_DEQUEUE, 30, CLONE, 0)),
            syn(point(2, probe_id::CONSUME_SKB, 40, CLONE, 0)),
            exit(3, func::IP_RCV, 50, 0, 0),
            syn(point(1, probe_id::KFREE_SKB, 90, SKB, 2)),
        ];
        assert_eq!(
            render(Grouping::Packets, &events),
            "\
── 19:26:16.000050000 cpu 3 curl/100  0ns
← ip_rcv  ret 0  (no entry seen)
══ packet  TCP 10.0.0.1:41234 > 10.0.0.2:80 [S] seq 1 id 4242 len 116  sent on eth0 ns:1  1 hop 17.0us  skb ffff888004000100 +1 clone  4 passes  all freed
   hop 1  eth0 ns:1  cpu 0  19:26:16.000013000  qdisc_enqueue
   1  cpu 0  eth0 ns:1  19:26:16.000010000  4.0us
      … 16.0us in qdisc
   2  cpu 2  19:26:16.000030000  0ns
      … 10.0us later
   3  cpu 2  19:26:16.000040000  0ns
      … 50.0us later
   4  cpu 1  19:26:16.000090000  0ns
── 19:26:16.000010000 cpu 0 curl/100  skb ffff888004000100 +1  eth0 ns:1  TCP 10.0.0.1:41234 > 10.0.0.2:80 [S] seq 1 id 4242 len 116  4.0us
→ ip_queue_xmit
    ↔ skb_clone  1.0us 25%  ret 0xffff888004000200
    • qdisc_enqueue  qlen 1  skb ffff888004000200
← ip_queue_xmit  4.0us  ret 0  skb ffff888004000100
── 19:26:16.000030000 cpu 2 curl/100  skb ffff888004000200  TCP 10.0.0.1:41234 > 10.0.0.2:80 [S] seq 1 id 4242 len 116  0ns
• qdisc_dequeue  qlen 0
── 19:26:16.000040000 cpu 2 curl/100  skb ffff888004000200  TCP 10.0.0.1:41234 > 10.0.0.2:80 [S] seq 1 id 4242 len 116  0ns
• consume_skb
── 19:26:16.000090000 cpu 1 curl/100  skb ffff888004000100  TCP 10.0.0.1:41234 > 10.0.0.2:80 [S] seq 1 id 4242 len 116  0ns
• kfree_skb  drop NOT_SPECIFIED

── stitcher: 1 exits without entry
"
        );
    }

    #[test]
    fn durations() {
        let text = |ns| {
            let mut out = Vec::new();
            push_duration(&mut out, ns);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(text(0), "0ns");
        assert_eq!(text(999), "999ns");
        assert_eq!(text(1_000), "1.0us");
        assert_eq!(text(3_249), "3.2us");
        assert_eq!(text(12_050), "12.1us");
        assert_eq!(text(264_000), "264us");
        assert_eq!(text(999_999), "1000us");
        assert_eq!(text(1_250_000), "1.25ms");
        assert_eq!(text(2_000_000_000), "2.00s");
        assert_eq!(text(u64::MAX), "18446744073s");
    }
}
