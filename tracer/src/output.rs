//! Builds the sink for a command's output: flat lines or JSON per event, or
//! call trees (text, the 2005 study's classic log, JSON) through the stitcher.

use std::io::{BufWriter, IsTerminal, Write};

use formats::json::JsonPrinter;
use formats::meta::{ProbeKind, TraceMeta};
use formats::sink::Sink;
use formats::stitch::{Grouping, StitchOptions, StitchSink};
use formats::tdma::view::{TdmaView, ViewFormat};
use formats::text::TextPrinter;
use formats::trees::classic::ClassicPrinter;
use formats::trees::flat::FlatTrees;
use formats::trees::json::TreeJsonPrinter;
use formats::trees::select::TreeSelect;
use formats::trees::text::TreeTextPrinter;

use crate::cli::{OutputArgs, OutputFormat};

/// Output buffer for stdout; live traces flush it after every ring drain.
const STDOUT_BUFFER: usize = 256 * 1024;

/// Whether the trace has function probes, whose events make call trees.
pub fn has_call_frames(meta: &TraceMeta) -> bool {
    meta.probes
        .as_slice()
        .iter()
        .any(|p| p.kind != ProbeKind::Tracepoint && p.kind != ProbeKind::RawTracepoint)
}

/// Colors on stdout only on a terminal and only if `NO_COLOR` is unset.
fn color() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stdout().is_terminal()
}

/// The sink for `args` on stdout. `frames` says whether call trees can be
/// built; `packets_by_default` makes trees group by packet (reports).
pub fn stdout_sink(args: &OutputArgs, frames: bool, packets_by_default: bool) -> Box<dyn Sink> {
    let out: Box<dyn Write> = Box::new(BufWriter::with_capacity(STDOUT_BUFFER, std::io::stdout()));
    if args.tdma {
        let format = if args.output == Some(OutputFormat::Json) {
            ViewFormat::Json
        } else {
            ViewFormat::Text
        };
        return Box::new(TdmaView::new(out, format));
    }
    let format = args.output.unwrap_or(if frames {
        OutputFormat::Tree
    } else {
        OutputFormat::Text
    });
    let packets = args.packets || (packets_by_default && frames && !args.passes);
    let options = StitchOptions {
        grouping: if packets {
            Grouping::Packets
        } else {
            Grouping::Passes
        },
        ..StitchOptions::default()
    };
    // With function probes even flat output goes through the stitcher, which
    // drops frames the kernel emitted only tentatively; pass by pass, so the
    // lines stay in time order.
    let flat = |sink: Box<dyn Sink>| -> Box<dyn Sink> {
        if frames {
            let passes = StitchOptions {
                grouping: Grouping::Passes,
                ..options
            };
            Box::new(StitchSink::new(FlatTrees::new(sink), passes))
        } else {
            sink
        }
    };
    match format {
        OutputFormat::Text if args.packets => Box::new(StitchSink::new(
            TreeSelect::new(
                TreeTextPrinter::new(out)
                    .with_color(color())
                    .with_trees(false),
                args.all_skbs,
                Vec::new(),
            ),
            options,
        )),
        OutputFormat::Text => flat(Box::new(TextPrinter::new(out).with_color(color()))),
        OutputFormat::Json if args.trees || args.packets => Box::new(StitchSink::new(
            TreeSelect::new(
                TreeJsonPrinter::new(out).with_trees(args.trees),
                args.all_skbs,
                Vec::new(),
            ),
            options,
        )),
        OutputFormat::Json => flat(Box::new(JsonPrinter::new(out))),
        OutputFormat::Tree => Box::new(StitchSink::new(
            TreeSelect::new(
                TreeTextPrinter::new(out).with_color(color()),
                args.all_skbs,
                Vec::new(),
            ),
            options,
        )),
        OutputFormat::Classic => Box::new(StitchSink::new(
            TreeSelect::new(ClassicPrinter::new(out), args.all_skbs, Vec::new()),
            options,
        )),
    }
}
