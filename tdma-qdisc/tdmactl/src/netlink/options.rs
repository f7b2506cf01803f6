//! sch_tdma's TCA_OPTIONS payload and TCA_STATS_APP xstats, both ways.
//!
//! netlink-packet-route has no typed model for out-of-tree qdiscs, so the
//! nested attributes are built here with netlink-packet-core's `Nla` trait
//! and read back with its `NlasIterator`.

use std::mem::offset_of;

use netlink_packet_core::{
    Emitable, NLA_F_NESTED, Nla, NlaBuffer, NlasIterator, parse_i32, parse_i64, parse_u32,
    parse_u64,
};

use super::NetlinkError;
use crate::schedule::{Clock, Schedule, Window};
use crate::uapi::*;

/// What a tdma qdisc reports in its dump: the schedule and, when a change is
/// pending, the clock time it takes effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TdmaConfig {
    pub schedule: Schedule,
    pub change_at: Option<u64>,
}

/// One attribute of our tree: a scalar in host byte order, or a nest.
enum Attr {
    Scalar(u16, Vec<u8>),
    Nest(u16, Vec<Attr>),
}

impl Nla for Attr {
    fn value_len(&self) -> usize {
        match self {
            Attr::Scalar(_, bytes) => bytes.len(),
            Attr::Nest(_, children) => children.as_slice().buffer_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            Attr::Scalar(kind, _) => *kind,
            // The kernel's nla_parse_nested() refuses nests without the flag.
            Attr::Nest(kind, _) => kind | NLA_F_NESTED,
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            Attr::Scalar(_, bytes) => buffer.copy_from_slice(bytes),
            Attr::Nest(_, children) => children.as_slice().emit(buffer),
        }
    }
}

/// The TCA_OPTIONS payload (the attributes inside it, not its own header).
/// Every field is sent, defaults included, so that a change replaces the
/// whole schedule rather than merging with the running one.
pub fn encode_options(schedule: &Schedule, change_at: Option<u64>) -> Vec<u8> {
    let u64_attr = |kind, v: u64| Attr::Scalar(kind, v.to_ne_bytes().to_vec());
    let windows = schedule
        .windows
        .iter()
        .map(|w| {
            Attr::Nest(
                TCA_TDMA_WINDOW_ENTRY,
                vec![
                    u64_attr(TCA_TDMA_WIN_OFFSET_NS, w.offset_ns),
                    u64_attr(TCA_TDMA_WIN_LENGTH_NS, w.length_ns),
                ],
            )
        })
        .collect();
    let mut attrs = vec![
        u64_attr(TCA_TDMA_FRAME_NS, schedule.frame_ns),
        Attr::Scalar(
            TCA_TDMA_BASE_TIME,
            schedule.base_time_ns.to_ne_bytes().to_vec(),
        ),
        Attr::Scalar(
            TCA_TDMA_CLOCKID,
            schedule.clock.clockid().to_ne_bytes().to_vec(),
        ),
        u64_attr(TCA_TDMA_GUARD_NS, schedule.guard_ns),
        Attr::Scalar(TCA_TDMA_LIMIT, schedule.limit.to_ne_bytes().to_vec()),
        u64_attr(TCA_TDMA_RATE, schedule.rate_bytes_per_sec),
        Attr::Nest(TCA_TDMA_WINDOWS, windows),
    ];
    if let Some(at) = change_at {
        attrs.push(u64_attr(TCA_TDMA_CHANGE_AT, at));
    }
    let mut buf = vec![0; attrs.as_slice().buffer_len()];
    attrs.as_slice().emit(&mut buf);
    buf
}

/// Reads a TCA_OPTIONS payload back. Attributes this version does not know
/// (and the PAD attributes the kernel adds to align u64s) are skipped, so a
/// newer module still decodes.
pub fn decode_options(payload: &[u8]) -> Result<TdmaConfig, NetlinkError> {
    let mut schedule = Schedule::new(0, Vec::new());
    let mut change_at = None;
    for nla in NlasIterator::new(payload) {
        let nla = nla.map_err(decode_error("TCA_OPTIONS"))?;
        let v = nla.value();
        match nla.kind() {
            TCA_TDMA_FRAME_NS => schedule.frame_ns = parse_u64(v).map_err(decode_error("frame"))?,
            TCA_TDMA_BASE_TIME => {
                schedule.base_time_ns = parse_i64(v).map_err(decode_error("base time"))?
            }
            TCA_TDMA_CLOCKID => {
                let id = parse_i32(v).map_err(decode_error("clockid"))?;
                schedule.clock = Clock::from_clockid(id)
                    .ok_or_else(|| NetlinkError::Decode(format!("unknown clockid {id}")))?;
            }
            TCA_TDMA_GUARD_NS => schedule.guard_ns = parse_u64(v).map_err(decode_error("guard"))?,
            TCA_TDMA_LIMIT => schedule.limit = parse_u32(v).map_err(decode_error("limit"))?,
            TCA_TDMA_RATE => {
                schedule.rate_bytes_per_sec = parse_u64(v).map_err(decode_error("rate"))?
            }
            TCA_TDMA_WINDOWS => schedule.windows = decode_windows(v)?,
            TCA_TDMA_CHANGE_AT => {
                change_at = Some(parse_u64(v).map_err(decode_error("change time"))?)
            }
            _ => {}
        }
    }
    Ok(TdmaConfig {
        schedule,
        change_at,
    })
}

fn decode_windows(payload: &[u8]) -> Result<Vec<Window>, NetlinkError> {
    let mut windows = Vec::new();
    for entry in NlasIterator::new(payload) {
        let entry = entry.map_err(decode_error("TCA_TDMA_WINDOWS"))?;
        if entry.kind() != TCA_TDMA_WINDOW_ENTRY {
            continue;
        }
        let mut window = Window {
            offset_ns: 0,
            length_ns: 0,
        };
        for nla in NlasIterator::new(entry.value()) {
            let nla: NlaBuffer<&[u8]> = nla.map_err(decode_error("TCA_TDMA_WINDOW_ENTRY"))?;
            match nla.kind() {
                TCA_TDMA_WIN_OFFSET_NS => {
                    window.offset_ns = parse_u64(nla.value()).map_err(decode_error("offset"))?
                }
                TCA_TDMA_WIN_LENGTH_NS => {
                    window.length_ns = parse_u64(nla.value()).map_err(decode_error("length"))?
                }
                _ => {}
            }
        }
        windows.push(window);
    }
    Ok(windows)
}

/// Decodes `struct tc_tdma_xstats`. A shorter payload (an older module with
/// fewer fields) leaves the rest zero; a longer one is cut to what we know.
pub fn decode_xstats(payload: &[u8]) -> TcTdmaXstats {
    let mut bytes = [0u8; size_of::<TcTdmaXstats>()];
    let n = payload.len().min(bytes.len());
    bytes[..n].copy_from_slice(&payload[..n]);
    let u64_at = |off: usize| u64::from_ne_bytes(bytes[off..off + 8].try_into().unwrap());
    let u32_at = |off: usize| u32::from_ne_bytes(bytes[off..off + 4].try_into().unwrap());
    let window_base = offset_of!(TcTdmaXstats, window);
    let window = std::array::from_fn(|i| {
        let off = window_base + i * size_of::<TcTdmaWindowStats>();
        TcTdmaWindowStats {
            packets: u64_at(off + offset_of!(TcTdmaWindowStats, packets)),
            bytes: u64_at(off + offset_of!(TcTdmaWindowStats, bytes)),
        }
    });
    TcTdmaXstats {
        frames: u64_at(offset_of!(TcTdmaXstats, frames)),
        windows_opened: u64_at(offset_of!(TcTdmaXstats, windows_opened)),
        deferred: u64_at(offset_of!(TcTdmaXstats, deferred)),
        dropped_limit: u64_at(offset_of!(TcTdmaXstats, dropped_limit)),
        dropped_too_big: u64_at(offset_of!(TcTdmaXstats, dropped_too_big)),
        late: u64_at(offset_of!(TcTdmaXstats, late)),
        overrun: u64_at(offset_of!(TcTdmaXstats, overrun)),
        changes: u64_at(offset_of!(TcTdmaXstats, changes)),
        nr_windows: u32_at(offset_of!(TcTdmaXstats, nr_windows)),
        pad: u32_at(offset_of!(TcTdmaXstats, pad)),
        window,
    }
}

fn decode_error<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> NetlinkError {
    move |e| NetlinkError::Decode(format!("sch_tdma {what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn schedule() -> Schedule {
        let mut s = Schedule::new(
            10 * MS,
            vec![
                Window {
                    offset_ns: 0,
                    length_ns: 3 * MS,
                },
                Window {
                    offset_ns: 5 * MS,
                    length_ns: 2 * MS,
                },
            ],
        );
        s.base_time_ns = -42;
        s.clock = Clock::Monotonic;
        s.guard_ns = 50_000;
        s.limit = 77;
        s.rate_bytes_per_sec = 12_500_000;
        s
    }

    #[test]
    fn options_round_trip() {
        for change_at in [None, Some(1_700_000_000_123_456_789)] {
            let bytes = encode_options(&schedule(), change_at);
            let config = decode_options(&bytes).unwrap();
            assert_eq!(config.schedule, schedule());
            assert_eq!(config.change_at, change_at);
        }
    }

    /// Little-endian host assumed, as on every machine this project runs on.
    #[test]
    fn options_byte_layout() {
        let s = Schedule::new(
            10 * MS,
            vec![Window {
                offset_ns: 0,
                length_ns: 3 * MS,
            }],
        );
        #[rustfmt::skip]
        let expected: Vec<u8> = [
            // len 12, FRAME_NS (1), 10_000_000
            &[12, 0, 1, 0][..], &[0x80, 0x96, 0x98, 0, 0, 0, 0, 0],
            // len 12, BASE_TIME (2), 0
            &[12, 0, 2, 0], &[0; 8],
            // len 8, CLOCKID (3), CLOCK_TAI = 11
            &[8, 0, 3, 0], &[11, 0, 0, 0],
            // len 12, GUARD_NS (4), 0
            &[12, 0, 4, 0], &[0; 8],
            // len 8, LIMIT (5), 1000
            &[8, 0, 5, 0], &[0xe8, 0x03, 0, 0],
            // len 12, RATE (6), 0
            &[12, 0, 6, 0], &[0; 8],
            // len 32, WINDOWS (7) | NLA_F_NESTED
            &[32, 0, 7, 0x80],
            //   len 28, WINDOW_ENTRY (1) | NLA_F_NESTED
            &[28, 0, 1, 0x80],
            //     len 12, WIN_OFFSET_NS (1), 0
            &[12, 0, 1, 0], &[0; 8],
            //     len 12, WIN_LENGTH_NS (2), 3_000_000
            &[12, 0, 2, 0], &[0xc0, 0xc6, 0x2d, 0, 0, 0, 0, 0],
        ]
        .concat();
        assert_eq!(encode_options(&s, None), expected);
    }

    #[test]
    fn decode_skips_pad_and_unknown_attributes() {
        let mut bytes = encode_options(&schedule(), None);
        // A PAD (kernel alignment filler) and an attribute from the future.
        bytes.extend_from_slice(&[4, 0, TCA_TDMA_PAD as u8, 0]);
        bytes.extend_from_slice(&[8, 0, 200, 0, 1, 2, 3, 4]);
        assert_eq!(decode_options(&bytes).unwrap().schedule, schedule());
    }

    #[test]
    fn decode_refuses_truncated_values() {
        let bytes = [8, 0, TCA_TDMA_FRAME_NS as u8, 0, 1, 2, 3, 4];
        let err = decode_options(&bytes).unwrap_err().to_string();
        assert!(err.contains("sch_tdma frame"), "{err}");
    }

    /// The bytes of a `TcTdmaXstats` as the kernel lays them out.
    fn xstats_bytes(x: &TcTdmaXstats) -> Vec<u8> {
        let mut out = Vec::new();
        for v in [
            x.frames,
            x.windows_opened,
            x.deferred,
            x.dropped_limit,
            x.dropped_too_big,
            x.late,
            x.overrun,
            x.changes,
        ] {
            out.extend_from_slice(&v.to_ne_bytes());
        }
        out.extend_from_slice(&x.nr_windows.to_ne_bytes());
        out.extend_from_slice(&x.pad.to_ne_bytes());
        for w in &x.window {
            out.extend_from_slice(&w.packets.to_ne_bytes());
            out.extend_from_slice(&w.bytes.to_ne_bytes());
        }
        out
    }

    #[test]
    fn xstats_round_trip() {
        let mut x = TcTdmaXstats {
            frames: 1,
            windows_opened: 2,
            deferred: 3,
            dropped_limit: 4,
            dropped_too_big: 5,
            late: 6,
            overrun: 7,
            changes: 8,
            nr_windows: 2,
            ..Default::default()
        };
        x.window[0] = TcTdmaWindowStats {
            packets: 10,
            bytes: 15_000,
        };
        x.window[1] = TcTdmaWindowStats {
            packets: 20,
            bytes: 30_000,
        };
        x.window[15].bytes = 99;
        let bytes = xstats_bytes(&x);
        assert_eq!(bytes.len(), size_of::<TcTdmaXstats>());
        let back = decode_xstats(&bytes);
        assert_eq!(back, x);
        assert_eq!(back.windows().len(), 2);
        assert_eq!(back.windows()[1].bytes, 30_000);
        // An older, shorter layout: the missing tail reads as zero.
        assert_eq!(decode_xstats(&bytes[..16]).windows_opened, 2);
        assert_eq!(decode_xstats(&bytes[..16]).changes, 0);
    }
}
