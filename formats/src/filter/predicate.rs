//! Encodings of single predicates as [`FilterInsn`]s, as the BPF side reads them.

use super::eval::ne_word;
use super::prefix::Prefix;
use crate::abi::{FilterInsn, IFNAMSIZ, filter_op};

/// Bytes as the evaluator reads them (see [`ne_word`]).
fn ne_words(bytes: &[u8; 16]) -> [u32; 4] {
    core::array::from_fn(|i| ne_word(bytes, i))
}

fn with_lo(op: u8, lo: u32) -> FilterInsn {
    FilterInsn {
        lo,
        ..FilterInsn::new(op)
    }
}

pub(crate) fn l4_proto(proto: u8) -> FilterInsn {
    with_lo(filter_op::L4_PROTO, proto.into())
}

pub(crate) fn l3_proto(ethertype: u16) -> FilterInsn {
    with_lo(filter_op::L3_PROTO, ethertype.into())
}

/// `prefix` must have no host bits set, or the predicate never matches.
pub(crate) fn address(dir: u8, prefix: &Prefix) -> FilterInsn {
    FilterInsn {
        dir,
        lo: prefix.version,
        words: ne_words(&prefix.addr),
        mask: ne_words(&prefix.mask),
        ..FilterInsn::new(filter_op::ADDR)
    }
}

/// Ports `lo..=hi`.
pub(crate) fn ports(dir: u8, lo: u16, hi: u16) -> FilterInsn {
    FilterInsn {
        dir,
        lo: lo.into(),
        hi: hi.into(),
        ..FilterInsn::new(filter_op::PORT)
    }
}

/// `name` must be shorter than [`IFNAMSIZ`] so a NUL ends it.
pub(crate) fn ifname(name: &str) -> FilterInsn {
    let mut bytes = [0; IFNAMSIZ];
    bytes[..name.len()].copy_from_slice(name.as_bytes());
    FilterInsn {
        words: ne_words(&bytes),
        mask: [u32::MAX; 4],
        ..FilterInsn::new(filter_op::IFNAME)
    }
}

pub(crate) fn netns(inode: u32) -> FilterInsn {
    with_lo(filter_op::NETNS, inode)
}

pub(crate) fn pid(pid: u32) -> FilterInsn {
    with_lo(filter_op::PID, pid)
}

pub(crate) fn ifindex(ifindex: u32) -> FilterInsn {
    with_lo(filter_op::IFINDEX, ifindex)
}

/// Any of the [`tcp_flag`](crate::abi::tcp_flag) bits in `mask`.
pub(crate) fn tcp_flags(mask: u8) -> FilterInsn {
    with_lo(filter_op::TCP_FLAGS, mask.into())
}
