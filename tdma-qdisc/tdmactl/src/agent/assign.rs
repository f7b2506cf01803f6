//! Slot assignment: which window each member of a membership gets. Pure
//! arithmetic, so every node computes the same answer from the same names.

use crate::schedule::Window;
use crate::uapi::TDMA_MIN_WINDOW_NS as MIN_WINDOW_NS;

/// A membership: distinct node names, sorted. Sorting is what makes the
/// assignment independent of the order in which a node heard its peers.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Members(Vec<String>);

impl Members {
    pub fn new(names: impl IntoIterator<Item = String>) -> Members {
        let mut names: Vec<String> = names.into_iter().collect();
        names.sort();
        names.dedup();
        Members(names)
    }

    pub fn names(&self) -> &[String] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// The frame every node of a segment runs with; announcements carry it so a
/// node with other parameters is reported instead of silently mis-scheduled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameParams {
    pub frame_ns: u64,
    pub guard_ns: u64,
}

impl FrameParams {
    /// The window of `name` when `members` share the frame: member i of n owns
    /// [i·slot, (i+1)·slot − guard) with slot = ⌊frame/n⌋. Consecutive owners
    /// are separated by `guard` (and the last one from the next frame's first
    /// by at least `guard`), which absorbs the clock offset between nodes.
    /// `None` if `name` is not a member; an error if the slots are too short.
    pub fn window_of(&self, members: &Members, name: &str) -> Result<Option<Window>, String> {
        let Some(i) = members.names().iter().position(|n| n == name) else {
            return Ok(None);
        };
        let slot = self.frame_ns / members.len() as u64;
        // The qdisc also stops dequeueing `guard` before the end of a window,
        // so a usable window must be longer than the guard itself.
        let length = slot.saturating_sub(self.guard_ns);
        if length < MIN_WINDOW_NS || length <= self.guard_ns {
            return Err(format!(
                "{} members do not fit: slot {slot}ns minus guard {}ns leaves {length}ns",
                members.len(),
                self.guard_ns
            ));
        }
        Ok(Some(Window {
            offset_ns: i as u64 * slot,
            length_ns: length,
        }))
    }

    /// The first frame boundary at or after `t_ns`. All agents use base time
    /// 0, so boundaries are the multiples of the frame on the shared clock.
    pub fn boundary_after(&self, t_ns: u64) -> u64 {
        t_ns.div_ceil(self.frame_ns) * self.frame_ns
    }
}

/// The part of a window that lies inside all of `windows`; `None` if that is
/// empty or too short for the kernel. `None` entries (not a member) make the
/// result empty.
pub fn intersect(windows: impl IntoIterator<Item = Option<Window>>) -> Option<Window> {
    let mut start = 0;
    let mut end = u64::MAX;
    for w in windows {
        let w = w?;
        start = start.max(w.offset_ns);
        end = end.min(w.offset_ns + w.length_ns);
    }
    (end >= start.saturating_add(MIN_WINDOW_NS)).then(|| Window {
        offset_ns: start,
        length_ns: end - start,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(names: &[&str]) -> Members {
        Members::new(names.iter().map(|s| s.to_string()))
    }

    const P: FrameParams = FrameParams {
        frame_ns: 10_000_000,
        guard_ns: 100_000,
    };

    #[test]
    fn assignment_ignores_hearing_order_and_never_overlaps() {
        let a = members(&["c", "a", "b"]);
        let b = members(&["b", "c", "a", "a"]);
        assert_eq!(a, b);
        let windows: Vec<Window> = ["a", "b", "c"]
            .iter()
            .map(|n| P.window_of(&a, n).unwrap().unwrap())
            .collect();
        assert_eq!(
            windows[0],
            Window {
                offset_ns: 0,
                length_ns: 3_233_333
            }
        );
        for pair in windows.windows(2) {
            assert!(pair[0].offset_ns + pair[0].length_ns + P.guard_ns <= pair[1].offset_ns);
        }
        // Wrap-around to the next frame keeps the guard too.
        let last = windows[2];
        assert!(last.offset_ns + last.length_ns + P.guard_ns <= P.frame_ns);
        assert_eq!(P.window_of(&a, "d").unwrap(), None);
    }

    #[test]
    fn too_many_members_is_an_error() {
        let many = Members::new((0..60).map(|i| format!("n{i:02}")));
        let err = P.window_of(&many, "n00").unwrap_err();
        assert!(err.contains("60 members do not fit"), "{err}");
    }

    #[test]
    fn boundaries_are_multiples_of_the_frame() {
        assert_eq!(P.boundary_after(0), 0);
        assert_eq!(P.boundary_after(1), 10_000_000);
        assert_eq!(P.boundary_after(10_000_000), 10_000_000);
        assert_eq!(P.boundary_after(10_000_001), 20_000_000);
    }

    #[test]
    fn intersection_of_windows() {
        let w = |o, l| {
            Some(Window {
                offset_ns: o,
                length_ns: l,
            })
        };
        assert_eq!(intersect([w(0, 5_000), w(2_000, 5_000)]), w(2_000, 3_000));
        assert_eq!(
            intersect([w(0, 5_000), w(4_500, 5_000)]),
            None,
            "shorter than 1us"
        );
        assert_eq!(intersect([w(0, 5_000), None]), None);
        assert_eq!(intersect([w(0, 5_000)]), w(0, 5_000));
    }
}
