//! Reads kernel memory at the offsets userspace computed from BTF.

use core::ffi::c_void;

use aya_ebpf::helpers::{bpf_probe_read_kernel, generated};
use formats::abi::{KernelOffsets, OFFSET_NONE};

/// Filled in by the loader from the running kernel's BTF before load.
#[unsafe(no_mangle)]
static OFFSETS: KernelOffsets = KernelOffsets::none();

/// Returns the offset of a member, read through a volatile load so the
/// compiler keeps the load the loader patches instead of folding the default.
#[inline(always)]
pub fn offset(field: fn(&KernelOffsets) -> &u32) -> u32 {
    // SAFETY: OFFSETS is a valid static; the read is of a plain u32.
    unsafe { core::ptr::read_volatile(field(&OFFSETS)) }
}

/// How a program reads members of kernel structs.
pub trait Kmem {
    /// Reads a `T` at `base + off`, `None` when the member is absent or
    /// unreadable.
    fn read<T: Copy>(base: u64, off: u32) -> Option<T>;
}

/// `bpf_probe_read_kernel`: a helper call per read, good for any address.
/// For pointers the verifier knows only as numbers: kprobe registers, raw
/// tracepoint arguments, and fentry arguments (read from the context as
/// numbers, see `fn_main.rs`).
pub enum Probed {}

impl Kmem for Probed {
    #[inline(always)]
    fn read<T: Copy>(base: u64, off: u32) -> Option<T> {
        if off == OFFSET_NONE || base == 0 {
            return None;
        }
        // SAFETY: bpf_probe_read_kernel tolerates any address and reports faults.
        unsafe { bpf_probe_read_kernel((base + off as u64) as *const T).ok() }
    }
}

/// Plain loads through pointers the verifier knows by their BTF type: the
/// arguments of BTF tracepoints, and pointer members read from them. The
/// verifier checks each load against the kernel's BTF (the offset is a
/// constant to it: `OFFSETS` is frozen read-only) and the JIT turns a
/// faulting load into 0, so no helper call is needed: a probe read cost
/// about a third of a tracepoint program.
pub enum Btf {}

impl Kmem for Btf {
    #[inline(always)]
    fn read<T: Copy>(base: u64, off: u32) -> Option<T> {
        if off == OFFSET_NONE || base == 0 {
            return None;
        }
        // SAFETY: the verifier admits the load only at a member of the
        // pointer's type, and a fault yields zero instead of an oops.
        Some(unsafe { core::ptr::read((base + off as u64) as *const T) })
    }
}

/// Reads a `T` at an absolute kernel address.
#[inline(always)]
pub fn read_at<T>(addr: u64) -> Option<T> {
    if addr == 0 {
        return None;
    }
    // SAFETY: as above.
    unsafe { bpf_probe_read_kernel(addr as *const T).ok() }
}

/// Reads a `T` at `base + off` straight into `dst`, which is left zeroed when
/// the member is absent or unreadable. For arrays: returning one by value
/// copies it byte by byte on BPF (arrays of bytes are not word-aligned).
#[inline(always)]
pub fn read_into<T>(dst: &mut T, base: u64, off: u32) {
    if off == OFFSET_NONE || base == 0 {
        return;
    }
    // SAFETY: `dst` is valid for size_of::<T>() bytes; the helper tolerates
    // any source address and zero-fills `dst` on a fault.
    unsafe {
        generated::bpf_probe_read_kernel(
            dst as *mut T as *mut c_void,
            size_of::<T>() as u32,
            (base + off as u64) as *const c_void,
        )
    };
}
