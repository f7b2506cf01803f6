//! A kernel function's declaration as C would print it, for people choosing
//! what to probe: `int ip_rcv(struct sk_buff *skb, struct net_device *dev, ...)`.

use super::{Error, KernelBtf};

impl KernelBtf {
    /// C declaration of kernel function `func`, with parameter names where BTF
    /// records them (`argN` otherwise) and `(void)` for no parameters.
    pub fn prototype(&self, func: &str) -> Result<String, Error> {
        let proto = self
            .function_proto(func)?
            .ok_or_else(|| Error::FunctionNotFound(func.to_owned()))?;
        let ret = self.c_type_name(proto.return_type_id())?;
        let params = self.function_args(func)?;
        let params = if params.is_empty() {
            "void".to_owned()
        } else {
            params
                .iter()
                .map(|param| declaration(&param.type_name, &param.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        Ok(format!("{}{func}({params})", declarator_prefix(&ret)))
    }
}

/// `struct sk_buff *` + `skb` → `struct sk_buff *skb`; a function pointer's
/// name goes inside its `(*)`.
fn declaration(type_name: &str, name: &str) -> String {
    if type_name == "..." {
        return type_name.to_owned();
    }
    if let Some((before, after)) = type_name.split_once("(*)") {
        return format!("{before}(*{name}){after}");
    }
    format!("{}{name}", declarator_prefix(type_name))
}

/// A type followed by a declarator: pointers hug the name (`char *p`),
/// anything else is separated from it by a space — the caller appends it.
fn declarator_prefix(type_name: &str) -> String {
    if type_name.ends_with('*') {
        type_name.to_owned()
    } else {
        format!("{type_name} ")
    }
}
