//! ftrace's `function_graph` tracer as an independent oracle for call
//! nesting: the kernel's own record of which traced function ran inside
//! which, to check pkttrace's call trees against.
//!
//! Only functions in `set_ftrace_filter` are recorded, and the depth ftrace
//! prints counts only those, so its nesting is the one pkttrace should show
//! for the same set of functions. An interrupt (and the softirq run on its
//! way out) is shown nested inside whatever it interrupted, where pkttrace
//! starts a tree of its own: pkttrace's edges must be a subset of ftrace's,
//! not equal to them.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result};

const TRACEFS: &str = "/sys/kernel/tracing";

/// A caller → callee pair of function names.
pub type Edge = (String, String);

/// function_graph tracing of a set of functions, from `start` until `stop`;
/// the tracer is reset to `nop` when this is dropped, whatever happened.
pub struct FunctionGraph {
    root: PathBuf,
}

/// What ftrace recorded.
pub struct Recorded {
    pub trace: String,
    /// Entries the per-CPU buffers overwrote (the trace is incomplete if > 0).
    pub overruns: u64,
}

impl FunctionGraph {
    /// Functions ftrace can trace here, as `set_ftrace_filter` accepts them.
    pub fn available() -> Result<HashSet<String>> {
        let path = format!("{TRACEFS}/available_filter_functions");
        let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        Ok(text
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_string)
            .collect())
    }

    /// Starts recording calls of `functions` (each must be available).
    pub fn start(functions: &[String], buffer_kib_per_cpu: u32) -> Result<FunctionGraph> {
        let graph = FunctionGraph {
            root: PathBuf::from(TRACEFS),
        };
        graph.write("tracing_on", "0")?;
        graph.write("current_tracer", "nop")?;
        graph.write("trace", "")?;
        graph.write("buffer_size_kb", &buffer_kib_per_cpu.to_string())?;
        // The task column keys the nesting: depth is kept per task.
        graph.write("options/funcgraph-proc", "1")?;
        graph.write("options/funcgraph-irqs", "1")?;
        graph.write("set_ftrace_filter", "")?;
        for function in functions {
            // One write per name: a write with an unknown name fails whole.
            graph
                .append("set_ftrace_filter", function)
                .with_context(|| format!("ftrace filter {function}"))?;
        }
        graph.write("current_tracer", "function_graph")?;
        graph.write("tracing_on", "1")?;
        Ok(graph)
    }

    /// Stops recording and returns the trace.
    pub fn stop(self) -> Result<Recorded> {
        self.write("tracing_on", "0")?;
        let trace = fs::read_to_string(self.root.join("trace")).context("reading the trace")?;
        let mut overruns = 0;
        for entry in fs::read_dir(self.root.join("per_cpu"))? {
            let stats = fs::read_to_string(entry?.path().join("stats"))?;
            overruns += stats
                .lines()
                .filter_map(|l| l.strip_prefix("overrun: "))
                .filter_map(|n| n.trim().parse::<u64>().ok())
                .sum::<u64>();
        }
        Ok(Recorded { trace, overruns })
    }

    fn write(&self, file: &str, value: &str) -> Result<()> {
        let path = self.root.join(file);
        fs::write(&path, value).with_context(|| format!("writing {value:?} to {}", path.display()))
    }

    fn append(&self, file: &str, value: &str) -> Result<()> {
        use std::io::Write;
        let path = self.root.join(file);
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        f.write_all(value.as_bytes())?;
        Ok(())
    }
}

impl Drop for FunctionGraph {
    fn drop(&mut self) {
        let _ = self.write("tracing_on", "0");
        let _ = self.write("current_tracer", "nop");
        let _ = self.write("set_ftrace_filter", "");
        let _ = self.write("buffer_size_kb", "1408");
    }
}

/// A kernel function name without the compiler's clone suffix
/// (`ip_rcv_core.isra.0` → `ip_rcv_core`), as BTF names it.
pub fn base_name(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

/// The caller → callee edges of a function_graph trace, and the deepest
/// nesting seen.
pub fn edges(trace: &str) -> (BTreeSet<Edge>, usize) {
    let mut edges = BTreeSet::new();
    // Per task: the function open at each depth.
    let mut open: HashMap<&str, Vec<Option<&str>>> = HashMap::new();
    let mut deepest = 0;
    for line in trace.lines() {
        let Some(call) = parse_line(line) else {
            continue;
        };
        let stack = open.entry(call.task).or_default();
        let Some(name) = call.entered else {
            // A closing brace: whatever was open deeper is closed too.
            stack.truncate(call.depth);
            continue;
        };
        if call.depth > 0
            && let Some(Some(caller)) = stack.get(call.depth - 1)
        {
            edges.insert((base_name(caller).to_string(), base_name(name).to_string()));
        }
        deepest = deepest.max(call.depth + 1);
        stack.truncate(call.depth);
        stack.resize(call.depth, None);
        if call.opens {
            stack.push(Some(name));
        }
    }
    (edges, deepest)
}

/// One function line of the trace.
struct Line<'a> {
    task: &'a str,
    depth: usize,
    /// The function entered (`name() {` or `name();`), `None` for `}`.
    entered: Option<&'a str>,
    /// `name() {`: its callees follow.
    opens: bool,
}

/// ` 1)    nc-95     |   0.512 us    |    ip_rcv_core();` and the like; `None`
/// for headers, context-switch and interrupt marker lines.
fn parse_line(line: &str) -> Option<Line<'_>> {
    if line.starts_with('#') {
        return None;
    }
    let (head, function) = line.rsplit_once('|')?;
    let (_cpu, rest) = head.split_once(')')?;
    let task = rest.split('|').next()?.trim();
    // ftrace prints two spaces, then two more per level of depth.
    let function = function.strip_prefix("  ")?;
    let text = function.trim_start();
    let depth = (function.len() - text.len()) / 2;
    let text = text.trim_end();
    if text.starts_with('}') {
        return Some(Line {
            task,
            depth,
            entered: None,
            opens: false,
        });
    }
    let (name, after) = text.split_once("()")?;
    // A module's function is printed with its module: `veth_xmit [veth]()`.
    let name = match name.split_once(' ') {
        Some((function, module)) if module.starts_with('[') && module.ends_with(']') => function,
        _ => name,
    };
    if name.is_empty() || name.contains(' ') {
        return None;
    }
    Some(Line {
        task,
        depth,
        entered: Some(name),
        opens: after.trim_start().starts_with('{'),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// function_graph's text as Debian 6.1 prints it with funcgraph-proc:
    /// a receive pass in a softirq nested in the task's transmit, a context
    /// switch, an interrupt marker and a leaf call.
    const SAMPLE: &str = "\
# tracer: function_graph
#
# CPU  TASK/PID         DURATION                  FUNCTION CALLS
# |     |    |           |   |                     |   |   |   |
 0)    nc-95     |               |  __tcp_transmit_skb() {
 0)    nc-95     |               |    __ip_queue_xmit() {
 0)    nc-95     |               |      ip_local_out() {
 0)    nc-95     |   2.100 us    |        __ip_local_out();
 0)    nc-95     |               |        ip_output() {
 0)    nc-95     |               |          __dev_queue_xmit() {
 0)    nc-95     |               |            veth_xmit [veth]() {
 0)    nc-95     |   1.000 us    |              __netif_rx();
 0)    nc-95     |   3.000 us    |            }
 0)    nc-95     |   ==========> |
 0)    nc-95     |               |            ip_rcv() {
 0)    nc-95     |   5.000 us    |              ip_rcv_core.isra.0();
 0)    nc-95     | + 12.30 us    |            }
 0)    nc-95     |   <========== |
 0)    nc-95     | + 40.10 us    |          }
 ------------------------------------------
 0)    nc-95     =>   <idle>-0   
 ------------------------------------------

 0)   <idle>-0    |               |  ip_rcv() {
 0)   <idle>-0    |   1.000 us    |    ip_rcv_finish();
 0)   <idle>-0    |   3.000 us    |  } /* ip_rcv */
 0)    nc-95     | + 50.00 us    |        } /* ip_output */
 0)    nc-95     | + 60.00 us    |      }
 0)    nc-95     |   1.000 us    |      ip_finish_output2();
";

    fn edge(a: &str, b: &str) -> Edge {
        (a.to_string(), b.to_string())
    }

    #[test]
    fn nesting_follows_depth_per_task() {
        let (edges, deepest) = edges(SAMPLE);
        let expected: BTreeSet<Edge> = [
            edge("__tcp_transmit_skb", "__ip_queue_xmit"),
            edge("__ip_queue_xmit", "ip_local_out"),
            edge("ip_local_out", "__ip_local_out"),
            edge("ip_local_out", "ip_output"),
            edge("ip_output", "__dev_queue_xmit"),
            // A module's function, named with its module by ftrace.
            edge("__dev_queue_xmit", "veth_xmit"),
            edge("veth_xmit", "__netif_rx"),
            edge("__dev_queue_xmit", "ip_rcv"),
            edge("ip_rcv", "ip_rcv_core"),
            edge("ip_rcv", "ip_rcv_finish"),
            // After ip_local_out closed, a call at its depth is a child of
            // __ip_queue_xmit again.
            edge("__ip_queue_xmit", "ip_finish_output2"),
        ]
        .into();
        assert_eq!(edges, expected);
        assert_eq!(deepest, 7);
    }

    #[test]
    fn headers_and_markers_are_not_calls() {
        for line in [
            "# tracer: function_graph",
            " 0)    nc-95     |   ==========> |",
            " 0)    nc-95     =>   <idle>-0   ",
            " ------------------------------------------",
            "",
        ] {
            assert!(parse_line(line).is_none(), "{line:?}");
        }
    }

    #[test]
    fn clone_suffixes_are_dropped() {
        assert_eq!(base_name("ip_rcv_core.isra.0"), "ip_rcv_core");
        assert_eq!(base_name("tcp_v4_rcv"), "tcp_v4_rcv");
    }
}
