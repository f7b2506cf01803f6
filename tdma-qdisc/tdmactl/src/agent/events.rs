//! What the agent tells people: one stderr line per decision or notable
//! event, and with `--events` one JSON object per decision (for tests and
//! tooling).

use std::fs::File;
use std::io::{self, BufWriter, Write};

use anyhow::{Context, Result};
use serde::Serialize;

use super::node::Decision;

pub struct Reporter {
    node: String,
    events: Option<Box<dyn Write>>,
}

#[derive(Serialize)]
struct Event<'a> {
    t_ns: u64,
    node: &'a str,
    decision: &'a str,
    members: &'a [String],
    /// [offset, length] pairs, ns from the frame start; empty: sends nothing.
    windows: Vec<[u64; 2]>,
    /// When the decision takes effect (the expected boundary for "next boundary").
    switch_at_ns: u64,
}

impl Reporter {
    /// `events`: a file, `-` for stdout, or none.
    pub fn open(node: &str, events: Option<&str>) -> Result<Reporter> {
        let events: Option<Box<dyn Write>> = match events {
            None => None,
            Some("-") => Some(Box::new(io::stdout())),
            Some(path) => Some(Box::new(BufWriter::new(
                File::create(path).with_context(|| format!("creating the events file {path}"))?,
            ))),
        };
        Ok(Reporter {
            node: node.to_string(),
            events,
        })
    }

    pub fn note(&self, message: &str) {
        eprintln!("tdmactl agent: {}: {message}", self.node);
    }

    pub fn decision(&mut self, now_ns: u64, d: &Decision) -> Result<()> {
        let window = match d.window {
            Some(w) => format!("window {w}"),
            None => "no window".into(),
        };
        let when = match d.switch_at_ns {
            Some(t) => format!("at {t}"),
            None => format!("at the next boundary ({})", d.effective_ns),
        };
        self.note(&format!(
            "{} [{}]: {window} {when}",
            d.phase.name(),
            d.members.names().join(","),
        ));
        let Some(out) = self.events.as_mut() else {
            return Ok(());
        };
        let event = Event {
            t_ns: now_ns,
            node: &self.node,
            decision: d.phase.name(),
            members: d.members.names(),
            windows: d
                .window
                .iter()
                .map(|w| [w.offset_ns, w.length_ns])
                .collect(),
            switch_at_ns: d.switch_at_ns.unwrap_or(d.effective_ns),
        };
        serde_json::to_writer(&mut *out, &event).context("writing an event")?;
        // Readers follow the stream live: every line goes out whole, at once.
        out.write_all(b"\n")
            .and_then(|()| out.flush())
            .context("writing an event")
    }
}
