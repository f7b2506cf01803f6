//! Maps shared by every BPF object of a trace. The tracepoint object creates
//! them; each function-probe object is loaded with the same maps (userspace
//! pins them by path during loading), so all events meet in one ring buffer.

use aya_ebpf::{
    macros::map,
    maps::{LruHashMap, PerCpuArray, RingBuf, StackTrace},
};
use formats::abi::counter;

use crate::frames::FrameStack;

/// Default ring size; the loader overrides it (`--ring-kib`).
const DEFAULT_RING_BYTES: u32 = 8 << 20;
/// skbs tracked by `--follow-skb`; LRU so a missed free can never fill it up.
const MAX_TRACKED_SKBS: u32 = 65536;

#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(DEFAULT_RING_BYTES, 0);

#[map]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counter::COUNT, 0);

/// skb address → first-match timestamp, for `--follow-skb`.
#[map]
pub static TRACKED: LruHashMap<u64, u64> = LruHashMap::with_max_entries(MAX_TRACKED_SKBS, 0);

/// Per-CPU stack of the function frames open on this CPU.
#[map]
pub static FRAMES: PerCpuArray<FrameStack> = PerCpuArray::with_max_entries(1, 0);

/// Kernel stacks for `--stack`, by id. One entry unless the loader sizes it
/// (a stack map is allocated in full up front, ~1 KiB per entry).
#[map]
pub static STACKS: StackTrace = StackTrace::with_max_entries(1, 0);
