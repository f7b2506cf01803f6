//! Header identity: what stays the same in a packet's headers along its
//! path (not addresses and ports, which NAT rewrites, nor the TTL), and
//! the index that finds the packet a new skb continues (a GSO segment, or
//! a copy made where no probe saw it).

use foldhash::HashMap;

use crate::abi::{
    ETH_P_ARP, ETH_P_IP, IPPROTO_TCP, IPPROTO_UDP, PacketSummary, RawEvent, event_flag,
};

/// Headers parsed from the skb itself (not a socket's addresses).
pub(super) fn parsed(event: &RawEvent) -> Option<&PacketSummary> {
    let flags = event.flags;
    (flags & event_flag::HAS_PACKET != 0
        && flags & event_flag::FROM_SOCKET == 0
        && event.pkt.l3_proto != 0)
        .then_some(&event.pkt)
}

/// What no hop changes in one packet's headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Ident {
    l3_proto: u16,
    l4_proto: u8,
    /// IPv4 identification (IPv6: the flow label's low bits, the same for
    /// a whole flow); an ARP packet's opcode.
    ip_id: u16,
    /// TCP only.
    seq: u32,
    ack: u32,
    tcp_flags: u8,
    /// An outer header: IP in IP, GRE, ESP, or UDP to a tunnel's port.
    tunnel: bool,
}

/// UDP ports of tunnels: VXLAN (IANA and Linux's old default), Geneve,
/// IPsec NAT traversal, WireGuard's usual port.
const TUNNEL_PORTS: &[u16] = &[4789, 8472, 6081, 4500, 51820];

impl Ident {
    pub fn of(pkt: &PacketSummary) -> Self {
        let tcp = pkt.l4_proto == IPPROTO_TCP;
        Ident {
            l3_proto: pkt.l3_proto,
            l4_proto: pkt.l4_proto,
            ip_id: pkt.ip_id,
            seq: if tcp { pkt.seq } else { 0 },
            ack: if tcp { pkt.ack } else { 0 },
            tcp_flags: if tcp { pkt.tcp_flags } else { 0 },
            tunnel: matches!(pkt.l4_proto, 4 | 41 | 47 | 50)
                || (pkt.l4_proto == IPPROTO_UDP && TUNNEL_PORTS.contains(&pkt.dport)),
        }
    }

    /// Whether going from `self` to `other` is a tunnel adding or removing
    /// an outer header, which changes every field above: the same packet.
    pub fn tunnels_to(&self, other: &Ident) -> bool {
        self.l3_proto != ETH_P_ARP
            && other.l3_proto != ETH_P_ARP
            && (self.tunnel || other.tunnel)
            && self.l4_proto != other.l4_proto
    }
}

/// Addresses, protocols and ports: which flow a header belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct FlowKey {
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    l3_proto: u16,
    l4_proto: u8,
    pub sport: u16,
    pub dport: u16,
}

impl FlowKey {
    pub fn of(pkt: &PacketSummary) -> Self {
        FlowKey {
            saddr: pkt.saddr,
            daddr: pkt.daddr,
            l3_proto: pkt.l3_proto,
            l4_proto: pkt.l4_proto,
            sport: pkt.sport,
            dport: pkt.dport,
        }
    }

    /// The flow of the replies.
    pub fn reversed(&self) -> Self {
        FlowKey {
            saddr: self.daddr,
            daddr: self.saddr,
            sport: self.dport,
            dport: self.sport,
            ..*self
        }
    }
}

/// The IP packet's length: its header's total length, or the skb's for a
/// GSO skb over 64 KiB (whose header says 0).
fn ip_length(pkt: &PacketSummary) -> u32 {
    match pkt.ip_len {
        0 => pkt.skb_len,
        len => u32::from(len),
    }
}

/// A packet's headers as last seen, for a new skb to be matched against.
#[derive(Clone, Copy, Debug)]
struct Seen {
    packet: u64,
    ts_ns: u64,
    ip_id: u16,
    seq: u32,
    ack: u32,
    tcp_flags: u8,
    len: u32,
}

/// The most an IP and a TCP header take together, options included.
const MAX_HEADERS: u32 = 120;

/// Candidates kept per flow: the packets of a flow in flight at once.
const SEEN_PER_FLOW: usize = 16;

/// Recent packets by flow.
#[derive(Default)]
pub(super) struct HeaderIndex {
    flows: HashMap<FlowKey, Vec<Seen>>,
    /// How far back a packet can be continued (trace time).
    window_ns: u64,
    /// When flows were last swept.
    swept_ns: u64,
}

impl HeaderIndex {
    pub fn new(window_ns: u64) -> Self {
        HeaderIndex {
            flows: HashMap::default(),
            window_ns,
            swept_ns: 0,
        }
    }

    /// `packet` carried these headers at `ts_ns`. A packet keeps its
    /// largest skb's headers: the GSO skb whose range later segments fall in.
    pub fn note(&mut self, pkt: &PacketSummary, ts_ns: u64, packet: u64) {
        let seen = self.flows.entry(FlowKey::of(pkt)).or_default();
        let new = Seen {
            packet,
            ts_ns,
            ip_id: pkt.ip_id,
            seq: pkt.seq,
            ack: pkt.ack,
            tcp_flags: pkt.tcp_flags,
            len: ip_length(pkt),
        };
        if let Some(known) = seen.iter_mut().find(|s| s.packet == packet) {
            if new.len > known.len {
                *known = new;
            } else {
                known.ts_ns = known.ts_ns.max(ts_ns);
            }
        } else if seen.len() < SEEN_PER_FLOW {
            seen.push(new);
        } else if let Some(oldest) = seen.iter_mut().min_by_key(|s| s.ts_ns) {
            // Full: the packet seen least recently makes room.
            *oldest = new;
        }
    }

    /// `open(packet, recent)` says whether a packet may still be continued,
    /// `recent` whether its headers were seen within the window.
    pub fn continued(
        &self,
        pkt: &PacketSummary,
        ts_ns: u64,
        open: impl Fn(u64, bool) -> bool,
    ) -> Option<u64> {
        let seen = self.flows.get(&FlowKey::of(pkt))?;
        let tcp = pkt.l4_proto == IPPROTO_TCP;
        let len = ip_length(pkt);
        seen.iter()
            .rev()
            .filter(|s| open(s.packet, ts_ns.abs_diff(s.ts_ns) <= self.window_ns))
            .find(|s| {
                // Identification 0 is what Linux gives packets it never
                // fragments and has no counter for (a SYN-ACK): no proof
                // alone, but with TCP's numbers and flags it is (TCP sends
                // the same segment again only after a retransmission
                // timeout, far longer than the window).
                let copy = pkt.l3_proto == ETH_P_IP
                    && s.ip_id == pkt.ip_id
                    && if tcp {
                        s.seq == pkt.seq && s.ack == pkt.ack && s.tcp_flags == pkt.tcp_flags
                    } else {
                        pkt.ip_id != 0
                    };
                // Inside the large skb's payload, which is its length less
                // headers of up to 120 bytes: the next large skb starts
                // right after it, and must not count.
                let offset = pkt.seq.wrapping_sub(s.seq);
                let segment = tcp
                    && s.ack == pkt.ack
                    && s.len > len
                    && offset > 0
                    && offset < s.len.saturating_sub(MAX_HEADERS);
                copy || segment
            })
            .map(|s| s.packet)
    }

    /// Forgets flows last seen before the window, once per window of
    /// trace time (a sweep visits every flow).
    pub fn expire(&mut self, now_ns: u64) {
        let window = self.window_ns;
        if now_ns.saturating_sub(self.swept_ns) <= window {
            return;
        }
        self.swept_ns = now_ns;
        self.flows.retain(|_, seen| {
            seen.last()
                .is_some_and(|s| now_ns.saturating_sub(s.ts_ns) <= window)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::IPPROTO_TCP;

    fn tcp(seq: u32, ip_id: u16, len: u32) -> PacketSummary {
        let mut pkt = PacketSummary {
            l3_proto: ETH_P_IP,
            l4_proto: IPPROTO_TCP,
            sport: 41001,
            dport: 8081,
            seq,
            ack: 7,
            ip_id,
            skb_len: len,
            ..PacketSummary::default()
        };
        pkt.saddr[..4].copy_from_slice(&[10, 0, 0, 1]);
        pkt.daddr[..4].copy_from_slice(&[10, 0, 0, 2]);
        pkt
    }

    #[test]
    fn gso_segments_continue_the_large_skb() {
        let mut index = HeaderIndex::new(1_000);
        index.note(&tcp(1000, 50, 65_000), 10, 1);
        let open = |_, recent| recent;
        // First segment: same sequence number and id.
        assert_eq!(index.continued(&tcp(1000, 50, 1500), 20, open), Some(1));
        // Later ones: inside the range.
        assert_eq!(
            index.continued(&tcp(1000 + 1448, 51, 1500), 20, open),
            Some(1)
        );
        // Past the range, another id at the same sequence (a retransmission),
        // too late, or a closed packet: none.
        assert_eq!(
            index.continued(&tcp(1000 + 65_000, 90, 1500), 20, open),
            None
        );
        assert_eq!(index.continued(&tcp(1000, 60, 1500), 20, open), None);
        assert_eq!(index.continued(&tcp(1000, 50, 1500), 2_000, open), None);
        assert_eq!(
            index.continued(&tcp(1000, 50, 1500), 20, |_, _| false),
            None
        );
    }

    #[test]
    fn tunnels_change_the_protocol_not_the_packet() {
        let inner = Ident::of(&tcp(1, 2, 100));
        let mut outer = tcp(1, 9, 150);
        outer.l4_proto = 47;
        assert!(inner.tunnels_to(&Ident::of(&outer)));
        outer.l4_proto = IPPROTO_UDP;
        outer.dport = 4789;
        assert!(inner.tunnels_to(&Ident::of(&outer)));
        // UDP elsewhere is another packet (the address was reused).
        outer.dport = 9999;
        assert!(!inner.tunnels_to(&Ident::of(&outer)));
        assert!(!inner.tunnels_to(&Ident::of(&tcp(5, 2, 100))));
    }
}
