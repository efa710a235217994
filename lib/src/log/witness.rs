//! Witness cosignatures on checkpoint notes: C2SP `tlog-cosignature`
//! (cosignature/v1, Ed25519), witness keys as C2SP `signed-note` vkeys, and
//! the quorum check a verifier applies ("at least K of these witnesses").
//!
//! A witness (C2SP `tlog-witness`) cosigns a checkpoint only if it is
//! consistent with every checkpoint of the same origin it cosigned before,
//! so a log that shows two different trees to two parties (a split view) or
//! goes back to an earlier tree (a rollback) cannot collect cosignatures from
//! the same honest witness for both. The log's own signature is checked
//! elsewhere (`merkle::TreeHead::open`); this module only reads the
//! signature lines it knows and ignores the others, as signed-note asks.

use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Signature type byte of a timestamped Ed25519 checkpoint cosignature
/// (signed-note's registry; tlog-cosignature defines it).
pub const COSIG_ED25519: u8 = 0x04;

/// signed-note asks verifiers to accept at least 16 signatures; a bound
/// keeps a hostile note from costing unbounded work.
pub const MAX_SIGNATURES: usize = 64;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A witness's public key: the cosigner name and its Ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessKey {
    pub name: String,
    pub key: VerifyingKey,
}

/// Key ID of a cosigner key: SHA-256(name || 0x0A || 0x04 || key)[:4].
pub fn cosigner_key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0a, COSIG_ED25519]);
    h.update(key.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// A key name as signed-note allows it: non-empty, no Unicode space, no `+`.
pub fn valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c < ' ')
}

impl WitnessKey {
    pub fn id(&self) -> [u8; 4] {
        cosigner_key_id(&self.name, &self.key)
    }

    /// Parses a vkey `<name>+<hex key ID>+<base64(0x04 || 32-byte key)>`.
    /// Only cosignature/v1 Ed25519 keys are accepted: a type-0x01 key is a
    /// note (log) signer, not a witness, and ML-DSA-44 (0x06) is not
    /// implemented here; both are refused by name, never guessed at.
    pub fn parse(vkey: &str) -> Result<WitnessKey, String> {
        let vkey = vkey.trim();
        // The key part is base64, which may itself contain '+'.
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err("not a vkey: expected <name>+<hex key ID>+<base64 key>".into());
        };
        if !valid_key_name(name) {
            return Err(format!("vkey name {name:?} is empty or has a space"));
        }
        let id: [u8; 4] = hex::decode(id)
            .ok()
            .filter(|_| id.len() == 8)
            .and_then(|b| b.try_into().ok())
            .ok_or("vkey key ID is not 8 hex digits")?;
        let raw = B64.decode(b64).map_err(|_| "vkey key is not base64")?;
        match raw.first() {
            Some(&COSIG_ED25519) => {}
            Some(0x01) => {
                return Err("vkey is an Ed25519 note-signer key (type 0x01), not a witness cosigner key (type 0x04)".into())
            }
            Some(0x06) => {
                return Err("vkey is an ML-DSA-44 cosigner key (type 0x06): not supported, only Ed25519 cosignature/v1 (type 0x04)".into())
            }
            Some(t) => return Err(format!("vkey has signature type 0x{t:02x}, expected 0x04 (Ed25519 cosignature/v1)")),
            None => return Err("vkey key is empty".into()),
        }
        let key: [u8; 32] = raw[1..]
            .try_into()
            .map_err(|_| "vkey Ed25519 key is not 32 bytes")?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| "vkey is not an Ed25519 point")?;
        let w = WitnessKey {
            name: name.to_string(),
            key,
        };
        if w.id() != id {
            return Err(format!(
                "vkey key ID {} does not match its name and key (expected {})",
                hex::encode(id),
                hex::encode(w.id())
            ));
        }
        Ok(w)
    }

    /// The vkey text.
    pub fn vkey(&self) -> String {
        let mut raw = vec![COSIG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(self.id()),
            B64.encode(raw)
        )
    }
}

/// The message a cosignature/v1 signs: header, time line, note body.
pub fn cosigned_message(body: &str, time: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {time}\n{body}").into_bytes()
}

/// One cosignature line (with its newline) by `sk` under `name` over the
/// note body `body` (the text up to and including its last newline).
pub fn cosign(sk: &SigningKey, name: &str, body: &str, time: u64) -> String {
    let sig = sk.sign(&cosigned_message(body, time));
    let mut blob = cosigner_key_id(name, &sk.verifying_key()).to_vec();
    blob.extend_from_slice(&time.to_be_bytes());
    blob.extend_from_slice(&sig.to_bytes());
    format!("\u{2014} {name} {}\n", B64.encode(blob))
}

/// A signed note cut into its text (ending in a newline) and its signature
/// lines. signed-note: the text ends at the note's last blank line.
pub fn split_note(note: &str) -> Result<(&str, Vec<&str>), String> {
    if note.bytes().any(|b| b < 0x20 && b != b'\n') {
        return Err("note contains control characters".into());
    }
    if !note.ends_with('\n') {
        return Err("note does not end in a newline".into());
    }
    let at = note
        .rfind("\n\n")
        .ok_or("not a signed note: no blank line before the signatures")?;
    let (body, sigs) = (&note[..at + 1], &note[at + 2..]);
    let lines: Vec<&str> = sigs.lines().collect();
    if lines.is_empty() {
        return Err("note has no signature lines".into());
    }
    if lines.len() > MAX_SIGNATURES {
        return Err(format!(
            "note has {} signature lines (at most {MAX_SIGNATURES})",
            lines.len()
        ));
    }
    Ok((body, lines))
}

/// A parsed signature line: key name and decoded bytes.
pub fn parse_sig_line(line: &str) -> Result<(&str, Vec<u8>), String> {
    let rest = line
        .strip_prefix("\u{2014} ")
        .ok_or("signature line does not start with an em dash and a space")?;
    let (name, b64) = rest
        .split_once(' ')
        .ok_or("signature line has no space between key name and signature")?;
    if !valid_key_name(name) {
        return Err(format!("signature line key name {name:?} is not valid"));
    }
    let blob = B64
        .decode(b64)
        .map_err(|_| format!("signature by {name} is not base64"))?;
    if blob.len() < 4 {
        return Err(format!("signature by {name} is shorter than its key ID"));
    }
    Ok((name, blob))
}

/// A cosignature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    pub name: String,
    /// When the witness cosigned (POSIX seconds).
    pub time: u64,
}

/// Why a note's cosignatures are not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The note is malformed.
    Malformed(String),
    /// A signature line by a known witness (name and key ID match) does not
    /// verify: the note was altered after cosigning, or the line is forged.
    /// signed-note: such a note is rejected whole.
    BadCosignature { witness: String, why: String },
    /// Fewer valid cosignatures from distinct given witnesses than required.
    Quorum {
        required: usize,
        valid: Vec<Cosigned>,
        missing: Vec<String>,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Malformed(why) => write!(f, "{why}"),
            Refusal::BadCosignature { witness, why } => {
                write!(f, "the cosignature by witness {witness} {why}")
            }
            Refusal::Quorum {
                required,
                valid,
                missing,
            } => write!(
                f,
                "{} valid cosignature(s) from the given witnesses, {required} required; not cosigned by: {}",
                valid.len(),
                missing.join(", ")
            ),
        }
    }
}

/// Verifies one signature line's bytes as a cosignature/v1 by `w` over
/// `body`; returns the timestamp.
fn check_one(w: &WitnessKey, body: &str, blob: &[u8]) -> Result<u64, String> {
    if blob.len() != 4 + 8 + 64 {
        return Err(format!(
            "is {} bytes, not key ID + timestamp + Ed25519 signature (76)",
            blob.len()
        ));
    }
    let time = u64::from_be_bytes(blob[4..12].try_into().unwrap_or_default());
    if time > i64::MAX as u64 {
        return Err(format!("has a timestamp above 2^63-1 ({time})"));
    }
    if time == 0 {
        // tlog-witness: a checkpoint cosignature never omits the time.
        return Err("has a zero timestamp".into());
    }
    let sig = Signature::from_slice(&blob[12..]).map_err(|_| "has malformed signature bytes")?;
    w.key
        .verify_strict(&cosigned_message(body, time), &sig)
        .map_err(|_| {
            "does not verify over this note (the note was changed after it was cosigned, or the cosignature is forged)".to_string()
        })?;
    Ok(time)
}

/// Checks the note's cosignatures against the given witnesses and requires
/// `required` distinct ones to have cosigned. Signature lines of unknown
/// keys (the log's own, other witnesses) are ignored; a known witness's
/// line that fails rejects the note. Witnesses given twice (same public
/// key under any name) count once.
pub fn check_quorum(
    note: &str,
    witnesses: &[WitnessKey],
    required: usize,
) -> Result<Vec<Cosigned>, Refusal> {
    let (body, lines) = split_note(note).map_err(Refusal::Malformed)?;
    let mut distinct: Vec<&WitnessKey> = Vec::new();
    for w in witnesses {
        if !distinct.iter().any(|d| d.key == w.key) {
            distinct.push(w);
        }
    }
    let mut valid: Vec<Cosigned> = Vec::new();
    let mut seen: Vec<usize> = Vec::new();
    for line in lines {
        let (name, blob) = parse_sig_line(line).map_err(Refusal::Malformed)?;
        let Some(i) = distinct
            .iter()
            .position(|w| w.name == name && w.id()[..] == blob[..4])
        else {
            continue;
        };
        let time = check_one(distinct[i], body, &blob).map_err(|why| Refusal::BadCosignature {
            witness: name.to_string(),
            why,
        })?;
        if !seen.contains(&i) {
            seen.push(i);
            valid.push(Cosigned {
                name: name.to_string(),
                time,
            });
        }
    }
    if valid.len() < required {
        let missing = distinct
            .iter()
            .enumerate()
            .filter(|(i, _)| !seen.contains(i))
            .map(|(_, w)| w.name.clone())
            .collect();
        return Err(Refusal::Quorum {
            required,
            valid,
            missing,
        });
    }
    Ok(valid)
}

/// The cosignature lines of `from` (a witness's add-checkpoint response)
/// that verify as cosignatures by `w` over `body`. Lines by other keys are
/// ignored (tlog-witness: the client ignores unknown keys); a line by `w`
/// that fails is an error, so a witness answering with a bad cosignature
/// is reported, not silently dropped.
pub fn accept_response(w: &WitnessKey, body: &str, from: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for line in from.lines().filter(|l| !l.is_empty()) {
        if out.len() >= MAX_SIGNATURES {
            return Err("too many signature lines in the response".into());
        }
        let (name, blob) = parse_sig_line(line)?;
        if name != w.name || blob[..4] != w.id() {
            continue;
        }
        check_one(w, body, &blob).map_err(|why| format!("its cosignature {why}"))?;
        out.push(format!("{line}\n"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    const BODY: &str = "example.com/log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    fn note(extra: &[String]) -> String {
        let mut n = format!("{BODY}\n\u{2014} example.com/log AAAAAA==\n");
        for l in extra {
            n.push_str(l);
        }
        n
    }

    /// A third-party vector: made with github.com/transparency-dev/formats
    /// (note.NewSignerForCosignatureV1) and golang.org/x/mod/sumdb/note, as
    /// published with its keys in a public test suite; used as data only.
    /// Ed25519 is deterministic, so the line must come out byte for byte.
    #[test]
    fn third_party_cosignature_vector() {
        let wit_vkey =
            "witness.example.com/vector+416f103d+BK/QmJFVP3SKJOqAMhFxBQPtylo3sjwWibyFDAlZKK8B";
        let wit_seed = "BJEX3xv88eoQIKT4E+GkxZcXaJCYlQfi/GJ3NDFmZIW8";
        let log_vkey =
            "example.com/vector-log+4516a1da+ARGkVJ4QEa2MOOLGBO6i7NVSJ1FQ97tIX+w+Ku0RZ6Em";
        let text = "example.com/vector-log\n1234\nSBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I=\n";
        let log_line = "\u{2014} example.com/vector-log RRah2qlLrSlk6J8DA1HmNewppUM15Quhs5cAIb1KjBsV3otVirJTW8AFVsQtJkTW1Zny7GuoAxZpI6bUPcpM68QOIgE=\n";
        let wit_line = "\u{2014} witness.example.com/vector QW8QPQAAAABqwLUbDdj7sDNRIVjmjYgqFI6y4UJhPg/UAA8J8wAdqSd3q4PedRhkgXA4xFN/Jg5uWn7ZkBA+H/UHQs5d9hITdXmQAA==\n";
        let note = format!("{text}\n{log_line}{wit_line}");
        let w = WitnessKey::parse(wit_vkey).unwrap();
        let got = check_quorum(&note, std::slice::from_ref(&w), 1).unwrap();
        assert_eq!(got[0].time, 1_791_014_171);
        // Same key and time: the same line.
        let seed: [u8; 33] = B64.decode(wit_seed).unwrap().try_into().unwrap();
        assert_eq!(seed[0], COSIG_ED25519);
        let sk = SigningKey::from_bytes(seed[1..].try_into().unwrap());
        assert_eq!(sk.verifying_key(), w.key);
        assert_eq!(cosign(&sk, &w.name, text, 1_791_014_171), wit_line);
        // The log's line verifies with the note-signer key ID (type 0x01).
        let raw = B64.decode(log_vkey.splitn(3, '+').nth(2).unwrap()).unwrap();
        let lk = VerifyingKey::from_bytes(raw[1..].try_into().unwrap()).unwrap();
        assert_eq!(
            hex::encode(super::super::merkle::key_id("example.com/vector-log", &lk)),
            "4516a1da"
        );
        assert!(super::super::merkle::TreeHead::open(&note, &lk).is_ok());
        // Another text under the same cosignature fails.
        let other = note.replacen("1234", "1235", 1);
        assert!(matches!(
            check_quorum(&other, &[w], 1),
            Err(Refusal::BadCosignature { .. })
        ));
    }

    proptest::proptest! {
        /// Hostile notes and responses are refused or ignored, never a
        /// panic; a changed body never keeps a cosignature valid.
        #[test]
        fn arbitrary_input_never_panics(junk in ".{0,300}", at in 0usize..200, b in 0u8..128) {
            let sk = key(3);
            let wk = WitnessKey { name: "w/p".into(), key: sk.verifying_key() };
            let _ = check_quorum(&junk, std::slice::from_ref(&wk), 1);
            let _ = accept_response(&wk, BODY, &junk);
            let _ = WitnessKey::parse(&junk);
            let line = cosign(&sk, "w/p", BODY, 7);
            let mut body = BODY.as_bytes().to_vec();
            let i = at % body.len();
            let changed = body[i] != b;
            body[i] = b;
            if let Ok(body) = String::from_utf8(body) {
                let n = format!("{body}\n{line}");
                let r = check_quorum(&n, std::slice::from_ref(&wk), 1);
                proptest::prop_assert_eq!(r.is_ok(), !changed || body == BODY, "{:?}", r);
            }
        }
    }

    #[test]
    fn vkey_round_trip_and_refusals() {
        let w = WitnessKey {
            name: "w.example/a".into(),
            key: key(1).verifying_key(),
        };
        let v = w.vkey();
        assert_eq!(WitnessKey::parse(&v).unwrap(), w);
        // Base64 keys often contain '+': the key part is the rest.
        for seed in 0..64u8 {
            let w = WitnessKey {
                name: "w.example/b".into(),
                key: key(seed).verifying_key(),
            };
            assert_eq!(WitnessKey::parse(&w.vkey()).unwrap(), w);
        }
        // Same key, note-signer type: refused by name.
        let mut raw = vec![0x01];
        raw.extend_from_slice(w.key.as_bytes());
        let v1 = format!("w.example/a+{}+{}", hex::encode(w.id()), B64.encode(raw));
        assert!(WitnessKey::parse(&v1).unwrap_err().contains("0x01"));
        // Wrong key ID.
        let bad = format!("w.example/a+00000000+{}", v.rsplit('+').next().unwrap());
        assert!(WitnessKey::parse(&bad)
            .unwrap_err()
            .contains("does not match"));
        assert!(WitnessKey::parse("w.example/a+1234").is_err());
    }

    #[test]
    fn quorum_counts_distinct_valid_and_rejects_a_bad_known_line() {
        let (a, b) = (key(1), key(2));
        let wa = WitnessKey {
            name: "w/a".into(),
            key: a.verifying_key(),
        };
        let wb = WitnessKey {
            name: "w/b".into(),
            key: b.verifying_key(),
        };
        let la = cosign(&a, "w/a", BODY, 1_700_000_000);
        let lb = cosign(&b, "w/b", BODY, 1_700_000_001);
        let n = note(&[la.clone(), lb.clone()]);
        let ws = [wa.clone(), wb.clone()];
        assert_eq!(check_quorum(&n, &ws, 2).unwrap().len(), 2);
        // The same witness twice is one.
        let n2 = note(&[la.clone(), la.clone()]);
        assert!(matches!(
            check_quorum(&n2, &ws, 2),
            Err(Refusal::Quorum { .. })
        ));
        assert_eq!(check_quorum(&n2, &ws, 1).unwrap().len(), 1);
        // A cosignature over another body fails and rejects the note.
        let other = cosign(&b, "w/b", "example.com/log\n6\nAAAA\n", 1_700_000_001);
        let n3 = note(&[la.clone(), other]);
        assert!(matches!(
            check_quorum(&n3, &ws, 1),
            Err(Refusal::BadCosignature { .. })
        ));
        // Unknown keys are ignored.
        let stranger = cosign(&key(9), "w/z", BODY, 5);
        assert_eq!(
            check_quorum(&note(&[stranger, la]), &ws, 1).unwrap().len(),
            1
        );
        // The signed message is exactly the spec's.
        assert_eq!(
            cosigned_message(BODY, 1679315147),
            b"cosignature/v1\ntime 1679315147\nexample.com/log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
        let _ = lb;
    }
}
