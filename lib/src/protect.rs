//! The BPF-LSM protection maps: protected pids, files and the allow list,
//! and the policy slot (`bd_lsm_cfg`), all pinned under `<pin>/maps/` by
//! `lsm_file_protect.bpf.o`.
//!
//! Files are keyed by the kernel's own device number. `stat()` reports
//! `st_dev` in the userspace encoding (glibc `makedev`, the kernel's
//! `new_encode_dev`), while `inode->i_sb->s_dev` holds the internal `MKDEV`
//! form, `major << 20 | minor`; [`kernel_dev`] converts one into the other.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use aya::maps::{Array, HashMap, Map, MapData, MapError};

use crate::event::{
    BdFileKey, BdLsmCfg, BD_LSM_BLOCK_ENVIRON, BD_LSM_BLOCK_MEM, BD_LSM_BLOCK_PTRACE,
};
use crate::pin::{map_path, open_map, PinError};

pub const PROT_PIDS: &str = "bd_prot_pids";
pub const ALLOW_PIDS: &str = "bd_allow_pids";
pub const PROT_FILES: &str = "bd_prot_files";
pub const LSM_CFG: &str = "bd_lsm_cfg";
pub const PROT_DEVS: &str = "bd_prot_devs";

/// `bd_prot_files` values: a file protected by name, and a file protected
/// because it holds a protected file's filesystem (a loop device's backing
/// image), rebuilt from the first kind on every change.
const FILE_EXPLICIT: u32 = 1;
const FILE_DERIVED: u32 = 2;

/// Every policy flag: what an unconfigured slot means.
pub const ALL_FLAGS: u32 = BD_LSM_BLOCK_ENVIRON | BD_LSM_BLOCK_MEM | BD_LSM_BLOCK_PTRACE;

#[derive(Debug, thiserror::Error)]
pub enum ProtectError {
    #[error(transparent)]
    Pin(#[from] PinError),
    #[error("{path}: {err}")]
    Map { path: PathBuf, err: MapError },
    #[error("{path}: {err}")]
    Stat { path: PathBuf, err: std::io::Error },
    #[error("pid {pid}: no such process")]
    NoProcess { pid: u32 },
    #[error("pid {pid}: setting RLIMIT_CORE to 1 (no core dumps): {err}")]
    CoreLimit { pid: u32, err: std::io::Error },
}

/// The `TracerPid` of `pid` from /proc/PID/status: 0 when nobody traces it,
/// `None` when it cannot be read (the process is gone).
pub fn tracer_pid(pid: u32) -> Option<u32> {
    use std::io::Read as _;
    // One read(2) of a page: TracerPid is the 8th line, well inside it, and
    // bd-inject checks it up to three times on its way to exec (read_to_string
    // would stat the file and take eight growing reads each time).
    let mut f = std::fs::File::open(format!("/proc/{pid}/status")).ok()?;
    let mut buf = [0u8; 4096];
    let n = loop {
        match f.read(&mut buf) {
            Ok(n) => break n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    };
    let find = |text: &[u8]| {
        text.split(|&c| c == b'\n')
            .find_map(|l| l.strip_prefix(b"TracerPid:"))
            .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse().ok())
    };
    if n < buf.len() {
        return find(&buf[..n]);
    }
    // A full page (never seen): its last line may be cut, so read it all.
    let mut all = buf.to_vec();
    f.read_to_end(&mut all).ok()?;
    find(&all)
}

/// Processes holding an fd on `/proc/<pid>/mem` (or `/proc/<pid>/task/*/mem`)
/// of `pid`: access granted before protection that the shield cannot revoke,
/// as (holder pid, fd). Processes whose fd table cannot be read are skipped,
/// which for root means ones that exited meanwhile.
pub fn mem_fd_holders(pid: u32) -> Vec<(u32, u32)> {
    let want = format!("/proc/{pid}/");
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let Some(holder) = p.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(t) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let t = t.to_string_lossy();
            if t.starts_with(&want) && t.ends_with("/mem") {
                if let Some(n) = fd.file_name().to_str().and_then(|n| n.parse().ok()) {
                    out.push((holder, n));
                }
            }
        }
    }
    out
}

/// Convert a userspace `st_dev` (as `stat()` returns it) to the kernel's
/// internal dev_t (`sb->s_dev`), which is what the BPF programs see.
pub fn kernel_dev(st_dev: u64) -> u64 {
    let major = libc::major(st_dev) as u64;
    let minor = libc::minor(st_dev) as u64;
    (major << 20) | (minor & 0xfffff)
}

/// The map key of a file: its kernel dev_t and inode number. Follows
/// symlinks, as open() does.
pub fn file_key(path: &Path) -> Result<BdFileKey, ProtectError> {
    let md = std::fs::metadata(path).map_err(|err| ProtectError::Stat {
        path: path.into(),
        err,
    })?;
    Ok(BdFileKey {
        dev: kernel_dev(md.dev()),
        ino: md.ino(),
    })
}

/// True when the protection maps are pinned under `pin` (the LSM object
/// has been loaded at least once).
pub fn maps_pinned(pin: &Path) -> bool {
    [PROT_PIDS, ALLOW_PIDS, PROT_FILES, LSM_CFG]
        .iter()
        .all(|m| map_path(pin, m).exists())
}

fn map_err(pin: &Path, name: &str) -> impl Fn(MapError) -> ProtectError {
    let path = map_path(pin, name);
    move |err| ProtectError::Map {
        path: path.clone(),
        err,
    }
}

fn pid_map(pin: &Path, name: &str) -> Result<HashMap<MapData, u32, u32>, ProtectError> {
    let data = open_map(pin, name)?;
    HashMap::try_from(Map::HashMap(data)).map_err(map_err(pin, name))
}

fn file_map(pin: &Path) -> Result<HashMap<MapData, BdFileKey, u32>, ProtectError> {
    let data = open_map(pin, PROT_FILES)?;
    HashMap::try_from(Map::HashMap(data)).map_err(map_err(pin, PROT_FILES))
}

fn cfg_map(pin: &Path) -> Result<Array<MapData, BdLsmCfg>, ProtectError> {
    let data = open_map(pin, LSM_CFG)?;
    Array::try_from(Map::Array(data)).map_err(map_err(pin, LSM_CFG))
}

fn insert_pid(pin: &Path, name: &str, pid: u32) -> Result<(), ProtectError> {
    // A pid that does not exist now would protect whoever gets it next.
    if !Path::new("/proc").join(pid.to_string()).exists() {
        return Err(ProtectError::NoProcess { pid });
    }
    let mut m = pid_map(pin, name)?;
    m.insert(pid, 1, 0).map_err(map_err(pin, name))
}

/// Remove `pid`; returns whether it was there.
fn remove_pid(pin: &Path, name: &str, pid: u32) -> Result<bool, ProtectError> {
    let mut m = pid_map(pin, name)?;
    match m.remove(&pid) {
        Ok(()) => Ok(true),
        Err(MapError::KeyNotFound) => Ok(false),
        Err(e) => Err(map_err(pin, name)(e)),
    }
}

/// Protect process `pid` (a tgid) and every child it forks from now on.
///
/// Also sets its soft RLIMIT_CORE to exactly 1, which the kernel treats as
/// "never dump" for file and pipe core patterns alike; the LSM keeps it
/// there (bpf/lsm_file_protect.bpf.c, task_setrlimit).
pub fn protect_pid(pin: &Path, pid: u32) -> Result<(), ProtectError> {
    insert_pid(pin, PROT_PIDS, pid)?;
    no_core_dumps(pid).map_err(|err| ProtectError::CoreLimit { pid, err })
}

/// Keep this process's memory (signing keys, decisions in flight) out of
/// core dumps. The tools are built with panic = "abort" (bd-inject's no_std
/// build needs it workspace-wide), so a panic is a SIGABRT, which dumps
/// core where a file or a pipe (systemd-coredump) pattern takes it. Soft
/// RLIMIT_CORE = 1 stops both; PR_SET_DUMPABLE 0 also keeps /proc/self
/// and ptrace to root.
pub fn no_core_dumps_self() -> std::io::Result<()> {
    no_core_dumps(std::process::id())?;
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Soft RLIMIT_CORE = 1 for `pid` (the hard limit raised to 1 if it was 0).
pub fn no_core_dumps(pid: u32) -> std::io::Result<()> {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: prlimit reads the current limits into `old`.
    if unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_CORE,
            std::ptr::null(),
            &mut old,
        )
    } != 0
    {
        return Err(std::io::Error::last_os_error());
    }
    let new = libc::rlimit {
        rlim_cur: 1,
        rlim_max: old.rlim_max.max(1),
    };
    // SAFETY: valid pointer to `new`; no old value requested.
    if unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_CORE,
            &new,
            std::ptr::null_mut(),
        )
    } != 0
    {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

pub fn unprotect_pid(pin: &Path, pid: u32) -> Result<bool, ProtectError> {
    remove_pid(pin, PROT_PIDS, pid)
}

/// Let process `pid` through every shield (e.g. a debugger or backup agent).
pub fn allow_pid(pin: &Path, pid: u32) -> Result<(), ProtectError> {
    insert_pid(pin, ALLOW_PIDS, pid)
}

pub fn disallow_pid(pin: &Path, pid: u32) -> Result<bool, ProtectError> {
    remove_pid(pin, ALLOW_PIDS, pid)
}

/// Deny open() of `path` (by device and inode) to every non-allowed
/// process, and of the block devices holding its filesystem.
pub fn protect_file(pin: &Path, path: &Path) -> Result<BdFileKey, ProtectError> {
    let key = file_key(path)?;
    let mut m = file_map(pin)?;
    m.insert(key, FILE_EXPLICIT, 0)
        .map_err(map_err(pin, PROT_FILES))?;
    rebuild_devices(pin)?;
    Ok(key)
}

pub fn unprotect_file(pin: &Path, path: &Path) -> Result<bool, ProtectError> {
    let key = file_key(path)?;
    let mut m = file_map(pin)?;
    let removed = match m.get(&key, 0) {
        Ok(FILE_EXPLICIT) => {
            m.remove(&key).map_err(map_err(pin, PROT_FILES))?;
            true
        }
        // A derived entry goes with the last file that needs it.
        Ok(_) | Err(MapError::KeyNotFound) => false,
        Err(e) => return Err(map_err(pin, PROT_FILES)(e)),
    };
    rebuild_devices(pin)?;
    Ok(removed)
}

/// The kernel dev_t of a "major:minor" line (sysfs `dev` files).
fn sysfs_dev(p: &Path) -> Option<u32> {
    let s = std::fs::read_to_string(p).ok()?;
    let (ma, mi) = s.trim().split_once(':')?;
    let (ma, mi): (u32, u32) = (ma.parse().ok()?, mi.parse().ok()?);
    Some((ma << 20) | (mi & 0xfffff))
}

/// The block devices (kernel dev_t) and files that hold the filesystem of
/// kernel device `dev`: the device itself, the disk of a partition, the
/// slaves of a dm/md device, and for a loop device its backing file and
/// whatever holds that file's filesystem. `dev` with major 0 (tmpfs,
/// overlay, btrfs, NFS: an anonymous device) has none that sysfs can name.
pub fn holders_of(dev: u64, devs: &mut Vec<u32>, files: &mut Vec<BdFileKey>) {
    let mut todo = vec![dev as u32];
    while let Some(d) = todo.pop() {
        if d >> 20 == 0 || devs.contains(&d) || devs.len() >= 64 {
            continue;
        }
        devs.push(d);
        let Ok(sys) = std::fs::canonicalize(format!("/sys/dev/block/{}:{}", d >> 20, d & 0xfffff))
        else {
            continue;
        };
        if sys.join("partition").exists() {
            if let Some(disk) = sys.parent().and_then(|p| sysfs_dev(&p.join("dev"))) {
                todo.push(disk);
            }
        }
        if let Ok(slaves) = std::fs::read_dir(sys.join("slaves")) {
            for s in slaves.flatten() {
                if let Some(sd) = sysfs_dev(&s.path().join("dev")) {
                    todo.push(sd);
                }
            }
        }
        if let Ok(b) = std::fs::read_to_string(sys.join("loop/backing_file")) {
            if let Ok(md) = std::fs::metadata(b.trim_end_matches('\n')) {
                let k = BdFileKey {
                    dev: kernel_dev(md.dev()),
                    ino: md.ino(),
                };
                if !files.contains(&k) {
                    files.push(k);
                }
                todo.push(kernel_dev(md.dev()) as u32);
            }
        }
    }
}

/// Recompute `bd_prot_devs` and the derived `bd_prot_files` entries from
/// the files protected by name: added before stale ones are dropped, so a
/// device that stays protected is never open in between.
fn rebuild_devices(pin: &Path) -> Result<(), ProtectError> {
    let mut files = file_map(pin)?;
    let data = open_map(pin, PROT_DEVS)?;
    let mut devmap: HashMap<MapData, u32, u32> =
        HashMap::try_from(Map::HashMap(data)).map_err(map_err(pin, PROT_DEVS))?;
    let entries = files
        .iter()
        .collect::<Result<Vec<(BdFileKey, u32)>, _>>()
        .map_err(map_err(pin, PROT_FILES))?;
    let (mut devs, mut derived) = (Vec::new(), Vec::new());
    for (k, _) in entries.iter().filter(|(_, v)| *v == FILE_EXPLICIT) {
        holders_of(k.dev, &mut devs, &mut derived);
    }
    for d in &devs {
        devmap.insert(d, 1, 0).map_err(map_err(pin, PROT_DEVS))?;
    }
    for k in &derived {
        if !entries.iter().any(|(e, _)| e == k) {
            files
                .insert(k, FILE_DERIVED, 0)
                .map_err(map_err(pin, PROT_FILES))?;
        }
    }
    let stale_devs = devmap
        .keys()
        .collect::<Result<Vec<u32>, _>>()
        .map_err(map_err(pin, PROT_DEVS))?;
    for d in stale_devs.iter().filter(|d| !devs.contains(d)) {
        match devmap.remove(d) {
            Ok(()) | Err(MapError::KeyNotFound) => {}
            Err(e) => return Err(map_err(pin, PROT_DEVS)(e)),
        }
    }
    for (k, _) in entries
        .iter()
        .filter(|(k, v)| *v == FILE_DERIVED && !derived.contains(k))
    {
        match files.remove(k) {
            Ok(()) | Err(MapError::KeyNotFound) => {}
            Err(e) => return Err(map_err(pin, PROT_FILES)(e)),
        }
    }
    Ok(())
}

/// Everything in the protection maps.
#[derive(Debug, Default, serde::Serialize)]
pub struct Listing {
    pub protected_pids: Vec<u32>,
    pub allowed_pids: Vec<u32>,
    pub protected_files: Vec<(u64, u64)>,
    pub config: Config,
}

pub fn list(pin: &Path) -> Result<Listing, ProtectError> {
    let keys = |name: &str| -> Result<Vec<u32>, ProtectError> {
        let m = pid_map(pin, name)?;
        let mut v = m
            .keys()
            .collect::<Result<Vec<u32>, _>>()
            .map_err(map_err(pin, name))?;
        v.sort_unstable();
        Ok(v)
    };
    let files = file_map(pin)?;
    let mut protected_files = files
        .iter()
        .filter_map(|e| match e {
            Ok((k, v)) if v == FILE_EXPLICIT => Some(Ok((k.dev, k.ino))),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(map_err(pin, PROT_FILES))?;
    protected_files.sort_unstable();
    Ok(Listing {
        protected_pids: keys(PROT_PIDS)?,
        allowed_pids: keys(ALLOW_PIDS)?,
        protected_files,
        config: config(pin)?,
    })
}

/// The policy: which accesses are refused, and whether refusing is real.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Config {
    pub block_environ_read: bool,
    pub block_mem_read: bool,
    pub block_ptrace: bool,
    /// Report what would be denied, deny nothing.
    pub audit: bool,
}

impl Default for Config {
    /// What the programs enforce before anyone configures them.
    fn default() -> Self {
        Config::from_raw(BdLsmCfg::default())
    }
}

impl Config {
    /// Decode the slot; a never-written slot means everything blocked,
    /// enforcing, exactly as the BPF side reads it.
    pub fn from_raw(c: BdLsmCfg) -> Config {
        let (flags, audit) = if c.configured == 0 {
            (ALL_FLAGS, false)
        } else {
            (c.flags, c.audit != 0)
        };
        Config {
            block_environ_read: flags & BD_LSM_BLOCK_ENVIRON != 0,
            block_mem_read: flags & BD_LSM_BLOCK_MEM != 0,
            block_ptrace: flags & BD_LSM_BLOCK_PTRACE != 0,
            audit,
        }
    }

    pub fn to_raw(self) -> BdLsmCfg {
        let mut flags = 0;
        if self.block_environ_read {
            flags |= BD_LSM_BLOCK_ENVIRON;
        }
        if self.block_mem_read {
            flags |= BD_LSM_BLOCK_MEM;
        }
        if self.block_ptrace {
            flags |= BD_LSM_BLOCK_PTRACE;
        }
        BdLsmCfg {
            flags,
            audit: self.audit as u32,
            configured: 1,
            _pad0: 0,
        }
    }
}

pub fn config(pin: &Path) -> Result<Config, ProtectError> {
    let m = cfg_map(pin)?;
    let raw = m.get(&0, 0).map_err(map_err(pin, LSM_CFG))?;
    Ok(Config::from_raw(raw))
}

pub fn set_config(pin: &Path, c: Config) -> Result<(), ProtectError> {
    let mut m = cfg_map(pin)?;
    m.set(0, c.to_raw(), 0).map_err(map_err(pin, LSM_CFG))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_dev_matches_mkdev() {
        // 8:1 (sda1) is st_dev 0x801 in userspace, (8 << 20) | 1 in the kernel.
        assert_eq!(kernel_dev(libc::makedev(8, 1)), (8 << 20) | 1);
        // Minors above 255 are split in the userspace encoding.
        let st = libc::makedev(259, 0x12345);
        assert_eq!(kernel_dev(st), (259 << 20) | 0x12345);
        assert_ne!(kernel_dev(st), st);
    }

    #[test]
    fn file_key_of_a_real_file() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let md = std::fs::metadata(f.path()).unwrap();
        let k = file_key(f.path()).unwrap();
        assert_eq!(k.ino, md.ino());
        assert_eq!(k.dev >> 20, libc::major(md.dev()) as u64);
        assert_eq!(k.dev & 0xfffff, libc::minor(md.dev()) as u64);
        let err = file_key(Path::new("/nonexistent/x")).unwrap_err();
        assert!(err.to_string().starts_with("/nonexistent/x: "), "{err}");
    }

    #[test]
    fn config_round_trip_and_defaults() {
        assert_eq!(
            Config::default(),
            Config {
                block_environ_read: true,
                block_mem_read: true,
                block_ptrace: true,
                audit: false
            }
        );
        let c = Config {
            block_environ_read: false,
            block_mem_read: true,
            block_ptrace: false,
            audit: true,
        };
        let raw = c.to_raw();
        assert_eq!(raw.flags, BD_LSM_BLOCK_MEM);
        assert_eq!(raw.configured, 1);
        assert_eq!(Config::from_raw(raw), c);
        // Configured with nothing blocked is not the same as unconfigured.
        let none = BdLsmCfg {
            configured: 1,
            ..Default::default()
        };
        assert!(!Config::from_raw(none).block_ptrace);
    }
}
