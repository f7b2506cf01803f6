//! `watch`: polls a tdma qdisc's counters and shows throughput per window
//! and queue length over time: a ratatui graph on a terminal, one line of
//! figures per interval otherwise (pipes, scripts, tests).

use std::collections::VecDeque;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph};
use ratatui::{DefaultTerminal, Frame};
use tdmactl::netlink::{Qdiscs, ifindex};
use tdmactl::units::format_rate;

use super::show::{tdma_qdisc, window_labels};

/// One poll of the counters.
struct Sample {
    at: Instant,
    bytes: u64,
    drops: u32,
    qlen: u32,
    backlog: u32,
    window_bytes: Vec<u64>,
}

/// What happened between two samples.
#[derive(Debug, PartialEq)]
struct Rates {
    /// Seconds since the first sample.
    t: f64,
    bytes_per_sec: f64,
    drops: u64,
    qlen: u32,
    backlog: u32,
    window_bytes_per_sec: Vec<f64>,
}

impl Rates {
    fn between(first: Instant, a: &Sample, b: &Sample) -> Rates {
        let secs = b.at.duration_since(a.at).as_secs_f64().max(1e-9);
        // Counters restart from 0 when the qdisc is replaced: no negative rates.
        let rate = |x: u64, y: u64| y.saturating_sub(x) as f64 / secs;
        Rates {
            t: b.at.duration_since(first).as_secs_f64(),
            bytes_per_sec: rate(a.bytes, b.bytes),
            drops: u64::from(b.drops.saturating_sub(a.drops)),
            qlen: b.qlen,
            backlog: b.backlog,
            window_bytes_per_sec: b
                .window_bytes
                .iter()
                .enumerate()
                .map(|(i, &y)| rate(a.window_bytes.get(i).copied().unwrap_or(0), y))
                .collect(),
        }
    }

    /// The plain-mode line: `key=value` pairs, rates in bytes/s.
    fn line(&self) -> String {
        let mut line = format!(
            "t={:.3} tx_Bps={:.0} qlen={} backlog={} drops={}",
            self.t, self.bytes_per_sec, self.qlen, self.backlog, self.drops
        );
        for (i, r) in self.window_bytes_per_sec.iter().enumerate() {
            line += &format!(" w{i}_Bps={r:.0}");
        }
        line
    }
}

struct Sampler {
    qdiscs: Qdiscs,
    dev: String,
    labels: Vec<String>,
}

impl Sampler {
    fn sample(&mut self) -> Result<Sample> {
        let q = tdma_qdisc(&mut self.qdiscs, &self.dev)?;
        let at = Instant::now();
        let window_bytes = q
            .xstats
            .as_ref()
            .map(|x| x.windows().iter().map(|w| w.bytes).collect())
            .unwrap_or_default();
        self.labels = q
            .xstats
            .as_ref()
            .map(|x| window_labels(&q, x))
            .unwrap_or_default();
        Ok(Sample {
            at,
            bytes: q.stats.bytes,
            drops: q.stats.drops,
            qlen: q.stats.qlen,
            backlog: q.stats.backlog,
            window_bytes,
        })
    }
}

pub struct WatchArgs {
    pub dev: String,
    pub interval: Duration,
    pub count: Option<u64>,
    pub plain: bool,
}

pub fn run(args: WatchArgs) -> Result<()> {
    ifindex(&args.dev)?;
    let mut sampler = Sampler {
        qdiscs: Qdiscs::open()?,
        dev: args.dev.clone(),
        labels: Vec::new(),
    };
    let first = sampler.sample()?;
    if args.plain {
        plain(&mut sampler, first, &args, &mut std::io::stdout().lock())
    } else {
        let mut terminal = ratatui::init();
        // Restores the terminal on every return path, `?` included; panics
        // are covered by the hook ratatui::init installs.
        struct Restore;
        impl Drop for Restore {
            fn drop(&mut self) {
                ratatui::restore();
            }
        }
        let _restore = Restore;
        tui(&mut terminal, &mut sampler, first, &args)
    }
}

fn plain(
    sampler: &mut Sampler,
    first: Sample,
    args: &WatchArgs,
    out: &mut impl Write,
) -> Result<()> {
    let start = first.at;
    let mut prev = first;
    let mut n = 0;
    while args.count.is_none_or(|c| n < c) {
        std::thread::sleep(args.interval);
        let next = sampler.sample()?;
        writeln!(out, "{}", Rates::between(start, &prev, &next).line())
            .context("writing stdout")?;
        out.flush()?;
        prev = next;
        n += 1;
    }
    Ok(())
}

/// How many samples the graphs keep.
const HISTORY: usize = 600;

struct History {
    dev: String,
    labels: Vec<String>,
    rates: VecDeque<Rates>,
    color: bool,
}

fn tui(
    terminal: &mut DefaultTerminal,
    sampler: &mut Sampler,
    first: Sample,
    args: &WatchArgs,
) -> Result<()> {
    let start = first.at;
    let mut prev = first;
    let mut history = History {
        dev: args.dev.clone(),
        labels: sampler.labels.clone(),
        rates: VecDeque::new(),
        // https://no-color.org: any non-empty NO_COLOR turns colour off.
        color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    let mut n = 0;
    loop {
        terminal.draw(|f| draw(f, &history))?;
        if args.count.is_some_and(|c| n >= c) {
            return Ok(());
        }
        let due = prev.at + args.interval;
        while let Some(left) = due.checked_duration_since(Instant::now()) {
            if event::poll(left)? && quit_key(&event::read()?) {
                return Ok(());
            }
        }
        let next = sampler.sample()?;
        history.labels = sampler.labels.clone();
        if history.rates.len() == HISTORY {
            history.rates.pop_front();
        }
        history.rates.push_back(Rates::between(start, &prev, &next));
        prev = next;
        n += 1;
    }
}

/// q, Esc, or Ctrl-C (raw mode delivers it as a key, not SIGINT).
fn quit_key(event: &Event) -> bool {
    let Event::Key(key) = event else { return false };
    key.kind == KeyEventKind::Press
        && (matches!(key.code, KeyCode::Char('q') | KeyCode::Esc)
            || (key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL)))
}

const PALETTE: [Color; 6] = [
    Color::Cyan,
    Color::Yellow,
    Color::Magenta,
    Color::Green,
    Color::Red,
    Color::Blue,
];

fn draw(f: &mut Frame, h: &History) {
    let [top, rates, queue] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Percentage(65),
        Constraint::Fill(1),
    ])
    .areas(f.area());

    let last = h.rates.back();
    let summary = match last {
        Some(r) => format!(
            "tdma on {}: sent {}/s  qlen {}  backlog {}b  drops {}/interval    q: quit",
            h.dev,
            format_rate(r.bytes_per_sec as u64),
            r.qlen,
            r.backlog,
            r.drops
        ),
        None => format!(
            "tdma on {}: waiting for the first interval...    q: quit",
            h.dev
        ),
    };
    f.render_widget(Paragraph::new(summary), top);

    let style = |i: usize| {
        if h.color {
            Style::default().fg(PALETTE[i % PALETTE.len()])
        } else {
            Style::default()
        }
    };
    let (t0, t1) = (
        h.rates.front().map_or(0.0, |r| r.t),
        last.map_or(1.0, |r| r.t)
            .max(h.rates.front().map_or(0.0, |r| r.t) + 1e-3),
    );
    let x_axis = || {
        Axis::default()
            .title("s")
            .bounds([t0, t1])
            .labels([format!("{t0:.0}"), format!("{t1:.0}")])
    };

    let series: Vec<Vec<(f64, f64)>> = (0..h.labels.len())
        .map(|i| {
            h.rates
                .iter()
                .map(|r| (r.t, r.window_bytes_per_sec.get(i).copied().unwrap_or(0.0)))
                .collect()
        })
        .collect();
    let max_rate = series.iter().flatten().map(|p| p.1).fold(1.0, f64::max);
    let datasets = series
        .iter()
        .enumerate()
        .map(|(i, points)| {
            Dataset::default()
                .name(format!("w{i} {}", h.labels[i]))
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(style(i))
                .data(points)
        })
        .collect();
    let chart = Chart::new(datasets)
        // The default hides the legend on small terminals, and without it
        // the lines cannot be told apart.
        .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)))
        .block(Block::bordered().title(Line::from(" sent per window ")))
        .x_axis(x_axis())
        .y_axis(
            Axis::default()
                .bounds([0.0, max_rate * 1.1])
                .labels(["0".to_owned(), format_rate((max_rate * 1.1) as u64)]),
        );
    f.render_widget(chart, rates);

    let qlen: Vec<(f64, f64)> = h.rates.iter().map(|r| (r.t, f64::from(r.qlen))).collect();
    let max_q = qlen.iter().map(|p| p.1).fold(1.0, f64::max);
    let chart = Chart::new(vec![
        Dataset::default()
            .name("qlen")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(style(0))
            .data(&qlen),
    ])
    .block(Block::bordered().title(" queue length (packets) "))
    .x_axis(x_axis())
    .y_axis(
        Axis::default()
            .bounds([0.0, max_q])
            .labels(["0".to_owned(), format!("{max_q:.0}")]),
    );
    f.render_widget(chart, queue);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The graph on a fake 80x24 terminal: the header and both charts with
    /// their legends (window labels) are drawn.
    #[test]
    fn draws_the_graphs() {
        use ratatui::Terminal;
        use ratatui::backend::TestBackend;

        let rates = (1..=5)
            .map(|i| Rates {
                t: f64::from(i) * 0.2,
                bytes_per_sec: 1_250_000.0,
                drops: 0,
                qlen: i,
                backlog: 1500 * i,
                window_bytes_per_sec: vec![1_000_000.0, 250_000.0],
            })
            .collect();
        let history = History {
            dev: "va".into(),
            labels: vec!["0+3ms".into(), "5ms+2ms".into()],
            rates,
            color: false,
        };
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        terminal.draw(|f| draw(f, &history)).unwrap();
        let screen: String = terminal
            .backend()
            .buffer()
            .content()
            .iter()
            .map(|c| c.symbol())
            .collect();
        for text in [
            "tdma on va: sent 10mbit/s  qlen 5",
            "sent per window",
            "w0 0+3ms",
            "w1 5ms+2ms",
            "queue length (packets)",
        ] {
            assert!(screen.contains(text), "{text:?} not on screen");
        }
    }

    #[test]
    fn rates_between_samples() {
        let t0 = Instant::now();
        let a = Sample {
            at: t0,
            bytes: 1000,
            drops: 1,
            qlen: 0,
            backlog: 0,
            window_bytes: vec![500, 500],
        };
        let b = Sample {
            at: t0 + Duration::from_millis(500),
            bytes: 3000,
            drops: 4,
            qlen: 2,
            backlog: 3000,
            window_bytes: vec![1500, 100], // w1 reset: counts as 0, not negative
        };
        let r = Rates::between(t0, &a, &b);
        assert_eq!(r.bytes_per_sec, 4000.0);
        assert_eq!(r.window_bytes_per_sec, vec![2000.0, 0.0]);
        assert_eq!(
            r.line(),
            "t=0.500 tx_Bps=4000 qlen=2 backlog=3000 drops=3 w0_Bps=2000 w1_Bps=0"
        );
    }
}
