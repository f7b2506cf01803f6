//! The journey pane: the selected packet's outcome and hops (with the
//! latency between them and the header rewrites seen there), then its
//! passes on one time axis, the waits between them, and sch_tdma's lane
//! (queue wait against the window the packet left in).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::list::outcome;
use super::tree::softirq_name;
use super::{Theme, fit, inner_rows};
use crate::tui::app::{App, Focus};
use crate::tui::fmt;
use crate::tui::model::{Packet, TdmaLane, Wait};
use formats::meta::TraceMeta;

/// Width of the text before the bars.
const LABEL: usize = 56;

pub fn draw(frame: &mut Frame, area: Rect, app: &mut App, theme: Theme) {
    let packet = app.selected.and_then(|seq| app.model.get(seq));
    let title = match packet {
        Some(p) => format!(
            " Journey  {} hop{}  {} pass{}  {}  {}{} ",
            p.hops.len(),
            if p.hops.len() == 1 { "" } else { "s" },
            p.passes.len(),
            if p.passes.len() == 1 { "" } else { "es" },
            fmt::duration(p.duration_ns),
            outcome(&app.meta, p.outcome),
            if p.continued { "  (continued)" } else { "" }
        ),
        None => " Journey ".to_owned(),
    };
    let block = theme.block(title, app.focus == Focus::Journey);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows = inner_rows(area);
    app.page.journey = rows;
    let Some(packet) = packet else {
        return;
    };
    let width = usize::from(inner.width);
    let mut lines = hop_lines(packet, &app.meta, theme);
    lines.extend(pass_lines(packet, width, theme));
    app.journey_offset = app.journey_offset.min(lines.len().saturating_sub(rows));
    let shown: Vec<Line> = lines
        .into_iter()
        .skip(app.journey_offset)
        .take(rows)
        .collect();
    frame.render_widget(Paragraph::new(shown), inner);
}

/// The time axis: every pass, and the TDMA wait when there is one.
struct Axis {
    start: u64,
    span: u64,
    width: usize,
}

impl Axis {
    fn of(packet: &Packet, width: usize) -> Axis {
        let mut start = packet.start_ns;
        let mut end = packet.start_ns + packet.duration_ns;
        if let Some(lane) = &packet.tdma {
            start = start.min(lane.enqueue_ns);
            end = end.max(lane.dequeue_ns);
        }
        Axis {
            start,
            span: end.saturating_sub(start).max(1),
            width: width.max(1),
        }
    }

    /// Column of time `ns`, clamped to the axis.
    fn column(&self, ns: u64) -> usize {
        let offset = u128::from(ns.saturating_sub(self.start).min(self.span));
        (offset * (self.width as u128 - 1) / u128::from(self.span)) as usize
    }

    /// A bar: `fill` from `from` to `to`.
    fn bar(&self, from: u64, to: u64, fill: char) -> Vec<char> {
        let mut cells = vec![' '; self.width];
        paint(&mut cells, self.column(from), self.column(to), fill);
        cells
    }
}

fn paint(cells: &mut [char], from: usize, to: usize, fill: char) {
    for cell in cells.iter_mut().take(to + 1).skip(from) {
        *cell = fill;
    }
}

/// The outcome in words, then each hop: `hop 2  veth1 ns:…  cpu 1  +35.0us
/// __netif_rx`, its header rewrites under it.
fn hop_lines(packet: &Packet, meta: &TraceMeta, theme: Theme) -> Vec<Line<'static>> {
    let mut lines = vec![Line::styled(packet.outcome_text.clone(), theme.header())];
    for (i, hop) in packet.hops.iter().enumerate() {
        let since = i
            .checked_sub(1)
            .map(|p| hop.ts_ns.saturating_sub(packet.hops[p].ts_ns))
            .map_or_else(String::new, |ns| format!("+{}", fmt::duration(ns)));
        lines.push(Line::raw(format!(
            "hop {:<2} {:<28} cpu {:<3} {:>9}  {}",
            i + 1,
            fit(&hop.place, 28),
            hop.cpu,
            since,
            fmt::probe_name(meta, hop.probe),
        )));
        for change in &hop.changes {
            lines.push(Line::styled(format!("       {change}"), theme.dim()));
        }
    }
    lines
}

fn pass_lines(packet: &Packet, width: usize, theme: Theme) -> Vec<Line<'static>> {
    let label = LABEL.min(width / 2);
    let axis = Axis::of(packet, width.saturating_sub(label + 1));
    let mut lines = Vec::new();
    // First: it must not scroll away behind many passes.
    if let Some(lane) = &packet.tdma {
        lines.push(tdma_line(lane, &axis, label, theme));
    }
    for (i, pass) in packet.passes.iter().enumerate() {
        if let Some((gap_ns, waiting)) = pass.gap_before {
            lines.push(Line::styled(
                format!("     … {}", gap_text(gap_ns, waiting)),
                theme.dim(),
            ));
        }
        let place = if pass.ifname[0] != 0 {
            format!("{} ns:{}", fmt::c_str(&pass.ifname), pass.netns)
        } else {
            fmt::c_str(&pass.comm)
        };
        let softirq = pass
            .softirq
            .map_or_else(String::new, |v| format!(" {}", softirq_name(v)));
        let text = format!(
            "{:>3} cpu {:<3} {:<24} +{:>7} {:>7}",
            i + 1,
            pass.cpu,
            fit(&format!("{place}{softirq}"), 24),
            fmt::duration(pass.start_ns.saturating_sub(axis.start)),
            fmt::duration(pass.end_ns.saturating_sub(pass.start_ns)),
        );
        let bar: String = axis
            .bar(pass.start_ns, pass.end_ns, '█')
            .into_iter()
            .collect();
        lines.push(Line::from(vec![
            Span::raw(format!("{:<label$}│", fit(&text, label))),
            Span::styled(bar, theme.slowest()),
        ]));
    }
    lines
}

/// `tdma window 1 waited 4.20ms`, the wait `░` from enqueue to dequeue `┃`
/// over the window `─` it left in (`◂` when it opened before the axis).
fn tdma_line(lane: &TdmaLane, axis: &Axis, label: usize, theme: Theme) -> Line<'static> {
    let mut cells = vec![' '; axis.width];
    let opened = lane.window_open_ns.unwrap_or(lane.dequeue_ns);
    paint(
        &mut cells,
        axis.column(opened),
        axis.column(lane.window_end_ns),
        '─',
    );
    paint(
        &mut cells,
        axis.column(lane.enqueue_ns),
        axis.column(lane.dequeue_ns),
        '░',
    );
    cells[axis.column(lane.dequeue_ns)] = '┃';
    if opened < axis.start {
        cells[0] = '◂';
    }
    if lane.window_end_ns > axis.start + axis.span {
        cells[axis.width - 1] = '▸';
    }
    let text = format!(
        "tdma window {} waited {}  window left {}",
        lane.window,
        fmt::duration(lane.waited_ns),
        fmt::signed_duration(lane.window_end_ns as i64 - lane.dequeue_ns as i64)
    );
    Line::from(vec![
        Span::raw(format!("{:<label$}│", fit(&text, label))),
        Span::styled(cells.into_iter().collect::<String>(), theme.header()),
    ])
}

fn gap_text(ns: i64, wait: Wait) -> String {
    if ns < 0 {
        return format!(
            "overlaps the previous pass by {}",
            fmt::duration(ns.unsigned_abs())
        );
    }
    let time = fmt::duration(ns as u64);
    match wait {
        Wait::Qdisc => format!("{time} in qdisc"),
        Wait::Tdma => format!("{time} in sch_tdma"),
        Wait::Softirq(vector) => format!("{time} until softirq {}", softirq_name(vector)),
        Wait::Unknown => format!("{time} later"),
    }
}
