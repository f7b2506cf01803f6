//! `tdmactl agent`: dynamic, distributed TDMA. Agents on one segment announce
//! themselves, agree on the membership and on when to switch, and give every
//! member its own window of the frame. The rules live in `node` (pure, see
//! its comment for why windows never overlap); this file wires them to the
//! socket, the clock and the qdisc.

mod assign;
mod events;
mod net;
mod node;
mod qdisc;
mod wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use self::assign::FrameParams;
use self::events::Reporter;
use self::net::Segment;
use self::node::{Action, Config, Node, Phase};
use self::qdisc::{DryRun, Netlink, QdiscControl, Template};
use self::wire::{Announcement, MAX_PACKET, check_name};
use crate::schedule::Clock;
use crate::uapi::{TDMA_DEFAULT_LIMIT, TDMA_MAX_FRAME_NS, TDMA_MIN_FRAME_NS, TDMA_MIN_WINDOW_NS};
use crate::units::{format_duration, parse_duration, parse_rate};

/// Run the dynamic TDMA agent on one interface.
#[derive(clap::Args, Debug)]
pub struct AgentArgs {
    /// Interface of the TDMA segment: announcements go out on it and sch_tdma
    /// becomes its root qdisc.
    #[arg(long)]
    pub dev: String,
    /// This node's name, unique on the segment; slots are given in name order.
    /// Default: the host name.
    #[arg(long)]
    pub name: Option<String>,
    /// Frame length; every node of the segment must use the same.
    #[arg(long, default_value = "10ms", value_parser = parse_duration)]
    pub frame: u64,
    /// Gap between the windows of two nodes, and the qdisc's guard; at least 1us.
    #[arg(long, default_value = "100us", value_parser = parse_duration)]
    pub guard: u64,
    /// How often to announce.
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    pub interval: u64,
    /// A node unheard this long has left. Default: 3 intervals.
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<u64>,
    /// How far ahead a switch is proposed once a change is noticed.
    /// Default: 3 intervals (at least 4 frames).
    #[arg(long, value_parser = parse_duration)]
    pub settle: Option<u64>,
    /// Ethertype of the announcement frames (broadcast on --dev, past the
    /// qdisc). The default is IEEE 802's "local experimental ethertype 1",
    /// meant for protocols private to a network.
    #[arg(long, value_parser = parse_ethertype, default_value = "0x88b5")]
    pub ethertype: u16,
    /// Queue limit of the qdisc, in packets.
    #[arg(long, default_value_t = TDMA_DEFAULT_LIMIT)]
    pub limit: u32,
    /// Link rate (e.g. 100mbit), so the qdisc only sends what fits a window.
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<u64>,
    /// Clock of the schedule and of the switch times; nodes must share it.
    #[arg(long, default_value = "tai")]
    pub clock: Clock,
    /// Do not touch the qdisc: only log and emit the decisions.
    #[arg(long)]
    pub dry_run: bool,
    /// Write one JSON object per decision to FILE (`-`: stdout).
    #[arg(long, value_name = "FILE")]
    pub events: Option<String>,
    /// Exit after this many seconds (as on SIGINT/SIGTERM).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// On exit delete the qdisc instead of leaving it idle. The interface
    /// then sends freely again, outside any window.
    #[arg(long)]
    pub cleanup: bool,
}

/// An ethertype in hex (`0x88b5`) or decimal; values below 0x0600 are
/// frame lengths in Ethernet, not types.
fn parse_ethertype(s: &str) -> Result<u16, String> {
    let value = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u16::from_str_radix(hex, 16),
        None => s.parse(),
    }
    .map_err(|_| format!("'{s}' is not a 16-bit number"))?;
    if value < 0x0600 {
        return Err(format!(
            "{value:#06x} is an Ethernet length, not an ethertype"
        ));
    }
    Ok(value)
}

pub fn run(args: AgentArgs) -> Result<()> {
    let cfg = config(&args)?;
    let template = Template {
        params: cfg.params,
        clock: args.clock,
        limit: args.limit,
        rate_bytes_per_sec: args.rate.unwrap_or(0),
    };
    let deadline = match args.duration {
        Some(s) if s.is_finite() && s >= 0.0 => Some(Instant::now() + Duration::from_secs_f64(s)),
        Some(s) => bail!("--duration {s}: must be a number of seconds"),
        None => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("installing the SIGINT/SIGTERM handler")?;

    let reporter = Reporter::open(&cfg.name, args.events.as_deref())?;
    let segment = Segment::open(&args.dev, args.ethertype)?;
    let mut qdisc: Box<dyn QdiscControl> = if args.dry_run {
        Box::new(DryRun)
    } else {
        Box::new(Netlink::open(&args.dev)?)
    };
    // Nothing may leave outside an agreed window, and nothing is agreed yet.
    qdisc.install(&template.schedule(None))?;
    reporter.note(&format!(
        "on {} ethertype {:#06x}: frame {}, guard {}, idle until a schedule is agreed{}",
        args.dev,
        args.ethertype,
        format_duration(cfg.params.frame_ns),
        format_duration(cfg.params.guard_ns),
        if args.dry_run { " (dry run)" } else { "" }
    ));

    let mut agent = Agent {
        node: Node::new(cfg.clone(), now_ns(args.clock)?),
        clock: args.clock,
        segment,
        qdisc,
        template,
        reporter,
        malformed: 0,
    };
    let result = agent.serve(&stop, deadline, Duration::from_nanos(cfg.interval_ns / 5));
    // Also after an error: whatever failed, stop sending and tell the others.
    let left = agent.leave();
    let cleaned = if args.cleanup {
        agent.qdisc.remove()
    } else {
        Ok(())
    };
    result.and(left).and(cleaned)
}

/// Checks the options and derives the protocol's timing from them.
fn config(args: &AgentArgs) -> Result<Config> {
    let name = match &args.name {
        Some(n) => n.clone(),
        None => hostname()?,
    };
    check_name(&name)
        .map_err(anyhow::Error::msg)
        .context("--name")?;
    if !(TDMA_MIN_FRAME_NS..=TDMA_MAX_FRAME_NS).contains(&args.frame) {
        bail!(
            "--frame {}: must be {} to {}",
            format_duration(args.frame),
            format_duration(TDMA_MIN_FRAME_NS),
            format_duration(TDMA_MAX_FRAME_NS)
        );
    }
    // The idle schedule sits in the last guard of the frame (see qdisc.rs).
    if args.guard < TDMA_MIN_WINDOW_NS || args.guard >= args.frame / 2 {
        bail!(
            "--guard {}: must be at least 1us and less than half the frame",
            format_duration(args.guard)
        );
    }
    if args.interval == 0 {
        bail!("--interval must be positive");
    }
    let timeout_ns = args.timeout.unwrap_or(3 * args.interval);
    if timeout_ns <= args.interval {
        bail!(
            "--timeout must be longer than --interval, or every peer times out between two announcements"
        );
    }
    let mut cfg = Config {
        name,
        instance: random_u64()?,
        params: FrameParams {
            frame_ns: args.frame,
            guard_ns: args.guard,
        },
        interval_ns: args.interval,
        timeout_ns,
        settle_ns: 0,
        // First join: two announcements of every present member should have
        // been heard before this node forms its first view.
        listen_ns: 2 * args.interval,
    };
    // A proposal must leave time for the interim window to take effect (two
    // frames) and for the commit to reach the kernel before its time.
    let min_settle = cfg.lead_ns() + 2 * args.frame;
    cfg.settle_ns = args
        .settle
        .unwrap_or((3 * args.interval).max(min_settle + args.frame));
    if cfg.settle_ns < min_settle {
        bail!("--settle must be at least {}", format_duration(min_settle));
    }
    Ok(cfg)
}

struct Agent {
    node: Node,
    clock: Clock,
    segment: Segment,
    qdisc: Box<dyn QdiscControl>,
    template: Template,
    reporter: Reporter,
    malformed: u64,
}

impl Agent {
    /// Receives and ticks until stopped, the deadline or an error.
    fn serve(
        &mut self,
        stop: &AtomicBool,
        deadline: Option<Instant>,
        tick: Duration,
    ) -> Result<()> {
        let mut buf = [0; MAX_PACKET + 1];
        let mut next_tick = Instant::now();
        while !stop.load(Ordering::SeqCst) && deadline.is_none_or(|d| Instant::now() < d) {
            let wait = next_tick.saturating_duration_since(Instant::now());
            if let Some(n) = self
                .segment
                .receive(wait, &mut buf)
                .context("receiving announcements")?
            {
                match Announcement::decode(&buf[..n]) {
                    Ok(a) => {
                        let actions = self.node.receive(now_ns(self.clock)?, a);
                        self.perform(actions)?;
                    }
                    Err(why) => self.malformed(&why),
                }
            }
            if Instant::now() >= next_tick {
                let actions = self.node.tick(now_ns(self.clock)?);
                self.perform(actions)?;
                next_tick = (next_tick + tick).max(Instant::now());
            }
        }
        Ok(())
    }

    fn leave(&mut self) -> Result<()> {
        let actions = self.node.leave(now_ns(self.clock)?);
        self.perform(actions)
    }

    fn perform(&mut self, actions: Vec<Action>) -> Result<()> {
        for action in actions {
            match action {
                Action::Announce(a) => {
                    // A lost announcement is repaired by the next one; a
                    // link that is down must not stop the agent.
                    if let Err(e) = self.segment.broadcast(&a.encode()) {
                        self.reporter
                            .note(&format!("sending the announcement: {e}"));
                    }
                }
                Action::Apply(d) => {
                    let now = now_ns(self.clock)?;
                    self.reporter.decision(now, &d)?;
                    let schedule = self.template.schedule(d.window);
                    self.qdisc
                        .change(&schedule, d.switch_at_ns)
                        .with_context(|| {
                            format!("applying the {} schedule {schedule}", d.phase.name())
                        })?;
                    if d.phase == Phase::Leave {
                        self.reporter.note("left: idle schedule");
                    }
                }
                Action::Note(message) => self.reporter.note(&message),
            }
        }
        Ok(())
    }

    /// One line for the first bad packet, then at powers of two: a noisy
    /// neighbour must not flood the log.
    fn malformed(&mut self, why: &str) {
        self.malformed += 1;
        if self.malformed.is_power_of_two() {
            self.reporter.note(&format!(
                "dropped a packet ({} so far): {why}",
                self.malformed
            ));
        }
    }
}

fn now_ns(clock: Clock) -> Result<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write to.
    if unsafe { libc::clock_gettime(clock.clockid(), &mut ts) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("reading the {clock} clock"));
    }
    Ok(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

fn hostname() -> Result<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer and its length match.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return Err(std::io::Error::last_os_error())
            .context("reading the host name (or pass --name)");
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Ok(String::from_utf8_lossy(&buf[..end]).into_owned())
}

/// Tells this process's announcements apart from a namesake's (wire.rs).
fn random_u64() -> Result<u64> {
    let mut bytes = [0u8; 8];
    // SAFETY: the buffer and its length match.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if n != bytes.len() as isize {
        return Err(std::io::Error::last_os_error()).context("getrandom");
    }
    Ok(u64::from_ne_bytes(bytes))
}
