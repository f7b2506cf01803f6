//! End-to-end tests of the filter language: text in, programs and verdicts out.

mod errors;
mod evaluation;
mod limits;
mod programs;
mod random;

use std::net::SocketAddr;

use super::{compile, matches};
use crate::abi::{ETH_P_IP, ETH_P_IPV6, RawEvent, event_flag};

/// An event carrying a packet from `src` to `dst` (`"10.0.0.1:80"`,
/// `"[2001:db8::1]:443"`) with transport protocol `l4`.
fn packet(l4: u8, src: &str, dst: &str) -> RawEvent {
    let src: SocketAddr = src.parse().unwrap();
    let dst: SocketAddr = dst.parse().unwrap();
    let mut ev = RawEvent::zeroed();
    ev.flags = event_flag::HAS_PACKET;
    ev.pkt.l3_proto = if src.is_ipv4() { ETH_P_IP } else { ETH_P_IPV6 };
    ev.pkt.l4_proto = l4;
    ev.pkt.sport = src.port();
    ev.pkt.dport = dst.port();
    ev.pkt.saddr = address_bytes(src);
    ev.pkt.daddr = address_bytes(dst);
    ev
}

fn address_bytes(addr: SocketAddr) -> [u8; 16] {
    match addr {
        SocketAddr::V4(v4) => {
            let mut bytes = [0; 16];
            bytes[..4].copy_from_slice(&v4.ip().octets());
            bytes
        }
        SocketAddr::V6(v6) => v6.ip().octets(),
    }
}

/// `ev` seen on device `name`.
fn on_device(mut ev: RawEvent, name: &str, ifindex: u32, netns: u32) -> RawEvent {
    ev.flags |= event_flag::HAS_DEV;
    ev.ifname = [0; 16];
    ev.ifname[..name.len()].copy_from_slice(name.as_bytes());
    ev.ifindex = ifindex;
    ev.netns = netns;
    ev
}

fn passes(expr: &str, ev: &RawEvent) -> bool {
    let program = compile(expr).unwrap_or_else(|err| panic!("{expr:?}: {err}"));
    matches(&program, ev)
}

/// The one-line message for an expression that must not compile.
fn error(expr: &str) -> String {
    match compile(expr) {
        Ok(program) => panic!("{expr:?} compiled to {program:?}"),
        Err(err) => err.to_string(),
    }
}
