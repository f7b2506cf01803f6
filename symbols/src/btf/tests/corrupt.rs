//! Broken input must give a one-line error, never a panic or a hang.

use std::{fs, path::PathBuf};

use super::builder::BtfBuilder;
use crate::btf::{Error, KernelBtf, VMLINUX_BTF_PATH};

fn assert_one_line_parse_error(bytes: &[u8], what: &str) {
    match KernelBtf::from_bytes(bytes) {
        Ok(_) => panic!("{what}: parsed"),
        Err(err) => {
            assert!(matches!(err, Error::Parse { .. }), "{what}: {err}");
            assert!(!err.to_string().contains('\n'), "{what}: {err}");
        }
    }
}

/// Deterministic pseudo-random bytes (an xorshift), so failures reproduce.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[test]
fn empty_and_random_input_is_rejected() {
    assert_one_line_parse_error(&[], "empty");
    for seed in 1..=20 {
        assert_one_line_parse_error(&noise(seed, 4096), &format!("noise seed {seed}"));
    }
    // A valid magic followed by noise gets past the first check.
    let mut magic_then_noise = vec![0x9f, 0xeb, 1, 0];
    magic_then_noise.extend(noise(7, 4096));
    assert_one_line_parse_error(&magic_then_noise, "magic then noise");
}

#[test]
fn truncated_vmlinux_is_rejected() {
    let full = fs::read(VMLINUX_BTF_PATH).expect("the running kernel exposes BTF");
    for len in [1, 10, 24, 4096, full.len() / 2, full.len() - 1] {
        assert_one_line_parse_error(&full[..len], &format!("first {len} bytes"));
    }
}

#[test]
fn unreadable_or_empty_files_are_rejected_naming_the_file() {
    let missing = PathBuf::from("/nonexistent/pkttrace/vmlinux");
    let err = KernelBtf::from_file(&missing).err().expect("missing file");
    assert!(matches!(err, Error::Read { .. }), "{err}");
    assert!(
        err.to_string().contains("/nonexistent/pkttrace/vmlinux"),
        "{err}"
    );

    let empty = std::env::temp_dir().join(format!("pkttrace-empty-btf-{}", std::process::id()));
    fs::write(&empty, b"").unwrap();
    let err = KernelBtf::from_file(&empty).err().expect("empty file");
    fs::remove_file(&empty).unwrap();
    assert!(matches!(err, Error::Parse { .. }), "{err}");
    assert!(
        err.to_string().contains(&empty.display().to_string()),
        "{err}"
    );
}

/// Flips bytes all over a small valid blob; whatever still parses must answer
/// every query without panicking.
#[test]
fn mutated_btf_never_panics() {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4);
    let skb = b.structure("sk_buff", 16, &[("len", int, 0, 0), ("data", int, 64, 0)]);
    let anon = b.structure("", 4, &[("inner", int, 0, 0)]);
    b.structure("sock", 8, &[("", anon, 0, 0), ("sk_protocol", int, 32, 4)]);
    b.enum32(
        "skb_drop_reason",
        false,
        &[("SKB_DROP_REASON_NO_SOCKET", 2)],
    );
    let skb_ptr = b.ptr(skb);
    let void_ptr = b.ptr(0);
    let proto = b.func_proto(int, &[("", void_ptr), ("skb", skb_ptr)]);
    let proto_ptr = b.ptr(proto);
    b.typedef("btf_trace_tp", proto_ptr);
    b.func("func", proto);
    let blob = b.build();

    let mut parsed = 0;
    for seed in 1..=2000u64 {
        let mut mutated = blob.clone();
        for pick in noise(seed, 6).chunks(2) {
            let at = usize::from(pick[0]) * mutated.len() / 256;
            mutated[at] ^= pick[1] | 1;
        }
        let Ok(btf) = KernelBtf::from_bytes(&mutated) else {
            continue;
        };
        parsed += 1;
        let _ = btf.member_offset("sk_buff", "data");
        let _ = btf.member_size("sock", "inner");
        let _ = btf.member_offset("sock", "sk_protocol");
        let _ = btf.kernel_offsets();
        let _ = btf.drop_reasons();
        let _ = btf.tracepoint_args("tp");
        let _ = btf.function_args("func");
    }
    assert!(parsed > 0, "no mutation parsed: the queries went untested");
}

#[test]
fn broken_split_btf_is_rejected() {
    let mut base = BtfBuilder::new();
    let int = base.int("int", 4);
    let base_btf = KernelBtf::from_bytes(&base.build()).unwrap();
    let mut module = BtfBuilder::split_over(&base);
    module.structure("m", 4, &[("x", int, 0, 0)]);
    let blob = module.build();
    for len in [0, 1, 24, blob.len() - 1] {
        let err = KernelBtf::from_split_bytes(&blob[..len], &base_btf)
            .err()
            .unwrap_or_else(|| panic!("first {len} bytes parsed"));
        assert!(matches!(err, Error::Parse { .. }), "{err}");
    }
    for seed in 1..=20 {
        assert!(KernelBtf::from_split_bytes(&noise(seed, 512), &base_btf).is_err());
    }
}
