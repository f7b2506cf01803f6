//! Writes small BTF blobs by hand, to test shapes (and breakage) the running
//! kernel's BTF does not show.

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_STRUCT: u32 = 4;
const KIND_ENUM: u32 = 6;
const KIND_TYPEDEF: u32 = 8;
const KIND_CONST: u32 = 10;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_ENUM64: u32 = 19;

/// A struct member: name ("" for anonymous), type id, bit offset, and bitfield
/// width (0 for an ordinary member).
pub type Field<'a> = (&'a str, u32, u32, u32);

pub struct BtfBuilder {
    types: Vec<u32>,
    strings: Vec<u8>,
    next_id: u32,
    /// Offset of `strings` in the combined string table: the base's length
    /// for split BTF, 0 otherwise.
    string_base: u32,
}

impl BtfBuilder {
    pub fn new() -> Self {
        BtfBuilder {
            types: Vec::new(),
            strings: vec![0],
            next_id: 1,
            string_base: 0,
        }
    }

    /// Split BTF over `base` (as a module's over vmlinux): type ids and
    /// string offsets continue where the base's end.
    pub fn split_over(base: &BtfBuilder) -> Self {
        BtfBuilder {
            types: Vec::new(),
            strings: Vec::new(),
            next_id: base.next_id,
            string_base: base.string_base + base.strings.len() as u32,
        }
    }

    /// Id the next added type gets, for types that refer to themselves.
    pub fn next_id(&self) -> u32 {
        self.next_id
    }

    pub fn int(&mut self, name: &str, bytes: u32) -> u32 {
        self.push(name, KIND_INT, false, 0, bytes, &[bytes * 8])
    }

    pub fn ptr(&mut self, target: u32) -> u32 {
        self.push("", KIND_PTR, false, 0, target, &[])
    }

    pub fn typedef(&mut self, name: &str, target: u32) -> u32 {
        self.push(name, KIND_TYPEDEF, false, 0, target, &[])
    }

    pub fn constant(&mut self, target: u32) -> u32 {
        self.push("", KIND_CONST, false, 0, target, &[])
    }

    /// A struct with the kind flag set, so members carry bitfield widths.
    pub fn structure(&mut self, name: &str, size: u32, fields: &[Field]) -> u32 {
        let mut extra = Vec::new();
        for &(field, type_id, bit_offset, bits) in fields {
            extra.extend([self.name(field), type_id, bits << 24 | bit_offset]);
        }
        self.push(name, KIND_STRUCT, true, fields.len() as u32, size, &extra)
    }

    pub fn enum32(&mut self, name: &str, signed: bool, values: &[(&str, u32)]) -> u32 {
        let mut extra = Vec::new();
        for &(value_name, value) in values {
            extra.extend([self.name(value_name), value]);
        }
        self.push(name, KIND_ENUM, signed, values.len() as u32, 4, &extra)
    }

    pub fn enum64(&mut self, name: &str, values: &[(&str, u64)]) -> u32 {
        let mut extra = Vec::new();
        for &(value_name, value) in values {
            extra.extend([self.name(value_name), value as u32, (value >> 32) as u32]);
        }
        self.push(name, KIND_ENUM64, false, values.len() as u32, 8, &extra)
    }

    /// Parameters are (name, type id); ("", 0) is the variadic `...`.
    pub fn func_proto(&mut self, ret: u32, params: &[(&str, u32)]) -> u32 {
        let mut extra = Vec::new();
        for &(param, type_id) in params {
            extra.extend([self.name(param), type_id]);
        }
        self.push("", KIND_FUNC_PROTO, false, params.len() as u32, ret, &extra)
    }

    pub fn func(&mut self, name: &str, proto: u32) -> u32 {
        // vlen 1: global linkage.
        self.push(name, KIND_FUNC, false, 1, proto, &[])
    }

    /// The blob: header, types, strings.
    pub fn build(&self) -> Vec<u8> {
        let type_len = (self.types.len() * 4) as u32;
        let mut blob = Vec::new();
        blob.extend(0xeb9f_u16.to_le_bytes());
        blob.extend([1, 0]); // version, flags
        for word in [24, 0, type_len, type_len, self.strings.len() as u32] {
            blob.extend(u32::to_le_bytes(word));
        }
        for word in &self.types {
            blob.extend(word.to_le_bytes());
        }
        blob.extend(&self.strings);
        blob
    }

    fn name(&mut self, name: &str) -> u32 {
        if name.is_empty() {
            return 0;
        }
        let offset = self.string_base + self.strings.len() as u32;
        self.strings.extend(name.as_bytes());
        self.strings.push(0);
        offset
    }

    fn push(
        &mut self,
        name: &str,
        kind: u32,
        kind_flag: bool,
        vlen: u32,
        size_or_type: u32,
        extra: &[u32],
    ) -> u32 {
        let name = self.name(name);
        let info = u32::from(kind_flag) << 31 | kind << 24 | vlen;
        self.types.extend([name, info, size_or_type]);
        self.types.extend(extra);
        self.next_id += 1;
        self.next_id - 1
    }
}
