//! Where stitched trees go, and the adapter that lets tree printers stand
//! wherever a flat [`Sink`] does (live tracing, `report`).

use std::collections::HashMap;
use std::io;

use serde::Serialize;

use crate::abi::RawEvent;
use crate::meta::TraceMeta;
use crate::sink::{Sink, Summary};
use crate::stack::{Stack, StackFrame};

use super::Stitcher;
use super::options::StitchOptions;
use super::packet::Packet;
use super::pass::Pass;

/// A consumer of stitched output: `begin` once, then passes or packets
/// (per [`Grouping`](super::Grouping)), then `finish` once.
pub trait TreeSink {
    fn begin(&mut self, meta: &TraceMeta) -> io::Result<()>;
    fn pass(&mut self, pass: &Pass) -> io::Result<()>;
    fn packet(&mut self, packet: &Packet) -> io::Result<()>;
    fn finish(&mut self, summary: &Summary, stats: &StitchStats) -> io::Result<()>;
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// A kernel stack, before the events that refer to it (see [`Sink::stack`]).
    fn stack(&mut self, stack: &Stack) -> io::Result<()> {
        let _ = stack;
        Ok(())
    }
    /// The name of a code address (see [`Sink::symbol`]).
    fn symbol(&mut self, frame: &StackFrame) -> io::Result<()> {
        let _ = frame;
        Ok(())
    }
}

/// What the stitcher did, and every limit it reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StitchStats {
    pub passes: u64,
    /// Trees made only of tentative frames (functions without an skb whose
    /// socket did not pass the filter, with no match inside): not shown.
    pub tentative_passes: u64,
    pub packets: u64,
    /// Calls whose exit never came.
    pub missing_exits: u64,
    /// Exits whose entry was never seen.
    pub orphan_exits: u64,
    /// Nodes beyond the per-tree limit, counted but not kept.
    pub omitted_nodes: u64,
    /// Passes emitted before their root returned.
    pub cut_passes: u64,
    /// Trees cut because open frames reached their limit.
    pub depth_cuts: u64,
    /// Sleeping tasks whose open frames were evicted.
    pub tasks_evicted: u64,
    /// Packets emitted early to stay within the packet limits.
    pub packets_evicted: u64,
    /// Packets emitted at their pass limit and continued.
    pub packets_split: u64,
    /// Events from impossible CPU numbers, each shown on its own.
    pub unstitched_events: u64,
    /// Softirq exits without an entry.
    pub stray_softirq_exits: u64,
    /// Calls the kernel could not give a frame (its frame stack was full):
    /// shown without exit, nothing nested under them.
    pub untracked_calls: u64,
}

impl StitchStats {
    /// Whether any limit was reached or the input was odd: worth telling.
    pub fn has_anomalies(&self) -> bool {
        let StitchStats {
            passes: _,
            tentative_passes: _,
            packets: _,
            missing_exits,
            orphan_exits,
            omitted_nodes,
            cut_passes,
            depth_cuts,
            tasks_evicted,
            packets_evicted,
            packets_split,
            unstitched_events,
            stray_softirq_exits,
            untracked_calls,
        } = *self;
        [
            missing_exits,
            orphan_exits,
            omitted_nodes,
            cut_passes,
            depth_cuts,
            tasks_evicted,
            packets_evicted,
            packets_split,
            unstitched_events,
            stray_softirq_exits,
            untracked_calls,
        ]
        .iter()
        .any(|&count| count != 0)
    }
}

/// Feeds events to a [`Stitcher`] and its output to a [`TreeSink`]: a
/// [`Sink`] like the flat printers.
pub struct StitchSink<T: TreeSink> {
    options: StitchOptions,
    stitcher: Option<Stitcher>,
    trees: T,
    /// Cumulative lost count last reported per CPU.
    lost_seen: HashMap<u32, u64>,
}

impl<T: TreeSink> StitchSink<T> {
    pub fn new(trees: T, options: StitchOptions) -> Self {
        StitchSink {
            options,
            stitcher: None,
            trees,
            lost_seen: HashMap::new(),
        }
    }

    pub fn into_inner(self) -> T {
        self.trees
    }

    fn started(&mut self) -> io::Result<(&mut Stitcher, &mut T)> {
        match &mut self.stitcher {
            Some(stitcher) => Ok((stitcher, &mut self.trees)),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "tree printer: event before begin",
            )),
        }
    }
}

impl<T: TreeSink> Sink for StitchSink<T> {
    fn begin(&mut self, meta: &TraceMeta) -> io::Result<()> {
        self.stitcher = Some(Stitcher::new(meta, self.options));
        self.lost_seen.clear();
        self.trees.begin(meta)
    }

    fn event(&mut self, event: &RawEvent) -> io::Result<()> {
        let (stitcher, trees) = self.started()?;
        stitcher.push(event, trees)
    }

    /// Cuts the trees open on `cpu` when its lost count grew.
    fn lost(&mut self, cpu: u32, total_lost_on_cpu: u64) -> io::Result<()> {
        let seen = self.lost_seen.entry(cpu).or_default();
        if total_lost_on_cpu <= *seen {
            return Ok(());
        }
        *seen = total_lost_on_cpu;
        let (stitcher, trees) = self.started()?;
        stitcher.events_lost(cpu, trees)
    }

    fn stack(&mut self, stack: &Stack) -> io::Result<()> {
        self.trees.stack(stack)
    }

    fn symbol(&mut self, frame: &StackFrame) -> io::Result<()> {
        self.trees.symbol(frame)
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        let (stitcher, trees) = self.started()?;
        stitcher.finish(trees)?;
        trees.finish(summary, stitcher.stats())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.trees.flush()
    }

    fn clock(&mut self, now_ns: u64) -> io::Result<()> {
        let (stitcher, trees) = self.started()?;
        stitcher.advance(now_ns, trees)
    }
}
