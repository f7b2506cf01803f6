//! Enum values, and the kernel's drop reasons in particular.

use btf_rs::Type;

use super::{Error, KernelBtf};

/// `kfree_skb`'s `reason` argument.
const DROP_REASON_ENUM: &str = "skb_drop_reason";
const DROP_REASON_PREFIX: &str = "SKB_DROP_REASON_";
/// Bookkeeping entries of `enum skb_drop_reason` that are not reasons.
const DROP_REASON_SENTINELS: [&str; 2] = ["SKB_DROP_REASON_MAX", "SKB_DROP_REASON_SUBSYS_MASK"];

impl KernelBtf {
    /// Names and values of `enum enum_name`, in declaration order. Both BTF enum
    /// kinds are read; an unsigned 64-bit value above `i64::MAX` keeps its bit
    /// pattern (it reads back as negative).
    pub fn enum_values(&self, enum_name: &str) -> Result<Vec<(String, i64)>, Error> {
        // A forward-declared enum has no values: prefer a definition that has some.
        let definition = self
            .types_named(enum_name)?
            .into_iter()
            .filter(|ty| matches!(ty, Type::Enum(_) | Type::Enum64(_)))
            .min_by_key(|ty| enum_len(ty) == 0);
        match definition {
            Some(Type::Enum(e)) => e
                .members
                .iter()
                .map(|m| {
                    let value = if e.is_signed() {
                        i64::from(m.val() as i32)
                    } else {
                        i64::from(m.val())
                    };
                    Ok((self.name_of(m)?, value))
                })
                .collect(),
            Some(Type::Enum64(e)) => e
                .members
                .iter()
                .map(|m| Ok((self.name_of(m)?, m.val() as i64)))
                .collect(),
            _ => Err(Error::TypeNotFound {
                kind: "enum",
                name: enum_name.to_owned(),
            }),
        }
    }

    /// `enum skb_drop_reason` as `(value, name)` with the `SKB_DROP_REASON_`
    /// prefix stripped. Values move between kernels (`NO_SOCKET` is 2 on 6.1 and
    /// 3 once `SKB_CONSUMED` appeared), hence reading them here. The entries
    /// named without that prefix (`SKB_CONSUMED`, `SKB_NOT_DROPPED_YET`) lose
    /// just `SKB_`.
    pub fn drop_reasons(&self) -> Result<Vec<(u32, String)>, Error> {
        Ok(self
            .enum_values(DROP_REASON_ENUM)?
            .into_iter()
            .filter(|(name, _)| !DROP_REASON_SENTINELS.contains(&name.as_str()))
            .filter_map(|(name, value)| Some((u32::try_from(value).ok()?, short_reason(&name))))
            .collect())
    }
}

fn enum_len(ty: &Type) -> usize {
    match ty {
        Type::Enum(e) => e.members.len(),
        Type::Enum64(e) => e.members.len(),
        _ => 0,
    }
}

fn short_reason(name: &str) -> String {
    name.strip_prefix(DROP_REASON_PREFIX)
        .or_else(|| name.strip_prefix("SKB_"))
        .unwrap_or(name)
        .to_owned()
}
