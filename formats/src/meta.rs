//! What a trace session was: host, probes, drop reason names, clocks.
//!
//! Written once at the start of a record file and handed to every sink's
//! `begin`, so printers can name probes and drop reasons the way the tracing
//! kernel did, even when a record is replayed on another machine.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::abi::{self, probe_id};
pub use crate::ret::RetType;
pub use crate::time::ClockBase;

/// Description of one trace session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceMeta {
    /// `uname -r` of the traced kernel.
    pub kernel_release: String,
    pub hostname: String,
    /// How probes were attached, e.g. `"tracepoint"`.
    pub backend: String,
    pub command_line: Vec<String>,
    /// The filter expression as the user typed it (empty: everything).
    pub filter: String,
    /// Every probe an event's `probe_id` may refer to.
    pub probes: ProbeTable,
    /// `enum skb_drop_reason` values and names without `SKB_DROP_REASON_`.
    pub drop_reasons: DropReasonTable,
    pub clock: ClockBase,
    /// Size of the BPF ring buffer.
    pub ring_bytes: u64,
    /// [`abi::ABI_VERSION`] of the tracer that produced the events.
    pub abi_version: u32,
    /// Whether the kernel kept process-context frames per task, so a task's
    /// exits arrive on whatever CPU it returns on. Records made before that
    /// (field absent) kept them per CPU and dropped the exits of a task that
    /// woke up elsewhere.
    #[serde(default)]
    pub frames_per_task: bool,
}

impl Default for TraceMeta {
    fn default() -> Self {
        TraceMeta {
            kernel_release: String::new(),
            hostname: String::new(),
            backend: String::new(),
            command_line: Vec::new(),
            filter: String::new(),
            probes: ProbeTable::default(),
            drop_reasons: DropReasonTable::default(),
            clock: ClockBase::default(),
            ring_bytes: 0,
            abi_version: abi::ABI_VERSION,
            frames_per_task: true,
        }
    }
}

impl TraceMeta {
    /// The probe an event's `probe_id` names. O(1).
    pub fn probe(&self, id: u32) -> Option<&ProbeDesc> {
        self.probes.get(id)
    }

    /// The name of an `enum skb_drop_reason` value, e.g. `NO_SOCKET`. O(1).
    pub fn drop_reason_name(&self, reason: u32) -> Option<&str> {
        self.drop_reasons.name(reason)
    }
}

/// How a probe is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    Tracepoint,
    Fentry,
    Fexit,
    Kprobe,
    Kretprobe,
    RawTracepoint,
}

/// What `RawEvent::value` and `RawEvent::aux` mean for a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    /// Neither carries anything.
    None,
    /// `value`: `enum skb_drop_reason`; `aux`: address the skb was dropped at.
    DropReason,
    /// `value`: `netdev_tx_t` or a negative errno (an `int`).
    XmitRc,
    /// `value`: queue length or packet count; `aux`: `handle << 32 | parent`.
    Qdisc,
    /// `value`: new `TCP_*` state; `aux`: old state.
    TcpState,
    /// `value`: the probed function's return value (typed by [`ProbeDesc::ret`]).
    Return,
    /// A function taking a `struct nf_hook_state *` (`nf_hook_slow`): at
    /// entry `aux` is `hook | pf << 8`; at exit `value` is the return value.
    NfHook,
    /// One of sch_tdma's tracepoints: decoded by [`crate::tdma::TdmaEvent`].
    Tdma,
    /// `value`: bytes copied to user space.
    Copied,
}

/// One attachable probe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeDesc {
    pub id: u32,
    /// Tracepoint or kernel function name.
    pub name: String,
    /// Tracepoint system (`net`, `skb`, ...) or a grouping for function probes.
    #[serde(default)]
    pub category: String,
    pub kind: ProbeKind,
    pub value: ValueKind,
    /// What the function returns (function probes), from the tracing
    /// kernel's BTF; records made before it was stored read as unknown.
    #[serde(default, skip_serializing_if = "RetType::is_unknown")]
    pub ret: RetType,
}

/// The fixed tracepoint probes of [`abi::probe_id`], named as the kernel names them.
pub fn tracepoint_probes() -> Vec<ProbeDesc> {
    use ValueKind as V;
    let mut probes: Vec<ProbeDesc> = [
        (
            probe_id::NETIF_RECEIVE_SKB,
            "net",
            "netif_receive_skb",
            V::None,
        ),
        (probe_id::NET_DEV_QUEUE, "net", "net_dev_queue", V::None),
        (
            probe_id::NET_DEV_START_XMIT,
            "net",
            "net_dev_start_xmit",
            V::None,
        ),
        (probe_id::NET_DEV_XMIT, "net", "net_dev_xmit", V::XmitRc),
        (probe_id::QDISC_ENQUEUE, "qdisc", "qdisc_enqueue", V::Qdisc),
        (probe_id::QDISC_DEQUEUE, "qdisc", "qdisc_dequeue", V::Qdisc),
        (probe_id::KFREE_SKB, "skb", "kfree_skb", V::DropReason),
        (probe_id::CONSUME_SKB, "skb", "consume_skb", V::None),
        (
            probe_id::SKB_COPY_DATAGRAM_IOVEC,
            "skb",
            "skb_copy_datagram_iovec",
            V::Copied,
        ),
        (
            probe_id::TCP_RETRANSMIT_SKB,
            "tcp",
            "tcp_retransmit_skb",
            V::None,
        ),
        (
            probe_id::INET_SOCK_SET_STATE,
            "sock",
            "inet_sock_set_state",
            V::TcpState,
        ),
        (probe_id::TCP_SEND_RESET, "tcp", "tcp_send_reset", V::None),
        (
            probe_id::TCP_RECEIVE_RESET,
            "tcp",
            "tcp_receive_reset",
            V::None,
        ),
        (
            probe_id::UDP_FAIL_QUEUE_RCV_SKB,
            "udp",
            "udp_fail_queue_rcv_skb",
            V::None,
        ),
        (probe_id::SOFTIRQ_ENTRY, "irq", "softirq_entry", V::None),
        (probe_id::SOFTIRQ_EXIT, "irq", "softirq_exit", V::None),
    ]
    .into_iter()
    .map(|(id, category, name, value)| ProbeDesc {
        id,
        name: name.to_owned(),
        category: category.to_owned(),
        kind: ProbeKind::Tracepoint,
        value,
        ret: RetType::Unknown,
    })
    .chain(tdma_probes())
    .collect();
    // In id order: ids are appended as tracepoints are added, and sch_tdma's
    // came before the last ones.
    probes.sort_by_key(|p| p.id);
    probes
}

/// sch_tdma's tracepoints, reached as raw tracepoints of its module.
fn tdma_probes() -> impl Iterator<Item = ProbeDesc> {
    [
        (probe_id::TDMA_ENQUEUE, "tdma_enqueue"),
        (probe_id::TDMA_DEQUEUE, "tdma_dequeue"),
        (probe_id::TDMA_DROP, "tdma_drop"),
        (probe_id::TDMA_WINDOW_OPEN, "tdma_window_open"),
        (probe_id::TDMA_WINDOW_CLOSE, "tdma_window_close"),
        (probe_id::TDMA_CHANGE, "tdma_change"),
    ]
    .into_iter()
    .map(|(id, name)| ProbeDesc {
        id,
        name: name.to_owned(),
        category: "tdma".to_owned(),
        kind: ProbeKind::RawTracepoint,
        value: ValueKind::Tdma,
        ret: RetType::Unknown,
    })
}

impl ValueKind {
    /// Whether exit events carry the function's return value.
    pub fn has_return(self) -> bool {
        matches!(self, ValueKind::Return | ValueKind::NfHook)
    }
}

/// Name of a netfilter hook point for protocol family `pf` (`NFPROTO_*`).
pub fn nf_hook_name(pf: u8, hook: u8) -> Option<&'static str> {
    const INET: [&str; 5] = [
        "PRE_ROUTING",
        "LOCAL_IN",
        "FORWARD",
        "LOCAL_OUT",
        "POST_ROUTING",
    ];
    const NETDEV: [&str; 2] = ["INGRESS", "EGRESS"];
    const ARP: [&str; 3] = ["ARP_IN", "ARP_OUT", "ARP_FORWARD"];
    let names: &[&str] = match pf {
        // NFPROTO_INET, IPV4, BRIDGE, IPV6 share the five inet hooks.
        1 | 2 | 7 | 10 => &INET,
        3 => &ARP,
        5 => &NETDEV,
        _ => &[],
    };
    names.get(hook as usize).copied()
}

/// Name of a `TCP_*` socket state (`include/net/tcp_states.h`).
pub fn tcp_state_name(state: u64) -> Option<&'static str> {
    Some(match state {
        1 => "ESTABLISHED",
        2 => "SYN_SENT",
        3 => "SYN_RECV",
        4 => "FIN_WAIT1",
        5 => "FIN_WAIT2",
        6 => "TIME_WAIT",
        7 => "CLOSE",
        8 => "CLOSE_WAIT",
        9 => "LAST_ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        12 => "NEW_SYN_RECV",
        _ => return None,
    })
}

/// Maps small `u32` keys to positions in a list in O(1): a dense slot table
/// for keys up to [`IdIndex::DENSE_LIMIT`] (probe ids and drop reasons are
/// small), a hash map for anything beyond, so a hostile record cannot make
/// us allocate a table sized by its largest id.
#[derive(Clone, Debug, Default)]
struct IdIndex {
    /// Position + 1 at `slots[key]`; 0 marks an absent key.
    slots: Vec<u32>,
    sparse: HashMap<u32, u32>,
}

impl IdIndex {
    const DENSE_LIMIT: u32 = 1 << 16;

    fn build(keys: impl Iterator<Item = u32>) -> Self {
        let mut index = IdIndex::default();
        for (position, key) in keys.enumerate() {
            // Positions beyond u32 cannot occur: the lists come from a record
            // whose metadata length is a u32.
            let position = position as u32;
            if key < Self::DENSE_LIMIT {
                let slot = key as usize;
                if index.slots.len() <= slot {
                    index.slots.resize(slot + 1, 0);
                }
                // On duplicate keys the first entry wins, as in the sparse map.
                if index.slots[slot] == 0 {
                    index.slots[slot] = position + 1;
                }
            } else {
                index.sparse.entry(key).or_insert(position);
            }
        }
        index
    }

    fn get(&self, key: u32) -> Option<usize> {
        match self.slots.get(key as usize) {
            Some(&slot) if slot != 0 => Some(slot as usize - 1),
            Some(_) => None,
            None if key < Self::DENSE_LIMIT => None,
            None => self.sparse.get(&key).map(|&p| p as usize),
        }
    }
}

/// The probes of a trace, indexed by id. Immutable once built so the index
/// always matches; (de)serialized as a plain list of [`ProbeDesc`].
#[derive(Clone, Debug, Default)]
pub struct ProbeTable {
    probes: Vec<ProbeDesc>,
    index: IdIndex,
}

impl ProbeTable {
    pub fn new(probes: Vec<ProbeDesc>) -> Self {
        let index = IdIndex::build(probes.iter().map(|p| p.id));
        ProbeTable { probes, index }
    }

    pub fn get(&self, id: u32) -> Option<&ProbeDesc> {
        self.index.get(id).map(|i| &self.probes[i])
    }

    /// Where the probe `id` sits in [`as_slice`](Self::as_slice), for callers
    /// that keep their own per-probe data alongside.
    pub fn position(&self, id: u32) -> Option<usize> {
        self.index.get(id)
    }

    pub fn as_slice(&self) -> &[ProbeDesc] {
        &self.probes
    }
}

impl From<Vec<ProbeDesc>> for ProbeTable {
    fn from(probes: Vec<ProbeDesc>) -> Self {
        ProbeTable::new(probes)
    }
}

impl PartialEq for ProbeTable {
    fn eq(&self, other: &Self) -> bool {
        self.probes == other.probes
    }
}

impl Serialize for ProbeTable {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.probes.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ProbeTable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<ProbeDesc>::deserialize(deserializer).map(ProbeTable::new)
    }
}

/// `enum skb_drop_reason` names, indexed by value. (De)serialized as a list
/// of `[value, name]` pairs.
#[derive(Clone, Debug, Default)]
pub struct DropReasonTable {
    reasons: Vec<(u32, String)>,
    index: IdIndex,
}

impl DropReasonTable {
    pub fn new(reasons: Vec<(u32, String)>) -> Self {
        let index = IdIndex::build(reasons.iter().map(|(value, _)| *value));
        DropReasonTable { reasons, index }
    }

    pub fn name(&self, reason: u32) -> Option<&str> {
        self.index.get(reason).map(|i| self.reasons[i].1.as_str())
    }

    pub fn as_slice(&self) -> &[(u32, String)] {
        &self.reasons
    }
}

impl From<Vec<(u32, String)>> for DropReasonTable {
    fn from(reasons: Vec<(u32, String)>) -> Self {
        DropReasonTable::new(reasons)
    }
}

impl PartialEq for DropReasonTable {
    fn eq(&self, other: &Self) -> bool {
        self.reasons == other.reasons
    }
}

impl Serialize for DropReasonTable {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.reasons.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for DropReasonTable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<(u32, String)>::deserialize(deserializer).map(DropReasonTable::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TraceMeta {
        let mut probes = tracepoint_probes();
        probes.push(ProbeDesc {
            id: 1000,
            name: "ip_rcv".into(),
            category: "ip".into(),
            kind: ProbeKind::Fexit,
            value: ValueKind::Return,
            ret: RetType::Int {
                size: 4,
                signed: true,
            },
        });
        probes.push(ProbeDesc {
            id: 3_000_000,
            name: "far_away".into(),
            category: String::new(),
            kind: ProbeKind::Kprobe,
            value: ValueKind::None,
            ret: RetType::Unknown,
        });
        TraceMeta {
            kernel_release: "6.8.0".into(),
            hostname: "box".into(),
            backend: "tracepoint".into(),
            command_line: vec!["pkttrace".into(), "tcp".into()],
            filter: "tcp".into(),
            probes: probes.into(),
            drop_reasons: vec![(2, "NO_SOCKET".into()), (77, "LATE".into())].into(),
            clock: ClockBase {
                monotonic_ns: 1,
                realtime_ns: 2,
                utc_offset_s: 3600,
            },
            ring_bytes: 1 << 24,
            abi_version: abi::ABI_VERSION,
            frames_per_task: true,
        }
    }

    #[test]
    fn lookups() {
        let meta = sample();
        assert_eq!(meta.probe(probe_id::KFREE_SKB).unwrap().name, "kfree_skb");
        assert_eq!(
            meta.probe(probe_id::KFREE_SKB).unwrap().value,
            ValueKind::DropReason
        );
        assert_eq!(meta.probe(1000).unwrap().name, "ip_rcv");
        assert_eq!(meta.probe(3_000_000).unwrap().name, "far_away");
        assert!(meta.probe(0).is_none());
        assert!(meta.probe(999).is_none());
        assert!(meta.probe(1001).is_none());
        assert!(meta.probe(u32::MAX).is_none());
        assert_eq!(meta.drop_reason_name(2), Some("NO_SOCKET"));
        assert_eq!(meta.drop_reason_name(77), Some("LATE"));
        assert_eq!(meta.drop_reason_name(3), None);
        assert_eq!(meta.drop_reason_name(100_000), None);
    }

    #[test]
    fn tracepoints_cover_every_fixed_id() {
        let probes = tracepoint_probes();
        // Ids 1, 2, ... in order, all below the dynamic range.
        let ids: Vec<u32> = probes.iter().map(|p| p.id).collect();
        assert_eq!(ids, (1..=probes.len() as u32).collect::<Vec<u32>>());
        assert!(probes.len() < probe_id::FIRST_DYNAMIC_PROBE_ID as usize);
        assert!(probes.iter().all(|p| match p.category.as_str() {
            "tdma" => p.kind == ProbeKind::RawTracepoint && p.value == ValueKind::Tdma,
            _ => p.kind == ProbeKind::Tracepoint,
        }));
        let by_name = |n: &str| probes.iter().find(|p| p.name == n).unwrap();
        assert_eq!(by_name("net_dev_xmit").value, ValueKind::XmitRc);
        assert_eq!(by_name("qdisc_dequeue").category, "qdisc");
        assert_eq!(by_name("inet_sock_set_state").value, ValueKind::TcpState);
        assert_eq!(by_name("skb_copy_datagram_iovec").value, ValueKind::Copied);
        assert_eq!(
            by_name("skb_copy_datagram_iovec").id,
            probe_id::SKB_COPY_DATAGRAM_IOVEC
        );
    }

    #[test]
    fn json_round_trip_rebuilds_the_indexes() {
        let meta = sample();
        let json = serde_json::to_string(&meta).unwrap();
        assert!(json.contains(r#""drop_reasons":[[2,"NO_SOCKET"],[77,"LATE"]]"#));
        assert!(json.contains(r#""kind":"fexit","value":"return""#));
        let back: TraceMeta = serde_json::from_str(&json).unwrap();
        assert_eq!(back, meta);
        assert_eq!(back.probe(1000).unwrap().name, "ip_rcv");
        assert_eq!(back.drop_reason_name(77), Some("LATE"));
    }

    #[test]
    fn return_types_are_stored_and_optional() {
        let json = serde_json::to_string(&sample()).unwrap();
        assert!(json.contains(r#""ret":{"kind":"int","size":4,"signed":true}"#));
        // Probes without a type (tracepoints) store none.
        assert_eq!(json.matches(r#""ret":"#).count(), 1);
        // A probe table written before return types were recorded.
        let old = r#"{"id":1000,"name":"ip_rcv","kind":"fexit","value":"return"}"#;
        let probe: ProbeDesc = serde_json::from_str(old).unwrap();
        assert_eq!(probe.ret, RetType::Unknown);
    }

    #[test]
    fn first_duplicate_wins() {
        let table = DropReasonTable::new(vec![(5, "A".into()), (5, "B".into())]);
        assert_eq!(table.name(5), Some("A"));
        let far = u32::MAX;
        let table = DropReasonTable::new(vec![(far, "A".into()), (far, "B".into())]);
        assert_eq!(table.name(far), Some("A"));
    }

    #[test]
    fn tcp_states() {
        assert_eq!(tcp_state_name(1), Some("ESTABLISHED"));
        assert_eq!(tcp_state_name(12), Some("NEW_SYN_RECV"));
        assert_eq!(tcp_state_name(0), None);
        assert_eq!(tcp_state_name(13), None);
    }
}
