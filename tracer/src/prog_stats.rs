//! The kernel's own statistics of a loaded BPF program (`bpf_prog_info`):
//! how often the kernel skipped it because it was already running on that
//! CPU, which means a call pkttrace did not see.

use std::io;
use std::os::fd::{AsFd, AsRawFd};

use aya_obj::generated::{bpf_cmd, bpf_prog_info};

/// What the kernel counted for one program.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProgStats {
    /// Runs skipped because the program was already running on the CPU
    /// (a trampoline's recursion guard; kprobes share one per CPU).
    pub recursion_misses: u64,
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
    })
}
