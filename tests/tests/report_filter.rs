//! `pkttrace report FILE [FILTER]`: the live trace's filter language and
//! options, run on the events of the records in `tests/data` (see its
//! README for the traffic they hold). Needs no privilege.

use pkttrace_tests::run;
use serde_json::Value;

fn record(name: &str) -> String {
    format!("{}/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// `pkttrace report ARGS` as JSON lines; it must succeed.
fn report_json(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["report"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    let out = run(&all);
    assert_eq!(out.code, Some(0), "{all:?}: {}", out.stderr);
    out.json_events()
}

/// Every event of the function-probe record: UDP only keeps UDP events,
/// which are fewer than all but include both datagrams' receive paths.
#[test]
fn a_filter_word_keeps_only_matching_events() {
    let file = record("tcp-udp-fentry.pkt");
    let all = report_json(&[&file]);
    let udp = report_json(&[&file, "udp"]);
    assert!(
        !udp.is_empty() && udp.len() < all.len(),
        "{} of {}",
        udp.len(),
        all.len()
    );
    assert!(
        udp.iter().all(|e| e["proto"] == "udp"),
        "only UDP events pass `udp`"
    );
    for port in [9000, 9999] {
        assert!(
            udp.iter()
                .any(|e| e["dport"] == port && e["probe"] == "ip_rcv"),
            "the datagram to port {port} is received"
        );
    }
    // The events that passed are those userspace's filter accepts among
    // all: the same expression with `not` keeps the rest.
    let rest = report_json(&[&file, "not", "udp"]);
    assert_eq!(udp.len() + rest.len(), all.len());
}

/// `--port` as live: the closed-port datagram and its drop, nothing else.
#[test]
fn options_filter_as_they_do_live() {
    let events = report_json(&[&record("host-tracepoints.pkt"), "--port", "9999"]);
    assert!(!events.is_empty());
    assert!(
        events
            .iter()
            .all(|e| e["sport"] == 9999 || e["dport"] == 9999),
        "every event is the closed-port datagram's"
    );
    let drop = events
        .iter()
        .find(|e| e["probe"] == "kfree_skb")
        .expect("the datagram's drop");
    assert_eq!(drop["drop_reason"], "NO_SOCKET");
    assert_eq!(drop["saddr"], "10.199.0.1");
    // Options are ANDed with the expression.
    let none = report_json(&[&record("host-tracepoints.pkt"), "tcp", "--port", "9999"]);
    assert!(none.is_empty(), "{none:?}");
    let syns = report_json(&[
        &record("host-tracepoints.pkt"),
        "tcp-syn and not tcp-ack",
        "--proto",
        "tcp",
    ]);
    assert!(!syns.is_empty());
    assert!(syns.iter().all(|e| e["tcp_flags"] == "S"), "{syns:?}");
}

/// Packets are kept whole when one of their events matches: the closed-port
/// datagram's, from its send to its drop; not the ICMP error the drop sent
/// (another packet, whose headers do not name the port).
#[test]
fn packets_are_kept_whole_when_an_event_matches() {
    let out = run(&["report", &record("tcp-udp-fentry.pkt"), "--port", "9999"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout
            .contains("UDP 10.199.0.1:40002 > 10.199.0.2:9999"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("dropped NO_SOCKET"), "{}", out.stdout);
    assert!(out.stdout.contains("udp_send_skb"), "{}", out.stdout);
    assert!(
        !out.stdout.contains(":8080") && !out.stdout.contains("type 3/3"),
        "only the datagram's packet:\n{}",
        out.stdout
    );
    assert_eq!(out.stdout.matches("══ packet").count(), 1, "{}", out.stdout);
}
