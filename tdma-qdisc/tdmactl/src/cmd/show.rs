//! `show` and `stats`: qdiscs and counters, as text like tc or as JSON.

use std::io::Write;

use anyhow::{Context, Result, anyhow};
use serde_json::{Value, json};
use tdmactl::netlink::{QdiscInfo, Qdiscs, TC_H_ROOT, ifindex, ifname};
use tdmactl::schedule::Clock;
use tdmactl::uapi::TcTdmaXstats;

use super::keywords::format_handle;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub fn show(dev: Option<&str>, format: Format, out: &mut impl Write) -> Result<()> {
    let index = dev.map(ifindex).transpose()?;
    let qdiscs = Qdiscs::open()?.list(index).context("listing qdiscs")?;
    match format {
        Format::Text => {
            for q in &qdiscs {
                writeln!(out, "{}", show_line(q))?;
            }
        }
        Format::Json => {
            let all: Vec<Value> = qdiscs.iter().map(show_json).collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&all)?)?;
        }
    }
    Ok(())
}

pub fn stats(dev: &str, format: Format, out: &mut impl Write) -> Result<()> {
    let q = tdma_qdisc(&mut Qdiscs::open()?, dev)?;
    match format {
        Format::Text => write!(out, "{}", stats_text(&q))?,
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&stats_json(&q))?)?,
    }
    Ok(())
}

/// The tdma qdisc on `dev`, or an error saying there is none.
pub fn tdma_qdisc(qdiscs: &mut Qdiscs, dev: &str) -> Result<QdiscInfo> {
    let index = ifindex(dev)?;
    qdiscs
        .get(index)
        .with_context(|| format!("reading the qdiscs of {dev}"))?
        .ok_or_else(|| anyhow!("no tdma qdisc on {dev}"))
}

/// `qdisc KIND HANDLE dev IF root|parent P`, like tc's first line.
fn head(q: &QdiscInfo) -> String {
    let dev = ifname(q.ifindex).unwrap_or_else(|| format!("if{}", q.ifindex));
    let place = match q.parent {
        TC_H_ROOT => "root".to_owned(),
        p => format!("parent {}", format_handle(p)),
    };
    format!(
        "qdisc {} {} dev {dev} {place}",
        q.kind,
        format_handle(q.handle)
    )
}

fn show_line(q: &QdiscInfo) -> String {
    let mut line = head(q);
    if let Some(tdma) = &q.tdma {
        line += &format!(" {}", tdma.schedule);
        if let Some(at) = tdma.change_at {
            // The module keeps reporting the activation time after it passed.
            let state = if pending(tdma.schedule.clock, at) {
                "pending"
            } else {
                "active"
            };
            line += &format!(" change-at {at} ({state})");
        }
    }
    line
}

/// Whether clock time `at` is still ahead on `clock`.
fn pending(clock: Clock, at: u64) -> bool {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write; the clockid is one of four
    // the kernel knows.
    if unsafe { libc::clock_gettime(clock.clockid(), &mut now) } != 0 {
        return false;
    }
    let now_ns = now.tv_sec as i128 * 1_000_000_000 + now.tv_nsec as i128;
    i128::from(at) > now_ns
}

fn show_json(q: &QdiscInfo) -> Value {
    let mut v = json!({
        "dev": ifname(q.ifindex),
        "ifindex": q.ifindex,
        "kind": q.kind,
        "handle": format_handle(q.handle),
        "parent": if q.parent == TC_H_ROOT { "root".to_owned() } else { format_handle(q.parent) },
    });
    if let Some(tdma) = &q.tdma {
        v["schedule"] = json!(tdma.schedule);
        v["change_at"] = json!(tdma.change_at);
        v["change_pending"] = json!(
            tdma.change_at
                .is_some_and(|at| pending(tdma.schedule.clock, at))
        );
    }
    v
}

fn stats_text(q: &QdiscInfo) -> String {
    let s = &q.stats;
    let mut text = format!(
        "{}\n sent {} bytes {} pkt (dropped {}, overlimits {} requeues {})\n backlog {}b {}p\n",
        head(q),
        s.bytes,
        s.packets,
        s.drops,
        s.overlimits,
        s.requeues,
        s.backlog,
        s.qlen
    );
    if let Some(x) = &q.xstats {
        text += &format!(
            " frames {} windows-opened {} deferred {} late {} overrun {} changes {}\n dropped limit {} too-big {}\n",
            x.frames,
            x.windows_opened,
            x.deferred,
            x.late,
            x.overrun,
            x.changes,
            x.dropped_limit,
            x.dropped_too_big
        );
        for (i, (w, label)) in x.windows().iter().zip(window_labels(q, x)).enumerate() {
            text += &format!(" window {i} {label}: {} pkt {} bytes\n", w.packets, w.bytes);
        }
    }
    text
}

/// `offset+length` of each counted window, when the schedule has it (a
/// pending change can make the running schedule differ from the dumped one).
pub fn window_labels(q: &QdiscInfo, x: &TcTdmaXstats) -> Vec<String> {
    let windows = q
        .tdma
        .as_ref()
        .map(|t| t.schedule.windows.as_slice())
        .unwrap_or_default();
    (0..x.windows().len())
        .map(|i| {
            windows
                .get(i)
                .map_or_else(|| "?".to_owned(), |w| w.to_string())
        })
        .collect()
}

fn stats_json(q: &QdiscInfo) -> Value {
    let mut v = json!({
        "dev": ifname(q.ifindex),
        "kind": q.kind,
        "handle": format_handle(q.handle),
        "stats": q.stats,
    });
    if let Some(x) = &q.xstats {
        let windows = q
            .tdma
            .as_ref()
            .map(|t| t.schedule.windows.clone())
            .unwrap_or_default();
        let per_window: Vec<Value> = x
            .windows()
            .iter()
            .enumerate()
            .map(|(i, w)| {
                json!({
                    "offset_ns": windows.get(i).map(|w| w.offset_ns),
                    "length_ns": windows.get(i).map(|w| w.length_ns),
                    "packets": w.packets,
                    "bytes": w.bytes,
                })
            })
            .collect();
        v["xstats"] = json!({
            "frames": x.frames,
            "windows_opened": x.windows_opened,
            "deferred": x.deferred,
            "dropped_limit": x.dropped_limit,
            "dropped_too_big": x.dropped_too_big,
            "late": x.late,
            "overrun": x.overrun,
            "changes": x.changes,
            "windows": per_window,
        });
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use tdmactl::netlink::{QdiscStats, TdmaConfig};
    use tdmactl::schedule::{Schedule, Window};
    use tdmactl::uapi::TcTdmaWindowStats;

    fn tdma() -> QdiscInfo {
        let mut x = TcTdmaXstats {
            frames: 5,
            nr_windows: 1,
            ..Default::default()
        };
        x.window[0] = TcTdmaWindowStats {
            packets: 2,
            bytes: 3000,
        };
        QdiscInfo {
            ifindex: 1, // lo
            handle: 0x8001_0000,
            parent: TC_H_ROOT,
            kind: "tdma".into(),
            tdma: Some(TdmaConfig {
                schedule: Schedule::new(
                    10_000_000,
                    vec![Window {
                        offset_ns: 0,
                        length_ns: 3_000_000,
                    }],
                ),
                change_at: Some(77),
            }),
            stats: QdiscStats {
                bytes: 3000,
                packets: 2,
                qlen: 1,
                backlog: 1500,
                ..Default::default()
            },
            xstats: Some(x),
        }
    }

    #[test]
    fn pending_compares_with_the_clock() {
        assert!(!pending(Clock::Tai, 77));
        assert!(pending(Clock::Monotonic, u64::MAX));
    }

    #[test]
    fn show_text() {
        assert_eq!(
            show_line(&tdma()),
            "qdisc tdma 8001: dev lo root frame 10ms base-time 0 clock tai guard 0 limit 1000 window 0+3ms change-at 77 (active)"
        );
    }

    #[test]
    fn stats_output() {
        assert_eq!(
            stats_text(&tdma()),
            "qdisc tdma 8001: dev lo root\n sent 3000 bytes 2 pkt (dropped 0, overlimits 0 requeues 0)\n backlog 1500b 1p\n frames 5 windows-opened 0 deferred 0 late 0 overrun 0 changes 0\n dropped limit 0 too-big 0\n window 0 0+3ms: 2 pkt 3000 bytes\n"
        );
        let v = stats_json(&tdma());
        assert_eq!(v["xstats"]["windows"][0]["bytes"], 3000);
        assert_eq!(v["xstats"]["windows"][0]["length_ns"], 3_000_000);
        assert_eq!(v["stats"]["qlen"], 1);
        assert_eq!(
            show_json(&tdma())["schedule"]["windows"][0]["length_ns"],
            3_000_000
        );
        assert_eq!(show_json(&tdma())["schedule"]["clock"], "tai");
    }
}
