//! The kernel functions BTF describes: the candidates for fentry/fexit.

use btf_rs::Type;
use fallible_iterator::FallibleIterator;

use super::{Error, KernelBtf};

impl KernelBtf {
    /// Names of the functions this BTF defines (sorted, deduplicated): for
    /// a module's split BTF only the module's own, not its base's. Functions
    /// the compiler inlined everywhere have no entry: they cannot be probed.
    pub fn function_names(&self) -> Result<Vec<String>, Error> {
        let own = self.btf.split().unwrap_or_else(|| self.btf.base());
        let mut names = Vec::new();
        let mut types = own.type_iter();
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
