//! `cargo bench -p symbols`: load and lookup figures on the host's real data
//! (vmlinux BTF, /proc/kallsyms) and on a generated C file compiled with gcc.
//! Plain `std::time`; each figure is the best of a few runs.

use std::{
    fs,
    hint::black_box,
    process::Command,
    time::{Duration, Instant},
};

use object::{Object, ObjectSection};
use symbols::{DebugInfo, Kallsyms, KernelBtf, kallsyms::KALLSYMS_PATH};

/// Best wall time of `runs` calls of `f`.
fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed()
        })
        .min()
        .unwrap()
}

/// Deterministic xorshift, so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

fn btf() {
    let load = best(5, || KernelBtf::from_sys().unwrap());
    let btf = KernelBtf::from_sys().unwrap();
    let query = best(5, || btf.kernel_offsets().unwrap());
    println!("btf: vmlinux load+index {load:?}, kernel_offsets() {query:?}");
}

fn kallsyms() {
    let text = fs::read_to_string(KALLSYMS_PATH).unwrap();
    let parse = best(5, || Kallsyms::parse(&text).unwrap());
    let table = Kallsyms::parse(&text).unwrap();
    println!(
        "kallsyms: {} symbols, {:.1} MB text, parse+index {parse:?}",
        table.len(),
        text.len() as f64 / 1e6
    );

    // Addresses inside real code symbols.
    let code: Vec<u64> = table
        .iter()
        .filter(|(_, s)| s.kind.eq_ignore_ascii_case(&'t'))
        .map(|(address, _)| address)
        .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let probes: Vec<u64> = (0..1_000_000)
        .map(|_| code[(rng.next() % code.len() as u64) as usize] + rng.next() % 64)
        .collect();
    let indexed = best(3, || {
        probes
            .iter()
            .filter_map(|&a| table.lookup(a))
            .map(|s| s.offset)
            .sum::<u64>()
    });

    // The baseline: a scan of a plain sorted array for the last start ≤ addr.
    let plain: Vec<(u64, &str)> = table.iter().map(|(a, s)| (a, s.name)).collect();
    let scanned = &probes[..2_000];
    let linear = best(3, || {
        scanned
            .iter()
            .filter_map(|&a| plain.iter().rev().find(|(start, _)| *start <= a))
            .map(|(_, name)| name.len())
            .sum::<usize>()
    });
    let fast = per_second(probes.len(), indexed);
    let slow = per_second(scanned.len(), linear);
    println!(
        "kallsyms: lookup {fast:.0}/s (binary search), linear scan {slow:.0}/s, ratio {:.0}x",
        fast / slow
    );
}

/// A C file with `functions` noinline functions, each inlining a two-deep chain.
fn generated_c(functions: usize) -> String {
    let mut c = String::from("volatile int sink;\n");
    for i in 0..functions {
        c += &format!(
            "static inline __attribute__((always_inline)) int leaf{i}(int x)\n{{\n\tsink = x * {i};\n\treturn x + {i};\n}}\n\
             static inline __attribute__((always_inline)) int mid{i}(int x)\n{{\n\treturn leaf{i}(x ^ {i}) * 3;\n}}\n\
             __attribute__((noinline)) int f{i}(int x)\n{{\n\tint a = mid{i}(x);\n\tsink = a;\n\treturn a + mid{i}(a);\n}}\n"
        );
    }
    c += "int main(int argc, char **argv) { (void)argv; return f0(argc); }\n";
    c
}

fn dwarf() {
    let dir = std::env::temp_dir().join(format!("pkttrace-dwarf-bench-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let source = dir.join("gen.c");
    let binary = dir.join("gen");
    fs::write(&source, generated_c(2_000)).unwrap();
    let status = Command::new("gcc")
        .args(["-g", "-O2", "-o"])
        .arg(&binary)
        .arg(&source)
        .status();
    if !status.is_ok_and(|s| s.success()) {
        println!("dwarf: gcc unavailable or failed: skipped");
        return;
    }
    let bytes = fs::read(&binary).unwrap();
    let open = best(5, || DebugInfo::from_bytes(&bytes).unwrap());
    let info = DebugInfo::from_bytes(&bytes).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    let text = file.section_by_name(".text").unwrap();
    let (start, size) = (text.address(), text.size());
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let probes: Vec<u64> = (0..200_000).map(|_| start + rng.next() % size).collect();
    let first = best(1, || info.address_location(probes[0]).unwrap());
    let lookups = best(3, || {
        probes
            .iter()
            .map(|&a| info.address_location(a).unwrap().len())
            .sum::<usize>()
    });
    let by_name = best(3, || info.inline_sites("leaf1000").unwrap());
    println!(
        "dwarf: {} KB .text, open {open:?}, first lookup {first:?}, \
         address_location {:.0}/s, inline_sites (full walk) {by_name:?}",
        size / 1024,
        per_second(probes.len(), lookups)
    );
    fs::remove_dir_all(&dir).unwrap();
}

fn main() {
    btf();
    kallsyms();
    dwarf();
}
