//! `--cost`: what each attached probe cost, from the kernel's own BPF
//! statistics (each program's `run_cnt` and `run_time_ns`, counted while
//! run-time statistics are on), as the table printed at the end of a trace
//! and by `pkttrace doctor`. Pure formatting: readings come from
//! `prog_stats` and `session`.

use std::time::Duration;

/// What one probe's programs cost over some interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeCost {
    /// Tracepoint or function name.
    pub probe: String,
    /// How it is attached: `tracepoint`, `raw_tp`, `fentry+fexit`, …
    pub kind: &'static str,
    /// Runs (for a function: calls, its entry program's runs).
    pub runs: u64,
    /// Time spent in its programs (for a function: entry and exit together).
    pub run_time_ns: u64,
    /// Runs the kernel skipped because the program was already running on
    /// that CPU: calls the trace does not show.
    pub recursion_misses: u64,
}

fn total_ns(rows: &[ProbeCost]) -> u64 {
    rows.iter().map(|r| r.run_time_ns).sum()
}

fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// One line above the table: the interval, the probes' CPU time and what
/// share of one CPU that is.
pub fn title(rows: &[ProbeCost], duration: Duration) -> String {
    let cpu = seconds(total_ns(rows));
    let secs = duration.as_secs_f64();
    let share = if secs > 0.0 {
        format!(", {:.3}% of one CPU", 100.0 * cpu / secs)
    } else {
        String::new()
    };
    format!(
        "cost of {} probes over {secs:.1} s (the kernel's BPF run-time statistics): {cpu:.6} CPU s{share}",
        rows.len()
    )
}

/// The table: a header, one line per probe with the most CPU time first,
/// and a total. A probe that never ran shows `-` for its time per run; the
/// `skipped` column (runs the kernel skipped) appears only when any were.
pub fn table(rows: &[ProbeCost], duration: Duration) -> Vec<String> {
    let mut sorted: Vec<&ProbeCost> = rows.iter().collect();
    sorted.sort_by(|a, b| {
        b.run_time_ns
            .cmp(&a.run_time_ns)
            .then(b.runs.cmp(&a.runs))
            .then(a.probe.cmp(&b.probe))
    });
    let all_ns = total_ns(rows);
    let with_skipped = rows.iter().any(|r| r.recursion_misses > 0);
    let secs = duration.as_secs_f64();
    let cells = |probe: &str, kind: &str, runs: u64, ns: u64, skipped: u64| {
        let mut line = vec![
            probe.to_string(),
            kind.to_string(),
            runs.to_string(),
            ns.checked_div(runs)
                .map_or("-".to_string(), |per_run| per_run.to_string()),
            if secs > 0.0 {
                format!("{:.1}", runs as f64 / secs)
            } else {
                "-".to_string()
            },
            format!("{:.6}", seconds(ns)),
            if all_ns == 0 {
                "-".to_string()
            } else {
                format!("{:.1}%", 100.0 * ns as f64 / all_ns as f64)
            },
        ];
        if with_skipped {
            line.push(if skipped == 0 {
                String::new()
            } else {
                skipped.to_string()
            });
        }
        line
    };

    let mut header: Vec<String> = [
        "probe", "kind", "runs", "ns/run", "runs/s", "CPU s", "share",
    ]
    .map(String::from)
    .to_vec();
    if with_skipped {
        header.push("skipped".into());
    }
    let mut lines = vec![header];
    for r in &sorted {
        lines.push(cells(
            &r.probe,
            r.kind,
            r.runs,
            r.run_time_ns,
            r.recursion_misses,
        ));
    }
    lines.push(cells(
        "total",
        "",
        rows.iter().map(|r| r.runs).sum(),
        all_ns,
        rows.iter().map(|r| r.recursion_misses).sum(),
    ));
    align(&lines)
}

/// Pads the columns: names to the left, numbers to the right.
fn align(lines: &[Vec<String>]) -> Vec<String> {
    let columns = lines.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            lines
                .iter()
                .filter_map(|l| l.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    lines
        .iter()
        .map(|line| {
            let padded: Vec<String> = line
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(c, (cell, &width))| {
                    if c < 2 {
                        format!("{cell:<width$}")
                    } else {
                        format!("{cell:>width$}")
                    }
                })
                .collect();
            padded.join("  ").trim_end().to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(probe: &str, runs: u64, run_time_ns: u64) -> ProbeCost {
        ProbeCost {
            probe: probe.into(),
            kind: "tracepoint",
            runs,
            run_time_ns,
            recursion_misses: 0,
        }
    }

    /// The cells of a table line.
    fn cells(line: &str) -> Vec<&str> {
        line.split_whitespace().collect()
    }

    #[test]
    fn rows_are_sorted_by_cpu_time_with_shares_and_a_total() {
        let rows = [
            row("kfree_skb", 10, 1_000),
            row("net_dev_queue", 1_000, 300_000),
            row("netif_receive_skb", 2_000, 700_000),
        ];
        let lines = table(&rows, Duration::from_secs(2));
        assert_eq!(
            lines,
            [
                "probe              kind        runs  ns/run  runs/s     CPU s   share",
                "netif_receive_skb  tracepoint  2000     350  1000.0  0.000700   69.9%",
                "net_dev_queue      tracepoint  1000     300   500.0  0.000300   30.0%",
                "kfree_skb          tracepoint    10     100     5.0  0.000001    0.1%",
                "total                          3010     332  1505.0  0.001001  100.0%",
            ]
        );
    }

    #[test]
    fn a_probe_that_never_ran_has_a_row_without_time_per_run() {
        let rows = [row("tcp_send_reset", 0, 0), row("net_dev_xmit", 4, 400)];
        let lines = table(&rows, Duration::from_secs(1));
        assert_eq!(lines.len(), 4);
        assert_eq!(cells(&lines[1])[0], "net_dev_xmit");
        assert_eq!(
            cells(&lines[2]),
            [
                "tcp_send_reset",
                "tracepoint",
                "0",
                "-",
                "0.0",
                "0.000000",
                "0.0%"
            ]
        );
    }

    #[test]
    fn nothing_ran_at_all() {
        let rows = [row("a", 0, 0), row("b", 0, 0)];
        let lines = table(&rows, Duration::ZERO);
        // Ties keep name order; no share of nothing, no rate over no time.
        assert_eq!(
            cells(&lines[1]),
            ["a", "tracepoint", "0", "-", "-", "0.000000", "-"]
        );
        assert_eq!(cells(&lines[3]), ["total", "0", "-", "-", "0.000000", "-"]);
        assert_eq!(
            title(&rows, Duration::ZERO),
            "cost of 2 probes over 0.0 s (the kernel's BPF run-time statistics): 0.000000 CPU s"
        );
    }

    #[test]
    fn skipped_runs_get_a_column_only_when_there_are_some() {
        let mut rows = vec![
            ProbeCost {
                probe: "dev_hard_start_xmit".into(),
                kind: "fentry+fexit",
                runs: 100,
                run_time_ns: 50_000,
                recursion_misses: 3,
            },
            row("net_dev_queue", 100, 20_000),
        ];
        let lines = table(&rows, Duration::from_secs(1));
        assert!(lines[0].ends_with("share  skipped"), "{}", lines[0]);
        assert!(lines[1].ends_with("  3"), "{}", lines[1]);
        assert!(lines[2].ends_with('%'), "{}", lines[2]);
        assert!(lines[3].ends_with("  3"), "{}", lines[3]);
        rows[0].recursion_misses = 0;
        let lines = table(&rows, Duration::from_secs(1));
        assert!(lines[0].ends_with("share"), "{}", lines[0]);
    }

    #[test]
    fn the_title_gives_the_share_of_one_cpu() {
        let rows = [row("a", 10, 5_000_000), row("b", 10, 5_000_000)];
        assert_eq!(
            title(&rows, Duration::from_secs(10)),
            "cost of 2 probes over 10.0 s (the kernel's BPF run-time statistics): 0.010000 CPU s, 0.100% of one CPU"
        );
    }
}
