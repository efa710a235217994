//! `bd-lock canary`: in-kernel canaries, and adopting a mode the kernel
//! raised on its own (a canary tripped) into the state file.
//!
//! The kernel side is bpf/canary.h: exec_monitor (tracepoint) and
//! mode_enforce (BPF-LSM) look the file up in the pinned hash `bd_canary`
//! by (kernel dev_t, inode), count the trip in `bd_mode_raise` (which no
//! bd-lock write but a release touches, so no race can lose it) and raise
//! `bd_mode` in place, bumping its seq and setting BD_MODE_F_CANARY. Every
//! reader takes the stricter of the state and the live raises; until bd-lock
//! records the transition the state file and the map disagree, which reads
//! as LOCKDOWN: fail closed, never looser than the kernel.

use crate::{emit, refuse, uid, Ctx};
use anyhow::{Context, Result};
use bd_lock::cli::CanaryCmd;
use boundary::event::{BdCanaryVal, BdFileKey, BD_MODE_F_CANARY};
use boundary::mode::{self, Mode};
use std::path::{Path, PathBuf};

/// Name of the pinned map (bpf/canary.h).
pub const MAP: &str = "bd_canary";

pub fn run(ctx: &Ctx, cmd: CanaryCmd) -> Result<i32> {
    match cmd {
        CanaryCmd::Add { trip, paths } => add(ctx, trip, &paths),
        CanaryCmd::List { json } => list(ctx, json),
        CanaryCmd::Remove { paths } => remove(ctx, &paths),
    }
}

type CanaryMap = aya::maps::HashMap<aya::maps::MapData, BdFileKey, BdCanaryVal>;

/// The pinned canary map. Missing or of another shape is an error (exit 2):
/// a canary that cannot be registered must never look registered.
fn open_map(pin: &Path) -> Result<(CanaryMap, PathBuf)> {
    let p = boundary::pin::map_path(pin, MAP);
    let data = aya::maps::MapData::from_pin(&p).with_context(|| {
        format!(
            "opening {} (is exec_monitor loaded? bd-load first)",
            p.display()
        )
    })?;
    let map = aya::maps::Map::from_map_data(data)
        .with_context(|| format!("{}: not a BPF map", p.display()))?;
    let h = aya::maps::HashMap::try_from(map)
        .with_context(|| format!("{}: not the canary map", p.display()))?;
    Ok((h, p))
}

fn add(ctx: &Ctx, trip: Mode, paths: &[PathBuf]) -> Result<i32> {
    let (mut h, p) = open_map(&ctx.pin)?;
    // Keys first, so a bad path registers nothing.
    let mut keys = Vec::new();
    for path in paths {
        let md = std::fs::metadata(path).with_context(|| format!("stat {}", path.display()))?;
        if !md.is_file() {
            anyhow::bail!("{}: not a regular file", path.display());
        }
        // stat only: an open would trip the canary under BPF-LSM.
        keys.push((path, boundary::protect::file_key(path)?));
    }
    for (path, key) in keys {
        // Re-adding may only tighten: a stricter mode already registered stays.
        let old = h.get(&key, 0).ok();
        let mode = old.map_or(trip, |o| {
            Mode::from_u32(o.trip).map_or(Mode::Lockdown, |m| m.max(trip))
        });
        let v = BdCanaryVal {
            trip: mode as u32,
            flags: 0,
            hits: old.map_or(0, |o| o.hits),
        };
        h.insert(key, v, 0)
            .with_context(|| format!("adding {} to {}", path.display(), p.display()))?;
        println!(
            "canary {} (dev {}, ino {}): trips {}",
            path.display(),
            key.dev,
            key.ino,
            mode
        );
    }
    Ok(0)
}

fn list(ctx: &Ctx, json: bool) -> Result<i32> {
    let (h, p) = open_map(&ctx.pin)?;
    let mut rows = Vec::new();
    for r in h.iter() {
        let (k, v) = r.with_context(|| format!("reading {}", p.display()))?;
        rows.push((k, v));
    }
    rows.sort_by_key(|(k, _)| (k.dev, k.ino));
    for (k, v) in rows {
        let trip = Mode::from_u32(v.trip).map_or(format!("unknown:{}", v.trip), |m| m.to_string());
        if json {
            #[derive(serde::Serialize)]
            struct Line<'a> {
                v: u32,
                #[serde(rename = "type")]
                kind: &'a str,
                time: String,
                dev: u64,
                dev_name: String,
                ino: u64,
                tripwire: &'a str,
                hits: u64,
            }
            let l = Line {
                v: 1,
                kind: "canary",
                time: boundary::time::now_rfc3339(),
                dev: k.dev,
                dev_name: format!("{}:{}", k.dev >> 20, k.dev & 0xfffff),
                ino: k.ino,
                tripwire: &trip,
                hits: v.hits,
            };
            println!("{}", serde_json::to_string(&l)?);
        } else {
            println!(
                "dev {}:{} ino {}: trips {trip}, hit {} times",
                k.dev >> 20,
                k.dev & 0xfffff,
                k.ino,
                v.hits
            );
        }
    }
    Ok(0)
}

fn remove(ctx: &Ctx, paths: &[PathBuf]) -> Result<i32> {
    let cur = ctx.current();
    if cur.mode != Mode::Open {
        let why = cur.fault.map(|f| format!(" ({f})")).unwrap_or_default();
        return refuse(format!(
            "the mode is {}{why}: removing a canary loosens the boundary; only in OPEN (release first)",
            cur.mode
        ));
    }
    let (mut h, p) = open_map(&ctx.pin)?;
    for path in paths {
        let key = boundary::protect::file_key(path)?;
        match h.remove(&key) {
            Ok(()) | Err(aya::maps::MapError::KeyNotFound) => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("removing {} from {}", path.display(), p.display()))
            }
        }
        println!(
            "removed canary {} (dev {}, ino {})",
            path.display(),
            key.dev,
            key.ino
        );
    }
    Ok(0)
}

/// Record a mode the kernel raised by itself (a canary) in the state file and
/// print its `mode` event (`via: "canary"`). Only ever tightens: adopts the
/// stricter of the live raises in `bd_mode_raise` and of a `bd_mode` slot
/// that carries BD_MODE_F_CANARY and a later seq than the file; otherwise
/// changes nothing. The raise entry is what counts: a bd-lock write racing
/// the canary may have overwritten `bd_mode`'s copy, and then `bd_mode` is
/// raised here to match the file. Caller holds the state lock. Returns the
/// transition recorded.
pub fn adopt_locked(ctx: &Ctx, what: &str) -> Result<Option<(Mode, Mode)>> {
    let st = mode::read_state(&ctx.state)?;
    let Some(mut mm) = ctx.map()? else {
        return Ok(None);
    };
    let m = mm.read()?;
    let flagged = (m.flags & BD_MODE_F_CANARY != 0 && m.seq > st.seq)
        .then(|| Mode::from_u32(m.mode))
        .flatten();
    let raised = match mode::RaiseMap::open(&ctx.pin)? {
        Some(r) => Some(mode::raised_mode(&r.live()?)),
        None => None,
    };
    let Some(kmode) = flagged.max(raised) else {
        return Ok(None);
    };
    if kmode <= st.mode {
        return Ok(None);
    }
    let from = st.mode;
    let mut new = st.clone();
    new.mode = kmode;
    new.seq = m.seq.max(st.seq + 1);
    new.since = boundary::time::now_rfc3339();
    new.uid = uid();
    new.reason = format!("canary tripped in the kernel: {what}");
    if m.mode != kmode as u32 || m.seq != new.seq {
        // Tighten the kernel copy first, as every transition does.
        mm.write(mode::MapState {
            mode: kmode as u32,
            flags: BD_MODE_F_CANARY,
            heartbeat_deadline_ns: m.heartbeat_deadline_ns,
            seq: new.seq,
        })?;
    }
    super::write_state(ctx, &new)?;
    emit(from, kmode, &new.reason, "canary")?;
    Ok(Some((from, kmode)))
}

/// [`adopt_locked`] taking the state lock (bounded wait). A busy lock is
/// not an error here: the state stays faulted (LOCKDOWN to every reader)
/// and the next tripwire line or `bd-lock sync` adopts.
pub fn adopt(ctx: &Ctx, what: &str) -> Result<Option<(Mode, Mode)>> {
    let Some(_l) = mode::try_lock_state(&ctx.state)? else {
        eprintln!("bd-lock: state lock busy: the kernel's canary mode is not recorded yet");
        return Ok(None);
    };
    adopt_locked(ctx, what)
}
