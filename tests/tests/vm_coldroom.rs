//! COLDROOM: nobody changes the running kernel (docs/MODES.md). Modules,
//! kexec and BPF are tested in vm_shield.rs; this is the rest, what the
//! kernel's lockdown LSM calls integrity: port I/O, PCI config space and
//! debugfs files that write. Each is refused at COLDROOM with a
//! `kernel_integrity` deny naming the reason; the twin is the same call
//! succeeding in OPEN with the same programs loaded.

#[path = "vm_lsm_util/mod.rs"]
mod util;

use bd_tests::bin;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use util::*;

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
}

/// ioperm(2) on port 0x80 (the POST diagnostic port: nothing listens),
/// then off again.
fn ioperm() -> Result<(), i32> {
    // SAFETY: plain system calls on one port.
    if unsafe { libc::ioperm(0x80, 1, 1) } != 0 {
        return Err(errno());
    }
    unsafe { libc::ioperm(0x80, 1, 0) };
    Ok(())
}

/// Write the host bridge's vendor ID (read-only in hardware) back to its
/// PCI config space: the kernel asks for LOCKDOWN_PCI_ACCESS first.
fn pci_config_write(dev: &Path) -> Result<(), i32> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dev.join("config"))
        .map_err(|e| e.raw_os_error().unwrap_or(-1))?;
    let mut id = [0u8; 2];
    f.read_exact_at(&mut id, 0)
        .map_err(|e| e.raw_os_error().unwrap_or(-1))?;
    f.write_all_at(&id, 0)
        .map_err(|e| e.raw_os_error().unwrap_or(-1))
}

fn first_pci_device() -> PathBuf {
    let mut devs: Vec<PathBuf> = std::fs::read_dir("/sys/bus/pci/devices")
        .expect("/sys/bus/pci/devices in the VM")
        .flatten()
        .map(|e| e.path())
        .collect();
    devs.sort();
    devs.into_iter().next().expect("a PCI device in the VM")
}

/// A debugfs file with write permission: the kernel asks for
/// LOCKDOWN_DEBUGFS when one is opened, even for reading.
fn writable_debugfs_file() -> PathBuf {
    let root = Path::new("/sys/kernel/debug");
    if !root.join("bdi").exists() {
        let o = Command::new("mount")
            .args(["-t", "debugfs", "debugfs", "/sys/kernel/debug"])
            .output()
            .unwrap();
        assert!(o.status.success(), "mount debugfs: {o:?}");
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o200 != 0)
        })
        .map(|e| e.path())
        .collect();
    files.sort();
    files
        .into_iter()
        .next()
        .expect("a writable file at the top of debugfs")
}

fn open_read(p: &Path) -> Result<(), i32> {
    std::fs::File::open(p)
        .map(|_| ())
        .map_err(|e| e.raw_os_error().unwrap_or(-1))
}

fn is_integrity_deny(v: &serde_json::Value, reason: &str) -> bool {
    v["type"] == "deny"
        && v["hook"] == "kernel_integrity"
        && v["mode"] == "COLDROOM"
        && v["path"] == reason
        && v["pid"] == std::process::id()
}

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_coldroom_refuses_port_io_pci_and_debugfs_writes() {
    require_vm();
    let pci = first_pci_device();
    let dbg = writable_debugfs_file();
    let l = Loaded::new("coldroom");
    let mut w = l.watch();

    // Twins, in OPEN with every program loaded: each call works.
    assert_eq!(ioperm(), Ok(()), "twin: ioperm in OPEN");
    assert_eq!(
        pci_config_write(&pci),
        Ok(()),
        "twin: {} in OPEN",
        pci.display()
    );
    assert_eq!(open_read(&dbg), Ok(()), "twin: {} in OPEN", dbg.display());

    let mut c = Ceremony::new(&l.pin, &bin("bd-lock"));
    c.engage("COLDROOM");

    assert_refused("ioperm at COLDROOM", ioperm());
    w.expect("an ioport deny", |v| is_integrity_deny(v, "ioport"));
    assert_refused("PCI config write at COLDROOM", pci_config_write(&pci));
    w.expect("a pci_access deny", |v| is_integrity_deny(v, "pci_access"));
    assert_refused("writable debugfs file at COLDROOM", open_read(&dbg));
    w.expect("a debugfs deny", |v| is_integrity_deny(v, "debugfs"));

    // Released by the ceremony, the same calls work again.
    c.release();
    assert_eq!(ioperm(), Ok(()), "ioperm after the release");
    assert_eq!(
        pci_config_write(&pci),
        Ok(()),
        "PCI config after the release"
    );
}
