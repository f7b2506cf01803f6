//! The kernel↔userspace event ABI.
//!
//! Everything here is `#[repr(C)]`, `no_std` and shared byte-for-byte by the BPF
//! programs (`tracer-ebpf`) and userspace. Change a layout → bump [`ABI_VERSION`]:
//! record files carry it and refuse to mix versions.

/// Bumped whenever a layout below changes.
pub const ABI_VERSION: u32 = 3;

pub const IFNAMSIZ: usize = 16;
pub const TASK_COMM_LEN: usize = 16;

/// Marks an offset the running kernel does not have (member missing from BTF).
pub const OFFSET_NONE: u32 = u32::MAX;

/// `skb->network_header` and friends use `~0` for "not set".
pub const SKB_HEADER_UNSET: u16 = u16::MAX;

pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_ARP: u16 = 0x0806;
pub const ETH_P_IPV6: u16 = 0x86dd;
pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ICMPV6: u8 = 58;
pub const IPPROTO_SCTP: u8 = 132;

/// TCP header flag bits as they sit in byte 13 of the header.
pub mod tcp_flag {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// What an event marks in time.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A tracepoint (or any single point in time).
    Point = 0,
    /// Entry into a probed function.
    Entry = 1,
    /// Return from a probed function.
    Exit = 2,
}

impl EventKind {
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::Point),
            1 => Some(Self::Entry),
            2 => Some(Self::Exit),
            _ => None,
        }
    }
}

/// Event flag bits (`RawEvent::flags`).
pub mod event_flag {
    /// Emitted because `--follow-skb` tracks this skb, not because it matched now.
    pub const FOLLOWED: u8 = 0x01;
    /// `pkt` holds what the skb's headers say: an IP header, an ARP
    /// header, or only the ethertype of a packet that is neither (see
    /// [`PacketSummary::l3_proto`](super::PacketSummary)).
    pub const HAS_PACKET: u8 = 0x02;
    /// `ifindex`/`ifname`/`netns` come from a device.
    pub const HAS_DEV: u8 = 0x04;
    /// `pkt` holds addresses and ports of the skb's (or event's) socket, not
    /// parsed headers: on transmit above IP the headers are not built yet.
    pub const FROM_SOCKET: u8 = 0x08;
    /// Entry of a function without an skb whose socket did not pass the
    /// filter: keep it only inside a kept frame or around a kept event.
    pub const TENTATIVE: u8 = 0x10;
    /// Entry of a call whose frame could not be recorded (frame stack full):
    /// no exit will be emitted for it, and nothing nests inside it.
    pub const UNTRACKED: u8 = 0x20;
    /// The first event a CPU wrote after the ring lost some of its events:
    /// what was open on that CPU may lack exits and children.
    pub const AFTER_LOSS: u8 = 0x40;
}

/// The key of a task's frames, in the kernel and in the stitcher: the thread
/// id, except for the idle tasks, which all have thread id 0 and are told
/// apart by CPU (each CPU has its own and it never migrates).
#[inline(always)]
pub fn task_key(tid: u32, cpu: u32) -> u64 {
    if tid == 0 {
        (cpu as u64) << 32 | 1 << 63
    } else {
        tid as u64
    }
}

/// Probe ids of the tracepoint programs, fixed at build time. Dynamically
/// attached function probes (fentry/kprobe) take ids from [`FIRST_DYNAMIC_PROBE_ID`].
pub mod probe_id {
    pub const NETIF_RECEIVE_SKB: u32 = 1;
    pub const NET_DEV_QUEUE: u32 = 2;
    pub const NET_DEV_START_XMIT: u32 = 3;
    pub const NET_DEV_XMIT: u32 = 4;
    pub const QDISC_ENQUEUE: u32 = 5;
    pub const QDISC_DEQUEUE: u32 = 6;
    pub const KFREE_SKB: u32 = 7;
    pub const CONSUME_SKB: u32 = 8;
    pub const TCP_RETRANSMIT_SKB: u32 = 9;
    pub const INET_SOCK_SET_STATE: u32 = 10;
    pub const TCP_SEND_RESET: u32 = 11;
    pub const TCP_RECEIVE_RESET: u32 = 12;
    pub const UDP_FAIL_QUEUE_RCV_SKB: u32 = 13;
    /// `irq:softirq_entry` / `irq:softirq_exit` for the NET_TX and NET_RX
    /// vectors (`value` = vector), emitted only while the CPU has traced
    /// frames open: they tell the stitcher where a softirq pass nests inside
    /// another (RX on a veth peer running inside a TX on the same CPU).
    pub const SOFTIRQ_ENTRY: u32 = 14;
    pub const SOFTIRQ_EXIT: u32 = 15;
    /// sch_tdma's own tracepoints (raw tracepoints of the `sch_tdma`
    /// module, attached whenever it is loaded); fields in [`super::tdma`].
    pub const TDMA_ENQUEUE: u32 = 16;
    pub const TDMA_DEQUEUE: u32 = 17;
    pub const TDMA_DROP: u32 = 18;
    pub const TDMA_WINDOW_OPEN: u32 = 19;
    pub const TDMA_WINDOW_CLOSE: u32 = 20;
    pub const TDMA_CHANGE: u32 = 21;
    /// `skb:skb_copy_datagram_iovec`: a socket's reader copies an skb's data
    /// to user space (`value` = bytes), in the receiving task's context.
    /// Every TCP read; UDP only for a datagram not in one linear buffer (a
    /// linear one is copied by `copy_linear_skb`, which has no tracepoint).
    pub const SKB_COPY_DATAGRAM_IOVEC: u32 = 22;
    pub const FIRST_DYNAMIC_PROBE_ID: u32 = 1000;
}

/// Packet headers parsed in BPF from the skb's data. Multi-byte fields are in
/// host byte order except the addresses, which keep network order.
///
/// What the fields hold depends on `l3_proto`:
///
/// | `l3_proto`      | fields                                                        |
/// |-----------------|---------------------------------------------------------------|
/// | `ETH_P_IP`/`ETH_P_IPV6` | the IP header and the transport header after it       |
/// | [`ETH_P_ARP`]   | `ip_id`: the ARP operation (1 request, 2 reply, ...), 0 when the header is not Ethernet/IPv4 ARP (then nothing else is parsed); `saddr[0..4]`/`saddr[4..10]`: sender IPv4 and MAC address; `daddr[0..4]`/`daddr[4..10]`: target IPv4 and MAC address |
/// | another ethertype | `skb->protocol`, nothing else parsed                        |
/// | 0               | no header found (or the socket's addresses, `FROM_SOCKET`)    |
///
/// ARP was added without changing this layout (so [`ABI_VERSION`] stayed):
/// older records have no ARP or ethertype events, and nothing else moved.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketSummary {
    /// IPv4 addresses occupy the first 4 bytes, the rest is zero (ARP: the
    /// MAC address follows in bytes 4..10).
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    /// `skb->len` at the time of the event.
    pub skb_len: u32,
    pub seq: u32,
    pub ack: u32,
    /// `skb->protocol` as parsed: `ETH_P_IP`, `ETH_P_IPV6`, [`ETH_P_ARP`],
    /// another ethertype, or 0 when no header was found.
    pub l3_proto: u16,
    /// IPv4 total length; IPv6 payload length + 40.
    pub ip_len: u16,
    /// IPv4 identification; for IPv6 the low 16 bits of the flow label; for
    /// ARP the operation.
    pub ip_id: u16,
    pub sport: u16,
    pub dport: u16,
    pub l4_proto: u8,
    pub tcp_flags: u8,
    pub ttl: u8,
    pub icmp_type: u8,
    pub icmp_code: u8,
    pub _pad: u8,
}

/// One event as the BPF side writes it into the ring buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawEvent {
    /// `bpf_ktime_get_ns()`: CLOCK_MONOTONIC.
    pub ts_ns: u64,
    /// `struct sk_buff *`, 0 for events without an skb.
    pub skb: u64,
    /// Probe-specific: return value (exit), drop reason (kfree_skb), xmit rc,
    /// new TCP state, qdisc queue length.
    pub value: u64,
    /// Probe-specific second value: drop location, old TCP state, qdisc handle.
    pub aux: u64,
    pub probe_id: u32,
    pub cpu: u32,
    /// Thread group id (what users call the pid) and thread id.
    pub pid: u32,
    pub tid: u32,
    /// Inode of the network namespace of the device (or socket).
    pub netns: u32,
    pub ifindex: u32,
    /// Kernel stack id in the stack map, or -1.
    pub stack_id: i32,
    pub kind: u8,
    pub flags: u8,
    pub _pad: [u8; 2],
    pub comm: [u8; TASK_COMM_LEN],
    pub ifname: [u8; IFNAMSIZ],
    pub pkt: PacketSummary,
    /// Probe-specific third value (sch_tdma: window index).
    pub extra: u32,
    /// Probe-specific further values (sch_tdma events, see [`tdma`]).
    pub args: [u64; 3],
}

impl RawEvent {
    pub const fn zeroed() -> Self {
        RawEvent {
            ts_ns: 0,
            skb: 0,
            value: 0,
            aux: 0,
            probe_id: 0,
            cpu: 0,
            pid: 0,
            tid: 0,
            netns: 0,
            ifindex: 0,
            stack_id: -1,
            kind: 0,
            flags: 0,
            _pad: [0; 2],
            comm: [0; TASK_COMM_LEN],
            ifname: [0; IFNAMSIZ],
            pkt: PacketSummary {
                saddr: [0; 16],
                daddr: [0; 16],
                skb_len: 0,
                seq: 0,
                ack: 0,
                l3_proto: 0,
                ip_len: 0,
                ip_id: 0,
                sport: 0,
                dport: 0,
                l4_proto: 0,
                tcp_flags: 0,
                ttl: 0,
                icmp_type: 0,
                icmp_code: 0,
                _pad: 0,
            },
            extra: 0,
            args: [0; 3],
        }
    }

    /// Size of one event in the ring buffer and in record files.
    pub const SIZE: usize = core::mem::size_of::<RawEvent>();

    /// Reads an event from bytes (ring buffer item or record frame).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < Self::SIZE {
            return None;
        }
        // SAFETY: length checked; RawEvent is plain old data valid for any bit pattern.
        Some(unsafe { core::ptr::read_unaligned(bytes.as_ptr() as *const RawEvent) })
    }

    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: RawEvent is repr(C) plain old data with explicit padding fields.
        unsafe { core::slice::from_raw_parts(self as *const Self as *const u8, Self::SIZE) }
    }

    /// Number of 64-bit words in an event (its size is a multiple of 8).
    pub const WORDS: usize = Self::SIZE / 8;

    /// The event as host-order 64-bit words: record files encode events
    /// word by word against earlier ones.
    pub fn as_words(&self) -> &[u64; Self::WORDS] {
        const { assert!(Self::SIZE == 8 * Self::WORDS) };
        const { assert!(core::mem::align_of::<Self>() == core::mem::align_of::<u64>()) };
        // SAFETY: same size and alignment (asserted above); every field is an
        // integer or an array of integers, padding included, so no byte is
        // uninitialized.
        unsafe { &*(self as *const Self as *const [u64; Self::WORDS]) }
    }

    /// Mutable [`as_words`](Self::as_words).
    pub fn as_words_mut(&mut self) -> &mut [u64; Self::WORDS] {
        // SAFETY: as in `as_words`; and any bit pattern is a valid RawEvent.
        unsafe { &mut *(self as *mut Self as *mut [u64; Self::WORDS]) }
    }
}

/// Byte offsets of kernel struct members, computed from the running kernel's
/// BTF by userspace and handed to the BPF programs as a read-only global.
/// [`OFFSET_NONE`] marks a member this kernel lacks.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelOffsets {
    pub skb_head: u32,
    pub skb_data: u32,
    pub skb_len: u32,
    pub skb_network_header: u32,
    pub skb_transport_header: u32,
    pub skb_mac_header: u32,
    pub skb_protocol: u32,
    pub skb_dev: u32,
    pub skb_sk: u32,
    pub dev_ifindex: u32,
    pub dev_name: u32,
    /// `offsetof(struct net_device, nd_net)`: a `possible_net_t` holding `struct net *`.
    pub dev_nd_net: u32,
    /// `offsetof(struct net, ns) + offsetof(struct ns_common, inum)`.
    pub net_ns_inum: u32,
    pub sk_family: u32,
    pub sk_protocol: u32,
    pub sk_daddr: u32,
    pub sk_rcv_saddr: u32,
    pub sk_dport: u32,
    pub sk_num: u32,
    pub sk_v6_daddr: u32,
    pub sk_v6_rcv_saddr: u32,
    /// `offsetof(struct sock, __sk_common.skc_net)`.
    pub sk_net: u32,
    pub sk_bound_dev_if: u32,
    pub qdisc_handle: u32,
    pub qdisc_parent: u32,
    /// `offsetof(struct Qdisc, q.qlen)`.
    pub qdisc_qlen: u32,
    /// `offsetof(struct Qdisc, dev_queue)` and `offsetof(struct netdev_queue, dev)`.
    pub qdisc_dev_queue: u32,
    pub netdev_queue_dev: u32,
    /// `offsetof(struct nf_hook_state, hook)` and `pf` (both `u8`).
    pub nf_state_hook: u32,
    pub nf_state_pf: u32,
    /// `offsetof(struct task_struct, nsproxy)` and `offsetof(struct nsproxy,
    /// net_ns)`: the current task's namespace, for an skb that names none.
    pub task_nsproxy: u32,
    pub nsproxy_net_ns: u32,
}

impl KernelOffsets {
    pub const fn none() -> Self {
        KernelOffsets {
            skb_head: OFFSET_NONE,
            skb_data: OFFSET_NONE,
            skb_len: OFFSET_NONE,
            skb_network_header: OFFSET_NONE,
            skb_transport_header: OFFSET_NONE,
            skb_mac_header: OFFSET_NONE,
            skb_protocol: OFFSET_NONE,
            skb_dev: OFFSET_NONE,
            skb_sk: OFFSET_NONE,
            dev_ifindex: OFFSET_NONE,
            dev_name: OFFSET_NONE,
            dev_nd_net: OFFSET_NONE,
            net_ns_inum: OFFSET_NONE,
            sk_family: OFFSET_NONE,
            sk_protocol: OFFSET_NONE,
            sk_daddr: OFFSET_NONE,
            sk_rcv_saddr: OFFSET_NONE,
            sk_dport: OFFSET_NONE,
            sk_num: OFFSET_NONE,
            sk_v6_daddr: OFFSET_NONE,
            sk_v6_rcv_saddr: OFFSET_NONE,
            sk_net: OFFSET_NONE,
            sk_bound_dev_if: OFFSET_NONE,
            qdisc_handle: OFFSET_NONE,
            qdisc_parent: OFFSET_NONE,
            qdisc_qlen: OFFSET_NONE,
            qdisc_dev_queue: OFFSET_NONE,
            netdev_queue_dev: OFFSET_NONE,
            nf_state_hook: OFFSET_NONE,
            nf_state_pf: OFFSET_NONE,
            task_nsproxy: OFFSET_NONE,
            nsproxy_net_ns: OFFSET_NONE,
        }
    }
}

/// Maximum number of instructions in a compiled filter.
pub const FILTER_MAX_INSNS: usize = 32;
/// Depth of the filter's boolean stack (bits of a u32).
pub const FILTER_MAX_DEPTH: usize = 16;

/// Filter opcodes. A filter is a postfix program over a stack of booleans:
/// predicates push, `AND`/`OR` pop two and push one, `NOT` flips the top.
pub mod filter_op {
    /// Push true.
    pub const TRUE: u8 = 0;
    /// `pkt.l4_proto == lo`.
    pub const L4_PROTO: u8 = 1;
    /// `pkt.l3_proto == lo`.
    pub const L3_PROTO: u8 = 2;
    /// Address under `mask` equals `words` (per `dir`); `lo` = family (4 or 6).
    pub const ADDR: u8 = 3;
    /// Port in `[lo, hi]` (per `dir`), TCP/UDP/SCTP only.
    pub const PORT: u8 = 4;
    /// Interface name equals `words` (NUL-padded, 16 bytes).
    pub const IFNAME: u8 = 5;
    /// `netns == lo`.
    pub const NETNS: u8 = 6;
    /// `pid == lo`.
    pub const PID: u8 = 7;
    /// `ifindex == lo`.
    pub const IFINDEX: u8 = 8;
    /// TCP and `(tcp_flags & lo) != 0`.
    pub const TCP_FLAGS: u8 = 9;
    pub const AND: u8 = 10;
    pub const OR: u8 = 11;
    pub const NOT: u8 = 12;
}

/// Which address or port a predicate looks at.
pub mod filter_dir {
    pub const EITHER: u8 = 0;
    pub const SRC: u8 = 1;
    pub const DST: u8 = 2;
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterInsn {
    pub op: u8,
    pub dir: u8,
    pub _pad: [u8; 2],
    pub lo: u32,
    pub hi: u32,
    /// Address (network order, IPv4 in word 0) or interface name bytes.
    pub words: [u32; 4],
    /// Mask applied to the packet's words before comparing.
    pub mask: [u32; 4],
}

impl FilterInsn {
    pub const fn new(op: u8) -> Self {
        FilterInsn {
            op,
            dir: 0,
            _pad: [0; 2],
            lo: 0,
            hi: 0,
            words: [0; 4],
            mask: [0; 4],
        }
    }
}

/// Run-time configuration of the BPF programs (read-only global `CONFIG`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceConfig {
    /// [`config_flag`] bits.
    pub flags: u32,
    /// Number of valid instructions in `filter`; 0 accepts everything.
    pub filter_len: u32,
    pub filter: [FilterInsn; FILTER_MAX_INSNS],
}

pub mod config_flag {
    /// Keep emitting events for an skb that matched once, until it is freed.
    pub const FOLLOW_SKB: u32 = 0x1;
    /// Capture kernel stacks.
    pub const STACKS: u32 = 0x2;
}

impl TraceConfig {
    pub const fn accept_all() -> Self {
        TraceConfig {
            flags: 0,
            filter_len: 0,
            filter: [FilterInsn::new(filter_op::TRUE); FILTER_MAX_INSNS],
        }
    }
}

/// Where sch_tdma's tracepoint arguments land in a [`RawEvent`] (the BPF
/// side writes them, [`crate::tdma`] reads them back). Times named `*_ns`
/// without "clock" are durations; `start`/`end`/`now` are times on the
/// qdisc's schedule clock (CLOCK_TAI by default), not `ts_ns`'s monotonic one.
///
/// | probe          | `value`       | `aux`        | `extra`  | `args`                          |
/// |----------------|---------------|--------------|----------|---------------------------------|
/// | enqueue        | qlen          | backlog B    | —        | —                               |
/// | dequeue        | waited ns     | left ns (i64)| window   | frame (i64), qlen, —            |
/// | drop           | reason        | qlen         | —        | —                               |
/// | window_open    | frame (i64)   | start        | window   | end, now, qlen                  |
/// | window_close   | frame (i64)   | end          | window   | now, packets, bytes             |
/// | change         | new frame ns  | old frame ns | new << 16 \| old windows | effective, now, — |
///
/// Events of window and change have no skb; the qdisc's device fills
/// `ifindex`/`ifname`/`netns` of all of them.
pub mod tdma {
    /// `enum tdma_drop_reason` of `tdma_uapi.h`.
    pub const DROP_LIMIT: u64 = 1;
    pub const DROP_TOO_BIG: u64 = 2;
    pub const DROP_PURGE: u64 = 3;
}

/// Index of the per-CPU counters in the `COUNTERS` map.
/// What a function probe needs to know about the function it runs for,
/// beyond the argument positions its program was loaded with (one program
/// serves every function of one argument layout). The loader stores one per
/// probed function in the probe object's `FUNCS` map, keyed by the
/// function's address: kprobes find the key in their attach cookie, fentry
/// programs ask the trampoline for the traced address.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuncInfo {
    pub probe_id: u32,
    /// Where fexit finds the skb (its address goes into the exit event), or
    /// [`NO_ARG`].
    pub skb_arg: u32,
    /// Number of arguments: fexit finds the return value after them.
    pub nr_args: u32,
    pub _pad: u32,
}

/// Marks "this function has no such argument" in [`FuncInfo`] and the
/// probe programs' argument globals.
pub const NO_ARG: u32 = u32::MAX;

pub mod counter {
    /// Events lost because the ring buffer was full.
    pub const LOST: u32 = 0;
    /// Events that passed the filter and were submitted.
    pub const EMITTED: u32 = 1;
    /// Events rejected by the filter.
    pub const FILTERED: u32 = 2;
    /// Function entries emitted without a recorded frame (no exit follows).
    pub const UNTRACKED: u32 = 3;
    /// Number of counters.
    pub const COUNT: u32 = 4;
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{align_of, offset_of, size_of};

    #[test]
    fn packet_summary_layout() {
        assert_eq!(size_of::<PacketSummary>(), 60);
        assert_eq!(align_of::<PacketSummary>(), 4);
        assert_eq!(offset_of!(PacketSummary, skb_len), 32);
        assert_eq!(offset_of!(PacketSummary, l3_proto), 44);
        assert_eq!(offset_of!(PacketSummary, l4_proto), 54);
    }

    #[test]
    fn func_info_layout() {
        assert_eq!(size_of::<FuncInfo>(), 16);
        assert_eq!(offset_of!(FuncInfo, nr_args), 8);
    }

    #[test]
    fn raw_event_layout() {
        assert_eq!(size_of::<RawEvent>(), 184);
        assert_eq!(align_of::<RawEvent>(), 8);
        assert_eq!(offset_of!(RawEvent, probe_id), 32);
        assert_eq!(offset_of!(RawEvent, stack_id), 56);
        assert_eq!(offset_of!(RawEvent, kind), 60);
        assert_eq!(offset_of!(RawEvent, comm), 64);
        assert_eq!(offset_of!(RawEvent, ifname), 80);
        assert_eq!(offset_of!(RawEvent, pkt), 96);
    }

    #[test]
    fn filter_layout() {
        assert_eq!(size_of::<FilterInsn>(), 44);
        assert_eq!(size_of::<TraceConfig>(), 8 + 44 * FILTER_MAX_INSNS);
        assert_eq!(size_of::<KernelOffsets>(), 4 * 32);
    }

    #[test]
    fn raw_event_bytes_round_trip() {
        let mut e = RawEvent::zeroed();
        e.ts_ns = 0x1122_3344_5566_7788;
        e.skb = 0xffff_8880_0123_4500;
        e.pkt.sport = 443;
        e.comm[..4].copy_from_slice(b"curl");
        let back = RawEvent::from_bytes(e.as_bytes()).unwrap();
        assert_eq!(back, e);
        assert!(RawEvent::from_bytes(&e.as_bytes()[..RawEvent::SIZE - 1]).is_none());
    }

    #[test]
    fn raw_event_words_are_its_bytes() {
        let mut e = RawEvent::zeroed();
        e.ts_ns = 0x1122_3344_5566_7788;
        e.args[2] = 7;
        assert_eq!(RawEvent::WORDS, 23);
        let words = e.as_words();
        assert_eq!(words[0], e.ts_ns);
        assert_eq!(words[RawEvent::WORDS - 1], 7);
        for (i, word) in words.iter().enumerate() {
            assert_eq!(word.to_ne_bytes(), e.as_bytes()[8 * i..8 * i + 8]);
        }
        e.as_words_mut()[1] = 0xffff_8880_0000_0100;
        assert_eq!(e.skb, 0xffff_8880_0000_0100);
    }
}
