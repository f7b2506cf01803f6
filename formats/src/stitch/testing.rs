//! Synthetic events and a collecting sink for the stitcher and tree printer tests.

use std::io;

use crate::abi::{self, EventKind, RawEvent, event_flag, probe_id};
use crate::meta::{
    ClockBase, ProbeDesc, ProbeKind, RetType, TraceMeta, ValueKind, tracepoint_probes,
};
use crate::sink::{Sink, Summary};

use super::{NodeKind, Packet, Pass, StitchOptions, StitchSink, StitchStats, TreeSink};

/// Function probe ids of [`meta`].
pub mod func {
    pub const TCP_V4_RCV: u32 = 1000;
    pub const TCP_V4_LOOKUP: u32 = 1001;
    pub const TCP_V4_DO_RCV: u32 = 1002;
    pub const TCP_RCV_STATE_PROCESS: u32 = 1003;
    pub const TCP_SET_STATE: u32 = 1004;
    pub const TCP_V4_CONNECT: u32 = 1005;
    pub const IP_QUEUE_XMIT: u32 = 1006;
    pub const DEV_QUEUE_XMIT: u32 = 1007;
    pub const NETIF_RX: u32 = 1008;
    pub const IP_RCV: u32 = 1009;
    pub const SKB_CLONE: u32 = 1010;
    pub const IP_FORWARD: u32 = 1011;
}

/// `int` as BTF describes it.
const INT: RetType = RetType::Int {
    size: 4,
    signed: true,
};

/// Id, name, category and return type (as on 6.x).
const FUNCTIONS: &[(u32, &str, &str, RetType)] = &[
    (func::TCP_V4_RCV, "tcp_v4_rcv", "tcp", INT),
    (
        func::TCP_V4_LOOKUP,
        "__tcp_v4_lookup",
        "tcp",
        RetType::Pointer,
    ),
    (func::TCP_V4_DO_RCV, "tcp_v4_do_rcv", "tcp", INT),
    (
        func::TCP_RCV_STATE_PROCESS,
        "tcp_rcv_state_process",
        "tcp",
        INT,
    ),
    (func::TCP_SET_STATE, "tcp_set_state", "tcp", RetType::Void),
    (func::TCP_V4_CONNECT, "tcp_v4_connect", "tcp", INT),
    (func::IP_QUEUE_XMIT, "ip_queue_xmit", "ip", INT),
    (func::DEV_QUEUE_XMIT, "__dev_queue_xmit", "dev", INT),
    (func::NETIF_RX, "netif_rx", "dev", INT),
    (func::IP_RCV, "ip_rcv", "ip", INT),
    (func::SKB_CLONE, "skb_clone", "skb", RetType::Pointer),
    (func::IP_FORWARD, "ip_forward", "ip", INT),
];

/// Trace start: 19:26:16 UTC on some day, as monotonic 1000 s.
pub const MONO_START_NS: u64 = 1_000_000_000_000;
pub const WALL_START_NS: u64 =
    (1_100_000_000 / 86_400 * 86_400 + 19 * 3600 + 26 * 60 + 16) * 1_000_000_000;

pub fn meta() -> TraceMeta {
    let mut probes = tracepoint_probes();
    probes.extend(
        FUNCTIONS
            .iter()
            .map(|&(id, name, category, ret)| ProbeDesc {
                id,
                name: name.into(),
                category: category.into(),
                kind: ProbeKind::Fexit,
                value: ValueKind::Return,
                ret,
            }),
    );
    TraceMeta {
        probes: probes.into(),
        drop_reasons: vec![(2, "NOT_SPECIFIED".into()), (3, "NO_SOCKET".into())].into(),
        clock: ClockBase {
            monotonic_ns: MONO_START_NS,
            realtime_ns: WALL_START_NS,
            utc_offset_s: 0,
        },
        ..TraceMeta::default()
    }
}

/// An event `us` microseconds into the trace on `cpu`, from task `curl/100`
/// on cpu 0 and thread `100 + cpu` elsewhere (one thread cannot run on two
/// CPUs at once; the stitcher follows a thread that moves).
fn event(kind: EventKind, cpu: u32, probe: u32, us: u64, skb: u64) -> RawEvent {
    let mut ev = RawEvent::zeroed();
    ev.kind = kind as u8;
    ev.cpu = cpu;
    ev.probe_id = probe;
    ev.ts_ns = MONO_START_NS + us * 1000;
    ev.skb = skb;
    ev.pid = 100;
    ev.tid = 100 + cpu;
    ev.comm[..4].copy_from_slice(b"curl");
    ev
}

pub fn entry(cpu: u32, probe: u32, us: u64, skb: u64) -> RawEvent {
    event(EventKind::Entry, cpu, probe, us, skb)
}

pub fn exit(cpu: u32, probe: u32, us: u64, skb: u64, ret: i64) -> RawEvent {
    let mut ev = event(EventKind::Exit, cpu, probe, us, skb);
    ev.value = ret as u64;
    ev
}

pub fn point(cpu: u32, probe: u32, us: u64, skb: u64, value: u64) -> RawEvent {
    let mut ev = event(EventKind::Point, cpu, probe, us, skb);
    ev.value = value;
    ev
}

pub fn softirq_entry(cpu: u32, us: u64, vector: u64) -> RawEvent {
    point(cpu, probe_id::SOFTIRQ_ENTRY, us, 0, vector)
}

pub fn softirq_exit(cpu: u32, us: u64, vector: u64) -> RawEvent {
    point(cpu, probe_id::SOFTIRQ_EXIT, us, 0, vector)
}

/// `event` carrying a TCP/IPv4 packet with parsed headers.
pub fn tcp(
    mut event: RawEvent,
    from: ([u8; 4], u16),
    to: ([u8; 4], u16),
    flags: u8,
    seq: u32,
    ack: u32,
) -> RawEvent {
    event.flags |= event_flag::HAS_PACKET;
    let pkt = &mut event.pkt;
    pkt.l3_proto = abi::ETH_P_IP;
    pkt.l4_proto = abi::IPPROTO_TCP;
    pkt.saddr[..4].copy_from_slice(&from.0);
    pkt.daddr[..4].copy_from_slice(&to.0);
    (pkt.sport, pkt.dport) = (from.1, to.1);
    (pkt.tcp_flags, pkt.seq, pkt.ack) = (flags, seq, ack);
    (pkt.ip_len, pkt.skb_len, pkt.ip_id, pkt.ttl) = (116, 116, 4242, 64);
    event
}

/// `event` carrying the addresses and ports of a TCP/IPv4 socket.
pub fn tcp_socket(event: RawEvent, from: ([u8; 4], u16), to: ([u8; 4], u16)) -> RawEvent {
    let mut event = tcp(event, from, to, 0, 0, 0);
    event.flags |= event_flag::FROM_SOCKET;
    (
        event.pkt.ip_len,
        event.pkt.skb_len,
        event.pkt.ip_id,
        event.pkt.ttl,
    ) = (0, 0, 0, 0);
    event
}

/// `event` on device `ifname` in namespace `netns`.
pub fn on_dev(mut event: RawEvent, ifname: &str, netns: u32) -> RawEvent {
    event.flags |= event_flag::HAS_DEV;
    event.ifname[..ifname.len()].copy_from_slice(ifname.as_bytes());
    event.ifindex = 2;
    event.netns = netns;
    event
}

/// Runs `events` through a [`StitchSink`] into `trees`, as live tracing and
/// `report` do, and returns `trees`.
pub fn through<T: TreeSink>(trees: T, options: StitchOptions, events: &[RawEvent]) -> T {
    let mut sink = StitchSink::new(trees, options);
    sink.begin(&meta()).unwrap();
    for event in events {
        sink.event(event).unwrap();
    }
    sink.finish(&Summary::default()).unwrap();
    sink.into_inner()
}

/// Keeps everything it is given.
#[derive(Default)]
pub struct Collect {
    pub passes: Vec<Pass>,
    pub packets: Vec<Packet>,
    pub stats: Option<StitchStats>,
}

impl TreeSink for Collect {
    fn begin(&mut self, _meta: &TraceMeta) -> io::Result<()> {
        Ok(())
    }

    fn pass(&mut self, pass: &Pass) -> io::Result<()> {
        self.passes.push(pass.clone());
        Ok(())
    }

    fn packet(&mut self, packet: &Packet) -> io::Result<()> {
        self.packets.push(packet.clone());
        Ok(())
    }

    fn finish(&mut self, _summary: &Summary, stats: &StitchStats) -> io::Result<()> {
        self.stats = Some(*stats);
        Ok(())
    }
}

/// A pass as one line: `cpu0 tcp_v4_rcv(__tcp_v4_lookup,•kfree_skb)`, with
/// `!` after a call missing its exit and `<` before an orphan exit.
pub fn shape(pass: &Pass, meta: &TraceMeta) -> String {
    let mut out = format!("cpu{} ", pass.cpu);
    if let Some(vector) = pass.softirq {
        out += &format!("softirq{vector} ");
    }
    let mut open: Vec<u32> = Vec::new();
    for (i, node) in pass.nodes.iter().enumerate() {
        let i = i as u32;
        while open.last().is_some_and(|&end| end <= i) {
            open.pop();
            out.push(')');
        }
        if open.last().is_some_and(|_| !out.ends_with('(')) {
            out.push(',');
        }
        let name = meta
            .probe(node.event.probe_id)
            .map_or_else(|| format!("#{}", node.event.probe_id), |p| p.name.clone());
        match node.kind {
            NodeKind::Point => out += &format!("•{name}"),
            NodeKind::OrphanExit => out += &format!("<{name}"),
            NodeKind::Call => {
                out += &name;
                if node.missing_exit() {
                    out.push('!');
                }
            }
        }
        if node.end > i + 1 {
            out.push('(');
            open.push(node.end);
        }
    }
    for _ in open {
        out.push(')');
    }
    out
}

/// xorshift64*: deterministic noise without a dependency.
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Self {
        Noise(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// An event that may be anything: any kind byte, impossible CPUs,
    /// unknown probes, colliding skbs, clones, frees, softirq marks, time
    /// going backwards, packets with garbage headers.
    pub fn event(&mut self) -> RawEvent {
        const PROBES: [u32; 11] = [
            func::IP_RCV,
            func::TCP_V4_RCV,
            func::SKB_CLONE,
            func::TCP_SET_STATE,
            probe_id::KFREE_SKB,
            probe_id::CONSUME_SKB,
            probe_id::SOFTIRQ_ENTRY,
            probe_id::SOFTIRQ_EXIT,
            probe_id::QDISC_ENQUEUE,
            probe_id::QDISC_DEQUEUE,
            77,
        ];
        let mut event = RawEvent::zeroed();
        event.kind = self.below(4) as u8;
        event.cpu = if self.below(50) == 0 {
            u32::MAX - self.below(2) as u32
        } else {
            self.below(3) as u32
        };
        event.tid = self.below(4) as u32;
        event.probe_id = PROBES[self.below(PROBES.len() as u64) as usize];
        event.skb = [0, 0x1000, 0x2000, 0x3000][self.below(4) as usize];
        event.value = [0, 3, 0x1000, 0x2000, u64::MAX][self.below(5) as usize];
        event.aux = self.next();
        event.ts_ns = self.next() >> self.below(64);
        event.flags = self.next() as u8;
        event.comm = self
            .next()
            .to_le_bytes()
            .repeat(2)
            .try_into()
            .unwrap_or_default();
        event.ifname = self
            .next()
            .to_be_bytes()
            .repeat(2)
            .try_into()
            .unwrap_or_default();
        let raw = self.next().to_le_bytes();
        event.pkt.l3_proto = [0, abi::ETH_P_IP, abi::ETH_P_IPV6][self.below(3) as usize];
        event.pkt.l4_proto = raw[0];
        event.pkt.tcp_flags = raw[1];
        event.pkt.ip_len = u16::from_le_bytes([raw[2], raw[3]]);
        event.pkt.saddr = [raw[4]; 16];
        event.pkt.sport = u16::from(raw[5]);
        event
    }
}
