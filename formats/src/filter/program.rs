//! Whole programs: combining them and loading them into a [`TraceConfig`].

use super::error::FilterError;
use crate::abi::{FILTER_MAX_DEPTH, FILTER_MAX_INSNS, FilterInsn, TraceConfig, filter_op};

/// AND-combines compiled programs, e.g. `--proto`, `--host` and the filter
/// expression. Empty programs accept everything and are skipped.
pub fn and_all(parts: Vec<Vec<FilterInsn>>) -> Vec<FilterInsn> {
    let mut program = Vec::new();
    for part in parts.into_iter().filter(|part| !part.is_empty()) {
        let combine = !program.is_empty();
        program.extend(part);
        if combine {
            program.push(FilterInsn::new(filter_op::AND));
        }
    }
    program
}

/// Builds the BPF programs' configuration with `insns` as the filter, after
/// checking everything the BPF evaluator relies on.
pub fn into_config(insns: &[FilterInsn], flags: u32) -> Result<TraceConfig, FilterError> {
    check(insns)?;
    let mut config = TraceConfig::accept_all();
    config.flags = flags;
    config.filter_len = insns.len() as u32;
    config.filter[..insns.len()].copy_from_slice(insns);
    Ok(config)
}

/// The program fits, every opcode is known, and the stack never underflows,
/// never holds more than [`FILTER_MAX_DEPTH`] values and ends with exactly one.
fn check(insns: &[FilterInsn]) -> Result<(), FilterError> {
    if insns.len() > FILTER_MAX_INSNS {
        return Err(FilterError::TooLong { insns: insns.len() });
    }
    let mut depth = 0;
    for (index, insn) in insns.iter().enumerate() {
        let pops = match insn.op {
            filter_op::AND | filter_op::OR => 2,
            filter_op::NOT => 1,
            filter_op::TRUE..=filter_op::TCP_FLAGS => 0,
            _ => {
                return Err(FilterError::Malformed {
                    index,
                    reason: "unknown opcode",
                });
            }
        };
        if depth < pops {
            return Err(FilterError::Malformed {
                index,
                reason: "operator without enough operands",
            });
        }
        depth = depth - pops + 1;
        if depth > FILTER_MAX_DEPTH {
            return Err(FilterError::TooDeep { index });
        }
    }
    if depth > 1 {
        return Err(FilterError::Malformed {
            index: insns.len() - 1,
            reason: "leaves more than one value on the stack",
        });
    }
    Ok(())
}
