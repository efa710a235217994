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
    /// `bpf` is in the active LSM list.
    pub bpf_lsm: bool,
    /// A minimal BPF-LSM program actually loads (some kernels list `bpf` yet
    /// refuse the programs); None when not probed (no privilege, no BTF).
    pub bpf_lsm_loadable: Option<bool>,
    /// Why the probe program was refused, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bpf_lsm_error: Option<String>,
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
    let bpf_lsm = lsms.as_ref().is_some_and(|l| l.iter().any(|s| s == "bpf"));
    let (bpf_lsm_loadable, bpf_lsm_error) = if !bpf_lsm {
        (Some(false), None)
    } else if !privileged() {
        (None, None)
    } else {
        match lsm_probe() {
            Ok(()) => (Some(true), None),
            Err(e) => (Some(false), Some(e)),
        }
    };
    Features {
        bpf_lsm_loadable,
        bpf_lsm_error,
        btf: Path::new(VMLINUX_BTF).exists(),
        ringbuf: aya::sys::is_map_supported(aya::maps::MapType::RingBuf).ok(),
        bpffs: pin::ensure_bpffs(pin_dir).is_ok(),
        bpf_lsm,
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
    if require_lsm && f.bpf_lsm && f.bpf_lsm_loadable != Some(true) {
        return Err(fail(
            exit::MISSING,
            format!(
                "--require lsm: BPF-LSM is listed as active but this kernel refuses BPF-LSM \
                 programs ({}); nothing was loaded",
                f.bpf_lsm_error.as_deref().unwrap_or("unknown reason")
            ),
        ));
    }
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

/// Load (never attach) the smallest BPF-LSM program, `return 0` on
/// `file_open`, to learn whether this kernel accepts BPF-LSM programs at all.
pub fn lsm_probe() -> Result<(), String> {
    use aya_obj::btf::BtfKind;
    let btf = aya::Btf::from_sys_fs().map_err(|e| format!("{VMLINUX_BTF}: {e}"))?;
    let id = btf
        .id_by_type_name_kind("bpf_lsm_file_open", BtfKind::Func)
        .map_err(|e| format!("bpf_lsm_file_open not in kernel BTF: {e}"))?;
    // mov64 r0, 0; exit
    let insns: [u64; 2] = [0x0000_0000_0000_00b7, 0x0000_0000_0000_0095];
    let license = c"GPL";
    #[repr(C)]
    struct ProgLoad {
        prog_type: u32,
        insn_cnt: u32,
        insns: u64,
        license: u64,
        log_level: u32,
        log_size: u32,
        log_buf: u64,
        kern_version: u32,
        prog_flags: u32,
        prog_name: [u8; 16],
        prog_ifindex: u32,
        expected_attach_type: u32,
        prog_btf_fd: u32,
        func_info_rec_size: u32,
        func_info: u64,
        func_info_cnt: u32,
        line_info_rec_size: u32,
        line_info: u64,
        line_info_cnt: u32,
        attach_btf_id: u32,
        attach_prog_fd: u32,
        _rest: [u32; 15],
    }
    let mut name = [0u8; 16];
    name[..8].copy_from_slice(b"bd_probe");
    let attr = ProgLoad {
        prog_type: 29, // BPF_PROG_TYPE_LSM
        insn_cnt: 2,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 0,
        log_size: 0,
        log_buf: 0,
        kern_version: 0,
        prog_flags: 0,
        prog_name: name,
        prog_ifindex: 0,
        expected_attach_type: 27, // BPF_LSM_MAC
        prog_btf_fd: 0,
        func_info_rec_size: 0,
        func_info: 0,
        func_info_cnt: 0,
        line_info_rec_size: 0,
        line_info: 0,
        line_info_cnt: 0,
        attach_btf_id: id,
        attach_prog_fd: 0,
        _rest: [0; 15],
    };
    // SAFETY: attr is a zero-padded bpf_attr for BPF_PROG_LOAD whose pointers
    // (insns, license) outlive the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            5, // BPF_PROG_LOAD
            &attr as *const ProgLoad,
            std::mem::size_of::<ProgLoad>(),
        )
    };
    if fd < 0 {
        return Err(format!(
            "BPF_PROG_LOAD of a BPF-LSM program: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: the kernel just gave us this fd; closing unloads the probe.
    unsafe { libc::close(fd as i32) };
    Ok(())
}
