//! Shared by the BPF-LSM VM tests: a loaded set of programs in a pin dir of
//! its own, a bd-watch reading it, checks on errno, copies of boundary's
//! binaries, and a mode entered with its release token in hand.

#![allow(dead_code)]

use bd_tests::{bin, in_vm};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Outside the VM these tests cannot mean anything, so running them there
/// with --ignored is an error, not a pass.
pub fn require_vm() {
    assert!(
        in_vm(),
        "VM-only test: run it with `cargo xtask vm-test`, not with --ignored on the host"
    );
}

/// Programs loaded under a private pin dir; unloaded on drop.
pub struct Loaded {
    pub pin: PathBuf,
}

impl Loaded {
    pub fn new(name: &str) -> Loaded {
        Loaded::with_args(name, &[])
    }

    /// `bd-load --require lsm EXTRA`. A load that fails part-way is
    /// unloaded before the panic, so that what it left attached does not
    /// shield the next test's twin.
    pub fn with_args(name: &str, extra: &[&str]) -> Loaded {
        require_vm();
        let pin = PathBuf::from(format!("/sys/fs/bpf/bd-test-{name}-{}", std::process::id()));
        let out = Command::new(bin("bd-load"))
            .arg("--pin-dir")
            .arg(&pin)
            .args(["--require", "lsm"])
            .args(extra)
            .output()
            .expect("spawn bd-load");
        if !out.status.success() {
            let _ = Command::new(bin("bd-load"))
                .arg("--pin-dir")
                .arg(&pin)
                .arg("unload")
                .output();
            panic!(
                "bd-load --require lsm {extra:?} failed: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            );
        }
        Loaded { pin }
    }

    /// Run `bd-load --pin-dir <pin> ARGS`, asserting success; returns stdout.
    pub fn bd_load(&self, args: &[&str]) -> String {
        let out = Command::new(bin("bd-load"))
            .arg("--pin-dir")
            .arg(&self.pin)
            .args(args)
            .output()
            .expect("spawn bd-load");
        assert!(
            out.status.success(),
            "bd-load {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn watch(&self) -> Watch {
        Watch::start(&self.pin)
    }
}

impl Drop for Loaded {
    fn drop(&mut self) {
        let _ = Command::new(bin("bd-load"))
            .arg("--pin-dir")
            .arg(&self.pin)
            .arg("unload")
            .output();
    }
}

/// A running `bd-watch --type deny`, its lines collected in the background.
pub struct Watch {
    child: Child,
    rx: mpsc::Receiver<serde_json::Value>,
    pub seen: Vec<serde_json::Value>,
}

impl Watch {
    fn start(pin: &Path) -> Watch {
        Watch::start_with(&bin("bd-watch"), pin)
    }

    /// A watch run by another bd-watch binary (e.g. a copy recorded as
    /// boundary's own for `pin`).
    pub fn start_with(bd_watch: &Path, pin: &Path) -> Watch {
        let mut child = Command::new(bd_watch)
            .arg("--pin-dir")
            .arg(pin)
            .args(["--type", "deny"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn bd-watch");
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            let n = err.read_line(&mut line).expect("bd-watch stderr");
            assert!(n > 0, "bd-watch exited before it was ready");
            if line.contains("ready") {
                break;
            }
        }
        std::thread::spawn(move || {
            let mut sink = String::new();
            while err.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
                eprint!("bd-watch: {sink}");
                sink.clear();
            }
        });
        let out = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in out.lines() {
                let Ok(l) = l else { break };
                let v: serde_json::Value =
                    serde_json::from_str(&l).unwrap_or_else(|e| panic!("bd-watch line {l:?}: {e}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Watch {
            child,
            rx,
            seen: Vec::new(),
        }
    }

    /// Wait (up to 20 s: TCG is slow) for an event matching `pred`.
    pub fn expect(
        &mut self,
        what: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        if let Some(v) = self.seen.iter().find(|v| pred(v)) {
            return v.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if pred(&v) {
                        return v;
                    }
                }
                Err(_) => panic!("bd-watch never showed {what}; saw {:#?}", self.seen),
            }
        }
    }

    /// Everything that arrives within `d`.
    pub fn drain(&mut self, d: Duration) -> &[serde_json::Value] {
        let deadline = Instant::now() + d;
        while let Ok(v) = self
            .rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(v);
        }
        &self.seen
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process to protect: `sleep` with a recognisable environment. Killed on drop.
pub struct Target {
    pub child: Child,
}

pub const TARGET_ENV: &str = "BD_TEST_SECRET=hunter2-in-environ";

impl Target {
    pub fn spawn() -> Target {
        let (k, v) = TARGET_ENV.split_once('=').unwrap();
        let child = Command::new("/bin/sleep")
            .arg("600")
            .env(k, v)
            .spawn()
            .expect("spawn sleep");
        // Let it exec, so /proc/<pid>/environ is sleep's, not ours, and
        // finish it: exe changes before the new mappings exist, and a
        // mapping read in between (first_mapping) is gone by the time it
        // is used. Asleep ('S') means sleep is in nanosleep.
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        let asleep = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| s.rsplit_once(") ").map(|(_, r)| r.starts_with('S')))
                .unwrap_or(false)
        };
        while std::fs::read_link(format!("/proc/{pid}/exe"))
            .map(|p| !p.to_string_lossy().contains("busybox"))
            .unwrap_or(true)
            || !asleep()
        {
            assert!(Instant::now() < deadline, "sleep never exec'd");
            std::thread::sleep(Duration::from_millis(10));
        }
        Target { child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Assert the result is a refusal: EPERM or EACCES.
#[track_caller]
pub fn assert_refused<T: std::fmt::Debug>(what: &str, r: Result<T, i32>) {
    match r {
        Err(e) if e == libc::EPERM || e == libc::EACCES => {}
        other => panic!("{what}: expected EPERM or EACCES, got {other:?}"),
    }
}

pub fn read_environ(pid: u32) -> Result<Vec<u8>, i32> {
    std::fs::read(format!("/proc/{pid}/environ")).map_err(|e| e.raw_os_error().unwrap_or(-1))
}

pub fn open_mem(pid: u32) -> Result<std::fs::File, i32> {
    std::fs::File::open(format!("/proc/{pid}/mem")).map_err(|e| e.raw_os_error().unwrap_or(-1))
}

/// PTRACE_ATTACH then, on success, wait for the stop and detach again.
pub fn ptrace_attach(pid: u32) -> Result<(), i32> {
    use nix::sys::ptrace;
    use nix::sys::wait::waitpid;
    let p = nix::unistd::Pid::from_raw(pid as i32);
    ptrace::attach(p).map_err(|e| e as i32)?;
    waitpid(p, Some(nix::sys::wait::WaitPidFlag::__WALL)).map_err(|e| e as i32)?;
    ptrace::detach(p, None).map_err(|e| e as i32)?;
    Ok(())
}

/// The start of the first readable mapping of `pid` (read while it is not
/// protected: /proc/<pid>/maps is shielded like environ).
pub fn first_mapping(pid: u32) -> u64 {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("maps");
    let line = maps
        .lines()
        .find(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|p| p.starts_with('r'))
        })
        .expect("a readable mapping");
    u64::from_str_radix(line.split('-').next().unwrap(), 16).unwrap()
}

pub fn vm_readv(pid: u32, addr: u64) -> Result<Vec<u8>, i32> {
    use nix::sys::uio::{process_vm_readv, RemoteIoVec};
    let mut buf = vec![0u8; 4];
    let n = process_vm_readv(
        nix::unistd::Pid::from_raw(pid as i32),
        &mut [std::io::IoSliceMut::new(&mut buf)],
        &[RemoteIoVec {
            base: addr as usize,
            len: 4,
        }],
    )
    .map_err(|e| e as i32)?;
    buf.truncate(n);
    Ok(buf)
}

/// Copies of boundary's six binaries in `<root>/bin` of a temp dir of their
/// own, and a pin dir the copied bd-load loads into: bd-load records the
/// binaries beside itself as boundary's, so a test that seals, truncates or
/// engages a mode does it for these inodes, not for the ones every other
/// VM test runs. Unloaded on drop (by the copy, then by the original, in
/// case the copy was the thing broken).
pub struct Copies {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub pin: PathBuf,
}

impl Copies {
    /// `tag` names the temp dir and the pin dir (with this pid).
    pub fn new(tag: &str) -> Copies {
        require_vm();
        let dir = tempfile::Builder::new()
            .prefix(&format!("bd-{tag}-"))
            .tempdir()
            .unwrap();
        let root = dir.path().to_path_buf();
        // On the same filesystem as the rest of the temp dir: a test may
        // hard-link a copy (boundary's identity is the inode).
        std::fs::create_dir(root.join("bin")).unwrap();
        for b in [
            "bd-load",
            "bd-watch",
            "bd-lock",
            "bd-log",
            "bd-policy",
            "bd-inject",
        ] {
            std::fs::copy(bin(b), root.join("bin").join(b)).unwrap();
        }
        let pin = PathBuf::from(format!("/sys/fs/bpf/bd-test-{tag}-{}", std::process::id()));
        Copies {
            _dir: dir,
            root,
            pin,
        }
    }

    pub fn bin_dir(&self) -> PathBuf {
        self.root.join("bin")
    }

    pub fn bin(&self, name: &str) -> PathBuf {
        self.bin_dir().join(name)
    }

    /// `bd-load --pin-dir <pin> load --require lsm EXTRA` by the copy.
    pub fn load(&self, extra: &[&str]) -> Output {
        Command::new(self.bin("bd-load"))
            .arg("--pin-dir")
            .arg(&self.pin)
            .args(["load", "--require", "lsm"])
            .args(extra)
            .output()
            .unwrap()
    }

    /// `bd-load --pin-dir <pin> ARGS` by the copy.
    pub fn bd_load(&self, args: &[&str]) -> Output {
        Command::new(self.bin("bd-load"))
            .arg("--pin-dir")
            .arg(&self.pin)
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Copies {
    fn drop(&mut self) {
        let _ = self.bd_load(&["unload"]);
        let _ = Command::new(bin("bd-load"))
            .arg("--pin-dir")
            .arg(&self.pin)
            .arg("unload")
            .output();
    }
}

/// Assert a command succeeded, with its output in the message.
#[track_caller]
pub fn assert_ok(what: &str, o: &Output) {
    assert!(
        o.status.success(),
        "{what}: {}\n{}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
}

/// A mode state of its own (a temp dir: state.json, one operator key in
/// `ops`) for the programs in `pin`, driven by `bd_lock`. [`engage`] makes
/// the release token (it names the new state's seq) before it checks
/// anything, and drop releases with it: a failed assertion must still
/// leave the kernel in OPEN, or the unload is refused and every later test
/// of the boot runs above OPEN.
///
/// [`engage`]: Ceremony::engage
pub struct Ceremony {
    dir: tempfile::TempDir,
    pin: PathBuf,
    bd_lock: PathBuf,
    key: PathBuf,
    token: Option<PathBuf>,
}

impl Ceremony {
    /// `bd-lock init --mode OPEN` and an operator key.
    pub fn new(pin: &Path, bd_lock: &Path) -> Ceremony {
        let mut c = Ceremony {
            dir: tempfile::Builder::new()
                .prefix("bd-ceremony-")
                .tempdir()
                .unwrap(),
            pin: pin.to_path_buf(),
            bd_lock: bd_lock.to_path_buf(),
            key: PathBuf::new(),
            token: None,
        };
        let key = c.dir.path().join("op");
        let ops = c.dir.path().join("ops");
        std::fs::create_dir(&ops).unwrap();
        c.lock(&["init", "--mode", "OPEN"]);
        c.lock(&["keygen", "-o", key.to_str().unwrap()]);
        std::fs::copy(c.dir.path().join("op.pub"), ops.join("op.pub")).unwrap();
        c.key = key;
        c
    }

    pub fn state_dir(&self) -> &Path {
        self.dir.path()
    }

    /// `bd-lock ARGS` with this state, these keys and the pins.
    pub fn lock_raw(&self, args: &[&str]) -> Output {
        Command::new(&self.bd_lock)
            .env("BD_PIN_DIR", &self.pin)
            .env("BD_STATE", self.dir.path().join("state.json"))
            .env("BD_OPERATOR_KEYS", self.dir.path().join("ops"))
            .args(args)
            .output()
            .unwrap()
    }

    #[track_caller]
    pub fn lock(&self, args: &[&str]) -> Output {
        let o = self.lock_raw(args);
        assert_ok(&format!("bd-lock {args:?}"), &o);
        o
    }

    /// `bd-lock set mode`, then the release token for `mode -> OPEN`.
    /// Exit 4 is accepted (bd-lock naming the network programs, not
    /// attached without --cgroup) unless it names mode_enforce's LSM ones.
    pub fn engage(&mut self, mode: &str) {
        let tok = self.dir.path().join(format!("{mode}.tok"));
        let set = self.lock_raw(&["set", mode, "--reason", "vm test"]);
        self.lock(&[
            "token",
            "-k",
            self.key.to_str().unwrap(),
            "--from",
            mode,
            "--to",
            "OPEN",
            "-o",
            tok.to_str().unwrap(),
        ]);
        self.token = Some(tok);
        let err = String::from_utf8_lossy(&set.stderr);
        assert!(
            set.status.success()
                || (set.status.code() == Some(4) && !err.contains("mode_locked_down")),
            "bd-lock set {mode}: {err}"
        );
    }

    /// Back to OPEN with the token; asserts it worked.
    #[track_caller]
    pub fn release(&mut self) {
        let tok = self.token.take().expect("engage first");
        self.lock(&["release", "--token", tok.to_str().unwrap()]);
    }
}

impl Drop for Ceremony {
    fn drop(&mut self) {
        if let Some(tok) = self.token.take() {
            let _ = self.lock_raw(&["release", "--token", tok.to_str().unwrap_or_default()]);
        }
    }
}

/// Run a set-up command that must succeed: its trimmed stdout, or a panic
/// naming the command and its stderr.
#[track_caller]
pub fn run(c: &mut Command) -> String {
    let o = c.output().unwrap();
    assert!(
        o.status.success(),
        "{c:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}
