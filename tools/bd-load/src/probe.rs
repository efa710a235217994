//! What this kernel and this process can do, checked before loading.

use crate::{exit, fail};
use boundary::pin;
use serde::Serialize;
use std::path::Path;

pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Kernel features as `status` reports them.
#[derive(Debug, Clone, Serialize)]
pub struct Features {
    pub btf: bool,
    pub ringbuf: Option<bool>,
    pub bpffs: bool,
    /// Active LSMs, None if securityfs could not be read.
    pub lsms: Option<Vec<String>>,
    pub bpf_lsm: bool,
    pub privileged: bool,
}

/// Effective capability set of this process (from /proc/self/status).
fn cap_eff() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

/// Root, or the capabilities loading tracing programs needs.
pub fn privileged() -> bool {
    let c = cap_eff();
    let has = |bit: u32| c & (1u64 << bit) != 0;
    has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))
}

pub fn require_privilege(what: &str) -> anyhow::Result<()> {
    if !privileged() {
        return Err(fail(
            exit::PERMISSION,
            format!(
                "permission denied: {what} needs root, or CAP_BPF and CAP_PERFMON \
                 (running as uid {} without them)",
                nix::unistd::geteuid()
            ),
        ));
    }
    Ok(())
}

/// Probe without changing anything except mounting securityfs to read the
/// LSM list (status) — callers that load also call [`require_for_load`].
pub fn features(pin_dir: &Path) -> Features {
    let lsms = pin::active_lsms().ok();
    Features {
        btf: Path::new(VMLINUX_BTF).exists(),
        ringbuf: aya::sys::is_map_supported(aya::maps::MapType::RingBuf).ok(),
        bpffs: pin::ensure_bpffs(pin_dir).is_ok(),
        bpf_lsm: lsms.as_ref().is_some_and(|l| l.iter().any(|s| s == "bpf")),
        lsms,
        privileged: privileged(),
    }
}

/// Everything `load` needs, in the order a missing piece is best explained;
/// mounts bpffs and tracefs if they are missing.
pub fn require_for_load(pin_dir: &Path, require_lsm: bool) -> anyhow::Result<Features> {
    require_privilege("loading BPF programs")?;
    if !Path::new(VMLINUX_BTF).exists() {
        return Err(fail(
            exit::MISSING,
            format!(
                "{VMLINUX_BTF}: kernel BTF missing (needs CONFIG_DEBUG_INFO_BTF=y); \
                 the programs relocate against it (CO-RE)"
            ),
        ));
    }
    pin::ensure_bpffs(pin_dir).map_err(|e| pin_failure(e, "bpffs"))?;
    pin::ensure_tracefs().map_err(|e| pin_failure(e, "tracefs"))?;
    match aya::sys::is_map_supported(aya::maps::MapType::RingBuf) {
        Ok(true) => {}
        Ok(false) => {
            return Err(fail(
                exit::MISSING,
                "BPF ring buffer maps are not supported by this kernel (needs Linux 5.8+)",
            ))
        }
        Err(e) => {
            return Err(fail(
                exit::MISSING,
                format!("probing ring buffer support: {e}"),
            ))
        }
    }
    let f = features(pin_dir);
    if require_lsm && !f.bpf_lsm {
        let list = f
            .lsms
            .as_ref()
            .map(|l| l.join(","))
            .unwrap_or_else(|| "unreadable".into());
        return Err(fail(
            exit::MISSING,
            format!(
                "--require lsm: BPF-LSM is not active (/sys/kernel/security/lsm: {list}); \
                 boot with lsm={list},bpf (and CONFIG_BPF_LSM=y)"
            ),
        ));
    }
    Ok(f)
}

fn pin_failure(e: pin::PinError, what: &str) -> anyhow::Error {
    let code = if e.is_permission() {
        exit::PERMISSION
    } else {
        exit::MISSING
    };
    fail(code, format!("{what}: {e}"))
}
