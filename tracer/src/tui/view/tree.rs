//! The call-tree pane: the selected packet's passes and their calls, with
//! durations, share of the parent, the slowest path, returns and the
//! tracepoints in between.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Theme, inner_rows, scroll};
use crate::tui::app::{App, Focus, visible_rows};
use crate::tui::fmt;
use crate::tui::model::{NodeKind, Packet, TreeNode, slowest_path};
use formats::meta::{RetType, TraceMeta};
use formats::stitch::CutReason;

pub fn draw(frame: &mut Frame, area: Rect, app: &mut App, theme: Theme) {
    let focused = app.focus == Focus::Tree;
    let matches = app.matches().to_vec();
    let mut title = " Tree ".to_owned();
    if !app.search.text.is_empty() {
        let at = matches.iter().position(|&i| i == app.tree.cursor);
        title += &format!(
            " /{}  {}/{} ",
            app.search.text,
            at.map_or_else(|| "-".to_owned(), |at| (at + 1).to_string()),
            matches.len()
        );
    }
    let block = theme.block(title, focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows_shown = inner_rows(area);
    app.page.tree = rows_shown;
    let Some(packet) = app.selected.and_then(|seq| app.model.get(seq)) else {
        frame.render_widget(Paragraph::new("no packet selected"), inner);
        return;
    };
    let nodes = &packet.nodes;
    let rows = visible_rows(nodes, &app.tree.collapsed);
    let cursor_row = rows.iter().position(|&i| i == app.tree.cursor).unwrap_or(0);
    app.tree.offset = scroll(app.tree.offset, cursor_row, rows_shown, rows.len());
    let slow = slowest_path(nodes);
    let parents = parents(nodes);
    let context = Context {
        meta: &app.meta,
        packet,
        timestamps: app.timestamps,
    };
    let lines: Vec<Line> = rows
        .iter()
        .enumerate()
        .skip(app.tree.offset)
        .take(rows_shown)
        .map(|(row, &i)| {
            let name_style = if matches.binary_search(&i).is_ok() {
                theme.hit()
            } else if slow[i] {
                theme.slowest()
            } else {
                Style::new()
            };
            let parent = parents[i].map(|p| &nodes[p as usize]);
            let line = context.line(i, parent, app.tree.collapsed[i], name_style, theme);
            if focused && row == cursor_row {
                line.style(theme.selected())
            } else {
                line
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The parent of every node, in one pass.
fn parents(nodes: &[TreeNode]) -> Vec<Option<u32>> {
    let mut open: Vec<u32> = Vec::new();
    nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            while open
                .last()
                .is_some_and(|&p| nodes[p as usize].end as usize <= i)
            {
                open.pop();
            }
            let parent = open.last().copied();
            if node.end as usize > i + 1 {
                open.push(i as u32);
            }
            parent
        })
        .collect()
}

struct Context<'a> {
    meta: &'a TraceMeta,
    packet: &'a Packet,
    timestamps: bool,
}

impl Context<'_> {
    fn line(
        &self,
        i: usize,
        parent: Option<&TreeNode>,
        collapsed: bool,
        name_style: Style,
        theme: Theme,
    ) -> Line<'static> {
        let node = &self.packet.nodes[i];
        let mut spans = Vec::new();
        if self.timestamps {
            spans.push(Span::styled(self.stamps(node), theme.dim()));
        }
        let fold = if node.end as usize <= i + 1 {
            "  "
        } else if collapsed {
            "▸ "
        } else {
            "▾ "
        };
        spans.push(Span::raw(format!(
            "{}{fold}",
            "  ".repeat(usize::from(node.depth))
        )));
        let (symbol, name) = self.label(i);
        spans.push(Span::raw(symbol));
        spans.push(Span::styled(name, name_style));
        if let Some(ns) = node.duration_ns() {
            let mut timing = format!("  {}", fmt::duration(ns));
            if let Some(total) = parent.and_then(TreeNode::duration_ns).filter(|&t| t > 0) {
                timing += &format!(" {}%", (ns.saturating_mul(100) / total).min(100));
            }
            spans.push(Span::raw(timing));
        }
        let detail = self.detail(node);
        if !detail.is_empty() {
            let style = if detail.starts_with("drop") || detail.starts_with('(') {
                theme.bad()
            } else {
                Style::new()
            };
            spans.push(Span::raw("  "));
            spans.push(Span::styled(detail, style));
        }
        Line::from(spans)
    }

    /// `B 12:00:00.000000001 E 12:00:00.000000005 ` (E blank for points).
    fn stamps(&self, node: &TreeNode) -> String {
        let clock = &self.meta.clock;
        let begin = fmt::time_nano(clock, node.start_ns);
        let end = match node.kind {
            NodeKind::Point => String::new(),
            _ if node.exit_ns == 0 => "?".to_owned(),
            _ => fmt::time_nano(clock, node.exit_ns),
        };
        format!("B {begin} E {end:<18} ")
    }

    /// The symbol and name of a row: `→ ip_rcv`, `↔ tcp_v4_rcv`, `• kfree_skb`.
    fn label(&self, i: usize) -> (&'static str, String) {
        let nodes = &self.packet.nodes;
        let node = &nodes[i];
        let name = || {
            self.meta.probe(node.probe).map_or_else(
                || format!("probe#{}", node.probe),
                |p| fmt::printable(&p.name),
            )
        };
        match node.kind {
            NodeKind::Pass => ("── ", self.pass_label(node)),
            NodeKind::Point => ("• ", name()),
            NodeKind::OrphanExit => ("← ", name()),
            NodeKind::Call => {
                let subtree = &nodes[i + 1..(node.end as usize).max(i + 1)];
                let calls_inside = subtree.iter().any(|n| n.kind == NodeKind::Call);
                (if calls_inside { "→ " } else { "↔ " }, name())
            }
        }
    }

    /// `pass 2/3  cpu 1 curl/100  softirq NET_RX  veth1 ns:4026532281`.
    fn pass_label(&self, node: &TreeNode) -> String {
        let passes = &self.packet.passes;
        let Some(pass) = passes.get(node.value as usize) else {
            return "pass".into();
        };
        let mut text = format!(
            "pass {}/{}  cpu {} {}",
            node.value + 1,
            passes.len(),
            pass.cpu,
            fmt::c_str(&pass.comm)
        );
        if let Some(vector) = pass.softirq {
            text += &format!("  softirq {}", softirq_name(vector));
        }
        if pass.ifname[0] != 0 {
            text += &format!("  {} ns:{}", fmt::c_str(&pass.ifname), pass.netns);
        }
        text
    }

    /// Return value, point value, or what is missing.
    fn detail(&self, node: &TreeNode) -> String {
        match node.kind {
            NodeKind::Pass => {
                let pass = self.packet.passes.get(node.value as usize);
                match pass.and_then(|p| p.cut) {
                    Some(reason) => format!("(cut: {})", cut_text(reason)),
                    None => String::new(),
                }
            }
            NodeKind::Call if node.exit_ns == 0 => "(no exit seen)".into(),
            NodeKind::Call => self.returned(node),
            NodeKind::OrphanExit => {
                let ty = self
                    .meta
                    .probe(node.probe)
                    .map_or(RetType::Unknown, |probe| probe.ret);
                match fmt::ret(ty, node.value) {
                    ret if ret.is_empty() => "(no entry seen)".into(),
                    ret => format!("{ret}  (no entry seen)"),
                }
            }
            NodeKind::Point => node
                .point
                .and_then(|p| self.packet.points.get(p as usize))
                .map(|data| fmt::point_value(self.meta, &data.event(node.probe)))
                .unwrap_or_default(),
        }
    }

    /// `ret N` for probes whose exits carry the return value.
    fn returned(&self, node: &TreeNode) -> String {
        match self.meta.probe(node.probe) {
            Some(probe) if probe.value.has_return() => fmt::ret(probe.ret, node.value),
            _ => String::new(),
        }
    }
}

pub fn softirq_name(vector: u8) -> String {
    match vector {
        2 => "NET_TX".into(),
        3 => "NET_RX".into(),
        other => other.to_string(),
    }
}

fn cut_text(reason: CutReason) -> &'static str {
    match reason {
        CutReason::SoftirqExit => "softirq ended first",
        CutReason::EventsLost => "events lost",
        CutReason::DepthLimit => "depth limit",
        CutReason::TaskLimit => "task limit",
        CutReason::Migrated => "task migrated",
        CutReason::TraceEnd => "trace ended",
    }
}
