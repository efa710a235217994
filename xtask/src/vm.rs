//! The VM harness: boots Debian kernels with BPF-LSM under qemu and runs the
//! tests the host kernel cannot (it refuses LSM programs).

use anyhow::{bail, Result};

#[derive(clap::Args, Clone, Debug)]
pub struct VmArgs {
    /// Which kernel to boot: 6.1, 6.12 or all.
    #[arg(long, default_value = "all")]
    pub kernel: String,
}

impl VmArgs {
    pub fn all() -> Self {
        VmArgs {
            kernel: "all".into(),
        }
    }
}

pub fn vm_test(args: &VmArgs) -> Result<()> {
    // Fail, never skip: until the harness exists the suite must not pass.
    bail!(
        "vm-test --kernel {}: the VM harness is not built yet",
        args.kernel
    )
}
