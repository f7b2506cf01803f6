//! Queries by function name, walking every unit's DIEs (gimli): declaration
//! sites and inline sites. No index is kept: a `.ko` walks in milliseconds, a
//! full vmlinux in seconds, and callers ask about a handful of functions.

use std::{collections::HashSet, path::PathBuf};

use gimli::{AttributeValue, DebugInfoOffset, DebuggingInformationEntry, Reader as _, constants};

use super::{DebugInfo, Error, InlineSite, Location, load::Reader};

type UnitRef<'a> = gimli::UnitRef<'a, Reader>;
type Entry = DebuggingInformationEntry<Reader>;

/// Links followed to name a DIE (concrete → abstract instance → declaration).
const MAX_NAME_HOPS: usize = 4;

impl DebugInfo {
    /// Where subprogram `name` is declared (`DW_AT_decl_file`/`decl_line`): a
    /// definition's location when there is one, else a declaration's.
    pub fn function_location(&self, name: &str) -> Result<Option<Location>, Error> {
        self.require_debug_info()?;
        self.find_function_location(name)
            .map_err(|error| self.malformed(error))
    }

    /// Every place `name` was inlined, in DIE order.
    pub fn inline_sites(&self, name: &str) -> Result<Vec<InlineSite>, Error> {
        self.require_debug_info()?;
        self.find_inline_sites(name)
            .map_err(|error| self.malformed(error))
    }

    fn find_function_location(&self, name: &str) -> gimli::Result<Option<Location>> {
        let mut declaration = None;
        let mut units = self.dwarf.units();
        while let Some(header) = units.next()? {
            let unit = self.dwarf.unit(header)?;
            let unit = unit.unit_ref(&self.dwarf);
            let mut entries = unit.entries();
            while let Some(entry) = entries.next_dfs()? {
                if entry.tag() != constants::DW_TAG_subprogram || !has_name(unit, entry, name)? {
                    continue;
                }
                let Some(location) = source_location(
                    unit,
                    entry,
                    constants::DW_AT_decl_file,
                    constants::DW_AT_decl_line,
                )?
                else {
                    continue;
                };
                if entry.attr_value(constants::DW_AT_declaration).is_some() {
                    declaration.get_or_insert(location);
                } else {
                    return Ok(Some(location));
                }
            }
        }
        Ok(declaration)
    }

    fn find_inline_sites(&self, name: &str) -> gimli::Result<Vec<InlineSite>> {
        let targets = self.subprograms_named(name)?;
        let mut sites = Vec::new();
        if targets.is_empty() {
            return Ok(sites);
        }
        let mut units = self.dwarf.units();
        while let Some(header) = units.next()? {
            let unit = self.dwarf.unit(header)?;
            let unit = unit.unit_ref(&self.dwarf);
            // Functions enclosing the current DIE: (depth, name, out of line).
            let mut enclosing: Vec<(isize, String, bool)> = Vec::new();
            let mut entries = unit.entries();
            while let Some(entry) = entries.next_dfs()? {
                let depth = entry.depth();
                while enclosing.last().is_some_and(|(d, ..)| *d >= depth) {
                    enclosing.pop();
                }
                let tag = entry.tag();
                let out_of_line = tag == constants::DW_TAG_subprogram;
                if !out_of_line && tag != constants::DW_TAG_inlined_subroutine {
                    continue;
                }
                if !out_of_line
                    && abstract_origin(unit, entry).is_some_and(|origin| targets.contains(&origin))
                    && let Some(call) = source_location(
                        unit,
                        entry,
                        constants::DW_AT_call_file,
                        constants::DW_AT_call_line,
                    )?
                {
                    let unknown = || "<unknown>".to_owned();
                    sites.push(InlineSite {
                        caller: enclosing.last().map_or_else(unknown, |(_, n, _)| n.clone()),
                        subprogram: enclosing
                            .iter()
                            .find(|(.., out_of_line)| *out_of_line)
                            .map_or_else(unknown, |(_, n, _)| n.clone()),
                        file: call.file,
                        line: call.line,
                    });
                }
                let own_name = die_name(unit, entry)?.unwrap_or_else(|| "<unknown>".to_owned());
                enclosing.push((depth, own_name, out_of_line));
            }
        }
        Ok(sites)
    }

    /// Offsets of the subprogram DIEs called `name` (abstract instances
    /// included: inlined copies point at those).
    fn subprograms_named(&self, name: &str) -> gimli::Result<HashSet<DebugInfoOffset>> {
        let mut found = HashSet::new();
        let mut units = self.dwarf.units();
        while let Some(header) = units.next()? {
            let unit = self.dwarf.unit(header)?;
            let unit = unit.unit_ref(&self.dwarf);
            let mut entries = unit.entries();
            while let Some(entry) = entries.next_dfs()? {
                if entry.tag() == constants::DW_TAG_subprogram
                    && has_name(unit, entry, name)?
                    && let Some(offset) = entry.offset().to_debug_info_offset(&unit.header)
                {
                    found.insert(offset);
                }
            }
        }
        Ok(found)
    }
}

fn has_name(unit: UnitRef, entry: &Entry, name: &str) -> gimli::Result<bool> {
    let Some(value) = entry.attr_value(constants::DW_AT_name) else {
        return Ok(false);
    };
    Ok(unit.attr_string(value)?.to_slice()?.as_ref() == name.as_bytes())
}

/// A DIE's name, its own or its abstract instance's / declaration's (concrete
/// out-of-line copies of inline functions carry none). References into other
/// units are not followed.
fn die_name(unit: UnitRef, entry: &Entry) -> gimli::Result<Option<String>> {
    let mut current = entry.clone();
    for _ in 0..MAX_NAME_HOPS {
        if let Some(value) = current.attr_value(constants::DW_AT_name) {
            return Ok(Some(string(unit, value)?));
        }
        let link = current
            .attr_value(constants::DW_AT_abstract_origin)
            .or_else(|| current.attr_value(constants::DW_AT_specification));
        current = match link {
            Some(AttributeValue::UnitRef(offset)) => unit.entry(offset)?,
            Some(AttributeValue::DebugInfoRef(offset)) => {
                match offset.to_unit_offset(&unit.header) {
                    Some(offset) => unit.entry(offset)?,
                    None => return Ok(None),
                }
            }
            _ => return Ok(None),
        };
    }
    Ok(None)
}

fn abstract_origin(unit: UnitRef, entry: &Entry) -> Option<DebugInfoOffset> {
    match entry.attr_value(constants::DW_AT_abstract_origin)? {
        AttributeValue::UnitRef(offset) => offset.to_debug_info_offset(&unit.header),
        AttributeValue::DebugInfoRef(offset) => Some(offset),
        _ => None,
    }
}

/// file:line from a pair of attributes (`decl_*` or `call_*`).
fn source_location(
    unit: UnitRef,
    entry: &Entry,
    file: constants::DwAt,
    line: constants::DwAt,
) -> gimli::Result<Option<Location>> {
    let Some(AttributeValue::FileIndex(index)) = entry.attr_value(file) else {
        return Ok(None);
    };
    let Some(line) = entry
        .attr_value(line)
        .and_then(|value| value.udata_value())
        .and_then(|line| u32::try_from(line).ok())
    else {
        return Ok(None);
    };
    Ok(file_path(unit, index)?.map(|file| Location { file, line }))
}

/// Path of entry `index` of the unit's line-table file list, joined to its
/// directory and the compilation directory as far as those are relative.
fn file_path(unit: UnitRef, index: u64) -> gimli::Result<Option<String>> {
    let Some(program) = &unit.line_program else {
        return Ok(None);
    };
    let header = program.header();
    let Some(file) = header.file(index) else {
        return Ok(None);
    };
    let mut path = PathBuf::new();
    if let Some(comp_dir) = &unit.comp_dir {
        path.push(&*comp_dir.to_string_lossy()?);
    }
    if let Some(directory) = file.directory(header) {
        // `push` replaces the path when the pushed part is absolute.
        path.push(string(unit, directory)?);
    }
    path.push(string(unit, file.path_name())?);
    Ok(Some(path.to_string_lossy().into_owned()))
}

fn string(unit: UnitRef, value: AttributeValue<Reader>) -> gimli::Result<String> {
    Ok(unit.attr_string(value)?.to_string_lossy()?.into_owned())
}
