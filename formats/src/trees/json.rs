//! `-o json --trees`: one JSON object per line for each pass (or packet),
//! its nodes nested in `children`.
//!
//! ```text
//! {"type":"pass","cpu":0,"start_ns":…,"time":"…","duration_ns":12100,"skbs":["0xffff…"],"tree":{…node…}}
//! {"type":"packet","end":"freed","start_ns":…,"duration_ns":…,"skbs":[{"skb":"0x…","freed":true}],"passes":[{…pass…,"gap_ns":16000,"waiting":"qdisc"},…]}
//! {"type":"stitch_summary","passes":…,"packets":…,"missing_exits":…,…}
//! ```
//!
//! A node has the fields of the flat JSON printer's event (`probe`,
//! `ts_ns`, `skb`, `saddr`, `sport`, `tcp_flags`, `seq`, `ip_id`, `len`,
//! `drop_reason`, …) with `kind` one of `call`, `point` or `exit` (an exit
//! whose entry was never seen, also flagged `missing_entry`); a call adds
//! `ret`, `duration_ns`, `share_pct` (of its parent's duration) or
//! `missing_exit`, and `children` when it has any. The last line sums up
//! what the stitcher did.

use std::io::{self, Write};

use serde::Serialize;

use crate::abi::{RawEvent, event_flag};
use crate::describe::{Names, TcpFlagLetters, push_hex};
use crate::describe::{c_str, has_ports, ip_addrs, printable};
use crate::json::{Scratch, event_json};
use crate::l2::NonIp;
use crate::meta::TraceMeta;
use crate::sink::Summary;
use crate::stack::StackFrame;
use crate::stitch::{
    Node, NodeKind, Outcome, OutcomeNames, Packet, PacketEnd, Pass, SkbOrigin, StitchStats,
    TreeSink, Waiting, outcome_text,
};
use crate::time::push_rfc3339;

use super::{share_percent, softirq_name};

/// Prints passes and packets as JSON lines, each in one `write_all`.
pub struct TreeJsonPrinter<W: Write> {
    out: W,
    names: Option<Names>,
    line: Vec<u8>,
    scratch: Scratch,
    trees: bool,
}

impl<W: Write> TreeJsonPrinter<W> {
    pub fn new(out: W) -> Self {
        TreeJsonPrinter {
            out,
            names: None,
            line: Vec::with_capacity(4096),
            scratch: Scratch::default(),
            trees: true,
        }
    }

    /// Whether packets carry their passes (`passes`, each with its `tree`);
    /// without, a packet is its fields and hops.
    pub fn with_trees(mut self, trees: bool) -> Self {
        self.trees = trees;
        self
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    /// Renders with `render` into the reused line, then writes it out.
    fn write_with(
        &mut self,
        render: impl FnOnce(&mut JsonWriter) -> io::Result<()>,
    ) -> io::Result<()> {
        let Some(names) = &self.names else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "JSON tree printer: tree before begin",
            ));
        };
        self.line.clear();
        render(&mut JsonWriter {
            out: &mut self.line,
            names,
            scratch: &mut self.scratch,
            trees: self.trees,
        })?;
        self.line.push(b'\n');
        self.out.write_all(&self.line)
    }
}

impl<W: Write> TreeSink for TreeJsonPrinter<W> {
    fn begin(&mut self, meta: &TraceMeta) -> io::Result<()> {
        self.names = Some(Names::new(meta));
        Ok(())
    }

    fn symbol(&mut self, frame: &StackFrame) -> io::Result<()> {
        crate::describe::learn(&mut self.names, frame);
        Ok(())
    }

    fn pass(&mut self, pass: &Pass) -> io::Result<()> {
        self.write_with(|writer| writer.pass(pass, None))
    }

    fn packet(&mut self, packet: &Packet) -> io::Result<()> {
        self.write_with(|writer| writer.packet(packet))
    }

    fn finish(&mut self, summary: &Summary, stats: &StitchStats) -> io::Result<()> {
        #[derive(Serialize)]
        struct SummaryJson<'a> {
            r#type: &'static str,
            events: u64,
            lost: u64,
            #[serde(flatten)]
            stats: &'a StitchStats,
        }
        let line = serde_json::to_vec(&SummaryJson {
            r#type: "stitch_summary",
            events: summary.events,
            lost: summary.lost,
            stats,
        })?;
        self.out.write_all(&line)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum NameOr {
    Name(&'static str),
    Number(u8),
}

#[derive(Serialize)]
struct PassJson<'a> {
    r#type: &'static str,
    cpu: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    softirq: Option<NameOr>,
    start_ns: u64,
    time: &'a str,
    duration_ns: u64,
    skbs: Vec<String>,
    #[serde(skip_serializing_if = "is_zero")]
    omitted_nodes: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    cut: Option<&'static str>,
    /// In a packet: time since the previous pass ended, and what the packet did meanwhile.
    #[serde(skip_serializing_if = "Option::is_none")]
    gap_ns: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    waiting: Option<NameOr>,
}

#[derive(Serialize)]
struct PacketJson<'a> {
    r#type: &'static str,
    end: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    continued: bool,
    start_ns: u64,
    duration_ns: u64,
    /// From the first hop to the outcome.
    latency_ns: u64,
    #[serde(flatten)]
    headers: Option<HeadersJson>,
    /// A packet without IP header, as the text says it (`ARP, Request
    /// who-has …`, `ethertype LLDP (0x88cc)`).
    #[serde(skip_serializing_if = "Option::is_none")]
    non_ip: Option<String>,
    outcome: &'static str,
    /// The outcome in words, as the text view says it.
    outcome_text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    drop_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    drop_location: Option<String>,
    /// The process its data was copied to.
    #[serde(skip_serializing_if = "Option::is_none")]
    task: Option<TaskJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unknown_why: Option<&'static str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    not_network: bool,
    hops: Vec<HopJson<'a>>,
    skbs: Vec<SkbJson>,
}

/// The packet's headers as first seen whole.
#[derive(Serialize)]
struct HeadersJson {
    proto: String,
    saddr: String,
    daddr: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    sport: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dport: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tcp_flags: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u32>,
    ip_id: u16,
}

#[derive(Serialize)]
struct TaskJson {
    pid: u32,
    comm: String,
}

#[derive(Serialize)]
struct HopJson<'a> {
    netns: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    ifname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ifindex: Option<u32>,
    cpu: u32,
    ts_ns: u64,
    probe: &'a str,
    /// Since the previous hop.
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_ns: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    changes: Vec<ChangeJson<'a>>,
}

#[derive(Serialize)]
struct ChangeJson<'a> {
    field: &'static str,
    from: String,
    to: String,
    probe: &'a str,
}

#[derive(Serialize)]
struct SkbJson {
    skb: String,
    origin: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    of: Option<String>,
    freed: bool,
}

/// The fields a node adds to its event's.
#[derive(Serialize)]
struct NodeJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    share_pct: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    missing_exit: bool,
    /// The kernel could not track the call's frame: no exit was traced.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    untracked: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    missing_entry: bool,
}

/// Serializes `value`, an object, leaving it open for more fields.
fn open_object(out: &mut Vec<u8>, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    if out.last() == Some(&b'}') {
        out.pop();
    }
    Ok(())
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

fn hex(value: u64) -> String {
    let mut text = Vec::with_capacity(18);
    text.extend_from_slice(b"0x");
    push_hex(&mut text, value);
    String::from_utf8(text).unwrap_or_default()
}

/// Objects are written by serializing their own fields, then reopening
/// the object (dropping serde's closing `}`) to append what nests in it:
/// trees are written as they are walked, without building a value tree.
struct JsonWriter<'a> {
    out: &'a mut Vec<u8>,
    names: &'a Names,
    scratch: &'a mut Scratch,
    /// Packets carry their passes.
    trees: bool,
}

impl<'a> JsonWriter<'a> {
    fn packet(&mut self, packet: &Packet) -> io::Result<()> {
        if packet.end == PacketEnd::NoSkb {
            for (i, pass) in packet.passes.iter().enumerate() {
                if i > 0 {
                    self.out.push(b'\n');
                }
                self.pass(pass, None)?;
            }
            return Ok(());
        }
        open_object(self.out, &self.packet_json(packet))?;
        if !self.trees {
            self.out.push(b'}');
            return Ok(());
        }
        self.out.extend_from_slice(b",\"passes\":[");
        for (i, pass) in packet.passes.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.pass(pass, Some((packet, i)))?;
        }
        self.out.extend_from_slice(b"]}");
        Ok(())
    }

    fn packet_json<'p>(&self, packet: &'p Packet) -> PacketJson<'p>
    where
        'a: 'p,
    {
        let names = self.names;
        let probe = |id: u32| names.probes.get(id).map_or("?", |p| p.name.as_str());
        let location = |addr: u64| names.locations.get(&addr).cloned();
        let (drop_reason, drop_location) = match packet.outcome {
            Outcome::Dropped {
                reason, location, ..
            } => (
                Some(
                    names
                        .drop_reasons
                        .name(reason)
                        .map_or_else(|| reason.to_string(), str::to_owned),
                ),
                (location != 0).then(|| {
                    names
                        .locations
                        .get(&location)
                        .cloned()
                        .unwrap_or_else(|| hex(location))
                }),
            ),
            _ => (None, None),
        };
        let hops = packet
            .hops
            .iter()
            .enumerate()
            .map(|(i, hop)| HopJson {
                netns: hop.place.netns,
                ifname: (hop.place.ifindex != 0)
                    .then(|| printable(&String::from_utf8_lossy(c_str(&hop.place.ifname)))),
                ifindex: (hop.place.ifindex != 0).then_some(hop.place.ifindex),
                cpu: hop.cpu,
                ts_ns: hop.ts_ns,
                probe: probe(hop.probe),
                latency_ns: i
                    .checked_sub(1)
                    .map(|p| hop.ts_ns.saturating_sub(packet.hops[p].ts_ns)),
                changes: hop
                    .changes
                    .iter()
                    .flat_map(|change| {
                        change
                            .fields()
                            .into_iter()
                            .map(move |(field, from, to)| ChangeJson {
                                field,
                                from,
                                to,
                                probe: probe(change.probe),
                            })
                    })
                    .collect(),
            })
            .collect();
        PacketJson {
            r#type: "packet",
            end: packet.end.name(),
            continued: packet.continued,
            start_ns: packet.start_ns(),
            duration_ns: packet.duration_ns(),
            latency_ns: packet.latency_ns(),
            headers: packet.headers.as_ref().and_then(headers_json),
            non_ip: packet
                .headers
                .and_then(|headers| NonIp::of(&headers.pkt))
                .map(|non_ip| non_ip.to_string()),
            outcome: packet.outcome.name(),
            outcome_text: outcome_text(
                &packet.outcome,
                &OutcomeNames {
                    probes: &names.probes,
                    drop_reasons: &names.drop_reasons,
                    location: &location,
                },
            ),
            drop_reason,
            drop_location,
            task: match packet.outcome {
                Outcome::Delivered {
                    task: Some(task), ..
                } => Some(TaskJson {
                    pid: task.pid,
                    comm: printable(&String::from_utf8_lossy(c_str(&task.comm))),
                }),
                _ => None,
            },
            unknown_why: match packet.outcome {
                Outcome::Unknown { why, .. } => Some(why.name()),
                _ => None,
            },
            not_network: !packet.network,
            hops,
            skbs: packet
                .skbs
                .iter()
                .map(|life| SkbJson {
                    skb: hex(life.skb),
                    origin: match life.origin {
                        SkbOrigin::First => "first",
                        SkbOrigin::Clone { .. } => "clone",
                        SkbOrigin::Segment { .. } => "segment",
                        SkbOrigin::Continues { .. } => "continues",
                    },
                    of: life.origin.from().map(hex),
                    freed: life.freed,
                })
                .collect(),
        }
    }

    /// A pass, with its gap when it is the `index`th of a packet.
    fn pass(&mut self, pass: &Pass, in_packet: Option<(&Packet, usize)>) -> io::Result<()> {
        let gap = in_packet.and_then(|(packet, index)| packet.gap_before(index));
        let mut time = Vec::with_capacity(40);
        push_rfc3339(
            &mut time,
            self.names.clock.wall_ns(pass.start_ns),
            self.names.clock.utc_offset_s,
        );
        open_object(
            self.out,
            &PassJson {
                r#type: "pass",
                cpu: pass.cpu,
                softirq: pass.softirq.map(softirq_json),
                start_ns: pass.start_ns,
                time: std::str::from_utf8(&time).unwrap_or_default(),
                duration_ns: pass.duration_ns(),
                skbs: pass.skbs.iter().copied().map(hex).collect(),
                omitted_nodes: pass.omitted_nodes,
                cut: pass.cut.map(|reason| reason.name()),
                gap_ns: gap.map(|gap| gap.ns),
                waiting: gap.map(|gap| match gap.waiting {
                    Waiting::Qdisc => NameOr::Name("qdisc"),
                    Waiting::Softirq(vector) => softirq_json(vector),
                    Waiting::Unknown => NameOr::Name("unknown"),
                }),
            },
        )?;
        self.out.extend_from_slice(b",\"tree\":");
        self.tree(&pass.nodes)?;
        self.out.push(b'}');
        Ok(())
    }

    /// The nodes (pre-order) nested as `children`.
    fn tree(&mut self, nodes: &[Node]) -> io::Result<()> {
        if nodes.is_empty() {
            self.out.extend_from_slice(b"null");
            return Ok(());
        }
        // Calls whose `children` array is open, by index.
        let mut open: Vec<usize> = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            while let Some(&at) = open.last() {
                if (nodes[at].end as usize) > i {
                    break;
                }
                open.pop();
                self.out.extend_from_slice(b"]}");
            }
            // A sibling follows a node's closing `}`; a first child, the `[`.
            if !open.is_empty() && self.out.last() != Some(&b'[') {
                self.out.push(b',');
            }
            let parent = open.last().map(|&p| &nodes[p]);
            self.node(node, parent)?;
            if node.end as usize > i + 1 {
                self.out.extend_from_slice(b",\"children\":[");
                open.push(i);
            } else {
                self.out.push(b'}');
            }
        }
        for _ in open {
            self.out.extend_from_slice(b"]}");
        }
        Ok(())
    }

    /// A node's object, left open.
    fn node(&mut self, node: &Node, parent: Option<&Node>) -> io::Result<()> {
        let flags = TcpFlagLetters::new(node.event.pkt.tcp_flags);
        let mut view = event_json(self.names, self.scratch, &flags, &node.event);
        match node.kind {
            NodeKind::Call => {
                view.kind = "call";
                let returns = self
                    .names
                    .probes
                    .get(node.event.probe_id)
                    .is_some_and(|probe| probe.value.has_return());
                if let Some(raw) = node.ret().filter(|_| returns) {
                    view.set_ret(self.names, node.event.probe_id, raw as u64);
                }
            }
            NodeKind::Point => view.kind = "point",
            NodeKind::OrphanExit => view.kind = "exit",
        }
        open_object(self.out, &view)?;
        let extra = NodeJson {
            duration_ns: node.duration_ns(),
            share_pct: share_percent(node, parent),
            missing_exit: node.missing_exit(),
            untracked: node.untracked(),
            missing_entry: node.kind == NodeKind::OrphanExit,
        };
        let start = self.out.len();
        serde_json::to_writer(&mut *self.out, &extra)?;
        // `{"a":1}` → `,"a":1`; `{}` → nothing.
        let written = self.out.len() - start;
        if written <= 2 {
            self.out.truncate(start);
        } else {
            self.out[start] = b',';
            self.out.pop();
        }
        Ok(())
    }
}

fn softirq_json(vector: u8) -> NameOr {
    match softirq_name(vector) {
        Some(name) => NameOr::Name(name),
        None => NameOr::Number(vector),
    }
}

/// The header fields of a packet's JSON object.
fn headers_json(event: &RawEvent) -> Option<HeadersJson> {
    let pkt = &event.pkt;
    let (_, saddr, daddr) = ip_addrs(pkt)?;
    let ports = has_ports(pkt.l4_proto);
    let tcp = pkt.l4_proto == crate::abi::IPPROTO_TCP && event.flags & event_flag::FROM_SOCKET == 0;
    Some(HeadersJson {
        proto: crate::describe::l4_proto_names(pkt.l4_proto)
            .map_or_else(|| pkt.l4_proto.to_string(), |(_, lower)| lower.to_owned()),
        saddr: saddr.to_string(),
        daddr: daddr.to_string(),
        sport: ports.then_some(pkt.sport),
        dport: ports.then_some(pkt.dport),
        tcp_flags: tcp.then(|| TcpFlagLetters::new(pkt.tcp_flags).as_str().to_owned()),
        seq: tcp.then_some(pkt.seq),
        ip_id: pkt.ip_id,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::abi::{RawEvent, probe_id, tcp_flag};
    use crate::stitch::testing::{entry, exit, func, point, tcp, through};
    use crate::stitch::{Grouping, StitchOptions};

    const SKB: u64 = 0xffff_8880_0400_0100;
    const CLONE: u64 = 0xffff_8880_0400_0200;

    fn render(grouping: Grouping, events: &[RawEvent]) -> Vec<Value> {
        let options = StitchOptions {
            grouping,
            ..StitchOptions::default()
        };
        let printer = through(TreeJsonPrinter::new(Vec::new()), options, events);
        let out = String::from_utf8(printer.into_inner()).unwrap();
        out.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    fn rst(event: RawEvent) -> RawEvent {
        tcp(
            event,
            ([10, 0, 0, 2], 80),
            ([10, 0, 0, 1], 41234),
            tcp_flag::RST,
            5,
            0,
        )
    }

    fn events() -> Vec<RawEvent> {
        vec![
            rst(entry(0, func::IP_RCV, 1, SKB)),
            rst(entry(0, func::TCP_V4_RCV, 2, SKB)),
            rst(point(0, probe_id::KFREE_SKB, 3, SKB, 3)),
            exit(0, func::TCP_V4_RCV, 5, SKB, 0),
            entry(0, func::TCP_V4_DO_RCV, 6, SKB),
            exit(0, func::IP_RCV, 9, SKB, -22),
            exit(0, func::NETIF_RX, 10, 0, 1),
        ]
    }

    #[test]
    fn passes_nest_their_nodes() {
        let lines = render(Grouping::Passes, &events());
        assert_eq!(lines.len(), 3);
        let pass = &lines[0];
        assert_eq!(pass["type"], "pass");
        assert_eq!(pass["cpu"], 0);
        assert_eq!(pass["duration_ns"], 8000);
        assert_eq!(pass["time"], "2004-11-09T19:26:16.000001000Z");
        assert_eq!(pass["skbs"], json!(["0xffff888004000100"]));
        assert!(pass.get("cut").is_none());
        let root = &pass["tree"];
        assert_eq!(
            (
                &root["probe"],
                &root["kind"],
                &root["ret"],
                &root["duration_ns"]
            ),
            (&json!("ip_rcv"), &json!("call"), &json!(-22), &json!(8000))
        );
        assert_eq!(root["saddr"], "10.0.0.2");
        assert_eq!(root["tcp_flags"], "R");
        assert_eq!(root["skb"], "0xffff888004000100");
        let children = root["children"].as_array().unwrap();
        assert_eq!(children.len(), 2);
        let tcp_v4_rcv = &children[0];
        assert_eq!(tcp_v4_rcv["share_pct"], 37);
        let drop = &tcp_v4_rcv["children"][0];
        assert_eq!(
            (&drop["kind"], &drop["drop_reason"], &drop["seq"]),
            (&json!("point"), &json!("NO_SOCKET"), &json!(5))
        );
        assert!(drop.get("children").is_none());
        let unfinished = &children[1];
        assert_eq!(unfinished["missing_exit"], true);
        assert!(unfinished.get("ret").is_none());

        let orphan = &lines[1]["tree"];
        assert_eq!(
            (&orphan["kind"], &orphan["missing_entry"], &orphan["ret"]),
            (&json!("exit"), &json!(true), &json!(1))
        );
        assert_eq!(lines[2]["type"], "stitch_summary");
        assert_eq!(
            (&lines[2]["passes"], &lines[2]["missing_exits"]),
            (&json!(2), &json!(1))
        );
    }

    #[test]
    fn returns_follow_the_btf_type() {
        let events = [
            rst(entry(0, func::IP_QUEUE_XMIT, 1, SKB)),
            entry(0, func::TCP_SET_STATE, 2, SKB),
            // A `void` function leaves whatever rax held.
            exit(0, func::TCP_SET_STATE, 3, SKB, 0x6_0800_1234_5678),
            entry(0, func::SKB_CLONE, 4, SKB),
            exit(0, func::SKB_CLONE, 5, SKB, 0),
            // `int` -22 as eax leaves it: zero-extended.
            exit(0, func::IP_QUEUE_XMIT, 9, SKB, 0xffff_ffea),
            // An orphan exit is typed too.
            exit(1, func::SKB_CLONE, 10, 0, CLONE as i64),
        ];
        let lines = render(Grouping::Passes, &events);
        let ret = |node: &Value| (node.get("ret").cloned(), node.get("ret_name").cloned());
        let root = &lines[0]["tree"];
        assert_eq!(ret(root), (Some(json!(-22)), Some(json!("-EINVAL"))));
        let children = root["children"].as_array().unwrap();
        assert_eq!(ret(&children[0]), (None, None));
        assert_eq!(ret(&children[1]), (Some(json!(0)), Some(json!("NULL"))));
        let orphan = &lines[1]["tree"];
        assert_eq!(
            ret(orphan),
            (Some(json!(CLONE)), Some(json!("0xffff888004000200")))
        );
    }

    #[test]
    fn a_leaf_is_one_exact_object() {
        let lines = render(
            Grouping::Passes,
            &[point(0, probe_id::CONSUME_SKB, 1, SKB, 0)],
        );
        assert_eq!(
            serde_json::to_string(&lines[0]).unwrap(),
            concat!(
                r#"{"cpu":0,"duration_ns":0,"skbs":["0xffff888004000100"],"start_ns":1000000001000,"#,
                r#""time":"2004-11-09T19:26:16.000001000Z","tree":{"comm":"curl","cpu":0,"kind":"point","#,
                r#""pid":100,"probe":"consume_skb","skb":"0xffff888004000100","tid":100,"#,
                r#""time":"2004-11-09T19:26:16.000001000Z","ts_ns":1000000001000},"type":"pass"}"#
            )
        );
    }

    #[test]
    fn packets_hold_their_passes_with_gaps() {
        let events = [
            rst(entry(0, func::IP_RCV, 1, SKB)),
            exit(0, func::IP_RCV, 9, SKB, 0),
            exit(0, func::NETIF_RX, 10, 0, 1),
            point(1, probe_id::CONSUME_SKB, 30, SKB, 0),
        ];
        let lines = render(Grouping::Packets, &events);
        let kinds: Vec<&Value> = lines.iter().map(|line| &line["type"]).collect();
        assert_eq!(
            kinds,
            [&json!("pass"), &json!("packet"), &json!("stitch_summary")]
        );
        let packet = &lines[1];
        assert_eq!(packet["end"], "freed");
        assert_eq!(
            packet["skbs"],
            json!([{"skb": "0xffff888004000100", "origin": "first", "freed": true}])
        );
        // Received, then consumed by the stack: delivered, where received.
        assert_eq!(packet["outcome"], "delivered");
        assert_eq!(packet["proto"], "tcp");
        assert_eq!(packet["tcp_flags"], "R");
        let passes = packet["passes"].as_array().unwrap();
        assert_eq!(passes.len(), 2);
        assert!(passes[0].get("gap_ns").is_none());
        assert_eq!(
            (&passes[1]["gap_ns"], &passes[1]["waiting"]),
            (&json!(21_000), &json!("unknown"))
        );
        assert_eq!(passes[1]["tree"]["probe"], "consume_skb");
        assert_eq!(passes[0]["tree"]["ret"], 0);
    }
}
