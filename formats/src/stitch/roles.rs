//! Probes the stitcher treats specially beyond the fixed tracepoint ids.

use foldhash::HashMap;

use crate::abi::probe_id;
use crate::meta::{TraceMeta, ValueKind};

use super::pass::{Node, NodeKind};

/// Kernel functions that make a new skb from the skb they are given.
///
/// Convention between the probes and the stitcher: the *exit* event of a
/// function probe on one of these carries the original skb in `skb` and the
/// new skb in `value` (for all but `__skb_clone` that is simply the
/// function's argument and return value). The stitcher then links the new
/// skb into the original's packet.
pub const SKB_CLONING_FUNCTIONS: &[&str] = &[
    "skb_clone",
    "__skb_clone",
    "skb_copy",
    "__pskb_copy_fclone",
    "skb_copy_expand",
    "skb_realloc_headroom",
];

/// Kernel functions that return the first of the segments they cut their
/// skb into (GSO in software), or the skb itself when it needs no cutting;
/// their exits follow the cloning functions' convention.
pub const SKB_SEGMENTING_FUNCTIONS: &[&str] = &[
    "validate_xmit_skb",
    "__skb_gso_segment",
    "skb_mac_gso_segment",
    "skb_segment",
];

/// How a function made a new skb.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Made {
    Clone,
    Segment,
}

/// What an event of a probe says about where its packet is: the
/// milestones a packet's outcome and hops are made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A device received it (`netif_receive_skb`, `__netif_rx`, `ip_rcv`…).
    Receive,
    /// It entered a device's transmit queue or a qdisc.
    Enqueue,
    /// A qdisc let it go.
    Dequeue,
    /// A driver was handed it (`net_dev_start_xmit`, `dev_hard_start_xmit`…).
    Transmit,
    /// The kernel routed it to another device (`ip_forward`).
    Forward,
    /// A socket (or the stack's own protocol handler) took it.
    Socket,
    /// Its data was copied to a process (`skb_copy_datagram_iovec`, in the
    /// reader's context).
    CopyToUser,
    /// `kfree_skb`: `value` the drop reason, `aux` where.
    Drop,
    /// `consume_skb`: freed after use.
    Consume,
    /// sch_tdma dropped it.
    QdiscDrop,
    /// Says nothing about where the packet is.
    Other,
}

/// Functions that take a received skb for a socket or a protocol's own
/// handling: reaching one means the packet arrived where it was going.
const SOCKET_FUNCTIONS: &[&str] = &[
    "tcp_v4_do_rcv",
    "tcp_v6_do_rcv",
    "tcp_rcv_established",
    "tcp_rcv_state_process",
    "tcp_child_process",
    "tcp_conn_request",
    "tcp_v4_conn_request",
    "tcp_v6_conn_request",
    "tcp_queue_rcv",
    "tcp_data_queue",
    "tcp_add_backlog",
    "udp_queue_rcv_skb",
    "udp_queue_rcv_one_skb",
    "udpv6_queue_rcv_skb",
    "__udp_enqueue_schedule_skb",
    "sock_queue_rcv_skb_reason",
    "__sock_queue_rcv_skb",
    "sock_queue_rcv_skb",
    "raw_rcv",
    "ping_rcv",
    "icmp_rcv",
    "icmpv6_rcv",
    "arp_process",
    "netlink_unicast",
];

/// The role of a probe by its name: tracepoints by id, functions by what
/// the kernel calls them.
fn role_of(id: u32, name: &str) -> Role {
    match id {
        probe_id::NETIF_RECEIVE_SKB => return Role::Receive,
        probe_id::NET_DEV_QUEUE | probe_id::QDISC_ENQUEUE | probe_id::TDMA_ENQUEUE => {
            return Role::Enqueue;
        }
        probe_id::QDISC_DEQUEUE | probe_id::TDMA_DEQUEUE => return Role::Dequeue,
        probe_id::NET_DEV_START_XMIT => return Role::Transmit,
        probe_id::KFREE_SKB => return Role::Drop,
        probe_id::CONSUME_SKB => return Role::Consume,
        probe_id::TDMA_DROP => return Role::QdiscDrop,
        _ => {}
    }
    if name == "skb_copy_datagram_iovec" {
        return Role::CopyToUser;
    }
    if id < probe_id::FIRST_DYNAMIC_PROBE_ID {
        return Role::Other;
    }
    if SOCKET_FUNCTIONS.contains(&name) {
        Role::Socket
    } else if matches!(name, "ip_forward" | "ip6_forward") {
        Role::Forward
    } else if matches!(
        name,
        "netif_rx"
            | "__netif_rx"
            | "netif_rx_internal"
            | "napi_gro_receive"
            | "ip_rcv"
            | "ipv6_rcv"
            | "arp_rcv"
    ) || name.starts_with("__netif_receive_skb")
        || name.starts_with("netif_receive_skb")
    {
        Role::Receive
    } else if name == "dev_hard_start_xmit"
        || name == "xmit_one"
        || name.ends_with("_start_xmit")
        || name == "veth_xmit"
    {
        Role::Transmit
    } else {
        Role::Other
    }
}

/// Functions that clone the skb they are given and pass the clone on: an
/// skb first seen inside one of them is its argument's clone, even where
/// the clone itself was not seen made (`skb_clone` on TCP's retransmit
/// queue skb knows neither device nor socket, so namespace filters drop it).
const CLONING_CALLERS: &[&str] = &["__tcp_transmit_skb", "tcp_transmit_skb"];

/// The probe ids of this trace with a special role.
#[derive(Clone, Debug, Default)]
pub(super) struct ProbeRoles {
    cloning: Vec<u32>,
    segmenting: Vec<u32>,
    cloning_callers: Vec<u32>,
    roles: HashMap<u32, Role>,
    /// Drop reasons that are no drop: `NOT_SPECIFIED` is decided by where the
    /// packet was (see `fate`), the others are frees after use.
    not_specified: Option<u32>,
    not_drops: Vec<u32>,
}

impl ProbeRoles {
    pub fn new(meta: &TraceMeta) -> Self {
        let cloning = meta
            .probes
            .as_slice()
            .iter()
            .filter(|p| p.value == ValueKind::Return)
            .filter(|p| SKB_CLONING_FUNCTIONS.contains(&p.name.as_str()))
            .map(|p| p.id)
            .collect();
        let segmenting = meta
            .probes
            .as_slice()
            .iter()
            .filter(|p| p.value == ValueKind::Return)
            .filter(|p| SKB_SEGMENTING_FUNCTIONS.contains(&p.name.as_str()))
            .map(|p| p.id)
            .collect();
        let roles = meta
            .probes
            .as_slice()
            .iter()
            .map(|p| (p.id, role_of(p.id, &p.name)))
            .filter(|&(_, role)| role != Role::Other)
            .collect();
        let reason = |wanted: &[&str]| {
            meta.drop_reasons
                .as_slice()
                .iter()
                .filter(|(_, name)| wanted.contains(&name.as_str()))
                .map(|&(value, _)| value)
                .collect::<Vec<_>>()
        };
        let cloning_callers = meta
            .probes
            .as_slice()
            .iter()
            .filter(|p| CLONING_CALLERS.contains(&p.name.as_str()))
            .map(|p| p.id)
            .collect();
        ProbeRoles {
            cloning,
            segmenting,
            cloning_callers,
            roles,
            not_specified: reason(&["NOT_SPECIFIED"]).first().copied(),
            not_drops: reason(&["NOT_DROPPED_YET", "CONSUMED"]),
        }
    }

    /// Whether a call of `probe` clones its skb and hands the clone on.
    pub fn clones_inside(&self, probe: u32) -> bool {
        self.cloning_callers.contains(&probe)
    }

    pub fn role(&self, probe: u32) -> Role {
        self.roles.get(&probe).copied().unwrap_or(Role::Other)
    }

    /// How a `kfree_skb` reason counts: a drop, a plain free, or a drop only
    /// if the packet was still on its way (`NOT_SPECIFIED`).
    pub fn drop_kind(&self, reason: u32) -> DropKind {
        if self.not_drops.contains(&reason) {
            DropKind::NotADrop
        } else if Some(reason) == self.not_specified {
            DropKind::Unspecified
        } else {
            DropKind::Drop
        }
    }

    /// The skb a returned cloning call created, if `node` is one.
    pub fn new_skb(&self, node: &Node) -> Option<(u64, Made)> {
        if node.kind != NodeKind::Call {
            return None;
        }
        let exit = node.exit.as_ref()?;
        let created = exit.value;
        let probe = node.event.probe_id;
        let made = if self.cloning.contains(&probe) {
            Made::Clone
        } else if self.segmenting.contains(&probe) {
            Made::Segment
        } else {
            return None;
        };
        // NULL and ERR_PTR() (the top 4095 values) are failures.
        let pointer = created != 0 && created < u64::MAX - 4094;
        (pointer && created != node.skb()).then_some((created, made))
    }
}

/// What a `kfree_skb` reason says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropKind {
    Drop,
    /// `NOT_SPECIFIED`: before Linux 6.2 most `kfree_skb` calls said nothing.
    Unspecified,
    NotADrop,
}
