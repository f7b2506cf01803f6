//! pkttrace's byte layouts and printers.
//!
//! * [`abi`]: the `no_std` kernel↔userspace event ABI, shared with the BPF programs.
//! * [`filter`]: the filter language; its evaluator is `no_std` and runs in BPF too.
//! * With `std`: decoded events, record files and the text/JSON sinks; [`l2`]
//!   describes packets that are not IP (ARP, other ethertypes).
#![cfg_attr(not(feature = "std"), no_std)]

pub mod abi;
#[cfg(feature = "std")]
mod describe;
pub mod filter;
#[cfg(feature = "std")]
pub mod json;
#[cfg(feature = "std")]
pub mod l2;
#[cfg(feature = "std")]
pub mod meta;
#[cfg(feature = "std")]
pub mod record;
#[cfg(feature = "std")]
pub mod ret;
#[cfg(feature = "std")]
pub mod sink;
#[cfg(feature = "std")]
pub mod stack;
#[cfg(feature = "std")]
pub mod stitch;
#[cfg(feature = "std")]
pub mod tdma;
#[cfg(feature = "std")]
pub mod text;
#[cfg(feature = "std")]
pub mod time;
#[cfg(feature = "std")]
pub mod trees;
