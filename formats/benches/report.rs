//! Throughput of `pkttrace report`'s pipeline on one core: record file →
//! events → text or JSON, with output discarded.
//!
//! Run: `cargo bench -p formats --bench report [-- EVENTS] [read|text|json]`
//! (default: 5 million events, all three; naming one helps profiling).
//! Writes a synthetic record to the temp directory and removes it after.

use std::hint::black_box;
use std::io;
use std::net::Ipv6Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use formats::abi::{self, EventKind, RawEvent, event_flag, probe_id, tcp_flag};
use formats::json::JsonPrinter;
use formats::meta::{
    ClockBase, ProbeDesc, ProbeKind, RetType, TraceMeta, ValueKind, tracepoint_probes,
};
use formats::record::{Frame, RecordReader, RecordWriter};
use formats::sink::{Sink, Summary};
use formats::text::TextPrinter;

const DEFAULT_EVENTS: u64 = 5_000_000;
/// Each measurement runs this often; the fastest run counts (least disturbed).
const RUNS: usize = 3;
const FEXIT_PROBE: u32 = abi::probe_id::FIRST_DYNAMIC_PROBE_ID;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes `--bench`; the first number, if any, is the event count.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let events = args
        .iter()
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(DEFAULT_EVENTS);
    let only = ["read", "text", "json"]
        .into_iter()
        .find(|name| args.iter().any(|arg| arg == name));
    let path = std::env::temp_dir().join(format!("pkttrace-bench-{}.record", std::process::id()));
    let result = run(&path, events, only);
    let _ = std::fs::remove_file(&path);
    result
}

fn run(path: &Path, events: u64, only: Option<&str>) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    write_record(path, events)?;
    let bytes = std::fs::metadata(path)?.len();
    println!(
        "record: {events} events, {:.0} MiB, written in {:.2?} ({})",
        bytes as f64 / (1 << 20) as f64,
        started.elapsed(),
        rate(events, started.elapsed())
    );

    let wanted = |name| only.is_none_or(|only| only == name);
    if wanted("read") {
        let read = best_of(|| read_only(path))?;
        println!("read only:    {:>8.2?}  {}", read, rate(events, read));
    }
    let text = if wanted("text") {
        let text = best_of(|| replay_into(path, TextPrinter::new(io::sink())))?;
        println!("read + text:  {:>8.2?}  {}", text, rate(events, text));
        Some(text)
    } else {
        None
    };
    let json = if wanted("json") {
        let json = best_of(|| replay_into(path, JsonPrinter::new(io::sink())))?;
        println!("read + JSON:  {:>8.2?}  {}", json, rate(events, json));
        Some(json)
    } else {
        None
    };
    if let (Some(text), Some(json)) = (text, json) {
        println!(
            "text is {:.2}x as fast as JSON",
            json.as_secs_f64() / text.as_secs_f64()
        );
    }
    Ok(())
}

fn rate(events: u64, took: Duration) -> String {
    format!(
        "{:.2} M events/s per core",
        events as f64 / took.as_secs_f64() / 1e6
    )
}

fn best_of(
    mut measure: impl FnMut() -> Result<Duration, Box<dyn std::error::Error>>,
) -> Result<Duration, Box<dyn std::error::Error>> {
    let mut best = Duration::MAX;
    for _ in 0..RUNS {
        best = best.min(measure()?);
    }
    Ok(best)
}

fn read_only(path: &Path) -> Result<Duration, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut reader = RecordReader::open(path)?;
    let mut checksum = 0u64;
    while let Some(frame) = reader.next_frame()? {
        if let Frame::Event(event) = frame {
            checksum = checksum.wrapping_add(event.ts_ns ^ event.skb);
        }
    }
    black_box(checksum);
    Ok(started.elapsed())
}

/// What `report` does: replay the record into one printer.
fn replay_into(path: &Path, mut sink: impl Sink) -> Result<Duration, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut reader = RecordReader::open(path)?;
    let outcome = formats::record::replay(&mut reader, &mut sink)?;
    if !matches!(outcome.end, formats::record::RecordEnd::Complete) {
        return Err(format!(
            "benchmark record did not replay completely: {:?}",
            outcome.end
        )
        .into());
    }
    Ok(started.elapsed())
}

fn meta() -> TraceMeta {
    let mut probes = tracepoint_probes();
    probes.push(ProbeDesc {
        id: FEXIT_PROBE,
        name: "ip_finish_output2".into(),
        category: "ip".into(),
        kind: ProbeKind::Fexit,
        value: ValueKind::Return,
        ret: RetType::Int {
            size: 4,
            signed: true,
        },
    });
    TraceMeta {
        kernel_release: "6.8.0-bench".into(),
        hostname: "bench".into(),
        backend: "tracepoint".into(),
        command_line: vec!["pkttrace".into(), "record".into()],
        probes: probes.into(),
        drop_reasons: vec![
            (2, "NOT_SPECIFIED".into()),
            (3, "NO_SOCKET".into()),
            (4, "PKT_TOO_SMALL".into()),
            (5, "TCP_CSUM".into()),
        ]
        .into(),
        clock: ClockBase {
            monotonic_ns: 1_000_000_000,
            realtime_ns: 1_714_537_872_000_000_000,
            utc_offset_s: 7200,
        },
        ring_bytes: 16 << 20,
        ..TraceMeta::default()
    }
}

fn write_record(path: &Path, events: u64) -> io::Result<()> {
    let mut writer = RecordWriter::create(path)?;
    writer.begin(&meta())?;
    for i in 0..events {
        writer.event(&synthetic_event(i))?;
        if i % 1_000_000 == 999_999 {
            writer.lost((i % 8) as u32, i / 1000)?;
        }
    }
    writer.finish(&Summary {
        events,
        lost: 0,
        duration_ns: events * 1000,
        ..Summary::default()
    })
}

/// A mix resembling a busy trace: mostly TCP over IPv4, some UDP over IPv6,
/// ICMP, drops, transmits, qdisc, function exits and state changes.
fn synthetic_event(i: u64) -> RawEvent {
    let mut ev = RawEvent::zeroed();
    ev.ts_ns = 1_000_000_000 + i * 997;
    ev.skb = 0xffff_8880_0400_0000 + (i % 4096) * 256;
    ev.cpu = (i % 16) as u32;
    ev.pid = 1000 + (i % 50) as u32;
    ev.tid = ev.pid;
    let comm: &[u8] = if i.is_multiple_of(3) {
        b"nginx"
    } else {
        b"curl"
    };
    ev.comm[..comm.len()].copy_from_slice(comm);
    ev.flags = event_flag::HAS_DEV | event_flag::HAS_PACKET;
    let ifname: &[u8] = if i.is_multiple_of(2) {
        b"eth0"
    } else {
        b"veth1a2b"
    };
    ev.ifname[..ifname.len()].copy_from_slice(ifname);
    ev.ifindex = 2 + (i % 2) as u32;
    ev.netns = 4026531840 + (i % 2) as u32;
    let pkt = &mut ev.pkt;
    pkt.skb_len = 60 + (i % 1400) as u32;
    pkt.ip_len = pkt.skb_len as u16;
    pkt.ip_id = i as u16;
    pkt.ttl = 64;
    pkt.l3_proto = abi::ETH_P_IP;
    pkt.l4_proto = abi::IPPROTO_TCP;
    pkt.saddr[..4].copy_from_slice(&[10, 0, (i >> 8) as u8, i as u8]);
    pkt.daddr[..4].copy_from_slice(&[192, 168, 1, (i % 200) as u8]);
    pkt.sport = 30000 + (i % 30000) as u16;
    pkt.dport = 443;
    pkt.seq = (i * 1448) as u32;
    pkt.ack = (i * 7) as u32;
    pkt.tcp_flags = tcp_flag::ACK
        | if i.is_multiple_of(4) {
            tcp_flag::PSH
        } else {
            0
        };
    let probes = [
        probe_id::NETIF_RECEIVE_SKB,
        probe_id::NET_DEV_QUEUE,
        probe_id::NET_DEV_START_XMIT,
        probe_id::CONSUME_SKB,
    ];
    ev.probe_id = probes[(i % 4) as usize];
    match i % 20 {
        0 | 1 => {
            pkt.l3_proto = abi::ETH_P_IPV6;
            pkt.l4_proto = abi::IPPROTO_UDP;
            pkt.saddr =
                Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, (i >> 16) as u16, i as u16).octets();
            pkt.daddr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0x1c2d, 0x3e4f, 0x5a6b, 0x7c8d).octets();
            pkt.dport = 53;
        }
        2 => {
            pkt.l4_proto = abi::IPPROTO_ICMP;
            pkt.icmp_type = 8;
        }
        3 => {
            ev.probe_id = probe_id::KFREE_SKB;
            ev.value = 2 + i % 4;
            ev.aux = 0xffff_ffff_8123_4567;
        }
        4 => {
            ev.probe_id = probe_id::NET_DEV_XMIT;
        }
        5 => {
            ev.probe_id = probe_id::QDISC_ENQUEUE;
            ev.value = i % 10;
            ev.aux = (0x8001_0000u64 << 32) | 0xffff_ffff;
        }
        6 => {
            ev.probe_id = FEXIT_PROBE;
            ev.kind = EventKind::Exit as u8;
            ev.value = 0;
        }
        7 => {
            ev.probe_id = probe_id::INET_SOCK_SET_STATE;
            ev.flags = 0;
            ev.skb = 0;
            ev.value = 1;
            ev.aux = 2;
        }
        8 => ev.flags |= event_flag::FOLLOWED,
        _ => {}
    }
    ev
}
