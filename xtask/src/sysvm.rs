//! `cargo xtask sys-vm-test`: boundary as a service on a real Debian 12
//! system with systemd as PID 1, across a real reboot of the same disk.
//!
//! 1. A bookworm root file system built offline from Debian's packages with
//!    `mmdebstrap` (systemd, the cloud kernel and its initramfs, bpftool, jq),
//!    turned into an ext4 disk image and cached OUTSIDE target/ under
//!    `/var/cache/boundary-sysvm/<key>/`, the key a hash of everything that
//!    goes into it, so a second run on the same machine skips this step.
//!    The image carries one unit of ours: bd-sysvm-driver.service, which
//!    mounts the payload disk and runs its guest.sh once per boot.
//! 2. `make deb`, and lintian on the package.
//! 3. A copy of the cached disk plus a payload disk (xtask/sysvm/guest.sh and
//!    the .deb), booted under qemu TCG (KVM hangs here; `-cpu max,-cx16`, see
//!    vm.rs) with BPF-LSM on the kernel command line. The guest reboots
//!    itself (no -no-reboot): same disk, same kernel, new boot.
//! 4. The host reads the console: `bd-sysvm: PASS/FAIL name` lines and the
//!    closing `bd-sysvm: N passed, M failed`, and fails unless both boots
//!    ran, N > 0 and M = 0, within --timeout.

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::{root, run};

#[derive(clap::Args, Clone, Debug)]
pub struct SysVmArgs {
    /// Seconds the whole guest run (both boots) may take.
    #[arg(long, default_value_t = 1800)]
    pub timeout: u64,
    /// Where the root file system image is cached (outside the repository).
    #[arg(long, default_value = "/var/cache/boundary-sysvm")]
    pub cache_dir: PathBuf,
}

impl SysVmArgs {
    pub fn defaults() -> Self {
        SysVmArgs {
            timeout: 1800,
            cache_dir: "/var/cache/boundary-sysvm".into(),
        }
    }
}

const SUITE: &str = "bookworm";
const MIRRORS: &[&str] = &[
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
];
/// The guest's packages beyond minbase: systemd as init, a kernel with an
/// initramfs (initramfs-tools runs in the chroot), and what guest.sh reads
/// the kernel with (bpftool, jq).
const PACKAGES: &[&str] = &[
    "systemd",
    "systemd-sysv",
    "udev",
    "linux-image-cloud-amd64",
    "initramfs-tools",
    "kmod",
    "e2fsprogs",
    "util-linux",
    "mount",
    "procps",
    "jq",
    "bpftool",
];

/// Baked into the image: runs the payload's guest.sh once per boot. It is
/// `bash -c` so that only bash, mkdir and mount need to be on the LOCKDOWN
/// allow list (guest.sh adds them) for it to run after the reboot.
const DRIVER_UNIT: &str = "[Unit]
Description=boundary sys-vm-test driver (payload disk /dev/vdb)
After=multi-user.target
ConditionPathExists=/dev/vdb

[Service]
Type=oneshot
ExecStart=/usr/bin/bash -c 'mkdir -p /mnt/p && mount -o ro /dev/vdb /mnt/p && exec bash /mnt/p/guest.sh'
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
";

/// Run by mmdebstrap as a customize hook, with the root as $1.
const CUSTOMIZE: &str = r#"set -e
echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' > "$1/etc/fstab"
echo bd-sysvm > "$1/etc/hostname"
# A fixed machine id: no first-boot prompts on the console.
echo 6d2e1c0b8a5f4e3d9c7b1a0f2e4d6c8b > "$1/etc/machine-id"
cat > "$1/etc/systemd/system/bd-sysvm-driver.service" <<'UNIT'
@DRIVER@UNIT
mkdir -p "$1/etc/systemd/system/multi-user.target.wants"
ln -sf ../bd-sysvm-driver.service "$1/etc/systemd/system/multi-user.target.wants/bd-sysvm-driver.service"
mkdir -p "$1/var/log/journal"
"#;

/// Bump when the image recipe changes in a way the hash cannot see.
const IMAGE_VERSION: &str = "1";

const CLOSING: &str = "bd-sysvm: ";

/// Longest silence between two `bd-sysvm:` lines (a boot under TCG takes
/// 15-100 s here; the slowest check waits 45 s).
const STALL: Duration = Duration::from_secs(600);

pub fn sys_vm_test(args: &SysVmArgs) -> Result<()> {
    let t0 = Instant::now();
    ensure_host_tools()?;
    let img = ensure_image(&args.cache_dir)?;
    eprintln!(
        "sys-vm-test: image ready at {} ({:.0} s)",
        img.dir.display(),
        t0.elapsed().as_secs_f64()
    );

    let t1 = Instant::now();
    let work = crate::vm::target_dir()?.join("sysvm");
    fs::create_dir_all(&work)?;
    let deb = build_deb(&work)?;
    lintian(&deb)?;
    eprintln!(
        "sys-vm-test: {} built and checked ({:.0} s)",
        deb.display(),
        t1.elapsed().as_secs_f64()
    );

    let disk = work.join("disk.img");
    let _ = fs::remove_file(&disk);
    run(Command::new("cp")
        .arg("--sparse=always")
        .arg(img.dir.join("disk.img"))
        .arg(&disk))?;
    let payload = build_payload(&work, &deb)?;

    let t2 = Instant::now();
    let summary = boot(&img, &disk, &payload, args.timeout);
    eprintln!(
        "sys-vm-test: guest run {:.0} s, total {:.0} s",
        t2.elapsed().as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
    let summary = summary?;
    eprintln!("sys-vm-test: {summary}");
    Ok(())
}

fn ensure_host_tools() -> Result<()> {
    let need = [
        ("mmdebstrap", "/usr/bin/mmdebstrap"),
        ("qemu-system-x86", "/usr/bin/qemu-system-x86_64"),
        ("e2fsprogs", "/usr/sbin/mkfs.ext4"),
        ("lintian", "/usr/bin/lintian"),
        ("make", "/usr/bin/make"),
        ("binutils", "/usr/bin/strip"),
    ];
    let missing: Vec<&str> = need
        .iter()
        .filter(|(_, p)| !Path::new(p).exists())
        .map(|(pkg, _)| *pkg)
        .collect();
    if !missing.is_empty() {
        eprintln!("sys-vm-test: installing {}", missing.join(" "));
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(&missing))?;
    }
    Ok(())
}

struct Image {
    dir: PathBuf,
    vmlinuz: PathBuf,
    initrd: PathBuf,
}

fn customize_script() -> String {
    CUSTOMIZE.replace("@DRIVER@", DRIVER_UNIT)
}

fn image_key() -> String {
    let mut h = Sha256::new();
    for part in [IMAGE_VERSION, SUITE]
        .into_iter()
        .chain(MIRRORS.iter().copied())
        .chain(PACKAGES.iter().copied())
    {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.update(customize_script().as_bytes());
    let d = h.finalize();
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The cached image for the current recipe, built when missing.
fn ensure_image(cache: &Path) -> Result<Image> {
    let key = image_key();
    let dir = cache.join(&key);
    let img = |dir: PathBuf| Image {
        vmlinuz: dir.join("vmlinuz"),
        initrd: dir.join("initrd.img"),
        dir,
    };
    if dir.join(".complete").exists() {
        eprintln!("sys-vm-test: cached image {key}");
        return Ok(img(dir));
    }
    eprintln!("sys-vm-test: building the Debian {SUITE} image {key} (mmdebstrap, once per recipe)");
    fs::create_dir_all(cache)?;
    let tmp = cache.join(format!("{key}.tmp-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp)?;
    let rootfs = tmp.join("rootfs");
    let hook = tmp.join("customize.sh");
    fs::write(&hook, customize_script())?;
    let t = Instant::now();
    run(Command::new("mmdebstrap")
        .args(["--mode=root", "--variant=minbase", "--quiet"])
        .arg(format!("--include={}", PACKAGES.join(",")))
        .arg(format!("--customize-hook=sh {} \"$1\"", hook.display()))
        .arg(SUITE)
        .arg(&rootfs)
        .args(MIRRORS))?;
    eprintln!("sys-vm-test: mmdebstrap {:.0} s", t.elapsed().as_secs_f64());
    let boot = rootfs.join("boot");
    let pick = |prefix: &str| -> Result<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(&boot)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
            })
            .collect();
        v.sort();
        v.pop()
            .with_context(|| format!("no {prefix}* in {}", boot.display()))
    };
    fs::copy(pick("vmlinuz-")?, tmp.join("vmlinuz"))?;
    fs::copy(pick("initrd.img-")?, tmp.join("initrd.img"))?;
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "bd-sysvm", "-d"])
        .arg(&rootfs)
        .arg(tmp.join("disk.img"))
        .arg("3G"))?;
    fs::remove_dir_all(&rootfs)?;
    fs::write(tmp.join(".complete"), &key)?;
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&tmp, &dir)?;
    Ok(img(dir))
}

fn build_deb(work: &Path) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(&cargo).current_dir(root()).args([
        "build",
        "--release",
        "--workspace",
        "--bins",
        "--exclude",
        "xtask",
    ]))?;
    let debdir = work.join("deb");
    let _ = fs::remove_dir_all(&debdir);
    fs::create_dir_all(&debdir)?;
    run(Command::new("make")
        .current_dir(root())
        .args(["-s", "--no-print-directory"])
        .arg(format!("TARGET_DIR={}", crate::vm::target_dir()?.display()))
        .arg(format!("DEBDIR={}", debdir.display()))
        .arg("deb"))?;
    fs::read_dir(&debdir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .with_context(|| format!("make deb left no .deb in {}", debdir.display()))
}

/// lintian errors and warnings fail the run; the one tag we mean
/// (keys/ is 0700 on purpose) is suppressed by name.
fn lintian(deb: &Path) -> Result<()> {
    let out = Command::new("lintian")
        .args([
            "--fail-on",
            "error,warning",
            "--suppress-tags",
            "non-standard-dir-perm",
        ])
        .arg(deb)
        .output()
        .context("running lintian")?;
    let text = String::from_utf8_lossy(&out.stdout);
    for l in text.lines() {
        eprintln!("sys-vm-test: lintian: {l}");
    }
    if !out.status.success() {
        bail!("lintian failed on {}", deb.display());
    }
    Ok(())
}

fn build_payload(work: &Path, deb: &Path) -> Result<PathBuf> {
    let dir = work.join("payload");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;
    fs::copy(root().join("xtask/sysvm/guest.sh"), dir.join("guest.sh"))?;
    fs::copy(deb, dir.join("boundary.deb"))?;
    let img = work.join("payload.img");
    let _ = fs::remove_file(&img);
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "bd-payload", "-d"])
        .arg(&dir)
        .arg(&img)
        .arg("64M"))?;
    Ok(img)
}

fn boot(img: &Image, disk: &Path, payload: &Path, timeout: u64) -> Result<String> {
    let drive = |p: &Path, extra: &str| format!("file={},format=raw,if=virtio{extra}", p.display());
    let mut child = Command::new("qemu-system-x86_64")
        .args([
            "-accel",
            "tcg",
            "-cpu",
            "max,-cx16",
            "-smp",
            "2",
            "-m",
            "1536",
        ])
        .args(["-nodefaults", "-display", "none", "-monitor", "none"])
        .args(["-serial", "stdio"])
        .arg("-kernel")
        .arg(&img.vmlinuz)
        .arg("-initrd")
        .arg(&img.initrd)
        .args([
            "-append",
            "root=/dev/vda rw console=ttyS0 panic=-1 quiet systemd.firstboot=off \
             lsm=lockdown,capability,landlock,yama,bpf",
        ])
        .arg("-drive")
        .arg(drive(disk, ""))
        .arg("-drive")
        .arg(drive(payload, ",readonly=on"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("spawning qemu-system-x86_64")?;
    let stdout = child.stdout.take().context("qemu stdout")?;
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let s = String::from_utf8_lossy(&buf)
                        .trim_end_matches(['\r', '\n'])
                        .replace('\r', "");
                    if tx.send(s).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let start = Instant::now();
    let deadline = start + Duration::from_secs(timeout);
    let mut last_progress = start;
    let mut phases: Vec<(u32, f64)> = Vec::new();
    let mut summary = None;
    let mut failed_names = Vec::new();
    let mut why = None;
    loop {
        // A guest that stops reporting (a boot that hangs, a driver the
        // allow list blocks) fails after STALL, not after the whole timeout.
        let stall_at = last_progress + STALL;
        let left = deadline
            .min(stall_at)
            .saturating_duration_since(Instant::now());
        if left.is_zero() {
            why = Some(if Instant::now() >= deadline {
                format!("timed out after {timeout} s")
            } else {
                format!("no bd-sysvm line for {} s", STALL.as_secs())
            });
            break;
        }
        match rx.recv_timeout(left) {
            Ok(line) => {
                println!("{line}");
                let Some(rest) = line.find(CLOSING).map(|i| &line[i + CLOSING.len()..]) else {
                    if line.contains("Kernel panic") {
                        why = Some(format!("guest kernel: {line}"));
                        break;
                    }
                    continue;
                };
                last_progress = Instant::now();
                let at = start.elapsed().as_secs_f64();
                if let Some(p) = rest.strip_prefix("boot phase ") {
                    let n: u32 = p
                        .split_whitespace()
                        .next()
                        .and_then(|x| x.parse().ok())
                        .unwrap_or(0);
                    eprintln!(
                        "sys-vm-test: boot {} reached its checks at {at:.0} s",
                        phases.len() + 1
                    );
                    phases.push((n, at));
                    if phases.len() > 2 {
                        why = Some(
                            "the guest booted more than twice (phase bookkeeping lost)".into(),
                        );
                        break;
                    }
                } else if let Some(name) = rest.strip_prefix("FAIL ") {
                    failed_names.push(name.to_string());
                } else if let Some(s) = parse_closing(rest) {
                    summary = Some(s);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    if why.is_some() {
        let _ = child.kill();
    }
    let _ = child.wait();
    if let Some(w) = why {
        bail!("{w}");
    }
    let seen: Vec<u32> = phases.iter().map(|p| p.0).collect();
    if seen != [1, 2] {
        bail!("expected boot phases [1, 2] (a reboot of the same disk), saw {seen:?}");
    }
    match summary {
        None => bail!("the guest stopped without its closing 'N passed, M failed' line"),
        Some((0, _)) => bail!("no checks ran in the guest"),
        Some((p, 0)) => Ok(format!("{p} passed, 0 failed, across 2 boots")),
        Some((p, f)) => bail!("{p} passed, {f} failed: {}", failed_names.join("; ")),
    }
}

fn parse_closing(rest: &str) -> Option<(u64, u64)> {
    let (p, rest) = rest.split_once(" passed, ")?;
    let f = rest.strip_suffix(" failed")?;
    Some((p.trim().parse().ok()?, f.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_line_and_driver_in_customize_hook() {
        assert_eq!(parse_closing("12 passed, 0 failed"), Some((12, 0)));
        assert_eq!(parse_closing("PASS x"), None);
        let s = customize_script();
        assert!(s.contains("ExecStart=/usr/bin/bash -c"));
        assert!(s.contains("\nUNIT\n"), "heredoc closed: {s}");
        assert_eq!(image_key().len(), 16);
    }
}
