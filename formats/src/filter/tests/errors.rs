//! Rejected expressions: the message names the token and its column.

use super::{compile, error};
use crate::filter::{FilterError, Problem};

#[test]
fn unknown_primitive() {
    assert_eq!(
        error("tcp and prot 80"),
        "bad filter at column 9 ('prot'): expected a primitive (tcp, udp, icmp, ip, ip6, \
         arp, proto, host, net, port, portrange, ifname, netns, pid, ifindex, tcp-syn, tcpflags, \
         ...), 'not' or '('"
    );
}

#[test]
fn messages_name_token_and_column() {
    let cases = [
        (
            "tcp udp",
            "bad filter at column 5 ('udp'): expected 'and', 'or' or the end of the filter",
        ),
        (
            "tcp and",
            "bad filter at column 8 (end of input): expected a primitive",
        ),
        (
            "or tcp",
            "bad filter at column 1 ('or'): expected a primitive",
        ),
        (
            "tcp and and udp",
            "bad filter at column 9 ('and'): expected a primitive",
        ),
        (
            "not",
            "bad filter at column 4 (end of input): expected a primitive",
        ),
        ("()", "bad filter at column 2 (')'): empty parentheses"),
        (
            "tcp and ( )",
            "bad filter at column 11 (')'): empty parentheses",
        ),
        (
            "tcp)",
            "bad filter at column 4 (')'): ')' without a matching '('",
        ),
        (
            "(tcp or udp",
            "bad filter at column 12 (end of input): expected 'and', 'or' or ')' closing the '(' at column 1",
        ),
        (
            "udp and (tcp port 80 udp)",
            "bad filter at column 22 ('udp'): expected 'and', 'or' or ')' closing the '(' at column 9",
        ),
        (
            "tcp | udp",
            "bad filter at column 5 ('|'): expected 'and', 'or' or the end of the filter",
        ),
        (
            "port",
            "bad filter at column 5 (end of input): expected a port number",
        ),
        (
            "port http",
            "bad filter at column 6 ('http'): expected a port number",
        ),
        (
            "port -1",
            "bad filter at column 6 ('-1'): expected a port number",
        ),
        (
            "port +1",
            "bad filter at column 6 ('+1'): expected a port number",
        ),
        (
            "port 65536",
            "bad filter at column 6 ('65536'): port must be at most 65535",
        ),
        (
            "port 99999999999999999999",
            "bad filter at column 6 ('99999999999999999999'): port must be at most 65535",
        ),
        (
            "portrange 80",
            "bad filter at column 11 ('80'): expected a port range like 1024-2047",
        ),
        (
            "portrange 80-",
            "bad filter at column 11 ('80-'): expected a port range like 1024-2047",
        ),
        (
            "portrange 1-70000",
            "bad filter at column 13 ('70000'): port must be at most 65535",
        ),
        (
            "portrange x-9",
            "bad filter at column 11 ('x'): expected a port number",
        ),
        (
            "portrange 9-1",
            "bad filter at column 11 ('9-1'): port range starts above its end",
        ),
        (
            "tcp src 80",
            "bad filter at column 9 ('80'): expected port or portrange",
        ),
        (
            "tcp src host 1.2.3.4",
            "bad filter at column 9 ('host'): expected port or portrange",
        ),
        (
            "src 10.0.0.1",
            "bad filter at column 5 ('10.0.0.1'): expected host, net, port or portrange",
        ),
        (
            "dst",
            "bad filter at column 4 (end of input): expected host, net, port or portrange",
        ),
        (
            "host 10.0.0.256",
            "bad filter at column 6 ('10.0.0.256'): expected an IPv4 or IPv6 address",
        ),
        (
            "host fe80::1::2",
            "bad filter at column 6 ('fe80::1::2'): expected an IPv4 or IPv6 address",
        ),
        (
            "host 10.0.0.0/8",
            "bad filter at column 6 ('10.0.0.0/8'): expected an IPv4 or IPv6 address",
        ),
        (
            "host (",
            "bad filter at column 6 ('('): expected an IPv4 or IPv6 address",
        ),
        (
            "net 10.0.0.0",
            "bad filter at column 5 ('10.0.0.0'): expected a network like 10.0.0.0/8 or fd00::/8",
        ),
        (
            "net 10.0.0.0/",
            "bad filter at column 5 ('10.0.0.0/'): expected a network like 10.0.0.0/8 or fd00::/8",
        ),
        (
            "net 10.0.0.0/33",
            "bad filter at column 14 ('33'): IPv4 prefix length must be at most 32",
        ),
        (
            "net ::/129",
            "bad filter at column 8 ('129'): IPv6 prefix length must be at most 128",
        ),
        (
            "net 10.0.0.0/x",
            "bad filter at column 14 ('x'): expected a prefix length",
        ),
        (
            "net 10.0.0.300/8",
            "bad filter at column 5 ('10.0.0.300'): expected an IPv4 or IPv6 address",
        ),
        (
            "net 192.168.1.7/24",
            "bad filter at column 5 ('192.168.1.7/24'): address has bits set outside the network mask; did you mean 192.168.1.0/24?",
        ),
        (
            "net fd00::1/8",
            "bad filter at column 5 ('fd00::1/8'): address has bits set outside the network mask; did you mean fd00::/8?",
        ),
        (
            "net 10.1.2.3 mask 255.255.0.0",
            "bad filter at column 5 ('10.1.2.3'): address has bits set outside the network mask; did you mean 10.1.0.0 mask 255.255.0.0?",
        ),
        (
            "net fd00:: mask ffff::",
            "bad filter at column 12 ('mask'): 'mask' only works with IPv4 networks; write ADDR/LEN",
        ),
        (
            "net 10.0.0.0 mask 8",
            "bad filter at column 19 ('8'): expected an IPv4 mask like 255.255.0.0",
        ),
        (
            "ifname",
            "bad filter at column 7 (end of input): expected an interface name",
        ),
        (
            "ifname )",
            "bad filter at column 8 (')'): expected an interface name",
        ),
        (
            "dev a234567890123456",
            "bad filter at column 5 ('a234567890123456'): interface name longer than 15 bytes",
        ),
        ("pid x", "bad filter at column 5 ('x'): expected a pid"),
        (
            "pid 4294967296",
            "bad filter at column 5 ('4294967296'): pid must be at most 4294967295",
        ),
        (
            "netns",
            "bad filter at column 6 (end of input): expected a netns inode number",
        ),
        (
            "ifindex eth0",
            "bad filter at column 9 ('eth0'): expected an interface index",
        ),
        (
            "proto 256",
            "bad filter at column 7 ('256'): protocol number must be at most 255",
        ),
        (
            "proto gre",
            "bad filter at column 7 ('gre'): expected a protocol number or one of tcp, udp, icmp, icmp6, sctp",
        ),
        (
            "ip proto",
            "bad filter at column 9 (end of input): expected a protocol number",
        ),
        (
            "tcpflags SX",
            "bad filter at column 11 ('X'): unknown TCP flag 'X'; use F S R P A U E C",
        ),
        (
            "tcpflags |",
            "bad filter at column 10 ('|'): expected TCP flag letters like SA (F S R P A U E C)",
        ),
        (
            "tcpflags",
            "bad filter at column 9 (end of input): expected TCP flag letters",
        ),
        (
            "tcp-syc",
            "bad filter at column 1 ('tcp-syc'): expected a primitive",
        ),
        (
            "ICMP",
            "bad filter at column 1 ('ICMP'): expected a primitive",
        ),
    ];
    for (expr, message) in cases {
        let got = error(expr);
        assert!(
            got.starts_with(message),
            "{expr:?}:\n  got  {got}\n  want {message}"
        );
        assert!(!got.contains('\n'), "{expr:?}: {got}");
    }
}

#[test]
fn columns_count_characters_not_bytes() {
    assert_eq!(
        error("ifname é and bogus"),
        "bad filter at column 14 ('bogus'): expected a primitive (tcp, udp, icmp, ip, ip6, \
         arp, proto, host, net, port, portrange, ifname, netns, pid, ifindex, tcp-syn, tcpflags, \
         ...), 'not' or '('"
    );
}

#[test]
fn errors_carry_structured_details() {
    assert_eq!(
        compile("port 70000"),
        Err(FilterError::Syntax {
            column: 6,
            token: Some("70000".into()),
            problem: Problem::TooLarge {
                what: "port",
                max: 65535
            },
        })
    );
    assert_eq!(
        compile("tcp and"),
        Err(FilterError::Syntax {
            column: 8,
            token: None,
            problem: Problem::ExpectedPrimitive,
        })
    );
}

#[test]
fn caret_line_underlines_the_token() {
    let expr = "tcp and prot 80";
    let err = compile(expr).unwrap_err();
    assert_eq!(err.caret_line(expr).unwrap(), "        ^^^^");

    let expr = "net 10.0.0.0/40";
    let err = compile(expr).unwrap_err();
    assert_eq!(err.caret_line(expr).unwrap(), "             ^^");

    let expr = "tcp and";
    let err = compile(expr).unwrap_err();
    assert_eq!(err.caret_line(expr).unwrap(), "       ^");

    // Tabs are kept so the carets line up under a tab-indented expression.
    let expr = "\ttcp\tudp";
    let err = compile(expr).unwrap_err();
    assert_eq!(err.caret_line(expr).unwrap(), "\t   \t^^^");

    assert_eq!(FilterError::TooLong { insns: 40 }.caret_line(expr), None);
}
