//! bd-lock: transitions, the release ceremony and fail-closed state, with
//! real files and real processes (no kernel map: see pipeline.rs for that).

use bd_tests::bin;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let e = Env {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir(e.keys()).unwrap();
        e
    }
    fn state(&self) -> PathBuf {
        self.dir.path().join("state.json")
    }
    fn keys(&self) -> PathBuf {
        self.dir.path().join("operators.d")
    }
    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn cmd(&self) -> Command {
        let mut c = Command::new(bin("bd-lock"));
        c.arg("--state")
            .arg(self.state())
            .arg("--pin-dir")
            .arg(self.dir.path().join("no-pin"))
            .arg("--operator-keys")
            .arg(self.keys())
            .stdin(Stdio::null());
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }
    /// Runs a command that must succeed. These tests have no kernel map, so
    /// set/engage/status succeed with NOT_ENFORCED (4) and a warning.
    fn ok(&self, args: &[&str]) -> Vec<Value> {
        let o = self.run(args);
        let code = o.status.code();
        assert!(
            code == Some(0) || (code == Some(NOT_ENFORCED) && err(&o).contains("WARNING")),
            "bd-lock {args:?}: {code:?} {}",
            err(&o)
        );
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
    fn mode(&self) -> (String, i32) {
        let o = self.run(&["status", "--json"]);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        (
            v["mode"].as_str().unwrap().to_string(),
            o.status.code().unwrap(),
        )
    }
    /// An operator key installed as trusted; returns the secret key path.
    fn operator(&self, name: &str) -> PathBuf {
        let k = self.p(name);
        let o = self.run(&["keygen", "-o", k.to_str().unwrap()]);
        assert!(o.status.success(), "{}", err(&o));
        std::fs::copy(
            self.p(&format!("{name}.pub")),
            self.keys().join(format!("{name}.pub")),
        )
        .unwrap();
        k
    }
    fn token(&self, key: &Path, from: &str, to: &str, expires: &str, out: &str) -> PathBuf {
        let t = self.p(out);
        let o = self.run(&[
            "token",
            "-k",
            key.to_str().unwrap(),
            "--from",
            from,
            "--to",
            to,
            "--expires",
            expires,
            "-o",
            t.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", err(&o));
        t
    }
}

/// bd-lock's exit status when the kernel does not enforce the mode.
const NOT_ENFORCED: i32 = 4;

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn tightening_is_immediate_and_loosening_is_refused() {
    let e = Env::new();
    let ev = e.ok(&["init", "--mode", "OPEN"]);
    assert_eq!(ev[0]["via"], "init");
    let ev = e.ok(&["set", "TRUSTED", "--reason", "deploy freeze"]);
    assert_eq!(ev.len(), 1);
    let m = &ev[0];
    assert_eq!(
        (m["v"].as_u64(), m["type"].as_str()),
        (Some(1), Some("mode"))
    );
    assert_eq!(
        (m["from"].as_str(), m["to"].as_str()),
        (Some("OPEN"), Some("TRUSTED"))
    );
    assert_eq!(m["reason"], "deploy freeze");
    assert_eq!(m["via"], "set");
    assert_eq!(m["uid"], 0);
    assert!(m["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(e.mode(), ("TRUSTED".into(), NOT_ENFORCED));

    let o = e.run(&["set", "OPEN", "--reason", "please"]);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(err(&o).contains("loosens"), "{}", err(&o));
    assert!(o.stdout.is_empty());
    assert_eq!(e.mode().0, "TRUSTED");

    let ev = e.ok(&["engage", "--reason", "incident 42"]);
    assert_eq!(
        (ev[0]["to"].as_str(), ev[0]["via"].as_str()),
        (Some("LOCKDOWN"), Some("engage"))
    );
    // init never overwrites an existing state.
    assert_eq!(e.run(&["init"]).status.code(), Some(1));
    assert_eq!(e.mode().0, "LOCKDOWN");
}

#[test]
fn release_token_valid_once() {
    let e = Env::new();
    let k = e.operator("alice");
    e.ok(&["init", "--mode", "OPEN"]);
    e.ok(&["engage", "--reason", "drill"]);
    let t = e.token(&k, "LOCKDOWN", "RESTRICTED", "10m", "t1");
    let ev = e.ok(&[
        "release",
        "--token",
        t.to_str().unwrap(),
        "--reason",
        "drill over",
    ]);
    assert_eq!(
        (
            ev[0]["from"].as_str(),
            ev[0]["to"].as_str(),
            ev[0]["via"].as_str()
        ),
        (Some("LOCKDOWN"), Some("RESTRICTED"), Some("release-token"))
    );
    assert_eq!(e.mode().0, "RESTRICTED");

    // Replayed: same token after tightening again.
    e.ok(&["engage", "--reason", "again"]);
    let o = e.run(&["release", "--token", t.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    // Refused by the seq binding first; the nonce store is the second line.
    assert!(err(&o).contains("transition seq"), "{}", err(&o));
    assert_eq!(e.mode().0, "LOCKDOWN");
}

#[test]
fn bad_tokens_are_refused() {
    let e = Env::new();
    let alice = e.operator("alice");
    // mallory has a key pair, but it is not installed as trusted.
    let mallory = e.p("mallory");
    assert!(e
        .run(&["keygen", "-o", mallory.to_str().unwrap()])
        .status
        .success());
    e.ok(&["init", "--mode", "AIRGAP"]);

    let refused = |t: &Path, why: &str| {
        let o = e.run(&["release", "--token", t.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{why}: {}", err(&o));
        assert!(err(&o).contains(why), "want {why:?}: {}", err(&o));
        assert_eq!(e.mode().0, "AIRGAP");
    };

    let wrong_key = e.token(&mallory, "AIRGAP", "OPEN", "10m", "wrong-key");
    refused(&wrong_key, "not a trusted operator key");

    let expired = e.token(&alice, "AIRGAP", "OPEN", "1s", "expired");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    refused(&expired, "expired");

    let good = e.token(&alice, "AIRGAP", "OPEN", "10m", "good");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&good).unwrap()).unwrap();
    v["to"] = "OPEN".into();
    v["from"] = "COLDROOM".into();
    let tampered = e.p("tampered");
    std::fs::write(&tampered, v.to_string()).unwrap();
    refused(&tampered, "does not verify");

    let mut v: Value = serde_json::from_slice(&std::fs::read(&good).unwrap()).unwrap();
    v["expires"] = (v["expires"].as_u64().unwrap() + 86400).into();
    std::fs::write(&tampered, v.to_string()).unwrap();
    refused(&tampered, "does not verify");

    std::fs::write(&tampered, "{ not a token").unwrap();
    refused(&tampered, "not a release token");

    let other = e.token(&alice, "LOCKDOWN", "OPEN", "10m", "other-from");
    refused(&other, "releases LOCKDOWN -> OPEN");

    // The good one still works: refusals did not consume it.
    e.ok(&["release", "--token", good.to_str().unwrap()]);
    assert_eq!(e.mode().0, "OPEN");
}

#[test]
fn interactive_release_needs_a_terminal() {
    let e = Env::new();
    e.ok(&["init", "--mode", "LOCKDOWN"]);
    let o = e.run(&["release", "--interactive", "--to", "OPEN"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("terminal"), "{}", err(&o));
    let o = e.run(&["release", "--to", "OPEN"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(e.mode().0, "LOCKDOWN");
}

#[test]
fn unreadable_unknown_or_missing_state_reads_as_lockdown() {
    let e = Env::new();
    let (m, code) = e.mode();
    assert_eq!((m.as_str(), code), ("LOCKDOWN", 3), "no state file");
    e.ok(&["init", "--mode", "OPEN"]);
    assert_eq!(e.mode(), ("OPEN".into(), NOT_ENFORCED));

    let good = std::fs::read_to_string(e.state()).unwrap();
    std::fs::write(e.state(), &good[..good.len() / 2]).unwrap();
    let o = e.run(&["status"]);
    assert_eq!(o.status.code(), Some(3));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("mode: LOCKDOWN") && text.contains("FAULT"),
        "{text}"
    );

    std::fs::write(e.state(), good.replace("\"OPEN\"", "\"PARTY\"")).unwrap();
    assert_eq!(e.mode(), ("LOCKDOWN".into(), 3), "unknown mode");

    std::fs::remove_file(e.state()).unwrap();
    assert_eq!(e.mode(), ("LOCKDOWN".into(), 3), "deleted");
    // While faulted, anything looser than LOCKDOWN is a loosening.
    assert_eq!(
        e.run(&["set", "AIRGAP", "--reason", "x"]).status.code(),
        Some(1)
    );
    // Engaging repairs the state to a consistent LOCKDOWN.
    let ev = e.ok(&["engage", "--reason", "repair"]);
    assert_eq!(ev[0]["from"], "LOCKDOWN");
    assert_eq!(e.mode(), ("LOCKDOWN".into(), NOT_ENFORCED));
}

#[test]
fn state_writes_are_atomic_files() {
    let e = Env::new();
    e.ok(&["init", "--mode", "OPEN"]);
    for m in ["RESTRICTED", "TRUSTED", "AIRGAP"] {
        e.ok(&["set", m, "--reason", "step"]);
    }
    let v: Value = serde_json::from_slice(&std::fs::read(e.state()).unwrap()).unwrap();
    assert_eq!(
        (v["mode"].as_str(), v["seq"].as_u64()),
        (Some("AIRGAP"), Some(4))
    );
    let leftovers: Vec<_> = std::fs::read_dir(e.dir.path())
        .unwrap()
        .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn on_tripwire_engages_the_named_mode_once() {
    let e = Env::new();
    e.ok(&["init", "--mode", "OPEN"]);
    let input = [
        r#"{"v":1,"type":"decision","decision":"allow","rule":"d","reason":"","mode":"OPEN","tripwire":null,"event":{}}"#,
        "garbage",
        r#"{"v":1,"type":"decision","decision":"tripwire","rule":"web-shell","reason":"shell","mode":"OPEN","tripwire":"AIRGAP","event":{}}"#,
        r#"{"v":1,"type":"decision","decision":"tripwire","rule":"again","reason":"x","mode":"AIRGAP","tripwire":"AIRGAP","event":{}}"#,
        r#"{"v":1,"type":"decision","decision":"tripwire","rule":"worse","reason":"y","mode":"AIRGAP","tripwire":null,"event":{}}"#,
    ]
    .join("\n")
        + "\n";
    let mut c = e.cmd();
    c.args(["on-tripwire", "--tee"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let lines: Vec<&str> = std::str::from_utf8(&o.stdout).unwrap().lines().collect();
    let modes: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "mode")
        .collect();
    assert_eq!(modes.len(), 2, "{lines:?}");
    assert_eq!(
        (modes[0]["to"].as_str(), modes[0]["via"].as_str()),
        (Some("AIRGAP"), Some("tripwire"))
    );
    assert!(modes[0]["reason"].as_str().unwrap().contains("web-shell"));
    assert_eq!(
        modes[1]["to"], "LOCKDOWN",
        "a tripwire without a mode means LOCKDOWN"
    );
    // --tee passes every input line through, in order.
    assert_eq!(lines.len(), 5 + 2);
    assert_eq!(lines[1], "garbage");
    assert_eq!(e.mode().0, "LOCKDOWN");
}

#[test]
fn on_tripwire_is_also_a_flag() {
    let e = Env::new();
    e.ok(&["init", "--mode", "OPEN"]);
    let mut c = e.cmd();
    c.arg("--on-tripwire")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"v":1,"type":"decision","decision":"tripwire","rule":"r","reason":"x","mode":"OPEN","tripwire":null,"event":{}}
"#)
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(e.mode().0, "LOCKDOWN");
}

/// Issue 9 item 11: with no kernel map nothing is enforced, and set, engage
/// and status say so on stderr with their own exit status, not 0.
#[test]
fn set_engage_status_say_when_nothing_is_enforced() {
    let e = Env::new();
    e.ok(&["init", "--mode", "OPEN"]);
    for args in [
        &["set", "AIRGAP", "--reason", "x"][..],
        &["engage", "--reason", "y"][..],
        &["status"][..],
        &["status", "--json"][..],
    ] {
        let o = e.run(args);
        assert_eq!(o.status.code(), Some(NOT_ENFORCED), "{args:?}: {}", err(&o));
        let w = err(&o);
        assert!(
            w.contains("WARNING") && w.contains("no kernel map") && w.contains("no-pin"),
            "{args:?}: {w}"
        );
    }
    // The transitions still happened (tightening never waits for the kernel).
    assert_eq!(e.mode().0, "LOCKDOWN");
}
