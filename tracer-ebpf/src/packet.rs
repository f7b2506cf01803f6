//! Parses the IP and transport headers of an skb into a `PacketSummary`, or
//! its ARP header, or notes the ethertype of anything else.
//!
//! Where the IP header starts depends on where in the stack the skb is seen:
//! on receive before `__netif_receive_skb_core` resets it, `network_header` may
//! still be unset while `data` already points past the Ethernet header; on
//! transmit `data` points at the link header and `network_header` is valid.
//! Each candidate is validated by the IP version nibble before use.

use formats::abi::{
    ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP,
    IPPROTO_UDP, KernelOffsets, PacketSummary, SKB_HEADER_UNSET,
};

use crate::kernel::{Kmem, offset, read_at, read_into};

const ETH_HLEN: u64 = 14;
/// IPv6 extension headers skipped before giving up on the transport header.
const MAX_IPV6_EXT_HEADERS: usize = 3;

/// Fills `pkt` from the skb; returns false when it found nothing: neither
/// an IP header nor a non-IP `skb->protocol`.
#[inline(always)]
pub fn parse_skb<M: Kmem>(skb: u64, pkt: &mut PacketSummary) -> bool {
    let head: u64 = match M::read(skb, offset(|o: &KernelOffsets| &o.skb_head)) {
        Some(h) if h != 0 => h,
        _ => return false,
    };
    let data: u64 = M::read(skb, offset(|o| &o.skb_data)).unwrap_or(0);
    let network: u16 = M::read(skb, offset(|o| &o.skb_network_header)).unwrap_or(SKB_HEADER_UNSET);
    let mac: u16 = M::read(skb, offset(|o| &o.skb_mac_header)).unwrap_or(SKB_HEADER_UNSET);
    let protocol = u16::from_be(M::read::<u16>(skb, offset(|o| &o.skb_protocol)).unwrap_or(0));

    let network_set = network != 0 && network != SKB_HEADER_UNSET;
    // Above IP on transmit nothing says where a header would be: `data` holds
    // payload, and payload bytes can look like an IP header.
    if protocol == 0 && !network_set {
        return false;
    }
    // Not IP: the ethertype says what it is (ARP, LLDP, a VLAN tag the
    // device did not take off, ...); only ARP is parsed further.
    if protocol != 0 && protocol != ETH_P_IP && protocol != ETH_P_IPV6 {
        pkt.l3_proto = protocol;
        if protocol == ETH_P_ARP {
            parse_arp(arp_header(head, data, network, mac), pkt);
        }
        return true;
    }
    // Receive path with the link header already pulled: data is the IP header.
    let rx_pulled = mac != SKB_HEADER_UNSET && data == head + mac as u64 + ETH_HLEN;
    let candidate = if rx_pulled || !network_set {
        data
    } else {
        head + network as u64
    };
    if parse_ip(candidate, protocol, pkt) {
        return true;
    }
    // Transmit path before the network header was set: skip the link header.
    if data != 0 && mac != SKB_HEADER_UNSET && data == head + mac as u64 {
        return parse_ip(data + ETH_HLEN, protocol, pkt);
    }
    false
}

/// Where an ARP header starts, chosen without reading it (one read for the
/// whole parse keeps the verifier's work small). On receive the link header
/// has been pulled: `data` is the ARP header. On transmit `data` is at the
/// link header and `network_header` marks the ARP header (`arp_create` sets
/// it), except for a frame written whole by a packet socket, whose network
/// header is its link header.
#[inline(always)]
fn arp_header(head: u64, data: u64, network: u16, mac: u16) -> u64 {
    let mac_set = mac != SKB_HEADER_UNSET;
    let network_set = network != 0 && network != SKB_HEADER_UNSET;
    if mac_set && data == head + mac as u64 + ETH_HLEN {
        data
    } else if network_set && !(mac_set && network == mac) {
        head + network as u64
    } else if mac_set && data == head + mac as u64 {
        data + ETH_HLEN
    } else {
        data
    }
}

/// An ARP header for IPv4 over Ethernet (RFC 826): hardware type, protocol
/// type, their address lengths, operation, then sender MAC and IPv4, target
/// MAC and IPv4. Word-aligned, so it is read and copied word by word.
#[repr(C, align(4))]
#[derive(Clone, Copy)]
struct ArpBytes([u8; 28]);

/// `ARPHRD_ETHER`: the hardware type of Ethernet (and veth, bridges, ...).
const ARPHRD_ETHER: u16 = 1;

/// Parses an Ethernet/IPv4 ARP header at `arp` into the fields
/// `formats::abi::PacketSummary` assigns to ARP. Any other kind (other
/// address sizes) is left unparsed, operation 0.
#[inline(always)]
fn parse_arp(arp: u64, pkt: &mut PacketSummary) {
    let Some(ArpBytes(hdr)) = read_at(arp) else {
        return;
    };
    let htype = u16::from_be_bytes([hdr[0], hdr[1]]);
    let ptype = u16::from_be_bytes([hdr[2], hdr[3]]);
    if htype != ARPHRD_ETHER || ptype != ETH_P_IP || hdr[4] != 6 || hdr[5] != 4 {
        return;
    }
    pkt.ip_id = u16::from_be_bytes([hdr[6], hdr[7]]);
    pkt.saddr[..4].copy_from_slice(&hdr[14..18]);
    pkt.saddr[4..10].copy_from_slice(&hdr[8..14]);
    pkt.daddr[..4].copy_from_slice(&hdr[24..28]);
    pkt.daddr[4..10].copy_from_slice(&hdr[18..24]);
}

/// The bytes at an IP header: an IPv6 header, or an IPv4 header and what
/// follows (the skb's buffer always extends past them: `skb_shared_info`
/// sits at its end). Word-aligned, so copying it is not byte by byte.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct IpBytes([u8; 40]);

/// Parses an IP header at `l3`, read with one helper call. `protocol` is
/// `skb->protocol` (0 if unset), used to reject a header whose version
/// disagrees with the skb.
#[inline(always)]
fn parse_ip(l3: u64, protocol: u16, pkt: &mut PacketSummary) -> bool {
    let Some(IpBytes(hdr)) = read_at(l3) else {
        return false;
    };
    match hdr[0] >> 4 {
        4 if protocol == 0 || protocol == ETH_P_IP => parse_ipv4(l3, &hdr, pkt),
        6 if protocol == 0 || protocol == ETH_P_IPV6 => parse_ipv6(l3, &hdr, pkt),
        _ => false,
    }
}

#[inline(always)]
fn parse_ipv4(l3: u64, hdr: &[u8; 40], pkt: &mut PacketSummary) -> bool {
    let ihl = (hdr[0] & 0x0f) as u64 * 4;
    if ihl < 20 {
        return false;
    }
    pkt.l3_proto = ETH_P_IP;
    pkt.ip_len = u16::from_be_bytes([hdr[2], hdr[3]]);
    pkt.ip_id = u16::from_be_bytes([hdr[4], hdr[5]]);
    pkt.ttl = hdr[8];
    pkt.l4_proto = hdr[9];
    pkt.saddr[..4].copy_from_slice(&hdr[12..16]);
    pkt.daddr[..4].copy_from_slice(&hdr[16..20]);
    // Only the first fragment carries the transport header.
    let frag_offset = u16::from_be_bytes([hdr[6], hdr[7]]) & 0x1fff;
    if frag_offset == 0 {
        parse_l4(l3 + ihl, pkt);
    }
    true
}

#[inline(always)]
fn parse_ipv6(l3: u64, hdr: &[u8; 40], pkt: &mut PacketSummary) -> bool {
    pkt.l3_proto = ETH_P_IPV6;
    pkt.ip_len = u16::from_be_bytes([hdr[4], hdr[5]]).saturating_add(40);
    pkt.ip_id = u16::from_be_bytes([hdr[2], hdr[3]]);
    pkt.ttl = hdr[7];
    pkt.saddr.copy_from_slice(&hdr[8..24]);
    pkt.daddr.copy_from_slice(&hdr[24..40]);
    let mut next = hdr[6];
    let mut l4 = l3 + 40;
    for _ in 0..MAX_IPV6_EXT_HEADERS {
        match next {
            // Hop-by-hop, routing, destination options: length in 8-byte units.
            0 | 43 | 60 => {
                let ext: [u8; 2] = match read_at(l4) {
                    Some(e) => e,
                    None => break,
                };
                next = ext[0];
                l4 += (ext[1] as u64 + 1) * 8;
            }
            // Fragment header: only the first fragment has the transport header.
            44 => {
                let frag: [u8; 4] = match read_at(l4) {
                    Some(f) => f,
                    None => break,
                };
                if u16::from_be_bytes([frag[2], frag[3]]) & 0xfff8 != 0 {
                    pkt.l4_proto = frag[0];
                    return true;
                }
                next = frag[0];
                l4 += 8;
            }
            _ => break,
        }
    }
    pkt.l4_proto = next;
    parse_l4(l4, pkt);
    true
}

#[inline(always)]
fn parse_l4(l4: u64, pkt: &mut PacketSummary) {
    match pkt.l4_proto {
        IPPROTO_TCP => {
            if let Some(tcp) = read_at::<[u8; 14]>(l4) {
                pkt.sport = u16::from_be_bytes([tcp[0], tcp[1]]);
                pkt.dport = u16::from_be_bytes([tcp[2], tcp[3]]);
                pkt.seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
                pkt.ack = u32::from_be_bytes([tcp[8], tcp[9], tcp[10], tcp[11]]);
                pkt.tcp_flags = tcp[13];
            }
        }
        IPPROTO_UDP | IPPROTO_SCTP => {
            if let Some(ports) = read_at::<[u8; 4]>(l4) {
                pkt.sport = u16::from_be_bytes([ports[0], ports[1]]);
                pkt.dport = u16::from_be_bytes([ports[2], ports[3]]);
            }
        }
        IPPROTO_ICMP | IPPROTO_ICMPV6 => {
            if let Some(icmp) = read_at::<[u8; 2]>(l4) {
                pkt.icmp_type = icmp[0];
                pkt.icmp_code = icmp[1];
            }
        }
        _ => {}
    }
}

/// Fills the addresses and ports of a socket (events without an skb).
#[inline(always)]
pub fn parse_sock<M: Kmem>(sk: u64, pkt: &mut PacketSummary) -> bool {
    const AF_INET: u16 = 2;
    const AF_INET6: u16 = 10;
    let family: u16 = M::read(sk, offset(|o| &o.sk_family)).unwrap_or(0);
    match family {
        AF_INET => {
            pkt.l3_proto = ETH_P_IP;
            // Network order kept: the bytes go out as they sit in memory.
            let saddr = M::read::<u32>(sk, offset(|o| &o.sk_rcv_saddr)).unwrap_or(0);
            let daddr = M::read::<u32>(sk, offset(|o| &o.sk_daddr)).unwrap_or(0);
            pkt.saddr[..4].copy_from_slice(&saddr.to_ne_bytes());
            pkt.daddr[..4].copy_from_slice(&daddr.to_ne_bytes());
        }
        AF_INET6 => {
            pkt.l3_proto = ETH_P_IPV6;
            read_into(&mut pkt.saddr, sk, offset(|o| &o.sk_v6_rcv_saddr));
            read_into(&mut pkt.daddr, sk, offset(|o| &o.sk_v6_daddr));
        }
        _ => return false,
    }
    pkt.l4_proto = M::read::<u16>(sk, offset(|o| &o.sk_protocol)).unwrap_or(0) as u8;
    // skc_num is the local port in host order, skc_dport the peer's in network order.
    pkt.sport = M::read::<u16>(sk, offset(|o| &o.sk_num)).unwrap_or(0);
    pkt.dport = u16::from_be(M::read::<u16>(sk, offset(|o| &o.sk_dport)).unwrap_or(0));
    true
}
