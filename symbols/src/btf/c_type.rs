//! Spells BTF types the way C does (`struct sk_buff *`, `const char *`), for
//! showing probe arguments to people.

use btf_rs::{BtfType, FuncProto, Type};

use super::{Error, KernelBtf, lookup::MAX_DEPTH};

impl KernelBtf {
    /// C spelling of the type with BTF id `id`.
    pub(super) fn c_type_name(&self, id: u32) -> Result<String, Error> {
        self.spell(self.type_by_id(id)?, 0)
    }

    fn spell(&self, ty: Type, depth: usize) -> Result<String, Error> {
        if depth > MAX_DEPTH {
            return Err(Error::Corrupt("type references nested too deep".into()));
        }
        let next = depth + 1;
        Ok(match &ty {
            Type::Void => "void".to_owned(),
            Type::Int(t) => self.name_of(t)?,
            Type::Float(t) => self.name_of(t)?,
            Type::Typedef(t) => self.name_of(t)?,
            Type::Struct(t) => self.tagged("struct", t)?,
            Type::Union(t) => self.tagged("union", t)?,
            Type::Enum(t) => self.tagged("enum", t)?,
            Type::Enum64(t) => self.tagged("enum", t)?,
            Type::Fwd(t) => self.tagged(if t.is_union() { "union" } else { "struct" }, t)?,
            Type::Ptr(t) => match self.referenced(t)? {
                Type::FuncProto(proto) => self.spell_function(&proto, "(*)", next)?,
                pointee => pointer_to(self.spell(pointee, next)?),
            },
            Type::Const(t) => qualified("const", self.spell(self.referenced(t)?, next)?),
            Type::Volatile(t) => qualified("volatile", self.spell(self.referenced(t)?, next)?),
            Type::Restrict(t) => qualified("restrict", self.spell(self.referenced(t)?, next)?),
            // Tags such as `__rcu` or `__user` are annotations, not C types.
            Type::TypeTag(t) => self.spell(self.referenced(t)?, next)?,
            Type::Array(t) => format!("{}[{}]", self.spell(self.referenced(t)?, next)?, t.len()),
            Type::FuncProto(proto) => self.spell_function(proto, "", next)?,
            Type::Func(t) => self.name_of(t)?,
            Type::Var(t) => self.name_of(t)?,
            Type::Datasec(t) => self.name_of(t)?,
            Type::DeclTag(t) => self.name_of(t)?,
            other => other.name().to_owned(),
        })
    }

    /// `struct foo`, or `struct (anon)` for an unnamed one.
    fn tagged(&self, keyword: &str, ty: &dyn BtfType) -> Result<String, Error> {
        let name = self.name_of(ty)?;
        Ok(if name.is_empty() {
            format!("{keyword} (anon)")
        } else {
            format!("{keyword} {name}")
        })
    }

    /// `int (*)(struct sk_buff *, int)` for `declarator` `(*)`.
    fn spell_function(
        &self,
        proto: &FuncProto,
        declarator: &str,
        depth: usize,
    ) -> Result<String, Error> {
        let ret = self.spell(self.type_by_id(proto.return_type_id())?, depth)?;
        let params = proto
            .parameters
            .iter()
            .map(|param| {
                if param.is_variadic() {
                    Ok("...".to_owned())
                } else {
                    self.spell(self.referenced(param)?, depth)
                }
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let params = if params.is_empty() {
            "void".to_owned()
        } else {
            params.join(", ")
        };
        Ok(match declarator {
            "" => format!("{ret} ({params})"),
            _ => format!("{ret} {declarator}({params})"),
        })
    }
}

/// `char *` → `char **`, `int` → `int *`.
fn pointer_to(pointee: String) -> String {
    if pointee.ends_with('*') {
        pointee + "*"
    } else {
        pointee + " *"
    }
}

/// `const char`, but `char *const` when the pointer itself is qualified.
fn qualified(qualifier: &str, inner: String) -> String {
    if inner.ends_with('*') {
        format!("{inner}{qualifier}")
    } else {
        format!("{qualifier} {inner}")
    }
}
