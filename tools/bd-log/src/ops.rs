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

pub fn keygen(out: &Path, epochs: u64) -> i32 {
    // `keygen -o /etc/boundary/keys/log.key` on a fresh host: the directory
    // is made, root-only (0700), like the one the package ships.
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            use std::os::unix::fs::DirBuilderExt;
            if let Err(e) = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
            {
                return err(format!("{}: creating the directory: {e}", dir.display()));
            }
            crate::diag!("bd-log: created {} (mode 0700)", dir.display());
        }
    }
    match log::keys::write_keypair_epochs(out, epochs) {
        Ok(keys) => {
            crate::diag!(
                "bd-log: wrote secret key {} (mode 0600, epoch 0 of {epochs}) and public key {}",
                out.display(),
                log::pub_path(out).display()
            );
            let k0 = keys.raw(0).map(|k| b64(k)).unwrap_or_default();
            // The identity key's public half: what a witness is configured
            // with (as a vkey under the log's origin, from `bd-log vkey`).
            let id = match log::keys::load_secret(out) {
                Ok(s) => s.identity_key().map(|k| b64(k.verifying_key().as_bytes())),
                Err(e) => return err(e),
            };
            crate::diag!(
                "bd-log: identity key for witnesses: {}; once the log exists, `bd-log vkey -k {} -l LOG` prints its vkey",
                id.as_deref().unwrap_or("-"),
                out.display()
            );
            print_line(&crate::json_line(
                "log_key",
                serde_json::json!({
                    "key": k0,
                    "epochs": epochs,
                    "id_key": id,
                    "secret": out.display().to_string(),
                    "public": log::pub_path(out).display().to_string(),
                }),
            ))
        }
        Err(e) => err(e),
    }
}

pub(crate) fn b64(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Says why verify could not decide: one line on stderr and, with --json,
/// an error object on stdout, then exit status 2.
fn undecided(a: &VerifyArgs, msg: impl std::fmt::Display) -> i32 {
    let msg = msg.to_string();
    crate::diag!("bd-log: {msg}");
    if a.json {
        let v = crate::json_line(
            "log_verify",
            serde_json::json!({
                "result": "ERROR",
                "log": a.log.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
                "error": msg,
            }),
        );
        if let Err(e) = writeln!(io::stdout(), "{v}") {
            return out_err(e).max(UNDECIDED);
        }
    }
    UNDECIDED
}

/// A reader for one member of the set, decompressing gzip or zstd (by its magic
/// bytes, whatever the name). A plain file is read up to the size it had
/// under a moment's shared lock, so the end is on a whole write.
pub(crate) fn open_member(p: &Path) -> Result<Box<dyn Read + Send>, String> {
    let shown = p.display();
    let raw: Box<dyn Read + Send> = if p.as_os_str() == "-" {
        Box::new(io::stdin())
    } else {
        let file = fsutil::open_read(p).map_err(|e| format!("{shown}: {e}"))?;
        let size = {
            let _l = Lock::shared(&file).map_err(|e| format!("{shown}: lock: {e}"))?;
            file.metadata().map_err(|e| format!("{shown}: {e}"))?.len()
        };
        Box::new(file.take(size))
    };
    let mut br = BufReader::with_capacity(1 << 16, raw);
    let magic = br.fill_buf().map_err(|e| format!("{shown}: {e}"))?;
    if magic.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(br)))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Ok(Box::new(ZstdFrames {
            cur: None,
            src: Some(br),
        }))
    } else {
        Ok(Box::new(br))
    }
}

type Member = BufReader<Box<dyn Read + Send>>;

/// Every zstd frame of a member, one after the other (`zstd` writes one per
/// file; concatenated files are several).
struct ZstdFrames {
    cur: Option<ruzstd::decoding::StreamingDecoder<Member, ruzstd::decoding::FrameDecoder>>,
    src: Option<Member>,
}

impl Read for ZstdFrames {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(d) = self.cur.as_mut() {
                let n = d.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
                self.src = self.cur.take().map(|d| d.into_inner());
            }
            let Some(mut r) = self.src.take() else {
                return Ok(0);
            };
            if r.fill_buf()?.is_empty() {
                return Ok(0);
            }
            self.cur =
                Some(ruzstd::decoding::StreamingDecoder::new(r).map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {e}"))
                })?);
        }
    }
}

/// The seq of a member's first line (where it sits in the chain).
fn first_seq(p: &Path) -> Result<u64, String> {
    let mut r = open_member(p)?;
    let mut buf = Vec::with_capacity(1024);
    (&mut r)
        .take(8192)
        .read_to_end(&mut buf)
        .map_err(|e| format!("{}: {e}", p.display()))?;
    let end = memchr::memchr(b'\n', &buf).unwrap_or(buf.len());
    log::parse_line(&buf[..end])
        .map(|l| l.seq)
        .map_err(|e| format!("{}: first line: {e}", p.display()))
}

/// The files to verify: as given, in order, unless a pattern was used; then
/// every match (never the LOG.torn-* or LOG.unverified-* files repair moves
/// aside), ordered by the seq each file starts at.
pub(crate) fn members(logs: &[std::path::PathBuf]) -> Result<Vec<std::path::PathBuf>, String> {
    let mut out = Vec::new();
    let mut globbed = false;
    for p in logs {
        let s = p.to_string_lossy();
        if p.as_os_str() != "-" && s.contains(['*', '?', '[']) {
            globbed = true;
            let paths = glob::glob(&s).map_err(|e| format!("{s}: bad pattern: {e}"))?;
            let mut n = 0;
            for m in paths {
                let m = m.map_err(|e| format!("{s}: {e}"))?;
                let name = m.to_string_lossy();
                if name.contains(".torn-") || name.contains(".unverified-") {
                    continue;
                }
                if !out.contains(&m) {
                    out.push(m);
                    n += 1;
                }
            }
            if n == 0 {
                return Err(format!("{s}: no file matches"));
            }
        } else {
            out.push(p.clone());
        }
    }
    if globbed {
        let mut keyed = Vec::with_capacity(out.len());
        for p in out {
            keyed.push((first_seq(&p)?, p));
        }
        keyed.sort();
        out = keyed.into_iter().map(|(_, p)| p).collect();
    }
    if out.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        return Err("-l - (stdin) can be given only once".into());
    }
    Ok(out)
}

pub fn verify(a: &VerifyArgs) -> i32 {
    let key = match log::keys::load_public(&a.pubkey) {
        Ok(k) => k,
        Err(e) => return undecided(a, e),
    };
    let anchor_path = a.anchor.as_ref().or(a.witnessed.as_ref());
    let mut anchor_text: Option<Vec<u8>> = None;
    let anchor = match anchor_path {
        None => None,
        Some(p) => {
            let text = match std::fs::read(p) {
                Ok(t) => t,
                Err(e) => return undecided(a, format!("{}: {e}", p.display())),
            };
            let an = match verify::Anchor::parse(&text, &key) {
                Ok(an) => an,
                Err(e) => {
                    return undecided(a, format!("{}: not a usable anchor: {e}", p.display()))
                }
            };
            anchor_text = Some(text);
            Some(an)
        }
    };
    // Witnesses: the anchor note must carry the quorum before anything else
    // is read; it is what the rest of the check leans on.
    let cosigned = if a.witness_key.is_empty() {
        None
    } else {
        match witness_quorum(a, anchor_path, anchor_text.as_deref()) {
            Ok(c) => Some(c),
            Err(code) => return code,
        }
    };
    let files = match members(&a.log) {
        Ok(f) => f,
        Err(e) => return undecided(a, e),
    };
    let mut inputs = Vec::with_capacity(files.len());
    for p in &files {
        match open_member(p) {
            Ok(r) => inputs.push(verify::Input {
                name: if p.as_os_str() == "-" {
                    "(stdin)".into()
                } else {
                    p.display().to_string()
                },
                reader: r,
            }),
            Err(e) => return undecided(a, e),
        }
    }
    let names: Vec<String> = inputs.iter().map(|i| i.name.clone()).collect();
    let path = names.join(" ");
    let opts = verify::Options { anchor, chunk: 0 };
    let opts_anchor = opts.anchor.clone();
    let rep = match verify::verify_set(inputs, &key, &opts) {
        Ok(r) => r,
        Err(e) => return undecided(a, e),
    };
    if let Some(k) = &rep.wrong_key {
        return undecided(
            a,
            format!(
                "{}: wrong key: the log is signed by key {k}, not by the given public key {} ({}); \
                 verify with the key the log names, if you trust it",
                rep.bad_file.as_deref().unwrap_or(&path),
                key.raw(0).map(|k| b64(k)).unwrap_or_default(),
                a.pubkey.display()
            ),
        );
    }
    if let Some(why) = &rep.undecided {
        return undecided(a, format!("{path}: {why}"));
    }
    // --witnessed: the witnessed tree must reach the log's latest checkpoint.
    let witnessed_size = a
        .witnessed
        .as_ref()
        .and(opts_anchor.as_ref())
        .map(|an| an.size);
    let unwitnessed = witnessed_size.map(|w| {
        rep.last_checkpoint
            .map_or(0, |c| c.saturating_add(1).saturating_sub(w))
    });
    if rep.bad.is_none() {
        if let (Some(w), Some(u)) = (witnessed_size, unwitnessed) {
            if u > a.max_unwitnessed {
                let why = format!(
                    "the log's latest checkpoint is not witnessed: the witnessed note covers {w} lines, {u} more are covered by checkpoints only (--max-unwitnessed {})",
                    a.max_unwitnessed
                );
                let shown = a.witnessed.as_ref().map(|p| p.display().to_string());
                return verdict_fail(a, shown.as_deref().unwrap_or(&path), &why);
            }
        }
    }
    let res = if a.json {
        let (bad_seq, reason) = match &rep.bad {
            Some((s, r)) => (Some(*s), Some(r.clone())),
            None => (None, None),
        };
        let v = crate::json_line(
            "log_verify",
            serde_json::json!({
                "result": if rep.ok() { "PASS" } else { "FAIL" },
                "log": if names.len() == 1 { serde_json::json!(names[0]) } else { serde_json::json!(names) },
                "bad_file": rep.bad_file,
                "bad_seq": bad_seq,
                "reason": reason,
                "files": rep.files,
                "first_seq": rep.first_seq,
                "lines": rep.lines,
                "checkpoints": rep.checkpoints,
                "last_checkpoint": rep.last_checkpoint,
                "uncovered": if rep.ok() { Some(rep.uncovered) } else { None },
                "origin": rep.origin,
                "anchor_seq": rep.anchored,
                "last_epoch": rep.last_epoch,
                "witnesses": cosigned.as_ref().map(|c| c.iter().map(|w| serde_json::json!({"name": w.name, "time": w.time})).collect::<Vec<_>>()),
                "witnessed_size": witnessed_size,
                "unwitnessed": unwitnessed,
            }),
        );
        writeln!(io::stdout(), "{v}")
    } else if let Some((seq, why)) = &rep.bad {
        writeln!(
            io::stdout(),
            "FAIL {}: seq {seq}: {why}",
            rep.bad_file.as_deref().unwrap_or(&path)
        )
    } else if a.quiet {
        Ok(())
    } else {
        let mut s = format!(
            "PASS {path}: {} lines, {} checkpoints (last at seq {}); {} trailing entries not yet covered by a checkpoint",
            rep.lines,
            rep.checkpoints,
            rep.last_checkpoint.map_or("-".into(), |c| c.to_string()),
            rep.uncovered
        );
        if rep.files > 1 {
            s.push_str(&format!("; {} files linked", rep.files));
        }
        if rep.first_seq > 0 {
            s.push_str(&format!(
                "; starts at seq {} (the files before it were not given)",
                rep.first_seq
            ));
        }
        if let Some(a) = rep.anchored {
            s.push_str(&format!("; consistent with the anchor's tree of {a} lines"));
        }
        if let Some(e) = rep.last_epoch {
            s.push_str(&format!("; key epoch {e}"));
        }
        if let Some(c) = &cosigned {
            let names: Vec<String> = c
                .iter()
                .map(|w| format!("{} at {}", w.name, w.time))
                .collect();
            s.push_str(&format!("; anchor cosigned by {}", names.join(", ")));
        }
        if let (Some(w), Some(u)) = (witnessed_size, unwitnessed) {
            s.push_str(&format!(
                "; witnessed up to {w} lines, {u} covered lines after it not yet witnessed"
            ));
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

/// A verdict that is not the chain's (the witness quorum, the witnessed
/// tree's reach): a FAIL line or object, exit 1.
fn verdict_fail(a: &VerifyArgs, file: &str, why: &str) -> i32 {
    let res = if a.json {
        let v = crate::json_line(
            "log_verify",
            serde_json::json!({
                "result": "FAIL",
                "log": a.log.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
                "bad_file": file,
                "bad_seq": null,
                "reason": why,
            }),
        );
        writeln!(io::stdout(), "{v}")
    } else {
        writeln!(io::stdout(), "FAIL {file}: {why}")
    };
    match res {
        Ok(()) => BAD,
        Err(e) => out_err(e).max(BAD),
    }
}

/// The quorum check on the anchor note for `verify --witness-key`: the
/// cosigners found, or the exit code to stop with.
fn witness_quorum(
    a: &VerifyArgs,
    anchor_path: Option<&std::path::PathBuf>,
    text: Option<&[u8]>,
) -> Result<Vec<log::witness::Cosigned>, i32> {
    let (Some(p), Some(text)) = (anchor_path, text) else {
        return Err(undecided(
            a,
            "--witness-key needs the cosigned note as --anchor NOTE or --witnessed NOTE",
        ));
    };
    let shown = p.display().to_string();
    let mut keys = Vec::with_capacity(a.witness_key.len());
    for k in &a.witness_key {
        match crate::witness::load_witness_key(k) {
            Ok(k) => keys.push(k),
            Err(e) => return Err(undecided(a, e)),
        }
    }
    let required = a.witnesses_required.map_or(keys.len(), |k| k as usize);
    if required > keys.len() {
        return Err(undecided(
            a,
            format!(
                "--witnesses-required {required}: only {} --witness-key given",
                keys.len()
            ),
        ));
    }
    if text.trim_ascii_start().starts_with(b"{") {
        return Err(undecided(
            a,
            format!(
                "{shown}: a checkpoint line carries no cosignatures; give the signed note bd-log witness cosigned"
            ),
        ));
    }
    let note = String::from_utf8_lossy(text);
    match log::witness::check_quorum(&note, &keys, required) {
        Ok(c) => Ok(c),
        Err(r) => Err(verdict_fail(a, &shown, &format!("witnesses: {r}"))),
    }
}

pub fn checkpoint(
    path: &Path,
    pubkey: &Path,
    as_note: bool,
    secret_path: Option<&Path>,
    output: Option<&Path>,
) -> i32 {
    let shown = path.display();
    let key = match log::keys::load_public(pubkey) {
        Ok(k) => k,
        Err(e) => return err(e),
    };
    let secret = match secret_path.map(log::keys::load_secret).transpose() {
        Ok(s) => s,
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
        Ok(Some(mut line)) => {
            if as_note {
                match log::Checkpoint::parse_line(&line) {
                    Ok(c) => {
                        let mut note = c.note();
                        if let (Some(sk), Some(kp)) = (&secret, secret_path) {
                            match log::keys::identity_line(&c.tree_head(), sk, &key) {
                                Some(l) => note.push_str(&l),
                                None => crate::diag!(
                                    "bd-log: {}: no identity key in it (made before identity keys existed): the note carries the epoch signature only",
                                    kp.display()
                                ),
                            }
                        }
                        line = note.into_bytes();
                    }
                    Err(e) => return err(format!("{shown}: {e}")),
                }
            } else {
                line.push(b'\n');
            }
            if let Some(o) = output {
                return match boundary::safefile::replace_file(o, &line, 0o644) {
                    Ok(()) => OK,
                    Err(e) => err(format!("{e:#}")),
                };
            }
            let mut out = io::stdout().lock();
            match out.write_all(&line) {
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

pub(crate) fn seq_range(s: &str) -> Result<(u64, u64), String> {
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
    until: Option<String>,
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
    if f.until.as_ref().is_some_and(|u| p.ts >= u.as_bytes()) {
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
        until: match a
            .until
            .as_deref()
            .map(|u| since_ts(u).map_err(|e| e.replace("--since", "--until")))
            .transpose()
        {
            Ok(s) => s,
            Err(e) => return err(e),
        },
        records: a.records,
    };
    let file = match fsutil::open_read(&a.log) {
        Ok(f) => f,
        Err(e) => return err(format!("{shown}: {e}")),
    };
    let mut ident = file_ident(&file);
    let mut rd = BufReader::with_capacity(1 << 20, file);
    let mut out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut line = Vec::new();
    let mut n = 0u64;
    let mut code = OK;
    let mut partial = false;
    loop {
        // In follow mode a partial line stays in `line` until its newline.
        if !partial {
            line.clear();
        }
        partial = false;
        match rd.read_until(b'\n', &mut line) {
            Ok(0) if a.follow => {
                partial = !line.is_empty();
                if let Err(e) = out.flush() {
                    return out_err(e);
                }
                // A rotation: the path names a new file. Finish the old one
                // (read to its end above), then read the new one from its start.
                if line.is_empty() {
                    if let Ok(f) = fsutil::open_read(&a.log) {
                        let id = file_ident(&f);
                        if id.is_some() && id != ident {
                            ident = id;
                            rd = BufReader::with_capacity(1 << 20, f);
                            n = 0;
                            continue;
                        }
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
                continue;
            }
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return err(format!("{shown}: {e}")),
        }
        if a.follow && line.last() != Some(&b'\n') {
            partial = true;
            continue;
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
        if log::parse_line(&line).is_ok_and(|p| p.seq.saturating_add(1) >= filter.seq.1) {
            break;
        }
    }
    match out.flush() {
        Ok(()) => code,
        Err(e) => out_err(e),
    }
}

/// Which file an open descriptor is (device, inode), to notice a rotation.
fn file_ident(f: &File) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    f.metadata().ok().map(|m| (m.dev(), m.ino()))
}

pub fn tail(a: &TailArgs) -> i32 {
    let shown = a.log.display().to_string();
    let filter = Filter {
        seq: (0, u64::MAX),
        since: match a.since.as_deref().map(since_ts).transpose() {
            Ok(s) => s,
            Err(e) => return err(e),
        },
        until: None,
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
    // repair has no public key: it trusts a checkpoint signed by the key it
    // names, of the genesis's key in the genesis's epoch (the appender and
    // verify check every epoch's key against KEY.pub).
    let vouched = match log::read_genesis(&file) {
        Ok(g) => {
            let accept = |c: &log::Checkpoint| {
                c.self_signed() && (c.epoch > g.epoch || (c.epoch == g.epoch && c.key == g.key))
            };
            match log::vouched_end(&file, size, &accept, &g.origin) {
                Ok(v) if v > 0 => Some(v),
                Ok(_) => None,
                Err(e) => return err(format!("{shown}: {e}")),
            }
        }
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
    print_line(&boundary::json::output_line(
        "log_repair",
        serde_json::json!({"repaired": true, "torn_bytes": len, "moved_bytes": len, "kind": kind, "moved_to": aside, "size": offset}),
    ))
}
