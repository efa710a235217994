//! Ancestry on the Debian kernels (6.1, 6.12): exec_monitor walks the task
//! tree through bpf_get_current_task_btf(), which each kernel's verifier must
//! accept in a tracepoint program. The native twin is tests/ancestry.rs.

#[path = "vm_lsm_util/mod.rs"]
mod util;

use bd_tests::bin;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use util::*;

#[test]
#[ignore = "vm: run by cargo xtask vm-test"]
fn vm_exec_carries_ancestors_from_a_renamed_nginx() {
    let l = Loaded::new("ancestry");
    let mut w = Command::new(bin("bd-watch"))
        .arg("--pin-dir")
        .arg(&l.pin)
        .args([
            "--type",
            "exec",
            "--comm",
            "true",
            "-n",
            "1",
            "--timeout",
            "120s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bd-watch");
    let mut err = BufReader::new(w.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("ready"), "{line}");

    let dir = tempfile::tempdir().unwrap();
    let nginx = dir.path().join("nginx");
    let bash = ["/bin/bash", "/usr/bin/bash"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("bash in the VM");
    std::fs::copy(bash, &nginx).unwrap();
    std::fs::set_permissions(&nginx, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut c = Command::new(&nginx)
        .args(["-c", "/bin/sh -c '/bin/true vm-anc-marker; :'; :"])
        .spawn()
        .unwrap();
    let nginx_pid = c.id();
    assert!(c.wait().unwrap().success());

    let out = w.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let e: serde_json::Value = serde_json::from_str(text.lines().next().expect("an exec"))
        .unwrap_or_else(|x| panic!("{x}: {text}"));
    assert_eq!(e["argv"][1], "vm-anc-marker", "{e:#}");
    let anc = e["ancestors"].as_array().expect("ancestors");
    assert_eq!(anc[0]["pid"], e["ppid"], "{e:#}");
    assert_eq!(anc[0]["comm"], "sh", "{e:#}");
    assert_eq!(anc[1]["comm"], "nginx", "{e:#}");
    assert_eq!(anc[1]["exe"], "nginx", "{e:#}");
    assert_eq!(anc[1]["pid"], nginx_pid, "{e:#}");
    assert_eq!(anc[2]["pid"], std::process::id(), "{e:#}");
    let last = anc.last().unwrap();
    assert!(
        last["pid"] == 1 || e["ancestors_truncated"] == true,
        "the chain ends at init or says it was cut: {e:#}"
    );
}
