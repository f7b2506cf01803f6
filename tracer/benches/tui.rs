//! `pkttrace tui` on a large record: writes a synthetic 1M-event record
//! (function entries and exits, tracepoints, qdisc waits and drops, about
//! 120k packets, a few with trees of hundreds of calls), then times opening
//! it (reader thread, stitching, model), the first frame on a 200×50
//! `TestBackend`, and frames while scrolling the list and a large tree.
//!
//! `cargo bench -p tracer --bench tui` (add `-- --events N` for another size).

use std::path::Path;
use std::time::{Duration, Instant};

use formats::abi::{self, EventKind, RawEvent, event_flag, probe_id, tcp_flag};
use formats::meta::{
    ClockBase, ProbeDesc, ProbeKind, RetType, TraceMeta, ValueKind, tracepoint_probes,
};
use formats::record::RecordWriter;
use formats::sink::{Sink, Summary};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tracer::tui::app::{App, Focus};
use tracer::tui::keys::Action;
use tracer::tui::{open_record, view};

const FUNCTIONS: &[&str] = &[
    "ip_rcv",
    "ip_local_deliver",
    "tcp_v4_rcv",
    "tcp_v4_do_rcv",
    "udp_rcv",
    "ip_queue_xmit",
    "__dev_queue_xmit",
    "sch_direct_xmit",
    "skb_network_protocol",
];
const FIRST_FUNCTION: u32 = abi::probe_id::FIRST_DYNAMIC_PROBE_ID;
const IP_RCV: u32 = FIRST_FUNCTION;
const IP_LOCAL_DELIVER: u32 = FIRST_FUNCTION + 1;
const TCP_V4_RCV: u32 = FIRST_FUNCTION + 2;
const TCP_V4_DO_RCV: u32 = FIRST_FUNCTION + 3;
const UDP_RCV: u32 = FIRST_FUNCTION + 4;
const IP_QUEUE_XMIT: u32 = FIRST_FUNCTION + 5;
const DEV_QUEUE_XMIT: u32 = FIRST_FUNCTION + 6;
const SCH_DIRECT_XMIT: u32 = FIRST_FUNCTION + 7;
const SKB_NETWORK_PROTOCOL: u32 = FIRST_FUNCTION + 8;
/// Every this many packets, one with a tree of `BIG_TREE_CALLS` calls.
const BIG_TREE_EVERY: u64 = 5_000;
const BIG_TREE_CALLS: u64 = 400;
const STEPS: usize = 1_000;

fn meta() -> TraceMeta {
    let mut probes = tracepoint_probes();
    probes.extend(FUNCTIONS.iter().enumerate().map(|(i, name)| ProbeDesc {
        id: FIRST_FUNCTION + i as u32,
        name: (*name).into(),
        category: "net".into(),
        kind: ProbeKind::Fexit,
        value: ValueKind::Return,
        ret: RetType::Int {
            size: 4,
            signed: true,
        },
    }));
    TraceMeta {
        backend: "fentry".into(),
        probes: probes.into(),
        drop_reasons: vec![(2, "NOT_SPECIFIED".into()), (3, "NO_SOCKET".into())].into(),
        clock: ClockBase {
            monotonic_ns: 1_000_000_000_000,
            realtime_ns: 1_700_000_000_000_000_000,
            utc_offset_s: 0,
        },
        ..TraceMeta::default()
    }
}

/// Writes packets until `events` events are written; returns the packet count.
fn write_record(path: &Path, events: u64) -> u64 {
    let mut writer = RecordWriter::create(path).expect("creating the record");
    writer.begin(&meta()).unwrap();
    let mut written = 0u64;
    let mut packet = 0u64;
    let mut buf = Vec::new();
    while written < events {
        buf.clear();
        packet_events(packet, &mut buf);
        for event in &buf {
            writer.event(event).unwrap();
        }
        written += buf.len() as u64;
        packet += 1;
    }
    writer
        .finish(&Summary {
            events: written,
            ..Summary::default()
        })
        .unwrap();
    packet
}

/// One packet's events, 10 us after the previous packet's, on cpu `n % 4`.
fn packet_events(n: u64, out: &mut Vec<RawEvent>) {
    let skb = 0xffff_8880_0000_0000 + (n % 65_536) * 0x100;
    let cpu = (n % 4) as u32;
    let t = 1_000_000_000_000 + n * 10_000;
    let ev = |kind: EventKind, probe: u32, at: u64, value: u64| {
        let mut e = RawEvent::zeroed();
        e.kind = kind as u8;
        e.cpu = cpu;
        e.probe_id = probe;
        e.ts_ns = t + at;
        e.skb = skb;
        e.value = value;
        e.pid = 1000 + (n % 7) as u32;
        e.tid = e.pid;
        e.comm[..4].copy_from_slice(b"iperf"[..4].as_ref());
        e.flags = event_flag::HAS_PACKET | event_flag::HAS_DEV;
        e.ifname[..4].copy_from_slice(b"eth0");
        e.netns = 4026531840;
        let pkt = &mut e.pkt;
        pkt.l3_proto = abi::ETH_P_IP;
        pkt.l4_proto = if n.is_multiple_of(3) {
            abi::IPPROTO_UDP
        } else {
            abi::IPPROTO_TCP
        };
        pkt.saddr[..4].copy_from_slice(&[10, 0, (n >> 8) as u8, n as u8]);
        pkt.daddr[..4].copy_from_slice(&[10, 1, 0, 1]);
        (pkt.sport, pkt.dport) = (1024 + (n % 50_000) as u16, 5201);
        pkt.tcp_flags = tcp_flag::ACK
            | if n.is_multiple_of(5) {
                tcp_flag::PSH
            } else {
                0
            };
        pkt.ip_len = 60 + (n % 1400) as u16;
        pkt.skb_len = u32::from(pkt.ip_len);
        e
    };
    use EventKind::{Entry, Exit, Point};
    if n.is_multiple_of(BIG_TREE_EVERY) {
        out.push(ev(Entry, IP_QUEUE_XMIT, 0, 0));
        for i in 0..BIG_TREE_CALLS {
            out.push(ev(Entry, SKB_NETWORK_PROTOCOL, 10 + i * 10, 0));
            out.push(ev(Exit, SKB_NETWORK_PROTOCOL, 15 + i * 10, 8));
        }
        out.push(ev(Exit, IP_QUEUE_XMIT, 20 + BIG_TREE_CALLS * 10, 0));
        out.push(ev(
            Point,
            probe_id::CONSUME_SKB,
            30 + BIG_TREE_CALLS * 10,
            0,
        ));
        return;
    }
    match n % 4 {
        // Received and delivered to TCP.
        0 | 1 => out.extend([
            ev(Point, probe_id::NETIF_RECEIVE_SKB, 0, 0),
            ev(Entry, IP_RCV, 100, 0),
            ev(Entry, IP_LOCAL_DELIVER, 300, 0),
            ev(Entry, TCP_V4_RCV, 500, 0),
            ev(Entry, TCP_V4_DO_RCV, 700, 0),
            ev(Exit, TCP_V4_DO_RCV, 1500, 0),
            ev(Exit, TCP_V4_RCV, 1700, 0),
            ev(Exit, IP_LOCAL_DELIVER, 1800, 0),
            ev(Exit, IP_RCV, 1900, 0),
            ev(Point, probe_id::CONSUME_SKB, 2500, 0),
        ]),
        // Received and dropped: no socket.
        2 => out.extend([
            ev(Point, probe_id::NETIF_RECEIVE_SKB, 0, 0),
            ev(Entry, IP_RCV, 100, 0),
            ev(Entry, UDP_RCV, 300, 0),
            ev(Point, probe_id::KFREE_SKB, 400, 3),
            ev(Exit, UDP_RCV, 500, 0),
            ev(Exit, IP_RCV, 600, 0),
        ]),
        // Sent through a qdisc, dequeued in a later pass.
        _ => out.extend([
            ev(Entry, IP_QUEUE_XMIT, 0, 0),
            ev(Entry, DEV_QUEUE_XMIT, 100, 0),
            ev(Point, probe_id::NET_DEV_QUEUE, 200, 0),
            ev(Point, probe_id::QDISC_ENQUEUE, 300, 1),
            ev(Exit, DEV_QUEUE_XMIT, 400, 0),
            ev(Exit, IP_QUEUE_XMIT, 500, 0),
            ev(Entry, SCH_DIRECT_XMIT, 3000, 0),
            ev(Point, probe_id::QDISC_DEQUEUE, 3100, 0),
            ev(Point, probe_id::NET_DEV_START_XMIT, 3200, 0),
            ev(Exit, SCH_DIRECT_XMIT, 3500, 0),
            ev(Point, probe_id::CONSUME_SKB, 6000, 0),
        ]),
    }
}

fn draw(terminal: &mut Terminal<TestBackend>, app: &mut App) -> Duration {
    let started = Instant::now();
    terminal.draw(|frame| view::draw(frame, app)).unwrap();
    started.elapsed()
}

/// Applies `action` and draws, `STEPS` times: mean and p99 per frame.
fn scroll(
    terminal: &mut Terminal<TestBackend>,
    app: &mut App,
    action: Action,
) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..STEPS)
        .map(|_| {
            let started = Instant::now();
            app.apply(action);
            draw(terminal, app);
            started.elapsed()
        })
        .collect();
    times.sort();
    let mean = times.iter().sum::<Duration>() / STEPS as u32;
    (mean, times[STEPS * 99 / 100])
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let events = args
        .iter()
        .position(|a| a == "--events")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(1_000_000u64);
    let path = std::env::temp_dir().join(format!("pkttrace-tui-bench-{}.pkt", std::process::id()));
    let started = Instant::now();
    let packets = write_record(&path, events);
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    println!(
        "record: {events} events, {packets} packets written, {:.0} MiB, in {:.2?}",
        size as f64 / (1 << 20) as f64,
        started.elapsed()
    );

    let started = Instant::now();
    let mut app = open_record(&path).expect("opening the record");
    let opened = started.elapsed();
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    let first = draw(&mut terminal, &mut app);
    let _ = std::fs::remove_file(&path);
    println!(
        "open → model: {opened:.2?} ({} packets, {:.1} M events/s); first frame: {first:.2?}; total {:.2?}",
        app.model.packet_count(),
        events as f64 / opened.as_secs_f64() / 1e6,
        opened + first
    );

    let (mean, p99) = scroll(&mut terminal, &mut app, Action::Down);
    println!("list, {STEPS} steps down: mean {mean:.2?}, p99 {p99:.2?} per frame");
    let (mean, p99) = scroll(&mut terminal, &mut app, Action::PageDown);
    println!("list, {STEPS} pages down: mean {mean:.2?}, p99 {p99:.2?} per frame");

    // The first packet has the largest tree.
    app.apply(Action::First);
    app.apply(Action::Activate);
    assert_eq!(app.focus, Focus::Tree);
    let nodes = app.selected_packet().map_or(0, |p| p.nodes.len());
    let (mean, p99) = scroll(&mut terminal, &mut app, Action::Down);
    println!("tree of {nodes} nodes, {STEPS} steps down: mean {mean:.2?}, p99 {p99:.2?} per frame");
    app.apply(Action::OpenSearch);
    for c in "protocol".chars() {
        app.apply(Action::Type(c));
    }
    app.apply(Action::Submit);
    let (mean, p99) = scroll(&mut terminal, &mut app, Action::NextMatch);
    println!("tree, {STEPS} search matches (n): mean {mean:.2?}, p99 {p99:.2?} per frame");
    app.apply(Action::OpenFilter);
    for c in "udp and not port 9".chars() {
        app.apply(Action::Type(c));
    }
    let started = Instant::now();
    app.apply(Action::Submit);
    println!(
        "filter 'udp and not port 9' over {} packets: {:.2?} ({} shown)",
        app.model.packet_count(),
        started.elapsed(),
        app.model.view().len()
    );
    let started = Instant::now();
    app.apply(Action::CycleSort);
    println!("sort by duration: {:.2?}", started.elapsed());
    if let Some(rss) = peak_rss_mib() {
        println!("peak RSS (VmHWM): {rss:.0} MiB");
    }
}
