//! Rotation that keeps the chain (issue 13): the real `logrotate` against a
//! running appender fed by a pipe, `bd-log rotate`, copytruncate, and every
//! cross-file attack on a rotated set reported as what it is.

mod common;

use common::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `bd-log append` whose stdin the test writes.
struct Appender {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Appender {
    fn start(env: &Env, log: &Path) -> Appender {
        let mut child = Command::new(BIN)
            .args(["append", "-t", "1s", "-l"])
            .arg(log)
            .arg("-k")
            .arg(&env.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn append");
        let stdin = child.stdin.take();
        Appender { child, stdin }
    }

    fn send(&mut self, data: &[u8]) {
        let s = self.stdin.as_mut().expect("stdin open");
        s.write_all(data).expect("write to appender");
        s.flush().expect("flush");
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes stdin and waits: (exit code, stderr).
    fn finish(mut self) -> (i32, String) {
        drop(self.stdin.take());
        let out = self.child.wait_with_output().expect("wait append");
        (out.status.code().unwrap_or(-1), stderr(&out))
    }
}

/// Waits until `f` holds (the appender works asynchronously to the test).
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The ids of the records in a (possibly gzip-compressed) file, in order.
fn ids_in(path: &Path) -> Vec<u64> {
    let raw = match std::fs::read(path) {
        Ok(r) => r,
        // The appender creates the file after it starts.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => panic!("{}: {e}", path.display()),
    };
    let data = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .expect("gunzip");
        out
    } else {
        raw
    };
    data.split(|&b| b == b'\n')
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).ok()?;
            v.get("record")?.get("i")?.as_u64()
        })
        .collect()
}

/// The shipped logrotate snippet for a log in `dir`, with the postrotate
/// command replaced (`systemctl reload` has no unit here): `signal` is what
/// runs instead, or nothing.
fn logrotate_conf(dir: &Path, signal: Option<String>) -> PathBuf {
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist/logrotate/boundary"),
    )
    .expect("read dist/logrotate/boundary");
    assert!(shipped.contains("systemctl reload boundary.service"));
    let reload = "systemctl reload boundary.service >/dev/null 2>&1 || true";
    assert!(shipped.contains(reload), "snippet's postrotate changed");
    let conf = shipped
        .replace("@LOGDIR@", &dir.display().to_string())
        .replace(reload, &signal.unwrap_or_else(|| "true".into()));
    let path = dir.join("logrotate.conf");
    std::fs::write(&path, conf).expect("write conf");
    path
}

fn run_logrotate(dir: &Path, conf: &Path) {
    let out = Command::new("logrotate")
        .arg("-f")
        .arg("-s")
        .arg(dir.join("logrotate.state"))
        .arg(conf)
        .output()
        .expect("run logrotate (apt-get install logrotate)");
    assert!(
        out.status.success(),
        "logrotate failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// Checks the link by hand, with its own SHA-256: the new file's first line
/// is a checkpoint at the next seq whose prev and head are the hash of the
/// closed file's last line, with the same origin.
fn assert_linked(closed: &Path, new: &Path) {
    let a = lines(closed);
    let b = lines(new);
    let last: serde_json::Value =
        serde_json::from_slice(a.last().expect("closed has lines")).unwrap();
    let first: serde_json::Value = serde_json::from_slice(&b[0]).unwrap();
    assert!(
        last.get("checkpoint").is_some(),
        "{} must end in a checkpoint",
        closed.display()
    );
    assert_eq!(
        first["seq"].as_u64().unwrap(),
        last["seq"].as_u64().unwrap() + 1
    );
    assert_eq!(
        first["prev"].as_str().unwrap(),
        hex::encode(chain_prev(&a[0], a.last().unwrap()))
    );
    assert_eq!(first["checkpoint"]["size"], first["seq"]);
    assert_eq!(first["checkpoint"]["origin"], last["checkpoint"]["origin"]);
}

fn verify_set(env: &Env, files: &[&Path], extra: &[&str]) -> (i32, serde_json::Value) {
    let mut cmd = Command::new(BIN);
    cmd.arg("verify").arg("--json").arg("-p").arg(&env.pubkey);
    for f in files {
        cmd.arg("-l").arg(f);
    }
    let out = cmd.args(extra).output().expect("run verify");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("verify --json: {e}: {} {}", stdout(&out), stderr(&out)));
    (out.status.code().unwrap_or(-1), v)
}

fn rotate_with_logrotate(signal: bool) {
    let env = Env::new();
    let dir = env.dir.path();
    let log = dir.join("boundary.log");
    let mut app = Appender::start(&env, &log);
    let conf = logrotate_conf(dir, signal.then(|| format!("kill -HUP {}", app.pid())));
    let mut next = 0usize;
    for round in 0..3 {
        app.send(&records(next, 50));
        next += 50;
        wait_for("records in the log", || {
            ids_in(&log).last().copied() == Some(next as u64 - 1)
        });
        run_logrotate(dir, &conf);
        assert!(
            dir.join("boundary.log.1").exists(),
            "round {round}: logrotate renamed the log"
        );
        if signal {
            // SIGHUP: the appender closes .1 and starts the new file at once.
            wait_for("the new file after SIGHUP", || log.exists());
        }
        // The appender follows the rename at its next write in any case.
        app.send(&records(next, 5));
        next += 5;
        wait_for("records in the new file", || {
            ids_in(&log).last().copied() == Some(next as u64 - 1)
        });
        assert_linked(&dir.join("boundary.log.1"), &log);
    }
    let (code, err) = app.finish();
    assert_eq!(code, 0, "the appender never stops on rotation: {err}");
    // delaycompress: .1 plain, older ones gzip members.
    assert!(dir.join("boundary.log.2.gz").exists());
    assert!(dir.join("boundary.log.3.gz").exists());
    let all: Vec<u64> = [
        "boundary.log.3.gz",
        "boundary.log.2.gz",
        "boundary.log.1",
        "boundary.log",
    ]
    .iter()
    .flat_map(|n| ids_in(&dir.join(n)))
    .collect();
    assert_eq!(
        all,
        (0..next as u64).collect::<Vec<_>>(),
        "every record once, in order"
    );

    // The set, by glob (ordered by seq) and explicitly oldest first.
    let pattern = format!("{}*", log.display());
    let (code, v) = verify_set(&env, &[Path::new(&pattern)], &[]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["files"], 4);
    assert_eq!(v["first_seq"], 0);
    let explicit: Vec<PathBuf> = [
        "boundary.log.3.gz",
        "boundary.log.2.gz",
        "boundary.log.1",
        "boundary.log",
    ]
    .iter()
    .map(|n| dir.join(n))
    .collect();
    let refs: Vec<&Path> = explicit.iter().map(PathBuf::as_path).collect();
    let (code, v) = verify_set(&env, &refs, &[]);
    assert_eq!(code, 0, "{v}");
    // The current file alone still verifies (it starts at a later seq).
    let (code, v) = verify_set(&env, &[&log], &[]);
    assert_eq!(code, 0, "{v}");
    assert!(v["first_seq"].as_u64().unwrap() > 0);
    // Dropping the middle of the set is named.
    let (code, v) = verify_set(&env, &[refs[0], refs[2], refs[3]], &[]);
    assert_eq!(code, 1, "{v}");
    assert!(
        v["reason"].as_str().unwrap().starts_with("missing file"),
        "{v}"
    );
}

#[test]
fn logrotate_with_sighup_keeps_the_chain() {
    rotate_with_logrotate(true);
}

#[test]
fn logrotate_without_a_signal_is_followed_at_the_next_write() {
    rotate_with_logrotate(false);
}

/// A set of four files made with `bd-log rotate`: a, b, c (closed) and the
/// live log, 10 records each.
fn rotated_set(env: &Env, log: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for (k, name) in ["a", "b", "c"].iter().enumerate() {
        let o = run_stdin(
            Command::new(BIN)
                .args(["append", "-l"])
                .arg(log)
                .arg("-k")
                .arg(&env.key),
            &records(k * 10, 10),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let to = env.path(&format!(
            "{}.{name}",
            log.file_name().unwrap().to_string_lossy()
        ));
        let o = Command::new(BIN)
            .args(["rotate", "-l"])
            .arg(log)
            .arg("-k")
            .arg(&env.key)
            .arg("--to")
            .arg(&to)
            .output()
            .unwrap();
        assert!(o.status.success(), "rotate: {}", stderr(&o));
        assert_linked(&to, log);
        out.push(to);
    }
    let o = run_stdin(
        Command::new(BIN)
            .args(["append", "-l"])
            .arg(log)
            .arg("-k")
            .arg(&env.key),
        &records(30, 10),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    out.push(log.to_path_buf());
    out
}

fn reason(v: &serde_json::Value) -> String {
    v["reason"].as_str().unwrap_or("").to_string()
}

#[test]
fn cross_file_attacks_are_each_named() {
    let env = Env::new();
    let set = rotated_set(&env, &env.log);
    let p: Vec<&Path> = set.iter().map(PathBuf::as_path).collect();
    let (code, v) = verify_set(&env, &p, &[]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["files"], 4);

    // A missing middle file.
    let (code, v) = verify_set(&env, &[p[0], p[2], p[3]], &[]);
    assert_eq!(code, 1);
    assert!(reason(&v).starts_with("missing file"), "{v}");
    assert_eq!(v["bad_file"], p[2].display().to_string());

    // A reordered set.
    let (code, v) = verify_set(&env, &[p[1], p[0], p[2], p[3]], &[]);
    assert_eq!(code, 1);
    assert!(reason(&v).starts_with("reordered set"), "{v}");

    // Another log under the same key: its genesis is a new origin, its
    // rotated continuation is a splice from another origin.
    let other = env.path("other");
    let oset = rotated_set(&env, &other);
    let (code, v) = verify_set(&env, &[p[0], oset[0].as_path()], &[]);
    assert_eq!(code, 1);
    assert!(reason(&v).starts_with("new origin"), "{v}");
    let (code, v) = verify_set(&env, &[p[0], oset[1].as_path()], &[]);
    assert_eq!(code, 1);
    assert!(reason(&v).starts_with("spliced from another log"), "{v}");

    // A middle file cut back (no closing checkpoint any more).
    let cut = env.path("b-cut");
    let mut b = lines(p[1]);
    b.truncate(b.len() - 3);
    write_lines(&cut, &b);
    let (code, v) = verify_set(&env, &[p[0], &cut, p[2], p[3]], &[]);
    assert_eq!(code, 1);
    assert!(reason(&v).starts_with("truncated file"), "{v}");

    // Rolled back and rewritten: c continues from inside b's range, as if b
    // had been cut back and the chain re-grown from there.
    let (code, v) = verify_set(&env, &[p[0], p[1], p[1], p[2]], &[]);
    assert_eq!(code, 1);
    assert!(
        reason(&v).starts_with("reordered set"),
        "a duplicate is not a link: {v}"
    );

    // An anchor taken at the end of the live file, then the last file is
    // truncated (at a line boundary, so no torn line gives it away).
    let anchor = env.path("anchor");
    let o = env.cmd(&[
        "checkpoint",
        "-l",
        &set[3].display().to_string(),
        "-p",
        &env.pubkey.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(&anchor, &o.stdout).unwrap();
    let a = anchor.display().to_string();
    let (code, v) = verify_set(&env, &p, &["-a", &a]);
    assert_eq!(code, 0, "the anchor holds across the rotated set: {v}");
    assert_eq!(v["anchor_seq"].as_u64(), Some(set_last_seq(&set[3])));
    let mut last = lines(p[3]);
    last.truncate(last.len() - 4);
    let short = env.path("live-cut");
    write_lines(&short, &last);
    let (code, v) = verify_set(&env, &[p[0], p[1], p[2], &short], &["-a", &a]);
    assert_eq!(code, 1);
    assert!(reason(&v).starts_with("truncated or rolled back"), "{v}");

    // Rollback across files: an anchor in b; the set cut back to a.
    let ab = env.path("anchor-b");
    let o = env.cmd(&[
        "checkpoint",
        "-l",
        &set[1].display().to_string(),
        "-p",
        &env.pubkey.display().to_string(),
    ]);
    assert!(o.status.success());
    std::fs::write(&ab, &o.stdout).unwrap();
    let abs = ab.display().to_string();
    let (code, v) = verify_set(&env, &p, &["-a", &abs]);
    assert_eq!(code, 0, "{v}");
    let (code, v) = verify_set(&env, &[p[0]], &["-a", &abs]);
    assert_eq!(code, 1);
    assert!(reason(&v).contains("rolled back"), "{v}");
    // Only the files after the anchor: cannot decide (2), and says why.
    let (code, v) = verify_set(&env, &[p[2], p[3]], &["-a", &abs]);
    assert_eq!(code, 2, "{v}");
    assert_eq!(v["result"], "ERROR");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("before the first file given"),
        "{v}"
    );
}

fn set_last_seq(path: &Path) -> u64 {
    let l = lines(path);
    let v: serde_json::Value = serde_json::from_slice(l.last().unwrap()).unwrap();
    v["seq"].as_u64().unwrap()
}

#[test]
fn rotated_set_from_stdin_and_gzip_members() {
    let env = Env::new();
    let set = rotated_set(&env, &env.log);
    // gzip the two oldest with the real gzip, as logrotate's compress does.
    for f in &set[..2] {
        let st = Command::new("gzip").arg(f).status().expect("gzip");
        assert!(st.success());
    }
    let gz: Vec<PathBuf> = set[..2]
        .iter()
        .map(|f| PathBuf::from(format!("{}.gz", f.display())))
        .collect();
    let (code, v) = verify_set(&env, &[&gz[0], &gz[1], &set[2], &set[3]], &[]);
    assert_eq!(code, 0, "{v}");
    // zstd members (logrotate with compresscmd zstd), by the real zstd.
    let st = Command::new("zstd")
        .args(["-q", "-k"])
        .arg(&set[2])
        .status()
        .expect("zstd (apt-get install zstd)");
    assert!(st.success());
    let zst = PathBuf::from(format!("{}.zst", set[2].display()));
    let (code, v) = verify_set(&env, &[&gz[0], &gz[1], &zst, &set[3]], &[]);
    assert_eq!(code, 0, "{v}");
    // The whole set concatenated on stdin is one chain.
    let mut cat = Vec::new();
    for f in &set[2..] {
        cat.extend(std::fs::read(f).unwrap());
    }
    let o = run_stdin(
        Command::new(BIN)
            .args(["verify", "-l", "-", "-p"])
            .arg(&env.pubkey),
        &cat,
    );
    assert_eq!(o.status.code(), Some(0), "{} {}", stdout(&o), stderr(&o));
    // -q: nothing on success; the failure is still printed.
    let o = Command::new(BIN)
        .args(["verify", "-q", "-p"])
        .arg(&env.pubkey)
        .arg("-l")
        .arg(&set[3])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty() && o.stderr.is_empty(), "{}", stdout(&o));
    let o = Command::new(BIN)
        .args(["verify", "-q", "-p"])
        .arg(&env.pubkey)
        .arg("-l")
        .arg(&set[2])
        .arg("-l")
        .arg(&set[3])
        .arg("-l")
        .arg(&gz[0])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).starts_with("FAIL"), "{}", stdout(&o));
}

#[test]
fn copytruncate_continues_the_chain_in_the_same_file() {
    let env = Env::new();
    let mut app = Appender::start(&env, &env.log);
    app.send(&records(0, 20));
    wait_for("records", || ids_in(&env.log).last() == Some(&19));
    // Wait for the interval checkpoint so the copy ends in one.
    wait_for("a checkpoint", || {
        lines(&env.log).last().is_some_and(|l| is_checkpoint(l))
    });
    let copy = env.path("log.1");
    std::fs::copy(&env.log, &copy).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&env.log)
        .unwrap()
        .set_len(0)
        .unwrap();
    app.send(&records(20, 5));
    wait_for("records after the truncation", || {
        ids_in(&env.log).last() == Some(&24)
    });
    let (code, err) = app.finish();
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("copytruncate"), "{err}");
    assert_linked(&copy, &env.log);
    let (code, v) = verify_set(&env, &[&copy, &env.log], &[]);
    assert_eq!(code, 0, "{v}");
}

#[test]
fn wrong_key_is_could_not_decide_and_names_the_logs_key() {
    let env = Env::new();
    let o = env.append(&records(0, 5), &[]);
    assert!(o.status.success());
    let other = env.path("other.key");
    let o = env.cmd(&["keygen", "-o", &other.display().to_string()]);
    assert!(o.status.success());
    let pubtext = std::fs::read_to_string(&env.pubkey).unwrap();
    let logs_key = pubtext.lines().nth(1).unwrap();
    let o = Command::new(BIN)
        .args(["verify", "--json", "-l"])
        .arg(&env.log)
        .arg("-p")
        .arg(env.path("other.key.pub"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).expect("an error object on exit 2");
    assert_eq!(v["result"], "ERROR");
    assert!(
        v["error"].as_str().unwrap().contains(logs_key.trim()),
        "{v}"
    );
    assert!(stderr(&o).contains("wrong key"));
    // A forged checkpoint naming another key is still tampering (1): its
    // signature does not verify under the key it names either.
    let mut l = lines(&env.log);
    let last = String::from_utf8(l.pop().unwrap()).unwrap();
    let other_pub = std::fs::read_to_string(env.path("other.key.pub")).unwrap();
    let other_key = other_pub.lines().nth(1).unwrap();
    l.push(last.replace(logs_key, other_key).into_bytes());
    write_lines(&env.log, &l);
    let (code, _, why, _) = env.verify_json(&env.log, &[]);
    assert_eq!(code, 1, "{why}");
}

/// The unit's `ExecReload=` line, run as systemd would (with $MAINPID set to
/// the pipeline shell), against `producer | bd-log append` under a bash
/// parent: only bd-log gets SIGHUP (the producer, whose default HUP action is
/// to die, keeps running), and the appender rotates instead of stopping.
#[test]
fn unit_exec_reload_signals_only_the_appender() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../systemd/boundary.service"),
    )
    .expect("read systemd/boundary.service");
    let reload = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecReload="))
        .expect("boundary.service has ExecReload=");
    assert!(
        Path::new("/usr/bin/pkill").exists(),
        "procps' pkill is what ExecReload runs"
    );
    let env = Env::new();
    let fifo = env.path("in");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    // `cat` stands in for the pipeline's other stages: a child of the shell
    // that dies on SIGHUP by default.
    let script = format!(
        "cat {} | {} append -t 1s -l {} -k {}",
        fifo.display(),
        BIN,
        env.log.display(),
        env.key.display()
    );
    let mut shell = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    w.write_all(&records(0, 10)).unwrap();
    w.flush().unwrap();
    wait_for("records", || ids_in(&env.log).last() == Some(&9));
    std::fs::rename(&env.log, env.path("log.1")).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(reload)
        .env("MAINPID", shell.id().to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "ExecReload failed: {}", stderr(&out));
    // SIGHUP alone closes log.1 and starts the new file, before any write.
    wait_for("the new file after ExecReload", || env.log.exists());
    w.write_all(&records(10, 5)).unwrap();
    w.flush().unwrap();
    wait_for("records after reload", || {
        ids_in(&env.log).last() == Some(&14)
    });
    drop(w);
    let st = shell.wait().unwrap();
    assert!(
        st.success(),
        "the pipeline survived the reload and ended cleanly"
    );
    assert_linked(&env.path("log.1"), &env.log);
    let (code, v) = verify_set(&env, &[&env.path("log.1"), &env.log], &[]);
    assert_eq!(code, 0, "{v}");
}
