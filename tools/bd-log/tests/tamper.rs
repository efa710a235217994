//! Every kind of tampering makes `verify` exit 1 and name the right seq.

mod common;
use common::*;

/// Every test runs on a log of each format: v3 (the default, prev is the
/// leaf hash) and v2 (prev is the line's SHA-256), which must still verify
/// exactly as before.
const FORMATS: [&str; 2] = ["3", "2"];

/// A log of 40 records with a checkpoint every 8 entries and one at the end.
fn fixture(format: &str) -> Env {
    let env = Env::new();
    let out = env.append(&records(0, 40), &["-n", "8", "--format", format]);
    assert!(out.status.success(), "append: {}", stderr(&out));
    let first = lines(&env.log)[0].clone();
    assert_eq!(
        first.windows(6).any(|w| w == b"\"v\":3,"),
        format == "3",
        "the genesis names the format"
    );
    let (code, _, reason, v) = env.verify_json(&env.log, &[]);
    assert_eq!(code, 0, "fresh log must verify: {reason}");
    assert_eq!(v["uncovered"], 0);
    // Genesis, then after every 8th entry (the last one doubles as the final).
    assert_eq!(v["checkpoints"], 1 + 5);
    env
}

fn expect_bad(env: &Env, log: &std::path::Path, seq: u64, what: &str) -> String {
    let (code, bad, reason, _) = env.verify_json(log, &[]);
    assert_eq!(code, 1, "{what}: expected exit 1, got {code} ({reason})");
    assert_eq!(bad, Some(seq), "{what}: wrong seq, reason: {reason}");
    reason
}

#[test]
fn flipping_any_byte_is_caught_at_its_line() {
    for format in FORMATS {
        let env = fixture(format);
        let data = std::fs::read(&env.log).unwrap();
        let bad = env.path("bad");
        // Line index of each byte; a flipped newline joins two lines, which
        // reads as the second one missing.
        let mut line_of = Vec::with_capacity(data.len());
        let mut k = 0u64;
        for &b in &data {
            line_of.push(k);
            if b == b'\n' {
                k += 1;
            }
        }
        let mut tried = 0;
        let mut pos = 0usize;
        let mut step = 0usize;
        while pos < data.len() {
            let mut d = data.clone();
            let mask = [0x01u8, 0x20, 0x04, 0x80, 0x10][step % 5];
            d[pos] ^= mask;
            std::fs::write(&bad, &d).unwrap();
            let expected = if data[pos] == b'\n' {
                line_of[pos] + 1
            } else {
                line_of[pos]
            };
            let what = format!(
                "flip {mask:#x} at byte {pos} ({:?} in line {})",
                data[pos] as char, line_of[pos]
            );
            let (code, got, reason, _) = env.verify_json(&bad, &[]);
            assert_eq!(code, 1, "{what}: expected exit 1 ({reason})");
            // A changed newline may also be read as a malformed line k.
            if data[pos] == b'\n' || d[pos] == b'\n' {
                assert!(
                    got == Some(expected) || got == Some(line_of[pos]),
                    "{what}: got {got:?}: {reason}"
                );
            } else {
                assert_eq!(got, Some(expected), "{what}: {reason}");
            }
            tried += 1;
            // Dense near the start of every region, sparse inside: ~600 positions.
            step += 1;
            pos += 1 + (step * 7) % 41;
        }
        assert!(tried > 300, "only {tried} positions");
    }
}

#[test]
fn flips_in_hashes_signatures_and_records() {
    for format in FORMATS {
        let env = fixture(format);
        let ls = lines(&env.log);
        let bad = env.path("bad");
        // A line's own prev hash, a checkpoint's signature and head, a record.
        let cases: Vec<(usize, &[u8])> = vec![
            (5, b"\"prev\":\""),
            (9, b"\"sig\":\""),
            (9, b"\"root\":\""),
            (9, b"\"frontier\":[\""),
            (9, b"\"origin\":\""),
            (17, b"\"pad\":\""),
            (0, b"\"sig\":\""),
            (ls.len() - 1, b"\"sig\":\""),
            (ls.len() - 1, b"\"key\":\""),
            (ls.len() - 1, b"\"ts\":\""),
        ];
        for (k, field) in cases {
            let at = ls[k]
                .windows(field.len())
                .position(|w| w == field)
                .unwrap_or_else(|| panic!("line {k} has no {:?}", String::from_utf8_lossy(field)))
                + field.len()
                + 3;
            let mut l2 = ls.clone();
            l2[k][at] = if l2[k][at] == b'1' { b'2' } else { b'1' };
            write_lines(&bad, &l2);
            expect_bad(
                &env,
                &bad,
                k as u64,
                &format!("field {} in line {k}", String::from_utf8_lossy(field)),
            );
        }
    }
}

#[test]
fn deleting_inserting_reordering_duplicating_lines() {
    for format in FORMATS {
        let env = fixture(format);
        let ls = lines(&env.log);
        let bad = env.path("bad");
        for k in [1usize, 4, 9, 20, ls.len() - 2, ls.len() - 1] {
            let mut l2 = ls.clone();
            l2.remove(k);
            write_lines(&bad, &l2);
            if k == ls.len() - 1 {
                // Dropping the final checkpoint is a truncation: the shorter
                // log is consistent (with uncovered entries); see the anchor test.
                let (code, _, _, v) = env.verify_json(&bad, &[]);
                assert_eq!(code, 0);
                assert!(v["uncovered"].as_u64().unwrap() > 0);
                continue;
            }
            expect_bad(&env, &bad, k as u64, &format!("delete line {k}"));
        }
        for k in [1usize, 7, 30] {
            let mut l2 = ls.clone();
            l2.insert(k, ls[k + 3].clone());
            write_lines(&bad, &l2);
            expect_bad(&env, &bad, k as u64, &format!("insert a copy at {k}"));
        }
        for k in [2usize, 9, 25] {
            let mut l2 = ls.clone();
            l2.swap(k, k + 1);
            write_lines(&bad, &l2);
            expect_bad(&env, &bad, k as u64, &format!("swap {k} and {}", k + 1));
        }
        for k in [3usize, 9, 31] {
            let mut l2 = ls.clone();
            l2.insert(k + 1, ls[k].clone());
            write_lines(&bad, &l2);
            expect_bad(&env, &bad, k as u64 + 1, &format!("duplicate {k}"));
        }
    }
}

/// Rewrites every line's prev (and checkpoint head) after `from` so the
/// chain is consistent again: what an attacker without the key can do.
fn rechain(ls: &mut [Vec<u8>], from: usize) {
    for k in from..ls.len() {
        let prev = hex::encode(chain_prev(&ls[0], &ls[k - 1]));
        let mut v = String::from_utf8(ls[k].clone()).unwrap();
        let old = v[v.find("\"prev\":\"").unwrap() + 8..][..64].to_string();
        v = v.replace(&old, &prev);
        ls[k] = v.into_bytes();
    }
}

#[test]
fn editing_a_record_and_recomputing_the_chain_fails_at_the_next_checkpoint() {
    for format in FORMATS {
        let env = fixture(format);
        let ls = lines(&env.log);
        let bad = env.path("bad");
        for k in [2usize, 10, 35] {
            let mut l2 = ls.clone();
            let s = String::from_utf8(l2[k].clone()).unwrap();
            assert!(!is_checkpoint(&l2[k]));
            l2[k] = s.replace("abcdefghij", "ABCDEFGHIJ").into_bytes();
            rechain(&mut l2, k + 1);
            write_lines(&bad, &l2);
            let next_cp = (k..ls.len()).find(|&j| is_checkpoint(&ls[j])).unwrap();
            let reason = expect_bad(&env, &bad, next_cp as u64, &format!("edit {k} and rechain"));
            assert!(reason.contains("Merkle root"), "{reason}");
        }
    }
}

#[test]
fn checkpoint_output_file_is_the_same_line_written_whole() {
    for format in FORMATS {
        let env = fixture(format);
        let (l, p) = (env.log.to_str().unwrap(), env.pubkey.to_str().unwrap());
        let printed = env.cmd(&["checkpoint", "-l", l, "-p", p]);
        assert!(printed.status.success(), "{}", stderr(&printed));
        // A stale anchor is replaced, not appended to.
        let anchor = env.path("anchor");
        std::fs::write(&anchor, b"stale\n").unwrap();
        let out = env.cmd(&[
            "checkpoint",
            "-l",
            l,
            "-p",
            p,
            "-o",
            anchor.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(out.stdout.is_empty(), "-o prints nothing on stdout");
        assert_eq!(std::fs::read(&anchor).unwrap(), printed.stdout);
        // An output directory that does not exist: exit 2, one line naming it,
        // and the old anchor untouched.
        let missing = env.path("no-such-dir/anchor");
        let bad = env.cmd(&[
            "checkpoint",
            "-l",
            l,
            "-p",
            p,
            "-o",
            missing.to_str().unwrap(),
        ]);
        assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
        assert!(stderr(&bad).contains("no-such-dir"), "{}", stderr(&bad));
        assert_eq!(std::fs::read(&anchor).unwrap(), printed.stdout);
    }
}

#[test]
fn truncation_to_a_checkpoint_is_caught_only_with_an_anchor() {
    for format in FORMATS {
        let env = fixture(format);
        let anchor = env.path("anchor");
        let out = env.cmd(&[
            "checkpoint",
            "-l",
            env.log.to_str().unwrap(),
            "-p",
            env.pubkey.to_str().unwrap(),
        ]);
        assert!(out.status.success());
        std::fs::write(&anchor, &out.stdout).unwrap();
        let ls = lines(&env.log);
        assert_eq!(out.stdout, [ls.last().unwrap().as_slice(), b"\n"].concat());
        let a = anchor.to_str().unwrap();
        // With the anchor the full log passes and says so.
        let (code, _, _, v) = env.verify_json(&env.log, &["--anchor", a]);
        assert_eq!(code, 0);
        assert_eq!(v["anchor_seq"], ls.len() as u64 - 1);

        // Cut back to the checkpoint at seq 18 (after 2*8 entries + genesis + cp).
        let cut = (1..ls.len() - 1)
            .rev()
            .find(|&j| is_checkpoint(&ls[j]) && j < 20)
            .unwrap();
        let short = env.path("short");
        write_lines(&short, &ls[..=cut]);
        let (code, _, reason, v) = env.verify_json(&short, &[]);
        assert_eq!(
            code, 0,
            "a prefix ending in a checkpoint is consistent: {reason}"
        );
        assert_eq!(v["uncovered"], 0);
        let (code, bad, reason, _) = env.verify_json(&short, &["--anchor", a]);
        assert_eq!(code, 1);
        assert_eq!(bad, Some(cut as u64 + 1), "{reason}");
        assert!(reason.contains("truncated"), "{reason}");

        // Rollback then regrowth (same key, a different history) is caught too.
        let old = env.path("old");
        write_lines(&old, &ls[..=cut]);
        std::fs::copy(&old, &env.log).unwrap();
        let out = env.append(&records(1000, 40), &["-n", "8"]);
        assert!(out.status.success());
        let (code, bad, reason, _) = env.verify_json(&env.log, &["--anchor", a]);
        assert_eq!(code, 1);
        assert_eq!(bad, Some(ls.len() as u64 - 1), "{reason}");

        // An anchor that is not a valid signed checkpoint cannot decide.
        let mut forged = std::fs::read(&anchor).unwrap();
        let i = forged.len() - 10;
        forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
        std::fs::write(&anchor, &forged).unwrap();
        let out = env.verify(&env.log, &["--anchor", a]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    }
}

#[test]
fn a_log_under_another_key_fails() {
    for format in FORMATS {
        let env = fixture(format);
        let other = Env::new();
        let out = other.verify(&env.log, &[]);
        // Wrong key is "could not decide" (2), naming the key the log names;
        // tampering stays 1 (issue 11 item 3).
        assert_eq!(out.status.code(), Some(2));
        let pubtext = std::fs::read_to_string(&env.pubkey).unwrap();
        let logs_key = pubtext.lines().nth(1).unwrap();
        assert!(stderr(&out).contains("wrong key"), "{}", stderr(&out));
        assert!(stderr(&out).contains(logs_key.trim()), "{}", stderr(&out));
        // And append refuses to continue it with the wrong key.
        let out = run_stdin(
            std::process::Command::new(BIN)
                .arg("append")
                .arg("-l")
                .arg(&env.log)
                .arg("-k")
                .arg(&other.key),
            b"{}\n",
        );
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains("signed by key"), "{}", stderr(&out));
    }
}

#[test]
fn garbage_never_panics() {
    let env = Env::new();
    let bad = env.path("bad");
    let mut seed = 0x9e3779b97f4a7c15u64;
    for n in [0usize, 1, 7, 100, 5000, 100_000] {
        let mut d = Vec::with_capacity(n);
        for _ in 0..n {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            d.push(if seed.is_multiple_of(11) {
                b'\n'
            } else {
                (seed >> 24) as u8
            });
        }
        std::fs::write(&bad, &d).unwrap();
        let out = env.verify(&bad, &[]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{n} random bytes: {}",
            stderr(&out)
        );
        let pk = env.pubkey.to_str().unwrap();
        for sub in [
            &["show", "-l"][..],
            &["tail", "-l"],
            &["checkpoint", "-p", pk, "-l"],
        ] {
            let mut args = sub.to_vec();
            args.push(bad.to_str().unwrap());
            let out = env.cmd(&args);
            assert!(
                matches!(out.status.code(), Some(0..=2)),
                "{sub:?}: {}",
                stderr(&out)
            );
        }
    }
}

#[test]
fn time_going_backwards_is_caught_even_in_the_uncovered_tail() {
    for format in FORMATS {
        let env = fixture(format);
        let mut ls = lines(&env.log);
        // Drop the final checkpoint: the tail is then only chained, and only the
        // time-order check can see a back-dated entry.
        ls.pop();
        let k = ls.len() - 2;
        let s = String::from_utf8(ls[k].clone()).unwrap();
        let at = s.find("\"ts\":\"").unwrap() + 6;
        let mut t = s.into_bytes();
        t[at..at + 4].copy_from_slice(b"2001");
        ls[k] = t;
        rechain(&mut ls, k + 1);
        let bad = env.path("bad");
        write_lines(&bad, &ls);
        let reason = expect_bad(&env, &bad, k as u64, "back-dated ts");
        assert!(reason.contains("earlier"), "{reason}");
    }
}
