//! Shared by the BPF-LSM VM tests (vm_protect.rs, vm_inject.rs): a loaded
//! set of programs in a pin dir of its own, a bd-watch reading it, and
//! checks on errno.

#![allow(dead_code)]

use bd_tests::{bin, in_vm};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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
        require_vm();
        let pin = PathBuf::from(format!("/sys/fs/bpf/bd-test-{name}-{}", std::process::id()));
        let out = Command::new(bin("bd-load"))
            .arg("--pin-dir")
            .arg(&pin)
            .args(["--require", "lsm"])
            .output()
            .expect("spawn bd-load");
        assert!(
            out.status.success(),
            "bd-load --require lsm failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
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
