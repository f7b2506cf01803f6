//! What a BPF trampoline (fentry/fexit) on x86-64 takes, and where each
//! argument sits for it and for a kprobe.
//!
//! The kernel sizes each argument from BTF (`btf_distill_func_proto`): a
//! pointer, integer or enum takes one 8-byte slot, a struct or union passed
//! by value one per 8 bytes. It refuses (EINVAL) variadic functions, more
//! than 12 arguments, a struct returned by value, a struct argument over 16
//! bytes, and before Linux 6.1 any struct argument. The x86-64 JIT then
//! refuses (ENOTSUPP, errno 524) more slots than it passes: the 6 argument
//! registers before Linux 6.6 (commit 473e3150e30a), 12 from then on.
//! Predicting these lets `--dry-run` name such functions with the reason
//! instead of the attach failing on them.

use formats::meta::RetType;
use symbols::btf::Param;

/// x86-64 argument registers: a kprobe sees no further arguments, and
/// trampolines before Linux 6.6 pass no more slots.
const ARG_REGISTERS: usize = 6;
/// Arguments (and, from Linux 6.6, slots) a trampoline takes:
/// `MAX_BPF_FUNC_ARGS`.
const MAX_ARGS: usize = 12;
/// Largest argument a trampoline takes by value.
const MAX_ARG_BYTES: usize = 16;
/// Trampolines pass slots beyond the argument registers from this version.
const STACK_SLOTS_SINCE: (u32, u32) = (6, 6);
/// Trampolines take structs passed by value from this version (commit
/// 720e6a435194).
const STRUCT_ARGS_SINCE: (u32, u32) = (6, 1);

/// Slots an argument takes: the kernel counts one per 8 bytes for a struct
/// or union passed by value, one for anything else.
fn slots(param: &Param) -> usize {
    if param.by_value_aggregate {
        param.size.unwrap_or(0).div_ceil(8)
    } else {
        1
    }
}

/// Where each argument starts in a trampoline's context (in 8-byte slots),
/// and how many slots they take together: fexit finds the return value in
/// the slot after them.
pub fn trampoline_slots(params: &[Param]) -> (Vec<usize>, usize) {
    let mut next = 0;
    let starts = params
        .iter()
        .map(|param| {
            let start = next;
            next += slots(param);
            start
        })
        .collect();
    (starts, next)
}

/// The register each argument is passed in (System V x86-64: six 8-byte
/// registers in order; a struct of up to 16 bytes takes as many as its size
/// needs, or goes on the stack whole if they are not left; a bigger one
/// always goes on the stack), where a kprobe reads it. `None`: on the stack.
pub fn argument_registers(params: &[Param]) -> Vec<Option<usize>> {
    let mut used = 0;
    let mut registers = Vec::with_capacity(params.len());
    for param in params {
        let needed = match (param.size, param.by_value_aggregate) {
            (None, _) => None,
            (Some(size), true) if size > MAX_ARG_BYTES => None,
            (Some(size), true) => Some(size.div_ceil(8)),
            (Some(_), false) => Some(1),
        };
        let at = needed.filter(|n| used + n <= ARG_REGISTERS).map(|n| {
            used += n;
            used - n
        });
        registers.push(at);
    }
    registers
}

/// The BPF trampoline of one kernel version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trampoline {
    /// `(major, minor)`; `None` when the release could not be read, taken
    /// for a current kernel (a wrong guess shows as an attach failure).
    version: Option<(u32, u32)>,
}

impl Trampoline {
    /// The trampoline of the kernel `release` (as `uname -r` prints it).
    pub fn of_release(release: &str) -> Trampoline {
        Trampoline {
            version: crate::host::release_version(release),
        }
    }

    fn since(self, version: (u32, u32)) -> bool {
        self.version.is_none_or(|v| v >= version)
    }

    /// Argument slots it passes.
    pub fn max_slots(self) -> usize {
        if self.since(STACK_SLOTS_SINCE) {
            MAX_ARGS
        } else {
            ARG_REGISTERS
        }
    }

    /// Why this kernel refuses a trampoline for a function with `params`
    /// returning `ret`, if it does.
    pub fn refusal(self, params: &[Param], ret: RetType) -> Option<String> {
        if params.last().is_some_and(|p| p.type_name == "...") {
            return Some("variadic (`...`): a BPF trampoline cannot pass its arguments".into());
        }
        if params.len() > MAX_ARGS {
            return Some(format!(
                "{} arguments: a BPF trampoline takes at most {MAX_ARGS}",
                params.len()
            ));
        }
        if ret == RetType::Other {
            return Some(
                "returns a struct by value, which a BPF trampoline cannot pass back".into(),
            );
        }
        for (i, param) in params.iter().enumerate() {
            let what = format!("argument {i} ({})", param.type_name);
            match param.size {
                None | Some(0) => {
                    return Some(format!("{what} has no size a BPF trampoline can pass"));
                }
                Some(size) if size > MAX_ARG_BYTES => {
                    return Some(format!(
                        "{what} is {size} bytes passed by value: a BPF trampoline takes at most {MAX_ARG_BYTES}"
                    ));
                }
                Some(_) if param.by_value_aggregate && !self.since(STRUCT_ARGS_SINCE) => {
                    return Some(format!(
                        "{what} is a struct passed by value: BPF trampolines take those from Linux {}.{}",
                        STRUCT_ARGS_SINCE.0, STRUCT_ARGS_SINCE.1
                    ));
                }
                Some(_) => {}
            }
        }
        let (_, total) = trampoline_slots(params);
        let max = self.max_slots();
        if total <= max {
            None
        } else if max < MAX_ARGS {
            Some(format!(
                "{total} argument slots: this kernel's BPF trampoline passes at most {max} (Linux {}.{} raised it to {MAX_ARGS})",
                STACK_SLOTS_SINCE.0, STACK_SLOTS_SINCE.1
            ))
        } else {
            Some(format!(
                "{total} argument slots: a BPF trampoline passes at most {max}"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pointer() -> Param {
        param("struct sk_buff *", Some(8), false)
    }

    fn param(type_name: &str, size: Option<usize>, by_value_aggregate: bool) -> Param {
        Param {
            name: "x".into(),
            type_name: type_name.into(),
            type_id: 1,
            is_skb: false,
            size,
            by_value_aggregate,
        }
    }

    const INT: RetType = RetType::Int {
        size: 4,
        signed: true,
    };

    #[test]
    fn slots_count_struct_arguments_by_their_size() {
        let params = [
            pointer(),
            param("struct flowi4_pair", Some(12), true),
            param("int", Some(4), false),
            param("int", Some(4), false),
            param("struct in6_addr", Some(16), true),
            pointer(),
        ];
        assert_eq!(trampoline_slots(&params), (vec![0, 1, 3, 4, 5, 7], 8));
        // Registers: the 16-byte struct does not fit in the one left, so it
        // goes on the stack and the pointer after it takes register 5.
        assert_eq!(
            argument_registers(&params),
            [Some(0), Some(1), Some(3), Some(4), None, Some(5)]
        );
        let big = [param("struct big", Some(24), true), pointer()];
        assert_eq!(argument_registers(&big), [None, Some(0)]);
    }

    #[test]
    fn the_slot_limit_follows_the_kernel_version() {
        let old = Trampoline::of_release("6.1.0-56-amd64");
        let new = Trampoline::of_release("6.12.117+deb12-amd64");
        assert_eq!(old.max_slots(), 6);
        assert_eq!(Trampoline::of_release("6.5.13").max_slots(), 6);
        assert_eq!(Trampoline::of_release("6.6.0").max_slots(), 12);
        assert_eq!(new.max_slots(), 12);
        assert_eq!(Trampoline::of_release("not a release").max_slots(), 12);

        let seven: Vec<Param> = (0..7).map(|_| pointer()).collect();
        assert_eq!(
            old.refusal(&seven, INT).as_deref(),
            Some(
                "7 argument slots: this kernel's BPF trampoline passes at most 6 (Linux 6.6 raised it to 12)"
            )
        );
        assert_eq!(new.refusal(&seven, INT), None);
        // Six arguments, one a 16-byte struct: seven slots.
        let mut five_and_struct: Vec<Param> = (0..5).map(|_| pointer()).collect();
        five_and_struct.push(param("struct in6_addr", Some(16), true));
        assert!(
            old.refusal(&five_and_struct, INT)
                .is_some_and(|why| why.starts_with("7 argument slots"))
        );
        assert_eq!(new.refusal(&five_and_struct, INT), None);
        let thirteen: Vec<Param> = (0..13).map(|_| pointer()).collect();
        assert_eq!(
            new.refusal(&thirteen, INT).as_deref(),
            Some("13 arguments: a BPF trampoline takes at most 12")
        );
        let mut twelve_slots: Vec<Param> = (0..11).map(|_| pointer()).collect();
        twelve_slots.push(param("struct in6_addr", Some(16), true));
        assert_eq!(
            new.refusal(&twelve_slots, INT).as_deref(),
            Some("13 argument slots: a BPF trampoline passes at most 12")
        );
    }

    #[test]
    fn prototypes_no_trampoline_takes() {
        let new = Trampoline::of_release("6.18.0");
        let variadic = [
            param("const char *", Some(8), false),
            param("...", None, false),
        ];
        assert!(
            new.refusal(&variadic, INT)
                .is_some_and(|why| why.starts_with("variadic"))
        );
        assert!(
            new.refusal(&[pointer()], RetType::Other)
                .is_some_and(|why| why.contains("returns a struct by value"))
        );
        assert_eq!(
            new.refusal(&[param("struct big", Some(24), true)], INT)
                .as_deref(),
            Some(
                "argument 0 (struct big) is 24 bytes passed by value: a BPF trampoline takes at most 16"
            )
        );
        let by_value = [param("struct pair", Some(16), true)];
        assert_eq!(new.refusal(&by_value, RetType::Void), None);
        assert_eq!(
            Trampoline::of_release("5.15.0")
                .refusal(&by_value, RetType::Void)
                .as_deref(),
            Some(
                "argument 0 (struct pair) is a struct passed by value: BPF trampolines take those from Linux 6.1"
            )
        );
        assert_eq!(new.refusal(&[], RetType::Void), None);
    }
}
