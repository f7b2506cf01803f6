//! `--tdma`: the trace seen from sch_tdma's transmit windows. Each window the
//! qdisc serviced becomes one block (text) or one object (JSON) listing the
//! packets sent in it, with how long each waited and how much of the window
//! was left; drops and schedule changes are shown where they happen. Events
//! of other probes are not shown here.

use std::collections::HashMap;
use std::io::{self, Write};

use serde::Serialize;
use serde_json::Value;

use super::{TdmaEvent, push_duration};
use crate::abi::RawEvent;
use crate::describe::{Names, TcpFlagLetters, c_str};
use crate::json::{Scratch, event_json};
use crate::meta::TraceMeta;
use crate::sink::{Sink, Summary};
use crate::text::push_packet;
use crate::time::time_of_day;

/// Text blocks or JSON lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewFormat {
    Text,
    Json,
}

/// A qdisc, as far as events tell them apart: its device.
type QdiscKey = (u32, u32);

/// A window being filled: opened (or first seen) but not closed yet.
struct OpenWindow {
    window: u32,
    frame: i64,
    /// From `tdma_window_open`; `None` when the trace began inside the window.
    opened: Option<Opened>,
    ifname: String,
    netns: u32,
    sent: Vec<Sent>,
}

struct Opened {
    ts_ns: u64,
    start_clock_ns: i64,
    end_clock_ns: i64,
    late_ns: i64,
    qlen: u32,
}

struct Sent {
    ts_ns: u64,
    waited_ns: u64,
    left_ns: i64,
    /// Text: the packet as text lines show it; JSON: the event's JSON object.
    packet: Packet,
}

impl Sent {
    /// When it left, from the window's scheduled start, on the qdisc's own
    /// clock: the window's length minus the time it had left. (Event
    /// timestamps come later than the qdisc's decision, by how much depends
    /// on the machine, and are on another clock.)
    fn offset_in(&self, opened: &Opened) -> i64 {
        opened.end_clock_ns - opened.start_clock_ns - self.left_ns
    }
}

enum Packet {
    Text(Vec<u8>),
    Json(Value),
}

/// The `--tdma` sink.
pub struct TdmaView<W: Write> {
    out: W,
    format: ViewFormat,
    names: Option<Names>,
    scratch: Scratch,
    open: HashMap<QdiscKey, OpenWindow>,
}

#[derive(Serialize)]
struct WindowJson<'a> {
    r#type: &'static str,
    ifname: &'a str,
    netns: u32,
    window: u32,
    frame: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    open_ts_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_clock_ns: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_clock_ns: Option<i64>,
    /// How long after its scheduled start the qdisc first serviced the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    serviced_after_ns: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    qlen_at_open: Option<u32>,
    /// Whether `tdma_window_close` was seen (else the trace ended first).
    closed: bool,
    packets: u64,
    bytes: u64,
    sent: Vec<SentJson<'a>>,
}

#[derive(Serialize)]
struct SentJson<'a> {
    ts_ns: u64,
    /// From the window's scheduled start, when the opening was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    offset_ns: Option<i64>,
    waited_ns: u64,
    left_ns: i64,
    packet: &'a Value,
}

impl<W: Write> TdmaView<W> {
    pub fn new(out: W, format: ViewFormat) -> Self {
        TdmaView {
            out,
            format,
            names: None,
            scratch: Scratch::default(),
            open: HashMap::new(),
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn names(&self) -> io::Result<&Names> {
        self.names.as_ref().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "tdma view: event before begin")
        })
    }

    fn packet(&mut self, event: &RawEvent) -> io::Result<Packet> {
        Ok(match self.format {
            ViewFormat::Text => {
                let mut text = Vec::new();
                push_packet(&mut text, event);
                text.truncate(text.trim_ascii_end().len());
                Packet::Text(text)
            }
            ViewFormat::Json => {
                let names = self.names.as_ref().ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, "tdma view: event before begin")
                })?;
                let flags = TcpFlagLetters::new(event.pkt.tcp_flags);
                let view = event_json(names, &mut self.scratch, &flags, event);
                Packet::Json(serde_json::to_value(&view)?)
            }
        })
    }

    /// Prints a finished window: `close` is `(packets, bytes)` from
    /// `tdma_window_close`, `None` when the trace ended before it.
    fn emit(&mut self, win: OpenWindow, close: Option<(u32, u64)>) -> io::Result<()> {
        let (packets, bytes) = match close {
            Some((p, b)) => (u64::from(p), b),
            None => (win.sent.len() as u64, 0),
        };
        match self.format {
            ViewFormat::Text => self.emit_text(&win, close.is_some(), packets, bytes),
            ViewFormat::Json => self.emit_json(&win, close.is_some(), packets, bytes),
        }
    }

    fn emit_text(
        &mut self,
        win: &OpenWindow,
        closed: bool,
        packets: u64,
        bytes: u64,
    ) -> io::Result<()> {
        let names = self.names()?;
        let mut line = String::new();
        let first_ts = win
            .opened
            .as_ref()
            .map(|o| o.ts_ns)
            .or_else(|| win.sent.first().map(|s| s.ts_ns))
            .unwrap_or(0);
        push_time(&mut line, names, first_ts);
        line.push_str(&format!(
            " {} window {} frame {}",
            win.ifname, win.window, win.frame
        ));
        match &win.opened {
            Some(o) => {
                line.push_str(" length ");
                push_duration(&mut line, o.end_clock_ns - o.start_clock_ns);
                line.push_str(", serviced ");
                push_duration(&mut line, o.late_ns);
                line.push_str(&format!(" after opening, qlen {}", o.qlen));
            }
            None => line.push_str(" (opened before the trace began)"),
        }
        if closed {
            line.push_str(&format!(": sent {packets} pkts {bytes}B"));
        } else {
            line.push_str(&format!(
                ": sent {packets} pkts (trace ended before it closed)"
            ));
        }
        line.push('\n');
        let mut out = line.into_bytes();
        for sent in &win.sent {
            out.extend_from_slice(b"    ");
            let mut head = String::new();
            match &win.opened {
                Some(o) => {
                    head.push_str("at +");
                    push_duration(&mut head, sent.offset_in(o));
                }
                None => push_time(&mut head, names, sent.ts_ns),
            }
            head.push_str("  waited ");
            push_duration(&mut head, sent.waited_ns as i64);
            head.push_str("  left ");
            push_duration(&mut head, sent.left_ns);
            head.push_str("  ");
            out.extend_from_slice(head.as_bytes());
            if let Packet::Text(text) = &sent.packet {
                out.extend_from_slice(text);
            }
            out.push(b'\n');
        }
        self.out.write_all(&out)
    }

    fn emit_json(
        &mut self,
        win: &OpenWindow,
        closed: bool,
        packets: u64,
        bytes: u64,
    ) -> io::Result<()> {
        let null = Value::Null;
        let view = WindowJson {
            r#type: "window",
            ifname: &win.ifname,
            netns: win.netns,
            window: win.window,
            frame: win.frame,
            open_ts_ns: win.opened.as_ref().map(|o| o.ts_ns),
            start_clock_ns: win.opened.as_ref().map(|o| o.start_clock_ns),
            end_clock_ns: win.opened.as_ref().map(|o| o.end_clock_ns),
            serviced_after_ns: win.opened.as_ref().map(|o| o.late_ns),
            qlen_at_open: win.opened.as_ref().map(|o| o.qlen),
            closed,
            packets,
            bytes,
            sent: win
                .sent
                .iter()
                .map(|s| SentJson {
                    ts_ns: s.ts_ns,
                    offset_ns: win.opened.as_ref().map(|o| s.offset_in(o)),
                    waited_ns: s.waited_ns,
                    left_ns: s.left_ns,
                    packet: match &s.packet {
                        Packet::Json(v) => v,
                        Packet::Text(_) => &null,
                    },
                })
                .collect(),
        };
        let mut line = serde_json::to_vec(&view)?;
        line.push(b'\n');
        self.out.write_all(&line)
    }

    /// Drops and schedule changes: one line (text) or object (JSON) each.
    fn emit_point(&mut self, event: &RawEvent, tdma: &TdmaEvent) -> io::Result<()> {
        match self.format {
            ViewFormat::Text => {
                let names = self.names()?;
                let mut line = String::new();
                push_time(&mut line, names, event.ts_ns);
                line.push(' ');
                line.push_str(&String::from_utf8_lossy(c_str(&event.ifname)));
                line.push(' ');
                tdma.describe(&mut line);
                let mut out = line.into_bytes();
                if tdma.is_packet_event() {
                    out.extend_from_slice(b"  ");
                    push_packet(&mut out, event);
                    out.truncate(out.trim_ascii_end().len());
                }
                out.push(b'\n');
                self.out.write_all(&out)
            }
            ViewFormat::Json => {
                let mut value = match self.packet(event)? {
                    Packet::Json(v) => v,
                    Packet::Text(_) => Value::Null,
                };
                if let Value::Object(map) = &mut value {
                    map.insert("type".into(), Value::from("event"));
                }
                let mut line = serde_json::to_vec(&value)?;
                line.push(b'\n');
                self.out.write_all(&line)
            }
        }
    }
}

fn push_time(out: &mut String, names: &Names, ts_ns: u64) {
    let (secs, nanos) = time_of_day(names.clock.local_ns(ts_ns));
    out.push_str(&format!(
        "{:02}:{:02}:{:02}.{:09}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        nanos
    ));
}

impl<W: Write> Sink for TdmaView<W> {
    fn begin(&mut self, meta: &TraceMeta) -> io::Result<()> {
        self.names = Some(Names::new(meta));
        Ok(())
    }

    fn event(&mut self, event: &RawEvent) -> io::Result<()> {
        let Some(tdma) = TdmaEvent::decode(event) else {
            return Ok(());
        };
        let key = (event.ifindex, event.netns);
        match tdma {
            TdmaEvent::WindowOpen {
                window,
                frame,
                start_clock_ns,
                end_clock_ns,
                now_clock_ns,
                qlen,
            } => {
                if let Some(stale) = self.open.remove(&key) {
                    self.emit(stale, None)?;
                }
                let opened = Opened {
                    ts_ns: event.ts_ns,
                    start_clock_ns,
                    end_clock_ns,
                    late_ns: now_clock_ns - start_clock_ns,
                    qlen,
                };
                self.open.insert(
                    key,
                    OpenWindow {
                        window,
                        frame,
                        opened: Some(opened),
                        ifname: String::from_utf8_lossy(c_str(&event.ifname)).into_owned(),
                        netns: event.netns,
                        sent: Vec::new(),
                    },
                );
            }
            TdmaEvent::Dequeue {
                window,
                frame,
                waited_ns,
                left_ns,
                ..
            } => {
                let packet = self.packet(event)?;
                let sent = Sent {
                    ts_ns: event.ts_ns,
                    waited_ns,
                    left_ns,
                    packet,
                };
                let current = self
                    .open
                    .get(&key)
                    .is_some_and(|w| w.window == window && w.frame == frame);
                if !current {
                    if let Some(stale) = self.open.remove(&key) {
                        self.emit(stale, None)?;
                    }
                    self.open.insert(
                        key,
                        OpenWindow {
                            window,
                            frame,
                            opened: None,
                            ifname: String::from_utf8_lossy(c_str(&event.ifname)).into_owned(),
                            netns: event.netns,
                            sent: Vec::new(),
                        },
                    );
                }
                if let Some(win) = self.open.get_mut(&key) {
                    win.sent.push(sent);
                }
            }
            TdmaEvent::WindowClose {
                window,
                frame,
                packets,
                bytes,
                ..
            } => {
                let matches = self
                    .open
                    .get(&key)
                    .is_some_and(|w| w.window == window && w.frame == frame);
                if matches && let Some(win) = self.open.remove(&key) {
                    self.emit(win, Some((packets, bytes)))?;
                }
            }
            TdmaEvent::Drop { .. } | TdmaEvent::Change { .. } => self.emit_point(event, &tdma)?,
            TdmaEvent::Enqueue { .. } => {}
        }
        Ok(())
    }

    fn lost(&mut self, _cpu: u32, _total_lost_on_cpu: u64) -> io::Result<()> {
        Ok(())
    }

    /// Windows still open are printed as unfinished.
    fn finish(&mut self, _summary: &Summary) -> io::Result<()> {
        let mut rest: Vec<_> = self.open.drain().map(|(_, w)| w).collect();
        rest.sort_by_key(|w| w.opened.as_ref().map(|o| o.ts_ns));
        for win in rest {
            self.emit(win, None)?;
        }
        self.out.flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
