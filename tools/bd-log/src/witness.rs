//! `bd-log witness`: a C2SP tlog-witness client. It submits a checkpoint
//! note (from `bd-log note`) to each witness's `add-checkpoint` with a
//! consistency proof from the size that witness last cosigned, verifies
//! every returned cosignature against the witness key before keeping it,
//! and writes the note with the cosignature lines added (atomic replace).
//! Also the quorum check `verify-excerpt --witness-key` applies.

use crate::cli::WitnessArgs;
use crate::ops::{members, open_member};
use base64::Engine as _;
use boundary::exit;
use boundary::log::witness::{self as w, WitnessKey};
use boundary::log::{self, merkle};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The man page's WITNESSES section.
pub const MAN: &str = "\
bd-log witness is a client of the C2SP tlog-witness protocol: it gets a note from bd-log note cosigned by independent witnesses, which keep, for each log origin, the latest tree they cosigned and cosign a new one only if a consistency proof shows it extends that tree. A host that rolls its log back, or shows two parties two different logs of the same origin (a split view), is refused by every witness that saw the other view. Configure each witness with the log's origin (the note's first line) and the log's identity vkey, which bd-log vkey -k KEY -l LOG prints (origin+keyID+base64(0x01 || key)). The epoch key evolves (forward security) but a witness is configured with one key per log, so notes from bd-log note carry two signatures under the origin: the epoch key's, which bd-log's verifiers require, and the long-lived identity key's, which the witness checks. A witness cosigns only trees consistent with what it cosigned before, so the identity key lets whoever holds it (root on the host, like the current epoch key) get only extensions of the witnessed history cosigned; bd-log's verifiers never accept the identity signature alone (SECURITY.md). A key made before identity keys existed signs notes with the epoch key only: bd-log witness warns, and a witness configured with one epoch's key refuses (403) once the epoch moves.

For each --url (the witness's submission prefix) bd-log POSTs to URL/add-checkpoint the body: old M, the RFC 6962 consistency proof lines from size M to the note's size (base64), a blank line and the note. M is --old's size, else 0; a witness that has cosigned another size answers 409 Conflict with that size (text/x.tlog.size) and bd-log retries from it (a size above the note's is a rollback and refused). 200 carries the witness's cosignature lines: each is verified with the --witness-key given for that URL before it is kept; lines by other keys are ignored. 422 (the proof does not verify, or the same size has another root) is a refusal. 403 and 404 mean the witness does not accept this log's signature or origin. The note is then replaced atomically by the same note with the new cosignatures (an older cosignature by the same witness is dropped, all other lines are kept).

A cosignature (C2SP tlog-cosignature, cosignature/v1) is a signed-note line by the witness's name: base64 of the key ID SHA-256(name || 0x0A || 0x04 || key)[:4], an 8-byte big-endian POSIX timestamp and an Ed25519 signature over the lines cosignature/v1 and time T followed by the note text. Witness keys are vkeys: name+8 hex key ID+base64(0x04 || 32-byte key), on the command line or in a file.

verify-excerpt -w VKEY... [-k K] accepts an excerpt only if its note carries valid cosignatures from at least K distinct given witnesses (default: all given); a cosignature line by a given witness that does not verify (forged, or moved from another note) fails the excerpt, as signed-note asks. verify --anchor NOTE -w VKEY... [-k K] applies the same quorum to an anchor note, and verify --witnessed NOTE -w VKEY... (for the cron, after bd-log witness) also requires the witnessed tree to reach the log's latest checkpoint, up to --max-unwitnessed lines; a checkpoint line given where a cosigned note is needed is exit 2. https uses the system's trust store (rustls, platform verifier), or only the CA certificates of --ca-cert FILE (PEM); a refused handshake is one line (TLS handshake refused: ...) and counts as an unreachable witness (exit 7).

Exit status of bd-log witness: 0 at least K witnesses cosigned (K = --witnesses-required, default all given); 1 a witness refused the note as inconsistent with a tree it cosigned before (422, or a 409 naming a larger size: a split view, a rollback or a rewrite), or answered with a cosignature that does not verify, or fewer than K cosigned and none was unreachable, or the log does not match the note (as prove: nothing is sent); 2 usage or input error (a bad vkey, a note not signed by the log key); 7 fewer than K cosigned because a witness could not be reached or does not serve this log (network, TLS handshake, timeout, 403, 404, 5xx). The cosignatures obtained are written whatever the status. verify-excerpt with -w: 1 also when fewer than K given witnesses cosigned or a given witness's cosignature does not verify; 2 also for a bad vkey or K above the number of keys given.";

fn fail(code: i32, msg: impl std::fmt::Display) -> i32 {
    crate::diag!("bd-log: {msg}");
    code
}

/// A witness key from the command line: a vkey, or a file holding one.
pub fn load_witness_key(arg: &str) -> Result<WitnessKey, String> {
    let text = if arg.contains('+') {
        arg.to_string()
    } else {
        std::fs::read_to_string(arg).map_err(|e| format!("--witness-key {arg}: {e}"))?
    };
    WitnessKey::parse(text.trim()).map_err(|e| format!("--witness-key {arg}: {e}"))
}

fn load_witness_keys(args: &[String]) -> Result<Vec<WitnessKey>, String> {
    args.iter().map(|a| load_witness_key(a)).collect()
}

/// The log's public key as far as notes go: the one place that loads it and
/// checks a note's log signature, so a change of key format touches only
/// this.
struct LogKey(log::keys::PublicKeys);

impl LogKey {
    fn load(p: &Path) -> Result<LogKey, String> {
        log::keys::load_public(p)
            .map(LogKey)
            .map_err(|e| e.to_string())
    }

    /// A note by the key of any of the log's epochs (forward-secure keys).
    fn open(&self, note: &str) -> Result<merkle::TreeHead, String> {
        merkle::TreeHead::open_epochs(note, &self.0).map(|(t, _)| t)
    }
}

/// Whether the note has a signature line under the origin by a key that
/// is not one of the log's epoch keys: the identity signature.
fn has_identity_signature(pk: &LogKey, th: &merkle::TreeHead, sigs: &[&str]) -> bool {
    sigs.iter().any(|l| {
        w::parse_sig_line(l).is_ok_and(|(name, blob)| {
            name == th.origin
                && blob.len() == 68
                && !log::keys::is_epoch_key_id(&th.origin, &pk.0, &blob[..4])
        })
    })
}

/// `bd-log vkey`: the identity key as the vkey witnesses are configured with.
pub fn vkey(key: &Path, logf: Option<&Path>, origin: Option<&str>) -> i32 {
    let sk = match log::keys::load_secret(key) {
        Ok(k) => k,
        Err(e) => return fail(exit::USAGE, e),
    };
    let Some(ik) = sk.identity_key() else {
        return fail(
            exit::USAGE,
            format!(
                "{}: this key has no identity key (made before identity keys existed); its notes carry the epoch signature only, which a witness accepts only while the epoch it was configured with lasts; make a new key with bd-log keygen to have one",
                key.display()
            ),
        );
    };
    let origin = match (origin, logf) {
        (Some(o), _) if log::valid_origin(o) => o.to_string(),
        (Some(o), _) => return fail(exit::USAGE, format!("--origin {o:?}: not a valid origin")),
        (None, Some(p)) => match first_origin(p) {
            Ok(o) => o,
            Err(e) => return fail(exit::USAGE, e),
        },
        (None, None) => return fail(exit::USAGE, "give --log or --origin"),
    };
    match writeln!(
        io::stdout(),
        "{}",
        log::keys::identity_vkey(&origin, &ik.verifying_key())
    ) {
        Ok(()) => exit::OK,
        Err(e) => fail(exit::USAGE, format!("stdout: {e}")),
    }
}

/// The origin the first line of a log file (or rotated member) names.
fn first_origin(p: &Path) -> Result<String, String> {
    let mut r = BufReader::new(open_member(p)?);
    let mut line = Vec::new();
    (&mut r)
        .take(log::MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("{}: {e}", p.display()))?;
    if line.pop() != Some(b'\n') {
        return Err(format!("{}: line 1: incomplete or empty", p.display()));
    }
    log::Checkpoint::parse_line(&line)
        .map(|c| c.origin)
        .map_err(|e| format!("{}: line 1: {e}", p.display()))
}

/// What one witness did with the note.
enum Outcome {
    /// Verified cosignature lines (with newlines).
    Cosigned(Vec<String>),
    /// The witness refused the note as inconsistent with what it cosigned
    /// before, or answered with a cosignature that does not verify: evidence
    /// against the log or the witness, never retried.
    Refused(String),
    /// Unreachable, misconfigured or broken: nothing learnt about the log.
    Fault(String),
}

const MAX_RESPONSE: u64 = 64 << 10;

/// Leaf hashes of the first `size` lines of the set.
fn leaves(files: &[PathBuf], size: u64) -> Result<Vec<merkle::Hash>, String> {
    let mut out = Vec::new();
    let mut line = Vec::new();
    'files: for p in files {
        let mut r = BufReader::with_capacity(1 << 20, open_member(p)?);
        while (out.len() as u64) < size {
            line.clear();
            let n = (&mut r)
                .take(log::MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut line)
                .map_err(|e| format!("{}: {e}", p.display()))?;
            if n == 0 || line.last() != Some(&b'\n') {
                continue 'files;
            }
            line.pop();
            out.push(merkle::leaf_hash(&line));
        }
        break;
    }
    Ok(out)
}

/// The CA certificates of a PEM file (`--ca-cert`), as curl's --cacert
/// takes them: every CERTIFICATE block; anything else in the file is
/// ignored; a file without one is an error, never an empty trust store.
fn ca_certs(p: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>, String> {
    let shown = p.display();
    let pem = std::fs::read(p).map_err(|e| format!("--ca-cert {shown}: {e}"))?;
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => out.push(c),
            Ok(_) => {}
            Err(e) => return Err(format!("--ca-cert {shown}: not PEM: {e}")),
        }
    }
    if out.is_empty() {
        return Err(format!(
            "--ca-cert {shown}: no PEM CERTIFICATE block in the file"
        ));
    }
    Ok(out)
}

fn agent(timeout: Duration, ca: Option<Vec<ureq::tls::Certificate<'static>>>) -> ureq::Agent {
    use ureq::tls::{RootCerts, TlsConfig};
    // The system's trust store, so a fleet's CA installed there works; or
    // only the CAs the operator named (a private CA kept out of the store).
    let roots = match ca {
        Some(c) => RootCerts::new_with_certs(&c),
        None => RootCerts::PlatformVerifier,
    };
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        // 4xx carry the protocol's answers (409's size); read them ourselves.
        .http_status_as_error(false)
        // A POST that moved is a misconfigured URL, not something to follow.
        .max_redirects(0)
        .tls_config(TlsConfig::builder().root_certs(roots).build())
        .build()
        .into()
}

/// One line for a transport error: a TLS refusal says so and what to check.
fn transport_error(to: &str, e: &ureq::Error) -> String {
    // rustls reports a refused certificate as an I/O error of the stream.
    let tls = match e {
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => true,
        ureq::Error::Io(io) => io
            .get_ref()
            .is_some_and(|i| i.downcast_ref::<rustls::Error>().is_some()),
        _ => false,
    };
    match e {
        _ if tls => format!(
            "{to}: TLS handshake refused: {e} (is the witness's CA in the system trust store, or given with --ca-cert?)"
        ),
        _ => format!("{to}: {e}"),
    }
}

fn endpoint(url: &str) -> String {
    format!("{}/add-checkpoint", url.trim_end_matches('/'))
}

/// What is sent: the note, its text (what cosignatures sign), its tree
/// head and the leaves the consistency proofs come from.
struct Submission<'a> {
    note: &'a str,
    body: &'a str,
    th: &'a merkle::TreeHead,
    leaves: &'a [merkle::Hash],
}

/// tlog-witness add-checkpoint with 409 handling: start from `old`, and on
/// a conflict retry from the size the witness says it cosigned.
fn submit(
    agent: &ureq::Agent,
    url: &str,
    wk: &WitnessKey,
    s: &Submission,
    mut old: u64,
) -> Outcome {
    let Submission {
        note,
        body,
        th,
        leaves,
    } = s;
    let b64 = base64::engine::general_purpose::STANDARD;
    let to = endpoint(url);
    let mut tried: Vec<u64> = Vec::new();
    loop {
        if tried.contains(&old) || tried.len() >= 3 {
            return Outcome::Fault(format!(
                "{to}: still 409 Conflict after trying old sizes {tried:?}"
            ));
        }
        tried.push(old);
        let mut req = format!("old {old}\n");
        for h in merkle::consistency_proof(old as usize, leaves) {
            req.push_str(&b64.encode(h));
            req.push('\n');
        }
        req.push('\n');
        req.push_str(note);
        let mut resp = match agent
            .post(&to)
            .header("Content-Type", "text/plain; charset=utf-8")
            .send(req.as_bytes())
        {
            Ok(r) => r,
            Err(e) => return Outcome::Fault(transport_error(&to, &e)),
        };
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = match resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_string()
        {
            Ok(t) => t,
            Err(e) => return Outcome::Fault(format!("{to}: reading the answer: {e}")),
        };
        let said = text.lines().next().unwrap_or("").trim();
        match status {
            200 => {
                return match w::accept_response(wk, body, &text) {
                    Ok(l) if l.is_empty() => Outcome::Fault(format!(
                        "{to}: 200 without a cosignature by {} (key ID {}): is --witness-key the key of this URL?",
                        wk.name,
                        hex::encode(wk.id())
                    )),
                    Ok(l) => Outcome::Cosigned(l),
                    Err(e) => Outcome::Refused(format!("{to}: witness {}: {e}", wk.name)),
                }
            }
            409 => {
                let size = (ctype.starts_with("text/x.tlog.size"))
                    .then(|| text.strip_suffix('\n'))
                    .flatten()
                    .filter(|s| *s == "0" || !s.starts_with('0'))
                    .and_then(|s| s.parse::<u64>().ok());
                let Some(size) = size else {
                    return Outcome::Fault(format!(
                        "{to}: 409 Conflict without a text/x.tlog.size body (got {ctype:?}: {said:?})"
                    ));
                };
                if size > th.size {
                    return Outcome::Refused(format!(
                        "{to}: witness {} has already cosigned size {size} of {}, larger than this note's {}: the log was rolled back, or this note is from an older view",
                        wk.name, th.origin, th.size
                    ));
                }
                old = size;
            }
            422 => {
                return Outcome::Refused(format!(
                    "{to}: witness {} refused the note (422 Unprocessable Entity: not consistent with the tree it cosigned at size {old}, a split view or a rewritten log){}",
                    wk.name,
                    if said.is_empty() { String::new() } else { format!(": {said}") }
                ))
            }
            403 => {
                return Outcome::Fault(format!(
                    "{to}: 403 Forbidden: the witness does not accept the log's signature on this note (is the log key configured at the witness?)"
                ))
            }
            404 => {
                return Outcome::Fault(format!(
                    "{to}: 404 Not Found: the witness does not know the origin {} (or the URL is not a witness)",
                    th.origin
                ))
            }
            400 => return Outcome::Fault(format!("{to}: 400 Bad Request: {said}")),
            s => return Outcome::Fault(format!("{to}: HTTP {s}: {said}")),
        }
    }
}

/// Writes `text` to `out` atomically: a new file next to it, synced, then
/// renamed over it, so a reader sees the old note or the new one, never half.
fn replace(out: &Path, text: &str) -> Result<(), String> {
    let shown = out.display();
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = out
        .file_name()
        .ok_or_else(|| format!("{shown}: not a file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let res = (|| -> io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, out)?;
        std::fs::File::open(&dir)?.sync_all()
    })();
    res.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("{shown}: {e}")
    })
}

pub fn run(a: &WitnessArgs) -> i32 {
    if a.url.len() != a.witness_key.len() {
        return fail(
            exit::USAGE,
            format!(
                "{} --url and {} --witness-key given: give one key per URL, in the same order",
                a.url.len(),
                a.witness_key.len()
            ),
        );
    }
    let keys = match load_witness_keys(&a.witness_key) {
        Ok(k) => k,
        Err(e) => return fail(exit::USAGE, e),
    };
    for (i, k) in keys.iter().enumerate() {
        if keys[..i].iter().any(|o| o.key == k.key) {
            return fail(
                exit::USAGE,
                format!("witness key {} is given twice", k.name),
            );
        }
    }
    let required = a.witnesses_required.map_or(keys.len(), |k| k as usize);
    if required > keys.len() {
        return fail(
            exit::USAGE,
            format!(
                "--witnesses-required {required}: only {} witnesses given",
                keys.len()
            ),
        );
    }
    let pk = match LogKey::load(&a.pubkey) {
        Ok(k) => k,
        Err(e) => return fail(exit::USAGE, e),
    };
    let ca = match a.ca_cert.as_deref().map(ca_certs).transpose() {
        Ok(c) => c,
        Err(e) => return fail(exit::USAGE, e),
    };
    let note = match std::fs::read_to_string(&a.note) {
        Ok(t) => t,
        Err(e) => return fail(exit::USAGE, format!("{}: {e}", a.note.display())),
    };
    let th = match pk.open(&note) {
        Ok(t) => t,
        Err(e) => return fail(exit::USAGE, format!("{}: {e}", a.note.display())),
    };
    let (body, sigs) = match w::split_note(&note) {
        Ok((b, s)) => (b.to_string(), s),
        Err(e) => return fail(exit::USAGE, format!("{}: {e}", a.note.display())),
    };
    let old = match &a.old {
        None => 0,
        Some(p) => {
            let t = match std::fs::read_to_string(p) {
                Ok(t) => t,
                Err(e) => return fail(exit::USAGE, format!("{}: {e}", p.display())),
            };
            match pk.open(&t) {
                Ok(o) if o.origin == th.origin && o.size <= th.size => o.size,
                Ok(o) => {
                    return fail(
                        exit::USAGE,
                        format!(
                            "{}: --old is {} at size {}, it cannot precede {} at size {}",
                            p.display(),
                            o.origin,
                            o.size,
                            th.origin,
                            th.size
                        ),
                    )
                }
                Err(e) => return fail(exit::USAGE, format!("{}: {e}", p.display())),
            }
        }
    };
    let files = match members(&a.log) {
        Ok(f) => f,
        Err(e) => return fail(exit::USAGE, e),
    };
    let leaves = match leaves(&files, th.size) {
        Ok(l) => l,
        Err(e) => return fail(exit::USAGE, e),
    };
    // The proofs are only as good as the lines they come from: the log must
    // be the tree the note signs, or the witnesses would be sent garbage.
    if leaves.len() as u64 != th.size || merkle::root_of(&leaves) != th.root {
        return fail(
            exit::VERDICT,
            format!(
                "the log does not match {}: its first {} lines do not hash to the note's root; nothing sent",
                a.note.display(),
                th.size
            ),
        );
    }
    if !has_identity_signature(&pk, &th, &sigs) {
        crate::diag!(
            "bd-log: {}: the note carries the epoch signature only (a key made before identity keys, or checkpoint --note without --key): a witness configured with a fixed epoch key refuses it once the epoch moves; witnesses should be given the identity vkey (bd-log vkey)",
            a.note.display()
        );
    }
    let agent = agent(a.timeout, ca);
    let sub = Submission {
        note: &note,
        body: &body,
        th: &th,
        leaves: &leaves,
    };
    let mut new_lines: Vec<String> = Vec::new();
    let mut got: Vec<&WitnessKey> = Vec::new();
    let (mut refused, mut faults) = (0, 0);
    for (url, wk) in a.url.iter().zip(&keys) {
        match submit(&agent, url, wk, &sub, old) {
            Outcome::Cosigned(l) => {
                new_lines.extend(l);
                got.push(wk);
            }
            Outcome::Refused(m) => {
                refused += 1;
                crate::diag!("bd-log: REFUSED {m}");
            }
            Outcome::Fault(m) => {
                faults += 1;
                crate::diag!("bd-log: {m}");
            }
        }
    }
    if !new_lines.is_empty() {
        // Keep every signature line already there except an older
        // cosignature by a witness that just cosigned again.
        let mut out = format!("{body}\n");
        for l in &sigs {
            let stale = w::parse_sig_line(l).is_ok_and(|(name, blob)| {
                got.iter().any(|k| k.name == name && blob[..4] == k.id())
            });
            if !stale {
                out.push_str(l);
                out.push('\n');
            }
        }
        for l in &new_lines {
            out.push_str(l);
        }
        let target = a.output.as_deref().unwrap_or(&a.note);
        let written = if target.as_os_str() == "-" {
            io::stdout()
                .lock()
                .write_all(out.as_bytes())
                .map_err(|e| format!("stdout: {e}"))
        } else {
            replace(target, &out)
        };
        if let Err(e) = written {
            return fail(exit::FAULT, format!("{e}; no cosignature kept"));
        }
    }
    let names: Vec<&str> = got.iter().map(|k| k.name.as_str()).collect();
    crate::diag!(
        "bd-log: {} of {} witnesses cosigned {} at size {} ({} required){}{}",
        got.len(),
        keys.len(),
        th.origin,
        th.size,
        required,
        if names.is_empty() { "" } else { ": " },
        names.join(", ")
    );
    if refused > 0 {
        exit::VERDICT
    } else if got.len() < required {
        if faults > 0 {
            exit::FAULT
        } else {
            exit::VERDICT
        }
    } else {
        exit::OK
    }
}

/// `verify-excerpt --witness-key`: the excerpt's note must carry at least K
/// valid cosignatures by distinct given witnesses, on top of everything
/// `verify-excerpt` checks without witnesses.
pub fn verify_excerpt(
    pubkey: &Path,
    excerpt: &Path,
    anchor: Option<&Path>,
    keys: &[String],
    required: Option<u64>,
) -> i32 {
    let (cosigned, _stdin) = match excerpt_quorum(pubkey, excerpt, keys, required) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let code = crate::proof::verify_excerpt(pubkey, excerpt, anchor);
    if code == exit::OK && cosigned.is_empty() {
        // Unreachable unless the two checks disagree on the note: deny.
        return fail(
            exit::VERDICT,
            "the excerpt's note was not checked for cosignatures",
        );
    }
    if code == exit::OK {
        let names: Vec<String> = cosigned
            .iter()
            .map(|c| format!("{} at {}", c.name, c.time))
            .collect();
        if writeln!(io::stdout(), "witnesses: cosigned by {}", names.join(", ")).is_err() {
            return exit::USAGE;
        }
    }
    code
}

/// The quorum check on the excerpt's note, made before the excerpt's own
/// verification. Returns the cosigners found (and, for `-`, the memfd now
/// behind stdin, to keep open), or the exit code to stop with.
fn excerpt_quorum(
    pubkey: &Path,
    excerpt: &Path,
    keys: &[String],
    required: Option<u64>,
) -> Result<(Vec<w::Cosigned>, Option<std::fs::File>), i32> {
    let keys = load_witness_keys(keys).map_err(|e| fail(exit::USAGE, e))?;
    let required = required.map_or(keys.len(), |k| k as usize);
    if required > keys.len() {
        return Err(fail(
            exit::USAGE,
            format!(
                "--witnesses-required {required}: only {} --witness-key given",
                keys.len()
            ),
        ));
    }
    let shown = excerpt.display().to_string();
    let mut text = Vec::new();
    let hold = if excerpt.as_os_str() == "-" {
        io::stdin()
            .lock()
            .read_to_end(&mut text)
            .map_err(|e| fail(exit::USAGE, format!("stdin: {e}")))?;
        // Stdin is read once here; the excerpt check reads it again from
        // a memfd put in its place, and still names it `-`.
        let f = refill_stdin(&text).map_err(|e| fail(exit::USAGE, format!("stdin: {e}")))?;
        Some(f)
    } else {
        text = std::fs::read(excerpt).map_err(|e| fail(exit::USAGE, format!("{shown}: {e}")))?;
        None
    };
    let first = text
        .split(|&b| b == b'\n')
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    let note = serde_json::from_slice::<serde_json::Value>(first)
        .ok()
        .and_then(|v| v["note"].as_str().map(str::to_string));
    let pk = LogKey::load(pubkey).map_err(|e| fail(exit::USAGE, e))?;
    // Only a note the log key signed is judged on its cosignatures; anything
    // else is left to the excerpt check, which names what is wrong with it.
    let Some(note) = note.filter(|n| pk.open(n).is_ok()) else {
        return Ok((Vec::new(), hold));
    };
    match w::check_quorum(&note, &keys, required) {
        Ok(c) => Ok((c, hold)),
        Err(r) => {
            let _ = writeln!(io::stdout(), "FAIL {shown}: line 1: witnesses: {r}");
            Err(exit::VERDICT)
        }
    }
}

fn refill_stdin(data: &[u8]) -> io::Result<std::fs::File> {
    use std::io::{Seek, SeekFrom};
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: memfd_create with a NUL-terminated name; the fd is owned below.
    let fd = unsafe { libc::memfd_create(c"bd-log-excerpt".as_ptr(), 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
    f.write_all(data)?;
    f.seek(SeekFrom::Start(0))?;
    // SAFETY: dup2 onto fd 0, which std's Stdin reads; its buffer is empty
    // after the read to EOF above.
    if unsafe { libc::dup2(f.as_raw_fd(), 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(f)
}
