//! Drawing: the layout and the styles; one module per pane. Only what is
//! visible is formatted, so a frame costs the same for ten packets or a
//! million.

mod journey;
mod list;
mod overlay;
mod status;
mod tree;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, BorderType};

use super::app::App;

/// Lines of the journey pane, borders included.
const JOURNEY_HEIGHT: u16 = 10;
/// From this width on the list and the tree sit side by side: the list's
/// share then still holds a full IPv4 5-tuple and an outcome.
const SIDE_BY_SIDE_WIDTH: u16 = 180;

/// Draws the whole screen, and remembers the panes' sizes for paging.
pub fn draw(frame: &mut Frame, app: &mut App) {
    let area = frame.area();
    let journey_height = JOURNEY_HEIGHT.min(area.height.saturating_sub(8) / 2);
    let [main, journey_area, status_area] = Layout::vertical([
        Constraint::Min(4),
        Constraint::Length(journey_height),
        Constraint::Length(1),
    ])
    .areas(area);
    let [list_area, tree_area] = if main.width >= SIDE_BY_SIDE_WIDTH {
        Layout::horizontal([Constraint::Percentage(47), Constraint::Percentage(53)]).areas(main)
    } else {
        Layout::vertical([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(main)
    };
    let theme = Theme { color: app.color };
    list::draw(frame, list_area, app, theme);
    tree::draw(frame, tree_area, app, theme);
    journey::draw(frame, journey_area, app, theme);
    status::draw(frame, status_area, app, theme);
    if let Some(input) = &app.input {
        overlay::input_box(frame, main, input, theme);
    }
    if app.help {
        overlay::help(frame, area, theme);
    }
}

/// Styles, with colors only when allowed (`NO_COLOR`): otherwise bold,
/// reverse and underline carry the same meaning.
#[derive(Clone, Copy, Debug)]
pub struct Theme {
    color: bool,
}

impl Theme {
    fn pick(self, colored: Style, plain: Style) -> Style {
        if self.color { colored } else { plain }
    }

    fn block(self, title: String, focused: bool) -> Block<'static> {
        let border = if focused {
            self.pick(
                Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
                Style::new().add_modifier(Modifier::BOLD),
            )
        } else {
            Style::new()
        };
        let border_type = if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        };
        Block::bordered()
            .border_type(border_type)
            .border_style(border)
            .title(title)
    }

    fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    fn header(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    /// The slowest path of a tree.
    fn slowest(self) -> Style {
        self.pick(
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::BOLD),
        )
    }

    /// A search match.
    fn hit(self) -> Style {
        self.pick(
            Style::new().fg(Color::Black).bg(Color::Magenta),
            Style::new().add_modifier(Modifier::UNDERLINED),
        )
    }

    fn bad(self) -> Style {
        self.pick(
            Style::new().fg(Color::Red),
            Style::new().add_modifier(Modifier::BOLD),
        )
    }

    fn dim(self) -> Style {
        self.pick(Style::new().fg(Color::DarkGray), Style::new())
    }

    fn status(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
}

/// Keeps `row` within `offset..offset + height`, and the page full.
fn scroll(offset: usize, row: usize, height: usize, len: usize) -> usize {
    let height = height.max(1);
    let offset = if row < offset {
        row
    } else if row >= offset + height {
        row + 1 - height
    } else {
        offset
    };
    offset.min(len.saturating_sub(height))
}

/// `text` cut to `width` characters, `…` marking the cut.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Rows inside a bordered area.
fn inner_rows(area: Rect) -> usize {
    usize::from(area.height.saturating_sub(2))
}
