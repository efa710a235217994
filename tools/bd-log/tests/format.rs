//! Log formats: a v2 log (prev = SHA-256 of the line, written before v3 or
//! with `append --format 2`) still verifies, keeps its format through
//! appends and rotations, and proves excerpts; a new log is v3 (prev = the
//! RFC 6962 leaf hash) and says so in its genesis. The hashes are recomputed
//! here with sha2 (common::chain_prev), not with the code under test.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().expect("run bd-log")
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn says_v3(line: &[u8]) -> bool {
    let pat = b"\"checkpoint\":{\"v\":3,";
    line.windows(pat.len()).any(|w| w == pat)
}

/// Every line's prev is the chain hash of the line before, by this file's
/// first line's format (a continuation file starts with its own checkpoint).
fn assert_chained(file: &Path, v3: bool) {
    let ls = lines(file);
    assert_eq!(
        says_v3(&ls[0]),
        v3,
        "{}: format of the first line",
        file.display()
    );
    for (k, w) in ls.windows(2).enumerate() {
        let want = hex::encode(chain_prev(&ls[0], &w[0]));
        let v: serde_json::Value = serde_json::from_slice(&w[1]).unwrap();
        assert_eq!(
            v["prev"].as_str().unwrap(),
            want,
            "{}: line {}",
            file.display(),
            k + 1
        );
        if v.get("checkpoint").is_some() {
            assert_eq!(
                says_v3(&w[1]),
                v3,
                "{}: checkpoint at line {}",
                file.display(),
                k + 1
            );
        }
    }
}

#[test]
fn a_v2_log_keeps_its_format_through_appends_and_rotation_and_proves_excerpts() {
    let env = Env::new();
    let o = env.append(&records(0, 20), &["-n", "7", "--format", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_chained(&env.log, false);
    // Appending without --format continues the log in its own format.
    let o = env.append(&records(20, 10), &["-n", "7"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_chained(&env.log, false);
    let (code, _, reason, v) = env.verify_json(&env.log, &[]);
    assert_eq!(code, 0, "{reason}");
    assert_eq!(v["uncovered"], 0);
    let old = env.path("old.note");
    let o = run(&["note", "-k", &s(&env.key), "-l", &s(&env.log)]);
    assert!(o.status.success(), "note: {}", stderr(&o));
    std::fs::write(&old, &o.stdout).unwrap();
    // A rotation keeps the set's format.
    let o = run(&["rotate", "-l", &s(&env.log), "-k", &s(&env.key)]);
    assert!(o.status.success(), "rotate: {}", stderr(&o));
    let o = env.append(&records(30, 10), &["-n", "7", "--format", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rotated = env.path("log.1");
    assert_chained(&rotated, false);
    assert_chained(&env.log, false);
    let pk = s(&env.pubkey);
    let o = run(&["verify", "-p", &pk, "-l", &s(&rotated), "-l", &s(&env.log)]);
    assert_eq!(o.status.code(), Some(0), "{} {}", stdout(&o), stderr(&o));
    // prove / verify-excerpt over the v2 set, against the old note.
    let pattern = format!("{}*", env.log.display());
    let new = env.path("new.note");
    let o = run(&["note", "-k", &s(&env.key), "-l", &pattern]);
    assert!(o.status.success(), "note: {}", stderr(&o));
    std::fs::write(&new, &o.stdout).unwrap();
    let o = run(&[
        "prove",
        "-l",
        &pattern,
        "-p",
        &pk,
        "--note",
        &s(&new),
        "--seq",
        "3..9",
        "-a",
        &s(&old),
    ]);
    assert!(o.status.success(), "prove: {}", stderr(&o));
    let excerpt = env.path("excerpt");
    std::fs::write(&excerpt, &o.stdout).unwrap();
    let o = run(&[
        "verify-excerpt",
        "-p",
        &pk,
        "-e",
        &s(&excerpt),
        "-a",
        &s(&old),
    ]);
    assert_eq!(o.status.code(), Some(0), "{} {}", stdout(&o), stderr(&o));
}

#[test]
fn a_new_log_is_v3_and_format_applies_only_to_new_logs() {
    let env = Env::new();
    let o = env.append(&records(0, 20), &["-n", "7"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_chained(&env.log, true);
    let o = run(&["rotate", "-l", &s(&env.log), "-k", &s(&env.key)]);
    assert!(o.status.success(), "rotate: {}", stderr(&o));
    let o = env.append(&records(20, 10), &["-n", "7", "--format", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rotated = env.path("log.1");
    assert_chained(&env.log, true);
    let pk = s(&env.pubkey);
    let o = run(&["verify", "-p", &pk, "-l", &s(&rotated), "-l", &s(&env.log)]);
    assert_eq!(o.status.code(), Some(0), "{} {}", stdout(&o), stderr(&o));
    // --format only chooses the format of a new log: a fresh v2 log under
    // the same key verifies on its own.
    let v2 = env.path("v2.log");
    let o = Command::new(BIN)
        .args([
            "append",
            "-n",
            "7",
            "--format",
            "2",
            "-l",
            &s(&v2),
            "-k",
            &s(&env.key),
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_chained(&v2, false);
    let (code, _, reason, _) = env.verify_json(&v2, &[]);
    assert_eq!(code, 0, "{reason}");
}
