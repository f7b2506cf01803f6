//! Printers of stitched call trees ([`TreeSink`](crate::stitch::TreeSink)s):
//!
//! * [`text`]: the call-tree view for people (`→ ← ↔ •`).
//! * [`classic`]: the numbered, indented log of the 2005 NJIT study of the
//!   Linux TCP/IP stack (`-o classic`).
//! * [`json`]: one JSON object per pass or packet, with nested children.
//! * [`flat`]: the events of kept trees, back to a flat printer.

pub mod classic;
pub mod flat;
pub mod json;
pub mod select;
pub mod text;

use crate::describe::{Names, push_uint};
use crate::stitch::Node;

/// Kernel softirq vector names (`include/linux/interrupt.h`).
pub(crate) fn softirq_name(vector: u8) -> Option<&'static str> {
    Some(match vector {
        0 => "HI",
        1 => "TIMER",
        2 => "NET_TX",
        3 => "NET_RX",
        4 => "BLOCK",
        5 => "IRQ_POLL",
        6 => "TASKLET",
        7 => "SCHED",
        8 => "HRTIMER",
        9 => "RCU",
        _ => return None,
    })
}

/// Appends a probe's (sanitized) name, `probe#ID` for an unknown one.
pub(crate) fn push_probe_name(out: &mut Vec<u8>, names: &Names, id: u32) {
    match names.probes.get(id) {
        Some(probe) => out.extend_from_slice(probe.name.as_bytes()),
        None => {
            out.extend_from_slice(b"probe#");
            push_uint(out, id);
        }
    }
}

/// A node's share of its parent's duration, in percent.
pub(crate) fn share_percent(node: &Node, parent: Option<&Node>) -> Option<u64> {
    let own = node.duration_ns()?;
    let total = parent?.duration_ns()?;
    (total > 0).then(|| (own.saturating_mul(100) / total).min(100))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::RawEvent;
    use crate::stitch::testing::{Noise, through};
    use crate::stitch::{Grouping, StitchLimits, StitchOptions};

    /// Whatever the stitcher makes of garbage, every printer prints it.
    #[test]
    fn printers_survive_random_input() {
        for seed in 1..20 {
            let mut noise = Noise::new(seed);
            let events: Vec<RawEvent> = (0..2000).map(|_| noise.event()).collect();
            for grouping in [Grouping::Passes, Grouping::Packets] {
                let options = StitchOptions {
                    grouping,
                    packet_idle_ns: noise.below(1 << 40),
                    limits: StitchLimits {
                        nodes_per_pass: 1 + noise.below(20) as u32,
                        open_packets: noise.below(8) as u32,
                        ..StitchLimits::default()
                    },
                };
                let printer = text::TreeTextPrinter::new(Vec::new()).with_color(true);
                let text = through(printer, options, &events).into_inner();
                assert!(std::str::from_utf8(&text).is_ok());
                let printer = classic::ClassicPrinter::new(Vec::new());
                let classic = through(printer, options, &events).into_inner();
                assert!(std::str::from_utf8(&classic).is_ok());
                let printer = json::TreeJsonPrinter::new(Vec::new());
                let json = through(printer, options, &events).into_inner();
                for line in String::from_utf8(json).unwrap().lines() {
                    serde_json::from_str::<serde_json::Value>(line).unwrap();
                }
            }
        }
    }
}
