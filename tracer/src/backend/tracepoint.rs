//! The tracepoint set: one `tp_btf` program per kernel tracepoint, always
//! attached whatever backend serves function probes.

use anyhow::{Result, bail};
use aya::programs::BtfTracePoint;
use aya::{Btf, Ebpf};
use formats::abi::probe_id;
use symbols::btf::KernelBtf;

use super::describe;

/// One tracepoint program and the argument types its BPF code relies on.
pub struct TracepointSpec {
    pub program: &'static str,
    pub tracepoint: &'static str,
    pub probe: u32,
    /// (position, C type) pairs the program reads; checked against BTF.
    pub args: &'static [(usize, &'static str)],
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
    },
    TracepointSpec {
        program: "pt_net_dev_queue",
        tracepoint: "net_dev_queue",
        probe: probe_id::NET_DEV_QUEUE,
        args: &[(0, SKB)],
    },
    TracepointSpec {
        program: "pt_net_dev_start_xmit",
        tracepoint: "net_dev_start_xmit",
        probe: probe_id::NET_DEV_START_XMIT,
        args: &[(0, SKB), (1, DEV)],
    },
    TracepointSpec {
        program: "pt_net_dev_xmit",
        tracepoint: "net_dev_xmit",
        probe: probe_id::NET_DEV_XMIT,
        args: &[(0, SKB), (1, "int"), (2, DEV), (3, "unsigned int")],
    },
    TracepointSpec {
        program: "pt_qdisc_enqueue",
        tracepoint: "qdisc_enqueue",
        probe: probe_id::QDISC_ENQUEUE,
        args: &[(0, QDISC), (2, SKB)],
    },
    TracepointSpec {
        program: "pt_qdisc_dequeue",
        tracepoint: "qdisc_dequeue",
        probe: probe_id::QDISC_DEQUEUE,
        args: &[(0, QDISC), (3, SKB)],
    },
    TracepointSpec {
        program: "pt_kfree_skb",
        tracepoint: "kfree_skb",
        probe: probe_id::KFREE_SKB,
        args: &[(0, SKB), (1, "void *"), (2, "enum skb_drop_reason")],
    },
    TracepointSpec {
        program: "pt_consume_skb",
        tracepoint: "consume_skb",
        probe: probe_id::CONSUME_SKB,
        args: &[(0, SKB)],
    },
    TracepointSpec {
        program: "pt_tcp_retransmit_skb",
        tracepoint: "tcp_retransmit_skb",
        probe: probe_id::TCP_RETRANSMIT_SKB,
        args: &[(1, SKB)],
    },
    TracepointSpec {
        program: "pt_tcp_send_reset",
        tracepoint: "tcp_send_reset",
        probe: probe_id::TCP_SEND_RESET,
        args: &[(0, SOCK), (1, SKB)],
    },
    TracepointSpec {
        program: "pt_tcp_receive_reset",
        tracepoint: "tcp_receive_reset",
        probe: probe_id::TCP_RECEIVE_RESET,
        args: &[(0, SOCK)],
    },
    TracepointSpec {
        program: "pt_inet_sock_set_state",
        tracepoint: "inet_sock_set_state",
        probe: probe_id::INET_SOCK_SET_STATE,
        args: &[(0, SOCK), (1, "int"), (2, "int")],
    },
    TracepointSpec {
        program: "pt_udp_fail_queue_rcv_skb",
        tracepoint: "udp_fail_queue_rcv_skb",
        probe: probe_id::UDP_FAIL_QUEUE_RCV_SKB,
        args: &[(0, "int"), (1, SOCK)],
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
        let have = param.type_name.replace("const ", "").replace("volatile ", "");
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
        if !TRACEPOINTS.iter().any(|t| t.tracepoint == name) {
            let known: Vec<_> = TRACEPOINTS.iter().map(|t| t.tracepoint).collect();
            return Err(crate::UsageError::new(format!(
                "unknown tracepoint '{name}' (known: {})",
                known.join(", ")
            )));
        }
    }
    Ok(())
}

/// Loads and attaches the selected tracepoints (all when `selection` is empty).
/// A tracepoint this kernel lacks or changed is skipped and reported; having
/// none at all is an error.
pub fn attach(
    ebpf: &mut Ebpf,
    btf: &Btf,
    kernel: &KernelBtf,
    selection: &[String],
) -> Result<Attached> {
    validate_selection(selection)?;
    let mut attached = Attached::default();
    for spec in TRACEPOINTS {
        if !selection.is_empty() && !selection.iter().any(|s| s == spec.tracepoint) {
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
    if attached.tracepoints.is_empty() {
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
