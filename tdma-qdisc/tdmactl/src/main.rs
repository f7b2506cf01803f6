//! tdmactl: control tool for the sch_tdma qdisc.

mod cmd;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use tdmactl::netlink::{Qdiscs, Target, ifindex};
use tdmactl::units::parse_duration;

use cmd::keywords::{self, UsageError};
use cmd::show::Format;
use cmd::{status, warn};

const EXAMPLES: &str = "\
Examples:
  tdmactl add dev eth0 frame 10ms window 0:3ms window 5ms:2ms guard 50us rate 100mbit
  tdmactl change dev eth0 frame 10ms window 0:4ms at 1700000000000000000
  tdmactl show dev eth0 -o json
  tdmactl stats dev eth0
  tdmactl watch dev eth0 --interval 200ms
  tdmactl apply tdma-qdisc/examples/three-nodes.toml --node b --dev eth0 --dry-run
  tdmactl del dev eth0

Durations: 10ms, 1.5ms, 250us, 3000ns, 2s. Rates: bit/kbit/mbit/gbit (bits/s),
bps/kbps/mbps/gbps (bytes/s). Times after `base-time` and `at` are nanoseconds
on the schedule's clock.";

const SCHEDULE_KEYWORDS: &str = "\
Keywords (tc style; --frame 10ms and --frame=10ms work too):
  dev IF                 interface (required)
  frame DURATION         frame length (required)
  window OFFSET:LENGTH   one per window, sorted by offset (OFFSET+LENGTH also works)
  guard DURATION         no dequeue in the last DURATION of each window [0]
  base-time NS           clock time at which frame 0 starts [0]
  clock NAME             tai, monotonic, realtime, boottime [tai]
  limit PACKETS          queue limit [1000]
  rate RATE              link rate, lets the qdisc refuse packets that cannot fit [unknown]
  handle H, parent P     like tc: 1:, 1:2, root [parent root]";

#[derive(Parser)]
#[command(
    name = "tdmactl",
    version,
    about = "Configure and watch the sch_tdma TDMA qdisc",
    after_help = EXAMPLES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Add a tdma qdisc (like `tc qdisc add`)
    #[command(
        after_help = SCHEDULE_KEYWORDS,
        override_usage = "tdmactl add dev IF frame DURATION window OFFSET:LENGTH... [KEYWORD VALUE]..."
    )]
    Add(ScheduleCmd),
    /// Replace the whole schedule of a tdma qdisc, from the next frame or `at NS`
    #[command(
        after_help = format!("{SCHEDULE_KEYWORDS}\n  at NS                  clock time the new schedule starts (rounded up to a frame boundary)"),
        override_usage = "tdmactl change dev IF frame DURATION window OFFSET:LENGTH... [at NS] [KEYWORD VALUE]..."
    )]
    Change(ScheduleCmd),
    /// Delete the tdma qdisc
    #[command(override_usage = "tdmactl del dev IF [parent P] [handle H]")]
    Del(Words),
    /// List qdiscs, with tdma schedules and pending changes
    #[command(override_usage = "tdmactl show [dev IF] [-o json]")]
    Show(Query),
    /// Counters of the tdma qdisc, per window included
    #[command(override_usage = "tdmactl stats dev IF [-o json]")]
    Stats(Query),
    /// Live graph of throughput per window and queue length
    #[command(
        override_usage = "tdmactl watch dev IF [--interval 200ms] [--count N]",
        after_help = "On a terminal: a graph (q, Esc or Ctrl-C quits). Otherwise, or with --plain: one line per interval,\n  t=SECONDS tx_Bps=N qlen=N backlog=BYTES drops=N w0_Bps=N w1_Bps=N ..."
    )]
    Watch(WatchCmd),
    /// Install one node's schedule from a network file (add, or change if present)
    #[command(
        after_help = "The file format is documented in tdma-qdisc/examples/three-nodes.toml."
    )]
    Apply(ApplyCmd),
    /// Run the dynamic TDMA agent
    Agent(tdmactl::agent::AgentArgs),
}

#[derive(clap::Args)]
struct ScheduleCmd {
    /// Send the schedule without checking it here first (the kernel still checks it)
    #[arg(long)]
    no_check: bool,
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        required = true,
        value_name = "KEYWORD VALUE"
    )]
    words: Vec<String>,
}

#[derive(clap::Args)]
struct Words {
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "KEYWORD VALUE"
    )]
    words: Vec<String>,
}

#[derive(clap::Args)]
struct Query {
    /// Output format
    #[arg(short, long, value_enum, default_value = "text")]
    output: Format,
    #[arg(value_name = "dev IF")]
    words: Vec<String>,
}

#[derive(clap::Args)]
struct WatchCmd {
    /// Time between samples
    #[arg(long, default_value = "200ms", value_parser = parse_interval)]
    interval: Duration,
    /// Stop after N samples
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// One line of figures per sample even on a terminal
    #[arg(long)]
    plain: bool,
    #[arg(value_name = "dev IF")]
    words: Vec<String>,
}

#[derive(clap::Args)]
struct ApplyCmd {
    /// Network file (TOML)
    file: PathBuf,
    /// This machine's node in the file
    #[arg(long)]
    node: String,
    /// Interface to install the schedule on
    #[arg(long)]
    dev: String,
    /// Print the schedule instead of sending it
    #[arg(long)]
    dry_run: bool,
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    match parse_duration(s) {
        Ok(0) => Err("must be more than 0".into()),
        Ok(ns) => Ok(Duration::from_nanos(ns)),
        Err(e) => Err(e.to_string()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tdmactl: error: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                eprintln!("(see tdmactl --help)");
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(command: Command) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match command {
        Command::Add(mut c) => {
            let no_check = c.no_check | take_flag(&mut c.words, "--no-check");
            let args = keywords::schedule_args(&c.words, false)?;
            check(&args.schedule, no_check)?;
            let target = args.target(ifindex(&args.dev)?);
            // Kernel errors are shown bare: the extack is the message.
            warn(&Qdiscs::open()?.add(target, &args.schedule)?);
        }
        Command::Change(mut c) => {
            let no_check = c.no_check | take_flag(&mut c.words, "--no-check");
            let args = keywords::schedule_args(&c.words, true)?;
            check(&args.schedule, no_check)?;
            let target = args.target(ifindex(&args.dev)?);
            warn(&Qdiscs::open()?.change(target, &args.schedule, args.change_at)?);
        }
        Command::Del(w) => {
            let (dev, parent, handle) = keywords::target_args(&w.words)?;
            let target = Target {
                ifindex: ifindex(&dev)?,
                parent,
                handle,
            };
            warn(&Qdiscs::open()?.delete(target)?);
        }
        Command::Show(q) => {
            let dev = keywords::dev_arg(&q.words)?;
            cmd::show::show(dev.as_deref(), q.output, &mut stdout)?;
        }
        Command::Stats(q) => {
            let dev = required_dev(&q.words)?;
            cmd::show::stats(&dev, q.output, &mut stdout)?;
        }
        Command::Watch(w) => {
            let dev = required_dev(&w.words)?;
            cmd::watch::run(cmd::watch::WatchArgs {
                dev,
                interval: w.interval,
                count: w.count,
                plain: w.plain || !std::io::stdout().is_terminal(),
            })?;
        }
        Command::Apply(a) => cmd::apply::run(&a.file, &a.node, &a.dev, a.dry_run, &mut stdout)?,
        Command::Agent(args) => tdmactl::agent::run(args)?,
    }
    Ok(())
}

/// Removes `flag` from the keyword words: clap stops parsing flags at the
/// first keyword, so a flag given after them lands there.
fn take_flag(words: &mut Vec<String>, flag: &str) -> bool {
    let before = words.len();
    words.retain(|w| w != flag);
    words.len() != before
}

fn required_dev(words: &[String]) -> Result<String, UsageError> {
    keywords::dev_arg(words)?.ok_or_else(|| UsageError("missing `dev IF`".into()))
}

/// The local check, unless the user wants the kernel's verdict alone.
fn check(schedule: &tdmactl::schedule::Schedule, skip: bool) -> Result<()> {
    if skip {
        status("not checking the schedule locally (--no-check)");
        return Ok(());
    }
    schedule.validate().context("invalid schedule")
}
