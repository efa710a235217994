//! bd-policy semantics, through the real binary: matchers, ordering, default
//! deny, modes, rates across a restart, tripwires, bad input, check, explain.

use bd_tests::bin;
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Run bd-policy over `lines`; return (decisions, stderr, exit code).
fn run(policy: &Path, args: &[&str], lines: &[&str]) -> (Vec<Value>, String, i32) {
    let mut child = Command::new(bin("bd-policy"))
        .arg("-p")
        .arg(policy)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bd-policy");
    let mut input = String::new();
    for l in lines {
        input.push_str(l);
        input.push('\n');
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let decisions: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad output {l}: {e}")))
        .collect();
    assert_eq!(
        decisions.len(),
        lines.len(),
        "one decision per input line:\n{text}"
    );
    (
        decisions,
        String::from_utf8_lossy(&out.stderr).into(),
        out.status.code().unwrap_or(-1),
    )
}

fn verdicts(d: &[Value]) -> Vec<(String, String)> {
    d.iter()
        .map(|x| {
            (
                x["decision"].as_str().unwrap().to_string(),
                x["rule"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

const MATCHERS: &str = r#"
[[rule]]
name = "eq"
decision = "alert"
[rule.match]
type = "exec"
comm = "eqcomm"

[[rule]]
name = "glob"
decision = "deny"
[rule.match]
filename = { glob = "/tmp/*/run" }

[[rule]]
name = "prefix-suffix"
decision = "alert"
[rule.match]
filename = { prefix = "/opt/", suffix = ".sh" }

[[rule]]
name = "numeric"
decision = "allow"
[rule.match]
uid = { ge = 1000, lt = 2000 }

[[rule]]
name = "set"
decision = "alert"
[rule.match]
comm = { in = ["curl", "wget"] }

[[rule]]
name = "argv-any"
decision = "alert"
[rule.match]
argv = { contains = "--exploit" }

[[rule]]
name = "absent"
decision = "alert"
[rule.match]
type = "exec"
filename = { exists = false }
"#;

fn ev(fields: &str) -> String {
    format!(r#"{{"v":1,"type":"exec",{fields}}}"#)
}

#[test]
fn each_matcher_and_default_deny() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "m.toml", MATCHERS);
    let lines = [
        ev(r#""comm":"eqcomm","filename":"/x","uid":0"#),
        ev(r#""comm":"a","filename":"/tmp/abc/run","uid":0"#),
        ev(r#""comm":"a","filename":"/tmp/a/b/run","uid":0"#), // * stays in one component
        ev(r#""comm":"a","filename":"/opt/x/y.sh","uid":0"#),
        ev(r#""comm":"a","filename":"/x","uid":1500"#),
        ev(r#""comm":"a","filename":"/x","uid":2000"#),
        ev(r#""comm":"wget","filename":"/x","uid":0"#),
        ev(r#""comm":"a","filename":"/x","uid":0,"argv":["a","--exploit=1"]"#),
        ev(r#""comm":"a","uid":0"#),
    ];
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let (out, stderr, code) = run(&p, &["--mode", "OPEN"], &refs);
    assert_eq!(code, 0);
    assert!(stderr.contains("no default rule"), "{stderr}");
    assert_eq!(
        verdicts(&out),
        pairs(&[
            ("alert", "eq"),
            ("deny", "glob"),
            ("deny", "-"),
            ("alert", "prefix-suffix"),
            ("allow", "numeric"),
            ("deny", "-"),
            ("alert", "set"),
            ("alert", "argv-any"),
            ("alert", "absent"),
        ])
    );
    assert!(out[2]["reason"].as_str().unwrap().contains("default deny"));
    // The input line is copied verbatim into "event".
    assert_eq!(
        out[0]["event"],
        serde_json::from_str::<Value>(refs[0]).unwrap()
    );
    assert_eq!(out[0]["mode"], "OPEN");
    assert_eq!(out[0]["type"], "decision");
}

#[test]
fn first_match_wins_and_modes_select_rules() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "o.toml",
        r#"
[[rule]]
name = "strict-only"
decision = "deny"
modes = ["AIRGAP", "LOCKDOWN"]
[rule.match]
comm = "curl"

[[rule]]
name = "first"
decision = "alert"
[rule.match]
comm = "curl"

[[rule]]
name = "second"
decision = "deny"
[rule.match]
comm = "curl"

[[rule]]
name = "default"
decision = "allow"
"#,
    );
    let e = ev(r#""comm":"curl""#);
    let (out, stderr, _) = run(&p, &["--mode", "TRUSTED"], &[&e, &ev(r#""comm":"ls""#)]);
    assert!(!stderr.contains("no default rule"), "{stderr}");
    assert_eq!(
        verdicts(&out),
        pairs(&[("alert", "first"), ("allow", "default")])
    );
    let (out, _, _) = run(&p, &["--mode", "AIRGAP"], &[&e]);
    assert_eq!(verdicts(&out), pairs(&[("deny", "strict-only")]));
}

#[test]
fn mode_comes_from_the_state_file_and_fails_closed() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "m.toml",
        "[[rule]]\nname = \"lockdown\"\ndecision = \"deny\"\nmodes = [\"LOCKDOWN\"]\n\n[[rule]]\nname = \"default\"\ndecision = \"allow\"\n",
    );
    let state = d.path().join("state.json");
    let pin = d.path().join("no-pins");
    let e = ev(r#""comm":"x""#);
    let args = [
        "--state",
        state.to_str().unwrap(),
        "--pin-dir",
        pin.to_str().unwrap(),
    ];
    let (out, stderr, _) = run(&p, &args, &[&e]);
    assert_eq!(out[0]["mode"], "LOCKDOWN", "missing state file");
    assert!(stderr.contains("LOCKDOWN"), "{stderr}");
    let lock = Command::new(bin("bd-lock"))
        .args([
            "--state",
            state.to_str().unwrap(),
            "--pin-dir",
            pin.to_str().unwrap(),
        ])
        .args(["init", "--mode", "RESTRICTED"])
        .output()
        .unwrap();
    assert!(lock.status.success(), "{lock:?}");
    let (out, _, _) = run(&p, &args, &[&e]);
    assert_eq!(
        (out[0]["mode"].as_str(), out[0]["rule"].as_str()),
        (Some("RESTRICTED"), Some("default"))
    );
}

#[test]
fn tripwires_name_their_mode() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "t.toml",
        r#"
[[rule]]
name = "web-shell"
tripwire = "COLDROOM"
reason = "shell from web"
[rule.match]
uid = 33
filename = { glob = "{/bin,/usr/bin}/{sh,bash,dash}" }

[[rule]]
name = "memfd"
decision = "tripwire"
[rule.match]
filename = { prefix = "/dev/fd/" }

[[rule]]
name = "default"
decision = "allow"
"#,
    );
    let (out, _, _) = run(
        &p,
        &["--mode", "OPEN"],
        &[
            &ev(r#""uid":33,"filename":"/usr/bin/dash""#),
            &ev(r#""uid":33,"filename":"/usr/bin/ls""#),
            &ev(r#""uid":0,"filename":"/dev/fd/3""#),
        ],
    );
    assert_eq!(out[0]["decision"], "tripwire");
    assert_eq!(out[0]["tripwire"], "COLDROOM");
    assert_eq!(out[0]["reason"], "shell from web");
    assert_eq!(out[1]["decision"], "allow");
    assert_eq!(out[1]["tripwire"], Value::Null);
    assert_eq!(
        out[2]["tripwire"], "LOCKDOWN",
        "a tripwire defaults to LOCKDOWN"
    );
}

#[test]
fn rates_count_per_key_and_survive_a_restart() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "r.toml",
        r#"
[[rule]]
name = "burst"
decision = "alert"
rate = "3/1h"
rate_key = "uid"
[rule.match]
type = "exec"

[[rule]]
name = "default"
decision = "allow"
"#,
    );
    let rs = d.path().join("rates.json");
    let args = ["--mode", "OPEN", "--rate-state", rs.to_str().unwrap()];
    let a = ev(r#""uid":1"#);
    let b = ev(r#""uid":2"#);
    let (out, _, _) = run(&p, &args, &[&a, &a, &b]);
    assert_eq!(
        verdicts(&out),
        pairs(&[
            ("allow", "default"),
            ("allow", "default"),
            ("allow", "default")
        ])
    );
    assert!(rs.exists(), "rate state written at exit");
    // A new process: uid 1 is at 2 matches, so its 4th in the window fires.
    let (out, _, _) = run(&p, &args, &[&a, &b, &a, &a]);
    assert_eq!(
        verdicts(&out),
        pairs(&[
            ("allow", "default"),
            ("allow", "default"),
            ("alert", "burst"),
            ("alert", "burst")
        ])
    );
    // Without the state file the counters start again.
    let (out, _, _) = run(&p, &["--mode", "OPEN"], &[&a]);
    assert_eq!(out[0]["decision"], "allow");
}

#[test]
fn bad_input_is_denied_and_processing_continues() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "d.toml",
        "[[rule]]\nname = \"default\"\ndecision = \"allow\"\n",
    );
    let good = ev(r#""comm":"x""#);
    let lines = [
        "not json",
        r#"{"v":1,"type":"exec","comm":"x""#,
        r#"{"v":1,"type":"teleport"}"#,
        r#"{"v":1,"comm":"x"}"#,
        r#"{"v":2,"type":"exec"}"#,
        r#"{"v":1,"type":"exec","type":"lost"}"#,
        "",
        good.as_str(),
    ];
    let (out, _, code) = run(&p, &["--mode", "OPEN"], &lines);
    assert_eq!(code, 0);
    for (i, o) in out.iter().take(7).enumerate() {
        assert_eq!(o["decision"], "deny", "line {}: {o}", i + 1);
        assert_eq!(o["rule"], Value::Null);
    }
    assert!(out[0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("line 1: malformed input"));
    assert_eq!(out[0]["raw"], "not json");
    assert_eq!(out[0]["event"], Value::Null);
    assert!(out[2]["reason"]
        .as_str()
        .unwrap()
        .contains("unknown event type"));
    assert!(out[5]["reason"].as_str().unwrap().contains("duplicate key"));
    assert_eq!(out[7]["decision"], "allow");
}

/// The UTF-8 check rides on the scanner's first pass (issue 12): a line
/// with one invalid byte is denied naming the line and the byte, while the
/// same event with valid multi-byte text, and the plain ASCII one, are
/// decided by the rules, with the text passed through verbatim.
#[test]
fn non_utf8_lines_are_denied_and_multibyte_text_is_decided() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "d.toml",
        "[[rule]]\nname = \"exec\"\ndecision = \"allow\"\n[rule.match]\ntype = \"exec\"\n",
    );
    let ascii = ev(r#""comm":"cafe""#);
    let multi = ev(r#""comm":"café😀""#);
    let mut bad = multi.clone().into_bytes();
    // The last byte of the emoji becomes a lone continuation-less lead.
    let at = multi.find('😀').unwrap() + 3;
    bad[at] = 0xc3;
    let mut input = Vec::new();
    for l in [ascii.as_bytes(), &bad, multi.as_bytes()] {
        input.extend_from_slice(l);
        input.push(b'\n');
    }
    let mut child = Command::new(bin("bd-policy"))
        .args(["-p", p.to_str().unwrap(), "--mode", "OPEN"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let ds: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ds.len(), 3, "{text}");
    assert_eq!(ds[0]["decision"], "allow");
    assert_eq!(ds[0]["event"]["comm"], "cafe");
    assert_eq!(ds[1]["decision"], "deny");
    assert_eq!(ds[1]["rule"], Value::Null);
    let r = ds[1]["reason"].as_str().unwrap();
    assert!(
        r.starts_with("line 2: malformed input: not UTF-8: invalid utf-8 sequence")
            && r.contains(&format!("from index {}", at - 3)),
        "{r}"
    );
    // Shown as its lossy text: U+FFFD in place of the bad bytes.
    assert!(ds[1]["event"]["comm"]
        .as_str()
        .unwrap()
        .contains('\u{fffd}'));
    // The twin: the valid multi-byte line is decided by the rule.
    assert_eq!(ds[2]["decision"], "allow");
    assert_eq!(ds[2]["event"]["comm"], "café😀");
}

/// Issue 15 item 5: a line past the 64 MiB limit is ONE deny naming its
/// length; an event smuggled after the padding, on the same line, is never
/// decided (before the fix it got "allow"); reading resumes after the
/// newline, so the next real line is decided as itself.
#[test]
fn an_overlong_line_is_one_deny_and_nothing_after_its_padding_is_decided() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "d.toml",
        "[[rule]]\nname = \"exec\"\ndecision = \"allow\"\n[rule.match]\ntype = \"exec\"\n",
    );
    let limit = 64usize << 20;
    let smuggled = ev(r#""comm":"smuggled""#);
    // Padding that ends exactly at the limit, then the smuggled event, all on
    // one line; then an ordinary line.
    let mut input = Vec::with_capacity(limit + 1024);
    input.extend_from_slice(b"{\"v\":1,\"type\":\"teleport\",\"pad\":\"");
    input.resize(limit, b'a');
    input.extend_from_slice(smuggled.as_bytes());
    let long_len = input.len();
    input.push(b'\n');
    let after = ev(r#""comm":"after""#);
    input.extend_from_slice(after.as_bytes());
    input.push(b'\n');

    let mut child = Command::new(bin("bd-policy"))
        .args(["-p", p.to_str().unwrap(), "--mode", "OPEN"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let w = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    w.join().unwrap().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let ds: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ds.len(), 2, "one decision per input line:\n{text:.400}");
    assert_eq!(ds[0]["decision"], "deny");
    assert_eq!(ds[0]["rule"], Value::Null);
    let r = ds[0]["reason"].as_str().unwrap();
    assert!(r.starts_with("line 1: malformed input"), "{r}");
    assert!(r.contains(&format!("{long_len} bytes")), "{r}");
    assert_eq!(ds[0]["event"], Value::Null);
    assert!(!text.contains("smuggled"), "the smuggled event was decided");
    // The twin: the same event on a line of its own is allowed.
    assert_eq!(ds[1]["decision"], "allow");
    assert_eq!(ds[1]["event"]["comm"], "after");
}

/// Issue 15 item 13, through the binary: duplicate keys nested or not named
/// by any rule, and 10k-deep nesting, are denied and never echoed as
/// "event"; every output line parses with the strict reader (so jq 1.6 and
/// its 256-level limit can read it).
#[test]
fn duplicate_keys_and_deep_nesting_are_refused_at_the_input() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "d.toml",
        "[[rule]]\nname = \"exec\"\ndecision = \"allow\"\n[rule.match]\ntype = \"exec\"\n",
    );
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    let lines = [
        ev(r#""comm":"x","extra":1,"extra":2"#),
        ev(r#""ancestors":[{"pid":1,"comm":"a","comm":"b"}]"#),
        ev(&format!(r#""pad":{deep}"#)),
        ev(r#""comm":"x","extra":1"#),
    ];
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let (out, _, code) = run(&p, &["--mode", "OPEN"], &refs);
    assert_eq!(code, 0);
    for o in &out[..3] {
        assert_eq!(o["decision"], "deny", "{o:.200}");
        assert_eq!(o["event"], Value::Null);
        let r = o["reason"].as_str().unwrap();
        assert!(
            r.contains("duplicate key") || r.contains("nesting deeper than 32"),
            "{r}"
        );
    }
    assert_eq!(out[2]["raw"].as_str(), Some(lines[2].as_str()));
    assert_eq!(out[3]["decision"], "allow");
    for o in &out {
        let text = o.to_string();
        assert!(boundary::json::check(text.as_bytes()).is_ok());
    }
}

#[test]
fn check_reports_line_and_column_and_examples_pass() {
    let d = tempfile::tempdir().unwrap();
    let bad = write(
        d.path(),
        "bad.toml",
        "[[rule]]\nname = \"a\"\ndecision = \"allow\"\nmodes = [\"AIRGAP\", \"SIDEWAYS\"]\n[rule.match]\nfilename = { glob = \"[x\" }\n",
    );
    let out = Command::new(bin("bd-policy"))
        .arg("check")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:4:20: unknown mode \"SIDEWAYS\""),
        "{err}"
    );
    assert!(err.contains("bad.toml:6:12: match.filename: glob"), "{err}");

    let syntax = write(
        d.path(),
        "syntax.toml",
        "[[rule]]\nname = \"a\"\ndecision = allow\n",
    );
    let out = Command::new(bin("bd-policy"))
        .arg("check")
        .arg(&syntax)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("syntax.toml:3:"), "{err}");
    // Exactly FILE:LINE:COL: message, nothing before it.
    assert!(
        err.lines()
            .all(|l| l.starts_with(&format!("{}:3:", syntax.display()))),
        "{err}"
    );

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/policies");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    for m in [
        "open",
        "restricted",
        "trusted",
        "airgap",
        "coldroom",
        "lockdown",
    ] {
        assert!(
            names.iter().any(|n| n == m),
            "examples/policies/{m}.toml missing"
        );
    }
    let out = Command::new(bin("bd-policy"))
        .arg("check")
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "warnings: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn example_policies_catch_what_they_claim() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/policies");
    let web_shell = ev(r#""uid":33,"comm":"sh","filename":"/bin/sh""#);
    let memfd = ev(r#""uid":0,"comm":"x","filename":"/dev/fd/4""#);
    let secret =
        r#"{"v":1,"type":"deny","hook":"file_open","uid":1000,"comm":"cat","path":"/etc/app/key"}"#;
    let ptrace = r#"{"v":1,"type":"deny","hook":"ptrace","uid":0,"comm":"gdb","target_pid":42}"#;
    let (out, _, _) = run(
        &dir.join("trusted.toml"),
        &["--mode", "TRUSTED"],
        &[&web_shell, &memfd, secret, ptrace],
    );
    assert_eq!(
        verdicts(&out),
        pairs(&[
            ("tripwire", "shell-from-web"),
            ("tripwire", "exec-from-tmp-or-memfd"),
            ("alert", "protected-secret-read"),
            ("tripwire", "ptrace-attempt"),
        ])
    );
    let (out, _, _) = run(
        &dir.join("open.toml"),
        &["--mode", "OPEN"],
        &[&web_shell, &memfd],
    );
    assert_eq!(out[0]["tripwire"], "AIRGAP");
    assert_eq!(out[1]["decision"], "alert");
}

#[test]
fn explain_says_why_each_rule_missed() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "e.toml", MATCHERS);
    let out = Command::new(bin("bd-policy"))
        .args(["explain", "--mode", "OPEN", "-p"])
        .arg(&p)
        .arg(ev(r#""comm":"wget","filename":"/x","uid":5"#))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(r#"rule 1 "eq": no: comm is "wget", fails test: = "eqcomm""#),
        "{text}"
    );
    assert!(
        text.contains(r#"rule 4 "numeric": no: uid is 5, fails test: >= 1000"#),
        "{text}"
    );
    assert!(text.contains(r#"rule 5 "set": MATCH -> alert"#), "{text}");
    assert!(text.contains(r#"decision: alert by rule "set""#), "{text}");
}

/// A kernel `tripwire` event is decided as at least that tripwire whatever
/// the rules say; explain must show that step and end on the same decision
/// as the decide path, in text and in --json.
#[test]
fn explain_shows_the_kernel_tripwire_floor() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "allow.toml",
        "[[rule]]\nname = \"everything\"\ndecision = \"allow\"\n",
    );
    let event =
        r#"{"v":1,"type":"tripwire","hook":"exec","tripwire":"AIRGAP","path":"/srv/canary"}"#;
    let explain = |json: bool| {
        let mut c = Command::new(bin("bd-policy"));
        c.args(["explain", "--mode", "OPEN", "-p"])
            .arg(&p)
            .arg(event);
        if json {
            c.arg("--json");
        }
        c.output().unwrap()
    };
    let out = explain(false);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(r#"rule 1 "everything": MATCH -> allow"#),
        "{text}"
    );
    assert!(
        text.contains(
            "kernel tripwire event: the kernel already raised the mode to AIRGAP, so the decision \
             is at least tripwire AIRGAP: it overrides rule \"everything\""
        ),
        "{text}"
    );
    assert!(
        text.contains("decision: tripwire by rule (built-in)"),
        "{text}"
    );
    assert!(text.contains("tripwire: engages AIRGAP"), "{text}");

    let out = explain(true);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["decision"], "tripwire");
    assert_eq!(v["tripwire"], "AIRGAP");
    assert_eq!(v["rule"], serde_json::Value::Null);
    assert!(
        v["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().starts_with("kernel tripwire event:")),
        "{v}"
    );

    // The decide path gives the same decision for the same line.
    let (out, _, _) = run(&p, &["--mode", "OPEN"], &[event]);
    assert_eq!(out[0]["decision"], "tripwire");
    assert_eq!(out[0]["tripwire"], "AIRGAP");
}

/// Issue 12: a large regular file on standard input is read through a
/// mapping. If the file shrinks meanwhile, bd-policy must neither die of
/// SIGBUS nor judge the zeros that stand in for the lost bytes: it stops
/// with exit 2 and a message, and every decision it wrote is for a whole
/// line that was really there. Twin: the same file, left alone, is decided
/// line for line with exit 0.
#[test]
fn a_mapped_input_file_that_shrinks_is_an_error_not_a_crash() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "d.toml",
        "[[rule]]\nname = \"exec\"\ndecision = \"allow\"\n[rule.match]\ntype = \"exec\"\n",
    );
    // 8 MiB of events (over the 4 MiB below which input is read(2)).
    let pad = "p".repeat(150);
    let mut input = String::new();
    let mut n = 0usize;
    while input.len() < 8 << 20 {
        input.push_str(&ev(&format!(r#""comm":"c{n}","pad":"{pad}""#)));
        input.push('\n');
        n += 1;
    }
    let keep = 1usize << 20;
    let whole_lines_kept = input[..keep].matches('\n').count();
    let file = d
        .path()
        .join(format!("events-{}.jsonl", std::process::id()));

    let start = |file: &Path| {
        Command::new(bin("bd-policy"))
            .args(["-p", p.to_str().unwrap(), "--mode", "OPEN"])
            .stdin(std::fs::File::open(file).unwrap())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let decisions = |text: &str| -> Vec<Value> {
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad output {l}: {e}")))
            .collect()
    };

    // The twin: left alone, every line is decided.
    std::fs::write(&file, &input).unwrap();
    let out = start(&file).wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let ds = decisions(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(ds.len(), n);
    assert_eq!(ds[n - 1]["event"]["comm"], format!("c{}", n - 1));

    // Shrunk to 1 MiB while bd-policy is blocked writing its first 256 KiB
    // of decisions into the pipe (it has read well under 1 MiB by then).
    let mut child = start(&file);
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 4096];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(keep as u64)
        .unwrap();
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut stdout, &mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(err.contains("the file shrank while it was read"), "{err}");
    let mut text = first.to_vec();
    text.extend_from_slice(&rest);
    let ds = decisions(&String::from_utf8(text).unwrap());
    assert!(
        ds.len() > 100 && ds.len() <= whole_lines_kept,
        "{} decisions, {whole_lines_kept} whole lines kept",
        ds.len()
    );
    for (i, x) in ds.iter().enumerate() {
        assert_eq!(x["decision"], "allow", "{x}");
        assert_eq!(x["event"]["comm"], format!("c{i}"));
    }
}
