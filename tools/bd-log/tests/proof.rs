//! `note`, `prove` and `verify-excerpt` (issue 13 item 3): an excerpt checks
//! with the public key alone; an altered line, a wrong key and a rollback
//! between two notes are each caught.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().expect("run bd-log")
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn note(env: &Env, logs: &[&str], out: &Path) {
    let mut a = vec!["note", "-k"];
    let k = s(&env.key);
    a.push(&k);
    for l in logs {
        a.push("-l");
        a.push(l);
    }
    let o = run(&a);
    assert!(o.status.success(), "note: {}", stderr(&o));
    std::fs::write(out, &o.stdout).unwrap();
}

#[test]
fn excerpt_verifies_alone_and_catches_alteration_wrong_key_and_rollback() {
    let env = Env::new();
    assert!(env.append(&records(0, 30), &[]).status.success());
    let old = env.path("old.note");
    note(&env, &[&s(&env.log)], &old);
    // Rotate, append more: the set's tree extends the old one.
    let o = run(&["rotate", "-l", &s(&env.log), "-k", &s(&env.key)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(env.append(&records(30, 20), &[]).status.success());
    let pattern = format!("{}*", env.log.display());
    let new = env.path("new.note");
    note(&env, &[&pattern], &new);
    let pk = s(&env.pubkey);
    let o = run(&[
        "prove",
        "-l",
        &pattern,
        "-p",
        &pk,
        "--note",
        &s(&new),
        "--seq",
        "3..9",
        "-a",
        &s(&old),
    ]);
    assert!(o.status.success(), "prove: {}", stderr(&o));
    let excerpt = env.path("excerpt");
    std::fs::write(&excerpt, &o.stdout).unwrap();
    // Alone: the log is moved away, only the public key and the excerpt remain.
    std::fs::rename(&env.log, env.path("elsewhere")).unwrap();
    let o = run(&[
        "verify-excerpt",
        "-p",
        &pk,
        "-e",
        &s(&excerpt),
        "-a",
        &s(&old),
    ]);
    assert_eq!(o.status.code(), Some(0), "{} {}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("6 entries"), "{}", stdout(&o));
    // An altered record inside an excerpt line.
    let text = std::fs::read_to_string(&excerpt).unwrap();
    let altered = env.path("altered");
    std::fs::write(&altered, text.replacen("\\\"i\\\":5,", "\\\"i\\\":55,", 1)).unwrap();
    assert_ne!(
        std::fs::read_to_string(&altered).unwrap(),
        text,
        "the test altered something"
    );
    let o = run(&["verify-excerpt", "-p", &pk, "-e", &s(&altered)]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("inclusion proof"), "{}", stdout(&o));
    // Another key: could not decide (2).
    let other = env.path("other.key");
    assert!(run(&["keygen", "-o", &s(&other)]).status.success());
    let o = run(&[
        "verify-excerpt",
        "-p",
        &s(&env.path("other.key.pub")),
        "-e",
        &s(&excerpt),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
}

#[test]
fn a_rollback_between_two_notes_fails_the_consistency_proof() {
    let env = Env::new();
    assert!(env.append(&records(0, 10), &["-n", "5"]).status.success());
    let keep = lines(&env.log);
    assert!(env.append(&records(10, 10), &[]).status.success());
    let old = env.path("old.note");
    let l = s(&env.log);
    note(&env, &[&l], &old);
    // Roll back to an earlier checkpoint and grow a different history past
    // the old note's size: each file on its own still verifies.
    let cut = keep.iter().rposition(|l| is_checkpoint(l)).unwrap();
    write_lines(&env.log, &keep[..=cut]);
    assert!(env.append(&records(100, 40), &[]).status.success());
    let o = env.verify(&env.log, &[]);
    assert!(
        o.status.success(),
        "the rewritten log is self-consistent: {}",
        stdout(&o)
    );
    let new = env.path("new.note");
    note(&env, &[&l], &new);
    let pk = s(&env.pubkey);
    let o = run(&[
        "prove",
        "-l",
        &l,
        "-p",
        &pk,
        "--note",
        &s(&new),
        "--seq",
        "1",
        "-a",
        &s(&old),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ex = env.path("ex");
    std::fs::write(&ex, &o.stdout).unwrap();
    let o = run(&["verify-excerpt", "-p", &pk, "-e", &s(&ex), "-a", &s(&old)]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("rolled back or rewritten"),
        "{}",
        stdout(&o)
    );
    // Without the anchor the excerpt itself is fine: the inclusion holds.
    let o = run(&["verify-excerpt", "-p", &pk, "-e", &s(&ex)]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}
