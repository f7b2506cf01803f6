//! pkttrace's function probes: one BPF object loaded once per probed kernel
//! function, sharing the tracepoint object's maps. The loader sets which
//! function this copy serves (`PROBE_ID`) and where its arguments are.
#![no_std]
#![no_main]

mod emit;
mod filter;
mod frames;
mod kernel;
mod maps;
mod packet;

use aya_ebpf::{
    EbpfContext,
    macros::{fentry, fexit, kprobe, kretprobe},
    programs::{FEntryContext, FExitContext, ProbeContext, RetProbeContext},
};
use core::mem::MaybeUninit;
use formats::abi::{EventKind, RawEvent, counter, event_flag};

use emit::{accept, count, fill_skb, fill_sock, new_event, output, output_with_stack};
use kernel::{Btf, Kmem, Probed, offset};

/// Marks "this function has no such argument".
const NO_ARG: u32 = u32::MAX;

#[unsafe(no_mangle)]
static PROBE_ID: u32 = 0;
/// Position of the `struct sk_buff *` argument, or NO_ARG.
#[unsafe(no_mangle)]
static SKB_ARG: u32 = NO_ARG;
/// Position of a `struct sock *` argument, or NO_ARG.
#[unsafe(no_mangle)]
static SOCK_ARG: u32 = NO_ARG;
/// Position of a `struct nf_hook_state *` argument, or NO_ARG.
#[unsafe(no_mangle)]
static NF_STATE_ARG: u32 = NO_ARG;
/// Number of arguments: fexit finds the return value after them.
#[unsafe(no_mangle)]
static NR_ARGS: u32 = 0;

#[inline(always)]
fn global(g: &'static u32) -> u32 {
    // SAFETY: a valid static; volatile keeps the loader's value.
    unsafe { core::ptr::read_volatile(g) }
}

/// Byte offsets of the argument registers in x86-64 `struct pt_regs`
/// (di, si, dx, cx, r8, r9): where a kprobe finds arguments 0 to 5.
const PT_REGS_ARG_OFFSETS: [u64; 6] = [112, 104, 96, 88, 72, 64];

/// Reads the `n`th 8-byte slot of a tracing context. The context is read
/// like any kernel memory: the compiler turns a `match` on `n` into pointer
/// arithmetic on the context, which the verifier refuses for direct access.
#[inline(always)]
fn ctx_slot(ctx: *mut core::ffi::c_void, byte_offset: u64) -> u64 {
    kernel::read_at::<u64>(ctx as u64 + byte_offset).unwrap_or(0)
}

/// Argument `n` of an fentry/fexit program (the context is an array of u64).
#[inline(always)]
fn trampoline_arg(ctx: *mut core::ffi::c_void, n: u32) -> u64 {
    if n == NO_ARG || n as usize >= MAX_TRAMPOLINE_SLOTS {
        return 0;
    }
    ctx_slot(ctx, n as u64 * 8)
}

/// Argument `n` of a kprobe program, from the saved registers.
#[inline(always)]
fn register_arg(ctx: *mut core::ffi::c_void, n: u32) -> u64 {
    match PT_REGS_ARG_OFFSETS.get(n as usize) {
        Some(&offset) => ctx_slot(ctx, offset),
        None => 0,
    }
}

/// Arguments plus the return value a trampoline context holds at most.
const MAX_TRAMPOLINE_SLOTS: usize = 13;

/// Entry: an skb that passes the filter opens an emitted frame. A function
/// without an skb is always emitted, and marked tentative unless its socket
/// passes the filter: userspace keeps it only if it sits inside a matching
/// frame (tcp_set_state inside tcp_rcv_state_process) or contains a match
/// (tcp_v4_connect around the SYN). Deciding that in the kernel would need a
/// buffer of undecided frames and loops the verifier cannot afford.
/// `M` says how `skb` can be read: as a BTF-typed pointer (fentry programs
/// that load it from a constant context slot) or only by probe reads.
#[inline(always)]
fn enter<M: Kmem>(ctx: *mut core::ffi::c_void, skb: u64, sk: u64, nf_state: u64) {
    let mut slot = MaybeUninit::uninit();
    let ev = new_event(&mut slot, global(&PROBE_ID), EventKind::Entry);
    if nf_state != 0 {
        let hook: u8 = Probed::read(nf_state, offset(|o| &o.nf_state_hook)).unwrap_or(u8::MAX);
        let pf: u8 = Probed::read(nf_state, offset(|o| &o.nf_state_pf)).unwrap_or(0);
        ev.aux = u64::from(hook) | u64::from(pf) << 8;
    }
    if skb != 0 {
        fill_skb::<M>(ev, skb, 0, true, sk);
        if !accept(ev, false) {
            return;
        }
    } else {
        fill_sock::<Probed>(ev, sk);
        if !filter::matches(ev) {
            ev.flags |= event_flag::TENTATIVE;
        }
    }
    // The frame is recorded before the entry goes out, so the entry can say
    // whether its exit will follow; an entry the ring lost takes its frame back.
    let tracked = frames::push(ev.probe_id);
    if !tracked {
        ev.flags |= event_flag::UNTRACKED;
        count(counter::UNTRACKED);
    }
    if !output_with_stack(ctx, ev) && tracked {
        frames::exit(ev.probe_id);
    }
}

/// Exit: emitted only when the entry was.
#[inline(always)]
fn leave(skb: u64, ret: u64) {
    let probe = global(&PROBE_ID);
    if !frames::exit(probe) {
        return;
    }
    let mut slot = MaybeUninit::uninit();
    let ev = new_event(&mut slot, probe, EventKind::Exit);
    // The skb may be freed by now: keep its address, read nothing from it.
    ev.skb = skb;
    ev.value = ret;
    output(ev);
}

#[fentry(function = "ip_rcv")]
pub fn fn_entry(ctx: FEntryContext) -> u32 {
    let raw = ctx.as_ptr();
    enter::<Probed>(
        raw,
        trampoline_arg(raw, global(&SKB_ARG)),
        trampoline_arg(raw, global(&SOCK_ARG)),
        trampoline_arg(raw, global(&NF_STATE_ARG)),
    );
    0
}

/// fentry for a function whose skb is argument `$slot`, read from a constant
/// context offset: the verifier then knows it as a `struct sk_buff *`, and
/// the skb's members are plain loads instead of probe reads (`kernel::Btf`).
/// The loader picks the variant matching the function; `fn_entry` serves
/// the rest.
macro_rules! fentry_with_skb_at {
    ($name:ident, $slot:literal) => {
        #[fentry(function = "ip_rcv")]
        pub fn $name(ctx: FEntryContext) -> u32 {
            let raw = ctx.as_ptr();
            enter::<Btf>(
                raw,
                ctx.arg::<u64>($slot),
                trampoline_arg(raw, global(&SOCK_ARG)),
                trampoline_arg(raw, global(&NF_STATE_ARG)),
            );
            0
        }
    };
}

fentry_with_skb_at!(fn_entry_skb0, 0);
fentry_with_skb_at!(fn_entry_skb1, 1);
fentry_with_skb_at!(fn_entry_skb2, 2);
fentry_with_skb_at!(fn_entry_skb3, 3);

/// fexit sees the arguments, then the return value in the next slot.
#[fexit(function = "ip_rcv")]
pub fn fn_exit(ctx: FExitContext) -> u32 {
    let raw = ctx.as_ptr();
    leave(
        trampoline_arg(raw, global(&SKB_ARG)),
        trampoline_arg(raw, global(&NR_ARGS)),
    );
    0
}

#[kprobe]
pub fn kp_entry(ctx: ProbeContext) -> u32 {
    let raw = ctx.as_ptr();
    enter::<Probed>(
        raw,
        register_arg(raw, global(&SKB_ARG)),
        register_arg(raw, global(&SOCK_ARG)),
        register_arg(raw, global(&NF_STATE_ARG)),
    );
    0
}

#[kretprobe]
pub fn kp_exit(ctx: RetProbeContext) -> u32 {
    // Arguments are gone at return: the exit carries no skb.
    leave(0, ctx.ret::<u64>());
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
