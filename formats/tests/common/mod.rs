//! Events and metadata shared by the sink tests.
#![allow(dead_code)] // Each test crate uses a different part.

use formats::abi::{self, EventKind, RawEvent, event_flag, probe_id, tcp_flag};
use formats::meta::{
    ClockBase, ProbeDesc, ProbeKind, RetType, TraceMeta, ValueKind, tracepoint_probes,
};

/// 2024-05-01T04:31:12Z.
pub const WALL_START_S: u64 = 1_714_537_872;
pub const MONO_START_NS: u64 = 7_000_000_000;
pub const FEXIT_PROBE: u32 = 1000;
pub const NF_HOOK_PROBE: u32 = 1001;
pub const SKB: u64 = 0xffff_8880_041a_2300;
pub const DROP_LOCATION: u64 = 0xffff_ffff_8123_4567;

pub fn meta() -> TraceMeta {
    let mut probes = tracepoint_probes();
    probes.push(ProbeDesc {
        id: FEXIT_PROBE,
        name: "ip_finish_output2".into(),
        category: "ip".into(),
        kind: ProbeKind::Fexit,
        value: ValueKind::Return,
        // As in records made before return types were stored.
        ret: RetType::Unknown,
    });
    probes.push(ProbeDesc {
        id: NF_HOOK_PROBE,
        name: "nf_hook_slow".into(),
        category: "netfilter".into(),
        kind: ProbeKind::Fentry,
        value: ValueKind::NfHook,
        ret: RetType::Unknown,
    });
    TraceMeta {
        kernel_release: "6.8.0-test".into(),
        hostname: "testbox".into(),
        backend: "tracepoint".into(),
        command_line: vec!["pkttrace".into(), "icmp or tcp".into()],
        filter: "icmp or tcp".into(),
        probes: probes.into(),
        drop_reasons: vec![
            (2, "NOT_SPECIFIED".into()),
            (3, "NO_SOCKET".into()),
            (5, "TCP_CSUM".into()),
        ]
        .into(),
        clock: ClockBase {
            monotonic_ns: MONO_START_NS,
            realtime_ns: WALL_START_S * 1_000_000_000,
            utc_offset_s: 0,
        },
        ring_bytes: 8 << 20,
        abi_version: abi::ABI_VERSION,
        frames_per_task: true,
    }
}

/// [`meta`] with `ip_finish_output2` (and `nf_hook_slow`) returning `ret`.
pub fn meta_returning(ret: RetType) -> TraceMeta {
    let mut meta = meta();
    let mut probes = meta.probes.as_slice().to_vec();
    for probe in &mut probes {
        if probe.id == FEXIT_PROBE || probe.id == NF_HOOK_PROBE {
            probe.ret = ret;
        }
    }
    meta.probes = probes.into();
    meta
}

/// An exit of [`FEXIT_PROBE`] returning the register `raw`.
pub fn fexit_returning(raw: u64) -> RawEvent {
    let mut exit = icmp_echo();
    exit.probe_id = FEXIT_PROBE;
    exit.kind = EventKind::Exit as u8;
    exit.value = raw;
    exit
}

/// `int` as BTF describes it.
pub const INT: RetType = RetType::Int {
    size: 4,
    signed: true,
};

/// An event `ns` after the start, from `ping/1234` on cpu 1.
pub fn base(probe: u32, after_start_ns: u64) -> RawEvent {
    let mut ev = RawEvent::zeroed();
    ev.ts_ns = MONO_START_NS + after_start_ns;
    ev.probe_id = probe;
    ev.cpu = 1;
    ev.pid = 1234;
    ev.tid = 1235;
    ev.comm[..4].copy_from_slice(b"ping");
    ev.kind = EventKind::Point as u8;
    ev
}

pub fn on_dev(mut ev: RawEvent, ifname: &str, ifindex: u32, netns: u32) -> RawEvent {
    ev.flags |= event_flag::HAS_DEV;
    ev.ifname = [0; abi::IFNAMSIZ];
    ev.ifname[..ifname.len()].copy_from_slice(ifname.as_bytes());
    ev.ifindex = ifindex;
    ev.netns = netns;
    ev.skb = SKB;
    ev
}

pub fn v4(mut ev: RawEvent, proto: u8, src: [u8; 4], dst: [u8; 4]) -> RawEvent {
    ev.flags |= event_flag::HAS_PACKET;
    ev.pkt.l3_proto = abi::ETH_P_IP;
    ev.pkt.l4_proto = proto;
    ev.pkt.saddr[..4].copy_from_slice(&src);
    ev.pkt.daddr[..4].copy_from_slice(&dst);
    ev.pkt.ttl = 64;
    ev
}

pub fn v6(
    mut ev: RawEvent,
    proto: u8,
    src: std::net::Ipv6Addr,
    dst: std::net::Ipv6Addr,
) -> RawEvent {
    ev.flags |= event_flag::HAS_PACKET;
    ev.pkt.l3_proto = abi::ETH_P_IPV6;
    ev.pkt.l4_proto = proto;
    ev.pkt.saddr = src.octets();
    ev.pkt.daddr = dst.octets();
    ev.pkt.ttl = 64;
    ev
}

/// ICMP echo request 10.0.0.1 → 10.0.0.2 queued on veth0, 456789 ns in.
pub fn icmp_echo() -> RawEvent {
    let mut ev = on_dev(
        base(probe_id::NET_DEV_QUEUE, 123_456_789),
        "veth0",
        7,
        4026532281,
    );
    ev = v4(ev, abi::IPPROTO_ICMP, [10, 0, 0, 1], [10, 0, 0, 2]);
    ev.pkt.icmp_type = 8;
    ev.pkt.ip_id = 6699;
    ev.pkt.ip_len = 84;
    ev.pkt.skb_len = 84;
    ev
}

/// TCP SYN 10.0.0.1:41234 → 10.0.0.2:80 received on veth1 by the idle task.
pub fn tcp_syn() -> RawEvent {
    let mut ev = on_dev(
        base(probe_id::NETIF_RECEIVE_SKB, 123_556_789),
        "veth1",
        8,
        4026532282,
    );
    ev = v4(ev, abi::IPPROTO_TCP, [10, 0, 0, 1], [10, 0, 0, 2]);
    ev.cpu = 0;
    ev.pid = 0;
    ev.tid = 0;
    ev.comm = [0; abi::TASK_COMM_LEN];
    ev.comm[..9].copy_from_slice(b"swapper/0");
    ev.pkt.sport = 41234;
    ev.pkt.dport = 80;
    ev.pkt.tcp_flags = tcp_flag::SYN;
    ev.pkt.seq = 123;
    ev.pkt.ip_id = 4321;
    ev.pkt.ip_len = 60;
    ev.pkt.skb_len = 60;
    ev
}

/// UDP over IPv6, 2001:db8::1:5353 → ff02::fb:5353, transmitted on eth0 (rc 0).
pub fn udp_v6_xmit() -> RawEvent {
    let mut ev = on_dev(
        base(probe_id::NET_DEV_XMIT, 2_000_000_000),
        "eth0",
        2,
        4026531840,
    );
    ev = v6(
        ev,
        abi::IPPROTO_UDP,
        "2001:db8::1".parse().unwrap(),
        "ff02::fb".parse().unwrap(),
    );
    ev.pkt.sport = 5353;
    ev.pkt.dport = 5353;
    ev.pkt.ip_id = 0x1234;
    ev.pkt.ip_len = 140;
    ev.pkt.skb_len = 154;
    ev
}

/// kfree_skb of a TCP segment to a closed port, with a known reason.
pub fn tcp_drop(reason: u64) -> RawEvent {
    let mut ev = on_dev(
        base(probe_id::KFREE_SKB, 3_000_000_000),
        "lo",
        1,
        4026531840,
    );
    ev = v4(ev, abi::IPPROTO_TCP, [127, 0, 0, 1], [127, 0, 0, 1]);
    ev.pkt.sport = 55000;
    ev.pkt.dport = 9;
    ev.pkt.tcp_flags = tcp_flag::PSH | tcp_flag::ACK;
    ev.pkt.seq = 1000;
    ev.pkt.ack = 2000;
    ev.pkt.ip_id = 1;
    ev.pkt.ip_len = 57;
    ev.pkt.skb_len = 57;
    ev.value = reason;
    ev.aux = DROP_LOCATION;
    ev
}

/// A TCP state change: no device, no packet.
pub fn tcp_state_change() -> RawEvent {
    let mut ev = base(probe_id::INET_SOCK_SET_STATE, 4_000_000_000);
    ev.comm = [0; abi::TASK_COMM_LEN];
    ev.comm[..4].copy_from_slice(b"curl");
    ev.pid = 777;
    ev.tid = 777;
    ev.cpu = 12;
    ev.value = 1; // ESTABLISHED
    ev.aux = 2; // SYN_SENT
    ev
}

/// A TCP state change with the socket's addresses: no device, no skb.
pub fn tcp_state_change_with_socket() -> RawEvent {
    let mut ev = v4(
        tcp_state_change(),
        abi::IPPROTO_TCP,
        [10, 0, 0, 1],
        [10, 0, 0, 2],
    );
    ev.flags |= event_flag::FROM_SOCKET;
    ev.pkt.sport = 41234;
    ev.pkt.dport = 80;
    ev.pkt.ttl = 0;
    ev.netns = 4026531840;
    ev
}

/// An Ethernet/IPv4 ARP packet of operation `op` on veth0, as the BPF side
/// lays it out: sender 10.0.0.1 (02:00:00:00:00:01), target 10.0.0.2 with
/// MAC `target_mac`.
pub fn arp(op: u16, target_mac: [u8; 6]) -> RawEvent {
    let mut ev = on_dev(base(probe_id::NET_DEV_QUEUE, 0), "veth0", 2, 4026532281);
    ev.flags |= event_flag::HAS_PACKET;
    ev.pkt.l3_proto = abi::ETH_P_ARP;
    ev.pkt.ip_id = op;
    ev.pkt.skb_len = 42;
    ev.pkt.saddr[..10].copy_from_slice(&[10, 0, 0, 1, 2, 0, 0, 0, 0, 1]);
    ev.pkt.daddr[..4].copy_from_slice(&[10, 0, 0, 2]);
    ev.pkt.daddr[4..10].copy_from_slice(&target_mac);
    ev
}
