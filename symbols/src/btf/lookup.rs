//! Small type-walking helpers shared by the queries: by-id and by-name lookups
//! that turn btf-rs errors into ours, and stripping of type modifiers.

use btf_rs::{BtfType, Struct, Type};

use super::{Error, KernelBtf};

/// Longest chain of references (modifiers, nesting) a query follows. Real
/// kernels need a handful; hitting this means a reference cycle in corrupt BTF.
pub(super) const MAX_DEPTH: usize = 64;

impl KernelBtf {
    pub(super) fn type_by_id(&self, id: u32) -> Result<Type, Error> {
        self.btf
            .resolve_type_by_id(id)
            .map_err(|_| Error::Corrupt(format!("reference to missing type id {id}")))
    }

    /// The type `ty` refers to (pointee, member type, parameter type, ...).
    pub(super) fn referenced(&self, ty: &dyn BtfType) -> Result<Type, Error> {
        let id = ty
            .get_type_id()
            .ok_or_else(|| Error::Corrupt("type reference expected but absent".into()))?;
        self.type_by_id(id)
    }

    pub(super) fn name_of(&self, ty: &dyn BtfType) -> Result<String, Error> {
        self.btf
            .resolve_name(ty)
            .map_err(|e| Error::Corrupt(e.to_string()))
    }

    pub(super) fn types_named(&self, name: &str) -> Result<Vec<Type>, Error> {
        self.btf
            .resolve_types_by_name(name)
            .map_err(|e| Error::Corrupt(format!("looking up `{name}`: {e}")))
    }

    /// Every struct or union called `name`, directly or through a typedef (as
    /// `possible_net_t` names an anonymous struct). vmlinux may define a name
    /// more than once (distinct types in different compilation units).
    pub(super) fn composites_named(&self, name: &str) -> Result<Vec<Struct>, Error> {
        let mut found = Vec::new();
        for ty in self.types_named(name)? {
            if matches!(ty, Type::Struct(_) | Type::Union(_) | Type::Typedef(_))
                && let Some(composite) = self.as_composite(ty)?
            {
                found.push(composite);
            }
        }
        Ok(found)
    }

    /// Follows typedefs, `const`/`volatile`/`restrict` and type tags (`__rcu`,
    /// `__user`, ...) to the type that decides layout and meaning.
    pub(super) fn peel(&self, mut ty: Type) -> Result<Type, Error> {
        for _ in 0..MAX_DEPTH {
            ty = match &ty {
                Type::Typedef(t) => self.referenced(t)?,
                Type::Const(t) | Type::Volatile(t) | Type::Restrict(t) => self.referenced(t)?,
                Type::TypeTag(t) => self.referenced(t)?,
                _ => return Ok(ty),
            };
        }
        Err(Error::Corrupt("cycle of typedefs or type modifiers".into()))
    }

    /// The struct or union `ty` is, once modifiers are peeled off.
    pub(super) fn as_composite(&self, ty: Type) -> Result<Option<Struct>, Error> {
        Ok(match self.peel(ty)? {
            Type::Struct(s) | Type::Union(s) => Some(s),
            _ => None,
        })
    }
}
