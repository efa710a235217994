//! Code injected into boundary's own processes (SECURITY.md, channel table):
//! a boundary process has boundary's identity (its executable's inode), and
//! every self-protection check trusts that identity, so root's easiest way
//! around them is to run its code inside one: LD_PRELOAD, /etc/ld.so.preload,
//! a replaced library on LD_LIBRARY_PATH. With self-protection loaded and the
//! mode above OPEN, a boundary process maps code only from its own
//! executable and the libraries bd-load recorded (hook `self_mmap`); in OPEN
//! (where root may unload everything anyway, and packages are upgraded) the
//! same attacks run, which is this test's twin for them. Boundary's
//! executables cannot be truncated (`self_write`; twin: self-protection not
//! loaded), and a re-run of `bd-load load` outside OPEN does not give a new
//! file boundary's trust (twin: the same load in OPEN).
//!
//! The programs run from copies of boundary's binaries in a directory of
//! their own: bd-load records the binaries beside itself, and the twin
//! truncates one, which must not be one every other VM test runs.

#[path = "vm_lsm_util/mod.rs"]
mod util;

use bd_tests::bin;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use util::*;

const PRELOAD: &str = "/fixtures/preload.so";

/// Copies of boundary's binaries, and pins loaded by the copied bd-load.
struct Copies {
    dir: tempfile::TempDir,
    pin: PathBuf,
}

impl Copies {
    fn new(tag: &str) -> Copies {
        require_vm();
        let dir = tempfile::Builder::new()
            .prefix(&format!("bd-selfcode-{tag}-"))
            .tempdir()
            .unwrap();
        for b in [
            "bd-load",
            "bd-watch",
            "bd-lock",
            "bd-log",
            "bd-policy",
            "bd-inject",
        ] {
            std::fs::copy(bin(b), dir.path().join(b)).unwrap();
        }
        let pin = PathBuf::from(format!(
            "/sys/fs/bpf/bd-test-selfcode-{tag}-{}",
            std::process::id()
        ));
        Copies { dir, pin }
    }

    fn bin(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn load(&self, extra: &[&str]) -> Output {
        Command::new(self.bin("bd-load"))
            .arg("--pin-dir")
            .arg(&self.pin)
            .args(["load", "--require", "lsm"])
            .args(extra)
            .output()
            .unwrap()
    }

    /// `bd-load status` from the copy, with `env` added.
    fn status(&self, env: &[(&str, &str)]) -> Output {
        let mut c = Command::new(self.bin("bd-load"));
        c.arg("--pin-dir").arg(&self.pin).arg("status");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn lock(&self, state: &Path, args: &[&str]) -> Output {
        Command::new(self.bin("bd-lock"))
            .env("BD_PIN_DIR", &self.pin)
            .env("BD_STATE", state.join("state.json"))
            .env("BD_OPERATOR_KEYS", state.join("ops"))
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Copies {
    fn drop(&mut self) {
        let _ = Command::new(self.bin("bd-load"))
            .arg("--pin-dir")
            .arg(&self.pin)
            .arg("unload")
            .output();
        let _ = Command::new(bin("bd-load"))
            .arg("--pin-dir")
            .arg(&self.pin)
            .arg("unload")
            .output();
    }
}

fn ok(what: &str, o: &Output) {
    assert!(
        o.status.success(),
        "{what}: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
}

/// /etc/ld.so.preload for as long as this lives.
struct PreloadFile;

impl PreloadFile {
    fn set(lib: &str) -> PreloadFile {
        std::fs::write("/etc/ld.so.preload", format!("{lib}\n")).unwrap();
        PreloadFile
    }
}

impl Drop for PreloadFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file("/etc/ld.so.preload");
    }
}

fn marker(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.ran"))
}

/// A directory holding a copy of libc under its own name: what the dynamic
/// linker finds first on LD_LIBRARY_PATH (a "replaced library": another
/// inode with the same name).
fn libc_copy(dir: &Path) -> PathBuf {
    let real = std::fs::canonicalize("/lib/x86_64-linux-gnu/libc.so.6").unwrap();
    let d = dir.join("evil-lib");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(real, d.join("libc.so.6")).unwrap();
    d
}

fn truncate(p: &Path) -> Result<(), i32> {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    if unsafe { libc::truncate(c.as_ptr(), 0) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(-1))
    }
}

fn open_trunc(p: &Path) -> Result<(), i32> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_TRUNC)
        .open(p)
        .map(drop)
        .map_err(|e| e.raw_os_error().unwrap_or(-1))
}

fn self_deny(v: &serde_json::Value, hook: &str, path: &str) -> bool {
    v["type"] == "deny" && v["hook"] == hook && v["action"] == "deny" && v["path"] == path
}

/// BPF_OBJ_GET by this (root, not boundary) process: Err(errno).
fn obj_get_errno(path: &str) -> Result<(), i32> {
    let c = std::ffi::CString::new(path).unwrap();
    let mut attr = [0u64; 16];
    attr[0] = c.as_ptr() as u64;
    // SAFETY: attr is a zeroed 128-byte bpf_attr naming a NUL-terminated path.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, 7, attr.as_mut_ptr(), 128usize) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(-1));
    }
    // SAFETY: the fd is new and ours.
    unsafe { libc::close(fd as i32) };
    Ok(())
}

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_self_code_injection_into_boundary_is_refused() {
    let scratch = tempfile::tempdir().unwrap();
    let s = scratch.path();
    let evil_lib = libc_copy(s);

    // Twin for truncation: self-protection not loaded.
    {
        let c = Copies::new("twin");
        ok("twin load", &c.load(&["--without-self-protection"]));
        let victim = c.bin("bd-log");
        truncate(&victim).expect("twin: truncate(2) of a boundary binary");
        assert_eq!(std::fs::metadata(&victim).unwrap().len(), 0);
        std::fs::copy(bin("bd-log"), &victim).unwrap();
        open_trunc(&victim).expect("twin: open(O_RDONLY|O_TRUNC) of a boundary binary");
    }

    let c = Copies::new("self");
    let o = c.load(&[]);
    ok("load", &o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(" libraries, "),
        "the load reports the libraries it recorded: {err}\n{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let mut w = Watch::start_with(&c.bin("bd-watch"), &c.pin);
    let map = boundary::pin::map_path(&c.pin, "bd_prot_pids");
    let map = map.to_str().unwrap();

    // Truncating a boundary binary, either way, keeps its inode and trust.
    let victim = c.bin("bd-log");
    let size = std::fs::metadata(&victim).unwrap().len();
    assert_refused("truncate(2) of a boundary binary", truncate(&victim));
    assert_refused(
        "open(O_RDONLY|O_TRUNC) of a boundary binary",
        open_trunc(&victim),
    );
    assert_eq!(std::fs::metadata(&victim).unwrap().len(), size);
    let ev = w.expect("a self_write deny for truncate(2)", |v| {
        self_deny(v, "self_write", "bd-log") && v["access"] == libc::O_TRUNC
    });
    assert_eq!(ev["pid"], std::process::id(), "{ev}");

    // Twin, in OPEN: each attack runs root's code inside a boundary
    // process, which gets an fd on a map self-protection refuses root.
    assert_refused("root's own BPF_OBJ_GET", obj_get_errno(map));
    let m = marker(s, "open-env");
    let o = c.status(&[
        ("LD_PRELOAD", PRELOAD),
        ("BD_PRELOAD_OUT", m.to_str().unwrap()),
        ("BD_PRELOAD_MAP", map),
    ]);
    ok("OPEN: status under LD_PRELOAD", &o);
    let got = std::fs::read_to_string(&m).expect("OPEN: the LD_PRELOAD library ran");
    assert!(
        got.contains("ran pid=") && !got.contains("obj_get=-"),
        "OPEN: the preloaded code got the map: {got}"
    );
    let m = marker(s, "open-file");
    {
        let _f = PreloadFile::set(PRELOAD);
        ok(
            "OPEN: status under /etc/ld.so.preload",
            &c.status(&[("BD_PRELOAD_OUT", m.to_str().unwrap())]),
        );
    }
    assert!(m.exists(), "OPEN: the /etc/ld.so.preload library ran");
    let o = c.status(&[
        ("LD_LIBRARY_PATH", evil_lib.to_str().unwrap()),
        ("LD_DEBUG", "libs"),
    ]);
    ok("OPEN: status with a replaced libc", &o);
    let dbg = String::from_utf8_lossy(&o.stderr);
    assert!(
        dbg.contains(&format!("{}/libc.so.6", evil_lib.display())),
        "OPEN: the copy of libc was loaded: {dbg}"
    );

    // RESTRICTED, and a release token for it.
    let state = s.join("lock");
    std::fs::create_dir_all(&state).unwrap();
    ok("init", &c.lock(&state, &["init", "--mode", "OPEN"]));
    std::fs::create_dir(state.join("ops")).unwrap();
    let key = state.join("op");
    ok(
        "keygen",
        &c.lock(&state, &["keygen", "-o", key.to_str().unwrap()]),
    );
    std::fs::copy(state.join("op.pub"), state.join("ops/op.pub")).unwrap();
    // Released on the way out whatever fails below: the unload in Copies'
    // drop is refused outside OPEN.
    struct Release<'a>(&'a Copies, PathBuf, PathBuf);
    impl Drop for Release<'_> {
        fn drop(&mut self) {
            let t = self.2.to_str().unwrap_or_default();
            let _ = self.0.lock(&self.1, &["release", "--token", t]);
        }
    }
    let set = c.lock(&state, &["set", "RESTRICTED", "--reason", "vm test"]);
    // The token names the transition it releases: made right after it.
    let tok = state.join("tok");
    ok(
        "token",
        &c.lock(
            &state,
            &[
                "token",
                "-k",
                key.to_str().unwrap(),
                "--from",
                "RESTRICTED",
                "--to",
                "OPEN",
                "-o",
                tok.to_str().unwrap(),
            ],
        ),
    );
    let release = Release(&c, state.clone(), tok.clone());
    // 0, or 4 when programs the mode needs are not attached (no --cgroup).
    assert!(
        matches!(set.status.code(), Some(0 | 4)),
        "set RESTRICTED: {}",
        String::from_utf8_lossy(&set.stderr)
    );

    // LD_PRELOAD: the dynamic linker cannot map the library, says so, and
    // runs the program without it.
    let m = marker(s, "env");
    let o = c.status(&[
        ("LD_PRELOAD", PRELOAD),
        ("BD_PRELOAD_OUT", m.to_str().unwrap()),
        ("BD_PRELOAD_MAP", map),
    ]);
    ok("status under LD_PRELOAD (runs without the library)", &o);
    assert!(
        !m.exists(),
        "the preloaded code ran: {:?}",
        std::fs::read_to_string(&m)
    );
    w.expect("a self_mmap deny for the LD_PRELOAD library", |v| {
        self_deny(v, "self_mmap", "preload.so")
    });

    // /etc/ld.so.preload: the same.
    let m = marker(s, "file");
    {
        let _f = PreloadFile::set(PRELOAD);
        let o = c.status(&[("BD_PRELOAD_OUT", m.to_str().unwrap())]);
        ok("status under /etc/ld.so.preload", &o);
    }
    assert!(!m.exists(), "the /etc/ld.so.preload code ran");

    // A replaced libc: another inode, refused, so the program does not run.
    let o = c.status(&[("LD_LIBRARY_PATH", evil_lib.to_str().unwrap())]);
    assert!(
        !o.status.success(),
        "bd-load ran on a libc it was not recorded with: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    w.expect("a self_mmap deny for the copied libc", |v| {
        self_deny(v, "self_mmap", "libc.so.6")
    });
    // Without those, the same binary runs (the recorded libraries map).
    ok("plain status", &c.status(&[]));

    // A new file beside bd-load gets boundary's trust only in OPEN: replace
    // bd-policy by another file (a new inode) and load again.
    let new = s.join("bd-policy.new");
    std::fs::copy("/bin/busybox", &new).unwrap();
    let before = std::fs::metadata(c.bin("bd-policy")).unwrap().ino();
    std::fs::rename(&new, c.bin("bd-policy")).unwrap();
    assert_ne!(std::fs::metadata(c.bin("bd-policy")).unwrap().ino(), before);
    let o = c.load(&[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "load outside OPEN: {err}");
    assert!(
        err.contains("bd-policy: refusing to record it as one of boundary's own executables")
            && err.contains("the mode is RESTRICTED"),
        "{err}"
    );
    // Twin: back in OPEN the same load records it.
    ok(
        "release",
        &c.lock(&state, &["release", "--token", tok.to_str().unwrap()]),
    );
    std::mem::forget(release);
    ok("load in OPEN records the new file", &c.load(&[]));
}

/// The mode raised to RESTRICTED through bd-lock, and put back to OPEN (by
/// release token) when dropped, whatever failed in between: Copies' unload
/// is refused outside OPEN.
struct Restricted<'a> {
    c: &'a Copies,
    state: PathBuf,
    tok: PathBuf,
}

impl<'a> Restricted<'a> {
    fn set(c: &'a Copies, dir: &Path) -> Restricted<'a> {
        let state = dir.join("lock");
        std::fs::create_dir_all(state.join("ops")).unwrap();
        ok("init", &c.lock(&state, &["init", "--mode", "OPEN"]));
        let key = state.join("op");
        ok(
            "keygen",
            &c.lock(&state, &["keygen", "-o", key.to_str().unwrap()]),
        );
        std::fs::copy(state.join("op.pub"), state.join("ops/op.pub")).unwrap();
        let set = c.lock(&state, &["set", "RESTRICTED", "--reason", "vm test"]);
        let tok = state.join("tok");
        ok(
            "token",
            &c.lock(
                &state,
                &[
                    "token",
                    "-k",
                    key.to_str().unwrap(),
                    "--from",
                    "RESTRICTED",
                    "--to",
                    "OPEN",
                    "-o",
                    tok.to_str().unwrap(),
                ],
            ),
        );
        let r = Restricted { c, state, tok };
        // 0, or 4 when programs the mode needs are not attached (no --cgroup).
        assert!(
            matches!(set.status.code(), Some(0 | 4)),
            "set RESTRICTED: {}",
            String::from_utf8_lossy(&set.stderr)
        );
        r
    }
}

impl Drop for Restricted<'_> {
    fn drop(&mut self) {
        let t = self.tok.to_str().unwrap_or_default();
        let _ = self.c.lock(&self.state, &["release", "--token", t]);
    }
}

/// N from bd-load's "self-protection: ... N libraries, ..." line.
fn libraries_recorded(o: &Output) -> usize {
    let err = String::from_utf8_lossy(&o.stderr);
    let head = err
        .split_once(" libraries, ")
        .unwrap_or_else(|| panic!("no library count in: {err}"))
        .0;
    head.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_self_code_preload_file_from_before_load_is_not_recorded() {
    let scratch = tempfile::tempdir().unwrap();
    let s = scratch.path();
    let c = Copies::new("plfile");
    // Written before boundary is loaded, so every boundary process bd-load
    // starts or inspects while recording has it in effect ...
    let preload = PreloadFile::set(PRELOAD);
    let interp = std::fs::canonicalize("/lib64/ld-linux-x86-64.so.2").unwrap();
    let list = Command::new(&interp)
        .arg("--list")
        .arg(c.bin("bd-load"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("preload.so"),
        "the interpreter lists the preloaded library: {}",
        String::from_utf8_lossy(&list.stdout)
    );
    let o = c.load(&[]);
    ok("load with /etc/ld.so.preload in place", &o);
    let with_preload = libraries_recorded(&o);
    let mut w = Watch::start_with(&c.bin("bd-watch"), &c.pin);

    // Twin, in OPEN: the preloaded code runs in a boundary process.
    let m = marker(s, "open");
    ok(
        "OPEN: status",
        &c.status(&[("BD_PRELOAD_OUT", m.to_str().unwrap())]),
    );
    assert!(m.exists(), "OPEN: the /etc/ld.so.preload library ran");

    // ... yet it is not in bd_self_libs: above OPEN the kernel refuses to
    // map it into a boundary process, and its code never runs.
    let r = Restricted::set(&c, s);
    let m = marker(s, "restricted");
    ok(
        "RESTRICTED: status (runs without the library)",
        &c.status(&[("BD_PRELOAD_OUT", m.to_str().unwrap())]),
    );
    assert!(
        !m.exists(),
        "RESTRICTED: the preloaded code ran: {:?}",
        std::fs::read_to_string(&m)
    );
    w.expect("a self_mmap deny for the preload library", |v| {
        self_deny(v, "self_mmap", "preload.so")
    });
    drop(r);

    // Recorded without the file: the same number of libraries.
    drop(preload);
    let o = c.load(&[]);
    ok("load in OPEN without /etc/ld.so.preload", &o);
    assert_eq!(
        libraries_recorded(&o),
        with_preload,
        "the preloaded library was counted among boundary's libraries"
    );
}

const PROBE: &str = "/fixtures/self_code_probe";

/// Run the probe (installed as `name`), dlopen()ing PRELOAD; its stdout.
fn probe(c: &Copies, name: &str, marker: &Path) -> String {
    let o = Command::new(c.bin(name))
        .arg(PRELOAD)
        .env("BD_PRELOAD_OUT", marker)
        .output()
        .unwrap();
    ok("the probe", &o);
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_self_code_boundary_process_mapping_code_itself_is_refused() {
    let scratch = tempfile::tempdir().unwrap();
    let s = scratch.path();
    let c = Copies::new("probe");
    // No boundary tool dlopen()s or makes memory executable on its own, so
    // the probe takes bd-log's place before the load: the kernel then knows
    // it as one of boundary's executables, as it would a binary replaced
    // in OPEN.
    std::fs::remove_file(c.bin("bd-log")).unwrap();
    std::fs::copy(PROBE, c.bin("bd-log")).unwrap();
    ok("load", &c.load(&[]));
    let mut w = Watch::start_with(&c.bin("bd-watch"), &c.pin);

    // Twin, in OPEN: all of it maps, and the dlopen()ed constructor runs.
    let m = marker(s, "open-dlopen");
    let out = probe(&c, "bd-log", &m);
    for l in [
        "anon_mmap ok",
        "anon_mprotect ok",
        "memfd_mmap ok",
        "dlopen ok",
    ] {
        assert!(out.lines().any(|x| x == l), "OPEN: {l:?} in {out}");
    }
    assert!(m.exists(), "OPEN: the dlopen()ed constructor ran");

    let _r = Restricted::set(&c, s);
    let m = marker(s, "dlopen");
    let out = probe(&c, "bd-log", &m);
    let eperm = format!("errno={}", libc::EPERM);
    for what in ["anon_mmap", "anon_mprotect", "memfd_mmap"] {
        assert!(
            out.lines().any(|x| x == format!("{what} {eperm}")),
            "RESTRICTED: {what} not refused with EPERM: {out}"
        );
    }
    assert!(
        out.lines().any(|x| x.starts_with("dlopen error")),
        "RESTRICTED: dlopen succeeded: {out}"
    );
    assert!(!m.exists(), "RESTRICTED: the dlopen()ed constructor ran");
    w.expect("a self_mmap deny for anonymous memory", |v| {
        self_deny(v, "self_mmap", "") && v["comm"] == "bd-log"
    });
    w.expect("a self_mmap deny for the memfd", |v| {
        v["type"] == "deny"
            && v["hook"] == "self_mmap"
            && v["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("memfd:bd-probe-code"))
    });
    w.expect("a self_mmap deny for the dlopen()ed library", |v| {
        self_deny(v, "self_mmap", "preload.so") && v["comm"] == "bd-log"
    });
}
