//! Issue 15 item 3: the appender signs only bytes it wrote itself or bytes
//! a checkpoint signed with its key already vouches for.

mod common;
use boundary::log;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A well-formed entry that continues the log (right seq and prev), as a
/// keyless writer can make one.
fn forged_entry(path: &std::path::Path, ts: &str) -> Vec<u8> {
    let ls = lines(path);
    let last = ls.last().unwrap();
    let p = log::parse_line(last).unwrap();
    let mut out = Vec::new();
    log::format_entry(
        &mut out,
        p.seq + 1,
        ts,
        &chain_prev(&ls[0], last),
        b"{\"forged\":true}",
    );
    out
}

/// Appends `bytes` to `path` as the unprivileged user nobody.
fn append_as_nobody(path: &std::path::Path, bytes: &[u8]) {
    let mut c = Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "sh",
            "-c",
            "cat >> \"$0\"",
        ])
        .arg(path)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(bytes).unwrap();
    assert!(c.wait().unwrap().success(), "nobody could not append");
}

/// A log a keyless user can append to (the misconfiguration the issue tried).
fn open_to_nobody(env: &Env) {
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    std::fs::set_permissions(&env.log, std::fs::Permissions::from_mode(0o666)).unwrap();
}

#[test]
fn keyless_entry_and_far_future_ts_are_never_signed() {
    for far in [false, true] {
        let env = Env::new();
        assert!(env.append(&records(0, 10), &[]).status.success());
        open_to_nobody(&env);
        // The writer's own ts format; a far-future one as year 9999.
        let last = lines(&env.log).pop().unwrap();
        let own = String::from_utf8(log::parse_line(&last).unwrap().ts.to_vec()).unwrap();
        let ts = &if far {
            format!("9999{}", &own[4..])
        } else {
            own
        };
        let forged = forged_entry(&env.log, ts);
        append_as_nobody(&env.log, &forged);
        // The forgery is well-formed: verify takes it as an uncovered tail,
        // so it is a real attack input, not one any check would catch.
        let (code, _, reason, v) = env.verify_json(&env.log, &[]);
        assert_eq!(code, 0, "{reason}");
        assert_eq!(v["uncovered"], 1, "{v}");

        let before = std::fs::read(&env.log).unwrap();
        let out = env.append(&records(10, 3), &[]);
        assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
        assert!(stderr(&out).contains("bd-log repair"), "{}", stderr(&out));
        assert_eq!(std::fs::read(&env.log).unwrap(), before, "nothing written");

        let out = env.cmd(&["repair", "-l", env.log.to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(r["kind"], "unverified");
        let aside = r["moved_to"].as_str().unwrap();
        assert_eq!(std::fs::read(aside).unwrap(), forged);

        assert!(env.append(&records(10, 3), &[]).status.success());
        let (code, _, reason, v) = env.verify_json(&env.log, &[]);
        assert_eq!(code, 0, "{reason}");
        assert_eq!(v["uncovered"], 0);
        let text = std::fs::read_to_string(&env.log).unwrap();
        assert!(!text.contains("forged"));
        assert!(
            !text.contains("9999-"),
            "a forged ts carried into signed lines"
        );
        assert_eq!(
            record_ids(&env.log),
            (0..13).collect::<Vec<_>>(),
            "own lines kept, forged one gone"
        );
    }
}

#[test]
fn running_appender_refuses_a_foreign_line_and_a_rewritten_own_line() {
    for rewrite in [false, true] {
        let env = Env::new();
        assert!(env.append(&records(0, 2), &[]).status.success());
        let mut child = Command::new(BIN)
            .args(["append", "--ack", "-n", "1000000", "-t", "1h", "-l"])
            .arg(&env.log)
            .arg("-k")
            .arg(&env.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut acks = BufReader::new(child.stdout.take().unwrap()).lines();
        stdin.write_all(&records(2, 3)).unwrap();
        stdin.flush().unwrap();
        acks.next().unwrap().unwrap();
        if rewrite {
            // Root rewrites the appender's own uncovered last entry in place
            // (same inode) to a different length.
            let text = std::fs::read(&env.log).unwrap();
            let s = String::from_utf8(text).unwrap();
            let t = s.replacen("{\"i\":4,", "{\"i\":4,\"x\":1,", 1);
            assert_ne!(s, t);
            std::fs::write(&env.log, t).unwrap();
        } else {
            let forged = forged_entry(&env.log, "2026-11-27T02:00:00.000000000Z");
            std::fs::OpenOptions::new()
                .append(true)
                .open(&env.log)
                .unwrap()
                .write_all(&forged)
                .unwrap();
        }
        let tampered = std::fs::read(&env.log).unwrap();
        stdin.write_all(&records(5, 1)).unwrap();
        drop(stdin);
        let st = child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        assert_eq!(st.code(), Some(7), "rewrite={rewrite}: {err}");
        assert!(err.contains("not written by this appender"), "{err}");
        assert_eq!(
            std::fs::read(&env.log).unwrap(),
            tampered,
            "rewrite={rewrite}: the appender wrote (and signed) after the tamper"
        );
    }
}

#[test]
fn a_second_appender_waits_for_a_live_ones_tail_to_be_covered() {
    let env = Env::new();
    assert!(env.append(&records(0, 1), &[]).status.success());
    let mut a = Command::new(BIN)
        .args(["append", "--ack", "-n", "1000000", "-t", "1s", "-l"])
        .arg(&env.log)
        .arg("-k")
        .arg(&env.key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = a.stdin.take().unwrap();
    let mut acks = BufReader::new(a.stdout.take().unwrap()).lines();
    stdin.write_all(&records(1, 3)).unwrap();
    stdin.flush().unwrap();
    acks.next().unwrap().unwrap();
    // A's tail is uncovered now (its interval is 1 s): B must not refuse it
    // while A lives, nor sign it unvouched.
    let out = env.append(&records(100, 2), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdin.write_all(&records(4, 2)).unwrap();
    drop(stdin);
    assert!(a.wait().unwrap().success());
    std::thread::sleep(Duration::from_millis(10));
    let (code, _, reason, v) = env.verify_json(&env.log, &[]);
    assert_eq!(code, 0, "{reason}");
    assert_eq!(v["uncovered"], 0);
    let mut ids = record_ids(&env.log);
    ids.sort();
    assert_eq!(ids, vec![0, 1, 2, 3, 4, 5, 100, 101]);
}
