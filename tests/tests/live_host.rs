//! Live tests on the running kernel: real TCP/UDP traffic between network
//! namespaces this test creates, traced by the real pkttrace binary.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pkttrace_tests::{
    Tracer, assert_all_freed, bpf_ids_held_by, holds_bpf_stats, require_root, run,
};
use serde_json::Value;
use tracer::netns::TestNet;

/// Lets the last frees reach the ring buffer before stopping the tracer.
const SETTLE: Duration = Duration::from_millis(300);

fn netns_filter(net: &TestNet) -> String {
    format!(
        "netns {} or netns {}",
        TestNet::inode(&net.ns_a).unwrap(),
        TestNet::inode(&net.ns_b).unwrap()
    )
}

fn trace_while(args: &[&str], traffic: impl FnOnce()) -> Vec<Value> {
    let tracer = Tracer::start(args).expect("pkttrace starts");
    traffic();
    std::thread::sleep(SETTLE);
    let out = tracer.stop().expect("pkttrace stops");
    assert_eq!(
        out.code,
        Some(0),
        "pkttrace exit status; stderr:\n{}",
        out.stderr
    );
    out.json_events()
}

fn field<'a>(ev: &'a Value, name: &str) -> &'a Value {
    &ev[name]
}

fn is(ev: &Value, name: &str, want: &str) -> bool {
    field(ev, name).as_str() == Some(want)
}

fn summary(events: &[Value]) -> String {
    events
        .iter()
        .take(40)
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn tcp_v4_handshake_and_data_are_traced_with_their_5_tuple() {
    require_root();
    let net = TestNet::create("tcp").unwrap();
    let filter = netns_filter(&net);
    let events = trace_while(&["--backend", "tracepoint", "-o", "json", &filter], || {
        net.tcp_echo(false, 8080, &[b"hello", b"world"]).unwrap();
    });
    let syn = events.iter().find(|e| {
        is(e, "probe", "net_dev_queue")
            && is(e, "ifname", &net.veth_a)
            && is(e, "proto", "tcp")
            && is(e, "tcp_flags", "S")
    });
    let syn = syn.unwrap_or_else(|| panic!("no SYN leaving {}:\n{}", net.veth_a, summary(&events)));
    assert_eq!(field(syn, "saddr"), "10.199.0.1");
    assert_eq!(field(syn, "daddr"), "10.199.0.2");
    assert_eq!(field(syn, "dport"), 8080);
    assert_ne!(field(syn, "seq"), 0);
    assert_eq!(
        field(syn, "netns").as_u64(),
        Some(TestNet::inode(&net.ns_a).unwrap())
    );
    let sport = field(syn, "sport").as_u64().unwrap();

    // The SYN-ACK arrives on the client side with the ports swapped.
    let syn_ack = events.iter().find(|e| {
        is(e, "probe", "netif_receive_skb")
            && is(e, "ifname", &net.veth_a)
            && is(e, "tcp_flags", "S.")
    });
    let syn_ack = syn_ack.unwrap_or_else(|| panic!("no SYN-ACK received:\n{}", summary(&events)));
    assert_eq!(field(syn_ack, "sport"), 8080);
    assert_eq!(field(syn_ack, "dport").as_u64(), Some(sport));
    assert_eq!(
        field(syn_ack, "ack").as_u64(),
        Some(field(syn, "seq").as_u64().unwrap() + 1)
    );

    // Data ("hello") arrives on the server side with PSH.
    assert!(
        events.iter().any(|e| is(e, "probe", "netif_receive_skb")
            && is(e, "ifname", &net.veth_b)
            && e["tcp_flags"].as_str().is_some_and(|f| f.contains('P'))
            && e["ip_len"].as_u64() == Some(20 + 32 + 5)),
        "no 5-byte data segment received on {}:\n{}",
        net.veth_b,
        summary(&events)
    );
    // Every transmitted skb is accounted for by a device xmit.
    assert!(events.iter().any(|e| is(e, "probe", "net_dev_xmit")));
    // Socket state changes come from inet_sock_set_state.
    assert!(
        events
            .iter()
            .any(|e| is(e, "probe", "inet_sock_set_state") && is(e, "tcp_state", "ESTABLISHED")),
        "no state change to ESTABLISHED:\n{}",
        summary(&events)
    );
}

#[test]
fn udp_over_ipv6_is_parsed() {
    require_root();
    let net = TestNet::create("udp6").unwrap();
    let filter = format!("udp and ({})", netns_filter(&net));
    let events = trace_while(&["--backend", "tracepoint", "-o", "json", &filter], || {
        assert_eq!(net.udp_send(true, 9000, 3).unwrap(), 3);
    });
    let received: Vec<&Value> = events
        .iter()
        .filter(|e| is(e, "probe", "netif_receive_skb") && is(e, "ifname", &net.veth_b))
        .collect();
    assert_eq!(
        received.len(),
        3,
        "three datagrams received:\n{}",
        summary(&events)
    );
    for ev in received {
        assert_eq!(field(ev, "family"), 6);
        assert_eq!(field(ev, "saddr"), "fd99::1");
        assert_eq!(field(ev, "daddr"), "fd99::2");
        assert_eq!(field(ev, "dport"), 9000);
        assert_eq!(field(ev, "proto"), "udp");
    }
    assert!(events.iter().all(|e| is(e, "proto", "udp")));
}

#[test]
fn non_matching_traffic_is_filtered_in_the_kernel() {
    require_root();
    let net = TestNet::create("filt").unwrap();
    let ns_filter = netns_filter(&net);
    let tracer = Tracer::start(&[
        "--backend",
        "tracepoint",
        "-o",
        "json",
        "--proto",
        "udp",
        &ns_filter,
    ])
    .unwrap();
    net.tcp_echo(false, 8081, &[b"not for you"]).unwrap();
    assert_eq!(net.udp_send(false, 9002, 2).unwrap(), 2);
    std::thread::sleep(SETTLE);
    let out = tracer.stop().unwrap();
    let events = out.json_events();
    assert!(!events.is_empty(), "UDP traffic traced");
    assert!(
        events.iter().all(|e| is(e, "proto", "udp")),
        "only UDP passes --proto udp:\n{}",
        summary(&events)
    );
    // The kernel counted what it rejected: the TCP exchange at least.
    let filtered: u64 = out
        .stderr
        .lines()
        .find_map(|l| {
            let (before, _) = l.split_once(" filtered out in the kernel")?;
            before.rsplit(", ").next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no summary line on stderr:\n{}", out.stderr));
    assert!(filtered > 0, "kernel-side filter rejected events");
}

#[test]
fn follow_skb_keeps_a_packet_after_its_first_match() {
    require_root();
    let net = TestNet::create("follow").unwrap();
    let on_a = format!("ifname {}", net.veth_a);

    // Without --follow-skb only events on veth_a pass.
    let plain = trace_while(&["--backend", "tracepoint", "-o", "json", &on_a], || {
        net.udp_send(false, 9003, 2).unwrap();
    });
    assert!(plain.iter().any(|e| is(e, "ifname", &net.veth_a)));
    assert!(
        plain.iter().all(|e| is(e, "ifname", &net.veth_a)),
        "filter holds without --follow-skb:\n{}",
        summary(&plain)
    );

    // With it, the same skb is followed across the veth into namespace b.
    let followed = trace_while(
        &[
            "--backend",
            "tracepoint",
            "-o",
            "json",
            "--follow-skb",
            &on_a,
        ],
        || {
            net.udp_send(false, 9003, 2).unwrap();
        },
    );
    let first_match = followed
        .iter()
        .find(|e| is(e, "probe", "net_dev_queue") && is(e, "proto", "udp"))
        .unwrap_or_else(|| panic!("no UDP datagram queued on veth_a:\n{}", summary(&followed)));
    let skb = field(first_match, "skb").as_str().unwrap();
    let later = followed.iter().find(|e| {
        is(e, "skb", skb) && is(e, "ifname", &net.veth_b) && e["followed"].as_bool() == Some(true)
    });
    assert!(
        later.is_some(),
        "skb {skb} followed onto {}:\n{}",
        net.veth_b,
        summary(&followed)
    );
}

#[test]
fn dropped_packet_shows_its_drop_reason() {
    require_root();
    let net = TestNet::create("drop").unwrap();
    let filter = format!("udp and ({})", netns_filter(&net));
    let events = trace_while(&["--backend", "tracepoint", "-o", "json", &filter], || {
        net.udp_to_closed_port(9004).unwrap();
    });
    let drop = events
        .iter()
        .find(|e| is(e, "probe", "kfree_skb") && e["dport"].as_u64() == Some(9004));
    let drop =
        drop.unwrap_or_else(|| panic!("no kfree_skb for the datagram:\n{}", summary(&events)));
    assert_eq!(field(drop, "drop_reason"), "NO_SOCKET");
    // Where it was dropped, named from kallsyms: the UDP receive path.
    let location = drop["drop_location_symbol"].as_str().unwrap_or_default();
    assert!(
        location.contains("udp"),
        "drop location {location:?}: {drop}"
    );
}

/// `--stack`: the drop comes with the kernel stack that dropped it, named
/// from kallsyms, innermost first, without the BPF glue on top.
#[test]
fn stack_shows_where_the_kernel_dropped_a_packet() {
    require_root();
    let net = TestNet::create("stk").unwrap();
    let filter = format!("udp and port 9005 and ({})", netns_filter(&net));
    let events = trace_while(
        &["--backend", "tracepoint", "--stack", "-o", "json", &filter],
        || net.udp_to_closed_port(9005).unwrap(),
    );
    let drop = events
        .iter()
        .find(|e| is(e, "probe", "kfree_skb") && e["dport"].as_u64() == Some(9005))
        .unwrap_or_else(|| panic!("no kfree_skb for the datagram:\n{}", summary(&events)));
    let stack: Vec<&str> = drop["stack"]
        .as_array()
        .unwrap_or_else(|| panic!("no stack: {drop}"))
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(!stack[0].starts_with("bpf_"), "{stack:?}");
    // The UDP receive path that found no socket, below the drop.
    assert!(
        stack
            .iter()
            .any(|f| f.starts_with("__udp4_lib_rcv+") || f.starts_with("udp_rcv+")),
        "{stack:?}"
    );
    assert!(stack.iter().any(|f| f.starts_with("ip_")), "{stack:?}");
}

#[test]
fn record_then_report_round_trips_real_events() {
    record_then_report(&[]);
}

#[test]
fn compressed_record_then_report_round_trips_real_events() {
    record_then_report(&["--compress"]);
}

fn record_then_report(options: &[&str]) {
    require_root();
    let net = TestNet::create(if options.is_empty() { "rec" } else { "recz" }).unwrap();
    let dir = std::env::temp_dir().join(format!(
        "pkttrace-rec-{}{}",
        std::process::id(),
        options.join("")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("trace.pkt");
    let file_arg = file.to_str().unwrap();
    let filter = netns_filter(&net);
    let mut args = vec![
        "record",
        "--backend",
        "tracepoint",
        "--stack",
        "-o",
        file_arg,
    ];
    args.extend(options);
    args.push(&filter);
    let tracer = Tracer::start(&args).unwrap();
    net.udp_send(false, 9005, 4).unwrap();
    std::thread::sleep(SETTLE);
    let out = tracer.stop().unwrap();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(file.metadata().unwrap().permissions().mode() & 0o777, 0o600);

    let report = run(&["report", file_arg, "-o", "json"]);
    assert_eq!(report.code, Some(0), "{}", report.stderr);
    let events = report.json_events();
    let datagrams = events
        .iter()
        .filter(|e| is(e, "probe", "netif_receive_skb") && e["dport"].as_u64() == Some(9005))
        .count();
    assert_eq!(datagrams, 4, "{}", summary(&events));
    // Stacks come back named from the record alone.
    let received = events
        .iter()
        .find(|e| is(e, "probe", "netif_receive_skb") && e["dport"].as_u64() == Some(9005))
        .unwrap();
    let stack = received["stack"].as_array().expect("a stack");
    assert!(
        stack
            .iter()
            .any(|f| f.as_str().unwrap().starts_with("__netif_receive_skb")),
        "{stack:?}"
    );

    let text = run(&["report", file_arg]);
    assert_eq!(text.code, Some(0));
    assert!(text.stdout.contains("netif_receive_skb"));
    assert!(text.stdout.contains("10.199.0.1:"));

    // A record cut in the middle of a frame is an error, after the events before it.
    let bytes = std::fs::read(&file).unwrap();
    let cut = dir.join("cut.pkt");
    std::fs::write(&cut, &bytes[..bytes.len() - 7]).unwrap();
    let broken = run(&["report", cut.to_str().unwrap()]);
    assert_eq!(broken.code, Some(1));
    assert_eq!(broken.stderr.trim().lines().count(), 1, "{}", broken.stderr);
    assert!(broken.stderr.contains("truncated"), "{}", broken.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn kill_9_leaves_no_program_or_link_behind() {
    require_root();
    let net = TestNet::create("kill").unwrap();
    let tracer =
        Tracer::start(&["--backend", "tracepoint", "-o", "json", &netns_filter(&net)]).unwrap();
    let (progs, links) = bpf_ids_held_by(tracer.pid());
    assert!(progs.len() >= 5, "pkttrace holds its programs: {progs:?}");
    assert!(!links.is_empty(), "pkttrace holds its links");
    tracer.kill9().unwrap();
    assert_all_freed(&progs, &links, Duration::from_secs(10));
}

#[test]
fn a_full_ring_buffer_loses_events_loudly_not_silently() {
    require_root();
    let net = TestNet::create("lost").unwrap();
    // One page of ring: a burst of datagrams overruns it before the reader wakes.
    let mut tracer = Tracer::start(&[
        "--backend",
        "tracepoint",
        "-o",
        "json",
        "--ring-kib",
        "4",
        &netns_filter(&net),
    ])
    .unwrap();
    for _ in 0..5 {
        net.udp_send(false, 9006, 200).unwrap();
    }
    // Losses are reported when the counters are next read (every second):
    // wait for that line rather than for a guess at when it comes.
    tracer
        .wait_for_stderr("on cpu", Duration::from_secs(20))
        .unwrap();
    let out = tracer.stop().unwrap();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr
            .lines()
            .any(|l| l.contains("lost") && l.contains("on cpu")),
        "live loss warning on stderr:\n{}",
        out.stderr
    );
    let lost: u64 = out
        .stderr
        .lines()
        .find_map(|l| l.split_once(" lost, ")?.0.rsplit(", ").next()?.parse().ok())
        .unwrap_or_else(|| panic!("summary line:\n{}", out.stderr));
    assert!(lost > 0);
    assert!(
        !out.json_events().is_empty(),
        "what fit in the ring still arrived"
    );
}

/// One row of the `--cost` table.
#[derive(Debug)]
struct CostRow {
    runs: u64,
    /// `None` for a probe that never ran (`-`).
    ns_per_run: Option<u64>,
    cpu_seconds: f64,
}

/// The `--cost` table on stderr, by probe (the total under "total").
fn cost_table(stderr: &str) -> std::collections::BTreeMap<String, CostRow> {
    let mut lines = stderr
        .lines()
        .map(|l| l.strip_prefix("pkttrace: ").unwrap_or(l))
        .skip_while(|l| !l.starts_with("cost of "));
    assert!(lines.next().is_some(), "no cost table on stderr:\n{stderr}");
    let header = lines.next().unwrap_or_default();
    assert!(header.trim_start().starts_with("probe"), "{header}");
    let mut rows = std::collections::BTreeMap::new();
    for line in lines.take_while(|l| l.starts_with("  ")) {
        let cells: Vec<&str> = line.split_whitespace().collect();
        // A probe's row has its kind; the total has none.
        let numbers = if cells[0] == "total" {
            &cells[1..]
        } else {
            &cells[2..]
        };
        let parse = |s: &str| {
            s.parse::<u64>()
                .unwrap_or_else(|_| panic!("not a number: {s:?} in {line:?}"))
        };
        rows.insert(
            cells[0].to_string(),
            CostRow {
                runs: parse(numbers[0]),
                ns_per_run: (numbers[1] != "-").then(|| parse(numbers[1])),
                cpu_seconds: numbers[3]
                    .parse()
                    .unwrap_or_else(|_| panic!("CPU seconds in {line:?}")),
            },
        );
    }
    rows
}

fn bpf_stats_sysctl() -> String {
    std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled").unwrap()
}

/// `--cost`: a row with numbers for every tracepoint pkttrace attached,
/// runs and a plausible time per run where the traffic went, statistics on
/// while it traces and as they were afterwards.
#[test]
fn cost_shows_what_each_probe_cost() {
    require_root();
    let net = TestNet::create("cost").unwrap();
    let sysctl_before = bpf_stats_sysctl();
    let tracer = Tracer::start(&[
        "--backend",
        "tracepoint",
        "--cost",
        "-o",
        "json",
        &netns_filter(&net),
    ])
    .unwrap();
    assert!(
        holds_bpf_stats(tracer.pid()),
        "pkttrace --cost holds BPF run-time statistics on"
    );
    net.tcp_echo(false, 8090, &[b"what", b"does", b"it", b"cost"])
        .unwrap();
    assert_eq!(net.udp_send(false, 9010, 20).unwrap(), 20);
    std::thread::sleep(SETTLE);
    let out = tracer.stop().unwrap();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(bpf_stats_sysctl(), sysctl_before, "sysctl left as it was");

    let table = cost_table(&out.stderr);
    let attached: usize = out
        .stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("pkttrace: attached ")?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no \"attached N tracepoints\":\n{}", out.stderr));
    // The default set without the softirq markers (function probes only),
    // less any this kernel lacks (warned about by name).
    let expected: Vec<&str> = tracer::backend::tracepoint::TRACEPOINTS
        .iter()
        .filter(|t| !t.frames_only)
        .map(|t| t.tracepoint)
        .filter(|tp| !out.stderr.contains(&format!("tracepoint {tp} skipped")))
        .collect();
    assert_eq!(expected.len(), attached, "{}", out.stderr);
    for tp in &expected {
        assert!(
            table.contains_key(*tp),
            "no cost row for {tp}:\n{}",
            out.stderr
        );
    }
    assert_eq!(table.len(), attached + 1, "one row per probe and a total");
    for tp in [
        "net_dev_queue",
        "net_dev_start_xmit",
        "net_dev_xmit",
        "netif_receive_skb",
        "inet_sock_set_state",
    ] {
        let row = &table[tp];
        assert!(row.runs > 0, "{tp} ran: {row:?}\n{}", out.stderr);
        let ns = row.ns_per_run.unwrap();
        assert!(
            ns > 0 && ns < 1_000_000,
            "{tp}: {ns} ns per run is implausible\n{}",
            out.stderr
        );
    }
    // Both directions of 20 datagrams and a TCP exchange crossed the veth.
    assert!(table["net_dev_queue"].runs >= 20, "{}", out.stderr);
    let total = &table["total"];
    assert_eq!(
        total.runs,
        table.values().map(|r| r.runs).sum::<u64>() - total.runs
    );
    assert!(total.cpu_seconds > 0.0);
}

/// Without `--cost` statistics stay off and no table is printed.
#[test]
fn without_cost_there_is_no_cost_table() {
    require_root();
    let net = TestNet::create("nocost").unwrap();
    let tracer =
        Tracer::start(&["--backend", "tracepoint", "-o", "json", &netns_filter(&net)]).unwrap();
    assert!(!holds_bpf_stats(tracer.pid()));
    net.udp_send(false, 9011, 2).unwrap();
    std::thread::sleep(SETTLE);
    let out = tracer.stop().unwrap();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(!out.stderr.contains("cost of"), "{}", out.stderr);
    assert!(!out.stderr.contains("ns/run"), "{}", out.stderr);
}

/// The MAC address of `dev` in namespace `ns`.
fn mac_of(ns: &str, dev: &str) -> String {
    let out = Command::new("ip")
        .args(["-n", ns, "-j", "link", "show", "dev", dev])
        .output()
        .expect("running ip");
    assert!(out.status.success(), "ip link show {dev}");
    let links: Value = serde_json::from_slice(&out.stdout).expect("ip -j prints JSON");
    links[0]["address"]
        .as_str()
        .unwrap_or_else(|| panic!("no address in {links}"))
        .to_owned()
}

/// Runs `args` in namespace `ns` and requires it to succeed.
fn in_netns(ns: &str, args: &[&str]) {
    let status = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .stdout(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("running {args:?} in {ns}: {e}"));
    assert!(status.success(), "{args:?} in {ns}: {status}");
}

/// `tcpdump -n` on a device of a namespace, for comparing descriptions.
struct Tcpdump {
    child: Child,
}

impl Tcpdump {
    /// Starts it once it is listening; `None` when tcpdump is not installed.
    fn start(ns: &str, dev: &str, filter: &str) -> Option<Tcpdump> {
        let installed = Command::new("tcpdump")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            eprintln!("tcpdump is not installed (scripts/setup.sh installs it): not compared");
            return None;
        }
        let mut child = Command::new("ip")
            .args([
                "netns", "exec", ns, "tcpdump", "-n", "-l", "-i", dev, filter,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting tcpdump");
        // It says "listening on DEV" on stderr once capturing.
        let stderr = child.stderr.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("listening on") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("tcpdump listening within 10 s");
        Some(Tcpdump { child })
    }

    /// Stops it (SIGINT, as at a terminal) and returns its lines without
    /// the timestamp in front.
    fn stop(self) -> Vec<String> {
        // SAFETY: kill on the pid of a child not yet waited for.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let out = self.child.wait_with_output().expect("tcpdump output");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split_once(' ').map_or(l, |(_, rest)| rest).to_owned())
            .collect()
    }
}

/// ARP before a ping, in the words of `tcpdump -n` run on the same device
/// at the same time (less its `, length 28`): the request on both veth
/// ends, the reply with the answering end's MAC.
#[test]
fn arp_is_described_like_tcpdump() {
    require_root();
    let net = TestNet::create("arp").unwrap();
    let mac_b = mac_of(&net.ns_b, &net.veth_b);
    let filter = format!("arp and ({})", netns_filter(&net));
    let tracer = Tracer::start(&["--backend", "tracepoint", &filter]).unwrap();
    let tcpdump = Tcpdump::start(&net.ns_a, &net.veth_a, "arp");
    in_netns(&net.ns_a, &["ip", "neigh", "flush", "all"]);
    let addr_b = net.addr_b.to_string();
    in_netns(&net.ns_a, &["ping", "-c", "1", "-W", "5", &addr_b]);
    std::thread::sleep(SETTLE);
    let out = tracer.stop().unwrap();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();

    let request = format!("ARP, Request who-has {} tell {}", net.addr_b, net.addr_a);
    let reply = format!("ARP, Reply {} is-at {mac_b}", net.addr_b);
    for (probe, dev, what) in [
        ("net_dev_queue", &net.veth_a, &request),
        ("netif_receive_skb", &net.veth_b, &request),
        ("net_dev_queue", &net.veth_b, &reply),
        ("netif_receive_skb", &net.veth_a, &reply),
    ] {
        assert!(
            lines.iter().any(|l| l.contains(&format!(" {probe} "))
                && l.contains(&format!(" {dev} "))
                && l.contains(what.as_str())),
            "no {probe} on {dev} with {what:?}:\n{}",
            out.stdout
        );
    }
    if let Some(tcpdump) = tcpdump {
        let seen = tcpdump.stop();
        assert!(
            seen.len() >= 2,
            "tcpdump saw the request and reply: {seen:?}"
        );
        for line in &seen {
            let words = line
                .rsplit_once(", length ")
                .map_or(line.as_str(), |(w, _)| w);
            assert!(
                out.stdout.contains(words),
                "tcpdump said {words:?}, pkttrace did not:\n{}",
                out.stdout
            );
        }
        assert!(seen.iter().any(|l| l.starts_with(&request)), "{seen:?}");
        assert!(seen.iter().any(|l| l.starts_with(&reply)), "{seen:?}");
    }
}

/// `skb_copy_datagram_iovec` fires in the task that reads the packet: the
/// datagram `nc` reads names `nc`, its pid, and its namespace (the skb of
/// a UDP socket's queue has neither device nor socket). 4000 bytes: UDP
/// copies a datagram in one piece (`copy_linear_skb`) without the
/// tracepoint, and this one arrives in fragments.
#[test]
fn a_read_datagram_names_the_process_that_read_it() {
    require_root();
    let net = TestNet::create("rcv").unwrap();
    let filter = format!("udp and port 9012 and ({})", netns_filter(&net));
    let tracer = Tracer::start(&["--backend", "tracepoint", "-o", "json", &filter]).unwrap();
    let mut nc = Command::new("ip")
        .args([
            "netns", "exec", &net.ns_b, "nc", "-u", "-l", "-W", "1", "9012",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("starting nc (install netcat-openbsd)");
    wait_for_udp_listener(&net.ns_b, 9012);
    let to = std::net::SocketAddr::from((net.addr_b, 9012));
    TestNet::run_in(&net.ns_a, move || {
        let sock = std::net::UdpSocket::bind("0.0.0.0:0")?;
        sock.send_to(&[b'x'; 4000], to)?;
        Ok(())
    })
    .join()
    .expect("sender thread")
    .expect("sending the datagram");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while nc.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "nc did not read the datagram"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(SETTLE);
    let out = tracer.stop().unwrap();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let events = out.json_events();
    let read = events
        .iter()
        .find(|e| is(e, "probe", "skb_copy_datagram_iovec"))
        .unwrap_or_else(|| panic!("no skb_copy_datagram_iovec:\n{}", summary(&events)));
    assert_eq!(field(read, "comm"), "nc", "{read}");
    assert_eq!(field(read, "pid").as_u64(), Some(u64::from(nc.id())));
    assert_eq!(
        field(read, "netns").as_u64(),
        Some(TestNet::inode(&net.ns_b).unwrap())
    );
    assert_eq!(field(read, "saddr"), net.addr_a.to_string().as_str());
    assert_eq!(field(read, "dport"), 9012);
    assert!(field(read, "copied_to_user").as_u64() > Some(0), "{read}");
}

/// Waits (up to 10 s) until a UDP socket in `ns` is bound to `port`.
fn wait_for_udp_listener(ns: &str, port: u16) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let sport = format!("sport = :{port}");
    loop {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "ss", "-H", "-u", "-l", "-n", &sport])
            .output()
            .expect("running ss");
        if !out.stdout.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing listens on UDP port {port} in {ns}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
