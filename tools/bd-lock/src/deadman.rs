//! A dead-man switch that fired must still count after a reboot.
//!
//! The kernel's deadline is CLOCK_MONOTONIC in a map that a reboot wipes, and
//! boot re-arms the switch with a full interval: without a record, root stalls
//! the pipeline, waits out the interval and reboots (even `reboot -f`) to get
//! the recorded, looser mode back. Two stamps next to the state file let the
//! next boot tell a stall from a power cut:
//!
//! - `<state>.deadline`: the deadline in wall-clock time, written by every
//!   arm and heartbeat (removed by disarm);
//! - `<state>.alive`: the time the heartbeat loop's marker thread last ran
//!   (every third of the interval), written whether or not nonces come back.
//!
//! Both carry the boot id. At boot (`bd-lock sync`), stamps from an earlier
//! boot whose `alive` is past its `deadline` mean that boot was still running
//! after the switch fired: the mode is recorded as LOCKDOWN (via "deadman").
//! A host that lost power, or was shut down, before its deadline has `alive`
//! before `deadline` and comes back in its recorded mode. What this misses
//! is written in SECURITY.md.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct Stamp {
    v: u32,
    boot_id: String,
    /// CLOCK_REALTIME, ns since the epoch.
    unix_ns: u64,
}

fn stamp_path(state: &Path, what: &str) -> PathBuf {
    let mut p = state.as_os_str().to_owned();
    p.push(".");
    p.push(what);
    p.into()
}

fn realtime_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME).map_or(0, |t| {
        t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
    })
}

fn boot_id() -> Result<String> {
    let p = "/proc/sys/kernel/random/boot_id";
    Ok(std::fs::read_to_string(p)
        .with_context(|| format!("reading {p}"))?
        .trim()
        .to_string())
}

fn write(state: &Path, what: &str, unix_ns: u64) -> Result<()> {
    let s = Stamp {
        v: 1,
        boot_id: boot_id()?,
        unix_ns,
    };
    let mut body = serde_json::to_vec(&s)?;
    body.push(b'\n');
    boundary::safefile::write_atomic(&stamp_path(state, what), &body, 0o600)
}

fn read(state: &Path, what: &str) -> Result<Option<Stamp>> {
    let p = stamp_path(state, what);
    let Some(b) = boundary::safefile::read_private(&p)? else {
        return Ok(None);
    };
    serde_json::from_slice(&b)
        .map(Some)
        .with_context(|| format!("{}: not a boundary dead-man stamp", p.display()))
}

/// Record a (re)armed deadline, given as CLOCK_MONOTONIC ns.
pub fn record_deadline(state: &Path, deadline_mono_ns: u64) -> Result<()> {
    let left = deadline_mono_ns.saturating_sub(boundary::mode::monotonic_ns());
    write(state, "deadline", realtime_ns().saturating_add(left))
}

/// The switch is disarmed: nothing can fire.
pub fn clear(state: &Path) -> Result<()> {
    for what in ["deadline", "alive"] {
        let p = stamp_path(state, what);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", p.display())),
        }
    }
    Ok(())
}

/// The heartbeat loop is running now.
pub fn record_alive(state: &Path) -> Result<()> {
    write(state, "alive", realtime_ns())
}

/// At boot: why an earlier boot's switch had fired before it went down, or
/// None. Stamps that cannot be read are a fault: they count as fired
/// (fail closed), and the reason says which file.
pub fn fired_before_boot(state: &Path) -> Option<String> {
    let (d, a) = match (read(state, "deadline"), read(state, "alive")) {
        (Ok(Some(d)), Ok(Some(a))) => (d, a),
        (Ok(_), Ok(_)) => return None,
        (Err(e), _) | (_, Err(e)) => return Some(format!("{e:#}")),
    };
    let now = boot_id().unwrap_or_default();
    if d.boot_id == now || d.boot_id != a.boot_id || a.unix_ns <= d.unix_ns {
        return None;
    }
    Some(format!(
        "the dead-man switch fired {} s before the host went down (boot {})",
        (a.unix_ns - d.unix_ns) / 1_000_000_000,
        d.boot_id
    ))
}
