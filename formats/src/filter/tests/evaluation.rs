//! Verdicts of compiled filters on constructed events.

use super::{on_device, packet, passes};
use crate::abi::{
    IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, RawEvent, tcp_flag,
};

fn tcp4() -> RawEvent {
    packet(IPPROTO_TCP, "10.0.0.1:40000", "192.168.1.20:80")
}

fn udp4() -> RawEvent {
    packet(IPPROTO_UDP, "10.0.0.1:5353", "8.8.8.8:53")
}

fn icmp4() -> RawEvent {
    packet(IPPROTO_ICMP, "10.0.0.1:0", "10.0.0.2:0")
}

fn tcp6() -> RawEvent {
    packet(IPPROTO_TCP, "[2001:db8::1]:443", "[fe80::2]:51000")
}

fn udp6() -> RawEvent {
    packet(IPPROTO_UDP, "[2001:db8:aa::5]:53", "[2001:db8:bb::9]:33000")
}

fn icmp6() -> RawEvent {
    packet(IPPROTO_ICMPV6, "[::1]:0", "[::1]:0")
}

/// An event with no packet at all (e.g. a socket state change).
fn no_packet() -> RawEvent {
    RawEvent::zeroed()
}

#[test]
fn protocols() {
    let events = [
        tcp4(),
        udp4(),
        icmp4(),
        tcp6(),
        udp6(),
        icmp6(),
        no_packet(),
    ];
    let expect = |expr: &str, wanted: [bool; 7]| {
        let got: Vec<bool> = events.iter().map(|ev| passes(expr, ev)).collect();
        assert_eq!(got, wanted, "{expr}");
    };
    expect("tcp", [true, false, false, true, false, false, false]);
    expect("udp", [false, true, false, false, true, false, false]);
    expect("icmp", [false, false, true, false, false, false, false]);
    expect("icmp6", [false, false, false, false, false, true, false]);
    expect("ip", [true, true, true, false, false, false, false]);
    expect("ip6", [false, false, false, true, true, true, false]);
    expect(
        "ip proto tcp",
        [true, false, false, false, false, false, false],
    );
    expect("proto 17", [false, true, false, false, true, false, false]);
    expect(
        "ip6 and not tcp",
        [false, false, false, false, true, true, false],
    );
    expect("", [true; 7]);
}

#[test]
fn ipv4_hosts_by_direction() {
    let ev = tcp4();
    assert!(passes("host 10.0.0.1", &ev));
    assert!(passes("host 192.168.1.20", &ev));
    assert!(passes("src host 10.0.0.1", &ev));
    assert!(!passes("dst host 10.0.0.1", &ev));
    assert!(passes("dst host 192.168.1.20", &ev));
    assert!(!passes("src host 192.168.1.20", &ev));
    assert!(!passes("host 10.0.0.2", &ev));
}

#[test]
fn ipv6_hosts_by_direction() {
    let ev = tcp6();
    assert!(passes("host 2001:db8::1", &ev));
    assert!(passes("src host 2001:db8::1", &ev));
    assert!(!passes("dst host 2001:db8::1", &ev));
    assert!(passes("dst host fe80::2", &ev));
    assert!(!passes("host fe80::3", &ev));
}

#[test]
fn family_must_match() {
    // An IPv4 address is the first 4 bytes; an IPv6 address starting with
    // the same bytes must not match it, nor the other way round.
    let v6 = packet(IPPROTO_UDP, "[a00:1::]:1", "[::1]:2");
    assert!(passes("net a00::/16", &v6));
    assert!(!passes("host 10.0.0.1", &v6));
    assert!(!passes("net 10.0.0.0/8", &v6));
    let v4 = packet(IPPROTO_UDP, "10.0.0.1:1", "10.0.0.2:2");
    assert!(!passes("net a00::/16", &v4));
    assert!(!passes("net ::/0", &v4));
    assert!(passes("net 0.0.0.0/0", &v4));
    assert!(!passes("net 0.0.0.0/0", &no_packet()));
}

#[test]
fn ipv4_networks() {
    let ev = tcp4();
    assert!(passes("net 10.0.0.0/8", &ev));
    assert!(passes("src net 10.0.0.0/31", &ev));
    assert!(!passes("dst net 10.0.0.0/8", &ev));
    assert!(passes("dst net 192.168.0.0/16", &ev));
    assert!(passes("dst net 192.168.1.16/28", &ev));
    assert!(!passes("dst net 192.168.1.0/28", &ev));
    assert!(passes("net 10.0.0.1/32", &ev));
    assert!(passes("dst net 192.168.0.0 mask 255.255.0.0", &ev));
    // Non-contiguous masks work too: match the last octet only.
    assert!(passes("dst net 0.0.0.20 mask 0.0.0.255", &ev));
    assert!(!passes("dst net 0.0.0.21 mask 0.0.0.255", &ev));
}

#[test]
fn ipv6_networks() {
    let ev = udp6();
    assert!(passes("net 2001:db8::/32", &ev));
    assert!(passes("src net 2001:db8:aa::/48", &ev));
    assert!(!passes("dst net 2001:db8:aa::/48", &ev));
    assert!(passes("dst net 2001:db8:bb::/48", &ev));
    // A prefix ending inside a word: /60 keeps the top 12 bits of word 1.
    assert!(passes("src net 2001:db8:aa::/60", &ev));
    assert!(passes("src net 2001:db8:aa::5/128", &ev));
    assert!(!passes("src net 2001:db8:aa::6/127", &ev));
    assert!(passes("src net 2001:db8:aa::4/126", &ev));
    assert!(passes("net ::/0", &ev));
}

#[test]
fn ports_and_ranges() {
    let ev = tcp4();
    assert!(passes("port 80", &ev));
    assert!(passes("port 40000", &ev));
    assert!(passes("dst port 80", &ev));
    assert!(!passes("src port 80", &ev));
    assert!(passes("tcp dst port 80", &ev));
    assert!(!passes("udp port 80", &ev));
    assert!(passes("portrange 79-81", &ev));
    assert!(passes("portrange 80-80", &ev));
    assert!(!passes("portrange 81-39999", &ev));
    assert!(passes("src portrange 32768-60999", &ev));
    assert!(!passes("dst portrange 32768-60999", &ev));

    assert!(passes("udp dst port 53", &udp4()));
    assert!(passes("udp src port 53", &udp6()));
    let sctp = packet(IPPROTO_SCTP, "10.0.0.1:3868", "10.0.0.2:3868");
    assert!(passes("sctp port 3868", &sctp));
    assert!(passes("port 3868", &sctp));
}

#[test]
fn ports_need_a_port_protocol() {
    // ICMP events carry no ports, whatever sport/dport happen to hold.
    let mut icmp = icmp4();
    assert!(passes("port 0", &udp_with_port(0)));
    assert!(!passes("port 0", &icmp));
    icmp.pkt.sport = 80;
    assert!(!passes("port 80", &icmp));
    assert!(!passes("portrange 0-65535", &icmp));
    assert!(!passes("port 0", &no_packet()));
}

#[test]
fn ports_and_tcp_flags_need_an_ip_header() {
    // Without a parsed IP header (or socket) the transport fields mean
    // nothing: the kernel and userspace share this rule (l3_proto IPv4 or
    // IPv6).
    let mut syn = tcp4();
    syn.pkt.tcp_flags = tcp_flag::SYN;
    let mut headless = syn;
    headless.pkt.l3_proto = 0;
    assert!(passes("port 80", &syn));
    assert!(!passes("port 80", &headless));
    assert!(!passes("portrange 0-65535", &headless));
    assert!(passes("tcp-syn", &syn));
    assert!(!passes("tcp-syn", &headless));
    // The protocol number alone is still compared as it is.
    assert!(passes("tcp", &headless));
}

fn udp_with_port(port: u16) -> RawEvent {
    packet(IPPROTO_UDP, &format!("10.0.0.1:{port}"), "10.0.0.2:9")
}

#[test]
fn devices_namespaces_and_processes() {
    let mut ev = on_device(tcp4(), "eth0", 2, 4026531840);
    ev.pid = 1234;
    assert!(passes("ifname eth0", &ev));
    assert!(passes("dev eth0", &ev));
    assert!(!passes("ifname eth", &ev));
    assert!(!passes("ifname eth00", &ev));
    assert!(passes("ifindex 2", &ev));
    assert!(!passes("ifindex 3", &ev));
    assert!(passes("netns 4026531840", &ev));
    assert!(!passes("netns 4026531841", &ev));
    assert!(passes("pid 1234", &ev));
    assert!(!passes("pid 123", &ev));

    let long = on_device(udp4(), "enp0s31f6.1234", 7, 1);
    assert!(passes("ifname enp0s31f6.1234", &long));
    assert!(!passes("ifname enp0s31f6.123", &long));
    let longest = on_device(udp4(), "a23456789012345", 8, 1);
    assert!(passes("ifname a23456789012345", &longest));
    assert!(!passes("ifname lo", &no_packet()));
}

#[test]
fn tcp_flags_match_any_named_flag() {
    let mut syn = tcp4();
    syn.pkt.tcp_flags = tcp_flag::SYN;
    let mut syn_ack = tcp4();
    syn_ack.pkt.tcp_flags = tcp_flag::SYN | tcp_flag::ACK;
    let mut rst = tcp4();
    rst.pkt.tcp_flags = tcp_flag::RST | tcp_flag::ACK;

    assert!(passes("tcp-syn", &syn));
    assert!(passes("tcp-syn", &syn_ack));
    assert!(!passes("tcp-syn", &rst));
    assert!(passes("tcp-syn and not tcp-ack", &syn));
    assert!(!passes("tcp-syn and not tcp-ack", &syn_ack));
    assert!(passes("tcp-rst", &rst));
    assert!(passes("tcpflags FR", &rst));
    assert!(!passes("tcpflags FR", &syn_ack));
    assert!(passes("tcpflags S|F", &syn));
    assert!(!passes(
        "tcp-fin or tcp-push or tcp-urg or tcp-ece or tcp-cwr",
        &syn_ack
    ));

    // Only TCP has flags, even if the byte is set.
    let mut udp = udp4();
    udp.pkt.tcp_flags = 0xff;
    assert!(!passes("tcpflags FSRPAUEC", &udp));
}

#[test]
fn precedence_shows_in_verdicts() {
    let udp = udp4();
    // `tcp or udp and port 80` is `tcp or (udp and port 80)`: false for UDP to 53...
    assert!(!passes("tcp or udp and port 80", &udp));
    // ...while `(tcp or udp) and port 53` holds.
    assert!(passes("(tcp or udp) and port 53", &udp));
    assert!(passes("tcp or udp and port 53", &udp));
    assert!(passes("tcp or udp and port 80", &tcp4()));
    // `not` binds tightest.
    assert!(!passes("not udp and port 53", &udp));
    assert!(passes("not (udp and port 80)", &udp));
}

#[test]
fn negations_and_nesting() {
    let tcp = tcp4();
    let udp = udp4();
    let icmp = icmp4();
    let expr = "not (tcp or udp)";
    assert!(!passes(expr, &tcp));
    assert!(!passes(expr, &udp));
    assert!(passes(expr, &icmp));
    assert!(passes("!tcp && !udp", &icmp));
    assert!(passes("not not tcp", &tcp));
    let nested = "((tcp and (port 80 or port 443)) or (udp and not (port 53 or port 5353)))";
    assert!(passes(nested, &tcp));
    assert!(!passes(nested, &udp));
    assert!(passes(
        nested,
        &packet(IPPROTO_UDP, "10.0.0.1:1000", "10.0.0.2:2000")
    ));
    assert!(passes(nested, &packet(IPPROTO_TCP, "[::1]:443", "[::2]:9")));
    assert!(!passes(nested, &icmp));
}

#[test]
fn the_example_from_the_manual() {
    let expr = "tcp and port 80 and not host 10.0.0.1";
    assert!(!passes(expr, &tcp4()));
    assert!(passes(
        expr,
        &packet(IPPROTO_TCP, "10.0.0.3:5000", "10.0.0.4:80")
    ));
    assert!(!passes(
        expr,
        &packet(IPPROTO_UDP, "10.0.0.3:5000", "10.0.0.4:80")
    ));
}

/// An ARP request from 10.0.0.1 (MAC 02:00:00:00:00:01) for 10.0.0.2, laid
/// out as the BPF side parses it.
fn arp_request() -> RawEvent {
    let mut ev = RawEvent::zeroed();
    ev.flags = crate::abi::event_flag::HAS_PACKET;
    ev.pkt.l3_proto = crate::abi::ETH_P_ARP;
    ev.pkt.ip_id = 1;
    ev.pkt.saddr[..10].copy_from_slice(&[10, 0, 0, 1, 2, 0, 0, 0, 0, 1]);
    ev.pkt.daddr[..4].copy_from_slice(&[10, 0, 0, 2]);
    ev
}

#[test]
fn arp_by_keyword_and_by_its_addresses() {
    let arp = arp_request();
    assert!(passes("arp", &arp));
    for other in [tcp4(), udp6(), no_packet()] {
        assert!(!passes("arp", &other));
    }
    assert!(!passes("ip or ip6", &arp));
    // `host` and `net` look at the sender (src) and target (dst) protocol
    // addresses, as tcpdump's do; the MAC after them is outside the mask.
    assert!(passes("host 10.0.0.1", &arp));
    assert!(passes("host 10.0.0.2", &arp));
    assert!(!passes("host 10.0.0.3", &arp));
    assert!(passes("src host 10.0.0.1 and dst host 10.0.0.2", &arp));
    assert!(!passes("dst host 10.0.0.1", &arp));
    assert!(passes("net 10.0.0.0/24", &arp));
    assert!(passes("src net 10.0.0.0 mask 255.255.255.0", &arp));
    assert!(!passes("net 10.0.1.0/24", &arp));
    assert!(passes("arp and host 10.0.0.2", &arp));
    // Addresses of an IPv6 filter never match ARP's IPv4 ones.
    assert!(!passes("host ::a00:1", &arp));
    assert!(!passes("net ::/0", &arp));
}

#[test]
fn ports_and_tcp_flags_never_match_arp() {
    let mut arp = arp_request();
    // Whatever the transport fields hold, ARP has no ports or TCP flags.
    arp.pkt.l4_proto = IPPROTO_TCP;
    arp.pkt.sport = 80;
    arp.pkt.dport = 80;
    arp.pkt.tcp_flags = tcp_flag::SYN;
    assert!(!passes("port 80", &arp));
    assert!(!passes("portrange 0-65535", &arp));
    assert!(!passes("tcp-syn", &arp));
    assert!(!passes("tcpflags S", &arp));
    assert!(passes("not port 80", &arp));
}
