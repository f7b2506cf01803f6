//! Throughput of `pkttrace report`'s pipeline on one core: record file →
//! events → text or JSON, with output discarded; and of writing records,
//! as `pkttrace record` does while tracing.
//!
//! Run: `cargo bench -p formats --bench report [-- EVENTS] [encode|decode|text|json]`
//! (default: 5 million events, everything; naming one part helps profiling).
//! Writes synthetic records to the temp directory (format 1, as older
//! pkttrace wrote them; format 2; format 2 compressed) and removes them after.

use std::fs::File;
use std::hint::black_box;
use std::io::{self, BufWriter, Write};
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use formats::abi::{self, ABI_VERSION, EventKind, RawEvent, event_flag, probe_id, tcp_flag};
use formats::json::JsonPrinter;
use formats::meta::{
    ClockBase, ProbeDesc, ProbeKind, RetType, TraceMeta, ValueKind, tracepoint_probes,
};
use formats::record::{MAGIC, RecordEnd, RecordReader, RecordWriter, frame_type, replay};
use formats::sink::{Sink, Summary};
use formats::text::TextPrinter;

const DEFAULT_EVENTS: u64 = 5_000_000;
/// Each measurement runs this often; the fastest run counts (least disturbed).
const RUNS: usize = 5;
const FEXIT_PROBE: u32 = abi::probe_id::FIRST_DYNAMIC_PROBE_ID;
/// Events generated once and written over and over, shifted in time.
const POOL_EVENTS: u64 = 1 << 16;
/// Packets in flight at once, one per CPU, their events interleaved.
const CPUS: u64 = 8;
/// Events each packet gets (probes it passes).
const PACKET_EVENTS: u64 = 4;

/// Record formats, in the order of the temporary files.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    /// One frame per event, as pkttrace wrote before blocks.
    V1,
    V2,
    V2Zstd,
}

impl Format {
    const ALL: [Format; 3] = [Format::V1, Format::V2, Format::V2Zstd];

    fn name(self) -> &'static str {
        match self {
            Format::V1 => "format 1",
            Format::V2 => "format 2",
            Format::V2Zstd => "format 2 zstd",
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes `--bench`; the first number, if any, is the event count.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let events = args
        .iter()
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(DEFAULT_EVENTS);
    let only = ["encode", "decode", "text", "json"]
        .into_iter()
        .find(|name| args.iter().any(|arg| arg == name));
    let dir = std::env::temp_dir();
    let paths = Format::ALL.map(|format| {
        let name = format.name().replace(' ', "-");
        dir.join(format!(
            "pkttrace-bench-{}-{name}.record",
            std::process::id()
        ))
    });
    let result = run(&paths, events, only);
    for path in &paths {
        let _ = std::fs::remove_file(path);
    }
    result
}

fn run(
    paths: &[PathBuf; 3],
    events: u64,
    only: Option<&str>,
) -> Result<(), Box<dyn std::error::Error>> {
    let pool: Vec<RawEvent> = (0..POOL_EVENTS.min(events)).map(synthetic_event).collect();
    println!("{events} events, {CPUS} packets in flight, {PACKET_EVENTS} events each");
    let wanted = |name| only.is_none_or(|only| only == name);

    for (format, path) in Format::ALL.into_iter().zip(paths) {
        let started = Instant::now();
        write_record(format, &pool, events, BufWriter::new(File::create(path)?))?;
        let took = started.elapsed();
        let bytes = std::fs::metadata(path)?.len();
        println!(
            "{:<14} {:>7.1} MiB {:>6.1} bytes/event, file written in {took:.2?} ({})",
            format.name(),
            bytes as f64 / (1 << 20) as f64,
            bytes as f64 / events as f64,
            rate(events, took)
        );
    }
    if wanted("encode") {
        let took = best_of_each(|format| {
            let started = Instant::now();
            write_record(format, &pool, events, io::sink())?;
            Ok(started.elapsed())
        })?;
        report(events, "encode", &took);
    }
    if wanted("decode") {
        let took = best_of_each(|format| read_only(&paths[format as usize]))?;
        report(events, "decode", &took);
    }
    if wanted("text") {
        let took = best_of_each(|format| {
            replay_into(&paths[format as usize], TextPrinter::new(io::sink()))
        })?;
        report(events, "decode + text", &took);
    }
    if wanted("json") {
        // The printer's cost, the same whatever the format.
        let mut took = Duration::MAX;
        for _ in 0..RUNS {
            took = took.min(replay_into(&paths[1], JsonPrinter::new(io::sink()))?);
        }
        let label = format!("decode + JSON {}", Format::V2.name());
        println!("{label:<28} {took:>9.2?}  {}", rate(events, took));
    }
    Ok(())
}

fn report(events: u64, what: &str, took: &[Duration; 3]) {
    for (format, took) in Format::ALL.into_iter().zip(took) {
        let label = format!("{what} {}", format.name());
        println!("{label:<28} {took:>9.2?}  {}", rate(events, *took));
    }
}

fn rate(events: u64, took: Duration) -> String {
    format!(
        "{:.2} M events/s per core",
        events as f64 / took.as_secs_f64() / 1e6
    )
}

/// The fastest of [`RUNS`] runs for each format, the formats taking turns
/// so that a busy moment of the machine does not favour one.
fn best_of_each(
    mut measure: impl FnMut(Format) -> Result<Duration, Box<dyn std::error::Error>>,
) -> Result<[Duration; 3], Box<dyn std::error::Error>> {
    let mut best = [Duration::MAX; 3];
    for _ in 0..RUNS {
        for (format, best) in Format::ALL.into_iter().zip(&mut best) {
            *best = (*best).min(measure(format)?);
        }
    }
    Ok(best)
}

fn read_only(path: &Path) -> Result<Duration, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut reader = RecordReader::open(path)?;
    let mut checksum = 0u64;
    while let Some(frame) = reader.next_frame_ref()? {
        if let formats::record::FrameRef::Event(event) = frame {
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
    let outcome = replay(&mut reader, &mut sink)?;
    if !matches!(outcome.end, RecordEnd::Complete) {
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

/// Writes `events` events, the pool over and over shifted in time, with a
/// lost count every million, as a record of `format`.
fn write_record(format: Format, pool: &[RawEvent], events: u64, out: impl Write) -> io::Result<()> {
    let mut sink: Box<dyn Sink> = match format {
        Format::V1 => Box::new(FrameWriter(out)),
        Format::V2 => Box::new(RecordWriter::new(out)),
        Format::V2Zstd => Box::new(RecordWriter::new(out).compressed()?),
    };
    sink.begin(&meta())?;
    let span = pool.last().map_or(0, |event| event.ts_ns) + 1_000;
    for i in 0..events {
        let mut event = pool[(i % pool.len() as u64) as usize];
        event.ts_ns += i / pool.len() as u64 * span;
        sink.event(&event)?;
        if i % 1_000_000 == 999_999 {
            sink.lost((i % CPUS) as u32, i / 1000)?;
        }
    }
    sink.finish(&Summary {
        events,
        lost: 0,
        duration_ns: events * 1000,
        ..Summary::default()
    })
}

/// Format 1, which pkttrace no longer writes: a frame per event.
struct FrameWriter<W: Write>(W);

impl<W: Write> FrameWriter<W> {
    fn frame(&mut self, kind: u32, payload: &[u8]) -> io::Result<()> {
        self.0.write_all(&kind.to_le_bytes())?;
        self.0.write_all(&(payload.len() as u32).to_le_bytes())?;
        self.0.write_all(payload)
    }
}

impl<W: Write> Sink for FrameWriter<W> {
    fn begin(&mut self, meta: &TraceMeta) -> io::Result<()> {
        let json = serde_json::to_vec(meta)?;
        self.0.write_all(&MAGIC)?;
        self.0.write_all(&1u32.to_le_bytes())?;
        self.0.write_all(&ABI_VERSION.to_le_bytes())?;
        self.0.write_all(&(json.len() as u32).to_le_bytes())?;
        self.0.write_all(&json)
    }

    fn event(&mut self, event: &RawEvent) -> io::Result<()> {
        self.frame(frame_type::EVENT, event.as_bytes())
    }

    fn lost(&mut self, cpu: u32, total_lost_on_cpu: u64) -> io::Result<()> {
        let mut payload = [0u8; 12];
        payload[..4].copy_from_slice(&cpu.to_le_bytes());
        payload[4..].copy_from_slice(&total_lost_on_cpu.to_le_bytes());
        self.frame(frame_type::LOST, &payload)
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        self.frame(frame_type::END, &serde_json::to_vec(summary)?)?;
        self.0.flush()
    }
}

/// A mix resembling a busy trace: packets in flight on several CPUs, each
/// passing a few probes, their events interleaved as the ring delivers
/// them; mostly TCP over IPv4, some UDP over IPv6, ICMP, drops, transmits,
/// qdisc, function exits and state changes.
fn synthetic_event(i: u64) -> RawEvent {
    let cpu = i % CPUS;
    let step = i / CPUS % PACKET_EVENTS;
    // Packet number: its fields come from it, its step picks the probe.
    let n = i / (CPUS * PACKET_EVENTS) * CPUS + cpu;
    let mut ev = RawEvent::zeroed();
    ev.ts_ns = 1_000_000_000 + i * 997;
    ev.skb = 0xffff_8880_0400_0000 + (n % 4096) * 256;
    ev.cpu = cpu as u32;
    ev.pid = 1000 + (n % 50) as u32;
    ev.tid = ev.pid;
    let comm: &[u8] = if n.is_multiple_of(3) {
        b"nginx"
    } else {
        b"curl"
    };
    ev.comm[..comm.len()].copy_from_slice(comm);
    ev.flags = event_flag::HAS_DEV | event_flag::HAS_PACKET;
    let ifname: &[u8] = if n.is_multiple_of(2) {
        b"eth0"
    } else {
        b"veth1a2b"
    };
    ev.ifname[..ifname.len()].copy_from_slice(ifname);
    ev.ifindex = 2 + (n % 2) as u32;
    ev.netns = 4026531840 + (n % 2) as u32;
    let pkt = &mut ev.pkt;
    pkt.skb_len = 60 + (n % 1400) as u32 + 14 * step as u32;
    pkt.ip_len = pkt.skb_len as u16;
    pkt.ip_id = n as u16;
    pkt.ttl = 64;
    pkt.l3_proto = abi::ETH_P_IP;
    pkt.l4_proto = abi::IPPROTO_TCP;
    pkt.saddr[..4].copy_from_slice(&[10, 0, (n >> 8) as u8, n as u8]);
    pkt.daddr[..4].copy_from_slice(&[192, 168, 1, (n % 200) as u8]);
    pkt.sport = 30000 + (n % 30000) as u16;
    pkt.dport = 443;
    pkt.seq = (n * 1448) as u32;
    pkt.ack = (n * 7) as u32;
    pkt.tcp_flags = tcp_flag::ACK
        | if n.is_multiple_of(4) {
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
    ev.probe_id = probes[step as usize];
    match (n % 20, step) {
        (0 | 1, _) => {
            pkt.l3_proto = abi::ETH_P_IPV6;
            pkt.l4_proto = abi::IPPROTO_UDP;
            pkt.saddr =
                Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, (n >> 16) as u16, n as u16).octets();
            pkt.daddr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0x1c2d, 0x3e4f, 0x5a6b, 0x7c8d).octets();
            pkt.dport = 53;
        }
        (2, _) => {
            pkt.l4_proto = abi::IPPROTO_ICMP;
            pkt.icmp_type = 8;
        }
        (3, 3) => {
            ev.probe_id = probe_id::KFREE_SKB;
            ev.value = 2 + n % 4;
            ev.aux = 0xffff_ffff_8123_4567;
        }
        (4, 2) => {
            ev.probe_id = probe_id::NET_DEV_XMIT;
        }
        (5, 1) => {
            ev.probe_id = probe_id::QDISC_ENQUEUE;
            ev.value = n % 10;
            ev.aux = (0x8001_0000u64 << 32) | 0xffff_ffff;
        }
        (6, 2) => {
            ev.probe_id = FEXIT_PROBE;
            ev.kind = EventKind::Exit as u8;
            ev.value = 0;
        }
        (7, 0) => {
            ev.probe_id = probe_id::INET_SOCK_SET_STATE;
            ev.flags = 0;
            ev.skb = 0;
            ev.value = 1;
            ev.aux = 2;
        }
        (8, _) => ev.flags |= event_flag::FOLLOWED,
        _ => {}
    }
    ev
}
