//! bd-policy test (expected decisions, coverage), sign / --require-signed
//! (and a change on disk while running), and tighten-only overlays, through
//! the real binaries and real files.

use bd_tests::bin;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn policy(args: &[&str], dir: &Path, stdin: &str) -> Output {
    let mut c = Command::new(bin("bd-policy"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A refused policy exits before reading: a broken pipe is expected then.
    let _ = c.stdin.take().unwrap().write_all(stdin.as_bytes());
    c.wait_with_output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const POLICY: &str = r#"
[lists]
web = ["nginx", "php-fpm"]
shells = ["sh", "bash", "dash"]

[macros.web_shell]
comm = { in = "shells" }
ancestors.comm = { in = "web" }

[[rule]]
name = "web-shell"
macros = ["web_shell"]
tripwire = "LOCKDOWN"
[rule.match]
type = "exec"

[[rule]]
name = "tmp-exec"
decision = "deny"
modes = ["RESTRICTED", "TRUSTED"]
[rule.match]
type = "exec"
filename = { glob = "/tmp/**" }

[[rule]]
name = "default"
decision = "allow"
"#;

#[test]
fn test_subcommand_checks_decisions_and_reports_coverage() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "p.toml", POLICY);
    let good = r#"
# comments and blank lines are skipped

{"event":{"v":1,"type":"exec","comm":"sh","ancestors":[{"pid":5,"comm":"nginx"}]},"expect":"tripwire","rule":"web-shell"}
{"event":{"v":1,"type":"exec","comm":"ls","filename":"/tmp/x"},"mode":"TRUSTED","expect":"deny","rule":"tmp-exec"}
{"event":{"v":1,"type":"exec","comm":"ls","filename":"/tmp/x"},"mode":"OPEN","expect":"allow","rule":"default"}
{"line":"not json","expect":"deny","rule":null}
"#;
    write(d.path(), "good.jsonl", good);
    let o = policy(&["test", "p.toml", "good.jsonl"], d.path(), "");
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("every rule was hit"), "{out}");
    assert!(
        out.contains("4 cases: 4 passed, 0 failed; 3 of 3 rules hit"),
        "{out}"
    );

    // A wrong expectation: exit 1, the line named; an uncovered rule listed.
    let bad = r#"{"event":{"v":1,"type":"exec","comm":"sh","ancestors":[{"comm":"cron"}]},"expect":"tripwire","name":"cron shell"}
{"event":{"v":1,"type":"exec","comm":"ls"},"expect":"allow"}
"#;
    write(d.path(), "bad.jsonl", bad);
    let o = policy(&["test", "p.toml", "bad.jsonl"], d.path(), "");
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("bad.jsonl: line 1 (cron shell): FAIL: expected tripwire, got allow by rule \"default\""),
        "{out}"
    );
    assert!(
        out.contains("rules never hit: \"web-shell\", \"tmp-exec\""),
        "{out}"
    );

    // Coverage alone passes, unless --require-coverage.
    let partial = r#"{"event":{"v":1,"type":"exec","comm":"ls"},"expect":"allow"}"#;
    write(d.path(), "partial.jsonl", partial);
    let o = policy(&["test", "p.toml", "partial.jsonl"], d.path(), "");
    assert_eq!(o.status.code(), Some(0));
    let o = policy(
        &["test", "p.toml", "partial.jsonl", "--require-coverage"],
        d.path(),
        "",
    );
    assert_eq!(o.status.code(), Some(1));

    // A malformed case line: named by file, line and field; exit 2.
    write(
        d.path(),
        "broken.jsonl",
        "{\"event\":{\"v\":1,\"type\":\"exec\"},\"expect\":\"maybe\"}\n",
    );
    let o = policy(&["test", "p.toml", "broken.jsonl"], d.path(), "");
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.contains("broken.jsonl: line 1: field \"expect\": \"maybe\""),
        "{err}"
    );
}

fn keygen(dir: &Path, name: &str) -> PathBuf {
    let k = dir.join(name);
    let o = Command::new(bin("bd-lock"))
        .arg("keygen")
        .arg("-o")
        .arg(&k)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    k
}

const EVENT: &str = "{\"v\":1,\"type\":\"exec\",\"comm\":\"ls\",\"filename\":\"/tmp/x\"}\n";

/// The attack: root edits policy.toml to allow everything. Without
/// --require-signed the edited policy is used (the twin); with it, the
/// edited file is refused (exit 3), as are an unsigned file, a file signed
/// by a key the host does not trust, and an overlay's signature used for the
/// policy.
#[test]
fn require_signed_refuses_unsigned_edited_and_foreign_policies() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let op = keygen(p, "op.key");
    let stranger = keygen(p, "stranger.key");
    let keys = format!("{}.pub", op.display());
    write(p, "p.toml", POLICY);
    let signed = [
        "-p",
        "p.toml",
        "--mode",
        "TRUSTED",
        "--require-signed",
        "--operator-keys",
        &keys,
    ];

    let o = policy(&signed, p, EVENT);
    assert_eq!(o.status.code(), Some(3), "unsigned: {:?}", text(&o));
    assert!(text(&o).1.contains("no signature (unsigned)"));

    let o = policy(&["sign", "-k", op.to_str().unwrap(), "p.toml"], p, "");
    assert!(o.status.success(), "{:?}", text(&o));
    let o = policy(&signed, p, EVENT);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let d0: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(d0["decision"], "deny");

    // The edit: everything allowed.
    let edited = POLICY.replace("decision = \"deny\"", "decision = \"allow\"");
    write(p, "p.toml", &edited);
    let o = policy(&["-p", "p.toml", "--mode", "TRUSTED"], p, EVENT);
    let d1: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(d1["decision"], "allow", "twin: unsigned use takes the edit");
    let o = policy(&signed, p, EVENT);
    assert_eq!(o.status.code(), Some(3));
    assert!(o.stdout.is_empty(), "nothing decided by a refused policy");
    assert!(
        text(&o)
            .1
            .contains("p.toml: refused: p.toml.sig: the file changed since it was signed"),
        "{:?}",
        text(&o)
    );

    // Signed, but by a key the host does not trust.
    let o = policy(&["sign", "-k", stranger.to_str().unwrap(), "p.toml"], p, "");
    assert!(o.status.success());
    let o = policy(&signed, p, EVENT);
    assert_eq!(o.status.code(), Some(3));
    assert!(text(&o).1.contains("not a trusted operator key"));

    // An overlay signature does not sign a policy.
    let o = policy(
        &["sign", "-k", op.to_str().unwrap(), "--overlay", "p.toml"],
        p,
        "",
    );
    // p.toml allows, so it cannot even be signed as an overlay.
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
    write(
        p,
        "deny.toml",
        "[[rule]]\nname = \"all\"\ndecision = \"deny\"\n",
    );
    let o = policy(
        &["sign", "-k", op.to_str().unwrap(), "--overlay", "deny.toml"],
        p,
        "",
    );
    assert!(o.status.success());
    let o = policy(
        &[
            "-p",
            "deny.toml",
            "--mode",
            "OPEN",
            "--require-signed",
            "--operator-keys",
            &keys,
        ],
        p,
        EVENT,
    );
    assert_eq!(o.status.code(), Some(3));
    assert!(text(&o)
        .1
        .contains("signed as the overlay but used as the policy"));

    // No trusted keys at all: refused, not run unchecked.
    let o = policy(
        &[
            "-p",
            "p.toml",
            "--require-signed",
            "--operator-keys",
            "/nonexistent-h14",
        ],
        p,
        EVENT,
    );
    assert_eq!(o.status.code(), Some(3));
}

/// A running bd-policy --require-signed notices the policy file changing
/// under it: one tripwire decision (LOCKDOWN), and it keeps deciding by the
/// policy it loaded; a re-signed file is an alert, not a tripwire.
#[test]
fn a_policy_changed_while_running_is_a_tripwire() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let op = keygen(p, "op.key");
    let keys = format!("{}.pub", op.display());
    write(p, "p.toml", POLICY);
    assert!(
        policy(&["sign", "-k", op.to_str().unwrap(), "p.toml"], p, "")
            .status
            .success()
    );
    let mut c = Command::new(bin("bd-policy"))
        .args([
            "-p",
            "p.toml",
            "--mode",
            "TRUSTED",
            "--require-signed",
            "--operator-keys",
            &keys,
        ])
        .current_dir(p)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = c.stdin.take().unwrap();
    let mut out = BufReader::new(c.stdout.take().unwrap());
    let mut next = |stdin: &mut std::process::ChildStdin| -> Vec<Value> {
        stdin.write_all(EVENT.as_bytes()).unwrap();
        stdin.flush().unwrap();
        let mut got = Vec::new();
        loop {
            let mut l = String::new();
            out.read_line(&mut l).unwrap();
            let v: Value = serde_json::from_str(&l).unwrap();
            let is_event = v["event"]["type"] == "exec";
            got.push(v);
            if is_event {
                return got;
            }
        }
    };
    let first = next(&mut stdin);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["decision"], "deny");

    write(
        p,
        "p.toml",
        &POLICY.replace("decision = \"deny\"", "decision = \"allow\""),
    );
    // Checked at most once a second, when input arrives.
    std::thread::sleep(Duration::from_millis(1100));
    let got = next(&mut stdin);
    assert_eq!(got.len(), 2, "{got:#?}");
    let tw = &got[0];
    assert_eq!(tw["decision"], "tripwire");
    assert_eq!(tw["tripwire"], "LOCKDOWN");
    assert_eq!(tw["rule"], Value::Null);
    assert_eq!(tw["event"]["type"], "policy_change");
    assert_eq!(tw["event"]["signed"], false);
    assert!(tw["reason"].as_str().unwrap().contains("not signed"));
    assert_eq!(got[1]["decision"], "deny", "still the signed policy");

    // Reported once, not every second.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(next(&mut stdin).len(), 1);

    // The operator changes and signs it: an alert (restart to use it).
    write(p, "p.toml", &format!("{}\n# v2\n", POLICY));
    assert!(
        policy(&["sign", "-k", op.to_str().unwrap(), "p.toml"], p, "")
            .status
            .success()
    );
    std::thread::sleep(Duration::from_millis(1100));
    let got = next(&mut stdin);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(got[0]["decision"], "alert");
    assert_eq!(got[0]["tripwire"], Value::Null);
    assert_eq!(got[0]["event"]["signed"], true);
    drop(stdin);
    assert!(c.wait().unwrap().success());
}

/// Overlays tighten and never loosen: an overlay rule that allows is
/// refused; an overlay deny beats the policy's allow (the twin: without the
/// overlay the same event is allowed); an overlay alert does not soften the
/// policy's deny.
#[test]
fn overlays_only_tighten() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    write(p, "p.toml", POLICY);
    write(
        p,
        "local.toml",
        r#"
[[rule]]
name = "no-curl"
decision = "deny"
[rule.match]
comm = "curl"

[[rule]]
name = "tmp-alert"
decision = "alert"
[rule.match]
filename = { prefix = "/tmp/" }
"#,
    );
    write(
        p,
        "loosen.toml",
        "[[rule]]\nname = \"let-tmp\"\ndecision = \"allow\"\n[rule.match]\nfilename = { prefix = \"/tmp/\" }\n",
    );
    let curl = "{\"v\":1,\"type\":\"exec\",\"comm\":\"curl\",\"filename\":\"/usr/bin/curl\"}\n";
    let both = format!("{curl}{EVENT}");
    let o = policy(&["-p", "p.toml", "--mode", "TRUSTED"], p, &both);
    let v: Vec<Value> = o
        .stdout
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    assert_eq!(v[0]["decision"], "allow", "twin: no overlay, curl allowed");
    assert_eq!(v[1]["decision"], "deny");

    let o = policy(
        &[
            "-p",
            "p.toml",
            "--mode",
            "TRUSTED",
            "--overlay",
            "local.toml",
        ],
        p,
        &both,
    );
    let v: Vec<Value> = o
        .stdout
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    assert_eq!(
        (&v[0]["decision"], &v[0]["rule"]),
        (&Value::from("deny"), &Value::from("no-curl"))
    );
    assert_eq!(
        (&v[1]["decision"], &v[1]["rule"]),
        (&Value::from("deny"), &Value::from("tmp-exec"))
    );

    let o = policy(
        &[
            "-p",
            "p.toml",
            "--mode",
            "TRUSTED",
            "--overlay",
            "loosen.toml",
        ],
        p,
        &both,
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(out.is_empty());
    assert!(
        err.contains(
            "loosen.toml: line 3, column 12: rule \"let-tmp\": an overlay can only tighten"
        ),
        "{err}"
    );
    let o = policy(&["check", "--overlay", "loosen.toml"], p, "");
    assert_eq!(o.status.code(), Some(1));
    let o = policy(&["check", "p.toml", "--overlay", "local.toml"], p, "");
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
}
