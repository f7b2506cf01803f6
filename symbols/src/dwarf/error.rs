//! What can go wrong reading ELF files and their DWARF.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },

    /// Not an object file at all, or one cut short.
    #[error("{origin} is not a readable ELF file: {error}")]
    Elf {
        origin: String,
        error: object::Error,
    },

    #[error("{origin} is a {format} object, not ELF")]
    NotElf { origin: String, format: String },

    /// A debug section that cannot be decompressed or relocated.
    #[error("cannot load section {section} of {origin}: {error}")]
    Section {
        origin: String,
        section: &'static str,
        error: object::Error,
    },

    #[error(
        "no debug info in {origin}: install the distribution's debug kernel \
         (Debian: linux-image-$(uname -r)-dbg, vmlinux under /usr/lib/debug/boot/) \
         or build with CONFIG_DEBUG_INFO"
    )]
    NoDebugInfo { origin: String },

    /// The DWARF itself is malformed (truncated units, bad references, ...).
    #[error("malformed DWARF in {origin}: {error}")]
    Dwarf { origin: String, error: gimli::Error },
}
