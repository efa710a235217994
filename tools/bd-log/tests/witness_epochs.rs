//! Witnesses and forward-secure keys (issue 13): a witness configured once
//! with the log's identity vkey keeps cosigning while the epoch key evolves
//! (its twin: a key without identity key, witness configured with a fixed
//! epoch key, refused once the epoch moves); `bd-log verify` with the
//! witness quorum on its anchor and `--witnessed` for the cron.

mod common;
#[path = "common/wcli.rs"]
mod wcli;
#[path = "common/witness_server.rs"]
mod witness_server;

use common::*;
use wcli::*;
use witness_server::{Logs, Witness, WitnessId};

/// Appends `n` records starting at `start`, evolving the key at every
/// checkpoint (--epoch-interval 0s), one checkpoint per 2 entries.
fn grow(env: &Env, start: usize, n: usize) {
    append_with(
        env,
        &records(start, n),
        &["--epoch-interval", "0s", "--checkpoint-every", "2"],
    );
}

#[test]
fn identity_vkey_keeps_a_witness_cosigning_as_epochs_advance() {
    let env = Env::new();
    grow(&env, 0, 3);
    let n1 = env.path("n1.txt");
    note(&env, &n1);
    // Epoch signature and identity signature, both under the origin.
    let sigs = sig_lines(&n1);
    assert_eq!(sigs.len(), 2, "{sigs:?}");
    let origin = origin_of(&n1);
    let vkey = identity_vkey(&env);
    let (name, ik) = parse_log_vkey(&vkey);
    assert_eq!(name, origin, "the identity vkey's name is the origin");
    let e1 = note_epoch(&env, &n1);

    // The witness operator configures the identity vkey once.
    let w = Witness::start(
        WitnessId::new("w.example/id"),
        Logs::from([(origin.clone(), ik)]),
        env.path("w.state"),
    );
    let wk = w.vkey();
    let o = cosign(&env, &n1, &[(&w.url, &wk)], &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    let mut prev = n1.clone();
    let mut epochs = vec![e1];
    for round in 0..2 {
        grow(&env, 10 + round * 10, 5);
        let n = env.path(&format!("n{}.txt", round + 2));
        note(&env, &n);
        let e = note_epoch(&env, &n);
        assert!(
            e > *epochs.last().unwrap(),
            "the epoch must have moved: {epochs:?} then {e}"
        );
        epochs.push(e);
        let o = cosign(&env, &n, &[(&w.url, &wk)], &["--old", &s(&prev)]);
        assert_eq!(
            code(&o),
            0,
            "epoch {e}: the witness keeps cosigning: {}",
            stderr(&o)
        );
        assert!(
            !stderr(&o).contains("epoch signature only"),
            "{}",
            stderr(&o)
        );
        // The cron's check: witnessed and covering the latest checkpoint.
        let v = env.verify(&env.log, &["--witnessed", &s(&n), "-w", &wk]);
        assert_eq!(code(&v), 0, "{} {}", stdout(&v), stderr(&v));
        assert!(stdout(&v).contains("anchor cosigned by w.example/id"));
        prev = n;
    }
    assert_eq!(w.statuses(), vec![200, 200, 200], "{:?}", w.statuses());
    // bd-log's verifiers never take the identity signature alone: a note
    // with only that line is no anchor.
    let t = std::fs::read_to_string(&prev).unwrap();
    let id_only = env.path("id-only.txt");
    let body_end = t.find("\n\n").unwrap();
    let id_line = &sig_lines(&prev)[1];
    std::fs::write(&id_only, format!("{}\n\n{id_line}\n", &t[..body_end])).unwrap();
    let v = env.verify(&env.log, &["--anchor", &s(&id_only)]);
    assert_eq!(code(&v), 2, "{} {}", stdout(&v), stderr(&v));
    assert!(
        stderr(&v).contains("no signature by the given key"),
        "{}",
        stderr(&v)
    );
}

#[test]
fn key_without_identity_is_refused_by_a_fixed_epoch_witness_once_the_epoch_moves() {
    let env = Env::new();
    // A key as written before identity keys existed: no id= field.
    let k = std::fs::read_to_string(&env.key).unwrap();
    let at = k.find(" id=").expect("keygen writes id=");
    std::fs::write(&env.key, format!("{}\n", &k[..at])).unwrap();
    let o = run(&["vkey", "-k", &s(&env.key), "--origin", "bdlog-x"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("no identity key"), "{}", stderr(&o));

    grow(&env, 0, 3);
    let n1 = env.path("n1.txt");
    note(&env, &n1);
    assert_eq!(sig_lines(&n1).len(), 1, "epoch signature only");
    let origin = origin_of(&n1);
    let e1 = note_epoch(&env, &n1);
    let keys = boundary::log::keys::load_public(&env.pubkey).unwrap();
    // The operator configured the one key it was given: this epoch's.
    let w = Witness::start(
        WitnessId::new("w.example/fixed"),
        Logs::from([(origin, keys.get(e1).unwrap())]),
        env.path("w.state"),
    );
    let wk = w.vkey();
    let o = cosign(&env, &n1, &[(&w.url, &wk)], &[]);
    assert_eq!(code(&o), 0, "same epoch: cosigned: {}", stderr(&o));
    assert!(
        stderr(&o).contains("epoch signature only"),
        "{}",
        stderr(&o)
    );

    grow(&env, 10, 5);
    let n2 = env.path("n2.txt");
    note(&env, &n2);
    assert!(note_epoch(&env, &n2) > e1);
    let before = std::fs::read(&n2).unwrap();
    let o = cosign(&env, &n2, &[(&w.url, &wk)], &["--old", &s(&n1)]);
    assert_eq!(code(&o), 7, "refused: {}", stderr(&o));
    assert!(stderr(&o).contains("403"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&n2).unwrap(), before, "nothing written");
    assert_eq!(w.statuses(), vec![200, 403]);
}

/// A log, a note cosigned by witnesses `a` and `b` (identity vkey), and a
/// third witness `c` that never saw it.
struct Rig {
    env: Env,
    note: std::path::PathBuf,
    a: Witness,
    b: Witness,
    c: Witness,
}

fn rig() -> Rig {
    let env = Env::new();
    append_with(&env, &records(0, 6), &[]);
    let n = env.path("note.txt");
    note(&env, &n);
    let (_, ik) = parse_log_vkey(&identity_vkey(&env));
    let logs = Logs::from([(origin_of(&n), ik)]);
    let start = |name: &str| {
        Witness::start(
            WitnessId::new(name),
            logs.clone(),
            env.path(&format!("{}.state", name.replace('/', "_"))),
        )
    };
    let (a, b, c) = (
        start("w.example/a"),
        start("w.example/b"),
        start("w.example/c"),
    );
    let o = cosign(&env, &n, &[(&a.url, &a.vkey()), (&b.url, &b.vkey())], &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    Rig {
        env,
        note: n,
        a,
        b,
        c,
    }
}

fn verify_anchor(
    r: &Rig,
    anchor: &std::path::Path,
    keys: &[String],
    extra: &[&str],
) -> (i32, String) {
    let mut args: Vec<String> = vec!["--anchor".into(), s(anchor)];
    for k in keys {
        args.extend(["-w".into(), k.clone()]);
    }
    args.extend(extra.iter().map(|x| x.to_string()));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = r.env.verify(&r.env.log, &a);
    (code(&o), format!("{}{}", stdout(&o), stderr(&o)))
}

#[test]
fn verify_anchor_quorum_met_passes_and_missing_forged_or_misplaced_fail() {
    let r = rig();
    let (ka, kb, kc) = (r.a.vkey(), r.b.vkey(), r.c.vkey());
    // Quorum met: both, or one of one.
    let (c, out) = verify_anchor(&r, &r.note, &[ka.clone(), kb.clone()], &[]);
    assert_eq!(c, 0, "{out}");
    assert!(out.contains("anchor cosigned by w.example/a"), "{out}");
    let (c, out) = verify_anchor(&r, &r.note, &[ka.clone(), kc.clone()], &["-k", "1"]);
    assert_eq!(c, 0, "{out}");
    // Missing: c never cosigned; all given required.
    let (c, out) = verify_anchor(&r, &r.note, &[ka.clone(), kc.clone()], &[]);
    assert_eq!(c, 1, "{out}");
    assert!(out.contains("not cosigned by: w.example/c"), "{out}");
    // The same anchor without witness keys: a plain anchor, passes.
    let (c, out) = verify_anchor(&r, &r.note, &[], &[]);
    assert_eq!(c, 0, "{out}");

    // Forged: one byte of a's signature changed.
    let text = std::fs::read_to_string(&r.note).unwrap();
    let a_line = sig_lines(&r.note)
        .into_iter()
        .find(|l| l.starts_with("\u{2014} w.example/a "))
        .unwrap();
    let b64 = a_line.rsplit(' ').next().unwrap();
    use base64::Engine as _;
    let mut blob = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    blob[40] ^= 1;
    let forged_line = format!(
        "\u{2014} w.example/a {}",
        base64::engine::general_purpose::STANDARD.encode(&blob)
    );
    let forged = r.env.path("forged.txt");
    std::fs::write(&forged, text.replace(&a_line, &forged_line)).unwrap();
    let (c, out) = verify_anchor(&r, &forged, &[ka.clone(), kb.clone()], &["-k", "1"]);
    assert_eq!(c, 1, "{out}");
    assert!(out.contains("does not verify"), "{out}");

    // Misplaced: a's cosignature over another body (a later note) pasted
    // into this one.
    append_with(&r.env, &records(50, 3), &[]);
    let later = r.env.path("later.txt");
    note(&r.env, &later);
    let o = cosign(&r.env, &later, &[(&r.a.url, &ka)], &["--old", &s(&r.note)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let other_a = sig_lines(&later)
        .into_iter()
        .find(|l| l.starts_with("\u{2014} w.example/a "))
        .unwrap();
    let moved = r.env.path("moved.txt");
    std::fs::write(&moved, text.replace(&a_line, &other_a)).unwrap();
    let (c, out) = verify_anchor(&r, &moved, std::slice::from_ref(&ka), &[]);
    assert_eq!(c, 1, "{out}");
    assert!(out.contains("does not verify"), "{out}");
    // Its twin: the same line in its own note verifies.
    let (c, out) = verify_anchor(&r, &later, std::slice::from_ref(&ka), &[]);
    assert_eq!(c, 0, "{out}");

    // Usage: K above the keys given, a bad vkey, a checkpoint line.
    let (c, out) = verify_anchor(&r, &r.note, std::slice::from_ref(&ka), &["-k", "2"]);
    assert_eq!(c, 2, "{out}");
    let (c, out) = verify_anchor(&r, &r.note, &["w+00000000+AAAA".into()], &[]);
    assert_eq!(c, 2, "{out}");
    let cp = r
        .env
        .cmd(&["checkpoint", "-l", &s(&r.env.log), "-p", &s(&r.env.pubkey)]);
    let line = r.env.path("cp.json");
    std::fs::write(&line, &cp.stdout).unwrap();
    let (c, out) = verify_anchor(&r, &line, std::slice::from_ref(&ka), &[]);
    assert_eq!(c, 2, "{out}");
    assert!(out.contains("carries no cosignatures"), "{out}");
    // JSON: a quorum failure is a FAIL object.
    let (c, out) = verify_anchor(&r, &r.note, &[kc], &["--json"]);
    assert_eq!(c, 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(v["result"], "FAIL");
    assert!(v["reason"].as_str().unwrap().contains("witnesses"));
}

#[test]
fn witnessed_requires_the_latest_checkpoint_to_be_witnessed() {
    let r = rig();
    let ka = r.a.vkey();
    let w = |extra: &[&str]| {
        let mut a = vec!["--witnessed", r.note.to_str().unwrap(), "-w", &ka];
        a.extend_from_slice(extra);
        let o = r.env.verify(&r.env.log, &a);
        (code(&o), format!("{}{}", stdout(&o), stderr(&o)))
    };
    let (c, out) = w(&[]);
    assert_eq!(c, 0, "{out}");
    assert!(
        out.contains("0 covered lines after it not yet witnessed"),
        "{out}"
    );
    // New checkpoints since the note: not witnessed yet.
    append_with(&r.env, &records(60, 4), &[]);
    let (c, out) = w(&[]);
    assert_eq!(c, 1, "{out}");
    assert!(out.contains("latest checkpoint is not witnessed"), "{out}");
    // Allowed slack for a running appender.
    let (c, out) = w(&["--max-unwitnessed", "100"]);
    assert_eq!(c, 0, "{out}");
    let (c, out) = w(&["--json", "--max-unwitnessed", "100"]);
    assert_eq!(c, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(v["witnessed_size"], 8);
    assert!(v["unwitnessed"].as_u64().unwrap() >= 5, "{v}");
    // A witness that did not cosign it: quorum not met.
    let kc = r.c.vkey();
    let o = r.env.verify(
        &r.env.log,
        &[
            "--witnessed",
            r.note.to_str().unwrap(),
            "-w",
            &kc,
            "--max-unwitnessed",
            "100",
        ],
    );
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    // A rollback below the witnessed tree fails as with --anchor.
    let all = lines(&r.env.log);
    write_lines(&r.env.log, &all[..4]);
    let (c, out) = w(&["--max-unwitnessed", "100"]);
    assert_eq!(c, 1, "{out}");
    // --witnessed without witness keys is a usage error (clap).
    let o = r
        .env
        .verify(&r.env.log, &["--witnessed", r.note.to_str().unwrap()]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
}
