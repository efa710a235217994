//! The VM harness: boots Debian kernels with BPF-LSM under qemu and runs the
//! tests the host kernel cannot (it refuses LSM programs).
//!
//! Steps per kernel: fetch the Debian cloud kernel package (cached under
//! `target/vm/`), build one initramfs holding busybox, our release binaries,
//! the `vm_*` test executables of the bd-tests crate and every shared library
//! they need, boot it under TCG (KVM hangs on these machines) and read the
//! console. The run fails unless the VM printed its closing
//! `bd-vm: N passed, 0 failed` line with N > 0 before the timeout.

use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::{root, run};

#[derive(clap::Args, Clone, Debug)]
pub struct VmArgs {
    /// Which kernel to boot: 6.1, 6.12, usb (6.12 generic with USB, runs the
    /// vmusb_* tests) or all.
    #[arg(long, default_value = "all")]
    pub kernel: String,
    /// Run the benchmarks of bench/inject instead of the tests.
    #[arg(long)]
    pub bench: bool,
    /// Seconds one boot may take, tests included, before it counts as failed.
    #[arg(long, default_value_t = 900)]
    pub timeout: u64,
    /// Run only the VM tests whose name contains this string.
    #[arg(long)]
    pub filter: Option<String>,
}

impl VmArgs {
    pub fn all() -> Self {
        VmArgs {
            kernel: "all".into(),
            bench: false,
            timeout: 900,
            filter: None,
        }
    }
}

/// The kernels we test on: Debian bookworm's own and bookworm-backports'
/// cloud kernels (vm_* tests), and backports' generic 6.12 for the USB tests
/// (vmusb_*): the cloud kernels are built without USB.
const KERNELS: &[&str] = &["6.1", "6.12", USB_KERNEL];
const USB_KERNEL: &str = "usb";

/// Modules the USB boot loads (with what they depend on, from modules.dep).
const USB_MODULES: &[&str] = &["xhci-pci", "usb-storage", "sd_mod", "usbhid", "hid-generic"];

/// Raw images the USB boot offers as drives stick0..stick{N-1}: a drive is
/// gone once its device is unplugged, so each plug uses the next one.
const USB_STICKS: usize = 6;

/// The first bytes of the stick image: a test that reads them from the
/// guest's /dev/sdX has read the stick.
pub const USB_STICK_MARK: &[u8] = b"BOUNDARY-USB-STICK-0123456789";

/// Modules the tests may need that the cloud kernels build as modules
/// (network tests create veth pairs and dummy links inside their own netns;
/// loop gives a file system on a real block device, major != 0).
const MODULES: &[&str] = &[
    "drivers/net/veth",
    "drivers/net/dummy",
    "drivers/block/loop",
];

/// Modules of vm_shield_storage.rs (with what they depend on): a RAM-backed
/// SCSI disk with its sd block device and sg node. Staged under
/// /lib/storage, not /lib/modules: /init loads those at boot, and only that
/// test wants a SCSI disk; it insmods these in glob order (dependencies first).
const STORAGE_MODULES: &[&str] = &["sd_mod", "sg", "scsi_debug"];

/// Size of the NVMe disk the cloud-kernel boots get (nvme_qemu_args).
const NVME_DISK_MB: u64 = 16;

/// Host programs copied into the VM beside busybox (busybox `ip` has no netns).
const HOST_TOOLS: &[&str] = &["/usr/bin/ip", "/usr/bin/bash"];

const CLOSING: &str = "bd-vm: ";

pub fn vm_test(args: &VmArgs) -> Result<()> {
    let kernels: Vec<&str> = match args.kernel.as_str() {
        "all" => KERNELS.to_vec(),
        k if KERNELS.contains(&k) => vec![k],
        k => bail!("--kernel {k}: expected one of 6.1, 6.12, usb, all"),
    };
    ensure_host_tools()?;
    let vm_dir = target_dir()?.join("vm");
    fs::create_dir_all(&vm_dir)?;

    let payload = build_payload(args.bench)?;
    let mut failures = Vec::new();
    for k in &kernels {
        let kdir = fetch_kernel(&vm_dir, k)?;
        let initrd = build_initramfs(&vm_dir, k, &kdir, &payload, args)?;
        if *k == USB_KERNEL && !args.bench && !has_usb_tests(&payload, args) {
            eprintln!("vm-test {k}: no vmusb_* test matches; not booted");
            continue;
        }
        let vmlinuz = find_one(&kdir.join("boot"), "vmlinuz-")?;
        eprintln!("vm-test: booting {} ({})", k, vmlinuz.display());
        let usb = (*k == USB_KERNEL).then(|| vm_dir.clone());
        let mut result = boot(&vmlinuz, &initrd, args, usb.as_deref());
        // qemu 7.2's TCG has faulted in early boot of 6.12 (see the -cpu
        // note in boot()). A VM that died before /init ran none of our code,
        // so boot it again; a crash once the tests run is a failure.
        for attempt in 2..=BOOT_ATTEMPTS {
            match &result {
                Err(e) if e.to_string().contains(NO_INIT) => {
                    eprintln!("vm-test {k}: {e}; boot attempt {attempt}");
                    result = boot(&vmlinuz, &initrd, args, usb.as_deref());
                }
                _ => break,
            }
        }
        match result {
            Ok(summary) => eprintln!("vm-test {k}: {summary}"),
            Err(e) => {
                eprintln!("vm-test {k}: FAILED: {e:#}");
                failures.push(format!("{k}: {e:#}"));
            }
        }
    }
    if !failures.is_empty() {
        bail!("VM run failed on {}", failures.join("; "));
    }
    Ok(())
}

fn ensure_host_tools() -> Result<()> {
    let need = [
        ("qemu-system-x86", "/usr/bin/qemu-system-x86_64"),
        ("busybox-static", "/bin/busybox"),
        ("cpio", "/usr/bin/cpio"),
        ("xz-utils", "/usr/bin/xz"),
    ];
    let missing: Vec<&str> = need
        .iter()
        .filter(|(_, p)| !Path::new(p).exists())
        .map(|(pkg, _)| *pkg)
        .collect();
    if !missing.is_empty() {
        eprintln!("vm-test: installing {}", missing.join(" "));
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(&missing))?;
    }
    // busybox-static installs /bin/busybox; the dynamic busybox package would
    // not run inside the VM without its libraries.
    let out = Command::new("file").arg("-L").arg("/bin/busybox").output();
    if let Ok(o) = out {
        let s = String::from_utf8_lossy(&o.stdout);
        if s.contains("dynamically linked") {
            bail!("/bin/busybox is dynamically linked: apt-get install busybox-static");
        }
    }
    Ok(())
}

pub(crate) fn target_dir() -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(root())
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed");
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let t = v["target_directory"]
        .as_str()
        .context("cargo metadata: no target_directory")?;
    Ok(PathBuf::from(t))
}

// ---------------------------------------------------------------- kernels

/// apt options that read and write only a private state under `dir`, so the
/// backports source is used without touching the system's apt configuration.
fn private_apt_opts(dir: &Path) -> Vec<String> {
    vec![
        "-o".into(),
        format!(
            "Dir::Etc::SourceList={}",
            dir.join("sources.list").display()
        ),
        "-o".into(),
        "Dir::Etc::SourceParts=/dev/null".into(),
        "-o".into(),
        format!("Dir::State::Lists={}", dir.join("lists").display()),
        "-o".into(),
        format!("Dir::Cache={}", dir.join("cache").display()),
        "-o".into(),
        "APT::Sandbox::User=root".into(),
    ]
}

/// Download (once) and unpack the newest cloud kernel of `series`; returns the
/// directory holding boot/ and lib/modules/.
fn fetch_kernel(vm_dir: &Path, series: &str) -> Result<PathBuf> {
    let kdir = vm_dir.join(format!("kernel-{series}"));
    if kdir.join(".complete").exists() {
        return Ok(kdir);
    }
    let dl = vm_dir.join("dl");
    fs::create_dir_all(&dl)?;
    let (opts, pattern): (Vec<String>, String) = if series == "6.1" {
        (
            vec!["-o".into(), "APT::Sandbox::User=root".into()],
            r"^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$".into(),
        )
    } else {
        let apt = vm_dir.join("apt-backports");
        fs::create_dir_all(apt.join("lists/partial"))?;
        fs::create_dir_all(apt.join("cache/archives/partial"))?;
        fs::write(
            apt.join("sources.list"),
            "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] \
             http://deb.debian.org/debian bookworm-backports main\n",
        )?;
        let opts = private_apt_opts(&apt);
        run(Command::new("apt-get").args(&opts).args(["update", "-qq"]))?;
        (
            opts,
            if series == USB_KERNEL {
                r"^linux-image-6\.12\.[0-9]+\+deb[0-9]+-amd64-unsigned$".to_string()
            } else {
                format!(
                    r"^linux-image-{}\.[0-9]+\+deb[0-9]+-cloud-amd64-unsigned$",
                    regex_escape(series)
                )
            },
        )
    };
    let out = Command::new("apt-cache")
        .args(&opts)
        .args(["search", "--names-only", &pattern])
        .output()
        .context("apt-cache search")?;
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    let newest = names
        .iter()
        .max_by(|a, b| natural_cmp(a, b))
        .with_context(|| {
            format!(
                "no Debian package matches {pattern} (run apt-get update; for 6.12 \
                 bookworm-backports must be reachable)"
            )
        })?;
    eprintln!("vm-test: fetching {newest}");
    let _ = fs::remove_dir_all(&kdir);
    for e in fs::read_dir(&dl)? {
        let p = e?.path();
        if p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{newest}_")))
        {
            fs::remove_file(&p)?;
        }
    }
    run(Command::new("apt-get")
        .current_dir(&dl)
        .args(&opts)
        .args(["download", "-qq", newest]))?;
    let deb = fs::read_dir(&dl)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{newest}_")))
        })
        .with_context(|| format!("apt-get download {newest} left no .deb in {}", dl.display()))?;
    run(Command::new("dpkg").arg("-x").arg(&deb).arg(&kdir))?;
    find_one(&kdir.join("boot"), "vmlinuz-")?;
    fs::write(kdir.join(".complete"), newest)?;
    Ok(kdir)
}

/// The modules `wanted` need, dependencies first, from the kernel's
/// modules.dep (paths relative to `mods_root`).
fn module_closure(mods_root: &Path, wanted: &[&str]) -> Result<Vec<PathBuf>> {
    if !mods_root.join("modules.dep").exists() {
        // The package ships no modules.dep (its postinst runs depmod).
        let base = mods_root
            .parent()
            .and_then(Path::parent)
            .and_then(Path::parent)
            .context("module dir has no lib/modules parent")?;
        let version = mods_root.file_name().unwrap_or_default();
        run(Command::new("depmod").arg("-b").arg(base).arg(version))?;
    }
    let dep = fs::read_to_string(mods_root.join("modules.dep"))
        .with_context(|| format!("reading {}/modules.dep", mods_root.display()))?;
    let norm = |p: &str| {
        Path::new(p)
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .split(".ko")
            .next()
            .unwrap_or_default()
            .replace('-', "_")
    };
    let mut deps = std::collections::HashMap::new();
    for line in dep.lines() {
        if let Some((m, d)) = line.split_once(':') {
            deps.insert(
                norm(m),
                (
                    m.to_string(),
                    d.split_whitespace().map(str::to_string).collect::<Vec<_>>(),
                ),
            );
        }
    }
    let mut out: Vec<PathBuf> = Vec::new();
    for w in wanted {
        let (path, d) = deps
            .get(&w.replace('-', "_"))
            .with_context(|| format!("module {w} is not in {}/modules.dep", mods_root.display()))?;
        // modules.dep lists the whole closure; modprobe loads it last to first.
        for p in d.iter().rev().chain(std::iter::once(path)) {
            let full = mods_root.join(p);
            if !out.contains(&full) {
                out.push(full);
            }
        }
    }
    Ok(out)
}

/// Does any vmusb_* test (under the filter) exist in the payload?
fn has_usb_tests(p: &Payload, args: &VmArgs) -> bool {
    let filter = args.filter.clone().unwrap_or_default();
    p.tests.iter().any(|(_, exe)| {
        Command::new(exe)
            .args(["--ignored", "--list", "--format", "terse"])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout).lines().any(|l| {
                    let n = l.trim_end_matches(": test");
                    n.rsplit("::").next().unwrap_or(n).starts_with("vmusb_") && n.contains(&filter)
                })
            })
            .unwrap_or(false)
    })
}

/// USB boot extras: the stick image and two unix sockets (qemu's monitor, and
/// the chardev behind the guest's second serial port), joined by a relay so
/// the test inside the guest can hot-plug devices with monitor commands on
/// /dev/ttyS1.
/// A blank NVMe disk for vm_shield_storage.rs (the cloud kernels build
/// nvme in): /dev/nvme0 (controller), /dev/nvme0n1 and /dev/ng0n1 in the
/// guest. Zeroed at every boot, beside the initramfs.
fn nvme_qemu_args(initrd: &Path) -> Result<Vec<String>> {
    let img = initrd
        .parent()
        .context("initramfs has no parent dir")?
        .join("nvme-disk.img");
    let f = fs::File::create(&img).with_context(|| format!("creating {}", img.display()))?;
    f.set_len(NVME_DISK_MB << 20)?;
    Ok(vec![
        "-drive".into(),
        format!(
            "if=none,id=bdnvme,file={},format=raw,file.locking=off",
            img.display()
        ),
        "-device".into(),
        "nvme,serial=bdnvme0,drive=bdnvme".into(),
    ])
}

fn usb_qemu_args(vm_dir: &Path) -> Result<(Vec<String>, PathBuf, PathBuf)> {
    let img = vm_dir.join("usb-stick.img");
    let mut data = USB_STICK_MARK.to_vec();
    data.resize(1 << 20, 0);
    fs::write(&img, data)?;
    let mon = vm_dir.join("usb-mon.sock");
    let relay = vm_dir.join("usb-relay.sock");
    let _ = fs::remove_file(&mon);
    let _ = fs::remove_file(&relay);
    let mut a: Vec<String> = vec![
        "-device".into(),
        "qemu-xhci,id=xhci".into(),
        "-chardev".into(),
        format!("socket,id=bdmon,path={},server=on,wait=off", mon.display()),
        "-mon".into(),
        "chardev=bdmon,mode=readline".into(),
        "-chardev".into(),
        format!(
            "socket,id=bdrelay,path={},server=on,wait=off",
            relay.display()
        ),
        "-serial".into(),
        "chardev:bdrelay".into(),
    ];
    for i in 0..USB_STICKS {
        a.push("-drive".into());
        a.push(format!(
            "if=none,id=stick{i},file={},format=raw,readonly=on,file.locking=off",
            img.display()
        ));
    }
    Ok((a, mon, relay))
}

/// Copy bytes both ways between the monitor socket and the relay socket
/// until either closes (qemu exits).
fn start_relay(mon: PathBuf, relay: PathBuf) {
    std::thread::spawn(move || {
        let connect = |p: &Path| {
            for _ in 0..100 {
                if let Ok(s) = std::os::unix::net::UnixStream::connect(p) {
                    return Some(s);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            eprintln!("vm-test usb: cannot connect to {}", p.display());
            None
        };
        let (Some(m), Some(r)) = (connect(&mon), connect(&relay)) else {
            return;
        };
        let (Ok(mut m2), Ok(mut r2)) = (m.try_clone(), r.try_clone()) else {
            return;
        };
        let (mut m, mut r) = (m, r);
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut r2, &mut m2);
        });
        let _ = std::io::copy(&mut m, &mut r);
    });
}

fn regex_escape(s: &str) -> String {
    s.replace('.', r"\.")
}

/// Compare names so that digit runs compare as numbers (6.1.0-47 > 6.1.0-9).
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn parts(s: &str) -> Vec<(bool, String)> {
        let mut v: Vec<(bool, String)> = Vec::new();
        for c in s.chars() {
            let d = c.is_ascii_digit();
            match v.last_mut() {
                Some((ld, cur)) if *ld == d => cur.push(c),
                _ => v.push((d, c.to_string())),
            }
        }
        v
    }
    let (pa, pb) = (parts(a), parts(b));
    for (x, y) in pa.iter().zip(pb.iter()) {
        let o = if x.0 && y.0 {
            let xn = x.1.trim_start_matches('0');
            let yn = y.1.trim_start_matches('0');
            xn.len().cmp(&yn.len()).then_with(|| xn.cmp(yn))
        } else {
            x.1.cmp(&y.1)
        };
        if o != std::cmp::Ordering::Equal {
            return o;
        }
    }
    pa.len().cmp(&pb.len())
}

fn find_one(dir: &Path, prefix: &str) -> Result<PathBuf> {
    for e in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        {
            return Ok(p);
        }
    }
    bail!("no {prefix}* in {}", dir.display())
}

// ---------------------------------------------------------------- payload

/// What goes into every initramfs regardless of kernel.
struct Payload {
    /// Our release binaries (target/release/bd-*).
    bins: Vec<PathBuf>,
    /// The vm_* test executables, by target name.
    tests: Vec<(String, PathBuf)>,
    /// Extra files: (path in the VM, host path).
    extra: Vec<(String, PathBuf)>,
}

fn build_payload(bench: bool) -> Result<Payload> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(&cargo).current_dir(root()).args([
        "build",
        "--release",
        "--workspace",
        "--bins",
        "--exclude",
        "xtask",
    ]))?;
    let out = Command::new(&cargo)
        .current_dir(root())
        .args([
            "test",
            "--package",
            "bd-tests",
            "--release",
            "--no-run",
            "--message-format=json",
        ])
        .stderr(Stdio::inherit())
        .output()
        .context("cargo test --no-run")?;
    if !out.status.success() {
        // The compiler's own words are inside the JSON on stdout.
        for line in out.stdout.split(|&b| b == b'\n') {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) {
                if v["reason"] == "compiler-message" && v["message"]["level"] == "error" {
                    eprint!("{}", v["message"]["rendered"].as_str().unwrap_or_default());
                }
            }
        }
        bail!("cargo test --package bd-tests --release --no-run failed");
    }
    let mut tests = Vec::new();
    for line in out.stdout.split(|&b| b == b'\n') {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        if v["reason"] != "compiler-artifact" {
            continue;
        }
        let pkg = v["package_id"].as_str().unwrap_or_default();
        let manifest = v["manifest_path"].as_str().unwrap_or_default();
        let is_tests_crate = pkg.contains("bd-tests") || manifest.ends_with("tests/Cargo.toml");
        let name = v["target"]["name"].as_str().unwrap_or_default();
        let is_test_kind = v["target"]["kind"]
            .as_array()
            .is_some_and(|k| k.iter().any(|x| x == "test"));
        if !(is_tests_crate && is_test_kind && name.starts_with("vm_")) {
            continue;
        }
        if let Some(exe) = v["executable"].as_str() {
            tests.push((name.to_owned(), PathBuf::from(exe)));
        }
    }
    tests.sort();
    tests.dedup();
    if tests.is_empty() && !bench {
        bail!("no vm_* test targets in the bd-tests crate (tests/tests/vm_*.rs): nothing to run");
    }
    let release = target_dir()?.join("release");
    let mut bins = Vec::new();
    for e in fs::read_dir(&release)? {
        let p = e?.path();
        let n = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if n.starts_with("bd-") && !n.contains('.') && p.is_file() {
            bins.push(p);
        }
    }
    bins.sort();
    if bins.is_empty() {
        bail!("no bd-* binaries in {}", release.display());
    }
    let mut extra = Vec::new();
    // The attacker's library of vm_self_code.rs (a C constructor): built
    // here because the VM has no compiler.
    let preload = target_dir()?.join("vm/bd_preload.so");
    if let Some(d) = preload.parent() {
        fs::create_dir_all(d)?;
    }
    run(Command::new("clang-19")
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o"])
        .arg(&preload)
        .arg(root().join("tests/fixtures/preload.c")))?;
    extra.push(("/fixtures/preload.so".into(), preload));
    // The victim of vm_shield_trace.rs: holds a secret and passes it to a
    // function a uprobe can read it from.
    let victim = target_dir()?.join("vm/bd_trace_target");
    run(Command::new("clang-19")
        .args(["-O2", "-Wall", "-Werror", "-o"])
        .arg(&victim)
        .arg(root().join("tests/fixtures/trace_target.c")))?;
    extra.push(("/fixtures/trace_target".into(), victim));
    // Root's BPF tracing attack of vm_shield_trace.rs: raw bpf(2), no libbpf.
    let grab = target_dir()?.join("vm/bd_bpf_grab");
    run(Command::new("clang-19")
        .args(["-O2", "-Wall", "-Werror", "-o"])
        .arg(&grab)
        .arg(root().join("tests/fixtures/bpf_grab.c")))?;
    extra.push(("/fixtures/bpf_grab".into(), grab));
    // vm_self_code.rs installs it under a boundary binary's name: a program
    // the kernel sees as boundary's that maps code itself.
    let probe = target_dir()?.join("vm/bd_self_code_probe");
    run(Command::new("clang-19")
        .args(["-O2", "-Wall", "-Werror", "-o"])
        .arg(&probe)
        .arg(root().join("tests/fixtures/self_code_probe.c")))?;
    extra.push(("/fixtures/self_code_probe".into(), probe));
    // Root's read of a disk past the block layer (vm_shield_storage.rs):
    // SG_IO READ(10) and NVMe passthrough reads.
    let ptread = target_dir()?.join("vm/bd_passthrough_read");
    run(Command::new("clang-19")
        .args(["-O2", "-Wall", "-Werror", "-o"])
        .arg(&ptread)
        .arg(root().join("tests/fixtures/passthrough_read.c")))?;
    extra.push(("/fixtures/passthrough_read".into(), ptread));
    if bench {
        let dir = root().join("bench/inject");
        let c = dir.join("lsm_bench.c");
        let exe = target_dir()?.join("vm/lsm_bench");
        run(Command::new("clang-19")
            .args(["-O2", "-Wall", "-Werror", "-o"])
            .arg(&exe)
            .arg(&c))?;
        extra.push(("/bench/lsm_bench".into(), exe));
        extra.push(("/bench/run.sh".into(), dir.join("run.sh")));
    }
    Ok(Payload { bins, tests, extra })
}

// ---------------------------------------------------------------- initramfs

fn build_initramfs(
    vm_dir: &Path,
    series: &str,
    kdir: &Path,
    p: &Payload,
    args: &VmArgs,
) -> Result<PathBuf> {
    let stage = vm_dir.join(format!("root-{series}"));
    let _ = fs::remove_dir_all(&stage);
    for d in [
        "bin",
        "sbin",
        "usr/bin",
        "usr/sbin",
        "proc",
        "sys",
        "dev",
        "tmp",
        "run",
        "root",
        "etc",
        "tests",
        "fixtures",
        "lib/modules",
        "lib/storage",
        "bench",
        "var/tmp",
    ] {
        fs::create_dir_all(stage.join(d))?;
    }
    fs::set_permissions(stage.join("tmp"), fs::Permissions::from_mode(0o1777))?;

    let mut elves: Vec<PathBuf> = Vec::new();
    fs::copy("/bin/busybox", stage.join("bin/busybox"))?;
    let list = Command::new("/bin/busybox").arg("--list").output()?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let l = stage.join("bin").join(applet);
        if !l.exists() {
            symlink("busybox", &l)?;
        }
    }
    for b in &p.bins {
        let dst = stage.join("bin").join(b.file_name().unwrap_or_default());
        fs::copy(b, &dst)?;
        elves.push(dst);
    }
    for (name, exe) in &p.tests {
        let dst = stage.join("tests").join(name);
        fs::copy(exe, &dst).with_context(|| format!("copying {}", exe.display()))?;
        elves.push(dst);
    }
    for t in HOST_TOOLS {
        if Path::new(t).exists() {
            let dst = stage.join(t.trim_start_matches('/'));
            fs::copy(t, &dst)?;
            elves.push(dst);
        }
    }
    for (dst, src) in &p.extra {
        let d = stage.join(dst.trim_start_matches('/'));
        fs::copy(src, &d).with_context(|| format!("copying {}", src.display()))?;
        elves.push(d);
    }
    copy_libs(&stage, &elves)?;

    // Modules, decompressed on the host: busybox insmod takes plain .ko only.
    let mods_root = find_one(&kdir.join("lib/modules"), "")?;
    for m in MODULES {
        let base = mods_root.join("kernel").join(m);
        let name = Path::new(m)
            .file_name()
            .unwrap_or_default()
            .to_string_lossy();
        let dst = stage.join("lib/modules").join(format!("{name}.ko"));
        let plain = base.with_extension("ko");
        let xz = base.with_extension("ko.xz");
        if plain.exists() {
            fs::copy(&plain, &dst)?;
        } else if xz.exists() {
            let out = Command::new("xz").arg("-dc").arg(&xz).output()?;
            if !out.status.success() {
                bail!("xz -d {} failed", xz.display());
            }
            fs::write(&dst, out.stdout)?;
        }
    }

    let (wanted, dir, prefix) = if series == USB_KERNEL {
        (USB_MODULES, "lib/modules", "u")
    } else {
        (STORAGE_MODULES, "lib/storage", "s")
    };
    // Numbered: loaded in glob order (by /init, or by the test), dependencies first.
    for (i, m) in module_closure(&mods_root, wanted)?.iter().enumerate() {
        let name = m.file_name().unwrap_or_default().to_string_lossy();
        let base = name.trim_end_matches(".xz").trim_end_matches(".ko");
        let dst = stage.join(dir).join(format!("{prefix}{i:02}-{base}.ko"));
        if name.ends_with(".xz") {
            let out = Command::new("xz").arg("-dc").arg(m).output()?;
            if !out.status.success() {
                bail!("xz -d {} failed", m.display());
            }
            fs::write(&dst, out.stdout)?;
        } else {
            fs::copy(m, &dst)?;
        }
    }

    fs::write(
        stage.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
    )?;
    fs::write(stage.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")?;
    // bd-lock binds release tokens to the host's machine-id, as on a real host.
    fs::write(
        stage.join("etc/machine-id"),
        "b0a1dafe0000000000000000000000aa\n",
    )?;
    let init = stage.join("init");
    fs::write(&init, init_script(args, series == USB_KERNEL))?;
    fs::set_permissions(&init, fs::Permissions::from_mode(0o755))?;

    // Uncompressed newc: the kernel unpacks it faster under TCG than gzip.
    let img = vm_dir.join(format!("initramfs-{series}.cpio"));
    let files = Command::new("find")
        .current_dir(&stage)
        .args([".", "-print0"])
        .output()?;
    let mut cpio = Command::new("cpio")
        .current_dir(&stage)
        .args(["--null", "-o", "-H", "newc", "--quiet", "-R", "0:0"])
        .stdin(Stdio::piped())
        .stdout(fs::File::create(&img)?)
        .spawn()
        .context("spawning cpio")?;
    cpio.stdin
        .take()
        .context("cpio stdin")?
        .write_all(&files.stdout)?;
    if !cpio.wait()?.success() {
        bail!("cpio failed building {}", img.display());
    }
    Ok(img)
}

/// Copy every shared library the ELF files need (and the dynamic loader) to
/// the same path inside the VM.
fn copy_libs(stage: &Path, elves: &[PathBuf]) -> Result<()> {
    let mut libs = BTreeSet::new();
    for e in elves {
        let out = Command::new("ldd").arg(e).output()?;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
            // "/lib64/ld-linux-x86-64.so.2 (0x...)"
            let path = match line.split_once("=>") {
                Some((_, r)) => r.split_whitespace().next(),
                None => line.split_whitespace().next(),
            };
            if let Some(p) = path {
                if p.starts_with('/') {
                    libs.insert(PathBuf::from(p));
                }
            }
        }
    }
    for l in libs {
        let dst = stage.join(l.strip_prefix("/").unwrap_or(&l));
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent)?;
        }
        // Follow symlinks: copy the library's bytes under the name asked for.
        fs::copy(&l, &dst).with_context(|| format!("copying {}", l.display()))?;
    }
    Ok(())
}

fn init_script(args: &VmArgs, usb: bool) -> String {
    let prefix = if usb { "vmusb_" } else { "vm_" };
    let filter = args.filter.clone().unwrap_or_default().replace('\'', "");
    let body = if args.bench {
        r#"
if sh /bench/run.sh; then echo "bd-vm: 1 passed, 0 failed"; else echo "bd-vm: 0 passed, 1 failed"; fi
"#
        .to_string()
    } else {
        format!(
            r#"
pass=0; fail=0; filter='{filter}'
for t in /tests/*; do
    names=$("$t" --ignored --list --format terse 2>/dev/null | sed -n 's/: test$//p')
    if [ -z "$names" ]; then
        echo "FAIL $(basename "$t") (lists no ignored tests)"; fail=$((fail+1)); continue
    fi
    for n in $names; do
        case "${{n##*::}}" in {prefix}*) ;; *) continue ;; esac
        case "$n" in *"$filter"*) ;; *) continue ;; esac
        start=$(date +%s)
        if timeout 600 "$t" --ignored --exact "$n" --test-threads=1 >/tmp/out 2>&1; then
            echo "PASS $n ($(( $(date +%s) - start ))s)"; pass=$((pass+1))
        else
            echo "FAIL $n ($(( $(date +%s) - start ))s)"; fail=$((fail+1))
            sed 's/^/    /' /tmp/out
        fi
    done
done
echo "bd-vm: $pass passed, $fail failed"
"#
        )
    };
    format!(
        r#"#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t bpf bpf /sys/fs/bpf
mount -t securityfs securityfs /sys/kernel/security
mount -t tracefs tracefs /sys/kernel/tracing
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
for m in /lib/modules/*.ko; do [ -e "$m" ] && insmod "$m" 2>/dev/null; done
ip link set lo up
echo "bd-vm: kernel $(uname -r) lsm=$(cat /sys/kernel/security/lsm)"
export BD_IN_VM=1 BD_BIN_DIR=/bin RUST_BACKTRACE=1
{body}
sync
poweroff -f
"#
    )
}

// ---------------------------------------------------------------- boot

/// Boot once and return the closing summary, or why the run failed.
const BOOT_ATTEMPTS: u32 = 5;

const NO_INIT: &str = "the kernel died before /init ran";

fn boot(vmlinuz: &Path, initrd: &Path, args: &VmArgs, usb: Option<&Path>) -> Result<String> {
    let (extra, sockets) = match usb {
        Some(dir) => {
            let (a, m, r) = usb_qemu_args(dir)?;
            (a, Some((m, r)))
        }
        None => (nvme_qemu_args(initrd)?, None),
    };
    // -cx16: qemu 7.2's TCG mis-emulates the SLUB fast path's cmpxchg16b
    // (6.12 double-faults in kmem_cache_alloc, about one boot in five);
    // without CX16 the kernel takes its plain locked path.
    let mut child = Command::new("qemu-system-x86_64")
        .args([
            "-accel",
            "tcg",
            "-cpu",
            "max,-cx16",
            "-smp",
            "1",
            "-m",
            "1024",
        ])
        .args(["-nodefaults", "-no-reboot", "-display", "none"])
        .args(["-monitor", "none", "-serial", "stdio"])
        .args(&extra)
        .arg("-kernel")
        .arg(vmlinuz)
        .arg("-initrd")
        .arg(initrd)
        .args([
            "-append",
            "console=ttyS0 panic=-1 lsm=lockdown,capability,landlock,yama,bpf quiet",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("spawning qemu-system-x86_64")?;
    if let Some((m, r)) = sockets {
        start_relay(m, r);
    }
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
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let mut summary: Option<(u64, u64)> = None;
    let mut reached_init = false;
    let mut timed_out = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            timed_out = true;
            break;
        }
        match rx.recv_timeout(left) {
            Ok(line) => {
                println!("{line}");
                reached_init |= line.starts_with("bd-vm: kernel ");
                if let Some(s) = parse_closing(&line) {
                    summary = Some(s);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                break;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    if timed_out {
        let _ = child.kill();
    }
    let _ = child.wait();
    if timed_out {
        bail!("boot timed out after {} s", args.timeout);
    }
    match summary {
        None if !reached_init => bail!("{NO_INIT}"),
        None => bail!("the VM stopped without its closing 'N passed, N failed' line"),
        Some((0, 0)) => bail!("no VM tests ran (0 passed, 0 failed)"),
        Some((p, 0)) => Ok(format!("{p} passed, 0 failed")),
        Some((p, f)) => bail!("{p} passed, {f} failed"),
    }
}

fn parse_closing(line: &str) -> Option<(u64, u64)> {
    let rest = line.strip_prefix(CLOSING)?;
    let (p, rest) = rest.split_once(" passed, ")?;
    let f = rest.strip_suffix(" failed")?;
    Some((p.trim().parse().ok()?, f.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_line() {
        assert_eq!(parse_closing("bd-vm: 3 passed, 1 failed"), Some((3, 1)));
        assert_eq!(parse_closing("bd-vm: kernel 6.1 lsm=bpf"), None);
        assert_eq!(parse_closing("x bd-vm: 3 passed, 0 failed"), None);
    }

    #[test]
    fn natural_order() {
        let mut v = [
            "linux-image-6.1.0-9-cloud-amd64-unsigned",
            "linux-image-6.1.0-47-cloud-amd64-unsigned",
            "linux-image-6.1.0-42-cloud-amd64-unsigned",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v[2], "linux-image-6.1.0-47-cloud-amd64-unsigned");
        assert_eq!(
            natural_cmp("linux-image-6.12.95+deb12", "linux-image-6.12.100+deb12"),
            std::cmp::Ordering::Less
        );
    }
}
