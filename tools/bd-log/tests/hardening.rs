//! Userspace hardening of bd-log (issue 15): I/O failures end in documented
//! exit codes, never a panic; non-regular files are refused, never waited on;
//! a failed repair leaves nothing behind.

mod common;
use common::*;
use std::fs::{File, OpenOptions};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn fixture() -> Env {
    let env = Env::new();
    let out = env.append(&records(0, 20), &["-n", "5"]);
    assert!(out.status.success(), "append: {}", stderr(&out));
    env
}

/// Runs bd-log with stderr on /dev/full (every diagnostic fails with ENOSPC).
fn with_full_stderr(args: &[&std::ffi::OsStr]) -> Option<i32> {
    let full = OpenOptions::new().write(true).open("/dev/full").unwrap();
    Command::new(BIN)
        .args(args)
        .stdout(Stdio::null())
        .stderr(full)
        .status()
        .unwrap()
        .code()
}

/// Runs bd-log with stderr closed.
fn with_closed_stderr(args: &[&std::ffi::OsStr]) -> Option<i32> {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(BIN);
    cmd.args(args).stdout(Stdio::null());
    // SAFETY: close(2) between fork and exec touches no Rust state.
    unsafe {
        cmd.pre_exec(|| {
            libc::close(2);
            Ok(())
        });
    }
    cmd.status().unwrap().code()
}

#[test]
fn a_full_or_closed_stderr_never_turns_an_exit_code_into_a_panic() {
    let env = fixture();
    // A tampered log: verify says so on stderr, which cannot be written.
    let mut ls = lines(&env.log);
    ls[3][20] ^= 1;
    let bad = env.path("bad");
    write_lines(&bad, &ls);
    let os = |s: &str| std::ffi::OsString::from(s);
    let verify_bad = [
        os("verify"),
        os("-l"),
        bad.clone().into(),
        os("-p"),
        env.pubkey.clone().into(),
    ];
    let refs: Vec<&std::ffi::OsStr> = verify_bad.iter().map(|s| s.as_os_str()).collect();
    assert_eq!(
        with_full_stderr(&refs),
        Some(1),
        "tampered log, stderr full"
    );
    assert_eq!(
        with_closed_stderr(&refs),
        Some(1),
        "tampered log, stderr closed"
    );

    // Could not decide (no such log): 2, not 101.
    let missing = [
        os("verify"),
        os("-l"),
        env.path("nope").into(),
        os("-p"),
        env.pubkey.clone().into(),
    ];
    let refs: Vec<&std::ffi::OsStr> = missing.iter().map(|s| s.as_os_str()).collect();
    assert_eq!(with_full_stderr(&refs), Some(2));
    assert_eq!(with_closed_stderr(&refs), Some(2));

    // Twin: the same runs with a working stderr print the verdicts, so the
    // calls above did reach the code that writes them.
    let out = env.verify(&bad, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!stderr(&out).is_empty() || !stdout(&out).is_empty());
}

#[test]
fn append_with_stderr_full_keeps_its_exit_code() {
    let env = fixture();
    let full = OpenOptions::new().write(true).open("/dev/full").unwrap();
    let mut child = Command::new(BIN)
        .args(["append", "-l"])
        .arg(&env.log)
        .arg("-k")
        .arg(&env.key)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(full)
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"ok\":1}\nnot json\n")
        .unwrap();
    let st = child.wait().unwrap();
    assert_eq!(
        st.code(),
        Some(1),
        "a non-JSON line is exit 1, stderr or not"
    );
    assert_eq!(
        record_ids(&env.log).len(),
        20,
        "the 20 records are still there"
    );
    let out = env.verify(&env.log, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: plain mkfifo(3) on a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// Runs bd-log with a deadline; a hang is a failure, not a stuck test.
fn run_bounded(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (st.code(), err);
        }
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("bd-log {args:?} hung on a FIFO");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_fifo_as_log_is_refused_with_exit_2_by_every_command() {
    let env = fixture();
    let fifo = env.path("fifo");
    mkfifo(&fifo);
    let f = fifo.as_os_str();
    let p = env.pubkey.as_os_str();
    let k = env.key.as_os_str();
    let cases: Vec<Vec<&std::ffi::OsStr>> = vec![
        vec!["verify".as_ref(), "-l".as_ref(), f, "-p".as_ref(), p],
        vec!["checkpoint".as_ref(), "-l".as_ref(), f, "-p".as_ref(), p],
        vec!["show".as_ref(), "-l".as_ref(), f],
        vec!["tail".as_ref(), "-l".as_ref(), f],
        vec!["repair".as_ref(), "-l".as_ref(), f],
        vec!["append".as_ref(), "-l".as_ref(), f, "-k".as_ref(), k],
    ];
    for args in cases {
        let (code, err) = run_bounded(&args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains("FIFO"), "{args:?} should name the FIFO: {err}");
    }
    // A directory too.
    let (code, err) = run_bounded(&[
        "verify".as_ref(),
        "-l".as_ref(),
        env.dir.path().as_os_str(),
        "-p".as_ref(),
        p,
    ]);
    assert_eq!(code, Some(2), "{err}");
    // Twin: the regular log verifies.
    assert!(env.verify(&env.log, &[]).status.success());
}

/// A tmpfs of `kib` KiB at a fresh directory, unmounted on drop.
struct Tmpfs(tempfile::TempDir);
impl Tmpfs {
    fn new(kib: u32) -> Tmpfs {
        let d = tempfile::tempdir().unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "bd-log-test"])
            .arg(d.path())
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs (the tests run as root)");
        Tmpfs(d)
    }
}
impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn repair_on_a_full_disk_leaves_no_torn_files_behind() {
    let env = fixture();
    let fs = Tmpfs::new(256);
    let log = fs.0.path().join("boundary.log");
    let mut data = std::fs::read(&env.log).unwrap();
    data.extend_from_slice(&[b'x'; 3000]); // a torn last line
    std::fs::write(&log, &data).unwrap();
    // Fill the disk: every further data block fails with ENOSPC.
    {
        use std::io::Write;
        let mut f = File::create(fs.0.path().join("filler")).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
    }
    for _ in 0..3 {
        let out = env.cmd(&["repair", "-l", log.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("the log was not changed"),
            "{}",
            stderr(&out)
        );
    }
    let torn: Vec<_> = std::fs::read_dir(fs.0.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".torn-"))
        .collect();
    assert!(torn.is_empty(), "left behind: {torn:?}");
    assert_eq!(std::fs::read(&log).unwrap(), data, "the log is unchanged");
    // Twin: with room again the same repair succeeds and saves the bytes.
    std::fs::remove_file(fs.0.path().join("filler")).unwrap();
    let out = env.cmd(&["repair", "-l", log.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let torn = std::fs::read_dir(fs.0.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".torn-"))
        .count();
    assert_eq!(torn, 1);
}

fn checkpoint(env: &Env, log: &Path) -> std::process::Output {
    env.cmd(&[
        "checkpoint",
        "-l",
        log.to_str().unwrap(),
        "-p",
        env.pubkey.to_str().unwrap(),
    ])
}

/// `bd-log checkpoint` exports only a checkpoint the whole log verifies up to:
/// a replayed old checkpoint, a garbage checkpoint-looking line, a rewritten
/// entry or a log under another key exports nothing (exit 1), so a rollback can
/// never become an anchor.
#[test]
fn checkpoint_exports_only_what_verifies() {
    let env = fixture();
    let ls = lines(&env.log);
    let cps: Vec<usize> = (0..ls.len()).filter(|&i| is_checkpoint(&ls[i])).collect();
    assert!(cps.len() >= 3, "the fixture has several checkpoints");

    // Twin: the genuine log exports its last line, which anchors verify.
    let out = checkpoint(&env, &env.log);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout, [ls.last().unwrap().as_slice(), b"\n"].concat());

    // A replayed old checkpoint appended at the end (valid signature, wrong place).
    let mut replay = ls.clone();
    replay.push(ls[cps[1]].clone());
    let p = env.path("replay");
    write_lines(&p, &replay);
    let out = checkpoint(&env, &p);
    assert_eq!(out.status.code(), Some(1), "replayed: {}", stderr(&out));
    assert!(out.stdout.is_empty(), "nothing exported");

    // A rollback: cut back to an earlier checkpoint, then append a forged one.
    let mut rolled: Vec<Vec<u8>> = ls[..=cps[1]].to_vec();
    let mut forged = ls[cps[2]].clone();
    let at = forged.windows(4).position(|w| w == b"sig\"").unwrap() + 6;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    rolled.push(forged);
    let p = env.path("rolled");
    write_lines(&p, &rolled);
    let out = checkpoint(&env, &p);
    assert_eq!(out.status.code(), Some(1), "forged: {}", stderr(&out));
    assert!(out.stdout.is_empty());

    // Garbage that looks like a checkpoint.
    let mut garbage = ls.clone();
    garbage.push(br#"{"seq":999,"checkpoint":{"x":1}}"#.to_vec());
    let p = env.path("garbage");
    write_lines(&p, &garbage);
    let out = checkpoint(&env, &p);
    assert_eq!(out.status.code(), Some(1), "garbage: {}", stderr(&out));
    assert!(out.stdout.is_empty());

    // A rewritten record before the last checkpoint.
    let mut edited = ls.clone();
    let i = cps[1] + 1;
    let pos = edited[i].len() - 3;
    edited[i][pos] ^= 1;
    let p = env.path("edited");
    write_lines(&p, &edited);
    let out = checkpoint(&env, &p);
    assert_eq!(out.status.code(), Some(1), "edited: {}", stderr(&out));
    assert!(out.stdout.is_empty());

    // Another key: nothing verifies, nothing is exported.
    let other = Env::new();
    let out = checkpoint(&other, &env.log);
    assert_ne!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
}

/// Appends one correctly chained entry whose record is `rec`, as a keyless
/// writer could: right seq, prev and a ts after the last one.
fn chain_record(log: &Path, rec: &[u8]) {
    let ls = lines(log);
    let last = ls.last().unwrap();
    let prev = hex_lower(&chain_prev(&ls[0], last));
    let v: serde_json::Value = serde_json::from_slice(last).unwrap();
    let seq = v["seq"].as_u64().unwrap() + 1;
    let ts = v["ts"].as_str().unwrap().to_string();
    let mut line =
        format!("{{\"seq\":{seq},\"ts\":\"{ts}\",\"prev\":\"{prev}\",\"record\":").into_bytes();
    line.extend_from_slice(rec);
    line.extend_from_slice(b"}\n");
    let mut f = OpenOptions::new().append(true).open(log).unwrap();
    use std::io::Write;
    f.write_all(&line).unwrap();
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// verify fails on an uncovered record the writer never writes (issue 15.7),
/// and passes the same construction with a record it does write.
#[test]
fn verify_rejects_uncovered_records_the_writer_never_writes() {
    let mut big = b"\"".to_vec();
    big.extend(std::iter::repeat_n(b'a', (1 << 20) + 10));
    big.push(b'"');
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "invalid UTF-8 in a string",
            b"{\"a\":\"\xff\xfe\"}".to_vec(),
        ),
        (
            "overlong UTF-8 (/ as C0 AF)",
            b"{\"a\":\"\xc0\xaf\"}".to_vec(),
        ),
        (
            "UTF-16 surrogate as UTF-8",
            b"{\"a\":\"\xed\xa0\x80\"}".to_vec(),
        ),
        ("over 1 MiB", big),
        ("leading space", b" {\"a\":1}".to_vec()),
        ("trailing CR", b"{\"a\":1}\r".to_vec()),
    ];
    for (what, rec) in cases {
        let env = fixture();
        // The writer refuses it as input, too.
        let mut input = rec.clone();
        input.push(b'\n');
        let out = env.append(&input, &[]);
        if what != "leading space" && what != "trailing CR" {
            assert_eq!(
                out.status.code(),
                Some(1),
                "{what}: append took it: {}",
                stderr(&out)
            );
        }
        // (surrounding whitespace is trimmed from input, so those two are stored trimmed)
        let log = env.path("forged");
        std::fs::copy(&env.log, &log).unwrap();
        chain_record(&log, &rec);
        let seq = lines(&log).len() as u64 - 1;
        let (code, bad, reason, _) = env.verify_json(&log, &[]);
        assert_eq!(
            code, 1,
            "{what}: verify passed an uncovered record the writer never writes"
        );
        assert_eq!(bad, Some(seq), "{what}: {reason}");
    }
    // Twin: a well-formed record chained the same way verifies (uncovered).
    let env = fixture();
    let log = env.path("fine");
    std::fs::copy(&env.log, &log).unwrap();
    chain_record(&log, b"{\"a\":\"caf\xc3\xa9\"}");
    let (code, _, reason, v) = env.verify_json(&log, &[]);
    assert_eq!(code, 0, "{reason}");
    assert_eq!(v["uncovered"], 1);
}

/// Runs bd-log with `input` on stdin (from a temp file, so this process holds
/// no pipe) and returns (exit code, stderr, the child's own peak RSS in KiB),
/// from wait4(2) on that child alone.
// The child is reaped by wait4(2) below, which std's Child cannot see.
#[allow(clippy::zombie_processes)]
fn run_measured(args: &[&std::ffi::OsStr], input: Option<&Path>) -> (Option<i32>, String, i64) {
    let stdin = match input {
        Some(p) => Stdio::from(File::open(p).unwrap()),
        None => Stdio::null(),
    };
    let err = tempfile::NamedTempFile::new().unwrap();
    let child = Command::new(BIN)
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(Stdio::from(err.reopen().unwrap()))
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: wait4 on our own child; rusage is a plain struct.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        let r = libc::wait4(child.id() as i32, &mut status, 0, &mut ru);
        assert_eq!(r, child.id() as i32);
        ru
    };
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    (
        code,
        std::fs::read_to_string(err.path()).unwrap(),
        ru.ru_maxrss,
    )
}

/// A 100 MB line (in the log for verify, on stdin for append) is refused
/// without ever being held: both stay far below its size in memory (15.8).
#[test]
fn an_overlong_line_is_refused_in_bounded_memory() {
    const BIG: usize = 100 << 20;
    let env = fixture();
    let log = env.path("long");
    std::fs::copy(&env.log, &log).unwrap();
    let block = vec![b'a'; 1 << 20];
    {
        use std::io::Write;
        let mut f = OpenOptions::new().append(true).open(&log).unwrap();
        for _ in 0..BIG >> 20 {
            f.write_all(&block).unwrap();
        }
        f.write_all(b"\n").unwrap();
        f.write_all(&lines(&env.log)[3]).unwrap();
        f.write_all(b"\n").unwrap();
    }
    let seq = lines(&env.log).len() as u64;
    let (code, bad, reason, _) = env.verify_json(&log, &[]);
    assert_eq!(code, 1, "{reason}");
    assert_eq!(bad, Some(seq), "{reason}");
    assert!(reason.contains("longer than"), "{reason}");
    let os = |s: &str| std::ffi::OsString::from(s);
    let args = [
        os("verify"),
        os("-l"),
        log.clone().into(),
        os("-p"),
        env.pubkey.clone().into(),
    ];
    let refs: Vec<&std::ffi::OsStr> = args.iter().map(|s| s.as_os_str()).collect();
    let (code, _, rss) = run_measured(&refs, None);
    assert_eq!(code, Some(1));
    assert!(rss < 80 * 1024, "verify held the line: peak RSS {rss} KiB");

    // append: one good line, the huge one, then another good one.
    let input = env.path("input");
    {
        use std::io::Write;
        let mut f = File::create(&input).unwrap();
        f.write_all(b"{\"before\":1}\n").unwrap();
        for _ in 0..BIG >> 20 {
            f.write_all(&block).unwrap();
        }
        f.write_all(b"\n{\"after\":1}\n").unwrap();
    }
    let args = [
        os("append"),
        os("-l"),
        env.log.clone().into(),
        os("-k"),
        env.key.clone().into(),
        os("--skip-invalid"),
    ];
    let refs: Vec<&std::ffi::OsStr> = args.iter().map(|s| s.as_os_str()).collect();
    let (code, err, rss) = run_measured(&refs, Some(&input));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("longer than any record"), "{err}");
    assert!(rss < 80 * 1024, "append held the line: peak RSS {rss} KiB");
    let all = std::fs::read_to_string(&env.log).unwrap();
    assert!(all.contains("{\"before\":1}") && all.contains("{\"after\":1}"));
    assert!(env.verify(&env.log, &[]).status.success());
}

/// The soft "Max core file size" of `pid`, from /proc/PID/limits.
fn soft_core_limit(pid: u32) -> String {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap_or_else(|| panic!("no core limit in {limits}"));
    line.trim_start_matches("Max core file size")
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// A running `bd-log append` holds the signing key; built with panic =
/// "abort", a panic is a SIGABRT, which would dump core. Its soft core limit
/// is 1, which the kernel reads as "never dump" for file and pipe patterns
/// alike. Twin: a process started the same way without bd-log keeps the
/// limit it inherited.
#[test]
fn a_running_append_never_dumps_core() {
    let env = fixture();
    let mut child = Command::new(BIN)
        .args(["append", "-k"])
        .arg(&env.key)
        .arg("-l")
        .arg(&env.log)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut twin = Command::new("sleep").arg("30").spawn().unwrap();
    // Wait for append to have started (its key is loaded before it reads).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut limit = String::new();
    while Instant::now() < deadline {
        limit = soft_core_limit(child.id());
        if limit == "1" {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(limit, "1", "bd-log append's soft core limit");
    assert_ne!(soft_core_limit(twin.id()), "1", "twin: inherited limit");
    let _ = twin.kill();
    let _ = twin.wait();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
}
