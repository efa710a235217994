//! `bd-load load`: load the embedded objects, attach each program by its
//! type, and pin maps and links so they outlive this process.

use crate::cli::{LoadArgs, Require};
use crate::objects::{programs, ProgSpec, OBJECTS};
use crate::{exit, fail, probe};
use anyhow::Context as _;
use aya::programs::links::FdLink;
use aya::programs::{CgroupAttachMode, Program};
use aya::{Btf, EbpfLoader};
use boundary::pin;
use serde::Serialize;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// What happened to one program.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub v: u32,
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub time: String,
    pub object: String,
    pub program: String,
    pub section: String,
    /// attached | already | replaced | unattached | unsupported | failed
    pub state: &'static str,
    pub detail: String,
}

impl Outcome {
    fn new(obj: &str, p: &ProgSpec, state: &'static str, detail: impl Into<String>) -> Self {
        Outcome {
            v: 1,
            type_: "program",
            time: boundary::time::now_rfc3339(),
            object: obj.to_owned(),
            program: p.name.clone(),
            section: p.section.clone(),
            state,
            detail: detail.into(),
        }
    }
}

/// How a program attaches, from its ELF section name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    TracePoint {
        category: String,
        name: String,
    },
    RawTracePoint {
        name: String,
    },
    /// A BTF-typed tracepoint (tp_btf): the kernel's own arguments, typed.
    BtfTracePoint {
        name: String,
    },
    Lsm {
        hook: String,
    },
    Cgroup,
    Other,
}

pub fn kind(section: &str) -> Kind {
    let (prefix, rest) = section.split_once('/').unwrap_or((section, ""));
    match prefix {
        "tracepoint" | "tp" => match rest.split_once('/') {
            Some((c, n)) => Kind::TracePoint {
                category: c.into(),
                name: n.into(),
            },
            None => Kind::Other,
        },
        "raw_tracepoint" | "raw_tp" => Kind::RawTracePoint { name: rest.into() },
        "tp_btf" if !rest.is_empty() => Kind::BtfTracePoint { name: rest.into() },
        "lsm" | "lsm.s" => Kind::Lsm { hook: rest.into() },
        p if p.starts_with("cgroup") => Kind::Cgroup,
        _ => Kind::Other,
    }
}

/// LSM hooks newer than the oldest kernel boundary supports (6.1), whose
/// programs are skipped where the kernel lacks them: there the operation
/// they guard goes through a hook every kernel has (ACLs through
/// inode_setxattr/removexattr before 6.2, 32-bit ioctls through file_ioctl
/// before 6.8), which mode_enforce also holds.
const LATER_LSM_HOOKS: [&str; 3] = ["inode_set_acl", "inode_remove_acl", "file_ioctl_compat"];

/// Why an LSM program for `hook` is not loaded here: only for a hook in
/// LATER_LSM_HOOKS the kernel's BTF has no bpf_lsm_<hook> for. Any other
/// hook is tried, so a typo or a vanished hook fails loudly.
fn absent_hook(hook: &str, btf: Option<&Btf>) -> Option<String> {
    if !LATER_LSM_HOOKS.contains(&hook) {
        return None;
    }
    let btf = btf?;
    btf.id_by_type_name_kind(&format!("bpf_lsm_{hook}"), aya_obj::btf::BtfKind::Func)
        .is_err()
        .then(|| format!("this kernel has no {hook} LSM hook (it came later); what it guards passes through a hook this kernel has"))
}

/// Holds an exclusive lock on the pin dir while loading or unloading, so two
/// loaders never race to create the same pins.
pub fn lock_pin_dir(pin_dir: &Path) -> anyhow::Result<nix::fcntl::Flock<File>> {
    let f = File::open(pin_dir).with_context(|| format!("{}", pin_dir.display()))?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| anyhow::anyhow!("{}: flock: {e}", pin_dir.display()))
}

pub fn load(pin_dir: &Path, args: &LoadArgs) -> anyhow::Result<Vec<Outcome>> {
    let require_lsm = args.require.contains(&Require::Lsm);
    let feats = probe::require_for_load(pin_dir, require_lsm)?;
    // Checked before anything is created, so a typo changes nothing.
    let cgroup = match &args.cgroup {
        Some(p) => Some(open_cgroup2(p)?),
        None => None,
    };
    let maps_dir = pin::maps_dir(pin_dir);
    let links_dir = pin::links_dir(pin_dir);
    for d in [&maps_dir, &links_dir] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let _lock = lock_pin_dir(pin_dir)?;

    if let Some(want) = args.ring_size {
        if let Ok(m) = pin::open_map(pin_dir, "bd_events") {
            if let Ok(info) = m.info() {
                if info.max_entries() != want {
                    eprintln!(
                        "bd-load: {}: ring buffer already exists with {} bytes; --ring-size {} \
                         applies only when it is created (unload first)",
                        pin::map_path(pin_dir, "bd_events").display(),
                        info.max_entries(),
                        want
                    );
                }
            }
        }
    }

    // exec_monitor (tp_btf) and the LSM programs attach by BTF id; CO-RE
    // relocation of every object already needs the kernel's BTF.
    let btf = Some(Btf::from_sys_fs().context("reading kernel BTF (/sys/kernel/btf/vmlinux)")?);

    let mut out = Vec::new();
    for (obj_name, bytes) in OBJECTS {
        if args.without_self_protection && *obj_name == "self_protect" {
            continue;
        }
        let specs = programs(bytes).with_context(|| format!("{obj_name}.bpf.o"))?;
        let mut to_load: Vec<(ProgSpec, Option<PathBuf>)> = Vec::new();
        for p in &specs {
            let link = pin::link_path(pin_dir, obj_name, &p.name);
            let pinned = link.exists();
            let k = kind(&p.section);
            if let Kind::Lsm { hook } = &k {
                if let Some(why) = absent_hook(hook, btf.as_ref()) {
                    out.push(Outcome::new(obj_name, p, "unsupported", why));
                    continue;
                }
                if !feats.bpf_lsm {
                    out.push(Outcome::new(
                        obj_name,
                        p,
                        "unsupported",
                        "BPF-LSM is not active on this kernel (add bpf to lsm= on the kernel command line)",
                    ));
                    continue;
                }
                if feats.bpf_lsm_loadable != Some(true) {
                    out.push(Outcome::new(
                        obj_name,
                        p,
                        "unsupported",
                        format!(
                            "BPF-LSM is listed as active but this kernel refuses BPF-LSM programs ({})",
                            feats.bpf_lsm_error.as_deref().unwrap_or("unknown reason")
                        ),
                    ));
                    continue;
                }
            }
            if k == Kind::Other {
                out.push(Outcome::new(
                    obj_name,
                    p,
                    "unsupported",
                    "bd-load does not know how to attach this section",
                ));
                continue;
            }
            if pinned && !args.replace {
                out.push(Outcome::new(
                    obj_name,
                    p,
                    "already",
                    format!("link pinned at {}", link.display()),
                ));
                continue;
            }
            to_load.push((p.clone(), pinned.then_some(link)));
        }
        if to_load.is_empty() {
            continue;
        }

        let clash = pinned_map_clashes(bytes, pin_dir, args.ring_size);
        if !clash.is_empty() {
            // Loading against a map of another shape would corrupt it or be
            // refused by the verifier in a confusing way: refuse it here.
            for (p, _) in &to_load {
                out.push(Outcome::new(obj_name, p, "failed", clash.join("; ")));
            }
            continue;
        }
        let mut loader = EbpfLoader::new();
        loader.default_map_pin_directory(&maps_dir);
        if let Some(n) = args.ring_size {
            loader.map_max_entries("bd_events", n);
        }
        let mut ebpf = match loader.load(bytes) {
            Ok(e) => e,
            Err(e) => {
                for (p, _) in &to_load {
                    out.push(Outcome::new(obj_name, p, "failed", format!("{e}")));
                }
                continue;
            }
        };
        // LSM programs scoped to the governed cgroup find it here.
        if let (Some(cg), Some(m)) = (cgroup.as_ref(), ebpf.map_mut("bd_governed")) {
            let set =
                aya::maps::CgroupArray::try_from(m).and_then(|mut a| a.set(0, cg.as_raw_fd(), 0));
            if let Err(e) = set {
                eprintln!("bd-load: {obj_name}: recording the governed cgroup in bd_governed: {e}");
            }
        }
        // AF_UNIX in AIRGAP+ walks a peer socket's cgroup up to this id;
        // without it every peer outside counts as outside (fail closed).
        if let (Some(cg), Some(m)) = (cgroup.as_ref(), ebpf.map_mut("bd_governed_id")) {
            if let Err(e) = record_governed_id(cg, m) {
                eprintln!(
                    "bd-load: {obj_name}: recording the governed cgroup in bd_governed_id: {e:#}"
                );
            }
        }
        if let Some(m) = ebpf.map_mut("bd_unix_allow") {
            // The defaults name journald's sockets, absent on hosts without
            // it: only a path the operator gave is worth a line when missing.
            let given =
                args.unix_allow
                    .iter()
                    .map(|p| p.as_os_str())
                    .ne(crate::cli::DEFAULT_UNIX_ALLOW
                        .iter()
                        .map(std::ffi::OsStr::new));
            record_unix_allow(obj_name, m, &args.unix_allow, given);
        }
        for (p, old_link) in to_load {
            let link_path = pin::link_path(pin_dir, obj_name, &p.name);
            let Some(prog) = ebpf.program_mut(&p.name) else {
                out.push(Outcome::new(
                    obj_name,
                    &p,
                    "failed",
                    "aya did not find this program",
                ));
                continue;
            };
            let res = attach(prog, &p.section, cgroup.as_ref(), btf.as_ref());
            let o = match res {
                Ok(link @ (Attached::Link(_) | Attached::Raw(_))) => {
                    match pin_link(link, &link_path, old_link.is_some()) {
                        Ok(()) if old_link.is_some() => {
                            Outcome::new(obj_name, &p, "replaced", link_path.display().to_string())
                        }
                        Ok(()) => {
                            Outcome::new(obj_name, &p, "attached", link_path.display().to_string())
                        }
                        Err(e) => Outcome::new(obj_name, &p, "failed", format!("{e:#}")),
                    }
                }
                Ok(Attached::NoCgroup) => Outcome::new(
                    obj_name,
                    &p,
                    "unattached",
                    "loaded and verified; not attached: no --cgroup",
                ),
                // Some kernels list `bpf` among the LSMs yet refuse BPF-LSM
                // programs (EPERM): that is "not loadable here", an error
                // only under --require lsm.
                Err(e) if matches!(kind(&p.section), Kind::Lsm { .. }) && !require_lsm => {
                    Outcome::new(
                        obj_name,
                        &p,
                        "unsupported",
                        format!("the kernel refused this BPF-LSM program: {e:#}"),
                    )
                }
                Err(e) => Outcome::new(obj_name, &p, "failed", format!("{e:#}")),
            };
            out.push(o);
        }
    }
    Ok(out)
}

/// The cgroup's id as the kernel walks it (kernfs node id = the inode
/// number of its cgroup2 directory on 64-bit kernels) into slot 0.
fn record_governed_id(cg: &File, m: &mut aya::maps::Map) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let id = cg.metadata().context("fstat of the cgroup")?.ino();
    let mut a = aya::maps::Array::<_, u64>::try_from(m)?;
    a.set(0, id, 0)?;
    Ok(())
}

/// Each --unix-allow path that is a socket now, by its inode's kernel
/// dev_t and inode number; anything else is named on stderr and skipped
/// (journald may not run on this host: a missing default is skipped quietly).
fn record_unix_allow(obj_name: &str, m: &mut aya::maps::Map, paths: &[PathBuf], given: bool) {
    use std::os::unix::fs::FileTypeExt;
    let mut h = match aya::maps::HashMap::<_, boundary::event::BdFileKey, u32>::try_from(m) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("bd-load: {obj_name}: bd_unix_allow: {e}");
            return;
        }
    };
    for p in paths {
        let md = match std::fs::metadata(p) {
            Ok(md) if md.file_type().is_socket() => md,
            Ok(_) => {
                eprintln!(
                    "bd-load: --unix-allow {}: not a socket; not allowed",
                    p.display()
                );
                continue;
            }
            Err(e) if !given && e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                eprintln!("bd-load: --unix-allow {}: {e}; not allowed", p.display());
                continue;
            }
        };
        let key = match boundary::protect::file_key(p) {
            Ok(k) if k.ino == std::os::unix::fs::MetadataExt::ino(&md) => k,
            _ => {
                eprintln!(
                    "bd-load: --unix-allow {}: changed while read; not allowed",
                    p.display()
                );
                continue;
            }
        };
        if let Err(e) = h.insert(key, 1, 0) {
            eprintln!("bd-load: --unix-allow {}: {e}", p.display());
        }
    }
}

/// Where cgroup2 is mounted (the first cgroup2 line of /proc/self/mounts):
/// `--cgroup /` means its root, the whole host (or the whole cgroup
/// namespace bd-load runs in).
fn cgroup2_mount() -> anyhow::Result<PathBuf> {
    let m = std::fs::read_to_string("/proc/self/mounts")
        .map_err(|e| fail(exit::USAGE, format!("--cgroup /: /proc/self/mounts: {e}")))?;
    // A mount hidden by a later one is still listed: take the first whose
    // path is a cgroup2 filesystem now.
    m.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() > 2 && f[2] == "cgroup2")
        .map(|f| PathBuf::from(f[1].replace("\\040", " ")))
        .find(|p| {
            nix::sys::statfs::statfs(p.as_path())
                .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        })
        .ok_or_else(|| fail(exit::USAGE, "--cgroup /: no cgroup2 filesystem is mounted"))
}

fn open_cgroup2(p: &Path) -> anyhow::Result<File> {
    use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};
    let root;
    let p = if p == Path::new("/") {
        root = cgroup2_mount()?;
        root.as_path()
    } else {
        p
    };
    let f =
        File::open(p).map_err(|e| fail(exit::USAGE, format!("--cgroup {}: {e}", p.display())))?;
    match statfs(p) {
        Ok(s) if s.filesystem_type() == CGROUP2_SUPER_MAGIC && p.is_dir() => Ok(f),
        _ => Err(fail(
            exit::USAGE,
            format!(
                "--cgroup {}: not a cgroup v2 directory (cgroup programs attach to cgroup2 only)",
                p.display()
            ),
        )),
    }
}

/// Maps this object pins by name that already exist with another type, key
/// size, value size or (except the ring buffer) size.
fn pinned_map_clashes(elf: &[u8], pin_dir: &Path, ring_size: Option<u32>) -> Vec<String> {
    let obj = match aya_obj::Object::parse(elf) {
        Ok(o) => o,
        Err(e) => return vec![format!("parsing the object: {e}")],
    };
    let mut out = Vec::new();
    for (name, m) in &obj.maps {
        if m.pinning() != aya_obj::maps::PinningType::ByName {
            continue;
        }
        let path = pin::map_path(pin_dir, name);
        if !path.exists() {
            continue;
        }
        let info = match pin::open_map(pin_dir, name).map(|d| d.info()) {
            Ok(Ok(i)) => i,
            Ok(Err(e)) => {
                out.push(format!("{}: {e}", path.display()));
                continue;
            }
            Err(e) => {
                out.push(e.to_string());
                continue;
            }
        };
        let pinned_type = info.map_type().map(|t| t as u32).unwrap_or(u32::MAX);
        let is_ring = name == "bd_events";
        let want_entries = if is_ring {
            ring_size.unwrap_or(info.max_entries())
        } else {
            m.max_entries()
        };
        // The ring buffer's size is the loader's choice (a warning covers a
        // differing --ring-size); everything else must match exactly.
        if pinned_type != m.map_type()
            || info.key_size() != m.key_size()
            || info.value_size() != m.value_size()
            || (!is_ring && info.max_entries() != want_entries)
        {
            out.push(format!(
                "{} is pinned as type {} key {} value {} entries {}, but this object defines \
                 type {} key {} value {} entries {} (unload first, or fix the definitions)",
                path.display(),
                pinned_type,
                info.key_size(),
                info.value_size(),
                info.max_entries(),
                m.map_type(),
                m.key_size(),
                m.value_size(),
                want_entries
            ));
        }
    }
    out.sort();
    out
}

enum Attached {
    Link(FdLink),
    Raw(OwnedFd),
    NoCgroup,
}

fn attach(
    prog: &mut Program,
    section: &str,
    cgroup: Option<&File>,
    btf: Option<&Btf>,
) -> anyhow::Result<Attached> {
    let k = &kind(section);
    let cg = || cgroup.ok_or(());
    let link: FdLink = match (prog, k) {
        (Program::TracePoint(p), Kind::TracePoint { category, name }) => {
            p.load()?;
            let id = p.attach(category, name)?;
            FdLink::try_from(p.take_link(id)?)?
        }
        (Program::RawTracePoint(p), Kind::RawTracePoint { name }) => {
            p.load()?;
            let id = p.attach(name)?;
            p.take_link(id)?.into()
        }
        (Program::BtfTracePoint(p), Kind::BtfTracePoint { name }) => {
            let btf = btf.ok_or_else(|| anyhow::anyhow!("no kernel BTF for tp_btf"))?;
            p.load(name, btf)?;
            let id = p.attach()?;
            p.take_link(id)?.into()
        }
        (Program::Lsm(p), Kind::Lsm { hook }) => {
            let btf = btf.ok_or_else(|| anyhow::anyhow!("no kernel BTF for LSM"))?;
            p.load(hook, btf)?;
            let id = p.attach()?;
            p.take_link(id)?.into()
        }
        (Program::CgroupSockAddr(p), _) => {
            p.load()?;
            let Ok(c) = cg() else {
                return Ok(Attached::NoCgroup);
            };
            let id = p.attach(c, CgroupAttachMode::Single)?;
            FdLink::try_from(p.take_link(id)?)?
        }
        (Program::CgroupSkb(p), Kind::Cgroup) => {
            use aya::programs::CgroupSkbAttachType as T;
            let dir = match section.rsplit('/').next() {
                Some("ingress") => T::Ingress,
                Some("egress") => T::Egress,
                _ => anyhow::bail!("{section}: cgroup_skb needs /ingress or /egress"),
            };
            p.load()?;
            let Ok(c) = cg() else {
                return Ok(Attached::NoCgroup);
            };
            let id = p.attach(c, dir, CgroupAttachMode::Single)?;
            FdLink::try_from(p.take_link(id)?)?
        }
        (Program::CgroupSock(p), _) => {
            p.load()?;
            let Ok(c) = cg() else {
                return Ok(Attached::NoCgroup);
            };
            let id = p.attach(c, CgroupAttachMode::Single)?;
            FdLink::try_from(p.take_link(id)?)?
        }
        (Program::CgroupDevice(p), _) => {
            p.load()?;
            let Ok(c) = cg() else {
                return Ok(Attached::NoCgroup);
            };
            // aya 0.14 cannot turn a cgroup-device link into an FdLink, so
            // create the link ourselves (BPF_LINK_CREATE, BPF_CGROUP_DEVICE).
            let fd = link_create(p.fd()?.as_fd(), c.as_fd(), 6)?;
            return Ok(Attached::Raw(fd));
        }
        (p, _) => anyhow::bail!(
            "program type {:?} is not attached by bd-load",
            p.prog_type()
        ),
    };
    Ok(Attached::Link(link))
}

#[repr(C)]
#[derive(Default)]
struct BpfAttr {
    a: u32,
    b: u32,
    c: u32,
    d: u32,
    e: u64,
    _rest: [u64; 14],
}

fn sys_bpf(cmd: libc::c_long, attr: &BpfAttr) -> std::io::Result<i32> {
    // SAFETY: attr is a zero-padded bpf_attr large enough for these commands.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *const BpfAttr,
            std::mem::size_of::<BpfAttr>(),
        )
    };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc as i32)
    }
}

fn owned(fd: i32) -> OwnedFd {
    // SAFETY: fd was just returned by the kernel and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn link_create(
    prog: BorrowedFd<'_>,
    target: BorrowedFd<'_>,
    attach_type: u32,
) -> anyhow::Result<OwnedFd> {
    let attr = BpfAttr {
        a: prog.as_raw_fd() as u32,
        b: target.as_raw_fd() as u32,
        c: attach_type,
        ..Default::default()
    };
    Ok(owned(
        sys_bpf(28 /* BPF_LINK_CREATE */, &attr).context("BPF_LINK_CREATE")?,
    ))
}

fn obj_pin(fd: BorrowedFd<'_>, path: &Path) -> anyhow::Result<()> {
    use std::os::unix::ffi::OsStrExt as _;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    let p = c.as_ptr() as u64;
    let attr = BpfAttr {
        a: p as u32,
        b: (p >> 32) as u32,
        c: fd.as_raw_fd() as u32,
        ..Default::default()
    };
    sys_bpf(6 /* BPF_OBJ_PIN */, &attr).with_context(|| format!("pinning {}", path.display()))?;
    Ok(())
}

/// Pin a link at `path`. When replacing, pin beside it and rename over the
/// old pin: the rename is atomic, and dropping the old pin detaches the old
/// program only after the new one is attached.
fn pin_link(link: Attached, path: &Path, replace: bool) -> anyhow::Result<()> {
    let pin = |at: &Path| -> anyhow::Result<()> {
        match link {
            Attached::Link(l) => {
                // The pin keeps the link (and the program) alive once our
                // fd closes.
                l.pin(at)
                    .with_context(|| format!("pinning {}", at.display()))?;
                Ok(())
            }
            Attached::Raw(fd) => obj_pin(fd.as_fd(), at),
            Attached::NoCgroup => Ok(()),
        }
    };
    if !replace {
        return pin(path);
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push("-replacing");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    pin(&tmp)?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} over {}", tmp.display(), path.display()))?;
    Ok(())
}

/// Detach everything and remove the pins; returns what was removed.
pub fn unload(pin_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    probe::require_privilege("unloading BPF programs")?;
    if !pin_dir.exists() {
        return Ok(Vec::new());
    }
    let lock = lock_pin_dir(pin_dir)?;
    let removed = pin::remove_pins(pin_dir)
        .with_context(|| format!("removing pins under {}", pin_dir.display()))?;
    drop(lock);
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_sections() {
        assert_eq!(
            kind("tracepoint/sched/sched_process_exec"),
            Kind::TracePoint {
                category: "sched".into(),
                name: "sched_process_exec".into()
            }
        );
        assert_eq!(
            kind("raw_tp/sys_enter"),
            Kind::RawTracePoint {
                name: "sys_enter".into()
            }
        );
        assert_eq!(
            kind("tp_btf/sched_process_exec"),
            Kind::BtfTracePoint {
                name: "sched_process_exec".into()
            }
        );
        assert_eq!(kind("tp_btf/"), Kind::Other);
        assert_eq!(
            kind("lsm/file_open"),
            Kind::Lsm {
                hook: "file_open".into()
            }
        );
        assert_eq!(kind("cgroup/connect4"), Kind::Cgroup);
        assert_eq!(kind("cgroup_skb/egress"), Kind::Cgroup);
        assert_eq!(kind("xdp"), Kind::Other);
    }
}
