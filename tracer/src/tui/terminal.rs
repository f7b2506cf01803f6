//! Taking the terminal and giving it back on every exit path: normal
//! return, error (`Drop`), and panic (hook). While the screen is ours,
//! stderr goes to a file and is printed once the terminal is restored:
//! warnings from the tracing thread would otherwise scribble over the view.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicI32, Ordering};

use anyhow::{Context, Result};
use ratatui::DefaultTerminal;

/// The real stderr while it is redirected, for the panic hook; -1 otherwise.
static SAVED_STDERR: AtomicI32 = AtomicI32::new(-1);

pub struct Screen {
    pub terminal: DefaultTerminal,
    stderr: Option<Captured>,
}

/// stderr redirected into an unlinked temporary file.
struct Captured {
    saved: OwnedFd,
    file: File,
}

impl Screen {
    /// Alternate screen, raw mode, stderr captured, and a panic hook that
    /// puts stderr back and (through ratatui's hook) restores the terminal
    /// before the panic message is printed.
    pub fn take() -> Result<Screen> {
        let stderr = capture_stderr().context("redirecting stderr")?;
        let terminal = match ratatui::try_init() {
            Ok(terminal) => terminal,
            Err(e) => {
                release_stderr(stderr);
                return Err(e).context("entering the alternate screen");
            }
        };
        let restore_terminal = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let saved = SAVED_STDERR.swap(-1, Ordering::SeqCst);
            if saved >= 0 {
                // SAFETY: `saved` is the open duplicate of stderr owned by
                // `Captured`, alive until this swap's counterpart.
                unsafe { libc::dup2(saved, libc::STDERR_FILENO) };
            }
            restore_terminal(info);
        }));
        Ok(Screen {
            terminal,
            stderr: Some(stderr),
        })
    }

    /// Restores the terminal, then prints what went to stderr meanwhile.
    pub fn give_back(&mut self) {
        ratatui::restore();
        if let Some(stderr) = self.stderr.take() {
            release_stderr(stderr);
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        if self.stderr.is_some() {
            self.give_back();
        }
    }
}

fn capture_stderr() -> io::Result<Captured> {
    let path = std::env::temp_dir().join(format!("pkttrace-tui-stderr-{}", std::process::id()));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    // Unlinked at once: nothing is left behind, whatever happens.
    std::fs::remove_file(&path)?;
    // SAFETY: dup of an open descriptor; the result is checked.
    let saved = unsafe { libc::dup(libc::STDERR_FILENO) };
    if saved < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `saved` is a fresh descriptor owned by nobody else.
    let saved = unsafe { OwnedFd::from_raw_fd(saved) };
    // SAFETY: both descriptors are open.
    if unsafe { libc::dup2(file.as_raw_fd(), libc::STDERR_FILENO) } < 0 {
        return Err(io::Error::last_os_error());
    }
    SAVED_STDERR.store(saved.as_raw_fd(), Ordering::SeqCst);
    Ok(Captured { saved, file })
}

/// Puts stderr back and copies what was captured to it.
fn release_stderr(mut captured: Captured) {
    if SAVED_STDERR.swap(-1, Ordering::SeqCst) >= 0 {
        // SAFETY: both descriptors are open.
        unsafe { libc::dup2(captured.saved.as_raw_fd(), libc::STDERR_FILENO) };
    }
    if captured.file.seek(SeekFrom::Start(0)).is_ok() {
        let _ = io::copy(&mut captured.file, &mut io::stderr().lock());
    }
}
