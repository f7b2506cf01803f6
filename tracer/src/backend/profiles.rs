//! Built-in function profiles: the groups of the 2005 study (IP in, IP out,
//! forwarding, TCP in/out/connection management, UDP), updated for current
//! kernels, plus the device layer and netfilter. Functions a kernel lacks
//! (renamed, inlined, compiled out) are reported by `--dry-run` and skipped.
//! A name is looked up in vmlinux and in every loaded module.
//!
//! `dev` also takes the enqueue and dequeue functions of the qdiscs
//! installed now, in this network namespace and every named one
//! (`backend::qdiscs`): a fixed list would miss the qdisc a packet waits in
//! (sch_tdma, a module) and probe qdiscs nobody uses.

/// A named group of kernel functions.
pub struct Profile {
    pub name: &'static str,
    pub about: &'static str,
    pub functions: &'static [&'static str],
    /// Also the enqueue and dequeue functions of the qdiscs installed when
    /// the trace starts.
    pub installed_qdiscs: bool,
}

pub const PROFILES: &[Profile] = &[
    Profile {
        name: "ip-rx",
        about: "IPv4/IPv6 receive: ip_rcv to local delivery",
        functions: &[
            "ip_rcv",
            "ip_rcv_finish",
            "ip_list_rcv",
            "ip_sublist_rcv",
            "ip_route_input_noref",
            "ip_local_deliver",
            "ip_local_deliver_finish",
            "ip_protocol_deliver_rcu",
            "ipv6_rcv",
            "ip6_rcv_finish",
            "ip6_input",
        ],
        installed_qdiscs: false,
    },
    Profile {
        name: "ip-tx",
        about: "IPv4/IPv6 transmit: ip_queue_xmit to the neighbour layer",
        functions: &[
            "__ip_queue_xmit",
            "ip_queue_xmit",
            "ip_send_skb",
            "ip_local_out",
            "__ip_local_out",
            "ip_output",
            "ip_finish_output",
            "__ip_finish_output",
            "ip_finish_output2",
            "ip6_xmit",
            "ip6_output",
            "ip6_finish_output",
            "ip6_finish_output2",
        ],
        installed_qdiscs: false,
    },
    Profile {
        name: "ip-forward",
        about: "IPv4/IPv6 forwarding",
        functions: &[
            "ip_forward",
            "ip_forward_finish",
            "ip6_forward",
            "ip6_forward_finish",
        ],
        installed_qdiscs: false,
    },
    Profile {
        name: "tcp-in",
        about: "TCP receive: segment to socket",
        functions: &[
            "tcp_v4_rcv",
            "tcp_v4_do_rcv",
            "tcp_v6_rcv",
            "tcp_v6_do_rcv",
            "tcp_rcv_established",
            "tcp_rcv_state_process",
            "tcp_ack",
            "tcp_data_queue",
            "tcp_event_data_recv",
            "tcp_queue_rcv",
            "tcp_add_backlog",
            "__tcp_ack_snd_check",
        ],
        installed_qdiscs: false,
    },
    Profile {
        name: "tcp-out",
        about: "TCP transmit: sendmsg to IP",
        functions: &[
            "tcp_sendmsg",
            "tcp_sendmsg_locked",
            "tcp_push",
            "__tcp_push_pending_frames",
            "tcp_write_xmit",
            "__tcp_transmit_skb",
            // TCP keeps the original and sends a clone: the clone's exit
            // links the two skbs into one journey.
            "skb_clone",
            "tcp_send_ack",
            "__tcp_send_ack",
            "tcp_v4_send_check",
        ],
        installed_qdiscs: false,
    },
    Profile {
        name: "tcp-conn",
        about: "TCP connection management: connect, accept, state changes, close",
        functions: &[
            "tcp_v4_connect",
            "tcp_v6_connect",
            "tcp_connect",
            "tcp_conn_request",
            "tcp_v4_syn_recv_sock",
            "tcp_check_req",
            "tcp_child_process",
            "tcp_set_state",
            "tcp_fin",
            "tcp_send_fin",
            "tcp_close",
            "tcp_done",
            "tcp_time_wait",
            "inet_csk_accept",
        ],
        installed_qdiscs: false,
    },
    Profile {
        name: "udp",
        about: "UDP send and receive",
        functions: &[
            "udp_sendmsg",
            "udp_send_skb",
            "udpv6_sendmsg",
            "udp_rcv",
            "__udp4_lib_rcv",
            "udpv6_rcv",
            "__udp6_lib_rcv",
            "udp_queue_rcv_skb",
            "udp_queue_rcv_one_skb",
            "__udp_enqueue_schedule_skb",
            "udp_recvmsg",
        ],
        installed_qdiscs: false,
    },
    Profile {
        name: "dev",
        about: "device layer, softirqs, and enqueue/dequeue of the qdiscs installed now",
        functions: &[
            "__dev_queue_xmit",
            "dev_hard_start_xmit",
            "sch_direct_xmit",
            "__qdisc_run",
            "net_tx_action",
            "net_rx_action",
            "process_backlog",
            "__netif_receive_skb",
            "__netif_receive_skb_one_core",
            "netif_receive_skb_list_internal",
            "__netif_rx",
            "netif_rx",
            "napi_gro_receive",
            "veth_xmit",
            "loopback_xmit",
        ],
        installed_qdiscs: true,
    },
    Profile {
        name: "netfilter",
        about: "netfilter hooks and tables",
        functions: &[
            "nf_hook_slow",
            "ipt_do_table",
            "nft_do_chain",
            "nf_conntrack_in",
            "nf_nat_inet_fn",
        ],
        installed_qdiscs: false,
    },
];

/// Profiles used when none is named: the packet's path through IP, TCP, UDP
/// and the device layer.
pub const DEFAULT_PROFILES: &[&str] = &[
    "ip-rx", "ip-tx", "tcp-in", "tcp-out", "tcp-conn", "udp", "dev",
];

pub fn find(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name)
}
