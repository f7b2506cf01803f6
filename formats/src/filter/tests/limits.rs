//! Program length and stack depth limits, `and_all` and `into_config`.

use super::{compile, error, packet, passes};
use crate::abi::{
    FILTER_MAX_INSNS, FilterInsn, IPPROTO_TCP, IPPROTO_UDP, TraceConfig, config_flag, filter_op,
};
use crate::filter::{FilterError, and_all, into_config, matches};

/// `n` `tcp` primitives joined by `or`: 2n - 1 instructions.
fn or_chain(n: usize) -> String {
    vec!["tcp"; n].join(" or ")
}

#[test]
fn thirty_two_instructions_fit() {
    // 16 primitives and 15 ORs, plus one NOT = 32.
    let expr = format!("not ({})", or_chain(16));
    assert_eq!(compile(&expr).unwrap().len(), FILTER_MAX_INSNS);
    // Right-nested, this needs all 16 stack slots.
    let right_nested = format!("{}tcp{}", "tcp or (".repeat(15), ")".repeat(15));
    let program = compile(&right_nested).unwrap();
    assert_eq!(program.len(), 31);
    into_config(&program, 0).unwrap();
    assert!(passes(
        &right_nested,
        &packet(IPPROTO_TCP, "1.1.1.1:1", "2.2.2.2:2")
    ));
}

#[test]
fn thirty_three_instructions_do_not() {
    // The 17th `tcp` makes 32 instructions, the `or` before it 33.
    let expr = or_chain(17);
    assert_eq!(
        error(&expr),
        "bad filter at column 110 ('or'): filter needs more than 32 instructions"
    );
    assert_eq!(&expr[109..115], "or tcp");
    // A qualified port counts 3 instructions and is blamed as a whole.
    let expr = format!("{} and tcp port 80", or_chain(16));
    assert_eq!(
        error(&expr),
        "bad filter at column 114 ('tcp'): filter needs more than 32 instructions"
    );
    let nots = format!("{}tcp", "! ".repeat(32));
    assert_eq!(
        error(&nots),
        "bad filter at column 1 ('!'): filter needs more than 32 instructions"
    );
}

#[test]
fn deep_parentheses_are_rejected_not_overflowing() {
    let expr = format!("{}tcp{}", "(".repeat(64), ")".repeat(64));
    assert_eq!(compile(&expr).unwrap().len(), 1);
    let expr = format!("{}tcp{}", "(".repeat(65), ")".repeat(65));
    assert_eq!(
        error(&expr),
        "bad filter at column 65 ('('): parentheses and 'not' nest more than 64 deep"
    );
    // Far deeper input must fail cleanly, not overflow the stack.
    let expr = "(".repeat(100_000);
    assert!(error(&expr).contains("nest more than 64 deep"));
}

#[test]
fn long_inputs_fail_early() {
    let expr = or_chain(100_000);
    assert!(error(&expr).ends_with("filter needs more than 32 instructions"));
}

#[test]
fn and_all_combines_and_skips_empty_parts() {
    let proto = compile("tcp").unwrap();
    let port = compile("port 80").unwrap();
    let expr = compile("not host 10.0.0.1").unwrap();
    let combined = and_all(vec![proto.clone(), vec![], port.clone(), expr.clone()]);
    assert_eq!(
        combined,
        compile("tcp and port 80 and not host 10.0.0.1").unwrap()
    );
    assert_eq!(and_all(vec![vec![], port.clone()]), port);
    assert_eq!(and_all(vec![vec![], vec![]]), []);
    assert_eq!(and_all(vec![]), []);

    let combined = and_all(vec![proto, port, expr]);
    let tcp80 = packet(IPPROTO_TCP, "10.0.0.2:5000", "10.0.0.3:80");
    assert!(matches(&combined, &tcp80));
    let udp80 = packet(IPPROTO_UDP, "10.0.0.2:5000", "10.0.0.3:80");
    assert!(!matches(&combined, &udp80));
    let from_excluded = packet(IPPROTO_TCP, "10.0.0.1:5000", "10.0.0.3:80");
    assert!(!matches(&combined, &from_excluded));
}

#[test]
fn into_config_copies_program_and_flags() {
    let program = compile("udp or tcp-syn").unwrap();
    let config = into_config(&program, config_flag::FOLLOW_SKB).unwrap();
    assert_eq!(config.flags, config_flag::FOLLOW_SKB);
    assert_eq!(config.filter_len, 3);
    assert_eq!(config.filter[..3], program[..]);
    assert_eq!(config.filter[3..], TraceConfig::accept_all().filter[3..]);

    let empty = into_config(&[], config_flag::STACKS).unwrap();
    assert_eq!(empty.filter_len, 0);
    assert_eq!(empty.flags, config_flag::STACKS);
}

#[test]
fn into_config_rejects_too_long() {
    let pieces: Vec<Vec<FilterInsn>> = (0..17).map(|_| compile("tcp").unwrap()).collect();
    let combined = and_all(pieces);
    assert_eq!(combined.len(), 33);
    let err = into_config(&combined, 0).unwrap_err();
    assert_eq!(err, FilterError::TooLong { insns: 33 });
    assert_eq!(
        err.to_string(),
        "filter program has 33 instructions, at most 32 fit"
    );
}

#[test]
fn into_config_rejects_malformed_programs() {
    let t = FilterInsn::new(filter_op::TRUE);
    let and = FilterInsn::new(filter_op::AND);
    let not = FilterInsn::new(filter_op::NOT);

    let too_deep = [t; 17];
    let err = into_config(&too_deep, 0).unwrap_err();
    assert_eq!(err, FilterError::TooDeep { index: 16 });
    assert_eq!(
        err.to_string(),
        "filter program needs more than 16 stack slots at instruction 16"
    );
    // Sixteen deep is fine.
    let mut deepest = vec![t; 16];
    deepest.extend([and; 15]);
    into_config(&deepest, 0).unwrap();

    let cases: [(&[FilterInsn], &str); 5] = [
        (
            &[and],
            "malformed filter program at instruction 0: operator without enough operands",
        ),
        (
            &[t, and],
            "malformed filter program at instruction 1: operator without enough operands",
        ),
        (
            &[not],
            "malformed filter program at instruction 0: operator without enough operands",
        ),
        (
            &[t, t],
            "malformed filter program at instruction 1: leaves more than one value on the stack",
        ),
        (
            &[t, FilterInsn::new(13)],
            "malformed filter program at instruction 1: unknown opcode",
        ),
    ];
    for (program, message) in cases {
        assert_eq!(into_config(program, 0).unwrap_err().to_string(), message);
    }
}
