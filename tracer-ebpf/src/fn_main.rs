//! pkttrace's function probes. The loader relocates this object once per
//! argument layout (where the skb, socket and `nf_hook_state` arguments
//! are: read-only globals, so the verifier prunes what a layout cannot
//! reach) and loads its programs once per layout (kprobes: one program
//! serves every function of the layout) or once per function (fentry: the
//! kernel binds a trampoline program to one function). Programs look up
//! the function they run for in `FUNCS`, by the function's address.
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
    helpers::generated::{bpf_get_attach_cookie, bpf_get_func_ip},
    macros::{fentry, fexit, kprobe, kretprobe, map},
    maps::{Array, HashMap},
    programs::{FEntryContext, FExitContext, ProbeContext, RetProbeContext},
};
use core::mem::MaybeUninit;
use formats::abi::{EventKind, FuncInfo, NO_ARG, RawEvent, counter, event_flag};

use emit::{accept, count, fill_skb, fill_sock, new_event, output, output_with_stack};
use kernel::{Btf, Kmem, Probed, offset};

/// Position of the `struct sk_buff *` argument, or NO_ARG.
#[unsafe(no_mangle)]
static SKB_ARG: u32 = NO_ARG;
/// Position of a `struct sock *` argument, or NO_ARG.
#[unsafe(no_mangle)]
static SOCK_ARG: u32 = NO_ARG;
/// Position of a `struct nf_hook_state *` argument, or NO_ARG.
#[unsafe(no_mangle)]
static NF_STATE_ARG: u32 = NO_ARG;

#[inline(always)]
fn global(g: &'static u32) -> u32 {
    // SAFETY: a valid static; volatile keeps the loader's value.
    unsafe { core::ptr::read_volatile(g) }
}

/// Probed function address → what its probes need to know. Sized and
/// filled by the loader.
#[map]
static FUNCS: HashMap<u64, FuncInfo> = HashMap::with_max_entries(1, 0);

/// Entry 0 is set by the loader once every function is attached: until
/// then probes do nothing, so no tree has calls of some functions and not
/// of others. (An array lookup compiles to a load: the verifier inlines it.)
#[map]
static ARMED: Array<u32> = Array::with_max_entries(1, 0);

/// On kernels built with indirect branch tracking a function starts with a
/// 4-byte `endbr64` before the call into its trampoline, and some kernels
/// report the address past it.
const ENDBR_SIZE: u64 = 4;

#[inline(always)]
fn armed() -> bool {
    ARMED.get(0).is_some_and(|&armed| armed != 0)
}

/// The function an fentry/fexit program runs for.
#[inline(always)]
fn traced_function(ctx: *mut core::ffi::c_void) -> Option<&'static FuncInfo> {
    if !armed() {
        return None;
    }
    // SAFETY: a tracing program's context; the helper reads the address the
    // trampoline saved.
    let ip = unsafe { bpf_get_func_ip(ctx) };
    // SAFETY: lookups of plain values; the map outlives the program run.
    unsafe { FUNCS.get(&ip).or_else(|| FUNCS.get(&(ip - ENDBR_SIZE))) }
}

/// The function a kprobe program runs for: the loader attaches it with the
/// function's address as cookie (per-function and multi-function links
/// alike), which also holds for the return probe, where the entry address is
/// gone.
#[inline(always)]
fn probed_function(ctx: *mut core::ffi::c_void) -> Option<&'static FuncInfo> {
    if !armed() {
        return None;
    }
    // SAFETY: a kprobe program's context.
    let key = unsafe { bpf_get_attach_cookie(ctx) };
    // SAFETY: as above.
    unsafe { FUNCS.get(&key) }
}

/// Reads the 8 bytes at `byte_offset` into a tracing context. The context
/// is read like any kernel memory: the offset may be known only at run time
/// (fexit's return value), and must then be bounded for the verifier to
/// accept the arithmetic on the context pointer.
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

/// Argument `n` of a kprobe program, from the saved registers: on x86-64
/// arguments 0–5 are di, si, dx, cx, r8, r9, at these offsets of
/// `struct pt_regs` (computed, not looked up in a table, so the verifier
/// knows their bounds).
#[inline(always)]
fn register_arg(ctx: *mut core::ffi::c_void, n: u32) -> u64 {
    let n = u64::from(n);
    if n >= 6 {
        return 0;
    }
    // di 112, si 104, dx 96, cx 88; r8 72, r9 64 (ax sits between).
    let offset = if n < 4 { 112 - 8 * n } else { 104 - 8 * n };
    ctx_slot(ctx, offset)
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
fn enter<M: Kmem>(ctx: *mut core::ffi::c_void, probe: u32, skb: u64, sk: u64, nf_state: u64) {
    let mut slot = MaybeUninit::uninit();
    let ev = new_event(&mut slot, probe, EventKind::Entry);
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
fn leave(probe: u32, skb: u64, ret: u64) {
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
    if let Some(&f) = traced_function(raw) {
        enter::<Probed>(
            raw,
            f.probe_id,
            trampoline_arg(raw, global(&SKB_ARG)),
            trampoline_arg(raw, global(&SOCK_ARG)),
            trampoline_arg(raw, global(&NF_STATE_ARG)),
        );
    }
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
            if let Some(&f) = traced_function(raw) {
                enter::<Btf>(
                    raw,
                    f.probe_id,
                    ctx.arg::<u64>($slot),
                    trampoline_arg(raw, global(&SOCK_ARG)),
                    trampoline_arg(raw, global(&NF_STATE_ARG)),
                );
            }
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
    if let Some(&f) = traced_function(raw) {
        leave(
            f.probe_id,
            trampoline_arg(raw, f.skb_arg),
            trampoline_arg(raw, f.nr_args),
        );
    }
    0
}

#[kprobe]
pub fn kp_entry(ctx: ProbeContext) -> u32 {
    let raw = ctx.as_ptr();
    if let Some(&f) = probed_function(raw) {
        enter::<Probed>(
            raw,
            f.probe_id,
            register_arg(raw, global(&SKB_ARG)),
            register_arg(raw, global(&SOCK_ARG)),
            register_arg(raw, global(&NF_STATE_ARG)),
        );
    }
    0
}

#[kretprobe]
pub fn kp_exit(ctx: RetProbeContext) -> u32 {
    // Arguments are gone at return: the exit carries no skb.
    if let Some(&f) = probed_function(ctx.as_ptr()) {
        leave(f.probe_id, 0, ctx.ret::<u64>());
    }
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
