//! Synthetic traces for the TUI tests: a metadata table with a few kernel
//! functions, event builders, and packets crafted for each state the views
//! must show (drop in TCP's receive, qdisc wait, sch_tdma window,
//! forwarding, delivery).

use formats::abi::{self, EventKind, RawEvent, event_flag, probe_id, tcp_flag};
use formats::meta::{
    ClockBase, ProbeDesc, ProbeKind, RetType, TraceMeta, ValueKind, tracepoint_probes,
};

use super::app::{App, Origin};
use super::model::Model;
use super::source::Msg;

pub mod func {
    pub const IP_RCV_CORE: u32 = 1000;
    pub const IP_QUEUE_XMIT: u32 = 1001;
    pub const DEV_QUEUE_XMIT: u32 = 1002;
    pub const IP_RCV: u32 = 1003;
    pub const TCP_V4_RCV: u32 = 1004;
    pub const UDP_RCV: u32 = 1005;
    pub const IP_FORWARD: u32 = 1006;
    pub const SCH_DIRECT_XMIT: u32 = 1007;
    pub const IP_LOCAL_DELIVER: u32 = 1008;
    pub const IP_PROTOCOL_DELIVER_RCU: u32 = 1009;
}

/// `int` as BTF describes it.
const INT: RetType = RetType::Int {
    size: 4,
    signed: true,
};

/// Id, name and return type (as on 6.x).
const FUNCTIONS: &[(u32, &str, RetType)] = &[
    (func::IP_RCV_CORE, "ip_rcv_core", RetType::Pointer),
    (func::IP_QUEUE_XMIT, "ip_queue_xmit", INT),
    (func::DEV_QUEUE_XMIT, "__dev_queue_xmit", INT),
    (func::IP_RCV, "ip_rcv", INT),
    (func::TCP_V4_RCV, "tcp_v4_rcv", INT),
    (func::UDP_RCV, "udp_rcv", INT),
    (func::IP_FORWARD, "ip_forward", INT),
    (func::SCH_DIRECT_XMIT, "sch_direct_xmit", RetType::Bool),
    (func::IP_LOCAL_DELIVER, "ip_local_deliver", INT),
    (
        func::IP_PROTOCOL_DELIVER_RCU,
        "ip_protocol_deliver_rcu",
        RetType::Void,
    ),
];

pub const MONO_START_NS: u64 = 1_000_000_000_000;
/// 19:26:16 UTC on some day.
const WALL_START_NS: u64 =
    (1_100_000_000 / 86_400 * 86_400 + 19 * 3600 + 26 * 60 + 16) * 1_000_000_000;

pub const DROP_NO_SOCKET: u64 = 3;
pub const DROP_QDISC: u64 = 5;

pub fn meta() -> TraceMeta {
    let mut probes = tracepoint_probes();
    probes.extend(FUNCTIONS.iter().map(|&(id, name, ret)| ProbeDesc {
        id,
        name: name.into(),
        category: "net".into(),
        kind: ProbeKind::Fexit,
        value: ValueKind::Return,
        ret,
    }));
    TraceMeta {
        backend: "fentry".into(),
        probes: probes.into(),
        drop_reasons: vec![
            (2, "NOT_SPECIFIED".into()),
            (DROP_NO_SOCKET as u32, "NO_SOCKET".into()),
            (DROP_QDISC as u32, "QDISC_DROP".into()),
        ]
        .into(),
        clock: ClockBase {
            monotonic_ns: MONO_START_NS,
            realtime_ns: WALL_START_NS,
            utc_offset_s: 0,
        },
        ..TraceMeta::default()
    }
}

/// An event `us` microseconds into the trace.
fn event(kind: EventKind, cpu: u32, probe: u32, us: u64, skb: u64) -> RawEvent {
    let mut ev = RawEvent::zeroed();
    ev.kind = kind as u8;
    ev.cpu = cpu;
    ev.probe_id = probe;
    ev.ts_ns = MONO_START_NS + us * 1000;
    ev.skb = skb;
    ev.pid = 100;
    ev.tid = 100;
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

/// `event` carrying an IPv4 packet.
pub fn ipv4(
    mut event: RawEvent,
    proto: u8,
    from: ([u8; 4], u16),
    to: ([u8; 4], u16),
    flags: u8,
    len: u16,
) -> RawEvent {
    event.flags |= event_flag::HAS_PACKET;
    let pkt = &mut event.pkt;
    pkt.l3_proto = abi::ETH_P_IP;
    pkt.l4_proto = proto;
    pkt.saddr[..4].copy_from_slice(&from.0);
    pkt.daddr[..4].copy_from_slice(&to.0);
    (pkt.sport, pkt.dport) = (from.1, to.1);
    pkt.tcp_flags = flags;
    (pkt.ip_len, pkt.skb_len) = (len, u32::from(len));
    event
}

pub fn on_dev(mut event: RawEvent, ifname: &str, netns: u32) -> RawEvent {
    event.flags |= event_flag::HAS_DEV;
    event.ifname[..ifname.len()].copy_from_slice(ifname.as_bytes());
    event.ifindex = 2;
    event.netns = netns;
    event
}

const CLIENT: ([u8; 4], u16) = ([10, 0, 0, 1], 41234);
const SERVER: ([u8; 4], u16) = ([10, 0, 0, 2], 80);

fn syn(event: RawEvent) -> RawEvent {
    ipv4(event, abi::IPPROTO_TCP, CLIENT, SERVER, tcp_flag::SYN, 60)
}

/// A SYN received on veth1 and dropped by TCP: no socket listens. Its
/// sequence number is `t`: SYNs of one flow with the same number within
/// 100 ms would be copies of one packet.
pub fn dropped_syn(t: u64, skb: u64) -> Vec<RawEvent> {
    const NS: u32 = 4026532281;
    let mut events = vec![
        on_dev(
            syn(point(1, probe_id::NETIF_RECEIVE_SKB, t, skb, 0)),
            "veth1",
            NS,
        ),
        on_dev(syn(entry(1, func::IP_RCV, t + 2, skb)), "veth1", NS),
        syn(entry(1, func::IP_RCV_CORE, t + 3, skb)),
        // ip_rcv_core returns the skb it accepts.
        exit(1, func::IP_RCV_CORE, t + 4, skb, skb as i64),
        syn(entry(1, func::IP_LOCAL_DELIVER, t + 5, skb)),
        syn(entry(1, func::TCP_V4_RCV, t + 6, skb)),
        syn(point(1, probe_id::KFREE_SKB, t + 8, skb, DROP_NO_SOCKET)),
        exit(1, func::TCP_V4_RCV, t + 9, skb, 0),
        exit(1, func::IP_LOCAL_DELIVER, t + 10, skb, 0),
        exit(1, func::IP_RCV, t + 12, skb, 0),
    ];
    for event in &mut events {
        event.pkt.seq = t as u32;
    }
    events
}

/// A UDP datagram received on eth0 and delivered to a socket.
pub fn delivered_udp(t: u64, skb: u64) -> Vec<RawEvent> {
    let udp = |event| {
        ipv4(
            event,
            abi::IPPROTO_UDP,
            ([10, 0, 0, 9], 5353),
            ([10, 0, 0, 1], 53),
            0,
            84,
        )
    };
    vec![
        on_dev(
            udp(point(0, probe_id::NETIF_RECEIVE_SKB, t, skb, 0)),
            "eth0",
            1,
        ),
        on_dev(udp(entry(0, func::IP_RCV, t + 1, skb)), "eth0", 1),
        udp(entry(0, func::IP_LOCAL_DELIVER, t + 2, skb)),
        udp(entry(0, func::UDP_RCV, t + 3, skb)),
        exit(0, func::UDP_RCV, t + 30, skb, 0),
        exit(0, func::IP_LOCAL_DELIVER, t + 31, skb, 0),
        exit(0, func::IP_RCV, t + 32, skb, 0),
        udp(point(2, probe_id::CONSUME_SKB, t + 60, skb, 0)),
    ]
}

/// A TCP segment queued on eth0's qdisc on cpu 0 and sent from cpu 2.
pub fn queued_tcp(t: u64, skb: u64) -> Vec<RawEvent> {
    let data = |event| {
        ipv4(
            event,
            abi::IPPROTO_TCP,
            CLIENT,
            SERVER,
            tcp_flag::PSH | tcp_flag::ACK,
            1500,
        )
    };
    vec![
        data(entry(0, func::IP_QUEUE_XMIT, t, skb)),
        on_dev(data(entry(0, func::DEV_QUEUE_XMIT, t + 1, skb)), "eth0", 1),
        on_dev(
            data(point(0, probe_id::QDISC_ENQUEUE, t + 2, skb, 1)),
            "eth0",
            1,
        ),
        exit(0, func::DEV_QUEUE_XMIT, t + 3, skb, 0),
        exit(0, func::IP_QUEUE_XMIT, t + 4, skb, 0),
        point(2, probe_id::SOFTIRQ_ENTRY, t + 40, 0, 2),
        on_dev(
            data(entry(2, func::SCH_DIRECT_XMIT, t + 41, skb)),
            "eth0",
            1,
        ),
        on_dev(
            data(point(2, probe_id::QDISC_DEQUEUE, t + 42, skb, 0)),
            "eth0",
            1,
        ),
        on_dev(
            data(point(2, probe_id::NET_DEV_START_XMIT, t + 43, skb, 0)),
            "eth0",
            1,
        ),
        exit(2, func::SCH_DIRECT_XMIT, t + 50, skb, 0),
        point(2, probe_id::SOFTIRQ_EXIT, t + 51, 0, 2),
        data(point(3, probe_id::CONSUME_SKB, t + 90, skb, 0)),
    ]
}

/// A UDP datagram held by sch_tdma until window 1 opened.
pub fn tdma_udp(t: u64, skb: u64) -> Vec<RawEvent> {
    let udp = |event| {
        ipv4(
            event,
            abi::IPPROTO_UDP,
            CLIENT,
            ([10, 0, 0, 3], 9000),
            0,
            200,
        )
    };
    let mut open = point(3, probe_id::TDMA_WINDOW_OPEN, t + 3000, 0, 7);
    open.extra = 1;
    // Opened at clock 1_000_000 (start), serviced 2us late; ends at 2_000_000.
    (open.aux, open.args) = (1_000_000, [2_000_000, 1_002_000, 1]);
    let mut dequeue = udp(point(
        3,
        probe_id::TDMA_DEQUEUE,
        t + 3010,
        skb,
        4_200_000 / 1000 * 1000,
    ));
    dequeue.value = (t + 3010 - (t + 2)) * 1000;
    dequeue.extra = 1;
    dequeue.aux = 990_000;
    dequeue.args = [7, 0, 0];
    vec![
        udp(entry(0, func::IP_QUEUE_XMIT, t, skb)),
        on_dev(udp(entry(0, func::DEV_QUEUE_XMIT, t + 1, skb)), "tdma0", 1),
        on_dev(
            udp(point(0, probe_id::TDMA_ENQUEUE, t + 2, skb, 1)),
            "tdma0",
            1,
        ),
        exit(0, func::DEV_QUEUE_XMIT, t + 3, skb, 0),
        exit(0, func::IP_QUEUE_XMIT, t + 4, skb, 0),
        open,
        on_dev(dequeue, "tdma0", 1),
        on_dev(
            udp(point(3, probe_id::NET_DEV_START_XMIT, t + 3011, skb, 0)),
            "tdma0",
            1,
        ),
        udp(point(3, probe_id::CONSUME_SKB, t + 3020, skb, 0)),
    ]
}

/// A packet received on eth0 and forwarded out of eth1.
pub fn forwarded_icmp(t: u64, skb: u64) -> Vec<RawEvent> {
    let icmp = |event| {
        let mut event = ipv4(
            event,
            abi::IPPROTO_ICMP,
            ([192, 168, 1, 5], 0),
            ([10, 0, 0, 2], 0),
            0,
            84,
        );
        event.pkt.icmp_type = 8;
        event
    };
    vec![
        on_dev(
            icmp(point(0, probe_id::NETIF_RECEIVE_SKB, t, skb, 0)),
            "eth0",
            1,
        ),
        on_dev(icmp(entry(0, func::IP_RCV, t + 1, skb)), "eth0", 1),
        icmp(entry(0, func::IP_FORWARD, t + 2, skb)),
        on_dev(
            icmp(point(0, probe_id::NET_DEV_QUEUE, t + 5, skb, 0)),
            "eth1",
            1,
        ),
        exit(0, func::IP_FORWARD, t + 8, skb, 0),
        exit(0, func::IP_RCV, t + 9, skb, 0),
        icmp(point(0, probe_id::CONSUME_SKB, t + 20, skb, 0)),
    ]
}

/// A SYN whose functions return one of each kind of value: a NULL skb, a
/// `bool`, nothing (`void`, rax holds garbage) and an `int` -22 as eax
/// leaves it (zero-extended).
pub fn typed_returns(t: u64, skb: u64) -> Vec<RawEvent> {
    vec![
        syn(entry(1, func::IP_RCV, t, skb)),
        syn(entry(1, func::IP_RCV_CORE, t + 1, skb)),
        exit(1, func::IP_RCV_CORE, t + 2, skb, 0),
        syn(entry(1, func::SCH_DIRECT_XMIT, t + 3, skb)),
        exit(1, func::SCH_DIRECT_XMIT, t + 4, skb, 0x101),
        syn(entry(1, func::IP_PROTOCOL_DELIVER_RCU, t + 5, skb)),
        exit(
            1,
            func::IP_PROTOCOL_DELIVER_RCU,
            t + 6,
            skb,
            0x6_0800_1234_5678,
        ),
        exit(1, func::IP_RCV, t + 8, skb, 0xffff_ffea),
        syn(point(1, probe_id::KFREE_SKB, t + 9, skb, DROP_NO_SOCKET)),
    ]
}

/// One of each, in time order.
pub fn mixed() -> Vec<RawEvent> {
    [
        dropped_syn(0, 0xffff_8880_0400_0100),
        delivered_udp(100, 0xffff_8880_0400_0200),
        queued_tcp(300, 0xffff_8880_0400_0300),
        forwarded_icmp(500, 0xffff_8880_0400_0500),
        tdma_udp(700, 0xffff_8880_0400_0400),
    ]
    .concat()
}

/// An app that took `events` as a record would give them.
pub fn app_with(events: Vec<RawEvent>, model: Model, color: bool) -> App {
    let mut app = App::new(model, Origin::Record, color);
    super::feed(
        &mut app,
        vec![
            Msg::Begin(Box::new(meta())),
            Msg::Events(events),
            Msg::End(Ok(())),
        ],
    );
    app
}
