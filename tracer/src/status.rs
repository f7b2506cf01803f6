//! Progress and status lines on stderr (data goes to stdout).

use std::io::{IsTerminal, Write};

/// Where status lines go and how they look.
#[derive(Clone, Copy, Debug)]
pub struct Status {
    quiet: bool,
    color: bool,
}

impl Status {
    /// Colors only on a terminal and only if `NO_COLOR` is unset or empty.
    pub fn new(quiet: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Status {
            quiet,
            color: !no_color && std::io::stderr().is_terminal(),
        }
    }

    pub fn info(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            self.line("", msg.as_ref());
        }
    }

    /// Output the user asked for on stderr (`--cost`): printed even with
    /// `--quiet`.
    pub fn report(&self, lines: &[String]) {
        for line in lines {
            self.line("", line);
        }
    }

    pub fn warn(&self, msg: impl AsRef<str>) {
        self.line(if self.color { "\x1b[33m" } else { "" }, msg.as_ref());
    }

    fn line(&self, color: &str, msg: &str) {
        let reset = if color.is_empty() { "" } else { "\x1b[0m" };
        let _ = writeln!(std::io::stderr().lock(), "{color}pkttrace: {msg}{reset}");
    }
}
