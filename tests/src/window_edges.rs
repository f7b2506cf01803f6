//! Where dequeues fall relative to a gate schedule's windows: the check of
//! the sch_tdma guest tests and the sch_tdma-vs-taprio benchmark. Times are
//! on one clock (the tests run the qdiscs on CLOCK_MONOTONIC, the clock of
//! BPF timestamps).

use std::collections::BTreeMap;

/// A periodic schedule: windows `(offset, length)` in a frame, frame 0 at `base_ns`.
#[derive(Clone, Debug)]
pub struct GateSchedule {
    pub frame_ns: u64,
    pub base_ns: i64,
    pub windows: Vec<(u64, u64)>,
}

/// Where the dequeues fell.
#[derive(Debug, Default)]
pub struct EdgeStats {
    pub dequeues: usize,
    /// Dequeues outside every window.
    pub outside: usize,
    /// Smallest distance to the nearest window edge: positive inside a
    /// window, negative (how far outside) for a dequeue outside all.
    pub worst_slack_ns: i64,
    /// Per serviced window occurrence: first dequeue after its opening.
    pub after_open_ns: Vec<i64>,
    /// Per serviced window occurrence: last dequeue before its closing.
    pub before_close_ns: Vec<i64>,
}

impl GateSchedule {
    /// `(frame index, window index, slack)`: the window containing `ts`, or
    /// the nearest one with a negative slack.
    fn locate(&self, ts: u64) -> (i64, usize, i64) {
        let frame = self.frame_ns as i64;
        let since = ts as i64 - self.base_ns;
        let index = since.div_euclid(frame);
        let pos = since.rem_euclid(frame);
        let mut best = (index, 0, i64::MIN);
        for (w, &(off, len)) in self.windows.iter().enumerate() {
            let (start, end) = (off as i64, (off + len) as i64);
            let slack = if pos >= start && pos < end {
                (pos - start).min(end - pos)
            } else if pos < start {
                // Before this window, or past the previous frame's copy of it.
                -(start - pos).min(pos + frame - end)
            } else {
                -(pos - end).min(start + frame - pos)
            };
            if slack > best.2 {
                best = (index, w, slack);
            }
        }
        best
    }

    /// Scheduled start of window `w` of frame `index`.
    fn window_start(&self, index: i64, w: usize) -> i64 {
        self.base_ns + index * self.frame_ns as i64 + self.windows[w].0 as i64
    }
}

/// Sorts out `dequeue_ts` (ns, same clock as the schedule).
pub fn analyse(schedule: &GateSchedule, dequeue_ts: &[u64]) -> EdgeStats {
    let mut stats = EdgeStats {
        worst_slack_ns: i64::MAX,
        ..EdgeStats::default()
    };
    let mut occurrences: BTreeMap<(i64, usize), (u64, u64)> = BTreeMap::new();
    for &ts in dequeue_ts {
        stats.dequeues += 1;
        let (index, w, slack) = schedule.locate(ts);
        stats.worst_slack_ns = stats.worst_slack_ns.min(slack);
        if slack < 0 {
            stats.outside += 1;
            continue;
        }
        let entry = occurrences.entry((index, w)).or_insert((ts, ts));
        entry.0 = entry.0.min(ts);
        entry.1 = entry.1.max(ts);
    }
    for (&(index, w), &(first, last)) in &occurrences {
        let start = schedule.window_start(index, w);
        let end = start + schedule.windows[w].1 as i64;
        stats.after_open_ns.push(first as i64 - start);
        stats.before_close_ns.push(end - last as i64);
    }
    if stats.dequeues == 0 {
        stats.worst_slack_ns = 0;
    }
    stats
}

/// The `p`-th percentile (0..=100) of `values`, nearest rank; 0 when empty.
pub fn percentile(values: &[i64], p: f64) -> i64 {
    if values.is_empty() {
        return 0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `p50 / p99 / max` in µs, for reports.
pub fn summary_us(values: &[i64]) -> String {
    format!(
        "p50 {:.1} us, p99 {:.1} us, max {:.1} us (n={})",
        percentile(values, 50.0) as f64 / 1e3,
        percentile(values, 99.0) as f64 / 1e3,
        values.iter().copied().max().unwrap_or(0) as f64 / 1e3,
        values.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn schedule() -> GateSchedule {
        GateSchedule {
            frame_ns: 10 * MS,
            base_ns: 5 * MS as i64,
            windows: vec![(MS, 2 * MS), (6 * MS, 2 * MS)],
        }
    }

    #[test]
    fn inside_dequeues_count_per_window_occurrence() {
        // Frame 3 starts at 35 ms; its windows at 36–38 and 41–43 ms.
        let ts = [
            36 * MS + 100_000,
            37 * MS,
            41 * MS + 5_000,
            42 * MS + 990_000,
        ];
        let stats = analyse(&schedule(), &ts);
        assert_eq!(stats.dequeues, 4);
        assert_eq!(stats.outside, 0);
        assert_eq!(stats.worst_slack_ns, 5_000);
        assert_eq!(stats.after_open_ns, vec![100_000, 5_000]);
        assert_eq!(stats.before_close_ns, vec![MS as i64, 10_000]);
    }

    #[test]
    fn outside_dequeues_measure_the_distance_to_the_nearest_edge() {
        // 38.2 ms: 0.2 ms after window 0 closed (38 ms). 44.9 ms: 1.9 ms
        // after window 1 closed (43 ms), 1.1 ms before the next frame's
        // window 0 opens (46 ms): the nearest edge is 1.1 ms away.
        let stats = analyse(&schedule(), &[38 * MS + 200_000, 44 * MS + 900_000]);
        assert_eq!(stats.outside, 2);
        assert_eq!(stats.worst_slack_ns, -1_100_000);
        assert!(stats.after_open_ns.is_empty());
    }

    #[test]
    fn times_before_the_base_wrap_into_earlier_frames() {
        // Frame -1 starts at -5 ms; window 1 at 1..3 ms.
        let stats = analyse(&schedule(), &[2 * MS]);
        assert_eq!(stats.outside, 0);
        assert_eq!(stats.after_open_ns, vec![MS as i64]);
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&[], 50.0), 0);
    }
}
