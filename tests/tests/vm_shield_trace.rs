//! Kernel tracing against a shielded process (issue 13), in the VM harness.
//! A uprobe with a fetch argument (`+0(%di):string`) on a function that a
//! protected program passes its secret to copies the secret into the trace
//! buffer, past every ptrace check. The twin shows exactly that working with
//! the shield unloaded; with it loaded, tracefs is closed for writing (hook
//! `tracefs`) and kprobe events cannot be registered through perf either
//! (hook `kprobe`).

#[path = "vm_lsm_util/mod.rs"]
mod util;

use bd_tests::bin;
use std::io::{BufRead, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use util::*;

const TRACEFS: &str = "/sys/kernel/tracing";
const VICTIM: &str = "/fixtures/trace_target";

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
}

fn os_err(e: std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(-1)
}

/// Append one line to a tracefs control file, as `echo LINE >> FILE` does.
fn tracefs_append(file: &str, line: &str) -> Result<(), i32> {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(file)
        .map_err(os_err)?;
    f.write_all(format!("{line}\n").as_bytes()).map_err(os_err)
}

/// A process killed however the test ends.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The victim started by bd-inject with `secret` in its memfd; returns it,
/// its pid and bd_use_secret's offset in the fixture's file.
fn victim(pin: &Path, secret: &str, shielded: bool) -> (Reap, u32, String) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("secret");
    std::fs::write(&src, secret).unwrap();
    let mut c = Command::new(bin("bd-inject"));
    c.arg("--pin-dir").arg(pin);
    if shielded {
        c.arg("--require-protection");
    }
    let child = c
        .args(["--name", "SECRET", "--from-file"])
        .arg(&src)
        .args(["--", VICTIM])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn bd-inject");
    let mut r = Reap(child);
    let mut line = String::new();
    std::io::BufReader::new(r.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let (pid, off) = line
        .trim()
        .split_once(' ')
        .unwrap_or_else(|| panic!("the victim's first line: {line:?}"));
    (r, pid.parse().unwrap(), off.to_owned())
}

/// A uprobe on bd_use_secret printing the string its first argument points to.
fn uprobe_def(group: &str, off: &str) -> String {
    format!("p:{group}/grab {VICTIM}:{off} +0(%di):string")
}

/// Wait up to 20 s (TCG is slow) for the trace buffer to show `needle`.
fn trace_shows(needle: &str) -> bool {
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        if let Ok(t) = std::fs::read_to_string(format!("{TRACEFS}/trace")) {
            if t.contains(needle) {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Take a probe group away again (disable, then delete); best effort.
fn remove_probe(group: &str) {
    let _ = std::fs::write(format!("{TRACEFS}/events/{group}/grab/enable"), "0");
    let _ = tracefs_append(
        &format!("{TRACEFS}/uprobe_events"),
        &format!("-:{group}/grab"),
    );
}

/// perf_event_open on the kprobe PMU: a kprobe on `func`, CPU 0, counting
/// only. The kernel registers it through __register_trace_kprobe, which asks
/// locked_down(LOCKDOWN_KPROBES).
fn perf_kprobe(func: &str) -> Result<OwnedFd, i32> {
    let ty: u64 = std::fs::read_to_string("/sys/bus/event_source/devices/kprobe/type")
        .expect("the kprobe PMU")
        .trim()
        .parse()
        .unwrap();
    let name = std::ffi::CString::new(func).unwrap();
    let mut a = [0u8; 128];
    let put = |a: &mut [u8; 128], off: usize, v: u64, n: usize| {
        a[off..off + n].copy_from_slice(&v.to_ne_bytes()[..n]);
    };
    put(&mut a, 0, ty, 4);
    put(&mut a, 4, 112, 4); // PERF_ATTR_SIZE_VER5
    put(&mut a, 40, 1, 8); // disabled
    put(&mut a, 56, name.as_ptr() as u64, 8); // kprobe_func
    put(&mut a, 64, 0, 8); // probe_offset
                           // SAFETY: a valid perf_event_attr of the size it declares; `name` lives
                           // across the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            a.as_ptr(),
            -1i32,
            0i32,
            -1i32,
            0u64,
        )
    };
    if fd < 0 {
        Err(errno())
    } else {
        // SAFETY: a new fd, ours.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }
}

fn is_deny(v: &serde_json::Value, hook: &str) -> bool {
    v["type"] == "deny"
        && v["hook"] == hook
        && v["action"] == "deny"
        && v["pid"] == std::process::id()
        && v["uid"] == 0
}

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_shield_trace_uprobe_cannot_read_a_protected_secret() {
    require_vm();
    let me = std::process::id();
    let group = format!("bdgrab{me}");

    // Twin, nothing loaded: root's uprobe prints the secret.
    let secret = format!("uprobe-twin-secret-{me}");
    let nowhere = std::env::temp_dir().join(format!("bd-no-pins-{me}"));
    let (v, _pid, off) = victim(&nowhere, &secret, false);
    tracefs_append(
        &format!("{TRACEFS}/uprobe_events"),
        &uprobe_def(&group, &off),
    )
    .expect("twin: define the uprobe");
    std::fs::write(format!("{TRACEFS}/events/{group}/grab/enable"), "1").expect("twin: enable it");
    let leaked = trace_shows(&secret);
    remove_probe(&group);
    drop(v);
    assert!(leaked, "twin: the uprobe never printed the secret");
    perf_kprobe("vfs_read").expect("twin: a kprobe through perf, unloaded");

    // A probe prepared in advance, before boundary is loaded: the shield
    // must keep it from being switched on.
    let group = format!("bdprep{me}");
    tracefs_append(
        &format!("{TRACEFS}/uprobe_events"),
        &uprobe_def(&group, &off),
    )
    .expect("twin: define the prepared uprobe");

    let l = Loaded::new("trace");
    let mut w = l.watch();
    let secret = format!("uprobe-shielded-secret-{me}");
    let (v, pid, _) = victim(&l.pin, &secret, true);
    // Every door to a new probe is shut: the dynamic-event files, through
    // tracefs and through its debugfs mirror.
    let g2 = format!("bdgrab2{me}");
    for file in [
        format!("{TRACEFS}/uprobe_events"),
        format!("{TRACEFS}/dynamic_events"),
        "/sys/kernel/debug/tracing/uprobe_events".to_owned(),
    ] {
        assert_refused(&file, tracefs_append(&file, &uprobe_def(&g2, &off)));
    }
    let ev = w.expect("a tracefs deny", |v| {
        is_deny(v, "tracefs") && v["path"] == "uprobe_events"
    });
    assert_eq!(ev["errno"], "EPERM", "{ev}");
    w.expect("a tracefs deny for dynamic_events", |v| {
        is_deny(v, "tracefs") && v["path"] == "dynamic_events"
    });
    // kprobe_events with a user-memory fetch: refused the same way.
    assert_refused(
        "kprobe_events",
        tracefs_append(
            &format!("{TRACEFS}/kprobe_events"),
            &format!("p:{g2}/k vfs_read +0(%si):ustring"),
        ),
    );
    // The probe prepared in advance cannot be switched on.
    assert_refused(
        "enabling a probe defined before protection",
        std::fs::write(format!("{TRACEFS}/events/{group}/grab/enable"), "1").map_err(os_err),
    );
    // A kprobe through perf's kprobe PMU is refused by locked_down.
    assert_refused("a perf kprobe", perf_kprobe("vfs_read").map(|_| ()));
    w.expect("a kprobe deny", |v| is_deny(v, "kprobe"));
    // Reading stays open; the buffer holds nothing of the secret.
    let t = std::fs::read_to_string(format!("{TRACEFS}/trace")).expect("reading trace");
    assert!(!t.contains(&secret), "the secret reached the trace buffer");
    // The victim really ran under the shield the whole time.
    assert_refused("the victim's environ", read_environ(pid));

    // Unloaded again: root's tracing is its own again.
    drop(v);
    drop(w);
    drop(l);
    remove_probe(&group);
    assert!(
        !std::fs::read_to_string(format!("{TRACEFS}/uprobe_events"))
            .unwrap()
            .contains(&group),
        "the prepared probe was removed once the shield was unloaded"
    );
}

const GRAB: &str = "/fixtures/bpf_grab";

/// tests/fixtures/bpf_grab.c with `args`: its pid, exit code and stdout.
fn grab(args: &[&str]) -> (u32, i32, String) {
    let child = Command::new(GRAB)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn bpf_grab");
    let pid = child.id();
    let out = child.wait_with_output().expect("bpf_grab");
    (
        pid,
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn is_deny_by(v: &serde_json::Value, hook: &str, pid: u32, access: u64) -> bool {
    v["type"] == "deny"
        && v["hook"] == hook
        && v["action"] == "deny"
        && v["pid"] == pid
        && v["access"] == access
        && v["errno"] == "EPERM"
}

const PT_KPROBE: u64 = 2;
const PT_TRACING: u64 = 26;
const LOCKDOWN_BPF_READ_KERNEL: u64 = 24;

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_shield_trace_bpf_programs_cannot_read_a_protected_secret() {
    require_vm();
    let me = std::process::id();

    // Twin, nothing loaded: root's uprobe BPF program copies the secret out
    // of the victim with bpf_probe_read_user, and every program type loads.
    let secret = format!("bpf-twin-secret-{me}");
    let nowhere = std::env::temp_dir().join(format!("bd-no-pins-bpf-{me}"));
    let (v, _pid, off) = victim(&nowhere, &secret, false);
    let (_, code, out) = grab(&["uprobe", VICTIM, &off]);
    drop(v);
    assert_eq!(code, 0, "twin: the uprobe program: {out}");
    assert!(
        out.contains(&format!("read: {secret}")),
        "twin: the BPF program did not read the secret: {out}"
    );
    for ty in ["kprobe", "fentry", "cgroup_skb", "cgroup_skb_read_kernel"] {
        let (_, code, out) = grab(&["load", ty]);
        assert_eq!((code, out.trim()), (0, "loaded"), "twin: load {ty}");
    }

    let l = Loaded::new("bpftrace");
    let status: serde_json::Value =
        serde_json::from_str(&l.bd_load(&["status", "--json"])).expect("status json");
    let row = status["shields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "kernel tracing")
        .unwrap_or_else(|| panic!("no kernel tracing row: {status}"));
    assert_eq!(row["active"], true, "{row}");
    let mut w = l.watch();
    let secret = format!("bpf-shielded-secret-{me}");
    let (v, pid, off) = victim(&l.pin, &secret, true);

    // The same attack: its BPF_PROG_LOAD is refused, nothing is read.
    let (gpid, code, out) = grab(&["uprobe", VICTIM, &off]);
    assert_eq!(code, 10, "the uprobe program was not refused: {out}");
    assert!(out.contains("prog_load: errno 1"), "{out}");
    assert!(!out.contains(&secret), "{out}");
    w.expect("a bpf_trace deny for the uprobe program", |v| {
        is_deny_by(v, "bpf_trace", gpid, PT_KPROBE)
    });
    let (gpid, code, out) = grab(&["load", "kprobe"]);
    assert_eq!(code, 10, "a kprobe program loaded: {out}");
    w.expect("a bpf_trace deny for kprobe", |v| {
        is_deny_by(v, "bpf_trace", gpid, PT_KPROBE)
    });
    let (gpid, code, out) = grab(&["load", "fentry"]);
    assert_eq!(code, 10, "an fentry program loaded: {out}");
    w.expect("a bpf_trace deny for fentry", |v| {
        is_deny_by(v, "bpf_trace", gpid, PT_TRACING)
    });
    // systemd's kind of program still loads ...
    let (_, code, out) = grab(&["load", "cgroup_skb"]);
    assert_eq!((code, out.trim()), (0, "loaded"), "cgroup_skb refused");
    // ... but not with the kernel-read helper: the verifier is told no.
    let (gpid, code, out) = grab(&["load", "cgroup_skb_read_kernel"]);
    assert_eq!(code, 1, "probe_read_kernel in cgroup_skb: {out}");
    assert!(out.contains("prog_load: errno 22"), "{out}");
    w.expect("a bpf_read_kernel deny", |v| {
        is_deny_by(v, "bpf_read_kernel", gpid, LOCKDOWN_BPF_READ_KERNEL)
    });
    // Boundary's own bd-load keeps loading BPF (a second set, beside).
    let second = Loaded::new("bpftrace2");
    drop(second);
    // The victim really ran under the shield the whole time.
    assert_refused("the victim's environ", read_environ(pid));
    drop(v);
    drop(w);
    drop(l);

    // Unloaded again: the kprobe and fentry loads work.
    for ty in ["kprobe", "fentry", "cgroup_skb_read_kernel"] {
        let (_, code, out) = grab(&["load", ty]);
        assert_eq!((code, out.trim()), (0, "loaded"), "after unload: load {ty}");
    }
}

/// The BPF tracing rules start only once bd-load has recorded boundary's
/// executables, so `--without-self-protection` (which never records) leaves
/// them off, as documented. Guards the test of "recorded", which pre-6.7
/// verifiers can get wrong (a flag set in a bpf_for_each_map_elem callback
/// taken for always set, the branch hard-wired: it happened to the
/// passthrough rule on 6.1). Twin: the recorded default load refuses the
/// same programs.
#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_shield_trace_bpf_rules_wait_for_boundary_to_be_recorded() {
    let l = Loaded::with_args("bpfnorec", &["--without-self-protection"]);
    for ty in ["kprobe", "fentry"] {
        let (_, code, out) = grab(&["load", ty]);
        assert_eq!(
            (code, out.trim()),
            (0, "loaded"),
            "unrecorded (--without-self-protection): load {ty}"
        );
    }
    drop(l);
    let l = Loaded::new("bpfrec");
    let mut w = l.watch();
    for (ty, pt) in [("kprobe", PT_KPROBE), ("fentry", PT_TRACING)] {
        let (gpid, code, out) = grab(&["load", ty]);
        assert_eq!(code, 10, "recorded: load {ty} was not refused: {out}");
        w.expect("a bpf_trace deny", |v| is_deny_by(v, "bpf_trace", gpid, pt));
    }
}

/// `bpf_grab late VICTIM OFF HOW`: loads its uprobe program now (before
/// the shield) and waits for a line on stdin to attach it.
struct Late {
    child: Reap,
    out: std::io::BufReader<std::process::ChildStdout>,
}

impl Late {
    fn start(off: &str, how: &str) -> Late {
        let mut c = Command::new(GRAB)
            .args(["late", VICTIM, off, how])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn bpf_grab late");
        let mut out = std::io::BufReader::new(c.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "loaded", "bpf_grab late {how}: {line:?}");
        Late {
            child: Reap(c),
            out,
        }
    }

    /// Sends the go, waits for the end: pid, exit code, the rest of stdout.
    fn attach(mut self) -> (u32, i32, String) {
        let pid = self.child.0.id();
        self.child
            .0
            .stdin
            .take()
            .unwrap()
            .write_all(b"go\n")
            .unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut self.out, &mut rest).unwrap();
        let code = self.child.0.wait().unwrap().code().unwrap_or(-1);
        (pid, code, rest)
    }
}

const BPF_LINK_CREATE: u64 = 28;
const PERF_EVENT_IOC_SET_BPF: u64 = 0x4004_2408;

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_shield_trace_bpf_program_loaded_before_the_shield_cannot_attach() {
    require_vm();
    let me = std::process::id();

    // Twin, nothing loaded: a program loaded first and attached later, by
    // either way, reads the secret.
    let nowhere = std::env::temp_dir().join(format!("bd-no-pins-late-{me}"));
    let mut off = String::new();
    for how in ["set_bpf", "link"] {
        let secret = format!("late-twin-{how}-{me}");
        let (v, _pid, o) = victim(&nowhere, &secret, false);
        off = o;
        let late = Late::start(&off, how);
        let (_, code, out) = late.attach();
        drop(v);
        assert_eq!(code, 0, "twin {how}: {out}");
        assert!(
            out.contains("attached") && out.contains(&format!("read: {secret}")),
            "twin {how}: the late-attached program did not read the secret: {out}"
        );
    }

    // Loaded before the shield, kept, attached after the secret is protected.
    let set_bpf = Late::start(&off, "set_bpf");
    let link = Late::start(&off, "link");
    let l = Loaded::new("bpflate");
    let status: serde_json::Value =
        serde_json::from_str(&l.bd_load(&["status", "--json"])).expect("status json");
    let foreign: Vec<&serde_json::Value> = status["foreign_tracing"]
        .as_array()
        .unwrap_or_else(|| panic!("no foreign_tracing: {status}"))
        .iter()
        .filter(|t| t["prog_type"] == "kprobe" && t["uid"] == 0)
        .collect();
    assert!(
        foreign.len() >= 2,
        "the two programs loaded before the shield are not reported: {status}"
    );
    let mut w = l.watch();
    let secret = format!("late-shielded-secret-{me}");
    let (v, pid, _) = victim(&l.pin, &secret, true);
    // protect --require-clean names them and exits 1 (the pid is protected).
    let out = Command::new(bin("bd-load"))
        .arg("--pin-dir")
        .arg(&l.pin)
        .args(["protect", "--require-clean", "--pid", &pid.to_string()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "protect --require-clean: {err}");
    assert!(
        err.contains("foreign BPF tracing program id"),
        "protect --require-clean: {err}"
    );

    let (gpid, code, out) = set_bpf.attach();
    assert_eq!(code, 12, "PERF_EVENT_IOC_SET_BPF was not refused: {out}");
    assert!(out.contains("set_bpf: errno 1"), "{out}");
    assert!(!out.contains(&secret), "{out}");
    w.expect("a perf_set_bpf deny", |v| {
        is_deny_by(v, "perf_set_bpf", gpid, PERF_EVENT_IOC_SET_BPF) && v["path"] == "[perf_event]"
    });
    let (gpid, code, out) = link.attach();
    assert_eq!(code, 12, "BPF_LINK_CREATE was not refused: {out}");
    assert!(out.contains("link_create: errno 1"), "{out}");
    assert!(!out.contains(&secret), "{out}");
    w.expect("a bpf_attach deny", |v| {
        is_deny_by(v, "bpf_attach", gpid, BPF_LINK_CREATE)
    });
    // The victim really ran under the shield the whole time.
    assert_refused("the victim's environ", read_environ(pid));
    drop(v);
    drop(w);
    drop(l);

    // Unloaded again: the same late attach reads a secret.
    let secret = format!("late-after-{me}");
    let (v, _pid, off) = victim(&nowhere, &secret, false);
    let (_, code, out) = Late::start(&off, "link").attach();
    drop(v);
    assert_eq!(code, 0, "after unload: {out}");
    assert!(
        out.contains(&format!("read: {secret}")),
        "after unload: {out}"
    );
}
