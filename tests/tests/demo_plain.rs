//! Issue 11 item 10: examples/demo.sh writes no ANSI escapes when its output
//! is not a terminal (a file, a pipe, a CI log), and still passes every
//! step. Twin: on a terminal (a pty from script(1)) the step titles are bold,
//! so the check is not vacuous.

use std::path::Path;
use std::process::Command;

fn demo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/demo.sh")
}

#[test]
fn demo_writes_no_escapes_into_a_pipe_and_bold_on_a_terminal() {
    let o = Command::new("bash")
        .arg(demo())
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "demo failed:\n{out}\n{err}");
    assert!(out.contains("every step passed"), "{out}");
    assert!(
        !o.stdout.contains(&0x1b) && !o.stderr.contains(&0x1b),
        "ANSI escape in piped output:\n{out:?}"
    );

    // Twin: the same demo on a pty prints its titles in bold.
    let o = Command::new("script")
        .args(["-qec"])
        .arg(format!("bash {}", demo().display()))
        .arg("/dev/null")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "demo on a pty failed:\n{out}");
    assert!(
        out.contains("\x1b[1m[1] "),
        "no bold title on a terminal:\n{out}"
    );
}
