//! `symbols::dwarf` on ELF files gcc builds here from C written by the test,
//! checked against line numbers found in that C by marker comments, and on the
//! tdma-qdisc kernel module when it has been built.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use object::{Object, ObjectSection, ObjectSymbol};
use symbols::dwarf::{DebugInfo, Error, Frame};

const FIXTURE: &str = r#"
extern volatile int sink_value;
volatile int sink_value;

__attribute__((noinline)) void sink(int x) /* DECL:sink */
{
    sink_value = x;
}

static inline __attribute__((always_inline)) int leaf(int x) /* DECL:leaf */
{
    sink(x * 3); /* BODY:leaf */
    return x + 1;
}

static inline __attribute__((always_inline)) int middle(int x) /* DECL:middle */
{
    return leaf(x ^ 5) + 2; /* CALL:middle->leaf */
}

static int plain(int x) /* DECL:plain */
{
    return x + 11;
}

__attribute__((noinline)) int outer(int x) /* DECL:outer */
{
    volatile int v = middle(x); /* CALL:outer->middle */
    return v + plain(x);
}

int main(int argc, char **argv)
{
    (void)argv;
    return outer(argc);
}
"#;

/// Line (1-based) of the fixture line holding `marker`.
fn line_of(marker: &str) -> u32 {
    let index = FIXTURE
        .lines()
        .position(|line| line.contains(&format!("/* {marker} */")))
        .unwrap_or_else(|| panic!("no marker {marker}"));
    index as u32 + 1
}

/// A directory of its own per test (tests run in parallel).
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pkttrace-dwarf-{}-{name}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Compiles the fixture with `flags`; `None` (test skipped) without gcc.
fn build(name: &str, flags: &[&str]) -> Option<PathBuf> {
    let dir = scratch(name);
    let source = dir.join("fixture.c");
    fs::write(&source, FIXTURE).unwrap();
    let output = dir.join(name);
    let result = Command::new("gcc")
        .args(flags)
        .arg(&source)
        .arg("-o")
        .arg(&output)
        .output();
    match result {
        Err(error) => {
            eprintln!("gcc unavailable ({error}): skipping");
            None
        }
        Ok(out) => {
            assert!(
                out.status.success(),
                "gcc {flags:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(output)
        }
    }
}

/// Address and size of function symbol `name` in the ELF file.
fn symbol(path: &Path, name: &str) -> (u64, u64) {
    let bytes = fs::read(path).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    let symbol = file
        .symbols()
        .find(|s| s.name() == Ok(name))
        .unwrap_or_else(|| panic!("no symbol {name}"));
    (symbol.address(), symbol.size())
}

fn check_names(info: &DebugInfo) {
    for function in ["sink", "leaf", "middle", "plain", "outer"] {
        let location = info
            .function_location(function)
            .unwrap()
            .unwrap_or_else(|| panic!("no location for {function}"));
        assert!(location.file.ends_with("/fixture.c"), "{location:?}");
        assert!(Path::new(&location.file).is_absolute(), "{location:?}");
        assert_eq!(
            location.line,
            line_of(&format!("DECL:{function}")),
            "{function}"
        );
    }
    assert_eq!(info.function_location("no_such_function").unwrap(), None);

    let leaf = info.inline_sites("leaf").unwrap();
    assert!(!leaf.is_empty(), "leaf is always inlined");
    for site in &leaf {
        assert_eq!(site.caller, "middle");
        assert_eq!(site.subprogram, "outer");
        assert_eq!(site.line, line_of("CALL:middle->leaf"));
        assert!(site.file.ends_with("/fixture.c"));
    }
    let middle = info.inline_sites("middle").unwrap();
    assert!(!middle.is_empty());
    assert!(middle.iter().all(|site| site.caller == "outer"
        && site.subprogram == "outer"
        && site.line == line_of("CALL:outer->middle")));
    assert!(info.inline_sites("sink").unwrap().is_empty(), "noinline");
    assert!(info.inline_sites("no_such_function").unwrap().is_empty());
}

/// Finds, inside `outer`, an address in leaf's body and checks the chain.
fn check_inline_chain(info: &DebugInfo, path: &Path) {
    let (start, size) = symbol(path, "outer");
    assert!(size > 0);
    let chain = (start..start + size)
        .map(|addr| info.address_location(addr).unwrap())
        .find(|frames| frames.first().and_then(|f| f.function.as_deref()) == Some("leaf"))
        .expect("some instruction of outer is leaf's inlined body");
    let at = |function: &str, marker: &str| Frame {
        function: Some(function.to_owned()),
        file: chain[0].file.clone(),
        line: Some(line_of(marker)),
    };
    assert_eq!(
        chain,
        [
            at("leaf", "BODY:leaf"),
            at("middle", "CALL:middle->leaf"),
            at("outer", "CALL:outer->middle"),
        ]
    );
    assert!(chain[0].file.as_deref().unwrap().ends_with("/fixture.c"));

    // The first instruction of a noinline function is its own, not inlined.
    let (sink, _) = symbol(path, "sink");
    let frames = info.address_location(sink).unwrap();
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0].function.as_deref(), Some("sink"));
    // Far outside any unit: no frames.
    assert!(info.address_location(u64::MAX - 16).unwrap().is_empty());
}

#[test]
fn executable_names_and_addresses() {
    let Some(path) = build("exe", &["-g", "-O2"]) else {
        return;
    };
    let info = DebugInfo::open(&path).unwrap();
    assert!(info.has_debug_info());
    assert!(!info.is_relocatable());
    check_names(&info);
    check_inline_chain(&info, &path);
}

#[test]
fn relocatable_object_is_read_through_its_relocations() {
    // As a .ko: ET_REL, string and line offsets only in relocations.
    let Some(path) = build("obj.o", &["-g", "-O2", "-c", "-fno-reorder-functions"]) else {
        return;
    };
    let info = DebugInfo::open(&path).unwrap();
    assert!(info.is_relocatable());
    check_names(&info);
    // `-fno-reorder-functions` keeps `main` out of `.text.startup`: with every
    // function in `.text`, section offsets are unambiguous.
    check_inline_chain(&info, &path);
}

#[test]
fn compressed_debug_sections_are_read() {
    let Some(path) = build("zlib", &["-g", "-O2", "-gz=zlib"]) else {
        return;
    };
    let bytes = fs::read(&path).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    let compressed = file
        .sections()
        .filter(|s| {
            matches!(s.flags(), object::SectionFlags::Elf { sh_flags }
                if sh_flags & u64::from(object::elf::SHF_COMPRESSED) != 0)
        })
        .count();
    assert!(compressed > 0, "gcc -gz=zlib compressed nothing");
    let info = DebugInfo::from_bytes(&bytes).unwrap();
    check_names(&info);
    check_inline_chain(&info, &path);
}

#[test]
fn missing_debug_info_says_how_to_get_it() {
    let Some(path) = build("nodebug", &["-O2", "-s"]) else {
        return;
    };
    let info = DebugInfo::open(&path).unwrap();
    assert!(!info.has_debug_info());
    let err = info.function_location("outer").unwrap_err();
    assert!(matches!(err, Error::NoDebugInfo { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("linux-image-$(uname -r)-dbg"), "{message}");
    assert!(message.contains("CONFIG_DEBUG_INFO"), "{message}");
    assert!(matches!(
        info.address_location(0x1000),
        Err(Error::NoDebugInfo { .. })
    ));
    assert!(matches!(
        info.inline_sites("leaf"),
        Err(Error::NoDebugInfo { .. })
    ));
}

#[test]
fn broken_files_are_errors_not_panics() {
    let err = DebugInfo::open("/nonexistent/vmlinux").err().unwrap();
    assert!(matches!(err, Error::Read { .. }), "{err}");
    assert!(matches!(DebugInfo::from_bytes(&[]), Err(Error::Elf { .. })));
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert!(matches!(
        DebugInfo::from_bytes(&garbage),
        Err(Error::Elf { .. })
    ));

    let Some(path) = build("trunc", &["-g", "-O2", "-c"]) else {
        return;
    };
    let full = fs::read(&path).unwrap();
    // Every prefix length class: header, section table, inside DWARF.
    let mut lengths: Vec<usize> = (1..64).map(|i| full.len() * i / 64).collect();
    lengths.extend([0, 16, 63, 64, full.len() - 1]);
    for len in lengths {
        exercise(&full[..len]);
    }
    // Flipped bytes in the middle of the debug sections.
    for seed in 0..64usize {
        let mut bytes = full.clone();
        for k in 0..8 {
            let at = (seed * 7919 + k * 104_729) % bytes.len();
            bytes[at] ^= 0xa5;
        }
        exercise(&bytes);
    }
}

/// Whatever opens must answer every query with a value or an error.
fn exercise(bytes: &[u8]) {
    let Ok(info) = DebugInfo::from_bytes(bytes) else {
        return;
    };
    let _ = info.function_location("outer");
    let _ = info.inline_sites("leaf");
    for addr in 0..64 {
        let _ = info.address_location(addr);
    }
}

#[test]
fn tdma_module_function_location() {
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tdma-qdisc/module");
    let ko = module.join("sch_tdma.ko");
    if !ko.exists() {
        eprintln!(
            "{} not built (make -C tdma-qdisc/module KDIR=/lib/modules/<release>/build): skipping",
            ko.display()
        );
        return;
    }
    let info = DebugInfo::open(&ko).unwrap();
    assert!(info.is_relocatable());
    let source = fs::read_to_string(module.join("sch_tdma.c")).unwrap();
    let expected = source
        .lines()
        .position(|line| line.starts_with("static int tdma_enqueue("))
        .expect("tdma_enqueue defined in sch_tdma.c") as u32
        + 1;
    let location = info.function_location("tdma_enqueue").unwrap().unwrap();
    assert!(location.file.ends_with("sch_tdma.c"), "{location:?}");
    assert_eq!(
        location.line,
        expected,
        "stale {}? rebuild it after changing sch_tdma.c",
        ko.display()
    );
}
