//! Where events go: printers and record files all consume the same stream.

use std::io;

use serde::{Deserialize, Serialize};

use crate::abi::RawEvent;
use crate::meta::TraceMeta;

/// Counters of a finished (or interrupted) trace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Events delivered to the sinks.
    pub events: u64,
    /// Events the kernel could not deliver (ring buffer full).
    pub lost: u64,
    /// Events the filter rejected in the kernel.
    pub filtered: u64,
    /// Wall time the trace ran.
    pub duration_ns: u64,
}

/// A consumer of a trace: `begin` once, then any mix of `event` and `lost`,
/// then `finish` once. Sinks copy what they need from the metadata at `begin`.
pub trait Sink {
    fn begin(&mut self, meta: &TraceMeta) -> io::Result<()>;
    fn event(&mut self, event: &RawEvent) -> io::Result<()>;
    /// The kernel dropped events on `cpu`; `total_lost_on_cpu` is cumulative.
    fn lost(&mut self, cpu: u32, total_lost_on_cpu: u64) -> io::Result<()>;
    fn finish(&mut self, summary: &Summary) -> io::Result<()>;
    /// Pushes buffered output out, e.g. after each ring buffer poll of a live
    /// trace so lines appear promptly.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A boxed sink is a sink: lets adapters wrap a printer chosen at run time.
impl<S: Sink + ?Sized> Sink for Box<S> {
    fn begin(&mut self, meta: &TraceMeta) -> io::Result<()> {
        (**self).begin(meta)
    }
    fn event(&mut self, event: &RawEvent) -> io::Result<()> {
        (**self).event(event)
    }
    fn lost(&mut self, cpu: u32, total_lost_on_cpu: u64) -> io::Result<()> {
        (**self).lost(cpu, total_lost_on_cpu)
    }
    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        (**self).finish(summary)
    }
    fn flush(&mut self) -> io::Result<()> {
        (**self).flush()
    }
}
