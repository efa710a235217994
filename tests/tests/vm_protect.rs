//! BPF-LSM process and file protection, run inside the VM harness
//! (`cargo xtask vm-test`): the host kernel refuses LSM programs.

#[path = "vm_lsm_util/mod.rs"]
mod util;

use std::time::Duration;
use util::*;

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_bpf_lsm_is_active() {
    require_vm();
    let lsm = std::fs::read_to_string("/sys/kernel/security/lsm").expect("securityfs mounted");
    assert!(
        lsm.split(',').any(|l| l.trim() == "bpf"),
        "bpf missing from the active LSMs: {lsm}"
    );
}

fn is_deny_of(v: &serde_json::Value, hook: &str, pid: u32, action: &str) -> bool {
    v["type"] == "deny"
        && v["hook"] == hook
        && v["target_pid"] == pid
        && v["action"] == action
        && v["pid"] == std::process::id()
}

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_protected_process_is_shielded_until_unprotect() {
    let l = Loaded::new("shield");
    let mut w = l.watch();
    let t = Target::spawn();
    let pid = t.pid();
    let addr = first_mapping(pid);
    // Readable before: the shield, not something else, is what refuses below.
    assert!(read_environ(pid).is_ok());

    l.bd_load(&["protect", "--pid", &pid.to_string()]);
    assert_refused("read /proc/pid/environ", read_environ(pid));
    assert_refused("open /proc/pid/mem", open_mem(pid).map(|_| ()));
    assert_refused("PTRACE_ATTACH", ptrace_attach(pid));
    assert_refused("process_vm_readv", vm_readv(pid, addr));
    // Each of the four shows up in bd-watch, with the mode bits that tell
    // them apart: READ|FSCREDS, ATTACH|FSCREDS, ATTACH|REALCREDS (twice).
    for (what, access) in [("environ", 0x09), ("mem", 0x0a), ("attach/vm_readv", 0x12)] {
        let ev = w.expect(what, |v| {
            is_deny_of(v, "ptrace", pid, "deny")
                && v["access"].as_u64().unwrap_or(0) & 0x1b == access
        });
        assert_eq!(ev["errno"], "EPERM", "{ev}");
        assert_eq!(ev["uid"], 0, "root is not exempt: {ev}");
        assert_eq!(ev["target_comm"], "sleep", "{ev}");
    }
    let attaches = w
        .drain(Duration::from_millis(500))
        .iter()
        .filter(|v| {
            is_deny_of(v, "ptrace", pid, "deny") && v["access"].as_u64().unwrap_or(0) & 0x1b == 0x12
        })
        .count();
    assert!(
        attaches >= 2,
        "PTRACE_ATTACH and process_vm_readv each report: {:#?}",
        w.seen
    );

    l.bd_load(&["unprotect", "--pid", &pid.to_string()]);
    let env = read_environ(pid).expect("environ readable after unprotect");
    assert!(env.split(|&b| b == 0).any(|e| e == TARGET_ENV.as_bytes()));
    open_mem(pid).expect("mem opens after unprotect");
    ptrace_attach(pid).expect("PTRACE_ATTACH after unprotect");
    assert_eq!(
        vm_readv(pid, addr)
            .expect("process_vm_readv after unprotect")
            .len(),
        4
    );
}

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_allow_list_lets_a_process_through() {
    let l = Loaded::new("allow");
    let t = Target::spawn();
    let pid = t.pid();
    l.bd_load(&["protect", "--pid", &pid.to_string()]);
    assert_refused("environ while not allowed", read_environ(pid));
    l.bd_load(&["allow", "--pid", &std::process::id().to_string()]);
    read_environ(pid).expect("an allowed process reads environ");
    open_mem(pid).expect("an allowed process opens mem");
    l.bd_load(&[
        "allow",
        "--remove",
        "--pid",
        &std::process::id().to_string(),
    ]);
    assert_refused("environ after allow --remove", read_environ(pid));
}

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_audit_mode_denies_nothing_but_reports() {
    let l = Loaded::new("audit");
    let mut w = l.watch();
    let out = l.bd_load(&["lsm-config", "--audit"]);
    assert!(out.contains("\"audit\":true"), "{out}");
    let t = Target::spawn();
    let pid = t.pid();
    let addr = first_mapping(pid);
    l.bd_load(&["protect", "--pid", &pid.to_string()]);
    read_environ(pid).expect("audit mode: environ readable");
    open_mem(pid).expect("audit mode: mem opens");
    ptrace_attach(pid).expect("audit mode: attach works");
    vm_readv(pid, addr).expect("audit mode: process_vm_readv works");
    let ev = w.expect("an audit event for environ", |v| {
        is_deny_of(v, "ptrace", pid, "audit") && v["access"].as_u64().unwrap_or(0) & 0x1b == 0x09
    });
    assert!(ev["errno"].is_null(), "{ev}");
    w.expect("an audit event for mem", |v| {
        is_deny_of(v, "ptrace", pid, "audit") && v["access"].as_u64().unwrap_or(0) & 0x1b == 0x0a
    });
    w.expect("an audit event for attach", |v| {
        is_deny_of(v, "ptrace", pid, "audit") && v["access"].as_u64().unwrap_or(0) & 0x1b == 0x12
    });
    assert!(
        !w.drain(Duration::from_millis(300))
            .iter()
            .any(|v| v["action"] == "deny"),
        "audit mode must deny nothing: {:#?}",
        w.seen
    );
    // And back to enforcing.
    l.bd_load(&["lsm-config", "--enforce"]);
    assert_refused("environ after --enforce", read_environ(pid));
}

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_policy_flags_choose_what_is_blocked() {
    let l = Loaded::new("flags");
    let t = Target::spawn();
    let pid = t.pid();
    l.bd_load(&["lsm-config", "--allow-environ-read"]);
    l.bd_load(&["protect", "--pid", &pid.to_string()]);
    read_environ(pid).expect("--allow-environ-read lets environ through");
    assert_refused("mem stays blocked", open_mem(pid).map(|_| ()));
    assert_refused("ptrace stays blocked", ptrace_attach(pid));
    l.bd_load(&["lsm-config", "--allow-mem-read", "--allow-ptrace"]);
    open_mem(pid).expect("--allow-mem-read lets mem through");
    ptrace_attach(pid).expect("--allow-ptrace lets attach through");
    assert_refused("environ blocked again", read_environ(pid));
}

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_children_of_a_protected_process_are_protected() {
    let l = Loaded::new("fork");
    // A shell that is protected first, then forks: its child must be covered
    // without anyone adding it.
    let (r, w) = nix::unistd::pipe().unwrap();
    let mut sh = std::process::Command::new("/bin/sh")
        .args(["-c", "read x; sleep 600 & echo $!; wait"])
        .stdin(std::process::Stdio::from(r))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    l.bd_load(&["protect", "--pid", &sh.id().to_string()]);
    nix::unistd::write(&w, b"go\n").unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(sh.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let child: u32 = line.trim().parse().expect("child pid");
    assert_refused("environ of the forked child", read_environ(child));
    let list = l.bd_load(&["lsm-list"]);
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert!(
        v["protected_pids"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == child),
        "{v}"
    );
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child as i32),
        nix::sys::signal::SIGKILL,
    );
    let _ = sh.kill();
    let _ = sh.wait();
    // The exit hook forgets dead processes.
    std::thread::sleep(Duration::from_millis(300));
    let v: serde_json::Value = serde_json::from_str(&l.bd_load(&["lsm-list"])).unwrap();
    assert!(
        !v["protected_pids"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == child || p == sh.id()),
        "exited processes still listed: {v}"
    );
}

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_protected_file_cannot_be_opened() {
    let l = Loaded::new("file");
    let mut w = l.watch();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("secret.key");
    std::fs::write(&f, b"key material").unwrap();
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&f).unwrap());
    l.bd_load(&["protect", "--path", f.to_str().unwrap()]);
    let e = std::fs::read(&f).unwrap_err();
    assert!(
        matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES)),
        "open of a protected file: {e}"
    );
    // Another process (cat, root) is refused too.
    let out = std::process::Command::new("/bin/cat")
        .arg(&f)
        .output()
        .unwrap();
    assert!(!out.status.success(), "cat read a protected file");
    let ev = w.expect("a file_open deny", |v| {
        v["hook"] == "file_open" && v["ino"] == ino && v["action"] == "deny"
    });
    assert_eq!(ev["path"], "secret.key", "{ev}");
    w.expect("cat's file_open deny", |v| {
        v["hook"] == "file_open" && v["comm"] == "cat"
    });

    l.bd_load(&["allow", "--pid", &std::process::id().to_string()]);
    assert_eq!(std::fs::read(&f).unwrap(), b"key material");
    l.bd_load(&[
        "allow",
        "--remove",
        "--pid",
        &std::process::id().to_string(),
    ]);
    l.bd_load(&["unprotect", "--path", f.to_str().unwrap()]);
    assert_eq!(std::fs::read(&f).unwrap(), b"key material");
}

/// On tmpfs (major 0) the kernel's and userspace's device encodings agree;
/// on a loop device (major 7) they differ, so this is what shows that
/// `bd-load protect --path` converts st_dev to the kernel's s_dev.
#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_protected_file_on_a_block_device() {
    use std::os::unix::fs::MetadataExt;
    let l = Loaded::new("blockdev");
    let mut w = l.watch();
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("fs.img");
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    std::fs::write(&img, vec![0u8; 4 << 20]).unwrap();
    let ok = |c: &mut std::process::Command| {
        let o = c.output().unwrap();
        assert!(
            o.status.success(),
            "{c:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let free = std::process::Command::new("losetup")
        .arg("-f")
        .output()
        .unwrap();
    let loopdev = String::from_utf8_lossy(&free.stdout).trim().to_owned();
    assert!(loopdev.starts_with("/dev/loop"), "losetup -f: {loopdev:?}");
    ok(std::process::Command::new("losetup")
        .arg(&loopdev)
        .arg(&img));
    struct Cleanup(std::path::PathBuf, String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
            let _ = std::process::Command::new("losetup")
                .args(["-d", &self.1])
                .status();
        }
    }
    let _c = Cleanup(mnt.clone(), loopdev.clone());
    ok(std::process::Command::new("mke2fs").arg("-q").arg(&loopdev));
    ok(std::process::Command::new("mount")
        .args(["-t", "ext4", &loopdev])
        .arg(&mnt));
    let f = mnt.join("key");
    std::fs::write(&f, b"on a block device").unwrap();
    let md = std::fs::metadata(&f).unwrap();
    let (major, minor) = (libc::major(md.dev()) as u64, libc::minor(md.dev()) as u64);
    assert_ne!(major, 0, "not on a block device: st_dev {:#x}", md.dev());
    l.bd_load(&["protect", "--path", f.to_str().unwrap()]);
    let e = std::fs::read(&f).unwrap_err();
    assert!(
        matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES)),
        "open of a protected file on {major}:{minor}: {e}"
    );
    let ev = w.expect("the file_open deny", |v| {
        v["hook"] == "file_open" && v["ino"] == md.ino()
    });
    assert_eq!(
        ev["dev"],
        (major << 20) | minor,
        "kernel dev_t in the event: {ev}"
    );
    l.bd_load(&["unprotect", "--path", f.to_str().unwrap()]);
    assert_eq!(std::fs::read(&f).unwrap(), b"on a block device");
}
