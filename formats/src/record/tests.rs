//! Format 2 records: round trips (synthetic, random and the real records of
//! `tests/data`), every kind of damage, headers of other versions.

use std::io::Cursor;
use std::path::PathBuf;

use super::block::MAX_BLOCK_LEN;
use super::*;
use crate::abi::{EventKind, event_flag, probe_id};
use crate::stack::{Stack, StackFrame};

/// Which kind of block a test writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Blocks {
    Plain,
    Zstd,
}

const BOTH: [Blocks; 2] = [Blocks::Plain, Blocks::Zstd];

fn writer(blocks: Blocks) -> RecordWriter<Vec<u8>> {
    let writer = RecordWriter::new(Vec::new());
    match blocks {
        Blocks::Plain => writer,
        Blocks::Zstd => writer.compressed().unwrap(),
    }
}

/// Writes `frames` as a record (END, if any, through `finish`).
fn write(meta: &TraceMeta, frames: &[Frame], blocks: Blocks) -> Vec<u8> {
    let mut writer = writer(blocks);
    writer.begin(meta).unwrap();
    for frame in frames {
        match frame {
            Frame::Event(event) => writer.event(event),
            Frame::Lost { cpu, total } => writer.lost(*cpu, *total),
            Frame::Stack(stack) => writer.stack(stack),
            Frame::Symbol(symbol) => writer.symbol(symbol),
            Frame::End(summary) => writer.finish(summary),
        }
        .unwrap();
    }
    writer.into_inner().unwrap()
}

/// Every frame of a record, whether it ended with END, and the error that
/// stopped it if one did.
fn read(bytes: &[u8]) -> Result<(TraceMeta, Vec<Frame>, bool, Option<RecordError>), RecordError> {
    let mut reader = RecordReader::new(Cursor::new(bytes))?;
    let mut frames = Vec::new();
    loop {
        match reader.next_frame() {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => break,
            Err(error) => return Ok((reader.meta().clone(), frames, false, Some(error))),
        }
    }
    Ok((reader.meta().clone(), frames, reader.is_complete(), None))
}

fn read_ok(bytes: &[u8]) -> Vec<Frame> {
    let (_, frames, _, error) = read(bytes).unwrap();
    assert!(error.is_none(), "{}", error.unwrap());
    frames
}

/// Frame types and payload lengths of a record, with their offsets.
fn frame_list(bytes: &[u8]) -> Vec<(usize, u32, usize)> {
    let mut at = frames_start(bytes);
    let mut frames = Vec::new();
    while at < bytes.len() {
        let kind = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        frames.push((at, kind, len));
        at += FRAME_HEADER_LEN + len;
    }
    frames
}

fn frames_start(bytes: &[u8]) -> usize {
    HEADER_LEN + u32::from_le_bytes(bytes[16..20].try_into().unwrap()) as usize
}

fn event_count(frames: &[Frame]) -> usize {
    frames
        .iter()
        .filter(|frame| matches!(frame, Frame::Event(_)))
        .count()
}

/// A tiny deterministic generator: tests need variety, not quality.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(name)
}

/// The records `tests/data/record.sh` made (format 1) come back identical
/// from format 2, compressed or not; prints what each costs per event.
#[test]
fn real_records_round_trip_through_format_2() {
    for name in [
        "host-tracepoints.pkt",
        "tcp-udp-fentry.pkt",
        "tdma-fentry.pkt",
    ] {
        let v1 = std::fs::read(fixture(name)).unwrap();
        assert_eq!(v1[8..12], 1u32.to_le_bytes(), "{name} is format 1");
        let (meta, frames, complete, error) = read(&v1).unwrap();
        assert!(complete && error.is_none(), "{name}");
        let events = event_count(&frames);
        assert!(events > 100, "{name}: {events} events");
        let v1_event_bytes = events * EVENT_FRAME_LEN;
        let mut line = format!(
            "{name}: {events} events; format 1: {:.1} B/event",
            v1_event_bytes as f64 / events as f64
        );
        for blocks in BOTH {
            let v2 = write(&meta, &frames, blocks);
            let (meta_back, frames_back, complete, error) = read(&v2).unwrap();
            assert!(error.is_none(), "{name} {blocks:?}: {}", error.unwrap());
            assert!(complete);
            assert_eq!(meta_back, meta);
            assert_eq!(frames_back, frames, "{name} {blocks:?}");
            let event_bytes: usize = frame_list(&v2)
                .iter()
                .filter(|(_, kind, _)| [frame_type::EVENTS, frame_type::EVENTS_ZSTD].contains(kind))
                .map(|(_, _, len)| FRAME_HEADER_LEN + len)
                .sum();
            let per_event = event_bytes as f64 / events as f64;
            line += &format!(", {blocks:?} {per_event:.1} B/event");
            // perf record writes 105 bytes per event of the same traffic.
            assert!(per_event < 60.0, "{line}");
        }
        println!("{line}");
    }
}

fn meta() -> TraceMeta {
    TraceMeta {
        kernel_release: "6.12.0-test".into(),
        hostname: "testbox".into(),
        backend: "fentry".into(),
        ..TraceMeta::default()
    }
}

const SKB: u64 = 0xffff_8880_0412_3400;

/// Events as a trace has them: a few hundred skbs on four CPUs passing
/// probes (entries, exits, points), timestamps rising by small steps, some
/// without an skb, some words entirely random.
fn trace_events(rng: &mut XorShift, count: usize) -> Vec<RawEvent> {
    let comms: [&[u8]; 3] = [b"swapper/0", b"curl", b"ksoftirqd/1"];
    let ifnames: [&[u8]; 3] = [b"lo", b"veth0", b"eth0"];
    let mut ts = 7_000_000_000u64;
    (0..count)
        .map(|_| {
            let mut ev = RawEvent::zeroed();
            ts += rng.below(20_000);
            ev.ts_ns = ts;
            let skb = rng.below(300);
            ev.skb = if skb < 20 { 0 } else { SKB + skb * 0x100 };
            ev.cpu = rng.below(4) as u32;
            ev.probe_id = [
                probe_id::NETIF_RECEIVE_SKB,
                probe_id::CONSUME_SKB,
                probe_id::FIRST_DYNAMIC_PROBE_ID,
                probe_id::FIRST_DYNAMIC_PROBE_ID + 7,
            ][rng.below(4) as usize];
            ev.kind = if ev.probe_id >= probe_id::FIRST_DYNAMIC_PROBE_ID {
                [EventKind::Entry, EventKind::Exit][rng.below(2) as usize] as u8
            } else {
                EventKind::Point as u8
            };
            ev.value = if ev.kind == EventKind::Exit as u8 {
                rng.below(3).wrapping_sub(1)
            } else {
                rng.below(5)
            };
            ev.pid = 1000 + rng.below(3) as u32;
            ev.tid = ev.pid + rng.below(2) as u32;
            ev.flags = event_flag::HAS_DEV | (rng.below(4) as u8 * event_flag::FOLLOWED);
            ev.stack_id = rng.below(3) as i32 - 1;
            let comm = comms[rng.below(3) as usize];
            ev.comm[..comm.len()].copy_from_slice(comm);
            let ifname = ifnames[(skb % 3) as usize];
            ev.ifname[..ifname.len()].copy_from_slice(ifname);
            ev.ifindex = (skb % 3) as u32 + 1;
            ev.netns = 4026531840 + (skb % 2) as u32;
            ev.pkt.skb_len = 60 + skb as u32 + rng.below(2) as u32 * 14;
            ev.pkt.saddr[..4].copy_from_slice(&[10, 0, 0, skb as u8]);
            ev.pkt.daddr[..4].copy_from_slice(&[10, 0, 1, 1]);
            ev.pkt.sport = 40000 + skb as u16;
            ev.pkt.dport = 8080;
            ev.pkt.seq = rng.next() as u32;
            if rng.below(50) == 0 {
                // Now and then a word no reference is close to.
                ev.as_words_mut()[rng.below(RawEvent::WORDS as u64) as usize] = rng.next();
            }
            ev
        })
        .collect()
}

fn stack(id: u32) -> Stack {
    Stack {
        id,
        frames: vec![StackFrame {
            addr: 0xffff_ffff_8190_0005 + id as u64,
            symbol: Some(format!("fn_{id}")),
            offset: 5,
            module: None,
        }],
    }
}

/// Events with the other frames mixed in where a live trace puts them.
fn mixed_frames(rng: &mut XorShift, events: &[RawEvent]) -> Vec<Frame> {
    let mut frames = Vec::new();
    for (i, ev) in events.iter().enumerate() {
        match rng.below(400) {
            0 => frames.push(Frame::Stack(stack(i as u32))),
            1 => frames.push(Frame::Symbol(StackFrame {
                addr: ev.aux,
                symbol: Some("kfree_skb_reason".into()),
                offset: 0x42,
                module: None,
            })),
            2 => frames.push(Frame::Lost {
                cpu: ev.cpu,
                total: i as u64,
            }),
            _ => {}
        }
        frames.push(Frame::Event(*ev));
    }
    frames
}

const SUMMARY: Summary = Summary {
    events: 20_000,
    lost: 3,
    filtered: 4,
    untracked: 5,
    duration_ns: 6,
};

#[test]
fn varied_frames_round_trip_in_order() {
    let mut rng = XorShift(0x1234_5678_9abc_def1);
    let mut events = trace_events(&mut rng, 20_000);
    // The same skb again more than a window later, on another CPU.
    events[1000] = events[10];
    events[1000].ts_ns = events[999].ts_ns + 1;
    events[1000].cpu = events[10].cpu + 1;
    let mut frames = mixed_frames(&mut rng, &events);
    frames.push(Frame::End(SUMMARY));
    for blocks in BOTH {
        let bytes = write(&meta(), &frames, blocks);
        let (meta_back, back, complete, error) = read(&bytes).unwrap();
        assert!(error.is_none(), "{blocks:?}: {}", error.unwrap());
        assert!(complete);
        assert_eq!(meta_back, meta());
        assert_eq!(back, frames, "{blocks:?}");

        let list = frame_list(&bytes);
        let event_blocks: Vec<_> = list
            .iter()
            .filter(|(_, kind, _)| [frame_type::EVENTS, frame_type::EVENTS_ZSTD].contains(kind))
            .collect();
        assert!(event_blocks.len() > 10, "{blocks:?}: {list:?}");
        assert!(
            event_blocks
                .iter()
                .all(|(_, _, len)| *len <= MAX_PAYLOAD_LEN)
        );
        let compressed = event_blocks
            .iter()
            .filter(|(_, kind, _)| *kind == frame_type::EVENTS_ZSTD)
            .count();
        match blocks {
            Blocks::Plain => assert_eq!(compressed, 0),
            // Tiny blocks (an event between two stacks) may not shrink.
            Blocks::Zstd => assert!(compressed > event_blocks.len() / 2),
        }
    }
}

/// Random events, frames and flushes, random block kinds: what goes in
/// comes out.
#[test]
fn random_records_round_trip() {
    for seed in 1..=20u64 {
        let mut rng = XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let count = rng.below(3_000) as usize;
        let mut events = trace_events(&mut rng, count);
        for ev in &mut events {
            if rng.below(10) == 0 {
                for word in ev.as_words_mut() {
                    *word = rng.next() >> rng.below(64);
                }
            }
        }
        let frames = mixed_frames(&mut rng, &events);
        let blocks = BOTH[rng.below(2) as usize];
        let mut writer = writer(blocks);
        writer.begin(&meta()).unwrap();
        for frame in &frames {
            match frame {
                Frame::Event(event) => writer.event(event).unwrap(),
                Frame::Lost { cpu, total } => writer.lost(*cpu, *total).unwrap(),
                Frame::Stack(stack) => writer.stack(stack).unwrap(),
                Frame::Symbol(symbol) => writer.symbol(symbol).unwrap(),
                Frame::End(_) => unreachable!("mixed_frames adds no END"),
            }
            if rng.below(100) == 0 {
                writer.flush().unwrap();
            }
        }
        let bytes = writer.into_inner().unwrap();
        let (_, back, complete, error) = read(&bytes).unwrap();
        assert!(error.is_none(), "seed {seed}: {}", error.unwrap());
        assert!(!complete);
        assert_eq!(back, frames, "seed {seed}");
    }
}

/// A small record with every kind of frame, several blocks.
fn small_record(blocks: Blocks) -> (Vec<u8>, Vec<Frame>) {
    let mut rng = XorShift(42);
    let events = trace_events(&mut rng, 12);
    let mut frames: Vec<Frame> = events[..5].iter().copied().map(Frame::Event).collect();
    frames.push(Frame::Stack(stack(3)));
    frames.extend(events[5..9].iter().copied().map(Frame::Event));
    frames.push(Frame::Lost { cpu: 1, total: 9 });
    frames.extend(events[9..].iter().copied().map(Frame::Event));
    frames.push(Frame::End(SUMMARY));
    (write(&meta(), &frames, blocks), frames)
}

#[test]
fn truncation_anywhere_replays_a_prefix_or_fails_in_one_line() {
    for blocks in BOTH {
        let (bytes, all) = small_record(blocks);
        assert!(frame_list(&bytes).iter().any(|(_, kind, _)| match blocks {
            Blocks::Plain => *kind == frame_type::EVENTS,
            Blocks::Zstd => *kind == frame_type::EVENTS_ZSTD,
        }));
        let boundaries: Vec<usize> = frame_list(&bytes).iter().map(|(at, _, _)| *at).collect();
        let start = frames_start(&bytes);
        for cut in start..bytes.len() {
            let (_, frames, complete, error) = read(&bytes[..cut]).unwrap();
            assert!(!complete);
            assert_eq!(frames[..], all[..frames.len()], "{blocks:?} cut at {cut}");
            match error {
                None => assert!(boundaries.contains(&cut), "{blocks:?}: clean end at {cut}"),
                Some(error) => {
                    let text = error.to_string();
                    assert!(
                        !boundaries.contains(&cut),
                        "{blocks:?} cut at {cut}: {text}"
                    );
                    assert!(
                        text.starts_with("corrupt record: truncated frame at byte ")
                            && !text.contains('\n'),
                        "{blocks:?} cut at {cut}: {text}"
                    );
                }
            }
        }
    }
}

/// Every byte of every block frame damaged, three ways: an error after the
/// frames before the block, never a panic or wrong events. The checksum
/// covers the events, so only damage that leaves them intact goes
/// unnoticed: in zstd's frame header, say (a flag it does not need).
#[test]
fn damaged_blocks_are_errors() {
    for blocks in BOTH {
        let (bytes, all) = small_record(blocks);
        let mut before = 0;
        let mut unnoticed = 0;
        for (at, kind, len) in frame_list(&bytes) {
            if kind != frame_type::EVENTS && kind != frame_type::EVENTS_ZSTD {
                before += 1;
                continue;
            }
            for i in at..at + FRAME_HEADER_LEN + len {
                for flip in [0x01, 0x80, 0xff] {
                    let mut damaged = bytes.clone();
                    damaged[i] ^= flip;
                    let (_, frames, complete, error) = read(&damaged).unwrap();
                    if error.is_none() {
                        assert_eq!(frames, all, "{blocks:?}: byte {i} ^ {flip:#x}");
                        assert!(complete);
                        unnoticed += 1;
                        continue;
                    }
                    assert!(!complete);
                    assert_eq!(
                        frames[..],
                        all[..before],
                        "{blocks:?}: byte {i} ^ {flip:#x}"
                    );
                }
            }
            before += all[before..]
                .iter()
                .take_while(|frame| matches!(frame, Frame::Event(_)))
                .count();
        }
        match blocks {
            Blocks::Plain => assert_eq!(unnoticed, 0),
            Blocks::Zstd => assert!(unnoticed < 10, "{unnoticed}"),
        }
    }
}

/// A record with one hand-made frame after the header.
fn with_frame(kind: u32, payload: &[u8]) -> Vec<u8> {
    let mut bytes = write(&meta(), &[], Blocks::Plain);
    bytes.extend_from_slice(&frame_header(kind, payload.len() as u32));
    bytes.extend_from_slice(payload);
    bytes
}

/// The payload of an uncompressed block of `events` (encoded by hand).
fn plain_block(events: &[u8]) -> Vec<u8> {
    let mut payload = block::checksum(events).to_le_bytes().to_vec();
    payload.extend_from_slice(events);
    payload
}

fn error_of(bytes: &[u8]) -> String {
    let (_, _, _, error) = read(bytes).unwrap();
    error.expect("an error").to_string()
}

#[test]
fn malformed_blocks_are_errors_with_their_offset() {
    let at = frames_start(&write(&meta(), &[], Blocks::Plain));
    let block = |detail: &str| format!("corrupt record: events block at byte {at}: {detail}");

    for len in [0, 8, MAX_PAYLOAD_LEN + 1] {
        assert_eq!(
            error_of(&with_frame(frame_type::EVENTS, &vec![0; len])),
            format!(
                "corrupt record: events block at byte {at} has length {len} (9 to {MAX_PAYLOAD_LEN})"
            )
        );
    }
    let mut damaged = plain_block(&[0, 1, 5]);
    damaged[0] ^= 1;
    assert_eq!(
        error_of(&with_frame(frame_type::EVENTS, &damaged)),
        block("events do not match their checksum (damaged)")
    );

    // Decoding problems, behind a good checksum (a writer's bug, or crafted).
    let cases: [(&[u8], &str); 5] = [
        (
            &[0, 1],
            "event 0 (byte 0 of the block's events): cut off by the end of the block",
        ),
        (
            &[
                0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
            ],
            "event 0 (byte 0 of the block's events): a varint longer than 64 bits",
        ),
        (
            &[0, 0x80, 0x80, 0x80, 0x04],
            "event 0 (byte 0 of the block's events): word bitmap 0x800000 names words past the event's 23",
        ),
        (
            &[1, 0],
            "event 0 (byte 0 of the block's events): reference 1 events back, but 0 precede it in the block",
        ),
        (
            &[0, 1, 5, 0, 0, 3, 0],
            "event 2 (byte 5 of the block's events): reference 3 events back, but 2 precede it in the block",
        ),
    ];
    for (events, detail) in cases {
        let bytes = with_frame(frame_type::EVENTS, &plain_block(events));
        assert_eq!(error_of(&bytes), block(detail), "{events:?}");
    }
    // The events before the bad one are delivered.
    let bytes = with_frame(frame_type::EVENTS, &plain_block(&[0, 1, 5, 0, 0, 3, 0]));
    let (_, frames, _, _) = read(&bytes).unwrap();
    assert_eq!(frames.len(), 2);
    let Frame::Event(first) = frames[0] else {
        panic!("{frames:?}")
    };
    assert_eq!(first.ts_ns, 5);
    assert_eq!(
        frames[1],
        Frame::Event(RawEvent::from_bytes(&[0; 184]).unwrap())
    );
}

#[test]
fn malformed_compressed_blocks_are_errors() {
    let at = frames_start(&write(&meta(), &[], Blocks::Plain));
    let block = |detail: &str| format!("corrupt record: events block at byte {at}: {detail}");
    let events = [0u8, 1, 5];
    let compressed = |stated: u32, frame: &[u8]| {
        let mut payload = block::checksum(&events).to_le_bytes().to_vec();
        payload.extend_from_slice(&stated.to_le_bytes());
        payload.extend_from_slice(frame);
        with_frame(frame_type::EVENTS_ZSTD, &payload)
    };
    let frame = zstd::bulk::compress(&events, 1).unwrap();

    let good = compressed(3, &frame);
    assert_eq!(read_ok(&good).len(), 1);
    for stated in [0, MAX_BLOCK_LEN as u32 + 1] {
        assert_eq!(
            error_of(&compressed(stated, &frame)),
            block(&format!(
                "compressed events state {stated} bytes (1 to {MAX_BLOCK_LEN})"
            ))
        );
    }
    assert_eq!(
        error_of(&compressed(4, &frame)),
        block("compressed events decompress to 3 bytes, not the 4 stated")
    );
    let text = error_of(&compressed(3, b"not zstd at all"));
    assert!(
        text.starts_with(&block("compressed events do not decompress (")) && !text.contains('\n'),
        "{text}"
    );
    // More than a block holds, however small the frame.
    let bomb = zstd::bulk::compress(&vec![0u8; MAX_BLOCK_LEN + 1], 1).unwrap();
    assert!(
        error_of(&compressed(3, &bomb))
            .starts_with(&block("compressed events do not decompress ("))
    );
}

#[test]
fn frames_of_the_other_format_are_unknown() {
    let at = frames_start(&write(&meta(), &[], Blocks::Plain));
    let event = RawEvent::zeroed();
    assert_eq!(
        error_of(&with_frame(frame_type::EVENT, event.as_bytes())),
        format!("corrupt record: frame at byte {at} has unknown type 1")
    );
    let mut v1 = with_frame(frame_type::EVENTS, &plain_block(&[0, 0]));
    v1[8..12].copy_from_slice(&1u32.to_le_bytes());
    assert_eq!(
        error_of(&v1),
        format!("corrupt record: frame at byte {at} has unknown type 6")
    );
}

/// Blocks decode alone: a record missing one still gives every other event.
#[test]
fn each_block_decodes_alone() {
    let mut rng = XorShift(7);
    let events = trace_events(&mut rng, 10_000);
    let frames: Vec<Frame> = events.iter().copied().map(Frame::Event).collect();
    for blocks in BOTH {
        let bytes = write(&meta(), &frames, blocks);
        let list = frame_list(&bytes);
        assert!(list.len() >= 3, "{list:?}");
        let (at, _, len) = list[1];
        let mut without = bytes[..at].to_vec();
        without.extend_from_slice(&bytes[at + FRAME_HEADER_LEN + len..]);
        let first_block = read_ok(&bytes[..at]).len();
        let second_block = read_ok(&bytes[..at + FRAME_HEADER_LEN + len]).len() - first_block;
        let mut expected = frames.clone();
        expected.drain(first_block..first_block + second_block);
        assert_eq!(read_ok(&without), expected, "{blocks:?}");
    }
}

/// Frames reach the file in the order the sink saw them: the open block
/// is written before any other frame, at flush, and when the writer goes.
#[test]
fn writer_ends_blocks_where_order_or_durability_needs() {
    let mut rng = XorShift(9);
    let events = trace_events(&mut rng, 6);
    let mut out = Vec::new();
    {
        let mut writer = RecordWriter::new(&mut out);
        writer.begin(&meta()).unwrap();
        writer.event(&events[0]).unwrap();
        writer.stack(&stack(1)).unwrap();
        writer.event(&events[1]).unwrap();
        writer.symbol(&StackFrame::default()).unwrap();
        writer.event(&events[2]).unwrap();
        writer.lost(0, 1).unwrap();
        writer.event(&events[3]).unwrap();
        writer.flush().unwrap();
        writer.event(&events[4]).unwrap();
        writer.event(&events[5]).unwrap();
        // Dropped without finish, as when a recording fails.
    }
    let kinds: Vec<u32> = frame_list(&out).iter().map(|(_, kind, _)| *kind).collect();
    use frame_type::{EVENTS, LOST, STACK, SYMBOL};
    assert_eq!(
        kinds,
        [EVENTS, STACK, EVENTS, SYMBOL, EVENTS, LOST, EVENTS, EVENTS]
    );
    let frames = read_ok(&out);
    assert_eq!(frames.len(), 9);
    assert_eq!(frames[8], Frame::Event(events[5]));
}

#[test]
fn record_of_another_abi_says_to_record_again() {
    for blocks in BOTH {
        let (mut bytes, _) = small_record(blocks);
        bytes[12..16].copy_from_slice(&(ABI_VERSION + 1).to_le_bytes());
        let error = RecordReader::new(Cursor::new(&bytes)).err().unwrap();
        assert_eq!(
            error.to_string(),
            format!(
                "record was written by another pkttrace version (event ABI {}, this one reads ABI {ABI_VERSION}): record it again with this version",
                ABI_VERSION + 1
            )
        );
    }
}
