//! The traced calls open on each CPU, and the trees they are building.
//!
//! Each CPU runs one task at a time, and softirqs on top of it: the NET_RX
//! softirq of a veth peer runs inside the sender's `__dev_queue_xmit`. So a
//! CPU has a stack of context levels: the task's at the bottom, one more per
//! softirq the tracer marked (`SOFTIRQ_ENTRY`/`SOFTIRQ_EXIT`). Each level has
//! its own stack of open frames and builds its own tree; a softirq never
//! becomes part of the tree it interrupted.
//!
//! A task that sleeps (or is preempted) inside traced functions leaves its
//! frames behind: when another task's events show up at the bottom level,
//! the sleeper's level is set aside under its thread id and resumed when the
//! thread runs again, on this CPU or another: the kernel keeps a task's
//! frames per task (tracer-ebpf/src/frames.rs), so a thread that wakes up
//! elsewhere is seen returning there. Without that, everything the next task
//! did would nest inside the sleeper's open calls.
//!
//! An entry the kernel could not give a frame (`UNTRACKED`) is a call
//! without exit and without children: nothing is hung under it.

use std::mem;

use crate::abi::{EventKind, RawEvent, event_flag, probe_id, task_key};

use super::StitchStats;
use super::lru::Lru;
use super::options::StitchLimits;
use super::pass::{CutReason, Node, NodeKind, Pass};
use super::roles::ProbeRoles;

/// Events of higher CPU numbers (Linux's `NR_CPUS` maximum) cannot be
/// real; each becomes a tree of its own rather than growing our tables.
const MAX_CPUS: u32 = 8192;
/// Softirqs do not nest on a CPU; one level each beyond the task's leaves
/// room for marks whose exits were lost.
const MAX_SOFTIRQ_LEVELS: usize = 4;
/// Emptied passes kept for reuse, so steady state allocates nothing.
const SPARE_PASSES: usize = 64;

/// Every CPU's levels and the sleeping tasks' frames.
pub(super) struct Contexts {
    cpus: Vec<CpuStack>,
    sleeping: Lru<Level>,
    spare: PassPool,
    limits: StitchLimits,
    /// The kernel kept frames per task (`TraceMeta::frames_per_task`): a
    /// task's calls may return on another CPU.
    frames_follow_tasks: bool,
}

/// Where completed passes go, with the counters they update.
pub(super) struct Output<'a> {
    pub done: &'a mut Vec<Pass>,
    pub stats: &'a mut StitchStats,
    pub roles: &'a ProbeRoles,
}

impl Contexts {
    pub fn new(limits: StitchLimits, frames_follow_tasks: bool) -> Self {
        Contexts {
            cpus: Vec::new(),
            sleeping: Lru::default(),
            spare: PassPool::default(),
            limits: StitchLimits {
                // A tree always keeps its root and may open one frame.
                open_frames: limits.open_frames.max(1),
                nodes_per_pass: limits.nodes_per_pass.max(1),
                ..limits
            },
            frames_follow_tasks,
        }
    }

    pub fn push(&mut self, event: &RawEvent, out: &mut Output) {
        // An unknown kind byte is shown as a point rather than guessed at.
        let kind = EventKind::from_u8(event.kind).unwrap_or(EventKind::Point);
        if event.cpu >= MAX_CPUS {
            out.stats.unstitched_events += 1;
            let node_kind = match kind {
                EventKind::Entry => NodeKind::Call,
                EventKind::Exit => NodeKind::OrphanExit,
                EventKind::Point => NodeKind::Point,
            };
            out.done.push(self.spare.single(node_kind, event, None));
            return;
        }
        let cpu = event.cpu as usize;
        if self.cpus.len() <= cpu {
            self.cpus.resize_with(cpu + 1, CpuStack::default);
        }
        if event.flags & event_flag::AFTER_LOSS != 0 {
            self.events_lost(event.cpu, out);
        }
        let is_point = kind == EventKind::Point;
        if is_point && event.probe_id == probe_id::SOFTIRQ_EXIT {
            self.cpus[cpu].softirq_exit(&mut self.spare, out);
            return;
        }
        self.enter_task(cpu, event, out);
        let stack = &mut self.cpus[cpu];
        if is_point && event.probe_id == probe_id::SOFTIRQ_ENTRY {
            stack.softirq_entry(event);
            return;
        }
        let (spare, limits) = (&mut self.spare, &self.limits);
        let level = stack.top();
        let untracked = kind == EventKind::Entry && event.flags & event_flag::UNTRACKED != 0;
        if untracked {
            out.stats.untracked_calls += 1;
        }
        let on_its_own = match kind {
            EventKind::Entry if untracked => {
                (!level.leaf(NodeKind::Call, event, limits)).then_some(NodeKind::Call)
            }
            EventKind::Entry => {
                level.open(event, limits, spare, out);
                None
            }
            EventKind::Exit => (!level.close(event, spare, out)).then_some(NodeKind::OrphanExit),
            EventKind::Point => {
                (!level.leaf(NodeKind::Point, event, limits)).then_some(NodeKind::Point)
            }
        };
        if let Some(node_kind) = on_its_own {
            if node_kind == NodeKind::OrphanExit {
                out.stats.orphan_exits += 1;
            }
            out.done.push(spare.single(node_kind, event, level.softirq));
        }
    }

    /// Makes the bottom level of `cpu` the one of the task that produced
    /// `event`, setting aside the previous task's open frames and resuming
    /// the task's own, wherever it left them. Inside a softirq the thread id
    /// is the interrupted task's and changes nothing.
    fn enter_task(&mut self, cpu: usize, event: &RawEvent, out: &mut Output) {
        let stack = &self.cpus[cpu];
        if stack.active != 1 || stack.levels[0].tid == event.tid {
            return;
        }
        let key = task_key(event.tid, event.cpu);
        let resumed = if self.frames_follow_tasks {
            self.sleeping
                .remove(key)
                .or_else(|| self.take_from_other_cpu(cpu, key))
        } else {
            self.resume_on_same_cpu(key, event.cpu, out)
        };
        let next = resumed.unwrap_or_else(|| Level {
            tid: event.tid,
            ..Level::default()
        });
        let previous = mem::replace(&mut self.cpus[cpu].levels[0], next);
        if previous.frames.is_empty() {
            self.spare.give(previous.pass);
            return;
        }
        let previous = Level {
            cpu: event.cpu,
            ..previous
        };
        self.sleeping
            .insert(task_key(previous.tid, event.cpu), previous);
        if self.sleeping.len() > self.limits.sleeping_tasks as usize
            && let Some((_, mut evicted)) = self.sleeping.pop_oldest()
        {
            out.stats.tasks_evicted += 1;
            evicted.cut(CutReason::TaskLimit, &mut self.spare, out);
            self.spare.give(evicted.pass);
        }
    }

    /// A task's set-aside frames, from a tracer that kept them per CPU: on
    /// another CPU its returns were never reported, so its tree ends there.
    fn resume_on_same_cpu(&mut self, key: u64, cpu: u32, out: &mut Output) -> Option<Level> {
        let mut level = self.sleeping.remove(key)?;
        if level.cpu == cpu {
            return Some(level);
        }
        level.cut(CutReason::Migrated, &mut self.spare, out);
        self.spare.give(level.pass);
        None
    }

    /// The open frames of task `key` if it last ran on another CPU and
    /// nothing else ran there since (its bottom level is still the task's).
    fn take_from_other_cpu(&mut self, cpu: usize, key: u64) -> Option<Level> {
        let (_, other) = self.cpus.iter_mut().enumerate().find(|(i, other)| {
            *i != cpu
                && !other.levels[0].frames.is_empty()
                && task_key(other.levels[0].tid, *i as u32) == key
        })?;
        let tid = other.levels[0].tid;
        Some(mem::replace(
            &mut other.levels[0],
            Level {
                tid,
                ..Level::default()
            },
        ))
    }

    /// The kernel could not deliver some events of `cpu`: whatever is open
    /// there may lack its exits or children, so it is emitted as it is.
    pub fn events_lost(&mut self, cpu: u32, out: &mut Output) {
        if let Some(stack) = self.cpus.get_mut(cpu as usize) {
            stack.cut_all(CutReason::EventsLost, &mut self.spare, out);
        }
    }

    /// Emits everything still open: CPUs in order, then sleeping tasks from
    /// the longest asleep.
    pub fn finish(&mut self, out: &mut Output) {
        for stack in &mut self.cpus {
            stack.cut_all(CutReason::TraceEnd, &mut self.spare, out);
        }
        while let Some((_, mut level)) = self.sleeping.pop_oldest() {
            level.cut(CutReason::TraceEnd, &mut self.spare, out);
            self.spare.give(level.pass);
        }
    }

    /// Whether a pass still open (on a CPU, or a sleeping task's) has seen
    /// `skb`: its events there are not filed yet.
    pub fn holds(&self, skb: u64) -> bool {
        let running = self
            .cpus
            .iter()
            .flat_map(|stack| &stack.levels[..stack.active]);
        running
            .chain(self.sleeping.values())
            .any(|level| level.pass.skbs.contains(&skb))
    }

    /// Takes back a pass the sinks are done with, for reuse.
    pub fn recycle(&mut self, pass: Pass) {
        self.spare.give(pass);
    }
}

/// One CPU's context levels: `levels[..active]` are running, the task's
/// first; the rest are emptied softirq levels kept for reuse.
struct CpuStack {
    levels: Vec<Level>,
    active: usize,
    /// Softirq entries beyond [`MAX_SOFTIRQ_LEVELS`], whose exits pop nothing.
    ignored_softirqs: u32,
}

impl Default for CpuStack {
    fn default() -> Self {
        CpuStack {
            levels: vec![Level::default()],
            active: 1,
            ignored_softirqs: 0,
        }
    }
}

impl CpuStack {
    fn top(&mut self) -> &mut Level {
        &mut self.levels[self.active - 1]
    }

    fn softirq_entry(&mut self, event: &RawEvent) {
        if self.active > MAX_SOFTIRQ_LEVELS {
            self.ignored_softirqs = self.ignored_softirqs.saturating_add(1);
            return;
        }
        if self.active == self.levels.len() {
            self.levels.push(Level::default());
        }
        let level = &mut self.levels[self.active];
        level.tid = event.tid;
        level.softirq = Some(event.value as u8);
        self.active += 1;
    }

    fn softirq_exit(&mut self, spare: &mut PassPool, out: &mut Output) {
        if self.ignored_softirqs > 0 {
            self.ignored_softirqs -= 1;
        } else if self.active > 1 {
            self.top().cut(CutReason::SoftirqExit, spare, out);
            self.active -= 1;
        } else {
            out.stats.stray_softirq_exits += 1;
        }
    }

    /// Cuts every running level, innermost first, back to an empty task level.
    fn cut_all(&mut self, reason: CutReason, spare: &mut PassPool, out: &mut Output) {
        for level in self.levels[..self.active].iter_mut().rev() {
            level.cut(reason, spare, out);
        }
        self.active = 1;
        self.ignored_softirqs = 0;
    }
}

/// One context: its open frames and the tree they are building.
#[derive(Default)]
struct Level {
    tid: u32,
    /// The CPU a task's level was set aside on.
    cpu: u32,
    /// The vector of the softirq this level runs, `None` for a task.
    softirq: Option<u8>,
    frames: Vec<Frame>,
    /// Empty whenever `frames` is.
    pass: Pass,
}

#[derive(Clone, Copy)]
struct Frame {
    probe_id: u32,
    /// `None` when the tree was full and the call is only counted.
    node: Option<u32>,
}

impl Level {
    /// A function was entered: its node goes under the innermost open call.
    fn open(
        &mut self,
        entry: &RawEvent,
        limits: &StitchLimits,
        spare: &mut PassPool,
        out: &mut Output,
    ) {
        if self.frames.len() >= limits.open_frames as usize {
            out.stats.depth_cuts += 1;
            self.cut(CutReason::DepthLimit, spare, out);
        }
        let node = self.add_node(NodeKind::Call, entry, limits.nodes_per_pass);
        self.frames.push(Frame {
            probe_id: entry.probe_id,
            node,
        });
    }

    /// A function returned. Closes the innermost open call of that function
    /// in this level, and any calls opened inside it as missing their exits
    /// (lost events). Returns false when no such call is open.
    fn close(&mut self, exit: &RawEvent, spare: &mut PassPool, out: &mut Output) -> bool {
        let Some(at) = self
            .frames
            .iter()
            .rposition(|f| f.probe_id == exit.probe_id)
        else {
            return false;
        };
        while self.frames.len() > at + 1 {
            if let Some(frame) = self.frames.pop() {
                out.stats.missing_exits += 1;
                self.end_frame(frame, None, out.roles);
            }
        }
        if let Some(frame) = self.frames.pop() {
            self.end_frame(frame, Some(exit), out.roles);
        }
        self.pass.end_ns = self.pass.end_ns.max(exit.ts_ns);
        self.pass.note_skb(exit.skb);
        if self.frames.is_empty() {
            out.done.push(spare.swap(&mut self.pass));
        }
        true
    }

    /// A node without children (a tracepoint, an untracked call) inside an
    /// open call. Returns false when no call is open: the node is a tree of
    /// its own.
    fn leaf(&mut self, kind: NodeKind, event: &RawEvent, limits: &StitchLimits) -> bool {
        if self.frames.is_empty() {
            return false;
        }
        self.add_node(kind, event, limits.nodes_per_pass);
        true
    }

    /// Emits the tree as it is, its open calls marked as missing their exits.
    fn cut(&mut self, reason: CutReason, spare: &mut PassPool, out: &mut Output) {
        if self.frames.is_empty() {
            return;
        }
        while let Some(frame) = self.frames.pop() {
            out.stats.missing_exits += 1;
            self.end_frame(frame, None, out.roles);
        }
        self.pass.cut = Some(reason);
        out.done.push(spare.swap(&mut self.pass));
    }

    fn add_node(&mut self, kind: NodeKind, event: &RawEvent, nodes_per_pass: u32) -> Option<u32> {
        let pass = &mut self.pass;
        if pass.nodes.is_empty() && pass.omitted_nodes == 0 {
            pass.reset(event.cpu, self.softirq);
            pass.start_ns = event.ts_ns;
        }
        pass.end_ns = pass.end_ns.max(event.ts_ns);
        pass.note_skb(event.skb);
        if pass.nodes.len() >= nodes_per_pass as usize {
            pass.omitted_nodes = pass.omitted_nodes.saturating_add(1);
            return None;
        }
        let index = pass.nodes.len() as u32;
        pass.nodes.push(Node {
            kind,
            depth: self.frames.len() as u32,
            end: index + 1,
            event: *event,
            exit: None,
        });
        Some(index)
    }

    /// Closes a popped frame's node: its subtree ends here.
    fn end_frame(&mut self, frame: Frame, exit: Option<&RawEvent>, roles: &ProbeRoles) {
        let Some(index) = frame.node else {
            return;
        };
        let end = self.pass.nodes.len() as u32;
        let Some(node) = self.pass.nodes.get_mut(index as usize) else {
            return;
        };
        node.end = end;
        node.exit = exit.copied();
        if let Some((created, _)) = roles.new_skb(node) {
            self.pass.note_skb(created);
        }
    }
}

/// Emptied passes for reuse.
#[derive(Default)]
struct PassPool {
    passes: Vec<Pass>,
}

impl PassPool {
    fn take(&mut self) -> Pass {
        self.passes.pop().unwrap_or_default()
    }

    fn give(&mut self, mut pass: Pass) {
        if self.passes.len() < SPARE_PASSES {
            pass.reset(0, None);
            self.passes.push(pass);
        }
    }

    /// Takes the completed `pass` out, leaving an empty one in its place.
    fn swap(&mut self, pass: &mut Pass) -> Pass {
        std::mem::replace(pass, self.take())
    }

    /// A tree of one node: a point outside any call, an orphan exit.
    fn single(&mut self, kind: NodeKind, event: &RawEvent, softirq: Option<u8>) -> Pass {
        let mut pass = self.take();
        pass.reset(event.cpu, softirq);
        pass.start_ns = event.ts_ns;
        pass.end_ns = event.ts_ns;
        pass.note_skb(event.skb);
        pass.nodes.push(Node {
            kind,
            depth: 0,
            end: 1,
            event: *event,
            exit: None,
        });
        pass
    }
}
