//! Mirror of `tdma-qdisc/module/tdma_uapi.h`, the netlink ABI shared with
//! sch_tdma. `tests/uapi_header.rs` compiles the header with gcc and checks
//! every value, size and offset here against it.

pub const TDMA_MAX_WINDOWS: usize = 16;

pub const TDMA_MIN_FRAME_NS: u64 = 10_000;
pub const TDMA_MAX_FRAME_NS: u64 = 10_000_000_000;
pub const TDMA_MIN_WINDOW_NS: u64 = 1_000;
pub const TDMA_MAX_LIMIT: u32 = 1_000_000;
pub const TDMA_DEFAULT_LIMIT: u32 = 1_000;

// Top level attributes inside TCA_OPTIONS.
pub const TCA_TDMA_UNSPEC: u16 = 0;
pub const TCA_TDMA_FRAME_NS: u16 = 1;
pub const TCA_TDMA_BASE_TIME: u16 = 2;
pub const TCA_TDMA_CLOCKID: u16 = 3;
pub const TCA_TDMA_GUARD_NS: u16 = 4;
pub const TCA_TDMA_LIMIT: u16 = 5;
pub const TCA_TDMA_RATE: u16 = 6;
pub const TCA_TDMA_WINDOWS: u16 = 7;
pub const TCA_TDMA_CHANGE_AT: u16 = 8;
pub const TCA_TDMA_PAD: u16 = 9;
pub const TCA_TDMA_MAX: u16 = 9;

// Inside TCA_TDMA_WINDOWS.
pub const TCA_TDMA_WINDOWS_UNSPEC: u16 = 0;
pub const TCA_TDMA_WINDOW_ENTRY: u16 = 1;
pub const TCA_TDMA_WINDOWS_MAX: u16 = 1;

// Inside TCA_TDMA_WINDOW_ENTRY.
pub const TCA_TDMA_WIN_UNSPEC: u16 = 0;
pub const TCA_TDMA_WIN_OFFSET_NS: u16 = 1;
pub const TCA_TDMA_WIN_LENGTH_NS: u16 = 2;
pub const TCA_TDMA_WIN_PAD: u16 = 3;
pub const TCA_TDMA_WIN_MAX: u16 = 3;

// enum tdma_drop_reason
pub const TDMA_DROP_LIMIT: u32 = 1;
pub const TDMA_DROP_TOO_BIG: u32 = 2;
pub const TDMA_DROP_PURGE: u32 = 3;

/// `struct tc_tdma_window_stats`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TcTdmaWindowStats {
    pub packets: u64,
    pub bytes: u64,
}

/// `struct tc_tdma_xstats`, the TCA_STATS_APP payload.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcTdmaXstats {
    pub frames: u64,
    pub windows_opened: u64,
    pub deferred: u64,
    pub dropped_limit: u64,
    pub dropped_too_big: u64,
    pub late: u64,
    pub overrun: u64,
    pub changes: u64,
    pub nr_windows: u32,
    pub pad: u32,
    pub window: [TcTdmaWindowStats; TDMA_MAX_WINDOWS],
}

impl TcTdmaXstats {
    /// The `nr_windows` valid entries of `window`.
    pub fn windows(&self) -> &[TcTdmaWindowStats] {
        let n = (self.nr_windows as usize).min(TDMA_MAX_WINDOWS);
        &self.window[..n]
    }
}
