//! `pkttrace functions`: which kernel functions can be traced here, where
//! their skb is, where they live in the source, and — for one that cannot be
//! traced — why not (inlined into X at file:line, not in BTF, on the kprobe
//! deny list, compiled out).

use std::io::Write;

use anyhow::{Context, Result};
use globset::{Glob, GlobMatcher};
use serde::Serialize;
use symbols::btf::KernelBtf;
use symbols::dwarf::{DebugInfo, Location};
use symbols::kallsyms::Kallsyms;

use crate::UsageError;
use crate::backend::Backend;
use crate::backend::functions::{TRAMPOLINE_MAX_ARGS, Traceability};
use crate::cli::{FunctionsArgs, FunctionsFormat};
use crate::status::Status;

/// Listing more functions than this with source locations would walk a full
/// vmlinux's DWARF once per function; beyond it locations are left out.
const MAX_LOCATED: usize = 200;

/// One row of the listing.
#[derive(Serialize)]
struct Row<'a> {
    name: &'a str,
    /// Position of the `struct sk_buff *` argument.
    #[serde(skip_serializing_if = "Option::is_none")]
    skb_arg: Option<usize>,
    fentry: bool,
    kprobe: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<String>,
}

pub fn run(args: &FunctionsArgs, status: &Status) -> Result<i32> {
    // Usage errors first, before any slow reading.
    let pattern = args.glob.as_deref().unwrap_or("*");
    let glob = Glob::new(pattern)
        .map_err(|e| UsageError::error(format!("'{pattern}': {e}")))?
        .compile_matcher();
    let kernel = KernelBtf::from_sys().context("reading the kernel's BTF")?;
    let facts = Traceability::read(&kernel)?;
    let debug = open_debug_info(args, status);
    let mut out = std::io::stdout().lock();
    match &args.why {
        Some(name) => {
            let traceable = explain(name, &kernel, &facts, debug.as_ref(), &mut out)?;
            Ok(if traceable { 0 } else { 1 })
        }
        None => {
            let selection = Selection {
                pattern,
                glob: &glob,
                skb_only: args.skb,
            };
            list(
                &selection,
                args.output,
                &kernel,
                &facts,
                debug.as_ref(),
                status,
                &mut out,
            )?;
            Ok(0)
        }
    }
}

/// `--debug-info FILE`, else a vmlinux with DWARF where distributions put
/// one; without it source locations are left out (said once on stderr).
fn open_debug_info(args: &FunctionsArgs, status: &Status) -> Option<DebugInfo> {
    let path = args.debug_info.clone().or_else(DebugInfo::find_vmlinux);
    let Some(path) = path else {
        status.info(format!(
            "no kernel debug info found: source locations and inline sites are left out \
             (Debian: apt install linux-image-{}-dbg, or --debug-info FILE)",
            crate::host::kernel_release()
        ));
        return None;
    };
    match DebugInfo::open(&path) {
        Ok(debug) if debug.has_debug_info() => Some(debug),
        Ok(_) => {
            status.warn(format!(
                "{} has no DWARF: source locations are left out",
                path.display()
            ));
            None
        }
        Err(e) => {
            status.warn(format!("{e}: source locations are left out"));
            None
        }
    }
}

fn location_text(location: &Location) -> String {
    format!("{}:{}", location.file, location.line)
}

/// Which functions to list.
struct Selection<'a> {
    pattern: &'a str,
    glob: &'a GlobMatcher,
    skb_only: bool,
}

fn list(
    selection: &Selection,
    format: FunctionsFormat,
    kernel: &KernelBtf,
    facts: &Traceability,
    debug: Option<&DebugInfo>,
    status: &Status,
    out: &mut dyn Write,
) -> Result<()> {
    let mut rows = Vec::new();
    for name in facts
        .btf_functions()
        .iter()
        .filter(|f| selection.glob.is_match(f.as_str()))
    {
        let params = kernel.function_args(name).unwrap_or_default();
        let skb_arg = params.iter().position(|p| p.is_skb);
        if selection.skb_only && skb_arg.is_none() {
            continue;
        }
        rows.push(Row {
            name,
            skb_arg,
            fentry: facts.obstacle(name, Backend::Fentry).is_none()
                && params.len() <= TRAMPOLINE_MAX_ARGS,
            kprobe: facts.obstacle(name, Backend::Kprobe).is_none(),
            location: None,
        });
    }
    if let Some(debug) = debug {
        if rows.len() <= MAX_LOCATED {
            for row in &mut rows {
                row.location = debug
                    .function_location(row.name)
                    .ok()
                    .flatten()
                    .map(|l| location_text(&l));
            }
        } else {
            status.info(format!(
                "{} functions: source locations are shown for at most {MAX_LOCATED} (narrow the pattern)",
                rows.len()
            ));
        }
    }
    if rows.is_empty() {
        return Err(UsageError::error(format!(
            "no function in this kernel's BTF matches '{}'{}",
            selection.pattern,
            if selection.skb_only {
                " with an skb argument"
            } else {
                ""
            }
        )));
    }
    match format {
        FunctionsFormat::Json => {
            for row in &rows {
                serde_json::to_writer(&mut *out, row)?;
                writeln!(out)?;
            }
        }
        FunctionsFormat::Text => {
            let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(8).max(8);
            writeln!(out, "{:width$}  SKB  FENTRY  KPROBE  SOURCE", "FUNCTION")?;
            let yes = |b: bool| if b { "yes" } else { "no" };
            for r in &rows {
                writeln!(
                    out,
                    "{:width$}  {:<3}  {:<6}  {:<6}  {}",
                    r.name,
                    r.skb_arg.map_or("-".to_string(), |a| a.to_string()),
                    yes(r.fentry),
                    yes(r.kprobe),
                    r.location.as_deref().unwrap_or("")
                )?;
            }
        }
    }
    Ok(())
}

/// Explains whether and how `name` can be traced; true if it can.
fn explain(
    name: &str,
    kernel: &KernelBtf,
    facts: &Traceability,
    debug: Option<&DebugInfo>,
    out: &mut dyn Write,
) -> Result<bool> {
    let location = debug
        .and_then(|d| d.function_location(name).ok().flatten())
        .map(|l| location_text(&l));
    let inline_sites = debug
        .and_then(|d| d.inline_sites(name).ok())
        .unwrap_or_default();
    if let Some(location) = &location {
        writeln!(out, "{name}: defined at {location}")?;
    }
    let traceable = if facts.in_btf(name) {
        let params = kernel.function_args(name).unwrap_or_default();
        if let Ok(prototype) = kernel.prototype(name) {
            writeln!(out, "{name}: {prototype}")?;
        }
        match params.iter().position(|p| p.is_skb) {
            Some(i) => writeln!(out, "{name}: the skb is argument {i}")?,
            None => writeln!(
                out,
                "{name}: takes no skb (its events join the call they run in)"
            )?,
        }
        let fentry = match facts.obstacle(name, Backend::Fentry) {
            Some(why) => Some(why),
            None if params.len() > TRAMPOLINE_MAX_ARGS => Some(format!(
                "{} arguments, more than a trampoline passes",
                params.len()
            )),
            None => None,
        };
        let kprobe = facts.obstacle(name, Backend::Kprobe);
        for (backend, why) in [("fentry", &fentry), ("kprobe", &kprobe)] {
            match why {
                None => writeln!(out, "{name}: {backend}: yes")?,
                Some(why) => writeln!(out, "{name}: {backend}: no, {why}")?,
            }
        }
        fentry.is_none() || kprobe.is_none()
    } else {
        let in_kallsyms = Kallsyms::from_proc()
            .ok()
            .and_then(|k| k.address_of(name))
            .is_some();
        let why = if in_kallsyms {
            "in kallsyms but not in BTF: pkttrace needs BTF to know its arguments"
        } else if !inline_sites.is_empty() {
            "not in BTF nor kallsyms: the compiler inlined it at every call site"
        } else if debug.is_some_and(DebugInfo::is_relocatable) && location.is_some() {
            "not in the running kernel: is its module loaded?"
        } else if location.is_some() {
            "not in BTF nor kallsyms, though the debug info declares it: inlined or discarded"
        } else if debug.is_some() {
            "not in this kernel: compiled out (its config option is off) or a macro"
        } else {
            "not in BTF nor kallsyms: inlined everywhere or compiled out (kernel debug info would tell which)"
        };
        writeln!(out, "{name}: cannot be traced: {why}")?;
        false
    };
    if !inline_sites.is_empty() {
        writeln!(out, "{name}: inlined at {} sites:", inline_sites.len())?;
        for site in &inline_sites {
            writeln!(out, "  into {} at {}:{}", site.caller, site.file, site.line)?;
        }
    }
    Ok(traceable)
}
