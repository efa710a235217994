//! Helpers for the witness tests that run the bd-log binary: notes,
//! `bd-log witness`, `bd-log vkey`, and reading keys the way a witness
//! operator would (from the vkey text, with this file's own hashing).

#![allow(dead_code)]

use super::*;
use base64::Engine as _;
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::{Command, Output};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

pub fn s(p: &Path) -> String {
    p.display().to_string()
}

/// bd-log with no proxy from the environment (the witnesses are local).
pub fn run(args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    for v in ["http_proxy", "https_proxy", "all_proxy"] {
        c.env_remove(v).env_remove(v.to_uppercase());
    }
    c.args(args).output().expect("run bd-log")
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn append_with(env: &Env, input: &[u8], extra: &[&str]) {
    let o = env.append(input, extra);
    assert!(o.status.success(), "append: {}", stderr(&o));
}

pub fn note(env: &Env, out: &Path) {
    let o = run(&["note", "-l", &s(&env.log), "-k", &s(&env.key)]);
    assert!(o.status.success(), "note: {}", stderr(&o));
    std::fs::write(out, &o.stdout).unwrap();
}

/// `bd-log witness` over env.log with (url, vkey) pairs.
pub fn cosign(env: &Env, note: &Path, ws: &[(&str, &str)], extra: &[&str]) -> Output {
    cosign_log(env, &env.log, note, ws, extra)
}

/// [`cosign`] for another log than env.log (a fork, a copy).
pub fn cosign_log(
    env: &Env,
    log: &Path,
    note: &Path,
    ws: &[(&str, &str)],
    extra: &[&str],
) -> Output {
    let mut a: Vec<String> = vec![
        "witness".into(),
        "-l".into(),
        s(log),
        "-p".into(),
        s(&env.pubkey),
        "--note".into(),
        s(note),
        "--timeout".into(),
        "10s".into(),
    ];
    for (u, k) in ws {
        a.extend([
            "--url".into(),
            u.to_string(),
            "--witness-key".into(),
            k.to_string(),
        ]);
    }
    a.extend(extra.iter().map(|x| x.to_string()));
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    run(&a)
}

pub fn origin_of(note: &Path) -> String {
    std::fs::read_to_string(note)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string()
}

/// The note's signature lines.
pub fn sig_lines(note: &Path) -> Vec<String> {
    let t = std::fs::read_to_string(note).unwrap();
    let at = t.rfind("\n\n").unwrap();
    t[at + 2..].lines().map(str::to_string).collect()
}

fn key_id(name: &str, key: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0a, 0x01]);
    h.update(key);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// A note-signer vkey (type 0x01) as a witness operator reads it: checks
/// the key ID against the name and key, returns (name, key).
pub fn parse_log_vkey(v: &str) -> (String, VerifyingKey) {
    let mut p = v.trim().splitn(3, '+');
    let (name, id, k) = (p.next().unwrap(), p.next().unwrap(), p.next().unwrap());
    let raw = B64.decode(k).unwrap();
    assert_eq!(raw[0], 0x01, "a note-signer vkey: {v}");
    let key: [u8; 32] = raw[1..].try_into().unwrap();
    let want = key_id(name, &key);
    assert_eq!(
        id,
        want.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "key ID of {v}"
    );
    (name.to_string(), VerifyingKey::from_bytes(&key).unwrap())
}

/// `bd-log vkey` for env's key and log.
pub fn identity_vkey(env: &Env) -> String {
    let o = run(&["vkey", "-k", &s(&env.key), "-l", &s(&env.log)]);
    assert!(o.status.success(), "vkey: {}", stderr(&o));
    stdout(&o).trim().to_string()
}

/// Which epoch of KEY.pub signed the note (its signature line's key ID).
pub fn note_epoch(env: &Env, note: &Path) -> u64 {
    let origin = origin_of(note);
    let keys = boundary::log::keys::load_public(&env.pubkey).unwrap();
    for l in sig_lines(note) {
        let b = l.rsplit(' ').next().unwrap();
        let blob = B64.decode(b).unwrap();
        for e in 0..keys.len() {
            if key_id(&origin, keys.raw(e).unwrap())[..] == blob[..4] {
                return e;
            }
        }
    }
    panic!("no epoch key signed {}", note.display());
}

/// The `epoch` of the log's last checkpoint line.
pub fn last_epoch(log: &Path) -> u64 {
    lines(log)
        .iter()
        .rev()
        .find_map(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).ok()?;
            v.get("checkpoint")?.get("epoch")?.as_u64()
        })
        .unwrap()
}
