//! Builds the BPF programs (tracer-ebpf) for the BPF target with nightly and
//! bpf-linker, so `cargo build -p tracer` yields one self-contained binary.
use aya_build::{Package, Toolchain};

fn main() -> anyhow::Result<()> {
    let ebpf = Package {
        name: "tracer-ebpf",
        root_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/../tracer-ebpf"),
        ..Default::default()
    };
    // formats is compiled into the BPF object too: rebuild when the ABI changes.
    println!(
        "cargo:rerun-if-changed={}",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../formats/src")
    );
    aya_build::build_ebpf([ebpf], Toolchain::default())
}
