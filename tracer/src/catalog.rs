//! `pkttrace functions`: which kernel functions can be traced here, where
//! their skb is, where they live in the source, and — for one that cannot be
//! traced — why not (inlined into X at file:line, not in BTF, on the kprobe
//! deny list, compiled out).

use std::io::Write;

use anyhow::{Context, Result};
use serde::Serialize;
use symbols::btf::KernelBtf;
use symbols::dwarf::{DebugInfo, Location};
use symbols::kallsyms::Kallsyms;

use crate::UsageError;
use crate::backend::functions::{FuncPattern, Function, Prototype, Traceability};
use crate::cli::{FunctionsArgs, FunctionsFormat};
use crate::status::Status;

/// Listing more functions than this with source locations would walk a full
/// vmlinux's DWARF once per function; beyond it locations are left out.
const MAX_LOCATED: usize = 200;

/// One row of the listing.
#[derive(Serialize)]
struct Row<'a> {
    name: &'a str,
    /// The loaded module it belongs to; absent for vmlinux.
    #[serde(skip_serializing_if = "Option::is_none")]
    module: Option<&'a str>,
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
    let pattern =
        FuncPattern::parse(args.glob.as_deref().unwrap_or("*")).map_err(UsageError::error)?;
    let kernel = KernelBtf::from_sys().context("reading the kernel's BTF")?;
    let facts = Traceability::read(&kernel)?;
    if let Some(module) = &pattern.module
        && !facts.known().has_module(module)
    {
        return Err(UsageError::error(format!(
            "'{}': {}",
            pattern.text,
            crate::backend::functions::not_loaded(module)
        )));
    }
    let debug = open_debug_info(args, status);
    let mut out = std::io::stdout().lock();
    match &args.why {
        Some(name) => {
            let traceable = explain(name, &facts, debug.as_ref(), &mut out)?;
            Ok(if traceable { 0 } else { 1 })
        }
        None => {
            let selection = Selection {
                pattern: &pattern,
                skb_only: args.skb,
            };
            list(
                &selection,
                args.output,
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
    pattern: &'a FuncPattern,
    skb_only: bool,
}

/// `name`, or `name [module]` for a module's function, as kallsyms writes it.
fn label(f: &Function) -> String {
    match f.module {
        Some(module) => format!("{} [{module}]", f.name),
        None => f.name.to_string(),
    }
}

fn list(
    selection: &Selection,
    format: FunctionsFormat,
    facts: &Traceability,
    debug: Option<&DebugInfo>,
    status: &Status,
    out: &mut dyn Write,
) -> Result<()> {
    let known = facts.known();
    let candidates: Box<dyn Iterator<Item = Function>> = match &selection.pattern.module {
        Some(module) => Box::new(known.in_module(module)),
        None => Box::new(known.iter()),
    };
    let mut rows = Vec::new();
    for f in candidates.filter(|f| selection.pattern.matches(f.name)) {
        let proto = f.btf.and_then(|btf| Prototype::of(btf, f.name).ok());
        let skb_arg = proto
            .as_ref()
            .and_then(|p| p.params.iter().position(|p| p.is_skb));
        if selection.skb_only && skb_arg.is_none() {
            continue;
        }
        rows.push(Row {
            name: f.name,
            module: f.module,
            skb_arg,
            fentry: facts.fentry_obstacle(f, proto.as_ref()).is_none(),
            kprobe: facts.kprobe_obstacle(f).is_none(),
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
        let place = match &selection.pattern.module {
            Some(module) => format!("of module {module}"),
            None => "in this kernel's BTF or loaded modules".to_string(),
        };
        return Err(UsageError::error(format!(
            "no function {place} matches '{}'{}",
            selection.pattern.text,
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
            let labels: Vec<String> = rows
                .iter()
                .map(|r| {
                    label(&Function {
                        name: r.name,
                        module: r.module,
                        btf: None,
                    })
                })
                .collect();
            let width = labels.iter().map(String::len).max().unwrap_or(8).max(8);
            writeln!(out, "{:width$}  SKB  FENTRY  KPROBE  SOURCE", "FUNCTION")?;
            let yes = |b: bool| if b { "yes" } else { "no" };
            for (r, label) in rows.iter().zip(&labels) {
                writeln!(
                    out,
                    "{label:width$}  {:<3}  {:<6}  {:<6}  {}",
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

/// Explains whether and how `name` (or `MODULE:name`) can be traced: each
/// function of that name, in vmlinux and the loaded modules. True if one
/// can be.
fn explain(
    name: &str,
    facts: &Traceability,
    debug: Option<&DebugInfo>,
    out: &mut dyn Write,
) -> Result<bool> {
    let (module, name) = match name.split_once(':') {
        Some((module, name)) => (Some(module.replace('-', "_")), name),
        None => (None, name),
    };
    let location = debug
        .and_then(|d| d.function_location(name).ok().flatten())
        .map(|l| location_text(&l));
    let inline_sites = debug
        .and_then(|d| d.inline_sites(name).ok())
        .unwrap_or_default();
    if let Some(location) = &location {
        writeln!(out, "{name}: defined at {location}")?;
    }
    let known = facts.known();
    let found: Vec<Function> = match &module {
        Some(module) => known.get(name, Some(module)).into_iter().collect(),
        None => known.named(name).collect(),
    };
    let mut traceable = false;
    for f in &found {
        traceable |= explain_known(f, facts, out)?;
    }
    if found.is_empty() {
        let in_kallsyms = Kallsyms::from_proc()
            .ok()
            .and_then(|k| k.address_of(name))
            .is_some();
        let why = if let Some(module) = &module {
            if known.has_module(module) {
                format!(
                    "not a function of module {module}: inlined everywhere, static and optimized away, or misspelt"
                )
            } else {
                crate::backend::functions::not_loaded(module)
            }
        } else if in_kallsyms {
            "in kallsyms but not in BTF: pkttrace needs BTF to know its arguments".into()
        } else if !inline_sites.is_empty() {
            "not in BTF nor kallsyms: the compiler inlined it at every call site".into()
        } else if debug.is_some_and(DebugInfo::is_relocatable) && location.is_some() {
            "not in the running kernel: is its module loaded?".into()
        } else if location.is_some() {
            "not in BTF nor kallsyms, though the debug info declares it: inlined or discarded"
                .into()
        } else if debug.is_some() {
            "not in this kernel: compiled out (its config option is off) or a macro".into()
        } else {
            "not in BTF nor kallsyms: inlined everywhere or compiled out (kernel debug info would tell which)".into()
        };
        writeln!(out, "{name}: cannot be traced: {why}")?;
    }
    if !inline_sites.is_empty() {
        writeln!(out, "{name}: inlined at {} sites:", inline_sites.len())?;
        for site in &inline_sites {
            writeln!(out, "  into {} at {}:{}", site.caller, site.file, site.line)?;
        }
    }
    Ok(traceable)
}

/// Prototype, skb position and both backends' verdicts for one known
/// function; true if either backend can probe it.
fn explain_known(f: &Function, facts: &Traceability, out: &mut dyn Write) -> Result<bool> {
    let label = label(f);
    let proto = match f.btf {
        Some(btf) => {
            if let Ok(prototype) = btf.prototype(f.name) {
                writeln!(out, "{label}: {prototype}")?;
            }
            Prototype::of(btf, f.name).ok()
        }
        None => {
            writeln!(
                out,
                "{label}: its module has no BTF: known from kallsyms, arguments unknown"
            )?;
            None
        }
    };
    if let Some(proto) = &proto {
        match proto.params.iter().position(|p| p.is_skb) {
            Some(i) => writeln!(out, "{label}: the skb is argument {i}")?,
            None => writeln!(
                out,
                "{label}: takes no skb (its events join the call they run in)"
            )?,
        }
    }
    let fentry = facts.fentry_obstacle(*f, proto.as_ref());
    let kprobe = facts.kprobe_obstacle(*f);
    for (backend, why) in [("fentry", &fentry), ("kprobe", &kprobe)] {
        match why {
            None => writeln!(out, "{label}: {backend}: yes")?,
            Some(why) => writeln!(out, "{label}: {backend}: no, {why}")?,
        }
    }
    Ok(fentry.is_none() || kprobe.is_none())
}
