//! sch_tdma's tracepoints (`tdma-qdisc/module/tdma_trace.h`), reached as raw
//! tracepoints: the module has no BTF on Debian's kernel, so `tp_btf` cannot
//! name them, and raw tracepoints read the `TP_PROTO` arguments by position.
//! The argument order is a contract with the module; where each lands in the
//! event is documented at `formats::abi::tdma`.

use core::ffi::c_void;
use core::mem::MaybeUninit;

use aya_ebpf::{
    EbpfContext,
    macros::{map, raw_tracepoint},
    maps::PerCpuArray,
    programs::RawTracePointContext,
};
use formats::abi::{EventKind, RawEvent, probe_id};

use crate::emit::{accept, fill_dev, fill_skb, init_event, new_event, output_with_stack, zero};
use crate::kernel::{Kmem, Probed, offset};

/// The device a qdisc belongs to: `sch->dev_queue->dev`.
#[inline(always)]
fn qdisc_dev(sch: u64) -> u64 {
    let queue: u64 = Probed::read(sch, offset(|o| &o.qdisc_dev_queue)).unwrap_or(0);
    Probed::read(queue, offset(|o| &o.netdev_queue_dev)).unwrap_or(0)
}

/// An event about one packet in the qdisc: parsed like the core
/// `qdisc_enqueue` tracepoint, so filters and `--follow-skb` apply.
/// `set` adds the tracepoint's own values; the event is built in place
/// (returning it would need a second copy on the 512-byte BPF stack).
#[inline(always)]
fn packet_event(ctx: *mut c_void, probe: u32, sch: u64, skb: u64, set: impl FnOnce(&mut RawEvent)) {
    if skb == 0 {
        return;
    }
    let mut slot = MaybeUninit::uninit();
    let ev = new_event(&mut slot, probe, EventKind::Point);
    fill_skb::<Probed>(ev, skb, qdisc_dev(sch), true, 0);
    set(ev);
    submit(ctx, ev, false);
}

/// Window and change events concern no packet: the filter sees only the
/// device, so `ifname`/`netns` filters select the qdiscs shown. They are
/// built in a per-CPU scratch slot, not on the stack: with up to eight
/// arguments to copy, 6.1's verifier finds their stack frame too large.
/// The qdisc runs these tracepoints with bottom halves off and its lock
/// held, so two never share a CPU's slot at once.
#[inline(always)]
fn qdisc_event(ctx: *mut c_void, probe: u32, sch: u64, set: impl FnOnce(&mut RawEvent)) {
    let Some(ev) = SCRATCH.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's slot of a per-CPU array, used by one program at a time.
    let ev = unsafe { &mut *ev };
    // SAFETY: `ev` is a whole slot of the map.
    unsafe { zero(ev) };
    init_event(ev, probe, EventKind::Point);
    fill_dev::<Probed>(ev, qdisc_dev(sch));
    set(ev);
    submit(ctx, ev, false);
}

#[map]
static SCRATCH: PerCpuArray<RawEvent> = PerCpuArray::with_max_entries(1, 0);

#[inline(always)]
fn submit(ctx: *mut c_void, ev: &mut RawEvent, frees: bool) {
    if accept(ev, frees) {
        output_with_stack(ctx, ev);
    }
}

/// `tdma_enqueue(sch, skb, u32 qlen, u32 backlog)`
#[raw_tracepoint(tracepoint = "tdma_enqueue")]
pub fn rtp_tdma_enqueue(ctx: RawTracePointContext) -> i32 {
    packet_event(
        ctx.as_ptr(),
        probe_id::TDMA_ENQUEUE,
        ctx.arg(0),
        ctx.arg(1),
        |ev| {
            ev.value = ctx.arg::<u64>(2) as u32 as u64;
            ev.aux = ctx.arg::<u64>(3) as u32 as u64;
        },
    );
    0
}

/// `tdma_dequeue(sch, skb, u32 window, s64 frame, s64 left_ns, u64 waited_ns, u32 qlen)`
#[raw_tracepoint(tracepoint = "tdma_dequeue")]
pub fn rtp_tdma_dequeue(ctx: RawTracePointContext) -> i32 {
    packet_event(
        ctx.as_ptr(),
        probe_id::TDMA_DEQUEUE,
        ctx.arg(0),
        ctx.arg(1),
        |ev| {
            ev.extra = ctx.arg::<u64>(2) as u32;
            ev.args[0] = ctx.arg(3);
            ev.aux = ctx.arg(4);
            ev.value = ctx.arg(5);
            ev.args[1] = ctx.arg::<u64>(6) as u32 as u64;
        },
    );
    0
}

/// `tdma_drop(sch, skb, u32 reason, u32 qlen)`; the skb is freed right after,
/// but kfree_skb reports that separately.
#[raw_tracepoint(tracepoint = "tdma_drop")]
pub fn rtp_tdma_drop(ctx: RawTracePointContext) -> i32 {
    packet_event(
        ctx.as_ptr(),
        probe_id::TDMA_DROP,
        ctx.arg(0),
        ctx.arg(1),
        |ev| {
            ev.value = ctx.arg::<u64>(2) as u32 as u64;
            ev.aux = ctx.arg::<u64>(3) as u32 as u64;
        },
    );
    0
}

/// `tdma_window_open(sch, u32 window, s64 frame, s64 start_ns, s64 end_ns, s64 now_ns, u32 qlen)`
#[raw_tracepoint(tracepoint = "tdma_window_open")]
pub fn rtp_tdma_window_open(ctx: RawTracePointContext) -> i32 {
    qdisc_event(ctx.as_ptr(), probe_id::TDMA_WINDOW_OPEN, ctx.arg(0), |ev| {
        ev.extra = ctx.arg::<u64>(1) as u32;
        ev.value = ctx.arg(2);
        ev.aux = ctx.arg(3);
        ev.args[0] = ctx.arg(4);
        ev.args[1] = ctx.arg(5);
        ev.args[2] = ctx.arg::<u64>(6) as u32 as u64;
    });
    0
}

/// `tdma_window_close(sch, u32 window, s64 frame, s64 end_ns, s64 now_ns, u32 packets, u64 bytes, u32 qlen)`
#[raw_tracepoint(tracepoint = "tdma_window_close")]
pub fn rtp_tdma_window_close(ctx: RawTracePointContext) -> i32 {
    qdisc_event(
        ctx.as_ptr(),
        probe_id::TDMA_WINDOW_CLOSE,
        ctx.arg(0),
        |ev| {
            ev.extra = ctx.arg::<u64>(1) as u32;
            ev.value = ctx.arg(2);
            ev.aux = ctx.arg(3);
            ev.args[0] = ctx.arg(4);
            ev.args[1] = ctx.arg::<u64>(5) as u32 as u64;
            ev.args[2] = ctx.arg(6);
        },
    );
    0
}

/// `tdma_change(sch, u64 old_frame_ns, u32 old_windows, u64 new_frame_ns,
/// u32 new_windows, s64 effective_ns, s64 now_ns)`
#[raw_tracepoint(tracepoint = "tdma_change")]
pub fn rtp_tdma_change(ctx: RawTracePointContext) -> i32 {
    qdisc_event(ctx.as_ptr(), probe_id::TDMA_CHANGE, ctx.arg(0), |ev| {
        ev.aux = ctx.arg(1);
        let old_windows = ctx.arg::<u64>(2) as u32 & 0xffff;
        ev.value = ctx.arg(3);
        let new_windows = ctx.arg::<u64>(4) as u32 & 0xffff;
        ev.extra = new_windows << 16 | old_windows;
        ev.args[0] = ctx.arg(5);
        ev.args[1] = ctx.arg(6);
    });
    0
}
