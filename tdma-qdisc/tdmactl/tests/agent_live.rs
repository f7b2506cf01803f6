//! Three `tdmactl agent` processes on one bridged segment (one network
//! namespace each, the bridge in a fourth) agree on a schedule, reconfigure
//! when one leaves and again when it comes back. Needs root. The host has no
//! sch_tdma, so there the agents run with `--dry-run` (the events are the
//! schedules they would apply); the ignored variant drives the real qdisc
//! and is run in Debian's kernel under QEMU by tests/qemu/ci.sh, which
//! builds the module.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("running ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Namespaces named after this process, deleted on drop (also on panic).
struct Segment {
    bridge: String,
    nodes: Vec<String>,
}

impl Segment {
    fn create(n: usize) -> Segment {
        static RUN: AtomicU32 = AtomicU32::new(0);
        let prefix = format!(
            "tdag{}-{}",
            std::process::id(),
            RUN.fetch_add(1, Ordering::SeqCst)
        );
        let mut seg = Segment {
            bridge: format!("{prefix}-br"),
            nodes: Vec::new(),
        };
        ip(&["netns", "add", &seg.bridge]);
        ip(&["-n", &seg.bridge, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &seg.bridge, "link", "set", "br0", "up"]);
        for i in 0..n {
            let ns = format!("{prefix}-n{i}");
            ip(&["netns", "add", &ns]);
            seg.nodes.push(ns.clone());
            let port = format!("p{i}");
            ip(&[
                "-n",
                &ns,
                "link",
                "add",
                "eth0",
                "type",
                "veth",
                "peer",
                "name",
                &port,
                "netns",
                &seg.bridge,
            ]);
            ip(&[
                "-n",
                &seg.bridge,
                "link",
                "set",
                &port,
                "master",
                "br0",
                "up",
            ]);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("10.77.0.{}/24", i + 1),
                "dev",
                "eth0",
            ]);
            ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        }
        seg
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        for ns in self.nodes.iter().chain([&self.bridge]) {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Whether the agents touch a real sch_tdma.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    DryRun,
    Qdisc,
}

/// One agent and what it printed so far.
struct Agent {
    name: String,
    child: Child,
    events: Arc<Mutex<Vec<Value>>>,
    log: Arc<Mutex<String>>,
}

impl Agent {
    fn start(netns: &str, name: &str, mode: Mode) -> Agent {
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                netns,
                env!("CARGO_BIN_EXE_tdmactl"),
                "agent",
            ])
            .args(["--dev", "eth0", "--name", name, "--events", "-"])
            .args(match mode {
                Mode::DryRun => &["--dry-run", "--interval", "50ms"][..],
                Mode::Qdisc => &["--interval", "100ms"][..],
            })
            .args(["--frame", "10ms", "--guard", "100us", "--duration", "60"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting tdmactl agent");
        let events = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::new(Mutex::new(String::new()));
        let (stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let sink = events.clone();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let event = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("bad event {line:?}: {e}"));
                sink.lock().unwrap().push(event);
            }
        });
        let sink = log.clone();
        thread::spawn(move || {
            let mut buf = [0; 4096];
            while let Ok(n @ 1..) = stderr.read(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Agent {
            name: name.into(),
            child,
            events,
            log,
        }
    }

    /// SIGTERM, as an operator would; the agent says goodbye and exits 0.
    fn stop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: plain kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "{} exited with {status}:\n{}",
            self.name,
            self.log.lock().unwrap()
        );
    }

    /// The newest switch decision, if any.
    fn last_switch(&self) -> Option<Value> {
        let events = self.events.lock().unwrap();
        events
            .iter()
            .rev()
            .find(|e| e["decision"] == "switch")
            .cloned()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tai_now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec.
    assert_eq!(unsafe { libc::clock_gettime(libc::CLOCK_TAI, &mut ts) }, 0);
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Waits until every agent in `running` has switched to a schedule of
/// exactly those members, and that switch time has passed; then checks they
/// agree on it and their windows do not overlap.
fn converge(running: &[&Agent], within: Duration) -> u64 {
    let want: Vec<&str> = running.iter().map(|a| a.name.as_str()).collect();
    let deadline = Instant::now() + within;
    loop {
        let switches: Vec<Option<Value>> = running.iter().map(|a| a.last_switch()).collect();
        let done = switches.iter().all(|s| {
            s.as_ref().is_some_and(|s| {
                let members: Vec<&str> = s["members"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m.as_str().unwrap())
                    .collect();
                members == want && s["switch_at_ns"].as_u64().unwrap() <= tai_now_ns()
            })
        });
        if done {
            let switches: Vec<Value> = switches.into_iter().map(Option::unwrap).collect();
            let at = switches[0]["switch_at_ns"].as_u64().unwrap();
            let mut windows = Vec::new();
            for (agent, s) in running.iter().zip(&switches) {
                assert_eq!(
                    s["switch_at_ns"].as_u64(),
                    Some(at),
                    "{} switched at another time: {switches:?}",
                    agent.name
                );
                let w = s["windows"].as_array().unwrap();
                assert_eq!(w.len(), 1, "{}: {s}", agent.name);
                windows.push((w[0][0].as_u64().unwrap(), w[0][1].as_u64().unwrap()));
            }
            windows.sort();
            for pair in windows.windows(2) {
                assert!(
                    pair[0].0 + pair[0].1 <= pair[1].0,
                    "overlapping windows {windows:?}"
                );
            }
            assert!(
                windows.last().map(|w| w.0 + w.1) <= Some(10_000_000),
                "{windows:?}"
            );
            return at;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = running
                .iter()
                .map(|a| format!("--- {}:\n{}", a.name, a.log.lock().unwrap()))
                .collect();
            panic!(
                "no agreement on {want:?}: {switches:?}\n{}",
                logs.join("\n")
            );
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The windows the qdiscs of `eth0` in `namespaces` run (or will run at
/// their pending change), from `tdmactl show`: checked apart from what the
/// agents say they did. An agent reports its decision before it changes its
/// qdisc, so this waits (up to `within`) until every agent of `running` has
/// the window it last decided installed, then checks that no two overlap.
fn installed_windows(namespaces: &[&str], running: &[&Agent], within: Duration) -> Vec<(u64, u64)> {
    let deadline = Instant::now() + within;
    loop {
        let windows = shown_windows(namespaces);
        let decided: Vec<(u64, u64)> = running
            .iter()
            .filter_map(|a| {
                let w = &a.last_switch()?["windows"][0];
                Some((w[0].as_u64()?, w[1].as_u64()?))
            })
            .collect();
        if decided.len() == running.len() && decided.iter().all(|w| windows.contains(w)) {
            for pair in windows.windows(2) {
                assert!(
                    pair[0].0 + pair[0].1 <= pair[1].0,
                    "qdiscs of different nodes overlap: {windows:?}"
                );
            }
            return windows;
        }
        assert!(
            Instant::now() < deadline,
            "qdiscs run {windows:?}, the agents decided {decided:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// What `tdmactl show` says each qdisc runs (or will), sorted.
fn shown_windows(namespaces: &[&str]) -> Vec<(u64, u64)> {
    let mut windows = Vec::new();
    for ns in namespaces {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, env!("CARGO_BIN_EXE_tdmactl")])
            .args(["show", "dev", "eth0", "-o", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
        let schedule = &shown[0]["schedule"];
        assert_eq!(shown[0]["kind"], "tdma", "{shown}");
        assert_eq!(schedule["frame_ns"], 10_000_000, "{shown}");
        for w in schedule["windows"].as_array().unwrap() {
            windows.push((
                w["offset_ns"].as_u64().unwrap(),
                w["length_ns"].as_u64().unwrap(),
            ));
        }
    }
    windows.sort();
    windows
}

fn membership_changes(mode: Mode) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping agent_live: needs root to create network namespaces");
        return;
    }
    // Emulated kernels (the QEMU guest that runs the qdisc variant) are slow.
    let within = match mode {
        Mode::DryRun => Duration::from_secs(4),
        Mode::Qdisc => Duration::from_secs(20),
    };
    let started = Instant::now();
    let seg = Segment::create(3);
    let ns: Vec<&str> = seg.nodes.iter().map(String::as_str).collect();
    let mut agents: Vec<Agent> = seg
        .nodes
        .iter()
        .enumerate()
        .map(|(i, ns)| Agent::start(ns, &format!("n{i}"), mode))
        .collect();

    let first = converge(&[&agents[0], &agents[1], &agents[2]], within);
    if mode == Mode::Qdisc {
        let all = [&agents[0], &agents[1], &agents[2]];
        assert_eq!(installed_windows(&ns, &all, within).len(), 3);
    }

    agents[1].stop();
    assert!(
        agents[1].log.lock().unwrap().contains("leave"),
        "{}",
        agents[1].log.lock().unwrap()
    );
    let second = converge(&[&agents[0], &agents[2]], within);
    assert!(second > first);
    if mode == Mode::Qdisc {
        // n1 left its qdisc idle: a 1 us window in the guard gap.
        let windows = installed_windows(&ns, &[&agents[0], &agents[2]], within);
        assert_eq!(
            windows.iter().filter(|w| w.1 > 1_000).count(),
            2,
            "{windows:?}"
        );
    }

    agents[1] = Agent::start(&seg.nodes[1], "n1", mode);
    let third = converge(&[&agents[0], &agents[1], &agents[2]], within);
    assert!(third > second);
    if mode == Mode::Qdisc {
        let all = [&agents[0], &agents[1], &agents[2]];
        assert_eq!(installed_windows(&ns, &all, within).len(), 3);
    }

    for a in &mut agents {
        a.stop();
    }
    eprintln!("converged three times in {:?}", started.elapsed());
    if mode == Mode::DryRun {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn agents_follow_membership_changes() {
    membership_changes(Mode::DryRun);
}

#[test]
#[ignore = "needs the sch_tdma module (run in QEMU by tests/qemu/ci.sh)"]
fn agents_drive_sch_tdma_through_membership_changes() {
    if !std::path::Path::new("/sys/module/sch_tdma").exists() {
        // tests/qemu/ci.sh builds one per guest kernel; else the in-tree build.
        let ko = std::env::var("SCH_TDMA_KO").unwrap_or_else(|_| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../module/sch_tdma.ko").to_string()
        });
        let out = Command::new("insmod").arg(&ko).output().unwrap();
        assert!(
            out.status.success(),
            "insmod {ko}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    membership_changes(Mode::Qdisc);
}
