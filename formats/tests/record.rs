mod common;

use std::io::{self, Cursor};
use std::os::unix::fs::PermissionsExt;

use common::*;
use formats::abi::{ABI_VERSION, RawEvent};
use formats::meta::TraceMeta;
use formats::record::{
    FORMAT_VERSION, Frame, MAGIC, RecordEnd, RecordError, RecordReader, RecordWriter, frame_type,
    replay,
};
use formats::sink::{Sink, Summary};

const SUMMARY: Summary = Summary {
    events: 1000,
    lost: 7,
    filtered: 12,
    untracked: 3,
    duration_ns: 5_000_000_000,
};

fn varied_events(n: usize) -> Vec<RawEvent> {
    let templates = [
        icmp_echo(),
        tcp_syn(),
        udp_v6_xmit(),
        tcp_drop(3),
        tcp_state_change(),
    ];
    (0..n)
        .map(|i| {
            let mut ev = templates[i % templates.len()];
            ev.ts_ns += i as u64;
            ev.cpu = (i % 4) as u32;
            ev
        })
        .collect()
}

/// A record of `events`, with a lost frame after the first one and, when
/// `finished`, the END frame.
fn record(events: &[RawEvent], finished: bool) -> Vec<u8> {
    let mut writer = RecordWriter::new(Vec::new());
    writer.begin(&meta()).unwrap();
    for (i, ev) in events.iter().enumerate() {
        writer.event(ev).unwrap();
        if i == 0 {
            writer.lost(2, 7).unwrap();
        }
    }
    if finished {
        writer.finish(&SUMMARY).unwrap();
    }
    writer.into_inner().unwrap()
}

/// The same record in format 1 (a frame per event), as pkttrace wrote
/// before event blocks; built by hand since pkttrace no longer writes it.
fn v1_record(events: &[RawEvent], finished: bool) -> Vec<u8> {
    fn frame(out: &mut Vec<u8>, kind: u32, payload: &[u8]) {
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(payload);
    }
    let meta = serde_json::to_vec(&meta()).unwrap();
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&ABI_VERSION.to_le_bytes());
    out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
    out.extend_from_slice(&meta);
    for (i, ev) in events.iter().enumerate() {
        frame(&mut out, frame_type::EVENT, ev.as_bytes());
        if i == 0 {
            let mut lost = 2u32.to_le_bytes().to_vec();
            lost.extend_from_slice(&7u64.to_le_bytes());
            frame(&mut out, frame_type::LOST, &lost);
        }
    }
    if finished {
        frame(
            &mut out,
            frame_type::END,
            &serde_json::to_vec(&SUMMARY).unwrap(),
        );
    }
    out
}

fn read_all(bytes: &[u8]) -> Result<(TraceMeta, Vec<Frame>, bool), RecordError> {
    let mut reader = RecordReader::new(Cursor::new(bytes))?;
    let mut frames = Vec::new();
    while let Some(frame) = reader.next_frame()? {
        frames.push(frame);
    }
    Ok((reader.meta().clone(), frames, reader.is_complete()))
}

fn expected_frames(events: &[RawEvent], finished: bool) -> Vec<Frame> {
    let mut frames = Vec::new();
    for (i, ev) in events.iter().enumerate() {
        frames.push(Frame::Event(*ev));
        if i == 0 {
            frames.push(Frame::Lost { cpu: 2, total: 7 });
        }
    }
    if finished {
        frames.push(Frame::End(SUMMARY));
    }
    frames
}

fn error_text(bytes: &[u8]) -> String {
    match read_all(bytes) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

/// Offset of the first frame: header plus metadata.
fn frames_start(bytes: &[u8]) -> usize {
    20 + u32::from_le_bytes(bytes[16..20].try_into().unwrap()) as usize
}

#[test]
fn round_trip() {
    // More than the reader's buffer, so frames straddle refills.
    let events = varied_events(20_000);
    for bytes in [record(&events, true), v1_record(&events, true)] {
        let (meta, frames, complete) = read_all(&bytes).unwrap();
        assert_eq!(meta, common::meta());
        assert_eq!(meta.probe(FEXIT_PROBE).unwrap().name, "ip_finish_output2");
        assert_eq!(meta.drop_reason_name(3), Some("NO_SOCKET"));
        assert!(complete);
        assert_eq!(frames, expected_frames(&events, true));
    }
}

#[test]
fn header_layout() {
    let bytes = record(&[], true);
    assert_eq!(bytes[..8], MAGIC);
    assert_eq!(bytes[8..12], FORMAT_VERSION.to_le_bytes());
    assert_eq!(bytes[12..16], ABI_VERSION.to_le_bytes());
    let meta: TraceMeta = serde_json::from_slice(&bytes[20..frames_start(&bytes)]).unwrap();
    assert_eq!(meta, common::meta());
    let end = frames_start(&bytes);
    assert_eq!(bytes[end..end + 4], frame_type::END.to_le_bytes());
}

#[test]
fn interrupted_recording_reads_cleanly() {
    let events = varied_events(10);
    for bytes in [record(&events, false), v1_record(&events, false)] {
        let (_, frames, complete) = read_all(&bytes).unwrap();
        assert!(!complete);
        assert_eq!(frames, expected_frames(&events, false));
    }
}

#[test]
fn truncation_at_every_byte_is_a_clean_error_or_a_prefix() {
    let events = varied_events(6);
    for bytes in [record(&events, true), v1_record(&events, true)] {
        truncate_everywhere(&bytes, &expected_frames(&events, true));
    }
}

fn truncate_everywhere(bytes: &[u8], all: &[Frame]) {
    let start = frames_start(bytes);
    for cut in 0..bytes.len() {
        match read_all(&bytes[..cut]) {
            Ok((_, frames, complete)) => {
                assert!(cut >= start, "header cut at {cut} accepted");
                assert!(!complete);
                assert_eq!(frames[..], all[..frames.len()], "cut at {cut}");
            }
            Err(e) => {
                let text = e.to_string();
                if cut == 0 {
                    assert_eq!(text, "not a pkttrace record (empty file)");
                } else if cut < 8 {
                    assert_eq!(text, "not a pkttrace record (bad magic)");
                } else if cut < start {
                    assert_eq!(text, "corrupt record: truncated header");
                } else {
                    assert!(
                        text.starts_with("corrupt record: truncated frame at byte "),
                        "cut at {cut}: {text}"
                    );
                }
            }
        }
    }
}

#[test]
fn bad_headers() {
    let good = record(&varied_events(2), true);

    let mut bad = good.clone();
    bad[0] = b'X';
    assert_eq!(error_text(&bad), "not a pkttrace record (bad magic)");

    let mut newer = good.clone();
    newer[8..12].copy_from_slice(&7u32.to_le_bytes());
    assert_eq!(
        error_text(&newer),
        "record format version 7 is newer than this pkttrace (2)"
    );

    let mut zero = good.clone();
    zero[8..12].copy_from_slice(&0u32.to_le_bytes());
    assert_eq!(error_text(&zero), "corrupt record: format version 0");

    // Either format: the events' layout is another build's.
    for bytes in [good.clone(), v1_record(&varied_events(2), true)] {
        let mut abi = bytes;
        abi[12..16].copy_from_slice(&(ABI_VERSION - 1).to_le_bytes());
        assert_eq!(
            error_text(&abi),
            format!(
                "record was written by another pkttrace version (event ABI {}, this one reads ABI {ABI_VERSION}): record it again with this version",
                ABI_VERSION - 1
            )
        );
    }

    let mut huge = good.clone();
    huge[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        error_text(&huge),
        "corrupt record: metadata length 4294967295 exceeds 67108864"
    );

    let mut garbled = good.clone();
    garbled[20] = b'[';
    assert_eq!(error_text(&garbled), "corrupt record: bad metadata");
}

/// Damaged frames of format 1 (those of format 2: the unit tests of
/// `formats::record`).
#[test]
fn bad_frames() {
    let good = v1_record(&varied_events(2), true);
    let first = frames_start(&good);

    let mut unknown = good.clone();
    unknown[first..first + 4].copy_from_slice(&9u32.to_le_bytes());
    assert_eq!(
        error_text(&unknown),
        format!("corrupt record: frame at byte {first} has unknown type 9")
    );

    let mut short_event = good.clone();
    short_event[first + 4..first + 8].copy_from_slice(&100u32.to_le_bytes());
    assert_eq!(
        error_text(&short_event),
        format!(
            "corrupt record: frame at byte {first} of type 1 has length 100 (expected {})",
            RawEvent::SIZE
        )
    );

    let lost = first + 8 + RawEvent::SIZE;
    let mut long_lost = good.clone();
    long_lost[lost + 4..lost + 8].copy_from_slice(&13u32.to_le_bytes());
    assert_eq!(
        error_text(&long_lost),
        format!("corrupt record: frame at byte {lost} of type 2 has length 13 (expected 12)")
    );

    // Frames: event, lost, event, end.
    let end = first + 2 * (8 + RawEvent::SIZE) + (8 + 12);
    assert_eq!(good[end..end + 4], frame_type::END.to_le_bytes());
    let mut garbled_end = good.clone();
    garbled_end[end + 8] = b'!';
    assert_eq!(
        error_text(&garbled_end),
        format!("corrupt record: bad summary in end frame at byte {end}")
    );

    let mut huge_end = good.clone();
    huge_end[end + 4..end + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        error_text(&huge_end),
        format!("corrupt record: end frame at byte {end} has length 4294967295 (at most 1048576)")
    );

    let mut trailing = good.clone();
    trailing.extend_from_slice(b"x");
    assert_eq!(
        error_text(&trailing),
        format!(
            "corrupt record: data after the end frame at byte {}",
            good.len()
        )
    );
}

#[test]
fn errors_stop_the_reader() {
    let good = v1_record(&varied_events(3), true);
    let first = frames_start(&good);
    let mut bad = good.clone();
    let second = first + 8 + RawEvent::SIZE;
    bad[second..second + 4].copy_from_slice(&0u32.to_le_bytes());
    let mut reader = RecordReader::new(Cursor::new(&bad)).unwrap();
    assert!(matches!(reader.next_frame(), Ok(Some(Frame::Event(_)))));
    assert!(matches!(
        reader.next_frame(),
        Err(RecordError::UnknownFrame { frame_type: 0, .. })
    ));
    assert!(matches!(reader.next_frame(), Ok(None)));
    assert!(!reader.is_complete());
}

/// Records what a sink saw.
#[derive(Default)]
struct Collect {
    began: Option<TraceMeta>,
    events: Vec<RawEvent>,
    lost: Vec<(u32, u64)>,
    finished: Option<Summary>,
}

impl Sink for Collect {
    fn begin(&mut self, meta: &TraceMeta) -> io::Result<()> {
        self.began = Some(meta.clone());
        Ok(())
    }
    fn event(&mut self, event: &RawEvent) -> io::Result<()> {
        self.events.push(*event);
        Ok(())
    }
    fn lost(&mut self, cpu: u32, total: u64) -> io::Result<()> {
        self.lost.push((cpu, total));
        Ok(())
    }
    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        self.finished = Some(*summary);
        Ok(())
    }
}

#[test]
fn replay_complete_record() {
    let events = varied_events(50);
    let bytes = record(&events, true);
    let mut reader = RecordReader::new(Cursor::new(&bytes)).unwrap();
    let mut sink = Collect::default();
    let outcome = replay(&mut reader, &mut sink).unwrap();
    assert!(matches!(outcome.end, RecordEnd::Complete));
    assert_eq!(outcome.summary, SUMMARY);
    assert_eq!(sink.began, Some(common::meta()));
    assert_eq!(sink.events, events);
    assert_eq!(sink.lost, [(2, 7)]);
    assert_eq!(sink.finished, Some(SUMMARY));
}

#[test]
fn replay_interrupted_and_corrupt_records_still_finish() {
    let events = varied_events(5);
    let counted = Summary {
        events: 5,
        lost: 7,
        filtered: 0,
        untracked: 0,
        duration_ns: events[4].ts_ns - events[0].ts_ns,
    };

    let interrupted = record(&events, false);
    let mut sink = Collect::default();
    let outcome = replay(
        &mut RecordReader::new(Cursor::new(&interrupted)).unwrap(),
        &mut sink,
    )
    .unwrap();
    assert!(matches!(outcome.end, RecordEnd::Interrupted));
    assert_eq!(outcome.summary, counted);
    assert_eq!(sink.finished, Some(counted));

    // A torn block loses its events (here the four after the lost frame),
    // not those before it.
    let torn = &interrupted[..interrupted.len() - 1];
    let mut sink = Collect::default();
    let outcome = replay(
        &mut RecordReader::new(Cursor::new(torn)).unwrap(),
        &mut sink,
    )
    .unwrap();
    assert!(matches!(
        outcome.end,
        RecordEnd::Failed(RecordError::Truncated { .. })
    ));
    assert_eq!(sink.events, events[..1]);
    assert_eq!(sink.finished.unwrap().events, 1);

    // Format 1 loses only the torn event.
    let interrupted = v1_record(&events, false);
    let torn = &interrupted[..interrupted.len() - 1];
    let mut sink = Collect::default();
    replay(
        &mut RecordReader::new(Cursor::new(torn)).unwrap(),
        &mut sink,
    )
    .unwrap();
    assert_eq!(sink.events, events[..4]);
}

#[test]
fn sink_errors_abort_replay() {
    struct Broken;
    impl Sink for Broken {
        fn begin(&mut self, _: &TraceMeta) -> io::Result<()> {
            Ok(())
        }
        fn event(&mut self, _: &RawEvent) -> io::Result<()> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn lost(&mut self, _: u32, _: u64) -> io::Result<()> {
            Ok(())
        }
        fn finish(&mut self, _: &Summary) -> io::Result<()> {
            panic!("finish after a failed event");
        }
    }
    let bytes = record(&varied_events(3), true);
    let mut reader = RecordReader::new(Cursor::new(&bytes)).unwrap();
    let error = replay(&mut reader, &mut Broken).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
}

#[test]
fn writer_enforces_order() {
    let mut writer = RecordWriter::new(Vec::new());
    assert!(writer.event(&icmp_echo()).is_err());
    assert!(writer.finish(&SUMMARY).is_err());
    writer.begin(&meta()).unwrap();
    assert!(writer.begin(&meta()).is_err());
    writer.finish(&SUMMARY).unwrap();
    assert!(writer.event(&icmp_echo()).is_err());
}

#[test]
fn files_are_private_and_truncated() {
    let dir = std::env::temp_dir().join(format!("pkttrace-record-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("trace.pkttrace");
    std::fs::write(&path, vec![b'x'; 100_000]).unwrap();

    let events = varied_events(3);
    fn write<W: io::Write>(mut writer: RecordWriter<W>, events: &[RawEvent]) -> RecordWriter<W> {
        writer.begin(&meta()).unwrap();
        for ev in events {
            writer.event(ev).unwrap();
        }
        writer.finish(&SUMMARY).unwrap();
        writer
    }
    drop(write(RecordWriter::create(&path).unwrap(), &events));
    let in_memory = write(RecordWriter::new(Vec::new()), &events)
        .into_inner()
        .unwrap();

    let written = std::fs::read(&path).unwrap();
    let mut reader = RecordReader::open(&path).unwrap();
    let mut frames = 0;
    while reader.next_frame().unwrap().is_some() {
        frames += 1;
    }
    assert!(reader.is_complete());
    assert_eq!(frames, 3 + 1);
    assert_eq!(written, in_memory);

    let missing = dir.join("missing");
    let error = RecordReader::open(&missing).err().unwrap();
    assert_eq!(
        error.to_string(),
        format!("cannot open {}", missing.display())
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn created_file_mode_is_0600() {
    let path = std::env::temp_dir().join(format!("pkttrace-mode-test-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    RecordWriter::create(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(mode & 0o777, 0o600);
}

fn sample_stack() -> formats::stack::Stack {
    use formats::stack::{Stack, StackFrame};
    Stack {
        id: 42,
        frames: vec![
            StackFrame {
                addr: 0xffff_ffff_8190_0005,
                symbol: Some("ip_rcv".into()),
                offset: 5,
                module: None,
            },
            StackFrame {
                addr: 0xffff_ffff_c000_0010,
                symbol: Some("tdma_enqueue".into()),
                offset: 0x10,
                module: Some("sch_tdma".into()),
            },
            StackFrame {
                addr: 0xffff_ffff_c100_0000,
                ..StackFrame::default()
            },
        ],
    }
}

/// Stacks travel with their names: a report on another machine shows them
/// as the tracing host named them, in text and JSON.
#[test]
fn stacks_round_trip_with_their_symbols_and_reach_the_printers() {
    let mut event = tcp_drop(3);
    event.stack_id = 42;
    let mut writer = RecordWriter::new(Vec::new());
    writer.begin(&meta()).unwrap();
    writer.stack(&sample_stack()).unwrap();
    writer.event(&event).unwrap();
    writer.finish(&SUMMARY).unwrap();
    let bytes = writer.into_inner().unwrap();

    let (_, frames, complete) = read_all(&bytes).unwrap();
    assert!(complete);
    assert_eq!(frames[0], Frame::Stack(sample_stack()));
    assert_eq!(frames[1], Frame::Event(event));

    let mut text = formats::text::TextPrinter::new(Vec::new());
    replay(
        &mut RecordReader::new(Cursor::new(&bytes)).unwrap(),
        &mut text,
    )
    .unwrap();
    let text = String::from_utf8(text.into_inner()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[1], "        ip_rcv+0x5");
    assert_eq!(lines[2], "        tdma_enqueue+0x10 [sch_tdma]");
    assert_eq!(lines[3], "        0xffffffffc1000000");

    let mut json = formats::json::JsonPrinter::new(Vec::new());
    replay(
        &mut RecordReader::new(Cursor::new(&bytes)).unwrap(),
        &mut json,
    )
    .unwrap();
    let line: serde_json::Value = serde_json::from_slice(&json.into_inner()).unwrap();
    assert_eq!(line["stack_id"], 42);
    assert_eq!(line["stack"][1], "tdma_enqueue+0x10 [sch_tdma]");
}

#[test]
fn a_corrupt_stack_frame_is_an_error() {
    let mut writer = RecordWriter::new(Vec::new());
    writer.begin(&meta()).unwrap();
    writer.stack(&sample_stack()).unwrap();
    writer.finish(&SUMMARY).unwrap();
    let mut bytes = writer.into_inner().unwrap();
    let first = frames_start(&bytes);
    bytes[first + 8] = b'[';
    assert_eq!(
        error_text(&bytes),
        format!("corrupt record: bad stack or symbol at byte {first}")
    );
}
