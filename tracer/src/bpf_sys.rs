//! The few `bpf(2)` and `perf_event_open(2)` calls aya does not offer:
//! loading one program many times with a different attach target (fentry
//! on module functions included), kprobes with an attach cookie, and
//! kprobe-multi links. Attributes are aya's bindings of the kernel's
//! `union bpf_attr`, zeroed, so fields a kernel lacks stay zero.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use aya_obj::generated::{
    BPF_F_KPROBE_MULTI_RETURN, PERF_FLAG_FD_CLOEXEC, bpf_attach_type, bpf_attr, bpf_btf_info,
    bpf_cmd, bpf_insn, bpf_prog_type, perf_event_attr,
};

/// Verifier log kept when a load fails: enough for its last lines.
const LOG_BYTES: usize = 1 << 20;

fn bpf(cmd: bpf_cmd, attr: &mut bpf_attr) -> io::Result<i64> {
    // SAFETY: `attr` is a valid, fully initialized bpf_attr of the size
    // passed; pointers inside it are set by the callers to memory that
    // outlives the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            attr as *mut bpf_attr,
            size_of::<bpf_attr>(),
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn bpf_fd(cmd: bpf_cmd, attr: &mut bpf_attr) -> io::Result<OwnedFd> {
    let fd = bpf(cmd, attr)?;
    // SAFETY: the command returns a new file descriptor we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn zeroed_attr() -> bpf_attr {
    // SAFETY: plain C data; all-zero is the "unset" value of every field.
    unsafe { std::mem::zeroed() }
}

/// What a program is loaded as.
#[derive(Clone, Copy, Debug)]
pub enum ProgKind<'a> {
    /// fentry or fexit on the function with this BTF id, in vmlinux or in
    /// the module whose BTF object is given.
    Trampoline {
        exit: bool,
        btf_id: u32,
        module_btf: Option<BorrowedFd<'a>>,
    },
    /// A kprobe or kretprobe, attached per function through perf events.
    Kprobe,
    /// A kprobe program for a kprobe-multi link.
    KprobeMulti,
}

/// A program load the kernel refused: its errno and the verifier's last
/// words.
#[derive(Debug)]
pub struct LoadError {
    pub error: io::Error,
    pub verifier_log: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the kernel refused the program: {}", self.error)?;
        if self.error.raw_os_error() == Some(524) {
            f.write_str(
                " (ENOTSUPP: this kernel's BPF trampoline cannot take this prototype, e.g. more than 6 arguments before Linux 6.5)",
            )?;
        }
        // The log ends with the instruction that failed and the verdict.
        let tail: Vec<&str> = self
            .verifier_log
            .lines()
            .filter(|l| !l.trim().is_empty())
            .rev()
            .take(2)
            .collect();
        if !tail.is_empty() {
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            write!(f, "; verifier: {}", tail.join(" / "))?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// Loads `insns` as a program of `kind`. The log is requested only after a
/// failure, in a second load: asking for it slows every load down.
pub fn prog_load(
    name: &str,
    insns: &[bpf_insn],
    license: &CStr,
    kind: ProgKind<'_>,
) -> Result<OwnedFd, LoadError> {
    let attempt = |log: Option<&mut Vec<u8>>| {
        let mut attr = zeroed_attr();
        // SAFETY: writing plain fields of the union member BPF_PROG_LOAD reads.
        let load = unsafe { &mut attr.__bindgen_anon_3 };
        load.insn_cnt = insns.len() as u32;
        load.insns = insns.as_ptr() as u64;
        load.license = license.as_ptr() as u64;
        for (dst, src) in load.prog_name.iter_mut().zip(name.bytes().take(15)) {
            *dst = src as libc::c_char;
        }
        match kind {
            ProgKind::Trampoline {
                exit,
                btf_id,
                module_btf,
            } => {
                load.prog_type = bpf_prog_type::BPF_PROG_TYPE_TRACING as u32;
                load.expected_attach_type = if exit {
                    bpf_attach_type::BPF_TRACE_FEXIT
                } else {
                    bpf_attach_type::BPF_TRACE_FENTRY
                } as u32;
                load.attach_btf_id = btf_id;
                if let Some(fd) = module_btf {
                    load.__bindgen_anon_1.attach_btf_obj_fd = fd.as_raw_fd() as u32;
                }
            }
            ProgKind::Kprobe => load.prog_type = bpf_prog_type::BPF_PROG_TYPE_KPROBE as u32,
            ProgKind::KprobeMulti => {
                load.prog_type = bpf_prog_type::BPF_PROG_TYPE_KPROBE as u32;
                load.expected_attach_type = bpf_attach_type::BPF_TRACE_KPROBE_MULTI as u32;
            }
        }
        if let Some(log) = log {
            load.log_level = 1;
            load.log_size = log.len() as u32;
            load.log_buf = log.as_mut_ptr() as u64;
        }
        bpf_fd(bpf_cmd::BPF_PROG_LOAD, &mut attr)
    };
    attempt(None).map_err(|error| {
        let mut log = vec![0u8; LOG_BYTES];
        let _ = attempt(Some(&mut log));
        let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
        LoadError {
            error,
            verifier_log: String::from_utf8_lossy(&log[..end]).into_owned(),
        }
    })
}

/// Attaches a loaded fentry/fexit program to the function it was loaded
/// for; the link lives as long as the returned descriptor.
pub fn attach_trampoline(prog: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let mut attr = zeroed_attr();
    // A null name means "the program's own attach target".
    attr.raw_tracepoint.prog_fd = prog.as_raw_fd() as u32;
    bpf_fd(bpf_cmd::BPF_RAW_TRACEPOINT_OPEN, &mut attr)
}

/// The kprobe PMU's type and the config bit that makes a kretprobe.
#[derive(Clone, Copy, Debug)]
pub struct KprobePmu {
    pub pmu_type: u32,
    pub retprobe_bit: u32,
}

impl KprobePmu {
    pub fn read() -> io::Result<KprobePmu> {
        let dir = std::path::Path::new("/sys/bus/event_source/devices/kprobe");
        let pmu_type = std::fs::read_to_string(dir.join("type"))?
            .trim()
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        // "config:0"
        let format = std::fs::read_to_string(dir.join("format/retprobe"))?;
        let retprobe_bit = format
            .trim()
            .strip_prefix("config:")
            .and_then(|b| b.parse().ok())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("kprobe retprobe format {format:?}"),
                )
            })?;
        Ok(KprobePmu {
            pmu_type,
            retprobe_bit,
        })
    }
}

/// Attaches a kprobe program to `symbol` (entry, or return with
/// `retprobe`) with `cookie` for `bpf_get_attach_cookie`. The link holds the
/// perf event, so only the link's descriptor is kept.
pub fn attach_kprobe(
    pmu: KprobePmu,
    prog: BorrowedFd<'_>,
    symbol: &str,
    retprobe: bool,
    cookie: u64,
) -> io::Result<OwnedFd> {
    let symbol = CString::new(symbol).map_err(io::Error::other)?;
    // SAFETY: plain C data; zero is "unset" for every field.
    let mut attr: perf_event_attr = unsafe { std::mem::zeroed() };
    attr.type_ = pmu.pmu_type;
    attr.size = size_of::<perf_event_attr>() as u32;
    if retprobe {
        attr.config = 1 << pmu.retprobe_bit;
    }
    attr.__bindgen_anon_3.kprobe_func = symbol.as_ptr() as u64;
    // SAFETY: a valid attribute whose symbol pointer outlives the call;
    // pid -1 with cpu 0 is how kprobe events are opened for every CPU.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const perf_event_attr,
            -1,
            0,
            -1,
            PERF_FLAG_FD_CLOEXEC as libc::c_long,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: perf_event_open returned a new descriptor we own.
    let perf = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let mut attr = zeroed_attr();
    // SAFETY: writing plain fields of BPF_LINK_CREATE's member.
    unsafe {
        let link = &mut attr.link_create;
        link.__bindgen_anon_1.prog_fd = prog.as_raw_fd() as u32;
        link.__bindgen_anon_2.target_fd = perf.as_raw_fd() as u32;
        link.attach_type = bpf_attach_type::BPF_PERF_EVENT as u32;
        link.__bindgen_anon_3.perf_event.bpf_cookie = cookie;
    }
    bpf_fd(bpf_cmd::BPF_LINK_CREATE, &mut attr)
}

/// Attaches a kprobe-multi program to every address at once, each with its
/// cookie (entries, or returns with `retprobe`).
pub fn attach_kprobe_multi(
    prog: BorrowedFd<'_>,
    addrs: &[u64],
    cookies: &[u64],
    retprobe: bool,
) -> io::Result<OwnedFd> {
    assert_eq!(addrs.len(), cookies.len());
    let mut attr = zeroed_attr();
    // SAFETY: writing plain fields of BPF_LINK_CREATE's member; the arrays
    // outlive the call.
    unsafe {
        let link = &mut attr.link_create;
        link.__bindgen_anon_1.prog_fd = prog.as_raw_fd() as u32;
        link.attach_type = bpf_attach_type::BPF_TRACE_KPROBE_MULTI as u32;
        let multi = &mut link.__bindgen_anon_3.kprobe_multi;
        multi.flags = if retprobe {
            BPF_F_KPROBE_MULTI_RETURN
        } else {
            0
        };
        multi.cnt = addrs.len() as u32;
        multi.addrs = addrs.as_ptr() as u64;
        multi.cookies = cookies.as_ptr() as u64;
    }
    bpf_fd(bpf_cmd::BPF_LINK_CREATE, &mut attr)
}

/// The BTF object of a loaded module, for fentry programs on its functions.
pub fn module_btf(module: &str) -> io::Result<OwnedFd> {
    let mut id = 0u32;
    loop {
        let mut attr = zeroed_attr();
        attr.__bindgen_anon_6.__bindgen_anon_1.start_id = id;
        match bpf(bpf_cmd::BPF_BTF_GET_NEXT_ID, &mut attr) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("module {module} has no BTF loaded in the kernel"),
                ));
            }
            Err(e) => return Err(e),
        }
        // SAFETY: the kernel wrote next_id into the same member.
        id = unsafe { attr.__bindgen_anon_6.next_id };
        let mut attr = zeroed_attr();
        attr.__bindgen_anon_6.__bindgen_anon_1.btf_id = id;
        let Ok(fd) = bpf_fd(bpf_cmd::BPF_BTF_GET_FD_BY_ID, &mut attr) else {
            // Freed meanwhile.
            continue;
        };
        if btf_name(fd.as_fd())? == module {
            return Ok(fd);
        }
    }
}

fn btf_name(btf: BorrowedFd<'_>) -> io::Result<String> {
    let mut name = [0u8; 64];
    // SAFETY: plain C data.
    let mut info: bpf_btf_info = unsafe { std::mem::zeroed() };
    info.name = name.as_mut_ptr() as u64;
    info.name_len = name.len() as u32;
    let mut attr = zeroed_attr();
    attr.info.bpf_fd = btf.as_raw_fd() as u32;
    attr.info.info_len = size_of::<bpf_btf_info>() as u32;
    attr.info.info = &mut info as *mut bpf_btf_info as u64;
    bpf(bpf_cmd::BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    Ok(String::from_utf8_lossy(&name[..end]).into_owned())
}

/// Makes a map read-only to programs' writers from now on: the verifier
/// then knows a read-only global's values as constants.
pub fn map_freeze(map: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr = zeroed_attr();
    attr.__bindgen_anon_2.map_fd = map.as_raw_fd() as u32;
    bpf(bpf_cmd::BPF_MAP_FREEZE, &mut attr).map(|_| ())
}

/// Writes `value` at `key` of a map (array or hash).
pub fn map_update(map: BorrowedFd<'_>, key: &[u8], value: &[u8]) -> io::Result<()> {
    let mut attr = zeroed_attr();
    // SAFETY: writing plain fields of BPF_MAP_UPDATE_ELEM's member; the key
    // and value buffers outlive the call and have the map's sizes (the
    // callers' responsibility, checked by the kernel against its sizes only
    // through the copy lengths it uses).
    unsafe {
        let elem = &mut attr.__bindgen_anon_2;
        elem.map_fd = map.as_raw_fd() as u32;
        elem.key = key.as_ptr() as u64;
        elem.__bindgen_anon_1.value = value.as_ptr() as u64;
    }
    bpf(bpf_cmd::BPF_MAP_UPDATE_ELEM, &mut attr).map(|_| ())
}
