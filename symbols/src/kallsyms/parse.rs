//! One line of `/proc/kallsyms`: `ffffffffc0a01000 t name\t[module]`.

/// A parsed line, borrowing from the text.
pub(super) struct Line<'a> {
    pub address: u64,
    pub kind: u8,
    pub name: &'a str,
    pub module: Option<&'a str>,
}

/// Splits one line, or says why it cannot.
pub(super) fn line(text: &str) -> Result<Line<'_>, &'static str> {
    let (address, rest) = text.split_once(' ').ok_or("no address")?;
    let address = u64::from_str_radix(address, 16).map_err(|_| "address is not hexadecimal")?;
    let (kind, rest) = rest.split_once(' ').ok_or("no type letter")?;
    let &[kind] = kind.as_bytes() else {
        return Err("type is not one letter");
    };
    if !kind.is_ascii_alphabetic() {
        return Err("type is not a letter");
    }
    // Module symbols end in `\t[module]`; names themselves have no tab.
    let (name, module) = match rest.split_once('\t') {
        Some((name, module)) => {
            let module = module
                .trim_end()
                .strip_prefix('[')
                .and_then(|m| m.strip_suffix(']'))
                .filter(|m| !m.is_empty())
                .ok_or("module is not `[name]`")?;
            (name, Some(module))
        }
        None => (rest.trim_end(), None),
    };
    if name.is_empty() {
        return Err("no symbol name");
    }
    Ok(Line {
        address,
        kind,
        name,
        module,
    })
}

#[cfg(test)]
mod tests {
    use super::line;

    #[test]
    fn kernel_and_module_lines() {
        let l = line("ffffffff81000000 T _stext").unwrap();
        assert_eq!(
            (l.address, l.kind, l.name, l.module),
            (0xffffffff81000000, b'T', "_stext", None)
        );
        let l = line("ffffffffc0a01010 t tdma_enqueue\t[sch_tdma]").unwrap();
        assert_eq!(
            (l.address, l.kind, l.name, l.module),
            (0xffffffffc0a01010, b't', "tdma_enqueue", Some("sch_tdma"))
        );
    }

    #[test]
    fn broken_lines_say_why() {
        for (text, reason) in [
            ("", "no address"),
            ("zz T x", "address is not hexadecimal"),
            ("10 T", "no type letter"),
            ("10 TT x", "type is not one letter"),
            ("10 1 x", "type is not a letter"),
            ("10 T ", "no symbol name"),
            ("10 t x\tmod", "module is not `[name]`"),
            ("10 t x\t[]", "module is not `[name]`"),
        ] {
            assert_eq!(line(text).err(), Some(reason), "{text:?}");
        }
    }
}
