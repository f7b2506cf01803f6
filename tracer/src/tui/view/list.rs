//! The packet list: one row per journey, only the visible rows formatted.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Theme, fit, inner_rows, scroll};
use crate::tui::app::{App, Focus};
use crate::tui::fmt;
use crate::tui::model::{Outcome, Packet, SortKey};
use formats::meta::TraceMeta;

/// Widths of the fixed columns: time, flags, length, duration; the packet
/// and the outcome share the rest.
const TIME: usize = 15;
const FLAGS: usize = 5;
const LENGTH: usize = 5;
const DURATION: usize = 6;
/// The packet column fits the longest visible one within these bounds;
/// the outcome gets the rest, at least `OUTCOME_MIN`.
const TUPLE_MIN: usize = 20;
const TUPLE_MAX: usize = 48;
const OUTCOME_MIN: usize = 12;

pub fn draw(frame: &mut Frame, area: Rect, app: &mut App, theme: Theme) {
    let shown = app.model.view().len();
    let mut title = format!(" Packets {shown}");
    if shown != app.model.packet_count() {
        title += &format!("/{}", app.model.packet_count());
    }
    if !app.model.filter().text.is_empty() {
        title += &format!("  filter: {}", app.model.filter().text);
    }
    title.push(' ');
    let block = theme.block(title, app.focus == Focus::List);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows = inner_rows(area).saturating_sub(1);
    app.page.list = rows;
    let width = usize::from(inner.width);
    let selected = app.selected_row();
    app.list_offset = scroll(app.list_offset, selected.unwrap_or(0), rows, shown);
    let visible: Vec<(usize, &Packet, String)> = app
        .model
        .view()
        .iter()
        .enumerate()
        .skip(app.list_offset)
        .take(rows)
        .filter_map(|(row, &seq)| {
            let packet = app.model.get(seq)?;
            let tuple =
                fmt::five_tuple(&packet.summary.pkt).unwrap_or_else(|| "(no IP header)".to_owned());
            Some((row, packet, tuple))
        })
        .collect();
    let rest = width.saturating_sub(TIME + FLAGS + LENGTH + DURATION + 5);
    let longest = visible.iter().map(|(_, _, t)| t.chars().count()).max();
    let tuple = longest
        .unwrap_or(0)
        .clamp(TUPLE_MIN, TUPLE_MAX)
        .min(rest.saturating_sub(OUTCOME_MIN));

    let mut lines = vec![Line::styled(header(app, tuple), theme.header())];
    for (row, packet, packet_text) in visible {
        let text = fit(&row_text(&app.meta, packet, &packet_text, tuple), width);
        let mut line = match packet.outcome {
            Outcome::Dropped(_) => Line::from(Span::styled(text, theme.bad())),
            _ => Line::raw(text),
        };
        if Some(row) == selected {
            line = line.style(theme.selected());
        }
        lines.push(line);
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

fn header(app: &App, tuple: usize) -> String {
    let (key, descending) = app.model.sort();
    let mark = |name: &str, column: SortKey| {
        if column == key {
            format!("{name}{}", if descending { "▼" } else { "▲" })
        } else {
            name.to_owned()
        }
    };
    format!(
        "{:<TIME$} {:<tuple$} {:<FLAGS$} {:>LENGTH$} {:>DURATION$} {}",
        mark("time", SortKey::Time),
        "packet",
        "flags",
        mark("len", SortKey::Length),
        mark("dur", SortKey::Duration),
        mark("outcome", SortKey::Outcome),
    )
}

fn row_text(meta: &TraceMeta, packet: &Packet, packet_text: &str, tuple: usize) -> String {
    let pkt = &packet.summary.pkt;
    format!(
        "{:<TIME$} {:<tuple$} {:<FLAGS$} {:>LENGTH$} {:>DURATION$} {}",
        fmt::time_micro(&meta.clock, packet.start_ns),
        fit(packet_text, tuple),
        fmt::tcp_flags(pkt),
        packet.length(),
        fmt::duration(packet.duration_ns),
        outcome(meta, packet.outcome),
    )
}

pub fn outcome(meta: &TraceMeta, outcome: Outcome) -> String {
    match outcome {
        Outcome::Dropped(reason) => format!("dropped {}", fmt::drop_reason(meta, reason)),
        Outcome::Forwarded => "forwarded".into(),
        Outcome::Delivered => "delivered".into(),
        Outcome::Sent => "sent".into(),
        Outcome::Queued => "queued".into(),
        Outcome::Unknown => "—".into(),
    }
}
