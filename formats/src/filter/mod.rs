//! The filter language: pcap-filter-style expressions compiled to the postfix
//! program that the BPF side runs per event (see [`crate::abi::filter_op`]).
//!
//! ```text
//! expr      := and_expr { ("or" | "||") and_expr }
//! and_expr  := unary { ("and" | "&&") unary }
//! unary     := ("not" | "!") unary | "(" expr ")" | primitive
//! primitive := tcp | udp | sctp  [ [src|dst] (port N | portrange N-M) ]
//!            | icmp | icmp6 | ip [proto P] | ip6 [proto P] | proto P | arp
//!            | [src|dst] host ADDR | [src|dst] net ADDR/LEN | [src|dst] net ADDR mask MASK
//!            | [src|dst] port N | [src|dst] portrange N-M
//!            | ifname NAME | dev NAME | netns N | pid N | ifindex N
//!            | tcp-fin | tcp-syn | tcp-rst | tcp-push | tcp-ack | tcp-urg | tcp-ece | tcp-cwr
//!            | tcpflags LETTERS          (any of F S R P A U E C, e.g. `SA` or `S|A`)
//! ```
//!
//! `host` and `net` with an IPv4 address also match ARP packets by their
//! sender (`src`) and target (`dst`) address, as in tcpdump; ports and TCP
//! flags never match a packet that is not IP.
//!
//! `not` binds tighter than `and`, which binds tighter than `or`; both binary
//! operators are left-associative. `P` is a number 0–255 or one of `tcp`, `udp`,
//! `icmp`, `icmp6`, `sctp`. An empty expression accepts every event.
//!
//! Without `std` only the evaluator is built: the BPF programs run it.

#[cfg(feature = "std")]
mod ast;
#[cfg(feature = "std")]
mod error;
mod eval;
#[cfg(feature = "std")]
mod lexer;
#[cfg(feature = "std")]
mod parser;
#[cfg(feature = "std")]
mod predicate;
#[cfg(feature = "std")]
mod prefix;
#[cfg(feature = "std")]
mod primitive;
#[cfg(feature = "std")]
mod program;
#[cfg(test)]
mod tests;

#[cfg(feature = "std")]
pub use error::{FilterError, Problem};
pub use eval::{BitStack, FilterProgram, matches, run};
#[cfg(feature = "std")]
pub use program::{and_all, into_config};

#[cfg(feature = "std")]
use crate::abi::FilterInsn;

/// Compiles a filter expression into a postfix program of at most
/// [`FILTER_MAX_INSNS`](crate::abi::FILTER_MAX_INSNS) instructions; the empty
/// expression gives the empty program, which accepts everything.
#[cfg(feature = "std")]
pub fn compile(expr: &str) -> Result<Vec<FilterInsn>, FilterError> {
    Ok(parser::parse(expr)?
        .map(|tree| tree.to_postfix())
        .unwrap_or_default())
}
