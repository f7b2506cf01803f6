//! `pkttrace functions` against the running kernel's BTF and kallsyms, and
//! against DWARF of a C file compiled here with gcc -g -O2 (the host kernel
//! ships no debug vmlinux).

use std::path::PathBuf;
use std::process::Command;

use pkttrace_tests::{require_root, run};
use serde_json::Value;

/// Compiles `source` with gcc -g -O2 into an object file in a fresh temp dir.
fn compiled(name: &str, source: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("pkttrace-catalog-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, source).unwrap();
    let obj = dir.join(format!("{name}.o"));
    let out = Command::new("gcc")
        .args(["-g", "-O2", "-c"])
        .arg(&c)
        .arg("-o")
        .arg(&obj)
        .output()
        .expect("gcc");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (c, obj)
}

fn line_of(source: &str, marker: &str) -> usize {
    source
        .lines()
        .position(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("{marker} not in source"))
        + 1
}

#[test]
fn lists_traceable_functions_with_their_skb_argument() {
    require_root();
    let out = run(&[
        "functions",
        "--skb",
        "-o",
        "json",
        "{ip_rcv,tcp_v4_do_rcv,tcp_v4_rcv}",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let rows: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let skb = |name: &str| {
        rows.iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} not listed: {rows:?}"))["skb_arg"]
            .as_u64()
    };
    assert_eq!(skb("ip_rcv"), Some(0));
    assert_eq!(skb("tcp_v4_do_rcv"), Some(1));
    assert_eq!(skb("tcp_v4_rcv"), Some(0));
}

#[test]
fn why_explains_a_traceable_function() {
    require_root();
    let out = run(&["functions", "--why", "ip_rcv"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("ip_rcv: the skb is argument 0"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("int ip_rcv(struct sk_buff *skb"),
        "{}",
        out.stdout
    );
}

#[test]
fn why_names_the_inline_sites_from_debug_info() {
    require_root();
    let source = "\
static inline __attribute__((always_inline)) int twice(int x) /* DEF */
{
\treturn 2 * x;
}

int first(int x)
{
\treturn twice(x) + 1; /* SITE1 */
}

int second(int x)
{
\treturn twice(x + 3) - 1; /* SITE2 */
}
";
    let (c, obj) = compiled("inl", source);
    let out = run(&[
        "functions",
        "--why",
        "twice",
        "--debug-info",
        obj.to_str().unwrap(),
    ]);
    assert_eq!(
        out.code,
        Some(1),
        "not traceable: {}\n{}",
        out.stdout,
        out.stderr
    );
    let c = c.display().to_string();
    for expected in [
        format!("twice: defined at {c}:{}", line_of(source, "DEF")),
        "twice: cannot be traced: not in BTF nor kallsyms: the compiler inlined it at every call site".to_string(),
        format!("into first at {c}:{}", line_of(source, "SITE1")),
        format!("into second at {c}:{}", line_of(source, "SITE2")),
    ] {
        assert!(out.stdout.contains(&expected), "missing {expected:?} in:\n{}", out.stdout);
    }
}

#[test]
fn unknown_functions_and_bad_patterns_get_one_line_errors() {
    require_root();
    let out = run(&["functions", "no_such_function_*"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("no function in this kernel's BTF or loaded modules matches"),
        "{}",
        out.stderr
    );
    let out = run(&["functions", "--why", "no_such_function_at_all"]);
    assert_eq!(out.code, Some(1));
    assert!(out.stdout.contains("cannot be traced"), "{}", out.stdout);
    let out = run(&["functions", "[bad"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    let out = run(&[
        "functions",
        "--why",
        "x",
        "--debug-info",
        "/nonexistent/vmlinux",
    ]);
    assert!(
        out.stderr.contains("/nonexistent/vmlinux"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"));
}
