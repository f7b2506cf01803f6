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

impl KernelBtf {
    /// The BTF type id of function `name` (what an fentry program is loaded
    /// against), `None` if this BTF has no such function. In a module's
    /// split BTF, ids continue after its kernel's, as the kernel numbers them.
    pub fn function_id(&self, name: &str) -> Result<Option<u32>, Error> {
        let Ok(ids) = self.btf.resolve_ids_by_name(name) else {
            return Ok(None);
        };
        for id in ids {
            let ty = self
                .btf
                .resolve_type_by_id(id)
                .map_err(|error| Error::Corrupt(format!("unreadable type {id}: {error}")))?;
            if matches!(ty, Type::Func(_)) {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }
}
