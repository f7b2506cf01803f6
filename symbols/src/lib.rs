//! Questions about the running kernel: BTF types and offsets (more to come).

pub mod btf;

pub use btf::{Error as BtfError, KernelBtf, Param};
