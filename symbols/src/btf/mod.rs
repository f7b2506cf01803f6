//! The kernel's BTF: struct layouts, enums and the argument lists of
//! tracepoints and functions, as pkttrace needs them to place its probes.
//!
//! Parsing is left to `btf-rs`, whose cached backend indexes every type by name
//! once at load; the queries here only walk the few types they name.

mod c_type;
mod enums;
mod error;
mod functions;
mod layout;
mod lookup;
mod offsets;
mod params;
mod prototype;
mod returns;
mod split;
#[cfg(test)]
mod tests;

use std::{fs, path::Path};

pub use error::Error;
pub use params::Param;
pub use split::SYS_BTF_DIR;

/// Where the running kernel exposes its own BTF.
pub const VMLINUX_BTF_PATH: &str = "/sys/kernel/btf/vmlinux";

/// Parsed and indexed BTF of a kernel image, or of a module over its kernel's.
pub struct KernelBtf {
    btf: btf_rs::Btf,
}

impl KernelBtf {
    /// The running kernel's BTF, from [`VMLINUX_BTF_PATH`].
    pub fn from_sys() -> Result<Self, Error> {
        Self::from_file(VMLINUX_BTF_PATH)
    }

    /// BTF from a raw `.BTF` blob on disk (what `/sys/kernel/btf/vmlinux` holds).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        // Read whole, then parse like `from_bytes`: one parse path, and read
        // errors stay apart from format errors.
        let bytes = fs::read(path).map_err(|error| Error::Read {
            path: path.to_owned(),
            error,
        })?;
        Self::parse(&bytes, &path.display().to_string())
    }

    /// BTF from a raw `.BTF` blob in memory.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        Self::parse(bytes, "in-memory data")
    }

    fn parse(bytes: &[u8], origin: &str) -> Result<Self, Error> {
        let btf = btf_rs::Btf::from_bytes(bytes).map_err(|error| Error::Parse {
            origin: origin.to_owned(),
            error,
        })?;
        Ok(KernelBtf { btf })
    }
}
