//! Fills the [`KernelOffsets`] the BPF programs read kernel structs with.

use formats::abi::{KernelOffsets, OFFSET_NONE};

use super::{Error, KernelBtf};

impl KernelBtf {
    /// Every offset in [`KernelOffsets`] for this kernel.
    ///
    /// `sk_buff` and `net_device` members are required: without them no event
    /// can be decoded, so their absence is an error naming the member. The
    /// others degrade to [`OFFSET_NONE`] (e.g. `skc_v6_daddr` on kernels built
    /// without IPv6) and the BPF side skips what they would have filled.
    pub fn kernel_offsets(&self) -> Result<KernelOffsets, Error> {
        let required = |owner: &str, path: &str| self.member_offset(owner, path);
        let optional = |owner: &str, path: &str| or_none(self.member_offset(owner, path));
        let sock_common = |member: &str| optional("sock", &format!("__sk_common.{member}"));
        Ok(KernelOffsets {
            skb_head: required("sk_buff", "head")?,
            skb_data: required("sk_buff", "data")?,
            skb_len: required("sk_buff", "len")?,
            skb_network_header: required("sk_buff", "network_header")?,
            skb_transport_header: required("sk_buff", "transport_header")?,
            skb_mac_header: required("sk_buff", "mac_header")?,
            skb_protocol: required("sk_buff", "protocol")?,
            skb_dev: required("sk_buff", "dev")?,
            skb_sk: required("sk_buff", "sk")?,
            dev_ifindex: required("net_device", "ifindex")?,
            dev_name: required("net_device", "name")?,
            // `possible_net_t` holds just `struct net *net`, at offset 0.
            dev_nd_net: required("net_device", "nd_net")?,
            net_ns_inum: optional("net", "ns.inum")?,
            sk_family: sock_common("skc_family")?,
            sk_protocol: optional("sock", "sk_protocol")?,
            sk_daddr: sock_common("skc_daddr")?,
            sk_rcv_saddr: sock_common("skc_rcv_saddr")?,
            sk_dport: sock_common("skc_dport")?,
            sk_num: sock_common("skc_num")?,
            sk_v6_daddr: sock_common("skc_v6_daddr")?,
            sk_v6_rcv_saddr: sock_common("skc_v6_rcv_saddr")?,
            sk_net: sock_common("skc_net")?,
            sk_bound_dev_if: sock_common("skc_bound_dev_if")?,
            qdisc_handle: optional("Qdisc", "handle")?,
            qdisc_parent: optional("Qdisc", "parent")?,
            qdisc_qlen: optional("Qdisc", "q.qlen")?,
            qdisc_dev_queue: optional("Qdisc", "dev_queue")?,
            netdev_queue_dev: optional("netdev_queue", "dev")?,
            nf_state_hook: optional("nf_hook_state", "hook")?,
            nf_state_pf: optional("nf_hook_state", "pf")?,
            task_nsproxy: optional("task_struct", "nsproxy")?,
            nsproxy_net_ns: optional("nsproxy", "net_ns")?,
        })
    }
}

/// An optional member this kernel lacks, or lays out so a byte load cannot
/// read it, becomes [`OFFSET_NONE`]; malformed BTF stays an error.
fn or_none(offset: Result<u32, Error>) -> Result<u32, Error> {
    match offset {
        Err(
            Error::TypeNotFound { .. }
            | Error::MemberNotFound { .. }
            | Error::NotComposite { .. }
            | Error::Bitfield { .. },
        ) => Ok(OFFSET_NONE),
        other => other,
    }
}
