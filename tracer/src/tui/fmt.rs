//! Text of the views: times, durations, endpoints, flags and what a probe's
//! value means. The printers of `formats` write into byte buffers for the
//! hot path of `report`; the views want short `String`s for visible rows only.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use formats::abi::{self, PacketSummary, RawEvent, tcp_flag};
use formats::l2::NonIp;
use formats::meta::{ClockBase, RetType, TraceMeta, ValueKind, tcp_state_name};
use formats::tdma::TdmaEvent;

/// `s` with control characters replaced by `?`: a crafted record must not
/// smuggle terminal escapes into the screen.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The printable text of a NUL-padded C string (`comm`, `ifname`).
pub fn c_str(bytes: &[u8]) -> String {
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    printable(&String::from_utf8_lossy(&bytes[..len]))
}

/// Three significant digits at most, as the tree printer shows durations:
/// `850ns`, `3.2us`, `12.1us`, `1.25ms`, `2.00s`.
pub fn duration(ns: u64) -> String {
    let mut out = Vec::new();
    formats::trees::text::push_duration(&mut out, ns);
    String::from_utf8_lossy(&out).into_owned()
}

/// A signed duration (TDMA times left can be negative).
pub fn signed_duration(ns: i64) -> String {
    let text = duration(ns.unsigned_abs());
    if ns < 0 { format!("-{text}") } else { text }
}

/// `HH:MM:SS.micro` of a monotonic timestamp, in the trace's local time.
pub fn time_micro(clock: &ClockBase, ts_ns: u64) -> String {
    let (secs, nanos) = formats::time::time_of_day(clock.local_ns(ts_ns));
    format!(
        "{:02}:{:02}:{:02}.{:06}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        nanos / 1000
    )
}

/// `HH:MM:SS.nano`: B/E timestamps of the tree, as the classic log has them.
pub fn time_nano(clock: &ClockBase, ts_ns: u64) -> String {
    let (secs, nanos) = formats::time::time_of_day(clock.local_ns(ts_ns));
    format!(
        "{:02}:{:02}:{:02}.{:09}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        nanos
    )
}

pub fn proto_name(proto: u8) -> Option<&'static str> {
    Some(match proto {
        abi::IPPROTO_TCP => "TCP",
        abi::IPPROTO_UDP => "UDP",
        abi::IPPROTO_ICMP => "ICMP",
        abi::IPPROTO_ICMPV6 => "ICMP6",
        abi::IPPROTO_SCTP => "SCTP",
        _ => return None,
    })
}

fn has_ports(proto: u8) -> bool {
    matches!(
        proto,
        abi::IPPROTO_TCP | abi::IPPROTO_UDP | abi::IPPROTO_SCTP
    )
}

/// `10.0.0.1:5000 > 10.0.0.2:80 TCP`, `[fe80::1]:5000 > …`, `ICMP type 8/0`;
/// a packet that is not IP as the printers describe it (`ARP, Request
/// who-has …`, `ethertype LLDP (0x88cc)`); `None` for one without headers.
pub fn five_tuple(pkt: &PacketSummary) -> Option<String> {
    if let Some(non_ip) = NonIp::of(pkt) {
        return Some(non_ip.to_string());
    }
    let ports = has_ports(pkt.l4_proto);
    let endpoint = |addr: &[u8; 16], port: u16| -> Option<String> {
        let ip = match pkt.l3_proto {
            abi::ETH_P_IP => Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]).to_string(),
            abi::ETH_P_IPV6 => {
                let ip = Ipv6Addr::from(*addr).to_string();
                if ports { format!("[{ip}]") } else { ip }
            }
            _ => return None,
        };
        Some(if ports { format!("{ip}:{port}") } else { ip })
    };
    let mut out = format!(
        "{} > {}",
        endpoint(&pkt.saddr, pkt.sport)?,
        endpoint(&pkt.daddr, pkt.dport)?
    );
    match proto_name(pkt.l4_proto) {
        Some(name) => {
            let _ = write!(out, " {name}");
        }
        None => {
            let _ = write!(out, " proto {}", pkt.l4_proto);
        }
    }
    if matches!(pkt.l4_proto, abi::IPPROTO_ICMP | abi::IPPROTO_ICMPV6) {
        let _ = write!(out, " {}/{}", pkt.icmp_type, pkt.icmp_code);
    }
    Some(out)
}

/// TCP flags as tcpdump prints them (`S.`, `P.`, `R`), empty for other protocols.
pub fn tcp_flags(pkt: &PacketSummary) -> String {
    if pkt.l4_proto != abi::IPPROTO_TCP || pkt.tcp_flags == 0 {
        return String::new();
    }
    const LETTERS: [(u8, char); 7] = [
        (tcp_flag::FIN, 'F'),
        (tcp_flag::SYN, 'S'),
        (tcp_flag::RST, 'R'),
        (tcp_flag::PSH, 'P'),
        (tcp_flag::URG, 'U'),
        (tcp_flag::ECE, 'E'),
        (tcp_flag::CWR, 'W'),
    ];
    let mut out: String = LETTERS
        .iter()
        .filter(|(bit, _)| pkt.tcp_flags & bit != 0)
        .map(|&(_, letter)| letter)
        .collect();
    if pkt.tcp_flags & tcp_flag::ACK != 0 {
        out.push('.');
    }
    format!("[{out}]")
}

/// A drop reason by name, its number when the kernel did not name it.
/// A probe's name as the trace's metadata has it.
pub fn probe_name(meta: &TraceMeta, probe: u32) -> String {
    meta.probe(probe)
        .map_or_else(|| format!("probe {probe}"), |p| printable(&p.name))
}

pub fn drop_reason(meta: &TraceMeta, reason: u32) -> String {
    meta.drop_reason_name(reason)
        .map_or_else(|| reason.to_string(), printable)
}

/// What a point's value means: `drop NO_SOCKET`, `qlen 1`,
/// `window 1 waited 4.20ms left 1.00ms`. Empty when it carries nothing.
pub fn point_value(meta: &TraceMeta, event: &RawEvent) -> String {
    let Some(probe) = meta.probe(event.probe_id) else {
        return String::new();
    };
    match probe.value {
        ValueKind::DropReason => format!("drop {}", drop_reason(meta, event.value as u32)),
        ValueKind::Qdisc => format!("qlen {}", event.value),
        ValueKind::XmitRc => format!("rc {}", event.value as i32),
        ValueKind::TcpState => format!(
            "{} → {}",
            tcp_state_name(event.aux).unwrap_or("?"),
            tcp_state_name(event.value).unwrap_or("?")
        ),
        ValueKind::Tdma => TdmaEvent::decode(event).map_or_else(String::new, tdma),
        ValueKind::Copied => format!("copied to user {} bytes", event.value),
        ValueKind::None | ValueKind::Return | ValueKind::NfHook => String::new(),
    }
}

/// sch_tdma's packet events in the few words the tree has room for.
fn tdma(event: TdmaEvent) -> String {
    match event {
        TdmaEvent::Dequeue {
            window,
            waited_ns,
            left_ns,
            ..
        } => format!(
            "window {window} waited {} left {}",
            duration(waited_ns),
            signed_duration(left_ns)
        ),
        other => {
            let mut out = String::new();
            other.describe(&mut out);
            out
        }
    }
}

/// `ret 0`, `ret -EINPROGRESS`, `ret NULL`, `ret true`, ... as the function's
/// return type says (`formats::ret`); empty for a `void` function.
pub fn ret(ty: RetType, value: u64) -> String {
    ty.decode(value)
        .map_or_else(String::new, |value| format!("ret {value}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_keep_three_digits() {
        assert_eq!(duration(0), "0ns");
        assert_eq!(duration(999), "999ns");
        assert_eq!(duration(3_249), "3.2us");
        assert_eq!(duration(264_000), "264us");
        assert_eq!(duration(1_250_000), "1.25ms");
        assert_eq!(duration(2_000_000_000), "2.00s");
        assert_eq!(signed_duration(-1_500), "-1.5us");
    }

    #[test]
    fn tuples_and_flags() {
        let mut pkt = PacketSummary {
            l3_proto: abi::ETH_P_IP,
            l4_proto: abi::IPPROTO_TCP,
            sport: 5000,
            dport: 80,
            tcp_flags: tcp_flag::SYN | tcp_flag::ACK,
            ..PacketSummary::default()
        };
        pkt.saddr[..4].copy_from_slice(&[10, 0, 0, 1]);
        pkt.daddr[..4].copy_from_slice(&[10, 0, 0, 2]);
        assert_eq!(
            five_tuple(&pkt).as_deref(),
            Some("10.0.0.1:5000 > 10.0.0.2:80 TCP")
        );
        assert_eq!(tcp_flags(&pkt), "[S.]");
        pkt.l3_proto = 0;
        assert_eq!(five_tuple(&pkt), None);
        pkt.l3_proto = 0x88cc;
        assert_eq!(five_tuple(&pkt).as_deref(), Some("ethertype LLDP (0x88cc)"));
        assert_eq!(ret(RetType::Unknown, -115i64 as u64), "ret -115");
        assert_eq!(
            ret(RetType::Unknown, 0xffff_8880_0000_0000),
            "ret 0xffff888000000000"
        );
        let int = RetType::Int {
            size: 4,
            signed: true,
        };
        assert_eq!(ret(int, 0xffff_ff8d), "ret -EINPROGRESS");
        assert_eq!(ret(RetType::Pointer, 0), "ret NULL");
        assert_eq!(ret(RetType::Bool, 1), "ret true");
        assert_eq!(ret(RetType::Void, 0x6_0800_1234_5678), "");
    }
}
