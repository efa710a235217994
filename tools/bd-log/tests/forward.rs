//! Issue 13: forward-secure epoch keys, in-log checkpoints as C2SP notes
//! checked against an independent RFC 6962 hasher, `verify --anchor NOTE`
//! across a rotation, and the old hex key files (issue 11 item 5).

mod common;

use boundary::log::keys::{load_public, load_secret};
use boundary::log::merkle::{Frontier, TreeHead};
use boundary::log::Checkpoint;
use common::*;
use sha2::{Digest, Sha256};
use std::path::Path;

/// RFC 6962 section 2.1 MTH by its recursive definition, with sha2 alone.
fn mth(d: &[Vec<u8>]) -> [u8; 32] {
    let sha = |parts: &[&[u8]]| -> [u8; 32] {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().into()
    };
    match d.len() {
        0 => sha(&[]),
        1 => sha(&[&[0u8], &d[0]]),
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            sha(&[&[1u8], &mth(&d[..k]), &mth(&d[k..])])
        }
    }
}

fn append_epoch(env: &Env, from: usize, n: usize) {
    let o = env.append(&records(from, n), &["-n", "5", "--epoch-interval", "0s"]);
    assert!(o.status.success(), "append: {}", stderr(&o));
}

fn epoch_of_key_file(p: &Path) -> u64 {
    load_secret(p).unwrap().epoch()
}

/// Re-chains the log from line `from` on and re-signs every checkpoint from
/// there: `sign(epoch)` gives the key the forger has for that epoch and the
/// epoch it states (None: it cannot sign at all).
fn forge(
    ls: &mut [Vec<u8>],
    from: usize,
    sign: &dyn Fn(u64) -> Option<(ed25519_dalek::SigningKey, u64)>,
) -> bool {
    for k in from..ls.len() {
        let prev = chain_prev(&ls[0], &ls[k - 1]);
        let line = String::from_utf8(ls[k].clone()).unwrap();
        if line.contains("\"checkpoint\":{") {
            let c = Checkpoint::parse_line(&ls[k]).unwrap();
            let mut fr = Frontier::new();
            for l in &ls[..k] {
                fr.push(l);
            }
            let Some((sk, epoch)) = sign(c.epoch) else {
                return false;
            };
            ls[k] = Checkpoint::sign_format(&sk, epoch, &c.origin, prev, &fr, &c.ts, c.format)
                .to_line()
                .into_bytes();
        } else {
            let old = &line[line.find("\"prev\":\"").unwrap() + 8..][..64];
            ls[k] = line.replace(old, &hex::encode(prev)).into_bytes();
        }
    }
    true
}

#[test]
fn a_key_compromised_at_epoch_k_cannot_resign_earlier_epochs_but_the_old_key_could() {
    let env = Env::new();
    append_epoch(&env, 0, 10); // epoch 0, then the key moves to 1
    assert_eq!(epoch_of_key_file(&env.key), 1);
    // What an attacker would have had at epoch 1 (the twin below).
    let captured = env.path("key.epoch1");
    std::fs::copy(&env.key, &captured).unwrap();
    append_epoch(&env, 10, 10); // epoch 1 -> 2
    append_epoch(&env, 20, 10); // epoch 2 -> 3
    assert_eq!(epoch_of_key_file(&env.key), 3);
    let key_text = std::fs::read_to_string(&env.key).unwrap();
    assert!(
        !key_text.contains(
            &std::fs::read_to_string(&captured).unwrap()[..]
                .split("seed=")
                .nth(1)
                .unwrap()
                .trim()
                .to_string()
        ),
        "the old seed is gone from the key file"
    );
    let (code, _, reason, v) = env.verify_json(&env.log, &[]);
    assert_eq!(code, 0, "{reason}");
    assert_eq!(v["last_epoch"], 2);
    let ls = lines(&env.log);
    // A record of the second run, covered by a checkpoint of epoch 1.
    let k = ls
        .iter()
        .position(|l| String::from_utf8_lossy(l).contains("\"i\":12,"))
        .unwrap();
    let mut altered = ls.clone();
    altered[k] = String::from_utf8(ls[k].clone())
        .unwrap()
        .replace("\"i\":12,", "\"i\":99,")
        .into_bytes();
    let pubkeys = load_public(&env.pubkey).unwrap();
    let bad = env.path("forged");

    // The compromised key (epoch 3): no key for epoch 1 or 2 can be derived.
    let now = load_secret(&env.key).unwrap();
    assert!(now.signing_key_at(1).is_none() && now.signing_key_at(2).is_none());
    assert!(!forge(&mut altered.clone(), k + 1, &|e| now
        .signing_key_at(e)
        .map(|s| (s, e))));
    // Signing as epoch 1 with the epoch-3 key: refused at the first checkpoint re-signed.
    let first_cp = (k..ls.len())
        .find(|&j| String::from_utf8_lossy(&ls[j]).contains("\"checkpoint\":{"))
        .unwrap() as u64;
    let mut l2 = altered.clone();
    assert!(forge(&mut l2, k + 1, &|e| Some((now.signing_key(), e))));
    write_lines(&bad, &l2);
    let (code, seq, reason, _) = env.verify_json(&bad, &[]);
    assert_eq!((code, seq), (1, Some(first_cp)), "{reason}");
    assert!(
        reason.contains("not the public key of its epoch"),
        "{reason}"
    );
    // Stating its own epoch 3 instead: epochs would jump from 0 to 3.
    let mut l3 = altered.clone();
    assert!(forge(&mut l3, k + 1, &|_| Some((now.signing_key(), 3))));
    write_lines(&bad, &l3);
    let (code, seq, reason, _) = env.verify_json(&bad, &[]);
    assert_eq!((code, seq), (1, Some(first_cp)), "{reason}");
    assert!(reason.contains("epoch"), "{reason}");
    // Naming epoch 1's public key but signing with the epoch-3 key.
    let mut l4 = altered.clone();
    assert!(forge(&mut l4, k + 1, &|e| Some((now.signing_key(), e))));
    let pk1 = base64_of(pubkeys.raw(1).unwrap());
    let pk3 = base64_of(&now.signing_key().verifying_key().to_bytes());
    for l in l4.iter_mut().skip(k + 1) {
        *l = String::from_utf8(l.clone())
            .unwrap()
            .replace(&pk3, &pk1)
            .into_bytes();
    }
    write_lines(&bad, &l4);
    let (code, _, reason, _) = env.verify_json(&bad, &[]);
    assert_eq!(code, 1, "{reason}");

    // Twin: the key as it was at epoch 1, captured before it evolved, re-signs
    // the same rewrite into a log that verifies. The test above is not vacuous.
    let old = load_secret(&captured).unwrap();
    assert_eq!(old.epoch(), 1);
    let mut l5 = altered.clone();
    assert!(forge(&mut l5, k + 1, &|e| old
        .signing_key_at(e)
        .map(|s| (s, e))));
    write_lines(&bad, &l5);
    let (code, _, reason, v) = env.verify_json(&bad, &[]);
    assert_eq!(
        code, 0,
        "the epoch-1 key re-signs epoch 1 and later: {reason}"
    );
    assert_eq!(v["last_epoch"], 2);
}

fn base64_of(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[test]
fn every_checkpoint_is_a_c2sp_note_over_the_rfc6962_root() {
    let env = Env::new();
    append_epoch(&env, 0, 23);
    let ls = lines(&env.log);
    let keys = load_public(&env.pubkey).unwrap();
    let mut n = 0;
    for (i, l) in ls.iter().enumerate() {
        let Ok(c) = Checkpoint::parse_line(l) else {
            continue;
        };
        // The independent hasher agrees with the root the checkpoint signs.
        assert_eq!(c.root, mth(&ls[..i]), "checkpoint at seq {i}");
        assert_eq!(c.size, i as u64);
        // As a note it opens under its epoch's key, with the standard text.
        let (th, e) = TreeHead::open_epochs(&c.note(), &keys).unwrap();
        assert_eq!((th.size, th.root, e), (i as u64, c.root, c.epoch));
        let vk = keys.get(c.epoch).unwrap();
        TreeHead::open(&c.note(), &vk).unwrap();
        assert!(c.note().starts_with(&format!("{}\n{i}\n", c.origin)));
        n += 1;
    }
    assert!(n >= 5, "{n} checkpoints");
    // `checkpoint --note` prints the last one as that note.
    let o = env.cmd(&[
        "checkpoint",
        "--note",
        "-l",
        env.log.to_str().unwrap(),
        "-p",
        env.pubkey.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let last = Checkpoint::parse_line(ls.last().unwrap()).unwrap();
    assert_eq!(stdout(&o), last.note());
}

#[test]
fn verify_anchor_takes_a_note_and_catches_a_rollback_after_rotation() {
    let env = Env::new();
    append_epoch(&env, 0, 12);
    let note = env.path("anchor.note");
    let o = env.cmd(&[
        "checkpoint",
        "--note",
        "-l",
        env.log.to_str().unwrap(),
        "-p",
        env.pubkey.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(&note, &o.stdout).unwrap();
    let o = env.cmd(&[
        "rotate",
        "-l",
        env.log.to_str().unwrap(),
        "-k",
        env.key.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    append_epoch(&env, 12, 12);
    let pattern = format!("{}*", env.log.display());
    let a = note.to_str().unwrap();
    let (code, _, reason, v) = env.verify_json(Path::new(&pattern), &["--anchor", a]);
    assert_eq!(code, 0, "{reason}");
    let size: u64 = stdout_first_lines(&note)[1].parse().unwrap();
    assert_eq!(v["anchor_seq"], size);
    // Rollback: the closed file rewritten from inside the anchored tree and
    // the current file dropped; the key holder (at the current epoch) re-signs.
    let closed = std::path::PathBuf::from(format!("{}.1", env.log.display()));
    let mut ls = lines(&closed);
    let k = 4;
    ls[k] = String::from_utf8(ls[k].clone())
        .unwrap()
        .replace("\"i\":", "\"j\":")
        .into_bytes();
    let now = load_secret(&env.key).unwrap();
    assert!(forge(&mut ls, k + 1, &|e| now
        .signing_key_at(e)
        .or_else(|| now.signing_key_at(now.epoch()))
        .map(|s| (s, e.max(now.epoch())))));
    write_lines(&closed, &ls);
    std::fs::remove_file(&env.log).unwrap();
    let (code, _, reason, _) = env.verify_json(&closed, &["--anchor", a]);
    assert_eq!(code, 1, "{reason}");
    // Without the anchor nothing but the epochs can tell (here they jump).
    let _ = env.verify_json(&closed, &[]);
}

fn stdout_first_lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn old_hex_keys_still_work_and_bad_keys_name_file_and_form() {
    let env = Env::new();
    let sk = ed25519_dalek::SigningKey::from_bytes(&[5u8; 32]);
    let key = env.path("old.key");
    let pubk = env.path("old.key.pub");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&key)
            .unwrap();
        writeln!(f, "{}", hex::encode(sk.to_bytes())).unwrap();
    }
    std::fs::write(
        &pubk,
        format!("{}\n", hex::encode(sk.verifying_key().to_bytes())),
    )
    .unwrap();
    let o = run_stdin(
        std::process::Command::new(BIN)
            .args(["append", "-l"])
            .arg(&env.log)
            .arg("-k")
            .arg(&key),
        &records(0, 5),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("old hex key"), "{}", stderr(&o));
    let o = std::process::Command::new(BIN)
        .args(["verify", "-l"])
        .arg(&env.log)
        .arg("-p")
        .arg(&pubk)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("old hex public key"), "{}", stderr(&o));
    // A file that is neither: one line naming the file and what was expected.
    std::fs::write(&pubk, "ssh-ed25519 AAAA\n").unwrap();
    let o = std::process::Command::new(BIN)
        .args(["verify", "-l"])
        .arg(&env.log)
        .arg("-p")
        .arg(&pubk)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("old.key.pub") && e.contains("expected"), "{e}");
    assert_eq!(e.trim().lines().count(), 1, "{e}");
}
