//! The packet model on a recorded trace and on the cases it must tell
//! apart: veth hops, nested passes completing first, clones, address
//! reuse, GSO segments, NAT and forwarding.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::abi::{IPPROTO_TCP, IPPROTO_UDP, RawEvent, event_flag, probe_id, tcp_flag};
use crate::meta::TraceMeta;
use crate::record::{RecordReader, replay};
use crate::sink::Sink;
use crate::stitch::testing::{Collect, entry, exit, func, meta, on_dev, point, tcp, through};
use crate::stitch::{Grouping, StitchOptions, StitchSink};

use super::ident::parsed;
use super::{Outcome, Packet, SkbOrigin};

fn options() -> StitchOptions {
    StitchOptions {
        grouping: Grouping::Packets,
        ..StitchOptions::default()
    }
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(name)
}

/// The packets of a recorded trace, and its metadata.
fn recorded(name: &str) -> (Vec<Packet>, TraceMeta) {
    let mut reader = RecordReader::open(&fixture(name)).unwrap();
    let meta = reader.meta().clone();
    let mut sink = StitchSink::new(Collect::default(), options());
    replay(&mut reader, &mut sink as &mut dyn Sink).unwrap();
    (sink.into_inner().packets, meta)
}

/// What tells one TCP segment or datagram from another: addresses, ports,
/// IP id, and TCP's sequence and acknowledgment numbers and flags.
type SegmentKey = (u8, [u8; 4], [u8; 4], u16, u16, u16, u32, u32, u8);

fn segment(event: &RawEvent) -> Option<SegmentKey> {
    let pkt = parsed(event)?;
    let v4 = |a: &[u8; 16]| [a[0], a[1], a[2], a[3]];
    matches!(pkt.l4_proto, IPPROTO_TCP | IPPROTO_UDP).then(|| {
        (
            pkt.l4_proto,
            v4(&pkt.saddr),
            v4(&pkt.daddr),
            pkt.sport,
            pkt.dport,
            pkt.ip_id,
            pkt.seq,
            pkt.ack,
            pkt.tcp_flags,
        )
    })
}

#[test]
fn recorded_tcp_and_udp_make_one_packet_each() {
    let (packets, meta) = recorded("tcp-udp-fentry.pkt");
    // Every segment and datagram seen on the wire is in exactly one packet.
    let mut owners: HashMap<_, Vec<usize>> = HashMap::new();
    for (i, packet) in packets.iter().enumerate() {
        for event in packet.events() {
            if let Some(key) = segment(event)
                && event.flags & event_flag::HAS_DEV != 0
            {
                let seen = owners.entry(key).or_default();
                if !seen.contains(&i) {
                    seen.push(i);
                }
            }
        }
    }
    assert!(owners.len() >= 15, "{} segments", owners.len());
    for (key, seen) in &owners {
        assert_eq!(seen.len(), 1, "{key:?} in packets {seen:?}");
    }
    let find = |flags: u8, dport: u16| {
        packets
            .iter()
            .find(|p| {
                p.headers.is_some_and(|h| {
                    h.pkt.dport == dport && (flags == 0 || h.pkt.tcp_flags == flags)
                })
            })
            .unwrap_or_else(|| panic!("no packet to port {dport} flags {flags:#x}"))
    };
    // The SYN: the retransmit queue's skb, the clone TCP sent and the
    // clone neighbour resolution took; over the veth pair into the other
    // namespace, to the listener.
    let syn = find(tcp_flag::SYN, 8080);
    assert!(
        matches!(syn.outcome, Outcome::Delivered { .. }),
        "{:?}",
        syn.outcome
    );
    assert_eq!(syn.skbs[0].origin, SkbOrigin::First);
    assert!(
        syn.skbs
            .iter()
            .any(|life| matches!(life.origin, SkbOrigin::Clone { .. }))
    );
    let places: Vec<&[u8]> = syn
        .hops
        .iter()
        .map(|hop| crate::describe::c_str(&hop.place.ifname))
        .collect();
    assert_eq!(places, [&b"ptreca"[..], b"ptrecb"]);
    assert_ne!(syn.hops[0].place.netns, syn.hops[1].place.netns);
    assert!(syn.latency_ns() > 0);
    // The datagram to a closed port.
    let closed = find(0, 9999);
    match closed.outcome {
        Outcome::Dropped {
            reason, location, ..
        } => {
            assert_eq!(meta.drop_reason_name(reason), Some("NO_SOCKET"));
            assert_ne!(location, 0);
        }
        other => panic!("closed port: {other:?}"),
    }
    // The unix sockets' skbs the tools freed are no network packets, and
    // their NOT_SPECIFIED frees no drops.
    let unix: Vec<&Packet> = packets
        .iter()
        .filter(|p| !p.network && !p.skbs.is_empty())
        .collect();
    assert!(unix.len() >= 4, "{} non-network packets", unix.len());
    assert!(
        unix.iter()
            .all(|p| !matches!(p.outcome, Outcome::Dropped { .. }))
    );
    // No network packet was dropped but the closed-port datagram.
    let drops = packets
        .iter()
        .filter(|p| p.network && matches!(p.outcome, Outcome::Dropped { .. }))
        .count();
    assert_eq!(drops, 1);
}

#[test]
fn recorded_addresses_are_reused_by_other_packets() {
    let (packets, _) = recorded("tcp-udp-fentry.pkt");
    let mut by_addr: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, packet) in packets.iter().enumerate().filter(|(_, p)| p.network) {
        for life in &packet.skbs {
            by_addr.entry(life.skb).or_default().push(i);
        }
    }
    // ffff8880052c3000 carried the SYN's neighbour-probe clone, then the
    // ARP reply, then the SYN-ACK, then more: each its own packet.
    let reused = by_addr.get(&0xffff_8880_052c_3000).unwrap();
    assert!(reused.len() >= 3, "{reused:?}");
    let headers: Vec<_> = reused
        .iter()
        .filter_map(|&i| packets[i].headers.map(|h| (h.pkt.tcp_flags, h.pkt.seq)))
        .collect();
    let mut distinct = headers.clone();
    distinct.dedup();
    assert_eq!(distinct, headers);
}

const A: ([u8; 4], u16) = ([10, 0, 1, 1], 41000);
const B: ([u8; 4], u16) = ([10, 0, 2, 2], 8080);
const S1: u64 = 0xffff_8880_0400_0100;
const S2: u64 = 0xffff_8880_0400_0200;
const S3: u64 = 0xffff_8880_0400_0300;

fn syn(event: RawEvent) -> RawEvent {
    tcp(event, A, B, tcp_flag::SYN, 1000, 0)
}

fn packets(events: &[RawEvent]) -> Vec<Packet> {
    through(Collect::default(), options(), events).packets
}

/// A receive softirq runs inside the transmit on the same CPU and
/// completes first, consuming the skb: the transmit's events, filed later,
/// still belong to that skb's life.
#[test]
fn a_nested_receive_completing_first_stays_in_the_packet() {
    let out = packets(&[
        on_dev(syn(entry(0, func::DEV_QUEUE_XMIT, 1, S1)), "veth0", 1),
        point(0, probe_id::SOFTIRQ_ENTRY, 2, 0, 3),
        on_dev(syn(entry(0, func::IP_RCV, 3, S1)), "veth1", 2),
        on_dev(point(0, probe_id::CONSUME_SKB, 4, S1, 0), "veth1", 2),
        exit(0, func::IP_RCV, 5, S1, 0),
        point(0, probe_id::SOFTIRQ_EXIT, 6, 0, 3),
        exit(0, func::DEV_QUEUE_XMIT, 7, S1, 0),
        // The address is another skb's now.
        on_dev(
            tcp(entry(0, func::IP_RCV, 20, S1), B, A, tcp_flag::ACK, 5, 1001),
            "veth0",
            1,
        ),
        exit(0, func::IP_RCV, 21, S1, 0),
    ]);
    let network: Vec<&Packet> = packets_with_skbs(&out);
    assert_eq!(network.len(), 2, "{network:#?}");
    let syn = network
        .iter()
        .find(|p| p.headers.unwrap().pkt.tcp_flags == tcp_flag::SYN)
        .unwrap();
    assert_eq!(syn.passes.len(), 2);
    assert_eq!(syn.hops.len(), 2);
    assert!(matches!(syn.outcome, Outcome::Delivered { .. }));
}

fn packets_with_skbs(out: &[Packet]) -> Vec<&Packet> {
    out.iter().filter(|p| !p.skbs.is_empty()).collect()
}

/// An address freed without a probe seeing it and reused: the headers
/// change in what no hop changes, so it is another packet.
#[test]
fn other_headers_at_an_address_are_another_packet() {
    let out = packets(&[
        on_dev(
            syn(point(0, probe_id::NET_DEV_START_XMIT, 1, S1, 0)),
            "veth0",
            1,
        ),
        on_dev(
            tcp(
                point(0, probe_id::NET_DEV_START_XMIT, 50, S1, 0),
                A,
                B,
                tcp_flag::ACK,
                1001,
                7,
            ),
            "veth0",
            1,
        ),
    ]);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|p| p.skbs.len() == 1));
}

/// GSO: the large skb is consumed once segmented; the segments carry its
/// flow and acknowledgment, sequence numbers inside its range.
#[test]
fn gso_segments_continue_their_packet() {
    let big = |event| {
        let mut event = syn(event);
        (
            event.pkt.tcp_flags,
            event.pkt.ack,
            event.pkt.skb_len,
            event.pkt.ip_len,
        ) = (tcp_flag::ACK, 7, 30_000, 30_000);
        event
    };
    let segment = |event, seq: u32, id: u16| {
        let mut event = big(event);
        (
            event.pkt.seq,
            event.pkt.skb_len,
            event.pkt.ip_len,
            event.pkt.ip_id,
        ) = (seq, 1500, 1500, id);
        event
    };
    let out = packets(&[
        on_dev(big(entry(0, func::DEV_QUEUE_XMIT, 1, S1)), "veth0", 1),
        on_dev(point(0, probe_id::CONSUME_SKB, 2, S1, 0), "veth0", 1),
        on_dev(
            segment(point(0, probe_id::NET_DEV_START_XMIT, 3, S2, 0), 1000, 4242),
            "veth0",
            1,
        ),
        on_dev(
            segment(point(0, probe_id::NET_DEV_START_XMIT, 4, S3, 0), 2448, 4243),
            "veth0",
            1,
        ),
        exit(0, func::DEV_QUEUE_XMIT, 5, S1, 0),
    ]);
    assert_eq!(out.len(), 1, "{out:#?}");
    let origins: Vec<SkbOrigin> = out[0].skbs.iter().map(|life| life.origin).collect();
    assert_eq!(
        origins,
        [
            SkbOrigin::First,
            SkbOrigin::Continues { of: S1 },
            SkbOrigin::Continues { of: S2 }
        ]
    );
    assert!(matches!(out[0].outcome, Outcome::Sent { .. }));
}

/// A router's DNAT and forwarding: one packet, the rewrite and the TTL
/// shown where they were first seen, forwarded out of the other device.
#[test]
fn dnat_and_forwarding_keep_one_packet_and_show_the_rewrite() {
    let router = |event: RawEvent, ttl: u8, to: ([u8; 4], u16)| {
        let mut event = tcp(event, A, to, tcp_flag::SYN, 1000, 0);
        event.pkt.ttl = ttl;
        event
    };
    let public = ([10, 0, 1, 254], 80);
    let out_dev = |event| {
        let mut event = on_dev(event, "r-out", 7);
        event.ifindex = 3;
        event
    };
    let out = packets(&[
        on_dev(
            router(point(0, probe_id::NETIF_RECEIVE_SKB, 1, S1, 0), 64, public),
            "r-in",
            7,
        ),
        on_dev(router(entry(0, func::IP_RCV, 2, S1), 64, public), "r-in", 7),
        on_dev(router(entry(0, func::IP_FORWARD, 3, S1), 64, B), "r-in", 7),
        out_dev(router(
            point(0, probe_id::NET_DEV_START_XMIT, 4, S1, 0),
            63,
            B,
        )),
        exit(0, func::IP_FORWARD, 5, S1, 0),
        exit(0, func::IP_RCV, 6, S1, 0),
    ]);
    assert_eq!(out.len(), 1);
    let packet = &out[0];
    assert!(
        matches!(packet.outcome, Outcome::Forwarded { .. }),
        "{:?}",
        packet.outcome
    );
    assert_eq!(packet.hops.len(), 2);
    let fields = |hop: usize| -> Vec<(&str, String, String)> {
        packet.hops[hop]
            .changes
            .iter()
            .flat_map(|c| c.fields())
            .collect()
    };
    assert_eq!(
        fields(0),
        [
            ("daddr", "10.0.1.254".into(), "10.0.2.2".into()),
            ("dport", "80".into(), "8080".into())
        ]
    );
    assert_eq!(fields(1), [("ttl", "64".into(), "63".into())]);
    // The headers first seen are the packet's as it arrived.
    assert_eq!(packet.headers.unwrap().pkt.dport, 80);
}

#[test]
fn unspecified_frees_are_drops_only_on_the_way() {
    let meta = meta();
    let not_specified = meta
        .drop_reasons
        .as_slice()
        .iter()
        .find(|(_, name)| name == "NOT_SPECIFIED")
        .unwrap()
        .0;
    // Received, then freed before any socket: a drop.
    let dropped = packets(&[
        on_dev(
            syn(point(0, probe_id::NETIF_RECEIVE_SKB, 1, S1, 0)),
            "veth1",
            2,
        ),
        on_dev(
            point(0, probe_id::KFREE_SKB, 2, S1, u64::from(not_specified)),
            "veth1",
            2,
        ),
    ]);
    assert!(matches!(dropped[0].outcome, Outcome::Dropped { .. }));
    // Never on a device nor with headers (a unix socket's): a plain free.
    let unix = packets(&[point(
        0,
        probe_id::KFREE_SKB,
        1,
        S2,
        u64::from(not_specified),
    )]);
    assert!(!unix[0].network);
    assert!(!matches!(unix[0].outcome, Outcome::Dropped { .. }));
}

/// `packets-fentry.pkt`: a client, a router with DNAT and a server (see
/// `tests/data/README.md`).
mod routed {
    use super::*;

    const CLIENT_NS: u32 = 4026532156;
    const ROUTER_NS: u32 = 4026532208;
    const SERVER_NS: u32 = 4026532260;

    fn packets() -> Vec<Packet> {
        recorded("packets-fentry.pkt").0
    }

    fn by_skb(packets: &[Packet], skb: u64) -> Vec<&Packet> {
        packets
            .iter()
            .filter(|p| p.skbs.iter().any(|life| life.skb == skb))
            .collect()
    }

    fn namespaces(packet: &Packet) -> Vec<u32> {
        packet.hops.iter().map(|hop| hop.place.netns).collect()
    }

    fn changes(packet: &Packet) -> Vec<(&'static str, String, String)> {
        packet
            .hops
            .iter()
            .flat_map(|hop| &hop.changes)
            .flat_map(|change| change.fields())
            .collect()
    }

    #[test]
    fn a_forwarded_ping_is_one_packet_over_four_hops() {
        let packets = packets();
        let request = packets
            .iter()
            .find(|p| p.headers.is_some_and(|h| h.pkt.icmp_type == 8))
            .unwrap();
        assert_eq!(
            namespaces(request),
            [CLIENT_NS, ROUTER_NS, ROUTER_NS, SERVER_NS]
        );
        assert!(matches!(request.outcome, Outcome::Delivered { .. }));
        // The router decremented the TTL.
        assert!(
            changes(request).contains(&("ttl", "64".into(), "63".into())),
            "{:?}",
            changes(request)
        );
        // The reply: its original freed NO_SOCKET by ping_rcv's lookup,
        // its clone read by ping's raw socket.
        let reply = packets
            .iter()
            .find(|p| {
                p.headers
                    .is_some_and(|h| h.pkt.icmp_type == 0 && h.pkt.l4_proto == 1)
            })
            .unwrap();
        assert!(
            matches!(reply.outcome, Outcome::Delivered { .. }),
            "{:?}",
            reply.outcome
        );
        assert!(
            reply
                .skbs
                .iter()
                .any(|life| matches!(life.origin, SkbOrigin::Clone { .. }))
        );
    }

    #[test]
    fn dnat_keeps_one_packet_and_shows_the_rewrite() {
        let packets = packets();
        // The SYN to the router's address, rewritten to the server's.
        // Its clone's address carries the server's reply later on: another
        // packet.
        let syns: Vec<&Packet> = by_skb(&packets, 0xffff_8880_7da6_cee8)
            .into_iter()
            .filter(|p| p.headers.is_some_and(|h| h.pkt.tcp_flags == tcp_flag::SYN))
            .collect();
        assert_eq!(syns.len(), 1);
        let syn = syns[0];
        assert_eq!(syn.headers.unwrap().pkt.dport, 80);
        let changes = changes(syn);
        // Only the SYN's own rewrite: none of the reply's way back.
        assert!(
            !changes
                .iter()
                .any(|(field, _, _)| *field == "sport" || *field == "saddr"),
            "{changes:?}"
        );
        assert!(
            changes.contains(&("daddr", "10.198.1.254".into(), "10.198.2.2".into()))
                && changes.contains(&("dport", "80".into(), "8080".into())),
            "{changes:?}"
        );
        assert_eq!(*namespaces(syn).last().unwrap(), SERVER_NS);
        assert!(matches!(syn.outcome, Outcome::Delivered { .. }));
    }

    #[test]
    fn gso_segments_are_in_their_large_skbs_packet() {
        let packets = packets();
        // The first GSO skb and the five segments skb_segment cut it into.
        let gso = by_skb(&packets, 0xffff_8880_7da6_dce8);
        let gso = gso
            .iter()
            .find(|p| {
                p.headers
                    .is_some_and(|h| h.pkt.seq == 4207027121 && h.pkt.ip_len > 1500)
            })
            .unwrap_or_else(|| {
                let headers: Vec<_> = gso.iter().map(|p| p.headers.map(|h| h.pkt)).collect();
                panic!("{headers:?}")
            });
        let segments = [
            0xffff_8880_7db6_2000,
            0xffff_8880_7db6_2c00,
            0xffff_8880_7db6_2300,
            0xffff_8880_7db6_2100,
            0xffff_8880_0755_a600,
        ];
        let joined = segments
            .iter()
            .filter(|&&skb| gso.skbs.iter().any(|life| life.skb == skb))
            .count();
        assert!(joined >= 4, "{:?}", gso.skbs);
        assert_eq!(
            gso.skbs[1].origin,
            SkbOrigin::Clone {
                of: 0xffff_8880_7da6_dc00
            }
        );
        assert!(
            gso.skbs
                .iter()
                .any(|life| matches!(life.origin, SkbOrigin::Segment { .. }))
        );
        assert!(matches!(gso.outcome, Outcome::Delivered { .. }));
    }

    #[test]
    fn a_reused_address_is_several_packets() {
        let packets = packets();
        // Five packets within 60 ms, after frees seen.
        let reused = by_skb(&packets, 0xffff_8880_050d_d000);
        assert!(reused.len() >= 5, "{}", reused.len());
        let closed = packets
            .iter()
            .find(|p| p.headers.is_some_and(|h| h.pkt.dport == 9999))
            .unwrap();
        assert!(matches!(closed.outcome, Outcome::Dropped { .. }));
    }
}
