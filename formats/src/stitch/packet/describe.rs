//! Packets in words, for every printer and the TUI: where a place is and
//! what became of a packet.

use crate::meta::{DropReasonTable, ProbeTable};

use super::fate::{Outcome, Place, Sighting, Unknown};

/// `veth0 ns:4026531840`, or `ns:4026531840` without a device.
pub fn place_text(place: &Place) -> String {
    let name = crate::describe::c_str(&place.ifname);
    if place.ifindex != 0 && !name.is_empty() {
        format!("{} ns:{}", String::from_utf8_lossy(name), place.netns)
    } else {
        format!("ns:{}", place.netns)
    }
}

/// What names an outcome refers to.
pub struct OutcomeNames<'a> {
    pub probes: &'a ProbeTable,
    pub drop_reasons: &'a DropReasonTable,
    /// The name of a code address (a drop location), if known.
    pub location: &'a dyn Fn(u64) -> Option<String>,
}

impl OutcomeNames<'_> {
    fn probe(&self, id: u32) -> String {
        self.probes
            .get(id)
            .map_or_else(|| format!("probe {id}"), |probe| probe.name.clone())
    }

    fn at(&self, at: &Sighting) -> String {
        if at.place.netns == 0 {
            return self.probe(at.probe);
        }
        format!("{} on {}", self.probe(at.probe), place_text(&at.place))
    }
}

/// `delivered at tcp_v4_do_rcv on veth1 ns:… to nc/370`,
/// `dropped NO_SOCKET at __udp4_lib_rcv+0x5d0 on veth1 ns:…`, …
pub fn outcome_text(outcome: &Outcome, names: &OutcomeNames) -> String {
    match outcome {
        Outcome::Delivered { at, task, acked } => {
            let mut text = if *acked {
                format!(
                    "delivered: received on {} and acknowledged",
                    place_text(&at.place)
                )
            } else {
                format!("delivered at {}", names.at(at))
            };
            if let Some(task) = task {
                let comm = String::from_utf8_lossy(crate::describe::c_str(&task.comm));
                text.push_str(&format!(
                    " to {}/{}",
                    crate::describe::printable(&comm),
                    task.pid
                ));
            }
            text
        }
        Outcome::Dropped {
            at,
            reason,
            location,
        } => {
            if at.probe == crate::abi::probe_id::TDMA_DROP {
                return format!("dropped by sch_tdma on {}", place_text(&at.place));
            }
            let reason = names
                .drop_reasons
                .name(*reason)
                .map_or_else(|| reason.to_string(), str::to_owned);
            let location = (*location != 0)
                .then(|| (names.location)(*location).unwrap_or_else(|| format!("0x{location:x}")));
            match location {
                Some(location) if at.place.netns != 0 => {
                    format!(
                        "dropped {reason} at {location} on {}",
                        place_text(&at.place)
                    )
                }
                Some(location) => format!("dropped {reason} at {location}"),
                None => format!("dropped {reason} at {}", names.at(at)),
            }
        }
        Outcome::Forwarded { at } => format!("forwarded out {}", place_text(&at.place)),
        Outcome::Sent { at } => format!("sent on {}", place_text(&at.place)),
        Outcome::Queued { at } => {
            format!("queued on {} when the trace ended", place_text(&at.place))
        }
        Outcome::Unknown { why, last } => {
            let last = last.map(|at| names.at(&at));
            match (why, last) {
                (Unknown::TraceEnded, Some(last)) => {
                    format!("unknown: the trace ended after {last}")
                }
                (Unknown::TraceEnded, None) => "unknown: the trace ended".into(),
                (Unknown::NotSeenAfter, Some(last)) => {
                    format!("unknown: not seen after {last} (what followed was not probed)")
                }
                (Unknown::NotSeenAfter, None) => "unknown: what followed was not probed".into(),
                (Unknown::Evicted, _) => "unknown: emitted early (packet limit)".into(),
                (Unknown::NoNetwork, _) => "unknown: never on a device or the IP layer".into(),
            }
        }
    }
}
