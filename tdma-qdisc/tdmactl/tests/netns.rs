//! The binary against the running kernel, inside a network namespace this
//! test creates (so the host's interfaces are untouched). The host kernel has
//! no sch_tdma: this covers dumping real qdiscs, extack/errno reporting and
//! the "no tdma qdisc" paths; the module itself is tested in the QEMU guest.
//! Skips unless run as root with `ip` available.

use std::process::{Command, Output};

const TDMACTL: &str = env!("CARGO_BIN_EXE_tdmactl");

struct Netns(String);

impl Netns {
    fn create() -> Option<Netns> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED: needs root to create a network namespace");
            return None;
        }
        let name = format!("tdmactl-test-{}", std::process::id());
        let ok = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ok(&["netns", "add", &name]) {
            eprintln!("SKIPPED: `ip netns add` failed");
            return None;
        }
        let ns = Netns(name);
        for cmd in [
            "ip link add va type veth peer name vb",
            "ip link set va up",
            "tc qdisc add dev va root handle 1: pfifo limit 10",
        ] {
            let args: Vec<&str> = cmd.split(' ').collect();
            assert!(ns.run(args[0], &args[1..]).status.success(), "{cmd}");
        }
        Some(ns)
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.0, program])
            .args(args)
            .output()
            .unwrap()
    }

    fn tdmactl(&self, args: &str) -> (i32, String, String) {
        let args: Vec<&str> = args.split_whitespace().collect();
        let out = self.run(TDMACTL, &args);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn show_lists_real_qdiscs_in_the_namespace() {
    let Some(ns) = Netns::create() else { return };
    let (code, out, err) = ns.tdmactl("show dev va");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "qdisc pfifo 1: dev va root\n");

    let (code, out, _) = ns.tdmactl("show -o json");
    assert_eq!(code, 0);
    let all: serde_json::Value = serde_json::from_str(&out).unwrap();
    let va = all
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["dev"] == "va")
        .expect("va listed");
    assert_eq!(va["kind"], "pfifo");
    assert_eq!(va["handle"], "1:");
    assert_eq!(va["parent"], "root");
}

#[test]
fn errors_from_the_kernel_and_missing_qdiscs() {
    let Some(ns) = Netns::create() else { return };
    // No sch_tdma here: the kernel refuses the kind (ENOENT, with its extack
    // when it sends one); the line format is what matters.
    let (code, _, err) = ns.tdmactl("add dev va frame 10ms window 0:3ms");
    assert_eq!(code, 1);
    assert!(err.starts_with("tdmactl: error: "), "{err}");
    assert!(
        err.trim_end().ends_with(')') || err.contains("No such file"),
        "{err}"
    );

    let (code, _, err) = ns.tdmactl("stats dev va");
    assert_eq!(
        (code, err.as_str()),
        (1, "tdmactl: error: no tdma qdisc on va\n")
    );

    // Deleting must not remove the pfifo: TCA_KIND "tdma" makes it a mismatch.
    let (code, _, err) = ns.tdmactl("del dev va");
    assert_eq!(code, 1, "{err}");
    let (_, out, _) = ns.tdmactl("show dev va");
    assert_eq!(out, "qdisc pfifo 1: dev va root\n");

    let (code, _, err) = ns.tdmactl("show dev nosuch0");
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "tdmactl: error: no interface named \"nosuch0\" in this network namespace\n"
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = Command::new(TDMACTL)
        .args(["add", "dev", "x", "frame", "10"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("tdmactl: error: frame: invalid duration")
    );
    let out = Command::new(TDMACTL).arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn local_validation_fails_before_netlink() {
    let out = Command::new(TDMACTL)
        .args([
            "add", "dev", "lo", "frame", "10ms", "window", "0:3ms", "window", "2ms:2ms",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "tdmactl: error: invalid schedule: window 1 (2ms+2ms) starts before window 0 (0+3ms) ends: windows must be sorted by offset and must not overlap\n"
    );
}

#[test]
fn apply_dry_run_prints_the_schedule() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/three-nodes.toml");
    let out = Command::new(TDMACTL)
        .args(["apply", file, "--node", "b", "--dev", "eth9", "--dry-run"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "dev eth9 frame 10ms base-time 0 clock tai guard 50us limit 1000 rate 100mbit window 3.3ms+3ms\n"
    );
}
