use super::verify::{verify, Anchor, Options};
use super::*;
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use std::time::{Duration, UNIX_EPOCH};

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

fn ts(n: u64) -> String {
    crate::time::rfc3339_nanos(UNIX_EPOCH + Duration::from_nanos(1_790_000_000_000_000_000 + n))
}

/// A log of `records` with a checkpoint after every `every` entries and at the end.
fn build(records: &[Vec<u8>], every: usize) -> Vec<u8> {
    build_format(records, every, FORMAT)
}

/// As [`build`], in log format `format` (2 or 3).
fn build_format(records: &[Vec<u8>], every: usize, format: u8) -> Vec<u8> {
    let sk = key();
    let origin = "bdlog-test";
    let mut out = Vec::new();
    let mut prev = ZERO;
    let mut seq = 0u64;
    let mut t = 0u64;
    let mut tree = merkle::Frontier::new();
    let cp =
        |out: &mut Vec<u8>, seq: &mut u64, prev: &mut Hash, tree: &mut merkle::Frontier, t: u64| {
            let line =
                Checkpoint::sign_format(&sk, 0, origin, *prev, tree, &ts(t), format).to_line();
            *prev = chain_hash(format, line.as_bytes());
            tree.push(line.as_bytes());
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
            *seq += 1;
        };
    cp(&mut out, &mut seq, &mut prev, &mut tree, t);
    for (i, r) in records.iter().enumerate() {
        t += 1000;
        let start = out.len();
        format_entry(&mut out, seq, &ts(t), &prev, r);
        prev = chain_hash(format, &out[start..out.len() - 1]);
        tree.push(&out[start..out.len() - 1]);
        seq += 1;
        if (i + 1) % every == 0 || i + 1 == records.len() {
            cp(&mut out, &mut seq, &mut prev, &mut tree, t);
        }
    }
    out
}

fn check(log: &[u8]) -> verify::Report {
    verify(log, key().verifying_key(), &Options::default()).expect("in-memory read")
}

#[test]
fn valid_log_passes_and_counts() {
    let recs: Vec<Vec<u8>> = (0..25)
        .map(|i| format!("{{\"i\":{i}}}").into_bytes())
        .collect();
    let log = build(&recs, 10);
    let r = check(&log);
    assert_eq!(r.bad, None);
    assert_eq!(r.lines, 1 + 25 + 3);
    assert_eq!(r.checkpoints, 4);
    assert_eq!(r.uncovered, 0);
}

/// Format v3 chains the RFC 6962 leaf hash, v2 the line's SHA-256 (both
/// recomputed here with sha2, not with the code under test); both verify,
/// and a checkpoint of the other format in a file fails.
#[test]
fn both_formats_verify_and_a_checkpoint_of_the_other_format_fails() {
    let recs: Vec<Vec<u8>> = (0..25)
        .map(|i| format!("{{\"i\":{i}}}").into_bytes())
        .collect();
    for format in [2u8, 3] {
        let log = build_format(&recs, 10, format);
        let r = check(&log);
        assert_eq!(r.bad, None, "v{format}");
        assert_eq!(r.format, format);
        let text = std::str::from_utf8(&log).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0].contains("\"checkpoint\":{\"v\":3,"), format == 3);
        for w in lines.windows(2) {
            let mut h = Sha256::new();
            if format == 3 {
                h.update([0u8]);
            }
            h.update(w[0].as_bytes());
            let want = hex::encode(h.finalize());
            assert!(
                w[1].contains(&format!("\"prev\":\"{want}\"")),
                "v{format}: {}",
                w[1]
            );
        }
        // The last checkpoint switched to the other format keeps its
        // signature (the note has no format) and still fails.
        let last = *lines.last().unwrap();
        let other = if format == 3 {
            last.replacen("{\"v\":3,", "{", 1)
        } else {
            last.replacen("\"checkpoint\":{", "\"checkpoint\":{\"v\":3,", 1)
        };
        assert_ne!(other, last);
        let bad = lines[..lines.len() - 1].join("\n") + "\n" + &other + "\n";
        let r = check(bad.as_bytes());
        assert_eq!(
            r.bad.as_ref().map(|b| b.0),
            Some(lines.len() as u64 - 1),
            "v{format}: {:?}",
            r.bad
        );
        // So does the genesis: every link then follows the other rule.
        let g = if format == 3 {
            lines[0].replacen("{\"v\":3,", "{", 1)
        } else {
            lines[0].replacen("\"checkpoint\":{", "\"checkpoint\":{\"v\":3,", 1)
        };
        let bad = g + "\n" + &lines[1..].join("\n") + "\n";
        assert!(
            check(bad.as_bytes()).bad.is_some(),
            "v{format}: genesis of the other format"
        );
    }
}

#[test]
fn wrong_key_fails_at_genesis() {
    let log = build(&[b"1".to_vec()], 10);
    let other = SigningKey::from_bytes(&[9u8; 32]).verifying_key();
    let r = verify(&log[..], other, &Options::default()).unwrap();
    // Not tampering: the log names (and is validly signed by) another key.
    assert!(!r.ok());
    assert_eq!(
        r.wrong_key.as_deref(),
        Some(
            <base64::engine::GeneralPurpose as base64::Engine>::encode(
                &base64::engine::general_purpose::STANDARD,
                key().verifying_key().to_bytes()
            )
            .as_str()
        )
    );
}

#[test]
fn anchor_catches_truncation_to_an_earlier_checkpoint() {
    let recs: Vec<Vec<u8>> = (0..20).map(|i| format!("[{i}]").into_bytes()).collect();
    let log = build(&recs, 10);
    let text = std::str::from_utf8(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let last = lines.last().unwrap();
    let vk = key().verifying_key();
    let anchor = Anchor::parse(last.as_bytes(), vk).unwrap();
    // The prefix up to the middle checkpoint is itself a valid log...
    let cut = lines[..12].join("\n") + "\n";
    assert!(lines[11].contains("\"checkpoint\""));
    assert_eq!(check(cut.as_bytes()).bad, None);
    // ...which only the anchor exposes.
    let opts = Options {
        anchor: Some(anchor),
        ..Options::default()
    };
    let r = verify(cut.as_bytes(), vk, &opts).unwrap();
    assert_eq!(r.bad.as_ref().map(|b| b.0), Some(12));
    let r = verify(&log[..], vk, &opts).unwrap();
    assert_eq!(r.bad, None);
    assert_eq!(r.anchored, Some(lines.len() as u64 - 1));
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        ".*".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(".*", inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn entry_round_trips(seq in any::<u64>(), t in any::<u32>(), prev in any::<[u8; 32]>(), v in json_value()) {
        let rec = serde_json::to_vec(&v).unwrap();
        let mut out = Vec::new();
        let stamp = ts(u64::from(t) * 1_000_003);
        format_entry(&mut out, seq, &stamp, &prev, &rec);
        prop_assert_eq!(out.last(), Some(&b'\n'));
        let line = &out[..out.len() - 1];
        let p = parse_line(line).unwrap();
        prop_assert_eq!(p.seq, seq);
        prop_assert_eq!(p.ts, stamp.as_bytes());
        prop_assert_eq!(p.prev, prev);
        prop_assert_eq!(p.body, Body::Record(&rec[..]));
        // The whole line is JSON whose record is the input value.
        let back: serde_json::Value = serde_json::from_slice(line).unwrap();
        prop_assert_eq!(&back["record"], &v);
    }

    #[test]
    fn checkpoint_round_trips_and_any_flip_breaks_it(size in any::<u64>(), head in any::<[u8; 32]>(), hashes in prop::collection::vec(any::<[u8; 32]>(), 64), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let sk = key();
        let keys = keys::PublicKeys::from(sk.verifying_key());
        let fr = merkle::Frontier::from_parts(size, hashes[..size.count_ones() as usize].to_vec()).unwrap();
        let cp = Checkpoint::sign(&sk, 0, "bdlog-abc", head, &fr, &ts(size % 1_000_000));
        let line = cp.to_line();
        let back = Checkpoint::parse_line(line.as_bytes()).unwrap();
        prop_assert_eq!(&back, &cp);
        prop_assert!(back.verify(&keys).is_ok());
        let mut bad = line.into_bytes();
        let i = pos.index(bad.len());
        bad[i] ^= 1 << bit;
        // The signature covers the tree head; a checkpoint's ts and prev are
        // bound by the log around it (ts repeats the line before, prev is
        // that line's hash), which the log-level tests below flip.
        if let Ok(c) = Checkpoint::parse_line(&bad) {
            if c.verify(&keys).is_ok() {
                prop_assert!(c.ts != cp.ts || c.head != cp.head);
                prop_assert_eq!(Checkpoint { ts: cp.ts.clone(), head: cp.head, ..c }, cp);
            }
        }
    }

    #[test]
    fn parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_line(&bytes);
        let _ = Checkpoint::parse_line(&bytes);
        let _ = Anchor::parse(&bytes, key().verifying_key());
        let r = check(&bytes);
        prop_assert!(r.bad.is_some());
    }

    #[test]
    fn random_prefixes_never_panic(tail in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut bytes = b"{\"seq\":0,\"ts\":\"2026-11-25T19:18:40.123456789Z\",\"prev\":\"".to_vec();
        bytes.extend_from_slice(&tail);
        let _ = parse_line(&bytes);
        bytes.push(b'\n');
        prop_assert!(check(&bytes).bad.is_some());
    }

    #[test]
    fn any_single_byte_change_fails(n in 1usize..30, every in 1usize..8, pos in any::<prop::sample::Index>(), x in 1u8..=255, format in 2u8..=3) {
        let recs: Vec<Vec<u8>> = (0..n).map(|i| format!("{{\"n\":{i},\"s\":\"x\"}}").into_bytes()).collect();
        let mut log = build_format(&recs, every, format);
        prop_assert_eq!(check(&log).bad, None);
        let i = pos.index(log.len());
        log[i] ^= x;
        prop_assert!(check(&log).bad.is_some());
    }

    #[test]
    fn small_chunks_agree_with_large(n in 1usize..60, chunk in 64usize..600, format in 2u8..=3) {
        let recs: Vec<Vec<u8>> = (0..n).map(|i| format!("{{\"n\":{i}}}").into_bytes()).collect();
        let log = build_format(&recs, 7, format);
        let small = verify(&log[..], key().verifying_key(), &Options { chunk, ..Options::default() }).unwrap();
        prop_assert_eq!(small, check(&log));
    }

    #[test]
    fn subtrees_joined_piecewise_equal_the_sequential_tree(start in 0u64..5000, cuts in prop::collection::vec(0usize..40, 1..8)) {
        // The tree before `start`, then pieces of leaves hashed apart and
        // joined, must give the frontier of pushing every leaf in order.
        let leaf = |i: u64| merkle::leaf_hash(&i.to_le_bytes());
        let mut seq = merkle::Frontier::new();
        for i in 0..start {
            seq.push_hash(leaf(i));
        }
        let mut joined = seq.clone();
        let mut next = start;
        for n in cuts {
            let mut st = merkle::Subtrees::starting_at(next);
            for i in next..next + n as u64 {
                st.push_hash(leaf(i));
                seq.push_hash(leaf(i));
            }
            next += n as u64;
            joined = merkle::Subtrees::join(&joined, st.parts()).unwrap();
            prop_assert_eq!(&joined, &seq);
        }
    }
}

/// verify's prev shortcut: digits equal to the expected hash's give that
/// hash; anything else is decoded (or refused) exactly as parse_line does.
#[test]
fn parse_line_expecting_matches_parse_line() {
    let h: Hash = std::array::from_fn(|i| (i * 37 + 5) as u8);
    let other: Hash = [0xab; 32];
    let hex = hex_hash(&h);
    assert_eq!(&hex[..], hex::encode(h).as_bytes());
    let mut lines = Vec::new();
    for prev in [h, other] {
        let mut l = Vec::new();
        format_entry(&mut l, 3, &ts(1), &prev, b"{\"a\":1}");
        l.pop();
        lines.push(l);
    }
    let mut upper = lines[0].clone();
    let at = upper.windows(8).position(|w| w == b"\"prev\":\"").unwrap() + 8;
    upper[at..at + 64].make_ascii_uppercase();
    lines.push(upper);
    for l in &lines {
        let plain = parse_line(l);
        let fast = parse_line_expecting(l, Some((&h, &hex)));
        assert_eq!(plain, fast);
    }
    assert_eq!(parse_line(&lines[0]).unwrap().prev, h);
    assert_eq!(parse_line(&lines[1]).unwrap().prev, other);
    assert!(parse_line(&lines[2]).is_err());
}

proptest! {
    /// verify's batched tree (level by level, two nodes at a time) gives
    /// the same subtrees as pushing the leaves one by one, from any start
    /// and in batches of any size, including across an earlier batch.
    #[test]
    fn batched_subtrees_equal_one_by_one(start in 0u64..3000, batches in prop::collection::vec(0usize..600, 1..5)) {
        let leaf = |i: u64| merkle::leaf_hash(&i.to_le_bytes());
        let mut one = merkle::Subtrees::starting_at(start);
        let mut batched = merkle::Subtrees::starting_at(start);
        let mut next = start;
        for n in batches {
            let mut leaves: Vec<Hash> = (next..next + n as u64).map(leaf).collect();
            for l in &leaves {
                one.push_hash(*l);
            }
            batched.push_hashes(&mut leaves);
            next += n as u64;
            prop_assert_eq!(batched.parts(), one.parts());
        }
    }
}
