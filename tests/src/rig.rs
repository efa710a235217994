//! The native rig the mode tests share: a pin dir of their own, a governed
//! cgroup, and two network namespaces joined by a veth whose 10.251.x
//! addresses exist only inside them, so nothing is sent beyond the machine.
//! Everything is torn down on drop, also when the test fails.

use crate::bin;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// Where cgroup v2 is mounted.
pub fn cgroup2_root() -> PathBuf {
    let mounts = std::fs::read_to_string("/proc/mounts").expect("read /proc/mounts");
    for l in mounts.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() > 2 && f[2] == "cgroup2" {
            return PathBuf::from(f[1]);
        }
    }
    panic!("no cgroup2 mount in /proc/mounts");
}

/// Run a set-up command that must succeed.
pub fn sh(cmd: &str, args: &[&str]) -> Output {
    let o = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        o.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// stdout then stderr, as text.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Poll `f` every 50 ms until it holds; fail after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Spawn bd-watch (stderr must be piped) and return once it said `ready`;
/// its stderr is drained from then on so it never blocks on it.
pub fn spawn_ready_watch(mut cmd: Command) -> Child {
    let mut watch = cmd.spawn().expect("spawn bd-watch");
    let mut werr = BufReader::new(watch.stderr.take().expect("bd-watch stderr piped"));
    let mut l = String::new();
    loop {
        l.clear();
        assert!(
            werr.read_line(&mut l).unwrap_or(0) > 0,
            "bd-watch exited before ready"
        );
        if l.contains("ready") {
            break;
        }
    }
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = werr.read_to_string(&mut s);
    });
    watch
}

/// A pin dir loaded with `bd-load load --cgroup` on a fresh cgroup, and a
/// client and a server network namespace joined by a veth
/// (10.251.`subnet`.1 and .2).
pub struct NetRig {
    pub dir: tempfile::TempDir,
    pub pin: PathBuf,
    pub cgroup: PathBuf,
    pub ns_client: String,
    pub ns_server: String,
    pub server_ip: String,
    /// What bd-load printed, for the test's own checks of what it attached.
    pub load_out: String,
}

impl NetRig {
    /// `tag` names everything (with the test's pid); `subnet` must differ
    /// between tests that can run at the same time.
    pub fn new(tag: &str, subnet: u8) -> NetRig {
        let tag = format!("bd-test-{tag}-{}", std::process::id());
        let cgroup = cgroup2_root().join(&tag);
        std::fs::create_dir(&cgroup).expect("create the test cgroup");
        let mut r = NetRig {
            dir: tempfile::tempdir().expect("tempdir"),
            pin: PathBuf::from(format!("/sys/fs/bpf/{tag}")),
            cgroup,
            ns_client: format!("{tag}-c"),
            ns_server: format!("{tag}-s"),
            server_ip: format!("10.251.{subnet}.2"),
            load_out: String::new(),
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
            .expect("run bd-load");
        r.load_out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success() && r.load_out.contains("mode_connect4"),
            "bd-load did not attach mode_enforce: {}",
            text(&o)
        );
        r
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state.json")
    }

    /// One of the tools, pointed at this rig's pins and state file.
    pub fn tool(&self, name: &str) -> Command {
        let mut c = Command::new(bin(name));
        c.env("BD_PIN_DIR", &self.pin).env("BD_STATE", self.state());
        c
    }

    pub fn client_ip(&self) -> String {
        let (net, _) = self.server_ip.rsplit_once('.').expect("dotted quad");
        format!("{net}.1")
    }

    /// From a process that joins the governed cgroup, enters `netns` (if
    /// given) and execs `shell` (a bash binary): connect() to ip:port.
    /// Returns bash's error text, or "connected".
    pub fn connect_with(&self, shell: &str, netns: Option<&str>, ip: &str, port: u16) -> String {
        let script = format!(
            "echo $$ > {}/cgroup.procs && exec {} {shell} -c 'exec 3<>/dev/tcp/{ip}/{port} && echo connected'",
            self.cgroup.display(),
            netns.map_or(String::new(), |n| format!("ip netns exec {n}"))
        );
        let o = Command::new("bash")
            .args(["-c", &script])
            .output()
            .expect("run bash");
        text(&o)
    }
}

impl Drop for NetRig {
    fn drop(&mut self) {
        crate::remove_pins(&self.pin);
        for ns in [&self.ns_client, &self.ns_server] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        // Processes that joined the cgroup have exited; it is empty.
        let _ = std::fs::remove_dir(&self.cgroup);
    }
}

/// Each JSON line of `r` (a child's stdout), parsed, from a reader thread;
/// lines that are not JSON are skipped.
pub fn json_lines<R: std::io::Read + Send + 'static>(
    r: R,
) -> std::sync::mpsc::Receiver<serde_json::Value> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&line) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        }
    });
    rx
}

/// bd-watch on `pin` for `types`, ready, with its events as parsed JSON.
pub fn watch_json(
    pin: &std::path::Path,
    types: &str,
) -> (Child, std::sync::mpsc::Receiver<serde_json::Value>) {
    let mut cmd = Command::new(bin("bd-watch"));
    cmd.env("BD_PIN_DIR", pin)
        .args(["--type", types])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut c = spawn_ready_watch(cmd);
    let rx = json_lines(c.stdout.take().expect("bd-watch stdout piped"));
    (c, rx)
}
