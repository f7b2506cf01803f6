//! Events → [`Packet`]s: the stitcher groups each packet's passes into a
//! journey, and [`Builder`] (a [`TreeSink`]) turns every journey into an
//! owned packet entry for the [`Model`]. Runs on the UI thread: passes are
//! `Rc`-shared between journeys and never cross threads.

use std::collections::{HashMap, VecDeque};
use std::io;

use formats::abi::{self, RawEvent, event_flag, probe_id};
use formats::meta::{ProbeKind, TraceMeta};
use formats::sink::Summary;
use formats::stitch::{
    Grouping, Journey, JourneyEnd, NodeKind as StitchKind, Pass, StitchOptions, StitchStats,
    Stitcher, TreeSink, Waiting,
};
use formats::tdma::TdmaEvent;

use super::model::{
    Model, NodeKind, Outcome, Packet, PassInfo, PointData, TdmaLane, TreeNode, Wait,
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
    pub fn new(meta: &TraceMeta) -> Self {
        let options = StitchOptions {
            grouping: Grouping::Journeys,
            ..StitchOptions::default()
        };
        Ingest {
            stitcher: Stitcher::new(meta, options),
            builder: Builder::new(meta),
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

    /// The input ended: every open journey becomes a packet.
    pub fn finish(&mut self, model: &mut Model) -> io::Result<()> {
        self.stitcher.finish(&mut self.builder)?;
        self.builder.deliver(model);
        Ok(())
    }
}

/// Which way a probe moves a packet, for [`Outcome`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Receive,
    Transmit,
    Forward,
}

/// Direction of a probe by its name: tracepoints by id, functions by the
/// kernel's naming (`*_rcv`, `*xmit*`, `ip*_forward*`).
fn direction(id: u32, name: &str, kind: ProbeKind) -> Option<Direction> {
    match id {
        probe_id::NETIF_RECEIVE_SKB => return Some(Direction::Receive),
        probe_id::NET_DEV_QUEUE | probe_id::NET_DEV_START_XMIT | probe_id::NET_DEV_XMIT => {
            return Some(Direction::Transmit);
        }
        _ => {}
    }
    if matches!(kind, ProbeKind::Tracepoint | ProbeKind::RawTracepoint) {
        return None;
    }
    if name.contains("_forward") {
        Some(Direction::Forward)
    } else if name.contains("_rcv") || name.contains("receive_skb") || name == "netif_rx" {
        Some(Direction::Receive)
    } else if name.contains("xmit") || name.contains("_output") {
        Some(Direction::Transmit)
    } else {
        None
    }
}

/// Turns journeys into packets (a [`TreeSink`] for the stitcher).
pub struct Builder {
    directions: HashMap<u32, Direction>,
    /// `(window, frame)` → trace time it opened, newest last.
    windows: VecDeque<((u32, i64), u64)>,
    done: Vec<Packet>,
}

impl Builder {
    fn new(meta: &TraceMeta) -> Self {
        let directions = meta
            .probes
            .as_slice()
            .iter()
            .filter_map(|p| Some((p.id, direction(p.id, &p.name, p.kind)?)))
            .collect();
        Builder {
            directions,
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

    /// The packet entry of a journey.
    fn packet(&self, journey: &Journey) -> Packet {
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
        Packet {
            seq: 0,
            start_ns: journey.start_ns(),
            duration_ns: journey.duration_ns(),
            summary: summary(journey),
            outcome: self.outcome(journey, &skbs),
            passes: passes.into(),
            nodes: nodes.into(),
            points: points.into(),
            tdma: self.tdma_lane(journey, &skbs),
            continued: journey.continued,
        }
    }

    /// Dropped if a `kfree_skb` freed one of its skbs; otherwise by the
    /// direction of the last receive or transmit seen.
    fn outcome(&self, journey: &Journey, skbs: &[u64]) -> Outcome {
        let mut last = None;
        let mut received = false;
        let mut forwarded = false;
        for node in journey.passes.iter().flat_map(|pass| &pass.nodes) {
            if node.kind == StitchKind::Point
                && node.event.probe_id == probe_id::KFREE_SKB
                && skbs.contains(&node.event.skb)
            {
                return Outcome::Dropped(node.event.value as u32);
            }
            match self.directions.get(&node.event.probe_id) {
                Some(Direction::Forward) => forwarded = true,
                Some(&direction) => {
                    if direction == Direction::Transmit && received {
                        forwarded = true;
                    }
                    received |= direction == Direction::Receive;
                    last = Some(direction);
                }
                None => {}
            }
        }
        match last {
            Some(Direction::Receive) => Outcome::Delivered,
            Some(_) if forwarded => Outcome::Forwarded,
            Some(_) => Outcome::Sent,
            None if forwarded => Outcome::Forwarded,
            None => Outcome::Unknown,
        }
    }

    fn tdma_lane(&self, journey: &Journey, skbs: &[u64]) -> Option<TdmaLane> {
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

    fn journey(&mut self, journey: &Journey) -> io::Result<()> {
        // A pass that saw no skb is no packet's.
        if journey.end != JourneyEnd::NoSkb {
            self.done.push(self.packet(journey));
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

/// The event the list shows and the filter box matches: the first of the
/// most complete ones — parsed headers over socket addresses over nothing,
/// and ports filled in (UDP's header is built after the skb is, so the
/// first parsed one may say port 0) — completed with the first device seen
/// so `ifname` filters work too.
fn summary(journey: &Journey) -> RawEvent {
    let events = || {
        journey
            .passes
            .iter()
            .flat_map(|pass| &pass.nodes)
            .map(|node| &node.event)
    };
    let has = |event: &RawEvent, flag: u8| event.flags & flag != 0;
    let completeness = |event: &RawEvent| {
        let pkt = &event.pkt;
        let ports = !matches!(
            pkt.l4_proto,
            abi::IPPROTO_TCP | abi::IPPROTO_UDP | abi::IPPROTO_SCTP
        ) || (pkt.sport != 0 && pkt.dport != 0);
        (
            has(event, event_flag::HAS_PACKET),
            ports,
            !has(event, event_flag::FROM_SOCKET),
        )
    };
    let mut best: Option<&RawEvent> = None;
    for event in events() {
        if best.is_none_or(|b| completeness(event) > completeness(b)) {
            best = Some(event);
        }
    }
    let mut summary = best.copied().unwrap_or(RawEvent::zeroed());
    if !has(&summary, event_flag::HAS_DEV)
        && let Some(device) = events().find(|e| has(e, event_flag::HAS_DEV))
    {
        summary.flags |= event_flag::HAS_DEV;
        summary.ifname = device.ifname;
        summary.ifindex = device.ifindex;
        summary.netns = device.netns;
    }
    summary
}
