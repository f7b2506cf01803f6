//! Where events go: printers and record files all consume the same stream.

use std::io;

use serde::{Deserialize, Serialize};

use crate::abi::RawEvent;
use crate::meta::TraceMeta;
use crate::stack::{Stack, StackFrame};

/// Counters of a finished (or interrupted) trace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Events delivered to the sinks.
    pub events: u64,
    /// Events the kernel could not deliver (ring buffer full).
    pub lost: u64,
    /// Events the filter rejected in the kernel.
    pub filtered: u64,
    /// Function entries the kernel could not give a frame (frame stack
    /// full): their exits were not traced.
    #[serde(default)]
    pub untracked: u64,
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
    /// A kernel stack (`--stack`), given once before the first event whose
    /// `stack_id` names it. Sinks that show no stacks ignore it.
    fn stack(&mut self, stack: &Stack) -> io::Result<()> {
        let _ = stack;
        Ok(())
    }
    /// The name of a code address events carry (a drop location), given
    /// once before the first event that carries it.
    fn symbol(&mut self, frame: &StackFrame) -> io::Result<()> {
        let _ = frame;
        Ok(())
    }
    fn finish(&mut self, summary: &Summary) -> io::Result<()>;
    /// Pushes buffered output out, e.g. after each ring buffer poll of a live
    /// trace so lines appear promptly.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// The trace's clock (`CLOCK_MONOTONIC`) reached `now_ns` with nothing
    /// more to read: live traces say so at every ring buffer poll, so what
    /// waits on time (a packet's idle timeout) does not wait for the next
    /// event.
    fn clock(&mut self, now_ns: u64) -> io::Result<()> {
        let _ = now_ns;
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
    fn stack(&mut self, stack: &Stack) -> io::Result<()> {
        (**self).stack(stack)
    }
    fn symbol(&mut self, frame: &StackFrame) -> io::Result<()> {
        (**self).symbol(frame)
    }
    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        (**self).finish(summary)
    }
    fn flush(&mut self) -> io::Result<()> {
        (**self).flush()
    }
    fn clock(&mut self, now_ns: u64) -> io::Result<()> {
        (**self).clock(now_ns)
    }
}
