//! Evaluates the compiled filter (`formats::filter` compiles it; its userspace
//! evaluator `formats::filter::matches` is the reference this must agree with).

use aya_ebpf::{macros::map, maps::PerCpuArray};
use formats::abi::{
    ETH_P_IP, ETH_P_IPV6, FILTER_MAX_INSNS, FilterInsn, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP,
    RawEvent, TraceConfig, config_flag, filter_dir, filter_op,
};

/// The filter's boolean stack (see `matches`). Programs nesting on one CPU
/// (a softirq interrupting a filter run) could clobber it; tracing programs
/// rarely nest and the cost would be one misjudged event.
#[map]
static FILTER_STACK: PerCpuArray<u32> = PerCpuArray::with_max_entries(1, 0);

/// Filled in by the loader before load; read-only to the verifier, so a
/// program with an empty filter has its filter loop pruned as dead code.
#[unsafe(no_mangle)]
static CONFIG: TraceConfig = TraceConfig::accept_all();

#[inline(always)]
fn config_word(field: fn(&TraceConfig) -> &u32) -> u32 {
    // SAFETY: CONFIG is a valid static; volatile keeps the loader's value.
    unsafe { core::ptr::read_volatile(field(&CONFIG)) }
}

#[inline(always)]
pub fn follow_skb() -> bool {
    config_word(|c| &c.flags) & config_flag::FOLLOW_SKB != 0
}

#[inline(always)]
pub fn stacks() -> bool {
    config_word(|c| &c.flags) & config_flag::STACKS != 0
}

#[inline(always)]
fn insn(i: usize) -> FilterInsn {
    // SAFETY: i < FILTER_MAX_INSNS is checked by the caller's loop bound.
    unsafe { core::ptr::read_volatile(&CONFIG.filter[i]) }
}

#[inline(always)]
fn words_match(packet: &[u8; 16], insn: &FilterInsn) -> bool {
    let mut i = 0;
    while i < 4 {
        let w = u32::from_ne_bytes([
            packet[i * 4],
            packet[i * 4 + 1],
            packet[i * 4 + 2],
            packet[i * 4 + 3],
        ]);
        if w & insn.mask[i] != insn.words[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[inline(always)]
fn by_dir(insn: &FilterInsn, src: bool, dst: bool) -> bool {
    match insn.dir {
        filter_dir::SRC => src,
        filter_dir::DST => dst,
        _ => src || dst,
    }
}

#[inline(always)]
fn predicate(insn: &FilterInsn, ev: &RawEvent) -> bool {
    let pkt = &ev.pkt;
    match insn.op {
        filter_op::TRUE => true,
        filter_op::L4_PROTO => pkt.l4_proto as u32 == insn.lo,
        filter_op::L3_PROTO => pkt.l3_proto as u32 == insn.lo,
        filter_op::ADDR => {
            let family = match pkt.l3_proto {
                ETH_P_IP => 4,
                ETH_P_IPV6 => 6,
                _ => 0,
            };
            family == insn.lo
                && by_dir(
                    insn,
                    words_match(&pkt.saddr, insn),
                    words_match(&pkt.daddr, insn),
                )
        }
        filter_op::PORT => {
            let has_ports = pkt.l3_proto != 0
                && matches!(pkt.l4_proto, IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP);
            let (s, d) = (pkt.sport as u32, pkt.dport as u32);
            has_ports
                && by_dir(
                    insn,
                    s >= insn.lo && s <= insn.hi,
                    d >= insn.lo && d <= insn.hi,
                )
        }
        filter_op::IFNAME => words_match(&ev.ifname, insn),
        filter_op::NETNS => ev.netns == insn.lo,
        filter_op::PID => ev.pid == insn.lo,
        filter_op::IFINDEX => ev.ifindex == insn.lo,
        filter_op::TCP_FLAGS => {
            pkt.l3_proto != 0 && pkt.l4_proto == IPPROTO_TCP && pkt.tcp_flags as u32 & insn.lo != 0
        }
        _ => false,
    }
}

/// Runs the postfix program over a bit stack (bit 0 = top of stack).
///
/// The stack lives in per-CPU map memory, not in a register: the verifier
/// tracks a register's exact value, so every combination of predicate
/// outcomes would be a distinct state and a 20-instruction filter would blow
/// its budget; a value read back from a map is just "some u32", and the
/// paths merge again after each instruction.
#[inline(always)]
pub fn matches(ev: &RawEvent) -> bool {
    let len = config_word(|c| &c.filter_len) as usize;
    if len == 0 {
        return true;
    }
    let Some(slot) = FILTER_STACK.get_ptr_mut(0) else {
        return false;
    };
    // SAFETY: this CPU's slot of a per-CPU map.
    unsafe { core::ptr::write_volatile(slot, 0) };
    let mut i = 0;
    while i < FILTER_MAX_INSNS {
        if i >= len {
            break;
        }
        let insn = insn(i);
        // SAFETY: as above.
        let stack = unsafe { core::ptr::read_volatile(slot) };
        let next = match insn.op {
            filter_op::AND => {
                let v = stack & (stack >> 1) & 1;
                ((stack >> 2) << 1) | v
            }
            filter_op::OR => {
                let v = (stack | (stack >> 1)) & 1;
                ((stack >> 2) << 1) | v
            }
            filter_op::NOT => stack ^ 1,
            _ => (stack << 1) | predicate(&insn, ev) as u32,
        };
        // SAFETY: as above.
        unsafe { core::ptr::write_volatile(slot, next) };
        i += 1;
    }
    // SAFETY: as above.
    unsafe { core::ptr::read_volatile(slot) & 1 != 0 }
}
