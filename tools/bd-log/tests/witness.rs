//! Witnesses (issue 13): the real bd-log binary talks C2SP tlog-witness to
//! local witnesses over real sockets on 127.0.0.1. Cosigning end to end; a
//! split view, a rollback and a rollback-and-rewrite refused by the witness;
//! a forged or misplaced cosignature and a missed quorum rejected by
//! verify-excerpt. Each blocked case sits next to its accepted twin.

mod common;
#[path = "common/wcli.rs"]
mod wcli;
#[path = "common/witness_server.rs"]
mod witness_server;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use wcli::{code, cosign_log as cosign, run, s};
use witness_server::{check_cosignature, Logs, Witness, WitnessId};

fn note(env: &Env, log: &Path, out: &Path) {
    let o = run(&["note", "-l", &s(log), "-k", &s(&env.key)]);
    assert!(o.status.success(), "note: {}", stderr(&o));
    std::fs::write(out, &o.stdout).unwrap();
}

fn append_to(env: &Env, log: &Path, input: &[u8]) {
    let o = run_stdin(
        Command::new(BIN)
            .args(["append", "-l"])
            .arg(log)
            .arg("-k")
            .arg(&env.key),
        input,
    );
    assert!(o.status.success(), "append: {}", stderr(&o));
}

/// The log's key as the witness trusts it, under the note's origin.
fn logs_of(env: &Env, note: &Path) -> Logs {
    // Epoch 0's key (KEY.pub lists one per epoch; these tests never evolve).
    let vk = boundary::log::keys::load_public(&env.pubkey)
        .unwrap()
        .get(0)
        .unwrap();
    let origin = std::fs::read_to_string(note)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    Logs::from([(origin, vk)])
}

fn start(env: &Env, note: &Path, name: &str) -> Witness {
    let state = env.path(&format!("{}.state", name.replace('/', "_")));
    Witness::start(WitnessId::new(name), logs_of(env, note), state)
}

/// `bd-log witness` over `log` with (url, vkey) pairs.
/// The note's text (what a cosignature signs) and its signature lines.
fn split(note: &Path) -> (String, Vec<String>) {
    let t = std::fs::read_to_string(note).unwrap();
    let at = t.rfind("\n\n").unwrap();
    (
        t[..at + 1].to_string(),
        t[at + 2..].lines().map(|l| format!("{l}\n")).collect(),
    )
}

fn size_of(note: &Path) -> u64 {
    split(note).0.lines().nth(1).unwrap().parse().unwrap()
}

/// prove seq 1 against `note`; returns the excerpt file.
fn excerpt(env: &Env, log: &Path, note: &Path, out: &str) -> PathBuf {
    let o = run(&[
        "prove",
        "-l",
        &s(log),
        "-p",
        &s(&env.pubkey),
        "--note",
        &s(note),
        "--seq",
        "1..4",
    ]);
    assert!(o.status.success(), "prove: {}", stderr(&o));
    let p = env.path(out);
    std::fs::write(&p, &o.stdout).unwrap();
    p
}

fn verify_excerpt(env: &Env, ex: &Path, vkeys: &[&str], extra: &[&str]) -> Output {
    let mut a = vec![
        "verify-excerpt".to_string(),
        "-p".into(),
        s(&env.pubkey),
        "-e".into(),
        s(ex),
    ];
    for k in vkeys {
        a.extend(["--witness-key".into(), k.to_string()]);
    }
    a.extend(extra.iter().map(|x| x.to_string()));
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    run(&a)
}

#[test]
fn cosign_flow_end_to_end_with_two_witnesses_and_409_catch_up() {
    let env = Env::new();
    append_to(&env, &env.log, &records(0, 30));
    let n1 = env.path("n1.note");
    note(&env, &env.log, &n1);
    let w1 = start(&env, &n1, "w1.test/a");
    let w2 = start(&env, &n1, "w2.test/b");
    let (v1, v2) = (w1.vkey(), w2.vkey());
    let o = cosign(&env, &env.log, &n1, &[(&w1.url, &v1), (&w2.url, &v2)], &[]);
    assert_eq!(code(&o), 0, "witness: {}", stderr(&o));
    assert!(
        stderr(&o).contains("2 of 2 witnesses cosigned"),
        "{}",
        stderr(&o)
    );
    // The note now carries the log's two signatures (epoch and identity
    // key) and one cosignature per witness, each checked here with the
    // spec's bytes, not bd-log's code.
    let (body, sigs) = split(&n1);
    assert_eq!(sigs.len(), 4, "{sigs:?}");
    let vk1 = w1.id.sk.verifying_key();
    let vk2 = w2.id.sk.verifying_key();
    assert!(sigs
        .iter()
        .any(|l| check_cosignature(l, "w1.test/a", &vk1, &body).is_some()));
    assert!(sigs
        .iter()
        .any(|l| check_cosignature(l, "w2.test/b", &vk2, &body).is_some()));
    assert_eq!(w1.statuses(), vec![200]);

    // The log grows. Without --old the client learns each witness's size
    // from its 409 and sends the consistency proof from there.
    append_to(&env, &env.log, &records(30, 25));
    let n2 = env.path("n2.note");
    note(&env, &env.log, &n2);
    let o = cosign(&env, &env.log, &n2, &[(&w1.url, &v1), (&w2.url, &v2)], &[]);
    assert_eq!(code(&o), 0, "witness: {}", stderr(&o));
    let seen = w1.seen.lock().unwrap().clone();
    assert_eq!(
        seen.iter().map(|x| (x.old, x.status)).collect::<Vec<_>>()[1..],
        [(0, 409), (size_of(&n1), 200)],
        "{seen:?}"
    );
    assert!(seen[2].proof_lines > 0);

    // With --old the first request already has the right size: no 409.
    append_to(&env, &env.log, &records(55, 7));
    let n3 = env.path("n3.note");
    note(&env, &env.log, &n3);
    let o = cosign(&env, &env.log, &n3, &[(&w1.url, &v1)], &["--old", &s(&n2)]);
    assert_eq!(code(&o), 0, "witness: {}", stderr(&o));
    let last = w1.seen.lock().unwrap().clone();
    assert_eq!(last.len(), 4, "{last:?}");
    assert_eq!((last[3].old, last[3].status), (size_of(&n2), 200));

    // The cosigned note verifies with the witnesses' keys, from a file and
    // from stdin, and still without them (cosignatures are unknown lines).
    let ex = excerpt(&env, &env.log, &n2, "n2.excerpt");
    let o = verify_excerpt(&env, &ex, &[&v1, &v2], &[]);
    assert_eq!(code(&o), 0, "{} {}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("witnesses: cosigned by w1.test/a"),
        "{}",
        stdout(&o)
    );
    let o = run_stdin(
        Command::new(BIN).args([
            "verify-excerpt",
            "-p",
            &s(&env.pubkey),
            "-e",
            "-",
            "-w",
            &v1,
            "-w",
            &v2,
        ]),
        &std::fs::read(&ex).unwrap(),
    );
    assert_eq!(code(&o), 0, "stdin: {} {}", stdout(&o), stderr(&o));
    assert!(stdout(&o).starts_with("PASS -: "), "{}", stdout(&o));
    let o = verify_excerpt(&env, &ex, &[], &[]);
    assert_eq!(code(&o), 0, "{} {}", stdout(&o), stderr(&o));
    // A vkey may also be given as a file.
    let kf = env.path("w1.vkey");
    std::fs::write(&kf, format!("{v1}\n")).unwrap();
    let o = verify_excerpt(&env, &ex, &[&s(&kf)], &[]);
    assert_eq!(code(&o), 0, "{} {}", stdout(&o), stderr(&o));
}

#[test]
fn split_view_is_refused_by_the_witness_that_saw_the_other_view() {
    let env = Env::new();
    append_to(&env, &env.log, &records(0, 20));
    // Two forks of one log, same origin and key, same size, other entries.
    let fork_b = env.path("fork-b.log");
    std::fs::copy(&env.log, &fork_b).unwrap();
    append_to(&env, &env.log, &records(100, 10));
    append_to(&env, &fork_b, &records(200, 10));
    let (na, nb) = (env.path("a.note"), env.path("b.note"));
    note(&env, &env.log, &na);
    note(&env, &fork_b, &nb);
    let (ta, tb) = (split(&na).0, split(&nb).0);
    assert_eq!(ta.lines().nth(1), tb.lines().nth(1), "same size");
    assert_ne!(ta, tb, "other roots");

    let w = start(&env, &na, "w.test/split");
    let v = w.vkey();
    // A note that is not this log's tree: nothing is sent (exit 1, as prove).
    let o = cosign(&env, &fork_b, &na, &[(&w.url, &v)], &[]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("does not match"), "{}", stderr(&o));
    assert!(w.statuses().is_empty());
    let o = cosign(&env, &env.log, &na, &[(&w.url, &v)], &[]);
    assert_eq!(code(&o), 0, "view A: {}", stderr(&o));
    // View B to the same witness: 409 tells the size, the same size with
    // another root is refused (422), and bd-log says so with exit 1.
    let before = std::fs::read(&nb).unwrap();
    let o = cosign(&env, &fork_b, &nb, &[(&w.url, &v)], &[]);
    assert_eq!(code(&o), 1, "view B: {}", stderr(&o));
    assert!(stderr(&o).contains("REFUSED"), "{}", stderr(&o));
    assert!(stderr(&o).contains("split view"), "{}", stderr(&o));
    assert_eq!(w.statuses(), vec![200, 409, 422]);
    assert_eq!(std::fs::read(&nb).unwrap(), before, "nothing written");
    // Twins: view A again is fine (same size, same root), and view B is a
    // valid note in itself: a witness that never saw A cosigns it.
    let o = cosign(&env, &env.log, &na, &[(&w.url, &v)], &[]);
    assert_eq!(code(&o), 0, "view A again: {}", stderr(&o));
    let fresh = start(&env, &na, "w.test/fresh");
    let vf = fresh.vkey();
    let o = cosign(&env, &fork_b, &nb, &[(&fresh.url, &vf)], &[]);
    assert_eq!(code(&o), 0, "view B, fresh witness: {}", stderr(&o));
}

#[test]
fn rollback_and_rewrite_are_refused_even_after_a_witness_restart() {
    let env = Env::new();
    append_to(&env, &env.log, &records(0, 20));
    let snapshot = env.path("snapshot.log");
    std::fs::copy(&env.log, &snapshot).unwrap();
    let n1 = env.path("n1.note");
    note(&env, &env.log, &n1);
    let id = WitnessId::new("w.test/rb");
    let (name, sk) = (id.name.clone(), id.sk.clone());
    let state = env.path("rb.state");
    let w = Witness::start(id, logs_of(&env, &n1), state.clone());
    let v = w.vkey();
    assert_eq!(code(&cosign(&env, &env.log, &n1, &[(&w.url, &v)], &[])), 0);
    append_to(&env, &env.log, &records(20, 15));
    let n2 = env.path("n2.note");
    note(&env, &env.log, &n2);
    let o = cosign(&env, &env.log, &n2, &[(&w.url, &v)], &[]);
    assert_eq!(code(&o), 0, "n2: {}", stderr(&o));
    let honest = env.path("honest.log");
    std::fs::copy(&env.log, &honest).unwrap();

    // The witness restarts from its state file: it still remembers n2.
    drop(w);
    let w = Witness::start(WitnessId { name, sk }, logs_of(&env, &n1), state);
    // Rollback: the older note n1 again. The witness's 409 names a larger
    // size than n1's, which bd-log reports as a rollback.
    let o = cosign(&env, &env.log, &n1, &[(&w.url, &v)], &[]);
    assert_eq!(code(&o), 1, "rollback: {}", stderr(&o));
    assert!(stderr(&o).contains("rolled back"), "{}", stderr(&o));
    assert_eq!(w.statuses(), vec![409]);

    // Rollback and rewrite: the log cut back to n1 and grown past n2 with
    // other entries. The consistency proof from n2's size cannot verify.
    std::fs::copy(&snapshot, &env.log).unwrap();
    append_to(&env, &env.log, &records(500, 40));
    let n3 = env.path("n3.note");
    note(&env, &env.log, &n3);
    let o = cosign(&env, &env.log, &n3, &[(&w.url, &v)], &[]);
    assert_eq!(code(&o), 1, "rewrite: {}", stderr(&o));
    assert!(stderr(&o).contains("422"), "{}", stderr(&o));
    assert_eq!(w.statuses(), vec![409, 409, 422]);

    // Twin: the honest log, grown the same way, is cosigned.
    append_to(&env, &honest, &records(35, 40));
    let n4 = env.path("n4.note");
    note(&env, &honest, &n4);
    let o = cosign(&env, &honest, &n4, &[(&w.url, &v)], &[]);
    assert_eq!(code(&o), 0, "honest growth: {}", stderr(&o));
}

#[test]
fn forged_or_misplaced_cosignatures_are_rejected() {
    let env = Env::new();
    append_to(&env, &env.log, &records(0, 12));
    let n1 = env.path("n1.note");
    note(&env, &env.log, &n1);
    let w = start(&env, &n1, "w.test/forge");
    let v = w.vkey();
    assert_eq!(code(&cosign(&env, &env.log, &n1, &[(&w.url, &v)], &[])), 0);
    let (body1, sigs1) = split(&n1);
    let genuine = sigs1
        .iter()
        .find(|l| l.starts_with("\u{2014} w.test/forge "))
        .unwrap()
        .clone();

    // Twin: the genuine cosignature passes.
    let ex = excerpt(&env, &env.log, &n1, "genuine.excerpt");
    let o = verify_excerpt(&env, &ex, &[&v], &[]);
    assert_eq!(code(&o), 0, "{} {}", stdout(&o), stderr(&o));

    // Forged: the witness's name and key ID, someone else's signature.
    let mallory = WitnessId {
        name: "w.test/forge".into(),
        sk: WitnessId::new("mallory").sk,
    };
    let forged_line = {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mine = mallory.cosign(&body1, 1_800_000_000);
        let mut blob = b64.decode(mine.split(' ').nth(2).unwrap().trim()).unwrap();
        blob[..4].copy_from_slice(&w.id.key_id());
        format!("\u{2014} w.test/forge {}\n", b64.encode(blob))
    };
    let log_line = sigs1.iter().find(|l| **l != genuine).unwrap();
    let forged = env.path("forged.note");
    std::fs::write(&forged, format!("{body1}\n{log_line}{forged_line}")).unwrap();
    let ex = excerpt(&env, &env.log, &forged, "forged.excerpt");
    let o = verify_excerpt(&env, &ex, &[&v], &[]);
    assert_eq!(code(&o), 1, "forged: {} {}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("does not verify"), "{}", stdout(&o));
    // Even next to the genuine line: a known witness's bad line rejects
    // the whole note (signed-note).
    std::fs::write(
        &forged,
        format!("{body1}\n{log_line}{genuine}{forged_line}"),
    )
    .unwrap();
    let ex = excerpt(&env, &env.log, &forged, "forged2.excerpt");
    assert_eq!(code(&verify_excerpt(&env, &ex, &[&v], &[])), 1);

    // Misplaced: n1's genuine cosignature moved onto a later note.
    append_to(&env, &env.log, &records(12, 5));
    let n2 = env.path("n2.note");
    note(&env, &env.log, &n2);
    let (body2, sigs2) = split(&n2);
    let moved = env.path("moved.note");
    std::fs::write(&moved, format!("{body2}\n{}{genuine}", sigs2[0])).unwrap();
    let ex = excerpt(&env, &env.log, &moved, "moved.excerpt");
    let o = verify_excerpt(&env, &ex, &[&v], &[]);
    assert_eq!(code(&o), 1, "moved: {} {}", stdout(&o), stderr(&o));
    // Twin: n2 cosigned for real passes.
    assert_eq!(code(&cosign(&env, &env.log, &n2, &[(&w.url, &v)], &[])), 0);
    let ex = excerpt(&env, &env.log, &n2, "n2.excerpt");
    assert_eq!(code(&verify_excerpt(&env, &ex, &[&v], &[])), 0);

    // The client checks what a witness returns: an answer whose
    // cosignature is not by the configured key is not kept.
    let liar = start(&env, &n1, "w.test/forge");
    let before = std::fs::read(&n2).unwrap();
    let o = cosign(&env, &env.log, &n2, &[(&liar.url, &v)], &[]);
    assert_eq!(code(&o), 7, "{}", stderr(&o));
    assert_eq!(std::fs::read(&n2).unwrap(), before);
    // A witness whose own cosignature does not verify over this note is
    // refused (exit 1) and nothing is kept; twin: the same witness honest.
    append_to(&env, &env.log, &records(17, 3));
    let n3 = env.path("n3.note");
    note(&env, &env.log, &n3);
    let before = std::fs::read(&n3).unwrap();
    w.lie.store(true, std::sync::atomic::Ordering::Relaxed);
    let o = cosign(&env, &env.log, &n3, &[(&w.url, &v)], &[]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("does not verify"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&n3).unwrap(), before, "nothing kept");
    w.lie.store(false, std::sync::atomic::Ordering::Relaxed);
    let o = cosign(&env, &env.log, &n3, &[(&w.url, &v)], &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(split(&n3).1.len(), 3);
}

#[test]
fn quorum_not_met_is_a_verdict_and_unreachable_witness_a_fault() {
    let env = Env::new();
    append_to(&env, &env.log, &records(0, 12));
    let n = env.path("n.note");
    note(&env, &env.log, &n);
    let w1 = start(&env, &n, "w1.test/q");
    let w2 = start(&env, &n, "w2.test/q");
    let (v1, v2) = (w1.vkey(), w2.vkey());
    // A port nobody listens on.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/", l.local_addr().unwrap())
    };
    // Client: W2 unreachable. All required by default: exit 7 (fault), and
    // W1's cosignature is kept.
    let o = cosign(&env, &env.log, &n, &[(&w1.url, &v1), (&dead, &v2)], &[]);
    assert_eq!(code(&o), 7, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("1 of 2 witnesses cosigned"),
        "{}",
        stderr(&o)
    );
    assert_eq!(split(&n).1.len(), 3);
    // Twin: one required is met.
    let o = cosign(
        &env,
        &env.log,
        &n,
        &[(&w1.url, &v1), (&dead, &v2)],
        &["--witnesses-required", "1"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        split(&n).1.len(),
        3,
        "a fresh cosignature replaces the old one"
    );

    // Verifier: only W1 cosigned.
    let ex = excerpt(&env, &env.log, &n, "q.excerpt");
    let o = verify_excerpt(&env, &ex, &[&v1, &v2], &[]);
    assert_eq!(code(&o), 1, "{} {}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("not cosigned by: w2.test/q"),
        "{}",
        stdout(&o)
    );
    let o = verify_excerpt(&env, &ex, &[&v1, &v2], &["--witnesses-required", "2"]);
    assert_eq!(code(&o), 1);
    // Twin: one of two required is met.
    let o = verify_excerpt(&env, &ex, &[&v1, &v2], &["-k", "1"]);
    assert_eq!(code(&o), 0, "{} {}", stdout(&o), stderr(&o));
    // And once W2 has cosigned too, two of two.
    let o = cosign(&env, &env.log, &n, &[(&w2.url, &v2)], &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let ex = excerpt(&env, &env.log, &n, "q2.excerpt");
    let o = verify_excerpt(&env, &ex, &[&v1, &v2], &["-k", "2"]);
    assert_eq!(code(&o), 0, "{} {}", stdout(&o), stderr(&o));

    // Usage errors: exit 2, nothing sent.
    let o = cosign(&env, &env.log, &n, &[(&w1.url, &v1)], &["--url", &w2.url]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let o = cosign(&env, &env.log, &n, &[(&w1.url, "not-a-vkey+00+AA")], &[]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let o = verify_excerpt(&env, &ex, &[&v1], &["-k", "2"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    // A log note-signer key is not a witness key.
    let log_vkey = {
        use base64::Engine as _;
        let pk = boundary::log::keys::load_public(&env.pubkey).unwrap();
        let mut raw = vec![0x01];
        raw.extend(pk.raw(0).unwrap());
        format!(
            "x+00000000+{}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    };
    let o = verify_excerpt(&env, &ex, &[&log_vkey], &[]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("0x01"), "{}", stderr(&o));
    assert_eq!(w1.statuses().iter().filter(|&&s| s == 200).count(), 2);
}
