//! bd-inject on the host kernel: sealed memfds, no secret on disk, argv or
//! environment (unless --env), exit codes and signals passed through, and
//! clear failures. The shield itself is tested in the VM (vm_inject.rs).

use bd_tests::bin;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output, Stdio};

const SECRET: &[u8] = b"correct horse battery staple";

fn inject(args: &[&str], cmd: &[&str]) -> Output {
    Command::new(bin("bd-inject"))
        .args(args)
        .arg("--")
        .args(cmd)
        .stdin(Stdio::null())
        .output()
        .expect("spawn bd-inject")
}

fn secret_file(dir: &tempfile::TempDir, content: &[u8]) -> String {
    let p = dir.path().join(format!("secret-{}", content.len()));
    std::fs::write(&p, content).unwrap();
    p.to_str().unwrap().to_owned()
}

/// The injected child's side of `memfd_is_sealed_and_the_only_copy`: run by
/// that test through bd-inject, never on its own.
#[test]
#[ignore = "helper: run by inject_memfd_is_sealed as the injected child"]
fn probe_injected_child() {
    let want = std::env::var("BD_PROBE_WANT").expect("only run through bd-inject by the test");
    let path = std::env::var("S_FILE").expect("S_FILE set");
    assert_eq!(path, "/proc/self/fd/3");
    assert_eq!(std::fs::read(&path).unwrap(), want.as_bytes());
    // The value itself is not in our environment or argv.
    assert!(std::env::var_os("S").is_none());
    for a in std::env::args() {
        assert!(!a.contains(&want), "secret in argv");
    }
    // fd 3 is an unlinked memfd, sealed every way.
    let link = std::fs::read_link("/proc/self/fd/3").unwrap();
    let link = link.to_string_lossy();
    assert!(
        link.starts_with("/memfd:S") && link.ends_with("(deleted)"),
        "{link}"
    );
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::fstat(3, &mut st) }, 0);
    assert_eq!(st.st_nlink, 0, "the secret has a name on some file system");
    let seals = unsafe { libc::fcntl(3, libc::F_GET_SEALS) };
    let all = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    assert_eq!(seals & all, all, "seals {seals:#x}");
    let errno = || std::io::Error::last_os_error().raw_os_error();
    assert_eq!(unsafe { libc::write(3, b"x".as_ptr().cast(), 1) }, -1);
    assert_eq!(errno(), Some(libc::EPERM), "write");
    assert_eq!(unsafe { libc::ftruncate(3, 0) }, -1);
    assert_eq!(errno(), Some(libc::EPERM), "truncate");
    assert_eq!(unsafe { libc::ftruncate(3, 1 << 20) }, -1);
    assert_eq!(errno(), Some(libc::EPERM), "grow");
    assert_eq!(unsafe { libc::fcntl(3, libc::F_ADD_SEALS, 0) }, -1);
    assert_eq!(errno(), Some(libc::EPERM), "seals are sealed");
    // Nothing else leaked in: 0, 1, 2, 3 and the fd read_dir itself uses.
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().parse().unwrap())
        .collect();
    assert!(
        fds.iter().filter(|&&f| f > 3).count() <= 1,
        "stray fds: {fds:?}"
    );
    std::process::exit(0);
}

#[test]
fn inject_memfd_is_sealed_and_the_only_copy() {
    let dir = tempfile::tempdir().unwrap();
    let f = secret_file(&dir, SECRET);
    let me = std::env::current_exe().unwrap();
    let out = Command::new(bin("bd-inject"))
        .args(["--name", "S", "--from-file", &f, "--"])
        .arg(&me)
        .args([
            "--exact",
            "probe_injected_child",
            "--ignored",
            "--nocapture",
        ])
        .env("BD_PROBE_WANT", std::str::from_utf8(SECRET).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "probe failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn inject_value_is_in_the_environment_only_with_env() {
    let dir = tempfile::tempdir().unwrap();
    let f = secret_file(&dir, SECRET);
    let out = inject(&["--name", "S", "--from-file", &f], &["/usr/bin/env"]);
    assert!(out.status.success());
    let env = String::from_utf8_lossy(&out.stdout);
    assert!(env.lines().any(|l| l == "S_FILE=/proc/self/fd/3"), "{env}");
    assert!(!env.contains(std::str::from_utf8(SECRET).unwrap()), "{env}");

    let out = inject(
        &["--name", "S", "--from-file", &f, "--env"],
        &["/usr/bin/env"],
    );
    let env = String::from_utf8_lossy(&out.stdout);
    assert!(
        env.lines()
            .any(|l| l.as_bytes() == [b"S=", SECRET].concat()),
        "{env}"
    );
}

#[test]
fn inject_several_secrets_from_file_env_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let f = secret_file(&dir, b"from-file\n");
    let mut child = Command::new(bin("bd-inject"))
        .args(["--name", "A", "--from-file", &f, "--name", "B", "--from-env", "SRC_B"])
        .args(["--name", "C", "--", "/bin/sh", "-c"])
        .arg(r#"printf '%s|%s|%s|%s' "$(cat "$A_FILE")" "$(cat "$B_FILE")" "$(cat "$C_FILE")" "${SRC_B-gone}""#)
        .env("SRC_B", "from-env")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from-stdin\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    // One trailing newline is dropped; the --from-env source is not passed on.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "from-file|from-env|from-stdin|gone"
    );
}

#[test]
fn inject_passes_exit_codes_and_signals_through() {
    let dir = tempfile::tempdir().unwrap();
    let f = secret_file(&dir, SECRET);
    let out = inject(
        &["--name", "S", "--from-file", &f],
        &["/bin/sh", "-c", "exit 42"],
    );
    assert_eq!(out.status.code(), Some(42));
    let out = inject(
        &["--name", "S", "--from-file", &f],
        &["/bin/sh", "-c", "kill -TERM $$"],
    );
    assert_eq!(out.status.signal(), Some(libc::SIGTERM), "{:?}", out.status);
}

/// Issue 12: CMD replaces bd-inject (exec in place, no fork and wait): it
/// runs under bd-inject's pid, the one the shield protects, and nothing of
/// bd-inject stays behind as its parent.
#[test]
fn inject_execs_cmd_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let f = secret_file(&dir, SECRET);
    let child = Command::new(bin("bd-inject"))
        .args(["--name", "S", "--from-file", &f, "--", "/bin/sh", "-c"])
        .arg("echo $$; cat /proc/$PPID/comm; cat \"$S_FILE\"")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(pid.to_string().as_str()), "{text}");
    assert_ne!(lines.next(), Some("bd-inject"), "{text}");
    assert_eq!(
        lines.next(),
        Some(std::str::from_utf8(SECRET).unwrap()),
        "{text}"
    );
}

#[test]
fn inject_forwards_sigterm_to_the_child() {
    let dir = tempfile::tempdir().unwrap();
    let f = secret_file(&dir, SECRET);
    let mut child = Command::new(bin("bd-inject"))
        .args(["--name", "S", "--from-file", &f, "--", "/bin/sh", "-c"])
        .arg("trap 'exit 7' TERM; echo up; while :; do sleep 0.05; done")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "up\n");
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(7));
}

fn fails(out: &Output, code: i32, msg: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(err.starts_with("bd-inject: ") && err.contains(msg), "{err}");
}

#[test]
fn inject_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = secret_file(&dir, SECRET);
    let missing = dir.path().join("nope");
    let m = missing.to_str().unwrap();
    fails(
        &inject(&["--name", "S", "--from-file", m], &["true"]),
        125,
        m,
    );
    fails(
        &inject(&["--name", "S", "--from-env", "BD_NO_SUCH_VAR"], &["true"]),
        125,
        "BD_NO_SUCH_VAR: the variable is not set",
    );
    let empty = secret_file(&dir, b"");
    fails(
        &inject(&["--name", "S", "--from-file", &empty], &["true"]),
        125,
        "is empty",
    );
    let big = dir.path().join("big");
    std::fs::write(&big, vec![b'x'; (1 << 20) + 1]).unwrap();
    fails(
        &inject(
            &["--name", "S", "--from-file", big.to_str().unwrap()],
            &["true"],
        ),
        125,
        "limit of 1048576 bytes",
    );
    fails(
        &inject(&["--name", "S", "--from-file", &f], &["bd-no-such-command"]),
        127,
        "command not found",
    );
    fails(
        &inject(&["--name", "S", "--from-file", &f], &[&f]),
        126,
        "cannot execute",
    );
    fails(
        &inject(&["--name", "1S", "--from-file", &f], &["true"]),
        125,
        "not a valid",
    );
    fails(
        &inject(
            &[
                "--name",
                "S",
                "--from-file",
                &f,
                "--name",
                "S",
                "--from-file",
                &f,
            ],
            &["true"],
        ),
        125,
        "given twice",
    );
    // No shield loaded under this pin dir: --require-protection refuses.
    let pin = format!("/sys/fs/bpf/bd-test-inject-none-{}", std::process::id());
    fails(
        &inject(
            &[
                "--require-protection",
                "--pin-dir",
                &pin,
                "--name",
                "S",
                "--from-file",
                &f,
            ],
            &["true"],
        ),
        125,
        "--require-protection",
    );
}

/// Issue 15 item 15: an executable file with no #! line and no known binary
/// format is "cannot execute" (126), never handed to /bin/sh (whose own
/// failure on the garbage was 127).
#[test]
fn inject_executable_without_shebang_exits_126() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let f = secret_file(&dir, SECRET);
    let prog = dir.path().join("no-shebang");
    // Text /bin/sh would run (and exit 0 with "ran"): a fallback would show.
    std::fs::write(&prog, b"echo ran\nexit 0\n").unwrap();
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = inject(
        &["--name", "S", "--from-file", &f],
        &[prog.to_str().unwrap()],
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("ran"),
        "handed to a shell: {out:?}"
    );
    fails(&out, 126, "cannot execute");
    // Found through PATH, the same.
    let out = Command::new(bin("bd-inject"))
        .args(["--name", "S", "--from-file", &f, "--", "no-shebang"])
        .env("PATH", dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    fails(&out, 126, "cannot execute");
}

/// Issue 15 item 15: a --from-env value is not left in bd-inject's own
/// environment block (/proc/PID/environ, its stack) while CMD runs.
#[test]
fn inject_scrubs_from_env_value_from_its_own_environment() {
    let var = format!("BD_T_SCRUB_{}", std::process::id());
    let secret = format!("scrub-me-{}-{}", std::process::id(), "x".repeat(40));
    let mut child = Command::new(bin("bd-inject"))
        .args(["--name", "S", "--from-env", &var, "--", "sleep", "30"])
        .env(&var, &secret)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // bd-inject execs CMD in place: wait until this pid is sleep, and until
    // the kernel has laid out its new stack (environ reads empty before).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if comm.trim() == "sleep" && !env.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "CMD never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        !env.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the --from-env value is in the environment block of bd-inject's pid"
    );
    // The twin: the same read of a process that did not scrub shows it,
    // so the read above is able to see a value.
    let mut plain = Command::new("sleep")
        .arg("30")
        .env(&var, &secret)
        .spawn()
        .unwrap();
    // spawn() returns once exec has closed the CLOEXEC pipe, before the
    // kernel has laid out the new stack: environ reads empty until then.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let env = loop {
        let env = std::fs::read(format!("/proc/{}/environ", plain.id())).unwrap();
        if !env.is_empty() || std::time::Instant::now() > deadline {
            break env;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let _ = plain.kill();
    let _ = plain.wait();
    assert!(env.windows(secret.len()).any(|w| w == secret.as_bytes()));
}

/// Issue 8: bd-inject refuses (124) to hand a secret over while traced, and
/// runs nothing. The tracer here is the test itself (PTRACE_TRACEME).
#[test]
fn inject_refuses_when_traced() {
    use std::os::unix::process::CommandExt as _;
    let dir = tempfile::tempdir().unwrap();
    let f = secret_file(&dir, SECRET);
    let marker = dir.path().join("ran");
    let mut cmd = Command::new(bin("bd-inject"));
    cmd.args(["--name", "S", "--from-file", &f, "--", "touch"])
        .arg(&marker)
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: ptrace(PTRACE_TRACEME) is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    // Act as a minimal tracer: resume every stop until it exits.
    let code = loop {
        let mut st = 0;
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid, &mut st, libc::__WALL) };
        assert_eq!(r, pid, "waitpid: {}", std::io::Error::last_os_error());
        if libc::WIFEXITED(st) {
            break Some(libc::WEXITSTATUS(st));
        }
        if libc::WIFSIGNALED(st) {
            break None;
        }
        let sig = libc::WSTOPSIG(st);
        let deliver = if sig == libc::SIGTRAP { 0 } else { sig };
        // SAFETY: resuming our stopped tracee.
        unsafe { libc::ptrace(libc::PTRACE_CONT, pid, 0, deliver) };
    };
    let mut err = String::new();
    use std::io::Read as _;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    // Already reaped by waitpid above; this only satisfies the Child API.
    let _ = child.wait();
    assert_eq!(code, Some(124), "{err}");
    assert!(err.contains("is being traced (TracerPid"), "{err}");
    assert!(!marker.exists(), "CMD ran although bd-inject was traced");
}

/// SigIgn of the process reading /proc/self/status, as a bit mask.
fn sig_ignored(status: &str) -> u64 {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .unwrap_or_else(|| panic!("no SigIgn in {status}"));
    u64::from_str_radix(line.trim(), 16).unwrap()
}

/// bd-inject's own runtime ignores SIGPIPE and an ignored signal survives
/// execve, so CMD must be handed SIGPIPE back at its default, as a spawned
/// child was: `bd-inject ... -- producer | head` must end the producer.
#[test]
fn inject_starts_cmd_with_sigpipe_at_its_default() {
    let dir = tempfile::tempdir().unwrap();
    let f = secret_file(&dir, SECRET);
    let pipe_bit = 1u64 << (libc::SIGPIPE - 1);
    let out = inject(
        &["--name", "S", "--from-file", &f],
        &["/bin/cat", "/proc/self/status"],
    );
    assert!(out.status.success(), "{out:?}");
    let ign = sig_ignored(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        ign & pipe_bit,
        0,
        "CMD starts with SIGPIPE ignored: {ign:#x}"
    );
    // The probe sees an ignored SIGPIPE when there is one.
    let out = inject(
        &["--name", "S", "--from-file", &f],
        &[
            "/bin/sh",
            "-c",
            "trap '' PIPE; exec /bin/cat /proc/self/status",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let ign = sig_ignored(&String::from_utf8_lossy(&out.stdout));
    assert_ne!(ign & pipe_bit, 0, "{ign:#x}");
    // And the default does what it is for: the producer dies of SIGPIPE.
    let mut child = Command::new(bin("bd-inject"))
        .args(["--name", "S", "--from-file", &f, "--", "/usr/bin/yes"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let st = child.wait().unwrap();
    assert_eq!(st.signal(), Some(libc::SIGPIPE), "{st:?}");
}

/// The read buffer starts at a regular file's size: a file whose size says
/// nothing (procfs reports 0) is still read whole, and a file of exactly the
/// limit is accepted while one byte more is refused (inject_clear_errors).
#[test]
fn inject_reads_files_whatever_their_reported_size() {
    let out = inject(
        &["--name", "S", "--from-file", "/proc/sys/kernel/ostype"],
        &["/bin/sh", "-c", "cat \"$S_FILE\""],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"Linux");
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    std::fs::write(&full, vec![b'y'; 1 << 20]).unwrap();
    let out = inject(
        &["--name", "S", "--from-file", full.to_str().unwrap()],
        &["/bin/sh", "-c", "wc -c < \"$S_FILE\""],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1048576");
}

/// Each --env applies to the --name it follows, also when repeated (the
/// clap-based bd-inject kept only the last --env: A was left out). Twin: a
/// name without --env is not in the environment.
#[test]
fn inject_each_env_applies_to_the_name_it_follows() {
    let dir = tempfile::tempdir().unwrap();
    let a = secret_file(&dir, b"value-a");
    let b = secret_file(&dir, b"value-bb");
    let c = secret_file(&dir, b"value-ccc");
    let out = inject(
        &[
            "--name",
            "A",
            "--from-file",
            &a,
            "--env",
            "--name",
            "B",
            "--from-file",
            &b,
            "--env",
            "--name",
            "C",
            "--from-file",
            &c,
        ],
        &["/usr/bin/env"],
    );
    assert!(out.status.success(), "{out:?}");
    let env = String::from_utf8_lossy(&out.stdout);
    assert!(env.lines().any(|l| l == "A=value-a"), "{env}");
    assert!(env.lines().any(|l| l == "B=value-bb"), "{env}");
    assert!(!env.contains("value-ccc"), "{env}");
    assert!(env.lines().any(|l| l == "C_FILE=/proc/self/fd/5"), "{env}");
}
