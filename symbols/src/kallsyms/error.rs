//! What can go wrong reading `/proc/kallsyms`.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read kernel symbols from {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },

    /// Every address reads as zero: `kptr_restrict` hides them from this user.
    #[error("kallsyms addresses are hidden (kptr_restrict; run as root)")]
    Hidden,

    #[error("malformed kallsyms line {line} ({reason}): `{text}`")]
    Malformed {
        /// 1-based line number.
        line: usize,
        text: String,
        reason: &'static str,
    },

    #[error("kallsyms lists no symbols")]
    Empty,

    /// Past what the compact index can address (4 GiB of names, 65535 modules).
    #[error("kallsyms too large to index: {0}")]
    TooLarge(&'static str),
}
