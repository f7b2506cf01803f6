//! Packets that are not IP: ARP described as `tcpdump -n` describes it,
//! other ethertypes named. One describer for the text and JSON printers, the
//! tree printers (through the text printer) and the TUI.

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Serialize, Serializer};

use crate::abi::{self, PacketSummary};

/// ARP operations (RFC 826, 903, 2390) with tcpdump's names for them.
const ARP_OPS: [(u16, &str); 7] = [
    (1, "Request"),
    (2, "Reply"),
    (3, "Reverse Request"),
    (4, "Reverse Reply"),
    (8, "Inverse Request"),
    (9, "Inverse Reply"),
    (10, "NACK Reply"),
];

/// Common ethertypes, named as tcpdump names them. Values below 0x0600 are
/// not ethertypes on the wire (they are 802.3 lengths) but Linux's own
/// `skb->protocol` values for frames without one.
const ETHERTYPES: [(u16, &str); 23] = [
    (0x0001, "802.3"),
    (0x0004, "802.2 LLC"),
    (0x0800, "IPv4"),
    (0x0806, "ARP"),
    (0x6558, "TEB"),
    (0x8035, "Reverse ARP"),
    (0x8100, "802.1Q"),
    (0x8137, "IPX"),
    (0x86dd, "IPv6"),
    (0x8809, "Slow Protocols"),
    (0x8847, "MPLS unicast"),
    (0x8848, "MPLS multicast"),
    (0x8863, "PPPoE D"),
    (0x8864, "PPPoE S"),
    (0x888e, "EAPOL"),
    (0x88a8, "802.1Q-QinQ"),
    (0x88ca, "TIPC"),
    (0x88cc, "LLDP"),
    (0x88e5, "802.1AE MACsec"),
    (0x88f7, "PTP"),
    (0x8902, "CFM"),
    (0x894f, "NSH"),
    (0x9100, "802.1Q-9100"),
];

/// The name of an ethertype (`skb->protocol`), if it is a common one.
pub fn ethertype_name(ethertype: u16) -> Option<&'static str> {
    ETHERTYPES
        .iter()
        .find(|&&(value, _)| value == ethertype)
        .map(|&(_, name)| name)
}

/// A MAC address, printed `aa:bb:cc:dd:ee:ff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl Serialize for Mac {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// An ARP header for IPv4 over Ethernet, as the BPF side stores it in a
/// [`PacketSummary`] (see its table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arp {
    pub op: u16,
    pub sender_ip: Ipv4Addr,
    pub sender_mac: Mac,
    pub target_ip: Ipv4Addr,
    pub target_mac: Mac,
}

impl Arp {
    /// The ARP header of `pkt`; `None` when it is no ARP packet, or one whose
    /// header was not parsed (not Ethernet/IPv4: operation 0).
    pub fn of(pkt: &PacketSummary) -> Option<Arp> {
        if pkt.l3_proto != abi::ETH_P_ARP || pkt.ip_id == 0 {
            return None;
        }
        let ip = |a: &[u8; 16]| Ipv4Addr::new(a[0], a[1], a[2], a[3]);
        let mac = |a: &[u8; 16]| Mac([a[4], a[5], a[6], a[7], a[8], a[9]]);
        Some(Arp {
            op: pkt.ip_id,
            sender_ip: ip(&pkt.saddr),
            sender_mac: mac(&pkt.saddr),
            target_ip: ip(&pkt.daddr),
            target_mac: mac(&pkt.daddr),
        })
    }

    /// tcpdump's name of the operation (`Request`, `Reply`, ...).
    pub fn op_name(&self) -> Option<&'static str> {
        ARP_OPS
            .iter()
            .find(|&&(op, _)| op == self.op)
            .map(|&(_, name)| name)
    }
}

/// `ARP, Request who-has 10.0.0.2 tell 10.0.0.1`, `ARP, Reply 10.0.0.2
/// is-at aa:bb:cc:dd:ee:ff`: tcpdump's words, without its `, length N`.
impl fmt::Display for Arp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(name) = self.op_name() else {
            return write!(f, "ARP, Unknown ({})", self.op);
        };
        write!(f, "ARP, {name}")?;
        let Arp {
            sender_ip,
            sender_mac,
            target_ip,
            target_mac,
            ..
        } = self;
        match self.op {
            1 => {
                write!(f, " who-has {target_ip}")?;
                // A request that already names the MAC it asks for (a
                // unicast probe of some systems).
                if !target_mac.is_zero() {
                    write!(f, " ({target_mac})")?;
                }
                write!(f, " tell {sender_ip}")
            }
            2 => write!(f, " {sender_ip} is-at {sender_mac}"),
            3 | 8 => write!(f, " who-is {target_mac} tell {sender_mac}"),
            4 => write!(f, " {target_mac} at {target_ip}"),
            9 => write!(f, " {sender_mac} at {sender_ip}"),
            _ => Ok(()),
        }
    }
}

/// What a packet without an IP header is, from its ethertype.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonIp {
    /// An Ethernet/IPv4 ARP packet.
    Arp(Arp),
    /// An ARP packet of other hardware or protocol addresses: not parsed.
    OtherArp,
    /// Any other ethertype.
    Ethertype(u16),
}

impl NonIp {
    /// `None` for an IP packet and for a packet without any header.
    pub fn of(pkt: &PacketSummary) -> Option<NonIp> {
        match pkt.l3_proto {
            0 | abi::ETH_P_IP | abi::ETH_P_IPV6 => None,
            abi::ETH_P_ARP => Some(Arp::of(pkt).map_or(NonIp::OtherArp, NonIp::Arp)),
            ethertype => Some(NonIp::Ethertype(ethertype)),
        }
    }
}

/// ARP as [`Arp`] prints it; `ethertype LLDP (0x88cc)`, `ethertype 0x1234`.
impl fmt::Display for NonIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NonIp::Arp(arp) => arp.fmt(f),
            NonIp::OtherArp => f.write_str("ARP"),
            NonIp::Ethertype(ethertype) => match ethertype_name(*ethertype) {
                Some(name) => write!(f, "ethertype {name} ({ethertype:#06x})"),
                None => write!(f, "ethertype {ethertype:#06x}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
    const MAC_B: [u8; 6] = [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff];

    /// A packet as the BPF side fills it for an ARP header.
    fn arp(op: u16, sender: ([u8; 4], [u8; 6]), target: ([u8; 4], [u8; 6])) -> PacketSummary {
        let mut pkt = PacketSummary {
            l3_proto: abi::ETH_P_ARP,
            ip_id: op,
            ..PacketSummary::default()
        };
        for (addr, (ip, mac)) in [(&mut pkt.saddr, sender), (&mut pkt.daddr, target)] {
            addr[..4].copy_from_slice(&ip);
            addr[4..10].copy_from_slice(&mac);
        }
        pkt
    }

    fn text(pkt: &PacketSummary) -> String {
        NonIp::of(pkt).map(|n| n.to_string()).unwrap_or_default()
    }

    #[test]
    fn arp_like_tcpdump() {
        // `tcpdump -n` on a veth pair, without its ", length 28":
        //   ARP, Request who-has 10.201.0.2 tell 10.201.0.1, length 28
        //   ARP, Reply 10.201.0.2 is-at 6a:d1:dd:50:b1:29, length 28
        let request = arp(1, ([10, 201, 0, 1], MAC_A), ([10, 201, 0, 2], [0; 6]));
        assert_eq!(
            text(&request),
            "ARP, Request who-has 10.201.0.2 tell 10.201.0.1"
        );
        let mac = [0x6a, 0xd1, 0xdd, 0x50, 0xb1, 0x29];
        let reply = arp(2, ([10, 201, 0, 2], mac), ([10, 201, 0, 1], MAC_A));
        assert_eq!(
            text(&reply),
            "ARP, Reply 10.201.0.2 is-at 6a:d1:dd:50:b1:29"
        );
        let unicast = arp(1, ([10, 0, 0, 1], MAC_A), ([10, 0, 0, 2], MAC_B));
        assert_eq!(
            text(&unicast),
            "ARP, Request who-has 10.0.0.2 (aa:bb:cc:dd:ee:ff) tell 10.0.0.1"
        );
        let reverse = arp(3, ([0; 4], MAC_A), ([0; 4], MAC_B));
        assert_eq!(
            text(&reverse),
            "ARP, Reverse Request who-is aa:bb:cc:dd:ee:ff tell 02:00:00:00:00:0a"
        );
        let odd = arp(77, ([0; 4], MAC_A), ([0; 4], MAC_B));
        assert_eq!(text(&odd), "ARP, Unknown (77)");
    }

    #[test]
    fn arp_fields() {
        let reply = arp(2, ([10, 0, 0, 2], MAC_B), ([10, 0, 0, 1], MAC_A));
        let parsed = Arp::of(&reply).unwrap();
        assert_eq!(parsed.op_name(), Some("Reply"));
        assert_eq!(parsed.sender_ip, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(parsed.sender_mac.to_string(), "aa:bb:cc:dd:ee:ff");
        assert_eq!(parsed.target_ip, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(parsed.target_mac, Mac(MAC_A));
        assert_eq!(
            serde_json::to_string(&parsed.sender_mac).unwrap(),
            r#""aa:bb:cc:dd:ee:ff""#
        );
        // Operation 0: an ARP header of other address kinds, not parsed.
        let other = arp(0, ([0; 4], [0; 6]), ([0; 4], [0; 6]));
        assert_eq!(Arp::of(&other), None);
        assert_eq!(NonIp::of(&other), Some(NonIp::OtherArp));
        assert_eq!(text(&other), "ARP");
    }

    #[test]
    fn ethertypes_named() {
        let of = |ethertype| PacketSummary {
            l3_proto: ethertype,
            ..PacketSummary::default()
        };
        assert_eq!(text(&of(0x88cc)), "ethertype LLDP (0x88cc)");
        assert_eq!(text(&of(0x8100)), "ethertype 802.1Q (0x8100)");
        assert_eq!(text(&of(0x0004)), "ethertype 802.2 LLC (0x0004)");
        assert_eq!(text(&of(0x1234)), "ethertype 0x1234");
        // IP and "no header" are not for this describer.
        for l3 in [0, abi::ETH_P_IP, abi::ETH_P_IPV6] {
            assert_eq!(NonIp::of(&of(l3)), None);
        }
        assert!(ETHERTYPES.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
