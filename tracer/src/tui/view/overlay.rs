//! What opens over the panes: the help and the search and filter boxes.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::Theme;
use crate::tui::app::{BoxKind, InputBox};
use crate::tui::keys::HELP;

/// Width of the key column of the help.
const KEY_COLUMN: usize = 15;

pub fn help(frame: &mut Frame, area: Rect, theme: Theme) {
    let width = (HELP
        .iter()
        .map(|(_, what)| what.chars().count())
        .max()
        .unwrap_or(0)
        + KEY_COLUMN
        + 4) as u16;
    let height = HELP.len() as u16 + 2;
    let area = centered(area, width, height);
    let lines: Vec<Line> = HELP
        .iter()
        .map(|(keys, what)| Line::raw(format!(" {keys:<KEY_COLUMN$} {what}")))
        .collect();
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(" Keys ")
                .title_style(theme.header())
                .border_style(theme.header()),
        ),
        area,
    );
}

/// The search box (`/text`) or the filter box, with the compiler's error
/// under the text, at the bottom of `area`.
pub fn input_box(frame: &mut Frame, area: Rect, input: &InputBox, theme: Theme) {
    let (title, prefix) = match input.kind {
        BoxKind::Search => (" Search function names (Enter: go, Esc: cancel) ", "/"),
        BoxKind::Filter => (
            " Filter packets, pcap-style (Enter: apply, Esc: cancel) ",
            "",
        ),
    };
    let width = area.width.saturating_sub(4).max(10);
    let error_rows = input.error.as_ref().map_or(0, |e| {
        (e.chars().count() as u16).div_ceil(width.saturating_sub(2).max(1))
    });
    let height = (3 + error_rows).min(area.height);
    let box_area = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + area.height.saturating_sub(height),
        width,
        height,
    };
    let text = format!("{prefix}{}", input.text);
    let mut lines = vec![Line::raw(text.clone())];
    if let Some(error) = &input.error {
        lines.push(Line::styled(error.clone(), theme.bad()));
    }
    frame.render_widget(Clear, box_area);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(title).border_style(theme.header())),
        box_area,
    );
    frame.set_cursor_position((
        box_area.x + 1 + (text.chars().count() as u16).min(width.saturating_sub(3)),
        box_area.y + 1,
    ));
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(ratatui::layout::Flex::Center)
        .areas(area);
    let [cell] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(ratatui::layout::Flex::Center)
        .areas(row);
    cell
}
