//! Ecosystem check (issue 13): cloudflare azul's `signed_note` crate, an
//! independent C2SP signed-note implementation from crates.io, reads and
//! verifies bd-log's notes: the identity signature with the vkey `bd-log
//! vkey` prints, the epoch signature with KEY.pub's key, both together;
//! a changed note fails; and it produces our identity line byte for byte
//! from the same key. Cosignatures: signed_note has no cosignature/v1 type,
//! so a small Verifier/Signer for it is written here from the spec
//! (c2sp.org/tlog-cosignature) and plugged into signed_note's note
//! handling; signed_note checks the spec witness's cosignature that `bd-log
//! witness` kept, and a cosignature line signed_note adds is accepted by
//! `bd-log verify --anchor -w`.

mod common;
#[path = "common/wcli.rs"]
mod wcli;
#[path = "common/witness_server.rs"]
mod witness_server;

use base64::Engine as _;
use common::*;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use signed_note::{Note, NoteError, StandardSigner, StandardVerifier, VerifierList, Verifiers};
use wcli::*;
use witness_server::{Logs, Witness, WitnessId};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// cosignature/v1 (type 0x04) for signed_note, from the spec's text.
struct CosigV1 {
    name: String,
    key: VerifyingKey,
    sk: Option<SigningKey>,
    time: u64,
}

impl CosigV1 {
    fn id(&self) -> u32 {
        let mut k = vec![0x04];
        k.extend_from_slice(self.key.as_bytes());
        signed_note::key_id(&self.name, &k)
    }
    fn message(time: u64, text: &[u8]) -> Vec<u8> {
        let mut m = format!("cosignature/v1\ntime {time}\n").into_bytes();
        m.extend_from_slice(text);
        m
    }
}

impl signed_note::Verifier for CosigV1 {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id()
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        if sig.len() != 72 {
            return false;
        }
        let time = u64::from_be_bytes(sig[..8].try_into().unwrap());
        let s = ed25519_dalek::Signature::from_slice(&sig[8..]).unwrap();
        self.key.verify(&Self::message(time, msg), &s).is_ok()
    }
}

impl signed_note::Signer for CosigV1 {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id()
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ed25519_dalek::SignatureError> {
        let sk = self.sk.as_ref().expect("a signing cosigner");
        let mut out = self.time.to_be_bytes().to_vec();
        out.extend_from_slice(&sk.sign(&Self::message(self.time, msg)).to_bytes());
        Ok(out)
    }
}

fn verifiers(list: Vec<Box<dyn signed_note::Verifier>>) -> VerifierList {
    VerifierList::new(list)
}

fn names(sigs: &[signed_note::Signature]) -> Vec<(String, u32)> {
    sigs.iter()
        .map(|s| (s.name().to_string(), s.id()))
        .collect()
}

#[test]
fn signed_note_crate_verifies_our_notes_and_cosignatures() {
    let env = Env::new();
    append_with(&env, &records(0, 7), &[]);
    let n = env.path("note.txt");
    note(&env, &n);
    let bytes = std::fs::read(&n).unwrap();
    let origin = origin_of(&n);
    let note = Note::from_bytes(&bytes).expect("signed_note parses our note");

    // The identity vkey, parsed and ID-checked by signed_note.
    let id_vkey = identity_vkey(&env);
    let idv = StandardVerifier::new(&id_vkey).expect("signed_note reads the vkey");
    let (ok, other) = note
        .verify(&verifiers(vec![Box::new(idv.clone())]))
        .unwrap();
    assert_eq!(
        names(&ok),
        vec![(origin.clone(), signed_note::Verifier::key_id(&idv))]
    );
    assert_eq!(other.len(), 1, "the epoch line is an unknown key to it");

    // The epoch key of KEY.pub, as a vkey made by signed_note.
    let e = note_epoch(&env, &n);
    let ek = boundary::log::keys::load_public(&env.pubkey)
        .unwrap()
        .get(e)
        .unwrap();
    let ev = StandardVerifier::new(&signed_note::new_ed25519_verifier_key(&origin, &ek)).unwrap();
    let (ok, _) = note.verify(&verifiers(vec![Box::new(ev.clone())])).unwrap();
    assert_eq!(ok.len(), 1);
    let both = verifiers(vec![Box::new(idv.clone()), Box::new(ev.clone())]);
    let (ok, other) = note.verify(&both).unwrap();
    assert_eq!((ok.len(), other.len()), (2, 0));

    // A changed note: both signatures fail under signed_note.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let bumped = text.replacen(
        &format!("\n{}\n", lines[1]),
        &format!("\n{}\n", lines[1].parse::<u64>().unwrap() + 1),
        1,
    );
    let bad = Note::from_bytes(bumped.as_bytes()).unwrap();
    assert!(matches!(
        bad.verify(&verifiers(vec![Box::new(idv.clone())])),
        Err(NoteError::InvalidSignature { .. })
    ));

    // signed_note signing with the same identity key writes our line.
    let k = std::fs::read_to_string(&env.key).unwrap();
    let seed = B64.decode(k.trim().rsplit(" id=").next().unwrap()).unwrap();
    let mut raw = vec![0x01];
    raw.extend_from_slice(&seed);
    let vk_part = id_vkey.split('+').nth(1).unwrap();
    let skey = format!("PRIVATE+KEY+{origin}+{vk_part}+{}", B64.encode(&raw));
    let signer = StandardSigner::new(&skey).expect("signed_note reads the identity key");
    let body_end = text.find("\n\n").unwrap() + 1;
    let mut theirs = Note::new(&text.as_bytes()[..body_end], &[]).unwrap();
    theirs.add_sigs(&[&signer]).unwrap();
    let theirs = String::from_utf8(theirs.to_bytes()).unwrap();
    let their_line = theirs.lines().last().unwrap();
    assert_eq!(their_line, sig_lines(&n)[1], "byte for byte");

    // A witness cosigns through bd-log witness; signed_note checks it.
    let (_, ik) = parse_log_vkey(&id_vkey);
    let w = Witness::start(
        WitnessId::new("w.example/interop"),
        Logs::from([(origin.clone(), ik)]),
        env.path("w.state"),
    );
    let o = cosign(&env, &n, &[(&w.url, &w.vkey())], &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let cosigned = std::fs::read(&n).unwrap();
    let wv = CosigV1 {
        name: "w.example/interop".into(),
        key: w.id.sk.verifying_key(),
        sk: None,
        time: 0,
    };
    let wid = wv.id();
    let cn = Note::from_bytes(&cosigned).unwrap();
    let (ok, _) = cn
        .verify(&verifiers(vec![Box::new(wv), Box::new(ev.clone())]))
        .unwrap();
    assert!(
        names(&ok).contains(&("w.example/interop".to_string(), wid)),
        "{:?}",
        names(&ok)
    );
    // The same cosignature line on the changed note fails.
    let wline = sig_lines(&n).last().unwrap().clone();
    let moved = format!("{}\n{wline}\n", bumped.trim_end());
    let wv2 = CosigV1 {
        name: "w.example/interop".into(),
        key: w.id.sk.verifying_key(),
        sk: None,
        time: 0,
    };
    assert!(matches!(
        Note::from_bytes(moved.as_bytes())
            .unwrap()
            .verify(&verifiers(vec![Box::new(wv2)])),
        Err(NoteError::InvalidSignature { .. })
    ));
    assert!(verifiers(vec![]).verifier("x", 1).is_err());
}

#[test]
fn a_cosignature_added_by_signed_note_is_accepted_by_bd_log_verify() {
    let env = Env::new();
    append_with(&env, &records(0, 4), &[]);
    let n = env.path("note.txt");
    note(&env, &n);
    let text = std::fs::read(&n).unwrap();
    let wid = WitnessId::new("w.example/third-party");
    let signer = CosigV1 {
        name: wid.name.clone(),
        key: wid.sk.verifying_key(),
        sk: Some(wid.sk.clone()),
        time: 1_795_000_000,
    };
    let mut note = Note::from_bytes(&text).unwrap();
    note.add_sigs(&[&signer]).unwrap();
    let cos = env.path("cosigned.txt");
    std::fs::write(&cos, note.to_bytes()).unwrap();
    let vkey = wid.vkey();
    let o = env.verify(&env.log, &["--anchor", &s(&cos), "-w", &vkey]);
    assert_eq!(code(&o), 0, "{} {}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("w.example/third-party at 1795000000"),
        "{}",
        stdout(&o)
    );
    // Twin: the note signed_note cosigned, with another time in the line
    // than the one signed, is refused.
    let bad = CosigV1 {
        time: 1_795_000_001,
        ..signer
    };
    struct Lying(CosigV1);
    impl signed_note::Signer for Lying {
        fn name(&self) -> &str {
            &self.0.name
        }
        fn key_id(&self) -> u32 {
            self.0.id()
        }
        fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ed25519_dalek::SignatureError> {
            let mut v = signed_note::Signer::sign(&self.0, msg)?;
            v[7] ^= 1;
            Ok(v)
        }
    }
    let mut note = Note::from_bytes(&text).unwrap();
    note.add_sigs(&[&Lying(bad)]).unwrap();
    std::fs::write(&cos, note.to_bytes()).unwrap();
    let o = env.verify(&env.log, &["--anchor", &s(&cos), "-w", &vkey]);
    assert_eq!(code(&o), 1, "{} {}", stdout(&o), stderr(&o));
}
