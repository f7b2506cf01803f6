//! Where struct members sit: byte offsets and sizes of member paths such as
//! `__sk_common.skc_daddr`, seen through anonymous structs and unions.

use btf_rs::{Member, Struct, Type};

use super::{Error, KernelBtf, lookup::MAX_DEPTH};

/// BTF records no pointer width; pkttrace only runs on 64-bit kernels.
const POINTER_SIZE: u32 = 8;

/// A member found by path, relative to the outermost struct.
struct Located {
    bit_offset: u64,
    /// Width of a bitfield member, `None` for ordinary members.
    bitfield_bits: Option<u32>,
    member: Member,
}

/// The member path being looked up, for error messages.
#[derive(Clone, Copy)]
struct Query<'a> {
    owner: &'a str,
    path: &'a str,
}

impl Query<'_> {
    fn missing(self, member: &str) -> Error {
        Error::MemberNotFound {
            owner: self.owner.to_owned(),
            path: self.path.to_owned(),
            member: member.to_owned(),
        }
    }

    fn not_composite(self, member: &str) -> Error {
        Error::NotComposite {
            owner: self.owner.to_owned(),
            path: self.path.to_owned(),
            member: member.to_owned(),
        }
    }

    fn bad_path(self) -> Error {
        Error::BadPath {
            owner: self.owner.to_owned(),
            path: self.path.to_owned(),
        }
    }
}

impl KernelBtf {
    /// Byte offset of `path` (members separated by `.`) inside `struct_name`
    /// (a struct, union, or typedef of one).
    ///
    /// Members of anonymous structs and unions are found as C finds them, by
    /// their own name. Bitfields are accepted only when they start on a byte
    /// and span whole bytes, as the BPF side reads them with a plain load.
    pub fn member_offset(&self, struct_name: &str, path: &str) -> Result<u32, Error> {
        let query = Query {
            owner: struct_name,
            path,
        };
        let bytes = byte_offset(query, &self.locate(query)?)?;
        u32::try_from(bytes)
            .map_err(|_| Error::Corrupt(format!("`{struct_name}.{path}` lies beyond 4 GiB")))
    }

    /// Size in bytes of the member at `path` inside `struct_name`.
    pub fn member_size(&self, struct_name: &str, path: &str) -> Result<u32, Error> {
        let query = Query {
            owner: struct_name,
            path,
        };
        let found = self.locate(query)?;
        // A bitfield that is not whole bytes has no size in bytes either.
        byte_offset(query, &found)?;
        if let Some(bits) = found.bitfield_bits {
            return Ok(bits / 8);
        }
        let ty = self.referenced(&found.member)?;
        self.size_of(ty, 0)?.ok_or_else(|| Error::Unsized {
            owner: struct_name.to_owned(),
            path: path.to_owned(),
        })
    }

    /// Bit offset of `path` inside `struct_name`, for any member, bitfields
    /// included (where [`Self::member_offset`] refuses them).
    pub fn member_bit_offset(&self, struct_name: &str, path: &str) -> Result<u64, Error> {
        let query = Query {
            owner: struct_name,
            path,
        };
        Ok(self.locate(query)?.bit_offset)
    }

    /// Width in bits of the bitfield at `path`, `None` for an ordinary member.
    pub fn member_bitfield_width(
        &self,
        struct_name: &str,
        path: &str,
    ) -> Result<Option<u32>, Error> {
        let query = Query {
            owner: struct_name,
            path,
        };
        Ok(self.locate(query)?.bitfield_bits)
    }

    fn locate(&self, query: Query) -> Result<Located, Error> {
        let names: Vec<&str> = query.path.split('.').collect();
        if names.iter().any(|name| name.is_empty()) {
            return Err(query.bad_path());
        }
        // With duplicated names, the first definition that has the path
        // answers; when none has it, the first one's error does.
        let mut first_error = None;
        for outer in self.composites_named(query.owner)? {
            match self.descend(outer, query, &names) {
                Ok(found) => return Ok(found),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| Error::TypeNotFound {
            kind: "struct or union",
            name: query.owner.to_owned(),
        }))
    }

    fn descend(&self, outer: Struct, query: Query, names: &[&str]) -> Result<Located, Error> {
        let Some((last, parents)) = names.split_last() else {
            return Err(query.bad_path());
        };
        let mut composite = outer;
        let mut bit_offset = 0u64;
        for name in parents {
            let (offset, member) = self
                .find_member(&composite, name, 0)?
                .ok_or_else(|| query.missing(name))?;
            bit_offset += offset;
            composite = self
                .as_composite(self.referenced(&member)?)?
                .ok_or_else(|| query.not_composite(name))?;
        }
        let (offset, member) = self
            .find_member(&composite, last, 0)?
            .ok_or_else(|| query.missing(last))?;
        Ok(Located {
            bit_offset: bit_offset + offset,
            bitfield_bits: member.bitfield_size().filter(|&bits| bits != 0),
            member,
        })
    }

    /// Finds `name` among the members of `composite`, looking inside anonymous
    /// struct/union members too. Returns its bit offset within `composite`.
    fn find_member(
        &self,
        composite: &Struct,
        name: &str,
        nesting: usize,
    ) -> Result<Option<(u64, Member)>, Error> {
        if nesting > MAX_DEPTH {
            return Err(Error::Corrupt(format!(
                "anonymous members nested too deep looking for `{name}`"
            )));
        }
        for member in &composite.members {
            let member_name = self.name_of(member)?;
            let offset = u64::from(member.bit_offset());
            if member_name == name {
                return Ok(Some((offset, member.clone())));
            }
            // Unnamed members are anonymous structs/unions (whose members
            // belong to the enclosing namespace) or padding bitfields.
            if member_name.is_empty()
                && let Some(inner) = self.as_composite(self.referenced(member)?)?
                && let Some((inner_offset, found)) = self.find_member(&inner, name, nesting + 1)?
            {
                return Ok(Some((offset + inner_offset, found)));
            }
        }
        Ok(None)
    }

    /// Size in bytes of a type; `None` for void, functions and forward
    /// declarations.
    fn size_of(&self, ty: Type, depth: usize) -> Result<Option<u32>, Error> {
        if depth > MAX_DEPTH {
            return Err(Error::Corrupt("arrays nested too deep".into()));
        }
        let size = match self.peel(ty)? {
            Type::Int(t) => t.size(),
            Type::Float(t) => t.size(),
            Type::Enum(t) => t.size(),
            Type::Enum64(t) => t.size(),
            Type::Struct(t) | Type::Union(t) => t.size(),
            Type::Ptr(_) => return Ok(Some(POINTER_SIZE)),
            Type::Array(array) => {
                let Some(element) = self.size_of(self.referenced(&array)?, depth + 1)? else {
                    return Ok(None);
                };
                let total = u64::from(element) * array.len() as u64;
                return u32::try_from(total)
                    .map(Some)
                    .map_err(|_| Error::Corrupt("array larger than 4 GiB".into()));
            }
            _ => return Ok(None),
        };
        u32::try_from(size)
            .map(Some)
            .map_err(|_| Error::Corrupt("type larger than 4 GiB".into()))
    }
}

/// The byte offset of a located member, refusing bitfields a byte load cannot read.
fn byte_offset(query: Query, found: &Located) -> Result<u64, Error> {
    let misaligned = !found.bit_offset.is_multiple_of(8);
    let partial = found
        .bitfield_bits
        .is_some_and(|bits| !bits.is_multiple_of(8));
    if misaligned || partial {
        return Err(Error::Bitfield {
            owner: query.owner.to_owned(),
            path: query.path.to_owned(),
            bit_offset: found.bit_offset,
            bits: found.bitfield_bits,
        });
    }
    Ok(found.bit_offset / 8)
}
