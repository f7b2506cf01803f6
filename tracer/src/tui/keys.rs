//! Keys → actions. The app never looks at a key itself: this table is the
//! whole keymap, and the help overlay lists it from [`HELP`].

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Quit,
    ToggleHelp,
    FocusNext,
    Up,
    Down,
    PageUp,
    PageDown,
    First,
    Last,
    /// Enter: in the list, focus the tree; in the tree, toggle the node.
    Activate,
    Toggle,
    Expand,
    Collapse,
    OpenSearch,
    OpenFilter,
    NextMatch,
    PreviousMatch,
    CycleSort,
    ReverseSort,
    ToggleTimestamps,
    Follow,
    /// In a text box.
    Type(char),
    Backspace,
    Submit,
    Cancel,
}

/// Whether keys go to a text box (search, filter) or move around.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Editing,
}

/// The actions of a key press: usually one, none for keys without a
/// meaning, two for Esc typed quickly before a key in a text box (the
/// terminal reports that as Alt+key): close the box, then the key.
pub fn actions(key: KeyEvent, mode: Mode) -> impl Iterator<Item = Action> {
    let (first, second) = match mode {
        Mode::Editing
            if key.modifiers.contains(KeyModifiers::ALT)
                && matches!(key.code, KeyCode::Char(_)) =>
        {
            (Some(Action::Cancel), action(key, Mode::Normal))
        }
        _ => (action(key, mode), None),
    };
    first.into_iter().chain(second)
}

/// The action of a key press, if any.
fn action(key: KeyEvent, mode: Mode) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    if mode == Mode::Editing {
        return match key.code {
            KeyCode::Enter => Some(Action::Submit),
            KeyCode::Esc => Some(Action::Cancel),
            KeyCode::Backspace => Some(Action::Backspace),
            KeyCode::Char(c) if !ctrl => Some(Action::Type(c)),
            _ => None,
        };
    }
    Some(match key.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Char('?') => Action::ToggleHelp,
        KeyCode::Esc => Action::Cancel,
        KeyCode::Tab => Action::FocusNext,
        KeyCode::Char('k') | KeyCode::Up => Action::Up,
        KeyCode::Char('j') | KeyCode::Down => Action::Down,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Char('g') | KeyCode::Home => Action::First,
        KeyCode::Char('G') | KeyCode::End => Action::Last,
        KeyCode::Enter => Action::Activate,
        KeyCode::Char(' ') => Action::Toggle,
        KeyCode::Char('l') | KeyCode::Right => Action::Expand,
        KeyCode::Char('h') | KeyCode::Left => Action::Collapse,
        KeyCode::Char('/') => Action::OpenSearch,
        KeyCode::Char('f') => Action::OpenFilter,
        KeyCode::Char('n') => Action::NextMatch,
        KeyCode::Char('N') => Action::PreviousMatch,
        KeyCode::Char('s') => Action::CycleSort,
        KeyCode::Char('S') => Action::ReverseSort,
        KeyCode::Char('t') => Action::ToggleTimestamps,
        KeyCode::Char('F') => Action::Follow,
        _ => return None,
    })
}

/// The help overlay: keys and what they do.
pub const HELP: &[(&str, &str)] = &[
    ("q  Ctrl-C", "quit"),
    ("?", "this help"),
    ("Tab", "focus: list → tree → journey"),
    ("j k  ↓ ↑", "move"),
    ("PgDn PgUp", "move a page"),
    ("g G  Home End", "first / last (last in the list follows)"),
    ("Enter", "list: open the packet's tree; tree: fold"),
    ("Space", "fold / unfold the node"),
    ("l h  → ←", "unfold / fold (← on a leaf: go to parent)"),
    ("/", "search function names; n N next / previous"),
    ("f", "filter packets (pcap-style, as on the command line)"),
    ("s S", "sort by time, duration, length, outcome / reverse"),
    ("t", "B/E timestamps in the tree"),
    ("F", "follow new packets"),
    ("Esc", "close a box or this help"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn letters_move_in_normal_mode_and_type_in_boxes() {
        assert_eq!(
            action(key(KeyCode::Char('j')), Mode::Normal),
            Some(Action::Down)
        );
        assert_eq!(
            action(key(KeyCode::Char('j')), Mode::Editing),
            Some(Action::Type('j'))
        );
        assert_eq!(
            action(key(KeyCode::Char('q')), Mode::Normal),
            Some(Action::Quit)
        );
        assert_eq!(
            action(key(KeyCode::Char('q')), Mode::Editing),
            Some(Action::Type('q'))
        );
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(action(ctrl_c, Mode::Editing), Some(Action::Quit));
        assert_eq!(action(key(KeyCode::End), Mode::Normal), Some(Action::Last));
    }

    #[test]
    fn escape_then_a_key_in_a_box_closes_it_and_acts() {
        let alt_q = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::ALT);
        let got: Vec<Action> = actions(alt_q, Mode::Editing).collect();
        assert_eq!(got, [Action::Cancel, Action::Quit]);
        let got: Vec<Action> = actions(key(KeyCode::Char('q')), Mode::Editing).collect();
        assert_eq!(got, [Action::Type('q')]);
    }
}
