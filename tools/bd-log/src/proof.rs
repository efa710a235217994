//! `note`, `prove` and `verify-excerpt`: RFC 6962 Merkle proofs over the
//! log's lines against a C2SP tlog-checkpoint signed note, so an excerpt can
//! be checked with the public key alone, without the rest of the log.

use crate::ops::{members, open_member, seq_range};
use base64::Engine as _;
use boundary::log::keys::PublicKeys;
use boundary::log::{self, merkle, verify};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

const OK: i32 = 0;
const BAD: i32 = 1;
const UNDECIDED: i32 = 2;

fn undecided(msg: impl std::fmt::Display) -> i32 {
    crate::diag!("bd-log: {msg}");
    UNDECIDED
}

fn b64(h: &merkle::Hash) -> String {
    base64::engine::general_purpose::STANDARD.encode(h)
}

fn unb64(s: &serde_json::Value) -> Option<merkle::Hash> {
    base64::engine::general_purpose::STANDARD
        .decode(s.as_str()?)
        .ok()?
        .try_into()
        .ok()
}

/// Calls `f` with every complete line of the set, in order (without `\n`).
fn each_line(files: &[PathBuf], mut f: impl FnMut(&[u8]) -> bool) -> Result<(), String> {
    let mut line = Vec::new();
    for p in files {
        let mut r = BufReader::with_capacity(1 << 20, open_member(p)?);
        loop {
            line.clear();
            let n = (&mut r)
                .take(log::MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut line)
                .map_err(|e| format!("{}: {e}", p.display()))?;
            if n == 0 || line.last() != Some(&b'\n') {
                break;
            }
            line.pop();
            if !f(&line) {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// A signed note read from a file and verified: its tree head, and its text
/// exactly as signed (an excerpt carries it verbatim; only the key holder
/// can sign one).
fn read_note(p: &Path, key: &PublicKeys) -> Result<(merkle::TreeHead, String), String> {
    let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
    let th = merkle::TreeHead::open_epochs(&text, key)
        .map_err(|e| format!("{}: {e}", p.display()))?
        .0;
    Ok((th, text))
}

pub fn note(logs: &[PathBuf], key: &Path) -> i32 {
    let secret = match log::keys::load_secret(key) {
        Ok(k) => k,
        Err(e) => return undecided(e),
    };
    let vk = match log::keys::load_public(&log::pub_path(key)) {
        Ok(k) => k,
        Err(e) => return undecided(e),
    };
    let files = match members(logs) {
        Ok(f) => f,
        Err(e) => return undecided(e),
    };
    let mut inputs = Vec::new();
    for p in &files {
        match open_member(p) {
            Ok(r) => inputs.push(verify::Input {
                name: p.display().to_string(),
                reader: r,
            }),
            Err(e) => return undecided(e),
        }
    }
    let rep = match verify::verify_set(inputs, &vk, &verify::Options::default()) {
        Ok(r) => r,
        Err(e) => return undecided(e),
    };
    if let Some(k) = &rep.wrong_key {
        return undecided(format!("wrong key: the log is signed by key {k}"));
    }
    if let Some((seq, why)) = &rep.bad {
        crate::diag!(
            "bd-log: {}: FAIL at seq {seq}: {why}; no note made",
            rep.bad_file.as_deref().unwrap_or("")
        );
        return BAD;
    }
    if rep.first_seq != 0 {
        return undecided(format!(
            "the files given start at seq {}: the tree needs every line from the genesis (seq 0)",
            rep.first_seq
        ));
    }
    let (Some(last_cp), Some(origin)) = (rep.last_checkpoint, rep.origin.clone()) else {
        crate::diag!("bd-log: no checkpoint in the log");
        return BAD;
    };
    // Only the part a checkpoint covers: the tree ends at the last checkpoint.
    let size = last_cp + 1;
    let mut fr = merkle::Frontier::new();
    if let Err(e) = each_line(&files, |l| {
        fr.push(l);
        fr.size() < size
    }) {
        return undecided(e);
    }
    if fr.size() != size {
        return undecided("the log changed while it was read");
    }
    let th = merkle::TreeHead {
        origin,
        size,
        root: fr.root(),
    };
    // The key of the log's epoch, or a later one: never an erased earlier key.
    let epoch = secret.epoch().max(rep.last_epoch.unwrap_or(0));
    let Some(sk) = secret.signing_key_at(epoch) else {
        return undecided(format!(
            "{}: no key for epoch {epoch} (the key has {} epochs)",
            key.display(),
            secret.epochs()
        ));
    };
    let mut out = io::stdout().lock();
    // Epoch signature and, if the key has one, the identity signature (witnesses).
    match out.write_all(log::keys::sign_note(&th, &sk, &secret, &vk).0.as_bytes()) {
        Ok(()) => OK,
        Err(e) => undecided(format!("stdout: {e}")),
    }
}

pub fn prove(
    logs: &[PathBuf],
    pubkey: &Path,
    note: &Path,
    seq: &str,
    anchor: Option<&Path>,
) -> i32 {
    let key = match log::keys::load_public(pubkey) {
        Ok(k) => k,
        Err(e) => return undecided(e),
    };
    let (th, note_text) = match read_note(note, &key) {
        Ok(t) => t,
        Err(e) => return undecided(e),
    };
    let old = match anchor.map(|a| read_note(a, &key)).transpose() {
        Ok(o) => o.map(|(t, _)| t),
        Err(e) => return undecided(e),
    };
    if let Some(o) = &old {
        if o.origin != th.origin || o.size > th.size {
            return undecided(format!(
                "the anchor note ({} at size {}) cannot precede the note ({} at size {})",
                o.origin, o.size, th.origin, th.size
            ));
        }
    }
    let (from, to) = match seq_range(seq) {
        Ok(r) => r,
        Err(e) => return undecided(e),
    };
    let to = to.min(th.size);
    if from >= to {
        return undecided(format!(
            "--seq {seq}: nothing in the note's tree (size {})",
            th.size
        ));
    }
    let files = match members(logs) {
        Ok(f) => f,
        Err(e) => return undecided(e),
    };
    let mut leaves: Vec<merkle::Hash> = Vec::new();
    let mut picked: Vec<(u64, String)> = Vec::new();
    let mut bad_first = false;
    let r = each_line(&files, |l| {
        let i = leaves.len() as u64;
        if i == 0 && log::parse_line(l).map_or(true, |p| p.seq != 0) {
            bad_first = true;
            return false;
        }
        if (from..to).contains(&i) {
            picked.push((i, String::from_utf8_lossy(l).into_owned()));
        }
        leaves.push(merkle::leaf_hash(l));
        (leaves.len() as u64) < th.size
    });
    if let Err(e) = r {
        return undecided(e);
    }
    if bad_first {
        return undecided("the files given do not start at the genesis (seq 0)");
    }
    if leaves.len() as u64 != th.size || merkle::root_of(&leaves) != th.root {
        crate::diag!(
            "bd-log: the log does not match the note: its first {} lines do not hash to the note's root; nothing exported",
            th.size
        );
        return BAD;
    }
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut lines = vec![serde_json::json!({"note": note_text})];
    if let Some(o) = &old {
        let p = merkle::consistency_proof(o.size as usize, &leaves);
        lines.push(serde_json::json!({"consistency": {"from_size": o.size,
            "proof": p.iter().map(b64).collect::<Vec<_>>()}}));
    }
    for (i, l) in picked {
        let p = merkle::inclusion_proof(i as usize, &leaves);
        lines.push(serde_json::json!({"seq": i, "line": l,
            "proof": p.iter().map(b64).collect::<Vec<_>>()}));
    }
    for v in lines {
        if let Err(e) = writeln!(out, "{v}") {
            return undecided(format!("stdout: {e}"));
        }
    }
    match out.flush() {
        Ok(()) => OK,
        Err(e) => undecided(format!("stdout: {e}")),
    }
}

pub fn verify_excerpt(pubkey: &Path, excerpt: &Path, anchor: Option<&Path>) -> i32 {
    let key = match log::keys::load_public(pubkey) {
        Ok(k) => k,
        Err(e) => return undecided(e),
    };
    let old = match anchor.map(|a| read_note(a, &key)).transpose() {
        Ok(o) => o.map(|(t, _)| t),
        Err(e) => return undecided(e),
    };
    let shown = excerpt.display().to_string();
    let mut text = Vec::new();
    let read = if excerpt.as_os_str() == "-" {
        io::stdin().lock().read_to_end(&mut text)
    } else {
        std::fs::File::open(excerpt).and_then(|mut f| f.read_to_end(&mut text))
    };
    if let Err(e) = read {
        return undecided(format!("{shown}: {e}"));
    }
    let fail = |n: usize, why: String| -> i32 {
        let _ = writeln!(io::stdout(), "FAIL {shown}: line {n}: {why}");
        BAD
    };
    let mut th: Option<merkle::TreeHead> = None;
    let mut consistent = false;
    let mut entries = 0u64;
    for (n, raw) in text.split(|&b| b == b'\n').enumerate() {
        let n = n + 1;
        if raw.is_empty() {
            continue;
        }
        let v: serde_json::Value = match serde_json::from_slice(raw) {
            Ok(v) => v,
            Err(e) => return fail(n, format!("not JSON: {e}")),
        };
        let Some(t) = &th else {
            let Some(note) = v["note"].as_str() else {
                return fail(n, "the first line must carry the signed note".into());
            };
            match merkle::TreeHead::open_epochs(note, &key) {
                Ok((t, _)) => th = Some(t),
                // Another key's note: nothing can be decided with this key.
                Err(e) if e.starts_with("no signature by the given key") => {
                    return undecided(format!("{shown}: wrong key: {e}"))
                }
                Err(e) => return fail(n, format!("note: {e}")),
            }
            continue;
        };
        if let Some(c) = v.get("consistency") {
            let Some(o) = &old else { continue };
            let proof: Option<Vec<merkle::Hash>> = c["proof"]
                .as_array()
                .and_then(|a| a.iter().map(unb64).collect());
            let ok = c["from_size"].as_u64() == Some(o.size)
                && o.origin == t.origin
                && proof.is_some_and(|p| {
                    merkle::verify_consistency(o.size, t.size, &o.root, &t.root, &p)
                });
            if !ok {
                return fail(
                    n,
                    format!(
                        "the note (size {}) is not consistent with the anchor note (size {}): the log was rolled back or rewritten",
                        t.size, o.size
                    ),
                );
            }
            consistent = true;
            continue;
        }
        let (Some(seq), Some(line), Some(proof)) = (
            v["seq"].as_u64(),
            v["line"].as_str(),
            v["proof"]
                .as_array()
                .and_then(|a| a.iter().map(unb64).collect::<Option<Vec<_>>>()),
        ) else {
            return fail(n, "expected {\"seq\",\"line\",\"proof\"}".into());
        };
        match log::parse_line(line.as_bytes()) {
            Ok(p) if p.seq == seq => {}
            Ok(p) => {
                return fail(
                    n,
                    format!("the line says seq {}, the proof is for {seq}", p.seq),
                )
            }
            Err(e) => return fail(n, format!("not a log line: {e}")),
        }
        let leaf = merkle::leaf_hash(line.as_bytes());
        if !merkle::verify_inclusion(&leaf, seq, t.size, &proof, &t.root) {
            return fail(
                n,
                format!("seq {seq}: the inclusion proof does not lead to the note's root (the line or the proof was altered)"),
            );
        }
        entries += 1;
    }
    let Some(t) = th else {
        return fail(1, "empty excerpt: no note".into());
    };
    if old.is_some() && !consistent {
        return fail(
            0,
            "no consistency proof for the anchor note in the excerpt".into(),
        );
    }
    let mut s = format!(
        "PASS {shown}: {entries} entries included in the tree of size {} signed for {}",
        t.size, t.origin
    );
    if let Some(o) = &old {
        s.push_str(&format!(
            "; consistent with the anchor note at size {}",
            o.size
        ));
    }
    match writeln!(io::stdout(), "{s}") {
        Ok(()) => OK,
        Err(e) => undecided(format!("stdout: {e}")),
    }
}
