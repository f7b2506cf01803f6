//! The qdiscs installed now, for the `dev` profile: their kinds, read over
//! rtnetlink (an RTM_GETQDISC dump) in this network namespace and in every
//! named one (`/run/netns`), and each kind's enqueue and dequeue functions,
//! named by the kernel's convention (`tbf` → `tbf_enqueue`, `tbf_dequeue`).

use std::collections::BTreeSet;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::tc::{TcAttribute, TcMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

/// Where `ip netns` keeps named network namespaces.
const NAMED_NETNS_DIR: &str = "/run/netns";

/// The kinds of the qdiscs installed now.
#[derive(Debug, Default)]
pub struct Installed {
    /// Sorted, each once (`noqueue`, `pfifo_fast`, `tbf`, `tdma`, ...).
    pub kinds: Vec<String>,
    /// The namespaces whose qdiscs could not be read, each with why.
    pub unread: Vec<String>,
}

/// Reads the kinds of the qdiscs of this network namespace and of every
/// named one. A namespace that cannot be read is named in `unread` and the
/// others are still read.
pub fn installed() -> Installed {
    let mut kinds = BTreeSet::new();
    let mut unread = Vec::new();
    match kinds_here() {
        Ok(found) => kinds.extend(found),
        Err(e) => unread.push(format!("this network namespace: {e}")),
    }
    for path in named_namespaces() {
        match kinds_in(&path) {
            Ok(found) => kinds.extend(found),
            Err(e) => unread.push(format!("{}: {e:#}", path.display())),
        }
    }
    Installed {
        kinds: kinds.into_iter().collect(),
        unread,
    }
}

/// The enqueue and dequeue functions of the qdisc `kinds` that
/// `is_function` knows, in the order of `kinds`. Every qdisc names them
/// `{kind}_enqueue` and `{kind}_dequeue` (sch_tdma's `tdma` too); those
/// with none of their own (`noqueue`, `mq`, `ingress`, `clsact`) add
/// nothing, and `pfifo`, whose dequeue is the shared `qdisc_dequeue_head`,
/// adds its enqueue only.
pub fn enqueue_dequeue(kinds: &[String], is_function: impl Fn(&str) -> bool) -> Vec<String> {
    kinds
        .iter()
        // A kind is a C identifier; anything else names no function.
        .filter(|kind| {
            !kind.is_empty()
                && kind
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        .flat_map(|kind| [format!("{kind}_enqueue"), format!("{kind}_dequeue")])
        .filter(|f| is_function(f))
        .collect()
}

/// Namespaces under `/run/netns`, sorted.
fn named_namespaces() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(NAMED_NETNS_DIR)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.sort();
    paths
}

/// Qdisc kinds in namespace `path`, read on a thread that enters it (a
/// thread's namespace is its own: the caller's stays as it is).
fn kinds_in(path: &Path) -> Result<BTreeSet<String>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    std::thread::spawn(move || -> Result<BTreeSet<String>> {
        // SAFETY: setns on this thread only, with a valid namespace fd.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error()).context("entering it (setns)");
        }
        Ok(kinds_here()?)
    })
    .join()
    .map_err(|_| anyhow!("the thread reading it panicked"))?
}

/// Qdisc kinds in the calling thread's network namespace.
fn kinds_here() -> io::Result<BTreeSet<String>> {
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.sequence_number = 1;
    let mut request = NetlinkMessage::new(
        header,
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::GetQueueDiscipline(TcMessage::default())),
    );
    request.finalize();
    let mut buf = vec![0; request.buffer_len()];
    request.serialize(&mut buf);
    socket.send(&buf, 0)?;

    let decode = |e: &dyn std::fmt::Display| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad netlink reply: {e}"),
        )
    };
    let mut kinds = BTreeSet::new();
    loop {
        let (datagram, _) = socket.recv_from_full()?;
        let mut rest = datagram.as_slice();
        while !rest.is_empty() {
            let len = NetlinkBuffer::new_checked(rest)
                .map_err(|e| decode(&e))?
                .length() as usize;
            let (one, tail) = rest.split_at(len.next_multiple_of(4).min(rest.len()));
            rest = tail;
            let reply =
                NetlinkMessage::<RouteNetlinkMessage>::deserialize(one).map_err(|e| decode(&e))?;
            match reply.payload {
                NetlinkPayload::Done(_) => return Ok(kinds),
                NetlinkPayload::Error(e) => {
                    return Err(match e.code {
                        Some(code) => io::Error::from_raw_os_error(-code.get()),
                        None => decode(&"an acknowledgement instead of a dump"),
                    });
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewQueueDiscipline(m)) => {
                    kinds.extend(m.attributes.into_iter().filter_map(|a| match a {
                        TcAttribute::Kind(kind) => Some(kind),
                        _ => None,
                    }));
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::netns::TestNet;

    #[test]
    fn each_kind_brings_the_functions_it_has() {
        let kinds: Vec<String> = [
            "clsact",
            "ingress",
            "mq",
            "noqueue",
            "pfifo",
            "pfifo_fast",
            "tbf",
            "tdma",
            "Bad-Kind",
        ]
        .map(String::from)
        .to_vec();
        let known = [
            "pfifo_enqueue",
            "qdisc_dequeue_head",
            "pfifo_fast_enqueue",
            "pfifo_fast_dequeue",
            "tbf_enqueue",
            "tbf_dequeue",
            "tdma_enqueue",
            "tdma_dequeue",
            "noop_enqueue",
            "htb_enqueue",
        ];
        assert_eq!(
            enqueue_dequeue(&kinds, |f| known.contains(&f)),
            [
                "pfifo_enqueue",
                "pfifo_fast_enqueue",
                "pfifo_fast_dequeue",
                "tbf_enqueue",
                "tbf_dequeue",
                "tdma_enqueue",
                "tdma_dequeue",
            ]
        );
        assert!(enqueue_dequeue(&[], |_| true).is_empty());
    }

    /// A tbf installed in a test-made namespace is found, beside the
    /// `noqueue` of loopback interfaces.
    #[test]
    fn finds_the_qdiscs_of_named_namespaces() {
        let net = TestNet::create("qd").unwrap();
        net.add_tbf_on_a().unwrap();
        let installed = installed();
        assert!(installed.unread.is_empty(), "{:?}", installed.unread);
        for kind in ["noqueue", "tbf"] {
            assert!(
                installed.kinds.iter().any(|k| k == kind),
                "{kind} in {:?}",
                installed.kinds
            );
        }
    }
}
