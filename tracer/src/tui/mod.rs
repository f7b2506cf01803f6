//! `pkttrace tui`: the interactive view. A list of packet journeys, the
//! call tree of the selected one, its passes on a time axis, and a status
//! bar; live or from a record, the same views.
//!
//! Data flows one way: a reader thread ([`source`]) sends events to the UI
//! thread, which stitches them into journeys ([`ingest`]) and keeps them as
//! compact, owned packets ([`model`]); keys become actions ([`keys`]) that
//! change the screen's state ([`app`]), which the views draw ([`view`]).

pub mod app;
mod fmt;
pub mod ingest;
pub mod keys;
pub mod model;
pub mod source;
mod terminal;
pub mod view;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ratatui::crossterm::event::{self, Event};

use crate::cli::TuiArgs;
use crate::filter_args;
use crate::status::Status;
use app::{App, Origin};
use model::{Filter, Model};
use source::{Msg, Source};

/// How long the loop waits for a key before looking at the source again.
const POLL: Duration = Duration::from_millis(30);
/// Time spent taking messages per turn, so keys stay responsive under load.
const INGEST_BUDGET: Duration = Duration::from_millis(40);

/// Runs the TUI until `q`, Ctrl-C, SIGTERM or SIGINT (`stop`).
pub fn run(args: &TuiArgs, stop: Arc<AtomicBool>) -> Result<i32> {
    let status = Status::new(args.trace.quiet);
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let (source, mut app) = match args.record_file() {
        Some(path) => {
            // Filter words and options narrow the list, as the kernel
            // would have narrowed the trace.
            let mut trace = args.trace.clone();
            if args.read.is_none() {
                // The one word was the file.
                trace.filter.expression.clear();
            }
            let filter = filter_args::compile(&trace.filter, 0)?.text;
            let filter = Filter::compile(&filter).map_err(crate::UsageError::error)?;
            let source = Source::record(&path, stop.clone())?;
            let mut model = Model::new(usize::MAX);
            model.set_filter(filter);
            (source, App::new(model, Origin::Record, color))
        }
        None => {
            let source = Source::live(&args.trace, stop.clone(), &status)?;
            let app = App::new(Model::new(args.max_packets), Origin::Live, color);
            (source, app)
        }
    };
    app.all_skbs = args.all_skbs;
    exit_on_hangup();
    let mut screen = terminal::Screen::take().context("setting up the terminal")?;
    let result = event_loop(&mut screen, &mut app, &source, &stop);
    let cost = source.finish();
    screen.give_back();
    if let Some(table) = cost {
        crate::session::print_cost_table(table, &status);
    }
    result.map(|()| 0)
}

/// When the terminal hangs up (its window closed, ssh dropped) crossterm
/// keeps reading end-of-file without returning, so the loop would spin
/// forever. Nothing can be shown or restored then: exit at once. Probes and
/// maps are held by file descriptors only, so exiting detaches everything.
fn exit_on_hangup() {
    extern "C" fn on_hangup(_: libc::c_int) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(129) }
    }
    // SAFETY: installs a handler that only calls an async-signal-safe function.
    unsafe { libc::signal(libc::SIGHUP, on_hangup as *const () as libc::sighandler_t) };
}

fn event_loop(
    screen: &mut terminal::Screen,
    app: &mut App,
    source: &Source,
    stop: &AtomicBool,
) -> Result<()> {
    let mut dirty = true;
    let mut busy = false;
    while !app.quit && !stop.load(Ordering::Relaxed) {
        if dirty {
            screen
                .terminal
                .draw(|frame| view::draw(frame, app))
                .context("drawing")?;
            dirty = false;
        }
        // While the source has more, only glance at the keys.
        let wait = if busy { Duration::ZERO } else { POLL };
        if event::poll(wait).context("reading the terminal")? {
            match event::read().context("reading the terminal")? {
                Event::Key(key) => {
                    for action in keys::actions(key, app.mode()) {
                        app.apply(action);
                    }
                }
                Event::Resize(..) => {}
                _ => continue,
            }
            dirty = true;
        }
        let started = Instant::now();
        let mut received = false;
        while started.elapsed() < INGEST_BUDGET {
            let Some(msg) = source.try_next() else {
                break;
            };
            received = true;
            app.receive(msg)?;
        }
        busy = received;
        if received {
            app.after_new_packets();
            dirty = true;
        }
        let rate = app.rate;
        app.tick(Instant::now());
        dirty |= rate != app.rate;
    }
    Ok(())
}

/// Reads a whole record into an app, as the view does before the user
/// scrolls to the end (tests, the benchmark).
pub fn open_record(path: &std::path::Path) -> Result<App> {
    let source = Source::record(path, Arc::new(AtomicBool::new(false)))?;
    let mut app = App::new(Model::new(usize::MAX), Origin::Record, false);
    while let Some(msg) = source.next() {
        let end = matches!(msg, Msg::End(_));
        app.receive(msg)?;
        if end {
            break;
        }
    }
    app.after_new_packets();
    Ok(app)
}

impl TuiArgs {
    /// The record to open: `-r FILE`, or one positional word naming an
    /// existing file.
    pub fn record_file(&self) -> Option<std::path::PathBuf> {
        if let Some(path) = &self.read {
            return Some(path.clone());
        }
        match self.trace.filter.expression.as_slice() {
            [word] if std::path::Path::new(word).is_file() => Some(word.into()),
            _ => None,
        }
    }
}

/// Lets `Msg` be built by tests without a reader thread.
#[cfg(test)]
pub(crate) fn feed(app: &mut App, msgs: Vec<Msg>) {
    for msg in msgs {
        app.receive(msg).expect("stitching");
    }
    app.after_new_packets();
}
