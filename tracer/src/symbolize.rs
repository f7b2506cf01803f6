//! Names for the code addresses a trace carries, from this host's kallsyms:
//! `--stack` stacks (read from the stack map the BPF programs fill) and drop
//! locations. Each is handed to the sink once, before the first event that
//! refers to it, so records keep the names (a report elsewhere needs no
//! kallsyms of this host).

use std::collections::HashSet;
use std::io;
use std::thread::JoinHandle;

use aya::maps::{MapData, StackTraceMap};
use formats::abi::{RawEvent, probe_id};
use formats::sink::Sink;
use formats::stack::{Stack, StackFrame};
use symbols::kallsyms::Kallsyms;

/// Stack map entries when `--stack` is on: distinct stacks, not events. A
/// full map gives no id for a new stack (the event shows none).
pub const MAX_STACKS: u32 = 8192;

pub struct Symbolizer {
    /// The stack map, with `--stack`.
    stacks: Option<StackTraceMap<MapData>>,
    /// `None` inside when unreadable (addresses then stay numbers).
    kallsyms: KallsymsSource,
    delivered_stacks: HashSet<u32>,
    named_locations: HashSet<u64>,
}

impl Symbolizer {
    pub fn new(stacks: Option<StackTraceMap<MapData>>, kallsyms: KallsymsSource) -> Self {
        Symbolizer {
            stacks,
            kallsyms,
            delivered_stacks: HashSet::new(),
            named_locations: HashSet::new(),
        }
    }

    /// Gives `sink` what `event` refers to and it has not seen yet: its
    /// stack, the name of its drop location.
    pub fn deliver(&mut self, event: &RawEvent, sink: &mut dyn Sink) -> io::Result<()> {
        if event.probe_id == probe_id::KFREE_SKB
            && event.aux != 0
            && self.named_locations.insert(event.aux)
        {
            let frame = self.frame(event.aux);
            if frame.symbol.is_some() {
                sink.symbol(&frame)?;
            }
        }
        let Ok(id) = u32::try_from(event.stack_id) else {
            return Ok(());
        };
        if !self.delivered_stacks.insert(id) {
            return Ok(());
        }
        // Stacks are never removed from the map (ids stay valid for the
        // whole trace), so a failed read means the id is bogus: no stack.
        let Some(Ok(trace)) = self.stacks.as_ref().map(|m| m.get(&id, 0)) else {
            return Ok(());
        };
        let addrs: Vec<u64> = trace.frames().iter().map(|f| f.ip).collect();
        let frames: Vec<StackFrame> = addrs
            .into_iter()
            .map(|addr| self.frame(addr))
            .skip_while(is_tracing_machinery)
            .collect();
        sink.stack(&Stack { id, frames })
    }

    fn frame(&mut self, addr: u64) -> StackFrame {
        match self.kallsyms.get().and_then(|k| k.lookup(addr)) {
            Some(sym) => StackFrame {
                addr,
                symbol: Some(sym.name.to_string()),
                offset: sym.offset,
                module: sym.module.map(str::to_string),
            },
            None => StackFrame {
                addr,
                ..StackFrame::default()
            },
        }
    }
}

/// Where the symbolizer's kallsyms come from.
pub enum KallsymsSource {
    /// Read already (`--stack` reads it before tracing, to report a
    /// failure up front); `None` when unreadable.
    Loaded(Option<Kallsyms>),
    /// Being read on a thread started with the session: reading takes about
    /// 0.1 s, which at the first drop location would hold up the reader and
    /// every line behind it.
    Loading(JoinHandle<Result<Kallsyms, String>>),
}

impl KallsymsSource {
    pub fn load_in_background() -> Self {
        KallsymsSource::Loading(std::thread::spawn(|| {
            Kallsyms::from_proc().map_err(|e| e.to_string())
        }))
    }

    /// Waits for the symbols, or says why they could not be read.
    pub fn wait(self) -> Result<Kallsyms, String> {
        match self {
            KallsymsSource::Loaded(kallsyms) => {
                kallsyms.ok_or_else(|| "kallsyms unreadable".to_string())
            }
            KallsymsSource::Loading(thread) => thread
                .join()
                .unwrap_or_else(|_| Err("reading kallsyms failed".to_string())),
        }
    }

    /// The symbols, waiting for the reading thread if it has not finished.
    fn get(&mut self) -> Option<&Kallsyms> {
        if let KallsymsSource::Loading(_) = self {
            let KallsymsSource::Loading(thread) =
                std::mem::replace(self, KallsymsSource::Loaded(None))
            else {
                unreachable!("checked just above")
            };
            *self = KallsymsSource::Loaded(thread.join().ok().and_then(Result::ok));
        }
        match self {
            KallsymsSource::Loaded(kallsyms) => kallsyms.as_ref(),
            KallsymsSource::Loading(_) => None,
        }
    }
}

/// The innermost frames are the BPF program and the code that called it
/// (trampoline, tracepoint glue): not what the user asked about.
fn is_tracing_machinery(frame: &StackFrame) -> bool {
    frame.symbol.as_deref().is_some_and(|name| {
        name.starts_with("bpf_")
            || name.starts_with("__bpf_")
            || name.starts_with("__traceiter_")
            || name.starts_with("perf_trace_")
            || name.starts_with("trace_call_bpf")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> StackFrame {
        StackFrame {
            addr: 1,
            symbol: Some(name.into()),
            ..StackFrame::default()
        }
    }

    #[test]
    fn bpf_glue_is_not_shown_but_the_traced_code_is() {
        for glue in [
            "bpf_prog_6deef7357e7b4530_pt_kfree_skb",
            "bpf_trace_run3",
            "__bpf_trace_kfree_skb",
            "bpf_trampoline_6442506335",
            "__traceiter_kfree_skb",
        ] {
            assert!(is_tracing_machinery(&named(glue)), "{glue}");
        }
        for code in ["kfree_skb_reason", "ip_rcv", "__netif_receive_skb_core"] {
            assert!(!is_tracing_machinery(&named(code)), "{code}");
        }
        assert!(!is_tracing_machinery(&StackFrame::default()));
    }
}
