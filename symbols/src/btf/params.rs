//! Argument lists of tracepoints (as `tp_btf` programs see them) and of kernel
//! functions (as fentry/kprobe programs see them), and where the skb is.

use btf_rs::{BtfType, FuncProto, Parameter, Type};

use super::{Error, KernelBtf};

/// One argument of a tracepoint or function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    /// Name from BTF, or `argN` (N = position) where BTF does not record it.
    pub name: String,
    /// C spelling of the type, e.g. `struct sk_buff *` or `enum skb_drop_reason`.
    pub type_name: String,
    /// BTF id of the type, 0 for `void` and for `...`.
    pub type_id: u32,
    /// Whether this is a `struct sk_buff *` (qualifiers and typedefs allowed).
    pub is_skb: bool,
    /// Bytes the argument occupies as passed, seen through typedefs and
    /// qualifiers: 8 for a pointer, the type's size for an integer, enum,
    /// struct or union. `None` for `...` and for types of no such size.
    pub size: Option<usize>,
    /// A struct or union passed by value: it takes as many 8-byte argument
    /// registers as its size needs, where anything else takes one.
    pub by_value_aggregate: bool,
}

impl KernelBtf {
    /// Arguments of tracepoint `tracepoint` (e.g. `kfree_skb`) in the order a
    /// `tp_btf` program receives them.
    pub fn tracepoint_args(&self, tracepoint: &str) -> Result<Vec<Param>, Error> {
        let proto = self.tracepoint_proto(tracepoint)?;
        // The prototype starts with the probe's private `void *` data, which
        // tp_btf programs never see.
        let args = proto.parameters.get(1..).ok_or_else(|| {
            Error::Corrupt(format!("`btf_trace_{tracepoint}` lacks its data parameter"))
        })?;
        let names = self.tracepoint_arg_names(tracepoint, args)?;
        args.iter()
            .zip(names)
            .enumerate()
            .map(|(position, (arg, name))| self.param(position, arg, name))
            .collect()
    }

    /// Position of the `struct sk_buff *` among [`Self::tracepoint_args`].
    pub fn skb_arg_position(&self, tracepoint: &str) -> Result<Option<usize>, Error> {
        Ok(skb_position(&self.tracepoint_args(tracepoint)?))
    }

    /// Parameters of kernel function `func` (e.g. `ip_rcv`).
    pub fn function_args(&self, func: &str) -> Result<Vec<Param>, Error> {
        let proto = self
            .function_proto(func)?
            .ok_or_else(|| Error::FunctionNotFound(func.to_owned()))?;
        proto
            .parameters
            .iter()
            .enumerate()
            .map(|(position, param)| self.param(position, param, self.name_of(param)?))
            .collect()
    }

    /// Position of the `struct sk_buff *` among [`Self::function_args`].
    pub fn func_skb_arg(&self, func: &str) -> Result<Option<usize>, Error> {
        Ok(skb_position(&self.function_args(func)?))
    }

    /// The prototype behind `typedef void (*btf_trace_<tracepoint>)(void *, ...)`,
    /// which the kernel defines for every tracepoint so BPF can type-check it.
    fn tracepoint_proto(&self, tracepoint: &str) -> Result<FuncProto, Error> {
        let typedef = self
            .types_named(&format!("btf_trace_{tracepoint}"))?
            .into_iter()
            .find(|ty| matches!(ty, Type::Typedef(_)))
            .ok_or_else(|| Error::TracepointNotFound(tracepoint.to_owned()))?;
        let Type::Ptr(pointer) = self.peel(typedef)? else {
            return Err(not_a_tracepoint_type(tracepoint));
        };
        match self.peel(self.referenced(&pointer)?)? {
            Type::FuncProto(proto) => Ok(proto),
            _ => Err(not_a_tracepoint_type(tracepoint)),
        }
    }

    /// The typedef's prototype has no parameter names. The handler generated
    /// for the event's class, `__bpf_trace_<class>`, has them; it carries the
    /// tracepoint's own name only when the event is its own class, so its names
    /// are used only when its parameter types are exactly the tracepoint's.
    fn tracepoint_arg_names(
        &self,
        tracepoint: &str,
        args: &[Parameter],
    ) -> Result<Vec<String>, Error> {
        let unnamed = || vec![String::new(); args.len()];
        let Some(handler) = self.function_proto(&format!("__bpf_trace_{tracepoint}"))? else {
            return Ok(unnamed());
        };
        let Some(handler_args) = handler.parameters.get(1..) else {
            return Ok(unnamed());
        };
        let same_types = handler_args.len() == args.len()
            && handler_args
                .iter()
                .zip(args)
                .all(|(a, b)| a.get_type_id() == b.get_type_id());
        if !same_types {
            return Ok(unnamed());
        }
        handler_args.iter().map(|arg| self.name_of(arg)).collect()
    }

    /// Prototype of the kernel function `name`, if BTF describes one.
    pub(super) fn function_proto(&self, name: &str) -> Result<Option<FuncProto>, Error> {
        // pahole leaves out functions whose same-named copies disagree on their
        // prototype, so the first FUNC of this name describes them all.
        let Some(func) = self.types_named(name)?.into_iter().find_map(|ty| match ty {
            Type::Func(func) => Some(func),
            _ => None,
        }) else {
            return Ok(None);
        };
        match self.referenced(&func)? {
            Type::FuncProto(proto) => Ok(Some(proto)),
            _ => Err(Error::Corrupt(format!(
                "function `{name}` has no function prototype"
            ))),
        }
    }

    fn param(&self, position: usize, param: &Parameter, name: String) -> Result<Param, Error> {
        if param.is_variadic() {
            return Ok(Param {
                name: "...".to_owned(),
                type_name: "...".to_owned(),
                type_id: 0,
                is_skb: false,
                size: None,
                by_value_aggregate: false,
            });
        }
        let type_id = param.get_type_id().unwrap_or_default();
        let passed = self.peel(self.type_by_id(type_id)?)?;
        Ok(Param {
            name: if name.is_empty() {
                format!("arg{position}")
            } else {
                name
            },
            type_name: self.c_type_name(type_id)?,
            type_id,
            is_skb: self.is_skb_pointer(type_id)?,
            size: passed_size(&passed),
            by_value_aggregate: matches!(passed, Type::Struct(_) | Type::Union(_)),
        })
    }

    fn is_skb_pointer(&self, type_id: u32) -> Result<bool, Error> {
        let Type::Ptr(pointer) = self.peel(self.type_by_id(type_id)?)? else {
            return Ok(false);
        };
        Ok(match self.peel(self.referenced(&pointer)?)? {
            Type::Struct(s) => self.name_of(&s)? == "sk_buff",
            Type::Fwd(f) => !f.is_union() && self.name_of(&f)? == "sk_buff",
            _ => false,
        })
    }
}

/// How many bytes an argument of type `ty` (peeled) occupies when passed,
/// as the kernel's BPF trampoline sizes it (`__get_type_size`).
fn passed_size(ty: &Type) -> Option<usize> {
    match ty {
        Type::Ptr(_) => Some(8),
        Type::Int(int) => Some(int.size()),
        Type::Enum(e) => Some(e.size()),
        Type::Enum64(e) => Some(e.size()),
        Type::Struct(s) | Type::Union(s) => Some(s.size()),
        _ => None,
    }
}

fn skb_position(params: &[Param]) -> Option<usize> {
    params.iter().position(|param| param.is_skb)
}

fn not_a_tracepoint_type(tracepoint: &str) -> Error {
    Error::Corrupt(format!(
        "`btf_trace_{tracepoint}` is not a pointer to a function prototype"
    ))
}
