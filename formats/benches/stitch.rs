//! Throughput of the stitcher and tree printers on one core: fentry/fexit
//! style events of a receive path, eight CPUs interleaved, output discarded.
//!
//! Run: `cargo bench -p formats --bench stitch [-- EVENTS]` (default 5 million).

use std::hint::black_box;
use std::io::{self, BufWriter};
use std::time::{Duration, Instant};

use formats::abi::{self, EventKind, RawEvent, event_flag, probe_id, tcp_flag};
use formats::meta::{
    ClockBase, ProbeDesc, ProbeKind, RetType, TraceMeta, ValueKind, tracepoint_probes,
};
use formats::sink::{Sink, Summary};
use formats::stitch::{Grouping, Packet, Pass, StitchOptions, StitchSink, StitchStats, TreeSink};
use formats::trees::classic::ClassicPrinter;
use formats::trees::json::TreeJsonPrinter;
use formats::trees::text::TreeTextPrinter;

const DEFAULT_EVENTS: u64 = 5_000_000;
/// Each measurement runs this often; the fastest run counts (least disturbed).
const RUNS: usize = 3;
const CPUS: u64 = 8;
/// Events generated once and replayed, shifted in time, to reach the count.
const BLOCK_PASSES: u64 = 4096;

const FUNCTIONS: [&str; 6] = [
    "__netif_receive_skb_core",
    "ip_rcv",
    "ip_rcv_finish",
    "ip_local_deliver",
    "tcp_v4_rcv",
    "tcp_v4_do_rcv",
];
const FIRST: u32 = abi::probe_id::FIRST_DYNAMIC_PROBE_ID;

fn main() -> io::Result<()> {
    // `cargo bench` passes `--bench`; the first number, if any, is the event count.
    let events = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(DEFAULT_EVENTS);
    let block = block();
    let meta = meta();
    let passes = |grouping| StitchOptions {
        grouping,
        ..StitchOptions::default()
    };
    let discard = || BufWriter::with_capacity(1 << 16, io::sink());

    let measure = |name: &str, run: &dyn Fn() -> io::Result<Duration>| -> io::Result<()> {
        let mut best = Duration::MAX;
        for _ in 0..RUNS {
            best = best.min(run()?);
        }
        println!(
            "{name:<28} {best:>9.2?}  {:.2} M events/s per core",
            events as f64 / best.as_secs_f64() / 1e6
        );
        Ok(())
    };
    println!(
        "{events} events, {} per pass, {CPUS} CPUs interleaved",
        PASS_EVENTS
    );
    measure("stitch only (passes)", &|| {
        replay(
            &meta,
            &block,
            events,
            StitchSink::new(Discard, passes(Grouping::Passes)),
        )
    })?;
    measure("stitch only (packets)", &|| {
        replay(
            &meta,
            &block,
            events,
            StitchSink::new(Discard, passes(Grouping::Packets)),
        )
    })?;
    measure("stitch + tree text (passes)", &|| {
        let trees = TreeTextPrinter::new(discard());
        replay(
            &meta,
            &block,
            events,
            StitchSink::new(trees, passes(Grouping::Passes)),
        )
    })?;
    measure("stitch + tree text (packets)", &|| {
        let trees = TreeTextPrinter::new(discard());
        replay(
            &meta,
            &block,
            events,
            StitchSink::new(trees, passes(Grouping::Packets)),
        )
    })?;
    measure("stitch + classic", &|| {
        let trees = ClassicPrinter::new(discard());
        replay(
            &meta,
            &block,
            events,
            StitchSink::new(trees, passes(Grouping::Passes)),
        )
    })?;
    measure("stitch + JSON trees", &|| {
        let trees = TreeJsonPrinter::new(discard());
        replay(
            &meta,
            &block,
            events,
            StitchSink::new(trees, passes(Grouping::Passes)),
        )
    })
}

/// Counts what it is given, prints nothing: the stitcher's own cost.
struct Discard;

impl TreeSink for Discard {
    fn begin(&mut self, _meta: &TraceMeta) -> io::Result<()> {
        Ok(())
    }

    fn pass(&mut self, pass: &Pass) -> io::Result<()> {
        black_box(pass.nodes.len());
        Ok(())
    }

    fn packet(&mut self, packet: &Packet) -> io::Result<()> {
        black_box(packet.passes.len());
        Ok(())
    }

    fn finish(&mut self, _summary: &Summary, stats: &StitchStats) -> io::Result<()> {
        black_box(stats);
        Ok(())
    }
}

/// Feeds `count` events, the block over and over shifted in time, to `sink`.
fn replay(
    meta: &TraceMeta,
    block: &[RawEvent],
    count: u64,
    mut sink: impl Sink,
) -> io::Result<Duration> {
    let started = Instant::now();
    sink.begin(meta)?;
    let span = block.last().map_or(0, |e| e.ts_ns) + 1_000;
    let mut shift = 0;
    let mut fed = 0;
    'feeding: loop {
        for event in block {
            if fed == count {
                break 'feeding;
            }
            let mut event = *event;
            event.ts_ns += shift;
            sink.event(&event)?;
            fed += 1;
        }
        shift += span;
    }
    sink.finish(&Summary {
        events: count,
        ..Summary::default()
    })?;
    sink.flush()?;
    Ok(started.elapsed())
}

const PASS_EVENTS: usize = 14;

/// Receive passes on eight CPUs, their events interleaved in ring order.
fn block() -> Vec<RawEvent> {
    let mut block = Vec::with_capacity((BLOCK_PASSES as usize) * PASS_EVENTS);
    for round in 0..BLOCK_PASSES / CPUS {
        let passes: Vec<[RawEvent; PASS_EVENTS]> = (0..CPUS)
            .map(|cpu| receive_pass(cpu, round * CPUS + cpu, round * 20_000 + cpu * 300))
            .collect();
        for step in 0..PASS_EVENTS {
            block.extend(passes.iter().map(|pass| pass[step]));
        }
    }
    block
}

/// `__netif_receive_skb_core → ip_rcv → … → tcp_v4_do_rcv`, the skb consumed.
fn receive_pass(cpu: u64, n: u64, start_ns: u64) -> [RawEvent; PASS_EVENTS] {
    use EventKind::{Entry, Exit, Point};
    let skb = 0xffff_8880_0400_0000 + (n % 1024) * 256;
    let steps: [(EventKind, u32); PASS_EVENTS] = [
        (Entry, FIRST),
        (Point, probe_id::NETIF_RECEIVE_SKB),
        (Entry, FIRST + 1),
        (Entry, FIRST + 2),
        (Exit, FIRST + 2),
        (Entry, FIRST + 3),
        (Entry, FIRST + 4),
        (Entry, FIRST + 5),
        (Exit, FIRST + 5),
        (Point, probe_id::CONSUME_SKB),
        (Exit, FIRST + 4),
        (Exit, FIRST + 3),
        (Exit, FIRST + 1),
        (Exit, FIRST),
    ];
    steps
        .map(|(kind, probe)| {
            let mut ev = RawEvent::zeroed();
            ev.kind = kind as u8;
            ev.probe_id = probe;
            ev.cpu = cpu as u32;
            ev.skb = skb;
            ev.pid = 1000 + (n % 50) as u32;
            ev.tid = ev.pid;
            ev.comm[..5].copy_from_slice(b"nginx");
            ev.flags = event_flag::HAS_DEV | event_flag::HAS_PACKET;
            ev.ifname[..4].copy_from_slice(b"eth0");
            ev.ifindex = 2;
            ev.netns = 4026531840;
            let pkt = &mut ev.pkt;
            pkt.l3_proto = abi::ETH_P_IP;
            pkt.l4_proto = abi::IPPROTO_TCP;
            pkt.saddr[..4].copy_from_slice(&[10, 0, (n >> 8) as u8, n as u8]);
            pkt.daddr[..4].copy_from_slice(&[10, 0, 0, 1]);
            pkt.sport = 40_000 + (n % 20_000) as u16;
            pkt.dport = 443;
            pkt.tcp_flags = tcp_flag::ACK | tcp_flag::PSH;
            pkt.seq = n as u32;
            pkt.ack = (n * 7) as u32;
            pkt.ip_len = 1500;
            pkt.skb_len = 1514;
            pkt.ip_id = n as u16;
            pkt.ttl = 64;
            ev
        })
        .into_iter()
        .enumerate()
        .map(|(step, mut ev)| {
            ev.ts_ns = 1_000_000_000 + start_ns + step as u64 * 150;
            ev
        })
        .collect::<Vec<_>>()
        .try_into()
        .unwrap_or_else(|_| [RawEvent::zeroed(); PASS_EVENTS])
}

fn meta() -> TraceMeta {
    let mut probes = tracepoint_probes();
    probes.extend(FUNCTIONS.iter().zip(FIRST..).map(|(name, id)| ProbeDesc {
        id,
        name: (*name).into(),
        category: String::new(),
        kind: ProbeKind::Fexit,
        value: ValueKind::Return,
        ret: RetType::Int {
            size: 4,
            signed: true,
        },
    }));
    TraceMeta {
        probes: probes.into(),
        clock: ClockBase {
            monotonic_ns: 1_000_000_000,
            realtime_ns: 1_714_537_872_000_000_000,
            utc_offset_s: 7200,
        },
        ..TraceMeta::default()
    }
}
