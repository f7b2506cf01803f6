use super::view::{TdmaView, ViewFormat};
use super::*;
use crate::abi::{ETH_P_IP, IPPROTO_UDP, event_flag};
use crate::sink::{Sink, Summary};
use crate::stitch::testing::{MONO_START_NS, meta};

/// Schedule clock (TAI) = monotonic + 37 s + 1 h, an arbitrary fixed offset.
const CLOCK_OFFSET: i64 = 3_637_000_000_000;

fn event(probe: u32, us: u64) -> RawEvent {
    let mut ev = RawEvent::zeroed();
    ev.probe_id = probe;
    ev.ts_ns = MONO_START_NS + us * 1000;
    ev.ifindex = 7;
    ev.netns = 4026532000;
    ev.flags = event_flag::HAS_DEV;
    ev.ifname[..5].copy_from_slice(b"veth0");
    ev
}

fn clock(us: u64) -> u64 {
    (MONO_START_NS as i64 + us as i64 * 1000 + CLOCK_OFFSET) as u64
}

fn window_open(us: u64, window: u32, frame: i64, start_us: u64, end_us: u64) -> RawEvent {
    let mut ev = event(probe_id::TDMA_WINDOW_OPEN, us);
    ev.extra = window;
    ev.value = frame as u64;
    ev.aux = clock(start_us);
    ev.args = [clock(end_us), clock(us), 3];
    ev
}

fn window_close(us: u64, window: u32, frame: i64, end_us: u64, packets: u32) -> RawEvent {
    let mut ev = event(probe_id::TDMA_WINDOW_CLOSE, us);
    ev.extra = window;
    ev.value = frame as u64;
    ev.aux = clock(end_us);
    ev.args = [clock(us), u64::from(packets), u64::from(packets) * 100];
    ev
}

fn dequeue(us: u64, window: u32, frame: i64, waited_us: u64, left_us: i64, sport: u16) -> RawEvent {
    let mut ev = event(probe_id::TDMA_DEQUEUE, us);
    ev.skb = 0xffff_8880_0000_1000 + u64::from(sport);
    ev.flags |= event_flag::HAS_PACKET;
    ev.pkt.l3_proto = ETH_P_IP;
    ev.pkt.l4_proto = IPPROTO_UDP;
    ev.pkt.saddr[..4].copy_from_slice(&[10, 0, 0, 1]);
    ev.pkt.daddr[..4].copy_from_slice(&[10, 0, 0, 2]);
    ev.pkt.sport = sport;
    ev.pkt.dport = 9;
    ev.pkt.skb_len = 100;
    ev.pkt.ip_len = 100;
    ev.extra = window;
    ev.args[0] = frame as u64;
    ev.value = waited_us * 1000;
    ev.aux = (left_us * 1000) as u64;
    ev.args[1] = 2;
    ev
}

#[test]
fn decodes_every_tdma_event_and_nothing_else() {
    let ev = dequeue(10, 1, -5, 4200, 1988, 5000);
    assert_eq!(
        TdmaEvent::decode(&ev),
        Some(TdmaEvent::Dequeue {
            window: 1,
            frame: -5,
            waited_ns: 4_200_000,
            left_ns: 1_988_000,
            qlen: 2
        })
    );
    let mut change = event(probe_id::TDMA_CHANGE, 0);
    change.aux = 10_000_000;
    change.value = 20_000_000;
    change.extra = 3 << 16 | 2;
    change.args = [clock(30_000), clock(0), 0];
    assert_eq!(
        TdmaEvent::decode(&change),
        Some(TdmaEvent::Change {
            old_frame_ns: 10_000_000,
            old_windows: 2,
            new_frame_ns: 20_000_000,
            new_windows: 3,
            effective_clock_ns: clock(30_000) as i64,
            now_clock_ns: clock(0) as i64,
        })
    );
    let mut drop = event(probe_id::TDMA_DROP, 0);
    drop.value = crate::abi::tdma::DROP_LIMIT;
    drop.aux = 1000;
    assert_eq!(
        TdmaEvent::decode(&drop),
        Some(TdmaEvent::Drop {
            reason: DropReason::Limit,
            qlen: 1000
        })
    );
    assert_eq!(TdmaEvent::decode(&event(probe_id::QDISC_DEQUEUE, 0)), None);
}

#[test]
fn descriptions_name_window_wait_and_reason() {
    let text = |ev: &RawEvent| {
        let mut s = String::new();
        TdmaEvent::decode(ev).unwrap().describe(&mut s);
        s
    };
    assert_eq!(
        text(&dequeue(10, 1, 7, 4200, 1988, 5000)),
        "window 1 frame 7 waited 4.200ms left 1.988ms qlen 2"
    );
    assert_eq!(
        text(&window_open(5_012, 1, 7, 5_000, 7_000)),
        "window 1 frame 7 open for 2.000ms, serviced 12.0us after opening, qlen 3"
    );
    assert_eq!(
        text(&window_close(7_300, 1, 7, 7_000, 4)),
        "window 1 frame 7 closed: 4 pkts 400B (seen 300.0us after its end)"
    );
    let mut change = event(probe_id::TDMA_CHANGE, 0);
    change.value = 10_000_000;
    change.extra = 2 << 16;
    change.args = [clock(2_500), clock(0), 0];
    assert_eq!(
        text(&change),
        "schedule set: frame 10.000ms × 2 windows, effective in 2.500ms"
    );
}

#[test]
fn durations_keep_three_to_four_digits() {
    let d = |ns| {
        let mut s = String::new();
        push_duration(&mut s, ns);
        s
    };
    assert_eq!(d(850), "850ns");
    assert_eq!(d(12_345), "12.3us");
    assert_eq!(d(-4_210_000), "-4.210ms");
    assert_eq!(d(1_500_000_000), "1.500s");
}

fn run_view(format: ViewFormat, events: &[RawEvent]) -> String {
    let mut view = TdmaView::new(Vec::new(), format);
    view.begin(&meta()).unwrap();
    for ev in events {
        view.event(ev).unwrap();
    }
    view.finish(&Summary::default()).unwrap();
    String::from_utf8(view.into_inner()).unwrap()
}

fn two_windows() -> Vec<RawEvent> {
    vec![
        window_open(5_012, 1, 7, 5_000, 7_000),
        dequeue(5_020, 1, 7, 4_200, 1_980, 5000),
        dequeue(5_100, 1, 7, 4_100, 1_900, 5001),
        // A tracepoint of another probe is ignored by the view.
        event(probe_id::NET_DEV_XMIT, 5_101),
        window_close(7_300, 1, 7, 7_000, 2),
        window_open(15_001, 1, 8, 15_000, 17_000),
        dequeue(15_002, 1, 8, 9_000, 1_998, 5002),
    ]
}

#[test]
fn text_view_groups_packets_by_window() {
    let out = run_view(ViewFormat::Text, &two_windows());
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(
        lines[0].ends_with(
            "veth0 window 1 frame 7 length 2.000ms, serviced 12.0us after opening, qlen 3: sent 2 pkts 200B"
        ),
        "{}",
        lines[0]
    );
    assert!(
        lines[1]
            == ("    at +20.0us  waited 4.200ms  left 1.980ms  UDP 10.0.0.1:5000 > 10.0.0.2:9 id 0 len 100"),
        "{}",
        lines[1]
    );
    assert!(lines[2].starts_with("    at +100.0us"), "{}", lines[2]);
    assert!(
        lines[3].ends_with("frame 8 length 2.000ms, serviced 1.0us after opening, qlen 3: sent 1 pkts (trace ended before it closed)"),
        "{}",
        lines[3]
    );
}

#[test]
fn json_view_has_one_object_per_window_with_its_packets() {
    let out = run_view(ViewFormat::Json, &two_windows());
    let windows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(windows.len(), 2);
    let first = &windows[0];
    assert_eq!(first["type"], "window");
    assert_eq!(first["window"], 1);
    assert_eq!(first["frame"], 7);
    assert_eq!(first["closed"], true);
    assert_eq!(first["packets"], 2);
    assert_eq!(first["serviced_after_ns"], 12_000);
    let sent = first["sent"].as_array().unwrap();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0]["offset_ns"], 20_000);
    assert_eq!(sent[0]["waited_ns"], 4_200_000);
    assert_eq!(sent[0]["packet"]["sport"], 5000);
    assert_eq!(sent[0]["packet"]["tdma"]["event"], "dequeue");
    assert_eq!(windows[1]["closed"], false);
}

#[test]
fn dequeues_without_a_seen_opening_still_form_a_window() {
    let out = run_view(
        ViewFormat::Text,
        &[
            dequeue(20, 0, 3, 100, 500, 6000),
            window_close(600, 0, 3, 520, 1),
        ],
    );
    assert!(
        out.contains("(opened before the trace began): sent 1 pkts 100B"),
        "{out}"
    );
}
