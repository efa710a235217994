//! The bpffs pin directory: where it is, mounting it, opening pinned objects.
//!
//! Layout under the pin dir (default [`DEFAULT_PIN_DIR`]):
//!
//! ```text
//! <pin>/maps/<map name>            every map, pinned by name (shared by all objects)
//! <pin>/links/<object>-<program>   one link per attached program (keeps it attached)
//! <pin>/watch_lock/                directory flock-ed by the one running bd-watch
//! ```
//!
//! Names on bpffs may not contain `.` (the kernel refuses them with EPERM),
//! hence `-` between object and program.
//!
//! Tools open what they need with [`open_map`] and never reload programs.

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use aya::maps::{Map, MapData, PerCpuArray};
use nix::mount::{mount, MsFlags};
use nix::sys::statfs::{statfs, FsType, BPF_FS_MAGIC, SECURITYFS_MAGIC, TRACEFS_MAGIC};

use crate::event::BD_STAT_MAX;

/// Where everything is pinned unless `--pin-dir` or `BD_PIN_DIR` says otherwise.
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/boundary";
/// Environment variable naming the pin dir.
pub const PIN_DIR_ENV: &str = "BD_PIN_DIR";
/// Where bpffs is mounted when it is not.
pub const BPFFS_MOUNT: &str = "/sys/fs/bpf";
pub const TRACEFS_MOUNT: &str = "/sys/kernel/tracing";
pub const SECURITYFS_MOUNT: &str = "/sys/kernel/security";

/// Errors from the pin directory and pinned objects. Messages name the path
/// and, where one exists, the fix.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("{path}: not loaded (no such pin; run `bd-load` first)")]
    NotLoaded { path: PathBuf },
    #[error("{path}: permission denied (needs root, or CAP_BPF with access to the pin dir)")]
    Permission { path: PathBuf },
    #[error("{path}: {fs} is not mounted and could not be mounted: {err}")]
    Mount {
        path: PathBuf,
        fs: &'static str,
        err: nix::Error,
    },
    #[error(
        "{path}: not on a bpffs (pin dirs must live under a bpf filesystem, e.g. {BPFFS_MOUNT})"
    )]
    NotBpffs { path: PathBuf },
    #[error("{path}: {err}")]
    Io { path: PathBuf, err: io::Error },
    #[error("{path}: {err}")]
    Map {
        path: PathBuf,
        err: aya::maps::MapError,
    },
}

impl PinError {
    /// True when the cause is missing privilege (tools map it to their
    /// "permission" exit code).
    pub fn is_permission(&self) -> bool {
        match self {
            PinError::Permission { .. } => true,
            PinError::Mount { err, .. } => *err == nix::Error::EPERM,
            PinError::Io { err, .. } => err.kind() == io::ErrorKind::PermissionDenied,
            _ => false,
        }
    }
}

/// The pin dir: the flag if given, else `$BD_PIN_DIR` if set and non-empty,
/// else [`DEFAULT_PIN_DIR`].
pub fn pin_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    match std::env::var_os(PIN_DIR_ENV) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(DEFAULT_PIN_DIR),
    }
}

/// `<pin>/maps`.
pub fn maps_dir(pin: &Path) -> PathBuf {
    pin.join("maps")
}

/// `<pin>/links`.
pub fn links_dir(pin: &Path) -> PathBuf {
    pin.join("links")
}

/// `<pin>/maps/<name>`.
pub fn map_path(pin: &Path, name: &str) -> PathBuf {
    maps_dir(pin).join(name)
}

/// `<pin>/links/<object>-<program>` (bpffs refuses `.` in names).
pub fn link_path(pin: &Path, object: &str, program: &str) -> PathBuf {
    links_dir(pin).join(format!("{object}-{program}"))
}

/// `<pin>/watch_lock`: the directory bd-watch holds an exclusive flock on.
pub fn watch_lock_path(pin: &Path) -> PathBuf {
    pin.join("watch_lock")
}

fn fs_is(path: &Path, magic: FsType) -> bool {
    statfs(path)
        .map(|s| s.filesystem_type() == magic)
        .unwrap_or(false)
}

fn ensure_fs(mountpoint: &str, fstype: &'static str, magic: FsType) -> Result<(), PinError> {
    let p = Path::new(mountpoint);
    if fs_is(p, magic) {
        return Ok(());
    }
    if let Err(err) = std::fs::create_dir_all(p) {
        // sysfs refuses mkdir but has these directories already.
        if !p.is_dir() {
            return Err(PinError::Io {
                path: p.into(),
                err,
            });
        }
    }
    mount(
        Some(fstype),
        p,
        Some(fstype),
        MsFlags::empty(),
        None::<&str>,
    )
    .map_err(|err| PinError::Mount {
        path: p.into(),
        fs: fstype,
        err,
    })
}

/// Make sure `pin` can hold pins: mounts bpffs at [`BPFFS_MOUNT`] if the pin
/// dir is under it and nothing is mounted there yet, and refuses a pin dir
/// that is not on a bpffs. Does not create `pin` itself.
pub fn ensure_bpffs(pin: &Path) -> Result<(), PinError> {
    if pin.starts_with(BPFFS_MOUNT) {
        ensure_fs(BPFFS_MOUNT, "bpf", BPF_FS_MAGIC)?;
    }
    // The nearest existing ancestor must be bpffs.
    let mut p = pin;
    loop {
        if p.exists() {
            return if fs_is(p, BPF_FS_MAGIC) {
                Ok(())
            } else {
                Err(PinError::NotBpffs { path: pin.into() })
            };
        }
        match p.parent() {
            Some(parent) => p = parent,
            None => return Err(PinError::NotBpffs { path: pin.into() }),
        }
    }
}

/// Mount tracefs at [`TRACEFS_MOUNT`] if it is not (tracepoint attach needs it).
pub fn ensure_tracefs() -> Result<(), PinError> {
    ensure_fs(TRACEFS_MOUNT, "tracefs", TRACEFS_MAGIC)
}

/// Mount securityfs at [`SECURITYFS_MOUNT`] if it is not (to read the LSM list).
pub fn ensure_securityfs() -> Result<(), PinError> {
    ensure_fs(SECURITYFS_MOUNT, "securityfs", SECURITYFS_MAGIC)
}

/// The active LSMs, in order, from `/sys/kernel/security/lsm` (mounting
/// securityfs if needed).
pub fn active_lsms() -> Result<Vec<String>, PinError> {
    ensure_securityfs()?;
    let path = Path::new(SECURITYFS_MOUNT).join("lsm");
    let text = std::fs::read_to_string(&path).map_err(|err| PinError::Io { path, err })?;
    Ok(text
        .trim()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect())
}

/// True when BPF-LSM is active (`bpf` in the LSM list).
pub fn bpf_lsm_active() -> Result<bool, PinError> {
    Ok(active_lsms()?.iter().any(|l| l == "bpf"))
}

fn io_to_pin(path: &Path, err: io::Error) -> PinError {
    match err.kind() {
        io::ErrorKind::NotFound => PinError::NotLoaded { path: path.into() },
        io::ErrorKind::PermissionDenied => PinError::Permission { path: path.into() },
        _ => PinError::Io {
            path: path.into(),
            err,
        },
    }
}

/// Open the map pinned at `<pin>/maps/<name>`. Wrap it with aya's typed maps,
/// e.g. `aya::maps::Array::<_, BdModeState>::try_from(Map::Array(data))`, or
/// `aya::maps::HashMap::<_, u32, u32>::try_from(Map::HashMap(data))`.
pub fn open_map(pin: &Path, name: &str) -> Result<MapData, PinError> {
    let path = map_path(pin, name);
    // Probe with a plain stat first: it tells "not loaded" from "no access"
    // more clearly than the bpf() syscall's errno.
    if let Err(err) = std::fs::metadata(&path) {
        return Err(io_to_pin(&path, err));
    }
    MapData::from_pin(&path).map_err(|err| match &err {
        aya::maps::MapError::SyscallError(s) if s.io_error.raw_os_error() == Some(libc::EPERM) => {
            PinError::Permission { path: path.clone() }
        }
        aya::maps::MapError::SyscallError(s) if s.io_error.raw_os_error() == Some(libc::EACCES) => {
            PinError::Permission { path: path.clone() }
        }
        _ => PinError::Map { path, err },
    })
}

/// The `bd_stats` counters, summed over CPUs, indexed by `enum bd_stat`.
pub fn read_stats(pin: &Path) -> Result<[u64; BD_STAT_MAX as usize], PinError> {
    let data = open_map(pin, "bd_stats")?;
    stats_from(data).map_err(|err| PinError::Map {
        path: map_path(pin, "bd_stats"),
        err,
    })
}

/// Denials counted in the kernel by hook (`bd_deny_hooks`, summed over
/// CPUs): `(hook, count)` for every hook that denied at least once.
pub fn read_deny_hooks(pin: &Path) -> Result<Vec<(u32, u64)>, PinError> {
    let path = map_path(pin, "bd_deny_hooks");
    let data = open_map(pin, "bd_deny_hooks")?;
    let arr =
        PerCpuArray::<_, u64>::try_from(Map::PerCpuArray(data)).map_err(|err| PinError::Map {
            path: path.clone(),
            err,
        })?;
    let mut out = Vec::new();
    for hook in 0..crate::event::BD_HOOK_SLOTS {
        let v = arr.get(&hook, 0).map_err(|err| PinError::Map {
            path: path.clone(),
            err,
        })?;
        let n = v.iter().fold(0u64, |a, b| a.wrapping_add(*b));
        if n != 0 {
            out.push((hook, n));
        }
    }
    Ok(out)
}

/// A `bd_stats` reader to keep open and poll (bd-watch reads it every 100 ms).
pub struct Stats(PerCpuArray<MapData, u64>);

impl Stats {
    pub fn open(pin: &Path) -> Result<Stats, PinError> {
        let data = open_map(pin, "bd_stats")?;
        let arr = PerCpuArray::try_from(Map::PerCpuArray(data)).map_err(|err| PinError::Map {
            path: map_path(pin, "bd_stats"),
            err,
        })?;
        Ok(Stats(arr))
    }

    /// One counter (`enum bd_stat` index), summed over CPUs.
    pub fn get(&self, stat: u32) -> Result<u64, aya::maps::MapError> {
        let v = self.0.get(&stat, 0)?;
        Ok(v.iter().fold(0u64, |a, b| a.wrapping_add(*b)))
    }

    /// All counters, each summed over CPUs.
    pub fn read(&self) -> Result<[u64; BD_STAT_MAX as usize], aya::maps::MapError> {
        let mut out = [0u64; BD_STAT_MAX as usize];
        for (i, slot) in out.iter_mut().enumerate() {
            let v = self.0.get(&(i as u32), 0)?;
            *slot = v.iter().fold(0u64, |a, b| a.wrapping_add(*b));
        }
        Ok(out)
    }
}

fn stats_from(data: MapData) -> Result<[u64; BD_STAT_MAX as usize], aya::maps::MapError> {
    let arr = PerCpuArray::try_from(Map::PerCpuArray(data))?;
    Stats(arr).read()
}

/// Number of keys in a hash-like map (walks the keys; cheap for our small
/// maps). Arrays report max_entries, since every slot exists.
pub fn count_keys(map: &MapData) -> io::Result<u64> {
    let info = map
        .info()
        .map_err(|e| io::Error::other(format!("map info: {e}")))?;
    let key_size = info.key_size() as usize;
    let fd = map.fd().as_fd().as_raw_fd();
    let mut prev: Option<Vec<u8>> = None;
    let mut next = vec![0u8; key_size.max(1)];
    let mut n = 0u64;
    loop {
        // union bpf_attr for BPF_MAP_GET_NEXT_KEY: map_fd u32, pad, key u64, next_key u64.
        #[repr(C)]
        struct Attr {
            map_fd: u32,
            _pad: u32,
            key: u64,
            next_key: u64,
            _rest: [u64; 13],
        }
        let attr = Attr {
            map_fd: fd as u32,
            _pad: 0,
            key: prev.as_ref().map_or(0, |k| k.as_ptr() as u64),
            next_key: next.as_mut_ptr() as u64,
            _rest: [0; 13],
        };
        // SAFETY: attr is a valid bpf_attr prefix for this command, the key
        // buffers are key_size bytes and outlive the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                4, /* BPF_MAP_GET_NEXT_KEY */
                &attr as *const Attr,
                size_of::<Attr>(),
            )
        };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ENOENT) {
                return Ok(n);
            }
            return Err(err);
        }
        n += 1;
        if n > u32::MAX as u64 {
            return Ok(n);
        }
        prev = Some(next.clone());
    }
}

/// bpf(BPF_OBJ_GET) on a pinned object: its fd, or the kernel's refusal
/// (not a BPF pin, or denied).
fn obj_get(path: &Path) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd as _;
    use std::os::unix::ffi::OsStrExt as _;
    const BPF_OBJ_GET: libc::c_long = 7;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    let mut attr = [0u64; 16];
    attr[0] = c.as_ptr() as u64; // pathname
                                 // SAFETY: attr is a zeroed bpf_attr, large enough for BPF_OBJ_GET, and
                                 // the path outlives the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_OBJ_GET,
            attr.as_mut_ptr(),
            std::mem::size_of_val(&attr),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new fd the kernel just gave us.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

/// The second and third fields of a pinned object's info (bpf(2)
/// BPF_OBJ_GET_INFO_BY_FD): bpf_map_info, bpf_prog_info and bpf_link_info
/// all start (type, id); bpf_link_info's third field is prog_id. The error
/// names the step that failed.
pub fn pinned_ids(path: &Path) -> io::Result<(u32, u32)> {
    const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
    let fd = obj_get(path).map_err(|e| io::Error::new(e.kind(), format!("BPF_OBJ_GET: {e}")))?;
    let mut info = [0u32; 64];
    let mut attr = [0u64; 16];
    attr[0] = fd.as_raw_fd() as u64 | ((std::mem::size_of_val(&info) as u64) << 32);
    attr[1] = info.as_mut_ptr() as u64;
    // SAFETY: info_len and info describe our buffer; the kernel writes at
    // most info_len bytes.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_OBJ_GET_INFO_BY_FD,
            attr.as_mut_ptr(),
            std::mem::size_of_val(&attr),
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("BPF_OBJ_GET_INFO_BY_FD: {e}"),
        ));
    }
    Ok((info[1], info[2]))
}

/// Every loaded program's id (BPF_PROG_GET_NEXT_ID takes no reference).
fn loaded_prog_ids() -> Vec<u32> {
    const BPF_PROG_GET_NEXT_ID: libc::c_long = 11;
    let mut ids = Vec::new();
    let mut id = 0u32;
    loop {
        let mut attr = [0u64; 16];
        attr[0] = id as u64; // start_id; next_id is the upper half
                             // SAFETY: a zeroed bpf_attr of the size passed.
        let r = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_PROG_GET_NEXT_ID,
                attr.as_mut_ptr(),
                std::mem::size_of_val(&attr),
            )
        };
        if r != 0 {
            return ids;
        }
        id = (attr[0] >> 32) as u32;
        ids.push(id);
    }
}

/// Wait until none of `progs` is loaded: a program's id goes in the same
/// kernel call that detaches its last link.
fn wait_progs_gone(progs: &[u32], limit: std::time::Duration) -> io::Result<()> {
    let end = std::time::Instant::now() + limit;
    loop {
        let left: Vec<u32> = loaded_prog_ids()
            .into_iter()
            .filter(|id| progs.contains(id))
            .collect();
        if left.is_empty() {
            return Ok(());
        }
        if std::time::Instant::now() > end {
            return Err(io::Error::other(format!(
                "pins removed, but program id(s) {left:?} still loaded after {} s",
                limit.as_secs()
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Remove every pin under `pin` and the directories themselves. Links are
/// detached when their last pin (and fd) goes; maps are freed when no
/// program or fd uses them. Returns the paths removed.
pub fn remove_pins(pin: &Path) -> io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    if !pin.exists() {
        return Ok(removed);
    }
    // Links first, so programs stop before their maps disappear from view.
    // The programs behind the links are noted first: on 6.4 and later the
    // last reference of a pin is dropped from an RCU callback and the
    // detach then runs in a kernel worker, so the programs keep running
    // for a while after their pins are gone (under TCG, seconds).
    let mut progs = Vec::new();
    for sub in ["links", "maps"] {
        let d = pin.join(sub);
        if let Ok(rd) = std::fs::read_dir(&d) {
            for ent in rd {
                let p = ent?.path();
                if sub == "links" {
                    progs.extend(
                        pinned_ids(&p)
                            .ok()
                            .map(|(_, prog)| prog)
                            .filter(|&p| p != 0),
                    );
                }
                std::fs::remove_file(&p)?;
                removed.push(p);
            }
            std::fs::remove_dir(&d)?;
        }
    }
    wait_progs_gone(&progs, std::time::Duration::from_secs(30))?;
    for ent in std::fs::read_dir(pin)? {
        let p = ent?.path();
        if p.is_dir() {
            std::fs::remove_dir_all(&p)?;
        } else {
            std::fs::remove_file(&p)?;
        }
        removed.push(p);
    }
    std::fs::remove_dir(pin)?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_dir_prefers_flag_then_env_then_default() {
        // One test owns the env var, so no parallel test races on it.
        std::env::remove_var(PIN_DIR_ENV);
        assert_eq!(pin_dir(None), PathBuf::from(DEFAULT_PIN_DIR));
        std::env::set_var(PIN_DIR_ENV, "/sys/fs/bpf/x");
        assert_eq!(pin_dir(None), PathBuf::from("/sys/fs/bpf/x"));
        assert_eq!(pin_dir(Some(Path::new("/y"))), PathBuf::from("/y"));
        std::env::set_var(PIN_DIR_ENV, "");
        assert_eq!(pin_dir(None), PathBuf::from(DEFAULT_PIN_DIR));
        std::env::remove_var(PIN_DIR_ENV);
    }

    #[test]
    fn layout_paths() {
        let p = Path::new("/sys/fs/bpf/b");
        assert_eq!(
            map_path(p, "bd_events"),
            Path::new("/sys/fs/bpf/b/maps/bd_events")
        );
        assert_eq!(
            link_path(p, "exec_monitor", "exec_monitor"),
            Path::new("/sys/fs/bpf/b/links/exec_monitor-exec_monitor")
        );
    }

    #[test]
    fn a_pin_dir_off_bpffs_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let err = ensure_bpffs(&d.path().join("pins")).unwrap_err();
        assert!(matches!(err, PinError::NotBpffs { .. }), "{err}");
    }
}
