//! One qdisc of a RTM_GETQDISC dump, decoded.

use netlink_packet_core::Nla;
use netlink_packet_route::tc::{TcAttribute, TcMessage, TcOption, TcStats2, TcXstats};

use super::options::{TdmaConfig, decode_options, decode_xstats};
use super::{KIND, NetlinkError};
use crate::uapi::TcTdmaXstats;

/// The generic counters every qdisc has (TCA_STATS_BASIC + TCA_STATS_QUEUE).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct QdiscStats {
    pub bytes: u64,
    pub packets: u64,
    pub drops: u32,
    pub overlimits: u32,
    pub requeues: u32,
    pub qlen: u32,
    pub backlog: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QdiscInfo {
    pub ifindex: u32,
    pub handle: u32,
    pub parent: u32,
    pub kind: String,
    /// Decoded TCA_OPTIONS; Some exactly when `kind` is "tdma".
    pub tdma: Option<TdmaConfig>,
    pub stats: QdiscStats,
    /// sch_tdma's TCA_STATS_APP; None for other kinds.
    pub xstats: Option<TcTdmaXstats>,
}

impl QdiscInfo {
    pub(super) fn from_message(message: TcMessage) -> Result<QdiscInfo, NetlinkError> {
        let mut info = QdiscInfo {
            ifindex: message.header.index as u32,
            handle: message.header.handle.into(),
            parent: message.header.parent.into(),
            kind: String::new(),
            tdma: None,
            stats: QdiscStats::default(),
            xstats: None,
        };
        // TCA_KIND comes first in every dump, so `kind` is known below.
        let mut options = None;
        for attribute in message.attributes {
            match attribute {
                TcAttribute::Kind(kind) => info.kind = kind,
                TcAttribute::Options(opts) => options = Some(opts),
                TcAttribute::Stats2(stats) => info.read_stats2(stats),
                _ => {}
            }
        }
        if info.kind == KIND {
            let payload = options.as_deref().map(raw_options).unwrap_or_default();
            info.tdma = Some(decode_options(&payload)?);
        } else {
            // Another kind's TCA_STATS_APP has another layout.
            info.xstats = None;
        }
        Ok(info)
    }

    fn read_stats2(&mut self, stats: Vec<TcStats2>) {
        for s in stats {
            match s {
                TcStats2::Basic(b) => {
                    self.stats.bytes = b.bytes;
                    self.stats.packets = b.packets.into();
                }
                TcStats2::Queue(q) => {
                    self.stats.qlen = q.qlen;
                    self.stats.backlog = q.backlog;
                    self.stats.drops = q.drops;
                    self.stats.requeues = q.requeues;
                    self.stats.overlimits = q.overlimits;
                }
                TcStats2::App(TcXstats::Other(bytes)) => {
                    self.xstats = Some(decode_xstats(&bytes));
                }
                _ => {}
            }
        }
    }
}

/// netlink-packet-route does not know "tdma", so it hands the whole
/// TCA_OPTIONS payload over as one opaque attribute; take its bytes back.
fn raw_options(options: &[TcOption]) -> Vec<u8> {
    let mut payload = Vec::new();
    for option in options {
        let start = payload.len();
        payload.resize(start + option.value_len(), 0);
        option.emit_value(&mut payload[start..]);
    }
    payload
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::encode_options;
    use crate::schedule::{Schedule, Window};
    use netlink_packet_core::{Emitable, NLA_F_NESTED, Parseable};

    /// A dump reply as the kernel would build it, parsed by
    /// netlink-packet-route and decoded by us.
    #[test]
    fn dump_reply_decodes() {
        let schedule = Schedule::new(
            10_000_000,
            vec![Window {
                offset_ns: 1_000_000,
                length_ns: 2_000_000,
            }],
        );
        let options = encode_options(&schedule, Some(123));
        let mut xstats = vec![0u8; size_of::<TcTdmaXstats>()];
        xstats[0] = 9; // frames
        xstats[64] = 1; // nr_windows
        xstats[72] = 4; // window[0].packets
        let mut basic = vec![0u8; 16];
        basic[0] = 100; // bytes
        basic[8] = 2; // packets
        let mut queue = vec![0u8; 20];
        queue[0] = 3; // qlen
        queue[8] = 1; // drops
        let nla = |kind: u16, value: &[u8]| {
            let nla = netlink_packet_core::DefaultNla::new(kind, value.to_vec());
            let mut b = vec![0; nla.buffer_len()];
            nla.emit(&mut b);
            b
        };
        let stats2 = [nla(1, &basic), nla(3, &queue), nla(4, &xstats)].concat();
        let mut bytes = vec![0u8; 20];
        bytes[4] = 5; // ifindex
        bytes[8..12].copy_from_slice(&0x8001_0000u32.to_ne_bytes()); // handle
        bytes[12..16].copy_from_slice(&u32::MAX.to_ne_bytes()); // parent root
        bytes.extend(nla(1, b"tdma\0"));
        bytes.extend(nla(2 | NLA_F_NESTED, &options));
        bytes.extend(nla(7 | NLA_F_NESTED, &stats2));
        let message = TcMessage::parse(bytes.as_slice()).unwrap();
        let info = QdiscInfo::from_message(message).unwrap();
        assert_eq!(info.ifindex, 5);
        assert_eq!(info.handle, 0x8001_0000);
        assert_eq!(info.parent, u32::MAX);
        assert_eq!(info.kind, "tdma");
        let tdma = info.tdma.unwrap();
        assert_eq!(tdma.schedule, schedule);
        assert_eq!(tdma.change_at, Some(123));
        assert_eq!(info.stats.bytes, 100);
        assert_eq!(info.stats.packets, 2);
        assert_eq!(info.stats.qlen, 3);
        assert_eq!(info.stats.drops, 1);
        let x = info.xstats.unwrap();
        assert_eq!(x.frames, 9);
        assert_eq!(x.windows()[0].packets, 4);
    }
}
