//! Record files: a trace saved for later `report`.
//!
//! Layout (header and frame fields little-endian):
//!
//! ```text
//! "PKTTRACE" | u32 format version | u32 ABI version | u32 meta length | meta JSON
//! frame*:      u32 frame type | u32 payload length | payload
//! ```
//!
//! Events are [`RawEvent`]s exactly as the ring buffer delivered them, in
//! the tracing host's byte order (little-endian on every architecture
//! pkttrace supports). Format 2, written now, stores them in blocks of up to
//! 64 KiB, each event encoded against an earlier event of its block, with a
//! checksum: [`frame_type::EVENTS`], or [`frame_type::EVENTS_ZSTD`] with the
//! events compressed (see `block.rs`).
//! Format 1, still read, had one [`frame_type::EVENT`] frame per event
//! ([`RawEvent::SIZE`] bytes).
//!
//! The other frames: [`frame_type::LOST`] (u32 cpu, u64 cumulative lost
//! count on that cpu), [`frame_type::END`] (the [`Summary`] as JSON, last in
//! a complete file), [`frame_type::STACK`] (a [`Stack`] as JSON: addresses
//! and the tracing host's names for them, before the first event whose
//! `stack_id` refers to it), [`frame_type::SYMBOL`] (a [`StackFrame`] as
//! JSON: the name of a code address events carry, such as a drop location).
//! Frames keep the order the sink saw: the writer ends its event block
//! before any other frame. A file that stops at a frame boundary without END
//! was interrupted; one that stops inside a frame is corrupt.

mod block;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use self::block::{BlockCompressor, BlockDecoder, BlockEncoder, BlockError, MAX_PAYLOAD_LEN};
use crate::abi::{ABI_VERSION, RawEvent};
use crate::meta::TraceMeta;
use crate::sink::{Sink, Summary};
use crate::stack::{Stack, StackFrame};

pub const MAGIC: [u8; 8] = *b"PKTTRACE";
/// Version of the container layout above (the event layout is the ABI
/// version): 2 since events are stored in blocks.
pub const FORMAT_VERSION: u32 = 2;
/// Format 1: one frame per event.
const FORMAT_FRAME_PER_EVENT: u32 = 1;

pub mod frame_type {
    /// One raw event (format 1 only).
    pub const EVENT: u32 = 1;
    pub const LOST: u32 = 2;
    pub const END: u32 = 3;
    pub const STACK: u32 = 4;
    pub const SYMBOL: u32 = 5;
    /// A block of encoded events (format 2).
    pub const EVENTS: u32 = 6;
    /// A block of encoded events compressed with zstd (format 2).
    pub const EVENTS_ZSTD: u32 = 7;
}

const HEADER_LEN: usize = MAGIC.len() + 3 * 4;
const FRAME_HEADER_LEN: usize = 8;
const LOST_PAYLOAD_LEN: usize = 4 + 8;
const EVENT_FRAME_LEN: usize = FRAME_HEADER_LEN + RawEvent::SIZE;
/// Caps on JSON payloads, so a corrupt length cannot make us allocate gigabytes.
const MAX_META_LEN: u32 = 64 << 20;
const MAX_SUMMARY_LEN: u32 = 1 << 20;
/// 127 frames with long names fit many times over.
const MAX_STACK_LEN: u32 = 1 << 20;
/// Large buffers: writing keeps up with a busy ring buffer, reading feeds
/// `report` at tens of millions of events per second.
const WRITE_BUFFER_BYTES: usize = 1 << 20;
const READ_BUFFER_BYTES: usize = 1 << 20;

/// Why a record cannot be read (further).
#[derive(Debug, Error)]
pub enum RecordError {
    #[error("cannot open {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read record")]
    Io(#[source] io::Error),
    #[error("not a pkttrace record (empty file)")]
    Empty,
    #[error("not a pkttrace record (bad magic)")]
    BadMagic,
    #[error("record format version {found} is newer than this pkttrace ({FORMAT_VERSION})")]
    NewerFormat { found: u32 },
    #[error("corrupt record: format version 0")]
    ZeroFormat,
    #[error(
        "record was written by another pkttrace version (event ABI {found}, this one reads ABI {ABI_VERSION}): record it again with this version"
    )]
    AbiMismatch { found: u32 },
    #[error("corrupt record: truncated header")]
    TruncatedHeader,
    #[error("corrupt record: metadata length {len} exceeds {MAX_META_LEN}")]
    MetaTooLarge { len: u32 },
    #[error("corrupt record: bad metadata")]
    BadMeta(#[source] serde_json::Error),
    #[error("corrupt record: frame at byte {offset} has unknown type {frame_type}")]
    UnknownFrame { offset: u64, frame_type: u32 },
    #[error(
        "corrupt record: frame at byte {offset} of type {frame_type} has length {len} (expected {expected})"
    )]
    BadFrameLength {
        offset: u64,
        frame_type: u32,
        len: u32,
        expected: u32,
    },
    #[error(
        "corrupt record: end frame at byte {offset} has length {len} (at most {MAX_SUMMARY_LEN})"
    )]
    SummaryTooLarge { offset: u64, len: u32 },
    #[error("corrupt record: bad summary in end frame at byte {offset}")]
    BadSummary {
        offset: u64,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "corrupt record: stack or symbol frame at byte {offset} has length {len} (at most {MAX_STACK_LEN})"
    )]
    StackTooLarge { offset: u64, len: u32 },
    #[error("corrupt record: bad stack or symbol at byte {offset}")]
    BadStack {
        offset: u64,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "corrupt record: events block at byte {offset} has length {len} ({min} to {MAX_PAYLOAD_LEN})",
        min = block::CHECKSUM_LEN + 1
    )]
    BadBlockLength { offset: u64, len: u32 },
    #[error("corrupt record: events block at byte {offset}: {problem}")]
    BadBlock { offset: u64, problem: BlockError },
    #[error("corrupt record: truncated frame at byte {offset}")]
    Truncated { offset: u64 },
    #[error("corrupt record: data after the end frame at byte {offset}")]
    TrailingData { offset: u64 },
}

/// One frame of a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Event(RawEvent),
    Lost { cpu: u32, total: u64 },
    Stack(Stack),
    Symbol(StackFrame),
    End(Summary),
}

/// One frame of a record, the event borrowed from the reader (saves copying
/// it once more on the way to a sink).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameRef<'a> {
    Event(&'a RawEvent),
    Lost { cpu: u32, total: u64 },
    Stack(&'a Stack),
    Symbol(&'a StackFrame),
    End(Summary),
}

impl FrameRef<'_> {
    pub fn into_frame(self) -> Frame {
        match self {
            FrameRef::Event(event) => Frame::Event(*event),
            FrameRef::Lost { cpu, total } => Frame::Lost { cpu, total },
            FrameRef::Stack(stack) => Frame::Stack(stack.clone()),
            FrameRef::Symbol(frame) => Frame::Symbol(frame.clone()),
            FrameRef::End(summary) => Frame::End(summary),
        }
    }
}

/// A decoded frame whose payload, if any, sits in the reader.
enum Decoded {
    /// In `RecordReader::event` (format 1).
    Event,
    /// In `RecordReader::blocks` (format 2).
    BlockEvent,
    Lost {
        cpu: u32,
        total: u64,
    },
    /// In `RecordReader::stack`.
    Stack,
    /// In `RecordReader::symbol`.
    Symbol,
    End(Summary),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WriterState {
    BeforeHeader,
    Frames,
    Finished,
}

/// Streams a trace into a record file. A [`Sink`]: `begin` writes the header,
/// `finish` the END frame and flushes.
///
/// Events collect in a block written out when full, before any other frame,
/// at [`Sink::flush`] (after each ring-buffer drain of a live trace) and when
/// the writer is dropped.
pub struct RecordWriter<W: Write> {
    /// `None` only once [`into_inner`](Self::into_inner) took it.
    out: Option<BufWriter<W>>,
    state: WriterState,
    block: BlockEncoder,
    /// With [`compressed`](Self::compressed).
    compressor: Option<BlockCompressor>,
}

impl RecordWriter<File> {
    /// Creates (or truncates) `path`, readable by its owner only: records can
    /// hold addresses and process names of the whole machine.
    pub fn create(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| {
                io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display()))
            })?;
        Ok(RecordWriter::new(file))
    }
}

impl<W: Write> RecordWriter<W> {
    pub fn new(out: W) -> Self {
        RecordWriter {
            out: Some(BufWriter::with_capacity(WRITE_BUFFER_BYTES, out)),
            state: WriterState::BeforeHeader,
            block: BlockEncoder::new(),
            compressor: None,
        }
    }

    /// Compresses event blocks with zstd (each block on its own, so each
    /// still reads alone); readers need no option to read them.
    pub fn compressed(mut self) -> io::Result<Self> {
        self.compressor = Some(BlockCompressor::new()?);
        Ok(self)
    }

    /// Writes the open event block and returns the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.write_block()?;
        self.out
            .take()
            .expect("the writer is taken only here")
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
    }

    fn out(&mut self) -> &mut BufWriter<W> {
        self.out
            .as_mut()
            .expect("the writer is taken only by into_inner")
    }

    fn expect_state(&self, expected: WriterState, action: &str) -> io::Result<()> {
        if self.state == expected {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("record writer: cannot {action} in state {:?}", self.state),
            ))
        }
    }

    fn write_frame_header(&mut self, frame_type: u32, len: u32) -> io::Result<()> {
        self.out().write_all(&frame_header(frame_type, len))
    }

    /// Writes the open event block, if any.
    fn write_block(&mut self) -> io::Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let events = self.block.bytes();
        let checksum = block::checksum(events).to_le_bytes();
        // At most MAX_BLOCK_LEN, far below u32::MAX, as is the payload.
        let stated = (events.len() as u32).to_le_bytes();
        let (kind, parts) = block::payload(events, &checksum, &stated, self.compressor.as_mut())?;
        let len: usize = parts.iter().map(|part| part.len()).sum();
        let out = self
            .out
            .as_mut()
            .expect("the writer is taken only by into_inner");
        out.write_all(&frame_header(kind, len as u32))?;
        for part in parts {
            out.write_all(part)?;
        }
        self.block.clear();
        Ok(())
    }

    fn write_json_frame(
        &mut self,
        kind: u32,
        value: &impl serde::Serialize,
        what: &str,
    ) -> io::Result<()> {
        self.expect_state(WriterState::Frames, &format!("write {what}"))?;
        let json = serde_json::to_vec(value)?;
        let len = json_len(&json, MAX_STACK_LEN, what)?;
        self.write_block()?;
        self.write_frame_header(kind, len)?;
        self.out().write_all(&json)
    }
}

/// Writes what the trace left in the open block (say a recording stopped by
/// an error), as `BufWriter` writes what it buffered.
impl<W: Write> Drop for RecordWriter<W> {
    fn drop(&mut self) {
        if self.out.is_some() && self.state == WriterState::Frames {
            let _ = self.write_block();
        }
    }
}

fn frame_header(frame_type: u32, len: u32) -> [u8; FRAME_HEADER_LEN] {
    let mut header = [0u8; FRAME_HEADER_LEN];
    header[..4].copy_from_slice(&frame_type.to_le_bytes());
    header[4..].copy_from_slice(&len.to_le_bytes());
    header
}

fn json_len(json: &[u8], limit: u32, what: &str) -> io::Result<u32> {
    u32::try_from(json.len())
        .ok()
        .filter(|&len| len <= limit)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{what} is {} bytes, more than a record holds", json.len()),
            )
        })
}

impl<W: Write> Sink for RecordWriter<W> {
    fn begin(&mut self, meta: &TraceMeta) -> io::Result<()> {
        self.expect_state(WriterState::BeforeHeader, "write the header")?;
        let json = serde_json::to_vec(meta)?;
        let len = json_len(&json, MAX_META_LEN, "trace metadata")?;
        let out = self.out();
        out.write_all(&MAGIC)?;
        out.write_all(&FORMAT_VERSION.to_le_bytes())?;
        out.write_all(&ABI_VERSION.to_le_bytes())?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(&json)?;
        self.state = WriterState::Frames;
        Ok(())
    }

    #[inline]
    fn event(&mut self, event: &RawEvent) -> io::Result<()> {
        self.expect_state(WriterState::Frames, "write an event")?;
        if !self.block.has_room() {
            self.write_block()?;
        }
        self.block.push(event);
        Ok(())
    }

    fn lost(&mut self, cpu: u32, total_lost_on_cpu: u64) -> io::Result<()> {
        self.expect_state(WriterState::Frames, "write a lost count")?;
        self.write_block()?;
        self.write_frame_header(frame_type::LOST, LOST_PAYLOAD_LEN as u32)?;
        let out = self.out();
        out.write_all(&cpu.to_le_bytes())?;
        out.write_all(&total_lost_on_cpu.to_le_bytes())
    }

    fn stack(&mut self, stack: &Stack) -> io::Result<()> {
        self.write_json_frame(frame_type::STACK, stack, "a stack")
    }

    fn symbol(&mut self, frame: &StackFrame) -> io::Result<()> {
        self.write_json_frame(frame_type::SYMBOL, frame, "a symbol")
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        self.expect_state(WriterState::Frames, "finish")?;
        let json = serde_json::to_vec(summary)?;
        let len = json_len(&json, MAX_SUMMARY_LEN, "trace summary")?;
        self.write_block()?;
        self.write_frame_header(frame_type::END, len)?;
        self.out().write_all(&json)?;
        self.state = WriterState::Finished;
        self.out().flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_block()?;
        self.out().flush()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReaderState {
    Frames,
    /// Read the END frame.
    Complete,
    /// Hit end of file at a frame boundary without END.
    Interrupted,
    /// Returned an error; the rest of the file is not trusted.
    Failed,
}

/// Reads a record file frame by frame, without allocating per event.
pub struct RecordReader<R: Read> {
    input: R,
    buf: Box<[u8]>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// File offset of `buf[start]`, for error messages.
    offset: u64,
    meta: TraceMeta,
    /// The record's format version (1 or 2).
    format: u32,
    state: ReaderState,
    /// The last event read from a format 1 record, aligned for
    /// [`FrameRef::Event`].
    event: RawEvent,
    /// The event block being read (format 2) and the file offset of its frame.
    blocks: BlockDecoder,
    block_offset: u64,
    /// The last stack read, lent by [`FrameRef::Stack`].
    stack: Stack,
    /// The last symbol read, lent by [`FrameRef::Symbol`].
    symbol: StackFrame,
}

impl RecordReader<File> {
    pub fn open(path: &Path) -> Result<Self, RecordError> {
        let file = File::open(path).map_err(|source| RecordError::Open {
            path: path.to_owned(),
            source,
        })?;
        RecordReader::new(file)
    }
}

impl<R: Read> RecordReader<R> {
    /// Reads and validates the header and metadata.
    pub fn new(input: R) -> Result<Self, RecordError> {
        let mut reader = RecordReader {
            input,
            buf: vec![0; READ_BUFFER_BYTES].into_boxed_slice(),
            start: 0,
            end: 0,
            offset: 0,
            meta: TraceMeta::default(),
            format: FORMAT_VERSION,
            state: ReaderState::Frames,
            event: RawEvent::zeroed(),
            blocks: BlockDecoder::new(),
            block_offset: 0,
            stack: Stack::default(),
            symbol: StackFrame::default(),
        };
        reader.meta = reader.read_header()?;
        Ok(reader)
    }

    /// The trace's metadata from the header.
    pub fn meta(&self) -> &TraceMeta {
        &self.meta
    }

    /// True once the END frame was read: the recording finished normally.
    /// After [`next_frame`](Self::next_frame) returned `Ok(None)`, false means
    /// the recording was interrupted.
    pub fn is_complete(&self) -> bool {
        self.state == ReaderState::Complete
    }

    /// The next frame; `Ok(None)` after END or at a clean end of file. After
    /// an error, further calls return `Ok(None)`.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, RecordError> {
        Ok(self.next_frame_ref()?.map(FrameRef::into_frame))
    }

    /// Like [`next_frame`](Self::next_frame), lending the event instead of
    /// copying it out: the fastest way through a record.
    #[inline]
    pub fn next_frame_ref(&mut self) -> Result<Option<FrameRef<'_>>, RecordError> {
        if self.state != ReaderState::Frames {
            return Ok(None);
        }
        // Fast paths: the next event of a block, or a whole format 1 event
        // frame already buffered.
        let decoded = if self.blocks.has_events() {
            self.decode_block_event()?;
            Some(Decoded::BlockEvent)
        } else if self.format == FORMAT_FRAME_PER_EVENT
            && self.available() >= EVENT_FRAME_LEN
            && self.header_word(0) == frame_type::EVENT
            && self.header_word(4) == RawEvent::SIZE as u32
        {
            self.take_event();
            Some(Decoded::Event)
        } else {
            self.next_frame_slow()
                .inspect_err(|_| self.state = ReaderState::Failed)?
        };
        Ok(decoded.map(|decoded| match decoded {
            Decoded::Event => FrameRef::Event(&self.event),
            Decoded::BlockEvent => FrameRef::Event(self.blocks.event()),
            Decoded::Lost { cpu, total } => FrameRef::Lost { cpu, total },
            Decoded::Stack => FrameRef::Stack(&self.stack),
            Decoded::Symbol => FrameRef::Symbol(&self.symbol),
            Decoded::End(summary) => FrameRef::End(summary),
        }))
    }

    #[inline]
    fn decode_block_event(&mut self) -> Result<(), RecordError> {
        self.blocks.decode_next().map_err(|problem| {
            self.state = ReaderState::Failed;
            RecordError::BadBlock {
                offset: self.block_offset,
                problem,
            }
        })
    }

    fn next_frame_slow(&mut self) -> Result<Option<Decoded>, RecordError> {
        let offset = self.offset;
        if !self.fill(FRAME_HEADER_LEN)? {
            if self.available() == 0 {
                self.state = ReaderState::Interrupted;
                return Ok(None);
            }
            return Err(RecordError::Truncated { offset });
        }
        let frame_type = self.header_word(0);
        let len = self.header_word(4);
        let expect_len = |expected: usize| {
            if len as usize == expected {
                Ok(())
            } else {
                Err(RecordError::BadFrameLength {
                    offset,
                    frame_type,
                    len,
                    expected: expected as u32,
                })
            }
        };
        let blocks = self.format > FORMAT_FRAME_PER_EVENT;
        match frame_type {
            frame_type::EVENTS | frame_type::EVENTS_ZSTD if blocks => {
                if len as usize <= block::CHECKSUM_LEN || len as usize > MAX_PAYLOAD_LEN {
                    return Err(RecordError::BadBlockLength { offset, len });
                }
                if !self.fill(FRAME_HEADER_LEN + len as usize)? {
                    return Err(RecordError::Truncated { offset });
                }
                let payload = &self.buf[self.start + FRAME_HEADER_LEN..][..len as usize];
                let loaded = self
                    .blocks
                    .load(payload, frame_type == frame_type::EVENTS_ZSTD);
                self.consume(FRAME_HEADER_LEN + len as usize);
                self.block_offset = offset;
                loaded.map_err(|problem| RecordError::BadBlock { offset, problem })?;
                self.decode_block_event()?;
                Ok(Some(Decoded::BlockEvent))
            }
            frame_type::EVENT if !blocks => {
                expect_len(RawEvent::SIZE)?;
                if !self.fill(EVENT_FRAME_LEN)? {
                    return Err(RecordError::Truncated { offset });
                }
                self.take_event();
                Ok(Some(Decoded::Event))
            }
            frame_type::LOST => {
                expect_len(LOST_PAYLOAD_LEN)?;
                if !self.fill(FRAME_HEADER_LEN + LOST_PAYLOAD_LEN)? {
                    return Err(RecordError::Truncated { offset });
                }
                let payload = &self.buf[self.start + FRAME_HEADER_LEN..];
                let cpu = u32::from_le_bytes(payload[..4].try_into().unwrap());
                let total = u64::from_le_bytes(payload[4..12].try_into().unwrap());
                self.consume(FRAME_HEADER_LEN + LOST_PAYLOAD_LEN);
                Ok(Some(Decoded::Lost { cpu, total }))
            }
            frame_type::STACK | frame_type::SYMBOL => {
                if len > MAX_STACK_LEN {
                    return Err(RecordError::StackTooLarge { offset, len });
                }
                self.consume(FRAME_HEADER_LEN);
                let json = self
                    .take_vec(len as usize)?
                    .ok_or(RecordError::Truncated { offset })?;
                let bad = |source| RecordError::BadStack { offset, source };
                if frame_type == frame_type::STACK {
                    self.stack = serde_json::from_slice(&json).map_err(bad)?;
                    Ok(Some(Decoded::Stack))
                } else {
                    self.symbol = serde_json::from_slice(&json).map_err(bad)?;
                    Ok(Some(Decoded::Symbol))
                }
            }
            frame_type::END => {
                if len > MAX_SUMMARY_LEN {
                    return Err(RecordError::SummaryTooLarge { offset, len });
                }
                self.consume(FRAME_HEADER_LEN);
                let json = self
                    .take_vec(len as usize)?
                    .ok_or(RecordError::Truncated { offset })?;
                let summary = serde_json::from_slice(&json)
                    .map_err(|source| RecordError::BadSummary { offset, source })?;
                let after_end = self.offset;
                if self.fill(1)? {
                    return Err(RecordError::TrailingData { offset: after_end });
                }
                self.state = ReaderState::Complete;
                Ok(Some(Decoded::End(summary)))
            }
            _ => Err(RecordError::UnknownFrame { offset, frame_type }),
        }
    }

    fn read_header(&mut self) -> Result<TraceMeta, RecordError> {
        if !self.fill(MAGIC.len())? {
            return Err(if self.available() == 0 {
                RecordError::Empty
            } else {
                RecordError::BadMagic
            });
        }
        if self.buf[self.start..self.start + MAGIC.len()] != MAGIC {
            return Err(RecordError::BadMagic);
        }
        if !self.fill(HEADER_LEN)? {
            return Err(RecordError::TruncatedHeader);
        }
        let word = |i: usize| self.header_word(MAGIC.len() + 4 * i);
        let (format, abi, meta_len) = (word(0), word(1), word(2));
        match format {
            0 => return Err(RecordError::ZeroFormat),
            found if found > FORMAT_VERSION => return Err(RecordError::NewerFormat { found }),
            _ => self.format = format,
        }
        if abi != ABI_VERSION {
            return Err(RecordError::AbiMismatch { found: abi });
        }
        if meta_len > MAX_META_LEN {
            return Err(RecordError::MetaTooLarge { len: meta_len });
        }
        self.consume(HEADER_LEN);
        let json = self
            .take_vec(meta_len as usize)?
            .ok_or(RecordError::TruncatedHeader)?;
        serde_json::from_slice(&json).map_err(RecordError::BadMeta)
    }

    #[inline]
    fn available(&self) -> usize {
        self.end - self.start
    }

    /// The little-endian u32 at `at` bytes past the read position; the caller
    /// made sure it is buffered.
    #[inline]
    fn header_word(&self, at: usize) -> u32 {
        let i = self.start + at;
        u32::from_le_bytes([
            self.buf[i],
            self.buf[i + 1],
            self.buf[i + 2],
            self.buf[i + 3],
        ])
    }

    /// Decodes the buffered event frame at the read position into
    /// `self.event` and consumes it.
    #[inline]
    fn take_event(&mut self) {
        let payload = &self.buf[self.start + FRAME_HEADER_LEN..self.start + EVENT_FRAME_LEN];
        // `from_bytes` only fails on short input, and the payload is exactly SIZE.
        if let Some(event) = RawEvent::from_bytes(payload) {
            self.event = event;
        }
        self.consume(EVENT_FRAME_LEN);
    }

    #[inline]
    fn consume(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }

    /// Buffers at least `need` (≤ buffer size) bytes; false if the input ends first.
    fn fill(&mut self, need: usize) -> Result<bool, RecordError> {
        debug_assert!(need <= self.buf.len());
        if self.available() >= need {
            return Ok(true);
        }
        if self.buf.len() - self.start < need {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.available() < need {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(RecordError::Io(e)),
            }
        }
        Ok(true)
    }

    /// Takes the next `len` bytes into a new vector (for JSON payloads, which
    /// may exceed the buffer); `None` if the input ends first.
    fn take_vec(&mut self, len: usize) -> Result<Option<Vec<u8>>, RecordError> {
        let buffered = self.available().min(len);
        let mut bytes = Vec::with_capacity(len);
        bytes.extend_from_slice(&self.buf[self.start..self.start + buffered]);
        self.consume(buffered);
        let missing = (len - buffered) as u64;
        (&mut self.input)
            .take(missing)
            .read_to_end(&mut bytes)
            .map_err(RecordError::Io)?;
        if bytes.len() < len {
            return Ok(None);
        }
        self.offset += missing;
        Ok(Some(bytes))
    }
}

/// How reading a record for [`replay`] ended.
#[derive(Debug)]
pub enum RecordEnd {
    /// The END frame was read.
    Complete,
    /// The file stopped at a frame boundary without END: the recording was
    /// interrupted.
    Interrupted,
    /// Reading failed part-way; everything before the failure was replayed.
    Failed(RecordError),
}

/// What [`replay`] delivered.
#[derive(Debug)]
pub struct Replay {
    /// The record's own summary when complete, otherwise one counted from
    /// the frames read.
    pub summary: Summary,
    pub end: RecordEnd,
}

/// Feeds a record to a sink: `begin`, every frame, `finish`. A record that
/// was interrupted or turns out corrupt part-way still gets `finish` (with a
/// summary counted from what was read), so sinks flush what they printed;
/// [`Replay::end`] tells the caller which happened. Errors are the sink's.
pub fn replay<R: Read>(reader: &mut RecordReader<R>, sink: &mut dyn Sink) -> io::Result<Replay> {
    sink.begin(reader.meta())?;
    let mut counted = Summary::default();
    let mut lost_by_cpu: HashMap<u32, u64> = HashMap::new();
    let mut first_ts = None;
    let mut last_ts = 0;
    let (end, summary) = loop {
        match reader.next_frame_ref() {
            Ok(Some(FrameRef::Event(event))) => {
                counted.events += 1;
                first_ts.get_or_insert(event.ts_ns);
                last_ts = event.ts_ns;
                sink.event(event)?;
            }
            Ok(Some(FrameRef::Lost { cpu, total })) => {
                let seen = lost_by_cpu.entry(cpu).or_default();
                *seen = (*seen).max(total);
                sink.lost(cpu, total)?;
            }
            Ok(Some(FrameRef::Stack(stack))) => sink.stack(stack)?,
            Ok(Some(FrameRef::Symbol(frame))) => sink.symbol(frame)?,
            Ok(Some(FrameRef::End(summary))) => break (RecordEnd::Complete, summary),
            Ok(None) => break (RecordEnd::Interrupted, counted),
            Err(error) => break (RecordEnd::Failed(error), counted),
        }
    };
    let summary = match end {
        RecordEnd::Complete => summary,
        _ => Summary {
            lost: lost_by_cpu.values().sum(),
            duration_ns: first_ts.map_or(0, |first| last_ts.saturating_sub(first)),
            ..summary
        },
    };
    sink.finish(&summary)?;
    Ok(Replay { summary, end })
}
