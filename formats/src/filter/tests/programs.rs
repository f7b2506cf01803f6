//! Exact programs for a few expressions.

use super::compile;
use crate::abi::{
    ETH_P_IP, ETH_P_IPV6, FilterInsn, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP,
    IPPROTO_UDP, filter_dir, filter_op, tcp_flag,
};

fn op(op: u8) -> FilterInsn {
    FilterInsn::new(op)
}

fn lo(op: u8, lo: u32) -> FilterInsn {
    FilterInsn {
        lo,
        ..FilterInsn::new(op)
    }
}

fn ports(dir: u8, lo: u32, hi: u32) -> FilterInsn {
    FilterInsn {
        dir,
        lo,
        hi,
        ..FilterInsn::new(filter_op::PORT)
    }
}

fn words(bytes: [u8; 16]) -> [u32; 4] {
    core::array::from_fn(|i| u32::from_ne_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap()))
}

fn bytes4(octets: [u8; 4]) -> [u8; 16] {
    let mut bytes = [0; 16];
    bytes[..4].copy_from_slice(&octets);
    bytes
}

fn tcp() -> FilterInsn {
    lo(filter_op::L4_PROTO, IPPROTO_TCP.into())
}

fn udp() -> FilterInsn {
    lo(filter_op::L4_PROTO, IPPROTO_UDP.into())
}

#[test]
fn empty_and_blank_compile_to_nothing() {
    assert_eq!(compile("").unwrap(), []);
    assert_eq!(compile(" \t ").unwrap(), []);
}

#[test]
fn protocols() {
    let cases = [
        ("tcp", lo(filter_op::L4_PROTO, IPPROTO_TCP.into())),
        ("udp", lo(filter_op::L4_PROTO, IPPROTO_UDP.into())),
        ("icmp", lo(filter_op::L4_PROTO, IPPROTO_ICMP.into())),
        ("icmp6", lo(filter_op::L4_PROTO, IPPROTO_ICMPV6.into())),
        ("sctp", lo(filter_op::L4_PROTO, IPPROTO_SCTP.into())),
        ("proto 47", lo(filter_op::L4_PROTO, 47)),
        ("proto udp", lo(filter_op::L4_PROTO, IPPROTO_UDP.into())),
        ("proto 0", lo(filter_op::L4_PROTO, 0)),
        ("ip", lo(filter_op::L3_PROTO, ETH_P_IP.into())),
        ("ip6", lo(filter_op::L3_PROTO, ETH_P_IPV6.into())),
    ];
    for (expr, insn) in cases {
        assert_eq!(compile(expr).unwrap(), [insn], "{expr}");
    }
    assert_eq!(
        compile("ip6 proto icmp6").unwrap(),
        [
            lo(filter_op::L3_PROTO, ETH_P_IPV6.into()),
            lo(filter_op::L4_PROTO, IPPROTO_ICMPV6.into()),
            op(filter_op::AND),
        ]
    );
}

#[test]
fn precedence_and_associativity() {
    // not > and > or: a or (b and c).
    assert_eq!(
        compile("tcp or udp and port 53").unwrap(),
        [
            tcp(),
            udp(),
            ports(filter_dir::EITHER, 53, 53),
            op(filter_op::AND),
            op(filter_op::OR),
        ]
    );
    // (a and b) or c.
    assert_eq!(
        compile("tcp && port 80 || udp").unwrap(),
        [
            tcp(),
            ports(filter_dir::EITHER, 80, 80),
            op(filter_op::AND),
            udp(),
            op(filter_op::OR),
        ]
    );
    // Left-assoc: (a or b) or c.
    assert_eq!(
        compile("tcp or udp or sctp").unwrap(),
        [
            tcp(),
            udp(),
            op(filter_op::OR),
            lo(filter_op::L4_PROTO, IPPROTO_SCTP.into()),
            op(filter_op::OR),
        ]
    );
    // not binds to the primitive only: (not a) and b.
    assert_eq!(
        compile("not tcp and udp").unwrap(),
        [tcp(), op(filter_op::NOT), udp(), op(filter_op::AND)]
    );
    assert_eq!(
        compile("!(tcp or udp)").unwrap(),
        [tcp(), udp(), op(filter_op::OR), op(filter_op::NOT)]
    );
    assert_eq!(
        compile("not not tcp").unwrap(),
        [tcp(), op(filter_op::NOT), op(filter_op::NOT)]
    );
}

#[test]
fn redundant_parentheses_change_nothing() {
    assert_eq!(compile("((tcp))").unwrap(), compile("tcp").unwrap());
    assert_eq!(
        compile("(tcp or (udp)) and ((port 53))").unwrap(),
        [
            tcp(),
            udp(),
            op(filter_op::OR),
            ports(filter_dir::EITHER, 53, 53),
            op(filter_op::AND),
        ]
    );
}

#[test]
fn qualified_ports() {
    assert_eq!(
        compile("tcp port 80").unwrap(),
        [tcp(), ports(filter_dir::EITHER, 80, 80), op(filter_op::AND)]
    );
    assert_eq!(
        compile("udp dst port 53").unwrap(),
        [udp(), ports(filter_dir::DST, 53, 53), op(filter_op::AND)]
    );
    assert_eq!(
        compile("sctp src portrange 100-200").unwrap(),
        [
            lo(filter_op::L4_PROTO, IPPROTO_SCTP.into()),
            ports(filter_dir::SRC, 100, 200),
            op(filter_op::AND),
        ]
    );
    assert_eq!(
        compile("src port 0").unwrap(),
        [ports(filter_dir::SRC, 0, 0)]
    );
    assert_eq!(
        compile("portrange 1-65535").unwrap(),
        [ports(filter_dir::EITHER, 1, 65535)]
    );
}

#[test]
fn ipv4_host_and_nets() {
    let host = FilterInsn {
        dir: filter_dir::EITHER,
        lo: 4,
        words: words(bytes4([10, 0, 0, 1])),
        mask: words(bytes4([255; 4])),
        ..FilterInsn::new(filter_op::ADDR)
    };
    assert_eq!(compile("host 10.0.0.1").unwrap(), [host]);
    // Only word 0 carries an IPv4 address; the other words compare 0 == 0.
    assert_eq!(host.words[1..], [0; 3]);
    assert_eq!(host.mask[1..], [0; 3]);

    let net = FilterInsn {
        dir: filter_dir::SRC,
        lo: 4,
        words: words(bytes4([192, 168, 0, 0])),
        mask: words(bytes4([255, 255, 0, 0])),
        ..FilterInsn::new(filter_op::ADDR)
    };
    assert_eq!(compile("src net 192.168.0.0/16").unwrap(), [net]);
    assert_eq!(
        compile("src net 192.168.0.0 mask 255.255.0.0").unwrap(),
        [net]
    );
}

#[test]
fn ipv6_host_and_net() {
    let addr: std::net::Ipv6Addr = "2001:db8::7".parse().unwrap();
    assert_eq!(
        compile("dst host 2001:db8::7").unwrap(),
        [FilterInsn {
            dir: filter_dir::DST,
            lo: 6,
            words: words(addr.octets()),
            mask: [u32::MAX; 4],
            ..FilterInsn::new(filter_op::ADDR)
        }]
    );
    let mut mask = [0u8; 16];
    mask[..6].fill(0xff);
    let net: std::net::Ipv6Addr = "2001:db8:aa::".parse().unwrap();
    assert_eq!(
        compile("net 2001:db8:aa::/48").unwrap(),
        [FilterInsn {
            lo: 6,
            words: words(net.octets()),
            mask: words(mask),
            ..FilterInsn::new(filter_op::ADDR)
        }]
    );
}

#[test]
fn device_and_process() {
    let mut name = [0u8; 16];
    name[..4].copy_from_slice(b"eth0");
    let eth0 = FilterInsn {
        words: words(name),
        mask: [u32::MAX; 4],
        ..FilterInsn::new(filter_op::IFNAME)
    };
    assert_eq!(compile("ifname eth0").unwrap(), [eth0]);
    assert_eq!(compile("dev eth0").unwrap(), [eth0]);
    assert_eq!(
        compile("netns 4026531840").unwrap(),
        [lo(filter_op::NETNS, 4026531840)]
    );
    assert_eq!(
        compile("pid 4294967295").unwrap(),
        [lo(filter_op::PID, u32::MAX)]
    );
    assert_eq!(compile("ifindex 2").unwrap(), [lo(filter_op::IFINDEX, 2)]);
}

#[test]
fn tcp_flags() {
    let flags = |mask: u8| lo(filter_op::TCP_FLAGS, mask.into());
    let cases = [
        ("tcp-fin", flags(tcp_flag::FIN)),
        ("tcp-syn", flags(tcp_flag::SYN)),
        ("tcp-rst", flags(tcp_flag::RST)),
        ("tcp-push", flags(tcp_flag::PSH)),
        ("tcp-ack", flags(tcp_flag::ACK)),
        ("tcp-urg", flags(tcp_flag::URG)),
        ("tcp-ece", flags(tcp_flag::ECE)),
        ("tcp-cwr", flags(tcp_flag::CWR)),
        ("tcpflags S", flags(tcp_flag::SYN)),
        ("tcpflags SA", flags(tcp_flag::SYN | tcp_flag::ACK)),
        ("tcpflags F|R", flags(tcp_flag::FIN | tcp_flag::RST)),
        ("tcpflags fsrpauec", flags(0xff)),
    ];
    for (expr, insn) in cases {
        assert_eq!(compile(expr).unwrap(), [insn], "{expr}");
    }
}

#[test]
fn the_example_from_the_manual() {
    let program = compile("tcp and port 80 and not host 10.0.0.1").unwrap();
    let ops: Vec<u8> = program.iter().map(|insn| insn.op).collect();
    assert_eq!(
        ops,
        [
            filter_op::L4_PROTO,
            filter_op::PORT,
            filter_op::AND,
            filter_op::ADDR,
            filter_op::NOT,
            filter_op::AND,
        ]
    );
}
