//! `--func [MODULE:]GLOB`: a glob over function names, matching vmlinux's
//! and every loaded module's functions, or with `MODULE:` only that
//! module's (`sch_tdma:tdma_*`).

use globset::{Glob, GlobMatcher};

/// One parsed `--func` (or `--func-file` line, or `pkttrace functions`
/// pattern).
#[derive(Debug, Clone)]
pub struct FuncPattern {
    /// As the user wrote it, for messages.
    pub text: String,
    /// The module it is limited to, spelled as the kernel lists modules
    /// (`-` read as `_`, as modprobe does).
    pub module: Option<String>,
    /// The glob over function names.
    pub glob: String,
    matcher: GlobMatcher,
}

impl FuncPattern {
    /// Parses `text`; the error is one line, without the option's name.
    pub fn parse(text: &str) -> Result<FuncPattern, String> {
        // Function names never contain ':', module names neither.
        let (module, glob) = match text.split_once(':') {
            Some((module, glob)) => {
                if module.is_empty()
                    || !module
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    return Err(format!(
                        "'{text}': '{module}' is not a module name (MODULE:GLOB)"
                    ));
                }
                (Some(module.replace('-', "_")), glob)
            }
            None => (None, text),
        };
        if glob.is_empty() {
            return Err(format!("'{text}': no function glob"));
        }
        let matcher = Glob::new(glob)
            .map_err(|e| format!("'{text}': {e}"))?
            .compile_matcher();
        Ok(FuncPattern {
            text: text.to_string(),
            module,
            glob: glob.to_string(),
            matcher,
        })
    }

    /// A plain name rather than a glob: one the kernel lacks is reported
    /// as skipped, with the reason, instead of being an error.
    pub fn is_literal(&self) -> bool {
        !self.glob.contains(['*', '?', '[', '{'])
    }

    pub fn matches(&self, name: &str) -> bool {
        self.matcher.is_match(name)
    }
}

#[cfg(test)]
mod tests {
    use super::FuncPattern;

    #[test]
    fn plain_and_module_qualified_globs() {
        let plain = FuncPattern::parse("tcp_v4_*").unwrap();
        assert_eq!(plain.module, None);
        assert_eq!(plain.glob, "tcp_v4_*");
        assert!(plain.matches("tcp_v4_rcv") && !plain.matches("tcp_v6_rcv"));
        assert!(!plain.is_literal());

        let qualified = FuncPattern::parse("sch_tdma:tdma_*").unwrap();
        assert_eq!(qualified.module.as_deref(), Some("sch_tdma"));
        assert_eq!(qualified.glob, "tdma_*");
        assert!(qualified.matches("tdma_enqueue"));
        assert_eq!(qualified.text, "sch_tdma:tdma_*");

        let dashed = FuncPattern::parse("sch-tdma:tdma_enqueue").unwrap();
        assert_eq!(dashed.module.as_deref(), Some("sch_tdma"));
        assert!(dashed.is_literal());
        assert!(
            !FuncPattern::parse("{ip_rcv,ip_rcv_finish}")
                .unwrap()
                .is_literal()
        );
    }

    #[test]
    fn malformed_patterns_say_what_is_wrong() {
        for (text, expected) in [
            ("sch_tdma:", "'sch_tdma:': no function glob"),
            (
                ":tdma_*",
                "':tdma_*': '' is not a module name (MODULE:GLOB)",
            ),
            ("a/b:x", "'a/b:x': 'a/b' is not a module name (MODULE:GLOB)"),
        ] {
            assert_eq!(FuncPattern::parse(text).unwrap_err(), expected);
        }
        let unclosed = FuncPattern::parse("m:[bad").unwrap_err();
        assert!(unclosed.starts_with("'m:[bad': "), "{unclosed}");
    }
}
