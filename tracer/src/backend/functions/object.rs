//! The function-probe object, parsed, given its maps and relocated once per
//! trace; its programs are then loaded as often as needed, each load only
//! a system call with the same instructions (the verifier's run is the
//! part that cannot be shared). aya loads a program once per object, so
//! this stays at aya-obj's level: parse, relocate, and the bpf(2) calls of
//! `bpf_sys`.

use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow};
use aya::maps::MapData;
use aya_obj::EbpfSectionKind;
use aya_obj::generated::bpf_insn;
use formats::abi::FuncInfo;

use crate::bpf_sys::{self, LoadError, ProgKind};
use crate::pins::{PinDir, SHARED_MAPS};

/// The function-probe BPF object built by build.rs.
static FN_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/pkttrace-fn"));

/// The object's map of functions, by address.
const FUNCS: &str = "FUNCS";
/// The object's switch that lets the probes emit.
const ARMED: &str = "ARMED";

/// What the object is made with: the globals it shares with the
/// tracepoint object and where that object's maps are pinned.
pub struct ObjectSpec<'a> {
    /// The `OFFSETS` and `CONFIG` globals' bytes, as the tracepoint object
    /// has them.
    pub offsets: &'a [u8],
    pub config: &'a [u8],
    pub pins: &'a PinDir,
    /// Entries of `FUNCS`: the probed functions' addresses.
    pub functions: u32,
}

/// Where a function's skb, socket and `nf_hook_state` arguments are (or
/// `NO_ARG`): the read-only globals a program is relocated with. The
/// verifier knows them as constants and skips what a layout cannot reach;
/// positions read only at run time multiplied the states it walks (past
/// its million-instruction limit on Linux 6.1 with a long filter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    pub skb: u32,
    pub sock: u32,
    pub nf_state: u32,
}

/// The object's programs relocated for one layout, and its read-only
/// globals' map.
struct Variant {
    programs: HashMap<String, Vec<bpf_insn>>,
    _rodata: MapData,
}

/// The parsed object and the maps every variant shares.
pub struct FnObject {
    /// With `OFFSETS` and `CONFIG` set; cloned and relocated per layout.
    parsed: aya_obj::Object,
    /// Every map but the read-only globals, by name.
    maps: HashMap<String, MapData>,
    variants: Mutex<HashMap<Layout, Arc<Variant>>>,
    license: CString,
}

impl FnObject {
    pub fn create(spec: &ObjectSpec<'_>) -> Result<FnObject> {
        let mut parsed = aya_obj::Object::parse(FN_OBJECT).context("parsing the probe object")?;
        parsed
            .patch_map_data(HashMap::from([
                ("OFFSETS", (spec.offsets, true)),
                ("CONFIG", (spec.config, true)),
            ]))
            .context("setting the probe object's globals")?;
        let mut maps = HashMap::new();
        for (name, def) in &parsed.maps {
            if def.section_kind() == EbpfSectionKind::Rodata {
                continue;
            }
            let data = if SHARED_MAPS.contains(&name.as_str()) {
                MapData::from_pin(spec.pins.path_of(name))
                    .with_context(|| format!("opening the shared map {name}"))?
            } else {
                let mut def = def.clone();
                if name == FUNCS {
                    def.set_max_entries(spec.functions.max(1));
                }
                private_map(name, &def)?
            };
            maps.insert(name.clone(), data);
        }
        for wanted in [FUNCS, ARMED] {
            if !maps.contains_key(wanted) {
                return Err(anyhow!("map {wanted} missing from the probe object"));
            }
        }
        let license = parsed
            .programs
            .values()
            .next()
            .context("the probe object has no programs")?
            .license
            .clone();
        Ok(FnObject {
            parsed,
            maps,
            variants: Mutex::new(HashMap::new()),
            license,
        })
    }

    /// The object relocated for `layout`, made on first use.
    fn variant(&self, layout: Layout) -> Result<Arc<Variant>> {
        let mut variants = self.variants.lock().expect("no panics while held");
        if let Some(v) = variants.get(&layout) {
            return Ok(Arc::clone(v));
        }
        let mut obj = self.parsed.clone();
        let (skb, sock, nf_state) = (
            layout.skb.to_ne_bytes(),
            layout.sock.to_ne_bytes(),
            layout.nf_state.to_ne_bytes(),
        );
        obj.patch_map_data(HashMap::from([
            ("SKB_ARG", (&skb[..], true)),
            ("SOCK_ARG", (&sock[..], true)),
            ("NF_STATE_ARG", (&nf_state[..], true)),
        ]))
        .context("setting the argument layout")?;
        let defs: Vec<(String, aya_obj::Map)> = obj.maps.drain().collect();
        let (rodata_name, rodata_def) = defs
            .iter()
            .find(|(_, def)| def.section_kind() == EbpfSectionKind::Rodata)
            .context("the probe object has no read-only globals")?;
        let rodata = private_map(rodata_name, rodata_def)?;
        let fd_of = |name: &str| {
            if name == rodata_name {
                rodata.fd().as_fd().as_raw_fd()
            } else {
                self.maps[name].fd().as_fd().as_raw_fd()
            }
        };
        let text_sections: HashSet<usize> = obj.functions.keys().map(|&(s, _)| s).collect();
        obj.relocate_maps(
            defs.iter()
                .map(|(name, def)| (name.as_str(), fd_of(name), def)),
            &text_sections,
        )
        .context("relocating the probe object's maps")?;
        obj.relocate_calls(&text_sections)
            .context("relocating the probe object's calls")?;
        let mut programs = HashMap::new();
        for (name, program) in &obj.programs {
            let function = obj
                .functions
                .get(&program.function_key())
                .with_context(|| format!("program {name} has no code"))?;
            programs.insert(name.clone(), function.instructions.clone());
        }
        let variant = Arc::new(Variant {
            programs,
            _rodata: rodata,
        });
        variants.insert(layout, Arc::clone(&variant));
        Ok(variant)
    }

    /// Loads program `name` relocated for `layout`, as `kind`.
    pub fn load(
        &self,
        layout: Layout,
        name: &str,
        kind: ProgKind<'_>,
    ) -> Result<OwnedFd, LoadError> {
        let variant = self.variant(layout).map_err(|e| LoadError {
            error: std::io::Error::other(format!("{e:#}")),
            verifier_log: String::new(),
        })?;
        let insns = variant.programs.get(name).ok_or_else(|| LoadError {
            error: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("program {name} missing from the probe object"),
            ),
            verifier_log: String::new(),
        })?;
        bpf_sys::prog_load(name, insns, &self.license, kind)
    }

    /// Tells the programs about a function at `address`.
    pub fn add_function(&self, address: u64, info: &FuncInfo) -> Result<()> {
        // SAFETY: FuncInfo is repr(C) plain data without padding holes
        // (its padding is an explicit field).
        let value = unsafe {
            std::slice::from_raw_parts(
                (info as *const FuncInfo).cast::<u8>(),
                size_of::<FuncInfo>(),
            )
        };
        bpf_sys::map_update(self.maps[FUNCS].fd().as_fd(), &address.to_ne_bytes(), value)
            .with_context(|| format!("adding the function at {address:#x} to {FUNCS}"))
    }

    /// Lets every attached probe emit.
    pub fn arm(&self) -> Result<()> {
        bpf_sys::map_update(
            self.maps[ARMED].fd().as_fd(),
            &0u32.to_ne_bytes(),
            &1u32.to_ne_bytes(),
        )
        .context("arming the function probes")
    }
}

/// Creates a map of this object only; global data sections get their
/// initial contents, read-only ones are then frozen (the verifier reads a
/// frozen global's values as constants).
fn private_map(name: &str, def: &aya_obj::Map) -> Result<MapData> {
    let map = MapData::create(def.clone(), name, None)
        .with_context(|| format!("creating the probe object's map {name}"))?;
    let data = def.data();
    if !data.is_empty() {
        if data.len() != def.value_size() as usize {
            return Err(anyhow!(
                "map {name}: {} bytes of data for {}-byte values",
                data.len(),
                def.value_size()
            ));
        }
        bpf_sys::map_update(map.fd().as_fd(), &0u32.to_ne_bytes(), data)
            .with_context(|| format!("writing the globals of {name}"))?;
    }
    if def.section_kind() == EbpfSectionKind::Rodata {
        bpf_sys::map_freeze(map.fd().as_fd()).with_context(|| format!("freezing {name}"))?;
    }
    Ok(map)
}
