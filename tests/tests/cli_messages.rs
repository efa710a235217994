//! Issue 11 item 8 and 2: messages a new user meets, through the binaries.

use bd_tests::bin;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

/// `bd-lock keygen -o DIR/that/does/not/exist/alice.key` creates the
/// directories (0700) instead of failing; an existing file is still refused.
#[test]
fn lock_keygen_creates_missing_parent_dirs_private() {
    let d = tempfile::tempdir().unwrap();
    let key = d.path().join("home/.boundary/alice.key");
    let o = Command::new(bin("bd-lock"))
        .args(["keygen", "-o"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for dir in ["home", "home/.boundary"] {
        let m = std::fs::metadata(d.path().join(dir)).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o700, "{dir}");
    }
    assert!(key.exists() && d.path().join("home/.boundary/alice.key.pub").exists());
    let o = Command::new(bin("bd-lock"))
        .args(["keygen", "-o"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// `bd-log append -k KEY.pub` says a public key was given, not "chmod 600".
#[test]
fn log_append_with_a_public_key_says_so() {
    let d = tempfile::tempdir().unwrap();
    let key = d.path().join("log.key");
    let o = Command::new(bin("bd-log"))
        .args(["keygen", "-o"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = Command::new(bin("bd-log"))
        .args(["append", "-l"])
        .arg(d.path().join("log"))
        .arg("-k")
        .arg(d.path().join("log.key.pub"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("this is a public key"), "{err}");
    assert!(!err.contains("chmod"), "{err}");
}

/// Help for the options issue 11 found empty.
#[test]
fn lock_help_documents_reason_and_heartbeat() {
    for (sub, flag) in [
        ("engage", "--reason"),
        ("init", "--reason"),
        ("arm", "--heartbeat"),
    ] {
        let o = Command::new(bin("bd-lock"))
            .args([sub, "--help"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        let line = text
            .lines()
            .skip_while(|l| !l.trim_start().starts_with(flag))
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let described = line
            .split_once('>')
            .map(|(_, rest)| rest.trim())
            .unwrap_or("");
        assert!(described.len() > 10, "{sub} {flag} has no help: {line:?}");
    }
}

/// Issue 11 item 7: on a terminal bd-inject prompts on stderr and turns echo
/// off, so the typed secret never appears on the screen (the pty transcript
/// `script` records); an empty secret is refused (125) unless --allow-empty.
#[test]
fn inject_prompts_without_echo_and_refuses_an_empty_secret() {
    fn on_tty(args: &str, typed: &'static str) -> (String, std::process::ExitStatus) {
        let cmd = format!("{} {args}; echo rc=$?", bin("bd-inject").display());
        let mut c = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("script(1) from util-linux");
        let mut stdin = c.stdin.take().unwrap();
        // Type only once the prompt is up (echo is off by then), and keep
        // the pty open until bd-inject has read the line.
        let w = std::thread::spawn(move || {
            use std::io::Write;
            std::thread::sleep(std::time::Duration::from_millis(700));
            let _ = stdin.write_all(typed.as_bytes());
            std::thread::sleep(std::time::Duration::from_millis(1500));
        });
        let o = c.wait_with_output().unwrap();
        w.join().unwrap();
        (String::from_utf8_lossy(&o.stdout).into_owned(), o.status)
    }
    let (t, _) = on_tty("--name S -- sh -c 'wc -c < \"$S_FILE\"'", "hunter2-typed\n");
    assert!(
        t.contains("bd-inject: secret for S (input hidden): "),
        "{t}"
    );
    assert!(!t.contains("hunter2"), "the secret was echoed: {t}");
    assert!(t.contains("\n13\r") && t.contains("rc=0"), "{t}");

    let (t, _) = on_tty("--name S -- true", "\n");
    assert!(t.contains("the secret from stdin is empty"), "{t}");
    assert!(t.contains("rc=125"), "{t}");
    let (t, _) = on_tty(
        "--allow-empty --name S -- sh -c 'wc -c < \"$S_FILE\"'",
        "\n",
    );
    assert!(t.contains("\n0\r") && t.contains("rc=0"), "{t}");
}
