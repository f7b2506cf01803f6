//! Module BTF: `/sys/kernel/btf/<module>` holds only the module's own types,
//! numbered after vmlinux's and referring to them ("split BTF"), so it is read
//! on top of the kernel's.

use std::{fs, path::Path};

use super::{Error, KernelBtf, VMLINUX_BTF_PATH};

/// Where the kernel exposes vmlinux's and each loaded module's BTF.
pub const SYS_BTF_DIR: &str = "/sys/kernel/btf";

impl KernelBtf {
    /// The BTF of loaded module `module` (e.g. `sch_tdma`) over the running
    /// kernel's, so the module's functions and their vmlinux argument types
    /// both resolve.
    pub fn from_sys_module(module: &str) -> Result<KernelBtf, Error> {
        // A path component only: `../x` or `vmlinux` would read something else.
        if module.is_empty() || module.contains('/') || module == "vmlinux" || module == ".." {
            return Err(Error::BadModuleName(module.to_owned()));
        }
        let base = Self::from_file(VMLINUX_BTF_PATH)?;
        Self::from_split_file(Path::new(SYS_BTF_DIR).join(module), &base)
    }

    /// Split BTF on disk (a module's) over `base` (the kernel's).
    pub fn from_split_file(path: impl AsRef<Path>, base: &KernelBtf) -> Result<KernelBtf, Error> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(|error| Error::Read {
            path: path.to_owned(),
            error,
        })?;
        Self::parse_split(&bytes, base, &path.display().to_string())
    }

    /// Split BTF in memory over `base`.
    pub fn from_split_bytes(bytes: &[u8], base: &KernelBtf) -> Result<KernelBtf, Error> {
        Self::parse_split(bytes, base, "in-memory split data")
    }

    fn parse_split(bytes: &[u8], base: &KernelBtf, origin: &str) -> Result<KernelBtf, Error> {
        let btf =
            btf_rs::Btf::from_split_bytes(bytes, &base.btf).map_err(|error| Error::Parse {
                origin: origin.to_owned(),
                error,
            })?;
        Ok(KernelBtf { btf })
    }
}
