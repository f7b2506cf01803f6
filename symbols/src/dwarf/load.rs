//! From ELF bytes to `gimli::Dwarf`: each debug section copied out of the file
//! (decompressed when `SHF_COMPRESSED` or `.zdebug_`), and for relocatable
//! objects (.ko) read through its relocations, since there `.debug_info`'s
//! string and line-table offsets are only relocation addends.

use std::sync::Arc;

use gimli::{EndianArcSlice, RunTimeEndian, SectionId};
use object::{BinaryFormat, Object, ObjectKind, ObjectSection, RelocationMap};

use super::Error;

pub(super) type Slice = EndianArcSlice<RunTimeEndian>;
/// The reader every query uses: owned section bytes plus relocations.
pub(super) type Reader = gimli::RelocateReader<Slice, Relocations>;

/// A section's relocations; empty for executables, whose bytes are final.
#[derive(Clone, Debug, Default)]
pub(super) struct Relocations(Option<Arc<RelocationMap>>);

impl gimli::Relocate for Relocations {
    fn relocate_address(&self, offset: usize, value: u64) -> gimli::Result<u64> {
        Ok(match &self.0 {
            Some(map) => map.relocate(offset as u64, value),
            None => value,
        })
    }

    fn relocate_offset(&self, offset: usize, value: usize) -> gimli::Result<usize> {
        let Some(map) = &self.0 else {
            return Ok(value);
        };
        let relocated = map.relocate(offset as u64, value as u64);
        usize::try_from(relocated).map_err(|_| gimli::Error::OffsetOutOfBounds(relocated))
    }
}

/// What the ELF file says, before any DWARF is parsed.
pub(super) struct Loaded {
    pub dwarf: gimli::Dwarf<Reader>,
    pub relocatable: bool,
    pub has_debug_info: bool,
}

pub(super) fn load(bytes: &[u8], origin: &str) -> Result<Loaded, Error> {
    let file = object::File::parse(bytes).map_err(|error| Error::Elf {
        origin: origin.to_owned(),
        error,
    })?;
    if file.format() != BinaryFormat::Elf {
        return Err(Error::NotElf {
            origin: origin.to_owned(),
            format: format!("{:?}", file.format()),
        });
    }
    let relocatable = file.kind() == ObjectKind::Relocatable;
    let endian = if file.is_little_endian() {
        RunTimeEndian::Little
    } else {
        RunTimeEndian::Big
    };
    let has_debug_info = file
        .section_by_name(SectionId::DebugInfo.name())
        .is_some_and(|section| section.size() > 0);
    let section = |id: SectionId| -> Result<Reader, Error> {
        let failed = |error| Error::Section {
            origin: origin.to_owned(),
            section: id.name(),
            error,
        };
        let Some(section) = file.section_by_name(id.name()) else {
            return Ok(Reader::new(
                Slice::new(Arc::from(&[][..]), endian),
                Relocations::default(),
            ));
        };
        let data = section.uncompressed_data().map_err(failed)?;
        let relocations = if relocatable {
            Relocations(Some(Arc::new(section.relocation_map().map_err(failed)?)))
        } else {
            Relocations(None)
        };
        Ok(Reader::new(
            Slice::new(Arc::from(&*data), endian),
            relocations,
        ))
    };
    let dwarf = gimli::Dwarf::load(section)?;
    Ok(Loaded {
        dwarf,
        relocatable,
        has_debug_info,
    })
}
