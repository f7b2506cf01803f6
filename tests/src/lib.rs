//! Helpers shared by the live tests: find the pkttrace binary, run it in the
//! background until it has attached, stop it like a user would (SIGINT).

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How long pkttrace may take to load and attach: TCG guests are slow, and
/// the default profiles (about 90 functions) took 55 s there.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(180);

pub mod function_graph;

/// The pkttrace binary: `$PKTTRACE_BIN`, else the newest of target/{debug,release}.
pub fn pkttrace_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("PKTTRACE_BIN") {
        return PathBuf::from(bin);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let candidates = ["target/debug/pkttrace", "target/release/pkttrace"];
    candidates
        .iter()
        .map(|c| root.join(c))
        .filter_map(|p| {
            let modified = p.metadata().and_then(|m| m.modified()).ok()?;
            Some((modified, p))
        })
        .max()
        .map(|(_, p)| p)
        .expect("pkttrace is not built: run `cargo build -p tracer` first (scripts/test.sh does)")
}

/// Live tests load BPF programs and create namespaces: they need root.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc_geteuid() },
        0,
        "live tests need root (they load BPF programs and create network namespaces)"
    );
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// A pkttrace process running in the background.
pub struct Tracer {
    child: Child,
    stderr: Receiver<String>,
    stderr_seen: Vec<String>,
    stdout: std::thread::JoinHandle<String>,
}

/// What a stopped pkttrace printed.
pub struct Finished {
    pub stdout: String,
    pub stderr: String,
    pub code: Option<i32>,
}

impl Finished {
    /// stdout parsed as JSON lines.
    pub fn json_events(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
            .collect()
    }
}

impl Tracer {
    /// Starts `pkttrace ARGS` and waits until it reports its probes attached.
    pub fn start(args: &[&str]) -> Result<Tracer> {
        let mut child = Command::new(pkttrace_bin())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("spawning pkttrace")?;
        let (tx, rx) = channel();
        let stderr = child.stderr.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stdout = child.stdout.take().expect("piped");
        let stdout = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        });
        let mut tracer = Tracer {
            child,
            stderr: rx,
            stderr_seen: Vec::new(),
            stdout,
        };
        tracer.wait_for_stderr("attached", ATTACH_TIMEOUT)?;
        Ok(tracer)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (up to `within`) for a line of stderr containing `needle`.
    pub fn wait_for_stderr(&mut self, needle: &str, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.stderr_seen.push(line);
                    if found {
                        return Ok(());
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    bail!(
                        "pkttrace did not print {needle:?}; stderr so far:\n{}",
                        self.stderr_seen.join("\n")
                    );
                }
            }
        }
    }

    /// SIGINT, like Ctrl-C, then collect the output.
    pub fn stop(self) -> Result<Finished> {
        self.signal(2)
    }

    /// SIGKILL: nothing gets a chance to clean up.
    pub fn kill9(self) -> Result<Finished> {
        self.signal(9)
    }

    fn signal(mut self, sig: i32) -> Result<Finished> {
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -{sig} failed");
        }
        let code = self.child.wait()?.code();
        let stdout = self.stdout.join().unwrap_or_default();
        let mut stderr = self.stderr_seen;
        stderr.extend(self.stderr.iter());
        Ok(Finished {
            stdout,
            stderr: stderr.join("\n"),
            code,
        })
    }
}

/// Runs pkttrace to completion (for commands that end by themselves).
pub fn run(args: &[&str]) -> Finished {
    let out = Command::new(pkttrace_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running pkttrace");
    Finished {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code(),
    }
}

/// IDs of the BPF programs and links a process holds, from /proc/PID/fdinfo.
pub fn bpf_ids_held_by(pid: u32) -> (Vec<u32>, Vec<u32>) {
    let mut progs = Vec::new();
    let mut links = Vec::new();
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return (progs, links);
    };
    for entry in entries.flatten() {
        let Ok(info) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        for line in info.lines() {
            if let Some(id) = line.strip_prefix("prog_id:") {
                progs.extend(id.trim().parse::<u32>().ok());
            }
            if let Some(id) = line.strip_prefix("link_id:") {
                links.extend(id.trim().parse::<u32>().ok());
            }
        }
    }
    progs.sort_unstable();
    progs.dedup();
    links.sort_unstable();
    links.dedup();
    (progs, links)
}

/// Whether a process holds BPF run-time statistics on (`BPF_ENABLE_STATS`
/// gives it an fd to `anon_inode:bpf-stats`).
pub fn holds_bpf_stats(pid: u32) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path()).is_ok_and(|t| t.as_os_str() == "anon_inode:bpf-stats")
    })
}

/// Whether a BPF program (or link) with this id still exists in the kernel.
pub fn bpf_object_exists(kind: &str, id: u32) -> bool {
    Command::new("bpftool")
        .args([kind, "show", "id", &id.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Waits until none of these programs and links exists any more (the
/// kernel frees them after an RCU grace period), or panics naming those left
/// after `within`.
pub fn assert_all_freed(progs: &[u32], links: &[u32], within: Duration) {
    let deadline = std::time::Instant::now() + within;
    loop {
        let left: Vec<_> = progs
            .iter()
            .map(|&id| ("prog", id))
            .chain(links.iter().map(|&id| ("link", id)))
            .filter(|&(kind, id)| bpf_object_exists(kind, id))
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still in the kernel after pkttrace exited: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub mod window_edges;

/// Call-tree helpers for `-o json --trees` output.
pub mod trees {
    use std::collections::BTreeSet;

    use serde_json::Value;

    /// The passes (call trees) among the JSON lines.
    pub fn passes(lines: &[Value]) -> Vec<&Value> {
        lines.iter().filter(|l| l["type"] == "pass").collect()
    }

    /// The probe name of a node.
    pub fn name(node: &Value) -> &str {
        node["probe"].as_str().unwrap_or("")
    }

    /// Every node of a tree, pre-order.
    pub fn nodes(root: &Value) -> Vec<&Value> {
        let mut out = vec![root];
        if let Some(children) = root["children"].as_array() {
            for child in children {
                out.extend(nodes(child));
            }
        }
        out
    }

    /// Whether `root` holds a chain of nodes named `chain[0] ⊃ chain[1] ⊃ …`
    /// (each a descendant of the previous one, not necessarily a child);
    /// an element may list alternatives separated by `|`.
    pub fn has_chain(root: &Value, chain: &[&str]) -> bool {
        let Some((first, rest)) = chain.split_first() else {
            return true;
        };
        nodes(root).into_iter().any(|n| {
            first.split('|').any(|alt| alt == name(n))
                && (rest.is_empty()
                    || n["children"]
                        .as_array()
                        .is_some_and(|c| c.iter().any(|child| has_chain(child, rest))))
        })
    }

    /// Caller → callee pairs of function calls in every tree (tracepoint
    /// nodes left out), and the deepest nesting of calls.
    pub fn call_edges(lines: &[Value]) -> (BTreeSet<(String, String)>, usize) {
        fn walk(node: &Value, depth: usize, edges: &mut BTreeSet<(String, String)>) -> usize {
            let mut deepest = depth + 1;
            for child in node["children"].as_array().into_iter().flatten() {
                if child["kind"] == "call" {
                    edges.insert((name(node).to_string(), name(child).to_string()));
                    deepest = deepest.max(walk(child, depth + 1, edges));
                }
            }
            deepest
        }
        let mut edges = BTreeSet::new();
        let mut deepest = 0;
        for pass in passes(lines) {
            if pass["tree"]["kind"] == "call" {
                deepest = deepest.max(walk(&pass["tree"], 0, &mut edges));
            }
        }
        (edges, deepest)
    }

    /// A one-line-per-tree summary for assertion messages.
    pub fn outline(lines: &[Value]) -> String {
        passes(lines)
            .iter()
            .take(60)
            .map(|p| {
                nodes(&p["tree"])
                    .iter()
                    .map(|n| name(n))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}
