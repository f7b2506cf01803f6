//! Which trees reach a printer: packets that are network packets (unless
//! all skbs were asked for) and, with a filter, only passes and packets
//! that have an event matching it. The filter is the one the kernel runs
//! ([`crate::filter::matches`]), applied afterwards: per pass, or per
//! packet, so that a packet keeps every event once one of them matches
//! (its headers before and after NAT, its events without headers).

use std::io;

use crate::abi::{FilterInsn, RawEvent};
use crate::filter;
use crate::meta::TraceMeta;
use crate::sink::Summary;
use crate::stack::{Stack, StackFrame};
use crate::stitch::{Packet, Pass, StitchStats, TreeSink};

pub struct TreeSelect<T: TreeSink> {
    inner: T,
    all_skbs: bool,
    filter: Vec<FilterInsn>,
}

impl<T: TreeSink> TreeSelect<T> {
    /// `all_skbs` keeps packets that are no network packets (a unix
    /// socket's skbs) and passes without skb; an empty `filter` keeps all.
    pub fn new(inner: T, all_skbs: bool, filter: Vec<FilterInsn>) -> Self {
        TreeSelect {
            inner,
            all_skbs,
            filter,
        }
    }

    pub fn into_inner(self) -> T {
        self.inner
    }

    fn matches<'e>(&self, mut events: impl Iterator<Item = &'e RawEvent>) -> bool {
        self.filter.is_empty() || events.any(|event| filter::matches(&self.filter, event))
    }
}

fn pass_events(pass: &Pass) -> impl Iterator<Item = &RawEvent> {
    pass.nodes
        .iter()
        .flat_map(|node| std::iter::once(&node.event).chain(node.exit.as_ref()))
}

impl<T: TreeSink> TreeSink for TreeSelect<T> {
    fn begin(&mut self, meta: &TraceMeta) -> io::Result<()> {
        self.inner.begin(meta)
    }

    fn pass(&mut self, pass: &Pass) -> io::Result<()> {
        if self.matches(pass_events(pass)) {
            self.inner.pass(pass)?;
        }
        Ok(())
    }

    fn packet(&mut self, packet: &Packet) -> io::Result<()> {
        if (packet.network || self.all_skbs) && self.matches(packet.events()) {
            self.inner.packet(packet)?;
        }
        Ok(())
    }

    fn finish(&mut self, summary: &Summary, stats: &StitchStats) -> io::Result<()> {
        self.inner.finish(summary, stats)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    fn stack(&mut self, stack: &Stack) -> io::Result<()> {
        self.inner.stack(stack)
    }

    fn symbol(&mut self, frame: &StackFrame) -> io::Result<()> {
        self.inner.symbol(frame)
    }
}
