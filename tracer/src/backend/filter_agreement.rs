//! The kernel's filter verdicts against userspace's, on the same events.
//!
//! Both sides run `formats::filter::run`; what differs is how the program is
//! fetched (`CONFIG`, read volatile) and where the boolean stack lives (a
//! per-CPU map). This test loads the tracepoint object with each filter in
//! `CONFIG`, writes generated events into `FILTER_TEST_EVENT`, runs
//! `filter_verdict` with `BPF_PROG_TEST_RUN` and compares its answer with
//! `formats::filter::matches`. Like the load tests beside it, it needs the
//! privilege to load BPF programs.

use aya::maps::Array;
use aya::programs::{RawTracePoint, RawTracePointRunOptions, TestRun};
use formats::abi::{
    ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP,
    IPPROTO_UDP, RawEvent, event_flag,
};

use crate::session::{BPF_OBJECT, ConfigGlobal};

/// Every primitive, each direction, and nested `and`/`or`/`not`.
const FILTERS: [&str; 26] = [
    "tcp",
    "arp",
    "arp and src host 10.0.0.1 or dst net 192.168.0.0/16",
    "not arp and host 10.0.0.2",
    "arp and (port 80 or tcp-syn or tcpflags SA)",
    "udp or sctp",
    "icmp or icmp6",
    "ip and not ip6",
    "ip proto udp or ip6 proto tcp or proto 132",
    "host 10.0.0.1",
    "src host 10.0.0.1 and dst host 10.0.0.2",
    "net 10.0.0.0/8 and not net 10.0.0.0/24",
    "dst net 192.168.0.0 mask 255.255.0.0",
    "src net 2001:db8::/32 or dst host fd00::1",
    "port 80",
    "src port 53 or dst port 1023",
    "portrange 1-1023",
    "tcp dst portrange 80-81 or udp src port 53",
    "sctp port 3868",
    "ifname eth0 or dev lo",
    "netns 4026531840 and pid 100",
    "ifindex 2 or not ifindex 3",
    "tcp-syn and not tcp-ack",
    "tcpflags FR or tcp-push or tcp-urg or tcp-ece or tcp-cwr",
    "not (tcp or udp) or (host 10.0.0.1 and (port 80 or not portrange 1000-2000))",
    // The longest filter the load tests use.
    "(tcp or udp) and (host 10.0.0.1 or net fd00::/8) and not portrange 1-1023 and \
     ifname eth0 and (tcp-syn or tcp-fin or tcp-rst) and not pid 1 and netns 4026531840",
];

/// Events per filter.
const EVENTS: usize = 300;

#[repr(transparent)]
#[derive(Clone, Copy)]
struct EventValue(RawEvent);
// SAFETY: repr(C) plain old data with explicit padding (formats::abi).
unsafe impl aya::Pod for EventValue {}

/// xorshift64*: deterministic test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[(self.next() >> 33) as usize % from.len()]
    }
}

/// Addresses inside, at the edges of and just outside the filters' nets.
const V4: [[u8; 4]; 9] = [
    [10, 0, 0, 1],
    [10, 0, 0, 2],
    [10, 0, 0, 255],
    [10, 0, 1, 0],
    [10, 255, 255, 255],
    [11, 0, 0, 0],
    [9, 255, 255, 255],
    [192, 168, 1, 1],
    [192, 169, 0, 0],
];
const V6: [&str; 7] = [
    "2001:db8::1",
    "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
    "2001:db9::",
    "2001:db7:ffff::1",
    "fd00::1",
    "fd00::2",
    "fe00::1",
];
/// Edges of the filters' port ranges, and some outside all of them.
const PORTS: [u16; 16] = [
    0, 1, 2, 52, 53, 54, 79, 80, 81, 82, 999, 1000, 1023, 1024, 3868, 65535,
];
const IFNAMES: [&str; 7] = [
    "eth0",
    "eth00",
    "eth",
    "lo",
    "",
    "veth-peer",
    "a23456789012345",
];

fn event(rng: &mut Rng) -> RawEvent {
    let mut ev = RawEvent::zeroed();
    ev.pkt.l3_proto = rng.pick(&[ETH_P_IP, ETH_P_IPV6, 0, ETH_P_ARP, 0x88cc]);
    ev.pkt.l4_proto = rng.pick(&[
        IPPROTO_TCP,
        IPPROTO_UDP,
        IPPROTO_SCTP,
        IPPROTO_ICMP,
        IPPROTO_ICMPV6,
        0,
    ]);
    for addr in [&mut ev.pkt.saddr, &mut ev.pkt.daddr] {
        // The address kind does not always follow l3_proto: the filter
        // must look at l3_proto, not guess from the bytes.
        if rng.next() & 1 == 0 {
            addr[..4].copy_from_slice(&rng.pick(&V4));
        } else {
            let v6: std::net::Ipv6Addr = rng.pick(&V6).parse().unwrap();
            *addr = v6.octets();
        }
    }
    if ev.pkt.l3_proto == ETH_P_ARP && rng.next() & 1 == 0 {
        // As the BPF side lays out ARP: IPv4 addresses, then the MACs, and
        // the operation in `ip_id`.
        for addr in [&mut ev.pkt.saddr, &mut ev.pkt.daddr] {
            *addr = [0; 16];
            addr[..4].copy_from_slice(&rng.pick(&V4));
            addr[4..10].copy_from_slice(&rng.next().to_ne_bytes()[..6]);
        }
        ev.pkt.ip_id = rng.pick(&[1, 2]);
    }
    if ev.pkt.l3_proto != 0 {
        ev.flags |= event_flag::HAS_PACKET;
    }
    ev.pkt.sport = rng.pick(&PORTS);
    ev.pkt.dport = rng.pick(&PORTS);
    ev.pkt.tcp_flags = rng.next() as u8;
    let name = rng.pick(&IFNAMES);
    ev.ifname[..name.len()].copy_from_slice(name.as_bytes());
    ev.netns = rng.pick(&[4026531840, 4026531841, 0]);
    ev.pid = rng.pick(&[1, 100, 0]);
    ev.ifindex = rng.pick(&[1, 2, 3]);
    ev
}

#[test]
fn kernel_and_userspace_filters_agree() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut verdicts = [0usize; 2];
    for expr in FILTERS {
        let program = formats::filter::compile(expr).unwrap();
        let config = formats::filter::into_config(&program, 0).unwrap();
        let mut ebpf = aya::EbpfLoader::new()
            .override_global("CONFIG", &ConfigGlobal(config), true)
            .map_max_entries("EVENTS", 64 * 1024)
            .load(BPF_OBJECT)
            .unwrap();
        let mut events: Array<_, EventValue> =
            Array::try_from(ebpf.take_map("FILTER_TEST_EVENT").unwrap()).unwrap();
        let prog: &mut RawTracePoint = ebpf
            .program_mut("filter_verdict")
            .unwrap()
            .try_into()
            .unwrap();
        prog.load().unwrap();
        for _ in 0..EVENTS {
            let ev = event(&mut rng);
            events.set(0, EventValue(ev), 0).unwrap();
            let kernel = prog
                .test_run(RawTracePointRunOptions::new())
                .unwrap()
                .return_value as i32;
            let user = formats::filter::matches(&program, &ev);
            assert_eq!(kernel, i32::from(user), "{expr:?} on {ev:?}");
            verdicts[usize::from(user)] += 1;
        }
    }
    // Both verdicts are common, so agreeing means something.
    let total = FILTERS.len() * EVENTS;
    assert!(verdicts.iter().all(|&n| n > total / 10), "{verdicts:?}");
}
