//! Builds the sink for a command's output: flat lines or JSON per event, or
//! call trees (text, the 2005 study's classic log, JSON) through the stitcher.

use std::io::{BufWriter, IsTerminal, Write};

use formats::abi::FilterInsn;
use formats::json::JsonPrinter;
use formats::meta::{ProbeKind, TraceMeta};
use formats::sink::Sink;
use formats::stitch::{Grouping, StitchOptions, StitchSink, TreeSink};
use formats::tdma::view::{TdmaView, ViewFormat};
use formats::text::TextPrinter;
use formats::trees::classic::ClassicPrinter;
use formats::trees::flat::FlatTrees;
use formats::trees::json::TreeJsonPrinter;
use formats::trees::select::TreeSelect;
use formats::trees::text::TreeTextPrinter;

use crate::cli::{OutputArgs, OutputFormat};
use crate::event_filter::EventFilter;

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

/// Wraps a flat sink in `filter`'s [`EventFilter`], if there is a filter.
fn filtered(sink: Box<dyn Sink>, filter: &Option<Vec<FilterInsn>>) -> Box<dyn Sink> {
    match filter {
        Some(program) => Box::new(EventFilter::new(sink, program.clone())),
        None => sink,
    }
}

/// A stitcher feeding `trees` the network packets (all skbs with
/// `--all-skbs`) and the passes and packets `filter` accepts.
fn stitched<T: TreeSink + 'static>(
    trees: T,
    options: StitchOptions,
    args: &OutputArgs,
    filter: &Option<Vec<FilterInsn>>,
) -> Box<dyn Sink> {
    let select = TreeSelect::new(trees, args.all_skbs, filter.clone().unwrap_or_default());
    Box::new(StitchSink::new(select, options))
}

/// The sink for `args` on stdout. `frames` says whether call trees can be
/// built; `packets_by_default` makes trees group by packet (reports).
/// `filter` is a compiled filter to run here, in userspace (`report`'s;
/// live traces ran theirs in the kernel and pass `None`): flat output keeps
/// the events it accepts, call trees and packets are kept whole when it
/// accepts one of their events.
pub fn stdout_sink(
    args: &OutputArgs,
    frames: bool,
    packets_by_default: bool,
    filter: Option<Vec<FilterInsn>>,
) -> Box<dyn Sink> {
    let out: Box<dyn Write> = Box::new(BufWriter::with_capacity(STDOUT_BUFFER, std::io::stdout()));
    if args.tdma {
        let format = if args.output == Some(OutputFormat::Json) {
            ViewFormat::Json
        } else {
            ViewFormat::Text
        };
        return filtered(Box::new(TdmaView::new(out, format)), &filter);
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
        let sink = filtered(sink, &filter);
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
        OutputFormat::Text if args.packets => stitched(
            TreeTextPrinter::new(out)
                .with_color(color())
                .with_trees(false),
            options,
            args,
            &filter,
        ),
        OutputFormat::Text => flat(Box::new(TextPrinter::new(out).with_color(color()))),
        OutputFormat::Json if args.trees || args.packets => stitched(
            TreeJsonPrinter::new(out).with_trees(args.trees),
            options,
            args,
            &filter,
        ),
        OutputFormat::Json => flat(Box::new(JsonPrinter::new(out))),
        OutputFormat::Tree => stitched(
            TreeTextPrinter::new(out).with_color(color()),
            options,
            args,
            &filter,
        ),
        OutputFormat::Classic => stitched(ClassicPrinter::new(out), options, args, &filter),
    }
}
