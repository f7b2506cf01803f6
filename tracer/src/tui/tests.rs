//! Snapshots of every view and state on a `TestBackend`, with the styles
//! of each row (highlights are part of what is tested), and the model's
//! rules: sorting, filtering, eviction, outcomes, the slowest path.

use std::fmt::Write as _;
use std::path::Path;

use formats::abi::RawEvent;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier, Style};

use super::app::{App, Focus};
use super::keys::Action;
use super::model::{Filter, Model, NodeKind, Outcome, SortKey, slowest_path};
use super::testing::{self, DROP_NO_SOCKET, app_with, mixed};
use super::view;

const WIDTH: u16 = 140;
const HEIGHT: u16 = 40;

/// The screen as text, then one line per run of styled cells:
/// `row 3 [1..40) reversed`.
fn screen(app: &mut App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| view::draw(frame, app)).unwrap();
    render(terminal.backend().buffer())
}

fn render(buffer: &Buffer) -> String {
    let area = buffer.area;
    let mut text = String::new();
    let mut styles = String::new();
    for y in 0..area.height {
        let mut run: Option<(u16, Style)> = None;
        for x in 0..=area.width {
            let style = (x < area.width).then(|| buffer[(x, y)].style());
            if x < area.width {
                text.push_str(buffer[(x, y)].symbol());
            }
            let same = match (&run, style) {
                (Some((_, current)), Some(style)) => *current == style,
                _ => false,
            };
            if !same {
                if let Some((start, current)) = run.take()
                    && current != Style::default().fg(Color::Reset).bg(Color::Reset)
                    && current != Style::default()
                {
                    let _ = writeln!(styles, "row {y} [{start}..{x}) {}", describe(current));
                }
                run = style.map(|style| (x, style));
            }
        }
        text.push('\n');
    }
    format!("{text}\n{styles}")
}

fn describe(style: Style) -> String {
    let mut parts = Vec::new();
    if let Some(fg) = style.fg.filter(|&c| c != Color::Reset) {
        parts.push(format!("fg {fg}"));
    }
    if let Some(bg) = style.bg.filter(|&c| c != Color::Reset) {
        parts.push(format!("bg {bg}"));
    }
    for (modifier, name) in [
        (Modifier::BOLD, "bold"),
        (Modifier::REVERSED, "reversed"),
        (Modifier::UNDERLINED, "underlined"),
    ] {
        if style.add_modifier.contains(modifier) {
            parts.push(name.into());
        }
    }
    parts.join(" ")
}

fn mixed_app() -> App {
    app_with(mixed(), Model::new(1000), true)
}

/// Selects the packet whose outcome is `outcome` and focuses its tree.
fn open_packet(app: &mut App, outcome: Outcome) {
    app.apply(Action::First);
    for _ in 0..app.model.view().len() {
        if app.selected_packet().unwrap().outcome == outcome {
            app.apply(Action::Activate);
            return;
        }
        app.apply(Action::Down);
    }
    panic!("no packet with outcome {outcome:?}");
}

#[test]
fn list_with_several_packets() {
    let mut app = mixed_app();
    insta::assert_snapshot!(screen(&mut app, WIDTH, HEIGHT));
}

#[test]
fn wide_terminal_puts_list_and_tree_side_by_side() {
    let mut app = mixed_app();
    insta::assert_snapshot!(screen(&mut app, 200, 30));
}

#[test]
fn tree_expanded_with_slowest_path() {
    let mut app = mixed_app();
    open_packet(&mut app, Outcome::Dropped(DROP_NO_SOCKET as u32));
    assert_eq!(app.focus, Focus::Tree);
    insta::assert_snapshot!(screen(&mut app, WIDTH, HEIGHT));
}

#[test]
fn tree_collapsed() {
    let mut app = mixed_app();
    open_packet(&mut app, Outcome::Dropped(DROP_NO_SOCKET as u32));
    // Fold the first pass with Space, then the second pass's root with `h`.
    app.apply(Action::First);
    app.apply(Action::Toggle);
    app.apply(Action::Down);
    app.apply(Action::Down);
    app.apply(Action::Collapse);
    let text = screen(&mut app, WIDTH, HEIGHT);
    assert!(text.contains("▸ ── pass 1/2"), "{text}");
    assert!(text.contains("▸ → ip_rcv"), "{text}");
    insta::assert_snapshot!(text);
    // `h` on a folded node goes to its parent; `l` opens again.
    app.apply(Action::Collapse);
    assert_eq!(app.tree.cursor, 2, "the pass of ip_rcv");
    app.apply(Action::Down);
    app.apply(Action::Expand);
    assert!(screen(&mut app, WIDTH, HEIGHT).contains("▾ → ip_rcv"));
}

#[test]
fn timestamps_on() {
    let mut app = mixed_app();
    open_packet(&mut app, Outcome::Delivered);
    app.apply(Action::ToggleTimestamps);
    insta::assert_snapshot!(screen(&mut app, WIDTH, HEIGHT));
}

#[test]
fn search_highlights_and_jumps() {
    let mut app = mixed_app();
    open_packet(&mut app, Outcome::Dropped(DROP_NO_SOCKET as u32));
    app.apply(Action::OpenSearch);
    for c in "rcv".chars() {
        app.apply(Action::Type(c));
    }
    let typing = screen(&mut app, WIDTH, HEIGHT);
    assert!(typing.contains("/rcv"), "{typing}");
    app.apply(Action::Submit);
    let name = |app: &App| {
        let node = app.selected_packet().unwrap().nodes[app.tree.cursor];
        app.meta.probe(node.probe).unwrap().name.clone()
    };
    assert_eq!(name(&app), "ip_rcv");
    app.apply(Action::NextMatch);
    assert_eq!(name(&app), "ip_rcv_core");
    app.apply(Action::NextMatch);
    assert_eq!(name(&app), "tcp_v4_rcv");
    app.apply(Action::NextMatch);
    assert_eq!(name(&app), "ip_rcv", "wraps around");
    app.apply(Action::PreviousMatch);
    assert_eq!(name(&app), "tcp_v4_rcv");
    app.apply(Action::PreviousMatch);
    insta::assert_snapshot!(screen(&mut app, WIDTH, HEIGHT));
}

#[test]
fn filter_box_shows_the_compiler_error_and_keeps_the_filter() {
    let mut app = mixed_app();
    app.apply(Action::OpenFilter);
    for c in "udp".chars() {
        app.apply(Action::Type(c));
    }
    app.apply(Action::Submit);
    assert_eq!(app.model.view().len(), 2);
    assert!(app.input.is_none());
    app.apply(Action::OpenFilter);
    for c in " and port".chars() {
        app.apply(Action::Type(c));
    }
    app.apply(Action::Submit);
    let error = app.input.as_ref().and_then(|input| input.error.clone());
    assert!(error.is_some_and(|e| e.contains("bad filter")));
    assert_eq!(app.model.filter().text, "udp");
    assert_eq!(app.model.view().len(), 2);
    insta::assert_snapshot!(screen(&mut app, WIDTH, HEIGHT));
    app.apply(Action::Cancel);
    assert!(app.input.is_none());
    assert_eq!(app.model.filter().text, "udp");
}

#[test]
fn help_overlay() {
    let mut app = mixed_app();
    app.apply(Action::ToggleHelp);
    let text = screen(&mut app, WIDTH, HEIGHT);
    assert!(text.contains("Keys"));
    insta::assert_snapshot!(text);
    app.apply(Action::ToggleHelp);
    assert!(!screen(&mut app, WIDTH, HEIGHT).contains("Keys"));
}

#[test]
fn journey_pane_with_a_qdisc_gap() {
    let mut app = mixed_app();
    app.apply(Action::CycleSort);
    app.apply(Action::CycleSort);
    app.apply(Action::ReverseSort);
    // Longest first: the 1500-byte segment that waited in the qdisc.
    app.apply(Action::First);
    assert_eq!(app.selected_packet().unwrap().length(), 1500);
    app.apply(Action::FocusNext);
    app.apply(Action::FocusNext);
    assert_eq!(app.focus, Focus::Journey);
    let text = screen(&mut app, WIDTH, HEIGHT);
    assert!(text.contains("in qdisc"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn tdma_lane() {
    let mut app = app_with(testing::tdma_udp(0, 0x1000), Model::new(10), true);
    let packet = app.selected_packet().unwrap();
    let lane = packet.tdma.expect("a TDMA lane");
    assert_eq!(lane.window, 1);
    assert_eq!(lane.waited_ns, 3_008_000);
    assert!(lane.window_open_ns.is_some(), "the window opening was seen");
    let text = screen(&mut app, WIDTH, HEIGHT);
    assert!(text.contains("tdma window 1 waited 3.01ms"), "{text}");
    assert!(
        text.contains("tdma_dequeue  window 1 waited 3.01ms"),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn status_bar_with_drops_and_evictions() {
    let events: Vec<RawEvent> = (0..5)
        .flat_map(|i| testing::dropped_syn(i * 100, 0x1000 + i * 0x100))
        .chain(testing::delivered_udp(600, 0x9000))
        .collect();
    let mut app = app_with(events, Model::new(3), true);
    assert_eq!(app.model.packet_count(), 3);
    assert_eq!(app.model.evicted, 3);
    let text = screen(&mut app, WIDTH, HEIGHT);
    let status = text.lines().nth(usize::from(HEIGHT) - 1).unwrap();
    assert!(status.contains("drops: NO_SOCKET 5"), "{status}");
    assert!(status.contains("3 packets (3 oldest evicted)"), "{status}");
    insta::assert_snapshot!(text);
}

#[test]
fn no_color_uses_bold_and_reverse_only() {
    let mut app = app_with(mixed(), Model::new(1000), false);
    open_packet(&mut app, Outcome::Dropped(DROP_NO_SOCKET as u32));
    app.apply(Action::OpenSearch);
    app.apply(Action::Type('x'));
    app.apply(Action::Submit);
    let text = screen(&mut app, WIDTH, HEIGHT);
    assert!(!text.contains(" fg ") && !text.contains(" bg "), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn sort_keys_cycle_and_reverse() {
    let mut app = mixed_app();
    let lengths = |app: &App| -> Vec<u32> {
        app.model
            .view()
            .iter()
            .map(|&seq| app.model.get(seq).unwrap().length())
            .collect()
    };
    app.apply(Action::CycleSort);
    assert_eq!(app.model.sort(), (SortKey::Duration, false));
    app.apply(Action::CycleSort);
    assert_eq!(app.model.sort(), (SortKey::Length, false));
    let ascending = lengths(&app);
    assert!(ascending.is_sorted(), "{ascending:?}");
    app.apply(Action::ReverseSort);
    let mut descending = lengths(&app);
    descending.reverse();
    assert_eq!(descending, ascending);
    app.apply(Action::CycleSort);
    app.apply(Action::CycleSort);
    assert_eq!(app.model.sort(), (SortKey::Time, true));
}

#[test]
fn outcomes_are_classified() {
    let app = mixed_app();
    let outcomes: Vec<Outcome> = app
        .model
        .view()
        .iter()
        .map(|&seq| app.model.get(seq).unwrap().outcome)
        .collect();
    assert_eq!(
        outcomes,
        [
            Outcome::Dropped(DROP_NO_SOCKET as u32),
            Outcome::Delivered,
            Outcome::Sent,
            Outcome::Forwarded,
            Outcome::Sent,
        ]
    );
}

#[test]
fn filter_matches_the_packet_summary() {
    let mut app = mixed_app();
    let shown = |app: &mut App, text: &str| {
        app.model.set_filter(Filter::compile(text).unwrap());
        app.model.view().len()
    };
    assert_eq!(shown(&mut app, ""), 5);
    assert_eq!(shown(&mut app, "tcp"), 2);
    assert_eq!(shown(&mut app, "icmp or port 53"), 2);
    assert_eq!(shown(&mut app, "ifname eth0"), 3);
    assert_eq!(shown(&mut app, "tcp-syn"), 1);
    assert!(Filter::compile("port").is_err());
}

#[test]
fn eviction_keeps_the_newest_and_the_view_consistent() {
    let mut model = Model::new(2);
    let app = app_with(mixed(), Model::new(1000), true);
    let packets: Vec<_> = app
        .model
        .view()
        .iter()
        .map(|&seq| app.model.get(seq).unwrap().clone())
        .collect();
    model.set_filter(Filter::compile("udp").unwrap());
    for packet in packets {
        model.push(packet);
    }
    model.refresh();
    assert_eq!(model.packet_count(), 2);
    assert_eq!(model.evicted, 3);
    // Of the two kept (forwarded ICMP, TDMA UDP) one is UDP.
    assert_eq!(model.view(), [4]);
    assert!(model.get(2).is_none());
    assert_eq!(model.drops(), [(DROP_NO_SOCKET as u32, 1)]);
}

#[test]
fn following_selects_the_newest_until_moving() {
    let mut app = App::new(Model::new(100), super::app::Origin::Live, true);
    super::feed(
        &mut app,
        vec![
            super::source::Msg::Begin(Box::new(testing::meta())),
            super::source::Msg::Events(testing::dropped_syn(0, 0x1000)),
            // Dropped: listed once it waited in case a copy shows up.
            super::source::Msg::Clock(testing::MONO_START_NS + 1_000_000_000),
        ],
    );
    assert!(app.follow);
    assert_eq!(app.selected, Some(0));
    super::feed(
        &mut app,
        vec![super::source::Msg::Events(testing::delivered_udp(
            100, 0x2000,
        ))],
    );
    assert_eq!(app.selected, Some(1));
    app.apply(Action::Up);
    assert!(!app.follow);
    super::feed(
        &mut app,
        vec![
            super::source::Msg::Events(testing::queued_tcp(300, 0x3000)),
            // Sent, then freed: listed once it waited the linger time in
            // case a segment continued it, by the clock the source sends.
            super::source::Msg::Clock(testing::MONO_START_NS + 1_000_000_000),
        ],
    );
    assert_eq!(app.selected, Some(0));
    app.apply(Action::Follow);
    assert_eq!(app.selected, Some(2));
    // Opening the tree of the newest stops following: it stays on screen.
    app.apply(Action::Activate);
    super::feed(
        &mut app,
        vec![super::source::Msg::Events(testing::forwarded_icmp(
            500, 0x4000,
        ))],
    );
    assert_eq!(app.selected, Some(2));
}

#[test]
fn slowest_path_follows_the_longest_child() {
    let app = mixed_app();
    let packet = (0..5)
        .filter_map(|seq| app.model.get(seq))
        .find(|p| matches!(p.outcome, Outcome::Dropped(_)))
        .unwrap();
    let slow = slowest_path(&packet.nodes);
    let names: Vec<String> = packet
        .nodes
        .iter()
        .zip(&slow)
        .filter(|&(_, &slow)| slow)
        .map(|(node, _)| match node.kind {
            NodeKind::Pass => format!("pass {}", node.value + 1),
            _ => app.meta.probe(node.probe).unwrap().name.clone(),
        })
        .collect();
    // The call tree's pass over the lone netif_receive_skb, then the
    // longest call at each level.
    assert_eq!(
        names,
        ["pass 2", "ip_rcv", "ip_local_deliver", "tcp_v4_rcv"]
    );
}

#[test]
fn return_values_follow_the_btf_type() {
    let events = testing::typed_returns(0, 0xffff_8880_0400_0100);
    let mut app = app_with(events, Model::new(10), false);
    app.apply(Action::First);
    app.apply(Action::Activate);
    let text = screen(&mut app, WIDTH, HEIGHT);
    let row = |name: &str| {
        let line = text.lines().find(|line| line.contains(name)).unwrap();
        line.trim_matches(|c: char| c == '┃' || c.is_whitespace())
            .to_owned()
    };
    assert_eq!(row("ip_rcv_core"), "↔ ip_rcv_core  1.0us 12%  ret NULL");
    assert_eq!(
        row("sch_direct_xmit"),
        "↔ sch_direct_xmit  1.0us 12%  ret true"
    );
    assert_eq!(
        row("ip_protocol_deliver_rcu"),
        "↔ ip_protocol_deliver_rcu  1.0us 12%"
    );
    assert_eq!(row("→ ip_rcv"), "▾ → ip_rcv  8.0us 100%  ret -EINVAL");
}

#[test]
fn quit_keys() {
    let mut app = mixed_app();
    app.apply(Action::OpenFilter);
    app.apply(Action::Type('q'));
    assert!(!app.quit, "q types in a box");
    app.apply(Action::Cancel);
    app.apply(Action::Quit);
    assert!(app.quit);
}

/// The fixture recorded on the host by tests/data/record.sh (tracepoints
/// only: each pass is one event).
fn fixture(name: &str) -> Option<App> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(name);
    path.exists()
        .then(|| super::open_record(&path).expect("reading the fixture"))
}

#[test]
fn recorded_host_trace() {
    let Some(mut app) = fixture("host-tracepoints.pkt") else {
        panic!("tests/data/host-tracepoints.pkt is missing");
    };
    assert!(
        app.model.packet_count() > 5,
        "{} packets",
        app.model.packet_count()
    );
    insta::assert_snapshot!("recorded_host_list", screen(&mut app, WIDTH, HEIGHT));
    app.apply(Action::Activate);
    app.apply(Action::Last);
    insta::assert_snapshot!("recorded_host_tree", screen(&mut app, WIDTH, HEIGHT));
}

#[test]
fn recorded_fentry_call_trees() {
    let Some(mut app) = fixture("tcp-udp-fentry.pkt") else {
        panic!("tests/data/tcp-udp-fentry.pkt is missing");
    };
    insta::assert_snapshot!("recorded_fentry_list", screen(&mut app, 200, 50));
    // The first TCP packet that went through calls: its tree.
    app.apply(Action::First);
    for _ in 0..app.model.view().len() {
        let packet = app.selected_packet().unwrap();
        if packet.summary.pkt.l4_proto == formats::abi::IPPROTO_TCP
            && packet.nodes.iter().any(|n| n.kind == NodeKind::Call)
        {
            break;
        }
        app.apply(Action::Down);
    }
    app.apply(Action::Activate);
    insta::assert_snapshot!("recorded_fentry_tree", screen(&mut app, 200, 50));
}

#[test]
fn recorded_tdma_lane() {
    let Some(mut app) = fixture("tdma-fentry.pkt") else {
        panic!("tests/data/tdma-fentry.pkt is missing");
    };
    app.apply(Action::First);
    for _ in 0..app.model.view().len() {
        if app.selected_packet().unwrap().tdma.is_some() {
            break;
        }
        app.apply(Action::Down);
    }
    let lane = app
        .selected_packet()
        .unwrap()
        .tdma
        .expect("a packet with a TDMA lane");
    assert!(lane.dequeue_ns >= lane.enqueue_ns);
    app.apply(Action::FocusNext);
    app.apply(Action::FocusNext);
    insta::assert_snapshot!("recorded_tdma", screen(&mut app, 200, 50));
}
