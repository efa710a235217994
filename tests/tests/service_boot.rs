//! boundary-load.service's script (`/usr/lib/boundary/boot-load`), run for
//! real against the host kernel with its own pin dir, state and config (an
//! installed tree under a temp prefix): what a reboot looks like to it is a
//! freshly loaded map (OPEN, seq 0) and a state file that says otherwise.
//! BPF-LSM enforcement after boot is `cargo xtask sys-vm-test`'s part; here:
//! the mode and the exec allow list go back into the kernel, the dead-man
//! switch is re-armed, and a kernel without BPF-LSM fails it loudly.

use bd_tests::bin;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Host {
    dir: tempfile::TempDir,
    pin: PathBuf,
}

impl Host {
    fn new(tag: &str) -> Host {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let target = bin("bd-load")
            .parent()
            .and_then(Path::parent)
            .unwrap()
            .to_path_buf();
        let o = Command::new("make")
            .arg("-C")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap())
            .args(["-s", "--no-print-directory"])
            .arg(format!("TARGET_DIR={}", target.display()))
            .arg(format!("PREFIX={d}/usr"))
            .arg(format!("SYSCONFDIR={d}/etc"))
            .arg(format!("STATEDIR={d}/var/lib/boundary"))
            .arg(format!("LOGDIR={d}/var/log/boundary"))
            .arg("install")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        Host {
            pin: PathBuf::from(format!("/sys/fs/bpf/bd-test-{tag}-{}", std::process::id())),
            dir,
        }
    }
    fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    fn state(&self) -> PathBuf {
        self.p("var/lib/boundary/state.json")
    }
    fn tool(&self, name: &str) -> Command {
        let mut c = Command::new(self.p("usr/sbin").join(name));
        c.env("BD_PIN_DIR", &self.pin)
            .env("BD_STATE", self.state())
            .env("BD_OPERATOR_KEYS", self.p("etc/boundary/operators.d"));
        c
    }
    fn lock(&self, args: &[&str]) -> Output {
        self.tool("bd-lock").args(args).output().unwrap()
    }
    /// The boot: a fresh load under our pin dir, then everything after it.
    fn boot(&self) -> Output {
        let mut c = Command::new(self.p("usr/lib/boundary/boot-load"));
        c.env("BD_PIN_DIR", &self.pin)
            .env("BD_STATE", self.state())
            .env("BD_OPERATOR_KEYS", self.p("etc/boundary/operators.d"));
        c.output().unwrap()
    }
    fn set_load_args(&self, args: &str) {
        let f = self.p("etc/default/boundary");
        let text = fs::read_to_string(&f).unwrap();
        let text: String = text
            .lines()
            .map(|l| {
                if l.starts_with("BD_LOAD_ARGS=") {
                    format!("BD_LOAD_ARGS=\"{args}\"\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        fs::write(f, text).unwrap();
    }
    fn status(&self) -> Value {
        let o = self.lock(&["status", "--json"]);
        serde_json::from_slice(&o.stdout).unwrap()
    }
    /// What a reboot does to the kernel side: every pin gone, whatever the
    /// mode (bd-load unload refuses outside OPEN). No BPF-LSM here, so no
    /// self-protection stands in the way of removing the pins directly.
    fn reboot(&self) {
        boundary::pin::remove_pins(&self.pin).expect("removing the pins");
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // The tests end in LOCKDOWN, where unload refuses: clean up as a reboot would.
        self.reboot();
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn boot_restores_lockdown_allow_list_and_dead_man_into_a_fresh_map() {
    let h = Host::new("boot");
    h.set_load_args("");
    // The host before the "reboot": LOCKDOWN recorded, dead-man armed.
    let o = h.lock(&["init", "--mode", "OPEN", "--reason", "test"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = h.boot();
    assert!(o.status.success(), "first boot: {}", text(&o));
    let o = h.lock(&["arm", "--heartbeat", "45s"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = h.lock(&["engage", "--reason", "before reboot"]);
    // This host refuses BPF-LSM, so LOCKDOWN's exec program is missing: the
    // mode is recorded and written to the map, and bd-lock says it is not
    // fully enforced (exit 4). The VM test checks enforcement.
    assert!(
        o.status.success()
            || (o.status.code() == Some(4) && text(&o).contains("not fully enforced")),
        "{}",
        text(&o)
    );
    let seq = h.status()["state"]["seq"].as_u64().unwrap();

    // The reboot: the kernel side is gone.
    h.reboot();
    assert!(!h.pin.exists());
    // Twin: a fresh map with that state reads as faulted LOCKDOWN, and the
    // kernel map itself says OPEN, seq 0 until the boot script runs.
    let o = h.tool("bd-load").arg("load").output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let st = h.status();
    assert_eq!(st["map"]["mode"], "OPEN", "{st}");
    assert_eq!(st["map"]["seq"], 0, "{st}");
    assert!(st["fault"].is_string(), "{st}");
    h.reboot();

    let o = h.boot();
    let out = text(&o);
    assert!(o.status.success(), "boot: {out}");
    let st = h.status();
    assert_eq!(st["mode"], "LOCKDOWN", "{st}");
    assert!(st["fault"].is_null(), "{st}");
    assert_eq!(st["map"]["mode"], "LOCKDOWN", "{st}");
    assert_eq!(st["map"]["seq"].as_u64(), Some(seq), "{st}");
    let left = st["map"]["heartbeat_left_ms"].as_i64().unwrap_or(0);
    assert!(
        left > 30_000 && left <= 45_000,
        "dead-man not re-armed: {st}"
    );
    assert!(out.contains("\"via\":\"sync\""), "{out}");

    // The allow list is in the kernel: removing an entry finds it, and
    // widening it now (synced LOCKDOWN) is refused again.
    let bd_lock = h.p("usr/sbin/bd-lock");
    let o = h
        .lock(&["allow", "--remove", bd_lock.to_str().unwrap()])
        .status
        .success();
    assert!(o);
    let o = h.lock(&["allow", "/usr/bin/true"]);
    assert!(!o.status.success(), "widened in LOCKDOWN: {}", text(&o));
    assert!(text(&o).contains("LOCKDOWN"), "{}", text(&o));
    let map = h.pin.join("maps/bd_exec_allow");
    assert!(map.exists(), "no allow-list map pinned");

    // Run again on the loaded host (systemctl restart, a package upgrade):
    // programs swapped in place, LOCKDOWN and its allow list kept as they are.
    let o = h.boot();
    let out = text(&o);
    assert!(o.status.success(), "restart: {out}");
    assert!(out.contains(" replaced "), "{out}");
    assert!(
        out.contains("kept the kernel's current exec allow list"),
        "{out}"
    );
    let st = h.status();
    assert_eq!(st["mode"], "LOCKDOWN", "{st}");
    assert_eq!(st["map"]["seq"].as_u64(), Some(seq), "{st}");
}

#[test]
fn boot_fails_loudly_without_state_or_without_bpf_lsm() {
    let h = Host::new("bootfail");
    // No `bd-lock init` yet: exit 3, one line saying what to do.
    h.set_load_args("");
    let o = h.boot();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("run 'bd-lock init'"), "{}", text(&o));
    h.reboot();

    // --require lsm (the shipped default) on a kernel that refuses BPF-LSM
    // programs: the unit fails and says so. Where BPF-LSM works the same
    // call succeeds, so the test asks the kernel which case this is.
    h.set_load_args("--require lsm");
    let o = h.lock(&["init", "--mode", "OPEN", "--reason", "test"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = h.boot();
    // Independent probe: a plain load reports the LSM programs `unsupported`
    // where the kernel refuses them.
    h.reboot();
    let probe = h.tool("bd-load").arg("load").output().unwrap();
    let lsm_works = !text(&probe)
        .lines()
        .any(|l| l.starts_with("lsm_file_protect-") && l.contains("unsupported"));
    if lsm_works {
        assert!(o.status.success(), "{}", text(&o));
    } else {
        assert!(!o.status.success(), "booted without BPF-LSM: {}", text(&o));
        assert!(text(&o).contains("bd-load failed"), "{}", text(&o));
    }
}
