//! Helpers shared by the cross-tool integration tests.
//!
//! Native tests (`tests/tests/<area>.rs`) run on the host kernel. VM tests
//! (`tests/tests/vm_<area>.rs`, functions named `vm_*`) need BPF-LSM: they are
//! `#[ignore = "vm: run by cargo xtask vm-test"]` on the host, and the VM
//! harness runs them with `--ignored` inside qemu, with `BD_IN_VM=1`.

pub mod rig;

use std::path::PathBuf;

/// Path of one of our binaries: `$BD_BIN_DIR/NAME` when set (the VM puts them
/// in /bin), else beside the test executable's profile directory.
pub fn bin(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("BD_BIN_DIR") {
        return PathBuf::from(dir).join(name);
    }
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let profile = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("test binary under target/<profile>/deps");
    let path = profile.join(name);
    assert!(
        path.exists(),
        "{} is missing: build every binary first (cargo build --release --bins), \
         as `cargo xtask test` does",
        path.display()
    );
    path
}

/// True inside the VM harness.
pub fn in_vm() -> bool {
    std::env::var_os("BD_IN_VM").is_some()
}

/// Take a test's pins away for good: `bd-load unload`, and where that is
/// refused (it is outside mode OPEN, which many tests end in) remove the pins
/// directly, which detaches every pinned link once nothing else holds it. Without this, every suite run left its LOCKDOWN rigs' programs
/// attached to the host (and its exec_monitor copies taxing every exec).
pub fn remove_pins(pin: &std::path::Path) {
    let _ = std::process::Command::new(bin("bd-load"))
        .arg("--pin-dir")
        .arg(pin)
        .arg("unload")
        .output();
    let _ = boundary::pin::remove_pins(pin);
}
