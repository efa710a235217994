//! The read-side commands and repair.

use crate::cli::{ShowArgs, TailArgs, VerifyArgs};
use crate::fsutil::{self, Lock};
use boundary::log::{self, verify, Body, Tail};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// Exit codes shared by the commands.
pub const OK: i32 = 0;
pub const BAD: i32 = 1;
pub const UNDECIDED: i32 = 2;

fn err(msg: impl std::fmt::Display) -> i32 {
    crate::diag!("bd-log: {msg}");
    UNDECIDED
}

/// Quietly stop on a closed stdout (`bd-log show | head`).
fn out_err(e: io::Error) -> i32 {
    if e.kind() == io::ErrorKind::BrokenPipe {
        OK
    } else {
        err(format!("stdout: {e}"))
    }
}

/// One result line on stdout; a closed or full stdout is an exit code, never a
/// panic (`println!` panics on a write error).
fn print_line(line: &str) -> i32 {
    let mut out = io::stdout().lock();
    match writeln!(out, "{line}").and_then(|_| out.flush()) {
        Ok(()) => OK,
        Err(e) => out_err(e),
    }
}

pub fn keygen(out: &Path) -> i32 {
    match log::write_keypair(out) {
        Ok(vk) => {
            crate::diag!(
                "bd-log: wrote secret key {} (mode 0600) and public key {}",
                out.display(),
                log::pub_path(out).display()
            );
            print_line(&format!("{{\"key\":\"{}\"}}", hex::encode(vk.to_bytes())))
        }
        Err(e) => err(e),
    }
}

pub fn verify(a: &VerifyArgs) -> i32 {
    let path = a.log.display().to_string();
    let key = match log::load_verifying_key(&a.pubkey) {
        Ok(k) => k,
        Err(e) => return err(e),
    };
    let anchor = match &a.anchor {
        None => None,
        Some(p) => {
            let text = match std::fs::read(p) {
                Ok(t) => t,
                Err(e) => return err(format!("{}: {e}", p.display())),
            };
            match verify::Anchor::parse(&text, &key) {
                Ok(an) => Some(an),
                Err(e) => return err(format!("{}: not a usable anchor: {e}", p.display())),
            }
        }
    };
    let file = match fsutil::open_read(&a.log) {
        Ok(f) => f,
        Err(e) => return err(format!("{path}: {e}")),
    };
    // A shared lock for a moment gives a size that ends on a whole write.
    let size = {
        let _l = match Lock::shared(&file) {
            Ok(l) => l,
            Err(e) => return err(format!("{path}: lock: {e}")),
        };
        match file.metadata() {
            Ok(m) => m.len(),
            Err(e) => return err(format!("{path}: {e}")),
        }
    };
    let opts = verify::Options { anchor, chunk: 0 };
    let rep = match verify::verify((&file).take(size), &key, &opts) {
        Ok(r) => r,
        Err(e) => return err(format!("{path}: {e}")),
    };
    let res = if a.json {
        let (bad_seq, reason) = match &rep.bad {
            Some((s, r)) => (Some(*s), Some(r.clone())),
            None => (None, None),
        };
        let v = serde_json::json!({
            "result": if rep.ok() { "PASS" } else { "FAIL" },
            "log": path,
            "bad_seq": bad_seq,
            "reason": reason,
            "lines": rep.lines,
            "checkpoints": rep.checkpoints,
            "last_checkpoint": rep.last_checkpoint,
            "uncovered": if rep.ok() { Some(rep.uncovered) } else { None },
            "origin": rep.origin,
            "anchor_seq": rep.anchored,
        });
        writeln!(io::stdout(), "{v}")
    } else if let Some((seq, why)) = &rep.bad {
        writeln!(io::stdout(), "FAIL {path}: seq {seq}: {why}")
    } else {
        let mut s = format!(
            "PASS {path}: {} lines, {} checkpoints (last at seq {}); {} trailing entries not yet covered by a checkpoint",
            rep.lines,
            rep.checkpoints,
            rep.last_checkpoint.map_or("-".into(), |c| c.to_string()),
            rep.uncovered
        );
        if let Some(a) = rep.anchored {
            s.push_str(&format!("; extends the anchor checkpoint at seq {a}"));
        }
        writeln!(io::stdout(), "{s}")
    };
    if let Err(e) = res {
        return out_err(e);
    }
    if rep.ok() {
        OK
    } else {
        BAD
    }
}

pub fn checkpoint(path: &Path, pubkey: &Path) -> i32 {
    let shown = path.display();
    let key = match log::load_verifying_key(pubkey) {
        Ok(k) => k,
        Err(e) => return err(e),
    };
    let file = match fsutil::open_read(path) {
        Ok(f) => f,
        Err(e) => return err(format!("{shown}: {e}")),
    };
    // As verify: a shared lock for a moment gives a size that ends on a whole write.
    let size = {
        let _l = match Lock::shared(&file) {
            Ok(l) => l,
            Err(e) => return err(format!("{shown}: lock: {e}")),
        };
        match file.metadata() {
            Ok(m) => m.len(),
            Err(e) => return err(format!("{shown}: {e}")),
        }
    };
    // Only a checkpoint the whole log verifies up to may become an anchor:
    // the last checkpoint-looking line could be forged, replayed or stranded
    // after a rollback.
    let rep = match verify::verify((&file).take(size), &key, &verify::Options::default()) {
        Ok(r) => r,
        Err(e) => return err(format!("{shown}: {e}")),
    };
    if let Some((seq, why)) = &rep.bad {
        crate::diag!("bd-log: {shown}: FAIL at seq {seq}: {why}; no checkpoint exported");
        return BAD;
    }
    let Some(want) = rep.last_checkpoint else {
        crate::diag!("bd-log: {shown}: no checkpoint in the log");
        return BAD;
    };
    match log::checkpoint_line_at(&file, size, want) {
        Ok(Some(line)) => {
            let mut out = io::stdout().lock();
            match out.write_all(&line).and_then(|_| out.write_all(b"\n")) {
                Ok(()) => OK,
                Err(e) => out_err(e),
            }
        }
        Ok(None) => {
            crate::diag!("bd-log: {shown}: no checkpoint in the log");
            BAD
        }
        Err(e) => err(format!("{shown}: {e}")),
    }
}

/// `--since`: an RFC 3339 time, or a duration before now; as a comparable ts.
fn since_ts(s: &str) -> Result<String, String> {
    if let Some(t) = boundary::time::parse_rfc3339(s) {
        return Ok(boundary::time::rfc3339_nanos(t));
    }
    let d = humantime::parse_duration(s)
        .map_err(|_| format!("--since {s:?}: expected an RFC 3339 time or a duration like 1h"))?;
    let t = std::time::SystemTime::now()
        .checked_sub(d)
        .unwrap_or(std::time::UNIX_EPOCH);
    Ok(boundary::time::rfc3339_nanos(t))
}

fn seq_range(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("--seq {s:?}: expected N, A..B, A.. or ..B");
    let num = |x: &str, dflt: u64| -> Result<u64, String> {
        if x.is_empty() {
            Ok(dflt)
        } else {
            x.parse().map_err(|_| bad())
        }
    };
    match s.split_once("..") {
        Some((a, b)) => Ok((num(a, 0)?, num(b, u64::MAX)?)),
        None => {
            let n = num(s, 0)?;
            Ok((n, n.saturating_add(1)))
        }
    }
}

struct Filter {
    seq: (u64, u64),
    since: Option<String>,
    records: bool,
}

/// Prints one line if it passes the filter; Err on a malformed line.
fn emit(out: &mut impl Write, line: &[u8], f: &Filter) -> io::Result<Result<(), String>> {
    let p = match log::parse_line(line) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e.to_string())),
    };
    if p.seq < f.seq.0 || p.seq >= f.seq.1 {
        return Ok(Ok(()));
    }
    if f.since.as_ref().is_some_and(|s| p.ts < s.as_bytes()) {
        return Ok(Ok(()));
    }
    match p.body {
        Body::Record(r) if f.records => {
            out.write_all(r)?;
            out.write_all(b"\n")?;
        }
        Body::Checkpoint if f.records => {}
        _ => {
            out.write_all(line)?;
            out.write_all(b"\n")?;
        }
    }
    Ok(Ok(()))
}

pub fn show(a: &ShowArgs) -> i32 {
    let shown = a.log.display().to_string();
    let filter = Filter {
        seq: match a.seq.as_deref().map(seq_range).transpose() {
            Ok(r) => r.unwrap_or((0, u64::MAX)),
            Err(e) => return err(e),
        },
        since: match a.since.as_deref().map(since_ts).transpose() {
            Ok(s) => s,
            Err(e) => return err(e),
        },
        records: a.records,
    };
    let file = match fsutil::open_read(&a.log) {
        Ok(f) => f,
        Err(e) => return err(format!("{shown}: {e}")),
    };
    let mut rd = BufReader::with_capacity(1 << 20, file);
    let mut out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut line = Vec::new();
    let mut n = 0u64;
    let mut code = OK;
    loop {
        line.clear();
        match rd.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return err(format!("{shown}: {e}")),
        }
        if line.last() != Some(&b'\n') {
            crate::diag!(
                "bd-log: {shown}: line {n}: torn last line ({} bytes without a newline) not shown",
                line.len()
            );
            code = BAD;
            break;
        }
        line.pop();
        match emit(&mut out, &line, &filter) {
            Err(e) => return out_err(e),
            Ok(Err(e)) => {
                crate::diag!("bd-log: {shown}: line {n}: malformed ({e}); skipped");
                code = BAD;
            }
            Ok(Ok(())) => {}
        }
        n += 1;
        if n > filter.seq.1 {
            break;
        }
    }
    match out.flush() {
        Ok(()) => code,
        Err(e) => out_err(e),
    }
}

pub fn tail(a: &TailArgs) -> i32 {
    let shown = a.log.display().to_string();
    let filter = Filter {
        seq: (0, u64::MAX),
        since: match a.since.as_deref().map(since_ts).transpose() {
            Ok(s) => s,
            Err(e) => return err(e),
        },
        records: a.records,
    };
    let file = match fsutil::open_read(&a.log) {
        Ok(f) => f,
        Err(e) => return err(format!("{shown}: {e}")),
    };
    let size = match file.metadata() {
        Ok(m) => m.len(),
        Err(e) => return err(format!("{shown}: {e}")),
    };
    let mut code = OK;
    let mut end = size;
    if let Ok(Tail::Torn { offset, len }) = log::read_tail(&file, size) {
        crate::diag!("bd-log: {shown}: torn last line ({len} bytes without a newline) not shown");
        code = BAD;
        end = offset;
    }
    // Walk back over whole lines only: memory is the lines shown.
    let mut lines: Vec<Vec<u8>> = Vec::new();
    while end > 0 && (lines.len() as u64) < a.lines {
        let start = match log::line_start_before(&file, end - 1) {
            Ok(s) => s,
            Err(e) => return err(format!("{shown}: {e}")),
        };
        let mut l = vec![0u8; (end - 1 - start) as usize];
        if let Err(e) = file.read_exact_at(&mut l, start) {
            return err(format!("{shown}: {e}"));
        }
        if !(a.records && l.windows(14).take(200).any(|w| w == b"\"checkpoint\":{")) {
            lines.push(l);
        }
        end = start;
    }
    let mut out = io::BufWriter::new(io::stdout().lock());
    for l in lines.iter().rev() {
        match emit(&mut out, l, &filter) {
            Err(e) => return out_err(e),
            Ok(Err(e)) => {
                crate::diag!("bd-log: {shown}: malformed line ({e}); skipped");
                code = BAD;
            }
            Ok(Ok(())) => {}
        }
    }
    match out.flush() {
        Ok(()) => code,
        Err(e) => out_err(e),
    }
}

pub fn repair(path: &Path) -> i32 {
    let shown = path.display().to_string();
    // O_APPEND: opening a +a file for plain writing is refused even to root.
    let file = match fsutil::open_regular(std::fs::OpenOptions::new().read(true).append(true), path)
    {
        Ok(f) => f,
        Err(e) => return err(format!("{shown}: {e}")),
    };
    let _lock = match Lock::exclusive(&file) {
        Ok(l) => l,
        Err(e) => return err(format!("{shown}: lock: {e}")),
    };
    let size = match file.metadata() {
        Ok(m) => m.len(),
        Err(e) => return err(format!("{shown}: {e}")),
    };
    let torn = match log::read_tail(&file, size) {
        Ok(Tail::Torn { offset, .. }) => Some(offset),
        Ok(_) => None,
        Err(e) => {
            return err(format!(
                "{shown}: {e}; the last complete line is malformed, which repair does not touch: run bd-log verify"
            ))
        }
    };
    // Everything after the last checkpoint the log's own key vouches for
    // (issue 15 item 3): an appender refuses to sign over it, so it is moved
    // aside as unverified. Without a readable genesis only a torn line goes.
    let vouched = match log::read_genesis(&file) {
        Ok(g) => match ed25519_dalek::VerifyingKey::from_bytes(&g.key) {
            Ok(vk) => match log::vouched_end(&file, size, &vk, &g.origin) {
                Ok(v) if v > 0 => Some(v),
                Ok(_) => None,
                Err(e) => return err(format!("{shown}: {e}")),
            },
            Err(_) => None,
        },
        Err(_) => None,
    };
    let (offset, kind) = match (vouched, torn) {
        (Some(v), Some(t)) if v == t => (t, "torn"),
        (Some(v), _) if v < size => (v, "unverified"),
        (None, Some(t)) => (t, "torn"),
        _ => {
            crate::diag!("bd-log: {shown}: the log ends in a signed checkpoint; nothing to repair");
            return OK;
        }
    };
    let len = size - offset;
    // +a forbids truncation even to root; clear it for the repair and put it back.
    let was_append_only = fsutil::is_append_only(&file).unwrap_or(false);
    if was_append_only {
        if let Err(e) = fsutil::set_append_only(&file, false) {
            return err(format!(
                "{shown}: the log has the append-only attribute and it cannot be cleared ({e}); \
                 as root run `chattr -a {shown}`, then `bd-log repair`, then `chattr +a {shown}`"
            ));
        }
        crate::diag!("bd-log: {shown}: cleared the append-only attribute for the repair");
    }
    let code = move_aside(&file, &shown, offset, len, kind);
    if was_append_only {
        match fsutil::set_append_only(&file, true) {
            Ok(_) => crate::diag!("bd-log: {shown}: set the append-only attribute again"),
            Err(e) => {
                crate::diag!("bd-log: {shown}: could not set the append-only attribute again: {e}");
                return UNDECIDED;
            }
        }
    }
    code
}

fn move_aside(file: &File, shown: &str, offset: u64, len: u64, kind: &str) -> i32 {
    let aside = format!(
        "{shown}.{kind}-{}",
        boundary::time::unix_nanos(std::time::SystemTime::now())
    );
    let saved = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&aside)
        .and_then(|mut f| {
            // In bounded pieces: the tail may be any size.
            let mut buf = vec![0u8; 1 << 20];
            let mut at = offset;
            while at < offset + len {
                let n = (buf.len() as u64).min(offset + len - at) as usize;
                file.read_exact_at(&mut buf[..n], at)?;
                f.write_all(&buf[..n])?;
                at += n as u64;
            }
            f.sync_all()
        });
    if let Err(e) = saved {
        // A failed copy (a full disk) leaves nothing behind: each retry would
        // otherwise add an empty or partial LOG.torn-* beside the log.
        let _ = std::fs::remove_file(&aside);
        return err(format!("{aside}: {e}; the log was not changed"));
    }
    // The copy must be durable before the bytes leave the log.
    if let Some(dir) = Path::new(&aside).parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    if let Err(e) = file.set_len(offset).and_then(|_| file.sync_all()) {
        return err(format!(
            "{shown}: truncating to {offset} bytes: {e}; the torn bytes are saved in {aside}"
        ));
    }
    crate::diag!("bd-log: {shown}: moved the {kind} tail ({len} bytes after the last signed checkpoint, or a torn last line) to {aside}; the log now ends at byte {offset}");
    print_line(
        &serde_json::json!({"repaired": true, "torn_bytes": len, "moved_bytes": len, "kind": kind, "moved_to": aside, "size": offset})
            .to_string(),
    )
}
