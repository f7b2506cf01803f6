use crate::abi::{RawEvent, probe_id};
use crate::sink::{Sink, Summary};

use super::testing::{
    Collect, Noise, entry, exit, func, meta, point, shape, softirq_entry, softirq_exit,
};
use super::*;

const S1: u64 = 0xffff_8880_0000_1000;
const S2: u64 = 0xffff_8880_0000_2000;
const S3: u64 = 0xffff_8880_0000_3000;

fn run(events: &[RawEvent], options: StitchOptions) -> Collect {
    let meta = meta();
    let mut stitcher = Stitcher::new(&meta, options);
    let mut out = Collect::default();
    for event in events {
        stitcher.push(event, &mut out).unwrap();
    }
    stitcher.finish(&mut out).unwrap();
    out.stats = Some(*stitcher.stats());
    out
}

fn passes(events: &[RawEvent]) -> Collect {
    run(events, StitchOptions::default())
}

fn packets(events: &[RawEvent]) -> Collect {
    run(
        events,
        StitchOptions {
            grouping: Grouping::Packets,
            ..StitchOptions::default()
        },
    )
}

fn shapes(out: &Collect) -> Vec<String> {
    let meta = meta();
    out.passes.iter().map(|p| shape(p, &meta)).collect()
}

fn stats(out: &Collect) -> StitchStats {
    out.stats.unwrap_or_default()
}

#[test]
fn nests_calls_and_points() {
    let out = passes(&[
        entry(0, func::TCP_V4_CONNECT, 10, 0),
        entry(0, func::IP_QUEUE_XMIT, 12, S1),
        entry(0, func::DEV_QUEUE_XMIT, 13, S1),
        point(0, probe_id::NET_DEV_QUEUE, 14, S1, 0),
        exit(0, func::DEV_QUEUE_XMIT, 17, S1, 0),
        exit(0, func::IP_QUEUE_XMIT, 18, S1, 0),
        exit(0, func::TCP_V4_CONNECT, 30, 0, -115),
    ]);
    assert_eq!(
        shapes(&out),
        ["cpu0 tcp_v4_connect(ip_queue_xmit(__dev_queue_xmit(•net_dev_queue)))"]
    );
    let pass = &out.passes[0];
    assert_eq!(
        (pass.start_ns, pass.duration_ns()),
        (pass.nodes[0].event.ts_ns, 20_000)
    );
    assert_eq!(pass.skbs, [S1]);
    assert_eq!(pass.cut, None);
    let depths: Vec<u32> = pass.nodes.iter().map(|n| n.depth).collect();
    assert_eq!(depths, [0, 1, 2, 3]);
    let ends: Vec<u32> = pass.nodes.iter().map(|n| n.end).collect();
    assert_eq!(ends, [4, 4, 4, 4]);
    assert_eq!(pass.nodes[0].ret(), Some(-115));
    assert_eq!(pass.nodes[2].duration_ns(), Some(4000));
    assert_eq!(pass.nodes[3].duration_ns(), None);
    assert_eq!(stats(&out).passes, 1);
    assert!(!stats(&out).has_anomalies());
}

#[test]
fn skb_less_functions_belong_to_the_innermost_frame() {
    let out = passes(&[
        entry(0, func::TCP_V4_RCV, 1, S1),
        entry(0, func::TCP_RCV_STATE_PROCESS, 2, S1),
        entry(0, func::TCP_SET_STATE, 3, 0),
        point(0, probe_id::INET_SOCK_SET_STATE, 4, 0, 1),
        exit(0, func::TCP_SET_STATE, 5, 0, 0),
        exit(0, func::TCP_RCV_STATE_PROCESS, 6, S1, 0),
        entry(0, func::TCP_SET_STATE, 7, 0),
        exit(0, func::TCP_SET_STATE, 8, 0, 0),
        exit(0, func::TCP_V4_RCV, 9, S1, 0),
    ]);
    assert_eq!(
        shapes(&out),
        [
            "cpu0 tcp_v4_rcv(tcp_rcv_state_process(tcp_set_state(•inet_sock_set_state)),tcp_set_state)"
        ]
    );
    assert_eq!(out.passes[0].skbs, [S1]);
}

#[test]
fn an_outer_exit_closes_inner_frames_as_missing_exits() {
    let out = passes(&[
        entry(0, func::TCP_V4_RCV, 1, S1),
        entry(0, func::TCP_V4_DO_RCV, 2, S1),
        entry(0, func::TCP_RCV_STATE_PROCESS, 3, S1),
        point(0, probe_id::CONSUME_SKB, 4, S2, 0),
        // The exits of the two inner calls were lost.
        exit(0, func::TCP_V4_RCV, 5, S1, 0),
        entry(0, func::IP_RCV, 6, S3),
        exit(0, func::IP_RCV, 7, S3, 0),
    ]);
    assert_eq!(
        shapes(&out),
        [
            "cpu0 tcp_v4_rcv(tcp_v4_do_rcv!(tcp_rcv_state_process!(•consume_skb)))",
            "cpu0 ip_rcv",
        ]
    );
    assert_eq!(out.passes[0].skbs, [S1, S2]);
    assert_eq!(out.passes[0].cut, None);
    assert_eq!(stats(&out).missing_exits, 2);
}

#[test]
fn an_unmatched_exit_is_an_orphan_of_its_own() {
    let out = passes(&[
        // Attached mid-call: the entry came before the trace.
        exit(0, func::IP_RCV, 1, S1, 0),
        entry(0, func::TCP_V4_RCV, 2, S1),
        exit(0, func::TCP_V4_DO_RCV, 3, S1, -1),
        exit(0, func::TCP_V4_RCV, 4, S1, 0),
    ]);
    assert_eq!(
        shapes(&out),
        ["cpu0 <ip_rcv", "cpu0 <tcp_v4_do_rcv", "cpu0 tcp_v4_rcv"]
    );
    assert_eq!(out.passes[1].nodes[0].ret(), Some(-1));
    assert_eq!(stats(&out).orphan_exits, 2);
    assert_eq!(stats(&out).missing_exits, 0);
}

#[test]
fn a_softirq_inside_a_transmit_is_a_tree_of_its_own() {
    let out = passes(&[
        entry(0, func::TCP_V4_CONNECT, 1, 0),
        entry(0, func::DEV_QUEUE_XMIT, 2, S1),
        softirq_entry(0, 3, 3),
        point(0, probe_id::NETIF_RECEIVE_SKB, 4, S1, 0),
        entry(0, func::IP_RCV, 5, S1),
        entry(0, func::TCP_V4_RCV, 6, S1),
        exit(0, func::TCP_V4_RCV, 7, S1, 0),
        exit(0, func::IP_RCV, 8, S1, 0),
        // A second packet, and one whose call is still open when the softirq ends.
        entry(0, func::IP_RCV, 9, S2),
        exit(0, func::IP_RCV, 10, S2, 0),
        entry(0, func::IP_RCV, 11, S3),
        softirq_exit(0, 12, 3),
        exit(0, func::DEV_QUEUE_XMIT, 13, S1, 0),
        exit(0, func::TCP_V4_CONNECT, 14, 0, 0),
    ]);
    assert_eq!(
        shapes(&out),
        [
            "cpu0 softirq3 •netif_receive_skb",
            "cpu0 softirq3 ip_rcv(tcp_v4_rcv)",
            "cpu0 softirq3 ip_rcv",
            "cpu0 softirq3 ip_rcv!",
            "cpu0 tcp_v4_connect(__dev_queue_xmit)",
        ]
    );
    assert_eq!(out.passes[3].cut, Some(CutReason::SoftirqExit));
    assert_eq!(out.passes[4].cut, None);
    assert_eq!(stats(&out).stray_softirq_exits, 0);
}

#[test]
fn cpus_are_stitched_separately() {
    let out = passes(&[
        entry(0, func::IP_RCV, 1, S1),
        entry(1, func::IP_RCV, 2, S2),
        entry(1, func::TCP_V4_RCV, 3, S2),
        entry(0, func::TCP_V4_RCV, 4, S1),
        exit(0, func::TCP_V4_RCV, 5, S1, 0),
        point(1, probe_id::KFREE_SKB, 6, S2, 3),
        exit(1, func::TCP_V4_RCV, 7, S2, 0),
        exit(1, func::IP_RCV, 8, S2, 0),
        exit(0, func::IP_RCV, 9, S1, 0),
    ]);
    assert_eq!(
        shapes(&out),
        [
            "cpu1 ip_rcv(tcp_v4_rcv(•kfree_skb))",
            "cpu0 ip_rcv(tcp_v4_rcv)"
        ]
    );
}

/// An event of cpu 0's task, now running on another CPU.
fn moved(mut event: RawEvent) -> RawEvent {
    event.tid = 100;
    event
}

#[test]
fn a_sleeping_task_keeps_its_frames_for_its_return() {
    let mut other = entry(0, func::IP_RCV, 3, S2);
    other.tid = 200;
    let mut other_exit = exit(0, func::IP_RCV, 4, S2, 0);
    other_exit.tid = 200;
    let out = passes(&[
        entry(0, func::TCP_V4_CONNECT, 1, 0),
        entry(0, func::DEV_QUEUE_XMIT, 2, S1),
        other,
        other_exit,
        exit(0, func::DEV_QUEUE_XMIT, 5, S1, 0),
        exit(0, func::TCP_V4_CONNECT, 6, 0, 0),
        // Asleep again, then awake on another CPU where another task ran
        // meanwhile: the kernel keeps frames per task, so it returns there.
        entry(0, func::TCP_V4_CONNECT, 7, 0),
        other,
        moved(entry(1, func::IP_RCV, 8, S3)),
        moved(exit(1, func::IP_RCV, 9, S3, 0)),
        moved(exit(1, func::TCP_V4_CONNECT, 10, 0, 0)),
    ]);
    assert_eq!(
        shapes(&out),
        [
            "cpu0 ip_rcv",
            "cpu0 tcp_v4_connect(__dev_queue_xmit)",
            "cpu0 tcp_v4_connect(ip_rcv)",
            "cpu0 ip_rcv!",
        ]
    );
    assert_eq!(stats(&out).orphan_exits, 0);
}

#[test]
fn a_task_that_moved_cpu_returns_where_it_runs_now() {
    // Nothing else ran on cpu0 after the task left: its frames are still
    // cpu0's bottom level when its exit arrives on cpu1.
    let out = passes(&[
        entry(0, func::TCP_V4_CONNECT, 1, 0),
        entry(0, func::DEV_QUEUE_XMIT, 2, S1),
        moved(exit(1, func::DEV_QUEUE_XMIT, 3, S1, 0)),
        moved(exit(1, func::TCP_V4_CONNECT, 4, 0, 0)),
        entry(0, func::IP_RCV, 5, S2),
        exit(0, func::IP_RCV, 6, S2, 0),
    ]);
    assert_eq!(
        shapes(&out),
        ["cpu0 tcp_v4_connect(__dev_queue_xmit)", "cpu0 ip_rcv"]
    );
    assert!(!stats(&out).has_anomalies());
}

#[test]
fn records_of_per_cpu_frames_cut_a_task_that_moved() {
    // Before frames followed tasks the kernel dropped such returns.
    let mut meta = meta();
    meta.frames_per_task = false;
    let mut other = entry(0, func::IP_RCV, 2, S2);
    other.tid = 200;
    let mut other_exit = exit(0, func::IP_RCV, 3, S2, 0);
    other_exit.tid = 200;
    let mut stitcher = Stitcher::new(&meta, StitchOptions::default());
    let mut out = Collect::default();
    for event in [
        entry(0, func::TCP_V4_CONNECT, 1, 0),
        other,
        other_exit,
        moved(entry(1, func::IP_RCV, 4, S3)),
        moved(exit(1, func::IP_RCV, 5, S3, 0)),
    ] {
        stitcher.push(&event, &mut out).unwrap();
    }
    stitcher.finish(&mut out).unwrap();
    assert_eq!(
        shapes(&out),
        ["cpu0 ip_rcv", "cpu0 tcp_v4_connect!", "cpu1 ip_rcv"]
    );
    assert_eq!(out.passes[1].cut, Some(CutReason::Migrated));
}

#[test]
fn an_event_after_a_loss_cuts_what_was_open_on_its_cpu() {
    let mut after_loss = entry(0, func::IP_RCV, 3, S2);
    after_loss.flags |= crate::abi::event_flag::AFTER_LOSS;
    let out = passes(&[
        entry(0, func::IP_RCV, 1, S1),
        entry(1, func::IP_RCV, 2, S3),
        // The ring lost ip_rcv's exit on cpu 0 (and maybe more).
        after_loss,
        exit(0, func::IP_RCV, 4, S2, 0),
        exit(1, func::IP_RCV, 5, S3, 0),
    ]);
    assert_eq!(shapes(&out), ["cpu0 ip_rcv!", "cpu0 ip_rcv", "cpu1 ip_rcv"]);
    assert_eq!(out.passes[0].cut, Some(CutReason::EventsLost));
}

#[test]
fn an_untracked_call_has_no_exit_and_nothing_under_it() {
    let mut untracked = entry(0, func::IP_QUEUE_XMIT, 2, S1);
    untracked.flags |= crate::abi::event_flag::UNTRACKED;
    let mut alone = entry(1, func::IP_RCV, 9, S2);
    alone.flags |= crate::abi::event_flag::UNTRACKED;
    let out = passes(&[
        entry(0, func::TCP_V4_CONNECT, 1, 0),
        untracked,
        entry(0, func::DEV_QUEUE_XMIT, 3, S1),
        exit(0, func::DEV_QUEUE_XMIT, 4, S1, 0),
        exit(0, func::TCP_V4_CONNECT, 5, 0, 0),
        alone,
    ]);
    assert_eq!(
        shapes(&out),
        [
            "cpu0 tcp_v4_connect(ip_queue_xmit!,__dev_queue_xmit)",
            "cpu1 ip_rcv!"
        ]
    );
    let stats = stats(&out);
    assert_eq!(stats.untracked_calls, 2);
    assert_eq!(stats.orphan_exits, 0);
}

#[test]
fn lost_events_and_the_end_of_input_cut_open_trees() {
    let meta = meta();
    let mut stitcher = Stitcher::new(&meta, StitchOptions::default());
    let mut out = Collect::default();
    for event in [
        entry(0, func::IP_RCV, 1, S1),
        entry(0, func::TCP_V4_RCV, 2, S1),
        entry(1, func::IP_RCV, 3, S2),
    ] {
        stitcher.push(&event, &mut out).unwrap();
    }
    stitcher.events_lost(0, &mut out).unwrap();
    stitcher.events_lost(7, &mut out).unwrap();
    stitcher
        .push(&exit(0, func::IP_RCV, 4, S1, 0), &mut out)
        .unwrap();
    stitcher.finish(&mut out).unwrap();
    assert_eq!(
        shapes(&out),
        ["cpu0 ip_rcv!(tcp_v4_rcv!)", "cpu0 <ip_rcv", "cpu1 ip_rcv!"]
    );
    assert_eq!(out.passes[0].cut, Some(CutReason::EventsLost));
    assert_eq!(out.passes[2].cut, Some(CutReason::TraceEnd));
    assert_eq!(stitcher.stats().cut_passes, 2);
}

#[test]
fn a_packet_follows_the_skb_through_the_qdisc_to_another_cpu() {
    let out = packets(&[
        entry(0, func::IP_QUEUE_XMIT, 10, S1),
        entry(0, func::DEV_QUEUE_XMIT, 11, S1),
        point(0, probe_id::QDISC_ENQUEUE, 12, S1, 1),
        exit(0, func::DEV_QUEUE_XMIT, 13, S1, 0),
        exit(0, func::IP_QUEUE_XMIT, 14, S1, 0),
        // Another packet meanwhile, freed in its only pass.
        entry(2, func::IP_RCV, 15, S2),
        point(2, probe_id::KFREE_SKB, 16, S2, 3),
        exit(2, func::IP_RCV, 17, S2, 0),
        point(1, probe_id::QDISC_DEQUEUE, 30, S1, 0),
        softirq_entry(1, 31, 3),
        entry(1, func::IP_RCV, 40, S1),
        point(1, probe_id::CONSUME_SKB, 45, S1, 0),
        exit(1, func::IP_RCV, 50, S1, 0),
        softirq_exit(1, 51, 3),
    ]);
    assert_eq!(out.passes.len(), 0);
    assert_eq!(out.packets.len(), 2);
    let by_skb = |skb| out.packets.iter().find(|p| p.skbs[0].skb == skb).unwrap();
    let other = by_skb(S2);
    assert_eq!((other.passes.len(), other.end), (1, PacketEnd::Freed));
    let packet = by_skb(S1);
    assert_eq!(packet.end, PacketEnd::Freed);
    assert_eq!(
        packet.skbs,
        [SkbLife {
            skb: S1,
            origin: SkbOrigin::First,
            freed: true
        }]
    );
    let cpus: Vec<u32> = packet.passes.iter().map(|p| p.cpu).collect();
    assert_eq!(cpus, [0, 1, 1]);
    assert_eq!(
        packet.gap_before(1),
        Some(Gap {
            ns: 16_000,
            waiting: Waiting::Qdisc
        })
    );
    assert_eq!(
        packet.gap_before(2),
        Some(Gap {
            ns: 10_000,
            waiting: Waiting::Softirq(3)
        })
    );
    assert_eq!(packet.gap_before(0), None);
    assert_eq!(packet.duration_ns(), 40_000);
}

#[test]
fn clones_join_the_packet_of_their_original() {
    let out = packets(&[
        entry(0, func::TCP_V4_CONNECT, 1, 0),
        entry(0, func::SKB_CLONE, 2, S1),
        exit(0, func::SKB_CLONE, 3, S1, S2 as i64),
        entry(0, func::IP_QUEUE_XMIT, 4, S2),
        exit(0, func::IP_QUEUE_XMIT, 5, S2, 0),
        exit(0, func::TCP_V4_CONNECT, 6, 0, 0),
        // The clone is freed after transmission, the original when acked.
        point(1, probe_id::CONSUME_SKB, 10, S2, 0),
        entry(1, func::TCP_V4_RCV, 20, S3),
        point(1, probe_id::KFREE_SKB, 21, S1, 2),
        point(1, probe_id::CONSUME_SKB, 22, S3, 0),
        exit(1, func::TCP_V4_RCV, 23, S3, 0),
    ]);
    assert_eq!(out.packets.len(), 2);
    let data = out.packets.iter().find(|p| p.skbs[0].skb == S1).unwrap();
    assert_eq!(data.end, PacketEnd::Freed);
    assert_eq!(
        data.skbs,
        [
            SkbLife {
                skb: S1,
                origin: SkbOrigin::First,
                freed: true
            },
            SkbLife {
                skb: S2,
                origin: SkbOrigin::Clone { of: S1 },
                freed: true
            }
        ]
    );
    assert_eq!(data.passes.len(), 3);
    assert_eq!(data.passes[0].skbs, [S1, S2]);
    // The pass of the ACK that frees the data segment is split: the ACK
    // keeps its own nodes, the segment its free under the ACK's call.
    let probes = |pass: &Pass| {
        pass.nodes
            .iter()
            .map(|n| n.event.probe_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        probes(&data.passes[2]),
        [func::TCP_V4_RCV, probe_id::KFREE_SKB]
    );
    assert_eq!(data.passes[2].nodes[0].end, 2);
    let ack = out.packets.iter().find(|p| p.skbs[0].skb == S3).unwrap();
    assert_eq!(ack.skbs.len(), 1);
    assert_eq!(
        probes(&ack.passes[0]),
        [func::TCP_V4_RCV, probe_id::CONSUME_SKB]
    );
}

#[test]
fn a_reused_address_starts_a_new_packet() {
    let out = packets(&[
        entry(0, func::IP_RCV, 1, S1),
        point(0, probe_id::KFREE_SKB, 2, S1, 3),
        // Freed, then reallocated within the same pass.
        point(0, probe_id::NETIF_RECEIVE_SKB, 3, S1, 0),
        exit(0, func::IP_RCV, 4, S1, 0),
        entry(0, func::IP_RCV, 5, S1),
        exit(0, func::IP_RCV, 6, S1, 0),
    ]);
    let ends: Vec<(PacketEnd, usize)> = out
        .packets
        .iter()
        .map(|j| (j.end, j.passes.len()))
        .collect();
    assert_eq!(ends, [(PacketEnd::Freed, 1), (PacketEnd::TraceEnd, 2)]);
}

#[test]
fn idle_packets_and_skb_less_passes_are_emitted() {
    let out = packets(&[
        entry(0, func::IP_RCV, 1, S1),
        exit(0, func::IP_RCV, 2, S1, 0),
        point(0, probe_id::INET_SOCK_SET_STATE, 3, 0, 7),
        entry(0, func::IP_RCV, 2_000_000, S2),
        exit(0, func::IP_RCV, 2_000_001, S2, 0),
    ]);
    let ends: Vec<PacketEnd> = out.packets.iter().map(|j| j.end).collect();
    assert_eq!(
        ends,
        [PacketEnd::NoSkb, PacketEnd::Idle, PacketEnd::TraceEnd]
    );
}

#[test]
fn limits_cut_count_and_evict() {
    let limits = StitchLimits {
        open_frames: 2,
        nodes_per_pass: 3,
        open_packets: 2,
        passes_per_packet: 2,
        ..StitchLimits::default()
    };
    let options = |grouping| StitchOptions {
        grouping,
        limits,
        ..StitchOptions::default()
    };
    let deep = [
        entry(0, func::IP_RCV, 1, S1),
        entry(0, func::TCP_V4_RCV, 2, S1),
        entry(0, func::TCP_V4_DO_RCV, 3, S1),
        exit(0, func::TCP_V4_DO_RCV, 4, S1, 0),
        exit(0, func::TCP_V4_RCV, 5, S1, 0),
        exit(0, func::IP_RCV, 6, S1, 0),
    ];
    let out = run(&deep, options(Grouping::Passes));
    assert_eq!(
        shapes(&out),
        [
            "cpu0 ip_rcv!(tcp_v4_rcv!)",
            "cpu0 tcp_v4_do_rcv",
            "cpu0 <tcp_v4_rcv",
            "cpu0 <ip_rcv"
        ]
    );
    assert_eq!(out.passes[0].cut, Some(CutReason::DepthLimit));
    assert_eq!(stats(&out).depth_cuts, 1);

    let wide = [
        entry(0, func::IP_RCV, 1, S1),
        point(0, probe_id::NETIF_RECEIVE_SKB, 2, S1, 0),
        point(0, probe_id::NETIF_RECEIVE_SKB, 3, S1, 0),
        entry(0, func::TCP_V4_RCV, 4, S1),
        point(0, probe_id::CONSUME_SKB, 5, S1, 0),
        exit(0, func::TCP_V4_RCV, 6, S1, 0),
        exit(0, func::IP_RCV, 7, S1, 0),
    ];
    let out = run(&wide, options(Grouping::Passes));
    assert_eq!(
        shapes(&out),
        ["cpu0 ip_rcv(•netif_receive_skb,•netif_receive_skb)"]
    );
    assert_eq!(out.passes[0].omitted_nodes, 2);
    assert_eq!(stats(&out).omitted_nodes, 2);

    let many: Vec<RawEvent> = (0..4u64)
        .flat_map(|i| {
            let skb = S1 + i * 0x100;
            let us = 10 * i;
            [
                entry(0, func::IP_RCV, us, skb),
                exit(0, func::IP_RCV, us + 1, skb, 0),
            ]
        })
        .chain((0..3).flat_map(|i| {
            [
                entry(1, func::IP_RCV, 100 + 10 * i, S3),
                exit(1, func::IP_RCV, 101 + 10 * i, S3, 0),
            ]
        }))
        .collect();
    let out = run(&many, options(Grouping::Packets));
    let ends: Vec<(u64, PacketEnd, bool)> = out
        .packets
        .iter()
        .map(|j| (j.skbs[0].skb, j.end, j.continued))
        .collect();
    assert_eq!(
        ends,
        [
            (S1, PacketEnd::Evicted, false),
            (S1 + 0x100, PacketEnd::Evicted, false),
            (S1 + 0x200, PacketEnd::Evicted, false),
            (S3, PacketEnd::PassLimit, false),
            (S1 + 0x300, PacketEnd::TraceEnd, false),
            (S3, PacketEnd::TraceEnd, true),
        ]
    );
    assert_eq!(stats(&out).packets_evicted, 3);
    assert_eq!(stats(&out).packets_split, 1);
}

#[test]
fn sleeping_tasks_are_bounded() {
    let limits = StitchLimits {
        sleeping_tasks: 1,
        ..StitchLimits::default()
    };
    let events: Vec<RawEvent> = (0..3u32)
        .map(|task| {
            let mut event = entry(0, func::TCP_V4_CONNECT, u64::from(task), 0);
            event.tid = 100 + task;
            event
        })
        .collect();
    let out = run(
        &events,
        StitchOptions {
            limits,
            ..StitchOptions::default()
        },
    );
    let cuts: Vec<(u32, Option<CutReason>)> = out
        .passes
        .iter()
        .map(|p| (p.nodes[0].event.tid, p.cut))
        .collect();
    assert_eq!(
        cuts,
        [
            (100, Some(CutReason::TaskLimit)),
            (102, Some(CutReason::TraceEnd)),
            (101, Some(CutReason::TraceEnd))
        ]
    );
    assert_eq!(stats(&out).tasks_evicted, 1);
}

#[test]
fn the_sink_adapter_cuts_on_new_losses_only() {
    let meta = meta();
    let mut sink = StitchSink::new(Collect::default(), StitchOptions::default());
    assert!(sink.event(&entry(0, func::IP_RCV, 1, S1)).is_err());
    sink.begin(&meta).unwrap();
    sink.event(&entry(0, func::IP_RCV, 1, S1)).unwrap();
    sink.lost(0, 5).unwrap();
    sink.event(&entry(0, func::IP_RCV, 2, S1)).unwrap();
    sink.lost(0, 5).unwrap();
    sink.event(&exit(0, func::IP_RCV, 3, S1, 0)).unwrap();
    sink.finish(&Summary::default()).unwrap();
    let out = sink.into_inner();
    assert_eq!(shapes(&out), ["cpu0 ip_rcv!", "cpu0 ip_rcv"]);
    assert_eq!(out.stats.map(|s| s.passes), Some(2));
}

/// Every tree is well formed, whatever the input.
fn check_pass(pass: &Pass) {
    let count = pass.nodes.len() as u32;
    assert!(count > 0 || pass.omitted_nodes > 0);
    for (i, node) in pass.nodes.iter().enumerate() {
        let i = i as u32;
        assert!(node.end > i && node.end <= count, "{pass:?}");
        assert_eq!(node.depth == 0, i == 0, "{pass:?}");
        for child in &pass.nodes[i as usize + 1..node.end as usize] {
            assert!(child.depth > node.depth);
        }
        if node.kind != NodeKind::Call {
            assert_eq!(node.end, i + 1);
        }
    }
}

#[test]
fn random_input_never_panics_and_yields_well_formed_trees() {
    for seed in 1..40u64 {
        let mut noise = Noise::new(seed);
        let limits = StitchLimits {
            open_frames: 1 + noise.below(6) as u32,
            nodes_per_pass: 1 + noise.below(12) as u32,
            sleeping_tasks: noise.below(3) as u32,
            open_packets: noise.below(5) as u32,
            passes_per_packet: noise.below(4) as u32,
            packet_nodes: noise.below(40),
        };
        for grouping in [Grouping::Passes, Grouping::Packets] {
            let meta = meta();
            let options = StitchOptions {
                grouping,
                packet_idle_ns: noise.below(50_000),
                limits,
            };
            let mut stitcher = Stitcher::new(&meta, options);
            let mut out = Collect::default();
            for _ in 0..3000 {
                if noise.below(200) == 0 {
                    stitcher
                        .events_lost(noise.below(4) as u32, &mut out)
                        .unwrap();
                } else {
                    stitcher.push(&noise.event(), &mut out).unwrap();
                }
            }
            stitcher.finish(&mut out).unwrap();
            out.passes.iter().for_each(check_pass);
            for packet in &out.packets {
                packet.passes.iter().for_each(|p| check_pass(p));
                for i in 0..=packet.passes.len() {
                    let _ = packet.gap_before(i);
                }
            }
            let stats = stitcher.stats();
            let (delivered, counted) = match grouping {
                Grouping::Passes => (out.passes.len() as u64, stats.passes),
                Grouping::Packets => (out.packets.len() as u64, stats.packets),
            };
            assert_eq!(delivered, counted);
        }
    }
}

#[test]
fn node_size_matches_the_limit_docs() {
    // `StitchLimits::default` sizes its memory bounds from this.
    assert!(std::mem::size_of::<Node>() <= 400);
}

#[test]
fn passes_made_only_of_tentative_frames_are_not_shown() {
    let tentative = |mut e: RawEvent| {
        e.flags |= crate::abi::event_flag::TENTATIVE;
        e
    };
    let out = passes(&[
        // Nothing matched inside: dropped.
        tentative(entry(0, func::TCP_V4_CONNECT, 10, 0)),
        exit(0, func::TCP_V4_CONNECT, 11, 0, 0),
        // A matching skb inside: kept with its tentative parent.
        tentative(entry(0, func::TCP_V4_CONNECT, 20, 0)),
        entry(0, func::IP_QUEUE_XMIT, 21, S1),
        exit(0, func::IP_QUEUE_XMIT, 22, S1, 0),
        exit(0, func::TCP_V4_CONNECT, 23, 0, 0),
    ]);
    assert_eq!(out.passes.len(), 1);
    assert_eq!(out.passes[0].nodes.len(), 2);
    assert_eq!(stats(&out).tentative_passes, 1);
}
