//! Mode enforcement by BPF-LSM (mode_enforce: bprm_check_security,
//! ptrace_access_check), run inside the VM harness (`cargo xtask vm-test`):
//! the host kernel refuses LSM programs.
//!
//! COLDROOM refuses ptrace attach; LOCKDOWN also refuses exec of any file not
//! in the allow list, keyed by the kernel's device encoding (major << 20 |
//! minor) and inode. Each refusal must arrive as a deny event.

use bd_tests::{bin, in_vm};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn require_vm() {
    assert!(
        in_vm(),
        "VM-only test: run it with `cargo xtask vm-test`, not with --ignored on the host"
    );
}

/// Programs loaded under a private pin dir with their own mode map; unloaded
/// on drop (also on panic), which lifts any lockdown for the tests after us.
struct Rig {
    pin: PathBuf,
    dir: tempfile::TempDir,
}

impl Rig {
    fn new() -> Rig {
        let pin = PathBuf::from(format!(
            "/sys/fs/bpf/bd-test-lockdown-{}",
            std::process::id()
        ));
        let o = Command::new(bin("bd-load"))
            .env("BD_PIN_DIR", &pin)
            .arg("load")
            .output()
            .expect("spawn bd-load");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "bd-load: {out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        // Our programs must attach; other objects do not decide this test.
        for p in ["mode_exec", "mode_ptrace", "mode_traceme"] {
            let name = format!("mode_enforce-{p} ");
            assert!(
                out.lines()
                    .any(|l| l.starts_with(&name) && l.contains(" attached ")),
                "{p} not attached: {out}"
            );
        }
        Rig {
            pin,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn lock(&self, args: &[&str]) -> Output {
        let o = Command::new(bin("bd-lock"))
            .env("BD_PIN_DIR", &self.pin)
            .env("BD_STATE", self.dir.path().join("state.json"))
            .env("BD_OPERATOR_KEYS", self.dir.path().join("ops"))
            .args(args)
            .output()
            .expect("spawn bd-lock");
        // Loaded without --cgroup: set/engage/status warn (exit 4) that the
        // AIRGAP cgroup programs are not attached; the LSM ones must be.
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.success()
                || (o.status.code() == Some(4)
                    && err.contains("WARNING")
                    && !err.contains("mode_exec")
                    && !err.contains("mode_ptrace")),
            "bd-lock {args:?}: {err}"
        );
        o
    }

    fn watch(&self) -> (Child, mpsc::Receiver<Value>) {
        let mut c = Command::new(bin("bd-watch"))
            .env("BD_PIN_DIR", &self.pin)
            .args(["--type", "deny"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn bd-watch");
        let mut err = BufReader::new(c.stderr.take().unwrap());
        let mut l = String::new();
        loop {
            l.clear();
            assert!(
                err.read_line(&mut l).unwrap() > 0,
                "bd-watch exited before ready"
            );
            if l.contains("ready") {
                break;
            }
        }
        let (tx, rx) = mpsc::channel();
        let out = c.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        (c, rx)
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = Command::new(bin("bd-load"))
            .env("BD_PIN_DIR", &self.pin)
            .arg("unload")
            .output();
    }
}

fn next_deny(rx: &mpsc::Receiver<Value>, hook: &str) -> Value {
    loop {
        let v = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("no {hook} deny event within 10 s"));
        if v["hook"] == hook {
            return v;
        }
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

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_lockdown_denies_exec_outside_the_allow_list_and_ptrace() {
    require_vm();
    let rig = Rig::new();
    rig.lock(&["init", "--mode", "OPEN"]);

    // A program the allow list will not know: busybox copied under the
    // applet name "true" (a new inode, so not allowed by busybox's entry).
    let stray = rig.dir.path().join("true");
    std::fs::copy("/bin/busybox", &stray).unwrap();
    std::fs::set_permissions(&stray, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let busybox = std::fs::canonicalize("/bin/busybox").unwrap();
    let allowed = Path::new("/bin/true"); // a symlink to busybox
    let tools = [bin("bd-lock"), bin("bd-load"), bin("bd-watch")];
    let mut allow: Vec<&str> = vec!["allow", busybox.to_str().unwrap()];
    allow.extend(tools.iter().map(|t| t.to_str().unwrap()));
    rig.lock(&allow);

    let mut sleeper = Command::new("/bin/sleep").arg("60").spawn().unwrap();
    assert_eq!(exec_errno(&stray), None, "OPEN runs anything");
    assert_eq!(ptrace_errno(sleeper.id()), None, "OPEN allows ptrace");

    let (mut watch, rx) = rig.watch();

    rig.lock(&["set", "COLDROOM", "--reason", "vm test"]);
    assert_eq!(exec_errno(&stray), None, "COLDROOM still runs anything");
    assert_eq!(
        ptrace_errno(sleeper.id()),
        Some(libc::EPERM),
        "COLDROOM refuses ptrace"
    );
    let d = next_deny(&rx, "ptrace");
    assert_eq!(d["target_pid"], sleeper.id());
    assert_eq!(d["mode"], "COLDROOM");

    rig.lock(&["engage", "--reason", "vm test"]);
    assert_eq!(
        exec_errno(&stray),
        Some(libc::EPERM),
        "LOCKDOWN refuses the stray"
    );
    assert_eq!(exec_errno(allowed), None, "LOCKDOWN runs the allow list");
    let d = next_deny(&rx, "exec");
    assert_eq!(d["mode"], "LOCKDOWN");
    assert_eq!(d["path"], stray.to_str().unwrap());
    let md = std::fs::metadata(&stray).unwrap();
    let kdev = ((libc::major(md.dev()) as u64) << 20) | libc::minor(md.dev()) as u64;
    assert_eq!(
        (d["dev"].as_u64(), d["ino"].as_u64()),
        (Some(kdev), Some(md.ino()))
    );
    assert_eq!(
        ptrace_errno(sleeper.id()),
        Some(libc::EPERM),
        "LOCKDOWN refuses ptrace"
    );

    // Widening the list is refused while locked down.
    let o = Command::new(bin("bd-lock"))
        .env("BD_PIN_DIR", &rig.pin)
        .env("BD_STATE", rig.dir.path().join("state.json"))
        .arg("allow")
        .arg(&stray)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(exec_errno(&stray), Some(libc::EPERM));

    // Release by token, and everything runs again.
    let ops = rig.dir.path().join("ops");
    std::fs::create_dir(&ops).unwrap();
    let key = rig.dir.path().join("op");
    rig.lock(&["keygen", "-o", key.to_str().unwrap()]);
    std::fs::copy(rig.dir.path().join("op.pub"), ops.join("op.pub")).unwrap();
    let tok = rig.dir.path().join("tok");
    rig.lock(&[
        "token",
        "-k",
        key.to_str().unwrap(),
        "--from",
        "LOCKDOWN",
        "--to",
        "OPEN",
        "-o",
        tok.to_str().unwrap(),
    ]);
    rig.lock(&["release", "--token", tok.to_str().unwrap()]);
    assert_eq!(exec_errno(&stray), None, "released");
    assert_eq!(ptrace_errno(sleeper.id()), None, "released");

    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let _ = watch.kill();
    let _ = watch.wait();
}
