//! Whole-host AIRGAP (`bd-load --cgroup /`, issue 9 item 8) against the host
//! kernel, without touching the host's real root cgroup: bd-load runs in a
//! cgroup namespace whose root is a cgroup this test made, with cgroup2
//! mounted afresh in a private mount namespace, so `/` there is that cgroup.
//! Every process under it is governed, also one that moves itself to
//! another cgroup: under the root there is no "out". Twin: a process in a
//! cgroup outside the namespace's root connects as before.
//!
//! Connections go to 10.251.70.1, a veth address that exists only inside a
//! network namespace the test made.

use bd_tests::bin;
use bd_tests::rig::{cgroup2_root, sh};
use std::path::{Path, PathBuf};
use std::process::Command;

struct Rig {
    dir: tempfile::TempDir,
    pin: PathBuf,
    root: PathBuf,
    outside: PathBuf,
    netns: String,
}

impl Drop for Rig {
    fn drop(&mut self) {
        bd_tests::remove_pins(&self.pin);
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .output();
        for c in ["a", "b"] {
            let _ = std::fs::remove_dir(self.root.join(c));
        }
        let _ = std::fs::remove_dir(&self.root);
        let _ = std::fs::remove_dir(&self.outside);
    }
}

impl Rig {
    fn lock(&self, args: &[&str]) {
        let o = Command::new(bin("bd-lock"))
            .env("BD_PIN_DIR", &self.pin)
            .env("BD_STATE", self.dir.path().join("state.json"))
            .args(args)
            .output()
            .unwrap();
        // 4: COLDROOM/LOCKDOWN hooks are BPF-LSM, refused on this host; the
        // AIRGAP programs must be attached (never named in the warning).
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.success() || (o.status.code() == Some(4) && !err.contains("mode_connect4")),
            "bd-lock {args:?}: {err}"
        );
    }

    /// connect() to the namespace's own veth address from a process that
    /// first joins `cgroup`, then (if given) moves itself to `then`.
    fn connect(&self, cgroup: &Path, then: Option<&Path>) -> String {
        let mv = then.map_or(String::new(), |t| {
            format!("&& echo $$ > {}/cgroup.procs", t.display())
        });
        let script = format!(
            "echo $$ > {}/cgroup.procs {mv} && exec ip netns exec {} bash -c 'exec 3<>/dev/tcp/10.251.70.1/9 && echo connected'",
            cgroup.display(),
            self.netns
        );
        let o = Command::new("bash").args(["-c", &script]).output().unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    }
}

#[test]
fn airgap_on_the_root_cgroup_governs_every_process_under_it() {
    let tag = format!("bd-test-airgaproot-{}", std::process::id());
    let cg = cgroup2_root();
    let rig = Rig {
        dir: tempfile::tempdir().unwrap(),
        pin: PathBuf::from(format!("/sys/fs/bpf/{tag}")),
        root: cg.join(&tag),
        outside: cg.join(format!("{tag}-out")),
        netns: tag.clone(),
    };
    std::fs::create_dir(&rig.root).unwrap();
    std::fs::create_dir(&rig.outside).unwrap();
    // Processes sit in leaves only (cgroup v2: no internal processes once
    // controllers are enabled; harmless here either way).
    let (a, b) = (rig.root.join("a"), rig.root.join("b"));
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    let ns = rig.netns.as_str();
    sh("ip", &["netns", "add", ns]);
    sh(
        "ip",
        &[
            "-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1",
        ],
    );
    sh(
        "ip",
        &["-n", ns, "addr", "add", "10.251.70.1/24", "dev", "v0"],
    );
    for dev in ["v0", "v1", "lo"] {
        sh("ip", &["-n", ns, "link", "set", dev, "up"]);
    }

    // bd-load --cgroup / in a cgroup namespace rooted at rig.root (the
    // cgroup the unsharing process is in becomes the namespace's root).
    let load = format!(
        "echo $$ > {}/cgroup.procs && exec unshare --cgroup --mount --propagation private \
         sh -c 'mount -t cgroup2 none /sys/fs/cgroup && exec \"$0\" load --cgroup /' {}",
        rig.root.display(),
        bin("bd-load").display()
    );
    let o = Command::new("bash")
        .args(["-c", &load])
        .env("BD_PIN_DIR", &rig.pin)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.contains("mode_connect4") && out.contains(" attached "),
        "bd-load --cgroup /: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    rig.lock(&["init", "--mode", "OPEN", "--reason", "root cgroup test"]);

    // OPEN: nothing listens, the peer refuses: the hook let it through.
    let before = rig.connect(&a, None);
    assert!(before.contains("Connection refused"), "OPEN: {before}");

    rig.lock(&["set", "AIRGAP", "--reason", "root cgroup test"]);
    let in_a = rig.connect(&a, None);
    assert!(
        in_a.contains("Operation not permitted"),
        "AIRGAP, a: {in_a}"
    );
    // Moving to another cgroup under the root does not leave the boundary.
    let moved = rig.connect(&a, Some(b.as_path()));
    assert!(
        moved.contains("Operation not permitted"),
        "AIRGAP, moved a -> b: {moved}"
    );
    // Twin: a cgroup not under the root the programs are attached to.
    let out_twin = rig.connect(&rig.outside, None);
    assert!(
        out_twin.contains("Connection refused"),
        "outside the attached root: {out_twin}"
    );
    // Loopback still works under the root.
    let lo = {
        let script = format!(
            "echo $$ > {}/cgroup.procs && exec ip netns exec {} python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); s.listen(); c=socket.create_connection(s.getsockname()); print(\"loopback ok\")'",
            b.display(),
            rig.netns
        );
        let o = Command::new("bash").args(["-c", &script]).output().unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    assert!(lo.contains("loopback ok"), "loopback under AIRGAP: {lo}");
}
