//! Turns the trace options into one compiled in-kernel filter.

use std::os::unix::fs::MetadataExt;

use anyhow::{Context, Result};
use formats::abi::{FilterInsn, TraceConfig, config_flag};
use formats::filter;

use crate::UsageError;
use crate::cli::TraceArgs;

/// The compiled filter and its human-readable source (kept in records).
pub struct CompiledFilter {
    pub config: TraceConfig,
    pub text: String,
}

pub fn compile(args: &TraceArgs) -> Result<CompiledFilter> {
    let expression = args.filter.join(" ");
    let mut pieces: Vec<String> = Vec::new();
    if !expression.trim().is_empty() {
        pieces.push(expression.clone());
    }
    if let Some(p) = args.proto {
        pieces.push(p.keyword().to_string());
    }
    for (keyword, value) in [
        ("host", &args.host),
        ("src host", &args.src),
        ("dst host", &args.dst),
    ] {
        if let Some(v) = value {
            pieces.push(format!("{keyword} {v}"));
        }
    }
    if let Some(port) = args.port {
        pieces.push(format!("port {port}"));
    }
    if let Some(name) = &args.ifname {
        pieces.push(format!("ifname {name}"));
    }
    if let Some(ns) = &args.netns {
        pieces.push(format!("netns {}", netns_inode(ns)?));
    }
    if let Some(pid) = args.pid {
        pieces.push(format!("pid {pid}"));
    }

    let mut programs: Vec<Vec<FilterInsn>> = Vec::new();
    for piece in &pieces {
        let program = filter::compile(piece).map_err(UsageError::error)?;
        programs.push(program);
    }
    let mut flags = 0;
    if args.follow_skb {
        flags |= config_flag::FOLLOW_SKB;
    }
    if args.stack {
        flags |= config_flag::STACKS;
    }
    let config =
        filter::into_config(&filter::and_all(programs), flags).map_err(UsageError::error)?;
    let text = match pieces.len() {
        0 => String::new(),
        1 => pieces.remove(0),
        _ => pieces
            .iter()
            .map(|p| format!("({p})"))
            .collect::<Vec<_>>()
            .join(" and "),
    };
    Ok(CompiledFilter { config, text })
}

/// Resolves `--netns`: an inode number, a name under /run/netns, or a path.
pub fn netns_inode(spec: &str) -> Result<u64> {
    if let Ok(inode) = spec.parse::<u64>() {
        return Ok(inode);
    }
    let path = if spec.contains('/') {
        spec.to_string()
    } else {
        format!("/run/netns/{spec}")
    };
    let meta =
        std::fs::metadata(&path).with_context(|| format!("--netns {spec}: cannot open {path}"))?;
    Ok(meta.ino())
}
