//! Building events and deciding which reach the ring buffer.

use core::ffi::c_void;

use aya_ebpf::helpers::{
    bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_smp_processor_id, bpf_get_stackid,
    bpf_ktime_get_ns,
};
use formats::abi::{EventKind, RawEvent, counter, event_flag};

use crate::filter;
use crate::frames;
use crate::kernel::{offset, read};
use crate::maps::{COUNTERS, EVENTS, STACKS, TRACKED};
use crate::packet;

#[inline(always)]
pub fn count(index: u32) {
    if let Some(c) = COUNTERS.get_ptr_mut(index) {
        // SAFETY: this CPU's slot of a per-CPU map.
        unsafe { *c += 1 };
    }
}

#[inline(always)]
pub fn new_event(probe: u32, kind: EventKind) -> RawEvent {
    let mut ev = RawEvent::zeroed();
    init_event(&mut ev, probe, kind);
    ev
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
    let pid_tgid = bpf_get_current_pid_tgid();
    ev.pid = (pid_tgid >> 32) as u32;
    ev.tid = pid_tgid as u32;
    ev.comm = bpf_get_current_comm().unwrap_or_default();
}

/// Fills interface and namespace from a `struct net_device *`.
#[inline(always)]
pub fn fill_dev(ev: &mut RawEvent, dev: u64) {
    if dev == 0 {
        return;
    }
    ev.ifindex = read(dev, offset(|o| &o.dev_ifindex)).unwrap_or(0);
    ev.ifname = read(dev, offset(|o| &o.dev_name)).unwrap_or_default();
    let net: u64 = read(dev, offset(|o| &o.dev_nd_net)).unwrap_or(0);
    ev.netns = read(net, offset(|o| &o.net_ns_inum)).unwrap_or(0);
    ev.flags |= event_flag::HAS_DEV;
}

/// Fills what an skb says about itself: device, length, and (if `parse`)
/// headers. What the skb lacks comes from a socket: on transmit above IP the
/// headers are not built yet, and TCP clears `skb->dev` before handing a
/// segment to its socket. `sk` is the probed function's socket argument (0
/// if none); the skb's own socket is preferred.
#[inline(always)]
pub fn fill_skb(ev: &mut RawEvent, skb: u64, dev: u64, parse: bool, sk: u64) {
    ev.skb = skb;
    let dev = if dev != 0 {
        dev
    } else {
        read(skb, offset(|o| &o.skb_dev)).unwrap_or(0)
    };
    fill_dev(ev, dev);
    ev.pkt.skb_len = read(skb, offset(|o| &o.skb_len)).unwrap_or(0);
    let own_sk: u64 = read(skb, offset(|o| &o.skb_sk)).unwrap_or(0);
    let sk = if own_sk != 0 { own_sk } else { sk };
    if ev.netns == 0 && sk != 0 {
        fill_sock_netns(ev, sk);
    }
    if !parse {
        return;
    }
    if packet::parse_skb(skb, &mut ev.pkt) {
        ev.flags |= event_flag::HAS_PACKET;
    } else if sk != 0 && packet::parse_sock(sk, &mut ev.pkt) {
        ev.flags |= event_flag::HAS_PACKET | event_flag::FROM_SOCKET;
    }
}

#[inline(always)]
fn fill_sock_netns(ev: &mut RawEvent, sk: u64) {
    let net: u64 = read(sk, offset(|o| &o.sk_net)).unwrap_or(0);
    ev.netns = read(net, offset(|o| &o.net_ns_inum)).unwrap_or(0);
}

/// Fills addresses and namespace of a `struct sock *` (events without an skb).
#[inline(always)]
pub fn fill_sock(ev: &mut RawEvent, sk: u64) {
    if sk == 0 {
        return;
    }
    if packet::parse_sock(sk, &mut ev.pkt) {
        ev.flags |= event_flag::HAS_PACKET | event_flag::FROM_SOCKET;
    }
    fill_sock_netns(ev, sk);
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
    match EVENTS.output::<RawEvent>(ev, 0) {
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
