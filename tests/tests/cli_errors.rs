//! Bad input: one clear line on stderr, a non-zero exit, never a panic.

use pkttrace_tests::{require_root, run};

fn assert_one_line_error(args: &[&str], code: i32, needle: &str) {
    let out = run(args);
    assert_eq!(
        out.code,
        Some(code),
        "exit status of {args:?}; stderr: {}",
        out.stderr
    );
    let lines: Vec<&str> = out.stderr.trim().lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "one line of error for {args:?}: {}",
        out.stderr
    );
    assert!(lines[0].starts_with("pkttrace: error: "), "{}", lines[0]);
    assert!(
        lines[0].contains(needle),
        "{:?} should mention {needle:?}",
        lines[0]
    );
    assert!(!out.stderr.contains("panicked"));
    assert!(
        out.stdout.is_empty(),
        "no data on stdout for a failed command"
    );
}

#[test]
fn malformed_filter_names_the_bad_token() {
    assert_one_line_error(&["tcp", "and", "prot", "80"], 2, "prot");
    assert_one_line_error(&["host", "10.0.0.300"], 2, "10.0.0.300");
    assert_one_line_error(&["port", "70000"], 2, "70000");
    assert_one_line_error(&["(tcp"], 2, "column");
}

#[test]
fn report_rejects_a_bad_filter_as_live_tracing_does() {
    let record = format!("{}/data/host-tracepoints.pkt", env!("CARGO_MANIFEST_DIR"));
    assert_one_line_error(&["report", &record, "port", "http"], 2, "http");
    assert_one_line_error(&["report", &record, "udp", "and"], 2, "column");
    assert_one_line_error(
        &["report", &record, "--host", "10.0.0.300"],
        2,
        "10.0.0.300",
    );
    // The filter is checked before the file is read.
    assert_one_line_error(&["report", "no-such.pkt", "tcp", "or"], 2, "column");
}

#[test]
fn bad_options_are_usage_errors() {
    assert_one_line_error(&["--tracepoints", "no_such_tp"], 2, "no_such_tp");
    assert_one_line_error(&["--ring-kib", "3"], 2, "--ring-kib");
    assert_one_line_error(&["--duration", "0"], 2, "--duration");
    assert_one_line_error(
        &["--ifname", "a-name-longer-than-15"],
        2,
        "a-name-longer-than-15",
    );
    assert_one_line_error(
        &["--netns", "no-such-namespace-here"],
        1,
        "no-such-namespace-here",
    );
}

#[test]
fn unreadable_or_corrupt_records_are_rejected() {
    let dir = std::env::temp_dir().join(format!("pkttrace-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("missing.pkt");
    assert_one_line_error(&["report", missing.to_str().unwrap()], 1, "missing.pkt");

    let garbage = dir.join("garbage.pkt");
    std::fs::write(&garbage, b"this is not a record at all, just text\n").unwrap();
    assert_one_line_error(
        &["report", garbage.to_str().unwrap()],
        1,
        "not a pkttrace record",
    );

    let empty = dir.join("empty.pkt");
    std::fs::write(&empty, b"").unwrap();
    assert_one_line_error(&["report", empty.to_str().unwrap()], 1, "empty.pkt");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unprivileged_user_gets_a_clear_refusal() {
    // setpriv (util-linux) drops to nobody with no capabilities.
    let bin = pkttrace_tests::pkttrace_bin();
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(&bin)
        .args(["--proto", "tcp", "--duration", "1"])
        .output()
        .expect("setpriv runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("insufficient privileges"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn sch_tdma_views_need_the_module() {
    if std::path::Path::new("/sys/module/sch_tdma").exists() {
        eprintln!("skipped: sch_tdma is loaded here");
        return;
    }
    assert_one_line_error(&["--tdma"], 1, "sch_tdma");
    assert_one_line_error(
        &["--tracepoints", "tdma_dequeue"],
        1,
        "sch_tdma is not loaded",
    );
}

#[test]
fn function_selections_that_name_nothing_are_usage_errors() {
    require_root();
    assert_one_line_error(
        &["--func", "nosuch:x", "--dry-run"],
        2,
        "--func 'nosuch:x': no module 'nosuch' is loaded",
    );
    assert_one_line_error(
        &["--func", "no_such_prefix_*", "--dry-run"],
        2,
        "--func 'no_such_prefix_*' matches no function",
    );
    assert_one_line_error(
        &["--func", "sch_tdma:", "--dry-run"],
        2,
        "'sch_tdma:': no function glob",
    );
    assert_one_line_error(
        &["functions", "nosuch:x"],
        2,
        "'nosuch:x': no module 'nosuch' is loaded",
    );
}
