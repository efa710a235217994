//! Kernel event structs (twins of bpf/bd.h) and their JSON form.
//!
//! Every struct here is `#[repr(C)]` with the exact field order, types and
//! explicit padding of its C twin; `tests::layout_matches_c` compiles bd.h with
//! the host C compiler and compares every size and offset. The map value/key
//! structs implement [`aya::Pod`] so tools can use them with aya's typed maps.
//!
//! [`Record::parse`] turns one ring-buffer record into a typed event, and
//! [`exec_line`], [`deny_line`], [`lost_line`] render the JSON lines of
//! docs/EVENTS.md.

use serde::Serialize;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, SystemTime};

pub const BD_COMM_LEN: usize = 16;
pub const BD_PATH_LEN: usize = 256;
pub const BD_ARGS_LEN: usize = 1024;
/// `BD_WAKE_GAP_NS`: exec_monitor wakes an idle reader only for an exec record
/// that comes at least this long after the previous one (a lone exec), so a
/// reader keeps looking every [`BD_POLL_NS`] until this long has passed since
/// the last record it read.
pub const BD_WAKE_GAP_NS: u64 = 5_000_000;
/// `BD_POLL_NS`: how often a reader looks while a gap is not over (above).
pub const BD_POLL_NS: u64 = 1_000_000;
pub const BD_ANC_MAX: usize = 8;
pub const BD_ANC_NAME_LEN: usize = 40;

/// `enum bd_event_type`.
pub const BD_EV_EXEC: u32 = 1;
pub const BD_EV_DENY: u32 = 2;
pub const BD_EV_LIVENESS: u32 = 3;
pub const BD_EV_TRIPWIRE: u32 = 4;
/// `BD_LIVE_MAGIC`: a thread renamed to this prefix plus a nonce makes
/// exec_monitor emit a liveness record (the end-to-end dead-man heartbeat).
pub const BD_LIVE_MAGIC: &str = "bdlv:";

/// `enum bd_stat`: indices into the per-CPU `bd_stats` array.
pub const BD_STAT_EXEC: u32 = 0;
pub const BD_STAT_EXEC_LOST: u32 = 1;
pub const BD_STAT_DENY: u32 = 2;
pub const BD_STAT_DENY_LOST: u32 = 3;
pub const BD_STAT_DENIED: u32 = 4;
pub const BD_STAT_TRIP: u32 = 5;
pub const BD_STAT_TRIP_LOST: u32 = 6;
pub const BD_STAT_MAX: u32 = 16;
/// Slots of the per-CPU `bd_deny_hooks` array (denials by `enum bd_hook`).
pub const BD_HOOK_SLOTS: u32 = 128;

/// `struct bd_exec.flags`.
pub const BD_EXEC_ARGS_TRUNC: u32 = 1 << 0;
pub const BD_EXEC_FILENAME_TRUNC: u32 = 1 << 1;
pub const BD_EXEC_PROTECTED: u32 = 1 << 2;
pub const BD_EXEC_ANC_TRUNC: u32 = 1 << 3;

/// `struct bd_ancestor.flags`.
pub const BD_ANC_EXE_TRUNC: u32 = 1 << 0;
pub const BD_ANC_NO_EXE: u32 = 1 << 1;

/// `enum bd_hook`.
pub const BD_HOOK_PTRACE: u32 = 1;
pub const BD_HOOK_FILE_OPEN: u32 = 2;
pub const BD_HOOK_EXEC: u32 = 3;
pub const BD_HOOK_CONNECT4: u32 = 4;
pub const BD_HOOK_CONNECT6: u32 = 5;
pub const BD_HOOK_SENDMSG4: u32 = 6;
pub const BD_HOOK_SENDMSG6: u32 = 7;
pub const BD_HOOK_PTRACE_ME: u32 = 8;
// 20..=39: shields against root and self-protection (bpf/self_protect.bpf.c,
// bpf/lsm_file_protect.bpf.c).
pub const BD_HOOK_BPF_MAP: u32 = 20;
pub const BD_HOOK_BPF_PROG: u32 = 21;
pub const BD_HOOK_BPF_LINK: u32 = 22;
pub const BD_HOOK_BPF_LOAD: u32 = 23;
pub const BD_HOOK_PIN_REMOVE: u32 = 24;
pub const BD_HOOK_PIN_UMOUNT: u32 = 25;
pub const BD_HOOK_KERNEL_READ: u32 = 26;
pub const BD_HOOK_SELF_WRITE: u32 = 27;
pub const BD_HOOK_RLIMIT: u32 = 28;
pub const BD_HOOK_KILL: u32 = 29;
pub const BD_HOOK_PERF: u32 = 30;
pub const BD_HOOK_LOCKDOWN: u32 = 31;
pub const BD_HOOK_BLOCK_DEV: u32 = 32;
pub const BD_HOOK_SELF_MMAP: u32 = 33;
pub const BD_HOOK_TRACEFS: u32 = 34;
pub const BD_HOOK_KPROBES: u32 = 35;
pub const BD_HOOK_BPF_TRACE: u32 = 36;
// 37..=39: the sealed configuration above OPEN (bd_seal).
pub const BD_HOOK_SEAL_WRITE: u32 = 37;
pub const BD_HOOK_SEAL_DIR: u32 = 38;
pub const BD_HOOK_SEAL_MOUNT: u32 = 39;
pub const BD_HOOK_SOCK_CREATE: u32 = 40;
pub const BD_HOOK_POST_BIND4: u32 = 41;
pub const BD_HOOK_POST_BIND6: u32 = 42;
pub const BD_HOOK_SKB_INGRESS: u32 = 43;
pub const BD_HOOK_SKB_EGRESS: u32 = 44;
pub const BD_HOOK_BPF_READ_KERNEL: u32 = 45;
// 46, 47, 66, 67: an allowed file's names and attributes frozen in LOCKDOWN.
pub const BD_HOOK_ALLOWED_NAME: u32 = 46;
pub const BD_HOOK_ALLOWED_SETATTR: u32 = 47;
// 48..=49: storage passthrough char devices while a file is protected.
pub const BD_HOOK_PASSTHRU_OPEN: u32 = 48;
pub const BD_HOOK_PASSTHRU_CMD: u32 = 49;
pub const BD_HOOK_MMAP_EXEC: u32 = 50;
pub const BD_HOOK_MPROTECT_EXEC: u32 = 51;
pub const BD_HOOK_ALLOWED_WRITE: u32 = 52;
pub const BD_HOOK_ALLOWED_TRUNCATE: u32 = 53;
pub const BD_HOOK_ALLOWED_RENAME: u32 = 54;
pub const BD_HOOK_PACKET_SOCKET: u32 = 55;
pub const BD_HOOK_CGROUP_MOVE: u32 = 56;
pub const BD_HOOK_KERNEL_INTEGRITY: u32 = 57;
pub const BD_HOOK_USB_AUTHORIZE: u32 = 58;
pub const BD_HOOK_UNIX_CONNECT: u32 = 59;
pub const BD_HOOK_UNIX_SEND: u32 = 60;
pub const BD_HOOK_ANON_MMAP_EXEC: u32 = 61;
pub const BD_HOOK_ANON_MPROTECT_EXEC: u32 = 62;
// 63, 64: BPF tracing attached after the load rule (channel 8).
pub const BD_HOOK_BPF_ATTACH: u32 = 63;
pub const BD_HOOK_PERF_SET_BPF: u32 = 64;
pub const BD_HOOK_ALLOWED_XATTR: u32 = 66;
pub const BD_HOOK_ALLOWED_IOCTL: u32 = 67;

/// `bd_allow_val.flags`: the kernel recorded generation and ctime.
pub const BD_ALLOW_SEALED: u32 = 1 << 0;

/// `bd_mode_state.flags`: the kernel made the last transition (a canary).
pub const BD_MODE_F_CANARY: u32 = 1 << 0;

/// `enum bd_trip_hook`.
pub const BD_TRIP_EXEC: u32 = 1;
pub const BD_TRIP_LSM_EXEC: u32 = 2;
pub const BD_TRIP_LSM_OPEN: u32 = 3;

/// `enum bd_action`.
pub const BD_ACT_DENY: u32 = 1;
pub const BD_ACT_AUDIT: u32 = 2;

/// `enum bd_mode`.
pub const BD_MODE_OPEN: u32 = 0;
pub const BD_MODE_RESTRICTED: u32 = 1;
pub const BD_MODE_TRUSTED: u32 = 2;
pub const BD_MODE_AIRGAP: u32 = 3;
pub const BD_MODE_COLDROOM: u32 = 4;
pub const BD_MODE_LOCKDOWN: u32 = 5;

/// `bd_lsm_cfg.flags`.
pub const BD_LSM_BLOCK_ENVIRON: u32 = 1 << 0;
pub const BD_LSM_BLOCK_MEM: u32 = 1 << 1;
pub const BD_LSM_BLOCK_PTRACE: u32 = 1 << 2;

/// `struct bd_hdr`: starts every ring-buffer record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BdHdr {
    pub type_: u32,
    pub size: u32,
    pub ktime_ns: u64,
}

/// `struct bd_ancestor`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BdAncestor {
    pub pid: u32,
    pub flags: u32,
    pub comm: [u8; BD_COMM_LEN],
    pub exe: [u8; BD_ANC_NAME_LEN],
}

impl Default for BdAncestor {
    fn default() -> Self {
        BdAncestor {
            pid: 0,
            flags: 0,
            comm: [0; BD_COMM_LEN],
            exe: [0; BD_ANC_NAME_LEN],
        }
    }
}

/// `struct bd_exec`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BdExec {
    pub hdr: BdHdr,
    pub pid: u32,
    pub tid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    pub flags: u32,
    pub cgroup_id: u64,
    pub args_len: u32,
    /// Reserved (0): the kernel no longer counts strings; see [`BdExec::argv`].
    pub argc: u32,
    pub comm: [u8; BD_COMM_LEN],
    pub filename: [u8; BD_PATH_LEN],
    pub args: [u8; BD_ARGS_LEN],
    pub n_anc: u32,
    pub _pad0: u32,
    pub anc: [BdAncestor; BD_ANC_MAX],
}

/// `struct bd_deny`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BdDeny {
    pub hdr: BdHdr,
    pub hook: u32,
    pub action: u32,
    pub err: i32,
    pub mode: u32,
    pub pid: u32,
    pub uid: u32,
    pub cgroup_id: u64,
    pub target_pid: u32,
    pub access: u32,
    pub target_dev: u64,
    pub target_ino: u64,
    pub family: u32,
    pub port: u16,
    pub _pad0: u16,
    pub addr: [u8; 16],
    pub comm: [u8; BD_COMM_LEN],
    pub target_comm: [u8; BD_COMM_LEN],
    pub path: [u8; BD_PATH_LEN],
}

/// `struct bd_allow_val`: a value of the exec allow list.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BdAllowVal {
    pub flags: u32,
    pub gen: u32,
    pub ctime_ns: u64,
}

/// `struct bd_liveness`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BdLiveness {
    pub hdr: BdHdr,
    pub pid: u32,
    pub tid: u32,
    pub comm: [u8; BD_COMM_LEN],
}

/// `struct bd_canary_val`: a `bd_canary` entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BdCanaryVal {
    pub trip: u32,
    pub flags: u32,
    pub hits: u64,
}

/// `struct bd_tripwire`: a canary tripped in the kernel.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BdTripwire {
    pub hdr: BdHdr,
    pub hook: u32,
    pub trip: u32,
    pub from: u32,
    pub to: u32,
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    pub err: i32,
    pub cgroup_id: u64,
    pub dev: u64,
    pub ino: u64,
    pub seq: u64,
    pub comm: [u8; BD_COMM_LEN],
    pub path: [u8; BD_PATH_LEN],
}

/// `struct bd_mode_state`: the one slot of the pinned `bd_mode` array.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BdModeState {
    pub mode: u32,
    pub flags: u32,
    pub heartbeat_deadline_ns: u64,
    pub seq: u64,
}

/// `struct bd_file_key`: a file by (kernel dev_t, inode).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BdFileKey {
    pub dev: u64,
    pub ino: u64,
}

/// `struct bd_lsm_cfg`: the one slot of `bd_lsm_cfg`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BdLsmCfg {
    pub flags: u32,
    pub audit: u32,
    pub configured: u32,
    pub _pad0: u32,
}

// SAFETY: all are repr(C), made only of integers and byte arrays, with the
// padding spelled out as fields, so every bit pattern is valid and no byte is
// uninitialised.
unsafe impl aya::Pod for BdHdr {}
unsafe impl aya::Pod for BdExec {}
unsafe impl aya::Pod for BdAncestor {}
unsafe impl aya::Pod for BdDeny {}
unsafe impl aya::Pod for BdLiveness {}
unsafe impl aya::Pod for BdAllowVal {}
unsafe impl aya::Pod for BdModeState {}
unsafe impl aya::Pod for BdFileKey {}
unsafe impl aya::Pod for BdLsmCfg {}
unsafe impl aya::Pod for BdCanaryVal {}
unsafe impl aya::Pod for BdTripwire {}

/// One record read from the ring buffer.
#[derive(Clone, Debug)]
pub enum Record {
    Exec(Box<BdExec>),
    Deny(Box<BdDeny>),
    Liveness(BdLiveness),
    Tripwire(Box<BdTripwire>),
}

/// Why a ring-buffer record could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("record of {0} bytes is shorter than its header")]
    Short(usize),
    #[error("record type {type_} is {got} bytes, expected at least {want}")]
    Size { type_: u32, got: usize, want: usize },
    #[error("unknown record type {0}")]
    UnknownType(u32),
}

fn read_pod<T: Copy>(bytes: &[u8]) -> T {
    assert!(bytes.len() >= size_of::<T>());
    // SAFETY: length checked above; T is one of our Pod twins (every bit
    // pattern valid); read_unaligned because ring-buffer records are only
    // 8-byte aligned by the kernel, and we do not rely even on that.
    unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) }
}

impl Record {
    /// Decode one ring-buffer record (struct bd_hdr first).
    pub fn parse(bytes: &[u8]) -> Result<Record, RecordError> {
        if bytes.len() < size_of::<BdHdr>() {
            return Err(RecordError::Short(bytes.len()));
        }
        let hdr: BdHdr = read_pod(bytes);
        let need = |want: usize| {
            if bytes.len() < want {
                Err(RecordError::Size {
                    type_: hdr.type_,
                    got: bytes.len(),
                    want,
                })
            } else {
                Ok(())
            }
        };
        match hdr.type_ {
            BD_EV_EXEC => {
                need(size_of::<BdExec>())?;
                Ok(Record::Exec(Box::new(read_pod(bytes))))
            }
            BD_EV_DENY => {
                need(size_of::<BdDeny>())?;
                Ok(Record::Deny(Box::new(read_pod(bytes))))
            }
            BD_EV_LIVENESS => {
                need(size_of::<BdLiveness>())?;
                Ok(Record::Liveness(read_pod(bytes)))
            }
            BD_EV_TRIPWIRE => {
                need(size_of::<BdTripwire>())?;
                Ok(Record::Tripwire(Box::new(read_pod(bytes))))
            }
            t => Err(RecordError::UnknownType(t)),
        }
    }

    pub fn hdr(&self) -> &BdHdr {
        match self {
            Record::Exec(e) => &e.hdr,
            Record::Deny(d) => &d.hdr,
            Record::Liveness(l) => &l.hdr,
            Record::Tripwire(t) => &t.hdr,
        }
    }
}

/// A NUL-terminated C string in a fixed buffer, as (lossy) UTF-8.
pub fn c_str(buf: &[u8]) -> String {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

impl BdExec {
    pub fn comm(&self) -> String {
        c_str(&self.comm)
    }
    pub fn filename(&self) -> String {
        c_str(&self.filename)
    }
    /// The ancestors the kernel recorded, parent first (at most
    /// [`BD_ANC_MAX`]; a count beyond that from a bad record is clamped).
    pub fn ancestors(&self) -> Vec<AncestorLine> {
        let n = (self.n_anc as usize).min(BD_ANC_MAX);
        self.anc[..n]
            .iter()
            .map(|a| AncestorLine {
                pid: a.pid,
                comm: c_str(&a.comm),
                exe: (a.flags & BD_ANC_NO_EXE == 0).then(|| c_str(&a.exe)),
                exe_truncated: a.flags & BD_ANC_EXE_TRUNC != 0,
            })
            .collect()
    }

    /// argv as the kernel saw it: NUL-separated strings in `args[..args_len]`.
    /// A string cut by truncation is returned as far as it was copied.
    pub fn argv(&self) -> Vec<String> {
        let len = (self.args_len as usize).min(BD_ARGS_LEN);
        let bytes = &self.args[..len];
        let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
        if len == 0 {
            return Vec::new();
        }
        bytes
            .split(|&b| b == 0)
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    }
}

/// Name of a boundary mode (`enum bd_mode`), None if unknown.
pub fn mode_name(m: u32) -> Option<&'static str> {
    crate::mode::Mode::from_u32(m).map(crate::mode::Mode::as_str)
}

/// Name of a hook (`enum bd_hook`) as docs/EVENTS.md spells it.
pub fn hook_name(h: u32) -> Option<&'static str> {
    Some(match h {
        BD_HOOK_PTRACE => "ptrace",
        BD_HOOK_PTRACE_ME => "ptrace_traceme",
        BD_HOOK_FILE_OPEN => "file_open",
        BD_HOOK_EXEC => "exec",
        BD_HOOK_MMAP_EXEC => "mmap_exec",
        BD_HOOK_MPROTECT_EXEC => "mprotect_exec",
        BD_HOOK_ALLOWED_WRITE => "allowed_write",
        BD_HOOK_ALLOWED_TRUNCATE => "allowed_truncate",
        BD_HOOK_ALLOWED_RENAME => "allowed_rename",
        BD_HOOK_ALLOWED_NAME => "allowed_name",
        BD_HOOK_ALLOWED_SETATTR => "allowed_setattr",
        BD_HOOK_ALLOWED_XATTR => "allowed_xattr",
        BD_HOOK_ALLOWED_IOCTL => "allowed_ioctl",
        BD_HOOK_PACKET_SOCKET => "packet_socket",
        BD_HOOK_CGROUP_MOVE => "cgroup_move",
        BD_HOOK_KERNEL_INTEGRITY => "kernel_integrity",
        BD_HOOK_USB_AUTHORIZE => "usb_authorize",
        BD_HOOK_UNIX_CONNECT => "unix_connect",
        BD_HOOK_UNIX_SEND => "unix_send",
        BD_HOOK_ANON_MMAP_EXEC => "anon_mmap_exec",
        BD_HOOK_ANON_MPROTECT_EXEC => "anon_mprotect_exec",
        BD_HOOK_CONNECT4 => "connect4",
        BD_HOOK_CONNECT6 => "connect6",
        BD_HOOK_SENDMSG4 => "sendmsg4",
        BD_HOOK_SENDMSG6 => "sendmsg6",
        BD_HOOK_BPF_MAP => "bpf_map",
        BD_HOOK_BPF_PROG => "bpf_prog",
        BD_HOOK_BPF_LINK => "bpf_link",
        BD_HOOK_BPF_LOAD => "bpf_prog_load",
        BD_HOOK_PIN_REMOVE => "pin_remove",
        BD_HOOK_PIN_UMOUNT => "pin_umount",
        BD_HOOK_KERNEL_READ => "kernel_read",
        BD_HOOK_SELF_WRITE => "self_write",
        BD_HOOK_RLIMIT => "task_setrlimit",
        BD_HOOK_KILL => "task_kill",
        BD_HOOK_PERF => "perf_event",
        BD_HOOK_LOCKDOWN => "locked_down",
        BD_HOOK_BLOCK_DEV => "block_dev",
        BD_HOOK_SELF_MMAP => "self_mmap",
        BD_HOOK_TRACEFS => "tracefs",
        BD_HOOK_KPROBES => "kprobe",
        BD_HOOK_BPF_TRACE => "bpf_trace",
        BD_HOOK_SEAL_WRITE => "seal_write",
        BD_HOOK_SEAL_DIR => "seal_dir",
        BD_HOOK_SEAL_MOUNT => "seal_mount",
        BD_HOOK_SOCK_CREATE => "sock_create",
        BD_HOOK_POST_BIND4 => "post_bind4",
        BD_HOOK_POST_BIND6 => "post_bind6",
        BD_HOOK_SKB_INGRESS => "skb_ingress",
        BD_HOOK_SKB_EGRESS => "skb_egress",
        BD_HOOK_BPF_READ_KERNEL => "bpf_read_kernel",
        BD_HOOK_BPF_ATTACH => "bpf_attach",
        BD_HOOK_PERF_SET_BPF => "perf_set_bpf",
        BD_HOOK_PASSTHRU_OPEN => "passthrough_open",
        BD_HOOK_PASSTHRU_CMD => "passthrough_cmd",
        _ => return None,
    })
}

/// Symbolic errno (`EPERM`), or `E<n>` when the number has no name here.
pub fn errno_name(e: i32) -> String {
    let n = nix::errno::Errno::from_raw(e);
    if n == nix::errno::Errno::UnknownErrno {
        format!("E{e}")
    } else {
        format!("{n:?}")
    }
}

/// Converts `bpf_ktime_get_ns()` (CLOCK_MONOTONIC) to wall-clock time using
/// the REALTIME−MONOTONIC offset sampled when created; call [`refresh`] now
/// and then to follow clock steps (NTP, settimeofday).
///
/// [`refresh`]: KtimeClock::refresh
#[derive(Clone, Copy, Debug)]
pub struct KtimeClock {
    offset_ns: i128,
}

fn clock_ns(id: nix::time::ClockId) -> i128 {
    match nix::time::clock_gettime(id) {
        Ok(ts) => ts.tv_sec() as i128 * 1_000_000_000 + ts.tv_nsec() as i128,
        Err(_) => 0,
    }
}

impl KtimeClock {
    pub fn new() -> KtimeClock {
        let mut c = KtimeClock { offset_ns: 0 };
        c.refresh();
        c
    }

    /// Re-sample the offset. Takes the tightest of a few reads so a preemption
    /// between the two clock reads does not skew it.
    pub fn refresh(&mut self) {
        use nix::time::ClockId;
        let mut best: Option<(i128, i128)> = None;
        for _ in 0..3 {
            let m0 = clock_ns(ClockId::CLOCK_MONOTONIC);
            let r = clock_ns(ClockId::CLOCK_REALTIME);
            let m1 = clock_ns(ClockId::CLOCK_MONOTONIC);
            let spread = m1 - m0;
            let off = r - (m0 + spread / 2);
            if best.is_none_or(|(s, _)| spread < s) {
                best = Some((spread, off));
            }
        }
        self.offset_ns = best.map(|(_, o)| o).unwrap_or(0);
    }

    pub fn to_system_time(&self, ktime_ns: u64) -> SystemTime {
        let ns = ktime_ns as i128 + self.offset_ns;
        if ns <= 0 {
            return SystemTime::UNIX_EPOCH;
        }
        let ns = ns as u128;
        SystemTime::UNIX_EPOCH
            + Duration::new((ns / 1_000_000_000) as u64, (ns % 1_000_000_000) as u32)
    }

    /// RFC 3339 UTC with nanoseconds.
    pub fn rfc3339(&self, ktime_ns: u64) -> String {
        crate::time::rfc3339_nanos(self.to_system_time(ktime_ns))
    }
}

impl Default for KtimeClock {
    fn default() -> Self {
        Self::new()
    }
}

/// The `liveness` line of docs/EVENTS.md. `type` comes first: bd-policy
/// recognises the line by its prefix and passes it through unjudged.
#[derive(Debug, Serialize)]
pub struct LivenessLine {
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub v: u32,
    pub time: String,
    pub ktime_ns: u64,
    pub pid: u32,
    pub tid: u32,
    pub nonce: String,
}

/// The exact start of every `liveness` line bd-watch prints.
pub const LIVENESS_PREFIX: &str = "{\"type\":\"liveness\",";

pub fn liveness_line(l: &BdLiveness, clock: &KtimeClock) -> LivenessLine {
    let comm = c_str(&l.comm);
    LivenessLine {
        type_: "liveness",
        v: 1,
        time: clock.rfc3339(l.hdr.ktime_ns),
        ktime_ns: l.hdr.ktime_ns,
        pid: l.pid,
        tid: l.tid,
        nonce: comm
            .strip_prefix(BD_LIVE_MAGIC)
            .unwrap_or(&comm)
            .to_string(),
    }
}

/// The `tripwire` line of docs/EVENTS.md: a canary tripped in the kernel,
/// which already raised the mode from `from` to `to`.
#[derive(Debug, Serialize)]
pub struct TripwireLine {
    pub v: u32,
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub time: String,
    pub ktime_ns: u64,
    /// `exec` (tracepoint, the exec went on), `lsm_exec` or `lsm_open` (refused).
    pub hook: String,
    /// The canary's mode.
    pub tripwire: String,
    pub from: String,
    pub to: String,
    /// bd_mode's seq after the raise.
    pub seq: u64,
    pub errno: Option<String>,
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    pub comm: String,
    pub cgroup_id: u64,
    pub path: String,
    pub dev: u64,
    pub dev_name: String,
    pub ino: u64,
}

pub fn trip_hook_name(h: u32) -> Option<&'static str> {
    match h {
        BD_TRIP_EXEC => Some("exec"),
        BD_TRIP_LSM_EXEC => Some("lsm_exec"),
        BD_TRIP_LSM_OPEN => Some("lsm_open"),
        _ => None,
    }
}

pub fn tripwire_line(t: &BdTripwire, clock: &KtimeClock) -> TripwireLine {
    TripwireLine {
        v: 1,
        type_: "tripwire",
        time: clock.rfc3339(t.hdr.ktime_ns),
        ktime_ns: t.hdr.ktime_ns,
        hook: or_unknown(trip_hook_name(t.hook), t.hook),
        tripwire: or_unknown(mode_name(t.trip), t.trip),
        from: or_unknown(mode_name(t.from), t.from),
        to: or_unknown(mode_name(t.to), t.to),
        seq: t.seq,
        errno: (t.err != 0).then(|| errno_name(t.err)),
        pid: t.pid,
        tid: t.tid,
        uid: t.uid,
        comm: c_str(&t.comm),
        cgroup_id: t.cgroup_id,
        path: c_str(&t.path),
        dev: t.dev,
        dev_name: format!("{}:{}", t.dev >> 20, t.dev & 0xfffff),
        ino: t.ino,
    }
}

/// The `exec` line of docs/EVENTS.md (keys in documented order).
#[derive(Debug, Serialize)]
pub struct ExecLine {
    pub v: u32,
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub time: String,
    pub ktime_ns: u64,
    pub pid: u32,
    pub tid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    pub comm: String,
    pub filename: String,
    pub argv: Vec<String>,
    pub argv_truncated: bool,
    pub filename_truncated: bool,
    pub cgroup_id: u64,
    pub protected: bool,
    /// Parent first, as the kernel saw the process tree at exec time.
    pub ancestors: Vec<AncestorLine>,
    /// More ancestors existed than the kernel records (BD_ANC_MAX).
    pub ancestors_truncated: bool,
}

/// One entry of `ancestors` in `exec` (and `deny`) lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AncestorLine {
    pub pid: u32,
    pub comm: String,
    /// Basename of the ancestor's executable; null for a kernel thread.
    pub exe: Option<String>,
    pub exe_truncated: bool,
}

pub fn exec_line(e: &BdExec, clock: &KtimeClock) -> ExecLine {
    ExecLine {
        v: 1,
        type_: "exec",
        time: clock.rfc3339(e.hdr.ktime_ns),
        ktime_ns: e.hdr.ktime_ns,
        pid: e.pid,
        tid: e.tid,
        ppid: e.ppid,
        uid: e.uid,
        gid: e.gid,
        comm: e.comm(),
        filename: e.filename(),
        argv: e.argv(),
        argv_truncated: e.flags & BD_EXEC_ARGS_TRUNC != 0,
        filename_truncated: e.flags & BD_EXEC_FILENAME_TRUNC != 0,
        cgroup_id: e.cgroup_id,
        protected: e.flags & BD_EXEC_PROTECTED != 0,
        ancestors: e.ancestors(),
        ancestors_truncated: e.flags & BD_EXEC_ANC_TRUNC != 0,
    }
}

/// The `deny` line of docs/EVENTS.md. Unknown enum values render as
/// `unknown:<n>` rather than being guessed.
#[derive(Debug, Serialize)]
pub struct DenyLine {
    pub v: u32,
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub time: String,
    pub ktime_ns: u64,
    pub hook: String,
    pub action: String,
    pub errno: Option<String>,
    pub mode: String,
    pub pid: u32,
    pub comm: String,
    pub uid: u32,
    pub cgroup_id: u64,
    pub target_pid: u32,
    pub target_comm: String,
    pub path: String,
    pub access: u32,
    /// File hooks: kernel dev_t as stored, and as "major:minor".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ino: Option<u64>,
    /// Network hooks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Filled by bd-watch (see its ancestry module): parent first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ancestors: Option<Vec<AncestorLine>>,
    /// `exec` (the process's last exec event) or `proc` (read from /proc).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ancestors_source: Option<&'static str>,
}

fn or_unknown(name: Option<&'static str>, v: u32) -> String {
    name.map(str::to_owned)
        .unwrap_or_else(|| format!("unknown:{v}"))
}

pub fn deny_line(d: &BdDeny, clock: &KtimeClock) -> DenyLine {
    let file_hook = matches!(
        d.hook,
        BD_HOOK_FILE_OPEN
            | BD_HOOK_EXEC
            | BD_HOOK_PIN_REMOVE
            | BD_HOOK_SELF_WRITE
            | BD_HOOK_BLOCK_DEV
            | BD_HOOK_PASSTHRU_OPEN
            | BD_HOOK_PASSTHRU_CMD
            | BD_HOOK_SELF_MMAP
            | BD_HOOK_TRACEFS
            | BD_HOOK_SEAL_WRITE
            | BD_HOOK_SEAL_DIR
            | BD_HOOK_SEAL_MOUNT
            | BD_HOOK_MMAP_EXEC
            | BD_HOOK_MPROTECT_EXEC
            | BD_HOOK_ALLOWED_WRITE
            | BD_HOOK_ALLOWED_TRUNCATE
            | BD_HOOK_ALLOWED_RENAME
            | BD_HOOK_ALLOWED_NAME
            | BD_HOOK_ALLOWED_SETATTR
            | BD_HOOK_ALLOWED_XATTR
            | BD_HOOK_ALLOWED_IOCTL
            | BD_HOOK_CGROUP_MOVE
            | BD_HOOK_USB_AUTHORIZE
            | BD_HOOK_UNIX_CONNECT
            | BD_HOOK_UNIX_SEND
    );
    let net_hook = matches!(
        d.hook,
        BD_HOOK_CONNECT4
            | BD_HOOK_CONNECT6
            | BD_HOOK_SENDMSG4
            | BD_HOOK_SENDMSG6
            | BD_HOOK_SOCK_CREATE
            | BD_HOOK_POST_BIND4
            | BD_HOOK_POST_BIND6
            | BD_HOOK_SKB_INGRESS
            | BD_HOOK_SKB_EGRESS
            | BD_HOOK_PACKET_SOCKET
    );
    let action = match d.action {
        BD_ACT_DENY => Some("deny"),
        BD_ACT_AUDIT => Some("audit"),
        _ => None,
    };
    let (family, addr) = if net_hook {
        match d.family as i32 {
            libc::AF_INET => {
                let a = Ipv4Addr::new(d.addr[0], d.addr[1], d.addr[2], d.addr[3]);
                (Some("AF_INET".to_owned()), Some(a.to_string()))
            }
            libc::AF_INET6 => (
                Some("AF_INET6".to_owned()),
                Some(Ipv6Addr::from(d.addr).to_string()),
            ),
            // sock_create: a packet socket has no address.
            libc::AF_PACKET => (Some("AF_PACKET".to_owned()), None),
            f => (Some(format!("unknown:{f}")), None),
        }
    } else {
        (None, None)
    };
    DenyLine {
        v: 1,
        type_: "deny",
        time: clock.rfc3339(d.hdr.ktime_ns),
        ktime_ns: d.hdr.ktime_ns,
        hook: or_unknown(hook_name(d.hook), d.hook),
        action: or_unknown(action, d.action),
        errno: (d.err != 0).then(|| errno_name(d.err)),
        mode: or_unknown(mode_name(d.mode), d.mode),
        pid: d.pid,
        comm: c_str(&d.comm),
        uid: d.uid,
        cgroup_id: d.cgroup_id,
        target_pid: d.target_pid,
        target_comm: c_str(&d.target_comm),
        path: c_str(&d.path),
        access: d.access,
        dev: file_hook.then_some(d.target_dev),
        // The kernel's internal dev_t: 12-bit major above a 20-bit minor.
        dev_name: file_hook.then(|| format!("{}:{}", d.target_dev >> 20, d.target_dev & 0xfffff)),
        ino: file_hook.then_some(d.target_ino),
        family,
        addr,
        port: net_hook.then_some(d.port),
        ancestors: None,
        ancestors_source: None,
    }
}

/// The `lost` line of docs/EVENTS.md.
#[derive(Debug, Serialize)]
pub struct LostLine {
    pub v: u32,
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub time: String,
    pub kind: &'static str,
    pub count: u64,
    pub total: u64,
}

pub fn lost_line(kind: &'static str, count: u64, total: u64) -> LostLine {
    LostLine {
        v: 1,
        type_: "lost",
        time: crate::time::now_rfc3339(),
        kind,
        count,
        total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::mem::{offset_of, size_of};
    use std::process::Command;

    type Layout = BTreeMap<String, usize>;

    macro_rules! rust_layout {
        ($map:ident, $c:literal, $t:ty, [$($f:ident = $cf:literal),* $(,)?]) => {
            $map.insert(format!("{}.sizeof", $c), size_of::<$t>());
            $( $map.insert(format!("{}.{}", $c, $cf), offset_of!($t, $f)); )*
        };
    }

    fn rust_side() -> Layout {
        let mut m = Layout::new();
        rust_layout!(
            m,
            "bd_hdr",
            BdHdr,
            [type_ = "type", size = "size", ktime_ns = "ktime_ns"]
        );
        rust_layout!(
            m,
            "bd_exec",
            BdExec,
            [
                hdr = "hdr",
                pid = "pid",
                tid = "tid",
                ppid = "ppid",
                uid = "uid",
                gid = "gid",
                flags = "flags",
                cgroup_id = "cgroup_id",
                args_len = "args_len",
                argc = "argc",
                comm = "comm",
                filename = "filename",
                args = "args",
                n_anc = "n_anc",
                _pad0 = "_pad0",
                anc = "anc",
            ]
        );
        rust_layout!(
            m,
            "bd_ancestor",
            BdAncestor,
            [pid = "pid", flags = "flags", comm = "comm", exe = "exe"]
        );
        rust_layout!(
            m,
            "bd_deny",
            BdDeny,
            [
                hdr = "hdr",
                hook = "hook",
                action = "action",
                err = "err",
                mode = "mode",
                pid = "pid",
                uid = "uid",
                cgroup_id = "cgroup_id",
                target_pid = "target_pid",
                access = "access",
                target_dev = "target_dev",
                target_ino = "target_ino",
                family = "family",
                port = "port",
                _pad0 = "_pad0",
                addr = "addr",
                comm = "comm",
                target_comm = "target_comm",
                path = "path",
            ]
        );
        rust_layout!(
            m,
            "bd_mode_state",
            BdModeState,
            [
                mode = "mode",
                flags = "flags",
                heartbeat_deadline_ns = "heartbeat_deadline_ns",
                seq = "seq",
            ]
        );
        rust_layout!(m, "bd_file_key", BdFileKey, [dev = "dev", ino = "ino"]);
        rust_layout!(
            m,
            "bd_allow_val",
            BdAllowVal,
            [flags = "flags", gen = "gen", ctime_ns = "ctime_ns"]
        );
        rust_layout!(
            m,
            "bd_liveness",
            BdLiveness,
            [hdr = "hdr", pid = "pid", tid = "tid", comm = "comm"]
        );
        rust_layout!(
            m,
            "bd_canary_val",
            BdCanaryVal,
            [trip = "trip", flags = "flags", hits = "hits"]
        );
        rust_layout!(
            m,
            "bd_tripwire",
            BdTripwire,
            [
                hdr = "hdr",
                hook = "hook",
                trip = "trip",
                from = "from",
                to = "to",
                pid = "pid",
                tid = "tid",
                uid = "uid",
                err = "err",
                cgroup_id = "cgroup_id",
                dev = "dev",
                ino = "ino",
                seq = "seq",
                comm = "comm",
                path = "path",
            ]
        );
        rust_layout!(
            m,
            "bd_lsm_cfg",
            BdLsmCfg,
            [
                flags = "flags",
                audit = "audit",
                configured = "configured",
                _pad0 = "_pad0",
            ]
        );
        m
    }

    /// Every field of every struct in bd.h, printed by a C program.
    const C_FIELDS: &[(&str, &[&str])] = &[
        ("bd_hdr", &["type", "size", "ktime_ns"]),
        (
            "bd_exec",
            &[
                "hdr",
                "pid",
                "tid",
                "ppid",
                "uid",
                "gid",
                "flags",
                "cgroup_id",
                "args_len",
                "argc",
                "comm",
                "filename",
                "args",
                "n_anc",
                "_pad0",
                "anc",
            ],
        ),
        ("bd_ancestor", &["pid", "flags", "comm", "exe"]),
        (
            "bd_deny",
            &[
                "hdr",
                "hook",
                "action",
                "err",
                "mode",
                "pid",
                "uid",
                "cgroup_id",
                "target_pid",
                "access",
                "target_dev",
                "target_ino",
                "family",
                "port",
                "_pad0",
                "addr",
                "comm",
                "target_comm",
                "path",
            ],
        ),
        (
            "bd_mode_state",
            &["mode", "flags", "heartbeat_deadline_ns", "seq"],
        ),
        ("bd_file_key", &["dev", "ino"]),
        ("bd_liveness", &["hdr", "pid", "tid", "comm"]),
        ("bd_allow_val", &["flags", "gen", "ctime_ns"]),
        ("bd_lsm_cfg", &["flags", "audit", "configured", "_pad0"]),
        ("bd_canary_val", &["trip", "flags", "hits"]),
        (
            "bd_tripwire",
            &[
                "hdr",
                "hook",
                "trip",
                "from",
                "to",
                "pid",
                "tid",
                "uid",
                "err",
                "cgroup_id",
                "dev",
                "ino",
                "seq",
                "comm",
                "path",
            ],
        ),
    ];

    fn c_side() -> Layout {
        let bpf_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bpf");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut src = String::from(
            "#include <stdio.h>\n#include <stddef.h>\n#include <linux/types.h>\n#include \"bd.h\"\nint main(void){\n",
        );
        for (s, fields) in C_FIELDS {
            src += &format!("printf(\"{s}.sizeof %zu\\n\", sizeof(struct {s}));\n");
            for f in *fields {
                src += &format!("printf(\"{s}.{f} %zu\\n\", offsetof(struct {s}, {f}));\n");
            }
        }
        // Constants the Rust side mirrors by hand.
        for (name, _) in CONSTS {
            src += &format!("printf(\"const.{name} %zu\\n\", (size_t)({name}));\n");
        }
        src += "return 0;}\n";
        let c = dir.path().join("layout.c");
        let exe = dir.path().join("layout");
        std::fs::write(&c, src).expect("write layout.c");
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let st = Command::new(&cc)
            .arg("-I")
            .arg(&bpf_dir)
            .arg(&c)
            .arg("-o")
            .arg(&exe)
            .status()
            .unwrap_or_else(|e| panic!("running {cc}: {e} (the layout test needs a C compiler)"));
        assert!(st.success(), "{cc} failed to compile bd.h");
        let out = Command::new(&exe).output().expect("run layout");
        let text = String::from_utf8(out.stdout).expect("utf8");
        text.lines()
            .map(|l| {
                let (k, v) = l.split_once(' ').expect("key value");
                (k.to_owned(), v.parse().expect("number"))
            })
            .collect()
    }

    const CONSTS: &[(&str, usize)] = &[
        ("BD_COMM_LEN", BD_COMM_LEN),
        ("BD_PATH_LEN", BD_PATH_LEN),
        ("BD_ARGS_LEN", BD_ARGS_LEN),
        ("BD_WAKE_GAP_NS", BD_WAKE_GAP_NS as usize),
        ("BD_POLL_NS", BD_POLL_NS as usize),
        ("BD_ANC_MAX", BD_ANC_MAX),
        ("BD_ANC_NAME_LEN", BD_ANC_NAME_LEN),
        ("BD_EV_EXEC", BD_EV_EXEC as usize),
        ("BD_EV_DENY", BD_EV_DENY as usize),
        ("BD_EV_LIVENESS", BD_EV_LIVENESS as usize),
        ("BD_EV_TRIPWIRE", BD_EV_TRIPWIRE as usize),
        ("BD_STAT_TRIP", BD_STAT_TRIP as usize),
        ("BD_STAT_TRIP_LOST", BD_STAT_TRIP_LOST as usize),
        ("BD_MODE_F_CANARY", BD_MODE_F_CANARY as usize),
        ("BD_TRIP_EXEC", BD_TRIP_EXEC as usize),
        ("BD_TRIP_LSM_EXEC", BD_TRIP_LSM_EXEC as usize),
        ("BD_TRIP_LSM_OPEN", BD_TRIP_LSM_OPEN as usize),
        ("BD_LIVE_MAGIC_LEN", BD_LIVE_MAGIC.len()),
        ("BD_STAT_EXEC", BD_STAT_EXEC as usize),
        ("BD_STAT_EXEC_LOST", BD_STAT_EXEC_LOST as usize),
        ("BD_STAT_DENY", BD_STAT_DENY as usize),
        ("BD_STAT_DENY_LOST", BD_STAT_DENY_LOST as usize),
        ("BD_STAT_DENIED", BD_STAT_DENIED as usize),
        ("BD_STAT_MAX", BD_STAT_MAX as usize),
        ("BD_HOOK_SLOTS", BD_HOOK_SLOTS as usize),
        ("BD_EXEC_ARGS_TRUNC", BD_EXEC_ARGS_TRUNC as usize),
        ("BD_EXEC_FILENAME_TRUNC", BD_EXEC_FILENAME_TRUNC as usize),
        ("BD_EXEC_PROTECTED", BD_EXEC_PROTECTED as usize),
        ("BD_EXEC_ANC_TRUNC", BD_EXEC_ANC_TRUNC as usize),
        ("BD_ANC_EXE_TRUNC", BD_ANC_EXE_TRUNC as usize),
        ("BD_ANC_NO_EXE", BD_ANC_NO_EXE as usize),
        ("BD_HOOK_PTRACE", BD_HOOK_PTRACE as usize),
        ("BD_HOOK_FILE_OPEN", BD_HOOK_FILE_OPEN as usize),
        ("BD_HOOK_EXEC", BD_HOOK_EXEC as usize),
        ("BD_HOOK_CONNECT4", BD_HOOK_CONNECT4 as usize),
        ("BD_HOOK_CONNECT6", BD_HOOK_CONNECT6 as usize),
        ("BD_HOOK_SENDMSG4", BD_HOOK_SENDMSG4 as usize),
        ("BD_HOOK_SENDMSG6", BD_HOOK_SENDMSG6 as usize),
        ("BD_HOOK_PTRACE_ME", BD_HOOK_PTRACE_ME as usize),
        ("BD_HOOK_BPF_MAP", BD_HOOK_BPF_MAP as usize),
        ("BD_HOOK_BPF_PROG", BD_HOOK_BPF_PROG as usize),
        ("BD_HOOK_BPF_LINK", BD_HOOK_BPF_LINK as usize),
        ("BD_HOOK_BPF_LOAD", BD_HOOK_BPF_LOAD as usize),
        ("BD_HOOK_PIN_REMOVE", BD_HOOK_PIN_REMOVE as usize),
        ("BD_HOOK_PIN_UMOUNT", BD_HOOK_PIN_UMOUNT as usize),
        ("BD_HOOK_KERNEL_READ", BD_HOOK_KERNEL_READ as usize),
        ("BD_HOOK_SELF_WRITE", BD_HOOK_SELF_WRITE as usize),
        ("BD_HOOK_RLIMIT", BD_HOOK_RLIMIT as usize),
        ("BD_HOOK_KILL", BD_HOOK_KILL as usize),
        ("BD_HOOK_PERF", BD_HOOK_PERF as usize),
        ("BD_HOOK_LOCKDOWN", BD_HOOK_LOCKDOWN as usize),
        ("BD_HOOK_BLOCK_DEV", BD_HOOK_BLOCK_DEV as usize),
        ("BD_HOOK_SELF_MMAP", BD_HOOK_SELF_MMAP as usize),
        ("BD_HOOK_TRACEFS", BD_HOOK_TRACEFS as usize),
        ("BD_HOOK_KPROBES", BD_HOOK_KPROBES as usize),
        ("BD_HOOK_BPF_TRACE", BD_HOOK_BPF_TRACE as usize),
        ("BD_HOOK_SEAL_WRITE", BD_HOOK_SEAL_WRITE as usize),
        ("BD_HOOK_SEAL_DIR", BD_HOOK_SEAL_DIR as usize),
        ("BD_HOOK_SEAL_MOUNT", BD_HOOK_SEAL_MOUNT as usize),
        ("BD_HOOK_SOCK_CREATE", BD_HOOK_SOCK_CREATE as usize),
        ("BD_HOOK_POST_BIND4", BD_HOOK_POST_BIND4 as usize),
        ("BD_HOOK_POST_BIND6", BD_HOOK_POST_BIND6 as usize),
        ("BD_HOOK_SKB_INGRESS", BD_HOOK_SKB_INGRESS as usize),
        ("BD_HOOK_SKB_EGRESS", BD_HOOK_SKB_EGRESS as usize),
        ("BD_HOOK_BPF_READ_KERNEL", BD_HOOK_BPF_READ_KERNEL as usize),
        ("BD_HOOK_PASSTHRU_OPEN", BD_HOOK_PASSTHRU_OPEN as usize),
        ("BD_HOOK_PASSTHRU_CMD", BD_HOOK_PASSTHRU_CMD as usize),
        ("BD_HOOK_MMAP_EXEC", BD_HOOK_MMAP_EXEC as usize),
        ("BD_HOOK_MPROTECT_EXEC", BD_HOOK_MPROTECT_EXEC as usize),
        ("BD_HOOK_ALLOWED_WRITE", BD_HOOK_ALLOWED_WRITE as usize),
        (
            "BD_HOOK_ALLOWED_TRUNCATE",
            BD_HOOK_ALLOWED_TRUNCATE as usize,
        ),
        ("BD_HOOK_ALLOWED_RENAME", BD_HOOK_ALLOWED_RENAME as usize),
        ("BD_HOOK_ALLOWED_NAME", BD_HOOK_ALLOWED_NAME as usize),
        ("BD_HOOK_ALLOWED_SETATTR", BD_HOOK_ALLOWED_SETATTR as usize),
        ("BD_HOOK_ALLOWED_XATTR", BD_HOOK_ALLOWED_XATTR as usize),
        ("BD_HOOK_ALLOWED_IOCTL", BD_HOOK_ALLOWED_IOCTL as usize),
        ("BD_HOOK_PACKET_SOCKET", BD_HOOK_PACKET_SOCKET as usize),
        ("BD_HOOK_CGROUP_MOVE", BD_HOOK_CGROUP_MOVE as usize),
        (
            "BD_HOOK_KERNEL_INTEGRITY",
            BD_HOOK_KERNEL_INTEGRITY as usize,
        ),
        ("BD_HOOK_USB_AUTHORIZE", BD_HOOK_USB_AUTHORIZE as usize),
        ("BD_HOOK_UNIX_CONNECT", BD_HOOK_UNIX_CONNECT as usize),
        ("BD_HOOK_UNIX_SEND", BD_HOOK_UNIX_SEND as usize),
        ("BD_HOOK_ANON_MMAP_EXEC", BD_HOOK_ANON_MMAP_EXEC as usize),
        (
            "BD_HOOK_ANON_MPROTECT_EXEC",
            BD_HOOK_ANON_MPROTECT_EXEC as usize,
        ),
        ("BD_HOOK_BPF_ATTACH", BD_HOOK_BPF_ATTACH as usize),
        ("BD_HOOK_PERF_SET_BPF", BD_HOOK_PERF_SET_BPF as usize),
        ("BD_ALLOW_SEALED", BD_ALLOW_SEALED as usize),
        ("BD_ACT_DENY", BD_ACT_DENY as usize),
        ("BD_ACT_AUDIT", BD_ACT_AUDIT as usize),
        ("BD_MODE_OPEN", BD_MODE_OPEN as usize),
        ("BD_MODE_RESTRICTED", BD_MODE_RESTRICTED as usize),
        ("BD_MODE_TRUSTED", BD_MODE_TRUSTED as usize),
        ("BD_MODE_AIRGAP", BD_MODE_AIRGAP as usize),
        ("BD_MODE_COLDROOM", BD_MODE_COLDROOM as usize),
        ("BD_MODE_LOCKDOWN", BD_MODE_LOCKDOWN as usize),
        ("BD_LSM_BLOCK_ENVIRON", BD_LSM_BLOCK_ENVIRON as usize),
        ("BD_LSM_BLOCK_MEM", BD_LSM_BLOCK_MEM as usize),
        ("BD_LSM_BLOCK_PTRACE", BD_LSM_BLOCK_PTRACE as usize),
    ];

    #[test]
    fn mode_enum_matches_the_c_constants() {
        // The C values are checked against bd.h by the layout test; this ties
        // lib::mode::Mode (the one name table) to them.
        for (c, name) in [
            (BD_MODE_OPEN, "OPEN"),
            (BD_MODE_RESTRICTED, "RESTRICTED"),
            (BD_MODE_TRUSTED, "TRUSTED"),
            (BD_MODE_AIRGAP, "AIRGAP"),
            (BD_MODE_COLDROOM, "COLDROOM"),
            (BD_MODE_LOCKDOWN, "LOCKDOWN"),
        ] {
            assert_eq!(crate::mode::Mode::from_u32(c).map(|m| m as u32), Some(c));
            assert_eq!(mode_name(c), Some(name));
        }
        assert_eq!(mode_name(BD_MODE_LOCKDOWN + 1), None);
    }

    #[test]
    fn layout_matches_c() {
        let c = c_side();
        let mut rust = rust_side();
        for (name, v) in CONSTS {
            rust.insert(format!("const.{name}"), *v);
        }
        // Same keys on both sides: a field added in C but not in Rust (or the
        // reverse) fails here too.
        assert_eq!(
            c.keys().collect::<Vec<_>>(),
            rust.keys().collect::<Vec<_>>()
        );
        for (k, v) in &c {
            assert_eq!(
                Some(v),
                rust.get(k),
                "{k}: C says {v}, Rust says {:?}",
                rust.get(k)
            );
        }
        // And every struct in bd.h is covered.
        let header = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bpf/bd.h"),
        )
        .expect("read bd.h");
        for line in header.lines() {
            if let Some(rest) = line.strip_prefix("struct ") {
                if let Some(name) = rest.strip_suffix(" {") {
                    assert!(
                        C_FIELDS.iter().any(|(s, _)| *s == name),
                        "struct {name} in bd.h has no layout check"
                    );
                }
            }
        }
    }

    fn exec_with_args(args: &[u8], flags: u32) -> BdExec {
        let mut e = BdExec {
            hdr: BdHdr {
                type_: BD_EV_EXEC,
                size: size_of::<BdExec>() as u32,
                ktime_ns: 5,
            },
            pid: 1,
            tid: 1,
            ppid: 0,
            uid: 0,
            gid: 0,
            flags,
            cgroup_id: 0,
            args_len: args.len() as u32,
            argc: 0,
            comm: [0; BD_COMM_LEN],
            filename: [0; BD_PATH_LEN],
            args: [0; BD_ARGS_LEN],
            n_anc: 0,
            _pad0: 0,
            anc: [BdAncestor::default(); BD_ANC_MAX],
        };
        e.args[..args.len()].copy_from_slice(args);
        e
    }

    #[test]
    fn argv_splits_on_nul_and_keeps_a_truncated_tail() {
        assert_eq!(exec_with_args(b"ls\0-l\0\0", 0).argv(), ["ls", "-l", ""]);
        assert_eq!(exec_with_args(b"ls\0-l\0", 0).argv(), ["ls", "-l"]);
        assert_eq!(
            exec_with_args(b"ls\0-lo", BD_EXEC_ARGS_TRUNC).argv(),
            ["ls", "-lo"]
        );
        assert!(exec_with_args(b"", 0).argv().is_empty());
    }

    #[test]
    fn parse_rejects_short_and_unknown_records() {
        assert_eq!(Record::parse(&[0; 4]).unwrap_err(), RecordError::Short(4));
        let mut b = vec![0u8; 16];
        b[0] = 9;
        assert_eq!(Record::parse(&b).unwrap_err(), RecordError::UnknownType(9));
        b[0] = 1;
        assert!(matches!(
            Record::parse(&b).unwrap_err(),
            RecordError::Size { type_: 1, .. }
        ));
    }

    #[test]
    fn deny_line_renders_network_and_file_fields() {
        let mut d: BdDeny = read_pod(&[0u8; size_of::<BdDeny>()]);
        d.hook = BD_HOOK_CONNECT4;
        d.action = BD_ACT_DENY;
        d.err = libc::EPERM;
        d.mode = BD_MODE_AIRGAP;
        d.family = libc::AF_INET as u32;
        d.addr[..4].copy_from_slice(&[10, 0, 0, 1]);
        d.port = 443;
        let v = serde_json::to_value(deny_line(&d, &KtimeClock::new())).unwrap();
        assert_eq!(v["hook"], "connect4");
        assert_eq!(v["errno"], "EPERM");
        assert_eq!(v["mode"], "AIRGAP");
        assert_eq!(v["addr"], "10.0.0.1");
        assert_eq!(v["port"], 443);
        assert!(v.get("ino").is_none());

        d.hook = BD_HOOK_FILE_OPEN;
        d.action = BD_ACT_AUDIT;
        d.err = 0;
        d.target_dev = (8 << 20) | 1;
        d.target_ino = 77;
        let v = serde_json::to_value(deny_line(&d, &KtimeClock::new())).unwrap();
        assert_eq!(v["action"], "audit");
        assert_eq!(v["errno"], serde_json::Value::Null);
        assert_eq!(v["dev_name"], "8:1");
        assert_eq!(v["ino"], 77);
        assert!(v.get("port").is_none());
    }

    #[test]
    fn ktime_converts_near_now() {
        let c = KtimeClock::new();
        let now = clock_ns(nix::time::ClockId::CLOCK_MONOTONIC) as u64;
        let t = c.to_system_time(now);
        let d = SystemTime::now()
            .duration_since(t)
            .unwrap_or_else(|e| e.duration());
        assert!(d < Duration::from_millis(50), "{d:?}");
    }
}
