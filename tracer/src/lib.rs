//! pkttrace: loads the BPF programs, reads their events, and hands them to
//! the sinks of `formats`. The binary (`main.rs`) only parses arguments.

pub mod backend;
pub mod bpf_sys;
pub mod catalog;
pub mod cli;
pub mod cost;
pub mod demo;
pub mod doctor;
pub mod event_filter;
pub mod filter_args;
pub mod host;
pub mod netns;
pub mod output;
pub mod pins;
pub mod prog_stats;
pub mod ring_wait;
pub mod session;
pub mod status;
pub mod symbolize;
pub mod tui;

/// A mistake in the command line (exit status 2), as opposed to a failure
/// while running (exit status 1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl UsageError {
    pub fn error(msg: impl std::fmt::Display) -> anyhow::Error {
        anyhow::Error::new(UsageError(msg.to_string()))
    }
}

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use formats::record::{RecordEnd, RecordReader, RecordWriter};

use cli::{Cli, Command};
use session::{Limits, Session};
use status::Status;

/// Sets the returned flag on SIGINT or SIGTERM, so every command can detach
/// and clean up before exiting.
fn stop_flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let handler_stop = stop.clone();
    ctrlc::set_handler(move || handler_stop.store(true, Ordering::Relaxed))
        .context("installing the SIGINT/SIGTERM handler")?;
    Ok(stop)
}

/// Runs a parsed command line; the returned code is the process exit status.
pub fn run(cli: Cli) -> Result<i32> {
    let quiet = cli.trace.quiet;
    let status = Status::new(quiet);
    match cli.command {
        None if cli.trace.dry_run => {
            let plan = session::Plan::make(&cli.trace)?;
            plan.print(&mut std::io::stdout().lock())?;
            Ok(0)
        }
        None => {
            let mut output_args = cli.output;
            // Stacks are printed under flat lines: the default with --stack.
            if cli.trace.stack && output_args.output.is_none() && !output_args.tdma {
                output_args.output = Some(cli::OutputFormat::Text);
            }
            if output_args.tdma && !backend::tdma::module_loaded() {
                anyhow::bail!(
                    "--tdma shows sch_tdma's events, and the {} module is not loaded",
                    backend::tdma::MODULE
                );
            }
            let stop = stop_flag()?;
            let limits = Limits::from_args(&cli.trace)?;
            let mut session = Session::start(&cli.trace, &status)?;
            let frames = output::has_call_frames(&session.meta);
            // The kernel ran the filter: nothing is left to filter here.
            let mut sink = output::stdout_sink(&output_args, frames, false, None);
            status.info("tracing; Ctrl-C to stop");
            let summary = session.run(sink.as_mut(), limits, &stop, &status)?;
            status.info(format!(
                "{} events, {} lost, {} filtered out in the kernel, {:.1} s",
                summary.events,
                summary.lost,
                summary.filtered,
                summary.duration_ns as f64 / 1e9
            ));
            session::print_cost_table(session.cost_table(), &status);
            Ok(0)
        }
        Some(Command::Record(args)) => {
            let stop = stop_flag()?;
            let limits = Limits::from_args(&args.trace)?;
            let status = Status::new(args.trace.quiet);
            let mut session = Session::start(&args.trace, &status)?;
            let mut writer = RecordWriter::create(&args.file)
                .with_context(|| format!("creating {}", args.file.display()))?;
            if args.compress {
                writer = writer.compressed().context("starting zstd")?;
            }
            status.info(format!(
                "recording to {}; Ctrl-C to stop",
                args.file.display()
            ));
            let summary = session.run(&mut writer, limits, &stop, &status)?;
            status.info(format!(
                "recorded {} events ({} lost, {} filtered out in the kernel) to {}",
                summary.events,
                summary.lost,
                summary.filtered,
                args.file.display()
            ));
            session::print_cost_table(session.cost_table(), &status);
            Ok(0)
        }
        Some(Command::Report(args)) => {
            // The live trace's filter, compiled the same way, run on each
            // recorded event; flags are the kernel's business only.
            let filter = filter_args::compile(&args.filter, 0)?.program();
            let mut reader = RecordReader::open(&args.file)
                .with_context(|| format!("reading {}", args.file.display()))?;
            let frames = output::has_call_frames(reader.meta());
            let mut sink = output::stdout_sink(&args.output, frames, true, filter);
            let replay = match formats::record::replay(&mut reader, sink.as_mut()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(0),
                other => other.context("writing output")?,
            };
            match replay.end {
                RecordEnd::Complete => Ok(0),
                RecordEnd::Interrupted => {
                    status.warn("record has no end marker: the recording was interrupted");
                    Ok(0)
                }
                RecordEnd::Failed(e) => {
                    Err(anyhow::Error::new(e).context(format!("reading {}", args.file.display())))
                }
            }
        }
        Some(Command::Doctor) => Ok(if doctor::run()? { 0 } else { 1 }),
        Some(Command::Functions(args)) => catalog::run(&args, &status),
        Some(Command::Tui(args)) => tui::run(&args, stop_flag()?),
        Some(Command::Demo(args)) => {
            let stop = stop_flag()?;
            demo::run(&args, stop, &status)?;
            Ok(0)
        }
    }
}
