//! Maps shared by every BPF object of a trace. The tracepoint object creates
//! them; each function-probe object is loaded with the same maps (userspace
//! pins them by path during loading), so all events meet in one ring buffer.

use aya_ebpf::{
    macros::map,
    maps::{Array, LruHashMap, PerCpuArray, RingBuf, StackTrace},
};
use formats::abi::counter;

use crate::frames::{CpuFrames, TaskFrames};

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

/// Tasks whose open frames are kept at once; LRU so tasks that exit with
/// frames open (a probe attached mid-call) can never fill it up.
const MAX_TASKS_WITH_FRAMES: u32 = 8192;

/// Per CPU: whether a softirq runs, and the frames open in it.
#[map]
pub static CPU_FRAMES: PerCpuArray<CpuFrames> = PerCpuArray::with_max_entries(1, 0);

/// Per task (`abi::task_key`): the frames open in process context.
#[map]
pub static TASK_FRAMES: LruHashMap<u64, TaskFrames> =
    LruHashMap::with_max_entries(MAX_TASKS_WITH_FRAMES, 0);

/// One zeroed `TaskFrames`, never written: what a task's entry starts as.
#[map]
pub static EMPTY_FRAMES: Array<TaskFrames> = Array::with_max_entries(1, 0);

/// Kernel stacks for `--stack`, by id. One entry unless the loader sizes it
/// (a stack map is allocated in full up front, ~1 KiB per entry).
#[map]
pub static STACKS: StackTrace = StackTrace::with_max_entries(1, 0);
