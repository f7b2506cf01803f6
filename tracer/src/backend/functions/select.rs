//! Which functions to probe, and why the others cannot be.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use formats::abi::probe_id;
use globset::{Glob, GlobSetBuilder};
use symbols::btf::KernelBtf;

use super::{KPROBE_REGISTER_ARGS, Selection, Skipped, TRAMPOLINE_MAX_ARGS, Target};
use crate::UsageError;
use crate::backend::{Backend, profiles};

/// Facts about the running kernel that decide what can be probed.
pub struct Traceability {
    /// Functions in BTF (sorted).
    btf_functions: Vec<String>,
    /// ftrace's `available_filter_functions`, when readable: fentry needs it.
    ftrace: Option<std::collections::HashSet<String>>,
    /// `/sys/kernel/debug/kprobes/blacklist`, when readable.
    kprobe_denied: std::collections::HashSet<String>,
}

impl Traceability {
    pub fn read(kernel: &KernelBtf) -> Result<Self> {
        let btf_functions = kernel
            .function_names()
            .context("listing functions in BTF")?;
        let ftrace = std::fs::read_to_string("/sys/kernel/tracing/available_filter_functions")
            .ok()
            .map(|text| {
                text.lines()
                    .filter_map(|l| l.split_whitespace().next())
                    .map(str::to_string)
                    .collect()
            });
        let kprobe_denied = std::fs::read_to_string("/sys/kernel/debug/kprobes/blacklist")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .map(str::to_string)
            .collect();
        Ok(Traceability {
            btf_functions,
            ftrace,
            kprobe_denied,
        })
    }

    /// Every function in BTF, sorted.
    pub fn btf_functions(&self) -> &[String] {
        &self.btf_functions
    }

    /// ftrace's traceable functions, when readable.
    pub fn into_ftrace(self) -> Option<std::collections::HashSet<String>> {
        self.ftrace
    }

    /// Whether ftrace's list was readable (else fentry is only assumed).
    pub fn knows_ftrace(&self) -> bool {
        self.ftrace.is_some()
    }

    pub fn in_btf(&self, name: &str) -> bool {
        self.btf_functions
            .binary_search_by(|f| f.as_str().cmp(name))
            .is_ok()
    }

    /// Why `name` cannot be probed with `backend`, if it cannot.
    pub fn obstacle(&self, name: &str, backend: Backend) -> Option<String> {
        if !self.in_btf(name) {
            return Some(
                "not in this kernel's BTF (inlined everywhere, renamed or compiled out)".into(),
            );
        }
        match backend {
            Backend::Fentry => match &self.ftrace {
                Some(ftrace) if !ftrace.contains(name) => {
                    Some("not traceable (not in ftrace's available_filter_functions: notrace or inlined)".into())
                }
                _ => None,
            },
            Backend::Kprobe if self.kprobe_denied.contains(name) => {
                Some("on the kernel's kprobe deny list".into())
            }
            _ => None,
        }
    }
}

fn normalized(type_name: &str) -> String {
    type_name.replace("const ", "").replace("volatile ", "")
}

/// Resolves the selection into targets (in a stable order) and skipped names.
pub fn resolve(
    selection: &Selection,
    kernel: &KernelBtf,
    facts: &Traceability,
    backend: Backend,
) -> Result<(Vec<Target>, Vec<Skipped>)> {
    // name → origin; BTreeMap keeps the order stable for probe ids and output.
    let mut wanted: BTreeMap<String, String> = BTreeMap::new();
    let mut explicit: Vec<(String, String)> = Vec::new();
    for name in &selection.profiles {
        let profile = profiles::find(name).ok_or_else(|| {
            let known: Vec<_> = profiles::PROFILES.iter().map(|p| p.name).collect();
            UsageError::error(format!(
                "unknown profile '{name}' (known: {})",
                known.join(", ")
            ))
        })?;
        for f in profile.functions {
            explicit.push((f.to_string(), profile.name.to_string()));
        }
    }
    let mut globs = selection.globs.clone();
    if let Some(path) = &selection.file {
        globs.extend(read_func_file(path)?);
    }
    if !globs.is_empty() {
        let mut builder = GlobSetBuilder::new();
        for g in &globs {
            builder.add(Glob::new(g).map_err(|e| UsageError::error(format!("--func '{g}': {e}")))?);
        }
        let set = builder.build().map_err(UsageError::error)?;
        for (i, g) in globs.iter().enumerate() {
            let literal = !g.contains(['*', '?', '[']);
            let matched = facts
                .btf_functions
                .iter()
                .filter(|f| set.matches(f.as_str()).contains(&i));
            let mut any = false;
            for f in matched {
                wanted.entry(f.clone()).or_insert_with(|| "--func".into());
                any = true;
            }
            if !any && literal {
                // Reported as skipped below with the reason.
                explicit.push((g.clone(), "--func".into()));
            } else if !any {
                return Err(UsageError::error(format!(
                    "--func '{g}' matches no function in this kernel's BTF"
                )));
            }
        }
    }
    if selection.all_skb_funcs {
        for f in &facts.btf_functions {
            if kernel.func_skb_arg(f).ok().flatten().is_some() {
                wanted
                    .entry(f.clone())
                    .or_insert_with(|| "--all-skb-funcs".into());
            }
        }
    }
    let mut skipped = Vec::new();
    for (name, origin) in explicit {
        wanted.entry(name).or_insert(origin);
    }
    let mut targets = Vec::new();
    for (name, origin) in wanted {
        if let Some(why) = facts.obstacle(&name, backend) {
            skipped.push(Skipped { name, origin, why });
            continue;
        }
        let params = match kernel.function_args(&name) {
            Ok(p) => p,
            Err(e) => {
                skipped.push(Skipped {
                    name,
                    origin,
                    why: format!("arguments unknown: {e}"),
                });
                continue;
            }
        };
        let skb_arg = params.iter().position(|p| p.is_skb);
        let position_of = |c_type: &str| {
            params
                .iter()
                .position(|p| normalized(&p.type_name) == c_type)
        };
        let sock_arg = position_of("struct sock *");
        let nf_state_arg = position_of("struct nf_hook_state *");
        let limit = match backend {
            Backend::Kprobe => KPROBE_REGISTER_ARGS,
            _ => TRAMPOLINE_MAX_ARGS,
        };
        if params.len() > limit && backend != Backend::Kprobe {
            skipped.push(Skipped {
                name,
                origin,
                why: format!("{} arguments, more than a trampoline passes", params.len()),
            });
            continue;
        }
        let reachable = |p: Option<usize>| p.filter(|&i| i < KPROBE_REGISTER_ARGS);
        let id = probe_id::FIRST_DYNAMIC_PROBE_ID + targets.len() as u32;
        // Unknown prints as before (a signed register): better than
        // refusing to probe a function over how its result looks.
        let ret = kernel.return_type(&name).unwrap_or_default();
        targets.push(Target {
            name,
            module: None,
            probe_id: id,
            skb_arg: reachable(skb_arg),
            sock_arg: reachable(sock_arg),
            nf_state_arg: reachable(nf_state_arg),
            nr_args: params.len(),
            ret,
            origin,
        });
    }
    Ok((targets, skipped))
}

fn read_func_file(path: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("--func-file {}", path.display()))?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}
