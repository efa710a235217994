//! bd-lock against a local attacker: release tokens bound to one host and
//! one transition, canonical token encodings, quorum release, keygen that
//! never overwrites. Real files and real processes; every refusal has a
//! twin showing the same step succeeds when the token is legitimate.

use bd_tests::bin;
use serde_json::Value;
use std::path::PathBuf;
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
        std::fs::write(e.p("machine-id"), "0123456789abcdef0123456789abcdef\n").unwrap();
        e
    }
    fn keys(&self) -> PathBuf {
        self.dir.path().join("operators.d")
    }
    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn s(&self, name: &str) -> String {
        self.p(name).to_str().unwrap().to_string()
    }
    fn cmd(&self) -> Command {
        let mut c = Command::new(bin("bd-lock"));
        c.arg("--state")
            .arg(self.p("state.json"))
            .arg("--pin-dir")
            .arg(self.p("no-pin"))
            .arg("--operator-keys")
            .arg(self.keys())
            .arg("--operators-config")
            .arg(self.p("operators.toml"))
            .arg("--machine-id")
            .arg(self.p("machine-id"))
            .stdin(Stdio::null());
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }
    /// Success; these tests use no kernel map on purpose (tokens are the
    /// subject), so a tightening may also end in exit 4, "not enforced".
    fn ok(&self, args: &[&str]) {
        let o = self.run(args);
        let unenforced =
            o.status.code() == Some(4) && err(&o).contains("the kernel enforces nothing");
        assert!(
            o.status.success() || unenforced,
            "bd-lock {args:?}: {}",
            err(&o)
        );
    }
    fn refused(&self, args: &[&str], why: &str) {
        let o = self.run(args);
        assert_eq!(o.status.code(), Some(1), "bd-lock {args:?}: {}", err(&o));
        assert!(err(&o).contains(why), "want {why:?}: {}", err(&o));
    }
    fn mode(&self) -> String {
        let o = self.run(&["status", "--json"]);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        v["mode"].as_str().unwrap().to_string()
    }
    /// A key pair; installed as trusted unless `trusted` is false.
    fn operator(&self, name: &str, trusted: bool) -> String {
        self.ok(&["keygen", "-o", &self.s(name)]);
        if trusted {
            std::fs::copy(
                self.p(&format!("{name}.pub")),
                self.keys().join(format!("{name}.pub")),
            )
            .unwrap();
        }
        self.s(name)
    }
    fn token(&self, key: &str, from: &str, to: &str, out: &str, extra: &[&str]) -> String {
        let mut a = vec!["token", "-k", key, "--from", from, "--to", to, "-o"];
        let o = self.s(out);
        a.push(&o);
        a.extend_from_slice(extra);
        self.ok(&a);
        o
    }
    fn release(&self, tok: &str) -> Output {
        self.run(&["release", "--token", tok, "--reason", "test"])
    }
    fn json(&self, name: &str) -> Value {
        serde_json::from_slice(&std::fs::read(self.p(name)).unwrap()).unwrap()
    }
    fn write_json(&self, name: &str, v: &Value) -> String {
        std::fs::write(self.p(name), serde_json::to_string_pretty(v).unwrap()).unwrap();
        self.s(name)
    }
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Issue 15 item 2: the nonce store compared text, the signature bytes, so
/// an upper-cased nonce released a second time.
#[test]
fn upper_case_nonce_does_not_replay() {
    let e = Env::new();
    let alice = e.operator("alice", true);
    e.ok(&["init", "--mode", "LOCKDOWN"]);
    let t = e.token(&alice, "LOCKDOWN", "OPEN", "t", &[]);
    let mut v = e.json("t");
    v["nonce"] = v["nonce"].as_str().unwrap().to_uppercase().into();
    let upper = e.write_json("upper", &v);
    // Not canonical: refused before anything else, so it cannot be used
    // first and the lowercase one after either.
    e.refused(&["release", "--token", &upper], "lowercase hex");
    assert_eq!(e.mode(), "LOCKDOWN");
    // Twin: the token as made releases.
    let o = e.release(&t);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(e.mode(), "OPEN");
}

/// Every other non-canonical spelling of the same signed content.
#[test]
fn non_canonical_tokens_are_refused() {
    let e = Env::new();
    let alice = e.operator("alice", true);
    e.ok(&["init", "--mode", "AIRGAP"]);
    e.token(&alice, "AIRGAP", "OPEN", "t", &[]);
    let base = e.json("t");
    type Mutate = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Mutate)> = vec![
        (
            "lowercase hex",
            Box::new(|v| v["host"] = v["host"].as_str().unwrap().to_uppercase().into()),
        ),
        (
            "canonical encoding",
            Box::new(|v| v["from"] = "airgap".into()),
        ),
        (
            "sigs[0].key: not",
            Box::new(|v| {
                let k = v["sigs"][0]["key"].as_str().unwrap().to_string();
                v["sigs"][0]["key"] = format!(" {k}").into();
            }),
        ),
        ("unknown field", Box::new(|v| v["note"] = "x".into())),
        (
            "expires_at does not spell",
            Box::new(|v| v["expires_at"] = "2099-01-01T00:00:00Z".into()),
        ),
        ("version 1", Box::new(|v| v["v"] = 1.into())),
        (
            "no signatures",
            Box::new(|v| v["sigs"] = Value::Array(vec![])),
        ),
    ];
    for (why, f) in cases {
        let mut v = base.clone();
        f(&mut v);
        let p = e.write_json("bad", &v);
        e.refused(&["release", "--token", &p], why);
        assert_eq!(e.mode(), "AIRGAP", "{why}");
    }
    let o = e.release(&e.s("t"));
    assert!(o.status.success(), "{}", err(&o));
}

/// Issue 14 item 1: release, engage again, delete the nonce store, and the
/// same token released again. The token is bound to the transition seq.
#[test]
fn token_opens_one_transition_even_without_the_nonce_store() {
    let e = Env::new();
    let alice = e.operator("alice", true);
    e.ok(&["init", "--mode", "OPEN"]);
    e.ok(&["engage", "--reason", "drill"]);
    let t = e.token(&alice, "LOCKDOWN", "OPEN", "t", &[]);
    let o = e.release(&t);
    assert!(o.status.success(), "{}", err(&o));
    e.ok(&["engage", "--reason", "again"]);
    std::fs::remove_file(e.p("state.json.nonces")).unwrap();
    e.refused(&["release", "--token", &t], "transition seq");
    assert_eq!(e.mode(), "LOCKDOWN");
    // Twin: a token made for the state's new seq releases.
    let t2 = e.token(&alice, "LOCKDOWN", "OPEN", "t2", &[]);
    let o = e.release(&t2);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(e.mode(), "OPEN");

    // A token for a seq the state has not reached yet is refused too.
    e.ok(&["engage", "--reason", "third"]);
    let ahead = e.token(&alice, "LOCKDOWN", "OPEN", "ahead", &["--seq", "99"]);
    e.refused(&["release", "--token", &ahead], "transition seq 99");
}

/// Issue 14 item 1: a token made for another host is refused here.
#[test]
fn token_is_bound_to_the_host() {
    let e = Env::new();
    let alice = e.operator("alice", true);
    e.ok(&["init", "--mode", "LOCKDOWN"]);
    let other = e.token(
        &alice,
        "LOCKDOWN",
        "OPEN",
        "other",
        &["--host", "ffffffffffffffffffffffffffffffff"],
    );
    e.refused(&["release", "--token", &other], "is for host");
    assert_eq!(e.mode(), "LOCKDOWN");
    // Twin: the same token is accepted on the host it names.
    std::fs::write(e.p("machine-id"), "ffffffffffffffffffffffffffffffff\n").unwrap();
    let o = e.release(&other);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(e.mode(), "OPEN");
}

/// Issue 14 item 2: K distinct trusted keys; too few, duplicated and
/// foreign signatures are refused; alice + bob releases.
#[test]
fn quorum_release_needs_distinct_trusted_keys() {
    let e = Env::new();
    let alice = e.operator("alice", true);
    let bob = e.operator("bob", true);
    let mallory = e.operator("mallory", false);
    std::fs::write(e.p("operators.toml"), "[quorum]\nlockdown-release = 2\n").unwrap();
    e.ok(&["init", "--mode", "LOCKDOWN"]);
    let t = e.token(&alice, "LOCKDOWN", "OPEN", "t", &[]);

    // Too few.
    e.refused(&["release", "--token", &t], "needs signatures from 2");
    // Interactive cannot stand in for a quorum (refused before any terminal check).
    e.refused(
        &["release", "--interactive", "--to", "OPEN"],
        "needs 2 operators",
    );

    // Duplicated: cosign refuses the same key, and a hand-made duplicate is refused.
    e.refused(
        &["cosign", &t, "-k", &alice, "-o", &e.s("dup")],
        "already signed",
    );
    let mut v = e.json("t");
    let s0 = v["sigs"][0].clone();
    v["sigs"].as_array_mut().unwrap().push(s0);
    let dup = e.write_json("dup", &v);
    e.refused(&["release", "--token", &dup], "same key signed twice");

    // Foreign: mallory's valid signature does not count.
    let foreign = e.s("foreign");
    e.ok(&["cosign", &t, "-k", &mallory, "-o", &foreign]);
    e.refused(
        &["release", "--token", &foreign],
        "not a trusted operator key",
    );

    // A cosignature over altered content is refused.
    let mut v = e.json("t");
    v["to"] = "TRUSTED".into();
    let altered = e.write_json("altered", &v);
    e.refused(&["cosign", &altered, "-k", &bob], "altered");
    assert_eq!(e.mode(), "LOCKDOWN");

    // Twin: alice + bob (cosigned in place) releases.
    e.ok(&["cosign", &t, "-k", &bob]);
    assert_eq!(e.json("t")["sigs"].as_array().unwrap().len(), 2);
    let o = e.release(&t);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(e.mode(), "OPEN");

    // Other modes keep a quorum of one.
    e.ok(&["set", "AIRGAP", "--reason", "x"]);
    let a = e.token(&alice, "AIRGAP", "OPEN", "a", &[]);
    let o = e.release(&a);
    assert!(o.status.success(), "{}", err(&o));
}

#[test]
fn bad_operators_config_is_refused() {
    let e = Env::new();
    let alice = e.operator("alice", true);
    e.ok(&["init", "--mode", "LOCKDOWN"]);
    let t = e.token(&alice, "LOCKDOWN", "OPEN", "t", &[]);
    for (text, why) in [
        ("[quorum]\nlockdown-release = 0\n", "need no ceremony"),
        ("[quorum]\nlockdown = 2\n", "unknown key"),
        ("[quorum]\nLOCKDOWN-release = 2\n", "unknown key"),
        ("[quorum\n", "operators.toml"),
    ] {
        std::fs::write(e.p("operators.toml"), text).unwrap();
        let o = e.release(&t);
        assert_eq!(o.status.code(), Some(2), "{text}: {}", err(&o));
        assert!(err(&o).contains(why), "want {why:?}: {}", err(&o));
        assert_eq!(e.mode(), "LOCKDOWN");
    }
    std::fs::remove_file(e.p("operators.toml")).unwrap();
    let o = e.release(&t);
    assert!(o.status.success(), "{}", err(&o));
}

/// Issue 15 item 12: keygen overwrote an existing FILE.pub and followed a
/// symlink there.
#[test]
fn keygen_never_overwrites_or_follows_a_symlink() {
    let e = Env::new();
    let victim = e.p("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    std::os::unix::fs::symlink(&victim, e.p("k.pub")).unwrap();
    let o = e.run(&["keygen", "-o", &e.s("k")]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("k.pub exists"), "{}", err(&o));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(!e.p("k").exists(), "no half-made pair left behind");

    std::fs::write(e.p("j.pub"), "old\n").unwrap();
    let o = e.run(&["keygen", "-o", &e.s("j")]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert_eq!(std::fs::read_to_string(e.p("j.pub")).unwrap(), "old\n");

    // Twin: fresh names work.
    e.ok(&["keygen", "-o", &e.s("fresh")]);
    assert!(e.p("fresh.pub").exists());
}
