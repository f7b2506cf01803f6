//! JSON lines, for programs: one object per event, nothing else.
//!
//! Fields that do not apply are left out: an event without a packet has no
//! addresses, one without a device no `ifname`. Names that a trace may lack
//! (`proto`, `drop_reason`, `tcp_state`, `ethertype`) are strings when known
//! and the raw number otherwise. A packet that is not IP has an `ethertype`
//! instead of `family`, and an ARP packet an `arp` object.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;

use crate::abi::{self, EventKind, RawEvent, event_flag};
use crate::describe::{
    Names, TcpFlagLetters, c_str, has_ports, ip_addrs, is_icmp, l4_proto_names, push_hex,
    push_tc_handle,
};
use crate::l2::{Arp, Mac, NonIp, ethertype_name};
use crate::meta::{RetType, TraceMeta, ValueKind, nf_hook_name, tcp_state_name};
use crate::ret::{RetText, RetValue};
use crate::sink::{Sink, Summary};
use crate::stack::{Stack, StackFrame};
use crate::tdma::TdmaEvent;
use crate::time::push_rfc3339;

/// Prints events as JSON lines. Each line reaches the writer in one
/// `write_all`, as with the text printer.
pub struct JsonPrinter<W: Write> {
    out: W,
    names: Option<Names>,
    line: Vec<u8>,
    scratch: Scratch,
    /// Kernel stacks by id, each frame described once.
    stacks: HashMap<u32, Vec<String>>,
}

/// Reused buffers for the fields formatted by hand.
#[derive(Default)]
pub(crate) struct Scratch {
    time: Vec<u8>,
    skb: Vec<u8>,
    drop_location: Vec<u8>,
    qdisc_handle: Vec<u8>,
    qdisc_parent: Vec<u8>,
}

impl<W: Write> JsonPrinter<W> {
    pub fn new(out: W) -> Self {
        JsonPrinter {
            out,
            names: None,
            line: Vec::with_capacity(512),
            scratch: Scratch::default(),
            stacks: HashMap::new(),
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// A name when the trace knows one, else the raw number.
#[derive(Serialize)]
#[serde(untagged)]
enum NameOr<'a, N> {
    Name(&'a str),
    Number(N),
}

/// An Ethernet/IPv4 ARP header.
#[derive(Serialize)]
struct ArpJson {
    /// `request`, `reply`, ... or the number of another operation.
    op: NameOr<'static, u16>,
    sender_ip: Ipv4Addr,
    sender_mac: Mac,
    target_ip: Ipv4Addr,
    target_mac: Mac,
}

impl ArpJson {
    fn of(arp: &Arp) -> Self {
        const OPS: [(u16, &str); 7] = [
            (1, "request"),
            (2, "reply"),
            (3, "reverse_request"),
            (4, "reverse_reply"),
            (8, "inverse_request"),
            (9, "inverse_reply"),
            (10, "nak"),
        ];
        ArpJson {
            op: match OPS.iter().find(|&&(op, _)| op == arp.op) {
                Some(&(_, name)) => NameOr::Name(name),
                None => NameOr::Number(arp.op),
            },
            sender_ip: arp.sender_ip,
            sender_mac: arp.sender_mac,
            target_ip: arp.target_ip,
            target_mac: arp.target_mac,
        }
    }
}

/// One output line. A flat struct (no `#[serde(flatten)]`, which would
/// route every field through a slower map serializer).
#[derive(Default, Serialize)]
pub(crate) struct EventJson<'a> {
    ts_ns: u64,
    time: &'a str,
    cpu: u32,
    pid: u32,
    tid: u32,
    comm: Cow<'a, str>,
    probe: Cow<'a, str>,
    pub(crate) kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    skb: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ifindex: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ifname: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    netns: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stack_id: Option<i32>,

    // The packet.
    /// skb length; events without an skb have none.
    #[serde(skip_serializing_if = "Option::is_none")]
    len: Option<u32>,
    /// Addresses and ports come from the socket: headers were not built yet,
    /// so there are no header fields.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    from_socket: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    family: Option<u8>,
    /// `skb->protocol` of a packet that is not IP.
    #[serde(skip_serializing_if = "Option::is_none")]
    ethertype: Option<NameOr<'static, u16>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arp: Option<ArpJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    proto: Option<NameOr<'static, u8>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    saddr: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    daddr: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sport: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dport: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tcp_flags: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tcp_flag_bits: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ack: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    icmp_type: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    icmp_code: Option<u8>,
    /// IPv4 identification, or the low 16 bits of the IPv6 flow label.
    #[serde(skip_serializing_if = "Option::is_none")]
    ip_id: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip_len: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<u8>,

    // What the probe reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    drop_reason: Option<NameOr<'a, u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    drop_location: Option<&'a str>,
    /// The drop location named, when the tracing host could.
    #[serde(skip_serializing_if = "Option::is_none")]
    drop_location_symbol: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rc: Option<i32>,
    /// The return value as a number (sign-extended where signed)...
    #[serde(skip_serializing_if = "Option::is_none")]
    ret: Option<RetValue>,
    /// ... and as text where that says more: `-EINVAL`, `NULL`, `0xffff…`, `true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    ret_name: Option<RetText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tcp_state: Option<NameOr<'static, u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tcp_old_state: Option<NameOr<'static, u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nf_hook: Option<NameOr<'static, u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nf_pf: Option<u8>,
    /// Bytes a reader copied to user space (`skb_copy_datagram_iovec`).
    #[serde(skip_serializing_if = "Option::is_none")]
    copied_to_user: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    qlen: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    qdisc_handle: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    qdisc_parent: Option<&'a str>,
    /// `--stack`: the kernel stack, innermost frame first.
    #[serde(skip_serializing_if = "Option::is_none")]
    stack: Option<&'a [String]>,
    /// sch_tdma's own events.
    #[serde(skip_serializing_if = "Option::is_none")]
    tdma: Option<TdmaEvent>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    followed: bool,
}

impl<W: Write> Sink for JsonPrinter<W> {
    /// Prints nothing: the output stays pure events.
    fn begin(&mut self, meta: &TraceMeta) -> io::Result<()> {
        self.names = Some(Names::new(meta));
        Ok(())
    }

    fn event(&mut self, event: &RawEvent) -> io::Result<()> {
        let JsonPrinter {
            out,
            names,
            line,
            scratch,
            stacks,
        } = self;
        let Some(names) = names else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "JSON printer: event before begin",
            ));
        };
        let flags = TcpFlagLetters::new(event.pkt.tcp_flags);
        let mut view = event_json(names, scratch, &flags, event);
        if event.stack_id >= 0 {
            view.stack = stacks.get(&(event.stack_id as u32)).map(Vec::as_slice);
        }
        line.clear();
        serde_json::to_writer(&mut *line, &view)?;
        line.push(b'\n');
        out.write_all(line)
    }

    fn lost(&mut self, _cpu: u32, _total_lost_on_cpu: u64) -> io::Result<()> {
        Ok(())
    }

    fn symbol(&mut self, frame: &StackFrame) -> io::Result<()> {
        crate::describe::learn(&mut self.names, frame);
        Ok(())
    }

    fn stack(&mut self, stack: &Stack) -> io::Result<()> {
        let frames = stack.frames.iter().map(StackFrame::describe).collect();
        self.stacks.insert(stack.id, frames);
        Ok(())
    }

    fn finish(&mut self, _summary: &Summary) -> io::Result<()> {
        self.out.flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl EventJson<'_> {
    /// `ret` (and `ret_name`) from the return register `raw` of probe
    /// `probe_id`, typed by it; none for a `void` function.
    pub(crate) fn set_ret(&mut self, names: &Names, probe_id: u32, raw: u64) {
        let ty = names
            .probes
            .get(probe_id)
            .map_or(RetType::Unknown, |probe| probe.ret);
        self.ret = ty.decode(raw);
        self.ret_name = self.ret.as_ref().and_then(RetValue::name);
    }
}

pub(crate) fn event_json<'a>(
    names: &'a Names,
    scratch: &'a mut Scratch,
    tcp_flags: &'a TcpFlagLetters,
    event: &'a RawEvent,
) -> EventJson<'a> {
    scratch.time.clear();
    push_rfc3339(
        &mut scratch.time,
        names.clock.wall_ns(event.ts_ns),
        names.clock.utc_offset_s,
    );
    scratch.skb.clear();
    scratch.skb.extend_from_slice(b"0x");
    push_hex(&mut scratch.skb, event.skb);

    let probe = names.probes.get(event.probe_id);
    let kind = EventKind::from_u8(event.kind);
    let has_dev = event.flags & event_flag::HAS_DEV != 0;
    let mut view = EventJson {
        ts_ns: event.ts_ns,
        time: ascii(&scratch.time),
        cpu: event.cpu,
        pid: event.pid,
        tid: event.tid,
        comm: String::from_utf8_lossy(c_str(&event.comm)),
        probe: match probe {
            Some(probe) => Cow::Borrowed(&probe.name),
            None => Cow::Owned(format!("probe#{}", event.probe_id)),
        },
        kind: match kind {
            Some(EventKind::Point) => "point",
            Some(EventKind::Entry) => "entry",
            Some(EventKind::Exit) => "exit",
            None => "unknown",
        },
        skb: (event.skb != 0).then(|| ascii(&scratch.skb)),
        ifindex: has_dev.then_some(event.ifindex),
        ifname: has_dev.then(|| String::from_utf8_lossy(c_str(&event.ifname))),
        netns: (event.netns != 0).then_some(event.netns),
        stack_id: (event.stack_id >= 0).then_some(event.stack_id),
        followed: event.flags & event_flag::FOLLOWED != 0,
        ..EventJson::default()
    };
    if event.flags & event_flag::HAS_PACKET != 0 {
        fill_packet(&mut view, event, tcp_flags);
    }
    match probe.map(|p| p.value) {
        None | Some(ValueKind::None) => {}
        Some(ValueKind::DropReason) => {
            let name = u32::try_from(event.value)
                .ok()
                .and_then(|reason| names.drop_reasons.name(reason));
            view.drop_reason = Some(match name {
                Some(name) => NameOr::Name(name),
                None => NameOr::Number(event.value),
            });
            if event.aux != 0 {
                scratch.drop_location.clear();
                scratch.drop_location.extend_from_slice(b"0x");
                push_hex(&mut scratch.drop_location, event.aux);
                view.drop_location = Some(ascii(&scratch.drop_location));
                view.drop_location_symbol = names.locations.get(&event.aux).map(String::as_str);
            }
        }
        // An `int` widened by the probe.
        Some(ValueKind::XmitRc) => view.rc = Some(event.value as u32 as i32),
        Some(ValueKind::Qdisc) => {
            view.qlen = Some(event.value);
            if event.aux != 0 {
                scratch.qdisc_handle.clear();
                push_tc_handle(&mut scratch.qdisc_handle, (event.aux >> 32) as u32);
                scratch.qdisc_parent.clear();
                push_tc_handle(&mut scratch.qdisc_parent, event.aux as u32);
                view.qdisc_handle = Some(ascii(&scratch.qdisc_handle));
                view.qdisc_parent = Some(ascii(&scratch.qdisc_parent));
            }
        }
        Some(ValueKind::TcpState) => {
            view.tcp_state = Some(tcp_state(event.value));
            view.tcp_old_state = Some(tcp_state(event.aux));
        }
        Some(ValueKind::Return) => {
            if kind != Some(EventKind::Entry) {
                view.set_ret(names, event.probe_id, event.value);
            }
        }
        Some(ValueKind::Tdma) => view.tdma = TdmaEvent::decode(event),
        Some(ValueKind::Copied) => view.copied_to_user = Some(event.value),
        Some(ValueKind::NfHook) => {
            if kind == Some(EventKind::Entry) {
                let (hook, pf) = (event.aux as u8, (event.aux >> 8) as u8);
                view.nf_hook = Some(match nf_hook_name(pf, hook) {
                    Some(name) => NameOr::Name(name),
                    None => NameOr::Number(u64::from(hook)),
                });
                view.nf_pf = Some(pf);
            } else {
                view.set_ret(names, event.probe_id, event.value);
            }
        }
    }
    view
}

fn fill_packet<'a>(json: &mut EventJson<'a>, event: &RawEvent, tcp_flags: &'a TcpFlagLetters) {
    let pkt = &event.pkt;
    let from_socket = event.flags & event_flag::FROM_SOCKET != 0;
    json.len = (event.skb != 0).then_some(pkt.skb_len);
    json.from_socket = from_socket;
    if let Some(non_ip) = NonIp::of(pkt) {
        json.ethertype = Some(match ethertype_name(pkt.l3_proto) {
            Some(name) => NameOr::Name(name),
            None => NameOr::Number(pkt.l3_proto),
        });
        if let NonIp::Arp(arp) = non_ip {
            json.arp = Some(ArpJson::of(&arp));
        }
        return;
    }
    let Some((family, saddr, daddr)) = ip_addrs(pkt) else {
        return;
    };
    json.family = Some(family);
    json.saddr = Some(saddr);
    json.daddr = Some(daddr);
    json.proto = Some(match l4_proto_names(pkt.l4_proto) {
        Some((_, name)) => NameOr::Name(name),
        None => NameOr::Number(pkt.l4_proto),
    });
    if has_ports(pkt.l4_proto) {
        json.sport = Some(pkt.sport);
        json.dport = Some(pkt.dport);
    }
    if from_socket {
        return;
    }
    json.ip_id = Some(pkt.ip_id);
    json.ip_len = Some(pkt.ip_len);
    json.ttl = Some(pkt.ttl);
    if pkt.l4_proto == abi::IPPROTO_TCP {
        json.tcp_flags = Some(tcp_flags.as_str());
        json.tcp_flag_bits = Some(pkt.tcp_flags);
        json.seq = Some(pkt.seq);
        json.ack = Some(pkt.ack);
    } else if is_icmp(pkt.l4_proto) {
        json.icmp_type = Some(pkt.icmp_type);
        json.icmp_code = Some(pkt.icmp_code);
    }
}

fn tcp_state(state: u64) -> NameOr<'static, u64> {
    match tcp_state_name(state) {
        Some(name) => NameOr::Name(name),
        None => NameOr::Number(state),
    }
}

/// Text the printer formatted itself, always ASCII.
fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}
