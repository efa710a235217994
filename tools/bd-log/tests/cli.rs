//! Issue 11's bd-log items: show --until and --follow, keygen making its
//! directory.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn show_until_keeps_entries_before_the_time() {
    let env = Env::new();
    assert!(env.append(&records(0, 3), &[]).status.success());
    let l = lines(&env.log);
    let v: serde_json::Value = serde_json::from_slice(&l[1]).unwrap();
    let first_ts = v["ts"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(20));
    let cut = boundary::time::now_rfc3339();
    std::thread::sleep(Duration::from_millis(20));
    assert!(env.append(&records(3, 2), &[]).status.success());
    let log = env.log.display().to_string();
    let o = env.cmd(&["show", "-l", &log, "--until", &cut, "--records"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ids: Vec<u64> = stdout(&o)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["i"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, vec![0, 1, 2]);
    // --since and --until together: an empty window prints nothing.
    let o = env.cmd(&["show", "-l", &log, "--since", &cut, "--until", &first_ts]);
    assert!(o.status.success());
    assert!(o.stdout.is_empty());
    let o = env.cmd(&["show", "-l", &log, "--until", "yesterday-ish"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--until"), "{}", stderr(&o));
}

#[test]
fn show_follow_prints_appends_and_follows_a_rotation() {
    let env = Env::new();
    assert!(env.append(&records(0, 2), &[]).status.success());
    let out = env.path("follow.out");
    let mut child = Command::new(BIN)
        .args(["show", "--follow", "--records", "-l"])
        .arg(&env.log)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ids = || -> Vec<u64> {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?["i"].as_u64())
            .collect()
    };
    let wait = |want: Vec<u64>| {
        let t0 = Instant::now();
        while ids() != want {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "follow printed {:?}",
                ids()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait(vec![0, 1]);
    assert!(env.append(&records(2, 2), &[]).status.success());
    wait(vec![0, 1, 2, 3]);
    let o = env.cmd(&[
        "rotate",
        "-l",
        &env.log.display().to_string(),
        "-k",
        &env.key.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(env.append(&records(4, 2), &[]).status.success());
    wait(vec![0, 1, 2, 3, 4, 5]);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn keygen_creates_missing_directories_root_only() {
    let env = Env::new();
    let key = env.path("etc/boundary/keys/log.key");
    let o = env.cmd(&["keygen", "-o", &key.display().to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));
    for d in ["etc", "etc/boundary", "etc/boundary/keys"] {
        let m = std::fs::metadata(env.path(d)).unwrap().permissions().mode() & 0o777;
        assert_eq!(m & 0o077, 0, "{d} is {m:o}");
    }
    assert!(key.exists() && env.path("etc/boundary/keys/log.key.pub").exists());
}
