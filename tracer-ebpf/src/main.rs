//! pkttrace's BPF programs.
//!
//! Every program builds one `RawEvent` on the stack, runs the compiled filter
//! (and the `--follow-skb` tracking) on it, and only then copies it into the
//! ring buffer, so filtered-out packets cost no ring space and nested programs
//! (softirq on top of process context) never share scratch memory.
#![no_std]
#![no_main]

mod filter;
mod kernel;
mod packet;

use aya_ebpf::{
    helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_smp_processor_id, bpf_ktime_get_ns},
    macros::{btf_tracepoint, fentry, kprobe, map},
    maps::{LruHashMap, PerCpuArray, RingBuf},
    programs::{BtfTracePointContext, FEntryContext, ProbeContext},
};
use formats::abi::{EventKind, RawEvent, counter, event_flag, probe_id};

use kernel::{offset, read};

/// Default ring size; the loader overrides it (`--ring-size`).
const DEFAULT_RING_BYTES: u32 = 8 << 20;
/// skbs tracked by `--follow-skb`; LRU so a missed free can never fill it up.
const MAX_TRACKED_SKBS: u32 = 65536;

#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(DEFAULT_RING_BYTES, 0);

#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counter::COUNT, 0);

/// skb address → first-match timestamp, for `--follow-skb`.
#[map]
static TRACKED: LruHashMap<u64, u64> = LruHashMap::with_max_entries(MAX_TRACKED_SKBS, 0);

#[inline(always)]
fn count(index: u32) {
    if let Some(c) = COUNTERS.get_ptr_mut(index) {
        // SAFETY: per-CPU slot of this CPU.
        unsafe { *c += 1 };
    }
}

#[inline(always)]
fn new_event(probe: u32) -> RawEvent {
    let mut ev = RawEvent::zeroed();
    ev.ts_ns = unsafe { bpf_ktime_get_ns() };
    ev.probe_id = probe;
    ev.kind = EventKind::Point as u8;
    ev.cpu = unsafe { bpf_get_smp_processor_id() };
    let pid_tgid = bpf_get_current_pid_tgid();
    ev.pid = (pid_tgid >> 32) as u32;
    ev.tid = pid_tgid as u32;
    ev.comm = bpf_get_current_comm().unwrap_or_default();
    ev
}

/// Fills interface and namespace from a `struct net_device *`.
#[inline(always)]
fn fill_dev(ev: &mut RawEvent, dev: u64) {
    if dev == 0 {
        return;
    }
    ev.ifindex = read(dev, offset(|o| &o.dev_ifindex)).unwrap_or(0);
    ev.ifname = read(dev, offset(|o| &o.dev_name)).unwrap_or_default();
    let net: u64 = read(dev, offset(|o| &o.dev_nd_net)).unwrap_or(0);
    ev.netns = read(net, offset(|o| &o.net_ns_inum)).unwrap_or(0);
    ev.flags |= event_flag::HAS_DEV;
}

/// Fills what an skb says about itself: device, length, and (if `parse`) headers.
#[inline(always)]
fn fill_skb(ev: &mut RawEvent, skb: u64, dev: u64, parse: bool) {
    ev.skb = skb;
    let dev = if dev != 0 {
        dev
    } else {
        read(skb, offset(|o| &o.skb_dev)).unwrap_or(0)
    };
    fill_dev(ev, dev);
    ev.pkt.skb_len = read(skb, offset(|o| &o.skb_len)).unwrap_or(0);
    if parse && packet::parse_skb(skb, &mut ev.pkt) {
        ev.flags |= event_flag::HAS_PACKET;
    }
}

/// Fills addresses and namespace of a `struct sock *` (events without an skb).
#[inline(always)]
fn fill_sock(ev: &mut RawEvent, sk: u64) {
    if sk == 0 {
        return;
    }
    if packet::parse_sock(sk, &mut ev.pkt) {
        ev.flags |= event_flag::HAS_PACKET;
    }
    let net: u64 = read(sk, offset(|o| &o.sk_net)).unwrap_or(0);
    ev.netns = read(net, offset(|o| &o.net_ns_inum)).unwrap_or(0);
}

/// Applies the filter and skb tracking, then submits. `frees` marks the
/// skb's last event (kfree_skb / consume_skb): tracking ends there.
#[inline(always)]
fn submit(ev: &mut RawEvent, frees: bool) {
    let matched = filter::matches(ev);
    if filter::follow_skb() && ev.skb != 0 {
        // SAFETY: lookup result only tested for presence.
        let tracked = unsafe { TRACKED.get(&ev.skb).is_some() };
        if !matched && !tracked {
            count(counter::FILTERED);
            return;
        }
        if !matched {
            ev.flags |= event_flag::FOLLOWED;
        }
        if frees {
            let _ = TRACKED.remove(&ev.skb);
        } else if !tracked {
            let _ = TRACKED.insert(&ev.skb, &ev.ts_ns, 0);
        }
    } else if !matched {
        count(counter::FILTERED);
        return;
    }
    match EVENTS.output::<RawEvent>(&*ev, 0) {
        Ok(()) => count(counter::EMITTED),
        Err(_) => count(counter::LOST),
    }
}

#[inline(always)]
fn skb_event(probe: u32, skb: u64, value: u64, aux: u64, frees: bool) {
    if skb == 0 {
        return;
    }
    let mut ev = new_event(probe);
    fill_skb(&mut ev, skb, 0, true);
    ev.value = value;
    ev.aux = aux;
    submit(&mut ev, frees);
}

#[inline(always)]
fn sock_event(probe: u32, sk: u64, value: u64, aux: u64) {
    let mut ev = new_event(probe);
    fill_sock(&mut ev, sk);
    ev.value = value;
    ev.aux = aux;
    submit(&mut ev, false);
}

/// Queue length, and handle:parent packed as `handle << 32 | parent`.
#[inline(always)]
fn qdisc_event(probe: u32, qdisc: u64, skb: u64) {
    let qlen: u32 = read(qdisc, offset(|o| &o.qdisc_qlen)).unwrap_or(0);
    let handle: u32 = read(qdisc, offset(|o| &o.qdisc_handle)).unwrap_or(0);
    let parent: u32 = read(qdisc, offset(|o| &o.qdisc_parent)).unwrap_or(0);
    skb_event(probe, skb, qlen as u64, (handle as u64) << 32 | parent as u64, false);
}

// Tracepoint programs. Argument positions follow the kernel's `btf_trace_*`
// typedefs; the loader checks them against the running kernel's BTF and skips
// a tracepoint whose skb argument moved.

#[btf_tracepoint(function = "netif_receive_skb")]
pub fn pt_netif_receive_skb(ctx: BtfTracePointContext) -> i32 {
    skb_event(probe_id::NETIF_RECEIVE_SKB, ctx.arg::<u64>(0), 0, 0, false);
    0
}

#[btf_tracepoint(function = "net_dev_queue")]
pub fn pt_net_dev_queue(ctx: BtfTracePointContext) -> i32 {
    skb_event(probe_id::NET_DEV_QUEUE, ctx.arg::<u64>(0), 0, 0, false);
    0
}

#[btf_tracepoint(function = "net_dev_start_xmit")]
pub fn pt_net_dev_start_xmit(ctx: BtfTracePointContext) -> i32 {
    let skb = ctx.arg::<u64>(0);
    if skb == 0 {
        return 0;
    }
    let mut ev = new_event(probe_id::NET_DEV_START_XMIT);
    fill_skb(&mut ev, skb, ctx.arg::<u64>(1), true);
    submit(&mut ev, false);
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
    let mut ev = new_event(probe_id::NET_DEV_XMIT);
    ev.skb = skb;
    fill_dev(&mut ev, ctx.arg::<u64>(2));
    ev.value = ctx.arg::<i32>(1) as i64 as u64;
    ev.pkt.skb_len = ctx.arg::<u32>(3);
    submit(&mut ev, false);
    0
}

#[btf_tracepoint(function = "qdisc_enqueue")]
pub fn pt_qdisc_enqueue(ctx: BtfTracePointContext) -> i32 {
    qdisc_event(probe_id::QDISC_ENQUEUE, ctx.arg::<u64>(0), ctx.arg::<u64>(2));
    0
}

#[btf_tracepoint(function = "qdisc_dequeue")]
pub fn pt_qdisc_dequeue(ctx: BtfTracePointContext) -> i32 {
    qdisc_event(probe_id::QDISC_DEQUEUE, ctx.arg::<u64>(0), ctx.arg::<u64>(3));
    0
}

#[btf_tracepoint(function = "kfree_skb")]
pub fn pt_kfree_skb(ctx: BtfTracePointContext) -> i32 {
    let reason = ctx.arg::<u32>(2) as u64;
    skb_event(probe_id::KFREE_SKB, ctx.arg::<u64>(0), reason, ctx.arg::<u64>(1), true);
    0
}

#[btf_tracepoint(function = "consume_skb")]
pub fn pt_consume_skb(ctx: BtfTracePointContext) -> i32 {
    skb_event(probe_id::CONSUME_SKB, ctx.arg::<u64>(0), 0, 0, true);
    0
}

#[btf_tracepoint(function = "tcp_retransmit_skb")]
pub fn pt_tcp_retransmit_skb(ctx: BtfTracePointContext) -> i32 {
    skb_event(probe_id::TCP_RETRANSMIT_SKB, ctx.arg::<u64>(1), 0, 0, false);
    0
}

#[btf_tracepoint(function = "tcp_send_reset")]
pub fn pt_tcp_send_reset(ctx: BtfTracePointContext) -> i32 {
    let skb = ctx.arg::<u64>(1);
    if skb != 0 {
        skb_event(probe_id::TCP_SEND_RESET, skb, 0, 0, false);
    } else {
        sock_event(probe_id::TCP_SEND_RESET, ctx.arg::<u64>(0), 0, 0);
    }
    0
}

#[btf_tracepoint(function = "tcp_receive_reset")]
pub fn pt_tcp_receive_reset(ctx: BtfTracePointContext) -> i32 {
    sock_event(probe_id::TCP_RECEIVE_RESET, ctx.arg::<u64>(0), 0, 0);
    0
}

#[btf_tracepoint(function = "inet_sock_set_state")]
pub fn pt_inet_sock_set_state(ctx: BtfTracePointContext) -> i32 {
    let old = ctx.arg::<u32>(1) as u64;
    let new = ctx.arg::<u32>(2) as u64;
    sock_event(probe_id::INET_SOCK_SET_STATE, ctx.arg::<u64>(0), new, old);
    0
}

#[btf_tracepoint(function = "udp_fail_queue_rcv_skb")]
pub fn pt_udp_fail_queue_rcv_skb(ctx: BtfTracePointContext) -> i32 {
    let rc = ctx.arg::<i32>(0) as i64 as u64;
    sock_event(probe_id::UDP_FAIL_QUEUE_RCV_SKB, ctx.arg::<u64>(1), rc, 0);
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

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
