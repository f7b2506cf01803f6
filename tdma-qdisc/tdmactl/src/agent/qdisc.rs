//! Where decisions reach the kernel: `QdiscControl` over rtnetlink, or a
//! stand-in for `--dry-run` that only logs. The decisions are built into
//! whole schedules here, so the protocol never sees kernel rules.

use anyhow::{Context, Result};

use super::assign::FrameParams;
use crate::netlink::{Qdiscs, Target, ifindex};
use crate::schedule::{Clock, Schedule, Window};
use crate::uapi::TDMA_MIN_WINDOW_NS as MIN_WINDOW_NS;

/// The schedule knobs that are the same in every schedule the agent applies.
#[derive(Clone, Copy, Debug)]
pub struct Template {
    pub params: FrameParams,
    pub clock: Clock,
    pub limit: u32,
    pub rate_bytes_per_sec: u64,
}

impl Template {
    /// The schedule that sends in `window`, or sends (almost) nothing.
    ///
    /// sch_tdma needs at least one window whose length exceeds the guard, so
    /// "nothing" is a 1 µs window at `frame − guard` of which only the first
    /// nanosecond is usable: the one instant that no member of any membership
    /// owns (every assignment leaves the last `guard` of the frame free), and
    /// a packet leaving then still has `guard` to finish before the next
    /// frame's first window. With `--rate` the kernel drops every packet at
    /// enqueue instead, since none fits in a nanosecond.
    pub fn schedule(&self, window: Option<Window>) -> Schedule {
        let (window, guard_ns) = match window {
            Some(w) => (w, self.params.guard_ns),
            None => (
                Window {
                    offset_ns: self.params.frame_ns - self.params.guard_ns,
                    length_ns: MIN_WINDOW_NS,
                },
                MIN_WINDOW_NS - 1,
            ),
        };
        Schedule {
            frame_ns: self.params.frame_ns,
            base_time_ns: 0,
            clock: self.clock,
            guard_ns,
            limit: self.limit,
            rate_bytes_per_sec: self.rate_bytes_per_sec,
            windows: vec![window],
        }
    }
}

pub trait QdiscControl {
    /// Puts the qdisc in place with `schedule`, effective at once (or at the
    /// next boundary if an agent left one behind).
    fn install(&mut self, schedule: &Schedule) -> Result<()>;
    /// Replaces the schedule at `change_at_ns` (a frame boundary; `None`: the next one).
    fn change(&mut self, schedule: &Schedule, change_at_ns: Option<u64>) -> Result<()>;
    /// Removes the qdisc (`--cleanup`).
    fn remove(&mut self) -> Result<()>;
}

/// The real thing: sch_tdma as the root qdisc of `dev`.
pub struct Netlink {
    dev: String,
    ifindex: u32,
    qdiscs: Qdiscs,
}

impl Netlink {
    pub fn open(dev: &str) -> Result<Netlink> {
        Ok(Netlink {
            dev: dev.to_string(),
            ifindex: ifindex(dev).with_context(|| format!("interface {dev}"))?,
            qdiscs: Qdiscs::open().context("opening rtnetlink")?,
        })
    }
}

impl QdiscControl for Netlink {
    fn install(&mut self, schedule: &Schedule) -> Result<()> {
        schedule.validate().context("idle schedule")?;
        let existing = self
            .qdiscs
            .get(self.ifindex)
            .with_context(|| format!("looking for a tdma qdisc on {}", self.dev))?;
        let ack = match existing {
            // Left by an earlier agent: keep its clock and timer, change it.
            Some(_) => self
                .qdiscs
                .change(Target::root(self.ifindex), schedule, None),
            None => self.qdiscs.add(Target::root(self.ifindex), schedule),
        }
        .with_context(|| format!("installing sch_tdma on {}", self.dev))?;
        warn(ack.warning);
        Ok(())
    }

    fn change(&mut self, schedule: &Schedule, change_at_ns: Option<u64>) -> Result<()> {
        schedule.validate().context("schedule")?;
        let ack = self
            .qdiscs
            .change(Target::root(self.ifindex), schedule, change_at_ns)
            .with_context(|| format!("changing sch_tdma on {}", self.dev))?;
        warn(ack.warning);
        Ok(())
    }

    fn remove(&mut self) -> Result<()> {
        self.qdiscs
            .delete(Target::root(self.ifindex))
            .with_context(|| format!("deleting sch_tdma on {}", self.dev))?;
        Ok(())
    }
}

fn warn(warning: Option<String>) {
    if let Some(w) = warning {
        eprintln!("tdmactl agent: kernel: {w}");
    }
}

/// `--dry-run`: the decisions are logged and emitted as events by the
/// driver; the kernel is not touched. Still validates, so a dry run catches
/// schedules the kernel would refuse.
pub struct DryRun;

impl QdiscControl for DryRun {
    fn install(&mut self, schedule: &Schedule) -> Result<()> {
        schedule.validate().context("idle schedule")?;
        Ok(())
    }

    fn change(&mut self, schedule: &Schedule, _: Option<u64>) -> Result<()> {
        schedule.validate().context("schedule")?;
        Ok(())
    }

    fn remove(&mut self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::assign::Members;

    const T: Template = Template {
        params: FrameParams {
            frame_ns: 10_000_000,
            guard_ns: 100_000,
        },
        clock: Clock::Tai,
        limit: 1000,
        rate_bytes_per_sec: 0,
    };

    #[test]
    fn idle_schedule_is_valid_and_in_everybodys_guard_gap() {
        let idle = T.schedule(None);
        idle.validate().unwrap();
        let usable = Window {
            offset_ns: idle.windows[0].offset_ns,
            length_ns: idle.windows[0].length_ns - idle.guard_ns,
        };
        assert_eq!(usable.length_ns, 1);
        for n in 1..=20 {
            let members = Members::new((0..n).map(|i| format!("n{i}")));
            for name in members.names() {
                let w = T.params.window_of(&members, name).unwrap().unwrap();
                assert!(
                    !w.overlaps(&usable),
                    "{n} members: {w} overlaps the idle instant"
                );
            }
        }
    }

    #[test]
    fn assigned_windows_make_valid_schedules() {
        let members = Members::new((0..5).map(|i| format!("n{i}")));
        for name in members.names() {
            let s = T.schedule(T.params.window_of(&members, name).unwrap());
            s.validate().unwrap();
            assert_eq!(s.guard_ns, T.params.guard_ns);
        }
    }
}
