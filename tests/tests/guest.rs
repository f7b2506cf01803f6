//! Call trees from function probes (fentry/fexit and kprobe/kretprobe) on a
//! kernel that allows them. The host kernel does not, so these are ignored by
//! a plain `cargo test`; scripts/test.sh runs them in Debian's kernel under
//! QEMU with `--include-ignored`.

use std::time::Duration;

use pkttrace_tests::trees::{has_chain, name, nodes, outline, passes};
use pkttrace_tests::{Tracer, assert_all_freed, bpf_ids_held_by, require_root};
use serde_json::Value;
use tracer::netns::{RoutedNet, TestNet};

/// Emulated kernels are slow: let the last events drain.
const SETTLE: Duration = Duration::from_millis(1500);

fn traced(args: &[String], traffic: impl FnOnce()) -> Vec<Value> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let tracer = Tracer::start(&args).expect("pkttrace starts");
    traffic();
    std::thread::sleep(SETTLE);
    let out = tracer.stop().expect("pkttrace stops");
    assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
    // Every program variant must pass this kernel's verifier: a function
    // that fails to load is only a warning to users.
    assert!(
        !out.stderr.contains("not probed"),
        "stderr:\n{}",
        out.stderr
    );
    out.json_events()
}

fn trace_args(backend: &str, funcs: &[&str], filter: &str, trees: bool) -> Vec<String> {
    let mut args = vec![
        "--backend".to_string(),
        backend.to_string(),
        "-o".into(),
        "json".into(),
    ];
    if trees {
        args.push("--trees".into());
    }
    for f in funcs {
        args.push("--func".into());
        args.push(f.to_string());
    }
    args.push(filter.to_string());
    args
}

fn netns_filter(net: &TestNet) -> String {
    format!(
        "netns {} or netns {}",
        TestNet::inode(&net.ns_a).unwrap(),
        TestNet::inode(&net.ns_b).unwrap()
    )
}

const TCP_FUNCS: &[&str] = &[
    "tcp_v4_connect",
    "tcp_connect",
    "__tcp_transmit_skb",
    "__ip_queue_xmit",
    "__dev_queue_xmit",
    "ip_rcv",
    "ip_local_deliver",
    "tcp_v4_rcv",
    "tcp_v4_do_rcv",
    "tcp_rcv_state_process",
    "tcp_rcv_established",
    "tcp_set_state",
];

fn tcp_call_trees(backend: &str) {
    require_root();
    let net = TestNet::create("gtcp").unwrap();
    let lines = traced(
        &trace_args(backend, TCP_FUNCS, &netns_filter(&net), true),
        || {
            net.tcp_echo(false, 8080, &[b"hello", b"world"]).unwrap();
        },
    );
    let trees = passes(&lines);
    let any = |chain: &[&str]| trees.iter().any(|p| has_chain(&p["tree"], chain));
    assert!(
        any(&["tcp_v4_connect", "__tcp_transmit_skb", "__dev_queue_xmit"]),
        "connect builds and sends the SYN:\n{}",
        outline(&lines)
    );
    assert!(
        any(&[
            "ip_rcv",
            "tcp_v4_rcv",
            "tcp_v4_do_rcv",
            "tcp_rcv_state_process|tcp_rcv_established"
        ]),
        "a segment climbs from IP into the socket:\n{}",
        outline(&lines)
    );
    // tcp_set_state has no skb: it belongs to the frame it was called from.
    assert!(
        any(&["tcp_rcv_state_process", "tcp_set_state"]),
        "state change inside the segment's processing:\n{}",
        outline(&lines)
    );
    // Trees carry durations and return values, and nothing lost its exit.
    let calls: Vec<&Value> = trees
        .iter()
        .flat_map(|p| nodes(&p["tree"]))
        .filter(|n| n["kind"] == "call")
        .collect();
    assert!(calls.len() > 20, "{}", outline(&lines));
    // Nothing lost its exit. A tree still open when the trace stopped (cut
    // `trace_end`: a late TCP timer, say) is the trace's edge, not a loss.
    let without_exit: Vec<String> = trees
        .iter()
        .flat_map(|p| {
            nodes(&p["tree"])
                .into_iter()
                .filter(|n| n["kind"] == "call" && n["missing_exit"] == true)
                .map(move |n| (p["cut"].clone(), name(n).to_string()))
        })
        .filter(|(cut, _)| cut != "trace_end")
        .map(|(cut, call)| format!("{call} (tree cut: {cut})"))
        .collect();
    assert!(
        without_exit.is_empty(),
        "calls without exit: {without_exit:?}\n{}",
        outline(&lines)
    );
    assert!(calls.iter().all(|n| n["duration_ns"].as_u64().is_some()));
    let syn = trees
        .iter()
        .flat_map(|p| nodes(&p["tree"]))
        .find(|n| name(n) == "__dev_queue_xmit" && n["tcp_flags"] == "S")
        .unwrap_or_else(|| panic!("SYN seen at __dev_queue_xmit:\n{}", outline(&lines)));
    assert_eq!(syn["daddr"], "10.199.0.2");
    assert_eq!(syn["dport"], 8080);
    assert_eq!(syn["ret"], 0);
    // `void` on 6.1 and 6.12: its exits carry no value (rax is garbage).
    let delivered = calls
        .iter()
        .filter(|n| name(n) == "ip_protocol_deliver_rcu");
    for node in delivered {
        assert!(node.get("ret").is_none(), "{node}");
    }
}

#[test]
#[ignore = "needs fentry: scripts/test.sh runs it in the QEMU guest"]
fn tcp_call_trees_with_fentry() {
    tcp_call_trees("fentry");
}

#[test]
#[ignore = "needs kprobes: scripts/test.sh runs it in the QEMU guest"]
fn tcp_call_trees_with_kprobes() {
    tcp_call_trees("kprobe");
}

const UDP_FUNCS: &[&str] = &[
    "udp_sendmsg",
    "ip_send_skb",
    "__dev_queue_xmit",
    "ip_rcv",
    "udp_rcv",
    "__udp4_lib_rcv",
    "udp_queue_rcv_skb",
];

fn udp_send_receive_and_drop(backend: &str) {
    require_root();
    let net = TestNet::create("gudp").unwrap();
    let filter = format!("udp and ({})", netns_filter(&net));
    let lines = traced(&trace_args(backend, UDP_FUNCS, &filter, true), || {
        assert_eq!(net.udp_send(false, 9000, 2).unwrap(), 2);
        net.udp_to_closed_port(9001).unwrap();
    });
    let trees = passes(&lines);
    let any = |chain: &[&str]| trees.iter().any(|p| has_chain(&p["tree"], chain));
    assert!(
        any(&["udp_sendmsg", "ip_send_skb", "__dev_queue_xmit"]),
        "{}",
        outline(&lines)
    );
    assert!(
        any(&["ip_rcv", "__udp4_lib_rcv", "udp_queue_rcv_skb"]),
        "{}",
        outline(&lines)
    );
    // The datagram to the closed port is freed for lack of a socket, inside
    // UDP's receive function.
    let drop = trees
        .iter()
        .flat_map(|p| nodes(&p["tree"]))
        .find(|n| name(n) == "kfree_skb" && n["dport"] == 9001)
        .unwrap_or_else(|| panic!("no drop of the datagram:\n{}", outline(&lines)));
    assert_eq!(drop["drop_reason"], "NO_SOCKET");
    assert!(any(&["__udp4_lib_rcv", "kfree_skb"]), "{}", outline(&lines));
}

#[test]
#[ignore = "needs fentry: scripts/test.sh runs it in the QEMU guest"]
fn udp_send_receive_and_drop_with_fentry() {
    udp_send_receive_and_drop("fentry");
}

#[test]
#[ignore = "needs kprobes: scripts/test.sh runs it in the QEMU guest"]
fn udp_send_receive_and_drop_with_kprobes() {
    udp_send_receive_and_drop("kprobe");
}

#[test]
#[ignore = "needs fentry: scripts/test.sh runs it in the QEMU guest"]
fn forwarded_packet_shows_ip_forward() {
    require_root();
    let net = RoutedNet::create("gfwd").unwrap();
    let filter = format!("udp and netns {}", TestNet::inode(&net.ns_r).unwrap());
    let funcs = [
        "ip_rcv",
        "ip_forward",
        "ip_forward_finish",
        "ip_output",
        "__dev_queue_xmit",
    ];
    let lines = traced(&trace_args("fentry", &funcs, &filter, true), || {
        assert_eq!(net.udp_through_router(net.addr_b, 9100, 2).unwrap(), 2);
    });
    let trees = passes(&lines);
    assert!(
        trees.iter().any(|p| has_chain(
            &p["tree"],
            &["ip_rcv", "ip_forward", "ip_forward_finish", "ip_output"]
        )),
        "{}",
        outline(&lines)
    );
}

#[test]
#[ignore = "needs fentry: scripts/test.sh runs it in the QEMU guest"]
fn proto_tcp_excludes_udp_in_the_kernel() {
    require_root();
    let net = TestNet::create("gproto").unwrap();
    let mut args = trace_args(
        "fentry",
        &["ip_rcv", "__dev_queue_xmit", "udp_rcv"],
        &netns_filter(&net),
        false,
    );
    args.extend(["--proto".to_string(), "tcp".to_string()]);
    let lines = traced(&args, || {
        net.tcp_echo(false, 8082, &[b"tcp"]).unwrap();
        net.udp_send(false, 9002, 3).unwrap();
    });
    assert!(
        lines
            .iter()
            .any(|e| e["proto"] == "tcp" && e["probe"] == "ip_rcv")
    );
    assert!(
        lines
            .iter()
            .all(|e| e["proto"].is_null() || e["proto"] == "tcp"),
        "only TCP with --proto tcp"
    );
    assert!(lines.iter().all(|e| e["probe"] != "udp_rcv"));
}

#[test]
#[ignore = "needs nftables NAT and fentry: scripts/test.sh runs it in the QEMU guest"]
fn follow_skb_follows_a_packet_through_nat() {
    require_root();
    let net = RoutedNet::create("gnat").unwrap();
    let virtual_dst = std::net::Ipv4Addr::new(10, 199, 2, 100);
    net.dnat(virtual_dst).unwrap();
    let args = trace_args(
        "fentry",
        &["ip_rcv", "ip_forward"],
        &format!("dst host {virtual_dst}"),
        false,
    );
    let mut args = args;
    args.push("--follow-skb".into());
    let lines = traced(&args, || {
        assert_eq!(net.udp_through_router(virtual_dst, 9200, 1).unwrap(), 1);
    });
    // Before NAT the packet matches; after it, only following keeps it.
    assert!(lines.iter().any(|e| e["daddr"] == "10.199.2.100"));
    let after = lines.iter().find(|e| {
        e["daddr"] == "10.199.2.2" && e["followed"] == true && e["ifname"] == net.veth_b.as_str()
    });
    assert!(
        after.is_some(),
        "the NATed packet followed into {}:\n{}",
        net.veth_b,
        lines
            .iter()
            .take(40)
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
#[ignore = "needs fentry: scripts/test.sh runs it in the QEMU guest"]
fn firewall_drop_shows_hook_and_reason() {
    require_root();
    let net = TestNet::create("gfw").unwrap();
    net.drop_udp_input(9007).unwrap();
    let filter = format!("udp and ({})", netns_filter(&net));
    let lines = traced(
        &trace_args(
            "fentry",
            &["ip_local_deliver", "nf_hook_slow"],
            &filter,
            true,
        ),
        || {
            net.udp_send(false, 9007, 1).unwrap();
        },
    );
    let trees = passes(&lines);
    assert!(
        trees.iter().any(|p| has_chain(
            &p["tree"],
            &["ip_local_deliver", "nf_hook_slow", "kfree_skb"]
        )),
        "{}",
        outline(&lines)
    );
    // The hook call that dropped it: the one with the kfree_skb inside.
    let hook = trees
        .iter()
        .flat_map(|p| nodes(&p["tree"]))
        .find(|n| name(n) == "nf_hook_slow" && has_chain(n, &["nf_hook_slow", "kfree_skb"]))
        .unwrap_or_else(|| panic!("{}", outline(&lines)));
    assert_eq!(hook["nf_hook"], "LOCAL_IN");
    let drop = trees
        .iter()
        .flat_map(|p| nodes(&p["tree"]))
        .find(|n| name(n) == "kfree_skb" && n["dport"] == 9007)
        .unwrap();
    assert_eq!(drop["drop_reason"], "NETFILTER_DROP");
}

/// `--stack` with function probes (and 6.1's verifier): entries of a probed
/// function carry the stack that called it, without the trampoline on top.
fn stacks_of_function_entries(backend: &str) {
    require_root();
    let net = TestNet::create("gstk").unwrap();
    let filter = format!("udp and port 9010 and ({})", netns_filter(&net));
    let mut args = trace_args(backend, &["ip_rcv"], &filter, false);
    args.push("--stack".into());
    let lines = traced(&args, || {
        assert_eq!(net.udp_send(false, 9010, 2).unwrap(), 2);
    });
    let entry = lines
        .iter()
        .find(|e| e["probe"] == "ip_rcv" && e["kind"] == "entry")
        .unwrap_or_else(|| panic!("no ip_rcv entry: {lines:?}"));
    let stack: Vec<&str> = entry["stack"]
        .as_array()
        .unwrap_or_else(|| panic!("no stack: {entry}"))
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(!stack[0].starts_with("bpf_"), "{stack:?}");
    assert!(
        stack.iter().any(|f| f.starts_with("__netif_receive_skb")),
        "{stack:?}"
    );
}

#[test]
#[ignore = "needs fentry: scripts/test.sh runs it in the QEMU guest"]
fn stacks_of_function_entries_with_fentry() {
    stacks_of_function_entries("fentry");
}

#[test]
#[ignore = "needs kprobes: scripts/test.sh runs it in the QEMU guest"]
fn stacks_of_function_entries_with_kprobes() {
    stacks_of_function_entries("kprobe");
}

/// Whether this kernel has kprobe-multi links (fprobe): Debian's 6.12 has,
/// its 6.1 has not.
fn has_kprobe_multi() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    std::fs::read_to_string(format!("/boot/config-{}", release.trim()))
        .is_ok_and(|config| config.lines().any(|l| l == "CONFIG_FPROBE=y"))
}

/// The number in "probed N functions with BACKEND".
fn probed_count(stderr: &str, backend: &str) -> usize {
    let needle = "probed ";
    stderr
        .lines()
        .filter_map(|l| l.split_once(needle).map(|(_, rest)| rest))
        .find(|rest| rest.contains(&format!("functions with {backend}")))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no 'probed N functions with {backend}' line:\n{stderr}"))
}

/// Every function that takes an skb, by kprobe-multi links: well over a
/// thousand attach (a few the kernel refuses are reported by name), the
/// calls nest into trees, and stopping leaves no program or link behind.
#[test]
#[ignore = "needs kprobe-multi: scripts/test.sh runs it in the QEMU guest"]
fn all_skb_functions_attach_by_kprobe_multi_and_make_trees() {
    require_root();
    if !has_kprobe_multi() {
        eprintln!("skipped: this kernel has no kprobe-multi links (CONFIG_FPROBE)");
        return;
    }
    let net = TestNet::create("gall").unwrap();
    let filter = netns_filter(&net);
    let tracer = Tracer::start(&[
        "--backend",
        "kprobe",
        "--all-skb-funcs",
        "-o",
        "json",
        "--trees",
        &filter,
    ])
    .expect("pkttrace starts");
    let (progs, links) = bpf_ids_held_by(tracer.pid());
    net.tcp_echo(false, 8081, &[b"hello", b"world"]).unwrap();
    std::thread::sleep(SETTLE);
    let out = tracer.stop().expect("pkttrace stops");
    assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
    let probed = probed_count(&out.stderr, "kprobe");
    assert!(probed >= 1000, "{probed} functions:\n{}", out.stderr);
    assert!(
        out.stderr.contains("kprobes by kprobe-multi links"),
        "{}",
        out.stderr
    );
    // One link per argument layout and one for the returns, not one per
    // function.
    assert!(links.len() < 100, "{} links", links.len());
    let lines = out.json_events();
    let trees = passes(&lines);
    assert!(
        trees.iter().any(|p| has_chain(
            &p["tree"],
            &[
                "__netif_receive_skb_core|__netif_receive_skb_one_core",
                "ip_rcv",
                "ip_local_deliver",
                "tcp_v4_rcv"
            ]
        )),
        "a segment's receive path nests:\n{}",
        outline(&lines)
    );
    let calls = trees
        .iter()
        .flat_map(|p| nodes(&p["tree"]))
        .filter(|n| n["kind"] == "call")
        .count();
    assert!(calls > 100, "{calls} calls:\n{}", outline(&lines));
    assert_all_freed(&progs, &links, Duration::from_secs(60));
}
