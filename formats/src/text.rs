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
//! `report` prints millions of lines per second, so a line is built in a
//! reused buffer sized at `begin` for the longest possible line, with digits
//! written in place and mostly fixed-size copies: no `format!`, no
//! per-field `memcpy` calls.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::LazyLock;

use crate::abi::{self, EventKind, RawEvent, event_flag};
use crate::describe::{Names, TcpFlagLetters, has_ports, is_icmp, l4_proto_names, tc_handle_parts};
use crate::l2::NonIp;
use crate::meta::{ProbeDesc, RetType, TraceMeta, ValueKind, nf_hook_name, tcp_state_name};
use crate::sink::{Sink, Summary};
use crate::stack::{Stack, StackFrame};
use crate::tdma::TdmaEvent;
use crate::time::time_of_day;

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

/// Longest line apart from the probe column and drop reason name, whose
/// lengths come from the metadata: the fixed columns (~110 bytes), the
/// packet with two bracketed IPv6 endpoints (~190), the longest probe value
/// (~130, an sch_tdma window), colors and `(followed)` (~40). Generous: an overflowing write would
/// be dropped, never panic.
const LINE_BOUND_WITHOUT_NAMES: usize = 1024;

/// Prints events as text lines. Each line reaches the writer in one
/// `write_all`; wrap stdout in a `BufWriter` and call [`Sink::flush`] after
/// each batch for speed.
pub struct TextPrinter<W: Write> {
    out: W,
    color: bool,
    names: Option<Names>,
    /// The probe column, rendered once per probe at `begin`: indexed by the
    /// probe's position in `names.probes`, then by [`kind_index`].
    probe_columns: Vec<[ProbeColumn; KINDS]>,
    /// The line under construction, `LINE_BOUND_WITHOUT_NAMES` plus the
    /// longest names long.
    line: Vec<u8>,
    /// Kernel stacks by id, rendered as the lines printed under an event.
    stacks: HashMap<u32, Vec<u8>>,
}

/// A pre-rendered probe column, zero-padded to at least [`Self::COPY`]
/// bytes so the usual short one is written with one fixed-size copy.
struct ProbeColumn {
    text: Vec<u8>,
    len: usize,
}

impl ProbeColumn {
    const COPY: usize = 64;
}

/// Event kinds a probe column is rendered for: the three of [`EventKind`]
/// and one for a kind byte this version does not know.
const KINDS: usize = 4;

fn kind_index(kind: Option<EventKind>) -> usize {
    match kind {
        Some(EventKind::Point) => 0,
        Some(EventKind::Entry) => 1,
        Some(EventKind::Exit) => 2,
        None => 3,
    }
}

impl<W: Write> TextPrinter<W> {
    pub fn new(out: W) -> Self {
        TextPrinter {
            out,
            color: false,
            names: None,
            probe_columns: Vec::new(),
            line: Vec::new(),
            stacks: HashMap::new(),
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
        let names = Names::new(meta);
        let color = self.color;
        self.probe_columns = names
            .probes
            .as_slice()
            .iter()
            .map(|probe| {
                [
                    Some(EventKind::Point),
                    Some(EventKind::Entry),
                    Some(EventKind::Exit),
                    None,
                ]
                .map(|kind| {
                    let mut text = vec![0; probe.name.len() + LINE_BOUND_WITHOUT_NAMES];
                    let mut out = Line::new(&mut text, color);
                    out.probe_column(Some(probe), 0, kind);
                    let len = out.pos;
                    text.truncate(len.max(ProbeColumn::COPY));
                    ProbeColumn { text, len }
                })
            })
            .collect();
        let longest_column = self.probe_columns.iter().flatten().map(|c| c.len).max();
        let longest_reason = names
            .drop_reasons
            .as_slice()
            .iter()
            .map(|r| r.1.len())
            .max();
        self.line = vec![
            0;
            LINE_BOUND_WITHOUT_NAMES
                + longest_column.unwrap_or(0)
                + longest_reason.unwrap_or(0)
        ];
        self.names = Some(names);
        Ok(())
    }

    fn event(&mut self, event: &RawEvent) -> io::Result<()> {
        let Some(names) = &self.names else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "text printer: event before begin",
            ));
        };
        let mut line = Line::new(&mut self.line, self.color);
        line.event(names, &self.probe_columns, event);
        let len = line.pos;
        self.out.write_all(&self.line[..len])?;
        if event.stack_id >= 0
            && let Some(frames) = self.stacks.get(&(event.stack_id as u32))
        {
            self.out.write_all(frames)?;
        }
        Ok(())
    }

    fn symbol(&mut self, frame: &StackFrame) -> io::Result<()> {
        crate::describe::learn(&mut self.names, frame);
        Ok(())
    }

    /// Rendered once: one indented line per frame under each event.
    fn stack(&mut self, stack: &Stack) -> io::Result<()> {
        let mut lines = Vec::new();
        for frame in &stack.frames {
            lines.extend_from_slice(b"        ");
            lines.extend_from_slice(frame.describe().as_bytes());
            lines.push(b'\n');
        }
        self.stacks.insert(stack.id, lines);
        Ok(())
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

/// "00" to "99", for writing two digits at a time.
const DIGIT_PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// A line under construction in a buffer long enough for any line. Writes
/// that would not fit are dropped (the bound makes that unreachable), so a
/// bad event can never make printing panic.
struct Line<'a> {
    buf: &'a mut [u8],
    pos: usize,
    color: bool,
}

impl<'a> Line<'a> {
    fn new(buf: &'a mut [u8], color: bool) -> Self {
        Line { buf, pos: 0, color }
    }

    fn event(&mut self, names: &Names, probe_columns: &[[ProbeColumn; KINDS]], event: &RawEvent) {
        self.time_of_day(names.clock.local_ns(event.ts_ns));
        self.byte(b' ');

        match CPU_COLUMN.get(event.cpu as usize) {
            Some(column) => self.padded_text(column),
            None => {
                self.decimal(u64::from(event.cpu));
                self.byte(b' ');
            }
        }

        let start = self.pos;
        self.name16(&event.comm);
        if event.pid != 0 {
            self.byte(b'/');
            self.decimal(u64::from(event.pid));
        }
        self.pad_column(start, TASK_WIDTH);

        let position = names.probes.position(event.probe_id);
        let probe = position.map(|i| &names.probes.as_slice()[i]);
        let kind = EventKind::from_u8(event.kind);
        match position.and_then(|i| probe_columns.get(i)) {
            Some(columns) => self.probe_column_text(&columns[kind_index(kind)]),
            None => self.probe_column(None, event.probe_id, kind),
        }

        if event.skb != 0 {
            self.hex16(event.skb);
            self.byte(b' ');
        } else {
            self.dash_column(SKB_WIDTH);
        }

        if event.flags & event_flag::HAS_DEV != 0 {
            let start = self.pos;
            if event.ifname[0] == 0 {
                self.bytes(b"if");
                self.decimal(u64::from(event.ifindex));
            } else {
                self.name16(&event.ifname);
            }
            self.pad_column(start, IFNAME_WIDTH);
        } else {
            self.dash_column(IFNAME_WIDTH);
        }

        if event.netns != 0 {
            let start = self.pos;
            self.bytes(b"ns:");
            self.decimal(u64::from(event.netns));
            self.pad_column(start, NETNS_WIDTH);
        } else {
            self.dash_column(NETNS_WIDTH);
        }

        if event.flags & event_flag::HAS_PACKET != 0 {
            self.packet(event);
        }
        if let Some(probe) = probe {
            self.value(names, probe.value, kind, event);
        }
        if event.flags & event_flag::FOLLOWED != 0 {
            self.color_on(COLOR_DIM);
            self.bytes(b"(followed)");
            self.color_off();
        }
        // Every part above ends in a separator or column padding.
        while self.pos > 0 && self.buf[self.pos - 1] == b' ' {
            self.pos -= 1;
        }
        self.byte(b'\n');
    }

    /// The probe name (`probe#ID` for an unknown one) with the entry/exit
    /// marker, padded.
    fn probe_column(&mut self, probe: Option<&ProbeDesc>, id: u32, kind: Option<EventKind>) {
        self.color_on(COLOR_PROBE);
        let start = self.pos;
        match probe {
            Some(probe) => self.bytes(probe.name.as_bytes()),
            None => {
                self.bytes(b"probe#");
                self.decimal(u64::from(id));
            }
        }
        match kind {
            Some(EventKind::Point) => {}
            Some(EventKind::Entry) => self.bytes(b" B"),
            Some(EventKind::Exit) => self.bytes(b" E"),
            None => self.bytes(b" ?"),
        }
        // Probe names come from `Names`, sanitized but maybe not ASCII.
        let width = str_width(&self.buf[start..self.pos]);
        self.color_off();
        self.spaces_then(PROBE_WIDTH.saturating_sub(width) + 1);
    }

    /// Appends the packet summary, each part followed by a space. Addresses
    /// taken from the socket (headers not built yet) come without header
    /// fields, marked `(socket)`; events without an skb have no length.
    /// Packets that are not IP are described as tcpdump would (ARP) or by
    /// their ethertype.
    fn packet(&mut self, event: &RawEvent) {
        let pkt = &event.pkt;
        let family = match pkt.l3_proto {
            abi::ETH_P_IP => 4,
            abi::ETH_P_IPV6 => 6,
            _ => {
                // Rare enough that formatting them the slow way costs nothing.
                if let Some(non_ip) = NonIp::of(pkt) {
                    self.bytes(non_ip.to_string().as_bytes());
                    self.byte(b' ');
                }
                self.skb_len(event);
                return;
            }
        };
        self.padded_text(&PROTO_COLUMN[usize::from(pkt.l4_proto)]);
        let ports = has_ports(pkt.l4_proto);
        self.endpoint(family, &pkt.saddr, ports.then_some(pkt.sport));
        self.bytes(b" > ");
        self.endpoint(family, &pkt.daddr, ports.then_some(pkt.dport));
        self.byte(b' ');

        if event.flags & event_flag::FROM_SOCKET != 0 {
            self.bytes(b"(socket) ");
        } else if pkt.l4_proto == abi::IPPROTO_TCP {
            self.padded_text(&TCP_FLAGS_COLUMN[usize::from(pkt.tcp_flags)]);
            self.bytes(b"seq ");
            self.decimal(u64::from(pkt.seq));
            self.byte(b' ');
            if pkt.tcp_flags & abi::tcp_flag::ACK != 0 {
                self.bytes(b"ack ");
                self.decimal(u64::from(pkt.ack));
                self.byte(b' ');
            }
        } else if is_icmp(pkt.l4_proto) {
            self.bytes(b"type ");
            self.decimal16(u16::from(pkt.icmp_type));
            self.byte(b'/');
            self.decimal16(u16::from(pkt.icmp_code));
            self.byte(b' ');
        }
        // IPv6 has no identification field (ip_id holds flow label bits).
        if family == 4 && event.flags & event_flag::FROM_SOCKET == 0 {
            self.bytes(b"id ");
            self.decimal16(pkt.ip_id);
            self.byte(b' ');
        }
        self.skb_len(event);
    }

    fn skb_len(&mut self, event: &RawEvent) {
        if event.skb != 0 {
            self.bytes(b"len ");
            self.decimal(u64::from(event.pkt.skb_len));
            self.byte(b' ');
        }
    }

    fn endpoint(&mut self, family: u8, addr: &[u8; 16], port: Option<u16>) {
        if family == 4 {
            for (i, &octet) in addr[..4].iter().enumerate() {
                if i > 0 {
                    self.byte(b'.');
                }
                self.octet(octet);
            }
            if let Some(port) = port {
                self.byte(b':');
                self.decimal16(port);
            }
        } else if let Some(port) = port {
            self.byte(b'[');
            self.ipv6(addr);
            self.bytes(b"]:");
            self.decimal16(port);
        } else {
            self.ipv6(addr);
        }
    }

    /// An IPv6 address exactly as std's `Display` writes it (RFC 5952: the
    /// longest run of two or more zero groups as `::`, IPv4-mapped addresses
    /// as `::ffff:a.b.c.d`), without the formatting machinery's overhead.
    fn ipv6(&mut self, addr: &[u8; 16]) {
        let groups: [u16; 8] =
            std::array::from_fn(|i| u16::from_be_bytes([addr[2 * i], addr[2 * i + 1]]));
        if groups[..5] == [0; 5] && groups[5] == 0xffff {
            self.bytes(b"::ffff:");
            for (i, &octet) in addr[12..].iter().enumerate() {
                if i > 0 {
                    self.byte(b'.');
                }
                self.octet(octet);
            }
            return;
        }
        // First longest run of zero groups.
        let (mut zeros_start, mut zeros_len, mut run_start, mut run_len) = (0, 0, 0, 0);
        for (i, &group) in groups.iter().enumerate() {
            if group == 0 {
                if run_len == 0 {
                    run_start = i;
                }
                run_len += 1;
                if run_len > zeros_len {
                    (zeros_start, zeros_len) = (run_start, run_len);
                }
            } else {
                run_len = 0;
            }
        }
        if zeros_len > 1 {
            self.ipv6_groups(&groups[..zeros_start]);
            self.bytes(b"::");
            self.ipv6_groups(&groups[zeros_start + zeros_len..]);
        } else {
            self.ipv6_groups(&groups);
        }
    }

    fn ipv6_groups(&mut self, groups: &[u16]) {
        for (i, &group) in groups.iter().enumerate() {
            if i > 0 {
                self.byte(b':');
            }
            self.hex(u64::from(group));
        }
    }

    /// Appends what the probe's value and aux mean, followed by a space.
    fn value(&mut self, names: &Names, value: ValueKind, kind: Option<EventKind>, ev: &RawEvent) {
        match value {
            ValueKind::None => {}
            ValueKind::DropReason => {
                self.color_on(COLOR_BAD);
                self.bytes(b"drop ");
                match u32::try_from(ev.value)
                    .ok()
                    .and_then(|reason| names.drop_reasons.name(reason))
                {
                    Some(name) => self.bytes(name.as_bytes()),
                    None => self.decimal(ev.value),
                }
                if ev.aux != 0 {
                    match names.locations.get(&ev.aux) {
                        Some(name) => {
                            self.bytes(b" at ");
                            self.bytes(name.as_bytes());
                        }
                        None => {
                            self.bytes(b" at 0x");
                            self.hex(ev.aux);
                        }
                    }
                }
                self.color_off();
                self.byte(b' ');
            }
            ValueKind::XmitRc => {
                // An `int` (netdev_tx_t or -errno) widened by the probe.
                let rc = ev.value as u32 as i32;
                self.bytes(b"rc ");
                self.flagged_int(i64::from(rc), rc != 0);
            }
            ValueKind::Qdisc => {
                self.bytes(b"qlen ");
                self.decimal(ev.value);
                self.byte(b' ');
                if ev.aux != 0 {
                    self.bytes(b"handle ");
                    self.tc_handle((ev.aux >> 32) as u32);
                    self.bytes(b" parent ");
                    self.tc_handle(ev.aux as u32);
                    self.byte(b' ');
                }
            }
            ValueKind::TcpState => {
                self.tcp_state(ev.aux);
                self.bytes(b" -> ");
                self.tcp_state(ev.value);
                self.byte(b' ');
            }
            ValueKind::Return => {
                // Entry events of a function probe have no return value yet.
                if kind != Some(EventKind::Entry) {
                    self.ret(names, ev);
                }
            }
            ValueKind::Tdma => {
                if let Some(tdma) = TdmaEvent::decode(ev) {
                    let mut text = String::new();
                    tdma.describe(&mut text);
                    let bad = matches!(tdma, TdmaEvent::Drop { .. });
                    if bad {
                        self.color_on(COLOR_BAD);
                    }
                    self.bytes(text.as_bytes());
                    if bad {
                        self.color_off();
                    }
                    self.byte(b' ');
                }
            }
            ValueKind::Copied => {
                self.bytes(b"copied to user ");
                self.decimal(ev.value);
                self.bytes(b" bytes ");
            }
            ValueKind::NfHook => {
                if kind == Some(EventKind::Entry) {
                    let (hook, pf) = (ev.aux as u8, (ev.aux >> 8) as u8);
                    self.bytes(b"hook ");
                    match nf_hook_name(pf, hook) {
                        Some(name) => self.bytes(name.as_bytes()),
                        None => self.decimal(u64::from(hook)),
                    }
                    self.byte(b' ');
                } else {
                    self.ret(names, ev);
                }
            }
        }
    }

    /// `ret -EINVAL `, `ret NULL `, ...: the return value as the probe's
    /// type says; nothing for a `void` function.
    fn ret(&mut self, names: &Names, ev: &RawEvent) {
        let ty = names
            .probes
            .get(ev.probe_id)
            .map_or(RetType::Unknown, |probe| probe.ret);
        let Some(value) = ty.decode(ev.value) else {
            return;
        };
        let bad = value.is_error();
        self.bytes(b"ret ");
        if bad {
            self.color_on(COLOR_BAD);
        }
        self.bytes(value.text().as_bytes());
        if bad {
            self.color_off();
        }
        self.byte(b' ');
    }

    #[inline(always)]
    fn tcp_state(&mut self, state: u64) {
        match tcp_state_name(state) {
            Some(name) => self.bytes(name.as_bytes()),
            None => self.decimal(state),
        }
    }

    /// A traffic control handle as `tc` prints it: `8001:0`, `1:10`, `root`.
    #[inline(always)]
    fn tc_handle(&mut self, handle: u32) {
        match tc_handle_parts(handle) {
            Some((major, minor)) => {
                self.hex(u64::from(major));
                self.byte(b':');
                self.hex(u64::from(minor));
            }
            None => self.bytes(b"root"),
        }
    }

    /// A signed number, in the warning color when `bad`, then a space.
    #[inline(always)]
    fn flagged_int(&mut self, value: i64, bad: bool) {
        if bad {
            self.color_on(COLOR_BAD);
        }
        if value < 0 {
            self.byte(b'-');
        }
        self.decimal(value.unsigned_abs());
        if bad {
            self.color_off();
        }
        self.byte(b' ');
    }

    /// `HH:MM:SS.nnnnnnnnn`.
    #[inline(always)]
    fn time_of_day(&mut self, local_ns: i64) {
        let (secs, nanos) = time_of_day(local_ns);
        let Some(out) = self.buf.get_mut(self.pos..self.pos + 18) else {
            return;
        };
        let pair = |v: u32| {
            let i = v as usize % 100 * 2;
            [DIGIT_PAIRS[i], DIGIT_PAIRS[i + 1]]
        };
        let [h, m, s] = [secs / 3600, secs / 60 % 60, secs % 60].map(pair);
        out[..10].copy_from_slice(&[
            h[0],
            h[1],
            b':',
            m[0],
            m[1],
            b':',
            s[0],
            s[1],
            b'.',
            b'0' + (nanos / 100_000_000 % 10) as u8,
        ]);
        out[10..].copy_from_slice(&eight_digits(nanos % 100_000_000).to_le_bytes());
        self.pos += 18;
    }

    /// A NUL-padded kernel name (comm, ifname) with anything but printable
    /// ASCII replaced by `?`, so process names cannot inject terminal escapes.
    #[inline(always)]
    fn name16(&mut self, name: &[u8; 16]) {
        let len = c_str_len(name);
        let Some(out) = self.buf.get_mut(self.pos..self.pos + 16) else {
            return;
        };
        for (out, &byte) in out.iter_mut().zip(name) {
            let printable = byte.wrapping_sub(0x20) < 0x5f;
            *out = if printable { byte } else { b'?' };
        }
        self.pos += len;
    }

    #[inline(always)]
    fn decimal(&mut self, value: u64) {
        // Call sites widen u8..u32 fields, so this branch folds away for them.
        match u32::try_from(value) {
            Ok(value) => self.decimal32(value),
            Err(_) => self.decimal64(value),
        }
    }

    /// All ten digits are computed at once (the low eight in one register)
    /// and the wanted ones shifted to the front of one fixed-size copy: a
    /// digit loop would mispredict on numbers of varying length and chain
    /// its divisions. Values of a field usually have similar magnitude, so
    /// the cheaper path for small ones predicts well at each (inlined) call.
    #[inline(always)]
    fn decimal32(&mut self, value: u32) {
        if let Ok(small) = u16::try_from(value) {
            return self.decimal16(small);
        }
        let len = decimal_len(value);
        let top = (value / 100_000_000) as usize * 2;
        let mut digits = [0u8; 16];
        digits[..2].copy_from_slice(&DIGIT_PAIRS[top..top + 2]);
        digits[2..10].copy_from_slice(&eight_digits(value % 100_000_000).to_le_bytes());
        let wanted = u128::from_be_bytes(digits) << ((10 - len) * 8);
        if let Some(out) = self.buf.get_mut(self.pos..self.pos + 16) {
            out.copy_from_slice(&wanted.to_be_bytes());
            self.pos += len;
        }
    }

    /// Like [`decimal32`](Self::decimal32) for the five digits of a u16.
    #[inline(always)]
    fn decimal16(&mut self, value: u16) {
        let value = u32::from(value);
        let len = decimal_len(value);
        let low = value % 10_000;
        let (high_pair, low_pair) = ((low / 100) as usize * 2, (low % 100) as usize * 2);
        let digits = [
            b'0' + (value / 10_000) as u8,
            DIGIT_PAIRS[high_pair],
            DIGIT_PAIRS[high_pair + 1],
            DIGIT_PAIRS[low_pair],
            DIGIT_PAIRS[low_pair + 1],
            0,
            0,
            0,
        ];
        let wanted = u64::from_be_bytes(digits) << ((5 - len) * 8);
        if let Some(out) = self.buf.get_mut(self.pos..self.pos + 8) {
            out.copy_from_slice(&wanted.to_be_bytes());
            self.pos += len;
        }
    }

    #[cold]
    fn decimal64(&mut self, value: u64) {
        let mut digits = itoa::Buffer::new();
        self.bytes(digits.format(value).as_bytes());
    }

    /// An IPv4 octet from a table: one 4-byte copy instead of digit math.
    #[inline(always)]
    fn octet(&mut self, octet: u8) {
        let [a, b, c, len] = OCTETS[usize::from(octet)];
        if let Some(out) = self.buf.get_mut(self.pos..self.pos + 3) {
            out.copy_from_slice(&[a, b, c]);
            self.pos += usize::from(len);
        }
    }

    /// 16 hex digits (an skb address).
    #[inline(always)]
    fn hex16(&mut self, value: u64) {
        self.hex_digits(value, 16);
    }

    /// Hex without leading zeros.
    #[inline(always)]
    fn hex(&mut self, value: u64) {
        self.hex_digits(value, (16 - value.leading_zeros() as usize / 4).max(1));
    }

    /// The low `digits` (1 to 16) hex digits of `value`: all 16 are
    /// computed at once and written as one fixed-size copy, shifted so the
    /// wanted ones come first.
    #[inline(always)]
    fn hex_digits(&mut self, value: u64, digits: usize) {
        let all = (u128::from(hex_ascii(value >> 32)) << 64) | u128::from(hex_ascii(value));
        let wanted = all << ((16 - digits) * 8);
        if let Some(out) = self.buf.get_mut(self.pos..self.pos + 16) {
            out.copy_from_slice(&wanted.to_be_bytes());
            self.pos += digits;
        }
    }

    /// Pads the column that started at `start` to `width` and adds the
    /// separating space.
    #[inline(always)]
    fn pad_column(&mut self, start: usize, width: usize) {
        self.spaces_then((start + width).saturating_sub(self.pos) + 1);
    }

    #[inline(always)]
    fn dash_column(&mut self, width: usize) {
        self.byte(b'-');
        self.spaces_then(width);
    }

    /// `n` (at most 32) spaces: always writes 32, as one fixed-size copy.
    #[inline(always)]
    fn spaces_then(&mut self, n: usize) {
        if let Some(out) = self.buf.get_mut(self.pos..self.pos + 32) {
            out.copy_from_slice(&[b' '; 32]);
            self.pos += n.min(32);
        }
    }

    /// Text from a table, as one fixed-size copy.
    #[inline(always)]
    fn padded_text(&mut self, (text, len): &PaddedText) {
        if let Some(out) = self.buf.get_mut(self.pos..self.pos + text.len()) {
            out.copy_from_slice(text);
            self.pos += len;
        }
    }

    #[inline(always)]
    fn probe_column_text(&mut self, column: &ProbeColumn) {
        let fixed = column.text.first_chunk::<{ ProbeColumn::COPY }>();
        match (
            fixed,
            self.buf.get_mut(self.pos..self.pos + ProbeColumn::COPY),
        ) {
            (Some(fixed), Some(out)) if column.len <= ProbeColumn::COPY => {
                out.copy_from_slice(fixed);
                self.pos += column.len;
            }
            _ => self.bytes(&column.text[..column.len]),
        }
    }

    #[inline(always)]
    fn byte(&mut self, byte: u8) {
        if let Some(out) = self.buf.get_mut(self.pos) {
            *out = byte;
            self.pos += 1;
        }
    }

    #[inline(always)]
    fn bytes(&mut self, bytes: &[u8]) {
        if let Some(out) = self.buf.get_mut(self.pos..self.pos + bytes.len()) {
            out.copy_from_slice(bytes);
            self.pos += bytes.len();
        }
    }

    #[inline(always)]
    fn color_on(&mut self, code: &[u8]) {
        if self.color {
            self.bytes(code);
        }
    }

    #[inline(always)]
    fn color_off(&mut self) {
        if self.color {
            self.bytes(COLOR_RESET);
        }
    }
}

/// The 8 hex digits of the low 32 bits of `value` as big-endian ASCII bytes,
/// computed in one register: spread each nibble into its own byte, then add
/// `'0'`, plus the gap to `'a'` for nibbles of 10 and more.
#[inline(always)]
fn hex_ascii(value: u64) -> u64 {
    let mut v = value & 0xffff_ffff;
    v = ((v & 0xffff_0000) << 16) | (v & 0xffff);
    v = ((v & 0x0000_ff00_0000_ff00) << 8) | (v & 0x0000_00ff_0000_00ff);
    v = ((v & 0x00f0_00f0_00f0_00f0) << 4) | (v & 0x000f_000f_000f_000f);
    let letters = ((v + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    v + 0x3030_3030_3030_3030 + letters * (b'a' - b'0' - 10) as u64
}

/// Short text and its length, padded to a fixed size for [`Line::padded_text`].
type PaddedText = ([u8; 16], usize);

/// A [`PaddedText`] for every value of a byte.
fn padded_text_table(text_of: impl Fn(u8) -> String) -> [PaddedText; 256] {
    std::array::from_fn(|byte| {
        let text = text_of(byte as u8);
        let mut padded = [0; 16];
        let len = text.len().min(padded.len());
        padded[..len].copy_from_slice(&text.as_bytes()[..len]);
        (padded, len)
    })
}

/// `TCP `, `proto 47 ` and so on, for every IP protocol number.
static PROTO_COLUMN: LazyLock<[PaddedText; 256]> = LazyLock::new(|| {
    padded_text_table(|proto| match l4_proto_names(proto) {
        Some((name, _)) => format!("{name} "),
        None => format!("proto {proto} "),
    })
});

/// The cpu column for the cpu numbers most machines have.
static CPU_COLUMN: LazyLock<[PaddedText; 256]> =
    LazyLock::new(|| padded_text_table(|cpu| format!("{cpu:>CPU_WIDTH$} ")));

/// `[S.] ` and the like, for every TCP flag byte.
static TCP_FLAGS_COLUMN: LazyLock<[PaddedText; 256]> = LazyLock::new(|| {
    padded_text_table(|flags| format!("[{}] ", TcpFlagLetters::new(flags).as_str()))
});

/// Decimal digits of each octet, left-aligned, with their count last.
const OCTETS: [[u8; 4]; 256] = {
    let mut table = [[0; 4]; 256];
    let mut i = 0;
    while i < 256 {
        let (hundreds, tens, ones) = ((i / 100) as u8, (i / 10 % 10) as u8, (i % 10) as u8);
        table[i] = if i >= 100 {
            [b'0' + hundreds, b'0' + tens, b'0' + ones, 3]
        } else if i >= 10 {
            [b'0' + tens, b'0' + ones, 0, 2]
        } else {
            [b'0' + ones, 0, 0, 1]
        };
        i += 1;
    }
    table
};

/// Number of decimal digits, without a loop or division (Lemire): indexed by
/// the bit length, each entry adds to `value` what carries into bit 32 once
/// `value` reaches the next power of ten in that range.
#[inline(always)]
fn decimal_len(value: u32) -> usize {
    const TABLE: [u64; 32] = {
        let mut table = [0; 32];
        let mut bits = 0;
        while bits < 32 {
            let smallest = 1u64 << bits;
            let mut digits = 1;
            let mut power = 10u64;
            while power <= smallest {
                digits += 1;
                power *= 10;
            }
            // `power` is the first power of ten above `smallest`.
            table[bits] = if power <= u32::MAX as u64 {
                ((digits + 1) << 32) - power
            } else {
                digits << 32
            };
            bits += 1;
        }
        table
    };
    let bits = 31 - (value | 1).leading_zeros() as usize;
    ((u64::from(value) + TABLE[bits]) >> 32) as usize
}

/// The eight decimal digits of `value` (< 10⁸, zero-padded) as ASCII, first
/// digit in the lowest byte. SWAR: split into 4-digit halves in two 32-bit
/// lanes, then into pairs in 16-bit lanes, then into digits in bytes, each
/// split a multiply-and-shift division exact for its range (x/100 as
/// x·10486 >> 20 for x < 10⁴, y/10 as y·103 >> 10 for y < 100).
#[inline(always)]
fn eight_digits(value: u32) -> u64 {
    let value = u64::from(value);
    let halves = (value / 10_000) | ((value % 10_000) << 32);
    let hundreds = ((halves * 10_486) >> 20) & 0x0000_007f_0000_007f;
    let pairs = ((halves - hundreds * 100) << 16) | hundreds;
    let tens = ((pairs * 103) >> 10) & 0x000f_000f_000f_000f;
    let digits = ((pairs - tens * 10) << 8) | tens;
    digits + 0x3030_3030_3030_3030
}

/// Length of a NUL-padded name, found without a loop: the classic "has a
/// zero byte" bit trick marks the first NUL exactly (later marks may be
/// spurious, which does not matter).
#[inline(always)]
fn c_str_len(name: &[u8; 16]) -> usize {
    const ONES: u128 = u128::from_le_bytes([0x01; 16]);
    const HIGHS: u128 = u128::from_le_bytes([0x80; 16]);
    let word = u128::from_le_bytes(*name);
    let zeros = word.wrapping_sub(ONES) & !word & HIGHS;
    (zeros.trailing_zeros() / 8) as usize
}

/// Number of characters in UTF-8 text (a byte count for ASCII).
fn str_width(text: &[u8]) -> usize {
    text.iter().filter(|&&b| b & 0xc0 != 0x80).count()
}

/// Room for a packet summary: two bracketed IPv6 endpoints with ports and
/// every other part, plus the fixed-size copies' slack.
const PACKET_ROOM: usize = 320;
/// Room for a probe value apart from the drop reason name.
const VALUE_ROOM: usize = 160;

/// Runs `write` on a [`Line`] over `room` spare bytes at the end of `out`
/// and keeps what it wrote: how the tree printers share this printer's
/// formatting.
fn append_with_line(out: &mut Vec<u8>, room: usize, color: bool, write: impl FnOnce(&mut Line)) {
    let start = out.len();
    out.resize(start + room, 0);
    let mut line = Line::new(&mut out[start..], color);
    write(&mut line);
    let written = line.pos;
    out.truncate(start + written);
}

/// Appends the packet of `event` as this printer shows it, each part
/// followed by a space.
pub(crate) fn push_packet(out: &mut Vec<u8>, event: &RawEvent) {
    append_with_line(out, PACKET_ROOM, false, |line| line.packet(event));
}

/// Appends an address (IPv4 dotted, IPv6 bracketed when it has a port).
pub(crate) fn push_endpoint(out: &mut Vec<u8>, family: u8, addr: &[u8; 16], port: Option<u16>) {
    append_with_line(out, PACKET_ROOM, false, |line| {
        line.endpoint(family, addr, port)
    });
}

/// Appends what the probe's value means, followed by a space.
pub(crate) fn push_probe_value(
    out: &mut Vec<u8>,
    names: &Names,
    value: ValueKind,
    kind: Option<EventKind>,
    event: &RawEvent,
    color: bool,
) {
    let reason_len = u32::try_from(event.value)
        .ok()
        .and_then(|reason| names.drop_reasons.name(reason))
        .map_or(0, str::len);
    append_with_line(out, VALUE_ROOM + reason_len, color, |line| {
        line.value(names, value, kind, event)
    });
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use super::*;

    fn render(f: impl FnOnce(&mut Line)) -> String {
        let mut buf = vec![0; 256];
        let mut line = Line::new(&mut buf, false);
        f(&mut line);
        let len = line.pos;
        String::from_utf8(buf[..len].to_vec()).unwrap()
    }

    /// Values with every digit count and both ends of each range.
    fn samples() -> impl Iterator<Item = u64> {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let random = std::iter::repeat_with(move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        });
        (0..64)
            .flat_map(|bit| [1u64 << bit, (1u64 << bit) - 1, (1u64 << bit) + 1])
            .chain((0..20).flat_map(|d| [10u64.pow(d), 10u64.pow(d) - 1]))
            .chain([0, u64::MAX, u64::from(u32::MAX)])
            .chain(random.take(10_000))
    }

    #[test]
    fn numbers_match_std() {
        for value in samples() {
            assert_eq!(render(|l| l.decimal(value)), value.to_string());
            let short = value as u16;
            assert_eq!(render(|l| l.decimal16(short)), short.to_string());
            assert_eq!(render(|l| l.hex(value)), format!("{value:x}"));
            assert_eq!(render(|l| l.hex16(value)), format!("{value:016x}"));
            let octet = value as u8;
            assert_eq!(render(|l| l.octet(octet)), octet.to_string());
        }
    }

    #[test]
    fn ipv6_matches_std() {
        let mut addresses: Vec<[u8; 16]> = samples()
            .map(|v| {
                // Zero some groups to exercise the `::` choice.
                let zeros = v.rotate_left(17);
                let mut addr = [0u8; 16];
                for group in 0..8 {
                    if zeros >> group & 1 == 0 {
                        let bits = (v >> (group * 8)) as u16 ^ (zeros >> 20) as u16;
                        addr[2 * group..2 * group + 2].copy_from_slice(&bits.to_be_bytes());
                    }
                }
                addr
            })
            .collect();
        for text in [
            "::",
            "::1",
            "::ffff:10.0.0.1",
            "::ffff:0:1",
            "1::",
            "fe80::1:0:0:1",
            "2001:db8:0:1:1:1:1:1",
            "::0.0.0.1",
        ] {
            addresses.push(text.parse::<Ipv6Addr>().unwrap().octets());
        }
        for addr in addresses {
            let expected = Ipv6Addr::from(addr).to_string();
            assert_eq!(render(|l| l.ipv6(&addr)), expected);
        }
    }

    #[test]
    fn c_str_len_finds_the_first_nul() {
        for fill in [0x01, 0x7f, 0x80, 0x81, 0xff] {
            for len in 0..=16 {
                let mut name = [0u8; 16];
                name[..len].fill(fill);
                assert_eq!(c_str_len(&name), len, "{fill:#x} x {len}");
                // Whatever follows the first NUL does not count.
                if len < 15 {
                    name[len + 1..].fill(fill);
                    assert_eq!(c_str_len(&name), len, "{fill:#x} x {len}, then more");
                }
            }
        }
    }

    #[test]
    fn time_of_day_digits() {
        let ns = (23 * 3600 + 59 * 60 + 58) * 1_000_000_000i64 + 7;
        assert_eq!(render(|l| l.time_of_day(ns)), "23:59:58.000000007");
        assert_eq!(render(|l| l.time_of_day(0)), "00:00:00.000000000");
    }

    #[test]
    fn writes_past_the_end_are_dropped() {
        let mut buf = vec![0; 4];
        let mut line = Line::new(&mut buf, false);
        line.bytes(b"abc");
        line.decimal(12345);
        line.hex16(1);
        line.time_of_day(0);
        line.byte(b'd');
        line.byte(b'e');
        assert_eq!(&buf, b"abcd");
    }
}
