//! `bd-log append`: JSON lines on stdin become chained entries.
//!
//! Input is read by a thread in large blocks of whole lines. Each block is
//! validated without the lock, then, holding an exclusive flock, the writer
//! re-reads the log's tail if another appender moved it, formats the block's
//! entries (and any checkpoint that falls due) into one buffer and writes it
//! with a single O_APPEND write. Only after that write (and the fsync the
//! policy asks for) does a line count as acknowledged.

use crate::cli::{AppendArgs, Fsync, RotateArgs};
use crate::fsutil::{self, Lock};
use boundary::log::keys::{PublicKeys, SecretKey};
use boundary::log::merkle::{self, Frontier};
use boundary::log::{self, Checkpoint, Hash, Tail};
use nix::sys::signal::{SigSet, Signal};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::Instant;

/// Exit codes of `append`.
pub const EXIT_INVALID_INPUT: i32 = 1;
pub const EXIT_ERROR: i32 = 2;
pub const EXIT_NEEDS_REPAIR: i32 = boundary::exit::FAULT;

const BLOCK: usize = 1 << 20;

pub struct Failure {
    pub code: i32,
    pub msg: String,
    /// The log ends in lines no checkpoint vouches for: at start, another
    /// live appender may still cover them, so this is worth a bounded wait.
    uncovered: bool,
}

fn fail(code: i32, msg: impl Into<String>) -> Failure {
    Failure {
        code,
        msg: msg.into(),
        uncovered: false,
    }
}

/// Every appender holds an open-file-description read lock on this byte
/// (far past any real log size) for its whole life. It does not interact
/// with the flock that serialises writes; it only lets an appender ask
/// "is another appender alive on this log?".
const PRESENCE_BYTE: i64 = i64::MAX - 1;

fn ofd_lock(file: &File, cmd: libc::c_int, ty: libc::c_int) -> io::Result<libc::c_int> {
    use std::os::fd::AsRawFd;
    // SAFETY: a zeroed flock is a valid value; every field used is set below.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = ty as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = PRESENCE_BYTE;
    fl.l_len = 1;
    // SAFETY: fcntl with an OFD lock command and a pointer to a live flock.
    let r = unsafe { libc::fcntl(file.as_raw_fd(), cmd, &mut fl) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fl.l_type as libc::c_int)
}

/// Marks this appender present (held until the file is closed).
fn announce(file: &File) -> io::Result<()> {
    ofd_lock(file, libc::F_OFD_SETLKW, libc::F_RDLCK).map(|_| ())
}

/// Whether another appender (another open file description) is present.
/// On error, answers yes: a needless checkpoint is cheap, a foreign
/// uncovered tail stops the other appender.
fn others_present(file: &File) -> bool {
    ofd_lock(file, libc::F_OFD_GETLK, libc::F_WRLCK).map_or(true, |t| t != libc::F_UNLCK)
}

/// What this appender knows about the log's end (valid while it holds the lock
/// and the size still matches).
struct State {
    size: u64,
    next_seq: u64,
    last_hash: Hash,
    last_is_checkpoint: bool,
    origin: String,
    /// The RFC 6962 tree of every line of the chain so far (its frontier).
    tree: Frontier,
    /// The key epoch of the last checkpoint in the chain.
    epoch: u64,
    /// The ts of the last line: a checkpoint repeats it (its own ts is not
    /// in the note it signs, the next checkpoint's tree covers it).
    last_ts: String,
    /// The log's format (log::FORMAT for new logs; a log keeps its own).
    format: u8,
}

impl State {
    /// The signed checkpoint line that follows the chain so far, with its
    /// epoch (the key's, never below the last checkpoint's); None when the
    /// key has no signing key for that epoch.
    fn sign_checkpoint(&self, secret: &SecretKey, ts: &str) -> Option<(String, u64)> {
        let epoch = secret.epoch().max(self.epoch);
        let sk = secret.signing_key_at(epoch)?;
        let line = Checkpoint::sign_format(
            &sk,
            epoch,
            &self.origin,
            self.last_hash,
            &self.tree,
            ts,
            self.format,
        )
        .to_line();
        Some((line, epoch))
    }
}

/// Where a new file continues a chain: origin, next seq, chain hash of the
/// last line, the tree so far, the last checkpoint's epoch and the format
/// (a rotation keeps the log's format).
type Continuation = (String, u64, Hash, Frontier, u64, u8);

/// The appender's key: the current epoch's seed (evolved and stored as
/// epochs pass) and every epoch's public key, to check past checkpoints.
struct Keys {
    secret: SecretKey,
    public: PublicKeys,
    path: std::path::PathBuf,
    /// Evolve after a checkpoint once the epoch is this old (None: never).
    interval: Option<std::time::Duration>,
}

impl Keys {
    fn load(
        path: &std::path::Path,
        interval: Option<std::time::Duration>,
    ) -> Result<Keys, Failure> {
        let secret = log::keys::load_secret(path).map_err(|e| fail(EXIT_ERROR, e.to_string()))?;
        let pp = log::pub_path(path);
        let public = log::keys::load_public(&pp).map_err(|e| {
            fail(
                EXIT_ERROR,
                format!("{e} (the public key beside the secret one is needed to check the log's past checkpoints)"),
            )
        })?;
        if public.raw(secret.epoch()) != Some(&secret.signing_key().verifying_key().to_bytes()) {
            return Err(fail(
                EXIT_ERROR,
                format!(
                    "{}: is not the public key of {} (epoch {}); they are not one key pair",
                    pp.display(),
                    path.display(),
                    secret.epoch()
                ),
            ));
        }
        Ok(Keys {
            secret,
            public,
            path: path.to_path_buf(),
            interval,
        })
    }

    fn accept(&self) -> impl Fn(&Checkpoint) -> bool + '_ {
        move |c: &Checkpoint| c.verify(&self.public).is_ok()
    }

    /// Whether `raw` is the public key of epoch `e` of this key.
    fn ours(&self, e: u64, raw: &[u8; 32]) -> bool {
        self.public.raw(e) == Some(raw)
    }

    /// Brings the key to the chain's epoch `e` (a key file older than the
    /// log, restored from a backup, moves forward); refuses a key that is
    /// more than one epoch past it: a checkpoint signed in between is gone.
    fn catch_up(&mut self, e: u64, path: &str) -> Result<(), Failure> {
        if self.secret.epoch() > e + 1 {
            return Err(fail(
                EXIT_ERROR,
                format!(
                    "{path}: the key {} is at epoch {} but the log's last checkpoint is at epoch {e}: \
                     the checkpoints signed in between are missing (the log was cut back, or another \
                     log uses this key; use one key per log)",
                    self.path.display(),
                    self.secret.epoch()
                ),
            ));
        }
        if self.secret.epoch() < e {
            self.secret.evolve_to(e);
            self.store();
        }
        Ok(())
    }

    fn store(&self) {
        if let Err(e) = log::keys::store_secret(&self.path, &self.secret) {
            crate::diag!(
                "bd-log: cannot store the evolved key ({e}); the old epoch's seed stays on disk \
                 until the next evolution succeeds"
            );
        }
    }

    /// After a checkpoint of epoch `e` is durable: move to epoch e+1 when
    /// this epoch has lasted the interval.
    /// Whether the key should move on after a checkpoint of epoch `e`.
    fn evolve_due(&self, e: u64) -> bool {
        let Some(iv) = self.interval else {
            return false;
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        now.saturating_sub(self.secret.started) >= iv.as_secs() && self.secret.epoch() <= e
    }

    fn maybe_evolve(&mut self, e: u64) {
        if !self.evolve_due(e) {
            return;
        }
        if e + 1 >= self.secret.epochs() {
            if !self.secret.is_legacy() {
                crate::diag!(
                    "bd-log: {}: the last of its {} epochs is in use: no forward security from now on; \
                     make a new key (bd-log keygen) and start a new log",
                    self.path.display(),
                    self.secret.epochs()
                );
            }
            return;
        }
        if self.secret.evolve_to(e + 1) {
            self.store();
        }
    }
}

struct Writer<'a> {
    file: File,
    path: &'a str,
    log_path: &'a std::path::Path,
    append_only: bool,
    /// The chain to continue in an empty file: (origin, next seq, hash of the
    /// previous file's last line), set when this appender follows a rotation
    /// or finds the file truncated to nothing under it (copytruncate).
    continue_from: Option<Continuation>,
    keys: Keys,
    st: Option<State>,
    buf: Vec<u8>,
    every: u64,
    /// The format of a log this writer starts (an existing one keeps its own).
    format: u8,
    since_cp: u64,
    fsync: Fsync,
    syncer: Option<Syncer>,
    /// The last ts this process wrote: timestamps come from this process's
    /// clock only, never from a line in the file (a forged far-future ts
    /// must not carry into what this appender signs).
    own_ts: Option<String>,
}

/// fdatasync for `--fsync checkpoint`, off the write path: the appender keeps
/// writing (and releases the lock) while the disk catches up, and requests
/// that pile up are served by one fdatasync. The last one is waited for.
struct Syncer {
    tx: Option<std::sync::mpsc::Sender<()>>,
    done: Option<std::thread::JoinHandle<io::Result<()>>>,
    failed: Arc<AtomicBool>,
}

impl Syncer {
    fn new(file: File) -> Syncer {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let failed = Arc::new(AtomicBool::new(false));
        let flag = failed.clone();
        let done = std::thread::spawn(move || -> io::Result<()> {
            while rx.recv().is_ok() {
                while rx.try_recv().is_ok() {}
                if let Err(e) = file.sync_data() {
                    flag.store(true, Ordering::SeqCst);
                    return Err(e);
                }
            }
            Ok(())
        });
        Syncer {
            tx: Some(tx),
            done: Some(done),
            failed,
        }
    }

    fn request(&self, path: &str) -> Result<(), Failure> {
        if self.failed.load(Ordering::SeqCst) {
            return Err(fail(EXIT_ERROR, format!("{path}: fdatasync failed")));
        }
        if let Some(tx) = &self.tx {
            let _ = tx.send(());
        }
        Ok(())
    }

    /// Waits for the requested syncs; reports a failed one.
    fn finish(&mut self) -> io::Result<()> {
        self.tx = None;
        match self.done.take().map(|h| h.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(io::Error::other("fdatasync thread panicked")),
            None => Ok(()),
        }
    }
}

impl Writer<'_> {
    /// Brings `st` up to date with the file; call with the lock held.
    fn sync(&mut self) -> Result<(), Failure> {
        let size = self
            .file
            .metadata()
            .map_err(|e| fail(EXIT_ERROR, format!("{}: {e}", self.path)))?
            .len();
        if let Some(s) = &self.st {
            if s.size == size {
                return Ok(());
            }
            if size == 0 {
                // copytruncate: the bytes were copied elsewhere and the file
                // emptied under this appender. Continue the chain in it;
                // lines written between the copy and the truncation are lost
                // and verify reports them as missing.
                crate::diag!(
                    "bd-log: {}: truncated to 0 bytes under this appender (copytruncate?); \
                     continuing the chain at seq {} in the same file",
                    self.path,
                    s.next_seq
                );
                self.continue_from = Some((
                    s.origin.clone(),
                    s.next_seq,
                    s.last_hash,
                    s.tree.clone(),
                    s.epoch,
                    s.format,
                ));
                self.st = None;
            } else if size < s.size {
                return Err(fail(
                    EXIT_ERROR,
                    format!(
                        "{}: the log shrank from {} to {size} bytes while this appender ran \
                         (truncated or replaced); refusing to go on",
                        self.path, s.size
                    ),
                ));
            }
        }
        let tail = log::read_tail(&self.file, size)
            .map_err(|e| fail(EXIT_NEEDS_REPAIR, format!("{}: {e}", self.path)))?;
        let (origin, format) = match (&self.st, &tail) {
            (Some(s), _) => (s.origin.clone(), s.format),
            (None, Tail::Empty) => (String::new(), self.format),
            (None, _) => {
                let g = log::read_genesis(&self.file)
                    .map_err(|e| fail(EXIT_NEEDS_REPAIR, format!("{}: {e}", self.path)))?;
                if !self.keys.ours(g.epoch, &g.key) {
                    return Err(fail(
                        EXIT_ERROR,
                        format!(
                            "{}: the log is signed by key {} (epoch {}), not by this key ({}); use the key it was started with",
                            self.path,
                            b64(&g.key),
                            g.epoch,
                            self.keys.path.display()
                        ),
                    ));
                }
                (g.origin, g.format)
            }
        };
        match tail {
            Tail::Empty => {
                // A new log: the genesis checkpoint fixes origin and key. A
                // file that continues a rotated one starts with a checkpoint
                // at the next seq whose head is the previous file's last line.
                let (origin, seq, head, mut tree, epoch, format) = match self.continue_from.take() {
                    Some(c) => c,
                    None => match previous_file(self.log_path, &self.keys) {
                        Some(c) => c,
                        None => (
                            log::new_origin(),
                            0,
                            log::ZERO,
                            Frontier::new(),
                            self.keys.secret.epoch(),
                            format,
                        ),
                    },
                };
                self.keys.catch_up(epoch, self.path)?;
                let epoch = self.keys.secret.epoch();
                let mut ts = boundary::time::now_rfc3339();
                if let Some(own) = &self.own_ts {
                    if ts < *own {
                        ts = own.clone();
                    }
                }
                let line = Checkpoint::sign_format(
                    &self.keys.secret.signing_key(),
                    epoch,
                    &origin,
                    head,
                    &tree,
                    &ts,
                    format,
                )
                .to_line();
                let leaf = merkle::leaf_hash(line.as_bytes());
                tree.push_hash(leaf);
                let mut bytes = line.clone().into_bytes();
                bytes.push(b'\n');
                self.file
                    .write_all(&bytes)
                    .and_then(|_| self.file.sync_data())
                    .map_err(|e| {
                        fail(EXIT_ERROR, format!("{}: writing genesis: {e}", self.path))
                    })?;
                self.own_ts = Some(ts.clone());
                self.st = Some(State {
                    size: bytes.len() as u64,
                    next_seq: seq + 1,
                    last_hash: log::chain_hash_from_leaf(format, line.as_bytes(), leaf),
                    last_is_checkpoint: true,
                    origin,
                    tree,
                    epoch,
                    last_ts: ts,
                    format,
                });
            }
            Tail::Torn { offset, len } => {
                return Err(fail(
                    EXIT_NEEDS_REPAIR,
                    format!(
                        "{}: torn last line ({len} bytes at offset {offset} without a newline, \
                         from an interrupted write); refusing to append: run `bd-log repair -l {}`",
                        self.path, self.path
                    ),
                ));
            }
            Tail::Line {
                seq,
                hash,
                leaf,
                ts,
                ..
            } => {
                // Only bytes this process wrote, or bytes ending in a
                // checkpoint signed with this key, may be signed over.
                let from = self.st.as_ref().map_or(0, |s| s.size);
                let vouched = log::vouched_end(&self.file, size, &self.keys.accept(), &origin)
                    .map_err(|e| fail(EXIT_ERROR, format!("{}: {e}", self.path)))?;
                if vouched != size {
                    let start = vouched.max(from);
                    return Err(Failure {
                        code: EXIT_NEEDS_REPAIR,
                        msg: format!(
                            "{}: {} bytes at offset {start} are not covered by a checkpoint signed with \
                             this key and were not written by this appender; refusing to sign them: \
                             run `bd-log repair -l {}` to move them aside as unverified",
                            self.path,
                            size - start,
                            self.path
                        ),
                        uncovered: true,
                    });
                }
                let (tree, epoch) = last_tree(&self.file, size)
                    .map_err(|e| fail(EXIT_NEEDS_REPAIR, format!("{}: {e}", self.path)))?;
                self.keys.catch_up(epoch, self.path)?;
                self.st = Some(State {
                    size,
                    next_seq: seq + 1,
                    last_hash: if format >= 3 { leaf } else { hash },
                    last_is_checkpoint: true,
                    origin,
                    tree,
                    epoch,
                    last_ts: ts,
                    format,
                });
            }
        }
        Ok(())
    }

    fn push_checkpoint(&mut self) {
        let Some(st) = self.st.as_mut() else { return };
        let Some((line, epoch)) = st.sign_checkpoint(&self.keys.secret, &st.last_ts) else {
            return;
        };
        let leaf = merkle::leaf_hash(line.as_bytes());
        st.tree.push_hash(leaf);
        st.epoch = epoch;
        st.last_hash = log::chain_hash_from_leaf(st.format, line.as_bytes(), leaf);
        st.next_seq += 1;
        st.last_is_checkpoint = true;
        self.buf.extend_from_slice(line.as_bytes());
        self.buf.push(b'\n');
        self.since_cp = 0;
    }

    /// Writes `records` (and due checkpoints) in one locked write.
    /// `final_cp` adds a checkpoint at the end if the log does not end in one.
    /// Returns the seq of the last line written.
    fn write_batch(&mut self, records: &[&[u8]], final_cp: bool) -> Result<u64, Failure> {
        self.follow_rotation(false)?;
        let _lock = Lock::exclusive(&self.file)
            .map_err(|e| fail(EXIT_ERROR, format!("{}: lock: {e}", self.path)))?;
        self.sync()?;
        self.write_locked(records, final_cp)
    }

    /// Whether the log's path still names the file this appender writes.
    /// A rename (logrotate, `bd-log rotate`) or a removal says no.
    fn path_is_ours(&self) -> Result<bool, Failure> {
        use std::os::unix::fs::MetadataExt;
        let mine = self
            .file
            .metadata()
            .map_err(|e| fail(EXIT_ERROR, format!("{}: {e}", self.path)))?;
        match std::fs::metadata(self.log_path) {
            Ok(m) => Ok(m.dev() == mine.dev() && m.ino() == mine.ino()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(fail(EXIT_ERROR, format!("{}: {e}", self.path))),
        }
    }

    /// Follows a rotation: if the path now names another file (or none), the
    /// current file is closed with a checkpoint covering its tail, and the
    /// chain goes on in the file at the path (created if missing), whose
    /// first line is a checkpoint at the next seq with the previous file's
    /// last line as head: same origin, continuing seq. With `hup` (SIGHUP)
    /// the tail is covered even if nothing moved. Never stops the appender.
    fn follow_rotation(&mut self, hup: bool) -> Result<(), Failure> {
        let moved = !self.path_is_ours()?;
        if !moved && !hup {
            return Ok(());
        }
        {
            let _lock = Lock::exclusive(&self.file)
                .map_err(|e| fail(EXIT_ERROR, format!("{}: lock: {e}", self.path)))?;
            self.sync()?;
            self.write_locked(&[], true)?;
        }
        if !moved {
            return Ok(());
        }
        // The closing checkpoint is on disk before the chain moves on.
        if let Some(s) = self.syncer.as_mut() {
            s.finish()
                .map_err(|e| fail(EXIT_ERROR, format!("{}: fdatasync: {e}", self.path)))?;
        }
        self.file
            .sync_data()
            .map_err(|e| fail(EXIT_ERROR, format!("{}: fdatasync: {e}", self.path)))?;
        let new = fsutil::open_regular(
            std::fs::OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .mode(0o640),
            self.log_path,
        )
        .map_err(|e| {
            fail(
                EXIT_ERROR,
                format!("{}: reopening after rotation: {e}", self.path),
            )
        })?;
        let closed = self.st.take();
        let old_seq = closed.as_ref().map_or(0, |s| s.next_seq);
        self.continue_from =
            closed.map(|s| (s.origin, s.next_seq, s.last_hash, s.tree, s.epoch, s.format));
        self.file = new;
        if self.append_only {
            fsutil::set_append_only(&self.file, true).map_err(|e| {
                fail(
                    EXIT_ERROR,
                    format!("{}: cannot set the append-only attribute: {e}", self.path),
                )
            })?;
        }
        if self.syncer.is_some() {
            let dup = self
                .file
                .try_clone()
                .map_err(|e| fail(EXIT_ERROR, format!("{}: {e}", self.path)))?;
            self.syncer = Some(Syncer::new(dup));
        }
        announce(&self.file)
            .map_err(|e| fail(EXIT_ERROR, format!("{}: presence lock: {e}", self.path)))?;
        {
            let _lock = Lock::exclusive(&self.file)
                .map_err(|e| fail(EXIT_ERROR, format!("{}: lock: {e}", self.path)))?;
            self.sync()?;
        }
        // A file someone else had already started: its own chain rules.
        self.continue_from = None;
        self.since_cp = 0;
        crate::diag!(
            "bd-log: {}: rotated: the previous file is closed with a checkpoint; continuing at seq {old_seq} in a new file",
            self.path
        );
        Ok(())
    }

    /// The body of [`Writer::write_batch`], with the lock held and `sync` done.
    fn write_locked(&mut self, records: &[&[u8]], final_cp: bool) -> Result<u64, Failure> {
        self.buf.clear();
        if self.st.is_none() {
            return Err(fail(EXIT_ERROR, "internal: no log state"));
        }
        // One timestamp per batch: the batch is appended at one moment. Never
        // earlier than this process's last one, so its own lines stay ordered
        // if the clock steps back; never taken from the file.
        let mut ts = boundary::time::now_rfc3339();
        if let Some(own) = &self.own_ts {
            if ts < *own {
                ts = own.clone();
            }
        }
        let mut wrote_cp = false;
        for rec in records {
            let Some(st) = self.st.as_mut() else { break };
            let start = self.buf.len();
            log::format_entry(&mut self.buf, st.next_seq, &ts, &st.last_hash, rec);
            let line = &self.buf[start..self.buf.len() - 1];
            // Format v3: one hash per line, the tree's leaf and the chain's link.
            let leaf = merkle::leaf_hash(line);
            st.tree.push_hash(leaf);
            st.last_hash = log::chain_hash_from_leaf(st.format, line, leaf);
            if st.last_ts != ts {
                st.last_ts.clone_from(&ts);
            }
            st.next_seq += 1;
            st.last_is_checkpoint = false;
            self.since_cp += 1;
            if self.since_cp >= self.every {
                self.push_checkpoint();
                wrote_cp = true;
            }
        }
        // With another appender alive, never leave the lock with uncovered
        // entries: it may only sign over what a checkpoint vouches for.
        let final_cp = final_cp || others_present(&self.file);
        if final_cp && self.st.as_ref().is_some_and(|s| !s.last_is_checkpoint) {
            self.push_checkpoint();
            wrote_cp = true;
        }
        if self.buf.is_empty() {
            return Ok(self.st.as_ref().map_or(0, |s| s.next_seq - 1));
        }
        // O_APPEND puts the whole buffer at the end; the lock keeps other
        // appenders out until it is all there.
        (&self.file)
            .write_all(&self.buf)
            .map_err(|e| fail(EXIT_ERROR, format!("{}: write: {e}", self.path)))?;
        match (self.fsync, &self.syncer) {
            (Fsync::Always, _) => self
                .file
                .sync_data()
                .map_err(|e| fail(EXIT_ERROR, format!("{}: fdatasync: {e}", self.path)))?,
            (Fsync::Checkpoint, Some(s)) if wrote_cp => s.request(self.path)?,
            _ => {}
        }
        let st = self
            .st
            .as_mut()
            .ok_or_else(|| fail(EXIT_ERROR, "internal: no log state"))?;
        st.size += self.buf.len() as u64;
        self.own_ts = Some(ts);
        let (last, epoch) = (st.next_seq - 1, st.epoch);
        // Forward security: the next epoch's key replaces this one only once
        // the checkpoint it signed is on disk, so a crash never leaves a log
        // whose next checkpoint needs a key already erased.
        if wrote_cp && self.keys.evolve_due(epoch) {
            if self.fsync != Fsync::Always {
                self.file
                    .sync_data()
                    .map_err(|e| fail(EXIT_ERROR, format!("{}: fdatasync: {e}", self.path)))?;
            }
            self.keys.maybe_evolve(epoch);
        }
        Ok(last)
    }
}

/// What the input side tells the writer.
enum Msg {
    /// Whole input lines; the last block may end without a newline.
    Data(Vec<u8>),
    ReadError(io::Error),
    /// End of input (the signal thread keeps the channel open, so EOF
    /// must be said, not inferred from a disconnect).
    Eof,
    /// SIGINT or SIGTERM: finish what was read, checkpoint, exit.
    Signal(Signal),
    /// SIGHUP: close the file with a checkpoint and follow a rotation.
    Reopen,
    /// An input line longer than any record (`log::MAX_LINE`), with its length:
    /// its bytes were discarded as they came, never held.
    Overlong(u64),
}

/// The signals are blocked in every thread and taken by one thread with
/// sigwait, which queues a stop behind the blocks already read: lines read
/// before the signal are still written and covered.
fn stop_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(s);
    }
    set
}

/// Must run before any other thread starts: threads inherit the mask, and
/// one thread without it would take the signal's default action (exit).
fn block_stop_signals() -> Result<(), Failure> {
    stop_signals()
        .thread_block()
        .map_err(|e| fail(EXIT_ERROR, format!("blocking signals: {e}")))
}

fn spawn_signal_thread(tx: SyncSender<Msg>) -> Result<(), Failure> {
    let set = stop_signals();
    std::thread::spawn(move || loop {
        match set.wait() {
            Ok(Signal::SIGHUP) => {
                if tx.send(Msg::Reopen).is_err() {
                    return;
                }
            }
            Ok(sig) => {
                let _ = tx.send(Msg::Signal(sig));
                return;
            }
            Err(_) => return,
        }
    });
    Ok(())
}

fn spawn_reader() -> Result<Receiver<Msg>, Failure> {
    let (tx, rx) = sync_channel::<Msg>(8);
    spawn_signal_thread(tx.clone())?;
    std::thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        let mut carry: Vec<u8> = Vec::new();
        // Bytes of an over-long line discarded so far, while skipping to its end.
        let mut skipping: Option<u64> = None;
        loop {
            let mut buf = std::mem::take(&mut carry);
            let old = buf.len();
            buf.resize(old + BLOCK, 0);
            let n = match stdin.read(&mut buf[old..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    buf.truncate(old);
                    carry = buf;
                    continue;
                }
                Err(e) => {
                    let _ = tx.send(Msg::ReadError(e));
                    return;
                }
            };
            buf.truncate(old + n);
            if let Some(skipped) = skipping {
                match memchr::memchr(b'\n', &buf) {
                    None if n > 0 => {
                        skipping = Some(skipped + buf.len() as u64);
                        continue;
                    }
                    None => {
                        let _ = tx.send(Msg::Overlong(skipped + buf.len() as u64));
                        let _ = tx.send(Msg::Eof);
                        return;
                    }
                    Some(i) => {
                        skipping = None;
                        if tx.send(Msg::Overlong(skipped + i as u64)).is_err() {
                            return;
                        }
                        buf.drain(..=i);
                    }
                }
            }
            if n == 0 {
                if !buf.is_empty() && tx.send(Msg::Data(buf)).is_err() {
                    return;
                }
                let _ = tx.send(Msg::Eof);
                return;
            }
            match memchr::memrchr(b'\n', &buf) {
                Some(i) => {
                    carry = buf[i + 1..].to_vec();
                    buf.truncate(i + 1);
                    if tx.send(Msg::Data(buf)).is_err() {
                        return;
                    }
                }
                None => carry = buf,
            }
            if carry.len() > log::MAX_LINE {
                skipping = Some(carry.len() as u64);
                carry = Vec::new();
            }
        }
    });
    Ok(rx)
}

pub fn run(a: &AppendArgs) -> Result<(), Failure> {
    block_stop_signals()?;
    let path = a.log.display().to_string();
    let keys = Keys::load(
        &a.key,
        (a.epoch_interval != std::time::Duration::MAX).then_some(a.epoch_interval),
    )?;
    let file = fsutil::open_regular(
        std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o640),
        &a.log,
    )
    .map_err(|e| fail(EXIT_ERROR, format!("{path}: {e}")))?;
    if a.append_only {
        match fsutil::set_append_only(&file, true) {
            Ok(true) => crate::diag!("bd-log: {path}: set the append-only attribute (chattr +a)"),
            Ok(false) => crate::diag!("bd-log: {path}: append-only attribute already set"),
            Err(e) => {
                return Err(fail(
                    EXIT_ERROR,
                    format!("{path}: cannot set the append-only attribute: {e} (needs root and a filesystem that supports it)"),
                ))
            }
        }
    }
    let mut w = Writer {
        file,
        path: &path,
        log_path: &a.log,
        append_only: a.append_only,
        continue_from: None,
        keys,
        st: None,
        buf: Vec::with_capacity(2 * BLOCK),
        every: a.checkpoint_every,
        format: a.format,
        since_cp: 0,
        fsync: a.fsync,
        syncer: None,
        own_ts: None,
    };
    if a.fsync == Fsync::Checkpoint {
        let dup = w
            .file
            .try_clone()
            .map_err(|e| fail(EXIT_ERROR, format!("{path}: {e}")))?;
        w.syncer = Some(Syncer::new(dup));
    }
    announce(&w.file).map_err(|e| fail(EXIT_ERROR, format!("{path}: presence lock: {e}")))?;
    // An uncovered tail left by another live appender is covered by it
    // within its checkpoint interval (it sees this one present); an
    // uncovered tail with nobody alive to cover it needs `repair`.
    let deadline = Instant::now() + a.checkpoint_interval + std::time::Duration::from_secs(2);
    loop {
        let r = {
            let _lock = Lock::exclusive(&w.file)
                .map_err(|e| fail(EXIT_ERROR, format!("{path}: lock: {e}")))?;
            w.sync()
        };
        match r {
            Err(f) if f.uncovered && others_present(&w.file) && Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            r => break r?,
        }
    }
    let rx = spawn_reader()?;
    let mut stdout = io::stdout().lock();
    let mut line_no: u64 = 0;
    let mut written: u64 = 0;
    let mut uncovered_since: Option<Instant> = None;
    let mut invalid: Option<String> = None;
    loop {
        let msg = match uncovered_since {
            Some(t0) => {
                let wait = (t0 + a.checkpoint_interval).saturating_duration_since(Instant::now());
                rx.recv_timeout(wait)
            }
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        let block = match msg {
            Ok(Msg::Data(b)) => b,
            Ok(Msg::Eof) => break,
            Ok(Msg::Overlong(len)) => {
                line_no += 1;
                let msg = format!(
                    "stdin line {line_no}: {len} bytes, longer than any record can be ({} bytes); not held in memory",
                    log::MAX_LINE
                );
                if a.skip_invalid {
                    crate::diag!("bd-log: {msg}; skipped");
                    invalid.get_or_insert(msg);
                    continue;
                }
                invalid = Some(msg);
                w.write_batch(&[], true)?;
                break;
            }
            Ok(Msg::Reopen) => {
                w.follow_rotation(true)?;
                uncovered_since = None;
                continue;
            }
            Ok(Msg::Signal(sig)) => {
                crate::diag!("bd-log: {sig}: finishing: what was read is written and covered by a checkpoint");
                break;
            }
            Ok(Msg::ReadError(e)) => {
                // Stop reading, but still cover what was written.
                w.write_batch(&[], true)?;
                return Err(fail(EXIT_ERROR, format!("reading stdin: {e}")));
            }
            Err(RecvTimeoutError::Timeout) => {
                w.write_batch(&[], true)?;
                uncovered_since = None;
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut records: Vec<&[u8]> = Vec::new();
        let mut stop = false;
        for line in block.split(|&b| b == b'\n') {
            // split yields one empty piece after the final newline.
            if line.is_empty()
                && std::ptr::eq(line.as_ptr(), block.as_ptr().wrapping_add(block.len()))
            {
                continue;
            }
            line_no += 1;
            let rec = line.trim_ascii();
            if rec.is_empty() {
                continue;
            }
            match validate(rec) {
                Ok(()) => records.push(rec),
                Err(why) => {
                    let msg = format!("stdin line {line_no}: {why}");
                    if a.skip_invalid {
                        crate::diag!("bd-log: {msg}; skipped");
                        invalid.get_or_insert(msg);
                    } else {
                        invalid = Some(msg);
                        stop = true;
                        break;
                    }
                }
            }
        }
        let last_seq = w.write_batch(&records, stop)?;
        written += records.len() as u64;
        if !records.is_empty() {
            if w.since_cp > 0 {
                uncovered_since.get_or_insert_with(Instant::now);
            } else {
                uncovered_since = None;
            }
            if a.ack {
                let _ = writeln!(
                    stdout,
                    "{}",
                    crate::json_line(
                        "log_ack",
                        serde_json::json!({"written": written, "seq": last_seq})
                    )
                );
                let _ = stdout.flush();
            }
        }
        if stop {
            break;
        }
    }
    if invalid.is_none() || a.skip_invalid {
        w.write_batch(&[], true)?;
    }
    if let Some(s) = w.syncer.as_mut() {
        s.finish()
            .map_err(|e| fail(EXIT_ERROR, format!("{path}: fdatasync: {e}")))?;
    }
    if let Fsync::Checkpoint | Fsync::Always = a.fsync {
        w.file
            .sync_data()
            .map_err(|e| fail(EXIT_ERROR, format!("{path}: fdatasync: {e}")))?;
    }
    match invalid {
        Some(msg) if a.skip_invalid => Err(fail(
            EXIT_INVALID_INPUT,
            format!("some input lines were not JSON and were skipped (first: {msg}); {written} lines appended"),
        )),
        Some(msg) => Err(fail(
            EXIT_INVALID_INPUT,
            format!("{msg}; stopped: lines before it appended and covered by a checkpoint: {written}"),
        )),
        None => Ok(()),
    }
}

/// One record: the same rule verify applies.
fn validate(rec: &[u8]) -> Result<(), String> {
    log::check_record(rec)
}

/// The chain a fresh, empty log continues: `LOG.1`, the name logrotate gives
/// the file it just rotated, when it ends in a checkpoint signed with this
/// key that vouches for every byte before it. An appender that was not
/// running when the file was rotated then still keeps the chain.
fn previous_file(log_path: &std::path::Path, keys: &Keys) -> Option<Continuation> {
    let mut p = log_path.as_os_str().to_owned();
    p.push(".1");
    let path = std::path::PathBuf::from(p);
    let f = fsutil::open_read(&path).ok()?;
    let size = f.metadata().ok()?.len();
    let g = log::read_genesis(&f).ok()?;
    if !keys.ours(g.epoch, &g.key) {
        return None;
    }
    match log::read_tail(&f, size).ok()? {
        Tail::Line {
            seq,
            hash,
            leaf,
            checkpoint: true,
            ..
        } if log::vouched_end(&f, size, &keys.accept(), &g.origin).ok()? == size => {
            let (tree, epoch) = last_tree(&f, size).ok()?;
            crate::diag!(
                "bd-log: continuing the chain of {} (origin {}) at seq {}",
                path.display(),
                g.origin,
                seq + 1
            );
            let head = if g.format >= 3 { leaf } else { hash };
            Some((g.origin, seq + 1, head, tree, epoch, g.format))
        }
        _ => {
            crate::diag!(
                "bd-log: {} does not end in a checkpoint signed with this key: starting a new origin",
                path.display()
            );
            None
        }
    }
}

/// The tree after the last line of a log that ends in a checkpoint (the
/// checkpoint's frontier, then the checkpoint line itself) and its epoch.
fn last_tree(f: &File, size: u64) -> Result<(Frontier, u64), String> {
    let line = log::last_checkpoint_line(f, size)
        .map_err(|e| e.to_string())?
        .ok_or("no checkpoint in the log")?;
    let cp = Checkpoint::parse_line(&line).map_err(|e| format!("last checkpoint: {e}"))?;
    let mut tree = cp
        .frontier()
        .ok_or("last checkpoint: frontier does not fit its size")?;
    tree.push(&line);
    Ok((tree, cp.epoch))
}

fn b64(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// rename(2) that never replaces an existing file (RENAME_NOREPLACE).
fn rename_noreplace(from: &std::path::Path, to: &std::path::Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &std::path::Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
    };
    let (f, t) = (c(from)?, c(to)?);
    // SAFETY: two valid NUL-terminated paths relative to the cwd.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `bd-log rotate`: close LOG with a checkpoint, rename it, and start a new
/// LOG that continues its chain, all under LOG's lock so no appender writes
/// in between. A running appender follows at its next write.
pub fn rotate(a: &RotateArgs) -> Result<(), Failure> {
    use std::os::unix::fs::PermissionsExt;
    block_stop_signals()?;
    let path = a.log.display().to_string();
    let keys = Keys::load(&a.key, None)?;
    let file = fsutil::open_regular(std::fs::OpenOptions::new().read(true).append(true), &a.log)
        .map_err(|e| fail(EXIT_ERROR, format!("{path}: {e}")))?;
    let mode = file
        .metadata()
        .map_err(|e| fail(EXIT_ERROR, format!("{path}: {e}")))?
        .permissions()
        .mode()
        & 0o777;
    let dest = a.to.clone().unwrap_or_else(|| {
        let mut p = a.log.as_os_str().to_owned();
        p.push(".1");
        std::path::PathBuf::from(p)
    });
    if dest.symlink_metadata().is_ok() {
        return Err(fail(
            EXIT_ERROR,
            format!(
                "{}: already exists; refusing to overwrite a rotated file (use --to)",
                dest.display()
            ),
        ));
    }
    let mut w = Writer {
        file,
        path: &path,
        log_path: &a.log,
        append_only: false,
        continue_from: None,
        keys,
        st: None,
        buf: Vec::new(),
        every: u64::MAX,
        format: log::FORMAT,
        since_cp: 0,
        fsync: Fsync::Always,
        syncer: None,
        own_ts: None,
    };
    announce(&w.file).map_err(|e| fail(EXIT_ERROR, format!("{path}: presence lock: {e}")))?;
    // A running appender covers its tail within its checkpoint interval
    // (default 10s) once it sees this process present.
    let deadline = Instant::now() + std::time::Duration::from_secs(12);
    let _lock = loop {
        let lock =
            Lock::exclusive(&w.file).map_err(|e| fail(EXIT_ERROR, format!("{path}: lock: {e}")))?;
        match w.sync() {
            Ok(()) => break lock,
            Err(f) if f.uncovered && others_present(&w.file) && Instant::now() < deadline => {
                drop(lock);
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(f) => return Err(f),
        }
    };
    if !w.path_is_ours()? {
        return Err(fail(
            EXIT_ERROR,
            format!("{path}: was rotated or replaced meanwhile; nothing done"),
        ));
    }
    w.write_locked(&[], true)?;
    w.file
        .sync_data()
        .map_err(|e| fail(EXIT_ERROR, format!("{path}: fdatasync: {e}")))?;
    let st =
        w.st.as_ref()
            .ok_or_else(|| fail(EXIT_ERROR, "internal: no log state"))?;
    let mut ts = boundary::time::now_rfc3339();
    if let Some(own) = &w.own_ts {
        if ts < *own {
            ts = own.clone();
        }
    }
    let (line, _) = st
        .sign_checkpoint(&w.keys.secret, &ts)
        .ok_or_else(|| fail(EXIT_ERROR, "internal: no key for the log's epoch"))?;
    let dir = match a.log.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = a
        .log
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.rotate-{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(line.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()
        });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(
            EXIT_ERROR,
            format!("{}: {e}; nothing rotated", tmp.display()),
        ));
    }
    if let Err(e) = rename_noreplace(&a.log, &dest) {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(
            EXIT_ERROR,
            format!(
                "renaming {path} to {}: {e}; nothing rotated",
                dest.display()
            ),
        ));
    }
    if let Err(e) = rename_noreplace(&tmp, &a.log) {
        return Err(fail(
            EXIT_ERROR,
            format!(
                "{path} is now {} (closed with a checkpoint), but the new file could not take its name: {e}; \
                 the next appender starts from {}",
                dest.display(),
                dest.display()
            ),
        ));
    }
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    crate::diag!(
        "bd-log: {path}: closed at seq {} and renamed to {}; the new {path} continues at seq {}",
        st.next_seq - 1,
        dest.display(),
        st.next_seq
    );
    let mut out = io::stdout().lock();
    let _ = writeln!(
        out,
        "{}",
        crate::json_line(
            "log_rotate",
            serde_json::json!({"rotated": path, "to": dest.display().to_string(), "seq": st.next_seq, "origin": st.origin})
        )
    );
    Ok(())
}
