//! Developer automation: `cargo xtask man|completions|test|vm-test|sys-vm-test`.

#[cfg(test)]
mod complete_check;
mod docs;
#[cfg(test)]
mod examples_check;
mod sysvm;
mod vm;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Parser)]
#[command(name = "xtask", about = "boundary developer automation")]
struct Xtask {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Generate man/bd-*.1 from the tools' clap definitions.
    Man {
        /// Fail if the committed pages differ instead of writing them.
        #[arg(long)]
        check: bool,
    },
    /// Generate bash, zsh and fish completions into completions/.
    Completions {
        /// Fail if the committed files differ instead of writing them.
        #[arg(long)]
        check: bool,
    },
    /// Run the whole test suite: native tests, the VM tests on every kernel, then the systemd VM test.
    Test,
    /// Boot Debian kernels under qemu and run the tests that need BPF-LSM.
    VmTest(vm::VmArgs),
    /// Install the .deb on a Debian 12 VM with systemd and check the units across a reboot.
    SysVmTest(sysvm::SysVmArgs),
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

pub fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let st = cmd.status().with_context(|| format!("spawning {shown}"))?;
    if !st.success() {
        bail!("{shown} failed: {st}");
    }
    Ok(())
}

fn main() -> Result<()> {
    match Xtask::parse().cmd {
        Cmd::Man { check } => docs::man(check),
        Cmd::Completions { check } => docs::completions(check),
        Cmd::Test => {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            // The cross-tool tests run our binaries: cargo builds a package's
            // binaries for its own tests only, so build every one first.
            run(Command::new(&cargo).current_dir(root()).args([
                "build",
                "--workspace",
                "--release",
                "--bins",
            ]))?;
            run(Command::new(&cargo).current_dir(root()).args([
                "test",
                "--workspace",
                "--release",
            ]))?;
            vm::vm_test(&vm::VmArgs::all())?;
            sysvm::sys_vm_test(&sysvm::SysVmArgs::defaults())
        }
        Cmd::VmTest(args) => vm::vm_test(&args),
        Cmd::SysVmTest(args) => sysvm::sys_vm_test(&args),
    }
}
