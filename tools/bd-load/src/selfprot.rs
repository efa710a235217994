//! Self-protection bookkeeping: after every load, record which executables
//! are boundary's own and which kernel objects and pin directories belong to
//! it (bpf/self.h), and gate `bd-load unload` on the mode.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use aya::maps::{HashMap, Map, MapData};
use boundary::event::BdFileKey;
use boundary::pin;
use boundary::protect::kernel_dev;

use crate::{exit, fail};

/// The binaries that make up boundary, looked for beside the running bd-load.
pub const BINARIES: &[&str] = &[
    "bd-load",
    "bd-lock",
    "bd-watch",
    "bd-policy",
    "bd-inject",
    "bd-log",
];

pub const SELF_EXES: &str = "bd_self_exes";
pub const SELF_IDS: &str = "bd_self_ids";
pub const SELF_DIRS: &str = "bd_self_dirs";
pub const SELF_LIBS: &str = "bd_self_libs";

const KIND_MAP: u32 = 1;
const KIND_PROG: u32 = 2;
const KIND_LINK: u32 = 3;

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SelfKey {
    kind: u32,
    id: u32,
}

// SAFETY: two u32, no padding, every bit pattern valid.
unsafe impl aya::Pod for SelfKey {}

/// What was recorded, for the load report.
#[derive(Debug, Default, serde::Serialize)]
pub struct Recorded {
    pub exes: Vec<PathBuf>,
    pub libs: Vec<PathBuf>,
    pub maps: usize,
    pub progs: usize,
    pub links: usize,
    pub dirs: usize,
}

/// True when the self-protection maps exist (self_protect loaded once).
pub fn pinned(pin_dir: &Path) -> bool {
    [SELF_EXES, SELF_IDS, SELF_DIRS, SELF_LIBS]
        .iter()
        .all(|m| pin::map_path(pin_dir, m).exists())
}

fn hash<K: aya::Pod>(pin_dir: &Path, name: &str) -> anyhow::Result<HashMap<MapData, K, u32>> {
    let data = pin::open_map(pin_dir, name)?;
    HashMap::try_from(Map::HashMap(data))
        .with_context(|| format!("{}", pin::map_path(pin_dir, name).display()))
}

fn file_key(md: &std::fs::Metadata) -> BdFileKey {
    BdFileKey {
        dev: kernel_dev(md.dev()),
        ino: md.ino(),
    }
}

/// bpf(2) BPF_OBJ_GET on a pin, then BPF_OBJ_GET_INFO_BY_FD: the first
/// fields of bpf_map_info and bpf_link_info are (type, id), and
/// bpf_link_info's third is prog_id.
fn pinned_ids(path: &Path) -> anyhow::Result<(u32, u32)> {
    boundary::pin::pinned_ids(path).with_context(|| path.display().to_string())
}

fn entries(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut v = Vec::new();
    if !dir.exists() {
        return Ok(v);
    }
    for e in std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))? {
        v.push(e.with_context(|| format!("{}", dir.display()))?.path());
    }
    v.sort();
    Ok(v)
}

/// Give `path` (by its inode, `key`) boundary's trust in `map`. Already
/// there: nothing to do. New, outside OPEN: refused (exit MODE), because
/// trust follows the inode, and a binary or library replaced by another
/// file, then recorded by a re-run of `bd-load load`, would inherit it.
fn trust(
    map: &mut HashMap<MapData, BdFileKey, u32>,
    key: BdFileKey,
    path: &Path,
    what: &str,
    closed: Option<&str>,
) -> anyhow::Result<()> {
    if map.get(&key, 0).is_ok() {
        return Ok(());
    }
    if let Some(why) = closed {
        return Err(fail(
            exit::MODE,
            format!(
                "{}: refusing to record it as one of boundary's own {what}: {why}; a new file \
                 (a replaced or upgraded one) is recorded only in mode OPEN \
                 (leave tighter modes with `bd-lock release --token FILE`, then run bd-load again)",
                path.display()
            ),
        ));
    }
    map.insert(key, 1, 0)
        .with_context(|| format!("recording {}", path.display()))
}

/// Record boundary's executables, the libraries they map, kernel objects
/// and pin directories. The executables go first: once an id is recorded,
/// only they may touch it.
pub fn record(pin_dir: &Path) -> anyhow::Result<Option<Recorded>> {
    if !pinned(pin_dir) {
        return Ok(None);
    }
    let closed = not_open(pin_dir);
    let mut rec = Recorded::default();
    let me = std::fs::read_link("/proc/self/exe").context("reading /proc/self/exe")?;
    let bindir = me.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut exes: HashMap<MapData, BdFileKey, u32> = hash(pin_dir, SELF_EXES)?;
    let mut found = Vec::new();
    for name in BINARIES {
        let p = bindir.join(name);
        let Ok(md) = std::fs::metadata(&p) else {
            continue;
        };
        trust(
            &mut exes,
            file_key(&md),
            &p,
            "executables",
            closed.as_deref(),
        )?;
        found.push(p.clone());
        rec.exes.push(p);
    }
    // Running from somewhere that is not the install dir: still trust ourselves.
    let md = std::fs::metadata("/proc/self/exe").context("stat /proc/self/exe")?;
    trust(
        &mut exes,
        file_key(&md),
        Path::new("/proc/self/exe"),
        "executables",
        closed.as_deref(),
    )?;
    found.push(me);

    // What the dynamic linker maps for each of them (nothing for a static
    // build); the { 0, 0 } mark last, once the set is complete, arms the
    // check (bpf/self.h).
    let mut libs: HashMap<MapData, BdFileKey, u32> = hash(pin_dir, SELF_LIBS)?;
    for exe in &found {
        for lib in boundary::elf::needed_libs(exe)? {
            if rec.libs.contains(&lib) {
                continue;
            }
            let md = std::fs::metadata(&lib).with_context(|| format!("{}", lib.display()))?;
            trust(
                &mut libs,
                file_key(&md),
                &lib,
                "libraries",
                closed.as_deref(),
            )?;
            rec.libs.push(lib);
        }
    }
    libs.insert(BdFileKey { dev: 0, ino: 0 }, 1, 0)
        .context("recording the library set")?;

    let mut ids: HashMap<MapData, SelfKey, u32> = hash(pin_dir, SELF_IDS)?;
    for p in entries(&pin::maps_dir(pin_dir))? {
        let (id, _) = pinned_ids(&p)?;
        ids.insert(SelfKey { kind: KIND_MAP, id }, 1, 0)
            .with_context(|| format!("recording {}", p.display()))?;
        rec.maps += 1;
    }
    for p in entries(&pin::links_dir(pin_dir))? {
        let (id, prog) = pinned_ids(&p)?;
        ids.insert(
            SelfKey {
                kind: KIND_LINK,
                id,
            },
            1,
            0,
        )
        .with_context(|| format!("recording {}", p.display()))?;
        ids.insert(
            SelfKey {
                kind: KIND_PROG,
                id: prog,
            },
            1,
            0,
        )
        .with_context(|| format!("recording {}", p.display()))?;
        rec.links += 1;
        rec.progs += 1;
    }

    let mut dirs: HashMap<MapData, BdFileKey, u32> = hash(pin_dir, SELF_DIRS)?;
    for d in [
        pin_dir.to_path_buf(),
        pin::maps_dir(pin_dir),
        pin::links_dir(pin_dir),
    ] {
        let md = std::fs::metadata(&d).with_context(|| format!("{}", d.display()))?;
        dirs.insert(file_key(&md), 1, 0)
            .with_context(|| format!("recording {}", d.display()))?;
        // ino 0: the filesystem itself, for sb_umount.
        let fs = BdFileKey {
            dev: kernel_dev(md.dev()),
            ino: 0,
        };
        dirs.insert(fs, 1, 0)
            .with_context(|| format!("recording {}", d.display()))?;
        rec.dirs += 1;
    }
    Ok(Some(rec))
}

/// Loosening changes (`unload`, `unprotect`, `allow`, a looser
/// `lsm-config`) only in OPEN: every tighter mode is left through bd-lock's
/// ceremony, and these would drop shields without one. bd-load is one of
/// boundary's own binaries, so self-protection lets it through: this check
/// is what keeps root from using it as the side door. An unreadable or
/// unknown mode, or a lapsed dead-man switch, refuses.
pub fn require_open(pin_dir: &Path, what: &str) -> anyhow::Result<()> {
    match not_open(pin_dir) {
        None => Ok(()),
        Some(why) => Err(fail(
            exit::MODE,
            format!(
                "{}: refusing to {what}: {why}; this is allowed only in mode OPEN \
                 (leave tighter modes with bd-lock's release token: `bd-lock release --token FILE`)",
                pin_dir.display()
            ),
        )),
    }
}

/// None in mode OPEN (or with no mode machinery loaded), else why not.
fn not_open(pin_dir: &Path) -> Option<String> {
    let map = match boundary::mode::ModeMap::open(pin_dir) {
        Ok(Some(m)) => m,
        Ok(None) => return None, // no mode map: nothing of the mode machinery is loaded
        Err(e) => return Some(format!("cannot open the mode map ({e:#})")),
    };
    let st = match map.read() {
        Ok(st) => st,
        Err(e) => return Some(format!("cannot read the mode map ({e:#})")),
    };
    if st.heartbeat_deadline_ns != 0 && boundary::mode::monotonic_ns() > st.heartbeat_deadline_ns {
        return Some("the dead-man switch has lapsed (effective mode LOCKDOWN)".into());
    }
    match boundary::mode::Mode::from_u32(st.mode) {
        Some(boundary::mode::Mode::Open) => None,
        Some(m) => Some(format!("the mode is {}", m.as_str())),
        None => Some(format!("unknown mode value {}", st.mode)),
    }
}

/// What `record_seal` did, for the load report.
#[derive(Debug, Default)]
pub struct SealReport {
    /// Sealed inodes and guarded ancestor directories now in the record.
    pub sealed: usize,
    pub guards: usize,
    /// False above OPEN: the record was left as it was.
    pub recorded: bool,
}

/// Record the sealed configuration (bd_seal) for `roots`, in OPEN only:
/// above OPEN the kernel holds the sealed files unchanged and the record
/// stays as it is, so root cannot re-record a forged operators.d by running
/// bd-load. None when self_protect's seal map is not pinned (no BPF-LSM).
pub fn record_seal(pin_dir: &Path, roots: &[PathBuf]) -> anyhow::Result<Option<SealReport>> {
    let Some(mut seal) = boundary::seal::Seal::open(pin_dir)? else {
        return Ok(None);
    };
    let (entries, missing) = boundary::seal::walk(roots)?;
    if let Some(why) = not_open(pin_dir) {
        // A file in a sealed directory is covered through its parent (the
        // kernel checks it), so state.json, a new inode after every
        // transition, is not news.
        let covered = |e: &boundary::seal::Entry| {
            !e.dir
                && e.path
                    .parent()
                    .and_then(|p| std::fs::symlink_metadata(p).ok())
                    .is_some_and(|md| {
                        seal.flags(&boundary::seal::key_of(&md)) & boundary::seal::SEAL_FILE != 0
                    })
        };
        let stale: Vec<&boundary::seal::Entry> = entries
            .iter()
            .filter(|e| seal.flags(&e.key) & e.flags != e.flags && !covered(e))
            .collect();
        if let Some(e) = stale.first() {
            eprintln!(
                "bd-load: seal: {} (and {} more) is not in the sealed record, which is kept as \
                 it is because {why}; bd-lock refuses a ceremony that reads a file outside it \
                 (record again in mode OPEN)",
                e.path.display(),
                stale.len() - 1
            );
        }
        let (sealed, guards) = seal.counts();
        return Ok(Some(SealReport {
            sealed,
            guards,
            recorded: false,
        }));
    }
    for m in &missing {
        eprintln!(
            "bd-load: seal: {}: missing, so not sealed (root could create it above OPEN); \
             create it, even empty, and run bd-load again",
            m.display()
        );
    }
    for e in entries
        .iter()
        .filter(|e| !e.dir && e.flags & boundary::seal::SEAL_FILE != 0 && e.nlink > 1)
    {
        eprintln!(
            "bd-load: seal: {}: {} hard links; a link made before this load outside the \
             sealed directory keeps its name there (the inode itself is sealed)",
            e.path.display(),
            e.nlink
        );
    }
    seal.replace(&entries)?;
    let (sealed, guards) = seal.counts();
    Ok(Some(SealReport {
        sealed,
        guards,
        recorded: true,
    }))
}
