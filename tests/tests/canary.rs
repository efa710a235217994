//! In-kernel canaries against the host kernel (tracepoints, no BPF-LSM):
//! `bd-lock canary add PATH --trip AIRGAP`, then an exec of that file raises
//! bd_mode inside the exec itself, so the governed cgroup's very next
//! connect() is refused with no userspace running at all (the pipeline is
//! killed first). Twins: an identical copy that is not registered leaves the
//! mode alone and connects. Then bd-lock records the kernel's transition
//! (sync, and on-tripwire from the `tripwire` event).
//!
//! Each test has its own pin dir, governed cgroup and pair of network
//! namespaces (10.251.80+x addresses that exist only inside them).

use bd_tests::rig::{spawn_ready_watch, NetRig};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The shared rig, plus an operator key directory and the canary's needs.
struct Rig(NetRig);

impl std::ops::Deref for Rig {
    type Target = NetRig;
    fn deref(&self) -> &NetRig {
        &self.0
    }
}

impl Rig {
    fn new(tag: &str, subnet: u8) -> Rig {
        let r = Rig(NetRig::new(tag, subnet));
        assert!(
            r.load_out.contains("exec_monitor") && r.pin.join("maps/bd_canary").exists(),
            "bd-load did not attach exec_monitor and the canary map: {}",
            r.load_out
        );
        std::fs::create_dir(r.dir.path().join("operators")).unwrap();
        r
    }

    fn tool(&self, name: &str) -> Command {
        let mut c = self.0.tool(name);
        c.env("BD_OPERATOR_KEYS", self.dir.path().join("operators"));
        c
    }

    fn lock(&self, args: &[&str]) -> Output {
        self.tool("bd-lock").args(args).output().unwrap()
    }

    fn init_open(&self, reason: &str) {
        let o = self.lock(&["init", "--mode", "OPEN", "--reason", reason]);
        assert!(o.status.success(), "init: {o:?}");
    }

    fn add_canary(&self, file: &Path, trip: &str) {
        let o = self.lock(&["canary", "add", "--trip", trip, file.to_str().unwrap()]);
        assert!(o.status.success(), "canary add {}: {o:?}", file.display());
    }

    fn status(&self) -> (Option<i32>, Value) {
        let o = self.lock(&["status", "--json"]);
        (o.status.code(), serde_json::from_slice(&o.stdout).unwrap())
    }

    /// A copy of bash under `name` in the test's directory.
    fn bash_copy(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::copy("/bin/bash", &p).unwrap();
        p
    }

    /// In the governed cgroup and the client netns, exec `shell` (a bash
    /// binary), which then connects to the server: the connect() is that
    /// process's first network call after its own execve.
    fn exec_then_connect(&self, shell: &Path) -> String {
        self.connect_with(
            &shell.display().to_string(),
            Some(&self.ns_client),
            &self.server_ip,
            9,
        )
    }

    /// The raw bd_mode slot: (mode, flags, seq).
    fn map(&self) -> (String, u64, u64) {
        let (_, v) = self.status();
        let m = &v["map"];
        (
            m["mode"].as_str().unwrap_or("?").to_string(),
            m["flags"].as_u64().unwrap_or(u64::MAX),
            m["seq"].as_u64().unwrap(),
        )
    }

    /// Back to OPEN by token (unload refuses any other mode).
    fn release(&self) {
        let (_, v) = self.status();
        let from = v["map"]["mode"].as_str().unwrap_or("OPEN").to_string();
        if from == "OPEN" {
            return;
        }
        let key = self.dir.path().join("op.key");
        if !key.exists() {
            let o = self.lock(&["keygen", "-o", key.to_str().unwrap()]);
            assert!(o.status.success(), "{o:?}");
            std::fs::write(self.dir.path().join("operators/op.pub"), &o.stdout).unwrap();
        }
        let tok = self.dir.path().join("release.tok");
        let _ = std::fs::remove_file(&tok);
        let o = self.lock(&[
            "token",
            "-k",
            key.to_str().unwrap(),
            "--from",
            &from,
            "--to",
            "OPEN",
            "-o",
            tok.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "token: {o:?}");
        let o = self.lock(&["release", "--token", tok.to_str().unwrap()]);
        assert!(o.status.success(), "release: {o:?}");
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        // Back to OPEN first (the NetRig's drop then takes the pins away).
        if !std::thread::panicking() {
            self.release();
        } else {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.release()));
        }
    }
}

fn kill(c: &mut Child) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(c.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = c.wait();
}

/// bd-watch | bd-policy | bd-lock on-tripwire --tee, bd-watch ready.
struct Pipeline {
    watch: Child,
    decide: Child,
    lock: Child,
    out: Option<std::thread::JoinHandle<String>>,
}

impl Pipeline {
    fn start(rig: &Rig, policy: &Path) -> Pipeline {
        let mut w = rig.tool("bd-watch");
        w.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut watch = spawn_ready_watch(w);
        let mut decide = rig
            .tool("bd-policy")
            .arg("-p")
            .arg(policy)
            .stdin(watch.stdout.take().unwrap())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lock = rig
            .tool("bd-lock")
            .args(["on-tripwire", "--tee"])
            .stdin(decide.stdout.take().unwrap())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lock_out = lock.stdout.take().unwrap();
        let out = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = lock_out.read_to_string(&mut s);
            s
        });
        Pipeline {
            watch,
            decide,
            lock,
            out: Some(out),
        }
    }

    /// Kill all three and wait for them: nothing in userspace is left.
    fn kill(&mut self) -> String {
        kill(&mut self.watch);
        kill(&mut self.decide);
        kill(&mut self.lock);
        for c in [&mut self.watch, &mut self.decide, &mut self.lock] {
            assert!(c.try_wait().unwrap().is_some(), "a pipeline stage survived");
        }
        self.out
            .take()
            .map(|h| h.join().unwrap())
            .unwrap_or_default()
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.kill();
    }
}

fn policy(rig: &Rig) -> PathBuf {
    let p = rig.dir.path().join("policy.toml");
    std::fs::write(&p, "[[rule]]\nname = \"default\"\ndecision = \"allow\"\n").unwrap();
    p
}

#[test]
fn canary_exec_refuses_the_next_connect_with_the_pipeline_dead() {
    let rig = Rig::new("canary", 80);
    rig.init_open("canary test");
    let canary = rig.bash_copy("canary-bash");
    let decoy = rig.bash_copy("decoy-bash");
    rig.add_canary(&canary, "AIRGAP");

    // The pipeline ran, and is dead before anything trips.
    let mut pipe = Pipeline::start(&rig, &policy(&rig));
    pipe.kill();

    // Twin: an identical, unregistered copy. Nothing listens on the peer,
    // so a reset ("Connection refused") proves the connect was allowed.
    let twin = rig.exec_then_connect(&decoy);
    assert!(twin.contains("Connection refused"), "decoy: {twin}");
    assert_eq!(rig.map(), ("OPEN".into(), 0, 1), "the decoy moved the mode");

    // The canary: its own first connect() after its execve is refused.
    let t0 = Instant::now();
    let denied = rig.exec_then_connect(&canary);
    let took = t0.elapsed();
    assert!(
        denied.contains("Operation not permitted") && !denied.contains("connected"),
        "canary exec, then connect: {denied}"
    );
    eprintln!("canary exec + refused connect: {took:?}");
    // The kernel alone moved the slot: a new seq, flagged as the kernel's.
    assert_eq!(rig.map(), ("AIRGAP".into(), 1, 2));
    // No userspace recorded it: the file still says OPEN, so every reader
    // takes the disagreement as LOCKDOWN (exit 7), never as OPEN.
    let (code, st) = rig.status();
    assert_eq!(code, Some(7), "{st}");
    assert_eq!(st["mode"], "LOCKDOWN");
    assert_eq!(st["state"]["mode"], "OPEN");

    // The decoy is now refused too: the mode, not the file, decides.
    let after = rig.exec_then_connect(&decoy);
    assert!(
        after.contains("Operation not permitted"),
        "decoy in AIRGAP: {after}"
    );

    // bd-lock sync records the kernel's transition (never refused as a
    // loosening: it only ever tightens the file to the kernel's mode).
    let o = rig.lock(&["sync"]);
    assert!(o.status.success(), "sync: {o:?}");
    let ev: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (&ev["type"], &ev["from"], &ev["to"], &ev["via"]),
        (
            &"mode".into(),
            &"OPEN".into(),
            &"AIRGAP".into(),
            &"canary".into()
        ),
        "{ev}"
    );
    let (_, st) = rig.status();
    assert_eq!(
        (&st["mode"], &st["fault"]),
        (&"AIRGAP".into(), &Value::Null)
    );
    assert_eq!(st["state"]["seq"], 2);

    // list counts the hit; remove is a loosening: refused outside OPEN.
    let o = rig.lock(&["canary", "list", "--json"]);
    let l: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (&l["type"], &l["tripwire"], &l["hits"]),
        (&"canary".into(), &"AIRGAP".into(), &1.into())
    );
    let o = rig.lock(&["canary", "remove", canary.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("only in OPEN"));
    // Still registered.
    let o = rig.lock(&["canary", "list"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("trips AIRGAP"));

    // Back in OPEN (by ceremony), removal is allowed and the file is inert.
    rig.release();
    let o = rig.lock(&["canary", "remove", canary.to_str().unwrap()]);
    assert!(o.status.success(), "{o:?}");
    let again = rig.exec_then_connect(&canary);
    assert!(
        again.contains("Connection refused"),
        "removed canary: {again}"
    );
    assert_eq!(rig.map().0, "OPEN");
}

#[test]
fn canary_trip_is_recorded_by_on_tripwire_and_never_lowers() {
    let rig = Rig::new("canarypipe", 81);
    rig.init_open("canary pipeline");
    let low = rig.dir.path().join("canary-low");
    let high = rig.dir.path().join("canary-high");
    std::fs::copy("/bin/true", &low).unwrap();
    std::fs::copy("/bin/true", &high).unwrap();
    rig.add_canary(&high, "COLDROOM");
    rig.add_canary(&low, "RESTRICTED");
    // Bad input: a missing file is an error naming it, nothing registered.
    let o = rig.lock(&["canary", "add", "/nonexistent/bd-canary"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/bd-canary"));

    let mut pipe = Pipeline::start(&rig, &policy(&rig));
    assert!(Command::new(&high).status().unwrap().success());
    let t = Instant::now();
    loop {
        let (code, st) = rig.status();
        if st["mode"] == "COLDROOM" && st["fault"].is_null() {
            // COLDROOM's ptrace hooks need BPF-LSM: NOT_ENFORCED here.
            assert!(matches!(code, Some(0) | Some(4)), "{st}");
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "not recorded: {st}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A canary with a looser mode never lowers the kernel's.
    assert!(Command::new(&low).status().unwrap().success());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rig.map(), ("COLDROOM".into(), 1, 2));
    let out = pipe.kill();
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let trip = lines
        .iter()
        .find(|v| v["type"] == "decision" && v["event"]["type"] == "tripwire")
        .unwrap_or_else(|| panic!("no decision on the tripwire event in {out}"));
    let ev = &trip["event"];
    assert_eq!(
        (
            &ev["hook"],
            &ev["tripwire"],
            &ev["from"],
            &ev["to"],
            &ev["seq"]
        ),
        (
            &"exec".into(),
            &"COLDROOM".into(),
            &"OPEN".into(),
            &"COLDROOM".into(),
            &2.into()
        ),
        "{ev}"
    );
    assert!(
        ev["path"].as_str().unwrap().ends_with("canary-high"),
        "{ev}"
    );
    let mode = lines
        .iter()
        .find(|v| v["type"] == "mode")
        .unwrap_or_else(|| panic!("no mode event in {out}"));
    assert_eq!(
        (&mode["from"], &mode["to"], &mode["via"]),
        (&"OPEN".into(), &"COLDROOM".into(), &"canary".into()),
        "{mode}"
    );
    // Exactly one transition recorded: the second (looser) trip changed nothing.
    assert_eq!(
        lines.iter().filter(|v| v["type"] == "mode").count(),
        1,
        "{out}"
    );
}

/// The canary write race, many times over. A thread does to `bd_mode` what
/// bd-lock's heartbeat and transitions do (read the slot, then write it
/// back whole) in a tight loop while a canary is exec'd. The kernel's raise
/// into `bd_mode` lands between that read and write in most rounds and is
/// lost there (the twin: the old single-slot path really loses it), while
/// the raise counted in `bd_mode_raise`, which no such write touches, is
/// never lost. The kernel enforces the stricter of both: with `bd_mode`
/// overwritten to OPEN the next connect is still refused, and only once the
/// raise is cleared (what a release ceremony does) is it allowed.
#[test]
fn canary_raise_survives_racing_slot_writes() {
    use boundary::mode::{raised_mode, MapState, Mode, ModeMap, RaiseMap};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let rig = Rig::new("canrace", 82);
    rig.init_open("race test");
    let canary = rig.dir.path().join("canary-true");
    std::fs::copy("/bin/true", &canary).unwrap();
    rig.add_canary(&canary, "LOCKDOWN");
    let decoy = rig.bash_copy("decoy-bash");

    const ROUNDS: u32 = 150;
    let (mut old_lost, mut new_lost) = (0u32, 0u32);
    for _ in 0..ROUNDS {
        // Back to OPEN in both places (what a release does).
        let mut mm = ModeMap::open(&rig.pin).unwrap().unwrap();
        mm.write(MapState {
            mode: 0,
            flags: 0,
            heartbeat_deadline_ns: 0,
            seq: 1,
        })
        .unwrap();
        let mut rm = RaiseMap::open(&rig.pin).unwrap().unwrap();
        assert_eq!(rm.clear_live().unwrap(), Mode::Open);

        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let stop = stop.clone();
            let pin = rig.pin.clone();
            std::thread::spawn(move || {
                let mut mm = ModeMap::open(&pin).unwrap().unwrap();
                while !stop.load(Ordering::Relaxed) {
                    let s = mm.read().unwrap();
                    // The time bd-lock spends between its read and its write.
                    let t = Instant::now();
                    while t.elapsed() < Duration::from_micros(200) {
                        std::hint::spin_loop();
                    }
                    mm.write(MapState {
                        heartbeat_deadline_ns: 0,
                        ..s
                    })
                    .unwrap();
                }
            })
        };
        let st = Command::new(&canary).status().unwrap();
        assert!(st.success());
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();

        if mm.read().unwrap().mode != Mode::Lockdown as u32 {
            old_lost += 1;
        }
        let live = rm.live().unwrap();
        if raised_mode(&live) != Mode::Lockdown || live[5] != 1 {
            new_lost += 1;
        }
    }
    eprintln!(
        "{ROUNDS} rounds: bd_mode lost the raise {old_lost} times, bd_mode_raise {new_lost} times"
    );
    assert_eq!(new_lost, 0, "a raise in bd_mode_raise was lost");
    assert!(
        old_lost > 0,
        "the old single-slot race never lost a raise in {ROUNDS} rounds: the twin shows nothing"
    );
    let total = RaiseMap::open(&rig.pin).unwrap().unwrap().total().unwrap();
    assert_eq!(total[5], u64::from(ROUNDS), "every exec counted");

    // The kernel enforces the raise with bd_mode written back to OPEN.
    let mut mm = ModeMap::open(&rig.pin).unwrap().unwrap();
    mm.write(MapState {
        mode: 0,
        flags: 0,
        heartbeat_deadline_ns: 0,
        seq: 1,
    })
    .unwrap();
    let denied = rig.exec_then_connect(&decoy);
    assert!(
        denied.contains("Operation not permitted"),
        "bd_mode OPEN, raise LOCKDOWN: {denied}"
    );
    let (_, v) = rig.status();
    assert_eq!(
        (&v["mode"], &v["raised"]["mode"]),
        (&"LOCKDOWN".into(), &"LOCKDOWN".into()),
        "{v}"
    );
    // Twin: the raise cleared, the same connect is allowed.
    let mut rm = RaiseMap::open(&rig.pin).unwrap().unwrap();
    assert_eq!(rm.clear_live().unwrap(), Mode::Open);
    let allowed = rig.exec_then_connect(&decoy);
    assert!(
        allowed.contains("Connection refused"),
        "raise cleared: {allowed}"
    );
}

/// A dead-man switch that fired must survive a reboot. bd-lock's heartbeat
/// loop runs with its pipeline stalled (stdin held open, nothing comes back)
/// past the deadline, then dies as in `reboot -f`. The reboot is simulated:
/// the stamps are given another boot id (what the next boot sees) and
/// bd_mode is reset to the all-zero slot a fresh load pins; then `bd-lock
/// sync`, which boot-load runs, must record LOCKDOWN via "deadman" before
/// boot-load re-arms. Twin: the loop dies before its deadline (a power cut,
/// not a stall) and the same boot keeps the recorded mode.
#[test]
fn deadman_fired_before_a_reboot_is_recorded_at_boot() {
    use boundary::mode::{MapState, ModeMap};
    let rig = Rig::new("deadboot", 83);
    rig.init_open("deadman test");
    let state = rig.dir.path().join("state.json");
    let stamp = |what: &str| rig.dir.path().join(format!("state.json.{what}"));

    let boot = |stall: Duration| -> Value {
        let mut lock = rig
            .tool("bd-lock")
            .args(["on-tripwire", "--heartbeat", "1s"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(stall);
        kill(&mut lock);
        let (_, st) = rig.status();
        eprintln!("after {stall:?}: deadman_expired {}", st["deadman_expired"]);
        // The next boot: another boot id on the stamps, a fresh bd_mode slot.
        for what in ["deadline", "alive"] {
            let p = stamp(what);
            let t = std::fs::read_to_string(&p).unwrap();
            let mut v: Value = serde_json::from_str(&t).unwrap();
            v["boot_id"] = "00000000-0000-4000-8000-0000000000e0".into();
            std::fs::write(&p, v.to_string()).unwrap();
        }
        ModeMap::open(&rig.pin)
            .unwrap()
            .unwrap()
            .write(MapState::default())
            .unwrap();
        let o = rig.lock(&["sync"]);
        assert!(o.status.success(), "sync: {o:?}");
        let (_, st) = rig.status();
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        serde_json::json!({"status": st, "sync": out})
    };

    // Twin first: down 300 ms into a 1 s interval (before the deadline).
    let r = boot(Duration::from_millis(300));
    assert_eq!(r["status"]["mode"], "OPEN", "{r}");
    assert!(!r["sync"].as_str().unwrap().contains("deadman"), "{r}");
    assert_eq!(
        boundary::mode::read_state(&state).unwrap().mode,
        boundary::mode::Mode::Open
    );

    // The stall: 2 s with nothing coming back, past the 1 s deadline.
    let r = boot(Duration::from_millis(2000));
    assert_eq!(r["status"]["mode"], "LOCKDOWN", "{r}");
    assert_eq!(r["status"]["fault"], Value::Null, "{r}");
    let ev: Value =
        serde_json::from_str(r["sync"].as_str().unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(
        (&ev["from"], &ev["to"], &ev["via"]),
        (&"OPEN".into(), &"LOCKDOWN".into(), &"deadman".into()),
        "{r}"
    );
    let st = boundary::mode::read_state(&state).unwrap();
    assert_eq!(st.mode, boundary::mode::Mode::Lockdown);
    // Consumed: a later release is not undone by the same stamps.
    assert!(!stamp("deadline").exists() && !stamp("alive").exists());
}
