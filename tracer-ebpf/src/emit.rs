//! Building events and deciding which reach the ring buffer.

use core::ffi::c_void;
use core::mem::MaybeUninit;

use aya_ebpf::bindings::{
    BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP, BPF_RB_RING_SIZE,
};
use aya_ebpf::helpers::{
    bpf_get_current_pid_tgid, bpf_get_smp_processor_id, bpf_get_stackid, bpf_ktime_get_ns,
    generated,
};
use formats::abi::{EventKind, RawEvent, counter, event_flag};

use crate::filter;
use crate::frames;
use crate::kernel::{Kmem, Probed, offset, read_into};
use crate::maps::{COUNTERS, EVENTS, STACKS, TRACKED};
use crate::packet;

#[inline(always)]
pub fn count(index: u32) {
    if let Some(c) = COUNTERS.get_ptr_mut(index) {
        // SAFETY: this CPU's slot of a per-CPU map.
        unsafe { *c += 1 };
    }
}

/// Builds a new event in `slot` (on the caller's stack: nested programs,
/// such as a softirq interrupting a tracepoint, then never share memory).
#[inline(always)]
pub fn new_event(slot: &mut MaybeUninit<RawEvent>, probe: u32, kind: EventKind) -> &mut RawEvent {
    // SAFETY: `zero` writes every byte, and all-zero is a valid RawEvent.
    let ev = unsafe {
        zero(slot.as_mut_ptr());
        slot.assume_init_mut()
    };
    init_event(ev, probe, kind);
    ev
}

/// Zeroes an event with one store per word. `RawEvent::zeroed()` compiles to
/// a call of a memset that loops byte by byte on BPF: several hundred
/// instructions per event.
///
/// # Safety
/// `ev` must be valid for writes of a `RawEvent`.
#[inline(always)]
pub unsafe fn zero(ev: *mut RawEvent) {
    const WORDS: usize = RawEvent::SIZE / 8;
    const _: () = assert!(RawEvent::SIZE % 8 == 0 && align_of::<RawEvent>() == 8);
    let words = ev as *mut u64;
    for i in 0..WORDS {
        // Volatile, so the compiler cannot fold the stores back into memset.
        // SAFETY: `i` stays within the event, which is word-aligned.
        unsafe { core::ptr::write_volatile(words.add(i), 0) };
    }
}

/// Fills the common fields of a zeroed event in place (an event in map
/// memory need not pass through the stack).
#[inline(always)]
pub fn init_event(ev: &mut RawEvent, probe: u32, kind: EventKind) {
    // SAFETY: plain helpers without preconditions.
    ev.ts_ns = unsafe { bpf_ktime_get_ns() };
    ev.cpu = unsafe { bpf_get_smp_processor_id() };
    ev.probe_id = probe;
    ev.kind = kind as u8;
    ev.stack_id = -1;
    let pid_tgid = bpf_get_current_pid_tgid();
    ev.pid = (pid_tgid >> 32) as u32;
    ev.tid = pid_tgid as u32;
    // Straight into the event: the helper NUL-pads the name, and going
    // through a returned array would copy it byte by byte.
    // SAFETY: `comm` is TASK_COMM_LEN writable bytes.
    unsafe {
        generated::bpf_get_current_comm(ev.comm.as_mut_ptr() as *mut c_void, ev.comm.len() as u32)
    };
}

/// Fills interface and namespace from a `struct net_device *`.
#[inline(always)]
pub fn fill_dev<M: Kmem>(ev: &mut RawEvent, dev: u64) {
    if dev == 0 {
        return;
    }
    ev.ifindex = M::read(dev, offset(|o| &o.dev_ifindex)).unwrap_or(0);
    read_into(&mut ev.ifname, dev, offset(|o| &o.dev_name));
    let net: u64 = M::read(dev, offset(|o| &o.dev_nd_net)).unwrap_or(0);
    ev.netns = M::read(net, offset(|o| &o.net_ns_inum)).unwrap_or(0);
    ev.flags |= event_flag::HAS_DEV;
}

/// Fills what an skb says about itself: device, length, and (if `parse`)
/// headers. What the skb lacks comes from a socket: on transmit above IP the
/// headers are not built yet, and TCP clears `skb->dev` before handing a
/// segment to its socket. `sk` is the probed function's socket argument (0
/// if none), a pointer the verifier knows only as a number (always
/// probe-read); the skb's own socket is preferred and read like the skb.
#[inline(always)]
pub fn fill_skb<M: Kmem>(ev: &mut RawEvent, skb: u64, dev: u64, parse: bool, sk: u64) {
    let dev = if dev != 0 {
        dev
    } else {
        M::read(skb, offset(|o| &o.skb_dev)).unwrap_or(0)
    };
    fill_dev::<M>(ev, dev);
    fill_skb_packet::<M>(ev, skb, parse, sk);
}

/// [`fill_skb`] without the device: for an skb in a socket's receive queue,
/// where `skb->dev` no longer holds one (UDP keeps its `dev_scratch` in the
/// same word, TCP clears it). The namespace comes from the socket.
#[inline(always)]
pub fn fill_skb_packet<M: Kmem>(ev: &mut RawEvent, skb: u64, parse: bool, sk: u64) {
    ev.skb = skb;
    ev.pkt.skb_len = M::read(skb, offset(|o| &o.skb_len)).unwrap_or(0);
    let own_sk: u64 = M::read(skb, offset(|o| &o.skb_sk)).unwrap_or(0);
    if ev.netns == 0 {
        if own_sk != 0 {
            fill_sock_netns::<M>(ev, own_sk);
        } else if sk != 0 {
            fill_sock_netns::<Probed>(ev, sk);
        }
    }
    if !parse {
        return;
    }
    let from_socket = if packet::parse_skb::<M>(skb, &mut ev.pkt) {
        ev.flags |= event_flag::HAS_PACKET;
        return;
    } else if own_sk != 0 {
        packet::parse_sock::<M>(own_sk, &mut ev.pkt)
    } else {
        sk != 0 && packet::parse_sock::<Probed>(sk, &mut ev.pkt)
    };
    if from_socket {
        ev.flags |= event_flag::HAS_PACKET | event_flag::FROM_SOCKET;
    }
}

#[inline(always)]
fn fill_sock_netns<M: Kmem>(ev: &mut RawEvent, sk: u64) {
    let net: u64 = M::read(sk, offset(|o| &o.sk_net)).unwrap_or(0);
    ev.netns = M::read(net, offset(|o| &o.net_ns_inum)).unwrap_or(0);
}

/// Fills addresses and namespace of a `struct sock *` (events without an skb).
#[inline(always)]
pub fn fill_sock<M: Kmem>(ev: &mut RawEvent, sk: u64) {
    if sk == 0 {
        return;
    }
    if packet::parse_sock::<M>(sk, &mut ev.pkt) {
        ev.flags |= event_flag::HAS_PACKET | event_flag::FROM_SOCKET;
    }
    fill_sock_netns::<M>(ev, sk);
}

/// Runs the filter and `--follow-skb` tracking. `frees` marks the skb's last
/// event (kfree_skb / consume_skb): tracking ends there.
#[inline(always)]
pub fn accept(ev: &mut RawEvent, frees: bool) -> bool {
    let matched = filter::matches(ev);
    if filter::follow_skb() && ev.skb != 0 {
        // SAFETY: the lookup result is only tested for presence.
        let tracked = unsafe { TRACKED.get(&ev.skb).is_some() };
        if !matched && !tracked {
            count(counter::FILTERED);
            return false;
        }
        if !matched {
            ev.flags |= event_flag::FOLLOWED;
        }
        if frees {
            let _ = TRACKED.remove(&ev.skb);
        } else if !tracked {
            let _ = TRACKED.insert(&ev.skb, &ev.ts_ns, 0);
        }
        true
    } else if matched {
        true
    } else {
        count(counter::FILTERED);
        false
    }
}

/// With `--stack`, records the kernel stack of the program's context in the
/// shared stack map and notes its id in the event, then outputs it.
#[inline(always)]
pub fn output_with_stack(ctx: *mut c_void, ev: &mut RawEvent) -> bool {
    if filter::stacks() {
        // SAFETY: `ctx` is the running program's context; STACKS is a stack
        // trace map (the helper checks both).
        let id = unsafe {
            bpf_get_stackid(ctx, core::ptr::addr_of!(STACKS) as *mut c_void, STACK_FLAGS)
        };
        ev.stack_id = if id >= 0 { id as i32 } else { -1 };
    }
    output(ev)
}

/// Kernel stack; equal stacks share one id, and a hash collision with a
/// different stack yields no id rather than replacing a stack userspace may
/// not have read yet (no BPF_F_REUSE_STACKID).
const STACK_FLAGS: u64 = 0;

/// The reader is woken once the ring holds this fraction of its size...
const WAKEUP_FRACTION: u64 = 8;
/// ...by every event that lands in the first `WAKEUP_WINDOW` bytes past that
/// mark. Producers on other CPUs can move the fill level between one
/// event's query and its reservation, so a single exact crossing could be
/// missed; a window a few dozen events wide cannot be jumped over.
const WAKEUP_WINDOW: u64 = 4096;

/// Whether this event wakes the reader. By default the ring wakes it
/// whenever an event lands in an empty ring: with a reader that keeps up,
/// that is the first event of nearly every packet, and each wakeup is an
/// irq_work, which costs microseconds (a self-IPI, a VM exit under
/// virtualization). Instead the reader polls on a short timer and is woken
/// early only when the ring is filling up.
#[inline(always)]
fn wakeup_flags() -> u64 {
    let avail = EVENTS.query(BPF_RB_AVAIL_DATA as u64);
    let mark = EVENTS.query(BPF_RB_RING_SIZE as u64) / WAKEUP_FRACTION;
    if avail >= mark && avail < mark + WAKEUP_WINDOW {
        BPF_RB_FORCE_WAKEUP as u64
    } else {
        BPF_RB_NO_WAKEUP as u64
    }
}

/// Copies the event into the ring buffer; a full ring counts as lost.
/// Returns whether the event was written. The first event this CPU writes
/// after losing some says so (`AFTER_LOSS`), so the stitcher cuts what was
/// open at the gap itself, not a second later when the counters are read.
#[inline(always)]
pub fn output(ev: &mut RawEvent) -> bool {
    let lost_before = frames::lost_before();
    if lost_before {
        ev.flags |= event_flag::AFTER_LOSS;
    }
    match EVENTS.output::<RawEvent>(ev, wakeup_flags()) {
        Ok(()) => {
            count(counter::EMITTED);
            if lost_before {
                frames::set_lost_before(false);
            }
            true
        }
        Err(_) => {
            count(counter::LOST);
            frames::set_lost_before(true);
            false
        }
    }
}
