//! `bd-load status --prometheus`: the status as Prometheus text exposition
//! format 0.0.4 (for a scrape wrapper or node_exporter's textfile
//! collector, `--textfile FILE`).
//!
//! Everything here is read from the kernel's pinned objects and the bd-lock
//! state, as `status` reads them; nothing is counted by this process.

use crate::status::Status;
use boundary::mode::{self, Mode};
use std::fmt::Write as _;
use std::path::Path;

/// A label value, escaped as the exposition format requires.
fn esc(v: &str) -> String {
    let mut o = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", esc(val));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {v}");
    }
}

/// Render `s` plus the boundary mode read from `state` and the pinned map.
pub fn render(s: &Status, pin_dir: &Path, state: &Path) -> String {
    let mut o = Out(String::new());
    let b = |x: bool| u8::from(x);

    o.family(
        "boundary_loaded",
        "gauge",
        "1 if any boundary program is attached under the pin directory.",
    );
    o.sample("boundary_loaded", &[("pin_dir", &s.pin_dir)], b(s.loaded));

    o.family(
        "boundary_program_attached",
        "gauge",
        "1 if the program's link is pinned and readable.",
    );
    for p in &s.programs {
        o.sample(
            "boundary_program_attached",
            &[("object", &p.object), ("program", &p.program)],
            b(p.attached),
        );
    }
    // Kernel run statistics count only while kernel.bpf_stats_enabled = 1.
    o.family(
        "boundary_program_runs_total",
        "counter",
        "Times the program ran (counts only while kernel.bpf_stats_enabled is 1).",
    );
    for p in &s.programs {
        if let Some(n) = p.run_count {
            o.sample(
                "boundary_program_runs_total",
                &[("object", &p.object), ("program", &p.program)],
                n,
            );
        }
    }
    o.family(
        "boundary_program_run_seconds_total",
        "counter",
        "CPU time spent in the program (counts only while kernel.bpf_stats_enabled is 1).",
    );
    for p in &s.programs {
        if let Some(ns) = p.run_time_ns {
            o.sample(
                "boundary_program_run_seconds_total",
                &[("object", &p.object), ("program", &p.program)],
                ns as f64 / 1e9,
            );
        }
    }

    if let Some(c) = &s.counters {
        o.family(
            "boundary_events_total",
            "counter",
            "Events the kernel programs put in the ring buffer, by kind.",
        );
        o.sample("boundary_events_total", &[("kind", "exec")], c.exec);
        o.sample("boundary_events_total", &[("kind", "deny")], c.deny);
        o.family(
            "boundary_events_lost_total",
            "counter",
            "Events dropped because the ring buffer was full, by kind.",
        );
        o.sample(
            "boundary_events_lost_total",
            &[("kind", "exec")],
            c.exec_lost,
        );
        o.sample(
            "boundary_events_lost_total",
            &[("kind", "deny")],
            c.deny_lost,
        );
        o.family(
            "boundary_denied_total",
            "counter",
            "Operations the kernel programs denied (or would have, in audit mode), all hooks.",
        );
        o.sample("boundary_denied_total", &[], c.denied);
        if let Some(by) = &c.denied_by_hook {
            o.family(
                "boundary_denied_by_hook_total",
                "counter",
                "Operations denied (or that would have been, in audit mode), by the hook that denied them.",
            );
            for (hook, n) in by {
                o.sample("boundary_denied_by_hook_total", &[("hook", hook)], n);
            }
        }
    }
    o.family(
        "boundary_map_entries",
        "gauge",
        "Keys present in a pinned hash map.",
    );
    for m in &s.maps {
        if let Some(n) = m.entries {
            o.sample("boundary_map_entries", &[("map", &m.name)], n);
        }
    }

    let cur = mode::read_current(state, Some(pin_dir));
    o.family(
        "boundary_mode",
        "gauge",
        "1 for the boundary mode in force (LOCKDOWN whenever the state is unreadable or inconsistent), 0 for the others.",
    );
    for m in Mode::ALL.iter() {
        o.sample("boundary_mode", &[("mode", m.as_str())], b(*m == cur.mode));
    }
    o.family(
        "boundary_mode_level",
        "gauge",
        "The mode in force as a number: OPEN 0, RESTRICTED 1, TRUSTED 2, AIRGAP 3, COLDROOM 4, LOCKDOWN 5.",
    );
    o.sample("boundary_mode_level", &[], cur.mode as u32);
    o.family(
        "boundary_mode_fault",
        "gauge",
        "1 if the mode reads as LOCKDOWN because the state file or map is missing, unreadable or inconsistent.",
    );
    o.sample("boundary_mode_fault", &[], b(cur.fault.is_some()));
    if let Some(st) = &cur.state {
        o.family(
            "boundary_mode_transitions",
            "gauge",
            "The state's transition sequence number (bd-lock seq).",
        );
        o.sample("boundary_mode_transitions", &[], st.seq);
    }
    let deadline = cur.map.map_or(0, |m| m.heartbeat_deadline_ns);
    o.family(
        "boundary_deadman_armed",
        "gauge",
        "1 if the dead-man switch is armed in the kernel map.",
    );
    o.sample("boundary_deadman_armed", &[], b(deadline != 0));
    o.family(
        "boundary_deadman_expired",
        "gauge",
        "1 if the dead-man deadline has passed (the kernel acts as LOCKDOWN).",
    );
    o.sample("boundary_deadman_expired", &[], b(cur.deadman_expired));
    if deadline != 0 {
        o.family(
            "boundary_deadman_remaining_seconds",
            "gauge",
            "Seconds until the dead-man deadline (negative once passed).",
        );
        let now = mode::monotonic_ns();
        let rem = (deadline as i128 - now as i128) as f64 / 1e9;
        o.sample("boundary_deadman_remaining_seconds", &[], rem);
    }
    o.0
}

/// Write `text` to `path` atomically (same directory, then rename), so a
/// collector never reads half a file.
pub fn write_textfile(path: &Path, text: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "boundary.prom".into());
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| {
        let _ = std::fs::remove_file(&tmp);
        format!("renaming {} to {}", tmp.display(), path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
