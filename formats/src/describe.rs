//! Decoding shared by the text and JSON printers: names, flags, addresses.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::abi::{self, PacketSummary, tcp_flag};
use crate::meta::{DropReasonTable, ProbeDesc, ProbeTable, TraceMeta};
use crate::stack::StackFrame;
use crate::time::ClockBase;

/// What a printer keeps from the metadata, with every name made safe to
/// print: a crafted record must not smuggle terminal escapes into output.
pub(crate) struct Names {
    pub probes: ProbeTable,
    pub drop_reasons: DropReasonTable,
    pub clock: ClockBase,
    /// Code addresses events carry (drop locations), named as the tracing
    /// host's kallsyms named them: `__udp4_lib_rcv+0x5d0`.
    pub locations: HashMap<u64, String>,
}

impl Names {
    pub fn new(meta: &TraceMeta) -> Self {
        let probes = meta
            .probes
            .as_slice()
            .iter()
            .map(|p| ProbeDesc {
                name: printable(&p.name),
                ..p.clone()
            })
            .collect::<Vec<_>>();
        let drop_reasons = meta
            .drop_reasons
            .as_slice()
            .iter()
            .map(|(value, name)| (*value, printable(name)))
            .collect::<Vec<_>>();
        Names {
            probes: probes.into(),
            drop_reasons: drop_reasons.into(),
            clock: meta.clock,
            locations: HashMap::new(),
        }
    }
}

/// Learns the name of a code address (see [`crate::sink::Sink::symbol`]),
/// for a printer whose names exist once `begin` ran.
pub(crate) fn learn(names: &mut Option<Names>, frame: &StackFrame) {
    if let (Some(names), Some(_)) = (names, &frame.symbol) {
        names.locations.insert(frame.addr, frame.describe());
    }
}

/// `s` with control characters replaced by `?`.
pub(crate) fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The bytes of a NUL-padded C string (`comm`, `ifname`) up to the first NUL.
pub(crate) fn c_str(bytes: &[u8]) -> &[u8] {
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..len]
}

/// Upper- and lower-case names of an IP protocol number.
pub(crate) fn l4_proto_names(proto: u8) -> Option<(&'static str, &'static str)> {
    Some(match proto {
        abi::IPPROTO_TCP => ("TCP", "tcp"),
        abi::IPPROTO_UDP => ("UDP", "udp"),
        abi::IPPROTO_ICMP => ("ICMP", "icmp"),
        abi::IPPROTO_ICMPV6 => ("ICMP6", "icmp6"),
        abi::IPPROTO_SCTP => ("SCTP", "sctp"),
        _ => return None,
    })
}

pub(crate) fn has_ports(proto: u8) -> bool {
    matches!(
        proto,
        abi::IPPROTO_TCP | abi::IPPROTO_UDP | abi::IPPROTO_SCTP
    )
}

pub(crate) fn is_icmp(proto: u8) -> bool {
    matches!(proto, abi::IPPROTO_ICMP | abi::IPPROTO_ICMPV6)
}

/// IP version and addresses of a packet with an IP header.
pub(crate) fn ip_addrs(pkt: &PacketSummary) -> Option<(u8, IpAddr, IpAddr)> {
    match pkt.l3_proto {
        abi::ETH_P_IP => {
            let v4 = |a: &[u8; 16]| IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]));
            Some((4, v4(&pkt.saddr), v4(&pkt.daddr)))
        }
        abi::ETH_P_IPV6 => Some((
            6,
            IpAddr::V6(Ipv6Addr::from(pkt.saddr)),
            IpAddr::V6(Ipv6Addr::from(pkt.daddr)),
        )),
        _ => None,
    }
}

/// TCP flags as tcpdump prints them (`S.`, `P.`, `R`, `none`), on the stack.
pub(crate) struct TcpFlagLetters {
    letters: [u8; 8],
    len: usize,
}

impl TcpFlagLetters {
    pub fn new(flags: u8) -> Self {
        // tcpdump's order: FIN SYN RST PSH ACK URG ECE CWR.
        const LETTERS: [(u8, u8); 8] = [
            (tcp_flag::FIN, b'F'),
            (tcp_flag::SYN, b'S'),
            (tcp_flag::RST, b'R'),
            (tcp_flag::PSH, b'P'),
            (tcp_flag::ACK, b'.'),
            (tcp_flag::URG, b'U'),
            (tcp_flag::ECE, b'E'),
            (tcp_flag::CWR, b'W'),
        ];
        let mut out = TcpFlagLetters {
            letters: [0; 8],
            len: 0,
        };
        for (bit, letter) in LETTERS {
            if flags & bit != 0 {
                out.letters[out.len] = letter;
                out.len += 1;
            }
        }
        out
    }

    pub fn as_str(&self) -> &str {
        match std::str::from_utf8(&self.letters[..self.len]) {
            // The letters are ASCII, so `Err` cannot happen; "none" mirrors tcpdump.
            Ok("") | Err(_) => "none",
            Ok(letters) => letters,
        }
    }
}

/// Appends `value` in decimal.
pub(crate) fn push_uint(out: &mut Vec<u8>, value: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Appends `value` in lowercase hex, without leading zeros.
pub(crate) fn push_hex(out: &mut Vec<u8>, value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digits = (16 - value.leading_zeros() as usize / 4).max(1);
    for i in (0..digits).rev() {
        out.push(DIGITS[(value >> (i * 4)) as usize & 0xf]);
    }
}

/// A traffic control handle's major and minor numbers, or `None` for
/// `TC_H_ROOT`, which `tc` prints as `root`.
pub(crate) fn tc_handle_parts(handle: u32) -> Option<(u16, u16)> {
    const TC_H_ROOT: u32 = u32::MAX;
    (handle != TC_H_ROOT).then_some(((handle >> 16) as u16, handle as u16))
}

/// Appends a traffic control handle as `tc` prints it: `8001:0`, `1:10`, `root`.
pub(crate) fn push_tc_handle(out: &mut Vec<u8>, handle: u32) {
    match tc_handle_parts(handle) {
        Some((major, minor)) => {
            push_hex(out, u64::from(major));
            out.push(b':');
            push_hex(out, u64::from(minor));
        }
        None => out.extend_from_slice(b"root"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_flags_like_tcpdump() {
        let letters = |f| TcpFlagLetters::new(f).as_str().to_owned();
        assert_eq!(letters(tcp_flag::SYN), "S");
        assert_eq!(letters(tcp_flag::SYN | tcp_flag::ACK), "S.");
        assert_eq!(letters(tcp_flag::PSH | tcp_flag::ACK), "P.");
        assert_eq!(letters(tcp_flag::FIN | tcp_flag::ACK), "F.");
        assert_eq!(letters(tcp_flag::RST), "R");
        assert_eq!(letters(tcp_flag::ACK), ".");
        assert_eq!(letters(0), "none");
        assert_eq!(letters(0xff), "FSRP.UEW");
    }

    #[test]
    fn hex_and_handles() {
        let text = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut out = Vec::new();
            f(&mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(text(&|o| push_hex(o, 0)), "0");
        assert_eq!(text(&|o| push_hex(o, 0xab)), "ab");
        assert_eq!(text(&|o| push_hex(o, 0x1000)), "1000");
        assert_eq!(text(&|o| push_hex(o, u64::MAX)), "ffffffffffffffff");
        assert_eq!(text(&|o| push_tc_handle(o, 0x8001_0000)), "8001:0");
        assert_eq!(text(&|o| push_tc_handle(o, 0x0001_0010)), "1:10");
        assert_eq!(text(&|o| push_tc_handle(o, u32::MAX)), "root");
    }

    #[test]
    fn printable_replaces_controls() {
        assert_eq!(printable("ok\x1b[31m\n"), "ok?[31m?");
        assert_eq!(printable("héllo"), "héllo");
        assert_eq!(c_str(b"eth0\0\0junk"), b"eth0");
        assert_eq!(c_str(b"0123456789abcdef"), b"0123456789abcdef");
    }
}
