//! Process ancestry in exec events, from the host kernel, and policies that
//! match on it: a real process tree with a renamed "nginx" parent.
//!
//! Each test loads into its own pin dir and filters bd-watch on argv markers
//! unique to the test (pid-suffixed), so concurrent runs do not mix.

use bd_tests::bin;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Pins(PathBuf);

impl Pins {
    fn load(tag: &str) -> Pins {
        let p = PathBuf::from(format!(
            "/sys/fs/bpf/bd-test-anc-{tag}-{}",
            std::process::id()
        ));
        let out = Command::new(bin("bd-load"))
            .arg("--pin-dir")
            .arg(&p)
            .arg("load")
            .output()
            .expect("run bd-load");
        assert!(
            out.status.success(),
            "bd-load: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Pins(p)
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        bd_tests::remove_pins(&self.0);
    }
}

/// bd-watch on `comm`, ready before the caller runs anything.
struct Watch {
    child: Child,
    reader: std::thread::JoinHandle<Vec<Value>>,
}

impl Watch {
    fn start(pins: &Pins, comm: &str) -> Watch {
        let mut child = Command::new(bin("bd-watch"))
            .arg("--pin-dir")
            .arg(&pins.0)
            .args(["--type", "exec", "--comm", comm, "--timeout", "60s"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn bd-watch");
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        err.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "bd-watch: ready");
        std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = err.read_to_string(&mut rest);
        });
        let out = BufReader::new(child.stdout.take().unwrap());
        let reader = std::thread::spawn(move || {
            out.lines()
                .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
                .collect()
        });
        Watch { child, reader }
    }

    /// Stop after the exec with `marker` in argv has been seen (or 30 s).
    fn until(mut self, marker: &str) -> Vec<Value> {
        // The ring buffer is polled every 100 ms; give it time, then stop.
        std::thread::sleep(Duration::from_millis(500));
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        );
        let st = self.child.wait().unwrap();
        assert_eq!(st.code(), Some(0));
        let lines = self.reader.join().unwrap();
        assert!(
            lines.iter().any(|l| has_marker(l, marker)),
            "no exec with {marker} seen: {lines:#?}"
        );
        lines
    }
}

fn has_marker(l: &Value, marker: &str) -> bool {
    l["argv"]
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x == marker))
}

fn copy_exe(from: &str, to: &Path) {
    std::fs::copy(from, to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Run `prog args...` to completion, returning its pid.
fn run(prog: &Path, args: &[&str]) -> u32 {
    let mut c = Command::new(prog).args(args).spawn().unwrap();
    let pid = c.id();
    assert!(c.wait().unwrap().success());
    pid
}

fn only<'a>(lines: &'a [Value], marker: &str) -> &'a Value {
    let v: Vec<&Value> = lines.iter().filter(|l| has_marker(l, marker)).collect();
    assert_eq!(v.len(), 1, "{v:#?}");
    v[0]
}

const POLICY: &str = r#"
[lists]
web = ["nginx", "php-fpm"]
shells = ["sh", "bash", "dash"]

[macros.web_shell]
"ancestors.comm" = { in = "web" }

[[rule]]
name = "shell-from-web"
macros = ["web_shell"]
tripwire = "LOCKDOWN"
reason = "a program started under the web server"
[rule.match]
type = "exec"

[[rule]]
name = "default"
decision = "allow"
"#;

fn decide(dir: &Path, line: &Value) -> Value {
    let pol = dir.join("policy.toml");
    std::fs::write(&pol, POLICY).unwrap();
    let mut c = Command::new(bin("bd-policy"))
        .arg("-p")
        .arg(&pol)
        .args(["--mode", "TRUSTED"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = line.to_string();
    input.push('\n');
    c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A renamed "nginx" (a copy of bash) runs sh, which runs the marker
/// command: the exec event names sh, then nginx, then this test, in order,
/// with pids and executable names, and a policy on ancestors.comm trips.
/// The twin: the same sh run from a parent not named nginx is allowed.
#[test]
fn shell_under_renamed_nginx_carries_its_ancestors_and_trips_the_policy() {
    let pins = Pins::load("web");
    let tmp = tempfile::tempdir().unwrap();
    let nginx = tmp.path().join("nginx");
    copy_exe("/bin/bash", &nginx);
    let cron = tmp.path().join("crond");
    copy_exe("/bin/bash", &cron);
    let me = std::process::id();
    let web_marker = format!("h14-web-{me}");
    let cron_marker = format!("h14-cron-{me}");
    // `; :` keeps each shell from exec'ing its last command in place, so
    // every level is its own process.
    let script = |m: &str| format!("/bin/sh -c '/bin/true {m}; :'; :");

    let watch = Watch::start(&pins, "true");
    let nginx_pid = run(&nginx, &["-c", &script(&web_marker)]);
    let cron_pid = run(&cron, &["-c", &script(&cron_marker)]);
    let lines = watch.until(&cron_marker);

    let web = only(&lines, &web_marker);
    let anc = web["ancestors"].as_array().expect("ancestors");
    assert!(anc.len() >= 3, "{web:#}");
    assert_eq!(anc[0]["comm"], "sh");
    assert_eq!(anc[0]["pid"], web["ppid"]);
    assert_eq!(anc[1]["comm"], "nginx");
    assert_eq!(anc[1]["exe"], "nginx");
    assert_eq!(anc[1]["pid"], nginx_pid);
    assert_eq!(anc[2]["pid"], me, "the test process is nginx's parent");
    assert_eq!(
        web["ancestors_truncated"],
        anc.len() == 8 && anc[7]["pid"] != 1
    );

    let d = decide(tmp.path(), web);
    assert_eq!(d["decision"], "tripwire", "{d:#}");
    assert_eq!(d["rule"], "shell-from-web");
    assert_eq!(d["tripwire"], "LOCKDOWN");

    let other = only(&lines, &cron_marker);
    let anc = other["ancestors"].as_array().unwrap();
    assert_eq!(anc[1]["comm"], "crond");
    assert_eq!(anc[1]["pid"], cron_pid);
    assert!(!anc.iter().any(|a| a["comm"] == "nginx"));
    let d = decide(tmp.path(), other);
    assert_eq!(d["decision"], "allow", "{d:#}");
    assert_eq!(d["rule"], "default");
}

/// A chain deeper than the bound: exactly 8 ancestors, flagged truncated,
/// the nearest 8 (parent first).
#[test]
fn ancestry_is_bounded_and_says_so() {
    let pins = Pins::load("deep");
    let tmp = tempfile::tempdir().unwrap();
    let rec = tmp.path().join("rec.sh");
    let marker = format!("h14-deep-{}", std::process::id());
    std::fs::write(
        &rec,
        format!(
            "#!/bin/sh\nif [ \"$1\" -gt 0 ]; then /bin/sh {} $(($1 - 1)); :\nelse /bin/true {marker}; :\nfi\n",
            rec.display()
        ),
    )
    .unwrap();
    let watch = Watch::start(&pins, "true");
    run(Path::new("/bin/sh"), &[rec.to_str().unwrap(), "10"]);
    let lines = watch.until(&marker);
    let e = only(&lines, &marker);
    let anc = e["ancestors"].as_array().unwrap();
    assert_eq!(anc.len(), 8, "{e:#}");
    assert_eq!(e["ancestors_truncated"], true);
    assert_eq!(anc[0]["pid"], e["ppid"]);
    for a in anc {
        assert_eq!(a["comm"], "sh", "all 8 nearest are the recursion: {e:#}");
        assert_eq!(
            a["exe"],
            Path::new("/bin/sh")
                .canonicalize()
                .unwrap()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
        );
    }
    // Parent first: pids of a fork chain increase towards the child.
    let pids: Vec<u64> = anc.iter().map(|a| a["pid"].as_u64().unwrap()).collect();
    assert!(pids.windows(2).all(|w| w[0] != w[1]), "{pids:?}");
}

/// Executable names around the lengths where the kernel keeps a dentry's
/// name inline (31 bytes up to 6.13, 39 from 6.14) and where the record cuts
/// (39): each parent's `exe` is exact and unflagged up to 39 bytes, and a
/// longer one is its first 39 bytes, flagged `exe_truncated`.
#[test]
fn ancestor_exe_names_are_exact_up_to_the_bound_and_flagged_beyond() {
    let pins = Pins::load("names");
    let tmp = tempfile::tempdir().unwrap();
    let me = std::process::id();
    let mut cases = Vec::new();
    for len in [31usize, 32, 35, 39, 40, 45] {
        let name: String = std::iter::once('p')
            .chain((1..len).map(|i| char::from(b'a' + (i % 26) as u8)))
            .collect();
        assert_eq!(name.len(), len);
        let exe = tmp.path().join(&name);
        copy_exe("/bin/bash", &exe);
        cases.push((name, exe, format!("h14-name-{len}-{me}")));
    }
    let watch = Watch::start(&pins, "true");
    for (_, exe, marker) in &cases {
        run(exe, &["-c", &format!("/bin/true {marker}; :")]);
    }
    let lines = watch.until(&cases.last().unwrap().2);
    for (name, _, marker) in &cases {
        let e = only(&lines, marker);
        let parent = &e["ancestors"][0];
        let want = &name[..name.len().min(39)];
        assert_eq!(parent["exe"], want, "{e:#}");
        assert_eq!(parent["exe_truncated"], name.len() > 39, "{e:#}");
    }
}

fn cgroup2_root() -> PathBuf {
    let m = std::fs::read_to_string("/proc/self/mounts").unwrap();
    m.lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(2) == Some(&"cgroup2")).then(|| PathBuf::from(f[1]))
        })
        .expect("a cgroup2 mount")
}

/// Deny events carry ancestors too: from the denied process's exec event
/// when bd-watch saw it ("exec"), else from /proc ("proc"). A renamed nginx
/// in an AIRGAP cgroup (own empty netns) connects out itself, then runs bash,
/// which connects out: both refused, both denials name their ancestors.
#[test]
fn deny_events_carry_ancestors_from_exec_or_proc() {
    // nginx execs before anything is loaded: no exec event for it anywhere.
    let tmp = tempfile::tempdir().unwrap();
    let nginx = tmp.path().join("nginx");
    copy_exe("/bin/bash", &nginx);
    // The empty netns: nothing could leave the machine even if allowed.
    let mut child = Command::new("unshare")
        .arg("-n")
        .arg(&nginx)
        .arg("-c")
        .arg(
            "read go; echo x 2>&1 >/dev/udp/192.0.2.7/9; \
             /bin/bash -c 'echo y 2>&1 >/dev/udp/192.0.2.8/9; :'; read done; :",
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let nginx_pid = child.id();
    let pins = Pins::load("deny");
    let cg = cgroup2_root().join(format!("bd-test-anc-deny-{}", std::process::id()));
    std::fs::create_dir(&cg).unwrap();
    struct RmCgroup(PathBuf);
    impl Drop for RmCgroup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let _cg = RmCgroup(cg.clone());
    let out = Command::new(bin("bd-load"))
        .arg("--pin-dir")
        .arg(&pins.0)
        .args(["load", "--replace", "--cgroup"])
        .arg(&cg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    boundary::mode::ModeMap::open(&pins.0)
        .unwrap()
        .expect("bd_mode pinned")
        .write(boundary::mode::MapState {
            mode: 3, // AIRGAP
            ..Default::default()
        })
        .unwrap();
    std::fs::write(cg.join("cgroup.procs"), nginx_pid.to_string()).unwrap();
    let mut w = Command::new(bin("bd-watch"))
        .arg("--pin-dir")
        .arg(&pins.0)
        .args(["--type", "deny", "-n", "2", "--timeout", "30s", "--cgroup"])
        .arg(&cg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(w.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "bd-watch: ready");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"go\n").unwrap();
    let o = w.wait_with_output().unwrap();
    stdin.write_all(b"done\n").unwrap();
    drop(stdin);
    let said = child.wait_with_output().unwrap();
    assert!(
        String::from_utf8_lossy(&said.stdout).contains("Operation not permitted"),
        "{said:?}"
    );
    let lines: Vec<Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:#?}");

    // nginx exec'd before the programs were loaded: its chain is from /proc.
    let first = &lines[0];
    assert_eq!(first["pid"], nginx_pid);
    assert_eq!(first["addr"], "192.0.2.7");
    assert_eq!(first["ancestors_source"], "proc");
    assert_eq!(first["ancestors"][0]["pid"], std::process::id());

    // bash's exec was seen: its chain is the kernel's, nginx first.
    let second = &lines[1];
    assert_eq!(second["addr"], "192.0.2.8");
    assert_eq!(second["comm"], "bash");
    assert_eq!(second["ancestors_source"], "exec");
    assert_eq!(second["ancestors"][0]["comm"], "nginx");
    assert_eq!(second["ancestors"][0]["exe"], "nginx");
    assert_eq!(second["ancestors"][0]["pid"], nginx_pid);
    assert_eq!(second["ancestors"][1]["pid"], std::process::id());
}
