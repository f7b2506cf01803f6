//! `-o classic`: the log format of "Instrumenting Linux to Collect the
//! Traces of Individual Communication Packets" (NJIT, 2005), whose
//! hand-instrumented kernel logged each packet's way through the stack:
//!
//! ```text
//! 35 19:26:16:525001 128.235.204.81:21 192.168.1.20:33056 tcp_v4_rcv B P 2291929752 ack 516203532
//! 36   19:26:16:525109 128.235.204.81:21 192.168.1.20 __tcp_v4_lookup B
//! 37   19:26:16:525180 128.235.204.81:21 192.168.1.20:33056 __tcp_v4_lookup E
//! 38 19:26:16:525265 128.235.204.81:21 192.168.1.20:33056 tcp_v4_rcv E P 2291929752 ack 516203532
//! Time : 264
//! ```
//!
//! Columns: line number; local time `HH:MM:SS:microseconds`, indented two
//! spaces per nesting depth; source and destination `address:port` (the
//! port left out when unknown, i.e. 0); function; `B` at its beginning,
//! `E` at its end, `-` for a point (the study's netfilter hooks, our
//! tracepoints). For TCP packets with headers: the flag column (`S` SYN,
//! `F` FIN, `P` PSH, `.` none of them), the sequence number, `ack` and the
//! acknowledgment number. For functions of the IP layer: the IP id and the
//! transport protocol. After each top-level block: `Time : ` and its
//! duration in microseconds.
//!
//! Events about a socket rather than a packet (`__tcp_v4_lookup`) carry
//! addresses but no headers, so they get no TCP columns, as in the study.

use std::io::{self, Write};

use crate::abi::{self, PacketSummary, RawEvent, event_flag, tcp_flag};
use crate::describe::{Names, has_ports, push_uint};
use crate::meta::TraceMeta;
use crate::sink::Summary;
use crate::stitch::{Node, NodeKind, Packet, Pass, StitchStats, TreeSink};
use crate::text::push_endpoint;
use crate::time::{push_zero_padded, time_of_day};

use super::push_probe_name;

/// Prints passes as the numbered log; packets as their passes in order.
pub struct ClassicPrinter<W: Write> {
    out: W,
    names: Option<Names>,
    /// Whether each probe (by position in `names.probes`) is in the IP layer.
    ip_layer: Vec<bool>,
    line_number: u64,
    buf: Vec<u8>,
}

impl<W: Write> ClassicPrinter<W> {
    pub fn new(out: W) -> Self {
        ClassicPrinter {
            out,
            names: None,
            ip_layer: Vec::new(),
            line_number: 0,
            buf: Vec::with_capacity(4096),
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn write_pass(&mut self, pass: &Pass) -> io::Result<()> {
        let Some(names) = &self.names else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "classic printer: tree before begin",
            ));
        };
        let mut log = Log {
            out: &mut self.buf,
            names,
            ip_layer: &self.ip_layer,
            line_number: &mut self.line_number,
        };
        log.out.clear();
        log.pass(pass);
        self.out.write_all(&self.buf)
    }
}

/// The study's IP-layer functions were `ip_*`; ours may be grouped so too.
fn is_ip_layer(name: &str, category: &str) -> bool {
    matches!(category, "ip" | "ipv6") || name.starts_with("ip_") || name.starts_with("ip6_")
}

impl<W: Write> TreeSink for ClassicPrinter<W> {
    fn begin(&mut self, meta: &TraceMeta) -> io::Result<()> {
        let names = Names::new(meta);
        self.ip_layer = names
            .probes
            .as_slice()
            .iter()
            .map(|p| is_ip_layer(&p.name, &p.category))
            .collect();
        self.names = Some(names);
        self.line_number = 0;
        Ok(())
    }

    fn pass(&mut self, pass: &Pass) -> io::Result<()> {
        self.write_pass(pass)
    }

    fn packet(&mut self, packet: &Packet) -> io::Result<()> {
        for pass in &packet.passes {
            self.write_pass(pass)?;
        }
        Ok(())
    }

    fn finish(&mut self, _summary: &Summary, _stats: &StitchStats) -> io::Result<()> {
        self.out.flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

struct Log<'a> {
    out: &'a mut Vec<u8>,
    names: &'a Names,
    ip_layer: &'a [bool],
    line_number: &'a mut u64,
}

/// What a log line says besides its event.
#[derive(Clone, Copy)]
enum Mark {
    Begin,
    End,
    Point,
}

impl Log<'_> {
    fn pass(&mut self, pass: &Pass) {
        let nodes = &pass.nodes;
        let mut open: Vec<usize> = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            self.close_finished(nodes, &mut open, i);
            match node.kind {
                NodeKind::Point => self.line(node, &node.event, &node.event, Mark::Point, None),
                NodeKind::OrphanExit => {
                    let note = Some(&b"(no entry seen)"[..]);
                    self.line(node, &node.event, &node.event, Mark::End, note);
                }
                NodeKind::Call => {
                    let note = node.missing_exit().then(|| node.missing_exit_note());
                    self.line(node, &node.event, &node.event, Mark::Begin, note);
                    open.push(i);
                }
            }
        }
        self.close_finished(nodes, &mut open, nodes.len());
        if pass.root().is_some_and(|root| root.kind == NodeKind::Call) {
            self.out.extend_from_slice(b"Time : ");
            push_uint(self.out, pass.duration_ns() / 1000);
            self.out.push(b'\n');
        }
    }

    /// Prints the `E` lines of the calls whose subtrees end before `index`.
    fn close_finished(&mut self, nodes: &[Node], open: &mut Vec<usize>, index: usize) {
        while let Some(&at) = open.last() {
            if (nodes[at].end as usize) > index {
                break;
            }
            open.pop();
            let node = &nodes[at];
            if let Some(exit) = &node.exit {
                // A kretprobe's exit has no packet: the entry's stands in.
                let source = if exit.flags & event_flag::HAS_PACKET != 0 {
                    exit
                } else {
                    &node.event
                };
                self.line(node, exit, source, Mark::End, None);
            }
        }
    }

    /// A line for `event`, with the packet of `source`.
    fn line(
        &mut self,
        node: &Node,
        event: &RawEvent,
        source: &RawEvent,
        mark: Mark,
        note: Option<&[u8]>,
    ) {
        *self.line_number += 1;
        push_uint(self.out, *self.line_number);
        self.out.push(b' ');
        for _ in 0..node.depth {
            self.out.extend_from_slice(b"  ");
        }
        self.time(event.ts_ns);
        if source.flags & event_flag::HAS_PACKET != 0 {
            self.addresses(&source.pkt);
        } else {
            self.out.extend_from_slice(b" - -");
        }
        self.out.push(b' ');
        push_probe_name(self.out, self.names, event.probe_id);
        self.out.extend_from_slice(match mark {
            Mark::Begin => b" B",
            Mark::End => b" E",
            Mark::Point => b" -",
        });
        if has_headers(source) {
            let packet = &source.pkt;
            if packet.l4_proto == abi::IPPROTO_TCP {
                self.out.push(b' ');
                self.out.push(flag_letter(packet.tcp_flags));
                self.out.push(b' ');
                push_uint(self.out, packet.seq);
                self.out.extend_from_slice(b" ack ");
                push_uint(self.out, packet.ack);
            }
            let ip_layer = self.names.probes.position(event.probe_id);
            if ip_layer.is_some_and(|i| self.ip_layer.get(i) == Some(&true)) {
                self.out.push(b' ');
                push_uint(self.out, packet.ip_id);
                self.out.push(b' ');
                self.out.extend_from_slice(match packet.l4_proto {
                    abi::IPPROTO_TCP => b"TCP",
                    abi::IPPROTO_UDP => b"UDP",
                    abi::IPPROTO_ICMP => b"ICMP",
                    _ => b"unknown protocol",
                });
            }
        }
        if let Some(note) = note {
            self.out.push(b' ');
            self.out.extend_from_slice(note);
        }
        self.out.push(b'\n');
    }

    /// `HH:MM:SS:uuuuuu`, local time.
    fn time(&mut self, ts_ns: u64) {
        let (secs, nanos) = time_of_day(self.names.clock.local_ns(ts_ns));
        push_zero_padded(self.out, u64::from(secs / 3600), 2);
        self.out.push(b':');
        push_zero_padded(self.out, u64::from(secs / 60 % 60), 2);
        self.out.push(b':');
        push_zero_padded(self.out, u64::from(secs % 60), 2);
        self.out.push(b':');
        push_zero_padded(self.out, u64::from(nanos / 1000), 6);
    }

    /// ` saddr:sport daddr:dport`.
    fn addresses(&mut self, packet: &PacketSummary) {
        let family = match packet.l3_proto {
            abi::ETH_P_IP => 4,
            abi::ETH_P_IPV6 => 6,
            _ => {
                self.out.extend_from_slice(b" - -");
                return;
            }
        };
        let ports = has_ports(packet.l4_proto);
        for (addr, port) in [(&packet.saddr, packet.sport), (&packet.daddr, packet.dport)] {
            self.out.push(b' ');
            push_endpoint(self.out, family, addr, (ports && port != 0).then_some(port));
        }
    }
}

/// Whether the event carries packet headers, not just the addresses and
/// ports of a socket.
fn has_headers(event: &RawEvent) -> bool {
    event.flags & (event_flag::HAS_PACKET | event_flag::FROM_SOCKET) == event_flag::HAS_PACKET
        && matches!(event.pkt.l3_proto, abi::ETH_P_IP | abi::ETH_P_IPV6)
}

/// The study's flag column: SYN, else FIN, else PSH, else `.`.
fn flag_letter(flags: u8) -> u8 {
    if flags & tcp_flag::SYN != 0 {
        b'S'
    } else if flags & tcp_flag::FIN != 0 {
        b'F'
    } else if flags & tcp_flag::PSH != 0 {
        b'P'
    } else {
        b'.'
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::probe_id;
    use crate::stitch::StitchOptions;
    use crate::stitch::testing::{entry, exit, func, point, tcp, tcp_socket, through};

    const SERVER: ([u8; 4], u16) = ([128, 235, 204, 81], 21);
    const CLIENT: ([u8; 4], u16) = ([192, 168, 1, 20], 33056);
    const SKB: u64 = 0xffff_8880_0400_0000;

    fn render(events: &[RawEvent]) -> String {
        let printer = through(
            ClassicPrinter::new(Vec::new()),
            StitchOptions::default(),
            events,
        );
        String::from_utf8(printer.into_inner()).unwrap()
    }

    /// The sample of section 2.2.2, `tcp_v4_rcv` receiving 64 bytes of FTP
    /// data, after 34 lines of an earlier connect.
    #[test]
    fn reproduces_the_study_sample() {
        let mut events = vec![entry(0, func::TCP_V4_CONNECT, 400_000, 0)];
        for i in 0..16 {
            events.push(entry(0, func::IP_QUEUE_XMIT, 400_001 + 2 * i, SKB));
            events.push(exit(0, func::IP_QUEUE_XMIT, 400_002 + 2 * i, SKB, 0));
        }
        events.push(exit(0, func::TCP_V4_CONNECT, 400_100, 0, 0));
        let data = |event| {
            use crate::abi::tcp_flag::{ACK, PSH};
            tcp(event, SERVER, CLIENT, PSH | ACK, 2_291_929_752, 516_203_532)
        };
        let unconnected = (CLIENT.0, 0);
        events.extend([
            data(entry(0, func::TCP_V4_RCV, 525_001, SKB)),
            tcp_socket(
                entry(0, func::TCP_V4_LOOKUP, 525_109, 0),
                SERVER,
                unconnected,
            ),
            tcp_socket(exit(0, func::TCP_V4_LOOKUP, 525_180, 0, 0), SERVER, CLIENT),
            data(exit(0, func::TCP_V4_RCV, 525_265, SKB, 0)),
        ]);
        let log = render(&events);
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 34 + 1 + 5, "{log}");
        assert_eq!(lines[0], "1 19:26:16:400000 - - tcp_v4_connect B");
        assert_eq!(lines[1], "2   19:26:16:400001 - - ip_queue_xmit B");
        assert_eq!(lines[34], "Time : 100");
        assert_eq!(
            lines[35..].join("\n"),
            "\
35 19:26:16:525001 128.235.204.81:21 192.168.1.20:33056 tcp_v4_rcv B P 2291929752 ack 516203532
36   19:26:16:525109 128.235.204.81:21 192.168.1.20 __tcp_v4_lookup B
37   19:26:16:525180 128.235.204.81:21 192.168.1.20:33056 __tcp_v4_lookup E
38 19:26:16:525265 128.235.204.81:21 192.168.1.20:33056 tcp_v4_rcv E P 2291929752 ack 516203532
Time : 264"
        );
    }

    #[test]
    fn ip_layer_points_and_anomalies() {
        use crate::abi::tcp_flag::{ACK, FIN, SYN};
        let flags = |f| move |event| tcp(event, CLIENT, SERVER, f, 7, 9);
        let log = render(&[
            flags(SYN)(entry(0, func::IP_RCV, 10, SKB)),
            flags(FIN | ACK)(point(0, probe_id::NETIF_RECEIVE_SKB, 11, SKB, 0)),
            flags(ACK)(entry(0, func::TCP_V4_RCV, 12, SKB)),
            // Exits without a packet (kretprobe) reuse the entry's.
            exit(0, func::IP_RCV, 20, 0, 0),
            exit(0, func::TCP_V4_DO_RCV, 30, 0, 0),
        ]);
        assert_eq!(
            log,
            "\
1 19:26:16:000010 192.168.1.20:33056 128.235.204.81:21 ip_rcv B S 7 ack 9 4242 TCP
2   19:26:16:000011 192.168.1.20:33056 128.235.204.81:21 netif_receive_skb - F 7 ack 9
3   19:26:16:000012 192.168.1.20:33056 128.235.204.81:21 tcp_v4_rcv B . 7 ack 9 (no exit seen)
4 19:26:16:000020 192.168.1.20:33056 128.235.204.81:21 ip_rcv E S 7 ack 9 4242 TCP
Time : 10
5 19:26:16:000030 - - tcp_v4_do_rcv E (no entry seen)
"
        );
    }
}
