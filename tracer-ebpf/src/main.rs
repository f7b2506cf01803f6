//! pkttrace's tracepoint programs (one BPF object, always loaded).
//!
//! Every program builds one `RawEvent` on the stack, runs the compiled filter
//! (and the `--follow-skb` tracking) on it, and only then copies it into the
//! ring buffer, so filtered-out packets cost no ring space and nested programs
//! (softirq on top of process context) never share scratch memory.
#![no_std]
#![no_main]

mod emit;
mod filter;
// Shared with the function-probe object, which uses other parts of it.
#[allow(dead_code)]
mod frames;
mod kernel;
mod maps;
mod packet;
mod tdma;

use core::ffi::c_void;
use core::mem::MaybeUninit;

use aya_ebpf::{
    EbpfContext,
    helpers::generated,
    macros::{btf_tracepoint, fentry, kprobe, map},
    maps::Array,
    programs::{BtfTracePointContext, FEntryContext, ProbeContext},
};
use formats::abi::{EventKind, RawEvent, probe_id};

use emit::{accept, fill_dev, fill_skb, fill_skb_packet, fill_sock, new_event, output_with_stack};
use kernel::{Btf, Kmem, Probed, offset};

/// Emits a point event that passes the filter. Pending function frames are
/// flushed by function entries only: a flush loop in every tracepoint program
/// would exceed the verifier's complexity budget.
#[inline(always)]
fn submit(ctx: *mut c_void, ev: &mut RawEvent, frees: bool) {
    if accept(ev, frees) {
        output_with_stack(ctx, ev);
    }
}

#[inline(always)]
fn skb_event(ctx: *mut c_void, probe: u32, skb: u64, value: u64, aux: u64, frees: bool) {
    if skb == 0 {
        return;
    }
    let mut slot = MaybeUninit::uninit();
    let ev = new_event(&mut slot, probe, EventKind::Point);
    fill_skb::<Btf>(ev, skb, 0, true, 0);
    ev.value = value;
    ev.aux = aux;
    submit(ctx, ev, frees);
}

#[inline(always)]
fn sock_event(ctx: *mut c_void, probe: u32, sk: u64, value: u64, aux: u64) {
    let mut slot = MaybeUninit::uninit();
    let ev = new_event(&mut slot, probe, EventKind::Point);
    fill_sock::<Btf>(ev, sk);
    ev.value = value;
    ev.aux = aux;
    submit(ctx, ev, false);
}

/// Queue length, and handle:parent packed as `handle << 32 | parent`.
#[inline(always)]
fn qdisc_event(ctx: *mut c_void, probe: u32, qdisc: u64, skb: u64) {
    let qlen: u32 = Btf::read(qdisc, offset(|o| &o.qdisc_qlen)).unwrap_or(0);
    let handle: u32 = Btf::read(qdisc, offset(|o| &o.qdisc_handle)).unwrap_or(0);
    let parent: u32 = Btf::read(qdisc, offset(|o| &o.qdisc_parent)).unwrap_or(0);
    skb_event(
        ctx,
        probe,
        skb,
        qlen as u64,
        (handle as u64) << 32 | parent as u64,
        false,
    );
}

// Tracepoint programs. Argument positions follow the kernel's `btf_trace_*`
// typedefs; the loader checks them against the running kernel's BTF and skips
// a tracepoint whose skb argument moved.

#[btf_tracepoint(function = "netif_receive_skb")]
pub fn pt_netif_receive_skb(ctx: BtfTracePointContext) -> i32 {
    skb_event(
        ctx.as_ptr(),
        probe_id::NETIF_RECEIVE_SKB,
        ctx.arg::<u64>(0),
        0,
        0,
        false,
    );
    0
}

#[btf_tracepoint(function = "net_dev_queue")]
pub fn pt_net_dev_queue(ctx: BtfTracePointContext) -> i32 {
    skb_event(
        ctx.as_ptr(),
        probe_id::NET_DEV_QUEUE,
        ctx.arg::<u64>(0),
        0,
        0,
        false,
    );
    0
}

#[btf_tracepoint(function = "net_dev_start_xmit")]
pub fn pt_net_dev_start_xmit(ctx: BtfTracePointContext) -> i32 {
    let skb = ctx.arg::<u64>(0);
    if skb == 0 {
        return 0;
    }
    let mut slot = MaybeUninit::uninit();
    let ev = new_event(&mut slot, probe_id::NET_DEV_START_XMIT, EventKind::Point);
    fill_skb::<Btf>(ev, skb, ctx.arg::<u64>(1), true, 0);
    submit(ctx.as_ptr(), ev, false);
    0
}

/// The skb may already be freed when this fires (the driver consumed it), so
/// only the arguments are trusted: device, rc and the length passed along.
#[btf_tracepoint(function = "net_dev_xmit")]
pub fn pt_net_dev_xmit(ctx: BtfTracePointContext) -> i32 {
    let skb = ctx.arg::<u64>(0);
    if skb == 0 {
        return 0;
    }
    let mut slot = MaybeUninit::uninit();
    let ev = new_event(&mut slot, probe_id::NET_DEV_XMIT, EventKind::Point);
    ev.skb = skb;
    fill_dev::<Btf>(ev, ctx.arg::<u64>(2));
    ev.value = ctx.arg::<i32>(1) as i64 as u64;
    ev.pkt.skb_len = ctx.arg::<u32>(3);
    submit(ctx.as_ptr(), ev, false);
    0
}

#[btf_tracepoint(function = "qdisc_enqueue")]
pub fn pt_qdisc_enqueue(ctx: BtfTracePointContext) -> i32 {
    qdisc_event(
        ctx.as_ptr(),
        probe_id::QDISC_ENQUEUE,
        ctx.arg::<u64>(0),
        ctx.arg::<u64>(2),
    );
    0
}

#[btf_tracepoint(function = "qdisc_dequeue")]
pub fn pt_qdisc_dequeue(ctx: BtfTracePointContext) -> i32 {
    qdisc_event(
        ctx.as_ptr(),
        probe_id::QDISC_DEQUEUE,
        ctx.arg::<u64>(0),
        ctx.arg::<u64>(3),
    );
    0
}

#[btf_tracepoint(function = "kfree_skb")]
pub fn pt_kfree_skb(ctx: BtfTracePointContext) -> i32 {
    let reason = ctx.arg::<u32>(2) as u64;
    skb_event(
        ctx.as_ptr(),
        probe_id::KFREE_SKB,
        ctx.arg::<u64>(0),
        reason,
        ctx.arg::<u64>(1),
        true,
    );
    0
}

#[btf_tracepoint(function = "consume_skb")]
pub fn pt_consume_skb(ctx: BtfTracePointContext) -> i32 {
    skb_event(
        ctx.as_ptr(),
        probe_id::CONSUME_SKB,
        ctx.arg::<u64>(0),
        0,
        0,
        true,
    );
    0
}

/// The current task's network namespace, for an event whose skb names none
/// (one in a UDP socket's queue has neither device nor socket).
#[inline(always)]
fn fill_task_netns(ev: &mut RawEvent) {
    // SAFETY: a helper without preconditions.
    let task = unsafe { generated::bpf_get_current_task() };
    let nsproxy: u64 = Probed::read(task, offset(|o| &o.task_nsproxy)).unwrap_or(0);
    let net: u64 = Probed::read(nsproxy, offset(|o| &o.nsproxy_net_ns)).unwrap_or(0);
    ev.netns = Probed::read(net, offset(|o| &o.net_ns_inum)).unwrap_or(0);
}

/// A reader copies an skb's data to user space (recvmsg): fires in the task
/// that receives the packet, so its pid and comm say who got it. `value` =
/// bytes copied. The skb's device is gone by then, and UDP keeps no socket
/// in it: the namespace is then the reader's.
#[btf_tracepoint(function = "skb_copy_datagram_iovec")]
pub fn pt_skb_copy_datagram_iovec(ctx: BtfTracePointContext) -> i32 {
    let skb = ctx.arg::<u64>(0);
    if skb == 0 {
        return 0;
    }
    let mut slot = MaybeUninit::uninit();
    let ev = new_event(
        &mut slot,
        probe_id::SKB_COPY_DATAGRAM_IOVEC,
        EventKind::Point,
    );
    fill_skb_packet::<Btf>(ev, skb, true, 0);
    if ev.netns == 0 {
        fill_task_netns(ev);
    }
    ev.value = ctx.arg::<u32>(1) as u64;
    submit(ctx.as_ptr(), ev, false);
    0
}

#[btf_tracepoint(function = "tcp_retransmit_skb")]
pub fn pt_tcp_retransmit_skb(ctx: BtfTracePointContext) -> i32 {
    skb_event(
        ctx.as_ptr(),
        probe_id::TCP_RETRANSMIT_SKB,
        ctx.arg::<u64>(1),
        0,
        0,
        false,
    );
    0
}

#[btf_tracepoint(function = "tcp_send_reset")]
pub fn pt_tcp_send_reset(ctx: BtfTracePointContext) -> i32 {
    let skb = ctx.arg::<u64>(1);
    if skb != 0 {
        skb_event(ctx.as_ptr(), probe_id::TCP_SEND_RESET, skb, 0, 0, false);
    } else {
        sock_event(
            ctx.as_ptr(),
            probe_id::TCP_SEND_RESET,
            ctx.arg::<u64>(0),
            0,
            0,
        );
    }
    0
}

#[btf_tracepoint(function = "tcp_receive_reset")]
pub fn pt_tcp_receive_reset(ctx: BtfTracePointContext) -> i32 {
    sock_event(
        ctx.as_ptr(),
        probe_id::TCP_RECEIVE_RESET,
        ctx.arg::<u64>(0),
        0,
        0,
    );
    0
}

#[btf_tracepoint(function = "inet_sock_set_state")]
pub fn pt_inet_sock_set_state(ctx: BtfTracePointContext) -> i32 {
    let old = ctx.arg::<u32>(1) as u64;
    let new = ctx.arg::<u32>(2) as u64;
    sock_event(
        ctx.as_ptr(),
        probe_id::INET_SOCK_SET_STATE,
        ctx.arg::<u64>(0),
        new,
        old,
    );
    0
}

#[btf_tracepoint(function = "udp_fail_queue_rcv_skb")]
pub fn pt_udp_fail_queue_rcv_skb(ctx: BtfTracePointContext) -> i32 {
    let rc = ctx.arg::<i32>(0) as i64 as u64;
    sock_event(
        ctx.as_ptr(),
        probe_id::UDP_FAIL_QUEUE_RCV_SKB,
        ctx.arg::<u64>(1),
        rc,
        0,
    );
    0
}

/// Softirq boundaries: every vector switches the CPU to its own frame stack
/// (TCP's timers run network code in TIMER_SOFTIRQ, not only NET_RX/NET_TX).
#[btf_tracepoint(function = "softirq_entry")]
pub fn pt_softirq_entry(ctx: BtfTracePointContext) -> i32 {
    frames::softirq_entry(ctx.arg::<u32>(0));
    0
}

#[btf_tracepoint(function = "softirq_exit")]
pub fn pt_softirq_exit(ctx: BtfTracePointContext) -> i32 {
    frames::softirq_exit(ctx.arg::<u32>(0));
    0
}

// Capability probes for `pkttrace doctor`: loaded and attached once to learn
// whether the kernel allows the program type, then dropped.

#[btf_tracepoint(function = "netif_receive_skb")]
pub fn doctor_tp_btf(_ctx: BtfTracePointContext) -> i32 {
    0
}

#[fentry(function = "ip_rcv")]
pub fn doctor_fentry(_ctx: FEntryContext) -> u32 {
    0
}

#[kprobe]
pub fn doctor_kprobe(_ctx: ProbeContext) -> u32 {
    0
}

/// The event `filter_verdict` judges; written by the test before each run.
#[map]
static FILTER_TEST_EVENT: Array<RawEvent> = Array::with_max_entries(1, 0);

/// The compiled filter's verdict (1 match, 0 not, -1 no event) on the event in
/// `FILTER_TEST_EVENT`: the kernel's half of the test comparing it with
/// userspace's (tracer's `filter_agreement` test, with `BPF_PROG_TEST_RUN`).
/// Never attached. Written without `#[raw_tracepoint]`, whose wrapper
/// returns 0 whatever the function returns.
#[unsafe(no_mangle)]
#[unsafe(link_section = "raw_tp")]
pub fn filter_verdict(_ctx: *mut c_void) -> i32 {
    match FILTER_TEST_EVENT.get(0) {
        Some(ev) => filter::matches(ev) as i32,
        None => -1,
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
