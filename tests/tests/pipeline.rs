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
use bd_tests::rig::{wait_for, NetRig};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The shared rig, plus what these tests do with it.
struct Rig(NetRig);

impl std::ops::Deref for Rig {
    type Target = NetRig;
    fn deref(&self) -> &NetRig {
        &self.0
    }
}

impl Rig {
    fn new(tag: &str, subnet: u8) -> Rig {
        let r = Rig(NetRig::new(tag, subnet));
        assert!(
            r.pin.join("maps/bd_mode").exists(),
            "bd-load did not pin bd_mode: {}",
            r.load_out
        );
        r
    }

    /// A bd-lock command that must succeed. The host refuses BPF-LSM, so
    /// COLDROOM and LOCKDOWN are only partly enforced here: set, engage and
    /// status then exit NOT_ENFORCED (4) with a warning naming the LSM hooks.
    fn lock(&self, args: &[&str]) -> Output {
        let o = self.tool("bd-lock").args(args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.success()
                || (o.status.code() == Some(NOT_ENFORCED)
                    && err.contains("WARNING")
                    && !err.contains("mode_connect4")),
            "bd-lock {args:?}: {:?} {err}",
            o.status.code()
        );
        o
    }

    /// python3 running `py` (argv[1..] = `args`) in the governed cgroup,
    /// inside `netns`.
    fn governed_py(&self, netns: &str, py: &str, args: &[&str]) -> Command {
        let script = format!(
            "echo $$ > {}/cgroup.procs && exec ip netns exec {netns} /usr/bin/python3 -c \"$0\" \"$@\"",
            self.cgroup.display()
        );
        let mut c = Command::new("bash");
        c.args(["-c", &script, py]).args(args);
        c
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
        self.connect_with("bash", netns, ip, port)
    }
}

/// bd-lock's exit status when the kernel does not enforce the mode.
const NOT_ENFORCED: i32 = 4;

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
    // A plain heartbeat after expiry is a loosening: refused (issue 9 item
    // 10; renewing_an_expired_dead_man_switch_needs_a_ceremony does it by token).
    let o = rig.tool("bd-lock").arg("heartbeat").output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let still = rig.connect(Some(&rig.ns_client), &rig.server_ip, 9);
    assert!(still.contains("Operation not permitted"), "{still}");
    let _ = Path::new("");
}

#[test]
fn tightening_reaches_the_kernel_and_loosening_needs_a_token() {
    let rig = Rig::new("lockmap", 33);
    rig.lock(&["init", "--mode", "TRUSTED"]);
    let ok = rig.connect(Some(&rig.ns_client), &rig.server_ip, 9);
    assert!(ok.contains("Connection refused"), "TRUSTED: {ok}");
    rig.lock(&["engage", "--reason", "test"]);
    let dead = rig.connect(Some(&rig.ns_client), &rig.server_ip, 9);
    assert!(dead.contains("Operation not permitted"), "LOCKDOWN: {dead}");

    // The kernel counts that denial by hook (issue 14 item 6): in status and
    // in the metrics, and the by-hook counts add up to the total.
    let o = rig
        .tool("bd-load")
        .args(["status", "--json"])
        .output()
        .unwrap();
    let st: Value = serde_json::from_slice(&o.stdout).unwrap();
    let by = st["counters"]["denied_by_hook"].as_object().unwrap();
    assert!(by["connect4"].as_u64().unwrap() >= 1, "{st}");
    let sum: u64 = by.values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(sum, st["counters"]["denied"].as_u64().unwrap(), "{st}");
    let o = rig
        .tool("bd-load")
        .args(["status", "--prometheus"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("boundary_denied_by_hook_total{hook=\"connect4\"} "))
        .unwrap_or_else(|| panic!("no connect4 denials in the metrics:\n{text}"));
    assert!(line.rsplit(' ').next().unwrap().parse::<u64>().unwrap() >= 1);

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

    // A map and file that disagree read as LOCKDOWN in userland.
    let st: Value = serde_json::from_slice(&std::fs::read(rig.state()).unwrap()).unwrap();
    let mut forged = st.clone();
    forged["mode"] = "OPEN".into();
    std::fs::write(rig.state(), forged.to_string()).unwrap();
    let o = rig.tool("bd-lock").arg("status").output().unwrap();
    assert_eq!(o.status.code(), Some(7), "fault");
    assert!(String::from_utf8_lossy(&o.stdout).contains("kernel map says RESTRICTED"));
}

const PY_RAW: &str = r#"
import socket, errno, struct, sys
dst = sys.argv[1]
def echo():
    w = struct.unpack('!4H', struct.pack('!BBHHH', 8, 0, 0, 0x4244, 1))
    c = sum(w); c = (c >> 16) + (c & 0xffff); c += c >> 16
    return struct.pack('!BBHHH', 8, 0, ~c & 0xffff, 0x4244, 1)
def ping(s):
    s.settimeout(1.5)
    s.sendto(echo(), (dst, 0))
    while True:
        d, a = s.recvfrom(2048)
        if a[0] == dst and d[20] == 0:
            return "reached"
def attempt(name, f):
    try:
        r = f()
    except socket.timeout:
        r = "timeout"
    except OSError as e:
        r = errno.errorcode.get(e.errno, str(e.errno))
    print(name, r, flush=True)
def hdrincl():
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    return "created"
if sys.argv[2] == "create":
    attempt("raw_udp", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP) and "created")
    attempt("raw_icmp_hdrincl", hdrincl)
    attempt("packet_raw", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)) and "created")
    attempt("packet_dgram", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x800)) and "created")
    attempt("raw_icmp_echo", lambda: ping(socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)))
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    print("ready", flush=True)
    sys.stdin.readline()
    attempt("preopened_echo", lambda: ping(s))
"#;

fn lines_of(o: &Output) -> std::collections::BTreeMap<String, String> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Issue 9 item 6: raw and packet sockets in the governed cgroup reach the
/// peer in OPEN; in AIRGAP they cannot be created, and one opened before
/// AIRGAP no longer reaches the peer.
#[test]
fn airgap_refuses_raw_and_packet_sockets() {
    let rig = Rig::new("raw", 34);
    rig.lock(&["init", "--mode", "OPEN"]);
    let ns = rig.ns_client.clone();
    let o = rig
        .governed_py(&ns, PY_RAW, &[&rig.server_ip, "create"])
        .output()
        .unwrap();
    let r = lines_of(&o);
    for k in ["raw_udp", "raw_icmp_hdrincl", "packet_raw", "packet_dgram"] {
        assert_eq!(
            r.get(k).map(String::as_str),
            Some("created"),
            "OPEN {k}: {r:?} {o:?}"
        );
    }
    assert_eq!(
        r["raw_icmp_echo"], "reached",
        "OPEN: the raw socket reaches the peer"
    );

    let mut pre = rig
        .governed_py(&ns, PY_RAW, &[&rig.server_ip, "pre"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pre_out = BufReader::new(pre.stdout.take().unwrap());
    let mut l = String::new();
    pre_out.read_line(&mut l).unwrap();
    assert_eq!(l.trim(), "ready");

    let o = rig.lock(&["set", "AIRGAP", "--reason", "raw test"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "AIRGAP is fully enforced natively"
    );
    let o = rig
        .governed_py(&ns, PY_RAW, &[&rig.server_ip, "create"])
        .output()
        .unwrap();
    let r = lines_of(&o);
    // AF_PACKET sockets never reach cgroup/sock_create (the kernel runs it
    // from inet_create/inet6_create only): still open natively, see SECURITY.md.
    for k in ["raw_udp", "raw_icmp_hdrincl", "raw_icmp_echo"] {
        assert_eq!(
            r.get(k).map(String::as_str),
            Some("EPERM"),
            "AIRGAP {k}: {r:?}"
        );
    }
    use std::io::Write;
    pre.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    l.clear();
    pre_out.read_line(&mut l).unwrap();
    assert_eq!(
        l.trim(),
        "preopened_echo EPERM",
        "a raw socket opened before AIRGAP"
    );
    let _ = pre.wait();
    // Loopback still works in AIRGAP.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let lo = rig.connect(None, "127.0.0.1", listener.local_addr().unwrap().port());
    assert!(lo.contains("connected"), "loopback under AIRGAP: {lo}");
}

const PY_SERVE: &str = r#"
import socket, errno, os, sys
os.setgid(65534); os.setuid(65534)
def b(addr):
    s = socket.socket()
    try:
        s.bind((addr, 0))
        return "bound"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
if sys.argv[1] == "bind":
    for a in ["0.0.0.0", sys.argv[2], "127.0.0.1"]:
        print(a, b(a), flush=True)
    l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen()
    c = socket.create_connection(l.getsockname(), timeout=2)
    a, _ = l.accept(); a.sendall(b"hi")
    print("loopback", c.recv(2).decode(), flush=True)
else:
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("0.0.0.0", int(sys.argv[2]))); l.listen()
    print("ready", os.getuid(), flush=True)
    while True:
        a, _ = l.accept()
        try:
            a.sendall(b"hi")
        except OSError:
            pass
        a.close()
"#;

/// Issue 9 item 7: a governed listener (uid 65534) serves the peer in OPEN;
/// in AIRGAP the peer's connection no longer gets through, and new binds
/// beyond loopback are refused, while loopback keeps working.
#[test]
fn airgap_refuses_inbound() {
    let rig = Rig::new("inbound", 35);
    rig.lock(&["init", "--mode", "OPEN"]);
    let ns = rig.ns_client.clone();
    let port = "7709";
    let mut srv = rig
        .governed_py(&ns, PY_SERVE, &["listen", port])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(srv.stdout.take().unwrap());
    let mut l = String::new();
    out.read_line(&mut l).unwrap();
    assert_eq!(l.trim(), "ready 65534");
    let peer = |rig: &Rig| -> String {
        let py = format!(
            "import socket\ntry:\n  c = socket.create_connection(('{}', {port}), timeout=2)\n  print(c.recv(2).decode())\nexcept Exception as e:\n  print(type(e).__name__)",
            rig.client_ip()
        );
        let o = Command::new("ip")
            .args([
                "netns",
                "exec",
                &rig.ns_server,
                "/usr/bin/python3",
                "-c",
                &py,
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let open = peer(&rig);
    rig.lock(&["set", "AIRGAP", "--reason", "inbound test"]);
    let got = peer(&rig);
    // Stop the listener before asserting, so a failure never leaks it.
    let _ = srv.kill();
    let _ = srv.wait();
    assert_eq!(open, "hi", "OPEN: the peer reaches the governed listener");
    assert!(
        got == "timeout" || got == "TimeoutError",
        "AIRGAP: peer got {got:?}"
    );

    let o = rig
        .governed_py(&ns, PY_SERVE, &["bind", &rig.client_ip()])
        .output()
        .unwrap();
    let r = lines_of(&o);
    assert_eq!(
        r.get("0.0.0.0").map(String::as_str),
        Some("EPERM"),
        "{r:?} {o:?}"
    );
    assert_eq!(
        r.get(&rig.client_ip()).map(String::as_str),
        Some("EPERM"),
        "{r:?}"
    );
    assert_eq!(
        r.get("127.0.0.1").map(String::as_str),
        Some("bound"),
        "{r:?}"
    );
    assert_eq!(r.get("loopback").map(String::as_str), Some("hi"), "{r:?}");
    let _ = srv.kill();
    let _ = srv.wait();
}

/// Issue 9 item 10: once the dead-man deadline passed, neither a heartbeat
/// nor re-arming brings the looser mode back without a ceremony; with a
/// token it does, and says so in a mode event from LOCKDOWN. The renewal is
/// a transition: seq moves, so the token cannot open a later expiry, even
/// with the nonce store deleted.
#[test]
fn renewing_an_expired_dead_man_switch_needs_a_ceremony() {
    let rig = Rig::new("expired", 36);
    rig.lock(&["init", "--mode", "OPEN"]);
    rig.lock(&["arm", "--heartbeat", "1s"]);
    std::thread::sleep(Duration::from_millis(1300));
    for args in [&["heartbeat"][..], &["arm", "--heartbeat", "30s"][..]] {
        let o = rig.tool("bd-lock").args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}: {o:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("ceremony"),
            "{o:?}"
        );
        assert!(o.stdout.is_empty(), "no mode event for a refusal");
        let dead = rig.connect(Some(&rig.ns_client), &rig.server_ip, 9);
        assert!(
            dead.contains("Operation not permitted"),
            "still LOCKDOWN: {dead}"
        );
    }
    let keys = rig.dir.path().join("ops");
    std::fs::create_dir(&keys).unwrap();
    let key = rig.dir.path().join("op");
    assert!(rig
        .tool("bd-lock")
        .arg("keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .unwrap()
        .status
        .success());
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
    assert!(o.status.success(), "{o:?}");
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
        "renewed by ceremony: {back}"
    );
    // The renewal moved seq: once the switch expires again, the same token
    // opens nothing, even with the nonce store gone (root can delete it).
    std::thread::sleep(Duration::from_millis(1300));
    std::fs::remove_file(rig.dir.path().join("state.json.nonces")).unwrap();
    for args in [&["heartbeat"][..], &["disarm"][..]] {
        let o = rig
            .tool("bd-lock")
            .env("BD_OPERATOR_KEYS", &keys)
            .args(args)
            .arg("--token")
            .arg(&tok)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?} replayed: {o:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("seq"),
            "{args:?}: {o:?}"
        );
    }
    let dead = rig.connect(Some(&rig.ns_client), &rig.server_ip, 9);
    assert!(
        dead.contains("Operation not permitted"),
        "still LOCKDOWN: {dead}"
    );
    // A fresh token for the new seq disarms it, and seq moves again.
    let tok2 = rig.dir.path().join("tok2");
    let o = rig
        .tool("bd-lock")
        .args(["token", "--from", "LOCKDOWN", "--to", "OPEN", "-k"])
        .arg(&key)
        .arg("-o")
        .arg(&tok2)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let o = rig
        .tool("bd-lock")
        .env("BD_OPERATOR_KEYS", &keys)
        .arg("disarm")
        .arg("--token")
        .arg(&tok2)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let back = rig.connect(Some(&rig.ns_client), &rig.server_ip, 9);
    assert!(back.contains("Connection refused"), "disarmed: {back}");
}

/// Issue 9 item 11: set/engage/status exit NOT_ENFORCED when the programs a
/// mode needs are not attached (here: no --cgroup, so no AIRGAP programs),
/// and 0 when they are.
#[test]
fn set_warns_when_the_mode_programs_are_not_attached() {
    let rig = Rig::new("enforced", 37);
    rig.lock(&["init", "--mode", "OPEN"]);
    let o = rig
        .tool("bd-lock")
        .args(["set", "AIRGAP", "--reason", "x"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let o = rig.tool("bd-lock").args(["status"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    // On the host BPF-LSM is refused: LOCKDOWN's exec hook is missing.
    let o = rig
        .tool("bd-lock")
        .args(["engage", "--reason", "y"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(NOT_ENFORCED), "{err}");
    assert!(
        err.contains("WARNING") && err.contains("mode_exec"),
        "{err}"
    );
    let o = rig.tool("bd-lock").args(["status"]).output().unwrap();
    assert_eq!(o.status.code(), Some(NOT_ENFORCED), "{o:?}");

    // A second load without --cgroup: the AIRGAP programs are not attached.
    let pin2 = PathBuf::from(format!("{}-nocg", rig.pin.display()));
    let o = Command::new(bin("bd-load"))
        .env("BD_PIN_DIR", &pin2)
        .arg("load")
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let st2 = rig.dir.path().join("state2.json");
    let lock2 = |args: &[&str]| {
        Command::new(bin("bd-lock"))
            .env("BD_PIN_DIR", &pin2)
            .env("BD_STATE", &st2)
            .args(args)
            .output()
            .unwrap()
    };
    assert!(lock2(&["init", "--mode", "OPEN"]).status.success());
    let o = lock2(&["set", "AIRGAP", "--reason", "z"]);
    bd_tests::remove_pins(&pin2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(NOT_ENFORCED), "{err}");
    assert!(err.contains("mode_connect4"), "{err}");
}
