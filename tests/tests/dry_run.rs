//! `--dry-run` plans function probes from BTF and kallsyms alone, so it
//! works on any kernel, this host's too, which allows tracepoints only:
//! there it lists what fentry would probe and says that nothing would be.

use pkttrace_tests::{require_root, run};
use tracer::netns::TestNet;

/// Names on the `probe` lines of a `--dry-run`.
fn probed(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("probe "))
        .filter_map(|l| l.split_whitespace().next())
        .collect()
}

/// Whether this kernel's backend line says function probes are impossible.
fn tracepoints_only(stdout: &str) -> bool {
    stdout
        .lines()
        .next()
        .is_some_and(|l| l.starts_with("backend: tracepoint"))
}

#[test]
fn dry_run_plans_a_profile_on_any_kernel() {
    require_root();
    let out = run(&["--profile", "ip-rx", "--dry-run"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(probed(&out.stdout).contains(&"ip_rcv"), "{}", out.stdout);
    if tracepoints_only(&out.stdout) {
        let backend = out.stdout.lines().next().unwrap_or_default();
        assert!(
            backend.contains(
                "this kernel allows neither fentry nor kprobes, so nothing would be probed"
            ),
            "{backend}"
        );
    } else {
        eprintln!("this kernel allows function probes: only the plan was checked");
    }
}

#[test]
fn dry_run_without_a_selection_shows_the_default_profiles() {
    require_root();
    let out = run(&["--dry-run"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let probed = probed(&out.stdout);
    for f in ["ip_rcv", "tcp_v4_rcv", "udp_rcv", "__dev_queue_xmit"] {
        assert!(probed.contains(&f), "{f} in:\n{}", out.stdout);
    }
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("profile dev: ") && l.contains("qdiscs installed now")),
        "{}",
        out.stdout
    );
}

#[test]
fn dev_probes_the_qdiscs_installed_now() {
    require_root();
    let net = TestNet::create("dry").unwrap();
    net.add_tbf_on_a().unwrap();
    let out = run(&["--profile", "dev", "--dry-run"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let probed = probed(&out.stdout);
    assert!(
        probed.contains(&"tbf_enqueue") && probed.contains(&"tbf_dequeue"),
        "{}",
        out.stdout
    );
    let dev = out
        .stdout
        .lines()
        .find(|l| l.starts_with("profile dev: "))
        .unwrap_or_default();
    assert!(dev.contains("tbf"), "{dev}");
}
