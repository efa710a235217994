//! LOCKDOWN freezes an allowed file's names and attributes (mode_enforce:
//! inode_link, inode_unlink, inode_rename, inode_setattr, inode_setxattr,
//! inode_removexattr, inode_set_acl, file_ioctl). Each allow entry is sealed
//! with the inode's generation and ctime, so whatever moves ctime makes the
//! entry stale and the file unrunnable: root in LOCKDOWN making a link of
//! bd-lock (or chmod, chown, touch, setfattr, mv, rm of a second name)
//! would leave no release ceremony until a reboot. Run inside the VM
//! harness (`cargo xtask vm-test`): the host kernel refuses LSM programs.
//!
//! Blocked: each operation on the ceremony's own bd-lock (a copy recorded
//! as boundary's by the copied bd-load) is EPERM with a deny event, its
//! ctime does not move, and the release ceremony runs afterwards. Twin: the
//! same operations where the rule does not hold (OPEN, before engaging)
//! each move ctime, and in LOCKDOWN the stale bd-lock's exec is refused.

#[path = "vm_lsm_util/mod.rs"]
mod util;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;
use util::assert_ok as ok;
use util::*;

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
}

fn rc(r: libc::c_int) -> Result<(), i32> {
    if r == 0 {
        Ok(())
    } else {
        Err(errno())
    }
}

fn io(r: std::io::Result<()>) -> Result<(), i32> {
    r.map_err(|e| e.raw_os_error().unwrap_or(-1))
}

fn ctime(p: &Path) -> (i64, i64) {
    let m = std::fs::metadata(p).unwrap();
    (m.ctime(), m.ctime_nsec())
}

const ATTR_MODE: u64 = 1;
const ATTR_GID: u64 = 4;
const ATTR_ATIME: u64 = 16;
const ATTR_MTIME: u64 = 32;
const FS_IOC_GETFLAGS: libc::c_ulong = 0x8008_6601;
const FS_IOC_SETFLAGS: libc::c_ulong = 0x4008_6602;

/// A POSIX access ACL equivalent to mode 0755 (what `setfacl` writes):
/// header version 2, then USER_OBJ rwx, GROUP_OBJ r-x, OTHER r-x.
fn acl_0755() -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec();
    for (tag, perm) in [(0x01u16, 7u16), (0x04, 5), (0x20, 5)] {
        v.extend(tag.to_le_bytes());
        v.extend(perm.to_le_bytes());
        v.extend(u32::MAX.to_le_bytes());
    }
    v
}

fn setxattr(p: &Path, name: &str, value: &[u8]) -> Result<(), i32> {
    let n = CString::new(name).unwrap();
    // SAFETY: valid NUL-terminated strings and a buffer of the given length.
    rc(unsafe {
        libc::setxattr(
            cstr(p).as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
}

/// chattr with the flags the file already has: the ioctl still moves ctime.
fn chattr_same(p: &Path) -> Result<(), i32> {
    let f = std::fs::File::open(p).map_err(|e| e.raw_os_error().unwrap_or(-1))?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
    let mut flags: libc::c_long = 0;
    // SAFETY: FS_IOC_GETFLAGS/SETFLAGS read or write one long at the pointer.
    rc(unsafe { libc::ioctl(fd, FS_IOC_GETFLAGS, &mut flags as *mut libc::c_long) })?;
    rc(unsafe { libc::ioctl(fd, FS_IOC_SETFLAGS, &flags as *const libc::c_long) })
}

/// One operation root could use to move an allowed file's ctime: the deny
/// event it must raise in LOCKDOWN (hook, and a test of `access`).
struct Op {
    name: &'static str,
    hook: &'static str,
    access: fn(u64) -> bool,
    run: Box<dyn Fn() -> Result<(), i32>>,
}

/// The operations on `victim`, whose second hard link is `second`.
fn ops(victim: &Path, second: &Path) -> Vec<Op> {
    let v = victim.to_path_buf();
    let dir = victim.parent().unwrap().to_path_buf();
    let mut out = Vec::new();
    let (p, d) = (v.clone(), dir.clone());
    out.push(Op {
        name: "ln (a new hard link)",
        hook: "allowed_name",
        access: |a| a == 1,
        run: Box::new(move || io(std::fs::hard_link(&p, d.join("bd-lock.3")))),
    });
    let s = second.to_path_buf();
    out.push(Op {
        name: "rm of a second name",
        hook: "allowed_name",
        access: |a| a == 2,
        run: Box::new(move || io(std::fs::remove_file(&s))),
    });
    let (p, d) = (v.clone(), dir.clone());
    out.push(Op {
        name: "mv (and back)",
        hook: "allowed_name",
        access: |a| a == 3,
        run: Box::new(move || {
            io(std::fs::rename(&p, d.join("moved")))?;
            io(std::fs::rename(d.join("moved"), &p))
        }),
    });
    let p = v.clone();
    out.push(Op {
        name: "chmod",
        hook: "allowed_setattr",
        access: |a| a & ATTR_MODE != 0,
        run: Box::new(move || {
            use std::os::unix::fs::PermissionsExt as _;
            io(std::fs::set_permissions(
                &p,
                std::fs::Permissions::from_mode(0o750),
            ))
        }),
    });
    let p = v.clone();
    out.push(Op {
        name: "chown",
        hook: "allowed_setattr",
        access: |a| a & ATTR_GID != 0,
        run: Box::new(move || io(std::os::unix::fs::chown(&p, Some(0), Some(1)))),
    });
    let p = v.clone();
    out.push(Op {
        name: "touch -d",
        hook: "allowed_setattr",
        access: |a| a & (ATTR_ATIME | ATTR_MTIME) == ATTR_ATIME | ATTR_MTIME,
        run: Box::new(move || {
            let t = libc::timespec {
                tv_sec: 1_000_000_000,
                tv_nsec: 0,
            };
            // SAFETY: a valid path and two timespecs.
            rc(unsafe { libc::utimensat(libc::AT_FDCWD, cstr(&p).as_ptr(), [t, t].as_ptr(), 0) })
        }),
    });
    let p = v.clone();
    out.push(Op {
        name: "setfattr",
        hook: "allowed_xattr",
        access: |a| a == 1,
        run: Box::new(move || setxattr(&p, "trusted.bd-test", b"x")),
    });
    let p = v.clone();
    out.push(Op {
        name: "setfattr -x",
        hook: "allowed_xattr",
        access: |a| a == 2,
        run: Box::new(move || {
            let n = CString::new("trusted.bd-test").unwrap();
            // SAFETY: valid NUL-terminated strings.
            rc(unsafe { libc::removexattr(cstr(&p).as_ptr(), n.as_ptr()) })
        }),
    });
    let p = v.clone();
    out.push(Op {
        name: "setfacl",
        hook: "allowed_xattr",
        // inode_setxattr on 6.1, inode_set_acl from 6.2.
        access: |a| a == 1 || a == 3,
        run: Box::new(move || setxattr(&p, "system.posix_acl_access", &acl_0755())),
    });
    let p = v;
    out.push(Op {
        name: "chattr (FS_IOC_SETFLAGS)",
        hook: "allowed_ioctl",
        access: |a| a == 0x4008_6602, // FS_IOC_SETFLAGS
        run: Box::new(move || chattr_same(&p)),
    });
    out
}

/// The rig: copied binaries loaded by the copied bd-load (so the copied
/// bd-lock is boundary's own), a ceremony run by the copied bd-lock, and
/// the LOCKDOWN allow list holding what it and the harness run.
fn rig(tag: &str, extra: &[&str]) -> (Copies, Ceremony) {
    let c = Copies::new(tag);
    let o = c.load(extra);
    ok("bd-load", &o);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    for p in [
        "mode_link",
        "mode_unlink",
        "mode_rename",
        "mode_setattr",
        "mode_setxattr",
        "mode_removexattr",
        "mode_ioctl",
    ] {
        let name = format!("mode_enforce-{p} ");
        assert!(
            out.lines()
                .any(|l| l.starts_with(&name) && l.contains(" attached ")),
            "{p} not attached: {out}"
        );
    }
    for l in out.lines().filter(|l| {
        l.contains("mode_set_acl") || l.contains("mode_remove_acl") || l.contains("ioctl_compat")
    }) {
        println!("{l}");
    }
    let cer = Ceremony::new(&c.pin, &c.bin("bd-lock"));
    (c, cer)
}

fn allow(c: &Copies, cer: &Ceremony, extra: &[&Path]) {
    let mut list: Vec<PathBuf> = vec![c.bin("bd-lock"), c.bin("bd-load"), c.bin("bd-watch")];
    // The harness's shell tools (busybox in the VM): should a failure leave
    // the VM in LOCKDOWN, it can still print this test's output.
    if let Ok(bb) = std::fs::canonicalize("/bin/sed") {
        list.push(bb);
    }
    list.extend(extra.iter().map(|p| p.to_path_buf()));
    let mut args = vec!["allow", "--libs"];
    args.extend(list.iter().map(|p| p.to_str().unwrap()));
    let o = cer.lock(&args);
    let out = String::from_utf8_lossy(&o.stdout);
    let lock = c.bin("bd-lock");
    let line = out
        .lines()
        .find(|l| l.contains(lock.to_str().unwrap()))
        .unwrap_or_else(|| panic!("no line for bd-lock: {out}"));
    assert!(line.contains("ctime_ns"), "bd-lock not sealed: {line}");
}

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_allow_ctime_frozen_in_lockdown() {
    require_vm();
    let (c, mut cer) = rig("allow-ctime", &[]);
    let lock = c.bin("bd-lock");
    // A second name made before the list seals the inode (a link moves ctime).
    let second = c.bin_dir().join("bd-lock.2");
    std::fs::hard_link(&lock, &second).unwrap();
    allow(&c, &cer, &[]);
    let ino = std::fs::metadata(&lock).unwrap().ino();
    let mut w = Watch::start_with(&c.bin("bd-watch"), &c.pin);
    cer.engage("LOCKDOWN");

    let before = ctime(&lock);
    for op in ops(&lock, &second) {
        let r = (op.run)();
        assert_eq!(r, Err(libc::EPERM), "{} of the allowed bd-lock", op.name);
        let ev = w.expect(&format!("{} on inode {ino}", op.hook), |v| {
            v["hook"] == op.hook && v["ino"].as_u64() == Some(ino) && {
                let a = v["access"].as_u64().unwrap_or(u64::MAX);
                (op.access)(a)
            }
        });
        assert_eq!(ev["mode"], "LOCKDOWN", "{}: {ev}", op.name);
        println!("{}: EPERM, {} access {}", op.name, op.hook, ev["access"]);
        assert_eq!(ctime(&lock), before, "{} moved ctime", op.name);
    }
    // The same rename over a second name of it (inode_rename's new side).
    let n1 = c.root.join("n1");
    std::fs::write(&n1, b"x").unwrap();
    assert_eq!(io(std::fs::rename(&n1, &second)), Err(libc::EPERM));
    w.expect("allowed_rename", |v| {
        v["hook"] == "allowed_rename" && v["ino"].as_u64() == Some(ino)
    });
    assert_eq!(ctime(&lock), before);

    // bd-lock still runs, and the release ceremony works.
    // Exit 4: the AIRGAP cgroup programs are not attached (no --cgroup).
    let st = cer.lock_raw(&["status"]);
    assert!(
        matches!(st.status.code(), Some(0 | 4)),
        "bd-lock status in LOCKDOWN: {st:?}"
    );
    assert!(
        String::from_utf8_lossy(&st.stdout).contains("LOCKDOWN"),
        "{st:?}"
    );
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(
        !err.contains("mode_link") && !err.contains("mode_setattr"),
        "bd-lock counts the frozen-file programs missing: {err}"
    );
    cer.release();
    // Back in OPEN nothing is frozen: the second name goes.
    assert_eq!(io(std::fs::remove_file(&second)), Ok(()));
}

/// Twin: the rule holds in LOCKDOWN only, so root doing the same in OPEN,
/// after the list sealed the inode, makes the entry stale: each operation
/// moves ctime, and in LOCKDOWN the stale bd-lock does not run. The victim
/// is a second copy of bd-lock beside the ceremony's (loaded without
/// self-protection, any copy could run it), so the ceremony's own still
/// releases the mode afterwards.
#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_allow_ctime_twin_stale_entry_is_refused() {
    require_vm();
    let (c, mut cer) = rig("allow-ctime-twin", &["--without-self-protection"]);
    let vdir = c.root.join("victim");
    std::fs::create_dir(&vdir).unwrap();
    let victim = vdir.join("bd-lock");
    std::fs::copy(c.bin("bd-lock"), &victim).unwrap();
    let second = vdir.join("bd-lock.2");
    std::fs::hard_link(&victim, &second).unwrap();
    allow(&c, &cer, &[&victim]);
    let ino = std::fs::metadata(&victim).unwrap().ino();
    // Sealed now; the victim runs in OPEN.
    let run = |p: &Path| {
        std::process::Command::new(p)
            .arg("--help")
            .output()
            .map(|o| o.status.success())
            .map_err(|e| e.raw_os_error().unwrap_or(-1))
    };
    assert_eq!(run(&victim), Ok(true));

    let mut moved = 0;
    for op in ops(&victim, &second) {
        let before = ctime(&victim);
        // Coarse timestamps on 6.1 (a jiffy): let the clock move first.
        std::thread::sleep(Duration::from_millis(20));
        match (op.run)() {
            Ok(()) => {
                assert_ne!(ctime(&victim), before, "{} did not move ctime", op.name);
                moved += 1;
                println!("twin: {} moved ctime", op.name);
            }
            // Not every kernel's tmpfs has ACLs or inode flags: said, not hidden.
            Err(e) if e == libc::EOPNOTSUPP || e == libc::ENOTTY => {
                println!(
                    "twin: {}: not supported by this filesystem (errno {e})",
                    op.name
                )
            }
            Err(e) => panic!("twin: {} failed in OPEN: errno {e}", op.name),
        }
    }
    assert!(moved >= 8, "only {moved} operations moved ctime");

    let mut w = Watch::start_with(&c.bin("bd-watch"), &c.pin);
    cer.engage("LOCKDOWN");
    assert_eq!(
        run(&victim),
        Err(libc::EPERM),
        "the stale bd-lock ran in LOCKDOWN"
    );
    let ev = w.expect("stale exec", |v| {
        v["hook"] == "exec" && v["ino"].as_u64() == Some(ino)
    });
    assert_eq!(ev["access"], 1, "not refused as stale: {ev}");
    // Clean up: the untouched bd-lock releases.
    cer.release();
    let _ = std::fs::remove_dir_all(&vdir);
}
