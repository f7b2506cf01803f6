//! Questions about the running kernel: BTF types and offsets, the symbol table
//! (`/proc/kallsyms`) and ELF/DWARF debug information. See `API.md`.

pub mod btf;
pub mod dwarf;
pub mod kallsyms;

pub use btf::{Error as BtfError, KernelBtf, Param};
pub use dwarf::DebugInfo;
pub use kallsyms::Kallsyms;
