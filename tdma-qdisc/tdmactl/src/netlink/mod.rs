//! rtnetlink client for sch_tdma: add, change, delete and dump qdiscs.
//!
//! netlink-sys provides the socket and netlink-packet-route the message
//! header, tcmsg and standard tc attributes; our TCA_OPTIONS payload is
//! encoded in `options`. Everything runs in the caller's network namespace.

mod ack;
mod info;
mod options;

use std::ffi::CString;
use std::io;

use netlink_packet_core::{
    DefaultNla, NLA_F_NESTED, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST,
    NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use thiserror::Error;

pub use info::{QdiscInfo, QdiscStats};
pub use options::{TdmaConfig, decode_options, decode_xstats, encode_options};

use crate::schedule::Schedule;

/// TCA_KIND of sch_tdma.
pub const KIND: &str = "tdma";
/// `TC_H_ROOT` in linux/pkt_sched.h.
pub const TC_H_ROOT: u32 = 0xFFFF_FFFF;
/// `TCA_OPTIONS` in linux/rtnetlink.h.
const TCA_OPTIONS: u16 = 2;

#[derive(Debug, Error)]
pub enum NetlinkError {
    /// The kernel refused the request; `message` is its extack text, verbatim.
    #[error("{}", kernel_text(message.as_deref(), *errno))]
    Kernel { message: Option<String>, errno: i32 },
    #[error("no interface named {name:?} in this network namespace")]
    NoSuchDevice { name: String },
    #[error("netlink socket: {0}")]
    Io(#[from] io::Error),
    #[error("cannot decode the kernel's reply: {0}")]
    Decode(String),
}

impl NetlinkError {
    /// The errno the kernel answered with, for callers that react to one
    /// (e.g. ENOENT: no such qdisc).
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Kernel { errno, .. } => Some(*errno),
            NetlinkError::Io(e) => e.raw_os_error(),
            _ => None,
        }
    }
}

fn kernel_text(message: Option<&str>, errno: i32) -> String {
    let errno_text = io::Error::from_raw_os_error(errno).to_string();
    // io::Error appends " (os error N)"; tc and strerror don't.
    let errno_text = errno_text
        .split(" (os error")
        .next()
        .unwrap_or(&errno_text)
        .to_owned();
    match message {
        Some(m) => format!("{m} ({errno_text})"),
        None => errno_text,
    }
}

/// Interface name -> ifindex, in the current network namespace (so it works
/// under `ip netns exec`).
pub fn ifindex(name: &str) -> Result<u32, NetlinkError> {
    let no_such = || NetlinkError::NoSuchDevice { name: name.into() };
    let c_name = CString::new(name).map_err(|_| no_such())?;
    // SAFETY: c_name is a valid NUL-terminated string for the whole call.
    match unsafe { libc::if_nametoindex(c_name.as_ptr()) } {
        0 => Err(no_such()),
        index => Ok(index),
    }
}

/// ifindex -> interface name, in the current network namespace.
pub fn ifname(ifindex: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf has the IF_NAMESIZE bytes if_indextoname may write.
    let name = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if name.is_null() {
        return None;
    }
    // SAFETY: on success buf holds a NUL-terminated name.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

/// Where a qdisc sits: interface, parent and handle (0 = the kernel picks on
/// add, any on change/delete).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub ifindex: u32,
    pub parent: u32,
    pub handle: u32,
}

impl Target {
    pub fn root(ifindex: u32) -> Target {
        Target {
            ifindex,
            parent: TC_H_ROOT,
            handle: 0,
        }
    }
}

impl From<u32> for Target {
    fn from(ifindex: u32) -> Target {
        Target::root(ifindex)
    }
}

/// A request the kernel accepted; `warning` is an extack message sent with
/// the ACK (tc prints these as "Warning: ...").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ack {
    pub warning: Option<String>,
}

/// The three writes; they differ only in message type and flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Add,
    Change,
    Delete,
}

impl Op {
    fn flags(self) -> u16 {
        match self {
            Op::Add => NLM_F_CREATE | NLM_F_EXCL,
            Op::Change | Op::Delete => 0,
        }
    }
}

/// The RTM_NEWQDISC / RTM_DELQDISC message for `op`.
fn request(
    op: Op,
    target: Target,
    schedule: Option<&Schedule>,
    change_at: Option<u64>,
) -> RouteNetlinkMessage {
    let mut message = TcMessage::default();
    message.header.index = target.ifindex as i32;
    message.header.parent = TcHandle::from(target.parent);
    message.header.handle = TcHandle::from(target.handle);
    message.attributes.push(TcAttribute::Kind(KIND.into()));
    if let Some(schedule) = schedule {
        // Not TcAttribute::Options: that one lacks NLA_F_NESTED, which
        // nla_parse_nested() in the module requires.
        message.attributes.push(TcAttribute::Other(DefaultNla::new(
            TCA_OPTIONS | NLA_F_NESTED,
            encode_options(schedule, change_at),
        )));
    }
    match op {
        Op::Add | Op::Change => RouteNetlinkMessage::NewQueueDiscipline(message),
        Op::Delete => RouteNetlinkMessage::DelQueueDiscipline(message),
    }
}

/// A whole netlink datagram: header with `flags` and `seq`, then `message`.
fn encode_packet(message: RouteNetlinkMessage, flags: u16, seq: u32) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | flags;
    header.sequence_number = seq;
    let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(message));
    packet.finalize();
    let mut buf = vec![0; packet.buffer_len()];
    packet.serialize(&mut buf);
    buf
}

/// An rtnetlink socket for qdisc requests.
pub struct Qdiscs {
    socket: Socket,
    seq: u32,
}

impl Qdiscs {
    pub fn open() -> Result<Qdiscs, NetlinkError> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        // Extack gives the module's own words for a refusal, which we print;
        // capped ACKs keep errors from echoing our whole request back.
        socket.set_ext_ack(true)?;
        socket.set_cap_ack(true)?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(Qdiscs { socket, seq: 0 })
    }

    /// RTM_NEWQDISC with NLM_F_CREATE|NLM_F_EXCL, like `tc qdisc add`.
    pub fn add(
        &mut self,
        target: impl Into<Target>,
        schedule: &Schedule,
    ) -> Result<Ack, NetlinkError> {
        self.write(Op::Add, target.into(), Some(schedule), None)
    }

    /// RTM_NEWQDISC without create flags, like `tc qdisc change`: the whole
    /// schedule is replaced at `change_at` (None: the next frame boundary).
    pub fn change(
        &mut self,
        target: impl Into<Target>,
        schedule: &Schedule,
        change_at: Option<u64>,
    ) -> Result<Ack, NetlinkError> {
        self.write(Op::Change, target.into(), Some(schedule), change_at)
    }

    /// RTM_DELQDISC. TCA_KIND is sent, so the kernel refuses to delete a
    /// qdisc of another kind at the target.
    pub fn delete(&mut self, target: impl Into<Target>) -> Result<Ack, NetlinkError> {
        self.write(Op::Delete, target.into(), None, None)
    }

    /// All qdiscs (every kind), or those of one interface.
    pub fn list(&mut self, ifindex: Option<u32>) -> Result<Vec<QdiscInfo>, NetlinkError> {
        let dump = RouteNetlinkMessage::GetQueueDiscipline(TcMessage::default());
        let (replies, _) = self.transact(dump, NLM_F_DUMP)?;
        replies
            .into_iter()
            .filter(|m| ifindex.is_none_or(|i| m.header.index == i as i32))
            .map(QdiscInfo::from_message)
            .collect()
    }

    /// The first tdma qdisc on `ifindex`.
    pub fn get(&mut self, ifindex: u32) -> Result<Option<QdiscInfo>, NetlinkError> {
        Ok(self
            .list(Some(ifindex))?
            .into_iter()
            .find(|q| q.kind == KIND))
    }

    fn write(
        &mut self,
        op: Op,
        target: Target,
        schedule: Option<&Schedule>,
        change_at: Option<u64>,
    ) -> Result<Ack, NetlinkError> {
        let message = request(op, target, schedule, change_at);
        let (_, warning) = self.transact(message, op.flags() | NLM_F_ACK)?;
        Ok(Ack { warning })
    }

    /// Sends one request and collects its replies up to the ACK (or
    /// NLMSG_DONE for a dump).
    fn transact(
        &mut self,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<(Vec<TcMessage>, Option<String>), NetlinkError> {
        self.seq = self.seq.wrapping_add(1);
        self.socket
            .send(&encode_packet(message, flags, self.seq), 0)?;

        let mut replies = Vec::new();
        loop {
            let (datagram, _) = self.socket.recv_from_full()?;
            let mut rest = datagram.as_slice();
            while !rest.is_empty() {
                let len = NetlinkBuffer::new_checked(rest)
                    .map_err(|e| NetlinkError::Decode(e.to_string()))?
                    .length() as usize;
                let (one, tail) = rest.split_at(len.next_multiple_of(4).min(rest.len()));
                rest = tail;
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(one)
                    .map_err(|e| NetlinkError::Decode(e.to_string()))?;
                if reply.header.sequence_number != self.seq {
                    continue; // a stale answer to an earlier, abandoned request
                }
                let reply_flags = reply.header.flags;
                match reply.payload {
                    NetlinkPayload::Error(e) => {
                        let message = ack::extack_message(reply_flags, &e);
                        return match e.code {
                            Some(code) => Err(NetlinkError::Kernel {
                                message,
                                errno: -code.get(),
                            }),
                            None => Ok((replies, message)),
                        };
                    }
                    NetlinkPayload::Done(_) => return Ok((replies, None)),
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewQueueDiscipline(m)) => {
                        replies.push(m)
                    }
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Window;

    fn schedule() -> Schedule {
        Schedule::new(
            10_000_000,
            vec![Window {
                offset_ns: 0,
                length_ns: 3_000_000,
            }],
        )
    }

    /// The datagram `tdmactl add dev <ifindex 7> frame 10ms window 0:3ms`
    /// sends, checked field by field (little-endian host).
    #[test]
    fn add_request_layout() {
        let message = request(Op::Add, Target::root(7), Some(&schedule()), None);
        let bytes = encode_packet(message, Op::Add.flags() | NLM_F_ACK, 42);
        let options = encode_options(&schedule(), None);
        #[rustfmt::skip]
        let expected: Vec<u8> = [
            // nlmsghdr: len, RTM_NEWQDISC (36), REQUEST|ACK|EXCL|CREATE, seq 42, pid 0
            &((16 + 20 + 12 + 4 + options.len()) as u32).to_ne_bytes()[..],
            &[36, 0], &[0x05, 0x06], &42u32.to_ne_bytes(), &[0; 4],
            // tcmsg: family, pad, ifindex 7, handle 0, parent TC_H_ROOT, info 0
            &[0, 0, 0, 0], &7u32.to_ne_bytes(), &[0; 4], &[0xff; 4], &[0; 4],
            // TCA_KIND "tdma\0" padded to 12
            &[9, 0, 1, 0], b"tdma", &[0, 0, 0, 0],
            // TCA_OPTIONS | NLA_F_NESTED, then our attributes
            &((4 + options.len()) as u16).to_ne_bytes(), &[2, 0x80],
            &options,
        ]
        .concat();
        assert_eq!(bytes, expected);
    }

    #[test]
    fn change_and_delete_flags() {
        let change = encode_packet(
            request(Op::Change, Target::root(1), Some(&schedule()), Some(5)),
            Op::Change.flags() | NLM_F_ACK,
            1,
        );
        assert_eq!(&change[4..8], &[36, 0, 0x05, 0x00]);
        let delete = encode_packet(
            request(Op::Delete, Target::root(1), None, None),
            Op::Delete.flags() | NLM_F_ACK,
            1,
        );
        // RTM_DELQDISC (37), no TCA_OPTIONS: header + tcmsg + TCA_KIND.
        assert_eq!(&delete[4..8], &[37, 0, 0x05, 0x00]);
        assert_eq!(delete.len(), 16 + 20 + 12);
    }

    #[test]
    fn kernel_error_text() {
        let e = NetlinkError::Kernel {
            message: Some("Window 1 overlaps window 0".into()),
            errno: libc::EINVAL,
        };
        assert_eq!(
            e.to_string(),
            "Window 1 overlaps window 0 (Invalid argument)"
        );
        let e = NetlinkError::Kernel {
            message: None,
            errno: libc::ENOENT,
        };
        assert_eq!(e.to_string(), "No such file or directory");
        assert_eq!(e.errno(), Some(libc::ENOENT));
    }

    #[test]
    fn unknown_interface() {
        let e = ifindex("no-such-if0").unwrap_err();
        assert_eq!(
            e.to_string(),
            "no interface named \"no-such-if0\" in this network namespace"
        );
        let lo = ifindex("lo").unwrap();
        assert_eq!(ifname(lo).as_deref(), Some("lo"));
    }
}
