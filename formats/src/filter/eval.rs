//! The filter's semantics, written once for both sides: the BPF programs
//! (`tracer-ebpf/src/filter.rs`) and userspace ([`matches`]) run this same
//! code, so the kernel's verdict and the reference's cannot drift apart.
//!
//! `no_std` and written the way the BPF verifier accepts it: every loop is a
//! `while` bounded by a small constant, every function inlines, indices are
//! masked or bounded so no panicking path is left, and no iterator chains.
//! What differs between the sides is behind two small traits: where the
//! instructions come from ([`FilterProgram`]: a slice here, the read-only
//! `CONFIG` global in BPF) and where the boolean stack lives ([`BitStack`]: a
//! `u32` here, per-CPU map memory in BPF — see that file for why).

use crate::abi::{
    ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, FILTER_MAX_INSNS, FilterInsn, IPPROTO_SCTP, IPPROTO_TCP,
    IPPROTO_UDP, RawEvent, filter_dir, filter_op,
};

/// A compiled filter as the evaluator fetches it.
pub trait FilterProgram {
    /// Number of instructions; only the first [`FILTER_MAX_INSNS`] run.
    fn insn_count(&self) -> usize;
    /// Instruction `i`, asked only for `i < insn_count()` and `i < FILTER_MAX_INSNS`.
    fn insn(&self, i: usize) -> FilterInsn;
}

/// The boolean stack: the bits of a `u32`, top in bit 0.
pub trait BitStack {
    fn load(&self) -> u32;
    fn store(&mut self, bits: u32);
}

impl FilterProgram for [FilterInsn] {
    #[inline(always)]
    fn insn_count(&self) -> usize {
        self.len()
    }

    #[inline(always)]
    fn insn(&self, i: usize) -> FilterInsn {
        self[i]
    }
}

impl BitStack for u32 {
    #[inline(always)]
    fn load(&self) -> u32 {
        *self
    }

    #[inline(always)]
    fn store(&mut self, bits: u32) {
        *self = bits;
    }
}

/// Runs `insns` on `ev` (the userspace entry point of [`run`]).
pub fn matches(insns: &[FilterInsn], ev: &RawEvent) -> bool {
    run(insns, &mut 0u32, ev)
}

/// Runs `program` on `ev` with `stack` as the boolean stack. Predicates shift
/// in their result, `AND`/`OR` combine bits 0 and 1 into one, `NOT` flips bit
/// 0. The result is bit 0 at the end; an empty program accepts everything.
/// Unknown opcodes push false.
#[inline(always)]
pub fn run<P, S>(program: &P, stack: &mut S, ev: &RawEvent) -> bool
where
    P: FilterProgram + ?Sized,
    S: BitStack,
{
    let len = program.insn_count();
    if len == 0 {
        return true;
    }
    stack.store(0);
    let mut i = 0;
    while i < FILTER_MAX_INSNS {
        if i >= len {
            break;
        }
        let insn = program.insn(i);
        let bits = stack.load();
        stack.store(step(&insn, bits, ev));
        i += 1;
    }
    stack.load() & 1 != 0
}

/// The stack after `insn`.
#[inline(always)]
fn step(insn: &FilterInsn, bits: u32, ev: &RawEvent) -> u32 {
    // Binary operators pop bits 0 and 1 and push their combination; the
    // bits below move up by one.
    let below = (bits >> 2) << 1;
    match insn.op {
        filter_op::AND => below | (bits & (bits >> 1) & 1),
        filter_op::OR => below | ((bits | (bits >> 1)) & 1),
        filter_op::NOT => bits ^ 1,
        _ => (bits << 1) | holds(insn, ev) as u32,
    }
}

/// Whether the predicate `insn` holds for `ev`.
///
/// Ports and TCP flags need a parsed IP header (or a socket's addresses):
/// without one `l4_proto` and the port fields mean nothing. An IPv4 address
/// also matches an ARP packet's sender (`src`) or target (`dst`) address, as
/// tcpdump's `host` does: they sit where an IP packet's do, and the MAC
/// addresses after them are outside an IPv4 mask.
#[inline(always)]
fn holds(insn: &FilterInsn, ev: &RawEvent) -> bool {
    let pkt = &ev.pkt;
    match insn.op {
        filter_op::TRUE => true,
        filter_op::L4_PROTO => pkt.l4_proto as u32 == insn.lo,
        filter_op::L3_PROTO => pkt.l3_proto as u32 == insn.lo,
        filter_op::ADDR => {
            let family = match insn.lo {
                4 => ETH_P_IP,
                6 => ETH_P_IPV6,
                _ => return false,
            };
            (pkt.l3_proto == family || (family == ETH_P_IP && pkt.l3_proto == ETH_P_ARP))
                && by_dir(
                    insn.dir,
                    masked_equal(insn, &pkt.saddr),
                    masked_equal(insn, &pkt.daddr),
                )
        }
        filter_op::PORT => {
            let has_ports = is_ip(pkt.l3_proto)
                && matches!(pkt.l4_proto, IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP);
            let (s, d) = (pkt.sport as u32, pkt.dport as u32);
            has_ports
                && by_dir(
                    insn.dir,
                    s >= insn.lo && s <= insn.hi,
                    d >= insn.lo && d <= insn.hi,
                )
        }
        filter_op::IFNAME => masked_equal(insn, &ev.ifname),
        filter_op::NETNS => ev.netns == insn.lo,
        filter_op::PID => ev.pid == insn.lo,
        filter_op::IFINDEX => ev.ifindex == insn.lo,
        filter_op::TCP_FLAGS => {
            is_ip(pkt.l3_proto)
                && pkt.l4_proto == IPPROTO_TCP
                && pkt.tcp_flags as u32 & insn.lo != 0
        }
        _ => false,
    }
}

/// Whether `l3_proto` says IPv4 or IPv6: headers (or a socket's addresses)
/// whose transport fields mean something. ARP and other ethertypes have none.
#[inline(always)]
fn is_ip(l3_proto: u16) -> bool {
    l3_proto == ETH_P_IP || l3_proto == ETH_P_IPV6
}

/// `src`/`dst` pick one side; anything else means either.
#[inline(always)]
fn by_dir(dir: u8, src: bool, dst: bool) -> bool {
    match dir {
        filter_dir::SRC => src,
        filter_dir::DST => dst,
        _ => src || dst,
    }
}

/// `bytes` under the instruction's mask equal its words.
#[inline(always)]
fn masked_equal(insn: &FilterInsn, bytes: &[u8; 16]) -> bool {
    let mut i = 0;
    while i < 4 {
        if ne_word(bytes, i) & insn.mask[i] != insn.words[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Word `i` (0–3) of `bytes` read in native byte order: how addresses and
/// interface names are compared, and how the compiler encodes them.
#[inline(always)]
pub(crate) fn ne_word(bytes: &[u8; 16], i: usize) -> u32 {
    // Masked so the indices are provably in bounds (no panic path in BPF).
    let at = (i & 3) * 4;
    u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    const T: FilterInsn = FilterInsn::new(filter_op::TRUE);
    /// `pid 1` is false on a zeroed event.
    const F: FilterInsn = FilterInsn {
        lo: 1,
        ..FilterInsn::new(filter_op::PID)
    };
    const AND: FilterInsn = FilterInsn::new(filter_op::AND);
    const OR: FilterInsn = FilterInsn::new(filter_op::OR);
    const NOT: FilterInsn = FilterInsn::new(filter_op::NOT);

    fn run(insns: &[FilterInsn]) -> bool {
        matches(insns, &RawEvent::zeroed())
    }

    #[test]
    fn empty_program_accepts() {
        assert!(run(&[]));
    }

    #[test]
    fn truth_tables() {
        for (a, b) in [(T, T), (T, F), (F, T), (F, F)] {
            let (x, y) = (run(&[a]), run(&[b]));
            assert_eq!(run(&[a, b, AND]), x && y);
            assert_eq!(run(&[a, b, OR]), x || y);
            assert_eq!(run(&[a, NOT]), !x);
        }
    }

    #[test]
    fn operators_leave_lower_stack_bits_alone() {
        // F T T AND -> F T; then OR -> T. A bug that clobbered bit 1 would differ.
        assert!(run(&[F, T, T, AND, OR]));
        // T F F OR -> T F; AND -> F.
        assert!(!run(&[T, F, F, OR, AND]));
        // T F NOT -> T T; AND -> T.
        assert!(run(&[T, F, NOT, AND]));
        // The lower T must survive the first operator for the second to see it.
        assert!(run(&[T, T, T, AND, AND]));
        assert!(run(&[T, F, T, OR, AND]));
        // Sixteen deep: T then fifteen Fs, ORed down.
        let mut deep = vec![T];
        deep.extend([F; 15]);
        deep.extend([OR; 15]);
        assert!(run(&deep));
        deep.push(NOT);
        assert!(!run(&deep));
    }

    #[test]
    fn unknown_opcode_pushes_false() {
        assert!(!run(&[FilterInsn::new(200)]));
        assert!(run(&[FilterInsn::new(200), NOT]));
    }

    /// Only the first [`FILTER_MAX_INSNS`] instructions run, as in the kernel
    /// (the compiler never emits more).
    #[test]
    fn runs_at_most_the_kernels_instruction_count() {
        let mut long = vec![T; FILTER_MAX_INSNS];
        long.extend([NOT, NOT]);
        long.truncate(FILTER_MAX_INSNS + 1);
        assert!(run(&long));
    }

    #[test]
    fn words_are_native_endian_quarters() {
        let bytes: [u8; 16] = core::array::from_fn(|i| i as u8);
        assert_eq!(ne_word(&bytes, 1), u32::from_ne_bytes([4, 5, 6, 7]));
        assert_eq!(ne_word(&bytes, 3), u32::from_ne_bytes([12, 13, 14, 15]));
    }
}
