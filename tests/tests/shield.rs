//! Shields against root on a kernel without BPF-LSM (this host): nothing
//! claims protection that does not exist, `bd-load status` names each
//! missing shield, and `bd-load unload` waits for mode OPEN. The shields
//! themselves are tested in the VM (vm_shield.rs).

use bd_tests::bin;
use std::path::PathBuf;
use std::process::{Command, Output};

struct Pins(PathBuf);

impl Pins {
    fn new(tag: &str) -> Pins {
        Pins(PathBuf::from(format!(
            "/sys/fs/bpf/bd-test-h8{tag}-{}",
            std::process::id()
        )))
    }
    fn run(&self, args: &[&str]) -> Output {
        Command::new(bin("bd-load"))
            .arg("--pin-dir")
            .arg(&self.0)
            .args(args)
            .output()
            .expect("run bd-load")
    }
    fn set_mode(&self, mode: u32) {
        let mut m = boundary::mode::ModeMap::open(&self.0)
            .unwrap()
            .expect("bd_mode pinned");
        let mut st = m.read().unwrap();
        st.mode = mode;
        m.write(st).unwrap();
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        if boundary::mode::ModeMap::open(&self.0)
            .ok()
            .flatten()
            .is_some()
        {
            self.set_mode(0);
        }
        let _ = self.run(&["unload"]);
    }
}

fn lsm_works_here() -> bool {
    // This test is about kernels that refuse BPF-LSM programs; the load
    // report says which kind this is.
    let p = Pins::new("probe");
    let out = p.run(&["load", "--json"]);
    String::from_utf8_lossy(&out.stdout).lines().any(|l| {
        l.contains("\"program\":\"ptrace_access_check\"") && l.contains("\"state\":\"attached\"")
    })
}

#[test]
fn without_bpf_lsm_every_shield_is_named_missing_and_protect_fails() {
    assert!(
        !lsm_works_here(),
        "this host runs BPF-LSM programs: this test is for kernels that do not"
    );
    let p = Pins::new("noshield");
    let out = p.run(&["load"]);
    assert!(out.status.success(), "{out:?}");
    let out = p.run(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let shields = v["shields"].as_array().expect("shields in status");
    assert!(shields.len() >= 7, "{v}");
    for s in shields {
        assert_eq!(s["active"], false, "{s}");
        assert!(!s["missing"].as_array().unwrap().is_empty(), "{s}");
    }
    assert!(shields.iter().any(|s| s["name"] == "self-protection"
        && s["missing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "self_protect-bd_self_map")));
    // BPF tracing, tracefs and kprobe events are one row: all three programs.
    let tracing = shields
        .iter()
        .find(|s| s["name"] == "kernel tracing")
        .unwrap_or_else(|| panic!("no kernel tracing shield: {v}"));
    for prog in ["file_open", "locked_down", "bpf_trace_load"] {
        assert!(
            tracing["missing"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| *m == format!("lsm_file_protect-{prog}")),
            "{tracing}"
        );
    }
    let text = String::from_utf8_lossy(&p.run(&["status"]).stdout).into_owned();
    assert!(
        text.contains("core dumps") && text.contains("MISSING: lsm_file_protect-task_setrlimit"),
        "{text}"
    );

    // Nothing claims protection that does not exist.
    let me = std::process::id().to_string();
    let out = p.run(&["protect", "--pid", &me]);
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nothing protected")
            && err.contains("missing lsm_file_protect-ptrace_access_check"),
        "{err}"
    );
    // Its stdout is JSON only: the one error object, never a protect line.
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines.len() == 1 && lines[0]["type"] == "error" && lines[0]["code"] == 6,
        "claimed protection: {out:?}"
    );
    let out = Command::new(bin("bd-inject"))
        .arg("--pin-dir")
        .arg(&p.0)
        .args([
            "--require-protection",
            "--name",
            "S",
            "--from-env",
            "HOME",
            "--",
            "true",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--require-protection"));
}

#[test]
fn unload_waits_for_mode_open() {
    let p = Pins::new("unloadgate");
    let out = p.run(&["load"]);
    assert!(out.status.success(), "{out:?}");
    // This host has no self-protection, so the test writes the mode map
    // itself (in the VM, bd-lock does: vm_shield.rs).
    p.set_mode(4); // COLDROOM
    let out = p.run(&["unload"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("bd-load: ") && err.contains("the mode is COLDROOM"),
        "{err}"
    );
    assert!(
        p.0.join("links").exists(),
        "a refused unload changed nothing"
    );
    // A lapsed dead-man switch reads as LOCKDOWN: refused as well.
    let mut m = boundary::mode::ModeMap::open(&p.0).unwrap().unwrap();
    let mut st = m.read().unwrap();
    st.mode = 0;
    st.heartbeat_deadline_ns = 1;
    m.write(st).unwrap();
    let out = p.run(&["unload"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("dead-man switch"));
    st.heartbeat_deadline_ns = 0;
    m.write(st).unwrap();
    let out = p.run(&["unload"]);
    assert!(out.status.success(), "{out:?}");
    assert!(!p.0.exists());
}
