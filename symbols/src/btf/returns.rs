//! What a kernel function returns, reduced to how its value is printed
//! ([`RetType`]): exits carry the raw return register, and only the declared
//! type says whether it is nothing (`void`), an address, a truth value or an
//! integer of some width and signedness.

use btf_rs::Type;
use formats::meta::RetType;

use super::{Error, KernelBtf};

impl KernelBtf {
    /// The return type of kernel function `func`, seen through typedefs,
    /// qualifiers and type tags (`netdev_tx_t` is an enum, `u32` an
    /// `unsigned int`, `bool` a `_Bool`).
    pub fn return_type(&self, func: &str) -> Result<RetType, Error> {
        let proto = self
            .function_proto(func)?
            .ok_or_else(|| Error::FunctionNotFound(func.to_owned()))?;
        let size = |bytes: usize| u8::try_from(bytes).unwrap_or(u8::MAX);
        Ok(match self.peel(self.type_by_id(proto.return_type_id())?)? {
            Type::Void => RetType::Void,
            Type::Ptr(_) => RetType::Pointer,
            Type::Int(int) if int.is_bool() => RetType::Bool,
            Type::Int(int) => RetType::Int {
                size: size(int.size()),
                signed: int.is_signed(),
            },
            Type::Enum(e) => RetType::Enum {
                size: size(e.size()),
                signed: e.is_signed(),
            },
            Type::Enum64(e) => RetType::Enum {
                size: size(e.size()),
                signed: e.is_signed(),
            },
            _ => RetType::Other,
        })
    }
}
