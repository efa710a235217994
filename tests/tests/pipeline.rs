//! The boundary pipeline against the host kernel:
//! `bd-watch | bd-policy | bd-lock on-tripwire`, with a tripwire on one
//! specific exec, then the governed cgroup's connect() is refused by
//! mode_enforce inside network namespaces the test made, while loopback still
//! works; and the dead-man switch failing closed.
//!
//! Each test has its own pin dir, governed cgroup (cgroup v2) and pair of
//! network namespaces joined by a veth with 10.251.x addresses that exist only
//! inside those namespaces; nothing is sent beyond the machine.

use bd_tests::bin;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn cgroup2_root() -> PathBuf {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    for l in mounts.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() > 2 && f[2] == "cgroup2" {
            return PathBuf::from(f[1]);
        }
    }
    panic!("no cgroup2 mount in /proc/mounts");
}

fn sh(cmd: &str, args: &[&str]) -> Output {
    let o = Command::new(cmd).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// Everything one test sets up, torn down on drop in reverse order.
struct Rig {
    tag: String,
    dir: tempfile::TempDir,
    pin: PathBuf,
    cgroup: PathBuf,
    ns_client: String,
    ns_server: String,
    server_ip: String,
}

impl Rig {
    fn new(tag: &str, subnet: u8) -> Rig {
        let tag = format!("bd-test-{tag}-{}", std::process::id());
        let cgroup = cgroup2_root().join(&tag);
        std::fs::create_dir(&cgroup).unwrap();
        let r = Rig {
            dir: tempfile::tempdir().unwrap(),
            pin: PathBuf::from(format!("/sys/fs/bpf/{tag}")),
            cgroup,
            ns_client: format!("{tag}-c"),
            ns_server: format!("{tag}-s"),
            server_ip: format!("10.251.{subnet}.2"),
            tag,
        };
        let (c, s) = (r.ns_client.as_str(), r.ns_server.as_str());
        sh("ip", &["netns", "add", c]);
        sh("ip", &["netns", "add", s]);
        sh(
            "ip",
            &[
                "-n", c, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns",
                s,
            ],
        );
        let client_ip = format!("10.251.{subnet}.1/24");
        let server_ip = format!("{}/24", r.server_ip);
        sh("ip", &["-n", c, "addr", "add", &client_ip, "dev", "veth0"]);
        sh("ip", &["-n", s, "addr", "add", &server_ip, "dev", "veth1"]);
        for (ns, dev) in [(c, "veth0"), (s, "veth1"), (c, "lo"), (s, "lo")] {
            sh("ip", &["-n", ns, "link", "set", dev, "up"]);
        }
        let o = Command::new(bin("bd-load"))
            .env("BD_PIN_DIR", &r.pin)
            .arg("load")
            .arg("--cgroup")
            .arg(&r.cgroup)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "bd-load: {out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            out.contains("mode_connect4") && r.pin.join("maps/bd_mode").exists(),
            "bd-load did not attach mode_enforce: {out}"
        );
        r
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state.json")
    }

    fn tool(&self, name: &str) -> Command {
        let mut c = Command::new(bin(name));
        c.env("BD_PIN_DIR", &self.pin).env("BD_STATE", self.state());
        c
    }

    fn lock(&self, args: &[&str]) -> Output {
        let o = self.tool("bd-lock").args(args).output().unwrap();
        assert!(
            o.status.success(),
            "bd-lock {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o
    }

    fn mode(&self) -> String {
        let o = self
            .tool("bd-lock")
            .args(["status", "--json"])
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        v["mode"].as_str().unwrap().to_string()
    }

    /// connect() from a process in the governed cgroup (inside `netns`, if
    /// given) to ip:port; returns bash's error text, or "connected".
    fn connect(&self, netns: Option<&str>, ip: &str, port: u16) -> String {
        let script = format!(
            "echo $$ > {}/cgroup.procs && exec {} bash -c 'exec 3<>/dev/tcp/{ip}/{port} && echo connected'",
            self.cgroup.display(),
            netns.map_or(String::new(), |n| format!("ip netns exec {n}"))
        );
        let o = Command::new("bash").args(["-c", &script]).output().unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = Command::new(bin("bd-load"))
            .env("BD_PIN_DIR", &self.pin)
            .arg("unload")
            .output();
        for ns in [&self.ns_client, &self.ns_server] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        // Processes that joined the cgroup have exited; it is empty.
        let _ = std::fs::remove_dir(&self.cgroup);
        let _ = &self.tag;
    }
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kill(c: &mut Child) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(c.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
}

#[test]
fn tripwire_on_exec_airgaps_the_governed_cgroup() {
    let rig = Rig::new("pipe", 31);
    rig.lock(&["init", "--mode", "OPEN", "--reason", "pipeline test"]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let lport = listener.local_addr().unwrap().port();

    // The one exec that trips the wire: a copy of true under a unique name.
    let trip = rig.dir.path().join("trip-me-now");
    std::fs::copy("/bin/true", &trip).unwrap();
    let policy = rig.dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            r#"
[[rule]]
name = "trip-on-exec"
tripwire = "AIRGAP"
reason = "the canary program ran"
[rule.match]
type = "exec"
filename = "{}"

[[rule]]
name = "blocked-connect"
decision = "alert"
[rule.match]
type = "deny"
hook = "connect4"

[[rule]]
name = "default"
decision = "allow"
"#,
            trip.display()
        ),
    )
    .unwrap();

    // Before: the governed cgroup reaches the other namespace (nothing
    // listens there, so the peer answers with a reset: the hook allowed it).
    let before = rig.connect(Some(&rig.ns_client), &rig.server_ip, 9);
    assert!(before.contains("Connection refused"), "OPEN: {before}");

    let mut watch = rig
        .tool("bd-watch")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut werr = BufReader::new(watch.stderr.take().unwrap());
    let mut l = String::new();
    loop {
        l.clear();
        assert!(
            werr.read_line(&mut l).unwrap() > 0,
            "bd-watch exited before ready"
        );
        if l.contains("ready") {
            break;
        }
    }
    let mut decide = rig
        .tool("bd-policy")
        .arg("-p")
        .arg(&policy)
        .stdin(watch.stdout.take().unwrap())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lock = rig
        .tool("bd-lock")
        .args(["on-tripwire", "--tee"])
        .stdin(decide.stdout.take().unwrap())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lock_out = lock.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = lock_out.read_to_string(&mut s);
        s
    });

    assert_eq!(rig.mode(), "OPEN");
    let st = Command::new(&trip).status().unwrap();
    assert!(st.success());
    wait_for(
        "the tripwire to engage AIRGAP",
        Duration::from_secs(10),
        || rig.mode() == "AIRGAP",
    );

    let denied = rig.connect(Some(&rig.ns_client), &rig.server_ip, 9);
    assert!(
        denied.contains("Operation not permitted"),
        "AIRGAP: {denied}"
    );
    let lo = rig.connect(None, "127.0.0.1", lport);
    assert!(lo.contains("connected"), "loopback under AIRGAP: {lo}");
    listener.accept().unwrap();

    // Let the deny event travel the pipeline, then stop it at the source.
    std::thread::sleep(Duration::from_millis(500));
    kill(&mut watch);
    let _ = watch.wait();
    let _ = decide.wait();
    let _ = lock.wait();
    let out = reader.join().unwrap();
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let trip_decision = lines
        .iter()
        .find(|v| v["type"] == "decision" && v["rule"] == "trip-on-exec")
        .unwrap_or_else(|| panic!("no tripwire decision in {out}"));
    assert_eq!(trip_decision["tripwire"], "AIRGAP");
    assert_eq!(trip_decision["event"]["filename"], trip.to_str().unwrap());
    let mode = lines
        .iter()
        .find(|v| v["type"] == "mode")
        .unwrap_or_else(|| panic!("no mode event in {out}"));
    assert_eq!(
        (
            mode["from"].as_str(),
            mode["to"].as_str(),
            mode["via"].as_str()
        ),
        (Some("OPEN"), Some("AIRGAP"), Some("tripwire"))
    );
    let deny = lines
        .iter()
        .find(|v| v["type"] == "decision" && v["rule"] == "blocked-connect")
        .unwrap_or_else(|| panic!("no deny event for the refused connect in {out}"));
    let ev = &deny["event"];
    assert_eq!(
        (
            ev["hook"].as_str(),
            ev["addr"].as_str(),
            ev["port"].as_u64(),
            ev["mode"].as_str()
        ),
        (
            Some("connect4"),
            Some(rig.server_ip.as_str()),
            Some(9),
            Some("AIRGAP")
        )
    );
    assert_eq!(deny["mode"], "AIRGAP");
}

#[test]
fn dead_man_switch_fails_closed_until_a_heartbeat() {
    let rig = Rig::new("deadman", 32);
    rig.lock(&["init", "--mode", "OPEN"]);
    rig.lock(&["arm", "--heartbeat", "1s"]);
    let ok = rig.connect(Some(&rig.ns_client), &rig.server_ip, 9);
    assert!(ok.contains("Connection refused"), "armed, alive: {ok}");
    std::thread::sleep(Duration::from_millis(1300));
    let st = rig
        .tool("bd-lock")
        .args(["status", "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(
        (v["mode"].as_str(), v["deadman_expired"].as_bool()),
        (Some("LOCKDOWN"), Some(true))
    );
    let dead = rig.connect(Some(&rig.ns_client), &rig.server_ip, 9);
    assert!(
        dead.contains("Operation not permitted"),
        "deadline passed: {dead}"
    );
    // Issue 9, hole 10: after the deadline, a heartbeat or re-arming is a
    // loosening (LOCKDOWN -> OPEN): refused without a ceremony, no event.
    for args in [&["heartbeat"][..], &["arm", "--heartbeat", "1s"]] {
        let o = rig.tool("bd-lock").args(args).output().unwrap();
        let w = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {w}");
        assert!(w.contains("needs --token"), "{args:?}: {w}");
        assert!(o.stdout.is_empty(), "{args:?}: no mode event expected");
        let dead = rig.connect(Some(&rig.ns_client), &rig.server_ip, 9);
        assert!(
            dead.contains("Operation not permitted"),
            "{args:?} refused, still LOCKDOWN: {dead}"
        );
    }
    // With a token from LOCKDOWN to the recorded mode it renews, with an event.
    let keys = rig.dir.path().join("ops");
    std::fs::create_dir(&keys).unwrap();
    let key = rig.dir.path().join("op");
    let o = rig
        .tool("bd-lock")
        .arg("keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .unwrap();
    assert!(o.status.success());
    std::fs::copy(rig.dir.path().join("op.pub"), keys.join("op.pub")).unwrap();
    let tok = rig.dir.path().join("tok");
    let o = rig
        .tool("bd-lock")
        .args(["token", "--from", "LOCKDOWN", "--to", "OPEN", "-k"])
        .arg(&key)
        .arg("-o")
        .arg(&tok)
        .output()
        .unwrap();
    assert!(o.status.success());
    let o = rig
        .tool("bd-lock")
        .env("BD_OPERATOR_KEYS", &keys)
        .arg("heartbeat")
        .arg("--token")
        .arg(&tok)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ev: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (
            ev["type"].as_str(),
            ev["from"].as_str(),
            ev["to"].as_str(),
            ev["via"].as_str()
        ),
        (
            Some("mode"),
            Some("LOCKDOWN"),
            Some("OPEN"),
            Some("release-token")
        )
    );
    let back = rig.connect(Some(&rig.ns_client), &rig.server_ip, 9);
    assert!(
        back.contains("Connection refused"),
        "heartbeat resumed: {back}"
    );
    // While alive, a heartbeat is no loosening and needs nothing.
    rig.lock(&["heartbeat"]);
    // Disarming while alive needs no ceremony.
    rig.lock(&["disarm"]);
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(rig.mode(), "OPEN");
    let _ = Path::new("");
}

#[test]
fn tightening_reaches_the_kernel_and_loosening_needs_a_token() {
    let rig = Rig::new("lockmap", 33);
    rig.lock(&["init", "--mode", "TRUSTED"]);
    let ok = rig.connect(Some(&rig.ns_client), &rig.server_ip, 9);
    assert!(ok.contains("Connection refused"), "TRUSTED: {ok}");
    // Issue 9, hole 11: set/engage/status say whether the kernel enforces
    // the mode. AIRGAP's cgroup programs are attached: exit 0.
    rig.lock(&["set", "AIRGAP", "--reason", "test"]);
    let o = rig.tool("bd-lock").arg("status").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    // LOCKDOWN's exec check is BPF-LSM: where it is not attached (this host
    // refuses LSM programs) engage still engages but exits 4 and names it.
    let o = rig
        .tool("bd-lock")
        .args(["engage", "--reason", "test"])
        .output()
        .unwrap();
    let exec_link = rig.pin.join("links/mode_enforce-mode_exec");
    let w = String::from_utf8_lossy(&o.stderr);
    if exec_link.exists() {
        assert_eq!(o.status.code(), Some(0), "{w}");
    } else {
        assert_eq!(o.status.code(), Some(4), "{w}");
        assert!(w.contains("mode_exec is not attached"), "{w}");
    }
    let dead = rig.connect(Some(&rig.ns_client), &rig.server_ip, 9);
    assert!(dead.contains("Operation not permitted"), "LOCKDOWN: {dead}");

    let keys = rig.dir.path().join("ops");
    std::fs::create_dir(&keys).unwrap();
    let key = rig.dir.path().join("op");
    let o = rig
        .tool("bd-lock")
        .arg("keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .unwrap();
    assert!(o.status.success());
    std::fs::copy(rig.dir.path().join("op.pub"), keys.join("op.pub")).unwrap();
    let tok = rig.dir.path().join("tok");
    let o = rig
        .tool("bd-lock")
        .args(["token", "--from", "LOCKDOWN", "--to", "RESTRICTED", "-k"])
        .arg(&key)
        .arg("-o")
        .arg(&tok)
        .output()
        .unwrap();
    assert!(o.status.success());
    let o = rig
        .tool("bd-lock")
        .env("BD_OPERATOR_KEYS", &keys)
        .arg("release")
        .arg("--token")
        .arg(&tok)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let back = rig.connect(Some(&rig.ns_client), &rig.server_ip, 9);
    assert!(
        back.contains("Connection refused"),
        "RESTRICTED again: {back}"
    );

    // A detached AIRGAP program: set AIRGAP records the mode, warns, exits 4.
    std::fs::remove_file(rig.pin.join("links/mode_enforce-mode_connect4")).unwrap();
    let o = rig
        .tool("bd-lock")
        .args(["set", "AIRGAP", "--reason", "test"])
        .output()
        .unwrap();
    let w = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(4), "{w}");
    assert!(w.contains("mode_connect4 is not attached"), "{w}");
    assert_eq!(rig.mode(), "AIRGAP");

    // A map and file that disagree read as LOCKDOWN in userland.
    let st: Value = serde_json::from_slice(&std::fs::read(rig.state()).unwrap()).unwrap();
    let mut forged = st.clone();
    forged["mode"] = "OPEN".into();
    std::fs::write(rig.state(), forged.to_string()).unwrap();
    let o = rig.tool("bd-lock").arg("status").output().unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stdout).contains("kernel map says AIRGAP"));
}
