//! A TDMA schedule as sch_tdma understands it (see `tdma-qdisc/module/tdma_uapi.h`).

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::uapi::{
    TDMA_DEFAULT_LIMIT, TDMA_MAX_FRAME_NS, TDMA_MAX_LIMIT, TDMA_MAX_WINDOWS, TDMA_MIN_FRAME_NS,
    TDMA_MIN_WINDOW_NS,
};
use crate::units::{UnitError, format_duration, format_rate, parse_duration};

/// One transmit window inside a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Window {
    /// From the start of the frame.
    pub offset_ns: u64,
    pub length_ns: u64,
}

/// The clock the schedule's times are read on (`TCA_TDMA_CLOCKID`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Clock {
    #[default]
    Tai,
    Monotonic,
    Realtime,
    Boottime,
}

/// Everything `tdmactl add|change` sends and `show` prints.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Schedule {
    pub frame_ns: u64,
    /// Clock time at which frame 0 starts; frames repeat in both directions.
    pub base_time_ns: i64,
    pub clock: Clock,
    /// No dequeue in the last `guard_ns` of each window.
    pub guard_ns: u64,
    /// Queue limit in packets.
    pub limit: u32,
    /// Link rate in bytes/s; 0 = unknown.
    pub rate_bytes_per_sec: u64,
    /// Sorted by offset, non-overlapping, inside the frame.
    pub windows: Vec<Window>,
}

impl Schedule {
    /// A schedule with the kernel's defaults for everything but the frame and
    /// windows: base time 0 on TAI, no guard, the default limit, rate unknown.
    pub fn new(frame_ns: u64, windows: Vec<Window>) -> Schedule {
        Schedule {
            frame_ns,
            base_time_ns: 0,
            clock: Clock::Tai,
            guard_ns: 0,
            limit: TDMA_DEFAULT_LIMIT,
            rate_bytes_per_sec: 0,
            windows,
        }
    }

    /// Checks the rules sch_tdma enforces, so that a bad schedule is refused
    /// with a precise message before it reaches the kernel.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        if !(TDMA_MIN_FRAME_NS..=TDMA_MAX_FRAME_NS).contains(&self.frame_ns) {
            return Err(ScheduleError::Frame(self.frame_ns));
        }
        if self.windows.is_empty() || self.windows.len() > TDMA_MAX_WINDOWS {
            return Err(ScheduleError::WindowCount(self.windows.len()));
        }
        for (i, w) in self.windows.iter().enumerate() {
            if w.length_ns < TDMA_MIN_WINDOW_NS {
                return Err(ScheduleError::WindowTooShort(i, *w));
            }
            if w.offset_ns
                .checked_add(w.length_ns)
                .is_none_or(|end| end > self.frame_ns)
            {
                return Err(ScheduleError::WindowOutsideFrame(i, *w, self.frame_ns));
            }
            if self.guard_ns >= w.length_ns {
                return Err(ScheduleError::GuardTooLong(self.guard_ns, i, *w));
            }
        }
        for (i, pair) in self.windows.windows(2).enumerate() {
            if pair[1].offset_ns < pair[0].end_ns() {
                return Err(ScheduleError::WindowOrder(i, pair[0], i + 1, pair[1]));
            }
        }
        if !(1..=TDMA_MAX_LIMIT).contains(&self.limit) {
            return Err(ScheduleError::Limit(self.limit));
        }
        Ok(())
    }
}

/// The same keywords `tdmactl add` takes, so a printed schedule can be pasted back.
impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "frame {} base-time {} clock {} guard {} limit {}",
            format_duration(self.frame_ns),
            self.base_time_ns,
            self.clock,
            format_duration(self.guard_ns),
            self.limit
        )?;
        if self.rate_bytes_per_sec != 0 {
            write!(f, " rate {}", format_rate(self.rate_bytes_per_sec))?;
        }
        for w in &self.windows {
            write!(f, " window {w}")?;
        }
        Ok(())
    }
}

impl Window {
    /// First nanosecond after the window (offset + length, saturating).
    pub fn end_ns(&self) -> u64 {
        self.offset_ns.saturating_add(self.length_ns)
    }

    /// Whether the two windows share at least one nanosecond.
    pub fn overlaps(&self, other: &Window) -> bool {
        self.offset_ns < other.end_ns() && other.offset_ns < self.end_ns()
    }
}

/// `offset+length` in human units, e.g. `5ms+2ms`.
impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}+{}",
            format_duration(self.offset_ns),
            format_duration(self.length_ns)
        )
    }
}

/// `OFFSET+LENGTH` or `OFFSET:LENGTH` (tc-style), each a duration.
impl FromStr for Window {
    type Err = ScheduleError;

    fn from_str(s: &str) -> Result<Window, ScheduleError> {
        let (offset, length) = s
            .split_once(['+', ':'])
            .ok_or_else(|| ScheduleError::WindowSyntax(s.into()))?;
        Ok(Window {
            offset_ns: parse_duration(offset)?,
            length_ns: parse_duration(length)?,
        })
    }
}

impl Clock {
    const ALL: [Clock; 4] = [
        Clock::Tai,
        Clock::Monotonic,
        Clock::Realtime,
        Clock::Boottime,
    ];

    /// The `clockid_t` sch_tdma reads the schedule's times on.
    pub fn clockid(self) -> i32 {
        match self {
            Clock::Tai => libc::CLOCK_TAI,
            Clock::Monotonic => libc::CLOCK_MONOTONIC,
            Clock::Realtime => libc::CLOCK_REALTIME,
            Clock::Boottime => libc::CLOCK_BOOTTIME,
        }
    }

    pub fn from_clockid(id: i32) -> Option<Clock> {
        Clock::ALL.into_iter().find(|c| c.clockid() == id)
    }

    pub fn name(self) -> &'static str {
        match self {
            Clock::Tai => "tai",
            Clock::Monotonic => "monotonic",
            Clock::Realtime => "realtime",
            Clock::Boottime => "boottime",
        }
    }
}

impl fmt::Display for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Clock {
    type Err = ScheduleError;

    fn from_str(s: &str) -> Result<Clock, ScheduleError> {
        Clock::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| ScheduleError::UnknownClock(s.into()))
    }
}

impl serde::Serialize for Clock {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A schedule sch_tdma would refuse, or one that does not parse. Windows are
/// numbered from 0 in the order given.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ScheduleError {
    #[error("frame {frame} is out of range: it must be between {min} and {max}", frame = format_duration(*.0), min = format_duration(TDMA_MIN_FRAME_NS), max = format_duration(TDMA_MAX_FRAME_NS))]
    Frame(u64),
    #[error("{0} windows given: a schedule has 1 to {TDMA_MAX_WINDOWS} windows")]
    WindowCount(usize),
    #[error("window {0} ({1}) is shorter than the minimum of {min}", min = format_duration(TDMA_MIN_WINDOW_NS))]
    WindowTooShort(usize, Window),
    #[error("window {0} ({1}) ends after the end of the frame ({frame})", frame = format_duration(*.2))]
    WindowOutsideFrame(usize, Window, u64),
    #[error(
        "window {2} ({3}) starts before window {0} ({1}) ends: windows must be sorted by offset and must not overlap"
    )]
    WindowOrder(usize, Window, usize, Window),
    #[error("guard {guard} is not shorter than window {1} ({2})", guard = format_duration(*.0))]
    GuardTooLong(u64, usize, Window),
    #[error("limit {0} is out of range: it must be between 1 and {TDMA_MAX_LIMIT} packets")]
    Limit(u32),
    #[error("unknown clock {0:?}: expected tai, monotonic, realtime or boottime")]
    UnknownClock(String),
    #[error("invalid window {0:?}: expected OFFSET+LENGTH or OFFSET:LENGTH, e.g. 5ms+2ms")]
    WindowSyntax(String),
    #[error(transparent)]
    Unit(#[from] UnitError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(offset_ns: u64, length_ns: u64) -> Window {
        Window {
            offset_ns,
            length_ns,
        }
    }

    const MS: u64 = 1_000_000;

    fn valid() -> Schedule {
        Schedule::new(10 * MS, vec![w(0, 3 * MS), w(5 * MS, 2 * MS)])
    }

    fn error(change: impl FnOnce(&mut Schedule)) -> String {
        let mut s = valid();
        change(&mut s);
        s.validate().unwrap_err().to_string()
    }

    #[test]
    fn valid_schedule_passes() {
        assert_eq!(valid().validate(), Ok(()));
        let mut edge = valid();
        edge.windows = vec![w(0, 5 * MS), w(5 * MS, 5 * MS)];
        edge.guard_ns = 5 * MS - 1;
        assert_eq!(edge.validate(), Ok(()));
    }

    #[test]
    fn validation_messages() {
        assert_eq!(
            error(|s| s.frame_ns = 9_999),
            "frame 9.999us is out of range: it must be between 10us and 10s"
        );
        assert!(error(|s| s.frame_ns = 10_000_000_001).starts_with("frame 10.000000001s"));
        assert_eq!(
            error(|s| s.windows.clear()),
            "0 windows given: a schedule has 1 to 16 windows"
        );
        assert_eq!(
            error(|s| s.windows = (0..17).map(|i| w(i * 100_000, 50_000)).collect()),
            "17 windows given: a schedule has 1 to 16 windows"
        );
        assert_eq!(
            error(|s| s.windows[1].length_ns = 999),
            "window 1 (5ms+999ns) is shorter than the minimum of 1us"
        );
        assert_eq!(
            error(|s| s.windows[1].length_ns = 6 * MS),
            "window 1 (5ms+6ms) ends after the end of the frame (10ms)"
        );
        assert_eq!(
            error(|s| s.windows[1].offset_ns = u64::MAX),
            "window 1 (18446744073.709551615s+2ms) ends after the end of the frame (10ms)"
        );
        assert_eq!(
            error(|s| s.windows[1].offset_ns = 2 * MS),
            "window 1 (2ms+2ms) starts before window 0 (0+3ms) ends: windows must be sorted by offset and must not overlap"
        );
        assert_eq!(
            error(|s| s.windows.reverse()),
            "window 1 (0+3ms) starts before window 0 (5ms+2ms) ends: windows must be sorted by offset and must not overlap"
        );
        assert_eq!(
            error(|s| s.guard_ns = 2 * MS),
            "guard 2ms is not shorter than window 1 (5ms+2ms)"
        );
        assert_eq!(
            error(|s| s.limit = 0),
            "limit 0 is out of range: it must be between 1 and 1000000 packets"
        );
        assert!(error(|s| s.limit = TDMA_MAX_LIMIT + 1).starts_with("limit 1000001"));
    }

    #[test]
    fn windows_parse_and_print() {
        assert_eq!("0:3ms".parse(), Ok(w(0, 3 * MS)));
        assert_eq!("5ms+2ms".parse(), Ok(w(5 * MS, 2 * MS)));
        assert_eq!(w(5 * MS, 1_500_000).to_string(), "5ms+1.5ms");
        assert_eq!(
            "5ms".parse::<Window>(),
            Err(ScheduleError::WindowSyntax("5ms".into()))
        );
        assert!(matches!(
            "5ms+2".parse::<Window>(),
            Err(ScheduleError::Unit(UnitError::Duration(_)))
        ));
        assert!(w(0, 3).overlaps(&w(2, 3)));
        assert!(!w(0, 3).overlaps(&w(3, 3)));
    }

    #[test]
    fn clocks() {
        for c in Clock::ALL {
            assert_eq!(Clock::from_clockid(c.clockid()), Some(c));
            assert_eq!(c.name().parse(), Ok(c));
        }
        assert_eq!(Clock::Tai.clockid(), 11);
        assert_eq!(Clock::from_clockid(99), None);
        assert_eq!("TAI".parse(), Ok(Clock::Tai));
        assert!("gps".parse::<Clock>().is_err());
    }

    #[test]
    fn schedule_prints_as_keywords() {
        let mut s = valid();
        s.guard_ns = 50_000;
        s.rate_bytes_per_sec = 12_500_000;
        assert_eq!(
            s.to_string(),
            "frame 10ms base-time 0 clock tai guard 50us limit 1000 rate 100mbit window 0+3ms window 5ms+2ms"
        );
    }
}
