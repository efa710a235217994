//! bd-inject under the BPF-LSM shield, in the VM harness: the injected child
//! is protected from its first instruction, so another root process cannot
//! read its environment or memory, while the child reads its own secret.

#[path = "vm_lsm_util/mod.rs"]
mod util;

use bd_tests::bin;
use std::io::BufRead;
use std::process::{Command, Stdio};
use util::*;

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_injected_child_is_shielded() {
    let l = Loaded::new("inject");
    let mut w = l.watch();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("db.pass");
    std::fs::write(&src, b"s3cr3t-db-pass\n").unwrap();
    let got = dir.path().join("got");
    let mut inj = Command::new(bin("bd-inject"))
        .arg("--pin-dir")
        .arg(&l.pin)
        .args([
            "--require-protection",
            "--name",
            "DB_PASSWORD",
            "--from-file",
        ])
        .arg(&src)
        .args(["--", "/bin/sh", "-c"])
        .arg(format!(
            "cat \"$DB_PASSWORD_FILE\" > {}; echo $$; exec sleep 600",
            got.display()
        ))
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn bd-inject");
    let mut line = String::new();
    std::io::BufReader::new(inj.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let child: u32 = line.trim().parse().expect("the child's pid");
    assert_eq!(std::fs::read(&got).unwrap(), b"s3cr3t-db-pass");

    // Another root process: cat, not the child, not allowed.
    let out = Command::new("/bin/cat")
        .arg(format!("/proc/{child}/environ"))
        .output()
        .unwrap();
    assert!(
        !out.status.success() && out.stdout.is_empty(),
        "cat read the injected child's environ: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_refused("open /proc/child/mem", open_mem(child).map(|_| ()));
    assert_refused("PTRACE_ATTACH the child", ptrace_attach(child));
    // The injector itself holds the secret and is shielded too.
    assert_refused("environ of bd-inject", read_environ(inj.id()));
    let ev = w.expect("cat's denied read of environ", |v| {
        v["hook"] == "ptrace" && v["comm"] == "cat" && v["target_pid"] == child
    });
    assert_eq!(ev["action"], "deny", "{ev}");

    unsafe { libc::kill(child as i32, libc::SIGTERM) };
    let st = inj.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&st),
        Some(libc::SIGTERM),
        "bd-inject passes the child's death on: {st:?}"
    );
}

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_inject_without_shield_runs_unprotected_unless_required() {
    require_vm();
    let pin = format!("/sys/fs/bpf/bd-test-noshield-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("k");
    std::fs::write(&src, b"k").unwrap();
    let out = Command::new(bin("bd-inject"))
        .args([
            "--pin-dir",
            &pin,
            "--require-protection",
            "--name",
            "K",
            "--from-file",
        ])
        .arg(&src)
        .args(["--", "/bin/true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let out = Command::new(bin("bd-inject"))
        .args(["--pin-dir", &pin, "--name", "K", "--from-file"])
        .arg(&src)
        .args([
            "--",
            "/bin/sh",
            "-c",
            "cat /proc/$$/environ | tr \"\\0\" \"\\n\" | grep -q ^K_FILE=",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
