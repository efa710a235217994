//! append, locking, crashes, repair, the append-only attribute, and the readers.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn keygen_writes_0600_and_refuses_to_overwrite() {
    let env = Env::new();
    let mode = std::fs::metadata(&env.key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // base64 like the operator keys; the public file lists every epoch's key.
    let pubtext = std::fs::read_to_string(&env.pubkey).unwrap();
    assert!(pubtext.starts_with("bdlog-pub v2 epochs=64\n"), "{pubtext}");
    assert_eq!(pubtext.lines().count(), 65);
    assert!(std::fs::read_to_string(&env.key)
        .unwrap()
        .starts_with("bdlog-key v2 epoch=0 epochs=64 "));
    let before = std::fs::read(&env.key).unwrap();
    let out = env.cmd(&["keygen", "-o", env.key.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("refusing to overwrite"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&env.key).unwrap(), before);
    // A secret key others can read is refused.
    std::fs::set_permissions(&env.key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = env.append(b"{}\n", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
    assert!(!env.log.exists() || std::fs::metadata(&env.log).unwrap().len() == 0);
}

#[test]
fn bad_key_files_and_usage_cannot_decide() {
    let env = Env::new();
    let junk = env.path("junk.pub");
    std::fs::write(&junk, "not a key\n").unwrap();
    assert!(env.append(&records(0, 3), &[]).status.success());
    let out = env.cmd(&[
        "verify",
        "-l",
        env.log.to_str().unwrap(),
        "-p",
        junk.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("64 hex digits"), "{}", stderr(&out));
    let out = env.cmd(&[
        "verify",
        "-l",
        "/nonexistent/log",
        "-p",
        env.pubkey.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = env.cmd(&["verify", "-l", env.log.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "missing --pubkey is a usage error"
    );
    let out = env.cmd(&["--version"]);
    assert!(out.status.success() && stdout(&out).starts_with("bd-log "));
}

#[test]
fn appends_resume_the_chain_and_checkpoint_at_the_end() {
    let env = Env::new();
    for part in 0..3 {
        let out = env.append(&records(part * 10, 10), &["-n", "4"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let ls = lines(&env.log);
    assert!(is_checkpoint(&ls[0]));
    assert!(is_checkpoint(ls.last().unwrap()));
    assert_eq!(record_ids(&env.log), (0..30).collect::<Vec<_>>());
    let (code, _, reason, v) = env.verify_json(&env.log, &[]);
    assert_eq!(code, 0, "{reason}");
    assert_eq!(v["uncovered"], 0);
    // The genesis origin is kept for the life of the log.
    let origin = v["origin"].as_str().unwrap().to_string();
    assert!(origin.starts_with("bdlog-"));
    for l in &ls {
        if is_checkpoint(l) {
            assert!(String::from_utf8_lossy(l).contains(&origin));
        }
    }
    // Records are stored byte for byte (only trimmed).
    let odd = b"  {\"z\" : [1, 2.50, \"\\u00e9\"] }  \r\n";
    assert!(env.append(odd, &[]).status.success());
    let out = env.cmd(&[
        "tail",
        "-l",
        env.log.to_str().unwrap(),
        "-n",
        "1",
        "--records",
    ]);
    assert_eq!(stdout(&out), "{\"z\" : [1, 2.50, \"\\u00e9\"] }\n");
}

#[test]
fn invalid_input_stops_with_its_line_number_and_keeps_earlier_lines() {
    let env = Env::new();
    let input = b"{\"i\":0}\n\n{\"i\":1}\n{\"i\":2,}\n{\"i\":3}\n";
    let out = env.append(input, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("stdin line 4") && err.contains("not JSON"),
        "{err}"
    );
    assert_eq!(record_ids(&env.log), vec![0, 1]);
    let (code, _, _, v) = env.verify_json(&env.log, &[]);
    assert_eq!(code, 0);
    assert_eq!(
        v["uncovered"], 0,
        "the lines before the bad one are covered"
    );

    let out = env.append(
        b"{\"i\":4}\n[oops\n\xff\xfe\n{\"i\":5}\n",
        &["--skip-invalid"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("stdin line 2") && err.contains("stdin line 3"),
        "{err}"
    );
    assert!(err.contains("UTF-8"), "{err}");
    assert_eq!(record_ids(&env.log), vec![0, 1, 4, 5]);
    assert_eq!(env.verify_json(&env.log, &[]).0, 0);
}

#[test]
fn checkpoints_by_count_and_by_time() {
    let env = Env::new();
    let out = env.append(&records(0, 25), &["-n", "10"]);
    assert!(out.status.success());
    let ls = lines(&env.log);
    let cps: Vec<usize> = (0..ls.len()).filter(|&i| is_checkpoint(&ls[i])).collect();
    assert_eq!(cps, vec![0, 11, 22, 28]);

    // One entry, then silence: a checkpoint must follow within the interval
    // while the appender still runs.
    let mut child = Command::new(BIN)
        .args(["append", "-t", "300ms", "-l"])
        .arg(&env.log)
        .arg("-k")
        .arg(&env.key)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"{\"i\":99}\n").unwrap();
    stdin.flush().unwrap();
    let t0 = Instant::now();
    let covered = loop {
        std::thread::sleep(Duration::from_millis(50));
        let ls = lines(&env.log);
        if ls.len() > 30 && is_checkpoint(ls.last().unwrap()) {
            break true;
        }
        if t0.elapsed() > Duration::from_secs(5) {
            break false;
        }
    };
    assert!(child.try_wait().unwrap().is_none(), "append still running");
    drop(stdin);
    assert!(child.wait().unwrap().success());
    assert!(covered, "no time-based checkpoint");
    assert!(t0.elapsed() >= Duration::from_millis(250));
}

#[test]
fn eight_concurrent_appenders_make_one_chain() {
    let env = Env::new();
    assert!(env.append(b"{\"i\":0}\n", &[]).status.success());
    const PER: usize = 20_000;
    let gate = std::sync::Arc::new(std::sync::Barrier::new(8));
    let kids: Vec<_> = (0..8)
        .map(|p| {
            let input = records(1 + p * 100_000, PER);
            let mut c = Command::new(BIN)
                .args(["append", "-n", "500", "--fsync", "never", "-l"])
                .arg(&env.log)
                .arg("-k")
                .arg(&env.key)
                .stdin(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = c.stdin.take().unwrap();
            let gate = gate.clone();
            // All eight start together and feed in small pieces, so their
            // batches contend for the lock.
            let feeder = std::thread::spawn(move || {
                gate.wait();
                for chunk in input.chunks(8192) {
                    stdin.write_all(chunk).unwrap();
                }
            });
            (c, feeder)
        })
        .collect();
    for (c, f) in kids {
        f.join().unwrap();
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let (code, _, reason, v) = env.verify_json(&env.log, &[]);
    assert_eq!(code, 0, "{reason}");
    assert_eq!(v["uncovered"], 0);
    let ids = record_ids(&env.log);
    assert_eq!(ids.len(), 1 + 8 * PER);
    let mut runs = 0;
    for p in 0..8u64 {
        let mine: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|i| i / 100_000 == p && *i > 0)
            .collect();
        let want: Vec<u64> = (0..PER as u64).map(|k| 1 + p * 100_000 + k).collect();
        assert_eq!(mine, want, "appender {p}: lines missing or out of order");
    }
    for w in ids.windows(2) {
        if w[0] / 100_000 != w[1] / 100_000 {
            runs += 1;
        }
    }
    assert!(
        runs > 8,
        "appenders did not interleave ({runs} switches): lock not exercised"
    );
}

/// Starts an appender with --ack on a fast stream; returns after `at_least`
/// acknowledged lines, kills it with SIGKILL and returns the acked count.
fn kill_mid_append(env: &Env, at_least: u64, extra: &[&str]) -> u64 {
    let mut child = Command::new(BIN)
        .args(["append", "--ack", "-l"])
        .arg(&env.log)
        .arg("-k")
        .arg(&env.key)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let mut k = 0;
        // Until the pipe breaks: a large, fast stream.
        loop {
            if stdin.write_all(&records(k, 2000)).is_err() {
                return;
            }
            k += 2000;
        }
    });
    let mut acked = 0;
    let rd = BufReader::new(child.stdout.take().unwrap());
    for line in rd.lines() {
        let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        acked = v["written"].as_u64().unwrap();
        if acked >= at_least {
            break;
        }
    }
    // SAFETY: signalling our own child by pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let st = child.wait().unwrap();
    assert!(!st.success());
    let _ = feeder.join();
    acked
}

#[test]
fn kill_9_loses_no_acknowledged_line_and_repair_is_as_documented() {
    let env = Env::new();
    let acked = kill_mid_append(&env, 50_000, &["-n", "20000"]);
    assert!(acked >= 50_000);
    let ids = record_ids(&env.log);
    assert!(
        ids.len() as u64 >= acked,
        "acked {acked}, found {}",
        ids.len()
    );
    assert_eq!(
        ids,
        (0..ids.len() as u64).collect::<Vec<_>>(),
        "a gap or reorder"
    );

    // Whatever state the kill left, verify and append agree and repair fixes it.
    let (code, _, reason, v) = env.verify_json(&env.log, &[]);
    if code == 1 {
        assert!(reason.contains("torn"), "{reason}");
        let out = env.append(b"{\"i\":-1}\n", &[]);
        assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
        assert!(stderr(&out).contains("bd-log repair"));
    } else {
        assert_eq!(code, 0, "{reason}");
        assert!(v["uncovered"].as_u64().unwrap() > 0 || v["uncovered"] == 0);
    }
    // Repair moves everything after the last signed checkpoint aside as
    // unverified (the appender will not sign over it, issue 15 item 3):
    // acknowledged lines are in the log or in that file, none lost.
    let out = env.cmd(&["repair", "-l", env.log.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env.verify_json(&env.log, &[]).0, 0);
    let kept = record_ids(&env.log);
    assert_eq!(kept, ids[..kept.len()].to_vec());
    if kept.len() < ids.len() {
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let aside = std::fs::read_to_string(r["moved_to"].as_str().unwrap()).unwrap();
        for i in &ids[kept.len()..] {
            assert!(aside.contains(&format!("{{\"i\":{i},")), "line {i} lost");
        }
    }
    let n = ids.len();
    assert!(env.append(&records(n, 5), &[]).status.success());
    let (code, _, reason, v) = env.verify_json(&env.log, &[]);
    assert_eq!(code, 0, "{reason}");
    assert_eq!(v["uncovered"], 0);
    let mut want = kept.clone();
    want.extend(n as u64..n as u64 + 5);
    assert_eq!(record_ids(&env.log), want);
}

#[test]
fn torn_tail_is_reported_refused_and_moved_aside() {
    let env = Env::new();
    assert!(env.append(&records(0, 20), &["-n", "8"]).status.success());
    let good = std::fs::read(&env.log).unwrap();
    let n_lines = lines(&env.log).len() as u64;
    let torn = b"{\"seq\":99,\"ts\":\"2026-11-2";
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&env.log)
        .unwrap();
    f.write_all(torn).unwrap();
    drop(f);

    let (code, bad, reason, _) = env.verify_json(&env.log, &[]);
    assert_eq!(code, 1);
    assert_eq!(bad, Some(n_lines));
    assert!(
        reason.contains("torn") && reason.contains("repair"),
        "{reason}"
    );
    let out = env.append(b"{}\n", &[]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(
        std::fs::read(&env.log).unwrap().len(),
        good.len() + torn.len(),
        "nothing written"
    );

    let out = env.cmd(&["repair", "-l", env.log.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let aside = v["moved_to"].as_str().unwrap();
    assert!(aside.starts_with(env.log.to_str().unwrap()));
    assert_eq!(std::fs::read(aside).unwrap(), torn);
    assert_eq!(std::fs::read(&env.log).unwrap(), good);
    assert_eq!(env.verify_json(&env.log, &[]).0, 0);
    // A second repair has nothing to do.
    let out = env.cmd(&["repair", "-l", env.log.to_str().unwrap()]);
    assert!(out.status.success() && stderr(&out).contains("nothing to repair"));
    assert!(env.append(&records(20, 3), &[]).status.success());
    assert_eq!(env.verify_json(&env.log, &[]).0, 0);
}

fn lsattr_has_a(path: &std::path::Path) -> bool {
    let out = Command::new("lsattr")
        .arg(path)
        .output()
        .expect("lsattr (e2fsprogs)");
    let s = stdout(&out);
    s.split_whitespace().next().unwrap_or("").contains('a')
}

#[test]
fn append_only_attribute_is_set_and_repair_handles_it() {
    // Root on ext4 (/tmp here) supports FS_APPEND_FL: this must work, not skip.
    struct Unset(std::path::PathBuf);
    impl Drop for Unset {
        // Let the temp dir be removed even when an assertion fails.
        fn drop(&mut self) {
            let _ = Command::new("chattr").arg("-a").arg(&self.0).status();
        }
    }
    let env = Env::new();
    let _unset = Unset(env.log.clone());
    let out = env.append(&records(0, 10), &["--append-only"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("append-only"), "{}", stderr(&out));
    assert!(lsattr_has_a(&env.log));
    // Even root cannot rewrite or truncate it now.
    let e = std::fs::OpenOptions::new()
        .write(true)
        .open(&env.log)
        .unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EPERM));
    // Appending still works; a torn tail is repaired with +a kept.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&env.log)
        .unwrap();
    f.write_all(b"{\"seq\":1").unwrap();
    drop(f);
    let out = env.cmd(&["repair", "-l", env.log.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("cleared the append-only")
            && err.contains("set the append-only attribute again"),
        "{err}"
    );
    assert!(lsattr_has_a(&env.log));
    assert!(env.append(&records(10, 10), &[]).status.success());
    assert_eq!(env.verify_json(&env.log, &[]).0, 0);
    assert_eq!(record_ids(&env.log), (0..20).collect::<Vec<_>>());
}

#[test]
fn show_and_tail_filter_by_seq_and_time() {
    let env = Env::new();
    assert!(env.append(&records(0, 10), &["-n", "100"]).status.success());
    std::thread::sleep(Duration::from_millis(20));
    let mid = boundary::time::now_rfc3339();
    std::thread::sleep(Duration::from_millis(20));
    assert!(env.append(&records(10, 5), &["-n", "100"]).status.success());
    let log = env.log.to_str().unwrap();
    let all = lines(&env.log);

    let out = env.cmd(&["show", "-l", log, "--seq", "3"]);
    assert_eq!(out.stdout, [all[3].as_slice(), b"\n"].concat());
    let out = env.cmd(&["show", "-l", log, "--seq", "2..5"]);
    assert_eq!(stdout(&out).lines().count(), 3);
    let out = env.cmd(&["show", "-l", log, "--since", &mid, "--records"]);
    let ids: Vec<u64> = stdout(&out)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["i"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, (10..15).collect::<Vec<_>>());
    let out = env.cmd(&["show", "-l", log, "--since", "1h"]);
    assert_eq!(stdout(&out).lines().count(), all.len());
    let out = env.cmd(&["show", "-l", log, "--seq", "x..y"]);
    assert_eq!(out.status.code(), Some(2));

    let out = env.cmd(&["tail", "-l", log, "-n", "2"]);
    let want: Vec<u8> = [
        all[all.len() - 2].as_slice(),
        b"\n",
        all[all.len() - 1].as_slice(),
        b"\n",
    ]
    .concat();
    assert_eq!(out.stdout, want);
    let out = env.cmd(&["tail", "-l", log, "-n", "3", "--records"]);
    assert_eq!(stdout(&out).lines().count(), 3);
    assert!(!stdout(&out).contains("checkpoint"));
}

#[test]
fn sigterm_finishes_the_batch_and_checkpoints() {
    let env = Env::new();
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
    stdin.write_all(&records(0, 500)).unwrap();
    stdin.flush().unwrap();
    let mut rd = BufReader::new(child.stdout.take().unwrap());
    let mut acked = 0;
    while acked < 500 {
        let mut l = String::new();
        assert!(rd.read_line(&mut l).unwrap() > 0, "appender exited early");
        acked = serde_json::from_str::<serde_json::Value>(&l).unwrap()["written"]
            .as_u64()
            .unwrap();
    }
    // No checkpoint yet: -n and -t are far away.
    let (_, _, _, v) = env.verify_json(&env.log, &[]);
    assert_eq!(v["uncovered"], 500);
    // SAFETY: signalling our own child by pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("SIGTERM"), "{}", stderr(&out));
    let (code, _, reason, v) = env.verify_json(&env.log, &[]);
    assert_eq!(code, 0, "{reason}");
    assert_eq!(v["uncovered"], 0, "the final checkpoint covers everything");
    assert_eq!(record_ids(&env.log), (0..500).collect::<Vec<_>>());
}
