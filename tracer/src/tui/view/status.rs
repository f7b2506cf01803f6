//! The status bar: events, losses, drops by reason, backend, packets.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Theme, fit};
use crate::tui::app::{App, Origin};
use crate::tui::fmt;

/// Drop reasons named in the bar.
const TOP_DROPS: usize = 3;

pub fn draw(frame: &mut Frame, area: Rect, app: &mut App, theme: Theme) {
    let mut parts = vec![match app.origin {
        Origin::Live => format!("live {} ev/s", app.rate),
        Origin::Record => format!("{} events", app.events()),
    }];
    parts.push(format!("{} lost", app.lost()));
    let drops = app.model.drops();
    if !drops.is_empty() {
        let top: Vec<String> = drops
            .iter()
            .take(TOP_DROPS)
            .map(|&(reason, count)| format!("{} {count}", fmt::drop_reason(&app.meta, reason)))
            .collect();
        parts.push(format!("drops: {}", top.join(", ")));
    }
    if !app.meta.backend.is_empty() {
        parts.push(format!("backend {}", fmt::printable(&app.meta.backend)));
    }
    let count = app.model.packet_count();
    let mut packets = format!("{count} packet{}", if count == 1 { "" } else { "s" });
    if app.model.evicted > 0 {
        packets += &format!(" ({} oldest evicted)", app.model.evicted);
    }
    parts.push(packets);
    if app.follow && app.origin == Origin::Live {
        parts.push("following".into());
    }
    match &app.ended {
        Some(Err(why)) => parts.push(fmt::printable(why)),
        Some(Ok(())) if app.origin == Origin::Live => parts.push("trace ended".into()),
        _ => {}
    }
    let help = " ? help ";
    let width = usize::from(area.width).saturating_sub(help.len());
    let text = format!(" {}", parts.join("  │  "));
    let line = Line::from(vec![
        Span::raw(format!("{:<width$}", fit(&text, width))),
        Span::styled(help, theme.header()),
    ]);
    frame.render_widget(Paragraph::new(line).style(theme.status()), area);
}
