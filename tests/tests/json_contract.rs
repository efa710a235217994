//! Issue 11 item 5: every JSON line a tool prints holds to the contract of
//! docs/EVENTS.md (`boundary::json::check_output_line`): strict JSON, `v` and
//! `type` first, one snake_case type per meaning, `time` RFC 3339 UTC. Runs
//! the real binaries; what is not covered yet is listed as open in EVENTS.md.

use bd_tests::bin;
use boundary::json::check_output_line;
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn lines(tool: &str, o: &Output) -> Vec<String> {
    let text = String::from_utf8(o.stdout.clone()).unwrap();
    assert!(!text.is_empty(), "{tool}: no output: {o:?}");
    text.lines().map(str::to_string).collect()
}

fn holds(tool: &str, o: &Output, want_type: &str) {
    for l in lines(tool, o) {
        check_output_line(&l).unwrap_or_else(|e| panic!("{tool}: {e}: {l}"));
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["type"], want_type, "{tool}: {l}");
    }
}

#[test]
fn every_json_line_holds_to_the_contract() {
    let d = tempfile::tempdir().unwrap();
    let lock = |args: &[&str]| {
        Command::new(bin("bd-lock"))
            .arg("--state")
            .arg(d.path().join("state.json"))
            .arg("--pin-dir")
            .arg(d.path().join("no-pin"))
            .arg("--machine-id")
            .arg("/etc/machine-id")
            .args(args)
            .output()
            .unwrap()
    };
    holds("bd-lock init", &lock(&["init", "--mode", "OPEN"]), "mode");
    holds(
        "bd-lock set",
        &lock(&["set", "AIRGAP", "--reason", "t"]),
        "mode",
    );
    holds(
        "bd-lock engage",
        &lock(&["engage", "--reason", "t"]),
        "mode",
    );
    holds(
        "bd-lock status --json",
        &lock(&["status", "--json"]),
        "mode_status",
    );

    // bd-load status: a pin dir with nothing loaded still answers in full.
    let o = Command::new(bin("bd-load"))
        .arg("--pin-dir")
        .arg(format!("/sys/fs/bpf/h15-contract-{}", std::process::id()))
        .args(["status", "--json"])
        .output()
        .unwrap();
    holds("bd-load status --json", &o, "load_status");

    // bd-policy decisions, including a malformed and a duplicate-key line.
    let p = d.path().join("p.toml");
    std::fs::write(&p, "[[rule]]\nname = \"all\"\ndecision = \"allow\"\n").unwrap();
    let mut c = Command::new(bin("bd-policy"))
        .arg("-p")
        .arg(&p)
        .args(["--mode", "OPEN"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(
            b"{\"v\":1,\"type\":\"exec\"}\nnot json\n{\"v\":1,\"type\":\"exec\",\"a\":1,\"a\":2}\n",
        )
        .unwrap();
    let o = c.wait_with_output().unwrap();
    holds("bd-policy", &o, "decision");

    // A release token is printed on one line (it is a file format with
    // expires_at rather than time, so only that part of the contract).
    let key = d.path().join("op.key");
    assert!(lock(&["keygen", "-o", key.to_str().unwrap()])
        .status
        .success());
    let o = lock(&[
        "token",
        "-k",
        key.to_str().unwrap(),
        "--from",
        "LOCKDOWN",
        "--to",
        "OPEN",
    ]);
    assert!(o.status.success(), "{o:?}");
    let l = lines("bd-lock token", &o);
    assert_eq!(l.len(), 1, "token on one line: {l:?}");
    boundary::json::parse(&l[0]).unwrap();

    // bd-log: keygen, append --ack, verify --json (PASS and ERROR), rotate.
    let bl = |args: &[&str], input: Option<&[u8]>| {
        let mut c = Command::new(bin("bd-log"));
        c.args(args).stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut ch = c.spawn().unwrap();
        let mut stdin = ch.stdin.take().unwrap();
        if let Some(i) = input {
            stdin.write_all(i).unwrap();
        }
        drop(stdin);
        ch.wait_with_output().unwrap()
    };
    let lk = d.path().join("log.key");
    let lk = lk.to_str().unwrap();
    let lp = format!("{lk}.pub");
    let log = d.path().join("b.log");
    let log = log.to_str().unwrap();
    holds(
        "bd-log keygen",
        &bl(&["keygen", "--epochs", "4", "-o", lk], None),
        "log_key",
    );
    holds(
        "bd-log append --ack",
        &bl(
            &["append", "--ack", "-l", log, "-k", lk],
            Some(b"{\"a\":1}\n"),
        ),
        "log_ack",
    );
    holds(
        "bd-log verify --json",
        &bl(&["verify", "--json", "-l", log, "-p", &lp], None),
        "log_verify",
    );
    holds(
        "bd-log verify --json (error)",
        &bl(
            &["verify", "--json", "-l", "/nonexistent-h13", "-p", &lp],
            None,
        ),
        "log_verify",
    );
    holds(
        "bd-log rotate",
        &bl(&["rotate", "-l", log, "-k", lk], None),
        "log_rotate",
    );
}
