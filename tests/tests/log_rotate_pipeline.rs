//! Issue 13: the real `logrotate`, with the shipped snippet, rotating the log
//! behind the whole running pipeline `bd-watch | bd-policy | bd-log append`
//! on the host kernel. Every exec the test makes must be in the rotated set
//! exactly once, in order, and `bd-log verify` must accept the set by the
//! glob the snippet documents; the twin drops a middle file and verify must
//! name the gap, so the first verdict is not vacuous.
//!
//! The tracepoint sees every exec on the machine: the test's execs run as
//! uid 65534 and bd-watch keeps only that uid (`--uid`), so other work on the
//! host neither floods the log nor interleaves with the markers.

use bd_tests::bin;
use bd_tests::rig::wait_for;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const NOBODY: &str = "65534";
const LIMIT: Duration = Duration::from_secs(30);

fn ok(what: &str, out: Output) -> Output {
    assert!(
        out.status.success(),
        "{what}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The pins of this test, taken away on drop (also when the test fails).
struct Pins(PathBuf);
impl Drop for Pins {
    fn drop(&mut self) {
        bd_tests::remove_pins(&self.0);
    }
}

/// The three stages; killed on drop if the test fails half-way.
struct Pipeline {
    watch: Child,
    policy: Child,
    append: Child,
}
impl Drop for Pipeline {
    fn drop(&mut self) {
        for c in [&mut self.watch, &mut self.policy, &mut self.append] {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Every line of the rotated set, oldest file first (`.N.gz` ... `.1`, live).
fn set_files(dir: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            let name = p.file_name()?.to_str()?.to_string();
            let n = name.strip_prefix("boundary.log.")?;
            let n = n.strip_suffix(".gz").unwrap_or(n);
            Some((n.parse().ok()?, p))
        })
        .collect();
    rotated.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut files: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    let live = dir.join("boundary.log");
    if live.exists() {
        files.push(live);
    }
    files
}

fn file_lines(p: &Path) -> Vec<String> {
    let bytes = if p.extension().is_some_and(|e| e == "gz") {
        ok(
            "zcat",
            Command::new("zcat").arg(p).output().expect("run zcat"),
        )
        .stdout
    } else {
        std::fs::read(p).unwrap()
    };
    String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The marker arguments of the exec decisions logged in the set, in order.
fn markers(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for f in set_files(dir) {
        for l in file_lines(&f) {
            let Ok(v) = serde_json::from_str::<Value>(&l) else {
                continue; // a torn last line while the appender writes
            };
            let args = &v["record"]["event"]["argv"];
            if let Some(a) = args.get(1).and_then(Value::as_str) {
                if a.starts_with("mark-") {
                    out.push(a.to_string());
                }
            }
        }
    }
    out
}

fn verify(pubkey: &Path, files: &[String]) -> (i32, Value, String) {
    let mut cmd = Command::new(bin("bd-log"));
    cmd.args(["verify", "--json", "-p"]).arg(pubkey);
    for f in files {
        cmd.arg("-l").arg(f);
    }
    let out = cmd.output().expect("run bd-log verify");
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "verify --json: {e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (
        out.status.code().unwrap_or(-1),
        v,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn logrotate_behind_the_whole_pipeline_keeps_every_event_once_in_order() {
    assert!(
        Command::new("logrotate").arg("--version").output().is_ok(),
        "logrotate is missing (apt-get install logrotate; .ci/run installs it)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // uid 65534 must reach the marker binary.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let marker = dir.join("marker");
    std::fs::copy("/bin/true", &marker).unwrap();
    std::fs::set_permissions(&marker, std::fs::Permissions::from_mode(0o755)).unwrap();
    let key = dir.join("log.key");
    ok(
        "bd-log keygen",
        Command::new(bin("bd-log"))
            .args(["keygen", "-o"])
            .arg(&key)
            .output()
            .unwrap(),
    );
    let pubkey = dir.join("log.key.pub");
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[[rule]]\nname = \"marker\"\ndecision = \"alert\"\nreason = \"test marker\"\n\
             [rule.match]\ntype = \"exec\"\nfilename = \"{}\"\n\n\
             [[rule]]\nname = \"default\"\ndecision = \"allow\"\n",
            marker.display()
        ),
    )
    .unwrap();

    let pins = Pins(PathBuf::from(format!(
        "/sys/fs/bpf/bd-test-logrot-{}",
        std::process::id()
    )));
    ok(
        "bd-load",
        Command::new(bin("bd-load"))
            .arg("--pin-dir")
            .arg(&pins.0)
            .arg("load")
            .output()
            .unwrap(),
    );

    let log = dir.join("boundary.log");
    let mut watch = Command::new(bin("bd-watch"))
        .arg("--pin-dir")
        .arg(&pins.0)
        .args(["--type", "exec", "--uid", NOBODY])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bd-watch");
    let mut policy_p = Command::new(bin("bd-policy"))
        .arg("-p")
        .arg(&policy)
        .args(["--mode", "OPEN"])
        .stdin(watch.stdout.take().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn bd-policy");
    let append = Command::new(bin("bd-log"))
        .args(["append", "-t", "1s", "-l"])
        .arg(&log)
        .arg("-k")
        .arg(&key)
        .stdin(policy_p.stdout.take().unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bd-log append");
    let (ready_tx, ready_rx) = mpsc::channel();
    let werr = watch.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(werr).lines().map_while(Result::ok) {
            if l.contains("ready") {
                let _ = ready_tx.send(());
            }
        }
    });
    let mut pipe = Pipeline {
        watch,
        policy: policy_p,
        append,
    };
    ready_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("bd-watch never said ready");

    // The shipped snippet, with `systemctl reload` (no unit here) replaced by
    // the SIGHUP it sends the appender.
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/logrotate/boundary"),
    )
    .expect("read dist/logrotate/boundary");
    let reload = "systemctl reload boundary.service >/dev/null 2>&1 || true";
    assert!(shipped.contains(reload), "the snippet's postrotate changed");
    let conf = dir.join("logrotate.conf");
    std::fs::write(
        &conf,
        shipped
            .replace("@LOGDIR@", &dir.display().to_string())
            .replace(reload, &format!("kill -HUP {}", pipe.append.id())),
    )
    .unwrap();

    // Execs keep coming while logrotate renames, compresses and signals:
    // nothing in flight may be lost or doubled.
    let total = 160;
    let m2 = marker.clone();
    let execs = std::thread::spawn(move || {
        for i in 0..total {
            ok(
                "marker exec as nobody",
                Command::new("setpriv")
                    .args(["--reuid", NOBODY, "--regid", NOBODY, "--clear-groups", "--"])
                    .arg(&m2)
                    .arg(format!("mark-{i:04}"))
                    .output()
                    .unwrap(),
            );
        }
    });
    for round in 1..=3 {
        wait_for(&format!("{} execs in the log", round * 30), LIMIT, || {
            markers(dir).len() >= round * 30
        });
        ok(
            "logrotate",
            Command::new("logrotate")
                .arg("-f")
                .arg("-s")
                .arg(dir.join("logrotate.state"))
                .arg(&conf)
                .output()
                .expect("run logrotate"),
        );
        // The appender opens the continuation at the signal (or at its next
        // record, whichever comes first).
        wait_for("the continuation file", LIMIT, || log.exists());
    }
    execs.join().expect("exec thread");
    let expected: Vec<String> = (0..total).map(|i| format!("mark-{i:04}")).collect();
    wait_for("every exec in the log", LIMIT, || {
        markers(dir).len() >= total
    });

    // Stop at the source: bd-watch ends, EOF flows down, the appender closes
    // the live file with a checkpoint and exits 0.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pipe.watch.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    for (name, c) in [
        ("bd-watch", &mut pipe.watch),
        ("bd-policy", &mut pipe.policy),
    ] {
        let st = c.wait().unwrap();
        assert!(st.success(), "{name} exited {st}");
    }
    let out = std::mem::replace(
        &mut pipe.append,
        Command::new("true").spawn().unwrap(), // a stand-in for Drop
    )
    .wait_with_output()
    .unwrap();
    assert!(
        out.status.success(),
        "bd-log append exited {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    let files = set_files(dir);
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "boundary.log.3.gz",
            "boundary.log.2.gz",
            "boundary.log.1",
            "boundary.log"
        ],
        "three rotations by logrotate (delaycompress keeps .1 plain)"
    );
    assert_eq!(
        markers(dir),
        expected,
        "every exec once, in order, across the rotated set"
    );

    // The glob the snippet documents, in the order it sorts (oldest first).
    let glob = format!("{}/boundary.log*", dir.display());
    let (code, v, err) = verify(&pubkey, &[glob]);
    assert_eq!(code, 0, "verify of the rotated set: {v} {err}");
    assert_eq!(v["result"], "PASS", "{v}");
    assert_eq!(v["files"], 4, "{v}");
    assert_eq!(v["uncovered"], 0, "every line covered by a checkpoint: {v}");

    // Twin: the same set with a middle file gone is not accepted, and the
    // gap is named.
    let without_middle: Vec<String> = files
        .iter()
        .filter(|p| !p.ends_with("boundary.log.2.gz"))
        .map(|p| p.display().to_string())
        .collect();
    let (code, v, err) = verify(&pubkey, &without_middle);
    assert_eq!(code, 1, "a set with a file missing must fail: {v} {err}");
    assert_ne!(v["result"], "PASS", "{v}");
    let said = format!("{v} {err}").to_lowercase();
    assert!(said.contains("missing"), "the gap is named: {said}");
}
