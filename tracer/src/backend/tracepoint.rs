//! The tracepoint set: one `tp_btf` program per kernel tracepoint, always
//! attached whatever backend serves function probes.

use anyhow::{Result, bail};
use aya::programs::BtfTracePoint;
use aya::{Btf, Ebpf};
use formats::abi::probe_id;
use symbols::btf::KernelBtf;

use super::{describe, tdma};

/// One tracepoint program and the argument types its BPF code relies on.
pub struct TracepointSpec {
    pub program: &'static str,
    pub tracepoint: &'static str,
    pub probe: u32,
    /// (position, C type) pairs the program reads; checked against BTF.
    pub args: &'static [(usize, &'static str)],
    /// Only attached when function probes are: it marks softirq boundaries
    /// for the stitcher and is useless without call frames.
    pub frames_only: bool,
}

const SKB: &str = "struct sk_buff *";
const SOCK: &str = "struct sock *";
const DEV: &str = "struct net_device *";
const QDISC: &str = "struct Qdisc *";

pub const TRACEPOINTS: &[TracepointSpec] = &[
    TracepointSpec {
        program: "pt_netif_receive_skb",
        tracepoint: "netif_receive_skb",
        probe: probe_id::NETIF_RECEIVE_SKB,
        args: &[(0, SKB)],
        frames_only: false,
    },
    TracepointSpec {
        program: "pt_net_dev_queue",
        tracepoint: "net_dev_queue",
        probe: probe_id::NET_DEV_QUEUE,
        args: &[(0, SKB)],
        frames_only: false,
    },
    TracepointSpec {
        program: "pt_net_dev_start_xmit",
        tracepoint: "net_dev_start_xmit",
        probe: probe_id::NET_DEV_START_XMIT,
        args: &[(0, SKB), (1, DEV)],
        frames_only: false,
    },
    TracepointSpec {
        program: "pt_net_dev_xmit",
        tracepoint: "net_dev_xmit",
        probe: probe_id::NET_DEV_XMIT,
        args: &[(0, SKB), (1, "int"), (2, DEV), (3, "unsigned int")],
        frames_only: false,
    },
    TracepointSpec {
        program: "pt_qdisc_enqueue",
        tracepoint: "qdisc_enqueue",
        probe: probe_id::QDISC_ENQUEUE,
        args: &[(0, QDISC), (2, SKB)],
        frames_only: false,
    },
    TracepointSpec {
        program: "pt_qdisc_dequeue",
        tracepoint: "qdisc_dequeue",
        probe: probe_id::QDISC_DEQUEUE,
        args: &[(0, QDISC), (3, SKB)],
        frames_only: false,
    },
    TracepointSpec {
        program: "pt_kfree_skb",
        tracepoint: "kfree_skb",
        probe: probe_id::KFREE_SKB,
        args: &[(0, SKB), (1, "void *"), (2, "enum skb_drop_reason")],
        frames_only: false,
    },
    TracepointSpec {
        program: "pt_consume_skb",
        tracepoint: "consume_skb",
        probe: probe_id::CONSUME_SKB,
        args: &[(0, SKB)],
        frames_only: false,
    },
    TracepointSpec {
        program: "pt_skb_copy_datagram_iovec",
        tracepoint: "skb_copy_datagram_iovec",
        probe: probe_id::SKB_COPY_DATAGRAM_IOVEC,
        args: &[(0, SKB), (1, "int")],
        frames_only: false,
    },
    TracepointSpec {
        program: "pt_tcp_retransmit_skb",
        tracepoint: "tcp_retransmit_skb",
        probe: probe_id::TCP_RETRANSMIT_SKB,
        args: &[(1, SKB)],
        frames_only: false,
    },
    TracepointSpec {
        program: "pt_tcp_send_reset",
        tracepoint: "tcp_send_reset",
        probe: probe_id::TCP_SEND_RESET,
        args: &[(0, SOCK), (1, SKB)],
        frames_only: false,
    },
    TracepointSpec {
        program: "pt_tcp_receive_reset",
        tracepoint: "tcp_receive_reset",
        probe: probe_id::TCP_RECEIVE_RESET,
        args: &[(0, SOCK)],
        frames_only: false,
    },
    TracepointSpec {
        program: "pt_inet_sock_set_state",
        tracepoint: "inet_sock_set_state",
        probe: probe_id::INET_SOCK_SET_STATE,
        args: &[(0, SOCK), (1, "int"), (2, "int")],
        frames_only: false,
    },
    TracepointSpec {
        program: "pt_udp_fail_queue_rcv_skb",
        tracepoint: "udp_fail_queue_rcv_skb",
        probe: probe_id::UDP_FAIL_QUEUE_RCV_SKB,
        args: &[(0, "int"), (1, SOCK)],
        frames_only: false,
    },
    TracepointSpec {
        program: "pt_softirq_entry",
        tracepoint: "softirq_entry",
        probe: probe_id::SOFTIRQ_ENTRY,
        args: &[(0, "unsigned int")],
        frames_only: true,
    },
    TracepointSpec {
        program: "pt_softirq_exit",
        tracepoint: "softirq_exit",
        probe: probe_id::SOFTIRQ_EXIT,
        args: &[(0, "unsigned int")],
        frames_only: true,
    },
];

/// What attaching the tracepoint set did.
#[derive(Debug, Default)]
pub struct Attached {
    pub tracepoints: Vec<&'static str>,
    /// Tracepoints left out, with the reason.
    pub skipped: Vec<(&'static str, String)>,
}

/// Checks a tracepoint's arguments on this kernel against what its program reads.
fn check_args(kernel: &KernelBtf, spec: &TracepointSpec) -> Result<(), String> {
    let params = kernel
        .tracepoint_args(spec.tracepoint)
        .map_err(|e| format!("not in this kernel's BTF ({e})"))?;
    for &(pos, want) in spec.args {
        let Some(param) = params.get(pos) else {
            return Err(format!("has no argument {pos} (expected {want})"));
        };
        let have = param
            .type_name
            .replace("const ", "")
            .replace("volatile ", "");
        if have != want {
            return Err(format!(
                "argument {pos} is `{}`, pkttrace expects `{want}`",
                param.type_name
            ));
        }
    }
    Ok(())
}

/// Validates a `--tracepoints` selection against the known set.
pub fn validate_selection(selection: &[String]) -> Result<()> {
    for name in selection {
        if !TRACEPOINTS
            .iter()
            .any(|t| t.tracepoint == name && !t.frames_only)
            && !tdma::is_tdma_tracepoint(name)
        {
            let known: Vec<_> = TRACEPOINTS
                .iter()
                .filter(|t| !t.frames_only)
                .map(|t| t.tracepoint)
                .chain(tdma::TDMA_TRACEPOINTS.iter().map(|t| t.1))
                .collect();
            return Err(crate::UsageError::error(format!(
                "unknown tracepoint '{name}' (known: {})",
                known.join(", ")
            )));
        }
    }
    Ok(())
}

/// Loads and attaches the selected tracepoints (all when `selection` is empty),
/// plus the softirq markers when `with_frames`. A tracepoint this kernel lacks
/// or changed is skipped and reported; having none at all is an error.
pub fn attach(
    ebpf: &mut Ebpf,
    btf: &Btf,
    kernel: &KernelBtf,
    selection: &[String],
    with_frames: bool,
) -> Result<Attached> {
    validate_selection(selection)?;
    let mut attached = Attached::default();
    for spec in TRACEPOINTS {
        let wanted = if spec.frames_only {
            with_frames
        } else {
            selection.is_empty() || selection.iter().any(|s| s == spec.tracepoint)
        };
        if !wanted {
            continue;
        }
        if let Err(why) = check_args(kernel, spec) {
            attached.skipped.push((spec.tracepoint, why));
            continue;
        }
        match load_and_attach(ebpf, btf, spec) {
            Ok(()) => attached.tracepoints.push(spec.tracepoint),
            Err(why) => attached.skipped.push((spec.tracepoint, why)),
        }
    }
    // A selection of sch_tdma tracepoints only needs none of these.
    let only_tdma = !selection.is_empty() && selection.iter().all(|s| tdma::is_tdma_tracepoint(s));
    if attached.tracepoints.is_empty() && !only_tdma {
        let reasons: Vec<String> = attached
            .skipped
            .iter()
            .map(|(tp, why)| format!("{tp}: {why}"))
            .collect();
        bail!("no tracepoint could be attached: {}", reasons.join("; "));
    }
    Ok(attached)
}

fn load_and_attach(ebpf: &mut Ebpf, btf: &Btf, spec: &TracepointSpec) -> Result<(), String> {
    let prog: &mut BtfTracePoint = ebpf
        .program_mut(spec.program)
        .ok_or_else(|| format!("program {} missing from the BPF object", spec.program))?
        .try_into()
        .map_err(|e| describe(&e))?;
    prog.load(spec.tracepoint, btf).map_err(|e| describe(&e))?;
    prog.attach().map_err(|e| describe(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{ConfigGlobal, OffsetsGlobal};

    /// Every tracepoint program passes this kernel's verifier and attaches,
    /// with no filter and with the longest filter the compiler accepts.
    #[test]
    fn every_tracepoint_loads_with_no_filter_and_the_longest_filter() {
        let kernel = KernelBtf::from_sys().unwrap();
        let btf = Btf::from_sys_fs().unwrap();
        let offsets = OffsetsGlobal(kernel.kernel_offsets().unwrap());
        let configs = crate::backend::verifier_test_configs();
        for config in configs {
            let mut ebpf = aya::EbpfLoader::new()
                .override_global("OFFSETS", &offsets, true)
                .override_global("CONFIG", &ConfigGlobal(config), true)
                .map_max_entries("EVENTS", 64 * 1024)
                .load(crate::session::BPF_OBJECT)
                .unwrap();
            let attached = attach(&mut ebpf, &btf, &kernel, &[], true).unwrap();
            assert!(attached.skipped.is_empty(), "{:?}", attached.skipped);
            assert_eq!(attached.tracepoints.len(), TRACEPOINTS.len());
        }
    }

    #[test]
    fn unknown_tracepoints_are_usage_errors() {
        let err =
            validate_selection(&["net_dev_queue".into(), "softirq_entry".into()]).unwrap_err();
        assert!(err.downcast_ref::<crate::UsageError>().is_some());
        assert!(err.to_string().contains("softirq_entry"), "{err}");
        validate_selection(&["kfree_skb".into()]).unwrap();
    }
}
