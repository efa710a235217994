//! Storage passthrough char devices (SECURITY.md channel 7), in the VM
//! harness: while a file is protected, root cannot read its blocks through
//! a SCSI generic node (`/dev/sgN`, a `mknod` copy of it) or a bsg node
//! (`/dev/bsg/H:C:T:L`) by `SG_IO` READ(10), which bypass the block layer
//! the `block_dev` check watches. The twin runs the same READ(10) with
//! nothing loaded, and again after unprotect, and finds the secret.

#[path = "vm_lsm_util/mod.rs"]
mod util;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use util::*;

const FIXTURE: &str = "/fixtures/passthrough_read";
/// scsi_debug's disk: 16 MiB of 512-byte blocks.
const DISK_MB: u64 = 16;
const BLOCKS: u64 = DISK_MB * 2048;
const SG_IO: u32 = 0x2285;
const EPERM: i32 = 1;

/// The SCSI disk of scsi_debug: its sd block device, sg node and bsg node.
struct Disk {
    block: PathBuf,
    sg: PathBuf,
    bsg: PathBuf,
}

/// insmod the staged SCSI modules (dependencies first) and find the disk.
fn scsi_debug_disk() -> Disk {
    let mut mods: Vec<PathBuf> = std::fs::read_dir("/lib/storage")
        .expect("/lib/storage: the SCSI modules are staged by xtask vm.rs")
        .map(|e| e.unwrap().path())
        .collect();
    mods.sort();
    assert!(
        mods.iter()
            .any(|m| m.to_string_lossy().ends_with("scsi_debug.ko")),
        "{mods:?}"
    );
    for m in &mods {
        let mut c = Command::new("insmod");
        c.arg(m);
        if m.to_string_lossy().ends_with("scsi_debug.ko") {
            c.arg(format!("dev_size_mb={DISK_MB}"));
        }
        let o = c.output().unwrap();
        // Loaded already (another run in this boot) is fine.
        assert!(
            o.status.success() || String::from_utf8_lossy(&o.stderr).contains("exists"),
            "{c:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let start = Instant::now();
    loop {
        if let Some(d) = find_disk() {
            if d.block.exists() && d.sg.exists() && d.bsg.exists() {
                return d;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no scsi_debug disk with sd, sg and bsg nodes appeared"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn find_disk() -> Option<Disk> {
    for e in std::fs::read_dir("/sys/class/scsi_generic").ok()? {
        let e = e.ok()?;
        let dev = e.path().join("device");
        let model = std::fs::read_to_string(dev.join("model")).unwrap_or_default();
        if !model.contains("scsi_debug") {
            continue;
        }
        let hctl = std::fs::canonicalize(&dev).ok()?;
        let hctl = hctl.file_name()?.to_string_lossy().into_owned();
        let sd = std::fs::read_dir(dev.join("block")).ok()?.next()?.ok()?;
        return Some(Disk {
            block: Path::new("/dev").join(sd.file_name()),
            sg: Path::new("/dev").join(e.file_name()),
            bsg: Path::new("/dev/bsg").join(hctl),
        });
    }
    None
}

/// SG_IO READ(10) of the whole disk through `node`, looking for `needle`
/// (sg, major 21, with the v3 header; bsg takes only the v4 header).
fn sg_read(node: &Path, needle: &str) -> Output {
    let major = libc::major(std::fs::metadata(node).unwrap().rdev());
    Command::new(FIXTURE)
        .arg(if major == 21 { "sg" } else { "bsg" })
        .arg(node)
        .arg(BLOCKS.to_string())
        .arg(needle)
        .output()
        .unwrap()
}

fn found(o: &Output) -> bool {
    o.status.code() == Some(0)
}

/// The fixture's exit code (2: open refused, 3: command refused) and errno.
fn refused_at(o: &Output) -> (Option<i32>, Option<i32>) {
    let err = String::from_utf8_lossy(&o.stderr);
    let errno = err
        .split("errno=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next()?.parse().ok());
    (o.status.code(), errno)
}

fn mknod_char(at: &Path, like: &Path) -> PathBuf {
    let rdev = std::fs::metadata(like).unwrap().rdev();
    let c = CString::new(at.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid path and a char device number.
    assert_eq!(
        unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, rdev) },
        0
    );
    at.to_path_buf()
}

/// Unmounts on drop.
struct Umount(PathBuf);

impl Drop for Umount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A fresh ext4 on `dev`, mounted under `dir`, holding `secret` in a file
/// synced to the disk (so passthrough reads find it): the mount and the file.
fn ext4_with_secret(dev: &Path, dir: &Path, secret: &str) -> (Umount, PathBuf) {
    let mnt = dir.join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    run(Command::new("mke2fs").arg("-q").arg(dev));
    run(Command::new("mount")
        .args(["-t", "ext4"])
        .arg(dev)
        .arg(&mnt));
    let u = Umount(mnt.clone());
    let f = mnt.join("key");
    std::fs::write(&f, secret).unwrap();
    run(&mut Command::new("sync"));
    (u, f)
}

fn is_pt_deny(v: &serde_json::Value, hook: &str) -> bool {
    v["type"] == "deny" && v["hook"] == hook && v["action"] == "deny" && v["uid"] == 0
}

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_shield_storage_passthrough_of_a_protected_file_is_refused() {
    require_vm();
    let secret = format!("sg-passthrough-secret-{}", std::process::id());
    let disk = scsi_debug_disk();
    let dir = tempfile::tempdir().unwrap();
    let (_u, f) = ext4_with_secret(&disk.block, dir.path(), &secret);
    let sg_copy = mknod_char(&dir.path().join("sg"), &disk.sg);
    let sg_rdev = std::fs::metadata(&disk.sg).unwrap().rdev();
    assert_eq!(libc::major(sg_rdev), 21, "{}", disk.sg.display());

    // Twin, nothing loaded: the same READ(10) finds the secret through the
    // sg node, its copy and the bsg node (which also opens the bsg inode
    // once, so the kernel knows its cdev from now on).
    for n in [&disk.sg, &sg_copy, &disk.bsg] {
        let o = sg_read(n, &secret);
        assert!(found(&o), "twin: {}: {o:?}", n.display());
    }

    let l = Loaded::new("sg");
    let mut w = l.watch();
    // Loaded, nothing protected: passthrough works as before.
    let o = sg_read(&disk.sg, &secret);
    if !found(&o) {
        let seen = w.drain(Duration::from_secs(2)).to_vec();
        panic!("loaded, nothing protected: {o:?}; denies: {seen:?}");
    }
    let out = l.bd_load(&["protect", "--path", f.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(!v["block_devices"].as_array().unwrap().is_empty(), "{v}");

    // sg by its fixed major, whatever node: refused at open.
    for n in [&disk.sg, &sg_copy] {
        let o = sg_read(n, &secret);
        assert_eq!(
            refused_at(&o),
            (Some(2), Some(EPERM)),
            "{}: {o:?}",
            n.display()
        );
    }
    let ev = w.expect("a passthrough_open deny", |v| {
        is_pt_deny(v, "passthrough_open") && v["comm"] == "passthrough_rea"
    });
    let kdev = ((libc::major(sg_rdev) as u64) << 20) | libc::minor(sg_rdev) as u64;
    assert_eq!(ev["access"], kdev, "{ev}");
    // The bsg node, opened before: refused at open by its class.
    let o = sg_read(&disk.bsg, &secret);
    assert_eq!(refused_at(&o), (Some(2), Some(EPERM)), "bsg: {o:?}");
    w.expect("a passthrough_open deny of bsg", |v| {
        is_pt_deny(v, "passthrough_open")
            && v["path"] == disk.bsg.file_name().unwrap().to_str().unwrap()
    });
    // A fresh node of the bsg device (its inode never opened: no cdev at
    // file_open) opens, but its SG_IO is refused.
    let bsg_copy = mknod_char(&dir.path().join("bsg"), &disk.bsg);
    let o = sg_read(&bsg_copy, &secret);
    assert_eq!(refused_at(&o), (Some(3), Some(EPERM)), "bsg copy: {o:?}");
    let ev = w.expect("a passthrough_cmd deny", |v| {
        is_pt_deny(v, "passthrough_cmd") && v["path"] == "bsg"
    });
    assert_eq!(ev["access"], SG_IO, "{ev}");
    // The block device itself, as before.
    assert_refused(
        "reading the sd device",
        std::fs::read(&disk.block).map_err(|e| e.raw_os_error().unwrap_or(-1)),
    );
    w.expect("a block_dev deny", |v| is_pt_deny(v, "block_dev"));
    // Never the secret, on any path.
    for n in [&disk.sg, &sg_copy, &disk.bsg, &bsg_copy] {
        assert!(!found(&sg_read(n, &secret)), "{}", n.display());
    }

    // Unprotected: the same READ(10) reads the secret again, loaded.
    l.bd_load(&["unprotect", "--path", f.to_str().unwrap()]);
    for n in [&disk.sg, &sg_copy, &disk.bsg, &bsg_copy] {
        let o = sg_read(n, &secret);
        assert!(found(&o), "after unprotect: {}: {o:?}", n.display());
    }
}

/// NVMe Read by `NVME_IOCTL_IO_CMD` of the whole namespace through `node`.
fn nvme_read(node: &Path, needle: &str) -> Output {
    Command::new(FIXTURE)
        .arg("nvme")
        .arg(node)
        .arg(BLOCKS.to_string())
        .arg(needle)
        .output()
        .unwrap()
}

/// `_IOWR('N', 0x43, struct nvme_passthru_cmd)`: 72-byte argument.
const NVME_IOCTL_IO_CMD: u32 = 0xC048_4E43;

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_shield_storage_nvme_passthrough_of_a_protected_file_is_refused() {
    require_vm();
    // xtask gives the cloud-kernel boots one qemu NVMe disk (serial bdnvme0).
    let serial = std::fs::read_to_string("/sys/class/nvme/nvme0/serial").unwrap_or_default();
    assert_eq!(serial.trim(), "bdnvme0", "no qemu NVMe controller nvme0");
    let (block, ng, ctrl) = (
        PathBuf::from("/dev/nvme0n1"),
        PathBuf::from("/dev/ng0n1"),
        PathBuf::from("/dev/nvme0"),
    );
    for n in [&block, &ng, &ctrl] {
        assert!(n.exists(), "{}", n.display());
    }
    let secret = format!("nvme-passthrough-secret-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let (_u, f) = ext4_with_secret(&block, dir.path(), &secret);

    // Twin, nothing loaded: the generic node and the controller read it.
    for n in [&ng, &ctrl] {
        let o = nvme_read(n, &secret);
        assert!(found(&o), "twin: {}: {o:?}", n.display());
    }

    let l = Loaded::new("nvme");
    let mut w = l.watch();
    l.bd_load(&["protect", "--path", f.to_str().unwrap()]);
    // Both inodes were opened above: refused at open, by class.
    for n in [&ng, &ctrl] {
        let o = nvme_read(n, &secret);
        assert_eq!(
            refused_at(&o),
            (Some(2), Some(EPERM)),
            "{}: {o:?}",
            n.display()
        );
    }
    w.expect("a passthrough_open deny of ng0n1", |v| {
        is_pt_deny(v, "passthrough_open") && v["path"] == "ng0n1"
    });
    // A fresh node of ng0n1 opens; its passthrough command is refused.
    let ng_copy = mknod_char(&dir.path().join("ng"), &ng);
    let o = nvme_read(&ng_copy, &secret);
    assert_eq!(refused_at(&o), (Some(3), Some(EPERM)), "ng copy: {o:?}");
    let ev = w.expect("a passthrough_cmd deny", |v| {
        is_pt_deny(v, "passthrough_cmd") && v["path"] == "ng"
    });
    assert_eq!(ev["access"], NVME_IOCTL_IO_CMD, "{ev}");
    assert_refused(
        "reading the nvme block device",
        std::fs::read(&block).map_err(|e| e.raw_os_error().unwrap_or(-1)),
    );
    for n in [&ng, &ctrl, &ng_copy] {
        assert!(!found(&nvme_read(n, &secret)), "{}", n.display());
    }

    l.bd_load(&["unprotect", "--path", f.to_str().unwrap()]);
    for n in [&ng, &ctrl, &ng_copy] {
        let o = nvme_read(n, &secret);
        assert!(found(&o), "after unprotect: {}: {o:?}", n.display());
    }
}
