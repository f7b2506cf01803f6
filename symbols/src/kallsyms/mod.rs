//! The kernel's symbol table from `/proc/kallsyms`: address → `function+offset`
//! for stack and probe addresses, name → address for probes.
//!
//! Layout: names live in one `String` arena and each symbol is a fixed-size
//! entry pointing into it; the addresses lookups search are a separate sorted
//! `Vec<u64>`, so a binary search touches 8 bytes per step and nothing else.
//!
//! Lookup rule: the symbol with the greatest address ≤ `addr` owns `addr` up to
//! the next symbol's address. kallsyms records no sizes, so the end of the last
//! symbol before a gap (end of a module's text, of the table) is unknown: no
//! symbol is credited with an offset of [`MAX_OFFSET`] or more, and addresses
//! following a section-end marker (`_etext`, `__stop_*`, ...) belong to no
//! symbol. Absolute symbols (type `A`, per-CPU offsets) are not locations and
//! are left out of lookups, though `address_of` finds them.

mod error;
mod parse;
#[cfg(test)]
mod tests;

use std::{
    cmp::Reverse,
    collections::{BTreeMap, HashMap},
    fs,
    path::Path,
};

pub use error::Error;

/// Where the running kernel lists its symbols.
pub const KALLSYMS_PATH: &str = "/proc/kallsyms";

/// Largest offset [`Kallsyms::lookup`] attributes to a symbol. The largest
/// functions of a 6.x x86-64 kernel span about 20 KiB (`hidinput_connect`,
/// `do_jit`); 64 KiB leaves room while refusing the megabyte-wide holes after
/// a module's last function or a section's last symbol.
pub const MAX_OFFSET: u64 = 64 * 1024;

/// Names that mark where a section ends: what follows is not their code.
const END_MARKERS: [&str; 6] = [
    "_etext",
    "_einittext",
    "_edata",
    "_end",
    "__end_rodata",
    "__bss_stop",
];

/// `module` value of symbols of the kernel image itself.
const NO_MODULE: u16 = 0;

/// One symbol, pointing into the name arena (24 bytes).
#[derive(Clone, Copy)]
struct Entry {
    address: u64,
    name_start: u32,
    name_len: u16,
    /// [`NO_MODULE`], or 1 + index into `Kallsyms::modules`.
    module: u16,
    kind: u8,
}

/// A symbol as [`Kallsyms::lookup`] and [`Kallsyms::iter`] report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Symbol<'a> {
    pub name: &'a str,
    /// How far the looked-up address is past the symbol's start.
    pub offset: u64,
    /// `Some("sch_tdma")` for a module's symbol, `None` for the kernel image's.
    pub module: Option<&'a str>,
    /// The type letter kallsyms prints (`T`, `t`, `W`, `D`, ...).
    pub kind: char,
}

/// The parsed, indexed symbol table.
pub struct Kallsyms {
    names: String,
    modules: Vec<String>,
    /// Every symbol by address; at one address the symbol lookups should name
    /// (text before data before end markers) comes first.
    entries: Vec<Entry>,
    /// Distinct addresses of locating (non-absolute) symbols, ascending.
    starts: Vec<u64>,
    /// For each of `starts`, the index in `entries` of the symbol named there.
    owners: Vec<u32>,
    /// Entry indices by (name, module symbols after the kernel's, address).
    by_name: Vec<u32>,
}

impl Kallsyms {
    /// The running kernel's table, from [`KALLSYMS_PATH`].
    pub fn from_proc() -> Result<Self, Error> {
        Self::from_file(KALLSYMS_PATH)
    }

    /// A table saved from `/proc/kallsyms` (or the file itself).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = fs::read_to_string(path).map_err(|error| Error::Read {
            path: path.to_owned(),
            error,
        })?;
        Self::parse(&text)
    }

    /// Parses the text of `/proc/kallsyms`. Fails on any malformed line, on an
    /// empty table, and when every address is zero (hidden by `kptr_restrict`).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut names = String::with_capacity(text.len() / 2);
        let mut modules: Vec<String> = Vec::new();
        let mut module_ids: HashMap<&str, u16> = HashMap::new();
        let mut entries = Vec::with_capacity(text.len() / 32);
        for (number, text) in text.lines().enumerate() {
            let malformed = |reason| Error::Malformed {
                line: number + 1,
                text: text.to_owned(),
                reason,
            };
            let line = parse::line(text).map_err(malformed)?;
            let module = match line.module {
                None => NO_MODULE,
                Some(name) => match module_ids.get(name) {
                    Some(&id) => id,
                    None => {
                        let id = u16::try_from(modules.len() + 1)
                            .ok()
                            .filter(|&id| id != u16::MAX)
                            .ok_or(Error::TooLarge("more than 65534 modules"))?;
                        modules.push(name.to_owned());
                        module_ids.insert(name, id);
                        id
                    }
                },
            };
            let name_start =
                u32::try_from(names.len()).map_err(|_| Error::TooLarge("over 4 GiB of names"))?;
            let name_len =
                u16::try_from(line.name.len()).map_err(|_| malformed("name too long"))?;
            names.push_str(line.name);
            entries.push(Entry {
                address: line.address,
                name_start,
                name_len,
                module,
                kind: line.kind,
            });
        }
        if entries.is_empty() {
            return Err(Error::Empty);
        }
        // Unprivileged readers see every address as zero.
        if entries.iter().all(|entry| entry.address == 0) {
            return Err(Error::Hidden);
        }
        let mut table = Kallsyms {
            names,
            modules,
            entries,
            starts: Vec::new(),
            owners: Vec::new(),
            by_name: Vec::new(),
        };
        table.index()?;
        Ok(table)
    }

    /// Sorts the entries and builds both indexes.
    fn index(&mut self) -> Result<(), Error> {
        let mut entries = std::mem::take(&mut self.entries);
        // Stable: among equals, /proc/kallsyms order decides.
        entries.sort_by_key(|entry| (entry.address, Reverse(self.preference(entry))));
        self.entries = entries;
        if u32::try_from(self.entries.len()).is_err() {
            return Err(Error::TooLarge("over 4 billion symbols"));
        }
        for (index, entry) in self.entries.iter().enumerate() {
            if entry.kind.eq_ignore_ascii_case(&b'a') || self.starts.last() == Some(&entry.address)
            {
                continue;
            }
            self.starts.push(entry.address);
            self.owners.push(index as u32);
        }
        let mut by_name: Vec<u32> = (0..self.entries.len() as u32).collect();
        by_name.sort_unstable_by(|&a, &b| {
            let (a, b) = (&self.entries[a as usize], &self.entries[b as usize]);
            (self.name(a), a.module != NO_MODULE, a.address).cmp(&(
                self.name(b),
                b.module != NO_MODULE,
                b.address,
            ))
        });
        self.by_name = by_name;
        Ok(())
    }

    /// Which of several symbols at one address a lookup names: code first.
    fn preference(&self, entry: &Entry) -> u8 {
        if is_end_marker(self.name(entry)) {
            0
        } else if matches!(entry.kind.to_ascii_lowercase(), b't' | b'w') {
            2
        } else {
            1
        }
    }

    /// Number of symbols, absolute ones included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The symbol `addr` falls in, with `addr`'s offset into it; see the
    /// module documentation for where symbols end.
    pub fn lookup(&self, addr: u64) -> Option<Symbol<'_>> {
        let index = self.starts.partition_point(|&start| start <= addr);
        let slot = index.checked_sub(1)?;
        let offset = addr - self.starts[slot];
        let entry = &self.entries[self.owners[slot] as usize];
        if offset >= MAX_OFFSET || is_end_marker(self.name(entry)) {
            return None;
        }
        Some(self.symbol(entry, offset))
    }

    /// Address of the symbol `name`. A name defined more than once (static
    /// functions of different files, a module shadowing a kernel symbol)
    /// answers with the kernel image's definition first, then the lowest
    /// address.
    pub fn address_of(&self, name: &str) -> Option<u64> {
        let first = self
            .by_name
            .partition_point(|&index| self.name(&self.entries[index as usize]) < name);
        let entry = &self.entries[*self.by_name.get(first)? as usize];
        (self.name(entry) == name).then_some(entry.address)
    }

    /// Every definition of `name`, in [`Kallsyms::address_of`]'s order, with
    /// the module of each (`None` for the kernel image).
    pub fn addresses_of<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = (u64, Option<&'a str>)> + 'a {
        let first = self
            .by_name
            .partition_point(|&index| self.name(&self.entries[index as usize]) < name);
        self.by_name[first..]
            .iter()
            .map(|&index| &self.entries[index as usize])
            .take_while(move |entry| self.name(entry) == name)
            .map(|entry| (entry.address, self.symbol(entry, 0).module))
    }

    /// Every symbol with its address, in address order (offsets are 0).
    pub fn iter(&self) -> impl Iterator<Item = (u64, Symbol<'_>)> {
        self.entries
            .iter()
            .map(|entry| (entry.address, self.symbol(entry, 0)))
    }

    fn symbol(&self, entry: &Entry, offset: u64) -> Symbol<'_> {
        Symbol {
            name: self.name(entry),
            offset,
            module: match entry.module {
                NO_MODULE => None,
                id => Some(self.modules[usize::from(id) - 1].as_str()),
            },
            kind: char::from(entry.kind),
        }
    }

    fn name(&self, entry: &Entry) -> &str {
        let start = entry.name_start as usize;
        &self.names[start..start + usize::from(entry.name_len)]
    }
}

/// The functions of modules in the text of `/proc/kallsyms` (code symbols,
/// `t`/`T`/`w`/`W`, on lines ending in `[module]`), sorted, by module: what
/// a kprobe can attach to by name in a module without BTF. Addresses are
/// not needed, so hidden ones (`kptr_restrict`) do no harm. Left out: parts
/// of functions that are no entry point (`foo.cold`) and the padding labels
/// in front of functions (`__pfx_foo`, `__cfi_foo`). Pseudo-modules such as
/// `[bpf]` (BPF programs) and `[__builtin__ftrace]` are listed like modules:
/// callers keep the modules they know to be loaded.
pub fn module_functions(text: &str) -> Result<BTreeMap<String, Vec<String>>, Error> {
    let mut modules: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (number, text) in text.lines().enumerate() {
        let line = parse::line(text).map_err(|reason| Error::Malformed {
            line: number + 1,
            text: text.to_owned(),
            reason,
        })?;
        let Some(module) = line.module else {
            continue;
        };
        let is_code = matches!(line.kind.to_ascii_lowercase(), b't' | b'w');
        let is_entry = !line.name.ends_with(".cold")
            && !line.name.contains(".cold.")
            && !line.name.starts_with("__pfx_")
            && !line.name.starts_with("__cfi_");
        if is_code && is_entry {
            modules
                .entry(module.to_owned())
                .or_default()
                .push(line.name.to_owned());
        }
    }
    for names in modules.values_mut() {
        names.sort_unstable();
        names.dedup();
    }
    Ok(modules)
}

/// Section ends (`_etext`, `__stop___ex_table`, `__entry_text_end`): the bytes
/// after them are another section's, or nothing.
fn is_end_marker(name: &str) -> bool {
    END_MARKERS.contains(&name) || name.starts_with("__stop_") || name.ends_with("_text_end")
}
