//! pkttrace's byte layouts and printers.
//!
//! * [`abi`]: the `no_std` kernel↔userspace event ABI, shared with the BPF programs.
//! * With `std`: decoded events, record files and the text/JSON sinks.
#![cfg_attr(not(feature = "std"), no_std)]

pub mod abi;
