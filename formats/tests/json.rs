mod common;

use common::*;
use formats::abi::{EventKind, RawEvent, event_flag, probe_id};
use formats::json::JsonPrinter;
use formats::meta::{RetType, TraceMeta};
use formats::sink::{Sink, Summary};
use serde_json::{Value, json};

fn objects_with(meta: &TraceMeta, events: &[RawEvent]) -> Vec<Value> {
    let mut printer = JsonPrinter::new(Vec::new());
    printer.begin(meta).unwrap();
    for ev in events {
        printer.event(ev).unwrap();
    }
    printer.lost(3, 10).unwrap();
    printer.finish(&Summary::default()).unwrap();
    let text = String::from_utf8(printer.into_inner()).unwrap();
    assert_eq!(text.lines().count(), events.len());
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn object(ev: RawEvent) -> Value {
    objects_with(&meta(), &[ev]).remove(0)
}

fn keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

#[test]
fn tcp_v4_fields() {
    let v = object(tcp_syn());
    assert_eq!(
        v,
        json!({
            "ts_ns": MONO_START_NS + 123_556_789,
            "time": "2024-05-01T04:31:12.123556789Z",
            "cpu": 0, "pid": 0, "tid": 0,
            "comm": "swapper/0",
            "probe": "netif_receive_skb",
            "kind": "point",
            "skb": "0xffff8880041a2300",
            "ifindex": 8, "ifname": "veth1", "netns": 4026532282u32,
            "len": 60, "family": 4, "proto": "tcp",
            "saddr": "10.0.0.1", "daddr": "10.0.0.2", "sport": 41234, "dport": 80,
            "tcp_flags": "S", "tcp_flag_bits": 2, "seq": 123, "ack": 0,
            "ip_id": 4321, "ip_len": 60, "ttl": 64,
        })
    );
}

#[test]
fn udp_v6_fields() {
    let v = object(udp_v6_xmit());
    assert_eq!(v["family"], 6);
    assert_eq!(v["proto"], "udp");
    assert_eq!(v["saddr"], "2001:db8::1");
    assert_eq!(v["daddr"], "ff02::fb");
    assert_eq!(v["sport"], 5353);
    assert_eq!(v["rc"], 0);
    assert_eq!(v["ip_id"], 0x1234);
    assert!(v.get("tcp_flags").is_none());
    assert!(v.get("seq").is_none());
    assert!(v.get("icmp_type").is_none());
}

#[test]
fn icmp_fields() {
    let v = object(icmp_echo());
    assert_eq!(v["proto"], "icmp");
    assert_eq!(v["icmp_type"], 8);
    assert_eq!(v["icmp_code"], 0);
    assert!(v.get("sport").is_none());
    assert!(v.get("dport").is_none());
}

#[test]
fn drop_fields() {
    let v = object(tcp_drop(3));
    assert_eq!(v["drop_reason"], "NO_SOCKET");
    assert_eq!(v["drop_location"], "0xffffffff81234567");
    assert_eq!(v["tcp_flags"], "P.");
    assert_eq!(v["ack"], 2000);
    let unknown = object(tcp_drop(99));
    assert_eq!(unknown["drop_reason"], 99);
}

#[test]
fn no_packet_event_has_only_what_applies() {
    let mut ev = tcp_state_change();
    ev.flags |= event_flag::FOLLOWED;
    ev.stack_id = 17;
    let v = object(ev);
    assert_eq!(
        keys(&v),
        [
            "comm",
            "cpu",
            "followed",
            "kind",
            "pid",
            "probe",
            "stack_id",
            "tcp_old_state",
            "tcp_state",
            "tid",
            "time",
            "ts_ns"
        ]
    );
    assert_eq!(v["tcp_state"], "ESTABLISHED");
    assert_eq!(v["tcp_old_state"], "SYN_SENT");
    assert_eq!(v["followed"], true);
    assert_eq!(v["stack_id"], 17);
}

#[test]
fn socket_addresses_without_headers() {
    let v = object(tcp_state_change_with_socket());
    assert_eq!(v["from_socket"], true);
    assert_eq!(v["saddr"], "10.0.0.1");
    assert_eq!(v["dport"], 80);
    assert_eq!(v["proto"], "tcp");
    for absent in [
        "len",
        "seq",
        "ack",
        "tcp_flags",
        "ip_id",
        "ip_len",
        "ttl",
        "skb",
    ] {
        assert!(v.get(absent).is_none(), "{absent} in {v}");
    }
    assert!(object(tcp_syn()).get("from_socket").is_none());
}

#[test]
fn function_probe_return_and_kinds() {
    let mut entry = icmp_echo();
    entry.probe_id = FEXIT_PROBE;
    entry.kind = EventKind::Entry as u8;
    let mut exit = entry;
    exit.kind = EventKind::Exit as u8;
    exit.value = (-22i64) as u64;
    let v = objects_with(&meta(), &[entry, exit]);
    assert_eq!(v[0]["kind"], "entry");
    assert!(v[0].get("ret").is_none());
    assert_eq!(v[1]["kind"], "exit");
    assert_eq!(v[1]["ret"], -22);
    assert_eq!(v[1]["probe"], "ip_finish_output2");
}

#[test]
fn return_values_follow_the_btf_type() {
    let ret = |ty, raw| {
        let v = objects_with(&meta_returning(ty), &[fexit_returning(raw)]).remove(0);
        (v.get("ret").cloned(), v.get("ret_name").cloned())
    };
    assert_eq!(ret(RetType::Void, 0x6_0800_1234_5678), (None, None));
    assert_eq!(
        ret(RetType::Pointer, 0),
        (Some(json!(0)), Some(json!("NULL")))
    );
    assert_eq!(
        ret(RetType::Pointer, SKB),
        (Some(json!(SKB)), Some(json!("0xffff8880041a2300")))
    );
    assert_eq!(
        ret(RetType::Bool, 0x101),
        (Some(json!(1)), Some(json!("true")))
    );
    assert_eq!(
        ret(INT, 0xffff_ffea),
        (Some(json!(-22)), Some(json!("-EINVAL")))
    );
    assert_eq!(ret(INT, 0xdead_0000_0002), (Some(json!(2)), None));
    // Records without return types print as before.
    assert_eq!(
        ret(RetType::Unknown, (-22i64) as u64),
        (Some(json!(-22)), None)
    );
}

#[test]
fn qdisc_fields() {
    let mut ev = on_dev(base(probe_id::QDISC_DEQUEUE, 0), "eth0", 2, 1);
    ev.value = 4;
    ev.aux = (0x0001_0000u64 << 32) | 0xffff_ffff;
    let v = object(ev);
    assert_eq!(v["qlen"], 4);
    assert_eq!(v["qdisc_handle"], "1:0");
    assert_eq!(v["qdisc_parent"], "root");
}

#[test]
fn local_offset_in_time_and_odd_names() {
    let mut meta = meta();
    meta.clock.utc_offset_s = 2 * 3600;
    let mut ev = icmp_echo();
    ev.probe_id = 5555;
    ev.comm[..5].copy_from_slice(b"x\n\"\xff\0");
    let v = objects_with(&meta, &[ev]).remove(0);
    assert_eq!(v["time"], "2024-05-01T06:31:12.123456789+02:00");
    assert_eq!(v["probe"], "probe#5555");
    assert_eq!(v["comm"], "x\n\"\u{fffd}");
}

#[test]
fn packet_without_ip_header() {
    let mut ev = on_dev(base(probe_id::CONSUME_SKB, 0), "eth0", 2, 0);
    ev.flags |= event_flag::HAS_PACKET;
    ev.pkt.skb_len = 42;
    let v = object(ev);
    assert_eq!(v["len"], 42);
    assert!(v.get("family").is_none());
    assert!(v.get("saddr").is_none());
    assert!(v.get("netns").is_none());
}

#[test]
fn arp_object() {
    let v = object(arp(1, [0; 6]));
    assert_eq!(v["ethertype"], "ARP");
    assert_eq!(
        v["arp"],
        json!({
            "op": "request",
            "sender_ip": "10.0.0.1",
            "sender_mac": "02:00:00:00:00:01",
            "target_ip": "10.0.0.2",
            "target_mac": "00:00:00:00:00:00",
        })
    );
    assert_eq!(v["len"], 42);
    for ip_only in ["family", "saddr", "proto", "sport", "ip_id", "ttl"] {
        assert!(v.get(ip_only).is_none(), "{ip_only} in {v}");
    }
    let reply = object(arp(2, [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]));
    assert_eq!(reply["arp"]["op"], "reply");
    assert_eq!(reply["arp"]["target_mac"], "aa:bb:cc:dd:ee:ff");
    assert_eq!(object(arp(77, [0; 6]))["arp"]["op"], 77);
    // Not Ethernet/IPv4: named, not parsed.
    let other = object(arp(0, [0; 6]));
    assert_eq!(other["ethertype"], "ARP");
    assert!(other.get("arp").is_none());
}

#[test]
fn other_ethertypes_by_name_or_number() {
    let mut ev = on_dev(base(probe_id::NETIF_RECEIVE_SKB, 0), "eth0", 2, 0);
    ev.flags |= event_flag::HAS_PACKET;
    ev.pkt.l3_proto = 0x88cc;
    assert_eq!(object(ev)["ethertype"], "LLDP");
    ev.pkt.l3_proto = 0x1234;
    assert_eq!(object(ev)["ethertype"], 0x1234);
    assert!(object(ev).get("arp").is_none());
    // IP packets have a family instead.
    assert!(object(icmp_echo()).get("ethertype").is_none());
}

#[test]
fn bytes_copied_to_user() {
    let mut ev = icmp_echo();
    ev.probe_id = probe_id::SKB_COPY_DATAGRAM_IOVEC;
    ev.value = 56;
    assert_eq!(object(ev)["copied_to_user"], 56);
}

#[test]
fn netfilter_hook_fields() {
    let mut entry = icmp_echo();
    entry.probe_id = NF_HOOK_PROBE;
    entry.kind = EventKind::Entry as u8;
    entry.aux = 4 | 10 << 8; // POST_ROUTING of NFPROTO_IPV6
    let v = object(entry);
    assert_eq!(v["nf_hook"], "POST_ROUTING");
    assert_eq!(v["nf_pf"], 10);
    assert!(v.get("ret").is_none());
}
