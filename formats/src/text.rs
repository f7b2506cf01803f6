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

use std::io::{self, Write};

use crate::abi::{self, EventKind, PacketSummary, RawEvent, event_flag};
use crate::describe::{Names, TcpFlagLetters, has_ports, is_icmp, l4_proto_names};
use crate::meta::{ProbeDesc, TraceMeta, ValueKind, tcp_state_name};
use crate::sink::{Sink, Summary};
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
/// (~60), colors and `(followed)` (~40). Generous: an overflowing write would
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
    probe_columns: Vec<[Vec<u8>; KINDS]>,
    /// The line under construction, `LINE_BOUND_WITHOUT_NAMES` plus the
    /// longest names long.
    line: Vec<u8>,
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
                    let mut column = vec![0; probe.name.len() + LINE_BOUND_WITHOUT_NAMES];
                    let mut out = Line::new(&mut column, color);
                    out.probe_column(Some(probe), 0, kind);
                    let len = out.pos;
                    column.truncate(len);
                    column
                })
            })
            .collect();
        let longest_column = self.probe_columns.iter().flatten().map(Vec::len).max();
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
        self.out.write_all(&self.line[..len])
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

    fn event(&mut self, names: &Names, probe_columns: &[[Vec<u8>; KINDS]], event: &RawEvent) {
        self.time_of_day(names.clock.local_ns(event.ts_ns));
        self.byte(b' ');

        let cpu_digits = decimal_len(event.cpu);
        self.spaces_then(CPU_WIDTH.saturating_sub(cpu_digits));
        self.decimal(u64::from(event.cpu));
        self.byte(b' ');

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
            Some(columns) => self.bytes(&columns[kind_index(kind)]),
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
            self.packet(&event.pkt);
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

    /// Appends the packet summary, each part followed by a space.
    fn packet(&mut self, pkt: &PacketSummary) {
        let family = match pkt.l3_proto {
            abi::ETH_P_IP => 4,
            abi::ETH_P_IPV6 => 6,
            _ => {
                self.bytes(b"len ");
                self.decimal(u64::from(pkt.skb_len));
                self.byte(b' ');
                return;
            }
        };
        match l4_proto_names(pkt.l4_proto) {
            Some((name, _)) => self.bytes(name.as_bytes()),
            None => {
                self.bytes(b"proto ");
                self.decimal(u64::from(pkt.l4_proto));
            }
        }
        self.byte(b' ');
        let ports = has_ports(pkt.l4_proto);
        self.endpoint(family, &pkt.saddr, ports.then_some(pkt.sport));
        self.bytes(b" > ");
        self.endpoint(family, &pkt.daddr, ports.then_some(pkt.dport));
        self.byte(b' ');

        if pkt.l4_proto == abi::IPPROTO_TCP {
            self.byte(b'[');
            let flags = TcpFlagLetters::new(pkt.tcp_flags);
            self.bytes(flags.as_str().as_bytes());
            self.bytes(b"] seq ");
            self.decimal(u64::from(pkt.seq));
            self.byte(b' ');
            if pkt.tcp_flags & abi::tcp_flag::ACK != 0 {
                self.bytes(b"ack ");
                self.decimal(u64::from(pkt.ack));
                self.byte(b' ');
            }
        } else if is_icmp(pkt.l4_proto) {
            self.bytes(b"type ");
            self.decimal(u64::from(pkt.icmp_type));
            self.byte(b'/');
            self.decimal(u64::from(pkt.icmp_code));
            self.byte(b' ');
        }
        // IPv6 has no identification field (ip_id holds flow label bits).
        if family == 4 {
            self.bytes(b"id ");
            self.decimal(u64::from(pkt.ip_id));
            self.byte(b' ');
        }
        self.bytes(b"len ");
        self.decimal(u64::from(pkt.skb_len));
        self.byte(b' ');
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
                self.decimal(u64::from(port));
            }
        } else if let Some(port) = port {
            self.byte(b'[');
            self.ipv6(addr);
            self.bytes(b"]:");
            self.decimal(u64::from(port));
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
                    self.bytes(b" at 0x");
                    self.hex(ev.aux);
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
                    let ret = ev.value as i64;
                    self.bytes(b"ret ");
                    self.flagged_int(ret, ret < 0);
                }
            }
        }
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
        const TC_H_ROOT: u32 = u32::MAX;
        if handle == TC_H_ROOT {
            self.bytes(b"root");
        } else {
            self.hex(u64::from(handle >> 16));
            self.byte(b':');
            self.hex(u64::from(handle & 0xffff));
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
        out[..9].copy_from_slice(&[h[0], h[1], b':', m[0], m[1], b':', s[0], s[1], b'.']);
        let [a, b, c, d] = [
            nanos / 10_000_000,
            nanos / 100_000,
            nanos / 1000,
            nanos / 10,
        ]
        .map(pair);
        out[9..].copy_from_slice(&[
            a[0],
            a[1],
            b[0],
            b[1],
            c[0],
            c[1],
            d[0],
            d[1],
            b'0' + (nanos % 10) as u8,
        ]);
        self.pos += 18;
    }

    /// A NUL-padded kernel name (comm, ifname) with anything but printable
    /// ASCII replaced by `?`, so process names cannot inject terminal escapes.
    #[inline(always)]
    fn name16(&mut self, name: &[u8; 16]) {
        let len = name.iter().position(|&b| b == 0).unwrap_or(16);
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

    /// 32-bit arithmetic: cheaper than 64-bit for the common case.
    #[inline(always)]
    fn decimal32(&mut self, mut value: u32) {
        let len = decimal_len(value);
        let Some(out) = self.buf.get_mut(self.pos..self.pos + len) else {
            return;
        };
        let mut end = len;
        while value >= 100 {
            let i = (value % 100) as usize * 2;
            value /= 100;
            end -= 2;
            out[end..end + 2].copy_from_slice(&DIGIT_PAIRS[i..i + 2]);
        }
        if value >= 10 {
            let i = value as usize * 2;
            out[..2].copy_from_slice(&DIGIT_PAIRS[i..i + 2]);
        } else {
            out[0] = b'0' + value as u8;
        }
        self.pos += len;
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

fn decimal_len(value: u32) -> usize {
    value.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// Number of characters in UTF-8 text (a byte count for ASCII).
fn str_width(text: &[u8]) -> usize {
    text.iter().filter(|&&b| b & 0xc0 != 0x80).count()
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
