//! Kernel stacks (`--stack`): the BPF side stores each distinct stack once in
//! a stack map and puts its id in the event; userspace reads it, names its
//! addresses from the tracing host's kallsyms, and hands it to the sinks
//! once, before the first event that refers to it. Records keep both the
//! addresses and the names, so a report elsewhere needs no symbols.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// One return address and, when the tracing host could name it, its symbol.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackFrame {
    pub addr: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// From the start of `symbol`.
    #[serde(default)]
    pub offset: u64,
    /// Kernel module of the symbol; `None` for the kernel itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
}

impl StackFrame {
    /// `ip_rcv+0x5`, `tdma_enqueue+0x1c [sch_tdma]`, or the bare address.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        match &self.symbol {
            Some(name) => {
                out.push_str(&crate::describe::printable(name));
                let _ = write!(out, "+{:#x}", self.offset);
                if let Some(module) = &self.module {
                    let _ = write!(out, " [{}]", crate::describe::printable(module));
                }
            }
            None => {
                let _ = write!(out, "{:#x}", self.addr);
            }
        }
        out
    }
}

/// A kernel stack as the stack map holds it, innermost frame first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stack {
    /// The `stack_id` events carry.
    pub id: u32,
    pub frames: Vec<StackFrame>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_describe_like_the_kernel_prints_them() {
        let named = StackFrame {
            addr: 0xffff_ffff_8190_0005,
            symbol: Some("ip_rcv".into()),
            offset: 5,
            module: None,
        };
        assert_eq!(named.describe(), "ip_rcv+0x5");
        let in_module = StackFrame {
            symbol: Some("tdma_enqueue".into()),
            offset: 0x1c,
            module: Some("sch_tdma".into()),
            ..named.clone()
        };
        assert_eq!(in_module.describe(), "tdma_enqueue+0x1c [sch_tdma]");
        let unknown = StackFrame {
            addr: 0xffff_ffff_c000_1234,
            ..StackFrame::default()
        };
        assert_eq!(unknown.describe(), "0xffffffffc0001234");
        let hostile = StackFrame {
            symbol: Some("evil\x1b[2J".into()),
            ..named
        };
        assert_eq!(hostile.describe(), "evil?[2J+0x5");
    }
}
