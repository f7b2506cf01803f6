//! Turns the filter options into one compiled filter: loaded into the
//! kernel for a live trace, run on recorded events by `report`.

use std::os::unix::fs::MetadataExt;

use anyhow::{Context, Result};
use formats::abi::{FilterInsn, TraceConfig, config_flag};
use formats::filter;

use crate::UsageError;
use crate::cli::{FilterArgs, TraceArgs};

/// The compiled filter and its human-readable source (kept in records).
pub struct CompiledFilter {
    pub config: TraceConfig,
    pub text: String,
}

impl CompiledFilter {
    /// The program as userspace runs it (`formats::filter::matches`);
    /// `None` when it accepts everything.
    pub fn program(&self) -> Option<Vec<FilterInsn>> {
        let len = self.config.filter_len as usize;
        (len > 0).then(|| self.config.filter[..len].to_vec())
    }
}

/// The filter of a live trace, with its flags (`--follow-skb`, `--stack`).
pub fn for_trace(args: &TraceArgs) -> Result<CompiledFilter> {
    let mut flags = 0;
    if args.follow_skb {
        flags |= config_flag::FOLLOW_SKB;
    }
    if args.stack {
        flags |= config_flag::STACKS;
    }
    compile(&args.filter, flags)
}

/// Compiles the expression and the options ANDed with it; a filter that
/// does not compile or fit is a usage error.
pub fn compile(args: &FilterArgs, flags: u32) -> Result<CompiledFilter> {
    let expression = args.expression.join(" ");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Proto;

    #[test]
    fn options_are_anded_with_the_expression() {
        let args = FilterArgs {
            expression: vec!["udp".into(), "or".into(), "arp".into()],
            proto: Some(Proto::Udp),
            port: Some(53),
            ..FilterArgs::default()
        };
        let compiled = compile(&args, 0).unwrap();
        assert_eq!(compiled.text, "(udp or arp) and (udp) and (port 53)");
        let program = compiled.program().unwrap();
        assert_eq!(
            program,
            filter::compile("(udp or arp) and udp and port 53").unwrap()
        );
        assert!(
            compile(&FilterArgs::default(), 0)
                .unwrap()
                .program()
                .is_none()
        );
    }

    #[test]
    fn bad_filters_are_usage_errors() {
        let args = FilterArgs {
            expression: vec!["port".into(), "http".into()],
            ..FilterArgs::default()
        };
        let Err(err) = compile(&args, 0) else {
            panic!("`port http` compiled");
        };
        assert!(err.downcast_ref::<UsageError>().is_some(), "{err}");
    }
}
