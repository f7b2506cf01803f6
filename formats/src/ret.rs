//! Return values of probed functions, read as their BTF type says.
//!
//! An exit event carries the return register (`rax` on x86-64) as a `u64`.
//! What it means depends on the function's declared return type, recorded in
//! the probe table ([`crate::meta::ProbeDesc::ret`]): nothing for `void`, an
//! address for a pointer, the low byte for `bool`, the low 4 bytes
//! (sign-extended when signed) for an `int` — the upper half of `rax` is
//! whatever was there before. Every printer goes through [`RetType::decode`]
//! and [`RetValue::text`], so they all show the same thing.

use std::fmt::{self, Write as _};

use serde::{Deserialize, Serialize, Serializer};

/// Largest errno a kernel function returns as a negative value (`MAX_ERRNO`).
pub const MAX_ERRNO: i64 = 4095;

/// A probed function's return type, reduced to what printing needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RetType {
    /// Not recorded (records made before return types were): printed as a
    /// signed register, in hex below `-MAX_ERRNO` where it is an address.
    #[default]
    Unknown,
    Void,
    Pointer,
    /// `_Bool`.
    Bool,
    /// An integer of `size` bytes.
    Int {
        size: u8,
        signed: bool,
    },
    /// An enum of `size` bytes; printed as its number.
    Enum {
        size: u8,
        signed: bool,
    },
    /// Anything else (a struct or float returned by value): the raw register.
    Other,
}

impl RetType {
    pub fn is_unknown(&self) -> bool {
        *self == RetType::Unknown
    }

    /// The value a function of this type returned in `raw`; `None` for `void`.
    pub fn decode(self, raw: u64) -> Option<RetValue> {
        Some(match self {
            RetType::Void => return None,
            RetType::Pointer if raw == 0 => RetValue::Null,
            RetType::Pointer => RetValue::Pointer(raw),
            // The ABI defines only the low byte of a returned `_Bool`.
            RetType::Bool => RetValue::Bool(raw & 0xff != 0),
            RetType::Int { size, signed } | RetType::Enum { size, signed } => {
                let bits = 8 * u32::from(size.clamp(1, 8));
                let shift = 64 - bits;
                let enumeration = matches!(self, RetType::Enum { .. });
                match (signed, enumeration) {
                    (true, false) => RetValue::Int(((raw << shift) as i64) >> shift),
                    (true, true) => RetValue::Enum(((raw << shift) as i64) >> shift),
                    (false, _) => RetValue::Unsigned((raw << shift) >> shift),
                }
            }
            RetType::Other => RetValue::Raw(raw),
            RetType::Unknown => RetValue::Legacy(raw as i64),
        })
    }
}

/// A decoded return value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetValue {
    /// A signed integer; -1…-[`MAX_ERRNO`] print as errno names where known.
    Int(i64),
    /// A signed enum.
    Enum(i64),
    /// An unsigned integer or enum.
    Unsigned(u64),
    Pointer(u64),
    Null,
    Bool(bool),
    /// A register whose type is not an integer or pointer.
    Raw(u64),
    /// A register of unrecorded type ([`RetType::Unknown`]).
    Legacy(i64),
}

impl RetValue {
    /// As the text printers show it: `-EINVAL`, `NULL`, `0xffff…`, `true`, `42`.
    pub fn text(&self) -> RetText {
        let mut text = RetText::default();
        let _ = match *self {
            RetValue::Int(n) => match errno_name(n) {
                Some(name) => write!(text, "-{name}"),
                None => write!(text, "{n}"),
            },
            RetValue::Enum(n) => write!(text, "{n}"),
            RetValue::Unsigned(n) => write!(text, "{n}"),
            RetValue::Pointer(p) | RetValue::Raw(p) => write!(text, "{p:#x}"),
            RetValue::Legacy(n) if n < -MAX_ERRNO => write!(text, "{:#x}", n as u64),
            RetValue::Legacy(n) => write!(text, "{n}"),
            RetValue::Null => text.write_str("NULL"),
            RetValue::Bool(b) => text.write_str(if b { "true" } else { "false" }),
        };
        text
    }

    /// What JSON adds beside the number: the errno, pointer or truth value
    /// as text. `None` where the number says it all.
    pub fn name(&self) -> Option<RetText> {
        match self {
            RetValue::Int(n) if errno_name(*n).is_none() => None,
            RetValue::Enum(_) | RetValue::Unsigned(_) | RetValue::Legacy(_) => None,
            _ => Some(self.text()),
        }
    }

    /// A failure worth highlighting: a negative `int` (or, untyped, a
    /// negative value in the errno range).
    pub fn is_error(&self) -> bool {
        match *self {
            RetValue::Int(n) => n < 0,
            RetValue::Legacy(n) => (-MAX_ERRNO..0).contains(&n),
            _ => false,
        }
    }
}

impl fmt::Display for RetValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

/// JSON's `ret`: the number, sign-extended where the type is signed;
/// pointers and raw registers unsigned; `bool` as 0 or 1.
impl Serialize for RetValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            RetValue::Int(n) | RetValue::Enum(n) | RetValue::Legacy(n) => {
                serializer.serialize_i64(n)
            }
            RetValue::Unsigned(n) | RetValue::Pointer(n) | RetValue::Raw(n) => {
                serializer.serialize_u64(n)
            }
            RetValue::Null => serializer.serialize_u64(0),
            RetValue::Bool(b) => serializer.serialize_u64(u64::from(b)),
        }
    }
}

/// A return value as text, without allocating: the longest is a 20-digit
/// `i64` or an 18-character hex `u64`.
#[derive(Clone, Copy, Default)]
pub struct RetText {
    buf: [u8; 24],
    len: usize,
}

impl fmt::Write for RetText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl std::ops::Deref for RetText {
    type Target = str;

    fn deref(&self) -> &str {
        // Only whole `&str`s are ever written.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl fmt::Debug for RetText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl Serialize for RetText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self)
    }
}

/// The name of errno `-n` (`EINVAL` for -22), Linux's numbering: the
/// user-visible ones from `nix` (which names them as Linux does on Linux
/// hosts, where pkttrace runs), the kernel-internal ones
/// (`include/linux/errno.h`, never seen by user space) from a table.
fn errno_name(n: i64) -> Option<ErrnoName> {
    if !(-MAX_ERRNO..0).contains(&n) {
        return None;
    }
    let errno = -n as i32;
    if let Some(name) = kernel_errno_name(errno) {
        return Some(ErrnoName::Kernel(name));
    }
    match nix::errno::Errno::from_raw(errno) {
        nix::errno::Errno::UnknownErrno => None,
        known => Some(ErrnoName::User(known)),
    }
}

enum ErrnoName {
    User(nix::errno::Errno),
    Kernel(&'static str),
}

impl fmt::Display for ErrnoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The derived Debug of nix's Errno is the constant's name.
            ErrnoName::User(errno) => write!(f, "{errno:?}"),
            ErrnoName::Kernel(name) => f.write_str(name),
        }
    }
}

fn kernel_errno_name(errno: i32) -> Option<&'static str> {
    Some(match errno {
        512 => "ERESTARTSYS",
        513 => "ERESTARTNOINTR",
        514 => "ERESTARTNOHAND",
        515 => "ENOIOCTLCMD",
        516 => "ERESTART_RESTARTBLOCK",
        517 => "EPROBE_DEFER",
        518 => "EOPENSTALE",
        519 => "ENOPARAM",
        521 => "EBADHANDLE",
        522 => "ENOTSYNC",
        523 => "EBADCOOKIE",
        524 => "ENOTSUPP",
        525 => "ETOOSMALL",
        526 => "ESERVERFAULT",
        527 => "EBADTYPE",
        528 => "EJUKEBOX",
        529 => "EIOCBQUEUED",
        530 => "ERECALLCONFLICT",
        531 => "ENOGRACE",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INT: RetType = RetType::Int {
        size: 4,
        signed: true,
    };

    fn text(ty: RetType, raw: u64) -> Option<String> {
        ty.decode(raw).map(|value| value.text().to_string())
    }

    #[test]
    fn void_has_no_value() {
        assert_eq!(RetType::Void.decode(106_100_760_251_176), None);
    }

    #[test]
    fn ints_are_truncated_and_sign_extended() {
        // `return -EINVAL` from an `int` function leaves 0x00000000ffffffea in rax.
        assert_eq!(INT.decode(0xffff_ffea), Some(RetValue::Int(-22)));
        assert_eq!(text(INT, 0xffff_ffea).as_deref(), Some("-EINVAL"));
        // Garbage in the upper half is ignored.
        assert_eq!(text(INT, 0xdead_beef_0000_0001).as_deref(), Some("1"));
        assert_eq!(text(INT, 0).as_deref(), Some("0"));
        // Below -MAX_ERRNO: just a number.
        assert_eq!(text(INT, (-5000i64) as u64).as_deref(), Some("-5000"));
        let u32_type = RetType::Int {
            size: 4,
            signed: false,
        };
        assert_eq!(
            text(u32_type, 0xffff_ffff_ffff_ffea).as_deref(),
            Some("4294967274")
        );
        let s8 = RetType::Int {
            size: 1,
            signed: true,
        };
        assert_eq!(text(s8, 0x1ff).as_deref(), Some("-EPERM"));
        let u64_type = RetType::Int {
            size: 8,
            signed: false,
        };
        assert_eq!(
            u64_type.decode(u64::MAX),
            Some(RetValue::Unsigned(u64::MAX))
        );
    }

    #[test]
    fn errno_names_include_the_kernel_internal_ones() {
        for (n, name) in [
            (-1, "-EPERM"),
            (-11, "-EAGAIN"),
            (-95, "-EOPNOTSUPP"),
            (-115, "-EINPROGRESS"),
            (-512, "-ERESTARTSYS"),
            (-517, "-EPROBE_DEFER"),
            (-524, "-ENOTSUPP"),
            (-530, "-ERECALLCONFLICT"),
            // Unassigned numbers stay numbers.
            (-520, "-520"),
            (-4095, "-4095"),
        ] {
            assert_eq!(RetValue::Int(n).text().to_string(), name);
        }
    }

    #[test]
    fn pointers_bools_and_enums() {
        assert_eq!(text(RetType::Pointer, 0).as_deref(), Some("NULL"));
        assert_eq!(
            text(RetType::Pointer, 0xffff_8880_0400_0200).as_deref(),
            Some("0xffff888004000200")
        );
        // Only the low byte of a `_Bool` is defined.
        assert_eq!(text(RetType::Bool, 0x100).as_deref(), Some("false"));
        assert_eq!(text(RetType::Bool, 0xffff_0001).as_deref(), Some("true"));
        let netdev_tx = RetType::Enum {
            size: 4,
            signed: true,
        };
        assert_eq!(text(netdev_tx, 0x10).as_deref(), Some("16"));
        // Enums are numbers, never errnos.
        assert_eq!(text(netdev_tx, 0xffff_ffff).as_deref(), Some("-1"));
        assert_eq!(text(RetType::Other, 0x2a).as_deref(), Some("0x2a"));
    }

    #[test]
    fn unknown_types_print_as_before() {
        assert_eq!(
            text(RetType::Unknown, (-115i64) as u64).as_deref(),
            Some("-115")
        );
        assert_eq!(
            text(RetType::Unknown, 0xffff_8880_0400_0200).as_deref(),
            Some("0xffff888004000200")
        );
        assert!(RetType::Unknown.decode(0x16).unwrap().name().is_none());
    }

    #[test]
    fn json_numbers_and_names() {
        let json = |value: RetValue| {
            (
                serde_json::to_string(&value).unwrap(),
                value.name().map(|name| name.to_string()),
            )
        };
        assert_eq!(
            json(RetValue::Int(-22)),
            ("-22".into(), Some("-EINVAL".into()))
        );
        assert_eq!(json(RetValue::Int(5)), ("5".into(), None));
        assert_eq!(json(RetValue::Null), ("0".into(), Some("NULL".into())));
        assert_eq!(
            json(RetValue::Pointer(0xffff_8880_0400_0200)),
            (
                "18446612682137141760".into(),
                Some("0xffff888004000200".into())
            )
        );
        assert_eq!(
            json(RetValue::Bool(true)),
            ("1".into(), Some("true".into()))
        );
        assert_eq!(json(RetValue::Legacy(-115)), ("-115".into(), None));
    }

    #[test]
    fn the_longest_texts_fit() {
        assert_eq!(
            RetValue::Legacy(i64::MIN + 1).text().len(),
            "0x8000000000000001".len()
        );
        assert_eq!(RetValue::Int(i64::MIN).text().len(), 20);
        assert_eq!(RetValue::Unsigned(u64::MAX).text().len(), 20);
    }

    #[test]
    fn types_serialize_tagged_and_default_to_unknown() {
        let int = serde_json::to_string(&INT).unwrap();
        assert_eq!(int, r#"{"kind":"int","size":4,"signed":true}"#);
        assert_eq!(serde_json::from_str::<RetType>(&int).unwrap(), INT);
        assert_eq!(
            serde_json::from_str::<RetType>(r#"{"kind":"void"}"#).unwrap(),
            RetType::Void
        );
        assert_eq!(RetType::default(), RetType::Unknown);
    }
}
