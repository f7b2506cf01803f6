//! The table on made-up text (edge cases) and on the host's `/proc/kallsyms`.

use std::{fs, sync::OnceLock};

use super::{Error, KALLSYMS_PATH, Kallsyms, MAX_OFFSET, Symbol, is_end_marker, module_functions};

const SAMPLE: &str = "\
0000000000000000 A fixed_percpu_data
ffffffff81000000 T _stext
ffffffff81000000 T _text
ffffffff81000000 T startup_64
ffffffff81000100 t helper
ffffffff81000200 T ip_rcv
ffffffff81000300 T _etext
ffffffff81000300 D data_start
ffffffff81000400 T _etext_again
ffffffffc0a01000 t tdma_enqueue\t[sch_tdma]
ffffffffc0a01200 t tdma_dequeue\t[sch_tdma]
ffffffffc0b00000 t helper\t[other]
";

fn sym<'a>(name: &'a str, offset: u64, module: Option<&'a str>, kind: char) -> Symbol<'a> {
    Symbol {
        name,
        offset,
        module,
        kind,
    }
}

#[test]
fn lookup_finds_the_enclosing_symbol() {
    let table = Kallsyms::parse(SAMPLE).unwrap();
    assert_eq!(table.len(), 12);
    assert_eq!(
        table.lookup(0xffffffff81000205),
        Some(sym("ip_rcv", 5, None, 'T'))
    );
    assert_eq!(
        table.lookup(0xffffffff81000100),
        Some(sym("helper", 0, None, 't'))
    );
    // Three names at one address: the first listed code symbol is named.
    assert_eq!(table.lookup(0xffffffff81000010).unwrap().name, "_stext");
    assert_eq!(
        table.lookup(0xffffffffc0a01204),
        Some(sym("tdma_dequeue", 4, Some("sch_tdma"), 't'))
    );
    assert_eq!(table.lookup(0xffffffff80ffffff), None, "before the first");
}

#[test]
fn lookup_refuses_what_no_symbol_covers() {
    let table = Kallsyms::parse(SAMPLE).unwrap();
    // `data_start` shares `_etext`'s address and wins: data is named, markers not.
    assert_eq!(table.lookup(0xffffffff81000310).unwrap().name, "data_start");
    // The last symbol of a module has no known end: the cap applies.
    let last = 0xffffffffc0b00000;
    assert_eq!(table.lookup(last + MAX_OFFSET - 1).unwrap().name, "helper");
    assert_eq!(table.lookup(last + MAX_OFFSET), None);
    assert_eq!(table.lookup(u64::MAX), None);
    // Absolute symbols are offsets, not places.
    assert_eq!(table.lookup(0x10), None);
    let marker = Kallsyms::parse("ffffffff81000000 T f\nffffffff81000100 T _etext\n").unwrap();
    assert_eq!(marker.lookup(0xffffffff810000ff).unwrap().name, "f");
    assert_eq!(marker.lookup(0xffffffff81000100), None);
}

#[test]
fn address_of_prefers_the_kernel_image() {
    let table = Kallsyms::parse(SAMPLE).unwrap();
    assert_eq!(table.address_of("ip_rcv"), Some(0xffffffff81000200));
    assert_eq!(table.address_of("helper"), Some(0xffffffff81000100));
    assert_eq!(table.address_of("tdma_enqueue"), Some(0xffffffffc0a01000));
    assert_eq!(table.address_of("fixed_percpu_data"), Some(0));
    assert_eq!(table.address_of("no_such_symbol"), None);
    assert_eq!(table.address_of(""), None);
    let addresses: Vec<u64> = table.iter().map(|(address, _)| address).collect();
    assert!(addresses.is_sorted());
}

#[test]
fn addresses_of_lists_every_definition() {
    let table = Kallsyms::parse(SAMPLE).unwrap();
    let helper: Vec<_> = table.addresses_of("helper").collect();
    assert_eq!(
        helper,
        [
            (0xffffffff81000100, None),
            (0xffffffffc0b00000, Some("other"))
        ]
    );
    let enqueue: Vec<_> = table.addresses_of("tdma_enqueue").collect();
    assert_eq!(enqueue, [(0xffffffffc0a01000, Some("sch_tdma"))]);
    assert_eq!(table.addresses_of("no_such_symbol").count(), 0);
}

#[test]
fn hidden_empty_and_malformed_tables_are_errors() {
    let hidden = "0000000000000000 T _stext\n0000000000000000 t helper\t[m]\n";
    let err = Kallsyms::parse(hidden).err().unwrap();
    assert!(matches!(err, Error::Hidden));
    assert_eq!(
        err.to_string(),
        "kallsyms addresses are hidden (kptr_restrict; run as root)"
    );
    assert!(matches!(Kallsyms::parse(""), Err(Error::Empty)));
    let err = Kallsyms::parse("ffffffff81000000 T a\nnonsense\n")
        .err()
        .unwrap();
    assert!(matches!(err, Error::Malformed { line: 2, .. }), "{err}");
    assert!(err.to_string().contains("`nonsense`"), "{err}");
    let err = Kallsyms::from_file("/nonexistent/kallsyms").err().unwrap();
    assert!(err.to_string().contains("/nonexistent/kallsyms"), "{err}");
}

fn host() -> &'static Kallsyms {
    static TABLE: OnceLock<Kallsyms> = OnceLock::new();
    TABLE.get_or_init(|| Kallsyms::from_proc().expect("tests run as root"))
}

#[test]
fn host_stack_functions_resolve() {
    let table = host();
    assert!(table.len() > 10_000, "{} symbols", table.len());
    for name in ["ip_rcv", "tcp_v4_rcv"] {
        let address = table.address_of(name).unwrap_or_else(|| panic!("{name}"));
        let found = table.lookup(address).unwrap();
        assert_eq!((found.name, found.offset), (name, 0));
        assert!(found.kind.eq_ignore_ascii_case(&'t'), "{found:?}");
    }
    let ip_rcv = table.address_of("ip_rcv").unwrap();
    let found = table.lookup(ip_rcv + 5).unwrap();
    assert_eq!(
        (found.name, found.offset, found.module),
        ("ip_rcv", 5, None)
    );
    // Beyond the end of kernel text, nothing is credited to the last function.
    let etext = table.address_of("_etext").unwrap();
    if let Some(found) = table.lookup(etext) {
        assert_ne!(found.name, "_etext");
    }
}

#[test]
fn host_every_code_symbol_maps_back_to_itself() {
    let table = host();
    let mut checked = 0;
    for (address, symbol) in table.iter() {
        // Section-end markers own nothing unless code shares their address.
        if !symbol.kind.eq_ignore_ascii_case(&'t') || is_end_marker(symbol.name) {
            continue;
        }
        let found = table.lookup(address).expect("a code symbol is looked up");
        // Aliases share an address: the one named lies at this address too.
        assert_eq!(found.offset, 0, "{symbol:?}");
        assert!(found.kind.eq_ignore_ascii_case(&'t'), "{found:?}");
        checked += 1;
    }
    assert!(checked > 10_000);
}

#[test]
fn host_module_symbols_carry_their_module() {
    let modules = fs::read_to_string("/proc/modules").unwrap_or_default();
    let Some(module) = modules.split_whitespace().next() else {
        eprintln!("no modules loaded on this host: skipping module symbols");
        return;
    };
    let text = fs::read_to_string(KALLSYMS_PATH).unwrap();
    let tag = format!("\t[{module}]");
    let line = text.lines().find(|line| line.ends_with(&tag)).unwrap();
    let name = line.split(' ').nth(2).unwrap().split('\t').next().unwrap();
    let address = u64::from_str_radix(line.split(' ').next().unwrap(), 16).unwrap();
    let found = host().lookup(address).unwrap();
    assert_eq!(found.offset, 0);
    assert_eq!(found.module, Some(module), "{name}");
}

#[test]
fn module_functions_are_the_entry_points_of_each_module() {
    let text = format!(
        "{SAMPLE}\
ffffffffc0a01300 t __pfx_tdma_peek\t[sch_tdma]
ffffffffc0a01310 t tdma_peek\t[sch_tdma]
ffffffffc0a01400 t tdma_peek.cold\t[sch_tdma]
ffffffffc0a01500 d tdma_qdisc_ops\t[sch_tdma]
ffffffffc0a01600 T tdma_init_module\t[sch_tdma]
ffffffffc0c00000 t bpf_prog_6deef7357e7b4530_sd_fw_egress\t[bpf]
"
    );
    let modules = module_functions(&text).unwrap();
    assert_eq!(
        modules["sch_tdma"],
        [
            "tdma_dequeue",
            "tdma_enqueue",
            "tdma_init_module",
            "tdma_peek"
        ]
    );
    assert_eq!(modules["other"], ["helper"]);
    assert!(modules.contains_key("bpf"), "callers filter pseudo-modules");
    assert!(!modules.values().flatten().any(|f| f == "ip_rcv"));
    assert!(matches!(
        module_functions("10 t x\tmod"),
        Err(Error::Malformed { line: 1, .. })
    ));
}
