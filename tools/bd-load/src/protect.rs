//! BPF-LSM protection maps, edited from the command line:
//! `bd-load protect`, `unprotect`, `allow`, `lsm-config`, `lsm-list`.
//!
//! These variants are flattened into bd-load's subcommands by cli.rs, so the
//! loader crate's main.rs only dispatches here. Each change prints one JSON
//! line on stdout.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use boundary::protect::{self, Config, ProtectError};
use serde_json::json;

use crate::{exit, fail};

#[derive(Debug, clap::Subcommand)]
pub enum LsmCmd {
    /// Protect processes (and the children they fork) or files with BPF-LSM.
    ///
    /// A protected process's memory (/proc/PID/mem, process_vm_readv), its
    /// environment (/proc/PID/environ and the other ptrace-read files) and
    /// ptrace attach are refused to everyone but itself and the allow list,
    /// root included. A protected file (by device and inode) cannot be opened
    /// by any process not on the allow list, and neither can the block
    /// devices holding its filesystem (the device, a partition's disk, dm/md
    /// slaves, a loop device's backing image and its device), by device
    /// number through any node; `block_devices` and `backing_files` in the
    /// output name them. Needs the LSM programs loaded (`bd-load` on a
    /// kernel with BPF-LSM active).
    #[command(after_help = "Examples:\n  \
        bd-load protect --pid 4242\n  \
        bd-load protect --path /etc/app/secret.key\n  \
        bd-load protect --require-clean --pid 4242")]
    Protect(ProtectArgs),
    /// Remove processes or files from protection.
    #[command(after_help = "Examples:\n  bd-load unprotect --pid 4242 --path /etc/app/secret.key")]
    Unprotect(Target),
    /// Let processes through every shield (a debugger, a backup agent);
    /// with --remove take them off the allow list.
    #[command(
        after_help = "Examples:\n  bd-load allow --pid 777\n  bd-load allow --remove --pid 777"
    )]
    Allow(AllowArgs),
    /// Set which accesses to protected processes are refused, and enforce or
    /// audit. With no option, print the current setting.
    ///
    /// Options set the whole policy: anything not named is blocked, and the
    /// mode is enforce unless --audit is given. Audit mode denies nothing and
    /// reports each access that would have been denied (action "audit").
    #[command(after_help = "Examples:\n  \
        bd-load lsm-config                       print the policy as JSON\n  \
        bd-load lsm-config --audit               report only, block nothing\n  \
        bd-load lsm-config --allow-environ-read  allow /proc/PID/environ, maps..\n  \
        bd-load lsm-config --enforce             block all, enforce (default)")]
    LsmConfig(ConfigArgs),
    /// Print the protected pids, allowed pids, protected files and policy (JSON).
    LsmList,
}

#[derive(Debug, clap::Args)]
#[group(required = true, multiple = true)]
pub struct Target {
    /// Process id (tgid) to act on; repeatable.
    #[arg(long = "pid", value_name = "PID")]
    pub pids: Vec<u32>,
    /// File to act on (by device and inode); repeatable.
    #[arg(long = "path", value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// What protection cannot undo for a running process is reported: a tracer
/// already attached and /proc/PID/mem fds opened before it (both keep
/// working), and BPF tracing programs that are not boundary's (loaded before
/// the shield: one already attached keeps running). Its RLIMIT_CORE is set
/// to 1 (no core dumps) and held there.
#[derive(Debug, clap::Args)]
pub struct ProtectArgs {
    #[command(flatten)]
    pub target: Target,
    /// Exit with status 1 if a protected process already has a tracer or
    /// open /proc/PID/mem fds, or a BPF tracing program that is not
    /// boundary's is loaded (it stays protected; those accesses do not end
    /// until their holders let go).
    #[arg(long)]
    pub require_clean: bool,
}

#[derive(Debug, clap::Args)]
pub struct AllowArgs {
    /// Process id (tgid) to allow; repeatable.
    #[arg(long = "pid", value_name = "PID", required = true)]
    pub pids: Vec<u32>,
    /// Remove the pids from the allow list instead.
    #[arg(long)]
    pub remove: bool,
}

#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// Report would-be denials, deny nothing.
    #[arg(long, conflicts_with = "enforce")]
    pub audit: bool,
    /// Deny (the default mode).
    #[arg(long)]
    pub enforce: bool,
    /// Do not block PTRACE_MODE_READ checks: /proc/PID/environ, auxv, maps, stack, ...
    #[arg(long)]
    pub allow_environ_read: bool,
    /// Do not block /proc/PID/mem.
    #[arg(long)]
    pub allow_mem_read: bool,
    /// Do not block ptrace attach, PTRACE_TRACEME, process_vm_readv/writev, pidfd_getfd.
    #[arg(long)]
    pub allow_ptrace: bool,
}

impl ConfigArgs {
    fn any(&self) -> bool {
        self.audit
            || self.enforce
            || self.allow_environ_read
            || self.allow_mem_read
            || self.allow_ptrace
    }
}

fn not_loaded(pin_dir: &Path) -> anyhow::Error {
    fail(
        exit::NOT_LOADED,
        format!(
            "{}: the LSM maps are not pinned (run `bd-load` on a kernel with BPF-LSM active: \
             `bpf` in /sys/kernel/security/lsm)",
            boundary::pin::maps_dir(pin_dir).display()
        ),
    )
}

fn map_err(e: ProtectError) -> anyhow::Error {
    match e {
        ProtectError::NoProcess { .. } | ProtectError::Stat { .. } => {
            fail(exit::USAGE, e.to_string())
        }
        e => anyhow::Error::new(e),
    }
}

/// Print one line in the output contract (`v`, `type`, `time` first).
fn emit(v: serde_json::Value) {
    let ty = v["type"].as_str().unwrap_or("unknown").to_string();
    println!("{}", boundary::json::output_line(&ty, v));
}

/// Run one LSM subcommand against the maps pinned under `pin_dir`.
pub fn run(cmd: &LsmCmd, pin_dir: &Path) -> anyhow::Result<()> {
    if !protect::maps_pinned(pin_dir) {
        return Err(not_loaded(pin_dir));
    }
    match cmd {
        LsmCmd::Protect(a) => {
            let t = &a.target;
            // The maps can exist without the LSM programs (the fork and
            // exit tracepoints load anywhere): never say "protected" then.
            let missing: Vec<&str> = ["ptrace_access_check", "file_open"]
                .into_iter()
                .filter(|p| !boundary::pin::link_path(pin_dir, "lsm_file_protect", p).exists())
                .collect();
            if !missing.is_empty() {
                // The pids are still recorded: exec_monitor flags their
                // execs (`protected`) and the fork tracepoint follows their
                // children, neither of which needs BPF-LSM. That is
                // detection, not protection, so the exit is still 4.
                for &pid in &t.pids {
                    protect::protect_pid(pin_dir, pid).map_err(map_err)?;
                }
                return Err(fail(
                    exit::MISSING,
                    format!(
                        "{}: nothing protected: the BPF-LSM shield is not attached \
                         (missing lsm_file_protect-{}); this kernel needs `bpf` in \
                         /sys/kernel/security/lsm and must accept BPF-LSM programs{}",
                        pin_dir.display(),
                        missing.join(", lsm_file_protect-"),
                        if t.pids.is_empty() {
                            ""
                        } else {
                            "; the pid(s) are recorded only so that bd-watch flags their \
                             execs as `protected`"
                        }
                    ),
                ));
            }
            let mut unclean = Vec::new();
            for &pid in &t.pids {
                protect::protect_pid(pin_dir, pid).map_err(map_err)?;
                // Checked after protecting, so nothing new can slip in
                // between the check and the protection.
                let tracer = protect::tracer_pid(pid).unwrap_or(0);
                let mem: Vec<_> = protect::mem_fd_holders(pid)
                    .into_iter()
                    .map(|(holder, fd)| json!({"pid": holder, "fd": fd}))
                    .collect();
                if tracer != 0 || !mem.is_empty() {
                    unclean.push(pid);
                    eprintln!(
                        "bd-load: pid {pid}: protected, but access from before cannot be revoked: \
                         tracer pid {tracer}, {} open /proc/{pid}/mem fd(s)",
                        mem.len()
                    );
                }
                emit(json!({"v":1,"type":"protect","pid":pid,"state":"protected",
                    "tracer_pid":tracer,"mem_fds":mem}));
            }
            if a.require_clean && !unclean.is_empty() {
                return Err(crate::fail_reported(
                    exit::UNCLEAN,
                    format!(
                        "--require-clean: pid(s) {unclean:?} were already traced or had \
                         /proc/PID/mem open before protection"
                    ),
                ));
            }
            for p in &t.paths {
                let k = protect::protect_file(pin_dir, p).map_err(map_err)?;
                let (mut devs, mut images) = (Vec::new(), Vec::new());
                protect::holders_of(k.dev, &mut devs, &mut images);
                if devs.is_empty() {
                    eprintln!(
                        "bd-load: {}: its filesystem has no block device the kernel names \
                         (tmpfs, overlay, btrfs, NFS: device {}:{}); only opens of the file \
                         itself are refused (SECURITY.md, raw block devices)",
                        p.display(),
                        k.dev >> 20,
                        k.dev & 0xfffff
                    );
                }
                let devs: Vec<String> = devs
                    .iter()
                    .map(|d| format!("{}:{}", d >> 20, d & 0xfffff))
                    .collect();
                let images: Vec<_> = images
                    .iter()
                    .map(|i| json!({"dev": i.dev, "ino": i.ino}))
                    .collect();
                emit(
                    json!({"v":1,"type":"protect","path":p,"dev":k.dev,"ino":k.ino,
                    "state":"protected","block_devices":devs,"backing_files":images}),
                );
            }
            // A tracing program loaded before the shield, maybe attached
            // (a running uprobe program reads the new secret as well).
            let foreign = crate::status::foreign_tracing(pin_dir);
            match &foreign {
                Ok(l) => crate::status::report_foreign(l),
                Err(e) => eprintln!("bd-load: {e}: foreign tracing programs not checked"),
            }
            if a.require_clean {
                match &foreign {
                    Ok(l) if !l.is_empty() => {
                        let ids: Vec<u32> = l.iter().map(|t| t.prog_id).collect();
                        return Err(crate::fail_reported(
                            exit::UNCLEAN,
                            format!(
                                "--require-clean: foreign BPF tracing program(s) {ids:?} \
                                 loaded (protected all the same)"
                            ),
                        ));
                    }
                    Err(e) => {
                        return Err(crate::fail_reported(
                            exit::UNCLEAN,
                            format!("--require-clean: {e} (fail closed)"),
                        ))
                    }
                    Ok(_) => {}
                }
            }
        }
        LsmCmd::Unprotect(t) => {
            crate::selfprot::require_open(pin_dir, "unprotect")?;
            for &pid in &t.pids {
                let was = protect::unprotect_pid(pin_dir, pid).map_err(map_err)?;
                emit(json!({"v":1,"type":"protect","pid":pid,
                    "state": if was {"unprotected"} else {"not_protected"}}));
            }
            for p in &t.paths {
                let was = protect::unprotect_file(pin_dir, p).map_err(map_err)?;
                emit(json!({"v":1,"type":"protect","path":p,
                    "state": if was {"unprotected"} else {"not_protected"}}));
            }
        }
        LsmCmd::Allow(a) => {
            if !a.remove {
                crate::selfprot::require_open(pin_dir, "add to the allow list")?;
            }
            for &pid in &a.pids {
                if a.remove {
                    let was = protect::disallow_pid(pin_dir, pid).map_err(map_err)?;
                    emit(json!({"v":1,"type":"allow","pid":pid,
                        "state": if was {"removed"} else {"not_allowed"}}));
                } else {
                    protect::allow_pid(pin_dir, pid).map_err(map_err)?;
                    emit(json!({"v":1,"type":"allow","pid":pid,"state":"allowed"}));
                }
            }
        }
        LsmCmd::LsmConfig(c) => {
            if c.audit || c.allow_environ_read || c.allow_mem_read || c.allow_ptrace {
                crate::selfprot::require_open(pin_dir, "loosen the LSM policy")?;
            }
            if c.any() {
                let cfg = Config {
                    block_environ_read: !c.allow_environ_read,
                    block_mem_read: !c.allow_mem_read,
                    block_ptrace: !c.allow_ptrace,
                    audit: c.audit,
                };
                protect::set_config(pin_dir, cfg).map_err(map_err)?;
            }
            let cfg = protect::config(pin_dir).map_err(map_err)?;
            let mut v = serde_json::to_value(cfg).context("serialising the policy")?;
            v["v"] = json!(1);
            v["type"] = json!("lsm_config");
            emit(v);
        }
        LsmCmd::LsmList => {
            let l = protect::list(pin_dir).map_err(map_err)?;
            let mut v = serde_json::to_value(l).context("serialising the listing")?;
            v["v"] = json!(1);
            v["type"] = json!("lsm_list");
            emit(v);
        }
    }
    Ok(())
}
