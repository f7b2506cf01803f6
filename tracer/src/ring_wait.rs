//! Waiting for the ring buffer to be worth reading.
//!
//! The BPF side writes events without waking the reader, except when the
//! ring fills past a mark (`tracer-ebpf/src/emit.rs`): a wakeup per packet
//! cost more than the rest of the event. So the reader sleeps for a fixed
//! interval, which bounds how late a line appears at low rates, and is woken
//! early only by those forced wakeups. `poll` would not do: it reports the
//! ring readable as soon as it holds one event, and the reader would spin on
//! tiny batches. Edge-triggered epoll reports only the wakeups themselves.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

pub struct RingWait {
    epoll: OwnedFd,
}

impl RingWait {
    /// Watches `ring`, the ring buffer map's fd, which must outlive `self`.
    pub fn new(ring: &impl AsRawFd) -> io::Result<Self> {
        // SAFETY: no pointers; the result is checked.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh fd that nothing else owns.
        let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut interest = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLET) as u32,
            u64: 0,
        };
        // SAFETY: both fds are open; `interest` outlives the call.
        let rc = unsafe {
            libc::epoll_ctl(
                epoll.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                ring.as_raw_fd(),
                &mut interest,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(RingWait { epoll })
    }

    /// Sleeps until the BPF side forces a wakeup or `timeout` passes. A
    /// signal ends the wait early, which is what Ctrl-C needs.
    pub fn wait(&self, timeout: Duration) {
        let mut ready = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: room for one event; errors (EINTR) only end the wait.
        unsafe {
            libc::epoll_wait(
                self.epoll.as_raw_fd(),
                &mut ready,
                1,
                timeout.as_millis() as i32,
            )
        };
    }
}
