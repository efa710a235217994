//! Mode enforcement by BPF-LSM (mode_enforce: bprm_check_security,
//! ptrace_access_check, mmap_file, unix_stream_connect, ...), run inside the VM harness (`cargo xtask vm-test`):
//! the host kernel refuses LSM programs.
//!
//! COLDROOM refuses ptrace attach; LOCKDOWN also refuses exec of any file not
//! in the allow list, keyed by the kernel's device encoding (major << 20 |
//! minor) and inode. Each refusal must arrive as a deny event.

use bd_tests::{bin, in_vm};
use serde_json::Value;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
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
    cgroup: PathBuf,
    dir: tempfile::TempDir,
}

impl Rig {
    fn new() -> Rig {
        Rig::with(&[])
    }

    /// Loaded with these bd-load options added.
    fn with(extra: &[&str]) -> Rig {
        let pin = PathBuf::from(format!(
            "/sys/fs/bpf/bd-test-lockdown-{}",
            std::process::id()
        ));
        // A governed cgroup of our own, so AIRGAP's programs attach too and
        // bd-lock reports every mode as enforced (exit 0, not 4).
        let cgroup = PathBuf::from(format!(
            "/sys/fs/cgroup/bd-test-lockdown-{}",
            std::process::id()
        ));
        std::fs::create_dir(&cgroup).expect("create the test cgroup");
        let o = Command::new(bin("bd-load"))
            .env("BD_PIN_DIR", &pin)
            .arg("load")
            .arg("--cgroup")
            .arg(&cgroup)
            .args(extra)
            .output()
            .expect("spawn bd-load");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "bd-load: {out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        // Our programs must attach; other objects do not decide this test.
        for p in [
            "mode_exec",
            "mode_mmap",
            "mode_mprotect",
            "mode_file_open",
            "mode_truncate",
            "mode_rename",
            "mode_ptrace",
            "mode_traceme",
            "mode_locked_down",
            "mode_task_alloc",
            "mode_unix_connect",
            "mode_unix_send",
        ] {
            let name = format!("mode_enforce-{p} ");
            assert!(
                out.lines()
                    .any(|l| l.starts_with(&name) && l.contains(" attached ")),
                "{p} not attached: {out}"
            );
        }
        Rig {
            pin,
            cgroup,
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
                    && !err.contains("mode_mmap")
                    && !err.contains("mode_mprotect")
                    && !err.contains("mode_file_open")
                    && !err.contains("mode_truncate")
                    && !err.contains("mode_rename")
                    && !err.contains("mode_ptrace")),
            "bd-lock {args:?}: {err}"
        );
        o
    }

    fn watch(&self) -> (Child, mpsc::Receiver<Value>) {
        bd_tests::rig::watch_json(&self.pin, "deny")
    }
}

impl Rig {
    /// bd-lock without asserting (for Drop: a panic there would abort).
    fn lock_quiet(&self, args: &[&str]) -> bool {
        Command::new(bin("bd-lock"))
            .env("BD_PIN_DIR", &self.pin)
            .env("BD_STATE", self.dir.path().join("state.json"))
            .env("BD_OPERATOR_KEYS", self.dir.path().join("ops"))
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success() || o.status.code() == Some(4))
    }

    /// Any mode above OPEN -> OPEN by a release token: bd-load unloads only
    /// in OPEN (self-protection), whatever mode a test ended in.
    fn release_quietly(&self) {
        let st = self.dir.path().join("state.json");
        let Some(mode) = std::fs::read(&st)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v["mode"].as_str().map(str::to_owned))
        else {
            return;
        };
        if mode == "OPEN" {
            return;
        }
        let ops = self.dir.path().join("ops");
        let _ = std::fs::create_dir_all(&ops);
        let key = self.dir.path().join("drop-op");
        let tok = self.dir.path().join("drop-tok");
        let k = key.to_str().unwrap_or_default();
        let t = tok.to_str().unwrap_or_default();
        if !key.exists() && !self.lock_quiet(&["keygen", "-o", k]) {
            return;
        }
        let _ = std::fs::copy(self.dir.path().join("drop-op.pub"), ops.join("drop-op.pub"));
        let _ = std::fs::remove_file(&tok);
        if self.lock_quiet(&["token", "-k", k, "--from", &mode, "--to", "OPEN", "-o", t]) {
            self.lock_quiet(&["release", "--token", t]);
        }
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.release_quietly();
        let _ = Command::new(bin("bd-load"))
            .env("BD_PIN_DIR", &self.pin)
            .arg("unload")
            .output();
        // If LOCKDOWN refused bd-load (a failed test), unpinning the links
        // and maps ourselves detaches the programs: no exec needed, and the
        // tests after us (and the harness) run again.
        let _ = std::fs::remove_dir_all(&self.pin);
        let _ = std::fs::remove_dir(&self.cgroup);
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

/// Files this (dynamic) test binary maps executable, itself excluded: the
/// ELF interpreter and shared libraries the bd-* tools load too.
fn exec_libs() -> Vec<PathBuf> {
    let me = std::env::current_exe().unwrap();
    let mut v: Vec<PathBuf> = std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 6 && f[1].contains('x') && f[5].starts_with('/'))
                .then(|| std::fs::canonicalize(f[5]).unwrap())
        })
        .filter(|p| *p != me)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The next deny event of `hook` on inode `ino` (others are skipped).
fn deny_on(rx: &mpsc::Receiver<Value>, hook: &str, ino: u64) -> Value {
    loop {
        let d = next_deny(rx, hook);
        if d["ino"].as_u64() == Some(ino) {
            return d;
        }
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
    let mut tools = vec![bin("bd-lock"), bin("bd-load"), bin("bd-watch")];
    // LOCKDOWN also refuses executable mappings: the tools' libraries.
    tools.extend(exec_libs());
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

/// Issue 9, holes 1 and 2: in LOCKDOWN a file outside the allow list could
/// still run as code by being mapped executable: LD_PRELOAD (or dlopen) of
/// any library into an allowed dynamic binary, and `ld.so FILE`. Twin: both
/// work in OPEN. Legitimate: an allowed dynamic binary with its (allowed)
/// libraries still runs.
#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_lockdown_denies_executable_mappings_outside_the_allow_list() {
    require_vm();
    let rig = Rig::new();
    rig.lock(&["init", "--mode", "OPEN"]);
    let libs = exec_libs();
    let ld_so = libs
        .iter()
        .find(|p| p.to_string_lossy().contains("ld-linux"))
        .expect("an ELF interpreter in /proc/self/maps")
        .clone();
    let a_lib = libs
        .iter()
        .find(|p| p.to_string_lossy().contains("libgcc_s"))
        .or_else(|| {
            libs.iter()
                .find(|p| p.to_string_lossy().contains("libc.so"))
        })
        .expect("a shared library in /proc/self/maps")
        .clone();
    // Not on the list: copies are new inodes.
    let stray = rig.dir.path().join("stray-bd-lock");
    std::fs::copy(bin("bd-lock"), &stray).unwrap();
    let evil = rig.dir.path().join("evil.so");
    std::fs::copy(&a_lib, &evil).unwrap();
    let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();

    let mut allow: Vec<PathBuf> = vec![bin("bd-lock"), bin("bd-load"), bin("bd-watch")];
    allow.extend(libs.iter().cloned());
    let mut args: Vec<&str> = vec!["allow"];
    args.extend(allow.iter().map(|p| p.to_str().unwrap()));
    rig.lock(&args);

    let via_ld_so = || {
        Command::new(&ld_so)
            .arg(&stray)
            .arg("--version")
            .output()
            .unwrap()
    };
    // An allowed program that is not one of boundary's: a preload into
    // boundary's own is refused by self-protection first (hook self_mmap,
    // vm_self_code.rs), which would hide this check.
    rig.lock(&["allow", "--libs", "/usr/bin/bash"]);
    let preload = || {
        Command::new("/usr/bin/bash")
            .env("LD_PRELOAD", &evil)
            .args(["-c", "exit 0"])
            .output()
            .unwrap()
    };
    let stderr = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();

    // OPEN: both attacks work (the twin).
    let o = via_ld_so();
    assert!(
        o.status.success(),
        "OPEN: ld.so runs the stray: {}",
        stderr(&o)
    );
    let o = preload();
    assert!(
        o.status.success() && !stderr(&o).contains("cannot be preloaded"),
        "OPEN: the preload loads: {}",
        stderr(&o)
    );

    let (mut watch, rx) = rig.watch();
    rig.lock(&["engage", "--reason", "vm test"]);

    let o = via_ld_so();
    assert!(!o.status.success(), "LOCKDOWN: ld.so ran the stray");
    let d = deny_on(&rx, "mmap_exec", ino(&stray));
    assert_eq!(d["mode"], "LOCKDOWN");

    let o = preload();
    assert!(
        stderr(&o).contains("cannot be preloaded"),
        "LOCKDOWN: the preload was mapped: {}",
        stderr(&o)
    );
    deny_on(&rx, "mmap_exec", ino(&evil));

    // The allowed dynamic binary with its allowed libraries still runs.
    let o = Command::new(bin("bd-lock"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(o.status.success(), "allowed binary: {}", stderr(&o));

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
    assert!(via_ld_so().status.success(), "released");
    let _ = watch.kill();
    let _ = watch.wait();
}

/// Issue 9, holes 3 and 4: an allowed file rewritten in place, or a new
/// file on a reused inode number, ran as if allowed. Now an allowed inode
/// cannot be opened for writing or truncated (any mode) nor renamed over
/// (LOCKDOWN), each a deny event; and an entry is sealed by the kernel with
/// the inode's generation and ctime, so a changed or reused inode is not
/// trusted (exec deny with access 1). Twins: the same operations on a file
/// not on the list, or after `allow --remove`, work; the unchanged allowed
/// copy still runs in LOCKDOWN.
#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_lockdown_protects_allowed_files_and_distrusts_changed_inodes() {
    use std::io::Write;
    use std::os::unix::fs::{FileExt, PermissionsExt};
    require_vm();
    let rig = Rig::new();
    rig.lock(&["init", "--mode", "OPEN"]);
    let d = rig.dir.path();
    // busybox runs the applet named by argv[0]: each copy is a "true".
    let copy = |name: &str| {
        std::fs::create_dir(d.join(name)).unwrap();
        let p = d.join(name).join("true");
        std::fs::copy("/bin/busybox", &p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    };
    let allowed = copy("allowed");
    let control = copy("control");
    let w2 = copy("w2");
    let pre = copy("pre");
    let reuse = copy("reuse");
    let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
    // A writer opened before the file is allowed keeps its descriptor.
    let pre_fd = std::fs::OpenOptions::new().write(true).open(&pre).unwrap();

    let busybox = std::fs::canonicalize("/bin/busybox").unwrap();
    let mut list = vec![busybox, bin("bd-lock"), bin("bd-load"), bin("bd-watch")];
    list.extend(exec_libs());
    list.extend([allowed.clone(), w2.clone(), pre.clone(), reuse.clone()]);
    let mut args: Vec<&str> = vec!["allow"];
    args.extend(list.iter().map(|p| p.to_str().unwrap()));
    let o = rig.lock(&args);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    for p in [&allowed, &pre] {
        let line = out
            .lines()
            .find(|l| l.contains(p.to_str().unwrap()))
            .unwrap_or_else(|| panic!("no line for {}: {out}", p.display()));
        assert!(
            line.contains("generation") && line.contains("ctime_ns"),
            "not sealed: {line}"
        );
    }
    let (mut watch, rx) = rig.watch();
    let open_w = |p: &Path| std::fs::OpenOptions::new().write(true).open(p);
    let errno = |r: std::io::Result<()>| r.err().and_then(|e| e.raw_os_error());

    // Twin: a file not on the list can be written and truncated.
    assert_eq!(errno(open_w(&control).map(drop)), None);
    assert_eq!(
        errno(nix::unistd::truncate(&control, 1 << 20).map_err(Into::into)),
        None
    );

    // OPEN already: the allowed file cannot be opened for writing or truncated.
    assert_eq!(errno(open_w(&allowed).map(drop)), Some(libc::EPERM));
    let ev = deny_on(&rx, "allowed_write", ino(&allowed));
    assert_eq!(ev["mode"], "OPEN");
    assert_eq!(
        errno(nix::unistd::truncate(&allowed, 0).map_err(Into::into)),
        Some(libc::EPERM)
    );
    deny_on(&rx, "allowed_truncate", ino(&allowed));
    let trunc_ro = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags_trunc()
        .open(&allowed);
    assert_eq!(
        errno(trunc_ro.map(drop)),
        Some(libc::EPERM),
        "O_RDONLY|O_TRUNC"
    );

    // Twin: removed from the list, the same write works.
    rig.lock(&["allow", "--remove", w2.to_str().unwrap()]);
    let mut f = open_w(&w2).expect("write after allow --remove");
    f.write_all(b"x").unwrap();
    drop(f);

    // The pre-opened writer rewrites one byte with its own value: same
    // content, but the inode changed after it was sealed.
    let mut b = [0u8; 1];
    std::fs::File::open(&pre)
        .unwrap()
        .read_exact_at(&mut b, 100)
        .unwrap();
    pre_fd.write_all_at(&b, 100).unwrap();
    drop(pre_fd);

    // A new file on the reused inode number, if the filesystem reuses one.
    let (reuse_ino, reuse_dev) = {
        let m = std::fs::metadata(&reuse).unwrap();
        (m.ino(), m.dev())
    };
    std::fs::remove_file(&reuse).unwrap();
    let mut reused = None;
    for i in 0..200 {
        let p = copy(&format!("r{i}"));
        let m = std::fs::metadata(&p).unwrap();
        if m.ino() == reuse_ino && m.dev() == reuse_dev {
            reused = Some(p);
            break;
        }
    }

    rig.lock(&["engage", "--reason", "vm test"]);
    assert_eq!(
        exec_errno(&allowed),
        None,
        "the unchanged allowed file runs"
    );
    assert_eq!(exec_errno(&pre), Some(libc::EPERM), "changed after sealing");
    let ev = deny_on(&rx, "exec", ino(&pre));
    assert_eq!(ev["access"], 1, "stale entry: {ev}");
    if let Some(p) = &reused {
        assert_eq!(exec_errno(p), Some(libc::EPERM), "reused inode number");
        let ev = deny_on(&rx, "exec", reuse_ino);
        assert_eq!(ev["access"], 1, "stale entry: {ev}");
        println!("inode {reuse_ino} reused by {}: denied", p.display());
    } else {
        println!("this filesystem reused no inode number in 200 files");
    }

    // LOCKDOWN: nothing is renamed over an allowed file; twin: over another.
    let n1 = d.join("n1");
    std::fs::write(&n1, b"x").unwrap();
    assert_eq!(
        errno(std::fs::rename(&n1, &allowed)),
        Some(libc::EPERM),
        "renamed over an allowed file"
    );
    deny_on(&rx, "allowed_rename", ino(&allowed));
    assert_eq!(errno(std::fs::rename(&n1, &control)), None);
    assert_eq!(exec_errno(&allowed), None, "still the allowed file");
    let _ = watch.kill();
    let _ = watch.wait();
    release_to_open(&rig);
}

/// LOCKDOWN -> OPEN by a release token, so the tests after us never depend
/// on unloading from LOCKDOWN.
fn release_to_open(rig: &Rig) {
    let ops = rig.dir.path().join("ops");
    std::fs::create_dir_all(&ops).unwrap();
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
}

trait TruncFlag {
    fn custom_flags_trunc(&mut self) -> &mut Self;
}
impl TruncFlag for std::fs::OpenOptions {
    fn custom_flags_trunc(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::custom_flags(self, libc::O_TRUNC)
    }
}

/// Issue 9, a practical allow list: `allow --libs` adds each binary's ELF
/// interpreter and DT_NEEDED closure, enough for the dynamic bd-* tools to
/// run in LOCKDOWN with nothing else listed; `allow --device` trusts a whole
/// filesystem while it is mounted read-only, and is refused for a
/// read-write one. Twin: remounted read-write, the same file is refused.
#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_lockdown_allow_libs_closure_and_read_only_device() {
    use nix::mount::{mount, umount2, MntFlags, MsFlags};
    require_vm();
    let rig = Rig::new();
    rig.lock(&["init", "--mode", "OPEN"]);
    let tools = [bin("bd-lock"), bin("bd-load"), bin("bd-watch")];
    let mut args = vec!["allow", "--libs"];
    args.extend(tools.iter().map(|p| p.to_str().unwrap()));
    let o = rig.lock(&args);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        out.contains("ld-linux") && out.contains("libc.so"),
        "no interpreter or libc in the closure: {out}"
    );

    let ro = rig.dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    mount(
        Some("tmpfs"),
        &ro,
        Some("tmpfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    let bb = ro.join("true");
    std::fs::copy("/bin/busybox", &bb).unwrap();
    std::fs::set_permissions(&bb, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let remount = |flags: MsFlags| {
        mount(
            None::<&str>,
            &ro,
            None::<&str>,
            MsFlags::MS_REMOUNT | flags,
            None::<&str>,
        )
        .unwrap()
    };
    // Read-write: refused.
    let o = Command::new(bin("bd-lock"))
        .env("BD_PIN_DIR", &rig.pin)
        .env("BD_STATE", rig.dir.path().join("state.json"))
        .args(["allow", "--device", bb.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "device entry on a rw mount");
    remount(MsFlags::MS_RDONLY);
    rig.lock(&["allow", "--device", bb.to_str().unwrap()]);

    let (mut watch, rx) = rig.watch();
    rig.lock(&["engage", "--reason", "vm test"]);
    let o = Command::new(bin("bd-lock"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "bd-lock with its --libs closure: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(exec_errno(&bb), None, "on the read-only trusted filesystem");
    remount(MsFlags::empty());
    assert_eq!(exec_errno(&bb), Some(libc::EPERM), "remounted read-write");
    let ev = deny_on(&rx, "exec", std::fs::metadata(&bb).unwrap().ino());
    assert_eq!(ev["access"], 1, "{ev}");
    let _ = watch.kill();
    let _ = watch.wait();
    let _ = umount2(&ro, MntFlags::MNT_DETACH);
    // Back to OPEN by the ceremony (bd-lock runs with its --libs closure).
    release_to_open(&rig);
    assert_eq!(exec_errno(Path::new("/bin/true")), None, "released");
    drop(rig);
}

/// In a forked child: move itself into `cgroup` (writing "0" to its
/// cgroup.procs), run `f`, exit with what it returns (an errno, 0 = done).
/// Only raw syscalls after fork: the test process has threads.
fn in_child(cgroup: &Path, f: impl FnOnce() -> i32) -> i32 {
    use std::os::unix::ffi::OsStrExt;
    let procs = std::ffi::CString::new(cgroup.join("cgroup.procs").as_os_str().as_bytes()).unwrap();
    // SAFETY: the child makes only async-signal-safe libc calls, then _exit.
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => unsafe {
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
            if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                libc::_exit(200);
            }
            libc::close(fd);
            libc::_exit(f());
        },
        nix::unistd::ForkResult::Parent { child } => {
            match nix::sys::wait::waitpid(child, None).unwrap() {
                nix::sys::wait::WaitStatus::Exited(_, c) => c,
                s => panic!("child: {s:?}"),
            }
        }
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(255)
}

/// Issue 9 items 6 (rest) and 8 under BPF-LSM: in AIRGAP a governed process
/// can neither create an AF_PACKET socket (raw or datagram; cgroup
/// sock_create never sees them) nor leave the governed cgroup by writing
/// another cgroup's cgroup.procs, nor start a child in another cgroup with
/// clone3(CLONE_INTO_CGROUP); each a deny event. Twins: all work in
/// OPEN, clone3 from outside the governed cgroup works in AIRGAP, and a process outside the governed cgroup still opens AF_PACKET in
/// AIRGAP (the refusal is scoped like the cgroup programs).
#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_airgap_refuses_packet_sockets_and_leaving_the_governed_cgroup() {
    require_vm();
    let rig = Rig::new();
    rig.lock(&["init", "--mode", "OPEN"]);
    let other = PathBuf::from(format!(
        "/sys/fs/cgroup/bd-test-airgap-out-{}",
        std::process::id()
    ));
    std::fs::create_dir(&other).unwrap();
    let packet = |ty: i32| {
        move || unsafe {
            let s = libc::socket(libc::AF_PACKET, ty, 0);
            if s < 0 {
                return errno();
            }
            libc::close(s);
            0
        }
    };
    let other_procs = std::ffi::CString::new(other.join("cgroup.procs").to_str().unwrap()).unwrap();
    let leave = || unsafe {
        let fd = libc::open(other_procs.as_ptr(), libc::O_WRONLY);
        if fd < 0 {
            return errno();
        }
        let r = if libc::write(fd, b"0".as_ptr().cast(), 1) == 1 {
            0
        } else {
            errno()
        };
        libc::close(fd);
        r
    };

    // clone3(CLONE_INTO_CGROUP): the child starts in `other` with no write
    // of cgroup.procs. It exits 0 only if /proc/self/cgroup names `other`.
    let other_dir = std::ffi::CString::new(other.to_str().unwrap()).unwrap();
    let other_name = other
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .as_bytes()
        .to_vec();
    let spawn_into = || unsafe {
        let dir = libc::open(other_dir.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
        if dir < 0 {
            return errno();
        }
        // struct clone_args (CLONE_ARGS_SIZE_VER2): flags, pidfd, child_tid,
        // parent_tid, exit_signal, stack, stack_size, tls, set_tid,
        // set_tid_size, cgroup.
        let mut args = [0u64; 11];
        args[0] = 0x2_0000_0000; // CLONE_INTO_CGROUP
        args[4] = libc::SIGCHLD as u64;
        args[10] = dir as u64;
        let pid = libc::syscall(libc::SYS_clone3, args.as_mut_ptr(), 88usize);
        if pid < 0 {
            return errno();
        }
        if pid == 0 {
            let mut buf = [0u8; 512];
            let fd = libc::open(c"/proc/self/cgroup".as_ptr(), libc::O_RDONLY);
            let n = if fd < 0 {
                0
            } else {
                libc::read(fd, buf.as_mut_ptr().cast(), buf.len())
            };
            let seen = n > 0
                && buf[..n as usize]
                    .windows(other_name.len())
                    .any(|w| w == &other_name[..]);
            libc::_exit(if seen { 0 } else { 3 });
        }
        libc::close(dir);
        let mut st = 0;
        libc::waitpid(pid as libc::pid_t, &mut st, 0);
        if libc::WIFEXITED(st) {
            libc::WEXITSTATUS(st)
        } else {
            4
        }
    };

    assert_eq!(
        in_child(&rig.cgroup, packet(libc::SOCK_RAW)),
        0,
        "OPEN: AF_PACKET raw"
    );
    assert_eq!(in_child(&rig.cgroup, leave), 0, "OPEN: leaving works");
    assert_eq!(
        in_child(&rig.cgroup, spawn_into),
        0,
        "OPEN: clone3 starts a child in the other cgroup"
    );

    let (mut watch, rx) = rig.watch();
    rig.lock(&["set", "AIRGAP", "--reason", "vm test"]);
    for ty in [libc::SOCK_RAW, libc::SOCK_DGRAM] {
        assert_eq!(
            in_child(&rig.cgroup, packet(ty)),
            libc::EPERM,
            "AIRGAP: AF_PACKET type {ty}"
        );
        let d = next_deny(&rx, "packet_socket");
        assert_eq!(
            (d["mode"].as_str(), d["access"].as_u64()),
            (Some("AIRGAP"), Some(ty as u64))
        );
    }
    assert_eq!(
        in_child(&other, packet(libc::SOCK_RAW)),
        0,
        "outside the governed cgroup"
    );
    assert_eq!(
        in_child(&rig.cgroup, leave),
        libc::EPERM,
        "AIRGAP: left the governed cgroup"
    );
    let d = next_deny(&rx, "cgroup_move");
    assert_eq!(
        (d["path"].as_str(), d["access"].as_u64()),
        (Some("cgroup.procs"), Some(1)),
        "{d}"
    );
    assert_eq!(
        in_child(&rig.cgroup, spawn_into),
        libc::EPERM,
        "AIRGAP: clone3(CLONE_INTO_CGROUP) out of the governed cgroup"
    );
    let d = next_deny(&rx, "cgroup_move");
    assert_eq!(
        (d["path"].as_str(), d["access"].as_u64()),
        (Some("clone3"), Some(2)),
        "{d}"
    );
    assert_eq!(
        in_child(&other, spawn_into),
        0,
        "AIRGAP: clone3 from outside the governed cgroup still works"
    );
    let _ = watch.kill();
    let _ = watch.wait();
    drop(rig);
    let _ = std::fs::remove_dir(&other);
}

/// A `sockaddr_un` for `path` (a leading NUL: abstract) and its length.
fn sun(path: &[u8]) -> (libc::sockaddr_un, libc::socklen_t) {
    // SAFETY: sockaddr_un is plain data; all zeroes is a valid value.
    let mut a: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    a.sun_family = libc::AF_UNIX as libc::sa_family_t;
    assert!(path.len() < a.sun_path.len(), "socket path too long");
    for (d, s) in a.sun_path.iter_mut().zip(path) {
        *d = *s as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + path.len();
    (a, len as libc::socklen_t)
}

/// In the caller (a forked child: raw syscalls only): a new socket of `ty`
/// connected to `a`; 0 or the errno.
fn unix_connect(ty: i32, a: &(libc::sockaddr_un, libc::socklen_t)) -> i32 {
    // SAFETY: plain syscalls on a socket of our own.
    unsafe {
        let s = libc::socket(libc::AF_UNIX, ty, 0);
        if s < 0 {
            return errno();
        }
        let r = if libc::connect(s, (&a.0 as *const libc::sockaddr_un).cast(), a.1) == 0 {
            0
        } else {
            errno()
        };
        libc::close(s);
        r
    }
}

/// A datagram sent to `a` from a new unbound socket; 0 or the errno.
fn unix_sendto(a: &(libc::sockaddr_un, libc::socklen_t)) -> i32 {
    // SAFETY: plain syscalls on a socket of our own.
    unsafe {
        let s = libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0);
        if s < 0 {
            return errno();
        }
        let r = if libc::sendto(
            s,
            b"x".as_ptr().cast(),
            1,
            0,
            (&a.0 as *const libc::sockaddr_un).cast(),
            a.1,
        ) == 1
        {
            0
        } else {
            errno()
        };
        libc::close(s);
        r
    }
}

/// A socket of `ty` bound at `a` (listening if a stream), made by the caller
/// (in its cgroup), then reached from a second socket of the caller: the
/// peer is inside whatever cgroup the caller is in. 0 or the errno.
fn unix_self(ty: i32, a: &(libc::sockaddr_un, libc::socklen_t)) -> i32 {
    // SAFETY: plain syscalls on sockets of our own.
    unsafe {
        let l = libc::socket(libc::AF_UNIX, ty, 0);
        if l < 0 || libc::bind(l, (&a.0 as *const libc::sockaddr_un).cast(), a.1) != 0 {
            return 100 + errno();
        }
        if ty == libc::SOCK_STREAM && libc::listen(l, 4) != 0 {
            return 100 + errno();
        }
        let r = if ty == libc::SOCK_STREAM {
            unix_connect(ty, a)
        } else {
            unix_sendto(a)
        };
        libc::close(l);
        r
    }
}

/// Issue: AIRGAP's AF_UNIX escape. A governed task that may not reach the
/// network asks a daemon outside the governed cgroup to reach it for it
/// (PID 1's /run/systemd/private, dbus, a runtime's socket, a proxy). In
/// AIRGAP a governed task's connect (stream) and send (datagram) to sockets
/// made outside the governed cgroup, named or abstract, are EPERM with a
/// `unix_connect`/`unix_send` deny naming the socket. Still allowed in
/// AIRGAP: sockets made inside the governed cgroup, a socket on the
/// --unix-allow list (the stand-in for journald's, made outside), and the
/// same outside sockets from a task outside the governed cgroup. Twin: in
/// OPEN the governed task reaches every outside socket.
#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_airgap_refuses_unix_sockets_made_outside_the_governed_cgroup() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram, UnixListener};
    require_vm();
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log.dgram");
    // Made by this test process: outside the governed cgroup, like a daemon.
    let _log = UnixDatagram::bind(&log).unwrap();
    let rig = Rig::with(&["--unix-allow", log.to_str().unwrap()]);
    rig.lock(&["init", "--mode", "OPEN"]);
    let other = PathBuf::from(format!(
        "/sys/fs/cgroup/bd-test-unix-out-{}",
        std::process::id()
    ));
    std::fs::create_dir(&other).unwrap();

    let out_stream = tmp.path().join("out.sock");
    let _l1 = UnixListener::bind(&out_stream).unwrap();
    let out_dgram = tmp.path().join("out.dgram");
    let _l2 = UnixDatagram::bind(&out_dgram).unwrap();
    let abs_name = format!("bd-test-unix-abs-{}", std::process::id());
    let _l3 = UnixListener::bind_addr(&SocketAddr::from_abstract_name(&abs_name).unwrap()).unwrap();
    let mut abs = vec![0u8];
    abs.extend_from_slice(abs_name.as_bytes());

    let a_stream = sun(out_stream.as_os_str().as_bytes());
    let a_dgram = sun(out_dgram.as_os_str().as_bytes());
    let a_abs = sun(&abs);
    let a_log = sun(log.as_os_str().as_bytes());
    let in_stream = tmp.path().join("in.sock");
    let in_dgram = tmp.path().join("in.dgram");
    let a_in_stream = sun(in_stream.as_os_str().as_bytes());
    let a_in_dgram = sun(in_dgram.as_os_str().as_bytes());

    // OPEN, the twin: the governed task reaches every outside socket.
    let g = &rig.cgroup;
    assert_eq!(
        in_child(g, || unix_connect(libc::SOCK_STREAM, &a_stream)),
        0,
        "OPEN: stream"
    );
    assert_eq!(in_child(g, || unix_sendto(&a_dgram)), 0, "OPEN: datagram");
    assert_eq!(
        in_child(g, || unix_connect(libc::SOCK_STREAM, &a_abs)),
        0,
        "OPEN: abstract"
    );

    let (mut watch, rx) = rig.watch();
    rig.lock(&["set", "AIRGAP", "--reason", "vm test"]);

    assert_eq!(
        in_child(g, || unix_connect(libc::SOCK_STREAM, &a_stream)),
        libc::EPERM,
        "AIRGAP: stream connect to a listener outside"
    );
    let d = next_deny(&rx, "unix_connect");
    assert_eq!(
        (d["mode"].as_str(), d["path"].as_str()),
        (Some("AIRGAP"), out_stream.to_str()),
        "{d}"
    );
    assert_eq!(
        d["ino"].as_u64(),
        Some(std::fs::metadata(&out_stream).unwrap().ino()),
        "{d}"
    );
    assert_eq!(
        in_child(g, || unix_sendto(&a_dgram)),
        libc::EPERM,
        "AIRGAP: datagram to a socket outside"
    );
    let d = next_deny(&rx, "unix_send");
    assert_eq!(d["path"].as_str(), out_dgram.to_str(), "{d}");
    // connect() of a datagram socket asks the same hook.
    assert_eq!(
        in_child(g, || unix_connect(libc::SOCK_DGRAM, &a_dgram)),
        libc::EPERM,
        "AIRGAP: datagram connect to a socket outside"
    );
    next_deny(&rx, "unix_send");
    assert_eq!(
        in_child(g, || unix_connect(libc::SOCK_STREAM, &a_abs)),
        libc::EPERM,
        "AIRGAP: abstract listener outside"
    );
    let d = next_deny(&rx, "unix_connect");
    assert_eq!(
        d["path"].as_str(),
        Some(format!("@{abs_name}").as_str()),
        "{d}"
    );

    // Still allowed in AIRGAP.
    assert_eq!(
        in_child(g, || unix_sendto(&a_log)),
        0,
        "AIRGAP: the allowed log socket"
    );
    assert_eq!(
        in_child(g, || unix_self(libc::SOCK_STREAM, &a_in_stream)),
        0,
        "AIRGAP: a listener made inside the governed cgroup"
    );
    assert_eq!(
        in_child(g, || unix_self(libc::SOCK_DGRAM, &a_in_dgram)),
        0,
        "AIRGAP: a datagram socket made inside the governed cgroup"
    );
    assert_eq!(
        in_child(&other, || unix_connect(libc::SOCK_STREAM, &a_stream)),
        0,
        "AIRGAP: a task outside the governed cgroup is not governed"
    );
    let _ = watch.kill();
    let _ = watch.wait();
    drop(rig);
    let _ = std::fs::remove_dir(&other);
}

/// LOCKDOWN and anonymous executable memory, the same on 6.1 and 6.12: an
/// allowed program (the probe fixture, allowed with its libraries) gets
/// EPERM for an anonymous mmap(PROT_EXEC) and an mprotect to PROT_EXEC,
/// each an `anon_mmap_exec`/`anon_mprotect_exec` deny; a memfd mapped
/// executable is a file off the list (`mmap_exec`). Twin: in OPEN all three
/// map.
#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_lockdown_refuses_anonymous_executable_memory() {
    require_vm();
    let probe = Path::new("/fixtures/self_code_probe");
    let rig = Rig::new();
    rig.lock(&["init", "--mode", "OPEN"]);
    // The tools with their libraries too: bd-lock releases from LOCKDOWN.
    let tools = [bin("bd-lock"), bin("bd-load"), bin("bd-watch")];
    let mut args = vec!["allow", "--libs", probe.to_str().unwrap()];
    args.extend(tools.iter().map(|p| p.to_str().unwrap()));
    rig.lock(&args);
    let run = || {
        let o = Command::new(probe).output().expect("run the probe");
        assert!(o.status.success(), "probe: {o:?}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let out = run();
    for l in ["anon_mmap ok", "anon_mprotect ok", "memfd_mmap ok"] {
        assert!(out.contains(l), "OPEN: {l}: {out}");
    }
    let (mut watch, rx) = rig.watch();
    rig.lock(&["engage", "--reason", "vm test"]);
    let out = run();
    for l in [
        "anon_mmap errno=1",
        "anon_mprotect errno=1",
        "memfd_mmap errno=1",
    ] {
        assert!(out.contains(l), "LOCKDOWN: {l}: {out}");
    }
    let d = next_deny(&rx, "anon_mmap_exec");
    assert_eq!(
        (d["mode"].as_str(), d["comm"].as_str(), d["access"].as_u64()),
        (
            Some("LOCKDOWN"),
            Some("self_code_probe"),
            Some((libc::PROT_READ | libc::PROT_EXEC) as u64)
        ),
        "{d}"
    );
    let d = next_deny(&rx, "anon_mprotect_exec");
    assert_eq!(d["comm"].as_str(), Some("self_code_probe"), "{d}");
    next_deny(&rx, "mmap_exec");
    let _ = watch.kill();
    let _ = watch.wait();
    release_to_open(&rig);
    assert!(run().contains("anon_mmap ok"), "released");
    drop(rig);
}
