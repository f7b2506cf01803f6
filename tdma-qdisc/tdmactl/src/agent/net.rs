//! The announcement channel: broadcast Ethernet frames of our own ethertype
//! on one interface, through an AF_PACKET socket with PACKET_QDISC_BYPASS.
//!
//! Announcements must not go through the qdisc the agent configures: a node
//! that has no window yet (joining) or whose window is about to move would
//! hold its own announcements in sch_tdma, and the others would never hear
//! it, so no schedule could ever be agreed. Bypassing the qdisc makes the
//! announcements the segment's beacon channel; they are a few hundred bytes
//! every interval. Raw frames also need no IP address on the interface.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use anyhow::{Context, Result};

use super::wire::MAX_PACKET;

const BROADCAST: [u8; 8] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0];

pub struct Segment {
    fd: OwnedFd,
    ifindex: i32,
    ethertype: u16,
}

impl Segment {
    pub fn open(dev: &str, ethertype: u16) -> Result<Segment> {
        let ifindex = crate::netlink::ifindex(dev)? as i32;
        // SAFETY: plain socket(2); the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                i32::from(ethertype.to_be()),
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error())
                .context("creating the packet socket (needs CAP_NET_RAW)");
        }
        // SAFETY: `fd` was just created and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let one: libc::c_int = 1;
        // SAFETY: the option value is a c_int with its size.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_QDISC_BYPASS,
                (&one as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error()).context("PACKET_QDISC_BYPASS");
        }
        let segment = Segment {
            fd,
            ifindex,
            ethertype,
        };
        let addr = segment.address();
        // SAFETY: `addr` is a valid sockaddr_ll of the size given.
        let r = unsafe {
            libc::bind(
                segment.fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error())
                .with_context(|| format!("binding the packet socket to {dev}"));
        }
        Ok(segment)
    }

    /// Our ethertype on our interface, to the broadcast address.
    fn address(&self) -> libc::sockaddr_ll {
        libc::sockaddr_ll {
            sll_family: libc::AF_PACKET as u16,
            sll_protocol: self.ethertype.to_be(),
            sll_ifindex: self.ifindex,
            sll_hatype: 0,
            sll_pkttype: 0,
            sll_halen: 6,
            sll_addr: BROADCAST,
        }
    }

    pub fn broadcast(&self, packet: &[u8]) -> io::Result<()> {
        let to = self.address();
        // SAFETY: `packet` and `to` are valid for the lengths given.
        let r = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&to as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// The next frame's payload, or `None` once `wait` has passed without one.
    pub fn receive(
        &self,
        wait: Duration,
        buf: &mut [u8; MAX_PACKET + 1],
    ) -> io::Result<Option<usize>> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let timeout_ms = wait.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if ready < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(None)
            } else {
                Err(e)
            };
        }
        if ready == 0 {
            return Ok(None);
        }
        // SAFETY: `buf` is writable for its length.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        Ok(Some(n as usize))
    }
}
