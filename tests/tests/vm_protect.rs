//! BPF-LSM process and file protection, run inside the VM harness
//! (`cargo xtask vm-test`): the host kernel refuses LSM programs.

use bd_tests::in_vm;

/// Every test starts here: outside the VM these tests cannot mean anything,
/// so running them there with --ignored is an error, not a pass.
fn require_vm() {
    assert!(
        in_vm(),
        "VM-only test: run it with `cargo xtask vm-test`, not with --ignored on the host"
    );
}

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
