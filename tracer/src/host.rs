//! Facts about this machine that traces record: kernel, clocks, privileges.

use anyhow::{Result, bail};
use formats::meta::ClockBase;

/// `uname -r`.
pub fn kernel_release() -> String {
    read_trimmed("/proc/sys/kernel/osrelease")
}

/// `(major, minor)` of a release like `6.1.0-56-amd64`.
pub fn release_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Whether this kernel counts the runs of a kprobe program it skips because
/// another BPF program is running on the CPU (`recursion_misses`, Linux 6.7).
pub fn counts_kprobe_recursion() -> bool {
    release_version(&kernel_release()).is_some_and(|v| v >= (6, 7))
}

pub fn hostname() -> String {
    read_trimmed("/proc/sys/kernel/hostname")
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

pub(crate) fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Samples both clocks back to back, and the local UTC offset, so event
/// timestamps (CLOCK_MONOTONIC) can be shown as wall-clock time.
pub fn clock_base() -> ClockBase {
    let monotonic_ns = clock_ns(libc::CLOCK_MONOTONIC);
    let realtime_ns = clock_ns(libc::CLOCK_REALTIME);
    ClockBase {
        monotonic_ns,
        realtime_ns,
        utc_offset_s: utc_offset_s(realtime_ns),
    }
}

fn utc_offset_s(realtime_ns: u64) -> i32 {
    let secs = (realtime_ns / 1_000_000_000) as libc::time_t;
    // SAFETY: localtime_r writes into the tm we own.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&secs, &mut tm).is_null() {
            return 0;
        }
        tm.tm_gmtoff as i32
    }
}

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Effective capability bits of this process.
fn effective_caps() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0)
}

/// Describes the privileges that matter for loading tracing programs.
pub fn privileges() -> (bool, String) {
    let caps = effective_caps();
    let has = |cap: u32| caps & (1u64 << cap) != 0;
    let enough = has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON));
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    let text = format!(
        "euid {euid}, CAP_SYS_ADMIN {}, CAP_BPF {}, CAP_PERFMON {}",
        yes_no(has(CAP_SYS_ADMIN)),
        yes_no(has(CAP_BPF)),
        yes_no(has(CAP_PERFMON))
    );
    (enough, text)
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// Fails with one clear line when this process cannot load tracing programs.
pub fn require_privileges() -> Result<()> {
    let (enough, text) = privileges();
    if !enough {
        bail!("insufficient privileges ({text}): run as root, or grant CAP_BPF and CAP_PERFMON");
    }
    Ok(())
}

/// Raises the open-file limit as far as allowed: every probed function holds
/// about ten descriptors (programs, links, maps, BTF), so the usual soft
/// limit of 1024 stops `--all-skb-funcs` after some 90 functions.
pub fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid pointer to an rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return;
    }
    // Root may raise the hard limit too, up to the kernel's nr_open.
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<libc::rlim_t>().ok())
        .unwrap_or(limit.rlim_max);
    for max in [nr_open.max(limit.rlim_max), limit.rlim_max] {
        let wanted = libc::rlimit {
            rlim_cur: max,
            rlim_max: max,
        };
        // SAFETY: valid pointer to an rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) } == 0 {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_versions() {
        assert_eq!(release_version("6.1.0-56-amd64"), Some((6, 1)));
        assert_eq!(release_version("6.12.57+deb13-amd64"), Some((6, 12)));
        assert_eq!(release_version("6.18.0"), Some((6, 18)));
        assert_eq!(release_version("garbage"), None);
    }
}
