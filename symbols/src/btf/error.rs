//! Everything that can go wrong reading or querying BTF.
//!
//! Messages are one line and carry their context (which file, struct, member or
//! probe), so callers can print them as they are.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read BTF from {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },

    #[error("invalid BTF in {origin}: {error}")]
    Parse {
        origin: String,
        error: btf_rs::Error,
    },

    /// The BTF parsed but references something that does not exist, or loops.
    #[error("malformed BTF: {0}")]
    Corrupt(String),

    #[error("no {kind} named `{name}` in BTF")]
    TypeNotFound { kind: &'static str, name: String },

    #[error("`{owner}` has no member `{member}` (looking up `{owner}.{path}`)")]
    MemberNotFound {
        owner: String,
        path: String,
        member: String,
    },

    #[error("cannot look up `{owner}.{path}`: `{member}` is not a struct or union")]
    NotComposite {
        owner: String,
        path: String,
        member: String,
    },

    #[error(
        "`{owner}.{path}` is a bitfield (bit offset {bit_offset}{}), not byte-addressable",
        bits.map(|bits| format!(", width {bits}")).unwrap_or_default()
    )]
    Bitfield {
        owner: String,
        path: String,
        bit_offset: u64,
        /// Width when BTF records it (structs with the kind flag set).
        bits: Option<u32>,
    },

    #[error("invalid member path `{path}` for `{owner}`: expected names separated by `.`")]
    BadPath { owner: String, path: String },

    #[error("`{owner}.{path}` has no size: it is void, a function or an incomplete type")]
    Unsized { owner: String, path: String },

    #[error("no tracepoint `{0}`: BTF has no typedef `btf_trace_{0}`")]
    TracepointNotFound(String),

    #[error("no kernel function `{0}` in BTF")]
    FunctionNotFound(String),

    #[error("`{0}` is not a module name (as listed in /sys/kernel/btf)")]
    BadModuleName(String),
}
