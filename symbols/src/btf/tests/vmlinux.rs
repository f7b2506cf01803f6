//! Queries against the running kernel's BTF. Offsets differ between kernels,
//! so these assert relationships, and cross-check against `bpftool` (an
//! independent BTF reader) when it is installed.

use std::{process::Command, sync::OnceLock, time::Instant};

use formats::abi::OFFSET_NONE;
use formats::meta::RetType;

use crate::btf::{Error, KernelBtf};

fn kernel() -> &'static KernelBtf {
    static KERNEL: OnceLock<KernelBtf> = OnceLock::new();
    KERNEL.get_or_init(|| KernelBtf::from_sys().expect("the running kernel exposes BTF"))
}

/// `bpftool btf dump ... format raw`, or `None` without a working bpftool.
fn bpftool_dump() -> Option<&'static str> {
    static DUMP: OnceLock<Option<String>> = OnceLock::new();
    DUMP.get_or_init(|| {
        let out = Command::new("bpftool")
            .args([
                "btf",
                "dump",
                "file",
                crate::btf::VMLINUX_BTF_PATH,
                "format",
                "raw",
            ])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    })
    .as_deref()
}

/// Byte offset of a direct member of a named struct, as bpftool reports it.
fn bpftool_offset(dump: &str, owner: &str, member: &str) -> Option<u32> {
    let header = format!("STRUCT '{owner}' size=");
    let member = format!("'{member}' ");
    let mut lines = dump.lines().skip_while(|line| !line.contains(&header));
    lines.next()?;
    lines
        .take_while(|line| line.starts_with('\t'))
        .find(|line| line.trim_start().starts_with(&member))?
        .split_whitespace()
        .find_map(|field| field.strip_prefix("bits_offset="))?
        .parse::<u32>()
        .ok()
        .map(|bits| bits / 8)
}

#[test]
fn loading_is_fast() {
    let start = Instant::now();
    KernelBtf::from_sys().unwrap();
    let elapsed = start.elapsed();
    // Release builds take about a tenth of a second; this debug-build bound
    // only catches accidental quadratic work.
    assert!(
        elapsed.as_secs() < 3,
        "loading vmlinux BTF took {elapsed:?}"
    );
}

#[test]
fn sk_buff_offsets_agree_with_bpftool() {
    let btf = kernel();
    let offset = |member| btf.member_offset("sk_buff", member).unwrap();
    // Layout facts true of every kernel pkttrace supports.
    assert!(offset("len") < offset("head"));
    assert!(offset("head") < offset("data"));
    assert_eq!(offset("data") - offset("head"), 8);
    assert_eq!(btf.member_size("sk_buff", "len").unwrap(), 4);
    assert_eq!(btf.member_size("sk_buff", "head").unwrap(), 8);

    let Some(dump) = bpftool_dump() else {
        eprintln!("bpftool unavailable: skipping the cross-check");
        return;
    };
    for (owner, member) in [
        ("sk_buff", "len"),
        ("sk_buff", "head"),
        ("sk_buff", "data"),
        ("sk_buff", "sk"),
        ("net_device", "ifindex"),
        ("net_device", "name"),
        ("net_device", "nd_net"),
        ("sock_common", "skc_family"),
        ("Qdisc", "handle"),
        ("Qdisc", "dev_queue"),
    ] {
        let expected = bpftool_offset(dump, owner, member)
            .unwrap_or_else(|| panic!("bpftool shows no {owner}.{member}"));
        assert_eq!(
            btf.member_offset(owner, member).unwrap(),
            expected,
            "{owner}.{member}"
        );
    }
    let ns = bpftool_offset(dump, "net", "ns").unwrap();
    let inum = bpftool_offset(dump, "ns_common", "inum").unwrap();
    assert_eq!(btf.member_offset("net", "ns.inum").unwrap(), ns + inum);
}

#[test]
fn members_of_anonymous_unions_are_found() {
    let btf = kernel();
    // `sk_buff.dev` sits in anonymous unions/structs since 5.x; `len` never did.
    let dev = btf.member_offset("sk_buff", "dev").unwrap();
    assert!(dev < btf.member_offset("sk_buff", "len").unwrap());
    assert_eq!(btf.member_size("sk_buff", "dev").unwrap(), 8);
    // `skc_daddr` sits in an anonymous union of `sock_common`, itself the
    // first member of `sock`.
    let common = btf.member_offset("sock", "__sk_common").unwrap();
    assert_eq!(
        btf.member_offset("sock", "__sk_common.skc_daddr").unwrap(),
        common + btf.member_offset("sock_common", "skc_daddr").unwrap()
    );
    assert_eq!(btf.member_size("sock_common", "skc_daddr").unwrap(), 4);
    assert_eq!(btf.member_size("net_device", "name").unwrap(), 16);
}

#[test]
fn sub_byte_bitfields_are_refused() {
    // `cloned:1` has been an sk_buff bitfield forever.
    let err = kernel().member_offset("sk_buff", "cloned").unwrap_err();
    assert!(matches!(err, Error::Bitfield { .. }), "{err}");
    assert!(err.to_string().contains("sk_buff.cloned"), "{err}");
}

#[test]
fn kernel_offsets_are_complete() {
    let btf = kernel();
    let offsets = btf.kernel_offsets().unwrap();
    let required = [
        offsets.skb_head,
        offsets.skb_data,
        offsets.skb_len,
        offsets.skb_network_header,
        offsets.skb_transport_header,
        offsets.skb_mac_header,
        offsets.skb_protocol,
        offsets.skb_dev,
        offsets.skb_sk,
        offsets.dev_ifindex,
        offsets.dev_name,
        offsets.dev_nd_net,
    ];
    assert!(!required.contains(&OFFSET_NONE), "{offsets:?}");
    // Present in every kernel pkttrace supports, IPv6 or not.
    let universal = [
        offsets.net_ns_inum,
        offsets.sk_family,
        offsets.sk_protocol,
        offsets.sk_daddr,
        offsets.sk_dport,
        offsets.sk_net,
        offsets.qdisc_handle,
        offsets.qdisc_qlen,
        offsets.qdisc_dev_queue,
        offsets.netdev_queue_dev,
    ];
    assert!(!universal.contains(&OFFSET_NONE), "{offsets:?}");

    assert_eq!(
        offsets.skb_len,
        btf.member_offset("sk_buff", "len").unwrap()
    );
    let qdisc_q = btf.member_offset("Qdisc", "q").unwrap();
    let qlen = btf.member_offset("qdisc_skb_head", "qlen").unwrap();
    assert_eq!(offsets.qdisc_qlen, qdisc_q + qlen);
    // `possible_net_t` is a struct holding only `struct net *net`.
    assert_eq!(btf.member_offset("possible_net_t", "net").unwrap(), 0);
}

#[test]
fn drop_reasons_are_named_without_prefix() {
    let reasons = kernel().drop_reasons().unwrap();
    let value = |name: &str| reasons.iter().find(|(_, n)| n == name).map(|(v, _)| *v);
    let no_socket = value("NO_SOCKET").expect("NO_SOCKET");
    let not_specified = value("NOT_SPECIFIED").expect("NOT_SPECIFIED");
    assert_eq!(no_socket, not_specified + 1);
    // Stripped once: real reasons may still start with `SKB_` (`SKB_CSUM`).
    assert!(reasons.iter().all(|(_, n)| !n.starts_with("DROP_REASON_")));
    assert!(
        reasons
            .iter()
            .all(|(_, n)| n != "MAX" && n != "SUBSYS_MASK")
    );
}

#[test]
fn kfree_skb_arguments() {
    let args = kernel().tracepoint_args("kfree_skb").unwrap();
    assert!(args[0].is_skb);
    assert_eq!(args[0].type_name, "struct sk_buff *");
    assert_eq!(args[0].name, "skb");
    assert_eq!(args[1].type_name, "void *");
    assert_eq!(args[2].type_name, "enum skb_drop_reason");
    assert_eq!(args[2].name, "reason");
    assert!(args[1..].iter().all(|arg| !arg.is_skb));
}

#[test]
fn skb_positions_of_tracepoints() {
    let btf = kernel();
    for (tracepoint, position) in [
        ("kfree_skb", 0),
        ("netif_receive_skb", 0),
        ("net_dev_queue", 0),
        ("qdisc_enqueue", 2),
        ("qdisc_dequeue", 3),
        ("tcp_retransmit_skb", 1),
    ] {
        assert_eq!(
            btf.skb_arg_position(tracepoint).unwrap(),
            Some(position),
            "{tracepoint}"
        );
    }
    assert_eq!(btf.skb_arg_position("sched_switch").unwrap(), None);
    assert!(matches!(
        btf.skb_arg_position("no_such_tracepoint"),
        Err(Error::TracepointNotFound(_))
    ));
}

#[test]
fn skb_positions_of_functions() {
    let btf = kernel();
    assert_eq!(btf.func_skb_arg("ip_rcv").unwrap(), Some(0));
    assert_eq!(btf.func_skb_arg("tcp_v4_do_rcv").unwrap(), Some(1));
    let args = btf.function_args("tcp_v4_do_rcv").unwrap();
    assert_eq!(args[0].name, "sk");
    assert_eq!(args[0].type_name, "struct sock *");
    let kstrtoint = btf.function_args("kstrtoint").unwrap();
    assert_eq!(kstrtoint[0].type_name, "const char *");
    assert_eq!(kstrtoint[2].type_name, "int *");
    assert!(matches!(
        btf.function_args("no_such_function"),
        Err(Error::FunctionNotFound(_))
    ));
}

#[test]
fn function_names_list_the_stack_entry_points() {
    let names = kernel().function_names().unwrap();
    for f in ["ip_rcv", "tcp_v4_rcv", "__dev_queue_xmit", "tcp_set_state"] {
        assert!(
            names.binary_search_by(|n| n.as_str().cmp(f)).is_ok(),
            "{f} in BTF"
        );
    }
    assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
    assert!(
        names.len() > 10_000,
        "a full kernel has tens of thousands of functions"
    );
}

#[test]
fn prototypes_read_like_c() {
    let btf = kernel();
    assert_eq!(
        btf.prototype("ip_rcv").unwrap(),
        "int ip_rcv(struct sk_buff *skb, struct net_device *dev, \
         struct packet_type *pt, struct net_device *orig_dev)"
    );
    assert_eq!(
        btf.prototype("tcp_v4_do_rcv").unwrap(),
        "int tcp_v4_do_rcv(struct sock *sk, struct sk_buff *skb)"
    );
    assert!(matches!(
        btf.prototype("no_such_function"),
        Err(Error::FunctionNotFound(_))
    ));
}

#[test]
fn return_types_are_classified_through_typedefs() {
    let btf = kernel();
    let int = |size, signed| RetType::Int { size, signed };
    for (func, expected) in [
        // `void` on 6.1 and on the 6.18 host; exits used to print rax anyway.
        ("ip_protocol_deliver_rcu", RetType::Void),
        ("__dev_queue_xmit", int(4, true)),
        ("skb_clone", RetType::Pointer),
        // `bool` is a typedef of `_Bool`.
        ("sch_direct_xmit", RetType::Bool),
        // `u32` → `__u32` → `unsigned int`.
        ("skb_get_poff", int(4, false)),
        // `netdev_tx_t` is a typedef of `enum netdev_tx`, which has -1.
        (
            "br_dev_xmit",
            RetType::Enum {
                size: 4,
                signed: true,
            },
        ),
    ] {
        assert_eq!(btf.return_type(func).unwrap(), expected, "{func}");
    }
    // `int` until 6.x, `enum skb_drop_reason` (unsigned) since.
    let state = btf.return_type("tcp_rcv_state_process").unwrap();
    let prototype = btf.prototype("tcp_rcv_state_process").unwrap();
    if prototype.starts_with("enum skb_drop_reason ") {
        assert_eq!(
            state,
            RetType::Enum {
                size: 4,
                signed: false
            }
        );
    } else {
        assert_eq!(state, int(4, true), "{prototype}");
    }
    assert!(matches!(
        btf.return_type("no_such_function"),
        Err(Error::FunctionNotFound(_))
    ));
}

#[test]
fn sk_buff_offsets_match_kernel_offsets() {
    let btf = kernel();
    let offsets = btf.kernel_offsets().unwrap();
    for (member, offset) in [
        ("head", offsets.skb_head),
        ("data", offsets.skb_data),
        ("len", offsets.skb_len),
        ("network_header", offsets.skb_network_header),
        ("transport_header", offsets.skb_transport_header),
        ("mac_header", offsets.skb_mac_header),
        ("protocol", offsets.skb_protocol),
        ("dev", offsets.skb_dev),
        ("sk", offsets.skb_sk),
    ] {
        assert_eq!(btf.member_offset("sk_buff", member).unwrap(), offset);
        assert_eq!(
            btf.member_bit_offset("sk_buff", member).unwrap(),
            u64::from(offset) * 8,
            "{member}"
        );
        assert_eq!(btf.member_bitfield_width("sk_buff", member).unwrap(), None);
    }
}

/// `(bits_offset, bitfield_size)` of a direct member, as bpftool prints it.
fn bpftool_bits(dump: &str, owner: &str, member: &str) -> Option<(u64, Option<u32>)> {
    let header = format!("STRUCT '{owner}' size=");
    let member = format!("'{member}' ");
    let mut lines = dump.lines().skip_while(|line| !line.contains(&header));
    lines.next()?;
    let line = lines
        .take_while(|line| line.starts_with('\t'))
        .find(|line| line.trim_start().starts_with(&member))?;
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|field| field.strip_prefix(key))
            .map(str::to_owned)
    };
    let bits = field("bits_offset=")?.parse().ok()?;
    let size = field("bitfield_size=").and_then(|size| size.parse().ok());
    Some((bits, size))
}

#[test]
fn sk_buff_bitfields_have_bit_offsets() {
    let btf = kernel();
    // `cloned:1` and `nohdr:1` are adjacent single bits in every kernel;
    // `__cloned_offset` is the zero-length marker placed at their byte.
    let cloned = btf.member_bit_offset("sk_buff", "cloned").unwrap();
    let nohdr = btf.member_bit_offset("sk_buff", "nohdr").unwrap();
    assert_eq!(nohdr, cloned + 1);
    assert_eq!(
        btf.member_bitfield_width("sk_buff", "cloned").unwrap(),
        Some(1)
    );
    if let Ok(marker) = btf.member_offset("sk_buff", "__cloned_offset") {
        assert_eq!(cloned / 8, u64::from(marker));
    }
    let err = btf.member_offset("sk_buff", "nohdr").unwrap_err();
    assert!(
        matches!(err, Error::Bitfield { bit_offset, bits: Some(1), .. } if bit_offset == nohdr),
        "{err}"
    );

    let Some(dump) = bpftool_dump() else {
        eprintln!("bpftool unavailable: skipping the bitfield cross-check");
        return;
    };
    for member in ["cloned", "nohdr", "pkt_type", "ip_summed"] {
        // Recent kernels keep some of these inside anonymous groups bpftool
        // lists elsewhere; compare those it shows as direct members.
        let Some((bits, size)) = bpftool_bits(dump, "sk_buff", member) else {
            continue;
        };
        assert_eq!(
            btf.member_bit_offset("sk_buff", member).unwrap(),
            bits,
            "{member}"
        );
        assert_eq!(
            btf.member_bitfield_width("sk_buff", member).unwrap(),
            size,
            "{member}"
        );
    }
}

#[test]
fn module_btf_of_absent_modules_is_an_error() {
    let err = KernelBtf::from_sys_module("pkttrace_no_such_module")
        .err()
        .unwrap();
    assert!(matches!(err, Error::Read { .. }), "{err}");
    assert!(err.to_string().contains("pkttrace_no_such_module"), "{err}");
    for bad in ["", "../vmlinux", "vmlinux", ".."] {
        assert!(
            matches!(
                KernelBtf::from_sys_module(bad),
                Err(Error::BadModuleName(_))
            ),
            "{bad:?}"
        );
    }
}

/// Every module the kernel exposes BTF for resolves over vmlinux's; the host
/// may have none (a monolithic kernel).
#[test]
fn loaded_modules_btf_resolves() {
    let modules: Vec<String> = std::fs::read_dir(crate::btf::SYS_BTF_DIR)
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name != "vmlinux")
        .collect();
    if modules.is_empty() {
        eprintln!("no module BTF under /sys/kernel/btf: skipping");
        return;
    }
    for module in modules.iter().take(3) {
        let btf = KernelBtf::from_sys_module(module).unwrap();
        // vmlinux types stay visible through the module's BTF.
        assert!(btf.member_offset("sk_buff", "len").is_ok(), "{module}");
    }
}
