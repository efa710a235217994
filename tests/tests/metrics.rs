//! `bd-load status --prometheus` and `--textfile`, read back with the
//! Prometheus project's own Python text parser (PyPI `prometheus_client`:
//! `pip install prometheus_client` or `apt-get install python3-prometheus-client`).
//!
//! Real programs in a pin dir of our own, real execs, a real bd-lock state
//! with the dead-man switch armed.

use bd_tests::bin;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Pins(PathBuf);

impl Drop for Pins {
    fn drop(&mut self) {
        bd_tests::remove_pins(&self.0);
    }
}

/// Parse exposition text with prometheus_client; returns
/// [{"name","type","samples":[{"name","labels","value"}]}].
fn parse(text: &str) -> Vec<Value> {
    const PY: &str = r#"
import json, sys
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    sys.exit("prometheus_client is not installed: pip install prometheus_client (or apt-get install python3-prometheus-client)")
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type,
                "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]})
print(json.dumps(out))
"#;
    let mut c = Command::new("python3")
        .args(["-c", PY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (needed to run the Prometheus text parser)");
    c.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "the Prometheus parser rejected the output: {}\n{text}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn sample(fams: &[Value], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    fams.iter()
        .flat_map(|f| f["samples"].as_array().unwrap().iter())
        .find(|s| {
            s["name"] == name
                && labels
                    .iter()
                    .all(|(k, v)| s["labels"][*k].as_str() == Some(*v))
        })
        .map(|s| s["value"].as_f64().unwrap())
}

fn family<'a>(fams: &'a [Value], name: &str) -> &'a Value {
    fams.iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no family {name}"))
}

fn bd(tool: &str, args: &[&str]) -> std::process::Output {
    let o = Command::new(bin(tool)).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

#[test]
fn prometheus_output_parses_and_carries_events_mode_and_deadman() {
    let pins = Pins(PathBuf::from(format!(
        "/sys/fs/bpf/bd-test-metrics-{}",
        std::process::id()
    )));
    let pd = pins.0.to_str().unwrap().to_string();
    bd("bd-load", &["--pin-dir", &pd, "load"]);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state.json");
    let st = state.to_str().unwrap();
    bd(
        "bd-lock",
        &["init", "--mode", "TRUSTED", "--state", st, "--pin-dir", &pd],
    );
    bd(
        "bd-lock",
        &[
            "arm",
            "--heartbeat",
            "120s",
            "--state",
            st,
            "--pin-dir",
            &pd,
        ],
    );
    for _ in 0..5 {
        assert!(Command::new("/bin/true").status().unwrap().success());
    }

    let o = bd(
        "bd-load",
        &["--pin-dir", &pd, "status", "--prometheus", "--state", st],
    );
    let text = String::from_utf8(o.stdout).unwrap();
    let fams = parse(&text);

    assert_eq!(family(&fams, "boundary_events")["type"], "counter");
    let execs = sample(&fams, "boundary_events_total", &[("kind", "exec")]).unwrap();
    assert!(execs >= 5.0, "{execs}\n{text}");
    assert_eq!(
        sample(&fams, "boundary_events_lost_total", &[("kind", "exec")]),
        Some(0.0)
    );
    assert!(sample(&fams, "boundary_denied_total", &[]).is_some());
    assert_eq!(
        sample(
            &fams,
            "boundary_program_attached",
            &[("object", "exec_monitor"), ("program", "exec_monitor")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&fams, "boundary_loaded", &[("pin_dir", &pd)]),
        Some(1.0)
    );
    assert_eq!(
        sample(&fams, "boundary_mode", &[("mode", "TRUSTED")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&fams, "boundary_mode", &[("mode", "LOCKDOWN")]),
        Some(0.0)
    );
    assert_eq!(sample(&fams, "boundary_mode_level", &[]), Some(2.0));
    assert_eq!(sample(&fams, "boundary_mode_fault", &[]), Some(0.0));
    assert_eq!(sample(&fams, "boundary_deadman_armed", &[]), Some(1.0));
    assert_eq!(sample(&fams, "boundary_deadman_expired", &[]), Some(0.0));
    let rem = sample(&fams, "boundary_deadman_remaining_seconds", &[]).unwrap();
    assert!(rem > 60.0 && rem <= 120.0, "{rem}");

    // The textfile: written whole, same content apart from run statistics.
    let prom = tmp.path().join("boundary.prom");
    bd(
        "bd-load",
        &[
            "--pin-dir",
            &pd,
            "status",
            "--textfile",
            prom.to_str().unwrap(),
            "--state",
            st,
        ],
    );
    let fams = parse(&std::fs::read_to_string(&prom).unwrap());
    assert_eq!(sample(&fams, "boundary_mode_level", &[]), Some(2.0));
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Fail closed in the metrics too: no state file reads as LOCKDOWN with the
/// fault flagged, and an unloaded pin dir says so (exit 5, not loaded).
#[test]
fn missing_state_reads_as_lockdown_and_unloaded_as_not_loaded() {
    let tmp = tempfile::tempdir().unwrap();
    let pd = format!("/sys/fs/bpf/bd-test-metrics-none-{}", std::process::id());
    let st = tmp.path().join("none.json");
    let o = Command::new(bin("bd-load"))
        .args(["--pin-dir", &pd, "status", "--prometheus", "--state"])
        .arg(&st)
        .output()
        .unwrap();
    let text = String::from_utf8(o.stdout).unwrap();
    let fams = parse(&text);
    assert_eq!(
        sample(&fams, "boundary_loaded", &[("pin_dir", &pd)]),
        Some(0.0)
    );
    assert_eq!(
        sample(&fams, "boundary_mode", &[("mode", "LOCKDOWN")]),
        Some(1.0)
    );
    assert_eq!(sample(&fams, "boundary_mode_fault", &[]), Some(1.0));
    assert_eq!(o.status.code(), Some(5));
    assert!(!Path::new(&pd).exists());
}
