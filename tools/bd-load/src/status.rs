//! `bd-load status`: what is attached (from the link pins), the maps, the
//! counters in bd_stats and the kernel features found. Reads pins only.

use crate::objects::{programs, OBJECTS};
use crate::probe::{self, Features};
use aya::maps::MapData;
use aya::programs::links::FdLink;
use aya::programs::links::PinnedLink;
use boundary::event::*;
use boundary::pin;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Serialize)]
pub struct ProgStatus {
    pub object: String,
    pub program: String,
    pub section: String,
    pub attached: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prog_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_type: Option<String>,
    /// Kernel run statistics; they only count while the sysctl
    /// kernel.bpf_stats_enabled is 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_time_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct MapStatus {
    pub name: String,
    pub map_type: String,
    pub max_entries: u32,
    /// Keys present, for hash maps (walked; our maps are small).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Counters {
    pub exec: u64,
    pub exec_lost: u64,
    pub deny: u64,
    pub deny_lost: u64,
    pub denied: u64,
    /// Denials by hook name (`hook_<n>` for a number this build does not
    /// name), from the kernel's per-hook counters; absent when the pinned
    /// maps predate them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denied_by_hook: Option<std::collections::BTreeMap<String, u64>>,
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub v: u32,
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub time: String,
    pub pin_dir: String,
    pub loaded: bool,
    pub features: Features,
    pub programs: Vec<ProgStatus>,
    pub maps: Vec<MapStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counters: Option<Counters>,
    /// Each shield against root and whether all its programs are attached.
    pub shields: Vec<Shield>,
    /// The sealed configuration; absent when the seal map is not pinned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seal: Option<SealStatus>,
    /// Tracing-type BPF programs loaded that are not this pin dir's.
    pub foreign_tracing: Vec<ForeignTracer>,
    /// Why the programs could not be listed (then `foreign_tracing` is
    /// empty and says nothing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub foreign_tracing_error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SealStatus {
    /// bd-load has recorded a seal (bd-lock then checks what it trusts).
    pub recorded: bool,
    /// Sealed files and directories in the record.
    pub sealed: usize,
    /// Ancestor directories guarded against mounts.
    pub guards: usize,
    /// Each path asked about (--seal) and whether its inode is sealed now.
    pub paths: Vec<SealPath>,
}

#[derive(Debug, Serialize)]
pub struct SealPath {
    pub path: String,
    pub sealed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The seal record and, for each of `paths`, whether it is in it.
pub fn seal_status(pin_dir: &Path, paths: &[std::path::PathBuf]) -> Option<SealStatus> {
    use boundary::seal::{key_of, Seal, SEAL_FILE};
    let seal = Seal::open(pin_dir).ok()??;
    let (sealed, guards) = seal.counts();
    let paths = paths
        .iter()
        .map(|p| match std::fs::metadata(p) {
            Ok(md) => SealPath {
                path: p.display().to_string(),
                sealed: seal.flags(&key_of(&md)) & SEAL_FILE != 0,
                error: None,
            },
            Err(e) => SealPath {
                path: p.display().to_string(),
                sealed: false,
                error: Some(e.to_string()),
            },
        })
        .collect();
    Some(SealStatus {
        recorded: seal.recorded(),
        sealed,
        guards,
        paths,
    })
}

#[derive(Debug, Serialize)]
pub struct Shield {
    pub name: &'static str,
    pub active: bool,
    /// `<object>-<program>` not attached.
    pub missing: Vec<String>,
}

/// The shields (SECURITY.md, channel table) and the programs each needs.
pub const SHIELDS: &[(&str, &str, &[&str])] = &[
    (
        "process memory, environment and ptrace",
        "lsm_file_protect",
        &[
            "ptrace_access_check",
            "ptrace_traceme",
            "prot_fork",
            "prot_exit",
        ],
    ),
    ("protected files", "lsm_file_protect", &["file_open"]),
    // sg/bsg/nvme passthrough nodes while a file is protected (SECURITY.md channel 7).
    (
        "storage passthrough",
        "lsm_file_protect",
        &["file_open", "passthrough_ioctl", "passthrough_uring_cmd"],
    ),
    (
        "core dumps",
        "lsm_file_protect",
        &["task_setrlimit", "task_kill"],
    ),
    ("perf sampling", "lsm_file_protect", &["perf_event_alloc"]),
    ("kcore and /dev/mem", "lsm_file_protect", &["locked_down"]),
    // tracefs dynamic events (file_open), kprobe events and bpf_probe_read_kernel
    // (locked_down), BPF tracing program loads (bpf_trace_load) and attaches
    // (bpf_trace_attach, perf_set_bpf_ioctl; the compat ioctl hook is absent
    // before 6.8, when file_ioctl sees those calls too).
    (
        "kernel tracing",
        "lsm_file_protect",
        &[
            "file_open",
            "locked_down",
            "bpf_trace_load",
            "bpf_trace_attach",
            "perf_set_bpf_ioctl",
        ],
    ),
    (
        "self-protection",
        "self_protect",
        &[
            "bd_self_map",
            "bd_self_prog",
            "bd_self_bpf",
            "bd_self_unlink",
            "bd_self_rmdir",
            "bd_self_rename",
            "bd_self_umount",
            "bd_self_open",
        ],
    ),
    (
        "sealed configuration above OPEN",
        "self_protect",
        &[
            "bd_self_open",
            "bd_self_truncate",
            "bd_seal_chmod",
            "bd_seal_chown",
            "bd_seal_setxattr",
            "bd_seal_removexattr",
            "bd_seal_create",
            "bd_seal_mkdir",
            "bd_seal_mknod",
            "bd_seal_symlink",
            "bd_seal_link",
            "bd_self_unlink",
            "bd_self_rmdir",
            "bd_self_rename",
            "bd_seal_sb_mount",
            "bd_seal_move_mount",
        ],
    ),
    (
        "COLDROOM: no modules, kexec or foreign BPF",
        "self_protect",
        &["bd_kernel_read_file", "bd_kernel_load_data", "bd_self_bpf"],
    ),
];

fn shields(progs: &[ProgStatus]) -> Vec<Shield> {
    SHIELDS
        .iter()
        .map(|(name, obj, needs)| {
            let missing: Vec<String> = needs
                .iter()
                .filter(|n| {
                    !progs
                        .iter()
                        .any(|p| p.object == *obj && p.program == **n && p.attached)
                })
                .map(|n| format!("{obj}-{n}"))
                .collect();
            Shield {
                name,
                active: missing.is_empty(),
                missing,
            }
        })
        .collect()
}

fn link_status(path: &Path) -> Result<(u32, u32, String), String> {
    let link = PinnedLink::from_pin(path).map_err(|e| e.to_string())?;
    let fd: FdLink = link.into();
    let info = fd.info().map_err(|e| e.to_string())?;
    let t = info
        .link_type()
        .map(|t| format!("{t:?}"))
        .unwrap_or_else(|e| e.to_string());
    Ok((info.id(), info.program_id(), t))
}

fn map_status(name: &str, data: Result<MapData, pin::PinError>) -> MapStatus {
    let mut s = MapStatus {
        name: name.to_owned(),
        map_type: String::new(),
        max_entries: 0,
        entries: None,
        error: None,
    };
    let data = match data {
        Ok(d) => d,
        Err(e) => {
            s.error = Some(e.to_string());
            return s;
        }
    };
    match data.info() {
        Ok(info) => {
            s.max_entries = info.max_entries();
            let t = info.map_type();
            s.map_type = t
                .as_ref()
                .map(|t| format!("{t:?}"))
                .unwrap_or_else(|e| e.to_string());
            if matches!(
                t,
                Ok(aya::maps::MapType::Hash
                    | aya::maps::MapType::LruHash
                    | aya::maps::MapType::PerCpuHash
                    | aya::maps::MapType::LruPerCpuHash)
            ) {
                match pin::count_keys(&data) {
                    Ok(n) => s.entries = Some(n),
                    Err(e) => s.error = Some(e.to_string()),
                }
            }
        }
        Err(e) => s.error = Some(e.to_string()),
    }
    s
}

pub fn status(pin_dir: &Path) -> anyhow::Result<Status> {
    probe::require_privilege("reading the pinned BPF objects")?;
    let features = probe::features(pin_dir);
    let runs: BTreeMap<u32, (u64, u64)> = aya::programs::loaded_programs()
        .flatten()
        .map(|p| (p.id(), (p.run_count(), p.run_time().as_nanos() as u64)))
        .collect();
    let mut progs = Vec::new();
    for (obj, bytes) in OBJECTS {
        for p in programs(bytes)? {
            let path = pin::link_path(pin_dir, obj, &p.name);
            let mut s = ProgStatus {
                object: obj.to_string(),
                program: p.name.clone(),
                section: p.section.clone(),
                attached: false,
                link_id: None,
                prog_id: None,
                link_type: None,
                run_count: None,
                run_time_ns: None,
                error: None,
            };
            if path.exists() {
                match link_status(&path) {
                    Ok((l, pr, t)) => {
                        s.attached = true;
                        s.link_id = Some(l);
                        s.prog_id = Some(pr);
                        s.link_type = Some(t);
                    }
                    Err(e) => s.error = Some(e),
                }
            }
            progs.push(s);
        }
    }
    // Pins from objects this binary does not embed (an older or newer bd-load).
    if let Ok(rd) = std::fs::read_dir(pin::links_dir(pin_dir)) {
        let mut extra: BTreeMap<String, ProgStatus> = BTreeMap::new();
        for ent in rd.flatten() {
            let name = ent.file_name().to_string_lossy().into_owned();
            if progs
                .iter()
                .any(|p| format!("{}-{}", p.object, p.program) == name)
            {
                continue;
            }
            let (object, program) = name.split_once('-').unwrap_or((&name, ""));
            let mut s = ProgStatus {
                object: object.to_owned(),
                program: program.to_owned(),
                section: String::new(),
                attached: false,
                link_id: None,
                prog_id: None,
                link_type: None,
                run_count: None,
                run_time_ns: None,
                error: Some("not built into this bd-load".into()),
            };
            if let Ok((l, pr, t)) = link_status(&ent.path()) {
                s.attached = true;
                s.link_id = Some(l);
                s.prog_id = Some(pr);
                s.link_type = Some(t);
            }
            extra.insert(name, s);
        }
        progs.extend(extra.into_values());
    }
    for p in &mut progs {
        if let Some((n, t)) = p.prog_id.and_then(|id| runs.get(&id)) {
            p.run_count = Some(*n);
            p.run_time_ns = Some(*t);
        }
    }

    let mut maps = Vec::new();
    if let Ok(rd) = std::fs::read_dir(pin::maps_dir(pin_dir)) {
        let mut names: Vec<String> = rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for n in names {
            maps.push(map_status(&n, pin::open_map(pin_dir, &n)));
        }
    }
    let counters = pin::read_stats(pin_dir).ok().map(|s| Counters {
        exec: s[BD_STAT_EXEC as usize],
        exec_lost: s[BD_STAT_EXEC_LOST as usize],
        deny: s[BD_STAT_DENY as usize],
        deny_lost: s[BD_STAT_DENY_LOST as usize],
        denied: s[BD_STAT_DENIED as usize],
        denied_by_hook: pin::read_deny_hooks(pin_dir).ok().map(|v| {
            v.into_iter()
                .map(|(h, n)| {
                    let name = boundary::event::hook_name(h)
                        .map_or_else(|| format!("hook_{h}"), str::to_owned);
                    (name, n)
                })
                .collect()
        }),
    });
    let (foreign_tracing, foreign_tracing_error) = match foreign_tracing(pin_dir) {
        Ok(l) => (l, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    Ok(Status {
        v: 1,
        type_: "load_status",
        time: boundary::time::now_rfc3339(),
        pin_dir: pin_dir.display().to_string(),
        loaded: progs.iter().any(|p| p.attached),
        features,
        shields: shields(&progs),
        programs: progs,
        maps,
        counters,
        seal: None,
        foreign_tracing,
        foreign_tracing_error,
    })
}

pub fn render_text(s: &Status) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let f = &s.features;
    let yn = |b: bool| if b { "yes" } else { "no" };
    let _ = writeln!(
        o,
        "pin dir: {} ({})",
        s.pin_dir,
        if s.loaded {
            "loaded"
        } else {
            "nothing attached"
        }
    );
    let _ = writeln!(
        o,
        "kernel: btf {}, ring buffer {}, bpffs {}, bpf-lsm active {}, loadable {} (lsm: {})",
        yn(f.btf),
        f.ringbuf.map(yn).unwrap_or("unknown"),
        yn(f.bpffs),
        yn(f.bpf_lsm),
        f.bpf_lsm_loadable.map(yn).unwrap_or("unknown"),
        f.lsms
            .as_ref()
            .map(|l| l.join(","))
            .unwrap_or_else(|| "unreadable".into())
    );
    let _ = writeln!(o, "shields:");
    for sh in &s.shields {
        if sh.active {
            let _ = writeln!(o, "  {:<44} active", sh.name);
        } else {
            let _ = writeln!(o, "  {:<44} MISSING: {}", sh.name, sh.missing.join(", "));
        }
    }
    let _ = writeln!(o, "programs:");
    for p in &s.programs {
        let state = if p.attached {
            format!(
                "attached (link {}, prog {}, {})",
                p.link_id.unwrap_or(0),
                p.prog_id.unwrap_or(0),
                p.link_type.as_deref().unwrap_or("?")
            )
        } else {
            "not attached".into()
        };
        let _ = writeln!(
            o,
            "  {:<38} {:<40} {}",
            format!("{}-{}", p.object, p.program),
            p.section,
            state
        );
        if let Some(e) = &p.error {
            let _ = writeln!(o, "      error: {e}");
        }
    }
    let _ = writeln!(o, "maps:");
    for m in &s.maps {
        let fill = m
            .entries
            .map(|n| format!(", {n} entries"))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "  {:<16} {:<14} max {}{}",
            m.name, m.map_type, m.max_entries, fill
        );
        if let Some(e) = &m.error {
            let _ = writeln!(o, "      error: {e}");
        }
    }
    if let Some(seal) = &s.seal {
        let _ = writeln!(
            o,
            "seal: {}, {} files and directories sealed above OPEN, {} directories guarded",
            if seal.recorded {
                "recorded"
            } else {
                "not recorded"
            },
            seal.sealed,
            seal.guards
        );
        for p in &seal.paths {
            let state = match &p.error {
                Some(e) => format!("NOT sealed ({e})"),
                None if p.sealed => "sealed".into(),
                None => "NOT sealed (not the inode recorded: changed since the load?)".into(),
            };
            let _ = writeln!(o, "  {:<44} {}", p.path, state);
        }
    }
    if let Some(e) = &s.foreign_tracing_error {
        let _ = writeln!(o, "foreign tracing programs: UNKNOWN ({e})");
    } else if s.foreign_tracing.is_empty() {
        let _ = writeln!(o, "foreign tracing programs: none");
    } else {
        let _ = writeln!(o, "foreign tracing programs:");
        for t in &s.foreign_tracing {
            let _ = writeln!(o, "  {}", foreign_line(t));
        }
    }
    if let Some(c) = &s.counters {
        let _ = writeln!(
            o,
            "counters: exec {} (lost {}), deny {} (lost {}), denied {}",
            c.exec, c.exec_lost, c.deny, c.deny_lost, c.denied
        );
    }
    o
}

/// A BPF program of a type that runs in other processes' context with the
/// tracing helpers (the types the `bpf_trace` rule refuses to load) that is
/// not one of boundary's programs under this pin dir: loaded before the
/// shield, or by an allowed process. The shield stops it from being
/// attached anew; one already attached keeps running.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ForeignTracer {
    pub prog_id: u32,
    pub prog_type: String,
    /// The name given at load (up to 15 bytes; empty when none was).
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// Links holding it attached (a perf event given it by
    /// `PERF_EVENT_IOC_SET_BPF` holds it without one).
    pub links: Vec<u32>,
}

/// uapi `bpf_prog_type` numbers the kernel rule names (bpf/lsm_file_protect.bpf.c,
/// prog_type_reads_others), with a name; types newer than 32 count too.
fn tracing_type_name(t: u32) -> Option<String> {
    Some(match t {
        2 => "kprobe".into(),
        5 => "tracepoint".into(),
        7 => "perf_event".into(),
        17 => "raw_tracepoint".into(),
        24 => "raw_tracepoint_writable".into(),
        26 => "tracing".into(),
        27 => "struct_ops".into(),
        28 => "ext".into(),
        29 => "lsm".into(),
        t if t > 32 => format!("type_{t}"),
        _ => return None,
    })
}

/// The program ids behind every link pinned under `pin_dir`: boundary's own.
pub fn own_prog_ids(pin_dir: &Path) -> std::collections::BTreeSet<u32> {
    std::fs::read_dir(pin::links_dir(pin_dir))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| link_status(&e.path()).ok().map(|(_, p, _)| p))
        .collect()
}

/// Every loaded tracing-type program that is not boundary's, with the
/// links holding it. Boundary's are the programs behind this pin dir's link
/// pins, and programs with the same tag (a hash of the instructions: the
/// same code, so boundary's own from another pin dir, e.g. a second set
/// loaded beside). Programs that go away while being listed are skipped; an
/// error listing them at all is returned (the caller says it could not look).
pub fn foreign_tracing(pin_dir: &Path) -> Result<Vec<ForeignTracer>, String> {
    let own = own_prog_ids(pin_dir);
    let mut all = Vec::new();
    for p in aya::programs::loaded_programs() {
        match p {
            Ok(p) => all.push(p),
            // Gone between the id walk and the fd: nothing left to report.
            Err(aya::programs::ProgramError::SyscallError(e))
                if e.io_error.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(format!("listing BPF programs: {e}")),
        }
    }
    let own_tags: std::collections::BTreeSet<u64> = all
        .iter()
        .filter(|p| own.contains(&p.id()))
        .map(|p| p.tag())
        .collect();
    let mut out: BTreeMap<u32, ForeignTracer> = BTreeMap::new();
    for p in all {
        let Some(ty) = tracing_type_name(p.program_type() as u32) else {
            continue;
        };
        if own.contains(&p.id()) || own_tags.contains(&p.tag()) {
            continue;
        }
        out.insert(
            p.id(),
            ForeignTracer {
                prog_id: p.id(),
                prog_type: ty,
                name: p.name_as_str().unwrap_or("").to_owned(),
                uid: p.created_by_uid(),
                links: Vec::new(),
            },
        );
    }
    for l in aya::programs::loaded_links().flatten() {
        if let Some(t) = out.get_mut(&l.program_id()) {
            t.links.push(l.id());
        }
    }
    Ok(out.into_values().collect())
}

/// One stderr line per foreign tracing program (load, protect, status).
pub fn report_foreign(list: &[ForeignTracer]) {
    for t in list {
        eprintln!("bd-load: {}", foreign_line(t));
    }
}

pub fn foreign_line(t: &ForeignTracer) -> String {
    format!(
        "foreign BPF tracing program id {} ({}, name {:?}, uid {}, links {:?}): loaded \
         before the shield or by an allowed process; it cannot be attached anew, but one \
         already attached keeps running and can read protected memory (bpftool prog show id {})",
        t.prog_id,
        t.prog_type,
        t.name,
        t.uid.map_or_else(|| "?".into(), |u| u.to_string()),
        t.links,
        t.prog_id
    )
}
