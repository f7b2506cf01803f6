//! The kernel functions BTF describes: the candidates for fentry/fexit.

use btf_rs::Type;
use fallible_iterator::FallibleIterator;

use super::{Error, KernelBtf};

impl KernelBtf {
    /// Names of every function in this BTF (sorted, deduplicated). Functions
    /// the compiler inlined everywhere have no entry: they cannot be probed.
    pub fn function_names(&self) -> Result<Vec<String>, Error> {
        let mut names = Vec::new();
        let mut types = self.btf.type_iter();
        let corrupt = |error| Error::Corrupt(format!("unreadable type: {error}"));
        while let Some(ty) = types.next().map_err(corrupt)? {
            if let Type::Func(func) = ty {
                let name = self.btf.resolve_name(&func).map_err(|error| {
                    Error::Corrupt(format!("unreadable function name: {error}"))
                })?;
                names.push(name);
            }
        }
        names.sort_unstable();
        names.dedup();
        Ok(names)
    }
}
