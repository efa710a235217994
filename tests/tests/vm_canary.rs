//! In-kernel canaries with BPF-LSM (mode_enforce: file_open and
//! bprm_check_security), inside the VM harness (`cargo xtask vm-test`): the
//! canary's exec and open are refused with EPERM and raise bd_mode in that
//! same system call, so the test process's very next call (a ptrace attach)
//! already meets COLDROOM. Twins: an identical copy that is not registered
//! runs, opens, and leaves the mode alone.

use bd_tests::{bin, in_vm};
use serde_json::Value;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn require_vm() {
    assert!(
        in_vm(),
        "VM-only test: run it with `cargo xtask vm-test`, not with --ignored on the host"
    );
}

struct Rig {
    pin: PathBuf,
    cgroup: PathBuf,
    dir: tempfile::TempDir,
}

impl Rig {
    fn new(tag: &str) -> Rig {
        let name = format!("bd-test-canary-{tag}-{}", std::process::id());
        let pin = PathBuf::from(format!("/sys/fs/bpf/{name}"));
        let cgroup = PathBuf::from(format!("/sys/fs/cgroup/{name}"));
        std::fs::create_dir(&cgroup).expect("create the test cgroup");
        let o = Command::new(bin("bd-load"))
            .env("BD_PIN_DIR", &pin)
            .arg("load")
            .arg("--cgroup")
            .arg(&cgroup)
            .output()
            .expect("spawn bd-load");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "bd-load: {out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        for p in ["mode_exec", "mode_file_open", "mode_ptrace"] {
            let name = format!("mode_enforce-{p} ");
            assert!(
                out.lines()
                    .any(|l| l.starts_with(&name) && l.contains(" attached ")),
                "{p} not attached: {out}"
            );
        }
        let rig = Rig {
            pin,
            cgroup,
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir(rig.dir.path().join("ops")).unwrap();
        rig
    }

    fn lock(&self, args: &[&str]) -> Output {
        Command::new(bin("bd-lock"))
            .env("BD_PIN_DIR", &self.pin)
            .env("BD_STATE", self.dir.path().join("state.json"))
            .env("BD_OPERATOR_KEYS", self.dir.path().join("ops"))
            .args(args)
            .output()
            .expect("spawn bd-lock")
    }

    fn status(&self) -> (Option<i32>, Value) {
        let o = self.lock(&["status", "--json"]);
        (o.status.code(), serde_json::from_slice(&o.stdout).unwrap())
    }

    /// busybox under the applet name `true`, in its own subdirectory.
    fn busybox_true(&self, sub: &str) -> PathBuf {
        let d = self.dir.path().join(sub);
        std::fs::create_dir(&d).unwrap();
        let p = d.join("true");
        std::fs::copy("/bin/busybox", &p).unwrap();
        std::fs::set_permissions(&p, PermissionsExt::from_mode(0o755)).unwrap();
        p
    }

    fn watch(&self) -> (Child, mpsc::Receiver<Value>) {
        bd_tests::rig::watch_json(&self.pin, "deny")
    }

    /// Back to OPEN by a release token (bd-load unloads only in OPEN).
    fn release(&self) -> bool {
        // A mode the kernel raised is recorded first (the token names it).
        let _ = self.lock(&["sync"]);
        let (_, v) = self.status();
        let Some(mode) = v["map"]["mode"].as_str().map(str::to_owned) else {
            return false;
        };
        if mode == "OPEN" {
            return true;
        }
        let key = self.dir.path().join("op");
        let k = key.to_str().unwrap_or_default();
        if !key.exists() {
            let o = self.lock(&["keygen", "-o", k]);
            if !o.status.success() {
                return false;
            }
            let _ = std::fs::write(self.dir.path().join("ops/op.pub"), &o.stdout);
        }
        let tok = self.dir.path().join("tok");
        let t = tok.to_str().unwrap_or_default();
        let _ = std::fs::remove_file(&tok);
        self.lock(&["token", "-k", k, "--from", &mode, "--to", "OPEN", "-o", t])
            .status
            .success()
            && self.lock(&["release", "--token", t]).status.success()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = self.release();
        let _ = Command::new(bin("bd-load"))
            .env("BD_PIN_DIR", &self.pin)
            .arg("unload")
            .output();
        let _ = std::fs::remove_dir_all(&self.pin);
        let _ = std::fs::remove_dir(&self.cgroup);
    }
}

fn exec_errno(p: &Path) -> Option<i32> {
    match Command::new(p).status() {
        Ok(st) => {
            assert!(st.success(), "{} ran but failed: {st}", p.display());
            None
        }
        Err(e) => Some(e.raw_os_error().unwrap_or(-1)),
    }
}

fn open_errno(p: &Path) -> Option<i32> {
    std::fs::File::open(p)
        .err()
        .map(|e| e.raw_os_error().unwrap_or(-1))
}

fn ptrace_errno(pid: u32) -> Option<i32> {
    let pid = nix::unistd::Pid::from_raw(pid as i32);
    match nix::sys::ptrace::attach(pid) {
        Ok(()) => {
            let _ = nix::sys::wait::waitpid(pid, None);
            let _ = nix::sys::ptrace::detach(pid, None);
            None
        }
        Err(e) => Some(e as i32),
    }
}

fn next_tripwire(rx: &mpsc::Receiver<Value>) -> Value {
    loop {
        let v = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("no tripwire event within 10 s");
        if v["type"] == "tripwire" {
            return v;
        }
    }
}

fn kdev(p: &Path) -> (u64, u64) {
    let md = std::fs::metadata(p).unwrap();
    (
        ((libc::major(md.dev()) as u64) << 20) | libc::minor(md.dev()) as u64,
        md.ino(),
    )
}

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_canary_exec_is_refused_and_the_next_syscall_meets_the_mode() {
    require_vm();
    let rig = Rig::new("exec");
    assert!(rig.lock(&["init", "--mode", "OPEN"]).status.success());
    let canary = rig.busybox_true("canary");
    let decoy = rig.busybox_true("decoy");
    let mut sleeper = Command::new("/bin/sleep").arg("60").spawn().unwrap();
    let (mut watch, rx) = rig.watch();

    // Twin, before anything is registered: both run, ptrace is allowed.
    assert_eq!(exec_errno(&canary), None, "OPEN, unregistered");
    assert_eq!(ptrace_errno(sleeper.id()), None, "OPEN allows ptrace");

    let o = rig.lock(&[
        "canary",
        "add",
        "--trip",
        "COLDROOM",
        canary.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{o:?}");
    // The registered file is the one: an identical copy still runs.
    assert_eq!(exec_errno(&decoy), None, "decoy");
    assert_eq!(
        rig.status().1["map"]["mode"],
        "OPEN",
        "the decoy moved the mode"
    );

    // The canary's exec is refused (EPERM) and, in that same execve, the
    // kernel is put in COLDROOM: our next system call is already refused.
    let t0 = Instant::now();
    let e = exec_errno(&canary);
    let p = ptrace_errno(sleeper.id());
    let took = t0.elapsed();
    assert_eq!(e, Some(libc::EPERM), "canary exec");
    assert_eq!(p, Some(libc::EPERM), "the next ptrace after the canary");
    eprintln!("canary exec refused + next ptrace refused: {took:?}");

    let t = next_tripwire(&rx);
    let (dev, ino) = kdev(&canary);
    assert_eq!(
        (
            &t["hook"],
            &t["errno"],
            &t["tripwire"],
            &t["from"],
            &t["to"]
        ),
        (
            &"lsm_exec".into(),
            &"EPERM".into(),
            &"COLDROOM".into(),
            &"OPEN".into(),
            &"COLDROOM".into()
        ),
        "{t}"
    );
    assert_eq!(
        (t["dev"].as_u64(), t["ino"].as_u64()),
        (Some(dev), Some(ino))
    );

    // The kernel alone changed the mode; sync records it (via canary).
    let (code, st) = rig.status();
    assert_eq!((code, &st["mode"]), (Some(7), &"LOCKDOWN".into()), "{st}");
    let o = rig.lock(&["sync"]);
    assert!(o.status.success(), "{o:?}");
    let ev: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (&ev["to"], &ev["via"]),
        (&"COLDROOM".into(), &"canary".into())
    );
    assert_eq!(rig.status().1["mode"], "COLDROOM");

    // Removing it is a loosening: refused outside OPEN.
    let o = rig.lock(&["canary", "remove", canary.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(rig.release(), "release by token");
    assert_eq!(ptrace_errno(sleeper.id()), None, "released");

    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let _ = watch.kill();
    let _ = watch.wait();
}

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_canary_open_is_refused_and_raises_the_mode() {
    require_vm();
    let rig = Rig::new("open");
    assert!(rig.lock(&["init", "--mode", "OPEN"]).status.success());
    let canary = rig.busybox_true("canary");
    let decoy = rig.busybox_true("decoy");
    let (mut watch, rx) = rig.watch();
    assert_eq!(open_errno(&canary), None, "unregistered: opens");

    let o = rig.lock(&[
        "canary",
        "add",
        "--trip",
        "AIRGAP",
        canary.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(open_errno(&decoy), None, "decoy opens");
    assert_eq!(rig.status().1["map"]["mode"], "OPEN");

    assert_eq!(open_errno(&canary), Some(libc::EPERM), "canary open");
    assert_eq!(rig.status().1["map"]["mode"], "AIRGAP");
    let t = next_tripwire(&rx);
    assert_eq!(
        (&t["hook"], &t["errno"], &t["to"], &t["path"]),
        (
            &"lsm_open".into(),
            &"EPERM".into(),
            &"AIRGAP".into(),
            &"true".into()
        ),
        "{t}"
    );
    // stat is not an open: list and the key still work, nothing trips.
    let o = rig.lock(&["canary", "list", "--json"]);
    let l: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(l["hits"], 1, "{l}");

    assert!(rig.release());
    let o = rig.lock(&["canary", "remove", canary.to_str().unwrap()]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(open_errno(&canary), None, "removed: opens again");
    assert_eq!(rig.status().1["map"]["mode"], "OPEN");
    let _ = watch.kill();
    let _ = watch.wait();
}
