//! Where events come from: a live session or a record file, each read on
//! its own thread and handed to the UI thread over a bounded channel. A
//! slow UI makes the reader wait (live: the kernel counts what the ring
//! buffer could not hold), never memory grow.

use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::{io, thread};

use anyhow::{Context, Result};
use formats::abi::RawEvent;
use formats::meta::TraceMeta;
use formats::record::{RecordEnd, RecordReader, replay};
use formats::sink::{Sink, Summary};

use crate::cli::TraceArgs;
use crate::session::{Limits, Session};
use crate::status::Status;

/// Events per message: one channel operation per batch, not per event.
const BATCH: usize = 1024;
/// Batches in flight: about 12 MB of events.
const CHANNEL_BATCHES: usize = 64;

/// What the reader thread tells the UI.
#[derive(Debug)]
pub enum Msg {
    Begin(Box<TraceMeta>),
    Events(Vec<RawEvent>),
    Lost {
        cpu: u32,
        total: u64,
    },
    /// The trace's clock (live): packets waiting on time may be complete.
    Clock(u64),
    /// The source ended: `Err` says why it failed or what was odd.
    End(std::result::Result<(), String>),
}

/// A [`Sink`] that forwards to the UI thread in batches.
struct ChannelSink {
    tx: SyncSender<Msg>,
    batch: Vec<RawEvent>,
}

impl ChannelSink {
    fn send(&self, msg: Msg) -> io::Result<()> {
        // The UI is gone: stop like a closed pipe (the session treats that
        // as a quiet end).
        self.tx
            .send(msg)
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }

    fn send_batch(&mut self) -> io::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.send(Msg::Events(batch))
    }
}

impl Sink for ChannelSink {
    fn begin(&mut self, meta: &TraceMeta) -> io::Result<()> {
        self.send(Msg::Begin(Box::new(meta.clone())))
    }

    fn event(&mut self, event: &RawEvent) -> io::Result<()> {
        self.batch.push(*event);
        if self.batch.len() >= BATCH {
            self.send_batch()?;
        }
        Ok(())
    }

    fn lost(&mut self, cpu: u32, total_lost_on_cpu: u64) -> io::Result<()> {
        // Keep the order: events before the loss, then the loss.
        self.send_batch()?;
        self.send(Msg::Lost {
            cpu,
            total: total_lost_on_cpu,
        })
    }

    fn finish(&mut self, _summary: &Summary) -> io::Result<()> {
        self.send_batch()
    }

    fn clock(&mut self, now_ns: u64) -> io::Result<()> {
        self.send_batch()?;
        self.send(Msg::Clock(now_ns))
    }

    /// Called after every drain of the ring buffer: live packets show up
    /// without waiting for a full batch.
    fn flush(&mut self) -> io::Result<()> {
        self.send_batch()
    }
}

/// A live session's `--cost` table (`Session::cost_table`), left by the
/// reader thread for stderr, which the screen hides until the end.
type CostSlot = Arc<Mutex<Option<Result<Option<Vec<String>>>>>>;

/// A running reader thread.
pub struct Source {
    rx: Receiver<Msg>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    cost: CostSlot,
}

impl Source {
    fn spawn(
        stop: Arc<AtomicBool>,
        read: impl FnOnce(&mut dyn Sink, &AtomicBool) -> std::result::Result<(), String>
        + Send
        + 'static,
    ) -> Result<Source> {
        let (tx, rx) = sync_channel(CHANNEL_BATCHES);
        let thread_stop = stop.clone();
        let thread = thread::Builder::new()
            .name("pkttrace-reader".into())
            .spawn(move || {
                let mut sink = ChannelSink {
                    tx,
                    batch: Vec::with_capacity(BATCH),
                };
                let result = read(&mut sink, &thread_stop);
                let _ = sink.send(Msg::End(result));
            })
            .context("starting the reader thread")?;
        Ok(Source {
            rx,
            stop,
            thread: Some(thread),
            cost: CostSlot::default(),
        })
    }

    /// Replays a record file.
    pub fn record(path: &Path, stop: Arc<AtomicBool>) -> Result<Source> {
        let mut reader =
            RecordReader::open(path).with_context(|| format!("reading {}", path.display()))?;
        let name = path.display().to_string();
        Source::spawn(stop, move |sink, _stop| {
            match replay(&mut reader, sink) {
                Ok(replay) => match replay.end {
                    RecordEnd::Complete => Ok(()),
                    RecordEnd::Interrupted => {
                        Err("record has no end marker: the recording was interrupted".into())
                    }
                    RecordEnd::Failed(e) => Err(format!(
                        "{:#}",
                        anyhow::Error::new(e).context(format!("reading {name}"))
                    )),
                },
                // The UI went away.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                Err(e) => Err(format!("reading {name}: {e}")),
            }
        })
    }

    /// Starts tracing (attaching prints progress on stderr, before the
    /// screen is taken) and reads the session on a thread.
    pub fn live(args: &TraceArgs, stop: Arc<AtomicBool>, status: &Status) -> Result<Source> {
        let limits = Limits::from_args(args)?;
        let mut session = Session::start(args, status)?;
        // Loss warnings go to the status bar; stderr is hidden while the
        // screen is ours.
        let quiet = Status::new(true);
        let cost = CostSlot::default();
        let thread_cost = cost.clone();
        let mut source = Source::spawn(stop, move |sink, stop| {
            let result = session
                .run(sink, limits, stop, &quiet)
                .map(|_| ())
                .map_err(|e| format!("{e:#}"));
            *thread_cost.lock().unwrap_or_else(|e| e.into_inner()) = Some(session.cost_table());
            result
        })?;
        source.cost = cost;
        Ok(source)
    }

    /// Stops the reader and returns the `--cost` table of a live session
    /// (`None` for a record, or if the session never ran).
    pub fn finish(self) -> Option<Result<Option<Vec<String>>>> {
        let cost = self.cost.clone();
        drop(self);
        cost.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// The next message, waiting for it; `None` once the thread is gone
    /// and everything it sent was taken.
    pub fn next(&self) -> Option<Msg> {
        self.rx.recv().ok()
    }

    /// The next message, if one is waiting; `None` also once the thread
    /// is gone and everything it sent was taken.
    pub fn try_next(&self) -> Option<Msg> {
        self.rx.try_recv().ok()
    }
}

impl Drop for Source {
    /// Stops the reader: the flag ends a live session's loop, and the
    /// channel closing ends a blocked send.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let (_, dead) = sync_channel(0);
        drop(std::mem::replace(&mut self.rx, dead));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
