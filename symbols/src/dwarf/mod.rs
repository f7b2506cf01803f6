//! Source locations from an ELF file's DWARF: where a function is declared,
//! which file:line (and chain of inlined functions) an address is in, and
//! where a function was inlined. Parsing is gimli's, address lookups
//! addr2line's, ELF and compressed sections object's.
//!
//! Addresses are the file's own: for vmlinux, link-time addresses (subtract
//! the KASLR offset from run-time ones first); for a relocatable `.ko`, the
//! offset into the function's own section, so `.text` and `.init.text`
//! functions can share an address: address lookups on a `.ko` are best effort,
//! name lookups are exact.

mod addresses;
mod error;
mod load;
mod names;

use std::{
    fs,
    path::{Path, PathBuf},
    sync::Arc,
};

pub use error::Error;
use load::Reader;

/// Where something is in the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// Path as DWARF records it: absolute, or joined to the compilation
    /// directory when DWARF gives one.
    pub file: String,
    pub line: u32,
}

/// One function of the (inline) call chain at an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
}

/// A place where a function was inlined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InlineSite {
    /// The function whose source holds the call: the enclosing subprogram, or
    /// the inlined function around it when inlines nest.
    pub caller: String,
    /// The out-of-line function whose machine code holds the inlined copy.
    pub subprogram: String,
    /// `DW_AT_call_file` / `DW_AT_call_line`: the call in `caller`'s source.
    pub file: String,
    pub line: u32,
}

/// An ELF file's debug information, sections loaded in memory.
pub struct DebugInfo {
    origin: String,
    dwarf: Arc<gimli::Dwarf<Reader>>,
    /// addr2line's index; `None` without DWARF.
    context: Option<addr2line::Context<Reader>>,
    relocatable: bool,
}

impl DebugInfo {
    /// Opens an ELF file (vmlinux, a `.ko`, any executable or object).
    /// Succeeds without DWARF too: then queries say how to get it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(|error| Error::Read {
            path: path.to_owned(),
            error,
        })?;
        Self::parse(&bytes, path.display().to_string())
    }

    /// An ELF file in memory.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        Self::parse(bytes, "in-memory ELF".to_owned())
    }

    fn parse(bytes: &[u8], origin: String) -> Result<Self, Error> {
        let loaded = load::load(bytes, &origin)?;
        let dwarf = Arc::new(loaded.dwarf);
        let context = if loaded.has_debug_info {
            let context =
                addr2line::Context::from_arc_dwarf(Arc::clone(&dwarf)).map_err(|error| {
                    Error::Dwarf {
                        origin: origin.clone(),
                        error,
                    }
                })?;
            Some(context)
        } else {
            None
        };
        Ok(DebugInfo {
            origin,
            dwarf,
            context,
            relocatable: loaded.relocatable,
        })
    }

    /// The running kernel's vmlinux with debug info, where distributions and
    /// kernel builds put it; `None` when none is installed.
    pub fn find_vmlinux() -> Option<PathBuf> {
        let release = fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
        vmlinux_candidates(release.trim())
            .into_iter()
            .find(|path| path.is_file())
    }

    pub fn has_debug_info(&self) -> bool {
        self.context.is_some()
    }

    /// An ET_REL object (a `.ko`): addresses are section offsets.
    pub fn is_relocatable(&self) -> bool {
        self.relocatable
    }

    fn require_debug_info(&self) -> Result<&addr2line::Context<Reader>, Error> {
        self.context.as_ref().ok_or_else(|| Error::NoDebugInfo {
            origin: self.origin.clone(),
        })
    }

    fn malformed(&self, error: gimli::Error) -> Error {
        Error::Dwarf {
            origin: self.origin.clone(),
            error,
        }
    }
}

/// Where vmlinux with DWARF lives for kernel `release`, most likely first.
fn vmlinux_candidates(release: &str) -> Vec<PathBuf> {
    [
        format!("/usr/lib/debug/boot/vmlinux-{release}"),
        format!("/usr/lib/debug/lib/modules/{release}/vmlinux"),
        format!("/boot/vmlinux-{release}"),
        format!("/lib/modules/{release}/build/vmlinux"),
    ]
    .into_iter()
    .map(PathBuf::from)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmlinux_is_looked_for_in_debug_packages_first() {
        let candidates = vmlinux_candidates("6.1.0-56-amd64");
        assert_eq!(
            candidates[0],
            Path::new("/usr/lib/debug/boot/vmlinux-6.1.0-56-amd64")
        );
        assert!(candidates.iter().all(|path| path.ends_with("vmlinux")
            || path.to_string_lossy().ends_with("vmlinux-6.1.0-56-amd64")));
        // Absent on most hosts; present, it must be a file.
        if let Some(path) = DebugInfo::find_vmlinux() {
            assert!(path.is_file());
        }
    }
}
