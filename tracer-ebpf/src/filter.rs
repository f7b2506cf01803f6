//! Runs the compiled filter: the evaluator is `formats::filter::run`, shared
//! with userspace; this file only says where the program and the boolean
//! stack live in BPF.

use aya_ebpf::{macros::map, maps::PerCpuArray};
use formats::abi::{FILTER_MAX_INSNS, FilterInsn, RawEvent, TraceConfig, config_flag};
use formats::filter::{BitStack, FilterProgram, run};

/// The filter's boolean stack (see `MapStack`): one slot for process
/// context and one for softirqs, so a softirq interrupting a filter run on
/// this CPU does not clobber it. (A hard interrupt doing the same still
/// could: network programs rarely run there, and it would cost one
/// misjudged event.)
#[map]
static FILTER_STACK: PerCpuArray<u32> = PerCpuArray::with_max_entries(2, 0);

/// Filled in by the loader before load; read-only to the verifier, so a
/// program with an empty filter has its filter loop pruned as dead code.
#[unsafe(no_mangle)]
static CONFIG: TraceConfig = TraceConfig::accept_all();

#[inline(always)]
fn config_word(field: fn(&TraceConfig) -> &u32) -> u32 {
    // SAFETY: CONFIG is a valid static; volatile keeps the loader's value.
    unsafe { core::ptr::read_volatile(field(&CONFIG)) }
}

#[inline(always)]
pub fn follow_skb() -> bool {
    config_word(|c| &c.flags) & config_flag::FOLLOW_SKB != 0
}

#[inline(always)]
pub fn stacks() -> bool {
    config_word(|c| &c.flags) & config_flag::STACKS != 0
}

// `ConfigProgram::insn` masks indices with it.
const _: () = assert!(FILTER_MAX_INSNS.is_power_of_two());

/// The filter program as the loader wrote it into `CONFIG`.
struct ConfigProgram;

impl FilterProgram for ConfigProgram {
    #[inline(always)]
    fn insn_count(&self) -> usize {
        config_word(|c| &c.filter_len) as usize
    }

    #[inline(always)]
    fn insn(&self, i: usize) -> FilterInsn {
        // The evaluator asks only for i < FILTER_MAX_INSNS (a power of two):
        // the mask changes nothing but leaves no panicking bounds check.
        // SAFETY: CONFIG is a valid static; volatile keeps the loader's value.
        unsafe { core::ptr::read_volatile(&CONFIG.filter[i & (FILTER_MAX_INSNS - 1)]) }
    }
}

/// This CPU's slot of `FILTER_STACK`.
///
/// The stack lives in per-CPU map memory, not in a register: the verifier
/// tracks a register's exact value, so every combination of predicate
/// outcomes would be a distinct state and a 20-instruction filter would blow
/// its budget; a value read back from a map is just "some u32", and the
/// paths merge again after each instruction.
struct MapStack(*mut u32);

impl BitStack for MapStack {
    #[inline(always)]
    fn load(&self) -> u32 {
        // SAFETY: a live slot of a per-CPU map (see `matches`).
        unsafe { core::ptr::read_volatile(self.0) }
    }

    #[inline(always)]
    fn store(&mut self, bits: u32) {
        // SAFETY: as above.
        unsafe { core::ptr::write_volatile(self.0, bits) }
    }
}

/// Runs the compiled filter on `ev` (`formats::filter::run`, the code
/// userspace runs too).
#[inline(always)]
pub fn matches(ev: &RawEvent) -> bool {
    // Checked before the map lookup so an empty filter compiles away.
    if ConfigProgram.insn_count() == 0 {
        return true;
    }
    let Some(slot) = FILTER_STACK.get_ptr_mut(crate::frames::in_softirq() as u32) else {
        return false;
    };
    run(&ConfigProgram, &mut MapStack(slot), ev)
}
