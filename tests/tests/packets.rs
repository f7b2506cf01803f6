//! The packet model live on the host kernel (tracepoints only): TCP, a
//! ping and the ARP before it, and UDP to a closed port between two
//! namespaces the test makes, traced with `--packets`, checked against
//! what tcpdump captured on the receiving side.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pkttrace_tests::{Tracer, require_root, trees};
use serde_json::Value;
use tracer::netns::TestNet;

/// Lets the last frees reach the ring buffer and the idle packets end.
const SETTLE: Duration = Duration::from_millis(1500);

/// What tells one TCP segment from another, as both tools print it.
type Segment = (u64, u64, String, u64);

/// tcpdump on `dev` in `ns`, printing what it captures: absolute sequence
/// numbers, IP ids, no name lookups, unbuffered.
fn tcpdump(ns: &str, dev: &str) -> Child {
    let child = Command::new("ip")
        .args([
            "netns", "exec", ns, "tcpdump", "-l", "-n", "-S", "-v", "-i", dev,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tcpdump runs (scripts/setup.sh installs it)");
    // It listens once it has opened the device.
    std::thread::sleep(Duration::from_millis(500));
    child
}

/// The TCP segments in tcpdump's `-v` output: the IP line has `id N`, the
/// next line `A.p > B.q: Flags [S], seq N, ack M, ...`.
fn tcpdump_segments(text: &str) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut id = None;
    for line in text.lines() {
        if let Some(at) = line.find(" id ") {
            id = line[at + 4..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse().ok());
            continue;
        }
        let Some(flags) = line
            .split("Flags [")
            .nth(1)
            .and_then(|rest| rest.split(']').next())
        else {
            continue;
        };
        let number = |name: &str| {
            line.split(&format!(" {name} "))
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse::<u64>().ok())
        };
        // `seq 1:6` for data: the first number is the segment's.
        let (Some(seq), Some(id)) = (number("seq"), id.take()) else {
            continue;
        };
        segments.push((seq, number("ack").unwrap_or(0), flags.to_owned(), id));
    }
    segments
}

/// The segments a packet's own nodes carry.
fn packet_segments(packet: &Value) -> BTreeSet<Segment> {
    let skbs: Vec<&Value> = packet["skbs"]
        .as_array()
        .map(|skbs| skbs.iter().map(|s| &s["skb"]).collect())
        .unwrap_or_default();
    packet["passes"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|pass| trees::nodes(&pass["tree"]))
        .filter(|node| skbs.contains(&&node["skb"]) && node["proto"] == "tcp")
        .filter(|node| node["from_socket"] != true)
        .filter_map(|node| {
            Some((
                node["seq"].as_u64()?,
                node["ack"].as_u64().unwrap_or(0),
                node["tcp_flags"].as_str()?.to_owned(),
                node["ip_id"].as_u64()?,
            ))
        })
        .collect()
}

fn ping(net: &TestNet) {
    let status = Command::new("ip")
        .args(["netns", "exec", &net.ns_a, "ping", "-c", "1", "-W", "2"])
        .arg(net.addr_b.to_string())
        .stdout(Stdio::null())
        .status()
        .expect("ping runs");
    assert!(status.success(), "ping {} from {}", net.addr_b, net.ns_a);
}

#[test]
fn each_packet_is_one_entry_with_its_true_outcome() {
    require_root();
    let net = TestNet::create("pkt").unwrap();
    let filter = format!(
        "netns {} or netns {}",
        TestNet::inode(&net.ns_a).unwrap(),
        TestNet::inode(&net.ns_b).unwrap()
    );
    let capture = tcpdump(&net.ns_b, &net.veth_b);
    let tracer = Tracer::start(&[
        "--backend",
        "tracepoint",
        "--packets",
        "-o",
        "json",
        "--trees",
        &filter,
    ])
    .expect("pkttrace starts");
    // No neighbour entries yet in fresh namespaces: the ping starts with ARP.
    ping(&net);
    net.tcp_echo(false, 8080, &[b"hello", b"world"]).unwrap();
    net.udp_to_closed_port(9999).unwrap();
    std::thread::sleep(SETTLE);
    let out = tracer.stop().expect("pkttrace stops");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // SAFETY: the pid is tcpdump's, which this test started.
    unsafe { libc::kill(capture.id() as i32, libc::SIGTERM) };
    let captured = capture.wait_with_output().expect("tcpdump output");
    let captured = String::from_utf8_lossy(&captured.stdout).into_owned();
    let lines = out.json_events();
    let packets: Vec<&Value> = lines.iter().filter(|l| l["type"] == "packet").collect();
    let dump = || {
        packets
            .iter()
            .map(|p| {
                format!(
                    "{} {} {}:{} > {}:{} [{}] {}",
                    p["proto"],
                    p["outcome_text"],
                    p["saddr"],
                    p["sport"],
                    p["daddr"],
                    p["dport"],
                    p["tcp_flags"],
                    p["hops"]
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };

    // Every TCP segment tcpdump saw arrive is in exactly one packet.
    let segments = tcpdump_segments(&captured);
    assert!(segments.len() >= 8, "tcpdump saw {segments:?}\n{captured}");
    let per_packet: Vec<BTreeSet<Segment>> = packets.iter().map(|p| packet_segments(p)).collect();
    for segment in &segments {
        let holders = per_packet.iter().filter(|s| s.contains(segment)).count();
        assert_eq!(
            holders,
            1,
            "segment {segment:?} in {holders} packets:\n{}",
            dump()
        );
    }

    // The SYN: one packet, delivered in b (its SYN-ACK acknowledges it).
    let syns: Vec<&&Value> = packets
        .iter()
        .filter(|p| p["tcp_flags"] == "S" && p["dport"] == 8080)
        .collect();
    assert_eq!(syns.len(), 1, "{}", dump());
    let syn = syns[0];
    assert_eq!(syn["outcome"], "delivered", "{}", dump());
    let hops = syn["hops"].as_array().unwrap();
    assert_eq!(hops.first().unwrap()["ifname"], net.veth_a.as_str());
    assert_eq!(hops.last().unwrap()["ifname"], net.veth_b.as_str());
    assert_eq!(
        hops.last().unwrap()["netns"].as_u64(),
        Some(TestNet::inode(&net.ns_b).unwrap())
    );
    assert!(syn["latency_ns"].as_u64().unwrap() > 0);

    // The datagram to the closed port: dropped, no socket.
    let datagram = packets
        .iter()
        .find(|p| p["proto"] == "udp" && p["dport"] == 9999)
        .unwrap_or_else(|| panic!("no datagram to 9999:\n{}\n{}", dump(), out.stdout));
    assert_eq!(datagram["outcome"], "dropped", "{}", dump());
    assert_eq!(datagram["drop_reason"], "NO_SOCKET");

    // The ARP before the ping, described as tcpdump does, taken by b's
    // ARP; and its reply by a's.
    let arp = |text: &str| {
        packets
            .iter()
            .find(|p| p["non_ip"].as_str().is_some_and(|t| t.starts_with(text)))
            .unwrap_or_else(|| panic!("no {text}:\n{}", dump()))
    };
    let request = arp(&format!(
        "ARP, Request who-has {} tell {}",
        net.addr_b, net.addr_a
    ));
    assert_eq!(request["outcome"], "delivered", "{}", dump());
    assert_eq!(request["hops"].as_array().unwrap().len(), 2);
    let reply = arp(&format!("ARP, Reply {} is-at ", net.addr_b));
    assert_eq!(reply["outcome"], "delivered", "{}", dump());

    // The ping: its request delivered in b.
    let request = packets
        .iter()
        .find(|p| p["proto"] == "icmp" && p["daddr"] == net.addr_b.to_string())
        .unwrap_or_else(|| panic!("no echo request:\n{}", dump()));
    assert_eq!(request["outcome"], "delivered", "{}", dump());
}
