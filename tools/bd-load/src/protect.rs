//! BPF-LSM protection maps, edited from the command line:
//! `bd-load protect`, `unprotect`, `allow` (and any further LSM settings).
//!
//! These variants are flattened into bd-load's subcommands by cli.rs, so the
//! loader crate's main.rs only dispatches here.

use std::path::Path;

#[derive(Debug, clap::Subcommand)]
pub enum LsmCmd {
    /// Protect processes (and their future children) or files with BPF-LSM.
    Protect(Target),
    /// Remove processes or files from protection.
    Unprotect(Target),
}

#[derive(Debug, clap::Args)]
pub struct Target {
    /// Process id (tgid) to act on; repeatable.
    #[arg(long = "pid", value_name = "PID")]
    pub pids: Vec<u32>,
    /// File to act on (by device and inode); repeatable.
    #[arg(long = "path", value_name = "PATH")]
    pub paths: Vec<std::path::PathBuf>,
}

/// Run one LSM subcommand against the maps pinned under `pin_dir`.
pub fn run(cmd: &LsmCmd, pin_dir: &Path) -> anyhow::Result<()> {
    anyhow::bail!(
        "{cmd:?}: LSM map editing under {} is not built yet",
        pin_dir.display()
    )
}
