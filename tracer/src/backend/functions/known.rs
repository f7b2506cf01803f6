//! Every kernel function pkttrace can name, and where it is known from:
//! vmlinux's BTF, each loaded module's split BTF (`/sys/kernel/btf/<module>`)
//! and, for a module without BTF, its code symbols in `/proc/kallsyms` —
//! those can be probed by name with a kprobe, their arguments unknown.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result};
use symbols::btf::{KernelBtf, SYS_BTF_DIR};

/// Where the kernel lists its loaded modules.
const PROC_MODULES: &str = "/proc/modules";
/// Where every module has a directory, built-in ones too.
const SYS_MODULE_DIR: &str = "/sys/module";

/// One loaded module's functions.
pub struct Module {
    /// Its split BTF over vmlinux's, when the module has some.
    btf: Option<KernelBtf>,
    /// Sorted names.
    functions: Vec<String>,
}

impl Module {
    /// A module with BTF: its functions are the ones its BTF defines.
    pub fn with_btf(btf: KernelBtf) -> Result<Module> {
        let functions = btf.function_names()?;
        Ok(Module {
            btf: Some(btf),
            functions,
        })
    }

    /// A module without BTF, known by the names of its functions.
    pub fn from_symbols(mut functions: Vec<String>) -> Module {
        functions.sort_unstable();
        functions.dedup();
        Module {
            btf: None,
            functions,
        }
    }
}

/// One known function.
#[derive(Clone, Copy)]
pub struct Function<'a> {
    pub name: &'a str,
    /// `None` for vmlinux.
    pub module: Option<&'a str>,
    /// The BTF that describes it (vmlinux's, or its module's over
    /// vmlinux's); `None` for a module function known only from kallsyms.
    pub btf: Option<&'a KernelBtf>,
}

/// The functions of vmlinux and of every loaded module.
pub struct KnownFunctions<'k> {
    vmlinux: &'k KernelBtf,
    /// Sorted.
    vmlinux_functions: Vec<String>,
    modules: BTreeMap<String, Module>,
}

impl<'k> KnownFunctions<'k> {
    /// Reads the running kernel's: vmlinux's from `vmlinux` (its BTF),
    /// each loaded module's from its BTF, or from kallsyms if it has none
    /// (or its BTF cannot be read).
    pub fn read(vmlinux: &'k KernelBtf) -> Result<Self> {
        let vmlinux_functions = vmlinux
            .function_names()
            .context("listing functions in BTF")?;
        let mut modules = BTreeMap::new();
        let mut without_btf = Vec::new();
        for name in loaded_modules() {
            let path = Path::new(SYS_BTF_DIR).join(&name);
            let with_btf = KernelBtf::from_split_file(&path, vmlinux)
                .map_err(anyhow::Error::from)
                .and_then(Module::with_btf);
            match with_btf {
                Ok(module) => {
                    modules.insert(name, module);
                }
                Err(_) => without_btf.push(name),
            }
        }
        if !without_btf.is_empty() {
            let text = std::fs::read_to_string(symbols::kallsyms::KALLSYMS_PATH)
                .context("reading the functions of modules without BTF")?;
            let mut symbols = symbols::kallsyms::module_functions(&text)?;
            for name in without_btf {
                let functions = symbols.remove(&name).unwrap_or_default();
                modules.insert(name, Module::from_symbols(functions));
            }
        }
        Ok(Self::new(vmlinux, vmlinux_functions, modules))
    }

    /// From parts: `vmlinux_functions` are the names `vmlinux` defines.
    pub fn new(
        vmlinux: &'k KernelBtf,
        mut vmlinux_functions: Vec<String>,
        modules: BTreeMap<String, Module>,
    ) -> Self {
        vmlinux_functions.sort_unstable();
        vmlinux_functions.dedup();
        KnownFunctions {
            vmlinux,
            vmlinux_functions,
            modules,
        }
    }

    pub fn vmlinux(&self) -> &'k KernelBtf {
        self.vmlinux
    }

    /// Whether `module` is loaded.
    pub fn has_module(&self, module: &str) -> bool {
        self.modules.contains_key(module)
    }

    /// vmlinux's functions, then each module's, each in name order.
    pub fn iter(&self) -> impl Iterator<Item = Function<'_>> {
        let vmlinux = self.vmlinux_functions.iter().map(|name| Function {
            name,
            module: None,
            btf: Some(self.vmlinux),
        });
        vmlinux.chain(
            self.modules
                .keys()
                .flat_map(|module| self.in_module(module)),
        )
    }

    /// The functions of `module` (none if it is not loaded).
    pub fn in_module<'a>(&'a self, module: &'a str) -> impl Iterator<Item = Function<'a>> {
        self.modules
            .get_key_value(module)
            .into_iter()
            .flat_map(|(module, m)| {
                m.functions.iter().map(|name| Function {
                    name,
                    module: Some(module),
                    btf: m.btf.as_ref(),
                })
            })
    }

    /// The function `name` of `module` (`None`: of vmlinux), if known.
    pub fn get(&self, name: &str, module: Option<&str>) -> Option<Function<'_>> {
        let (module, functions, btf) = match module {
            None => (None, &self.vmlinux_functions, Some(self.vmlinux)),
            Some(module) => {
                let (module, m) = self.modules.get_key_value(module)?;
                (Some(module.as_str()), &m.functions, m.btf.as_ref())
            }
        };
        let at = functions.binary_search_by(|f| f.as_str().cmp(name)).ok()?;
        Some(Function {
            name: &functions[at],
            module,
            btf,
        })
    }

    /// Every function called `name`: vmlinux's, then modules' (a module's
    /// static function may share a name with another's).
    pub fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = Function<'a>> {
        std::iter::once(None)
            .chain(self.modules.keys().map(|m| Some(m.as_str())))
            .filter_map(move |module| self.get(name, module))
    }

    /// Whether any of vmlinux or the modules has a function `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.named(name).next().is_some()
    }
}

/// Why `module` (of a `MODULE:GLOB`) names no loaded module.
pub fn not_loaded(module: &str) -> String {
    if Path::new(SYS_MODULE_DIR).join(module).exists() {
        format!(
            "'{module}' is built into this kernel, not a loaded module: leave out '{module}:' to match its functions"
        )
    } else {
        format!("no module '{module}' is loaded")
    }
}

/// Loaded modules: those `/proc/modules` lists (absent on a kernel without
/// module support) and those with BTF under `/sys/kernel/btf`.
fn loaded_modules() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = std::fs::read_to_string(PROC_MODULES)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect();
    if let Ok(entries) = std::fs::read_dir(SYS_BTF_DIR) {
        names.extend(
            entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| name != "vmlinux"),
        );
    }
    names
}
