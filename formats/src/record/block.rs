//! Event blocks of format 2: each event stored as its difference from an
//! earlier event of the same block.
//!
//! An event is [`RawEvent::WORDS`] 64-bit words. An event and the previous
//! one of the same skb, CPU or function differ in few of them (the
//! timestamp, the probe, a length) and by little, so an event is stored as
//! the XOR of its words with a *reference*:
//!
//! ```text
//! event: u8 distance | varint bitmap | varint xor*
//! ```
//!
//! `distance` 0 means the reference is all zeros; 1 to 255, the event that
//! many events before this one in the block. Bit `i` of `bitmap` is set when
//! word `i` differs from the reference, and `xor` follows for each set bit,
//! lowest first. Varints are LEB128: seven bits a byte, low bits first, the
//! top bit set on every byte but the last. The reader needs only the last
//! 255 events of the block, so a block decodes without any other.
//!
//! The writer picks, of a few candidates, the reference that costs fewest
//! bytes: the previous event of the same skb (events without one counting
//! as one skb), of the same CPU, of the same probe and kind (a function's
//! previous entry, or exit), and the two previous events (entries and exits
//! alternate). On the records of `tests/data` that is 12 to 22 bytes an
//! event; the first two candidates alone gave 18 to 33.
//!
//! A block frame's payload is the events with a [`checksum`] of them, so
//! damage is an error rather than wrong events:
//!
//! ```text
//! EVENTS:      u64 checksum | events
//! EVENTS_ZSTD: u64 checksum | u32 length of the events | zstd frame of the events
//! ```
//!
//! The writer compresses a block only when that makes it shorter.

use std::io;

use thiserror::Error;

use super::frame_type;
use crate::abi::RawEvent;

const WORDS: usize = RawEvent::WORDS;
/// How far back a reference may be (a `u8` distance).
const MAX_DISTANCE: usize = u8::MAX as usize;
/// Ring of recent events: the furthest reference plus the event being
/// decoded; a power of two so slots are indices masked.
const WINDOW: usize = MAX_DISTANCE + 1;
const MAX_VARINT_LEN: usize = 10;
/// The largest encoded event: distance, bitmap, and every word a 10-byte varint.
const MAX_EVENT_LEN: usize = 1 + varint_len(u64::MAX >> (64 - WORDS)) + WORDS * MAX_VARINT_LEN;

/// The most encoded event bytes one block holds (before compression):
/// thousands of events, enough for zstd to find repeats, small enough to
/// stay in cache.
pub const MAX_BLOCK_LEN: usize = 64 << 10;
pub const CHECKSUM_LEN: usize = 8;
const STATED_LEN: usize = 4;
/// The longest block frame payload, compressed or not.
pub const MAX_PAYLOAD_LEN: usize = CHECKSUM_LEN + MAX_BLOCK_LEN;
/// zstd level for `record --compress`, which runs while the traced host is
/// busy: on the report bench's events level 3 saves another 9% for a
/// quarter more compression time, on the records of `tests/data` 2 to 4%.
const ZSTD_LEVEL: i32 = 1;

/// Bytes of `value` as a varint; 0 for 0, which is how the writer counts a
/// word it does not store.
const fn varint_len(value: u64) -> usize {
    (70 - value.leading_zeros() as usize) / 7
}

/// Slots of the tables finding the last event of a key. Direct-mapped, so
/// bounded and allocated once; a collision only costs a worse reference.
/// Far more slots than the window has events.
const KEY_SLOTS: usize = 1024;
/// A reference differing in this many words (the timestamp) is taken
/// without looking at the other candidates: none would be much better.
const GOOD_ENOUGH: usize = 1;

/// Where the last event with some key sits.
#[derive(Clone, Copy)]
struct Recent {
    key: u64,
    /// Index of the event over the whole record; `u64::MAX` for none.
    index: u64,
}

const NO_RECENT: Recent = Recent {
    key: 0,
    index: u64::MAX,
};

/// The last event of each key (skb, CPU, or probe and kind).
struct LastOf(Box<[Recent; KEY_SLOTS]>);

impl LastOf {
    fn new() -> Self {
        LastOf(Box::new([NO_RECENT; KEY_SLOTS]))
    }

    fn slot(key: u64) -> usize {
        // Fibonacci hashing: skb addresses share their low bits (slab
        // alignment) and high bits; the multiply mixes the middle ones into
        // the top.
        (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - KEY_SLOTS.trailing_zeros())) as usize
    }

    fn get(&self, key: u64) -> Option<u64> {
        let recent = self.0[Self::slot(key)];
        (recent.key == key && recent.index != u64::MAX).then_some(recent.index)
    }

    fn set(&mut self, key: u64, index: u64) {
        self.0[Self::slot(key)] = Recent { key, index };
    }
}

/// The keys of an event's words the writer looks references up by.
fn skb_key(words: &[u64; WORDS]) -> u64 {
    words[1]
}

fn cpu_key(words: &[u64; WORDS]) -> u64 {
    // `probe_id` and `cpu` share word 4, `cpu` in its upper half.
    words[4] >> 32
}

fn probe_key(words: &[u64; WORDS]) -> u64 {
    // `probe_id` (word 4, lower half) and `kind` (word 7, byte 4).
    (words[4] & 0xffff_ffff) | (words[7] & 0xff_0000_0000)
}

/// Builds one block at a time; allocates nothing after [`BlockEncoder::new`].
pub struct BlockEncoder {
    /// The block: `len` bytes so far, and room for one more event after.
    bytes: Box<[u8; MAX_BLOCK_LEN]>,
    len: usize,
    /// The block's latest events by `index % WINDOW`, to encode against.
    window: Box<[[u64; WORDS]; WINDOW]>,
    /// Index of the next event over the whole record, and of the block's
    /// first: the tables need no clearing when a block starts.
    next: u64,
    block_start: u64,
    last_of_skb: LastOf,
    last_of_cpu: LastOf,
    last_of_probe: LastOf,
}

impl BlockEncoder {
    pub fn new() -> Self {
        BlockEncoder {
            bytes: Box::new([0; MAX_BLOCK_LEN]),
            len: 0,
            window: Box::new([[0; WORDS]; WINDOW]),
            next: 0,
            block_start: 0,
            last_of_skb: LastOf::new(),
            last_of_cpu: LastOf::new(),
            last_of_probe: LastOf::new(),
        }
    }

    /// The encoded events of the block so far.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether one more event surely fits in the block.
    #[inline]
    pub fn has_room(&self) -> bool {
        self.len + MAX_EVENT_LEN <= MAX_BLOCK_LEN
    }

    /// Starts a new block (after the caller wrote this one out).
    pub fn clear(&mut self) {
        self.len = 0;
        self.block_start = self.next;
    }

    /// Appends `event`; the caller checked [`has_room`](Self::has_room).
    pub fn push(&mut self, event: &RawEvent) {
        const ZEROS: [u64; WORDS] = [0; WORDS];
        let words = event.as_words();
        let (distance, reference) = match self.choose_reference(words) {
            Some((distance, index)) => (distance, &self.window[index as usize % WINDOW]),
            None => (0, &ZEROS),
        };
        let mut xors = [0u64; WORDS];
        let mut bitmap = 0u64;
        for (i, xor) in xors.iter_mut().enumerate() {
            *xor = words[i] ^ reference[i];
            bitmap |= u64::from(*xor != 0) << i;
        }
        let out = &mut self.bytes[self.len..][..MAX_EVENT_LEN];
        out[0] = distance;
        let mut len = 1 + put_varint(&mut out[1..], bitmap);
        let mut bits = bitmap;
        while bits != 0 {
            len += put_varint(&mut out[len..], xors[bits.trailing_zeros() as usize]);
            bits &= bits - 1;
        }
        self.len += len;

        let index = self.next;
        self.window[index as usize % WINDOW] = *words;
        self.last_of_skb.set(skb_key(words), index);
        self.last_of_cpu.set(cpu_key(words), index);
        self.last_of_probe.set(probe_key(words), index);
        self.next += 1;
    }

    /// The distance and index of the best reference; `None` for all zeros.
    fn choose_reference(&self, words: &[u64; WORDS]) -> Option<(u8, u64)> {
        let candidates = [
            self.last_of_skb.get(skb_key(words)),
            self.last_of_cpu.get(cpu_key(words)),
            self.last_of_probe.get(probe_key(words)),
            self.next.checked_sub(1),
            self.next.checked_sub(2),
        ];
        let mut best = None;
        let mut best_cost = cost(words, &[0; WORDS]);
        for (i, index) in candidates.into_iter().enumerate() {
            let Some(index) = index else {
                continue;
            };
            // Often the same event: the previous one is of the same skb.
            if candidates[..i].contains(&Some(index)) {
                continue;
            }
            let Some(distance) = self.distance_to(index) else {
                continue;
            };
            let candidate_cost = cost(words, &self.window[index as usize % WINDOW]);
            if candidate_cost < best_cost {
                best = Some((distance, index));
                best_cost = candidate_cost;
                if best_cost <= GOOD_ENOUGH {
                    break;
                }
            }
        }
        best
    }

    /// How far back the event of `index` is, if in this block and in reach.
    fn distance_to(&self, index: u64) -> Option<u8> {
        if index < self.block_start {
            return None;
        }
        u8::try_from(self.next - index).ok()
    }
}

/// The frame payload of a block holding `events`, compressed when
/// `compressor` is given and that saves room: its frame type and its parts.
pub fn payload<'a>(
    events: &'a [u8],
    checksum: &'a [u8; CHECKSUM_LEN],
    stated: &'a [u8; STATED_LEN],
    compressor: Option<&'a mut BlockCompressor>,
) -> io::Result<(u32, [&'a [u8]; 3])> {
    let packed = match compressor {
        Some(compressor) => compressor.compress(events)?,
        None => None,
    };
    Ok(match packed {
        Some(packed) => (frame_type::EVENTS_ZSTD, [checksum, stated, packed]),
        None => (frame_type::EVENTS, [checksum, events, &[]]),
    })
}

/// Compresses blocks with zstd, reusing its context and output buffer.
pub struct BlockCompressor {
    compressor: zstd::bulk::Compressor<'static>,
    packed: Vec<u8>,
}

impl BlockCompressor {
    pub fn new() -> io::Result<Self> {
        Ok(BlockCompressor {
            compressor: zstd::bulk::Compressor::new(ZSTD_LEVEL)?,
            packed: Vec::with_capacity(zstd::zstd_safe::compress_bound(MAX_BLOCK_LEN)),
        })
    }

    /// The zstd frame of `events`, if it and the stated length are shorter
    /// than the events themselves.
    fn compress(&mut self, events: &[u8]) -> io::Result<Option<&[u8]>> {
        self.packed.clear();
        self.compressor
            .compress_to_buffer(events, &mut self.packed)?;
        Ok(Some(&self.packed[..]).filter(|packed| STATED_LEN + packed.len() < events.len()))
    }
}

/// A 64-bit checksum of a block's events. Four lanes take eight bytes each
/// in turn, the tail padded with zeros, then the lanes fold into the length.
/// Each step is a bijection of the lane and of the word taken, so damage
/// within one lane's words (any eight aligned bytes, say) always changes the
/// checksum; four independent lanes keep it fast (the reader checks every
/// block before decoding it).
pub fn checksum(bytes: &[u8]) -> u64 {
    fn step(lane: u64, word: u64) -> u64 {
        // An odd multiplier (the golden ratio's fraction), a rotation to
        // bring the high bits it mixed down.
        (lane ^ word)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(31)
    }
    fn take(lanes: &mut [u64; 4], chunk: &[u8; 32]) {
        for (lane, word) in lanes.iter_mut().zip(chunk.as_chunks::<8>().0) {
            *lane = step(*lane, u64::from_le_bytes(*word));
        }
    }
    let mut lanes = [1, 2, 3, 4];
    let (chunks, tail) = bytes.as_chunks::<32>();
    for chunk in chunks {
        take(&mut lanes, chunk);
    }
    let mut padded = [0u8; 32];
    padded[..tail.len()].copy_from_slice(tail);
    take(&mut lanes, &padded);
    lanes.into_iter().fold(bytes.len() as u64, step)
}

/// What encoding `words` against `reference` costs: the words that differ.
/// Counting their bytes instead chose references 2% better on the records
/// of `tests/data`, but took the writer twice as long.
fn cost(words: &[u64; WORDS], reference: &[u64; WORDS]) -> usize {
    words
        .iter()
        .zip(reference)
        .map(|(word, reference)| usize::from(word != reference))
        .sum()
}

/// Writes `value` as a varint at the start of `out`; returns its length.
fn put_varint(out: &mut [u8], mut value: u64) -> usize {
    let mut len = 0;
    while value >= 0x80 {
        out[len] = value as u8 | 0x80;
        value >>= 7;
        len += 1;
    }
    out[len] = value as u8;
    len + 1
}

/// What is wrong with a block.
#[derive(Debug, Error)]
pub enum BlockError {
    #[error("events do not match their checksum (damaged)")]
    Checksum,
    #[error("compressed events do not decompress ({0})")]
    Decompress(io::Error),
    #[error("compressed events state {stated} bytes (1 to {MAX_BLOCK_LEN})")]
    BadStatedLength { stated: u32 },
    #[error("compressed events decompress to {found} bytes, not the {stated} stated")]
    LengthMismatch { stated: u32, found: usize },
    #[error("event {index} (byte {at} of the block's events): {problem}")]
    Event {
        index: usize,
        at: usize,
        problem: EventProblem,
    },
}

/// What is wrong with one encoded event.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum EventProblem {
    #[error("cut off by the end of the block")]
    Cut,
    #[error("a varint longer than 64 bits")]
    LongVarint,
    #[error("word bitmap {bitmap:#x} names words past the event's {WORDS}")]
    Bitmap { bitmap: u64 },
    #[error("reference {distance} events back, but {available} precede it in the block")]
    Distance { distance: u8, available: usize },
}

/// Reads blocks: holds one block's events and the window they refer to.
pub struct BlockDecoder {
    bytes: Vec<u8>,
    /// Next event at `bytes[pos..]`.
    pos: usize,
    /// Events decoded from this block so far.
    decoded: usize,
    window: Box<[RawEvent; WINDOW]>,
    /// Made at the first compressed block.
    decompressor: Option<zstd::bulk::Decompressor<'static>>,
}

impl BlockDecoder {
    pub fn new() -> Self {
        BlockDecoder {
            bytes: Vec::with_capacity(MAX_BLOCK_LEN),
            pos: 0,
            decoded: 0,
            window: Box::new([RawEvent::zeroed(); WINDOW]),
            decompressor: None,
        }
    }

    /// Takes the payload of an [`frame_type::EVENTS`] frame, or with
    /// `compressed` of an [`frame_type::EVENTS_ZSTD`] one. On error the
    /// block holds no events.
    pub fn load(&mut self, payload: &[u8], compressed: bool) -> Result<(), BlockError> {
        self.bytes.clear();
        self.pos = 0;
        self.decoded = 0;
        let loaded = self.unpack(payload, compressed);
        if loaded.is_err() {
            self.bytes.clear();
        }
        loaded
    }

    fn unpack(&mut self, payload: &[u8], compressed: bool) -> Result<(), BlockError> {
        // The reader checked the frame is longer than the checksum.
        let Some((stored, events)) = payload.split_first_chunk::<CHECKSUM_LEN>() else {
            return Err(BlockError::Checksum);
        };
        if compressed {
            let (stated, frame) = events
                .split_first_chunk::<STATED_LEN>()
                .map(|(stated, frame)| (u32::from_le_bytes(*stated), frame))
                .unwrap_or((0, &[]));
            if stated == 0 || stated as usize > MAX_BLOCK_LEN {
                return Err(BlockError::BadStatedLength { stated });
            }
            let decompressor = match &mut self.decompressor {
                Some(decompressor) => decompressor,
                none => {
                    none.insert(zstd::bulk::Decompressor::new().map_err(BlockError::Decompress)?)
                }
            };
            // `bytes` has room for MAX_BLOCK_LEN: anything longer fails here
            // without allocating.
            let found = decompressor
                .decompress_to_buffer(frame, &mut self.bytes)
                .map_err(BlockError::Decompress)?;
            if found != stated as usize {
                return Err(BlockError::LengthMismatch { stated, found });
            }
        } else {
            self.bytes.extend_from_slice(events);
        }
        if checksum(&self.bytes) != u64::from_le_bytes(*stored) {
            return Err(BlockError::Checksum);
        }
        Ok(())
    }

    /// Whether the loaded block has events left.
    #[inline]
    pub fn has_events(&self) -> bool {
        self.pos < self.bytes.len()
    }

    /// The event [`decode_next`](Self::decode_next) decoded last.
    #[inline]
    pub fn event(&self) -> &RawEvent {
        &self.window[self.decoded.wrapping_sub(1) % WINDOW]
    }

    /// Decodes the next event of the block (there is one: see
    /// [`has_events`](Self::has_events)), then found in [`event`](Self::event).
    /// On error the rest of the block is dropped.
    #[inline]
    pub fn decode_next(&mut self) -> Result<(), BlockError> {
        let start = self.pos;
        self.decode_at(start).map_err(|problem| {
            self.pos = self.bytes.len();
            BlockError::Event {
                index: self.decoded,
                at: start,
                problem,
            }
        })
    }

    #[inline]
    fn decode_at(&mut self, start: usize) -> Result<(), EventProblem> {
        let bytes = &self.bytes[..];
        let distance = bytes[start];
        let mut pos = start + 1;
        let bitmap = read_varint(bytes, &mut pos)?;
        if bitmap >> WORDS != 0 {
            return Err(EventProblem::Bitmap { bitmap });
        }
        // Decoded in place: the reference copied into the event's slot,
        // the differences applied there.
        let slot = self.decoded % WINDOW;
        if distance == 0 {
            *self.window[slot].as_words_mut() = [0; WORDS];
        } else if usize::from(distance) <= self.decoded {
            let reference = (self.decoded - usize::from(distance)) % WINDOW;
            self.window[slot] = self.window[reference];
        } else {
            return Err(EventProblem::Distance {
                distance,
                available: self.decoded,
            });
        }
        let words = self.window[slot].as_words_mut();
        let mut bits = bitmap;
        while bits != 0 {
            words[bits.trailing_zeros() as usize] ^= read_varint(bytes, &mut pos)?;
            bits &= bits - 1;
        }
        self.decoded += 1;
        self.pos = pos;
        Ok(())
    }
}

#[inline]
fn read_varint(bytes: &[u8], pos: &mut usize) -> Result<u64, EventProblem> {
    // Most varints end within the next eight bytes: found and unpacked
    // without a branch per byte (the number of bytes is unpredictable).
    if let Some(next) = bytes.get(*pos..).and_then(|rest| rest.first_chunk::<8>()) {
        let word = u64::from_le_bytes(*next);
        let last_bytes = !word & 0x8080_8080_8080_8080;
        if last_bytes != 0 {
            let len = last_bytes.trailing_zeros() as usize / 8 + 1;
            *pos += len;
            return Ok(unpack_varint(word & (u64::MAX >> (64 - 8 * len))));
        }
    }
    read_long_varint(bytes, pos)
}

/// The value of a varint of at most eight bytes, as one little-endian word
/// (zeros past its end): its 7-bit groups packed together, pairs, then
/// pairs of pairs, then halves.
#[inline]
fn unpack_varint(word: u64) -> u64 {
    let groups = word & 0x7f7f_7f7f_7f7f_7f7f;
    let pairs = (groups & 0x007f_007f_007f_007f) | ((groups & 0x7f00_7f00_7f00_7f00) >> 1);
    let quads = (pairs & 0x0000_3fff_0000_3fff) | ((pairs & 0x3fff_0000_3fff_0000) >> 2);
    (quads & 0x0000_0000_0fff_ffff) | ((quads & 0x0fff_ffff_0000_0000) >> 4)
}

/// Any varint, byte by byte: those longer than eight bytes, and any at the
/// end of the block.
#[cold]
fn read_long_varint(bytes: &[u8], pos: &mut usize) -> Result<u64, EventProblem> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let &byte = bytes.get(*pos).ok_or(EventProblem::Cut)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            // The tenth byte holds bit 63 only.
            return if shift == 63 && byte > 1 {
                Err(EventProblem::LongVarint)
            } else {
                Ok(value)
            };
        }
    }
    Err(EventProblem::LongVarint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_reject_overflow() {
        for value in [0, 1, 0x7f, 0x80, 0x3fff, 0x4000, u64::MAX >> 1, u64::MAX] {
            let mut bytes = [0u8; MAX_VARINT_LEN];
            let len = put_varint(&mut bytes, value);
            let bytes = &bytes[..len];
            assert_eq!(bytes.len(), varint_len(value).max(1), "{value:#x}");
            let mut pos = 0;
            assert_eq!(read_varint(bytes, &mut pos), Ok(value));
            assert_eq!(pos, bytes.len());
            let mut pos = 0;
            assert_eq!(
                read_varint(&bytes[..bytes.len() - 1], &mut pos),
                Err(EventProblem::Cut)
            );
        }
        // Each length, with bytes after it, in the middle of a block.
        for len in 1..=MAX_VARINT_LEN {
            let value = u64::MAX >> (64 - (7 * len).min(64));
            let mut bytes = [0xffu8; 2 * MAX_VARINT_LEN];
            assert_eq!(put_varint(&mut bytes, value), len);
            let mut pos = 0;
            assert_eq!(read_varint(&bytes, &mut pos), Ok(value), "{len} bytes");
            assert_eq!(pos, len);
        }
        let mut pos = 0;
        let eleven = [0xff; 11];
        assert_eq!(
            read_varint(&eleven, &mut pos),
            Err(EventProblem::LongVarint)
        );
        let mut pos = 0;
        let tenth_too_big = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(
            read_varint(&tenth_too_big, &mut pos),
            Err(EventProblem::LongVarint)
        );
    }

    #[test]
    fn largest_event_fits_its_bound() {
        let mut encoder = BlockEncoder::new();
        let mut event = RawEvent::zeroed();
        event.as_words_mut().fill(u64::MAX);
        encoder.push(&event);
        assert_eq!(encoder.bytes().len(), MAX_EVENT_LEN);
    }
}
