//! One primitive: a keyword with its qualifiers and arguments, such as
//! `udp dst port 53` or `src net 10.0.0.0/8`.

use std::net::{IpAddr, Ipv4Addr};

use super::ast::Expr;
use super::error::{FilterError, Problem};
use super::lexer::{Token, TokenKind, Tokens};
use super::predicate;
use super::prefix::Prefix;
use crate::abi::{
    ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, FilterInsn, IFNAMSIZ, IPPROTO_ICMP, IPPROTO_ICMPV6,
    IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, filter_dir, tcp_flag,
};

/// A numeric argument: what to call it in errors, and its largest value.
struct Quantity {
    expected: &'static str,
    name: &'static str,
    max: u32,
}

const PORT: Quantity = Quantity {
    expected: "a port number",
    name: "port",
    max: u16::MAX as u32,
};
const PROTOCOL: Quantity = Quantity {
    expected: "a protocol number or one of tcp, udp, icmp, icmp6, sctp",
    name: "protocol number",
    max: u8::MAX as u32,
};
const NETNS: Quantity = Quantity {
    expected: "a netns inode number",
    name: "netns inode number",
    max: u32::MAX,
};
const PID: Quantity = Quantity {
    expected: "a pid",
    name: "pid",
    max: u32::MAX,
};
const IFINDEX: Quantity = Quantity {
    expected: "an interface index",
    name: "interface index",
    max: u32::MAX,
};
const IPV4_PREFIX_LEN: Quantity = Quantity {
    expected: "a prefix length",
    name: "IPv4 prefix length",
    max: 32,
};
const IPV6_PREFIX_LEN: Quantity = Quantity {
    expected: "a prefix length",
    name: "IPv6 prefix length",
    max: 128,
};

const PROTOCOL_NAMES: [(&str, u8); 5] = [
    ("tcp", IPPROTO_TCP),
    ("udp", IPPROTO_UDP),
    ("icmp", IPPROTO_ICMP),
    ("icmp6", IPPROTO_ICMPV6),
    ("sctp", IPPROTO_SCTP),
];

const TCP_FLAG_KEYWORDS: [(&str, u8); 8] = [
    ("tcp-fin", tcp_flag::FIN),
    ("tcp-syn", tcp_flag::SYN),
    ("tcp-rst", tcp_flag::RST),
    ("tcp-push", tcp_flag::PSH),
    ("tcp-ack", tcp_flag::ACK),
    ("tcp-urg", tcp_flag::URG),
    ("tcp-ece", tcp_flag::ECE),
    ("tcp-cwr", tcp_flag::CWR),
];

/// Letters of `tcpflags`, as tcpdump prints them except ACK (tcpdump's `.`).
const TCP_FLAG_LETTERS: [(char, u8); 8] = [
    ('F', tcp_flag::FIN),
    ('S', tcp_flag::SYN),
    ('R', tcp_flag::RST),
    ('P', tcp_flag::PSH),
    ('A', tcp_flag::ACK),
    ('U', tcp_flag::URG),
    ('E', tcp_flag::ECE),
    ('C', tcp_flag::CWR),
];

const EXPECTED_NETWORK: &str = "a network like 10.0.0.0/8 or fd00::/8";
const EXPECTED_PORT_RANGE: &str = "a port range like 1024-2047";
const EXPECTED_TCP_FLAGS: &str = "TCP flag letters like SA (F S R P A U E C)";

pub(crate) fn primitive(tokens: &mut Tokens<'_>) -> Result<Expr, FilterError> {
    let keyword = tokens.advance();
    if keyword.kind != TokenKind::Word {
        return Err(keyword.error(Problem::ExpectedPrimitive));
    }
    let test = match keyword.text {
        "tcp" => return transport(tokens, IPPROTO_TCP),
        "udp" => return transport(tokens, IPPROTO_UDP),
        "sctp" => return transport(tokens, IPPROTO_SCTP),
        "ip" => return network_layer(tokens, ETH_P_IP),
        "ip6" => return network_layer(tokens, ETH_P_IPV6),
        "arp" => predicate::l3_proto(ETH_P_ARP),
        "icmp" => predicate::l4_proto(IPPROTO_ICMP),
        "icmp6" => predicate::l4_proto(IPPROTO_ICMPV6),
        "proto" => predicate::l4_proto(protocol(tokens.advance())?),
        "src" => directed(tokens, filter_dir::SRC)?,
        "dst" => directed(tokens, filter_dir::DST)?,
        "ifname" | "dev" => predicate::ifname(ifname(tokens.advance())?),
        "netns" => predicate::netns(number(tokens.advance(), &NETNS)?),
        "pid" => predicate::pid(number(tokens.advance(), &PID)?),
        "ifindex" => predicate::ifindex(number(tokens.advance(), &IFINDEX)?),
        "tcpflags" => predicate::tcp_flags(tcp_flag_letters(tokens.advance())?),
        other => match address_or_port(keyword, tokens, filter_dir::EITHER) {
            Some(test) => test?,
            None => {
                let (_, flag) = TCP_FLAG_KEYWORDS
                    .into_iter()
                    .find(|&(name, _)| name == other)
                    .ok_or_else(|| keyword.error(Problem::ExpectedPrimitive))?;
                predicate::tcp_flags(flag)
            }
        },
    };
    Ok(Expr::Test(test))
}

/// `tcp`, optionally qualified by a port: `tcp [src|dst] port 80`.
fn transport(tokens: &mut Tokens<'_>, proto: u8) -> Result<Expr, FilterError> {
    let proto_test = Expr::Test(predicate::l4_proto(proto));
    let dir = match tokens.peek().text {
        "src" => filter_dir::SRC,
        "dst" => filter_dir::DST,
        "port" | "portrange" => filter_dir::EITHER,
        _ => return Ok(proto_test),
    };
    if dir != filter_dir::EITHER {
        tokens.advance();
    }
    let keyword = tokens.advance();
    let ports = port_test(keyword, tokens, dir)
        .unwrap_or_else(|| Err(keyword.error(Problem::Expected("port or portrange"))))?;
    Ok(Expr::and(proto_test, Expr::Test(ports)))
}

/// `ip`, optionally with a transport protocol: `ip6 proto udp`.
fn network_layer(tokens: &mut Tokens<'_>, ethertype: u16) -> Result<Expr, FilterError> {
    let family = Expr::Test(predicate::l3_proto(ethertype));
    if tokens.advance_if("proto").is_none() {
        return Ok(family);
    }
    let proto = predicate::l4_proto(protocol(tokens.advance())?);
    Ok(Expr::and(family, Expr::Test(proto)))
}

/// What follows `src` or `dst`.
fn directed(tokens: &mut Tokens<'_>, dir: u8) -> Result<FilterInsn, FilterError> {
    let keyword = tokens.advance();
    address_or_port(keyword, tokens, dir)
        .unwrap_or_else(|| Err(keyword.error(Problem::Expected("host, net, port or portrange"))))
}

/// Parses the arguments of `keyword` if it is `host`, `net`, `port` or
/// `portrange`; `None` if it is none of them.
fn address_or_port(
    keyword: Token<'_>,
    tokens: &mut Tokens<'_>,
    dir: u8,
) -> Option<Result<FilterInsn, FilterError>> {
    match keyword.text {
        "host" => Some(host(tokens.advance(), dir)),
        "net" => Some(net(tokens, dir)),
        _ => port_test(keyword, tokens, dir),
    }
}

/// Parses the argument of `keyword` if it is `port` or `portrange`.
fn port_test(
    keyword: Token<'_>,
    tokens: &mut Tokens<'_>,
    dir: u8,
) -> Option<Result<FilterInsn, FilterError>> {
    match keyword.text {
        "port" => Some(
            number(tokens.advance(), &PORT)
                .map(|port| predicate::ports(dir, port as u16, port as u16)),
        ),
        "portrange" => Some(port_range(tokens.advance(), dir)),
        _ => None,
    }
}

fn port_range(token: Token<'_>, dir: u8) -> Result<FilterInsn, FilterError> {
    let Some((first, last)) = token
        .text
        .split_once('-')
        .filter(|(first, last)| !first.is_empty() && !last.is_empty())
    else {
        return Err(token.error(Problem::Expected(EXPECTED_PORT_RANGE)));
    };
    let lo = number(token.part(0..first.len()), &PORT)?;
    let hi = number(
        token.part(token.text.len() - last.len()..token.text.len()),
        &PORT,
    )?;
    if lo > hi {
        return Err(token.error(Problem::PortRangeReversed));
    }
    Ok(predicate::ports(dir, lo as u16, hi as u16))
}

fn host(token: Token<'_>, dir: u8) -> Result<FilterInsn, FilterError> {
    let addr = ip_addr(token)?;
    Ok(predicate::address(
        dir,
        &Prefix::with_len(addr, Prefix::max_len(addr)),
    ))
}

/// `net ADDR/LEN` or `net ADDR mask MASK`.
fn net(tokens: &mut Tokens<'_>, dir: u8) -> Result<FilterInsn, FilterError> {
    let token = tokens.advance();
    let (prefix, suggestion) = match token.text.split_once('/') {
        Some((addr_text, len_text)) if !addr_text.is_empty() && !len_text.is_empty() => {
            let addr = ip_addr(token.part(0..addr_text.len()))?;
            let len_quantity = match addr {
                IpAddr::V4(_) => &IPV4_PREFIX_LEN,
                IpAddr::V6(_) => &IPV6_PREFIX_LEN,
            };
            let len = number(
                token.part(addr_text.len() + 1..token.text.len()),
                len_quantity,
            )?;
            let prefix = Prefix::with_len(addr, len);
            (prefix, format!("{}/{len}", prefix.network()))
        }
        Some(_) => return Err(token.error(Problem::Expected(EXPECTED_NETWORK))),
        None => {
            let Some(mask_keyword) = tokens.advance_if("mask") else {
                return Err(token.error(Problem::Expected(EXPECTED_NETWORK)));
            };
            let IpAddr::V4(addr) = ip_addr(token)? else {
                return Err(mask_keyword.error(Problem::MaskNeedsIpv4));
            };
            let mask_token = tokens.advance();
            let mask: Ipv4Addr = mask_token.text.parse().map_err(|_| {
                mask_token.error(Problem::Expected("an IPv4 mask like 255.255.0.0"))
            })?;
            let prefix = Prefix::with_mask(addr, mask);
            (prefix, format!("{} mask {mask}", prefix.network()))
        }
    };
    if prefix.has_host_bits() {
        return Err(token.error(Problem::HostBitsSet { suggestion }));
    }
    Ok(predicate::address(dir, &prefix))
}

fn ip_addr(token: Token<'_>) -> Result<IpAddr, FilterError> {
    token
        .text
        .parse()
        .map_err(|_| token.error(Problem::Expected("an IPv4 or IPv6 address")))
}

fn protocol(token: Token<'_>) -> Result<u8, FilterError> {
    match PROTOCOL_NAMES
        .into_iter()
        .find(|&(name, _)| name == token.text)
    {
        Some((_, proto)) => Ok(proto),
        None => number(token, &PROTOCOL).map(|proto| proto as u8),
    }
}

fn ifname(token: Token<'_>) -> Result<&str, FilterError> {
    if token.kind != TokenKind::Word {
        return Err(token.error(Problem::Expected("an interface name")));
    }
    if token.text.len() >= IFNAMSIZ {
        return Err(token.error(Problem::IfnameTooLong));
    }
    Ok(token.text)
}

/// `SA`, `S|A`: any of the named flags.
fn tcp_flag_letters(token: Token<'_>) -> Result<u8, FilterError> {
    if token.kind != TokenKind::Word {
        return Err(token.error(Problem::Expected(EXPECTED_TCP_FLAGS)));
    }
    let mut mask = 0;
    for (i, letter) in token.text.char_indices().filter(|&(_, c)| c != '|') {
        let (_, flag) = TCP_FLAG_LETTERS
            .into_iter()
            .find(|&(known, _)| known == letter.to_ascii_uppercase())
            .ok_or_else(|| {
                token
                    .part(i..i + letter.len_utf8())
                    .error(Problem::UnknownTcpFlag(letter))
            })?;
        mask |= flag;
    }
    if mask == 0 {
        return Err(token.error(Problem::Expected(EXPECTED_TCP_FLAGS)));
    }
    Ok(mask)
}

/// A decimal number up to `quantity.max`.
fn number(token: Token<'_>, quantity: &Quantity) -> Result<u32, FilterError> {
    // `str::parse` would also take a leading `+`.
    if token.kind != TokenKind::Word || !token.text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(token.error(Problem::Expected(quantity.expected)));
    }
    match token.text.parse() {
        Ok(value) if value <= quantity.max => Ok(value),
        _ => Err(token.error(Problem::TooLarge {
            what: quantity.name,
            max: quantity.max,
        })),
    }
}
