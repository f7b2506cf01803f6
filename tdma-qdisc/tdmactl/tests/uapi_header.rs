//! src/uapi.rs against tdma-qdisc/module/tdma_uapi.h: gcc compiles a program
//! that prints every constant, size and offset of the header, and each must
//! equal the Rust value.

use std::collections::BTreeMap;
use std::mem::{offset_of, size_of};
use std::path::Path;
use std::process::Command;

use tdmactl::uapi::*;

/// (C expression, Rust value), printed by the C side as `expression value`.
fn rust_values() -> Vec<(&'static str, u128)> {
    macro_rules! consts {
        ($($name:ident),* $(,)?) => { vec![$((stringify!($name), $name as u128)),*] };
    }
    let mut v = consts![
        TDMA_MAX_WINDOWS,
        TDMA_MIN_FRAME_NS,
        TDMA_MAX_FRAME_NS,
        TDMA_MIN_WINDOW_NS,
        TDMA_MAX_LIMIT,
        TDMA_DEFAULT_LIMIT,
        TCA_TDMA_UNSPEC,
        TCA_TDMA_FRAME_NS,
        TCA_TDMA_BASE_TIME,
        TCA_TDMA_CLOCKID,
        TCA_TDMA_GUARD_NS,
        TCA_TDMA_LIMIT,
        TCA_TDMA_RATE,
        TCA_TDMA_WINDOWS,
        TCA_TDMA_CHANGE_AT,
        TCA_TDMA_PAD,
        TCA_TDMA_MAX,
        TCA_TDMA_WINDOWS_UNSPEC,
        TCA_TDMA_WINDOW_ENTRY,
        TCA_TDMA_WINDOWS_MAX,
        TCA_TDMA_WIN_UNSPEC,
        TCA_TDMA_WIN_OFFSET_NS,
        TCA_TDMA_WIN_LENGTH_NS,
        TCA_TDMA_WIN_PAD,
        TCA_TDMA_WIN_MAX,
        TDMA_DROP_LIMIT,
        TDMA_DROP_TOO_BIG,
        TDMA_DROP_PURGE,
    ];
    macro_rules! layout {
        ($c:literal, $t:ty; $($field:ident),*) => {
            v.push((concat!("sizeof(struct ", $c, ")"), size_of::<$t>() as u128));
            $(v.push((
                concat!("offsetof(struct ", $c, ", ", stringify!($field), ")"),
                offset_of!($t, $field) as u128,
            ));)*
        };
    }
    layout!("tc_tdma_window_stats", TcTdmaWindowStats; packets, bytes);
    layout!("tc_tdma_xstats", TcTdmaXstats;
        frames, windows_opened, deferred, dropped_limit, dropped_too_big,
        late, overrun, changes, nr_windows, pad, window);
    v
}

fn c_program(values: &[(&str, u128)]) -> String {
    let mut c = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include \"tdma_uapi.h\"\nint main(void) {\n",
    );
    for (expr, _) in values {
        c += &format!("  printf(\"%s %llu\\n\", \"{expr}\", (unsigned long long)({expr}));\n");
    }
    c += "  return 0;\n}\n";
    c
}

#[test]
fn rust_mirror_matches_the_c_header() {
    if Command::new("gcc").arg("--version").output().is_err() {
        eprintln!("SKIPPED: gcc is not installed, cannot compile tdma_uapi.h");
        return;
    }
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("../module");
    let dir = std::env::temp_dir().join(format!("tdmactl-uapi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let values = rust_values();
    std::fs::write(dir.join("check.c"), c_program(&values)).unwrap();
    let out = Command::new("gcc")
        .args(["-Wall", "-Werror", "-std=gnu11", "-I"])
        .arg(&module)
        .args(["-I/usr/include", "-o"])
        .arg(dir.join("check"))
        .arg(dir.join("check.c"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gcc failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(dir.join("check")).output().unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(run.status.success());
    let c: BTreeMap<String, u128> = String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_owned(), v.parse().unwrap())
        })
        .collect();
    let mismatches: Vec<String> = values
        .iter()
        .filter(|(expr, rust)| c.get(*expr) != Some(rust))
        .map(|(expr, rust)| format!("{expr}: C {:?}, Rust {rust}", c.get(*expr)))
        .collect();
    assert!(
        mismatches.is_empty(),
        "uapi drift:\n{}",
        mismatches.join("\n")
    );
    assert_eq!(c.len(), values.len());
}
