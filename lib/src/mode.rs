//! Boundary modes, the state file and the pinned mode map.
//!
//! The current mode lives in two places: the one-slot pinned map `bd_mode`
//! (what the kernel programs enforce) and a JSON state file (what survives a
//! reboot and carries the reason and the heartbeat interval). [`read_current`] reads both and fails closed: a missing, unreadable
//! or unknown state, or a file and a map that disagree, read as LOCKDOWN with
//! the cause in [`Current::fault`].
//!
//! `seq` counts mode transitions; both copies carry it, so a crash between the
//! two writes is visible as a disagreement. Heartbeats move only the map's
//! deadline and leave `seq` alone.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Default state file (`--state`, env `BD_STATE`).
pub const DEFAULT_STATE: &str = "/var/lib/boundary/state.json";

/// Boundary modes, ordered: a larger value is stricter (`enum bd_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
pub enum Mode {
    Open = 0,
    Restricted = 1,
    Trusted = 2,
    Airgap = 3,
    Coldroom = 4,
    Lockdown = 5,
}

impl Mode {
    pub const ALL: [Mode; 6] = [
        Mode::Open,
        Mode::Restricted,
        Mode::Trusted,
        Mode::Airgap,
        Mode::Coldroom,
        Mode::Lockdown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Open => "OPEN",
            Mode::Restricted => "RESTRICTED",
            Mode::Trusted => "TRUSTED",
            Mode::Airgap => "AIRGAP",
            Mode::Coldroom => "COLDROOM",
            Mode::Lockdown => "LOCKDOWN",
        }
    }

    /// The kernel value; anything unknown is `None` (callers fail closed).
    pub fn from_u32(v: u32) -> Option<Mode> {
        Mode::ALL.get(v as usize).copied()
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mode::ALL
            .iter()
            .copied()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown mode {s:?} (one of OPEN, RESTRICTED, TRUSTED, AIRGAP, COLDROOM, LOCKDOWN)")
            })
    }
}

// Every `Mode` argument in the tools parses through this (clap prefers a
// ValueEnum over FromStr), so --help, man pages and all three shells' completions
// list the six names. Lower case stays accepted as before.
impl clap::ValueEnum for Mode {
    fn value_variants<'a>() -> &'a [Self] {
        &Mode::ALL
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        const LOWER: [&str; 6] = [
            "open",
            "restricted",
            "trusted",
            "airgap",
            "coldroom",
            "lockdown",
        ];
        Some(clap::builder::PossibleValue::new(self.as_str()).alias(LOWER[*self as usize]))
    }
}

impl Serialize for Mode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The one slot of the `bd_mode` map (`struct bd_mode_state`, 24 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MapState {
    pub mode: u32,
    pub flags: u32,
    /// CLOCK_MONOTONIC ns; 0 = no dead-man switch.
    pub heartbeat_deadline_ns: u64,
    pub seq: u64,
}

type RawSlot = [u8; 24];

impl MapState {
    /// The mode the programs enforce from this slot, as bd_effective_mode()
    /// does in the kernel: an unknown value or a passed dead-man deadline
    /// is LOCKDOWN.
    pub fn effective(&self) -> Mode {
        match Mode::from_u32(self.mode) {
            Some(_)
                if self.heartbeat_deadline_ns != 0
                    && monotonic_ns() > self.heartbeat_deadline_ns =>
            {
                Mode::Lockdown
            }
            Some(m) => m,
            None => Mode::Lockdown,
        }
    }

    fn to_bytes(self) -> RawSlot {
        let mut b = [0u8; 24];
        b[0..4].copy_from_slice(&self.mode.to_ne_bytes());
        b[4..8].copy_from_slice(&self.flags.to_ne_bytes());
        b[8..16].copy_from_slice(&self.heartbeat_deadline_ns.to_ne_bytes());
        b[16..24].copy_from_slice(&self.seq.to_ne_bytes());
        b
    }
    fn from_bytes(b: &RawSlot) -> Self {
        let u32_at = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[i..i + 8]);
            u64::from_ne_bytes(x)
        };
        MapState {
            mode: u32_at(0),
            flags: u32_at(4),
            heartbeat_deadline_ns: u64_at(8),
            seq: u64_at(16),
        }
    }
}

/// Path of the pinned mode map under a pin directory.
pub fn mode_map_path(pin_dir: &Path) -> PathBuf {
    pin_dir.join("maps").join("bd_mode")
}

/// A pinned array map of `V`s; `Ok(None)` if nothing is pinned at `path`.
/// `shape` names the layout in the error when the value size differs (a
/// map from a version this one does not know).
fn open_pinned_array<V: aya::Pod>(
    path: &Path,
    shape: &str,
) -> Result<Option<aya::maps::Array<aya::maps::MapData, V>>> {
    if !path.exists() {
        return Ok(None);
    }
    let data = aya::maps::MapData::from_pin(path)
        .with_context(|| format!("opening pinned map {}", path.display()))?;
    let map = aya::maps::Map::from_map_data(data)
        .with_context(|| format!("{}: not a BPF map", path.display()))?;
    let array = aya::maps::Array::try_from(map).with_context(|| {
        format!(
            "{}: not a {shape} array map (a layout this version does not know)",
            path.display()
        )
    })?;
    Ok(Some(array))
}

/// The pinned `bd_mode` map, opened for reading and writing.
pub struct ModeMap {
    array: aya::maps::Array<aya::maps::MapData, RawSlot>,
    path: PathBuf,
}

impl ModeMap {
    /// Open the map pinned under `pin_dir`; `Ok(None)` if nothing is pinned there.
    pub fn open(pin_dir: &Path) -> Result<Option<ModeMap>> {
        let path = mode_map_path(pin_dir);
        Ok(open_pinned_array(&path, "24-byte")?.map(|array| ModeMap { array, path }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn read(&self) -> Result<MapState> {
        let raw = self
            .array
            .get(&0, 0)
            .with_context(|| format!("reading {}", self.path.display()))?;
        Ok(MapState::from_bytes(&raw))
    }

    /// Write the slot, then USB's `authorized_default` for the new mode
    /// (crate::usb) when this boundary governs USB: every path that changes the kernel's mode changes which
    /// new USB devices the kernel binds. A USB failure is reported on stderr,
    /// never fails the mode change itself (tightening must not be refused).
    pub fn write(&mut self, s: MapState) -> Result<()> {
        self.array
            .set(0, s.to_bytes(), 0)
            .with_context(|| format!("writing {}", self.path.display()))?;
        let pin_dir = self.path.parent().and_then(Path::parent);
        if !pin_dir.is_some_and(crate::usb::controls) {
            return Ok(());
        }
        if let Err(e) = crate::usb::apply_default(s.effective()) {
            eprintln!("boundary: warning: USB authorized_default not set: {e}");
        }
        Ok(())
    }
}

/// Path of the pinned map of the kernel's own raises under a pin directory.
pub fn raise_map_path(pin_dir: &Path) -> PathBuf {
    pin_dir.join("maps").join("bd_mode_raise")
}

/// `struct bd_mode_raise`: canaries tripped, counted per mode.
pub type Trips = [u64; 6];
type RawTrips = [u8; 48];

fn trips_from(b: &RawTrips) -> Trips {
    let mut t = [0u64; 6];
    for (i, x) in t.iter_mut().enumerate() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i * 8..i * 8 + 8]);
        *x = u64::from_ne_bytes(w);
    }
    t
}

fn trips_to(t: &Trips) -> RawTrips {
    let mut b = [0u8; 48];
    for (i, x) in t.iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&x.to_ne_bytes());
    }
    b
}

/// The strictest mode with a nonzero trip count (OPEN if none), as
/// bd_raised_mode() reads it in the kernel.
pub fn raised_mode(t: &Trips) -> Mode {
    (1..t.len())
        .rev()
        .find(|&i| t[i] != 0)
        .and_then(|i| Mode::from_u32(i as u32))
        .unwrap_or(Mode::Open)
}

/// The pinned `bd_mode_raise` map (bpf/maps.h): the kernel's canary raises,
/// kept apart from `bd_mode` so that no write of `bd_mode` can lose one.
/// Entry 0 (live) is enforced and cleared only by a release; entry 1 (total)
/// is never written here.
pub struct RaiseMap {
    array: aya::maps::Array<aya::maps::MapData, RawTrips>,
    path: PathBuf,
}

impl RaiseMap {
    /// `Ok(None)` if nothing is pinned (programs from before the map existed:
    /// their raises go into `bd_mode` alone, which is then what they enforce).
    pub fn open(pin_dir: &Path) -> Result<Option<RaiseMap>> {
        let path = raise_map_path(pin_dir);
        let Some(array) = open_pinned_array(&path, "2 x 48-byte")? else {
            return Ok(None);
        };
        if array.len() != 2 {
            bail!(
                "{}: {} entries, not 2 (a layout this version does not know)",
                path.display(),
                array.len()
            );
        }
        Ok(Some(RaiseMap { array, path }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn get(&self, i: u32) -> Result<Trips> {
        let raw = self
            .array
            .get(&i, 0)
            .with_context(|| format!("reading {}", self.path.display()))?;
        Ok(trips_from(&raw))
    }

    /// The live raise counts (what the kernel enforces).
    pub fn live(&self) -> Result<Trips> {
        self.get(0)
    }

    /// The counts since the map was created (never cleared).
    pub fn total(&self) -> Result<Trips> {
        self.get(1)
    }

    /// Clear the live raises: the release ceremony's step, nothing else's.
    /// A canary that trips while this runs must not be lost to the write:
    /// the total is read before and after, and every trip counted since the
    /// start is written back live, until the total holds still. Returns the
    /// mode still raised (OPEN when nothing tripped meanwhile). A total that
    /// never settles leaves every trip since the start live (fail closed).
    pub fn clear_live(&mut self) -> Result<Mode> {
        let base = self.total()?;
        let mut keep = [0u64; 6];
        for _ in 0..64 {
            self.array
                .set(0, trips_to(&keep), 0)
                .with_context(|| format!("writing {}", self.path.display()))?;
            let now = self.total()?;
            let since: Trips = std::array::from_fn(|i| now[i].wrapping_sub(base[i]));
            if since == keep {
                return Ok(raised_mode(&keep));
            }
            keep = since;
        }
        bail!(
            "{}: canaries kept tripping during the release; their raises stay",
            self.path.display()
        )
    }
}

/// CLOCK_MONOTONIC now, in ns: the clock `bpf_ktime_get_ns()` reads.
pub fn monotonic_ns() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64);
    t.unwrap_or(u64::MAX)
}

/// The state file's contents.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub v: u32,
    pub mode: Mode,
    pub seq: u64,
    /// RFC 3339 time of the last transition.
    pub since: String,
    pub reason: String,
    pub uid: u32,
    /// Dead-man switch interval in ns, if armed.
    #[serde(default)]
    pub heartbeat_ns: Option<u64>,
}

impl State {
    pub fn new(mode: Mode, reason: &str) -> State {
        State {
            v: 1,
            mode,
            seq: 1,
            since: crate::time::now_rfc3339(),
            reason: reason.to_string(),
            uid: nix::unistd::getuid().as_raw(),
            heartbeat_ns: None,
        }
    }
}

/// Read and parse the state file. Errors name the file.
pub fn read_state(path: &Path) -> Result<State> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let st: State = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a valid boundary state file", path.display()))?;
    if st.v != 1 {
        bail!("{}: unsupported state version {}", path.display(), st.v);
    }
    Ok(st)
}

/// Write the state file atomically (0600, random O_EXCL temp name, fsync,
/// rename, fsync the dir) in a directory nobody else can write.
pub fn write_state(path: &Path, st: &State) -> Result<()> {
    let mut body = serde_json::to_vec_pretty(st)?;
    body.push(b'\n');
    crate::safefile::write_atomic(path, &body, 0o600)
}

/// How long a writer waits for the state lock. Only root can hold the lock
/// (0600 in a root-only directory), but a wedged or hostile holder must never
/// stop a tightening: past this, tightening goes ahead without the lock.
pub const LOCK_WAIT: Duration = Duration::from_secs(3);
/// How long a reader waits for the shared lock before reading without it
/// (a torn view shows as a file/map disagreement, which reads as LOCKDOWN).
pub const READ_LOCK_WAIT: Duration = Duration::from_millis(500);

/// An exclusive lock serialising writers of one state file (held until drop).
pub struct StateLock(#[allow(dead_code)] nix::fcntl::Flock<File>);

/// The lock was held by someone else for the whole bounded wait.
#[derive(Debug)]
pub struct LockBusy(pub PathBuf);
impl fmt::Display for LockBusy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is held by another process for more than {}s",
            self.0.display(),
            LOCK_WAIT.as_secs()
        )
    }
}
impl std::error::Error for LockBusy {}

/// Open the lock file: created 0600, never through a symlink, and repaired to
/// 0600 if an older version left it readable (flock works on a read-only fd,
/// so a readable lock file lets anyone block every writer).
fn open_lock_file(lp: &Path, create: bool) -> Result<File> {
    let f = OpenOptions::new()
        .create(create)
        .truncate(false)
        .read(true)
        .write(create)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(lp)
        .with_context(|| format!("opening {}", lp.display()))?;
    let md = f
        .metadata()
        .with_context(|| format!("reading {}", lp.display()))?;
    if !md.is_file() {
        bail!("{}: not a regular file", lp.display());
    }
    if create && md.permissions().mode() & 0o077 != 0 {
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("chmod 0600 {}", lp.display()))?;
    }
    Ok(f)
}

fn lock_bounded(
    mut f: File,
    arg: nix::fcntl::FlockArg,
    wait: Duration,
) -> Result<Option<nix::fcntl::Flock<File>>, nix::Error> {
    let deadline = Instant::now() + wait;
    loop {
        match nix::fcntl::Flock::lock(f, arg) {
            Ok(l) => return Ok(Some(l)),
            Err((back, nix::Error::EWOULDBLOCK)) | Err((back, nix::Error::EINTR)) => {
                if Instant::now() >= deadline {
                    return Ok(None);
                }
                f = back;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err((_, e)) => return Err(e),
        }
    }
}

/// Take the exclusive state lock, waiting at most [`LOCK_WAIT`]; a lock held
/// longer is a [`LockBusy`] error.
pub fn lock_state(path: &Path) -> Result<StateLock> {
    match try_lock_state(path)? {
        Some(l) => Ok(l),
        None => Err(LockBusy(lock_path(path)).into()),
    }
}

/// [`lock_state`] that returns `Ok(None)` when the lock stays contended.
pub fn try_lock_state(path: &Path) -> Result<Option<StateLock>> {
    let lp = lock_path(path);
    crate::safefile::ensure_private_dir(crate::safefile::parent_dir(&lp))?;
    let f = open_lock_file(&lp, true)?;
    let l = lock_bounded(f, nix::fcntl::FlockArg::LockExclusiveNonblock, LOCK_WAIT)
        .with_context(|| format!("locking {}", lp.display()))?;
    Ok(l.map(StateLock))
}

/// What the tools believe the mode is, and why.
#[derive(Debug, Clone)]
pub struct Current {
    /// The mode to act on: LOCKDOWN whenever `fault` is set.
    pub mode: Mode,
    /// The state file, when it was readable.
    pub state: Option<State>,
    /// The map slot, when a map is pinned and readable.
    pub map: Option<MapState>,
    /// Why the mode reads as LOCKDOWN against what the records say.
    pub fault: Option<String>,
    /// The dead-man deadline has passed: the kernel acts as LOCKDOWN.
    pub deadman_expired: bool,
    /// The kernel's live canary raises (`bd_mode_raise`), when pinned.
    pub raised: Option<Trips>,
}

fn lock_path(state: &Path) -> PathBuf {
    let mut lp = state.as_os_str().to_owned();
    lp.push(".lock");
    PathBuf::from(lp)
}

/// Read the state file and the pinned map (if any) and decide the mode, failing
/// closed. `pin_dir = None` ignores the kernel (offline use).
///
/// Takes the state lock shared (when the lock file exists), so a reader never
/// sees the moment between a writer's map and file updates. A caller that
/// already holds [`lock_state`] must use [`read_current_locked`].
pub fn read_current(state_path: &Path, pin_dir: Option<&Path>) -> Current {
    let _shared = open_lock_file(&lock_path(state_path), false)
        .ok()
        .and_then(|f| {
            lock_bounded(f, nix::fcntl::FlockArg::LockSharedNonblock, READ_LOCK_WAIT)
                .ok()
                .flatten()
        });
    read_current_locked(state_path, pin_dir)
}

/// [`read_current`] for a caller holding the exclusive state lock.
pub fn read_current_locked(state_path: &Path, pin_dir: Option<&Path>) -> Current {
    let mut cur = Current {
        mode: Mode::Lockdown,
        state: None,
        map: None,
        fault: None,
        deadman_expired: false,
        raised: None,
    };
    let mut faults = Vec::new();
    match read_state(state_path) {
        Ok(s) => cur.state = Some(s),
        Err(e) => faults.push(format!("{e:#}")),
    }
    if let Some(pd) = pin_dir {
        match ModeMap::open(pd).and_then(|m| m.map(|m| m.read()).transpose()) {
            Ok(m) => cur.map = m,
            Err(e) => faults.push(format!("{e:#}")),
        }
    }
    if let Some(pd) = pin_dir {
        match RaiseMap::open(pd).and_then(|m| m.map(|m| m.live()).transpose()) {
            Ok(t) => cur.raised = t,
            Err(e) => faults.push(format!("{e:#}")),
        }
    }
    if let Some(m) = cur.map {
        if Mode::from_u32(m.mode).is_none() {
            faults.push(format!("kernel map holds unknown mode value {}", m.mode));
        }
        if m.heartbeat_deadline_ns != 0 && monotonic_ns() > m.heartbeat_deadline_ns {
            cur.deadman_expired = true;
        }
        if let Some(s) = &cur.state {
            if m.mode != s.mode as u32 || m.seq != s.seq {
                faults.push(format!(
                    "state file says {} (seq {}) but the kernel map says {} (seq {})",
                    s.mode,
                    s.seq,
                    Mode::from_u32(m.mode).map_or("unknown".into(), |x| x.to_string()),
                    m.seq
                ));
            }
        }
    }
    if faults.is_empty() {
        if let Some(s) = &cur.state {
            cur.mode = if cur.deadman_expired {
                Mode::Lockdown
            } else {
                s.mode
            };
            // The kernel enforces the stricter of the two (bd_effective_mode).
            if let Some(t) = &cur.raised {
                cur.mode = cur.mode.max(raised_mode(t));
            }
        }
    } else {
        cur.fault = Some(faults.join("; "));
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_order_parse_and_print() {
        assert!(Mode::Open < Mode::Lockdown && Mode::Airgap < Mode::Coldroom);
        for m in Mode::ALL {
            assert_eq!(m.as_str().to_lowercase().parse::<Mode>(), Ok(m));
            assert_eq!(Mode::from_u32(m as u32), Some(m));
        }
        assert!("CLOSED".parse::<Mode>().is_err());
        assert_eq!(Mode::from_u32(6), None);
    }

    #[test]
    fn map_slot_round_trips() {
        let s = MapState {
            mode: 3,
            flags: 0,
            heartbeat_deadline_ns: 77,
            seq: 9,
        };
        assert_eq!(MapState::from_bytes(&s.to_bytes()), s);
    }

    #[test]
    fn state_file_fails_closed() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state.json");
        let c = read_current(&p, None);
        assert_eq!(c.mode, Mode::Lockdown);
        assert!(c.fault.unwrap().contains("state.json"));
        write_state(&p, &State::new(Mode::Airgap, "t")).unwrap();
        let c = read_current(&p, None);
        assert_eq!((c.mode, c.fault), (Mode::Airgap, None));
        std::fs::write(&p, "{\"v\":1,\"mode\":\"WIDE-OPEN\"}").unwrap();
        assert_eq!(read_current(&p, None).mode, Mode::Lockdown);
    }
}
