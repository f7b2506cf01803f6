//! The stacks of emitted function frames: one per task for process context,
//! one per CPU for softirq context.
//!
//! An exit is emitted only when its entry was, so the stitcher never sees
//! half a frame because the filter judged the two ends differently.
//!
//! Why two kinds of stack: a task can sleep or be preempted inside a traced
//! call (`tcp_sendmsg` waiting for memory) and return on another CPU, so its
//! frames must follow the task; a softirq runs to completion on one CPU on top
//! of whatever task it interrupted, so its frames belong to the CPU, and a
//! receive pass running inside a veth transmit never shares a stack with the
//! transmit that raised it. The softirq tracepoints (every vector: TCP's
//! timers run in TIMER_SOFTIRQ) switch a CPU between the two. Interrupt
//! handlers nest strictly inside whichever context they interrupt, so they
//! use its stack. A program interrupted mid-update by a softirq sees its
//! stack unchanged afterwards: the softirq works on the CPU's stack, and
//! resets it at its start and end.
//!
//! When the interrupted task has open frames, `softirq_entry` emits a marker
//! (and `softirq_exit` its end) so the stitcher, too, starts a new context.
//!
//! An entry that cannot be recorded (stack full, no map entry for the task)
//! is emitted marked `UNTRACKED` and counted: no exit will come for it, and
//! the stitcher must not hang later calls under it.
//!
//! Every loop here is bounded by a constant the verifier can walk.

use aya_ebpf::helpers::{bpf_get_current_pid_tgid, bpf_get_smp_processor_id};
use core::mem::MaybeUninit;
use formats::abi::{EventKind, probe_id, task_key};

use crate::emit::{new_event, output};
use crate::maps::{CPU_FRAMES, EMPTY_FRAMES, TASK_FRAMES};

/// Deepest nesting one stack records. With every default profile and
/// ip-forward attached, the deepest seen in one context was 25 (a TCP
/// receive pass sending its ACK); on one shared stack a receive pass inside
/// a veth transmit reached 38 (function_graph's depth), more than the 32
/// this used to be. A power of two so an index can be masked for the verifier.
pub const MAX_FRAMES: usize = 64;
const SLOT_MASK: usize = MAX_FRAMES - 1;

/// One context's open frames: the probe ids of emitted entries, innermost
/// last.
#[repr(C)]
pub struct TaskFrames {
    depth: u32,
    slots: [u32; MAX_FRAMES],
}

/// Per-CPU context state: whether a softirq runs, and its frames.
#[repr(C)]
pub struct CpuFrames {
    /// Nonzero between `softirq_entry` and `softirq_exit`.
    in_softirq: u32,
    /// Whether this softirq's start was marked, so its end is too.
    marked: u32,
    /// Whether this CPU lost an event since it last wrote one.
    lost: u32,
    _pad: u32,
    frames: TaskFrames,
}

#[inline(always)]
fn cpu_state() -> Option<&'static mut CpuFrames> {
    // SAFETY: this CPU's slot of a per-CPU map. Programs nesting on this CPU
    // (a softirq over a task) leave it as they found it (see the module doc).
    CPU_FRAMES.get_ptr_mut(0).map(|p| unsafe { &mut *p })
}

/// Whether this CPU lost an event since it last wrote one.
#[inline(always)]
pub fn lost_before() -> bool {
    cpu_state().is_some_and(|cpu| cpu.lost != 0)
}

#[inline(always)]
pub fn set_lost_before(lost: bool) {
    if let Some(cpu) = cpu_state() {
        cpu.lost = lost as u32;
    }
}

/// Whether a softirq runs on this CPU now.
#[inline(always)]
pub fn in_softirq() -> bool {
    cpu_state().is_some_and(|cpu| cpu.in_softirq != 0)
}

#[inline(always)]
fn current_task_key() -> u64 {
    let tid = bpf_get_current_pid_tgid() as u32;
    // SAFETY: a helper without preconditions.
    task_key(tid, unsafe { bpf_get_smp_processor_id() })
}

/// The running task's stack, created if `create` and it has none yet.
#[inline(always)]
fn task_stack(create: bool) -> Option<&'static mut TaskFrames> {
    let key = current_task_key();
    if let Some(p) = TASK_FRAMES.get_ptr_mut(&key) {
        // SAFETY: the task's own entry; only this task (or interrupt handlers
        // nesting strictly on top of it) touches it.
        return Some(unsafe { &mut *p });
    }
    if !create {
        return None;
    }
    // The empty value comes from map memory: a 260-byte value on the BPF
    // stack beside the event being built would not fit in 512 bytes.
    let empty = EMPTY_FRAMES.get_ptr(0)?;
    // SAFETY: a valid map value used only as the source of the copy.
    TASK_FRAMES.insert(&key, unsafe { &*empty }, 0).ok()?;
    // SAFETY: as above.
    TASK_FRAMES.get_ptr_mut(&key).map(|p| unsafe { &mut *p })
}

/// The stack of the running context.
#[inline(always)]
fn stack(create: bool) -> Option<&'static mut TaskFrames> {
    let cpu = cpu_state()?;
    if cpu.in_softirq != 0 {
        Some(&mut cpu.frames)
    } else {
        task_stack(create)
    }
}

/// Records an emitted entry of `probe`; false when it cannot be tracked.
#[inline(always)]
pub fn push(probe: u32) -> bool {
    let Some(st) = stack(true) else {
        return false;
    };
    let depth = st.depth as usize;
    if depth >= MAX_FRAMES {
        return false;
    }
    st.slots[depth & SLOT_MASK] = probe;
    st.depth = depth as u32 + 1;
    true
}

/// Closes the innermost open frame of `probe`, dropping the frames above it
/// (their exits were lost); returns whether such a frame was open.
#[inline(always)]
pub fn exit(probe: u32) -> bool {
    let Some(st) = stack(false) else {
        return false;
    };
    let depth = st.depth as usize;
    let mut k = 0;
    while k < MAX_FRAMES {
        if k >= depth {
            return false;
        }
        let idx = depth - 1 - k;
        if st.slots[idx & SLOT_MASK] == probe {
            st.depth = idx as u32;
            return true;
        }
        k += 1;
    }
    false
}

/// A softirq starts on this CPU: its frames go on the CPU's stack, and the
/// stitcher is told if it interrupts open frames of the task.
#[inline(always)]
pub fn softirq_entry(vector: u32) {
    let Some(cpu) = cpu_state() else {
        return;
    };
    cpu.in_softirq = 1;
    // Frames left by a softirq whose end was never seen (attached mid-way).
    cpu.frames.depth = 0;
    cpu.marked = 0;
    if task_stack(false).is_some_and(|task| task.depth > 0) {
        let mut slot = MaybeUninit::uninit();
        let ev = new_event(&mut slot, probe_id::SOFTIRQ_ENTRY, EventKind::Point);
        ev.value = vector as u64;
        // A lost marker is no marker: its end must not be emitted either.
        cpu.marked = output(ev) as u32;
    }
}

/// The softirq ends: what it left open lost its exits.
#[inline(always)]
pub fn softirq_exit(vector: u32) {
    let Some(cpu) = cpu_state() else {
        return;
    };
    cpu.in_softirq = 0;
    cpu.frames.depth = 0;
    if cpu.marked != 0 {
        cpu.marked = 0;
        let mut slot = MaybeUninit::uninit();
        let ev = new_event(&mut slot, probe_id::SOFTIRQ_EXIT, EventKind::Point);
        ev.value = vector as u64;
        output(ev);
    }
}
