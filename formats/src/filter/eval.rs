//! The reference evaluator: the semantics the BPF side implements, instruction
//! for instruction, for tests and for filtering in userspace.

use super::predicate::ne_words;
use crate::abi::{
    ETH_P_IP, ETH_P_IPV6, FilterInsn, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, RawEvent, filter_dir,
    filter_op,
};

/// Runs `insns` on `ev`. The stack is the bits of a `u32` with the top in bit
/// 0: predicates shift in their result, `AND`/`OR` combine bits 0 and 1 into
/// one, `NOT` flips bit 0. The result is bit 0 at the end; an empty program
/// accepts everything. Unknown opcodes push false.
pub fn matches(insns: &[FilterInsn], ev: &RawEvent) -> bool {
    if insns.is_empty() {
        return true;
    }
    let mut stack = 0u32;
    for insn in insns {
        let top = stack & 1;
        stack = match insn.op {
            // Drop the top; the new top (old bit 1) combines with it.
            filter_op::AND => (stack >> 1) & (!1 | top),
            filter_op::OR => (stack >> 1) | top,
            filter_op::NOT => stack ^ 1,
            _ => (stack << 1) | u32::from(holds(insn, ev)),
        };
    }
    stack & 1 != 0
}

/// Whether the predicate `insn` holds for `ev`.
fn holds(insn: &FilterInsn, ev: &RawEvent) -> bool {
    let pkt = &ev.pkt;
    match insn.op {
        filter_op::TRUE => true,
        filter_op::L4_PROTO => u32::from(pkt.l4_proto) == insn.lo,
        filter_op::L3_PROTO => u32::from(pkt.l3_proto) == insn.lo,
        filter_op::ADDR => {
            let family = match insn.lo {
                4 => ETH_P_IP,
                6 => ETH_P_IPV6,
                _ => return false,
            };
            pkt.l3_proto == family
                && by_dir(
                    insn.dir,
                    masked_equal(insn, &pkt.saddr),
                    masked_equal(insn, &pkt.daddr),
                )
        }
        filter_op::PORT => {
            let in_range = |port: u16| (insn.lo..=insn.hi).contains(&u32::from(port));
            matches!(pkt.l4_proto, IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP)
                && by_dir(insn.dir, in_range(pkt.sport), in_range(pkt.dport))
        }
        filter_op::IFNAME => masked_equal(insn, &ev.ifname),
        filter_op::NETNS => ev.netns == insn.lo,
        filter_op::PID => ev.pid == insn.lo,
        filter_op::IFINDEX => ev.ifindex == insn.lo,
        filter_op::TCP_FLAGS => {
            pkt.l4_proto == IPPROTO_TCP && u32::from(pkt.tcp_flags) & insn.lo != 0
        }
        _ => false,
    }
}

/// `src`/`dst` pick one side; anything else means either.
fn by_dir(dir: u8, src: bool, dst: bool) -> bool {
    match dir {
        filter_dir::SRC => src,
        filter_dir::DST => dst,
        _ => src || dst,
    }
}

fn masked_equal(insn: &FilterInsn, bytes: &[u8; 16]) -> bool {
    let words = ne_words(bytes);
    (0..4).all(|i| words[i] & insn.mask[i] == insn.words[i])
}

#[cfg(test)]
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
}
