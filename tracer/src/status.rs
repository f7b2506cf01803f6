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

    /// A progress bar of `total` steps on a terminal (and not `--quiet`);
    /// elsewhere nothing: the caller prints one summary line when done.
    pub fn progress(&self, what: &str, total: usize) -> Progress {
        let bar = (!self.quiet && std::io::stderr().is_terminal() && total > 0).then(|| {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(total as u64),
                indicatif::ProgressDrawTarget::stderr(),
            );
            let style = indicatif::ProgressStyle::with_template(
                "pkttrace: {msg} {wide_bar} {pos}/{len} {elapsed}",
            )
            .expect("a valid template");
            bar.set_style(if self.color {
                style
            } else {
                style.progress_chars("#>-")
            });
            bar.set_message(what.to_string());
            bar
        });
        Progress { bar }
    }

    fn line(&self, color: &str, msg: &str) {
        let reset = if color.is_empty() { "" } else { "\x1b[0m" };
        let _ = writeln!(std::io::stderr().lock(), "{color}pkttrace: {msg}{reset}");
    }
}

/// A progress bar, or nothing; cleared when dropped.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    /// Callable from any thread.
    pub fn set(&self, done: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
