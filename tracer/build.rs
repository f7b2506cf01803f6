//! Builds the BPF programs (tracer-ebpf) for the BPF target with nightly and
//! bpf-linker, so `cargo build -p tracer` yields one self-contained binary.
//!
//! The nested cargo's output is kept quiet unless it fails: a routine build
//! should not print pages of `warning:` lines.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let ebpf_dir = manifest_dir.join("../tracer-ebpf");
    // formats is compiled into the BPF object too: rebuild when the ABI changes.
    for dir in [ebpf_dir.clone(), manifest_dir.join("../formats/src")] {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("set by cargo");
    let target = match env::var("CARGO_CFG_TARGET_ENDIAN").as_deref() {
        Ok("big") => "bpfeb-unknown-none",
        _ => "bpfel-unknown-none",
    };
    let target_dir = out_dir.join("ebpf-target");
    // aya-ebpf needs bpf_target_arch for pt_regs layouts (kprobe arguments);
    // --btf makes bpf-linker emit BTF, which fentry and global data need.
    let rustflags = [
        format!("--cfg=bpf_target_arch=\"{arch}\""),
        "-Cdebuginfo=2".to_string(),
        "-Clink-arg=--btf".to_string(),
    ]
    .join("\x1f");
    let output = Command::new("rustup")
        .args([
            "run",
            "nightly",
            "cargo",
            "build",
            "--package",
            "tracer-ebpf",
        ])
        .args([
            "--bins",
            "--release",
            "--target",
            target,
            "-Z",
            "build-std=core",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(&ebpf_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", rustflags)
        // The outer cargo's compiler settings must not leak into the nightly build.
        .env_remove("RUSTC")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap_or_else(|e| {
            panic!("running `rustup run nightly cargo` (run scripts/setup.sh): {e}")
        });
    if !output.status.success() {
        for line in String::from_utf8_lossy(&output.stderr).lines() {
            println!("cargo:warning={line}");
        }
        panic!(
            "building the BPF programs failed (see warnings above; scripts/setup.sh installs nightly rust-src and bpf-linker)"
        );
    }
    // Two objects: tracepoints (loaded once) and function probes (once per function).
    for object in ["pkttrace-ebpf", "pkttrace-fn"] {
        let built = target_dir.join(target).join("release").join(object);
        std::fs::copy(&built, out_dir.join(object))
            .unwrap_or_else(|e| panic!("copying {}: {e}", built.display()));
    }
}
