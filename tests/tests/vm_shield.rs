//! Shields that hold against root (issue 8), in the VM harness: each side
//! door to a protected process, and to boundary's own maps and pins, is
//! refused with a deny event naming its hook and the attacker. Every test
//! first (or also) runs the same attack with the shield not loaded and
//! shows it working, so none passes because the attack itself is broken.

#[path = "vm_lsm_util/mod.rs"]
mod util;

use bd_tests::bin;
use std::ffi::CString;
use std::io::{BufRead, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use util::*;

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
}

fn bpf(cmd: libc::c_long, attr: &mut [u64; 16]) -> Result<i64, i32> {
    // SAFETY: attr is a zeroed, 128-byte bpf_attr.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), 128usize) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(r)
    }
}

/// BPF_OBJ_GET of a pinned object, as bpftool or any root program would.
fn obj_get(path: &Path) -> Result<OwnedFd, i32> {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    let mut attr = [0u64; 16];
    attr[0] = c.as_ptr() as u64;
    // SAFETY: the fd is new and ours.
    bpf(7, &mut attr).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// BPF_MAP_DELETE_ELEM of a u32 key.
fn map_delete_u32(fd: &OwnedFd, key: u32) -> Result<(), i32> {
    let mut attr = [0u64; 16];
    attr[0] = fd.as_raw_fd() as u64;
    attr[1] = &key as *const u32 as u64;
    bpf(3, &mut attr).map(|_| ())
}

/// BPF_PROG_LOAD of the smallest socket filter: r0 = 0; exit.
fn prog_load() -> Result<OwnedFd, i32> {
    let insns: [u64; 2] = [0x0000_0000_0000_00b7, 0x0000_0000_0000_0095];
    let lic = b"GPL\0";
    let mut attr = [0u64; 16];
    attr[0] = 1 | (2u64 << 32); // BPF_PROG_TYPE_SOCKET_FILTER, insn_cnt 2
    attr[1] = insns.as_ptr() as u64;
    attr[2] = lic.as_ptr() as u64;
    // SAFETY: the fd is new and ours.
    bpf(5, &mut attr).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn unlink(p: &Path) -> Result<(), i32> {
    std::fs::remove_file(p).map_err(|e| e.raw_os_error().unwrap_or(-1))
}

/// Programs loaded with `--without-self-protection`: the twin's setting.
fn load_unshielded(name: &str) -> Loaded {
    let pin = PathBuf::from(format!("/sys/fs/bpf/bd-test-{name}-{}", std::process::id()));
    let out = Command::new(bin("bd-load"))
        .arg("--pin-dir")
        .arg(&pin)
        .args(["load", "--require", "lsm", "--without-self-protection"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Loaded { pin }
}

fn is_deny(v: &serde_json::Value, hook: &str) -> bool {
    v["type"] == "deny"
        && v["hook"] == hook
        && v["action"] == "deny"
        && v["pid"] == std::process::id()
        && v["uid"] == 0
}

/// What the kernel holds when a twin finds a shield it did not load: the
/// pins under /sys/fs/bpf, every loaded BPF program (id, type, name) and
/// link (id, type, program), the lockdown and perf settings and the
/// processes still running, so the failure names its cause.
fn pinned_now() -> String {
    let mut out = String::new();
    if let Ok(o) = Command::new("find")
        .args(["/sys/fs/bpf", "-maxdepth", "3"])
        .output()
    {
        out += &String::from_utf8_lossy(&o.stdout);
    }
    let mut id = 0u32;
    loop {
        let mut attr = [0u64; 16];
        attr[0] = id as u64;
        if bpf(11, &mut attr).is_err() {
            break; // BPF_PROG_GET_NEXT_ID: ENOENT at the end
        }
        id = (attr[0] >> 32) as u32;
        let mut a = [0u64; 16];
        a[0] = id as u64;
        let info = bpf(13, &mut a).map(|fd| {
            // SAFETY: the fd is new and ours.
            let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
            let mut info = [0u8; 256];
            let mut a = [0u64; 16];
            a[0] = fd.as_raw_fd() as u64 | ((info.len() as u64) << 32);
            a[1] = info.as_mut_ptr() as u64;
            let _ = bpf(15, &mut a);
            let ty = u32::from_ne_bytes(info[0..4].try_into().unwrap());
            let name = String::from_utf8_lossy(&info[64..80])
                .trim_end_matches('\0')
                .to_owned();
            format!("type {ty} name {name}")
        });
        out += &format!("prog {id}: {info:?}\n");
    }
    let mut id = 0u32;
    loop {
        let mut attr = [0u64; 16];
        attr[0] = id as u64;
        if bpf(31, &mut attr).is_err() {
            break; // BPF_LINK_GET_NEXT_ID
        }
        id = (attr[0] >> 32) as u32;
        let mut a = [0u64; 16];
        a[0] = id as u64;
        let info = bpf(30, &mut a).map(|fd| {
            // SAFETY: the fd is new and ours.
            let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
            let mut info = [0u32; 32];
            let mut a = [0u64; 16];
            a[0] = fd.as_raw_fd() as u64 | ((std::mem::size_of_val(&info) as u64) << 32);
            a[1] = info.as_mut_ptr() as u64;
            let _ = bpf(15, &mut a);
            format!("type {} prog {}", info[0], info[2])
        });
        out += &format!("link {id}: {info:?}\n");
    }
    for f in [
        "/sys/kernel/security/lockdown",
        "/proc/sys/kernel/perf_event_paranoid",
    ] {
        out += &format!("{f}: {:?}\n", std::fs::read_to_string(f));
    }
    if let Ok(o) = Command::new("ps").arg("-ef").output() {
        out += &String::from_utf8_lossy(&o.stdout);
    }
    out
}

fn bd_load_raw(pin: &Path, args: &[&str]) -> Output {
    Command::new(bin("bd-load"))
        .arg("--pin-dir")
        .arg(pin)
        .args(args)
        .output()
        .unwrap()
}

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_shield_boundary_maps_and_pins_resist_root() {
    // Twin: without self-protection, root opens bd_prot_pids, deletes the
    // protected pid, and reads the secret from the process's environment.
    {
        let l = load_unshielded("selftwin");
        let t = Target::spawn();
        l.bd_load(&["protect", "--pid", &t.pid().to_string()]);
        assert_refused("environ while protected", read_environ(t.pid()));
        let fd = obj_get(&boundary::pin::map_path(&l.pin, "bd_prot_pids"))
            .expect("twin: BPF_OBJ_GET of bd_prot_pids");
        map_delete_u32(&fd, t.pid()).expect("twin: BPF_MAP_DELETE_ELEM");
        let env = read_environ(t.pid()).expect("twin: environ readable after the delete");
        assert!(env.split(|&b| b == 0).any(|e| e == TARGET_ENV.as_bytes()));
        let link = boundary::pin::link_path(&l.pin, "lsm_file_protect", "file_open");
        unlink(&link).expect("twin: unpinning a link");
    }

    let l = Loaded::new("self");
    let mut w = l.watch();
    let t = Target::spawn();
    // Boundary's own binaries keep working: bd-load edits the maps.
    l.bd_load(&["protect", "--pid", &t.pid().to_string()]);
    let status = bd_load_raw(&l.pin, &["status"]);
    assert!(status.status.success(), "{status:?}");

    for m in ["bd_prot_pids", "bd_mode", "bd_self_exes", "bd_lsm_cfg"] {
        assert_refused(m, obj_get(&boundary::pin::map_path(&l.pin, m)).map(|_| ()));
    }
    let ev = w.expect("a bpf_map deny", |v| is_deny(v, "bpf_map"));
    assert_eq!(ev["errno"], "EPERM", "{ev}");
    assert_refused(
        "BPF_OBJ_GET of a program's link",
        obj_get(&boundary::pin::link_path(
            &l.pin,
            "lsm_file_protect",
            "file_open",
        ))
        .and_then(|fd| {
            // A link fd is handed out (links have no LSM hook of their
            // own); detaching through it is what must fail.
            let mut attr = [0u64; 16];
            attr[0] = fd.as_raw_fd() as u64;
            bpf(34, &mut attr).map(|_| ())
        }),
    );
    w.expect("a bpf_link deny", |v| is_deny(v, "bpf_link"));
    let link = boundary::pin::link_path(&l.pin, "lsm_file_protect", "ptrace_access_check");
    assert_refused("unpinning a link", unlink(&link));
    assert!(link.exists());
    let ev = w.expect("a pin_remove deny", |v| is_deny(v, "pin_remove"));
    assert_eq!(ev["path"], "lsm_file_protect-ptrace_access_check", "{ev}");
    // The protected process stayed protected through all of it.
    assert_refused("environ after the attempts", read_environ(t.pid()));
}

struct CorePattern(String);

impl CorePattern {
    fn set(p: &str) -> CorePattern {
        let old = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
        std::fs::write("/proc/sys/kernel/core_pattern", p).unwrap();
        CorePattern(old)
    }
}

impl Drop for CorePattern {
    fn drop(&mut self) {
        let _ = std::fs::write("/proc/sys/kernel/core_pattern", self.0.trim_end());
    }
}

/// Wait up to `d` for `p` to hold `needle`.
fn file_gets(p: &Path, needle: &[u8], d: Duration) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if let Ok(b) = std::fs::read(p) {
            if b.windows(needle.len()).any(|w| w == needle) {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_shield_core_dumps_do_not_leak() {
    let core = PathBuf::from(format!("/tmp/bd-core-{}", std::process::id()));
    let _cp = CorePattern::set(&format!("|/bin/sh -c cat>{}", core.display()));
    let secret = format!("core-secret-{}", std::process::id());

    // Twin, nothing loaded: a crash dumps the environment through the pipe.
    let st = Command::new("/bin/sh")
        .args(["-c", "kill -SEGV $$"])
        .env("BD_CORE_SECRET", &secret)
        .status()
        .unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&st),
        Some(libc::SIGSEGV)
    );
    assert!(
        file_gets(&core, secret.as_bytes(), Duration::from_secs(20)),
        "twin: the pipe core dump did not hold the secret"
    );
    let _ = std::fs::remove_file(&core);

    let l = Loaded::new("core");
    let mut w = l.watch();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("s");
    std::fs::write(&src, &secret).unwrap();
    // The protected program crashes itself.
    let st = Command::new(bin("bd-inject"))
        .arg("--pin-dir")
        .arg(&l.pin)
        .args([
            "--require-protection",
            "--name",
            "S",
            "--env",
            "--from-file",
        ])
        .arg(&src)
        .args(["--", "/bin/sh", "-c", "kill -SEGV $$"])
        .status()
        .unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&st),
        Some(libc::SIGSEGV),
        "{st:?}"
    );
    assert!(
        !file_gets(&core, secret.as_bytes(), Duration::from_secs(5)),
        "a protected program's crash dumped its secret"
    );

    // Root raising the limit and sending a dump signal.
    let mut inj = Command::new(bin("bd-inject"))
        .arg("--pin-dir")
        .arg(&l.pin)
        .args([
            "--require-protection",
            "--name",
            "S",
            "--env",
            "--from-file",
        ])
        .arg(&src)
        .args(["--", "/bin/sh", "-c", "echo $$; exec sleep 600"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(inj.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let child: i32 = line.trim().parse().unwrap();
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: prlimit with a valid new limit.
    let r = unsafe { libc::prlimit(child, libc::RLIMIT_CORE, &unlimited, std::ptr::null_mut()) };
    assert_refused(
        "prlimit --core=unlimited",
        if r == 0 { Ok(()) } else { Err(errno()) },
    );
    let ev = w.expect("a task_setrlimit deny", |v| is_deny(v, "task_setrlimit"));
    assert_eq!(ev["target_pid"], child, "{ev}");
    // SAFETY: plain kill.
    let r = unsafe { libc::kill(child, libc::SIGSEGV) };
    assert_refused("kill -SEGV", if r == 0 { Ok(()) } else { Err(errno()) });
    let ev = w.expect("a task_kill deny", |v| is_deny(v, "task_kill"));
    assert_eq!(ev["access"], libc::SIGSEGV, "{ev}");
    assert!(!file_gets(&core, secret.as_bytes(), Duration::from_secs(3)));
    let _ = inj.kill();
    let _ = inj.wait();

    // Twin of the attack on a running process: unprotected, it works.
    let mut plain = Command::new("/bin/sleep")
        .arg("600")
        .env("BD_CORE_SECRET", &secret)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let p = plain.id() as i32;
    // SAFETY: as above.
    assert_eq!(
        unsafe { libc::prlimit(p, libc::RLIMIT_CORE, &unlimited, std::ptr::null_mut()) },
        0
    );
    // SAFETY: plain kill.
    assert_eq!(unsafe { libc::kill(p, libc::SIGSEGV) }, 0);
    let _ = plain.wait();
    assert!(
        file_gets(&core, secret.as_bytes(), Duration::from_secs(20)),
        "twin: prlimit + SIGSEGV on an unprotected process did not dump its secret"
    );
    let _ = std::fs::remove_file(&core);
}

/// perf_event_open(pid, cpu) sampling user registers and stacks.
fn perf_open(pid: i32, cpu: i32) -> Result<OwnedFd, i32> {
    let mut a = [0u8; 128];
    let put = |a: &mut [u8; 128], off: usize, v: u64, n: usize| {
        a[off..off + n].copy_from_slice(&v.to_ne_bytes()[..n]);
    };
    put(&mut a, 0, 1, 4); // PERF_TYPE_SOFTWARE
    put(&mut a, 4, 112, 4); // PERF_ATTR_SIZE_VER5
    put(&mut a, 8, 0, 8); // PERF_COUNT_SW_CPU_CLOCK
    put(&mut a, 16, 100_000, 8); // sample_period
    put(&mut a, 24, 1 | (1 << 12) | (1 << 13), 8); // IP | REGS_USER | STACK_USER
    put(&mut a, 40, 1 | (1 << 5) | (1 << 6), 8); // disabled, exclude_kernel, exclude_hv
    put(&mut a, 80, 0xff, 8); // sample_regs_user
    put(&mut a, 88, 8192, 4); // sample_stack_user
                              // SAFETY: a valid perf_event_attr of the size it declares.
    let fd = unsafe { libc::syscall(libc::SYS_perf_event_open, a.as_ptr(), pid, cpu, -1i32, 0u64) };
    if fd < 0 {
        Err(errno())
    } else {
        // SAFETY: new fd, ours.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }
}

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_shield_perf_sampling_is_refused() {
    let t = Target::spawn();
    let pid = t.pid() as i32;
    // Twin: nothing loaded, root samples the process's user stack.
    perf_open(pid, -1).expect("twin: perf_event_open on the process");
    if let Err(e) = perf_open(-1, 0) {
        panic!(
            "twin: CPU-wide user-stack sampling: {e}; pinned: {}",
            pinned_now()
        );
    }

    let l = Loaded::new("perf");
    let mut w = l.watch();
    // Sampling unprotected processes is not the shield's business.
    perf_open(pid, -1).expect("an unprotected process can still be sampled");
    l.bd_load(&["protect", "--pid", &pid.to_string()]);
    assert_refused("perf_event_open(pid)", perf_open(pid, -1).map(|_| ()));
    let ev = w.expect("a perf_event deny", |v| is_deny(v, "perf_event"));
    assert_eq!(ev["target_pid"], pid, "{ev}");
    assert_refused("CPU-wide user-stack sampling", perf_open(-1, 0).map(|_| ()));
    w.expect("a CPU-wide perf_event deny", |v| {
        is_deny(v, "perf_event") && v["access"] == 2
    });
}

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_shield_kcore_is_refused() {
    // Twin: nothing loaded, root reads kernel memory (and through the
    // direct map, every process's pages) from /proc/kcore.
    let mut head = [0u8; 4];
    std::fs::File::open("/proc/kcore")
        .unwrap_or_else(|e| panic!("twin: open /proc/kcore: {e}; pinned: {}", pinned_now()))
        .read_exact(&mut head)
        .unwrap();
    assert_eq!(&head, b"\x7fELF");

    let l = Loaded::new("kcore");
    let mut w = l.watch();
    assert_refused(
        "open /proc/kcore",
        std::fs::File::open("/proc/kcore").map_err(|e| e.raw_os_error().unwrap_or(-1)),
    );
    w.expect("a locked_down deny", |v| is_deny(v, "locked_down"));
}

/// A module the VM image carries (xtask puts them, uncompressed, in
/// /lib/modules; init has loaded them already).
fn module_path() -> PathBuf {
    std::fs::read_dir("/lib/modules")
        .expect("/lib/modules in the VM")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "ko"))
        .expect("a .ko in /lib/modules")
}

fn finit_module(p: &Path) -> Result<(), i32> {
    let f = std::fs::File::open(p).unwrap();
    let empty = b"\0";
    // SAFETY: a valid fd and an empty parameter string.
    let r = unsafe { libc::syscall(libc::SYS_finit_module, f.as_raw_fd(), empty.as_ptr(), 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(errno())
    }
}

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_shield_coldroom_refuses_modules_bpf_and_unload() {
    let module = module_path();
    let l = Loaded::new("cold");
    let mut w = l.watch();
    // Twin, in OPEN: the kernel reads the module (it is already loaded, or
    // compressed: either way not EPERM) and loads a BPF program.
    let open_res = finit_module(&module);
    assert_ne!(open_res, Err(libc::EPERM), "twin: finit_module in OPEN");
    prog_load().expect("twin: BPF_PROG_LOAD in OPEN");
    std::fs::File::open("/sys/kernel/tracing/trace").expect("twin: reading tracefs in OPEN");

    let dir = tempfile::tempdir().unwrap();
    let lock = |args: &[&str]| {
        let o = Command::new(bin("bd-lock"))
            .env("BD_PIN_DIR", &l.pin)
            .env("BD_STATE", dir.path().join("state.json"))
            .env("BD_OPERATOR_KEYS", dir.path().join("ops"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "bd-lock {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    lock(&["init", "--mode", "OPEN"]);
    let lock_raw = |args: &[&str]| {
        Command::new(bin("bd-lock"))
            .env("BD_PIN_DIR", &l.pin)
            .env("BD_STATE", dir.path().join("state.json"))
            .env("BD_OPERATOR_KEYS", dir.path().join("ops"))
            .args(args)
            .output()
            .unwrap()
    };
    let set = lock_raw(&["set", "COLDROOM", "--reason", "vm test"]);
    // The release token is made at once: a failing assertion below must
    // still leave the kernel in OPEN, or the unload in Loaded's drop is
    // refused and every later test in this boot runs under a COLDROOM
    // shield it did not load.
    let ops = dir.path().join("ops");
    std::fs::create_dir(&ops).unwrap();
    let key = dir.path().join("op");
    lock(&["keygen", "-o", key.to_str().unwrap()]);
    std::fs::copy(dir.path().join("op.pub"), ops.join("op.pub")).unwrap();
    let tok = dir.path().join("tok");
    lock(&[
        "token",
        "-k",
        key.to_str().unwrap(),
        "--from",
        "COLDROOM",
        "--to",
        "OPEN",
        "-o",
        tok.to_str().unwrap(),
    ]);
    struct Release<'a>(&'a dyn Fn(&[&str]) -> Output, PathBuf);
    impl Drop for Release<'_> {
        fn drop(&mut self) {
            let _ = (self.0)(&["release", "--token", self.1.to_str().unwrap()]);
        }
    }
    let _release = Release(&lock_raw, tok.clone());
    // Exit 4: COLDROOM is in the map but the VM's programs were loaded
    // without --cgroup, so the network hooks are not attached (bd-lock
    // names them). What this test checks is attached.
    let err = String::from_utf8_lossy(&set.stderr);
    assert!(
        set.status.success()
            || (set.status.code() == Some(4)
                && err.contains("WARNING")
                && !err.contains("self_protect")
                && !err.contains("lsm_file_protect")),
        "bd-lock set COLDROOM: {err}"
    );
    assert_refused("finit_module at COLDROOM", finit_module(&module));
    w.expect("a kernel_read deny", |v| is_deny(v, "kernel_read"));
    assert_refused("BPF_PROG_LOAD at COLDROOM", prog_load().map(|_| ()));
    w.expect("a bpf_prog_load deny", |v| is_deny(v, "bpf_prog_load"));
    // All of tracefs is closed at COLDROOM, reading included, though
    // nothing is protected yet.
    assert_refused(
        "reading tracefs at COLDROOM",
        std::fs::File::open("/sys/kernel/tracing/trace")
            .map(drop)
            .map_err(|e| e.raw_os_error().unwrap_or(-1)),
    );
    let ev = w.expect("a tracefs deny", |v| is_deny(v, "tracefs"));
    assert_eq!(ev["path"], "trace", "{ev}");

    // Unloading, unprotecting and loosening wait for the ceremony.
    let t = Target::spawn();
    l.bd_load(&["protect", "--pid", &t.pid().to_string()]);
    for args in [
        vec!["unload"],
        vec!["unprotect", "--pid", &t.pid().to_string()],
        vec!["lsm-config", "--audit"],
    ] {
        let o = bd_load_raw(&l.pin, &args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {o:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("allowed only in mode OPEN"),
            "{o:?}"
        );
    }
    assert_refused("environ still protected", read_environ(t.pid()));

    // Released to OPEN by token: the Drop's unload then works.
    lock(&["release", "--token", tok.to_str().unwrap()]);
    prog_load().expect("BPF_PROG_LOAD after release");
    let o = bd_load_raw(&l.pin, &["unload"]);
    assert!(o.status.success(), "{o:?}");
}

/// Read all of `p` and say whether `needle` is in it.
fn holds(p: &Path, needle: &[u8]) -> Result<bool, i32> {
    let b = std::fs::read(p).map_err(|e| e.raw_os_error().unwrap_or(-1))?;
    Ok(b.windows(needle.len()).any(|w| w == needle))
}

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_shield_raw_block_device_of_a_protected_file_is_refused() {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    require_vm();
    let secret = format!("raw-block-secret-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("fs.img");
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    std::fs::write(&img, vec![0u8; 4 << 20]).unwrap();
    let loopdev = run(Command::new("losetup").arg("-f"));
    assert!(loopdev.starts_with("/dev/loop"), "losetup -f: {loopdev:?}");
    run(Command::new("losetup").arg(&loopdev).arg(&img));
    struct Cleanup(PathBuf, String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
            let _ = Command::new("losetup").args(["-d", &self.1]).status();
        }
    }
    let _c = Cleanup(mnt.clone(), loopdev.clone());
    run(Command::new("mke2fs").arg("-q").arg(&loopdev));
    run(Command::new("mount")
        .args(["-t", "ext4", &loopdev])
        .arg(&mnt));
    let f = mnt.join("key");
    std::fs::write(&f, &secret).unwrap();
    run(&mut Command::new("sync"));
    let dev = PathBuf::from(&loopdev);
    let rdev = std::fs::metadata(&dev).unwrap().rdev();
    let (major, minor) = (libc::major(rdev) as u64, libc::minor(rdev) as u64);
    // A node of our own for the same device: the shield goes by number.
    let node = dir.path().join("blk");
    let cnode = CString::new(node.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid path and a block device number.
    assert_eq!(
        unsafe { libc::mknod(cnode.as_ptr(), libc::S_IFBLK | 0o600, rdev) },
        0
    );
    assert!(std::fs::metadata(&node)
        .unwrap()
        .file_type()
        .is_block_device());

    // Twin, nothing loaded: the secret is on the device, its node and the image.
    for p in [&dev, &node, &img] {
        assert_eq!(
            holds(p, secret.as_bytes()),
            Ok(true),
            "twin: {} does not hold the secret; pinned: {}",
            p.display(),
            pinned_now()
        );
    }

    let l = Loaded::new("rawblk");
    let mut w = l.watch();
    // Before any file is protected, the device opens as before.
    assert_eq!(holds(&dev, secret.as_bytes()), Ok(true));
    let out = l.bd_load(&["protect", "--path", f.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(
        v["block_devices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| *d == format!("{major}:{minor}")),
        "{v}"
    );
    assert_eq!(v["backing_files"].as_array().map(Vec::len), Some(1), "{v}");
    assert_refused("reading the protected file", holds(&f, b"x"));
    for p in [&dev, &node] {
        assert_refused(&format!("reading {}", p.display()), holds(p, b"x"));
    }
    let ev = w.expect("a block_dev deny", |v| is_deny(v, "block_dev"));
    assert_eq!(ev["access"], (major << 20) | minor, "{ev}");
    // The loop device's backing image holds the same blocks.
    assert_refused("reading the backing image", holds(&img, b"x"));
    let ino = std::fs::metadata(&img).unwrap().ino();
    w.expect("a file_open deny of the image", |v| {
        is_deny(v, "file_open") && v["ino"] == ino
    });
    // The mounted filesystem keeps working for everything else.
    std::fs::write(mnt.join("other"), b"unprotected").unwrap();
    assert_eq!(std::fs::read(mnt.join("other")).unwrap(), b"unprotected");

    // Unprotecting the file releases its device and image again.
    l.bd_load(&["unprotect", "--path", f.to_str().unwrap()]);
    assert_eq!(holds(&dev, secret.as_bytes()), Ok(true));
    assert_eq!(holds(&img, secret.as_bytes()), Ok(true));
}

/// Wait up to 10 s for `cond`.
fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn state_of(pid: u32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s.rsplit_once(") ").and_then(|(_, r)| r.chars().next())
}

/// A process killed however the test ends: a bd-inject left blocked on its
/// FIFO would outlive the test into the next one.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// bd-inject reading its secret from a FIFO nobody has opened yet: it is
/// blocked before the secret exists anywhere. Returns bd-inject and the
/// child's pid once the secret is written.
fn inject_from_fifo(pin: &Path, fifo: &Path, secret: &str, shielded: bool) -> (Reap, u32) {
    let mut c = Command::new(bin("bd-inject"));
    c.arg("--pin-dir").arg(pin);
    if shielded {
        c.arg("--require-protection");
    }
    let inj = c
        .args(["--name", "S", "--from-file"])
        .arg(fifo)
        .args(["--", "/bin/sh", "-c", "echo $$; exec sleep 600"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut inj = Reap(inj);
    let pid = inj.0.id();
    wait_for("bd-inject to block on the FIFO", || {
        state_of(pid) == Some('S')
    });
    if shielded {
        // Nobody has written the secret yet, and bd-inject is already
        // shielded: its fd table and memory are closed before a memfd exists.
        assert_refused("environ of a waiting bd-inject", read_environ(pid));
        // (readdir of fd/ lists nothing without an error; following a
        // link is what the kernel checks.)
        assert_refused(
            "/proc/PID/fd/0 of a waiting bd-inject",
            std::fs::read_link(format!("/proc/{pid}/fd/0"))
                .map(|_| ())
                .map_err(|e| e.raw_os_error().unwrap_or(-1)),
        );
    } else {
        read_environ(pid).expect("twin: environ of an unshielded bd-inject");
        std::fs::read_link(format!("/proc/{pid}/fd/0")).expect("twin: its fd/0");
    }
    std::fs::write(fifo, secret).unwrap();
    let mut line = String::new();
    std::io::BufReader::new(inj.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let child = line.trim().parse().unwrap();
    (inj, child)
}

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_shield_inject_is_shielded_before_the_secret_exists() {
    require_vm();
    let secret = format!("window-secret-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let cf = CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid path.
    assert_eq!(unsafe { libc::mkfifo(cf.as_ptr(), 0o600) }, 0);

    // Twin, nothing loaded: root reads the memfd through /proc/PID/fd/3.
    let nowhere = dir.path().join("no-pins");
    let (_inj, child) = inject_from_fifo(&nowhere, &fifo, &secret, false);
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{child}/fd/3")).ok(),
        Some(secret.clone()),
        "twin: the memfd is readable unshielded"
    );
    // SAFETY: plain kill.
    unsafe { libc::kill(child as i32, libc::SIGKILL) };

    let l = Loaded::new("window");
    let mut w = l.watch();
    let (_inj2, child) = inject_from_fifo(&l.pin, &fifo, &secret, true);
    assert_refused(
        "the child's memfd through /proc/PID/fd/3",
        std::fs::read(format!("/proc/{child}/fd/3")).map_err(|e| e.raw_os_error().unwrap_or(-1)),
    );
    let ev = w.expect("a ptrace deny for the child", |v| {
        is_deny(v, "ptrace") && v["target_pid"] == child
    });
    assert_eq!(ev["errno"], "EPERM", "{ev}");
    // SAFETY: plain kill.
    unsafe { libc::kill(child as i32, libc::SIGKILL) };
}

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_shield_access_from_before_protection_is_reported() {
    use std::os::unix::fs::FileExt;
    let l = Loaded::new("before");
    let t = Target::spawn();
    let pid = t.pid();
    let addr = first_mapping(pid);
    // Access taken while the process is not protected.
    let mem = open_mem(pid).expect("/proc/PID/mem before protection");
    let out = l.bd_load(&["protect", "--pid", &pid.to_string()]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let me = std::process::id();
    assert!(
        v["mem_fds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["pid"] == me && h["fd"] == mem.as_raw_fd()),
        "the open mem fd is reported: {v}"
    );
    // A new open is refused (the shield is up) ...
    assert_refused("a new /proc/PID/mem", open_mem(pid).map(|_| ()));
    // ... but the old fd still reads: detected, not revoked.
    let mut b = [0u8; 4];
    mem.read_exact_at(&mut b, addr)
        .expect("an fd from before protection keeps reading (documented)");
    let o = bd_load_raw(
        &l.pin,
        &["protect", "--require-clean", "--pid", &pid.to_string()],
    );
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("access from before cannot be revoked"),
        "{o:?}"
    );
    drop(mem);
    let o = bd_load_raw(
        &l.pin,
        &["protect", "--require-clean", "--pid", &pid.to_string()],
    );
    assert!(o.status.success(), "clean once the fd is closed: {o:?}");

    // A tracer from before: bd-load names it.
    let t2 = Target::spawn();
    let p2 = nix::unistd::Pid::from_raw(t2.pid() as i32);
    nix::sys::ptrace::seize(p2, nix::sys::ptrace::Options::empty()).expect("seize before");
    let o = bd_load_raw(
        &l.pin,
        &["protect", "--require-clean", "--pid", &t2.pid().to_string()],
    );
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    assert_eq!(v["tracer_pid"], nix::unistd::gettid().as_raw(), "{v}");
    let _ = nix::sys::ptrace::detach(p2, None);
}
