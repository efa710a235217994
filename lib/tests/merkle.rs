//! boundary::log::merkle against an independent RFC 6962 implementation
//! written here from the RFC's definitions (section 2.1), not from the code
//! under test: MTH, PATH and PROOF by their recursive definitions, hashing
//! with sha2 directly.

use boundary::log::merkle::{self, Frontier, TreeHead};
use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use sha2::{Digest, Sha256};

type H = [u8; 32];

fn sha(parts: &[&[u8]]) -> H {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// k: the largest power of two smaller than n.
fn k_of(n: usize) -> usize {
    (0..64)
        .map(|i| 1usize << i)
        .take_while(|&p| p < n)
        .last()
        .unwrap()
}

/// MTH(D[n]) over the data items (RFC 6962 2.1).
fn mth(d: &[Vec<u8>]) -> H {
    match d.len() {
        0 => sha(&[]),
        1 => sha(&[&[0], &d[0]]),
        n => {
            let k = k_of(n);
            sha(&[&[1], &mth(&d[..k]), &mth(&d[k..])])
        }
    }
}

/// PATH(m, D[n]) (RFC 6962 2.1.1).
fn path(m: usize, d: &[Vec<u8>]) -> Vec<H> {
    let n = d.len();
    if n == 1 {
        return vec![];
    }
    let k = k_of(n);
    if m < k {
        let mut p = path(m, &d[..k]);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = path(m - k, &d[k..]);
        p.push(mth(&d[..k]));
        p
    }
}

/// SUBPROOF(m, D[n], b) (RFC 6962 2.1.2).
fn subproof(m: usize, d: &[Vec<u8>], b: bool) -> Vec<H> {
    let n = d.len();
    if m == n {
        return if b { vec![] } else { vec![mth(d)] };
    }
    let k = k_of(n);
    if m <= k {
        let mut p = subproof(m, &d[..k], b);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = subproof(m - k, &d[k..], false);
        p.push(mth(&d[..k]));
        p
    }
}

fn data(n: usize, salt: u8) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("{{\"seq\":{i},\"s\":{salt}}}").into_bytes())
        .collect()
}

fn leaves(d: &[Vec<u8>]) -> Vec<H> {
    d.iter().map(|x| merkle::leaf_hash(x)).collect()
}

#[test]
fn known_shapes_match_the_rfc_definitions() {
    assert_eq!(merkle::empty_root(), mth(&[]));
    for n in 1..70 {
        let d = data(n, 1);
        let mut f = Frontier::new();
        for x in &d {
            f.push(x);
        }
        assert_eq!(f.root(), mth(&d), "frontier root, n={n}");
        assert_eq!(merkle::root_of(&leaves(&d)), mth(&d), "root_of, n={n}");
        for m in 0..n {
            assert_eq!(
                merkle::inclusion_proof(m, &leaves(&d)),
                path(m, &d),
                "PATH({m}, {n})"
            );
        }
        for m in 1..=n {
            assert_eq!(
                merkle::consistency_proof(m, &leaves(&d)),
                subproof(m, &d, true),
                "PROOF({m}, {n})"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn inclusion_proofs_verify_and_nothing_else_does(n in 1usize..300, m_seed: usize, flip in 0usize..64, salt: u8) {
        let d = data(n, salt);
        let m = m_seed % n;
        let root = mth(&d);
        let proof = path(m, &d);
        let leaf = sha(&[&[0], &d[m]]);
        prop_assert!(merkle::verify_inclusion(&leaf, m as u64, n as u64, &proof, &root));
        // Another index, another size, a changed leaf, a changed proof hash.
        if n > 1 {
            prop_assert!(!merkle::verify_inclusion(&leaf, ((m + 1) % n) as u64, n as u64, &proof, &root));
        }
        // The same proof against the tree one leaf larger (the size is
        // bound by the signed checkpoint, the root by the proof).
        let mut d1 = d.clone();
        d1.push(b"{}".to_vec());
        prop_assert!(!merkle::verify_inclusion(&leaf, m as u64, n as u64 + 1, &proof, &mth(&d1)));
        let mut bad_leaf = leaf;
        bad_leaf[flip % 32] ^= 1;
        prop_assert!(!merkle::verify_inclusion(&bad_leaf, m as u64, n as u64, &proof, &root));
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let i = flip % bad.len();
            bad[i][flip % 32] ^= 0x80;
            prop_assert!(!merkle::verify_inclusion(&leaf, m as u64, n as u64, &bad, &root));
            let mut short = proof.clone();
            short.pop();
            prop_assert!(!merkle::verify_inclusion(&leaf, m as u64, n as u64, &short, &root));
        }
    }

    #[test]
    fn consistency_proofs_verify_and_a_rewritten_prefix_does_not(n in 2usize..300, m_seed: usize, at_seed: usize, salt: u8) {
        let d = data(n, salt);
        let m = 1 + m_seed % (n - 1);
        let (r1, r2) = (mth(&d[..m]), mth(&d));
        let proof = subproof(m, &d, true);
        prop_assert!(merkle::verify_consistency(m as u64, n as u64, &r1, &r2, &proof));
        // A rollback-and-rewrite: the new tree changes a leaf inside the old one.
        let mut e = d.clone();
        let at = at_seed % m;
        e[at].push(b' ');
        let r2e = mth(&e);
        let pe = subproof(m, &e, true);
        prop_assert!(!merkle::verify_consistency(m as u64, n as u64, &r1, &r2e, &pe));
        prop_assert!(!merkle::verify_consistency(m as u64, n as u64, &r1, &r2e, &proof));
        // The wrong old size.
        if m + 1 < n {
            prop_assert!(!merkle::verify_consistency(m as u64 + 1, n as u64, &r1, &r2, &proof));
        }
    }

    #[test]
    fn frontier_is_the_rfc_root_at_every_size(n in 0usize..200, salt: u8) {
        let d = data(n, salt);
        let mut f = Frontier::new();
        for (i, x) in d.iter().enumerate() {
            prop_assert_eq!(f.root(), mth(&d[..i]));
            f.push(x);
        }
        prop_assert_eq!(f.root(), mth(&d));
        prop_assert_eq!(f.size(), n as u64);
    }
}

#[test]
fn checkpoint_note_is_c2sp_and_verifies_only_under_its_key() {
    let sk = SigningKey::from_bytes(&[3u8; 32]);
    let d = data(10, 0);
    let th = TreeHead {
        origin: "bdlog-0123".into(),
        size: 10,
        root: mth(&d),
    };
    let note = th.sign(&sk);
    // The tlog-checkpoint body and the signed-note signature line, by hand.
    let mut lines = note.lines();
    assert_eq!(lines.next(), Some("bdlog-0123"));
    assert_eq!(lines.next(), Some("10"));
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(lines.next(), Some(b64.encode(mth(&d)).as_str()));
    assert_eq!(lines.next(), Some(""));
    let sig_line = lines.next().unwrap();
    let rest = sig_line
        .strip_prefix("\u{2014} bdlog-0123 ")
        .expect("em dash, space, key name");
    let blob = b64.decode(rest).unwrap();
    let vk = sk.verifying_key();
    let id = sha(&[b"bdlog-0123", &[0x0a, 0x01], vk.as_bytes()]);
    assert_eq!(
        &blob[..4],
        &id[..4],
        "key ID = SHA-256(name || 0x0A || 0x01 || key)[:4]"
    );
    let sig = ed25519_dalek::Signature::from_slice(&blob[4..]).unwrap();
    vk.verify_strict(b"bdlog-0123\n10\n", &sig).unwrap_err();
    vk.verify_strict(th.text().as_bytes(), &sig).unwrap();
    assert_eq!(TreeHead::open(&note, &vk).unwrap(), th);
    // Another key, or a changed size, is refused.
    let other = SigningKey::from_bytes(&[4u8; 32]).verifying_key();
    assert!(TreeHead::open(&note, &other).is_err());
    assert!(TreeHead::open(&note.replacen("\n10\n", "\n11\n", 1), &vk).is_err());
    // A cosignature line from an unknown key is ignored, as the spec says.
    let with_witness = format!("{note}\u{2014} witness.example {}\n", b64.encode([9u8; 72]));
    assert_eq!(TreeHead::open(&with_witness, &vk).unwrap(), th);
}
