//! The per-CPU stack of emitted function frames.
//!
//! An exit is emitted only when its entry was, so the stitcher never sees
//! half a frame because the filter judged the two ends differently. A softirq
//! that starts while frames are open pushes a barrier and emits a marker, so
//! the stitcher can tell a receive pass running inside a transmit on the same
//! CPU (veth, loopback) from a call made by the transmit.
//!
//! Every loop here is short and bounded by a constant: the verifier explores
//! each iteration, and nested data-dependent loops exceed its budget.

use formats::abi::{EventKind, probe_id};

use crate::emit::{new_event, output};
use crate::maps::FRAMES;

pub const MAX_FRAMES: usize = 32;
const SLOT_MASK: usize = MAX_FRAMES - 1;
/// How far below the top an exit looks for its entry; frames above the match
/// lost their exit (or their task slept and moved CPU) and are dropped.
const MAX_EXIT_SEARCH: usize = 8;
/// Slot value of a softirq barrier (function probe ids start at 1000).
const BARRIER: u32 = probe_id::SOFTIRQ_ENTRY;

#[repr(C)]
pub struct FrameStack {
    depth: u32,
    /// Whether the softirq marker of each barrier was emitted, by slot.
    marker_bits: u32,
    slots: [u32; MAX_FRAMES],
}

#[inline(always)]
fn stack() -> Option<&'static mut FrameStack> {
    // SAFETY: this CPU's slot of a per-CPU map; programs on one CPU run to
    // completion or nest strictly (softirq over task), never interleave.
    FRAMES.get_ptr_mut(0).map(|p| unsafe { &mut *p })
}

/// Records an emitted entry of `probe`.
#[inline(always)]
pub fn push(probe: u32) {
    if let Some(st) = stack() {
        let depth = st.depth as usize;
        if depth < MAX_FRAMES {
            st.slots[depth & SLOT_MASK] = probe;
            st.depth = depth as u32 + 1;
        }
    }
}

/// Finds the innermost slot holding `value` within reach, stopping at a
/// barrier unless a barrier is what is sought.
#[inline(always)]
fn find_from_top(st: &FrameStack, value: u32) -> Option<usize> {
    let depth = st.depth as usize;
    let mut k = 0;
    while k < MAX_EXIT_SEARCH {
        if k >= depth {
            return None;
        }
        let idx = depth - 1 - k;
        let slot = st.slots[idx & SLOT_MASK];
        if slot == value {
            return Some(idx);
        }
        if slot == BARRIER {
            return None;
        }
        k += 1;
    }
    None
}

/// Closes the frame of `probe`; returns whether its entry was emitted.
#[inline(always)]
pub fn exit(probe: u32) -> bool {
    let Some(st) = stack() else {
        return false;
    };
    match find_from_top(st, probe) {
        Some(idx) => {
            st.depth = idx as u32;
            true
        }
        None => false,
    }
}

/// A NET_TX/NET_RX softirq starts on this CPU.
#[inline(always)]
pub fn softirq_entry(vector: u32) {
    let Some(st) = stack() else {
        return;
    };
    let depth = st.depth as usize;
    if depth == 0 || depth >= MAX_FRAMES {
        return;
    }
    st.slots[depth & SLOT_MASK] = BARRIER;
    st.marker_bits |= 1 << (depth & SLOT_MASK);
    st.depth = depth as u32 + 1;
    let mut ev = new_event(probe_id::SOFTIRQ_ENTRY, EventKind::Point);
    ev.value = vector as u64;
    output(&ev);
}

/// The softirq ends: drop what it left open, and its barrier.
#[inline(always)]
pub fn softirq_exit(vector: u32) {
    let Some(st) = stack() else {
        return;
    };
    let Some(idx) = find_from_top(st, BARRIER) else {
        return;
    };
    st.depth = idx as u32;
    let bit = 1 << (idx & SLOT_MASK);
    if st.marker_bits & bit != 0 {
        st.marker_bits &= !bit;
        let mut ev = new_event(probe_id::SOFTIRQ_EXIT, EventKind::Point);
        ev.value = vector as u64;
        output(&ev);
    }
}
