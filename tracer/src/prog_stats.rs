//! The kernel's own statistics of a loaded BPF program (`bpf_prog_info`):
//! how often the kernel skipped it because it was already running on that
//! CPU, which means a call pkttrace did not see, and how often it ran and
//! for how long (counted only while BPF run-time statistics are on: see
//! [`enable_run_time`]).

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use aya_obj::generated::{bpf_cmd, bpf_prog_info};

/// What the kernel counted for one program.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProgStats {
    /// Runs skipped because the program was already running on the CPU
    /// (a trampoline's recursion guard; kprobes share one per CPU).
    pub recursion_misses: u64,
    /// Nanoseconds spent running it.
    pub run_time_ns: u64,
    /// Times it ran.
    pub run_cnt: u64,
}

/// `BPF_OBJ_GET_INFO_BY_FD`'s part of `union bpf_attr`.
#[repr(C)]
struct InfoByFd {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// Reads the statistics of the program behind `prog`.
pub fn of(prog: impl AsFd) -> io::Result<ProgStats> {
    // SAFETY: plain C data; all-zero is its valid empty state.
    let mut info: bpf_prog_info = unsafe { std::mem::zeroed() };
    let attr = InfoByFd {
        bpf_fd: prog.as_fd().as_raw_fd() as u32,
        info_len: size_of::<bpf_prog_info>() as u32,
        info: &mut info as *mut bpf_prog_info as u64,
    };
    // SAFETY: the attribute names a live fd and a buffer of info_len bytes
    // that outlives the call; the kernel writes at most that much.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            bpf_cmd::BPF_OBJ_GET_INFO_BY_FD as libc::c_long,
            &attr as *const InfoByFd,
            size_of::<InfoByFd>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ProgStats {
        recursion_misses: info.recursion_misses,
        run_time_ns: info.run_time_ns,
        run_cnt: info.run_cnt,
    })
}

/// Turns on the kernel's BPF run-time statistics (`BPF_ENABLE_STATS`, Linux
/// 5.8) for as long as the returned descriptor is open: every program's
/// `run_cnt` and `run_time_ns` count, at the price of two clock reads per
/// run. Closing it puts them back as they were: the kernel counts holders,
/// and `sysctl kernel.bpf_stats_enabled` is one more, independent of ours.
pub fn enable_run_time() -> io::Result<OwnedFd> {
    aya::sys::enable_stats(aya::sys::Stats::RunTime).map_err(|e| e.io_error)
}

/// Whether `sysctl kernel.bpf_stats_enabled` holds run-time statistics on,
/// or `None` if that cannot be read. It shows only its own setting: a
/// process holding them on with [`enable_run_time`] does not change it.
pub fn run_time_enabled() -> Option<bool> {
    let value = std::fs::read_to_string(STATS_SYSCTL).ok()?;
    Some(value.trim() != "0")
}

/// The sysctl file that says whether run-time statistics are on.
pub const STATS_SYSCTL: &str = "/proc/sys/kernel/bpf_stats_enabled";
