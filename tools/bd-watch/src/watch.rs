//! The read loop: ring buffer -> filtered JSON lines, plus loss reports.

use crate::cli::{Cli, EventType};
use crate::exit;
use aya::maps::{Map, RingBuf};
use boundary::event::{
    deny_line, exec_line, lost_line, KtimeClock, Record, BD_STAT_DENY_LOST, BD_STAT_EXEC_LOST,
};
use boundary::pin::{self, PinError, Stats};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// An error with its exit code.
#[derive(Debug)]
pub struct Failure(pub u8, pub String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}
impl std::error::Error for Failure {}

fn pin_failure(e: PinError) -> Failure {
    let code = if e.is_permission() {
        exit::PERMISSION
    } else if matches!(e, PinError::NotLoaded { .. }) {
        exit::NOT_LOADED
    } else {
        exit::FAILED
    };
    Failure(code, e.to_string())
}

/// Which events to print.
#[derive(Debug, Default)]
pub struct Filter {
    pub types: Vec<EventType>,
    pub uids: Vec<u32>,
    pub comms: Vec<String>,
    pub cgroups: Vec<u64>,
    pub pids: Vec<u32>,
    pub ppids: Vec<u32>,
}

fn ok<T: PartialEq>(set: &[T], v: &T) -> bool {
    set.is_empty() || set.contains(v)
}

impl Filter {
    pub fn from_cli(cli: &Cli) -> Result<Filter, Failure> {
        let mut cgroups = Vec::new();
        for c in &cli.cgroup {
            if let Ok(id) = c.parse::<u64>() {
                cgroups.push(id);
                continue;
            }
            // On cgroup v2 the id the kernel reports is the directory's inode number.
            let md = std::fs::metadata(c)
                .map_err(|e| Failure(exit::USAGE, format!("--cgroup {c}: {e}")))?;
            if !md.is_dir() {
                return Err(Failure(
                    exit::USAGE,
                    format!("--cgroup {c}: not a cgroup directory or a numeric id"),
                ));
            }
            cgroups.push(md.ino());
        }
        Ok(Filter {
            types: cli.types.clone(),
            uids: cli.uid.clone(),
            comms: cli.comm.clone(),
            cgroups,
            pids: cli.pid.clone(),
            ppids: cli.ppid.clone(),
        })
    }

    pub fn wants_type(&self, t: EventType) -> bool {
        ok(&self.types, &t)
    }

    /// USB lines come from no task: any task filter leaves them out.
    pub fn wants_usb_line(&self, line: &str) -> bool {
        let t = if line.contains("\"type\":\"deny\"") {
            EventType::Deny
        } else {
            EventType::Usb
        };
        self.wants_type(t)
            && self.uids.is_empty()
            && self.comms.is_empty()
            && self.cgroups.is_empty()
            && self.pids.is_empty()
            && self.ppids.is_empty()
    }

    pub fn matches(&self, r: &Record) -> bool {
        match r {
            Record::Exec(e) => {
                self.wants_type(EventType::Exec)
                    && ok(&self.uids, &e.uid)
                    && ok(&self.cgroups, &e.cgroup_id)
                    && ok(&self.pids, &e.pid)
                    && ok(&self.ppids, &e.ppid)
                    && (self.comms.is_empty() || self.comms.contains(&e.comm()))
            }
            Record::Deny(d) => {
                self.wants_type(EventType::Deny)
                    && ok(&self.uids, &d.uid)
                    && ok(&self.cgroups, &d.cgroup_id)
                    && ok(&self.pids, &d.pid)
                    // A deny has no parent: a --ppid filter selects execs only.
                    && self.ppids.is_empty()
                    && (self.comms.is_empty()
                        || self.comms.contains(&boundary::event::c_str(&d.comm)))
            }
            // Never filtered: the dead-man heartbeat of a pipeline depends
            // on them, and only bd-lock's marker thread produces them.
            Record::Liveness(_) => true,
            // Never filtered either: the kernel already changed the mode,
            // and bd-lock must see it to record the transition.
            Record::Tripwire(_) => true,
        }
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn install_signals() -> nix::Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    // No SA_RESTART: poll() returns EINTR and the loop sees STOP at once.
    let sa = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for s in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic.
        unsafe { sigaction(s, &sa) }?;
    }
    Ok(())
}

/// Take the one-consumer lock: an exclusive flock on `<pin>/watch_lock`
/// (a directory: bpffs holds no regular files).
fn lock(pin_dir: &Path) -> Result<nix::fcntl::Flock<File>, Failure> {
    let p = pin::watch_lock_path(pin_dir);
    if let Err(e) = std::fs::create_dir(&p) {
        if e.kind() != io::ErrorKind::AlreadyExists {
            let code = if e.kind() == io::ErrorKind::PermissionDenied {
                exit::PERMISSION
            } else {
                exit::FAILED
            };
            let what = if code == exit::PERMISSION {
                "permission denied (needs root, or CAP_BPF and write access to the pin dir)"
                    .to_string()
            } else {
                e.to_string()
            };
            return Err(Failure(code, format!("{}: {what}", p.display())));
        }
    }
    let f = File::open(&p).map_err(|e| Failure(exit::FAILED, format!("{}: {e}", p.display())))?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|(_, e)| {
        if e == nix::Error::EWOULDBLOCK {
            Failure(
                exit::BUSY,
                format!(
                    "{}: another bd-watch is reading this ring buffer (one consumer per \
                     ring buffer; pipe that one through tee to share it)",
                    pin::map_path(pin_dir, "bd_events").display()
                ),
            )
        } else {
            Failure(exit::FAILED, format!("{}: flock: {e}", p.display()))
        }
    })
}

/// Loss counters seen so far, to report only what moved.
struct Losses {
    stats: Stats,
    exec: u64,
    deny: u64,
}

impl Losses {
    fn open(pin_dir: &Path) -> Result<Losses, Failure> {
        let stats = Stats::open(pin_dir).map_err(pin_failure)?;
        let mut l = Losses {
            stats,
            exec: 0,
            deny: 0,
        };
        // Losses before we started are not ours to report as new; status
        // shows the totals.
        (l.exec, l.deny) = l.read()?;
        Ok(l)
    }

    fn read(&self) -> Result<(u64, u64), Failure> {
        let get = |i| {
            self.stats
                .get(i)
                .map_err(|e| Failure(exit::FAILED, format!("reading bd_stats: {e}")))
        };
        Ok((get(BD_STAT_EXEC_LOST)?, get(BD_STAT_DENY_LOST)?))
    }

    /// Lines for every counter that moved since the last call.
    fn moved(&mut self) -> Result<Vec<String>, Failure> {
        let (exec, deny) = self.read()?;
        let mut out = Vec::new();
        for (kind, now, last) in [
            ("exec", exec, &mut self.exec),
            ("deny", deny, &mut self.deny),
        ] {
            if now != *last {
                let line = lost_line(kind, now.wrapping_sub(*last), now);
                out.push(serde_json::to_string(&line).unwrap_or_default());
                *last = now;
            }
        }
        Ok(out)
    }
}

/// Tell systemd (Type=notify, NotifyAccess=all) that the ring buffer is held:
/// one `READY=1` datagram to `$NOTIFY_SOCKET` (a path, or `@name` for the
/// abstract namespace). Best effort: outside systemd there is no socket, and a
/// failed send only means the unit's start times out, which systemd reports.
fn notify_ready() {
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str());
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => <SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(name),
        None => SocketAddr::from_pathname(&path),
    };
    let sent = UnixDatagram::unbound().and_then(|s| s.send_to_addr(b"READY=1", &addr?));
    if let Err(e) = sent {
        eprintln!("bd-watch: NOTIFY_SOCKET {}: {e}", path.to_string_lossy());
    }
}

/// Outcome of writing one line: keep going, or stdout is gone.
fn emit(out: &mut impl Write, line: &str) -> io::Result<bool> {
    let r = out
        .write_all(line.as_bytes())
        .and_then(|_| out.write_all(b"\n"))
        .and_then(|_| out.flush());
    match r {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e),
    }
}

pub fn run(cli: &Cli) -> Result<(), Failure> {
    let pin_dir = pin::pin_dir(cli.pin_dir.as_deref());
    let filter = Filter::from_cli(cli)?;
    let ring_path = pin::map_path(&pin_dir, "bd_events");
    if let Err(e) = std::fs::metadata(&ring_path) {
        return Err(pin_failure(match e.kind() {
            io::ErrorKind::PermissionDenied => PinError::Permission { path: ring_path },
            _ => PinError::NotLoaded { path: ring_path },
        }));
    }
    let _lock = lock(&pin_dir)?;
    let data = pin::open_map(&pin_dir, "bd_events").map_err(pin_failure)?;
    let ring_id = data
        .info()
        .map_err(|e| Failure(exit::FAILED, format!("{}: {e}", ring_path.display())))?
        .id();
    let mut ring = RingBuf::try_from(Map::RingBuf(data))
        .map_err(|e| Failure(exit::FAILED, format!("{}: {e}", ring_path.display())))?;
    let mut losses = Losses::open(&pin_dir)?;
    let mut usb = if cli.no_usb {
        None
    } else {
        // Fail closed without killing the pipeline: unwatched, no new device
        // is authorised from AIRGAP up; exec and deny events still flow.
        crate::usb::UsbWatch::open(&pin_dir).unwrap_or_else(|e| {
            eprintln!(
                "bd-watch: warning: no USB uevents ({e}): new USB devices stay unauthorised \
                 from AIRGAP up and no usb events are printed"
            );
            None
        })
    };
    install_signals().map_err(|e| Failure(exit::FAILED, format!("signals: {e}")))?;

    let mut clock = KtimeClock::new();
    let mut clock_at = Instant::now();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let io_fail = |e: io::Error| Failure(exit::FAILED, format!("stdout: {e}"));
    let deadline = cli.timeout.map(|t| Instant::now() + t);
    let want_lost = filter.wants_type(EventType::Lost);
    let mut seen: u64 = 0;
    let mut bad: u64 = 0;
    let mut last_stats = Instant::now();
    let mut tree = crate::ancestry::Tree::default();
    const STATS_EVERY: Duration = Duration::from_millis(100);
    // exec_monitor wakes an idle reader only for a lone exec record (a gap or
    // more after the previous one): a wakeup is a self-IPI, a VM exit on a
    // virtual machine, and costs more than the rest of the program. So every
    // other record comes within a gap of one this loop already read, and is
    // found by looking every POLL until a gap has passed since the last
    // record read. bench/tripwire measures the latency this gives.
    const GAP: Duration = Duration::from_nanos(boundary::event::BD_WAKE_GAP_NS);
    const POLL: Duration = Duration::from_nanos(boundary::event::BD_POLL_NS);
    let mut last_record: Option<Instant> = None;

    eprintln!("bd-watch: ready");
    notify_ready();
    'outer: loop {
        while let Some(item) = ring.next() {
            let rec = Record::parse(&item);
            drop(item);
            last_record = Some(Instant::now());
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    // Not ours to guess at: say so, keep reading.
                    bad += 1;
                    eprintln!("bd-watch: skipping a ring buffer record: {e}");
                    continue;
                }
            };
            // Every exec, filtered out or not: a later deny may need it.
            if let Record::Exec(e) = &rec {
                tree.note_exec(e.pid, e.ancestors());
            }
            if !filter.matches(&rec) {
                continue;
            }
            let line = match &rec {
                Record::Exec(e) => serde_json::to_string(&exec_line(e, &clock)),
                Record::Deny(d) => {
                    let mut l = deny_line(d, &clock);
                    if let Some((a, src)) = tree.ancestors_of(d.pid) {
                        l.ancestors = Some(a);
                        l.ancestors_source = Some(src);
                    }
                    serde_json::to_string(&l)
                }
                Record::Liveness(l) => {
                    serde_json::to_string(&boundary::event::liveness_line(l, &clock))
                }
                Record::Tripwire(t) => {
                    serde_json::to_string(&boundary::event::tripwire_line(t, &clock))
                }
            }
            .map_err(|e| Failure(exit::FAILED, format!("json: {e}")))?;
            if !emit(&mut out, &line).map_err(io_fail)? {
                return Ok(());
            }
            if matches!(rec, Record::Liveness(_) | Record::Tripwire(_)) {
                continue;
            }
            seen += 1;
            if cli.count.is_some_and(|n| seen >= n) {
                break 'outer;
            }
        }
        if let Some(u) = usb.as_mut() {
            for l in u.drain() {
                if !filter.wants_usb_line(&l) {
                    continue;
                }
                if !emit(&mut out, &l).map_err(io_fail)? {
                    return Ok(());
                }
                seen += 1;
                if cli.count.is_some_and(|n| seen >= n) {
                    break 'outer;
                }
            }
        }
        let now = Instant::now();
        if now.duration_since(last_stats) >= STATS_EVERY {
            last_stats = now;
            for l in losses.moved()? {
                if want_lost && !emit(&mut out, &l).map_err(io_fail)? {
                    return Ok(());
                }
            }
        }
        if now.duration_since(clock_at) >= Duration::from_secs(1) {
            clock.refresh();
            clock_at = now;
            // Unloaded (or unloaded and loaded anew) under us: this ring
            // buffer will never see another event, so say so and stop.
            let current = pin::open_map(&pin_dir, "bd_events")
                .ok()
                .and_then(|d| d.info().ok())
                .map(|i| i.id());
            if current != Some(ring_id) {
                for l in losses.moved()? {
                    if want_lost && !emit(&mut out, &l).map_err(io_fail)? {
                        return Ok(());
                    }
                }
                return Err(Failure(
                    exit::NOT_LOADED,
                    format!(
                        "{}: the programs were unloaded while watching (bd-load unload); \
                         no further events can arrive on this ring buffer",
                        ring_path.display()
                    ),
                ));
            }
        }
        if STOP.load(Ordering::SeqCst) || deadline.is_some_and(|d| now >= d) {
            break;
        }
        let mut wait = STATS_EVERY.saturating_sub(now.duration_since(last_stats));
        if last_record.is_some_and(|t| now.duration_since(t) < GAP) {
            wait = wait.min(POLL);
        }
        if let Some(d) = deadline {
            wait = wait.min(d.saturating_duration_since(now));
        }
        let ms = wait.as_millis().clamp(1, 100) as u16;
        // stdout too, with no events asked: a pipe whose reader went away
        // reports POLLERR, so `bd-watch | head -3` ends even when no further
        // event would have been written to notice EPIPE.
        let stdout_fd = io::stdout();
        let mut fds = vec![
            PollFd::new(ring.as_fd(), PollFlags::POLLIN),
            PollFd::new(stdout_fd.as_fd(), PollFlags::empty()),
        ];
        if let Some(u) = usb.as_ref() {
            fds.push(PollFd::new(u.fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => return Err(Failure(exit::FAILED, format!("poll: {e}"))),
        }
        if fds[1]
            .revents()
            .is_some_and(|r| r.intersects(PollFlags::POLLERR | PollFlags::POLLHUP))
        {
            return Ok(());
        }
    }
    // At exit: whatever loss happened up to now is reported.
    for l in losses.moved()? {
        if want_lost && !emit(&mut out, &l).map_err(io_fail)? {
            return Ok(());
        }
    }
    if bad > 0 {
        eprintln!("bd-watch: {bad} records could not be decoded");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use boundary::event::{BdExec, BdHdr, BD_ARGS_LEN, BD_COMM_LEN, BD_EV_EXEC, BD_PATH_LEN};

    fn exec(uid: u32, ppid: u32, comm: &str) -> Record {
        let mut e = BdExec {
            hdr: BdHdr {
                type_: BD_EV_EXEC,
                size: 0,
                ktime_ns: 1,
            },
            pid: 10,
            tid: 10,
            ppid,
            uid,
            gid: 0,
            flags: 0,
            cgroup_id: 7,
            args_len: 0,
            argc: 0,
            comm: [0; BD_COMM_LEN],
            filename: [0; BD_PATH_LEN],
            args: [0; BD_ARGS_LEN],
            n_anc: 0,
            _pad0: 0,
            anc: Default::default(),
        };
        e.comm[..comm.len()].copy_from_slice(comm.as_bytes());
        Record::Exec(Box::new(e))
    }

    #[test]
    fn filters_combine_with_and_and_values_with_or() {
        let f = Filter {
            uids: vec![0, 1000],
            comms: vec!["true".into()],
            ..Default::default()
        };
        assert!(f.matches(&exec(1000, 1, "true")));
        assert!(!f.matches(&exec(5, 1, "true")));
        assert!(!f.matches(&exec(0, 1, "false")));
        let f = Filter {
            types: vec![EventType::Deny],
            ..Default::default()
        };
        assert!(!f.matches(&exec(0, 1, "true")));
        assert!(!f.wants_type(EventType::Lost));
        let f = Filter {
            ppids: vec![42],
            cgroups: vec![7],
            ..Default::default()
        };
        assert!(f.matches(&exec(0, 42, "x")));
        assert!(!f.matches(&exec(0, 43, "x")));
    }
}
