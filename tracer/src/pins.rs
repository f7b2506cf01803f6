//! A private bpffs directory where the maps shared by all BPF objects of one
//! trace are pinned while the objects load (aya reuses a pinned map by path).
//! It is removed as soon as loading is done: from then on only this process's
//! file descriptors keep the maps alive, so nothing outlives it, `kill -9`
//! included. A directory left by a killed loader is removed at next start.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Maps every object of a trace shares (see tracer-ebpf/src/maps.rs).
pub const SHARED_MAPS: [&str; 7] = [
    "EVENTS",
    "COUNTERS",
    "TRACKED",
    "CPU_FRAMES",
    "TASK_FRAMES",
    "EMPTY_FRAMES",
    "STACKS",
];

const BPFFS: &str = "/sys/fs/bpf";
const PREFIX: &str = "pkttrace-";

pub struct PinDir {
    path: PathBuf,
}

impl PinDir {
    pub fn create() -> Result<PinDir> {
        ensure_bpffs()?;
        remove_stale();
        let path = Path::new(BPFFS).join(format!("{PREFIX}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(PinDir { path })
    }

    pub fn path_of(&self, map: &str) -> PathBuf {
        self.path.join(map)
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        // Unlinking pins only drops the bpffs references; the maps live on
        // while the loaded programs and this process hold them.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn ensure_bpffs() -> Result<()> {
    let mounted = std::fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| {
            let mut f = l.split_whitespace();
            f.nth(1) == Some(BPFFS) && f.next() == Some("bpf")
        });
    if mounted {
        return Ok(());
    }
    let c = |s: &str| std::ffi::CString::new(s).expect("no NUL");
    let (src, target, fstype) = (c("bpf"), c(BPFFS), c("bpf"));
    // SAFETY: valid C strings; no data argument.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context("mounting bpffs at /sys/fs/bpf");
    }
    Ok(())
}

/// Removes pin directories of pkttrace processes that no longer exist.
fn remove_stale() {
    let Ok(entries) = std::fs::read_dir(BPFFS) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|p| p.parse::<u32>().ok())
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
