//! One aligned line per event, for people.
//!
//! ```text
//! 04:31:12.123456789   1 ping/1234        net_dev_queue        ffff8880041a2300 veth0       ns:4026532281 ICMP 10.0.0.1 > 10.0.0.2 type 8/0 id 6699 len 84
//! ```
//!
//! Columns: local time of day, cpu, comm/pid (just comm for pid 0, the idle
//! task), probe (`B`/`E` marks function entry/exit), skb, device, network
//! namespace, then the packet and what the probe reports.
//!
//! Every line is built in a reused buffer without `format!`: `report` prints
//! millions of lines per second.

use std::io::{self, Write};
use std::net::Ipv6Addr;

use crate::abi::{self, EventKind, PacketSummary, RawEvent, event_flag};
use crate::describe::{
    Names, TcpFlagLetters, c_str, has_ports, is_icmp, l4_proto_names, push_hex, push_tc_handle,
};
use crate::meta::{TraceMeta, ValueKind, tcp_state_name};
use crate::sink::{Sink, Summary};
use crate::time::push_time_of_day;

const CPU_WIDTH: usize = 3;
const TASK_WIDTH: usize = 16;
const PROBE_WIDTH: usize = 20;
const SKB_WIDTH: usize = 16;
const IFNAME_WIDTH: usize = 11;
const NETNS_WIDTH: usize = 13;

const COLOR_PROBE: &[u8] = b"\x1b[36m";
const COLOR_BAD: &[u8] = b"\x1b[31m";
const COLOR_DIM: &[u8] = b"\x1b[2m";
const COLOR_RESET: &[u8] = b"\x1b[0m";

/// Prints events as text lines. Each line reaches the writer in one
/// `write_all`; wrap stdout in a `BufWriter` and call [`Sink::flush`] after
/// each batch for speed.
pub struct TextPrinter<W: Write> {
    out: W,
    color: bool,
    names: Option<Names>,
    line: Vec<u8>,
}

impl<W: Write> TextPrinter<W> {
    pub fn new(out: W) -> Self {
        TextPrinter {
            out,
            color: false,
            names: None,
            line: Vec::with_capacity(256),
        }
    }

    /// Enables ANSI colors. The caller decides (terminal, `NO_COLOR`).
    pub fn with_color(mut self, color: bool) -> Self {
        self.color = color;
        self
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Sink for TextPrinter<W> {
    fn begin(&mut self, meta: &TraceMeta) -> io::Result<()> {
        self.names = Some(Names::new(meta));
        Ok(())
    }

    fn event(&mut self, event: &RawEvent) -> io::Result<()> {
        let Some(names) = &self.names else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "text printer: event before begin",
            ));
        };
        self.line.clear();
        let mut line = Line {
            buf: &mut self.line,
            color: self.color,
        };
        line.event(names, event);
        self.out.write_all(&self.line)
    }

    /// Lost events are status, reported on stderr by the caller.
    fn lost(&mut self, _cpu: u32, _total_lost_on_cpu: u64) -> io::Result<()> {
        Ok(())
    }

    /// The summary is status too; only flushes.
    fn finish(&mut self, _summary: &Summary) -> io::Result<()> {
        self.out.flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Builds one line.
struct Line<'a> {
    buf: &'a mut Vec<u8>,
    color: bool,
}

impl Line<'_> {
    fn event(&mut self, names: &Names, event: &RawEvent) {
        push_time_of_day(self.buf, names.clock.local_ns(event.ts_ns));
        self.buf.push(b' ');

        let mut digits = itoa::Buffer::new();
        let cpu = digits.format(event.cpu).as_bytes();
        self.spaces(CPU_WIDTH.saturating_sub(cpu.len()));
        self.buf.extend_from_slice(cpu);
        self.buf.push(b' ');

        let mut width = self.name_bytes(c_str(&event.comm));
        if event.pid != 0 {
            let start_pid = self.buf.len();
            self.buf.push(b'/');
            self.uint(event.pid);
            width += self.buf.len() - start_pid;
        }
        self.pad_column(width, TASK_WIDTH);

        let probe = names.probes.get(event.probe_id);
        let kind = EventKind::from_u8(event.kind);
        self.color_on(COLOR_PROBE);
        let start = self.buf.len();
        match probe {
            Some(probe) => self.buf.extend_from_slice(probe.name.as_bytes()),
            None => {
                self.buf.extend_from_slice(b"probe#");
                self.uint(event.probe_id);
            }
        }
        match kind {
            Some(EventKind::Point) => {}
            Some(EventKind::Entry) => self.buf.extend_from_slice(b" B"),
            Some(EventKind::Exit) => self.buf.extend_from_slice(b" E"),
            None => self.buf.extend_from_slice(b" ?"),
        }
        // Probe names come from `Names`, sanitized but maybe not ASCII.
        let width = str_width(&self.buf[start..]);
        self.color_off();
        self.pad_column(width, PROBE_WIDTH);

        if event.skb != 0 {
            push_hex(self.buf, event.skb, SKB_WIDTH);
            self.buf.push(b' ');
        } else {
            self.dash_column(SKB_WIDTH);
        }

        if event.flags & event_flag::HAS_DEV != 0 {
            let name = c_str(&event.ifname);
            let width = if name.is_empty() {
                let start = self.buf.len();
                self.buf.extend_from_slice(b"if");
                self.uint(event.ifindex);
                self.buf.len() - start
            } else {
                self.name_bytes(name)
            };
            self.pad_column(width, IFNAME_WIDTH);
        } else {
            self.dash_column(IFNAME_WIDTH);
        }

        if event.netns != 0 {
            let start = self.buf.len();
            self.buf.extend_from_slice(b"ns:");
            self.uint(event.netns);
            let width = self.buf.len() - start;
            self.pad_column(width, NETNS_WIDTH);
        } else {
            self.dash_column(NETNS_WIDTH);
        }

        if event.flags & event_flag::HAS_PACKET != 0 {
            self.packet(&event.pkt);
        }
        if let Some(probe) = probe {
            self.value(names, probe.value, kind, event);
        }
        if event.flags & event_flag::FOLLOWED != 0 {
            self.color_on(COLOR_DIM);
            self.buf.extend_from_slice(b"(followed)");
            self.color_off();
        }
        // Every part above ends in a separator or column padding.
        while self.buf.last() == Some(&b' ') {
            self.buf.pop();
        }
        self.buf.push(b'\n');
    }

    /// Appends the packet summary, each part followed by a space.
    fn packet(&mut self, pkt: &PacketSummary) {
        let family = match pkt.l3_proto {
            abi::ETH_P_IP => 4,
            abi::ETH_P_IPV6 => 6,
            _ => {
                self.word(b"len");
                self.uint(pkt.skb_len);
                self.buf.push(b' ');
                return;
            }
        };
        match l4_proto_names(pkt.l4_proto) {
            Some((name, _)) => self.buf.extend_from_slice(name.as_bytes()),
            None => {
                self.word(b"proto");
                self.uint(pkt.l4_proto);
            }
        }
        self.buf.push(b' ');
        let ports = has_ports(pkt.l4_proto);
        self.endpoint(family, &pkt.saddr, ports.then_some(pkt.sport));
        self.buf.extend_from_slice(b" > ");
        self.endpoint(family, &pkt.daddr, ports.then_some(pkt.dport));
        self.buf.push(b' ');

        if pkt.l4_proto == abi::IPPROTO_TCP {
            self.buf.push(b'[');
            let flags = TcpFlagLetters::new(pkt.tcp_flags);
            self.buf.extend_from_slice(flags.as_str().as_bytes());
            self.buf.extend_from_slice(b"] ");
            self.word(b"seq");
            self.uint(pkt.seq);
            self.buf.push(b' ');
            if pkt.tcp_flags & abi::tcp_flag::ACK != 0 {
                self.word(b"ack");
                self.uint(pkt.ack);
                self.buf.push(b' ');
            }
        } else if is_icmp(pkt.l4_proto) {
            self.word(b"type");
            self.uint(pkt.icmp_type);
            self.buf.push(b'/');
            self.uint(pkt.icmp_code);
            self.buf.push(b' ');
        }
        // IPv6 has no identification field (ip_id holds flow label bits).
        if family == 4 {
            self.word(b"id");
            self.uint(pkt.ip_id);
            self.buf.push(b' ');
        }
        self.word(b"len");
        self.uint(pkt.skb_len);
        self.buf.push(b' ');
    }

    fn endpoint(&mut self, family: u8, addr: &[u8; 16], port: Option<u16>) {
        if family == 4 {
            for (i, octet) in addr[..4].iter().enumerate() {
                if i > 0 {
                    self.buf.push(b'.');
                }
                self.uint(*octet);
            }
            if let Some(port) = port {
                self.buf.push(b':');
                self.uint(port);
            }
        } else {
            let addr = Ipv6Addr::from(*addr);
            // Writing into a Vec cannot fail.
            let _ = match port {
                Some(port) => write!(self.buf, "[{addr}]:{port}"),
                None => write!(self.buf, "{addr}"),
            };
        }
    }

    /// Appends what the probe's value and aux mean, followed by a space.
    fn value(&mut self, names: &Names, value: ValueKind, kind: Option<EventKind>, ev: &RawEvent) {
        match value {
            ValueKind::None => {}
            ValueKind::DropReason => {
                self.color_on(COLOR_BAD);
                self.word(b"drop");
                match u32::try_from(ev.value)
                    .ok()
                    .and_then(|reason| names.drop_reasons.name(reason))
                {
                    Some(name) => self.buf.extend_from_slice(name.as_bytes()),
                    None => self.uint(ev.value),
                }
                if ev.aux != 0 {
                    self.buf.extend_from_slice(b" at 0x");
                    push_hex(self.buf, ev.aux, 1);
                }
                self.color_off();
                self.buf.push(b' ');
            }
            ValueKind::XmitRc => {
                // An `int` (netdev_tx_t or -errno) widened by the probe.
                let rc = ev.value as u32 as i32;
                self.word(b"rc");
                self.flagged_int(i64::from(rc), rc != 0);
            }
            ValueKind::Qdisc => {
                self.word(b"qlen");
                self.uint(ev.value);
                self.buf.push(b' ');
                if ev.aux != 0 {
                    self.word(b"handle");
                    push_tc_handle(self.buf, (ev.aux >> 32) as u32);
                    self.buf.extend_from_slice(b" parent ");
                    push_tc_handle(self.buf, ev.aux as u32);
                    self.buf.push(b' ');
                }
            }
            ValueKind::TcpState => {
                self.tcp_state(ev.aux);
                self.buf.extend_from_slice(b" -> ");
                self.tcp_state(ev.value);
                self.buf.push(b' ');
            }
            ValueKind::Return => {
                // Entry events of a function probe have no return value yet.
                if kind != Some(EventKind::Entry) {
                    let ret = ev.value as i64;
                    self.word(b"ret");
                    self.flagged_int(ret, ret < 0);
                }
            }
        }
    }

    fn tcp_state(&mut self, state: u64) {
        match tcp_state_name(state) {
            Some(name) => self.buf.extend_from_slice(name.as_bytes()),
            None => self.uint(state),
        }
    }

    /// A signed number, in the warning color when `bad`, then a space.
    fn flagged_int(&mut self, value: i64, bad: bool) {
        if bad {
            self.color_on(COLOR_BAD);
        }
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        if bad {
            self.color_off();
        }
        self.buf.push(b' ');
    }

    /// `word` and a space.
    fn word(&mut self, word: &[u8]) {
        self.buf.extend_from_slice(word);
        self.buf.push(b' ');
    }

    fn uint(&mut self, value: impl itoa::Integer) {
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }

    /// Appends a kernel-provided name (comm, ifname) with anything that is
    /// not printable ASCII replaced by `?`, so process names cannot inject
    /// terminal escapes; returns its width.
    fn name_bytes(&mut self, name: &[u8]) -> usize {
        if name.iter().all(|b| (0x20..0x7f).contains(b)) {
            self.buf.extend_from_slice(name);
        } else {
            self.buf.extend(
                name.iter()
                    .map(|&b| if (0x20..0x7f).contains(&b) { b } else { b'?' }),
            );
        }
        name.len()
    }

    /// Pads a column holding `width` characters to `column` and adds the
    /// separating space.
    fn pad_column(&mut self, width: usize, column: usize) {
        self.spaces(column.saturating_sub(width) + 1);
    }

    fn dash_column(&mut self, column: usize) {
        self.buf.push(b'-');
        self.pad_column(1, column);
    }

    fn spaces(&mut self, n: usize) {
        self.buf.extend(std::iter::repeat_n(b' ', n));
    }

    fn color_on(&mut self, code: &[u8]) {
        if self.color {
            self.buf.extend_from_slice(code);
        }
    }

    fn color_off(&mut self) {
        if self.color {
            self.buf.extend_from_slice(COLOR_RESET);
        }
    }
}

/// Number of characters in UTF-8 text (a byte count for ASCII).
fn str_width(text: &[u8]) -> usize {
    text.iter().filter(|&&b| b & 0xc0 != 0x80).count()
}
