//! Event timestamps → wall clock and local time.
//!
//! Events carry `CLOCK_MONOTONIC` nanoseconds (`bpf_ktime_get_ns`). A trace
//! samples both clocks once at start ([`ClockBase`]) and maps every timestamp
//! through that pair, so all events of one trace share one consistent wall
//! clock even if the system clock steps mid-trace.
//!
//! All arithmetic is wrapping `i64`: a corrupt record yields odd times, never
//! a panic, and the hot path stays free of 128-bit division.

use serde::{Deserialize, Serialize};

const NS_PER_SEC: i64 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;
const NS_PER_DAY: i64 = SECS_PER_DAY * NS_PER_SEC;

/// Both clocks sampled at the same instant when the trace started, plus the
/// local UTC offset then (printing uses that one offset for the whole trace).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockBase {
    /// `CLOCK_MONOTONIC` in ns.
    pub monotonic_ns: u64,
    /// `CLOCK_REALTIME` in ns since the Unix epoch.
    pub realtime_ns: u64,
    /// Local time minus UTC, in seconds (e.g. 7200 for CEST).
    pub utc_offset_s: i32,
}

impl ClockBase {
    /// Wall clock (ns since the Unix epoch, UTC) of a monotonic timestamp.
    pub fn wall_ns(&self, ts_ns: u64) -> i64 {
        let since_start = ts_ns.wrapping_sub(self.monotonic_ns) as i64;
        (self.realtime_ns as i64).wrapping_add(since_start)
    }

    /// Local time (ns since the Unix epoch shifted by the UTC offset).
    pub fn local_ns(&self, ts_ns: u64) -> i64 {
        self.wall_ns(ts_ns)
            .wrapping_add(i64::from(self.utc_offset_s) * NS_PER_SEC)
    }
}

/// Seconds since midnight and nanoseconds within the second of `local_ns`.
#[inline]
pub fn time_of_day(local_ns: i64) -> (u32, u32) {
    let ns_of_day = local_ns.rem_euclid(NS_PER_DAY);
    (
        (ns_of_day / NS_PER_SEC) as u32,
        (ns_of_day % NS_PER_SEC) as u32,
    )
}

/// Appends an RFC 3339 timestamp with nanoseconds in the given UTC offset,
/// e.g. `2024-05-01T04:31:12.123456789+02:00` (`Z` for offset 0).
pub fn push_rfc3339(out: &mut Vec<u8>, wall_ns: i64, utc_offset_s: i32) {
    let local_ns = wall_ns.wrapping_add(i64::from(utc_offset_s) * NS_PER_SEC);
    let secs = local_ns.div_euclid(NS_PER_SEC);
    let nanos = local_ns.rem_euclid(NS_PER_SEC) as u64;
    let (year, month, day) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
    if year < 0 {
        out.push(b'-');
    }
    push_zero_padded(out, year.unsigned_abs(), 4);
    out.push(b'-');
    push_zero_padded(out, u64::from(month), 2);
    out.push(b'-');
    push_zero_padded(out, u64::from(day), 2);
    out.push(b'T');
    push_hms(out, secs.rem_euclid(SECS_PER_DAY));
    out.push(b'.');
    push_zero_padded(out, nanos, 9);
    if utc_offset_s == 0 {
        out.push(b'Z');
    } else {
        out.push(if utc_offset_s < 0 { b'-' } else { b'+' });
        let offset_min = utc_offset_s.unsigned_abs() / 60;
        push_zero_padded(out, u64::from(offset_min / 60), 2);
        out.push(b':');
        push_zero_padded(out, u64::from(offset_min % 60), 2);
    }
}

fn push_hms(out: &mut Vec<u8>, secs_of_day: i64) {
    let secs = secs_of_day as u64;
    push_zero_padded(out, secs / 3600, 2);
    out.push(b':');
    push_zero_padded(out, secs / 60 % 60, 2);
    out.push(b':');
    push_zero_padded(out, secs % 60, 2);
}

/// Appends `value` in decimal, left-padded with zeros to at least `width` digits.
pub(crate) fn push_zero_padded(out: &mut Vec<u8>, value: u64, width: usize) {
    let mut digits = itoa::Buffer::new();
    let text = digits.format(value).as_bytes();
    out.extend(std::iter::repeat_n(b'0', width.saturating_sub(text.len())));
    out.extend_from_slice(text);
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn maps_monotonic_through_the_base() {
        let clock = ClockBase {
            monotonic_ns: 5_000_000_000,
            realtime_ns: 1_714_537_872_000_000_000,
            utc_offset_s: 7200,
        };
        assert_eq!(clock.wall_ns(5_000_000_001), 1_714_537_872_000_000_001);
        assert_eq!(clock.wall_ns(4_000_000_000), 1_714_537_871_000_000_000);
        let (secs, nanos) = time_of_day(clock.local_ns(5_123_456_789));
        assert_eq!((secs, nanos), (6 * 3600 + 31 * 60 + 12, 123_456_789));
        assert_eq!(time_of_day(-1), (86_399, 999_999_999));
    }

    #[test]
    fn rfc3339() {
        // 2024-05-01T04:31:12Z
        let wall = 1_714_537_872 * NS_PER_SEC + 5;
        assert_eq!(
            text(|o| push_rfc3339(o, wall, 0)),
            "2024-05-01T04:31:12.000000005Z"
        );
        assert_eq!(
            text(|o| push_rfc3339(o, wall, -(3 * 3600 + 1800))),
            "2024-05-01T01:01:12.000000005-03:30"
        );
        assert_eq!(
            text(|o| push_rfc3339(o, 0, 3600)),
            "1970-01-01T01:00:00.000000000+01:00"
        );
        assert_eq!(
            text(|o| push_rfc3339(o, -1, 0)),
            "1969-12-31T23:59:59.999999999Z"
        );
        // Leap day.
        assert_eq!(
            text(|o| push_rfc3339(o, 951_782_400 * NS_PER_SEC, 0)),
            "2000-02-29T00:00:00.000000000Z"
        );
    }

    #[test]
    fn garbage_never_panics() {
        let clock = ClockBase {
            monotonic_ns: u64::MAX,
            realtime_ns: u64::MAX,
            utc_offset_s: i32::MIN,
        };
        for ts in [0, 1, u64::MAX, i64::MAX as u64, i64::MIN as u64] {
            let (secs, nanos) = time_of_day(clock.local_ns(ts));
            assert!(secs < 86_400 && nanos < 1_000_000_000);
            let mut out = Vec::new();
            push_rfc3339(&mut out, clock.wall_ns(ts), clock.utc_offset_s);
            push_rfc3339(&mut out, i64::MIN, i32::MAX);
            push_rfc3339(&mut out, i64::MAX, i32::MIN);
        }
    }
}
