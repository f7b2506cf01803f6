//! A packet's hops: each place (namespace and device) it reached, in order
//! of arrival, and what changed in its headers there.
//!
//! A place is entered once: a packet that goes out again from where it was
//! (a retransmitted clone, the next GSO segment) adds no hop, so hops stay
//! the path and not the traffic. Events without a device (a socket's, on
//! transmit above IP) make a hop of their namespace only when the packet
//! has not been there yet; its first device there completes that hop.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::abi::{ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, PacketSummary};
use crate::stitch::pass::Node;

use super::fate::Place;
use super::ident::parsed;

/// One place on a packet's path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hop {
    pub place: Place,
    /// CPU, time and probe of the first event there.
    pub cpu: u32,
    pub ts_ns: u64,
    pub probe: u32,
    /// Header rewrites first seen here, in order.
    pub changes: Vec<HeaderChange>,
}

/// Headers before and after a rewrite seen on one skb (NAT, TTL, a tunnel).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderChange {
    pub before: PacketSummary,
    pub after: PacketSummary,
    /// The event that first showed the new headers.
    pub probe: u32,
    pub ts_ns: u64,
}

impl HeaderChange {
    /// The fields that differ, as `(name, before, after)`.
    pub fn fields(&self) -> Vec<(&'static str, String, String)> {
        let (a, b) = (&self.before, &self.after);
        let mut fields = Vec::new();
        if a.l3_proto != b.l3_proto || a.l4_proto != b.l4_proto {
            fields.push(("proto", proto_name(a), proto_name(b)));
        }
        if a.saddr != b.saddr {
            fields.push((
                "saddr",
                addr(a.l3_proto, &a.saddr),
                addr(b.l3_proto, &b.saddr),
            ));
        }
        if ports_differ(a.sport, b.sport) {
            fields.push(("sport", a.sport.to_string(), b.sport.to_string()));
        }
        if a.daddr != b.daddr {
            fields.push((
                "daddr",
                addr(a.l3_proto, &a.daddr),
                addr(b.l3_proto, &b.daddr),
            ));
        }
        if ports_differ(a.dport, b.dport) {
            fields.push(("dport", a.dport.to_string(), b.dport.to_string()));
        }
        if a.ttl != b.ttl {
            fields.push(("ttl", a.ttl.to_string(), b.ttl.to_string()));
        }
        fields
    }
}

/// The fields hops compare: a change in anything else (length, checksum
/// state, segment numbers) is not a rewrite.
fn rewritten(a: &PacketSummary, b: &PacketSummary) -> bool {
    a.l3_proto != b.l3_proto
        || a.l4_proto != b.l4_proto
        || a.saddr != b.saddr
        || a.daddr != b.daddr
        || ports_differ(a.sport, b.sport)
        || ports_differ(a.dport, b.dport)
        || a.ttl != b.ttl
}

/// Port 0 is a transport header not written yet (UDP's is built after the
/// IP header is parsed on transmit): no rewrite.
fn ports_differ(a: u16, b: u16) -> bool {
    a != b && a != 0 && b != 0
}

fn addr(l3_proto: u16, bytes: &[u8; 16]) -> String {
    match l3_proto {
        ETH_P_IPV6 => Ipv6Addr::from(*bytes).to_string(),
        _ => Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string(),
    }
}

/// `IPv4/TCP`, `IPv6/GRE`, `ARP`: what a tunnel or a rewrite changed.
fn proto_name(pkt: &PacketSummary) -> String {
    let l3 = match pkt.l3_proto {
        ETH_P_IP => "IPv4",
        ETH_P_IPV6 => "IPv6",
        ETH_P_ARP => return "ARP".into(),
        _ => return format!("ethertype 0x{:04x}", pkt.l3_proto),
    };
    let l4 = match (crate::describe::l4_proto_names(pkt.l4_proto), pkt.l4_proto) {
        (Some((name, _)), _) => name.to_string(),
        (None, 4) => "IPIP".to_string(),
        (None, 41) => "IPv6-in-IP".to_string(),
        (None, 47) => "GRE".to_string(),
        (None, 50) => "ESP".to_string(),
        (None, other) => other.to_string(),
    };
    format!("{l3}/{l4}")
}

/// The hops of a packet whose events are `nodes`, in time order.
pub(super) fn hops(nodes: &[&Node]) -> Vec<Hop> {
    let mut hops: Vec<Hop> = Vec::new();
    // Per skb, the headers it last carried.
    let mut headers: Vec<(u64, PacketSummary)> = Vec::new();
    for node in nodes {
        let event = &node.event;
        let place = Place::of(event);
        if place.netns == 0 {
            continue;
        }
        let known = hops.iter().position(|hop| {
            hop.place.netns == place.netns
                && (hop.place.ifindex == place.ifindex || place.ifindex == 0)
        });
        let here = match known {
            Some(at) => at,
            None => match hops.last_mut() {
                Some(last) if last.place.netns == place.netns && last.place.ifindex == 0 => {
                    last.place = place;
                    hops.len() - 1
                }
                _ => {
                    hops.push(Hop {
                        place,
                        cpu: event.cpu,
                        ts_ns: event.ts_ns,
                        probe: event.probe_id,
                        changes: Vec::new(),
                    });
                    hops.len() - 1
                }
            },
        };
        let Some(pkt) = parsed(event) else {
            continue;
        };
        let skb = node.skb();
        match headers.iter_mut().find(|(s, _)| *s == skb) {
            Some((_, before)) => {
                if rewritten(before, pkt) {
                    let change = HeaderChange {
                        before: *before,
                        after: *pkt,
                        probe: event.probe_id,
                        ts_ns: event.ts_ns,
                    };
                    let changes = &mut hops[here].changes;
                    let same = |c: &HeaderChange| c.fields() == change.fields();
                    if !changes.iter().any(same) {
                        changes.push(change);
                    }
                    *before = *pkt;
                }
            }
            None => headers.push((skb, *pkt)),
        }
    }
    hops
}
