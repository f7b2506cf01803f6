//! sch_tdma, the TDMA qdisc module, in Debian's kernel under QEMU: loading,
//! validation, its behaviour under a UDP flood as its own tracepoints report
//! it (through pkttrace), a schedule change under load, and a packet's wait
//! for its window inside its pkttrace packet. The host kernel cannot load
//! modules, so these are ignored by a plain `cargo test`; tests/qemu/ci.sh
//! builds the module and runs them in the guest with `--include-ignored`.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use pkttrace_tests::trees::{has_chain, outline, passes};
use pkttrace_tests::window_edges::{GateSchedule, analyse, summary_us};
use pkttrace_tests::{Tracer, assert_all_freed, bpf_ids_held_by, require_root};
use serde_json::Value;
use tracer::netns::TestNet;

const MS: u64 = 1_000_000;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn module_loaded() -> bool {
    std::path::Path::new("/sys/module/sch_tdma").exists()
}

/// Loads sch_tdma: `$SCH_TDMA_KO` (tests/qemu/ci.sh builds one per guest
/// kernel), else the in-tree build.
fn load_module() {
    if !module_loaded() {
        let ko = std::env::var_os("SCH_TDMA_KO")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join("tdma-qdisc/module/sch_tdma.ko"));
        let out = Command::new("insmod").arg(&ko).output().expect("insmod");
        assert!(
            out.status.success(),
            "insmod {}: {} (tests/qemu/ci.sh builds it)",
            ko.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `tdmactl ARGS` inside namespace `ns`.
fn tdmactl(ns: &str, args: &[&str]) -> Output {
    let bin = std::env::var_os("TDMACTL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/debug/tdmactl"));
    Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(bin)
        .args(args)
        .output()
        .expect("running tdmactl")
}

fn tdmactl_ok(ns: &str, args: &[&str]) -> String {
    let out = tdmactl(ns, args);
    assert!(
        out.status.success(),
        "tdmactl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stats(ns: &str, dev: &str) -> Value {
    serde_json::from_str(&tdmactl_ok(ns, &["stats", "dev", dev, "-o", "json"])).unwrap()
}

fn tc_show(ns: &str, dev: &str) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "tc", "-s", "qdisc", "show", "dev", dev])
        .output()
        .expect("tc");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// CLOCK_MONOTONIC now: the clock of the schedules placed relative to now.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write to.
    assert_eq!(
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) },
        0
    );
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn ip_ok(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A permanent neighbour entry for b's address on a's veth. Without it the
/// first datagrams wait in the neighbour (ARP) queue while the ARP request
/// itself waits in sch_tdma for a window: when, and how many of, them reach
/// the qdisc depends on timing, a stall overflows the ARP queue (drops
/// outside the qdisc, which no qdisc count sees), and its flush reorders.
fn static_neighbour(net: &TestNet) {
    let link: Value = serde_json::from_str(&ip_ok(&[
        "-n",
        &net.ns_b,
        "-j",
        "link",
        "show",
        &net.veth_b,
    ]))
    .expect("ip -j link show");
    let mac = link[0]["address"]
        .as_str()
        .unwrap_or_else(|| panic!("no address in {link}"));
    ip_ok(&[
        "-n",
        &net.ns_a,
        "neigh",
        "replace",
        &net.addr_b.to_string(),
        "lladdr",
        mac,
        "dev",
        &net.veth_a,
        "nud",
        "permanent",
    ]);
}

fn kernel_warnings() -> String {
    let out = Command::new("dmesg").output().expect("dmesg");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            [
                "WARNING:",
                "BUG:",
                "Oops",
                "Call Trace",
                "refcount_t",
                "general protection",
            ]
            .iter()
            .any(|m| l.contains(m))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Sends `count` numbered UDP datagrams of `size` bytes from `a` to `b`,
/// `per_ms` every millisecond, and returns the numbers `b` received, in
/// arrival order. `during(elapsed)` is called between bursts. Arrival is
/// only a cross-check: veth delivers through per-CPU backlogs, which may
/// reorder or (under emulation) drop what the qdisc sent in order; the
/// qdisc's own tracepoints are the evidence.
fn numbered_udp(
    net: &TestNet,
    port: u16,
    count: u32,
    per_ms: u32,
    size: usize,
    mut during: impl FnMut(Duration),
) -> Vec<u32> {
    let dst = SocketAddr::new(net.addr_b.into(), port);
    let receiver = TestNet::run_in(&net.ns_b, move || {
        let sock = UdpSocket::bind(dst)?;
        sock.set_read_timeout(Some(Duration::from_secs(3)))?;
        Ok(sock)
    })
    .join()
    .unwrap()
    .expect("receiver socket");
    let collect = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        while got.len() < count as usize {
            match receiver.recv(&mut buf) {
                Ok(n) if n >= 4 => got.push(u32::from_be_bytes(buf[..4].try_into().unwrap())),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        got
    });
    // Connected: the kernel then numbers the IP ids 0, 1, 2, … (unconnected
    // DF datagrams all get id 0), which tells packets apart in the trace.
    let sender = TestNet::run_in(&net.ns_a, move || {
        let sock = UdpSocket::bind("0.0.0.0:0")?;
        sock.connect(dst)?;
        Ok(sock)
    })
    .join()
    .unwrap()
    .expect("sender socket");
    let start = Instant::now();
    let mut payload = vec![0u8; size];
    let mut seq = 0;
    while seq < count {
        for _ in 0..per_ms.min(count - seq) {
            payload[..4].copy_from_slice(&seq.to_be_bytes());
            sender.send(&payload).expect("send");
            seq += 1;
        }
        during(start.elapsed());
        std::thread::sleep(Duration::from_millis(1));
    }
    collect.join().unwrap()
}

#[test]
#[ignore = "needs a kernel that loads modules (run in QEMU by tests/qemu/ci.sh)"]
fn module_loads_shows_in_tc_and_unloads_with_packets_queued() {
    require_root();
    load_module();
    let net = TestNet::create("tdl").unwrap();
    // Exactly the 20 datagrams below are queued, whatever the timing: no
    // IPv6 on veth_a (its link-local address, MLD reports and router
    // solicitations would be queued too, when they please), the peer's MAC
    // known (no ARP request in the queue, no datagrams held in the
    // neighbour table instead), and the only window of a 10 s frame 5 s
    // away on either side: nothing leaves while the test looks.
    ip_ok(&[
        "netns",
        "exec",
        &net.ns_a,
        "sysctl",
        "-qw",
        &format!("net.ipv6.conf.{}.disable_ipv6=1", net.veth_a),
    ]);
    static_neighbour(&net);
    let base = (monotonic_ns() + 5_000_000_000).to_string();
    tdmactl_ok(
        &net.ns_a,
        &[
            "add",
            "dev",
            &net.veth_a,
            "frame",
            "10s",
            "window",
            "0:1ms",
            "clock",
            "monotonic",
            "base-time",
            &base,
        ],
    );
    let added = Instant::now();
    let tc = tc_show(&net.ns_a, &net.veth_a);
    assert!(tc.contains("qdisc tdma"), "{tc}");
    let show: Value = serde_json::from_str(&tdmactl_ok(
        &net.ns_a,
        &["show", "dev", &net.veth_a, "-o", "json"],
    ))
    .unwrap();
    assert_eq!(show[0]["kind"], "tdma", "{show}");
    assert_eq!(show[0]["schedule"]["frame_ns"], 10_000_000_000u64, "{show}");

    let sent = TestNet::run_in(&net.ns_a, {
        let dst = SocketAddr::new(net.addr_b.into(), 9);
        move || {
            let sock = UdpSocket::bind("0.0.0.0:0")?;
            for _ in 0..20 {
                sock.send_to(b"queued", dst)?;
            }
            Ok(20)
        }
    })
    .join()
    .unwrap()
    .unwrap();
    assert_eq!(sent, 20);
    let queued = stats(&net.ns_a, &net.veth_a)["stats"]["qlen"]
        .as_u64()
        .unwrap();
    let looked = added.elapsed();
    assert!(
        looked < Duration::from_secs(5),
        "{looked:?} between setting the schedule and reading the queue: its window may have opened"
    );
    assert_eq!(
        queued, 20,
        "queue length {looked:?} after setting the schedule"
    );
    eprintln!("{queued} packets queued when the namespace goes");
    // Deleting the namespace destroys the device and its qdisc with packets queued.
    drop(net);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = Command::new("rmmod").arg("sch_tdma").output().unwrap();
        if out.status.success() {
            break;
        }
        // The namespace is torn down asynchronously.
        assert!(
            Instant::now() < deadline,
            "rmmod: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!module_loaded());
    assert_eq!(kernel_warnings(), "");
    load_module();
}

#[test]
#[ignore = "needs a kernel that loads modules (run in QEMU by tests/qemu/ci.sh)"]
fn bad_schedules_are_refused_with_the_kernels_own_message() {
    require_root();
    load_module();
    let net = TestNet::create("tdv").unwrap();
    let dev = net.veth_a.as_str();
    let cases: &[(&[&str], &str)] = &[
        (
            &["frame", "10ms", "window", "0:3ms", "window", "2ms:2ms"],
            "window 1 overlaps window 0",
        ),
        (&["frame", "10ms", "window", "8ms:3ms"], "past the frame"),
        (&["frame", "10ms", "window", "0:0"], "window 0"),
        (&["frame", "1ns", "window", "0:1ns"], "frame"),
        (
            &["frame", "10ms", "window", "0:1ms", "guard", "2ms"],
            "guard",
        ),
        (&["frame", "10ms", "window", "0:1ms", "limit", "0"], "limit"),
    ];
    for (schedule, expected) in cases {
        let mut args = vec!["add", "--no-check", "dev", dev];
        args.extend_from_slice(schedule);
        let out = tdmactl(&net.ns_a, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        let error = stderr
            .lines()
            .find(|l| l.starts_with("tdmactl: error: "))
            .unwrap_or_default();
        assert!(
            error.starts_with("tdmactl: error: tdma: ") && error.contains(expected),
            "{args:?}: expected the kernel's message about {expected:?}, got {stderr}"
        );
        eprintln!("{error}");
    }
    // Nothing was installed by the refused attempts.
    assert!(!tc_show(&net.ns_a, dev).contains("qdisc tdma"));
    // A plain `tc qdisc add … tdma` (no schedule) is refused too.
    let out = Command::new("ip")
        .args([
            "netns", "exec", &net.ns_a, "tc", "qdisc", "add", "dev", dev, "root", "tdma",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("schedule"), "{stderr}");
}

/// The schedule of the flood test, on CLOCK_MONOTONIC (the clock of the
/// events' timestamps) from time 0.
const FLOOD_WINDOWS: [(u64, u64); 2] = [(MS, 2 * MS), (6 * MS, 2 * MS)];
const FLOOD_GUARD_NS: u64 = 100_000;
/// 10 Mbit/s: a window's usable 1.9 ms carries 2375 bytes.
const FLOOD_RATE_BYTES: u64 = 1_250_000;
/// Between the qdisc reading its clock and the tracepoint's timestamp: a
/// few µs natively, more under emulation (an interrupt may come between,
/// or the host may deschedule the emulated CPU: then far more, rarely).
const EDGE_TOLERANCE_NS: i64 = 250_000;

#[test]
#[ignore = "needs a kernel that loads modules (run in QEMU by tests/qemu/ci.sh)"]
fn under_a_udp_flood_dequeues_stay_in_windows_within_budget_and_drops_are_counted() {
    require_root();
    load_module();
    let net = TestNet::create("tdf").unwrap();
    // Every datagram into the qdisc at once: its counts are then exact.
    static_neighbour(&net);
    let dev = net.veth_a.as_str();
    let tracer = Tracer::start(&[
        "--backend",
        "tracepoint",
        "-o",
        "json",
        "--tracepoints",
        "tdma_dequeue,tdma_window_close,tdma_drop,tdma_change",
        "--ifname",
        dev,
    ])
    .expect("pkttrace starts");
    // The same trace seen by window: pkttrace --tdma.
    let by_window = Tracer::start(&[
        "--backend",
        "tracepoint",
        "--tdma",
        "-o",
        "json",
        "--ifname",
        dev,
    ])
    .expect("pkttrace --tdma starts");
    tdmactl_ok(
        &net.ns_a,
        &[
            "add",
            "dev",
            dev,
            "frame",
            "10ms",
            "window",
            "1ms:2ms",
            "window",
            "6ms:2ms",
            "guard",
            "100us",
            "clock",
            "monotonic",
            "base-time",
            "0",
            "limit",
            "50",
            "rate",
            "10mbit",
        ],
    );
    // ~1000-byte packets, 3 per ms: far more than 2 per window can leave.
    let received = numbered_udp(&net, 7001, 1500, 3, 972, |_| {});
    // The queue drains at ~400 packets/s.
    std::thread::sleep(Duration::from_millis(500));
    let out = tracer.stop().unwrap();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains(" 0 lost"), "{}", out.stderr);
    let events = out.json_events();
    let of =
        |probe: &str| -> Vec<&Value> { events.iter().filter(|e| e["probe"] == probe).collect() };
    let windows = by_window.stop().unwrap();
    assert_eq!(windows.code, Some(0), "{}", windows.stderr);
    let windows: Vec<Value> = windows
        .json_events()
        .into_iter()
        .filter(|w| w["type"] == "window" && w["closed"] == true)
        .collect();
    assert!(windows.len() > 10, "{} windows", windows.len());
    for w in &windows {
        let length =
            w["end_clock_ns"].as_i64().unwrap_or(0) - w["start_clock_ns"].as_i64().unwrap_or(0);
        for sent in w["sent"].as_array().unwrap() {
            let offset = sent["offset_ns"].as_i64().unwrap_or(0);
            assert!(
                (0..=length).contains(&offset),
                "sent {offset} ns into a {length} ns window: {w}"
            );
            assert_eq!(sent["packet"]["probe"], "tdma_dequeue");
        }
    }

    let dequeues = of("tdma_dequeue");
    let schedule = GateSchedule {
        frame_ns: 10 * MS,
        base_ns: 0,
        windows: FLOOD_WINDOWS.to_vec(),
    };
    // When the qdisc decided, on its clock: the end of the window it names
    // (computed here from the schedule) minus the time it says was left.
    let decided: Vec<u64> = dequeues
        .iter()
        .map(|d| {
            let t = &d["tdma"];
            let (frame, window) = (t["frame"].as_i64().unwrap(), t["window"].as_u64().unwrap());
            let (offset, length) = FLOOD_WINDOWS[window as usize];
            let end = frame * (10 * MS) as i64 + (offset + length) as i64;
            (end - t["left_ns"].as_i64().unwrap()) as u64
        })
        .collect();
    let by_qdisc = analyse(&schedule, &decided);
    // Where the events' own timestamps put them: later than the decision by
    // the tracing delay, which an emulated CPU descheduled by its host can
    // stretch past any tolerance now and then.
    let ts: Vec<u64> = dequeues
        .iter()
        .map(|e| e["ts_ns"].as_u64().unwrap())
        .collect();
    let by_event = analyse(&schedule, &ts);
    let late_events = ts
        .iter()
        .zip(&decided)
        .filter(|&(&ts, &decided)| ts as i64 - decided as i64 > EDGE_TOLERANCE_NS)
        .count();
    eprintln!(
        "{} dequeues; worst slack {:.1} us by the qdisc's clock (tolerance 0), {:.1} us by \
         event timestamps (tolerance {:.1} us; {late_events} events later than that after their \
         decision); after opening {}; before closing {}",
        by_qdisc.dequeues,
        by_qdisc.worst_slack_ns as f64 / 1e3,
        by_event.worst_slack_ns as f64 / 1e3,
        EDGE_TOLERANCE_NS as f64 / 1e3,
        summary_us(&by_qdisc.after_open_ns),
        summary_us(&by_qdisc.before_close_ns)
    );
    assert!(by_qdisc.dequeues > 100, "{} dequeues", by_qdisc.dequeues);
    // Every decision inside a window, before its guard.
    assert_eq!(by_qdisc.outside, 0, "dequeues outside every window");
    for d in &dequeues {
        assert!(
            d["tdma"]["left_ns"].as_i64().unwrap() >= FLOOD_GUARD_NS as i64,
            "dequeued inside the guard: {d}"
        );
    }
    // The events' timestamps follow the qdisc's decisions: never before
    // them (both read CLOCK_MONOTONIC), and most within the tolerance. How
    // many come later depends on the host descheduling the emulated CPU
    // between the two clock reads, i.e. on the host's load (4 of 384 events
    // more than 250 us outside every window on a busy 2-CPU host, where
    // this once asked for at most 1 %): a tenth is the limit, which a
    // broken timestamp (off for every event) still fails.
    let early = ts
        .iter()
        .zip(&decided)
        .filter(|&(&ts, &decided)| decided as i64 - ts as i64 > EDGE_TOLERANCE_NS)
        .count();
    assert_eq!(early, 0, "events stamped before the qdisc decided");
    assert!(
        late_events * 10 <= ts.len(),
        "{late_events} of {} event timestamps more than {} us after the qdisc's decision",
        ts.len(),
        EDGE_TOLERANCE_NS / 1000
    );

    let budget = FLOOD_RATE_BYTES * (2 * MS - FLOOD_GUARD_NS) / 1_000_000_000;
    let closes = of("tdma_window_close");
    assert!(!closes.is_empty());
    let fullest = closes
        .iter()
        .map(|c| c["tdma"]["bytes"].as_u64().unwrap())
        .max()
        .unwrap();
    eprintln!("fullest window {fullest} bytes of a {budget}-byte budget");
    assert!(fullest <= budget, "{fullest} > {budget}");
    assert!(fullest > budget / 2, "windows carried little: {fullest}");

    let traced_drops = of("tdma_drop")
        .iter()
        .filter(|d| d["tdma"]["reason"] == "LIMIT")
        .count() as u64;
    let xstats = stats(&net.ns_a, dev)["xstats"].clone();
    eprintln!(
        "drops at the limit: {traced_drops} traced, {} counted; {} received of 1500",
        xstats["dropped_limit"],
        received.len()
    );
    assert!(traced_drops > 0);
    assert_eq!(xstats["dropped_limit"].as_u64(), Some(traced_drops));
    let sent_on = dequeues.iter().filter(|d| d["dport"] == 7001).count() as u64;
    assert_eq!(
        sent_on + traced_drops,
        1500,
        "dequeued {sent_on}, dropped {traced_drops}"
    );
    assert_eq!(of("tdma_change").len(), 1, "the schedule set by add");
}

#[test]
#[ignore = "needs a kernel that loads modules (run in QEMU by tests/qemu/ci.sh)"]
fn a_schedule_change_under_load_loses_and_reorders_nothing() {
    require_root();
    load_module();
    let net = TestNet::create("tdc").unwrap();
    // The datagrams reach the qdisc in send order (no ARP queue between).
    static_neighbour(&net);
    let dev = net.veth_a.clone();
    let ns = net.ns_a.clone();
    tdmactl_ok(
        &ns,
        &[
            "add", "dev", &dev, "frame", "10ms", "window", "1ms:2ms", "limit", "10000",
        ],
    );
    let tracer = Tracer::start(&[
        "--backend",
        "tracepoint",
        "-o",
        "json",
        "--tracepoints",
        "tdma_enqueue,tdma_dequeue,tdma_drop,tdma_change",
        "--ifname",
        &dev,
        "(udp and port 7002) or not udp",
    ])
    .expect("pkttrace starts");
    let mut changed = 0;
    let received = numbered_udp(&net, 7002, 3000, 1, 200, |elapsed| {
        let schedule: &[&str] = match (changed, elapsed.as_millis()) {
            (0, 1000..) => &["frame", "5ms", "window", "0:1ms", "window", "2ms:2ms"],
            (1, 2000..) => &["frame", "20ms", "window", "15ms:3ms"],
            _ => return,
        };
        let mut args = vec!["change", "dev", dev.as_str()];
        args.extend_from_slice(schedule);
        tdmactl_ok(&ns, &args);
        changed += 1;
    });
    assert_eq!(changed, 2);
    std::thread::sleep(Duration::from_millis(500));
    let out = tracer.stop().unwrap();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains(" 0 lost"), "{}", out.stderr);
    let events = out.json_events();
    let ids = |probe: &str| -> Vec<u64> {
        events
            .iter()
            .filter(|e| e["probe"] == probe && e["dport"] == 7002)
            .map(|e| e["ip_id"].as_u64().unwrap())
            .collect()
    };
    let (enqueued, dequeued) = (ids("tdma_enqueue"), ids("tdma_dequeue"));
    assert_eq!(enqueued.len(), 3000, "{}", out.stderr);
    assert_eq!(
        dequeued, enqueued,
        "the qdisc sent in another order or lost some"
    );
    // One sending thread, the peer's MAC known: the datagrams reach the
    // qdisc in send order, and their IP ids (connected socket) count up.
    let in_send_order = dequeued
        .windows(2)
        .filter(|p| p[1] == (p[0] + 1) % 65536)
        .count();
    assert_eq!(in_send_order, 2999, "dequeued out of send order");
    assert!(!events.iter().any(|e| e["probe"] == "tdma_drop"));
    let changes: Vec<&Value> = events
        .iter()
        .filter(|e| e["probe"] == "tdma_change")
        .collect();
    assert_eq!(changes.len(), 2);
    for c in &changes {
        // Each takes effect at a frame boundary of the running schedule, later.
        let t = &c["tdma"];
        assert!(
            t["effective_clock_ns"].as_i64() > t["now_clock_ns"].as_i64(),
            "{c}"
        );
    }
    let xstats = stats(&ns, &dev)["xstats"].clone();
    assert_eq!(xstats["changes"], 2, "{xstats}");
    assert_eq!(xstats["dropped_limit"], 0, "{xstats}");
    let in_order = received.windows(2).filter(|p| p[1] == p[0] + 1).count();
    eprintln!(
        "qdisc: 3000 enqueued, 3000 dequeued in send order across 2 changes; \
         receiver got {} ({in_order} pairs in order)",
        received.len(),
    );
}

#[test]
#[ignore = "needs a kernel that loads modules and fentry (run in QEMU by tests/qemu/ci.sh)"]
fn a_packets_tree_shows_its_wait_for_the_window() {
    require_root();
    load_module();
    let net = TestNet::create("tdj").unwrap();
    static_neighbour(&net);
    // One 50 ms window every 400 ms, at 0 on CLOCK_MONOTONIC. Wide enough
    // that a watchdog firing late under emulation still finds it open: a
    // 1 ms window was missed on 6.12 and the datagrams waited 1.13 s, past
    // the 1 s after which a packet without events ends as idle.
    tdmactl_ok(
        &net.ns_a,
        &[
            "add",
            "dev",
            &net.veth_a,
            "frame",
            "400ms",
            "window",
            "0:50ms",
            "clock",
            "monotonic",
            "base-time",
            "0",
        ],
    );
    let tracer = Tracer::start(&[
        "--profile",
        "dev",
        "--packets",
        "-o",
        "json",
        "--trees",
        "udp and port 7003",
    ])
    .expect("pkttrace starts");
    // Sent just after a window: each datagram waits most of a frame for the
    // next, whatever the moment the test got here (a phase left to chance
    // made them wait anything from 0 up). Less than a frame, too: a packet
    // with no event for 1 s counts as idle and ends.
    let (frame, window) = (400 * MS, 50 * MS);
    let after_window = window + 2 * MS;
    let phase = monotonic_ns() % frame;
    if phase < after_window {
        std::thread::sleep(Duration::from_nanos(after_window - phase));
    } else if phase >= frame - 100 * MS {
        std::thread::sleep(Duration::from_nanos(frame - phase + after_window));
    }
    let received = numbered_udp(&net, 7003, 5, 1, 100, |_| {});
    assert_eq!(received.len(), 5);
    std::thread::sleep(Duration::from_millis(1500));
    let out = tracer.stop().unwrap();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let lines = out.json_events();
    let packets: Vec<&Value> = lines.iter().filter(|l| l["type"] == "packet").collect();
    // Each datagram is one packet, sent over the veth and delivered.
    let datagrams: Vec<&&Value> = packets.iter().filter(|p| p["dport"] == 7003).collect();
    assert_eq!(datagrams.len(), 5, "{}", out.stdout);
    assert!(
        datagrams
            .iter()
            .all(|p| p["outcome"] == "delivered" || p["outcome"] == "sent"),
        "{}",
        out.stdout
    );
    let waits: Vec<u64> = packets
        .iter()
        .filter_map(|j| {
            let nodes: Vec<&Value> = j["passes"]
                .as_array()?
                .iter()
                .flat_map(|p| pkttrace_tests::trees::nodes(&p["tree"]))
                .collect();
            // A pass may dequeue several packets: this packet's own skbs.
            let skbs: Vec<&Value> = j["skbs"].as_array()?.iter().map(|s| &s["skb"]).collect();
            let own = |n: &&&Value| skbs.contains(&&n["skb"]);
            // The qdisc's tracepoints: with a tdma qdisc installed the
            // `dev` profile also probes its functions of the same names.
            let point = |n: &&&Value| n["kind"] == "point";
            let enqueued = nodes
                .iter()
                .filter(own)
                .filter(point)
                .any(|n| n["probe"] == "tdma_enqueue");
            let dequeue = nodes
                .iter()
                .filter(own)
                .filter(point)
                .find(|n| n["probe"] == "tdma_dequeue")?;
            enqueued.then(|| dequeue["tdma"]["waited_ns"].as_u64())?
        })
        .collect();
    eprintln!("waits for the window in packets: {waits:?} ns");
    assert!(
        waits.len() >= 3,
        "packets with tdma_enqueue and tdma_dequeue: {}\n{}",
        waits.len(),
        out.stdout.chars().take(4000).collect::<String>()
    );
    // Sent 1 ms apart after a window and at least 100 ms before the next:
    // all wait (≥ 10 ms even if the emulated CPU stalls a while).
    assert!(waits.iter().all(|&w| w >= 10 * MS), "{waits:?}");
}

/// sch_tdma's own functions, probed with `--func 'tdma_*'` by fentry (the
/// guest's module has BTF) and by kprobe: `tdma_enqueue` and `tdma_dequeue`
/// calls hold the qdisc's tracepoints of the same names in the packets'
/// trees, and stopping leaves no program or link behind.
#[test]
#[ignore = "needs a kernel that loads modules and fentry (run in QEMU by tests/qemu/ci.sh)"]
fn the_qdiscs_own_functions_hold_its_tracepoints_in_call_trees() {
    require_root();
    load_module();
    let net = TestNet::create("tdf").unwrap();
    static_neighbour(&net);
    tdmactl_ok(
        &net.ns_a,
        &[
            "add",
            "dev",
            &net.veth_a,
            "frame",
            "10ms",
            "window",
            "0:5ms",
        ],
    );
    for backend in ["fentry", "kprobe"] {
        let tracer = Tracer::start(&[
            "--backend",
            backend,
            "--func",
            "tdma_*",
            "-o",
            "json",
            "--trees",
            "udp and port 7004",
        ])
        .expect("pkttrace starts");
        let (progs, links) = bpf_ids_held_by(tracer.pid());
        let received = numbered_udp(&net, 7004, 5, 1, 100, |_| {});
        assert_eq!(received.len(), 5, "{backend}");
        std::thread::sleep(Duration::from_millis(1500));
        let out = tracer.stop().unwrap();
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        assert!(!out.stderr.contains("not probed"), "{}", out.stderr);
        assert!(
            out.stderr.contains(&format!("functions with {backend}")),
            "{}",
            out.stderr
        );
        if backend == "fentry" {
            // Through the module's BTF, not a kprobe fallback.
            assert!(!out.stderr.contains("kprobes "), "{}", out.stderr);
        }
        let lines = out.json_events();
        let trees = passes(&lines);
        for function in ["tdma_enqueue", "tdma_dequeue"] {
            assert!(
                trees.iter().any(|p| {
                    p["tree"]["kind"] == "call" && has_chain(&p["tree"], &[function, function])
                }),
                "{backend}: a {function} call holding its tracepoint:\n{}",
                outline(&lines)
            );
        }
        assert_all_freed(&progs, &links, Duration::from_secs(60));
    }
}
