//! Reads pkttrace JSON lines on stdin and reports where the dequeues of one
//! probe fell relative to a gate schedule (CLOCK_MONOTONIC, like the events'
//! `ts_ns`), for bench/tdma.sh:
//!
//!   window-edges PROBE FRAME_NS BASE_NS OFFSET:LENGTH... < events.json
//!
//! Prints one line per figure: dequeues, outside, worst slack, after-open and
//! before-close percentiles.

use std::io::BufRead;

use pkttrace_tests::window_edges::{GateSchedule, analyse, summary_us};

fn usage() -> ! {
    eprintln!("usage: window-edges PROBE FRAME_NS BASE_NS OFFSET_NS:LENGTH_NS... < events.json");
    std::process::exit(2)
}

fn number<T: std::str::FromStr>(s: &str) -> T {
    s.parse().unwrap_or_else(|_| usage())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        usage();
    }
    let probe = &args[0];
    let schedule = GateSchedule {
        frame_ns: number(&args[1]),
        base_ns: number(&args[2]),
        windows: args[3..]
            .iter()
            .map(|w| {
                let (off, len) = w.split_once(':').unwrap_or_else(|| usage());
                (number(off), number(len))
            })
            .collect(),
    };
    let mut ts = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap_or_else(|e| {
            eprintln!("window-edges: reading stdin: {e}");
            std::process::exit(1)
        });
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if event["probe"] == probe.as_str()
            && let Some(t) = event["ts_ns"].as_u64()
        {
            ts.push(t);
        }
    }
    let stats = analyse(&schedule, &ts);
    println!("dequeues        {}", stats.dequeues);
    println!("outside windows {}", stats.outside);
    println!(
        "worst slack     {:.1} us",
        stats.worst_slack_ns as f64 / 1e3
    );
    println!("after opening   {}", summary_us(&stats.after_open_ns));
    println!("before closing  {}", summary_us(&stats.before_close_ns));
}
