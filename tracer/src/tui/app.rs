//! The state of the screen and what each action does to it. Knows nothing
//! of terminals: the loop (`super::run`) feeds it messages and actions,
//! the views (`super::view`) draw it.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use formats::meta::TraceMeta;

use super::ingest::Ingest;
use super::keys::{Action, Mode};
use super::model::{Filter, Model, NodeKind, Packet};
use super::source::Msg;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    List,
    Tree,
    Journey,
}

/// Where the events come from, as the status bar tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Live,
    Record,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoxKind {
    Search,
    Filter,
}

/// An open text box.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputBox {
    pub kind: BoxKind,
    pub text: String,
    /// The filter compiler's complaint about the text last submitted.
    pub error: Option<String>,
}

/// The call tree of the selected packet: fold state and cursor.
#[derive(Clone, Debug, Default)]
pub struct TreeState {
    /// The packet these belong to.
    pub packet: Option<u64>,
    pub collapsed: Vec<bool>,
    /// Node index of the cursor.
    pub cursor: usize,
    /// First row shown.
    pub offset: usize,
}

impl TreeState {
    fn reset(&mut self, packet: &Packet) {
        self.packet = Some(packet.seq);
        self.collapsed = vec![false; packet.nodes.len()];
        self.cursor = 0;
        self.offset = 0;
    }
}

/// The last search: its text and the matching nodes of the current tree.
#[derive(Clone, Debug, Default)]
pub struct Search {
    pub text: String,
    pub matches: Vec<usize>,
    /// The tree the matches were found in.
    pub packet: Option<u64>,
}

/// Everything on screen.
pub struct App {
    pub model: Model,
    pub meta: TraceMeta,
    ingest: Option<Ingest>,
    pub origin: Origin,
    /// The source ended; `Some(Err)` carries why when it failed.
    pub ended: Option<std::result::Result<(), String>>,
    pub focus: Focus,
    /// Seq of the selected packet, and where it was last seen in the view.
    pub selected: Option<u64>,
    selected_at: usize,
    pub list_offset: usize,
    /// Select the newest packet as packets arrive.
    pub follow: bool,
    pub tree: TreeState,
    pub journey_offset: usize,
    pub search: Search,
    pub input: Option<InputBox>,
    pub help: bool,
    pub timestamps: bool,
    /// Colors allowed (`NO_COLOR` unset); without, only bold and reverse.
    pub color: bool,
    /// List the skbs that are no network packets too (`--all-skbs`).
    pub all_skbs: bool,
    pub quit: bool,
    /// Events per second over the last second (live).
    pub rate: u64,
    rate_mark: (Instant, u64),
    /// Rows of the panes at the last draw, for paging.
    pub page: PageSizes,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct PageSizes {
    pub list: usize,
    pub tree: usize,
    pub journey: usize,
}

impl App {
    pub fn new(model: Model, origin: Origin, color: bool) -> Self {
        App {
            model,
            meta: TraceMeta::default(),
            ingest: None,
            follow: origin == Origin::Live,
            origin,
            ended: None,
            focus: Focus::List,
            selected: None,
            selected_at: 0,
            list_offset: 0,
            tree: TreeState::default(),
            journey_offset: 0,
            search: Search::default(),
            input: None,
            help: false,
            timestamps: false,
            color,
            all_skbs: false,
            quit: false,
            rate: 0,
            rate_mark: (Instant::now(), 0),
            page: PageSizes {
                list: 10,
                tree: 10,
                journey: 4,
            },
        }
    }

    pub fn events(&self) -> u64 {
        self.ingest.as_ref().map_or(0, |ingest| ingest.events)
    }

    pub fn lost(&self) -> u64 {
        self.ingest.as_ref().map_or(0, |ingest| ingest.lost)
    }

    pub fn mode(&self) -> Mode {
        if self.input.is_some() {
            Mode::Editing
        } else {
            Mode::Normal
        }
    }

    /// Takes one message of the source.
    pub fn receive(&mut self, msg: Msg) -> Result<()> {
        match msg {
            Msg::Begin(meta) => {
                self.ingest = Some(Ingest::new(&meta, self.all_skbs));
                self.meta = *meta;
            }
            Msg::Events(events) => {
                if let Some(ingest) = &mut self.ingest {
                    for event in &events {
                        ingest
                            .event(event, &mut self.model)
                            .context("stitching events")?;
                    }
                }
            }
            Msg::Lost { cpu, total } => {
                if let Some(ingest) = &mut self.ingest {
                    ingest
                        .lost(cpu, total, &mut self.model)
                        .context("stitching events")?;
                }
            }
            Msg::Clock(now_ns) => {
                if let Some(ingest) = &mut self.ingest {
                    ingest
                        .clock(now_ns, &mut self.model)
                        .context("stitching events")?;
                }
            }
            Msg::End(result) => {
                if let Some(ingest) = &mut self.ingest {
                    ingest.finish(&mut self.model).context("stitching events")?;
                }
                self.ended = Some(result);
            }
        }
        Ok(())
    }

    /// Brings the list up to date after messages: eviction, sorting,
    /// following.
    pub fn after_new_packets(&mut self) {
        self.model.refresh();
        self.fix_selection();
    }

    /// Once a second: the event rate.
    pub fn tick(&mut self, now: Instant) {
        let (at, events) = self.rate_mark;
        let elapsed = now.duration_since(at);
        if elapsed >= Duration::from_secs(1) {
            let new = self.events().saturating_sub(events);
            self.rate = (new as f64 / elapsed.as_secs_f64()).round() as u64;
            self.rate_mark = (now, self.events());
        }
    }

    pub fn selected_packet(&self) -> Option<&Packet> {
        self.model.get(self.selected?)
    }

    /// Row of the selected packet in the list.
    pub fn selected_row(&self) -> Option<usize> {
        let seq = self.selected?;
        let view = self.model.view();
        (view.get(self.selected_at) == Some(&seq)).then_some(self.selected_at)
    }

    fn select_row(&mut self, row: usize) {
        let view = self.model.view();
        if view.is_empty() {
            self.selected = None;
            return;
        }
        let row = row.min(view.len() - 1);
        self.selected = Some(view[row]);
        self.selected_at = row;
        self.journey_offset = 0;
    }

    /// Keeps the selection on a packet of the view: the newest when
    /// following, the same one if still shown, else the nearest row.
    fn fix_selection(&mut self) {
        let len = self.model.view().len();
        if self.follow {
            self.select_row(len.saturating_sub(1));
        } else if self.selected_row().is_none() {
            let found = self
                .selected
                .and_then(|seq| self.model.view().iter().position(|&s| s == seq));
            self.select_row(found.unwrap_or(self.selected_at));
        }
        if let Some(seq) = self.selected
            && self.tree.packet != Some(seq)
            && let Some(packet) = self.model.get(seq)
        {
            self.tree.reset(packet);
        }
    }

    pub fn apply(&mut self, action: Action) {
        if let Some(input) = &mut self.input {
            match action {
                Action::Quit => self.quit = true,
                Action::Type(c) => input.text.push(c),
                Action::Backspace => {
                    input.text.pop();
                }
                Action::Cancel => self.input = None,
                Action::Submit => self.submit(),
                _ => {}
            }
            return;
        }
        match action {
            Action::Quit => self.quit = true,
            Action::ToggleHelp => self.help = !self.help,
            Action::Cancel => self.help = false,
            _ if self.help => {}
            Action::FocusNext => {
                self.focus = match self.focus {
                    Focus::List => Focus::Tree,
                    Focus::Tree => Focus::Journey,
                    Focus::Journey => Focus::List,
                }
            }
            Action::OpenSearch => {
                self.input = Some(InputBox {
                    kind: BoxKind::Search,
                    text: String::new(),
                    error: None,
                })
            }
            Action::OpenFilter => {
                self.input = Some(InputBox {
                    kind: BoxKind::Filter,
                    text: self.model.filter().text.clone(),
                    error: None,
                })
            }
            Action::NextMatch => self.jump_to_match(true),
            Action::PreviousMatch => self.jump_to_match(false),
            Action::CycleSort => {
                let (key, descending) = self.model.sort();
                self.model.set_sort(key.next(), descending);
                self.fix_selection();
            }
            Action::ReverseSort => {
                let (key, descending) = self.model.sort();
                self.model.set_sort(key, !descending);
                self.fix_selection();
            }
            Action::ToggleTimestamps => self.timestamps = !self.timestamps,
            Action::Follow => {
                self.follow = true;
                self.focus = Focus::List;
                self.fix_selection();
            }
            _ => match self.focus {
                Focus::List => self.list_action(action),
                // Looking into a packet: new ones must not replace it.
                Focus::Tree => {
                    self.follow = false;
                    self.tree_action(action);
                }
                Focus::Journey => {
                    self.follow = false;
                    self.journey_action(action);
                }
            },
        }
    }

    fn list_action(&mut self, action: Action) {
        let len = self.model.view().len();
        let row = self.selected_row().unwrap_or(0);
        let page = self.page.list.max(1);
        let target = match action {
            Action::Up => row.saturating_sub(1),
            Action::Down => row + 1,
            Action::PageUp => row.saturating_sub(page),
            Action::PageDown => row + page,
            Action::First => 0,
            Action::Last => {
                self.follow = true;
                self.fix_selection();
                return;
            }
            Action::Activate => {
                self.follow = false;
                self.focus = Focus::Tree;
                return;
            }
            _ => return,
        };
        self.follow = false;
        self.select_row(target.min(len.saturating_sub(1)));
        self.fix_selection();
    }

    fn tree_action(&mut self, action: Action) {
        let Some(packet) = self.selected.and_then(|seq| self.model.get(seq)) else {
            return;
        };
        let nodes = &packet.nodes;
        let rows = visible_rows(nodes, &self.tree.collapsed);
        if rows.is_empty() {
            return;
        }
        let at = rows
            .iter()
            .position(|&i| i == self.tree.cursor)
            .unwrap_or(0);
        let page = self.page.tree.max(1);
        let last = rows.len().saturating_sub(1);
        let cursor = self.tree.cursor;
        let has_children = |i: usize| nodes.get(i).is_some_and(|n| n.end as usize > i + 1);
        match action {
            Action::Up => self.tree.cursor = rows[at.saturating_sub(1)],
            Action::Down => self.tree.cursor = rows[(at + 1).min(last)],
            Action::PageUp => self.tree.cursor = rows[at.saturating_sub(page)],
            Action::PageDown => self.tree.cursor = rows[(at + page).min(last)],
            Action::First => self.tree.cursor = rows[0],
            Action::Last => self.tree.cursor = rows[last],
            Action::Activate | Action::Toggle if has_children(cursor) => {
                self.tree.collapsed[cursor] = !self.tree.collapsed[cursor];
            }
            Action::Expand if has_children(cursor) => self.tree.collapsed[cursor] = false,
            Action::Collapse if has_children(cursor) && !self.tree.collapsed[cursor] => {
                self.tree.collapsed[cursor] = true;
            }
            Action::Collapse => {
                if let Some(parent) = parent_of(nodes, cursor) {
                    self.tree.cursor = parent;
                }
            }
            _ => {}
        }
    }

    fn journey_action(&mut self, action: Action) {
        let page = self.page.journey.max(1);
        self.journey_offset = match action {
            Action::Up => self.journey_offset.saturating_sub(1),
            Action::Down => self.journey_offset + 1,
            Action::PageUp => self.journey_offset.saturating_sub(page),
            Action::PageDown => self.journey_offset + page,
            Action::First => 0,
            Action::Last => usize::MAX,
            _ => return,
        };
        // The view clamps it to the lines there are.
    }

    fn submit(&mut self) {
        let Some(input) = self.input.take() else {
            return;
        };
        match input.kind {
            BoxKind::Search => {
                self.search = Search {
                    text: input.text,
                    ..Search::default()
                };
                self.focus = Focus::Tree;
                self.tree.cursor = 0;
                self.jump_to_match(true);
            }
            BoxKind::Filter => match Filter::compile(&input.text) {
                Ok(filter) => {
                    self.model.set_filter(filter);
                    self.fix_selection();
                }
                // The old filter stays; the box stays open with the reason.
                Err(error) => {
                    self.input = Some(InputBox {
                        error: Some(error.to_string()),
                        ..input
                    })
                }
            },
        }
    }

    /// Nodes of the current tree whose function or tracepoint name holds
    /// the search text (case-insensitive).
    pub fn matches(&mut self) -> &[usize] {
        let seq = self.selected;
        if self.search.packet != seq {
            let needle = self.search.text.to_lowercase();
            self.search.matches = match self.selected_packet() {
                Some(packet) if !needle.is_empty() => packet
                    .nodes
                    .iter()
                    .enumerate()
                    .filter(|(_, node)| node.kind != NodeKind::Pass)
                    .filter(|(_, node)| {
                        self.meta
                            .probe(node.probe)
                            .is_some_and(|p| p.name.to_lowercase().contains(&needle))
                    })
                    .map(|(i, _)| i)
                    .collect(),
                _ => Vec::new(),
            };
            self.search.packet = seq;
        }
        &self.search.matches
    }

    /// Moves the tree cursor to the next (or previous) match, wrapping, and
    /// unfolds what hides it.
    fn jump_to_match(&mut self, forward: bool) {
        let cursor = self.tree.cursor;
        let matches = self.matches();
        let target = if forward {
            matches
                .iter()
                .find(|&&i| i > cursor)
                .or(matches.first())
                .copied()
        } else {
            matches
                .iter()
                .rev()
                .find(|&&i| i < cursor)
                .or(matches.last())
                .copied()
        };
        let (Some(target), Some(packet)) = (target, self.selected.and_then(|s| self.model.get(s)))
        else {
            return;
        };
        let mut node = target;
        while let Some(parent) = parent_of(&packet.nodes, node) {
            self.tree.collapsed[parent] = false;
            node = parent;
        }
        self.tree.cursor = target;
        self.focus = Focus::Tree;
    }
}

/// Node indices of the rows shown: every node not inside a folded one.
pub fn visible_rows(nodes: &[super::model::TreeNode], collapsed: &[bool]) -> Vec<usize> {
    let mut rows = Vec::with_capacity(nodes.len());
    let mut i = 0;
    while i < nodes.len() {
        rows.push(i);
        i = if collapsed.get(i).copied().unwrap_or(false) {
            (nodes[i].end as usize).max(i + 1)
        } else {
            i + 1
        };
    }
    rows
}

/// The node whose subtree directly holds `index`.
pub fn parent_of(nodes: &[super::model::TreeNode], index: usize) -> Option<usize> {
    let depth = nodes.get(index)?.depth;
    (0..index)
        .rev()
        .find(|&i| nodes[i].depth + 1 == depth && nodes[i].end as usize > index)
}
