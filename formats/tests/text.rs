mod common;

use common::*;
use formats::abi::{self, EventKind, RawEvent, event_flag, probe_id, tcp_flag};
use formats::meta::RetType;
use formats::sink::{Sink, Summary};
use formats::text::TextPrinter;

fn lines(events: &[RawEvent]) -> String {
    render(false, events)
}

fn render(color: bool, events: &[RawEvent]) -> String {
    let mut printer = TextPrinter::new(Vec::new()).with_color(color);
    printer.begin(&meta()).unwrap();
    for ev in events {
        printer.event(ev).unwrap();
    }
    printer.lost(0, 5).unwrap();
    printer.finish(&Summary::default()).unwrap();
    String::from_utf8(printer.into_inner()).unwrap()
}

fn line(ev: RawEvent) -> String {
    let text = lines(&[ev]);
    assert_eq!(text.matches('\n').count(), 1, "{text:?}");
    text.trim_end_matches('\n').to_owned()
}

#[test]
fn icmp_v4() {
    assert_eq!(
        line(icmp_echo()),
        "04:31:12.123456789   1 ping/1234        net_dev_queue        ffff8880041a2300 veth0       \
         ns:4026532281 ICMP 10.0.0.1 > 10.0.0.2 type 8/0 id 6699 len 84"
    );
}

#[test]
fn tcp_v4_syn_from_idle_task() {
    assert_eq!(
        line(tcp_syn()),
        "04:31:12.123556789   0 swapper/0        netif_receive_skb    ffff8880041a2300 veth1       \
         ns:4026532282 TCP 10.0.0.1:41234 > 10.0.0.2:80 [S] seq 123 id 4321 len 60"
    );
}

#[test]
fn tcp_flags_and_ack() {
    let mut ev = tcp_syn();
    ev.pkt.tcp_flags = tcp_flag::SYN | tcp_flag::ACK;
    ev.pkt.ack = 124;
    assert!(line(ev).ends_with("[S.] seq 123 ack 124 id 4321 len 60"));
    ev.pkt.tcp_flags = tcp_flag::FIN | tcp_flag::ACK;
    assert!(line(ev).contains(" [F.] seq 123 ack 124 "));
    ev.pkt.tcp_flags = tcp_flag::RST;
    assert!(line(ev).contains(" [R] seq 123 id "));
    ev.pkt.tcp_flags = 0;
    assert!(line(ev).contains(" [none] seq 123 id "));
}

#[test]
fn udp_v6_with_xmit_rc() {
    assert_eq!(
        line(udp_v6_xmit()),
        "04:31:14.000000000   1 ping/1234        net_dev_xmit         ffff8880041a2300 eth0        \
         ns:4026531840 UDP [2001:db8::1]:5353 > [ff02::fb]:5353 len 154 rc 0"
    );
    let mut busy = udp_v6_xmit();
    busy.value = 0x10;
    assert!(line(busy).ends_with(" len 154 rc 16"));
    let mut errno = udp_v6_xmit();
    errno.value = (-105i32) as u32 as u64;
    assert!(line(errno).ends_with(" len 154 rc -105"));
}

#[test]
fn icmp6_has_no_ports() {
    let mut ev = udp_v6_xmit();
    ev.probe_id = probe_id::NET_DEV_QUEUE;
    ev.pkt.l4_proto = abi::IPPROTO_ICMPV6;
    ev.pkt.icmp_type = 135;
    assert!(
        line(ev).ends_with(" ICMP6 2001:db8::1 > ff02::fb type 135/0 len 154"),
        "{}",
        line(ev)
    );
}

#[test]
fn drop_with_known_and_unknown_reason() {
    assert_eq!(
        line(tcp_drop(3)),
        "04:31:15.000000000   1 ping/1234        kfree_skb            ffff8880041a2300 lo          \
         ns:4026531840 TCP 127.0.0.1:55000 > 127.0.0.1:9 [P.] seq 1000 ack 2000 id 1 len 57 \
         drop NO_SOCKET at 0xffffffff81234567"
    );
    assert!(line(tcp_drop(99)).ends_with(" len 57 drop 99 at 0xffffffff81234567"));
    let mut no_location = tcp_drop(5);
    no_location.aux = 0;
    assert!(line(no_location).ends_with(" len 57 drop TCP_CSUM"));
}

#[test]
fn followed() {
    let mut ev = icmp_echo();
    ev.flags |= event_flag::FOLLOWED;
    assert!(line(ev).ends_with(" type 8/0 id 6699 len 84 (followed)"));
}

#[test]
fn no_packet_no_device() {
    assert_eq!(
        line(tcp_state_change()),
        "04:31:16.000000000  12 curl/777         inet_sock_set_state  -                -           \
         -             SYN_SENT -> ESTABLISHED"
    );
    let mut bare = tcp_state_change();
    bare.probe_id = probe_id::TCP_SEND_RESET;
    assert_eq!(
        line(bare),
        "04:31:16.000000000  12 curl/777         tcp_send_reset       -                -           -"
    );
    let mut unknown_state = tcp_state_change();
    unknown_state.value = 42;
    assert!(line(unknown_state).ends_with(" -             SYN_SENT -> 42"));
}

#[test]
fn socket_addresses_without_headers() {
    assert_eq!(
        line(tcp_state_change_with_socket()),
        "04:31:16.000000000  12 curl/777         inet_sock_set_state  -                -           \
         ns:4026531840 TCP 10.0.0.1:41234 > 10.0.0.2:80 (socket) SYN_SENT -> ESTABLISHED"
    );
    // Transmit above IP: an skb, but addresses from its socket.
    let mut ev = on_dev(base(probe_id::NET_DEV_QUEUE, 0), "eth0", 2, 1);
    ev.pkt = tcp_state_change_with_socket().pkt;
    ev.pkt.skb_len = 74;
    ev.flags |= event_flag::HAS_PACKET | event_flag::FROM_SOCKET;
    assert!(line(ev).ends_with(" ns:1          TCP 10.0.0.1:41234 > 10.0.0.2:80 (socket) len 74"));
}

#[test]
fn function_probe_entry_and_exit() {
    let mut entry = icmp_echo();
    entry.probe_id = FEXIT_PROBE;
    entry.kind = EventKind::Entry as u8;
    entry.value = 99;
    let mut exit = entry;
    exit.kind = EventKind::Exit as u8;
    exit.value = (-22i64) as u64;
    let text = lines(&[entry, exit]);
    let got: Vec<&str> = text.lines().collect();
    assert_eq!(
        got,
        [
            "04:31:12.123456789   1 ping/1234        ip_finish_output2 B  ffff8880041a2300 veth0       \
             ns:4026532281 ICMP 10.0.0.1 > 10.0.0.2 type 8/0 id 6699 len 84",
            "04:31:12.123456789   1 ping/1234        ip_finish_output2 E  ffff8880041a2300 veth0       \
             ns:4026532281 ICMP 10.0.0.1 > 10.0.0.2 type 8/0 id 6699 len 84 ret -22",
        ]
    );
}

/// What follows the packet on the exit line of a function returning `ty`.
fn ret_text(ty: RetType, raw: u64) -> String {
    let mut printer = TextPrinter::new(Vec::new());
    printer.begin(&meta_returning(ty)).unwrap();
    printer.event(&fexit_returning(raw)).unwrap();
    printer.finish(&Summary::default()).unwrap();
    let text = String::from_utf8(printer.into_inner()).unwrap();
    let (_, after) = text.split_once(" len 84").unwrap();
    after.trim().to_owned()
}

#[test]
fn return_values_follow_the_btf_type() {
    // rax after a `void` function is whatever it held: nothing to show.
    assert_eq!(ret_text(RetType::Void, 0x6_0800_1234_5678), "");
    assert_eq!(ret_text(RetType::Pointer, 0), "ret NULL");
    assert_eq!(ret_text(RetType::Pointer, SKB), "ret 0xffff8880041a2300");
    assert_eq!(ret_text(RetType::Bool, 1), "ret true");
    assert_eq!(ret_text(RetType::Bool, 0x100), "ret false");
    // An `int` -22 arrives zero-extended from eax.
    assert_eq!(ret_text(INT, 0xffff_ffea), "ret -EINVAL");
    assert_eq!(ret_text(INT, 0xdead_0000_0002), "ret 2");
    assert_eq!(ret_text(INT, (-524i64) as u64), "ret -ENOTSUPP");
    let drop_reason = RetType::Enum {
        size: 4,
        signed: false,
    };
    assert_eq!(ret_text(drop_reason, 0xffff_ffff_0000_0010), "ret 16");
    // Records without return types print as before.
    assert_eq!(ret_text(RetType::Unknown, (-22i64) as u64), "ret -22");
    assert_eq!(ret_text(RetType::Unknown, SKB), "ret 0xffff8880041a2300");
}

#[test]
fn netfilter_hook_by_name_at_entry_and_verdict_at_exit() {
    let mut entry = icmp_echo();
    entry.probe_id = NF_HOOK_PROBE;
    entry.kind = EventKind::Entry as u8;
    entry.aux = 1 | 2 << 8; // LOCAL_IN of NFPROTO_IPV4
    let mut exit = entry;
    exit.kind = EventKind::Exit as u8;
    exit.value = (-1i64) as u64;
    let text = lines(&[entry, exit]);
    let got: Vec<&str> = text.lines().collect();
    assert!(got[0].ends_with("len 84 hook LOCAL_IN"), "{}", got[0]);
    assert!(got[1].ends_with("len 84 ret -1"), "{}", got[1]);
    entry.aux = 9 | 2 << 8;
    assert!(line(entry).ends_with("hook 9"));
}

#[test]
fn qdisc_values() {
    let mut ev = on_dev(base(probe_id::QDISC_ENQUEUE, 0), "eth0", 2, 4026531840);
    ev.value = 3;
    ev.aux = (0x8001_0000u64 << 32) | u64::from(u32::MAX);
    assert!(line(ev).ends_with(" ns:4026531840 qlen 3 handle 8001:0 parent root"));
    ev.aux = 0;
    assert!(line(ev).ends_with(" ns:4026531840 qlen 3"));
}

#[test]
fn unknown_probe_and_odd_names() {
    let mut ev = icmp_echo();
    ev.probe_id = 4242;
    ev.kind = 9;
    ev.comm = [0; abi::TASK_COMM_LEN];
    ev.comm[..6].copy_from_slice(b"a\x1b[2Jb");
    ev.ifname = [0; abi::IFNAMSIZ];
    ev.value = 7;
    let text = line(ev);
    assert!(
        text.starts_with(
            "04:31:12.123456789   1 a?[2Jb/1234      probe#4242 ?         ffff8880041a2300 if7         "
        ),
        "{text}"
    );
    assert!(!text.contains('\x1b'));
}

#[test]
fn packet_without_ip_header() {
    let mut ev = on_dev(base(probe_id::CONSUME_SKB, 0), "eth0", 2, 0);
    ev.flags |= event_flag::HAS_PACKET;
    ev.pkt.skb_len = 42;
    assert!(line(ev).ends_with(" eth0        -             len 42"));
}

#[test]
fn arp_as_tcpdump_says_it() {
    assert_eq!(
        line(arp(1, [0; 6])),
        "04:31:12.000000000   1 ping/1234        net_dev_queue        ffff8880041a2300 veth0       \
         ns:4026532281 ARP, Request who-has 10.0.0.2 tell 10.0.0.1 len 42"
    );
    let mut reply = arp(2, [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
    reply.pkt.saddr[4..10].copy_from_slice(&[0x6a, 0xd1, 0xdd, 0x50, 0xb1, 0x29]);
    assert!(
        line(reply).ends_with(" ARP, Reply 10.0.0.1 is-at 6a:d1:dd:50:b1:29 len 42"),
        "{}",
        line(reply)
    );
}

#[test]
fn other_ethertypes_by_name_or_number() {
    let mut ev = on_dev(base(probe_id::NETIF_RECEIVE_SKB, 0), "eth0", 2, 0);
    ev.flags |= event_flag::HAS_PACKET;
    ev.pkt.skb_len = 60;
    ev.pkt.l3_proto = 0x88cc;
    assert!(line(ev).ends_with(" eth0        -             ethertype LLDP (0x88cc) len 60"));
    ev.pkt.l3_proto = 0x1234;
    assert!(line(ev).ends_with(" ethertype 0x1234 len 60"));
}

#[test]
fn bytes_copied_to_user() {
    let mut ev = udp_v6_xmit();
    ev.probe_id = probe_id::SKB_COPY_DATAGRAM_IOVEC;
    ev.value = 1200;
    assert!(
        line(ev).ends_with(
            " UDP [2001:db8::1]:5353 > [ff02::fb]:5353 len 154 copied to user 1200 bytes"
        ),
        "{}",
        line(ev)
    );
}

#[test]
fn colors_only_when_enabled() {
    let plain = lines(&[tcp_drop(3)]);
    assert!(!plain.contains('\x1b'));
    let colored = render(true, &[tcp_drop(3)]);
    assert!(colored.contains("\x1b[36mkfree_skb\x1b[0m            ffff"));
    assert!(colored.contains("\x1b[31mdrop NO_SOCKET at 0xffffffff81234567\x1b[0m"));
}

#[test]
fn lost_and_finish_print_nothing() {
    assert_eq!(lines(&[]), "");
}

#[test]
fn event_before_begin_is_an_error() {
    let mut printer = TextPrinter::new(Vec::new());
    assert!(printer.event(&icmp_echo()).is_err());
}
