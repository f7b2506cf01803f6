//! Layout, enum and prototype edge cases on hand-written BTF.

use super::builder::BtfBuilder;
use crate::btf::{Error, KernelBtf};

fn load(builder: &BtfBuilder) -> KernelBtf {
    KernelBtf::from_bytes(&builder.build()).expect("hand-written BTF parses")
}

#[test]
fn members_inside_anonymous_and_typedefd_members() {
    let mut b = BtfBuilder::new();
    let u32_ = b.int("u32", 4);
    let inner = b.structure("inner", 8, &[("a", u32_, 0, 0), ("b", u32_, 32, 0)]);
    let inner_t = b.typedef("inner_t", inner);
    let const_inner = b.constant(inner_t);
    let deepest = b.structure("", 4, &[("w", u32_, 0, 0)]);
    let anon_union = b.structure("", 8, &[("y", u32_, 0, 0), ("", deepest, 32, 0)]);
    b.structure(
        "outer",
        20,
        &[
            ("x", u32_, 0, 0),
            ("", anon_union, 32, 0),
            ("named", const_inner, 96, 0),
        ],
    );
    let btf = load(&b);

    assert_eq!(btf.member_offset("outer", "x").unwrap(), 0);
    assert_eq!(btf.member_offset("outer", "y").unwrap(), 4);
    assert_eq!(btf.member_offset("outer", "w").unwrap(), 8);
    assert_eq!(btf.member_offset("outer", "named").unwrap(), 12);
    assert_eq!(btf.member_offset("outer", "named.b").unwrap(), 16);
    assert_eq!(btf.member_size("outer", "named").unwrap(), 8);
    assert_eq!(btf.member_size("outer", "named.b").unwrap(), 4);
}

#[test]
fn bad_paths_are_reported_with_their_context() {
    let mut b = BtfBuilder::new();
    let u32_ = b.int("u32", 4);
    b.structure("s", 4, &[("a", u32_, 0, 0)]);
    let btf = load(&b);

    let missing = btf.member_offset("s", "nope").unwrap_err();
    assert!(matches!(missing, Error::MemberNotFound { .. }), "{missing}");
    assert!(missing.to_string().contains("nope"), "{missing}");
    let scalar = btf.member_offset("s", "a.b").unwrap_err();
    assert!(matches!(scalar, Error::NotComposite { .. }), "{scalar}");
    for path in ["", ".a", "a.", "a..b"] {
        let bad = btf.member_offset("s", path).unwrap_err();
        assert!(matches!(bad, Error::BadPath { .. }), "{path:?}: {bad}");
    }
    let no_struct = btf.member_offset("t", "a").unwrap_err();
    assert!(
        matches!(no_struct, Error::TypeNotFound { .. }),
        "{no_struct}"
    );
}

#[test]
fn only_whole_byte_bitfields_have_offsets() {
    let mut b = BtfBuilder::new();
    let u32_ = b.int("u32", 4);
    b.structure(
        "flags",
        4,
        &[
            ("low", u32_, 0, 3),
            ("proto", u32_, 8, 8),
            ("odd", u32_, 20, 8),
        ],
    );
    let btf = load(&b);

    assert_eq!(btf.member_offset("flags", "proto").unwrap(), 1);
    assert_eq!(btf.member_size("flags", "proto").unwrap(), 1);
    for partial in ["low", "odd"] {
        let err = btf.member_offset("flags", partial).unwrap_err();
        assert!(matches!(err, Error::Bitfield { .. }), "{partial}: {err}");
        assert!(btf.member_size("flags", partial).is_err());
    }
}

#[test]
fn a_duplicated_struct_name_resolves_to_the_definition_with_the_member() {
    let mut b = BtfBuilder::new();
    let u32_ = b.int("u32", 4);
    b.structure("dup", 4, &[("a", u32_, 0, 0)]);
    b.structure("dup", 8, &[("pad", u32_, 0, 0), ("b", u32_, 32, 0)]);
    let btf = load(&b);

    assert_eq!(btf.member_offset("dup", "a").unwrap(), 0);
    assert_eq!(btf.member_offset("dup", "b").unwrap(), 4);
    assert!(matches!(
        btf.member_offset("dup", "c"),
        Err(Error::MemberNotFound { .. })
    ));
}

#[test]
fn enum_values_follow_signedness_and_width() {
    let mut b = BtfBuilder::new();
    b.enum32("forward_then_defined", false, &[]);
    b.enum32("forward_then_defined", false, &[("ONE", 1)]);
    b.enum32("signed", true, &[("MINUS_ONE", u32::MAX)]);
    b.enum32("unsigned", false, &[("BIG", u32::MAX)]);
    b.enum64("wide", &[("HUGE", 1 << 40), ("TOP", u64::MAX - 31)]);
    let btf = load(&b);

    let values = |name| btf.enum_values(name).unwrap();
    assert_eq!(values("forward_then_defined"), [("ONE".to_owned(), 1)]);
    assert_eq!(values("signed"), [("MINUS_ONE".to_owned(), -1)]);
    assert_eq!(
        values("unsigned"),
        [("BIG".to_owned(), i64::from(u32::MAX))]
    );
    assert_eq!(
        values("wide"),
        [("HUGE".to_owned(), 1 << 40), ("TOP".to_owned(), -32)]
    );
    assert!(matches!(
        btf.enum_values("absent"),
        Err(Error::TypeNotFound { .. })
    ));
}

#[test]
fn drop_reasons_strip_prefixes_and_skip_sentinels() {
    let mut b = BtfBuilder::new();
    b.enum32(
        "skb_drop_reason",
        false,
        &[
            ("SKB_NOT_DROPPED_YET", 0),
            ("SKB_DROP_REASON_NOT_SPECIFIED", 1),
            ("SKB_DROP_REASON_NO_SOCKET", 2),
            ("SKB_DROP_REASON_MAX", 3),
            ("SKB_DROP_REASON_SUBSYS_MASK", 0xffff_0000),
        ],
    );
    let reasons = load(&b).drop_reasons().unwrap();
    assert_eq!(
        reasons,
        [
            (0, "NOT_DROPPED_YET".to_owned()),
            (1, "NOT_SPECIFIED".to_owned()),
            (2, "NO_SOCKET".to_owned()),
        ]
    );
}

#[test]
fn parameter_types_are_spelled_as_in_c() {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4);
    let char_ = b.int("char", 1);
    let skb = b.structure("sk_buff", 8, &[("len", int, 0, 0)]);
    let skb_ptr = b.ptr(skb);
    let callback = b.func_proto(int, &[("", skb_ptr), ("", 0)]);
    let callback_ptr = b.ptr(callback);
    let char_ptr = b.ptr(char_);
    let const_char_ptr = b.constant(char_ptr);
    let char_ptr_ptr = b.ptr(char_ptr);
    let skb_ptr_t = b.typedef("skb_ptr_t", skb_ptr);
    let proto = b.func_proto(
        int,
        &[
            ("cb", callback_ptr),
            ("p", const_char_ptr),
            ("", char_ptr_ptr),
            ("alias", skb_ptr_t),
            ("", 0),
        ],
    );
    b.func("f", proto);
    let btf = load(&b);

    let args = btf.function_args("f").unwrap();
    let spelled: Vec<(&str, &str, bool)> = args
        .iter()
        .map(|p| (p.name.as_str(), p.type_name.as_str(), p.is_skb))
        .collect();
    assert_eq!(
        spelled,
        [
            ("cb", "int (*)(struct sk_buff *, ...)", false),
            ("p", "char *const", false),
            ("arg2", "char **", false),
            ("alias", "skb_ptr_t", true),
            ("...", "...", false),
        ]
    );
    assert_eq!(btf.func_skb_arg("f").unwrap(), Some(3));
    assert!(matches!(
        btf.function_args("g"),
        Err(Error::FunctionNotFound(_))
    ));
}

#[test]
fn parameters_carry_their_passed_size() {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4);
    let long = b.int("long", 8);
    let small = b.structure("pair", 16, &[("a", long, 0, 0), ("b", long, 64, 0)]);
    let big = b.structure("triple", 24, &[("a", long, 0, 0)]);
    let small_t = b.typedef("pair_t", small);
    let const_big = b.constant(big);
    let flag = b.enum32("flag", false, &[("ON", 1)]);
    let int_ptr = b.ptr(int);
    let proto = b.func_proto(
        int,
        &[
            ("p", int_ptr),
            ("i", int),
            ("e", flag),
            ("s", small_t),
            ("t", const_big),
            ("", 0),
        ],
    );
    b.func("f", proto);
    let btf = load(&b);

    let sizes: Vec<(Option<usize>, bool)> = btf
        .function_args("f")
        .unwrap()
        .iter()
        .map(|p| (p.size, p.by_value_aggregate))
        .collect();
    assert_eq!(
        sizes,
        [
            (Some(8), false),
            (Some(4), false),
            (Some(4), false),
            (Some(16), true),
            (Some(24), true),
            (None, false),
        ]
    );
}

/// `btf_trace_<name>`: pointer to `void (void *, struct sk_buff *, int)`, plus
/// optionally the `__bpf_trace_<name>` handler whose second parameter has type
/// `handler_arg`.
fn tracepoint_btf(handler_arg: Option<fn(&mut BtfBuilder, u32) -> u32>) -> KernelBtf {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4);
    let skb = b.structure("sk_buff", 8, &[("len", int, 0, 0)]);
    let skb_ptr = b.ptr(skb);
    let void_ptr = b.ptr(0);
    let proto = b.func_proto(0, &[("", void_ptr), ("", skb_ptr), ("", int)]);
    let proto_ptr = b.ptr(proto);
    b.typedef("btf_trace_fake", proto_ptr);
    if let Some(arg) = handler_arg {
        let first = arg(&mut b, skb_ptr);
        let handler = b.func_proto(0, &[("__data", void_ptr), ("skb", first), ("rc", int)]);
        b.func("__bpf_trace_fake", handler);
    }
    load(&b)
}

#[test]
fn tracepoint_args_skip_the_context_and_name_what_they_can() {
    let names = |btf: &KernelBtf| -> Vec<String> {
        let args = btf.tracepoint_args("fake").unwrap();
        assert_eq!(args[0].type_name, "struct sk_buff *");
        assert_eq!(args[1].type_name, "int");
        args.into_iter().map(|p| p.name).collect()
    };

    let unnamed = tracepoint_btf(None);
    assert_eq!(names(&unnamed), ["arg0", "arg1"]);
    assert_eq!(unnamed.skb_arg_position("fake").unwrap(), Some(0));

    let same_class = tracepoint_btf(Some(|_, skb_ptr| skb_ptr));
    assert_eq!(names(&same_class), ["skb", "rc"]);

    // A handler with other types belongs to another event: its names are not used.
    let other_class = tracepoint_btf(Some(|b, _| b.int("long", 8)));
    assert_eq!(names(&other_class), ["arg0", "arg1"]);

    assert!(matches!(
        unnamed.tracepoint_args("absent"),
        Err(Error::TracepointNotFound(_))
    ));
}

#[test]
fn reference_cycles_and_dangling_ids_are_errors() {
    let mut b = BtfBuilder::new();
    let looping = b.next_id();
    b.typedef("looping", looping);
    b.structure("holds_loop", 8, &[("m", looping, 0, 0)]);
    let self_nested = b.next_id();
    b.structure("self_nested", 8, &[("", self_nested, 0, 0)]);
    b.structure("dangling", 8, &[("m", 999, 0, 0)]);
    let proto = b.func_proto(0, &[("x", looping)]);
    b.func("takes_loop", proto);
    let btf = load(&b);

    for (owner, path) in [
        ("holds_loop", "m.x"),
        ("self_nested", "x"),
        ("dangling", "m.x"),
    ] {
        let err = btf.member_offset(owner, path).unwrap_err();
        assert!(matches!(err, Error::Corrupt(_)), "{owner}.{path}: {err}");
    }
    assert!(matches!(
        btf.member_size("holds_loop", "m"),
        Err(Error::Corrupt(_))
    ));
    assert!(matches!(
        btf.function_args("takes_loop"),
        Err(Error::Corrupt(_))
    ));
}

#[test]
fn split_btf_resolves_module_functions_over_the_base() {
    let mut base = BtfBuilder::new();
    let int = base.int("int", 4);
    let skb = base.structure("sk_buff", 16, &[("len", int, 0, 0)]);
    let skb_ptr = base.ptr(skb);
    let rcv = base.func_proto(int, &[("skb", skb_ptr)]);
    base.func("ip_rcv", rcv);
    let base_btf = load(&base);

    // The module's struct, a pointer to it, and a function taking the
    // kernel's `struct sk_buff *` — ids and names continue the base's.
    let mut module = BtfBuilder::split_over(&base);
    let q = module.structure(
        "tdma_sched",
        8,
        &[("q_len", int, 0, 0), ("flag", int, 33, 3)],
    );
    let q_ptr = module.ptr(q);
    let proto = module.func_proto(int, &[("skb", skb_ptr), ("q", q_ptr)]);
    module.func("tdma_enqueue", proto);
    let btf = KernelBtf::from_split_bytes(&module.build(), &base_btf).unwrap();

    assert_eq!(btf.func_skb_arg("tdma_enqueue").unwrap(), Some(0));
    assert_eq!(
        btf.prototype("tdma_enqueue").unwrap(),
        "int tdma_enqueue(struct sk_buff *skb, struct tdma_sched *q)"
    );
    assert_eq!(btf.member_offset("sk_buff", "len").unwrap(), 0);
    assert_eq!(btf.member_bit_offset("tdma_sched", "flag").unwrap(), 33);
    assert_eq!(
        btf.member_bitfield_width("tdma_sched", "flag").unwrap(),
        Some(3)
    );
    // The base alone knows nothing of the module, and the module lists
    // only its own functions.
    assert!(base_btf.prototype("tdma_enqueue").is_err());
    assert_eq!(btf.function_names().unwrap(), ["tdma_enqueue"]);
}

#[test]
fn prototypes_of_unusual_signatures() {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4);
    let char_ = b.int("char", 1);
    let const_char = b.constant(char_);
    let string = b.ptr(const_char);
    let callback_proto = b.func_proto(int, &[("", int)]);
    let callback = b.ptr(callback_proto);
    let void_proto = b.func_proto(0, &[]);
    b.func("nothing", void_proto);
    let printf_proto = b.func_proto(int, &[("fmt", string), ("", 0)]);
    b.func("printk", printf_proto);
    let with_callback = b.func_proto(string, &[("cb", callback), ("", int)]);
    b.func("register", with_callback);
    let btf = load(&b);

    assert_eq!(btf.prototype("nothing").unwrap(), "void nothing(void)");
    assert_eq!(
        btf.prototype("printk").unwrap(),
        "int printk(const char *fmt, ...)"
    );
    assert_eq!(
        btf.prototype("register").unwrap(),
        "const char *register(int (*cb)(int), int arg1)"
    );
}
