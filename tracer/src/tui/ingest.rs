//! Events → [`Packet`]s: the stitcher groups each packet's passes into a
//! journey, and [`Builder`] (a [`TreeSink`]) turns every journey into an
//! owned packet entry for the [`Model`]. Runs on the UI thread: passes are
//! `Rc`-shared between journeys and never cross threads.

use std::collections::{HashMap, VecDeque};
use std::io;

use formats::abi::{RawEvent, event_flag, probe_id};
use formats::meta::TraceMeta;
use formats::sink::Summary;
use formats::stitch::{
    Grouping, Hop, NodeKind as StitchKind, Outcome as StitchOutcome, OutcomeNames,
    Packet as StitchPacket, PacketEnd, Pass, StitchOptions, StitchStats, Stitcher, TreeSink,
    Waiting, outcome_text, place_text,
};
use formats::tdma::TdmaEvent;

use super::model::{
    HopInfo, Model, NodeKind, Outcome, Packet, PassInfo, PointData, TdmaLane, TreeNode, Wait,
};

/// Window openings remembered to place a dequeue in its window: sch_tdma
/// opens a handful per frame, and a journey ends soon after its dequeue.
const WINDOWS_KEPT: usize = 256;

/// Feeds events through the stitcher into a [`Model`].
pub struct Ingest {
    stitcher: Stitcher,
    builder: Builder,
    /// Cumulative lost count last reported per CPU.
    lost_seen: HashMap<u32, u64>,
    pub events: u64,
    pub lost: u64,
}

impl Ingest {
    /// `all_skbs` keeps the skbs that are no network packets.
    pub fn new(meta: &TraceMeta, all_skbs: bool) -> Self {
        let options = StitchOptions {
            grouping: Grouping::Packets,
            ..StitchOptions::default()
        };
        Ingest {
            stitcher: Stitcher::new(meta, options),
            builder: Builder::new(meta, all_skbs),
            lost_seen: HashMap::new(),
            events: 0,
            lost: 0,
        }
    }

    pub fn event(&mut self, event: &RawEvent, model: &mut Model) -> io::Result<()> {
        self.events += 1;
        if event.probe_id == probe_id::TDMA_WINDOW_OPEN {
            self.builder.window_opened(event);
        }
        self.stitcher.push(event, &mut self.builder)?;
        self.builder.deliver(model);
        Ok(())
    }

    /// The kernel lost events on `cpu` (`total` is cumulative): the trees
    /// open there are cut.
    pub fn lost(&mut self, cpu: u32, total: u64, model: &mut Model) -> io::Result<()> {
        let seen = self.lost_seen.entry(cpu).or_default();
        if total <= *seen {
            return Ok(());
        }
        self.lost += total - *seen;
        *seen = total;
        self.stitcher.events_lost(cpu, &mut self.builder)?;
        self.builder.deliver(model);
        Ok(())
    }

    /// The trace's clock reached `now_ns` (live): packets that waited or
    /// idled long enough are listed.
    pub fn clock(&mut self, now_ns: u64, model: &mut Model) -> io::Result<()> {
        self.stitcher.advance(now_ns, &mut self.builder)?;
        self.builder.deliver(model);
        Ok(())
    }

    /// The input ended: every open packet is listed.
    pub fn finish(&mut self, model: &mut Model) -> io::Result<()> {
        self.stitcher.finish(&mut self.builder)?;
        self.builder.deliver(model);
        Ok(())
    }
}

/// Turns the stitcher's packets into the list's (a [`TreeSink`]).
pub struct Builder {
    meta: TraceMeta,
    /// Keep packets that are no network packets (unix sockets' skbs).
    all_skbs: bool,
    /// `(window, frame)` → trace time it opened, newest last.
    windows: VecDeque<((u32, i64), u64)>,
    done: Vec<Packet>,
}

impl Builder {
    fn new(meta: &TraceMeta, all_skbs: bool) -> Self {
        Builder {
            meta: meta.clone(),
            all_skbs,
            windows: VecDeque::new(),
            done: Vec::new(),
        }
    }

    fn deliver(&mut self, model: &mut Model) {
        for packet in self.done.drain(..) {
            model.push(packet);
        }
    }

    fn window_opened(&mut self, event: &RawEvent) {
        if let Some(TdmaEvent::WindowOpen {
            window,
            frame,
            start_clock_ns,
            now_clock_ns,
            ..
        }) = TdmaEvent::decode(event)
        {
            let late = now_clock_ns.saturating_sub(start_clock_ns).max(0) as u64;
            if self.windows.len() == WINDOWS_KEPT {
                self.windows.pop_front();
            }
            self.windows
                .push_back(((window, frame), event.ts_ns.saturating_sub(late)));
        }
    }

    /// The list's entry for a packet.
    fn entry(&self, journey: &StitchPacket) -> Packet {
        let skbs: Vec<u64> = journey.skbs.iter().map(|life| life.skb).collect();
        let mut nodes = Vec::new();
        let mut points = Vec::new();
        let mut passes = Vec::with_capacity(journey.passes.len());
        for (index, pass) in journey.passes.iter().enumerate() {
            let first = nodes.len();
            nodes.push(TreeNode {
                start_ns: pass.start_ns,
                exit_ns: pass.end_ns.max(pass.start_ns),
                value: index as u64,
                point: None,
                probe: 0,
                end: 0,
                depth: 0,
                kind: NodeKind::Pass,
            });
            for node in &pass.nodes {
                let (kind, exit_ns, value, point) = match node.kind {
                    StitchKind::Call => (
                        NodeKind::Call,
                        node.exit.map_or(0, |exit| exit.ts_ns),
                        node.exit.map_or(0, |exit| exit.value),
                        None,
                    ),
                    StitchKind::Point => {
                        points.push(PointData::of(&node.event));
                        (NodeKind::Point, 0, 0, Some(points.len() as u32 - 1))
                    }
                    StitchKind::OrphanExit => (NodeKind::OrphanExit, 0, node.event.value, None),
                };
                nodes.push(TreeNode {
                    start_ns: node.event.ts_ns,
                    exit_ns,
                    value,
                    point,
                    probe: node.event.probe_id,
                    end: (first + 1) as u32 + node.end,
                    depth: node.depth.saturating_add(1).min(u32::from(u16::MAX)) as u16,
                    kind,
                });
            }
            nodes[first].end = nodes.len() as u32;
            let gap = journey.gap_before(index).map(|gap| {
                let tdma = index > 0
                    && has_point(&journey.passes[index - 1], probe_id::TDMA_ENQUEUE, &skbs)
                    && has_point(pass, probe_id::TDMA_DEQUEUE, &skbs);
                let wait = match gap.waiting {
                    _ if tdma => Wait::Tdma,
                    Waiting::Qdisc => Wait::Qdisc,
                    Waiting::Softirq(vector) => Wait::Softirq(vector),
                    Waiting::Unknown => Wait::Unknown,
                };
                (gap.ns, wait)
            });
            passes.push(pass_info(pass, gap));
        }
        // The TUI's source sends no symbols: locations print as addresses.
        let location = |_: u64| None;
        let outcome_text = outcome_text(
            &journey.outcome,
            &OutcomeNames {
                probes: &self.meta.probes,
                drop_reasons: &self.meta.drop_reasons,
                location: &location,
            },
        );
        Packet {
            seq: 0,
            start_ns: journey.start_ns(),
            duration_ns: journey.duration_ns(),
            summary: journey
                .headers
                .or_else(|| {
                    journey
                        .events()
                        .find(|event| journey.skbs.iter().any(|life| life.skb == event.skb))
                        .copied()
                })
                .unwrap_or(RawEvent::zeroed()),
            matchers: matchers(journey).into(),
            outcome: outcome(&journey.outcome),
            outcome_text,
            hops: journey.hops.iter().map(hop_info).collect(),
            passes: passes.into(),
            nodes: nodes.into(),
            points: points.into(),
            tdma: self.tdma_lane(journey, &skbs),
            continued: journey.continued,
        }
    }

    fn tdma_lane(&self, journey: &StitchPacket, skbs: &[u64]) -> Option<TdmaLane> {
        let points = journey
            .passes
            .iter()
            .flat_map(|pass| &pass.nodes)
            .filter(|node| node.kind == StitchKind::Point && skbs.contains(&node.event.skb));
        let mut enqueue_ns = None;
        let mut dequeue = None;
        for node in points {
            match node.event.probe_id {
                probe_id::TDMA_ENQUEUE if enqueue_ns.is_none() => {
                    enqueue_ns = Some(node.event.ts_ns);
                }
                probe_id::TDMA_DEQUEUE if dequeue.is_none() => dequeue = Some(node.event),
                _ => {}
            }
        }
        let dequeue = dequeue?;
        let TdmaEvent::Dequeue {
            window,
            frame,
            waited_ns,
            left_ns,
            ..
        } = TdmaEvent::decode(&dequeue)?
        else {
            return None;
        };
        let window_open_ns = self
            .windows
            .iter()
            .rev()
            .find(|&&(key, opened)| key == (window, frame) && opened <= dequeue.ts_ns)
            .map(|&(_, opened)| opened);
        Some(TdmaLane {
            enqueue_ns: enqueue_ns.unwrap_or(dequeue.ts_ns.saturating_sub(waited_ns)),
            dequeue_ns: dequeue.ts_ns,
            waited_ns,
            window,
            window_open_ns,
            window_end_ns: dequeue.ts_ns.saturating_add_signed(left_ns),
        })
    }
}

impl TreeSink for Builder {
    fn begin(&mut self, _meta: &TraceMeta) -> io::Result<()> {
        Ok(())
    }

    /// Not called: the stitcher groups by journey.
    fn pass(&mut self, _pass: &Pass) -> io::Result<()> {
        Ok(())
    }

    fn packet(&mut self, packet: &StitchPacket) -> io::Result<()> {
        // A pass that saw no skb is no packet's.
        if packet.end != PacketEnd::NoSkb && (packet.network || self.all_skbs) {
            self.done.push(self.entry(packet));
        }
        Ok(())
    }

    fn finish(&mut self, _summary: &Summary, _stats: &StitchStats) -> io::Result<()> {
        Ok(())
    }
}

fn has_point(pass: &Pass, probe: u32, skbs: &[u64]) -> bool {
    pass.nodes.iter().any(|node| {
        node.kind == StitchKind::Point
            && node.event.probe_id == probe
            && skbs.contains(&node.event.skb)
    })
}

fn pass_info(pass: &Pass, gap: Option<(i64, Wait)>) -> PassInfo {
    let device = pass
        .nodes
        .iter()
        .map(|node| &node.event)
        .find(|event| event.flags & event_flag::HAS_DEV != 0);
    PassInfo {
        cpu: pass.cpu,
        softirq: pass.softirq,
        start_ns: pass.start_ns,
        end_ns: pass.end_ns,
        comm: pass.root().map_or([0; 16], |root| root.event.comm),
        ifname: device.map_or([0; 16], |event| event.ifname),
        netns: device.map_or(0, |event| event.netns),
        cut: pass.cut,
        gap_before: gap,
    }
}

/// The list's outcome of the stitcher's.
fn outcome(outcome: &StitchOutcome) -> Outcome {
    match outcome {
        StitchOutcome::Delivered { .. } => Outcome::Delivered,
        StitchOutcome::Dropped { reason, .. } => Outcome::Dropped(*reason),
        StitchOutcome::Forwarded { .. } => Outcome::Forwarded,
        StitchOutcome::Sent { .. } => Outcome::Sent,
        StitchOutcome::Queued { .. } => Outcome::Queued,
        StitchOutcome::Unknown { .. } => Outcome::Unknown,
    }
}

fn hop_info(hop: &Hop) -> HopInfo {
    HopInfo {
        place: place_text(&hop.place),
        cpu: hop.cpu,
        ts_ns: hop.ts_ns,
        probe: hop.probe,
        changes: hop
            .changes
            .iter()
            .map(|change| {
                change
                    .fields()
                    .iter()
                    .map(|(field, before, after)| format!("{field} {before} → {after}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .collect(),
    }
}

/// The packet's headers as rewritten along the way, for the filter box:
/// the first event after each rewrite.
fn matchers(packet: &StitchPacket) -> Vec<RawEvent> {
    let mut events: Vec<RawEvent> = Vec::new();
    for change in packet.hops.iter().flat_map(|hop| &hop.changes) {
        let mut event = packet.headers.unwrap_or(RawEvent::zeroed());
        event.pkt = change.after;
        events.push(event);
    }
    events
}
