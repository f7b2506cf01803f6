//! sch_tdma's own events (tracepoints of the `tdma-qdisc` module): decoded
//! from [`RawEvent`] (layout at [`crate::abi::tdma`]), described in one line,
//! and grouped by transmit window for `--tdma` ([`view`]).

pub mod view;

use std::fmt::Write as _;

use serde::Serialize;

use crate::abi::{RawEvent, probe_id, tdma};

/// One sch_tdma tracepoint, with its arguments. Times named `*_clock_ns`
/// are on the qdisc's schedule clock (CLOCK_TAI by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TdmaEvent {
    Enqueue {
        qlen: u32,
        backlog_bytes: u32,
    },
    Dequeue {
        window: u32,
        frame: i64,
        /// How long the packet waited in the qdisc.
        waited_ns: u64,
        /// Time left in the window when it was dequeued (guard included).
        left_ns: i64,
        qlen: u32,
    },
    Drop {
        reason: DropReason,
        qlen: u32,
    },
    WindowOpen {
        window: u32,
        frame: i64,
        start_clock_ns: i64,
        end_clock_ns: i64,
        now_clock_ns: i64,
        qlen: u32,
    },
    WindowClose {
        window: u32,
        frame: i64,
        end_clock_ns: i64,
        now_clock_ns: i64,
        packets: u32,
        bytes: u64,
    },
    Change {
        old_frame_ns: u64,
        old_windows: u32,
        new_frame_ns: u64,
        new_windows: u32,
        effective_clock_ns: i64,
        now_clock_ns: i64,
    },
}

/// `enum tdma_drop_reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DropReason {
    /// Queue full at enqueue.
    Limit,
    /// Cannot fit in any window at the configured rate.
    TooBig,
    /// Queue purged (reset, destroy).
    Purge,
    #[serde(untagged)]
    Other(u64),
}

impl DropReason {
    fn from_raw(value: u64) -> Self {
        match value {
            tdma::DROP_LIMIT => DropReason::Limit,
            tdma::DROP_TOO_BIG => DropReason::TooBig,
            tdma::DROP_PURGE => DropReason::Purge,
            other => DropReason::Other(other),
        }
    }

    fn name(self) -> String {
        match self {
            DropReason::Limit => "LIMIT".into(),
            DropReason::TooBig => "TOO_BIG".into(),
            DropReason::Purge => "PURGE".into(),
            DropReason::Other(n) => n.to_string(),
        }
    }
}

impl TdmaEvent {
    /// The sch_tdma event `ev` carries, `None` for any other probe.
    pub fn decode(ev: &RawEvent) -> Option<TdmaEvent> {
        Some(match ev.probe_id {
            probe_id::TDMA_ENQUEUE => TdmaEvent::Enqueue {
                qlen: ev.value as u32,
                backlog_bytes: ev.aux as u32,
            },
            probe_id::TDMA_DEQUEUE => TdmaEvent::Dequeue {
                window: ev.extra,
                frame: ev.args[0] as i64,
                waited_ns: ev.value,
                left_ns: ev.aux as i64,
                qlen: ev.args[1] as u32,
            },
            probe_id::TDMA_DROP => TdmaEvent::Drop {
                reason: DropReason::from_raw(ev.value),
                qlen: ev.aux as u32,
            },
            probe_id::TDMA_WINDOW_OPEN => TdmaEvent::WindowOpen {
                window: ev.extra,
                frame: ev.value as i64,
                start_clock_ns: ev.aux as i64,
                end_clock_ns: ev.args[0] as i64,
                now_clock_ns: ev.args[1] as i64,
                qlen: ev.args[2] as u32,
            },
            probe_id::TDMA_WINDOW_CLOSE => TdmaEvent::WindowClose {
                window: ev.extra,
                frame: ev.value as i64,
                end_clock_ns: ev.aux as i64,
                now_clock_ns: ev.args[0] as i64,
                packets: ev.args[1] as u32,
                bytes: ev.args[2],
            },
            probe_id::TDMA_CHANGE => TdmaEvent::Change {
                new_frame_ns: ev.value,
                old_frame_ns: ev.aux,
                new_windows: ev.extra >> 16,
                old_windows: ev.extra & 0xffff,
                effective_clock_ns: ev.args[0] as i64,
                now_clock_ns: ev.args[1] as i64,
            },
            _ => return None,
        })
    }

    /// Whether this is a packet's event (it has an skb).
    pub fn is_packet_event(&self) -> bool {
        matches!(
            self,
            TdmaEvent::Enqueue { .. } | TdmaEvent::Dequeue { .. } | TdmaEvent::Drop { .. }
        )
    }

    /// One-line description, as text output shows it after the probe name.
    pub fn describe(&self, out: &mut String) {
        match *self {
            TdmaEvent::Enqueue {
                qlen,
                backlog_bytes,
            } => {
                let _ = write!(out, "qlen {qlen} backlog {backlog_bytes}B");
            }
            TdmaEvent::Dequeue {
                window,
                frame,
                waited_ns,
                left_ns,
                qlen,
            } => {
                let _ = write!(out, "window {window} frame {frame} waited ");
                push_duration(out, waited_ns as i64);
                out.push_str(" left ");
                push_duration(out, left_ns);
                let _ = write!(out, " qlen {qlen}");
            }
            TdmaEvent::Drop { reason, qlen } => {
                let _ = write!(out, "drop {} qlen {qlen}", reason.name());
            }
            TdmaEvent::WindowOpen {
                window,
                frame,
                start_clock_ns,
                end_clock_ns,
                now_clock_ns,
                qlen,
            } => {
                let _ = write!(out, "window {window} frame {frame} open for ");
                push_duration(out, end_clock_ns - start_clock_ns);
                out.push_str(", serviced ");
                push_duration(out, now_clock_ns - start_clock_ns);
                let _ = write!(out, " after opening, qlen {qlen}");
            }
            TdmaEvent::WindowClose {
                window,
                frame,
                end_clock_ns,
                now_clock_ns,
                packets,
                bytes,
            } => {
                let _ = write!(
                    out,
                    "window {window} frame {frame} closed: {packets} pkts {bytes}B (seen "
                );
                push_duration(out, now_clock_ns - end_clock_ns);
                out.push_str(" after its end)");
            }
            TdmaEvent::Change {
                old_frame_ns,
                old_windows,
                new_frame_ns,
                new_windows,
                effective_clock_ns,
                now_clock_ns,
            } => {
                out.push_str("schedule ");
                if old_frame_ns == 0 {
                    out.push_str("set: frame ");
                } else {
                    out.push_str("change: frame ");
                    push_duration(out, old_frame_ns as i64);
                    let _ = write!(out, " × {old_windows} windows -> ");
                }
                push_duration(out, new_frame_ns as i64);
                let _ = write!(out, " × {new_windows} windows, effective in ");
                push_duration(out, effective_clock_ns - now_clock_ns);
            }
        }
    }
}

/// Appends a signed duration with a unit that keeps 3–4 significant digits:
/// `850ns`, `12.3us`, `4.210ms`, `1.500s`.
pub fn push_duration(out: &mut String, ns: i64) {
    let sign = if ns < 0 { "-" } else { "" };
    let abs = ns.unsigned_abs();
    let _ = if abs < 1_000 {
        write!(out, "{sign}{abs}ns")
    } else if abs < 1_000_000 {
        write!(out, "{sign}{:.1}us", abs as f64 / 1e3)
    } else if abs < 1_000_000_000 {
        write!(out, "{sign}{:.3}ms", abs as f64 / 1e6)
    } else {
        write!(out, "{sign}{:.3}s", abs as f64 / 1e9)
    };
}

#[cfg(test)]
mod tests;
