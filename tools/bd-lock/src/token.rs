//! Operator keys and release tokens.
//!
//! A token names one loosening transition on one host: the host's
//! machine-id, the state's transition `seq` it releases (the seq the state
//! holds before the release), from, to, an expiry and a random nonce. One or
//! more operators sign it with Ed25519 (`bd-lock token`, then `bd-lock
//! cosign`). The signatures cover a fixed binary encoding, never the JSON
//! text, and the text itself must be the one canonical encoding of those
//! fields (lowercase hex, padded base64, upper-case mode names), so no two
//! texts carry the same signed content: the nonce store cannot be fooled by
//! spelling, and the seq binding makes a token open exactly one transition
//! whatever happens to the nonce store.

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use boundary::mode::Mode;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Where the host identity comes from (systemd's machine-id: present on
/// every host we target, stable across reboots, and needs no new key to
/// manage; a root attacker can rewrite it, but that only lets tokens made
/// for this host apply, and the seq binding still holds).
pub const DEFAULT_MACHINE_ID: &str = "/etc/machine-id";

/// A release token's `type` (docs/EVENTS.md: snake_case type names).
pub const TOKEN_TYPE: &str = "release_token";
/// The name tokens were written with before; still read, never written.
pub const TOKEN_TYPE_OLD: &str = "release-token";

/// One operator's signature over [`Token::message`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Sig {
    /// Signer's public key, base64.
    pub key: String,
    /// Ed25519 signature, base64.
    pub sig: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    pub v: u32,
    #[serde(rename = "type")]
    pub kind: String,
    /// The host's machine-id (32 lowercase hex digits).
    pub host: String,
    /// The state's transition seq this token releases.
    pub seq: u64,
    pub from: Mode,
    pub to: Mode,
    /// Unix seconds after which the token is refused.
    pub expires: u64,
    /// The same instant, for people.
    pub expires_at: String,
    /// 16 random bytes, lowercase hex.
    pub nonce: String,
    /// Signatures, one per distinct operator key.
    pub sigs: Vec<Sig>,
}

/// Strict lowercase hex of exactly `n` bytes.
fn canon_hex<const N: usize>(s: &str, what: &str) -> Result<[u8; N]> {
    if s.len() != 2 * N || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        bail!("{what}: not {} lowercase hex digits", 2 * N);
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).with_context(|| format!("{what}: not hex"))?;
    Ok(out)
}

/// Strict base64 of exactly `N` bytes: the text must be what encoding the
/// bytes gives back (no whitespace, no alternative padding bits).
fn canon_b64<const N: usize>(s: &str, what: &str) -> Result<[u8; N]> {
    let v = B64
        .decode(s)
        .with_context(|| format!("{what}: not base64"))?;
    let a: [u8; N] = v
        .try_into()
        .map_err(|_| anyhow::anyhow!("{what}: not {N} bytes"))?;
    if B64.encode(a) != s {
        bail!("{what}: not canonical base64");
    }
    Ok(a)
}

/// A host's machine-id as canonical lowercase hex (the file's one line).
pub fn machine_id(path: &Path) -> Result<String> {
    let t = std::fs::read_to_string(path)
        .with_context(|| format!("reading the host identity {}", path.display()))?;
    let id = t.strip_suffix('\n').unwrap_or(&t);
    canon_hex::<16>(id, &format!("{}", path.display()))?;
    Ok(id.to_string())
}

impl Token {
    #[allow(clippy::too_many_arguments)]
    pub fn message(
        host: &[u8; 16],
        seq: u64,
        from: Mode,
        to: Mode,
        expires: u64,
        nonce: &[u8; 16],
    ) -> Vec<u8> {
        let mut m = b"boundary release token v2\0".to_vec();
        m.extend_from_slice(host);
        m.extend_from_slice(&seq.to_be_bytes());
        m.extend_from_slice(&(from as u32).to_be_bytes());
        m.extend_from_slice(&(to as u32).to_be_bytes());
        m.extend_from_slice(&expires.to_be_bytes());
        m.extend_from_slice(nonce);
        m
    }

    /// Parse a token file's text, refusing anything but the canonical
    /// encoding of a version 2 token.
    pub fn parse(text: &str) -> Result<Token> {
        let raw: serde_json::Value = serde_json::from_str(text).context("not JSON")?;
        if raw.get("v").and_then(|v| v.as_u64()) == Some(1) {
            bail!("a version 1 token is bound to no host and no transition; make a new one with this bd-lock");
        }
        let tok: Token = serde_json::from_value(raw.clone()).context("not a release token")?;
        if tok.v != 2 || (tok.kind != TOKEN_TYPE && tok.kind != TOKEN_TYPE_OLD) {
            bail!("not a version 2 release token");
        }
        canon_hex::<16>(&tok.host, "host")?;
        canon_hex::<16>(&tok.nonce, "nonce")?;
        if tok.sigs.is_empty() {
            bail!("no signatures");
        }
        for (i, s) in tok.sigs.iter().enumerate() {
            canon_b64::<32>(&s.key, &format!("sigs[{i}].key"))?;
            canon_b64::<64>(&s.sig, &format!("sigs[{i}].sig"))?;
        }
        if tok.expires > MAX_EXPIRES {
            bail!("expires: after the year 9999");
        }
        // Every field as we would write it (mode names, numbers): the text
        // must hold nothing the typed token does not.
        if serde_json::to_value(&tok)? != raw {
            bail!("not the canonical encoding of its fields");
        }
        // The type is not signed (Token::message): a token written before
        // the rename reads as one of today's, and a cosign rewrites it so.
        let mut tok = tok;
        tok.kind = TOKEN_TYPE.into();
        Ok(tok)
    }

    /// `expires_at` is not signed: it must spell `expires` exactly.
    fn check_expires_at(&self) -> Result<()> {
        if self.expires_at != expires_at(self.expires) {
            bail!("expires_at does not spell expires");
        }
        Ok(())
    }

    fn msg(&self) -> Result<Vec<u8>> {
        Ok(Token::message(
            &canon_hex::<16>(&self.host, "host")?,
            self.seq,
            self.from,
            self.to,
            self.expires,
            &canon_hex::<16>(&self.nonce, "nonce")?,
        ))
    }

    /// Add `sk`'s signature (refused if that key already signed or any
    /// present signature does not verify).
    pub fn cosign(&mut self, sk: &SigningKey) -> Result<()> {
        let msg = self.msg()?;
        for (i, s) in self.sigs.iter().enumerate() {
            let (pk, sig) = decode_sig(s, i)?;
            pk.verify_strict(&msg, &sig)
                .map_err(|_| anyhow::anyhow!("sigs[{i}] does not verify: the token was altered"))?;
        }
        self.check_expires_at()?;
        let key = B64.encode(sk.verifying_key().to_bytes());
        if self.sigs.iter().any(|s| s.key == key) {
            bail!("this key already signed the token");
        }
        self.sigs.push(Sig {
            key,
            sig: B64.encode(sk.sign(&msg).to_bytes()),
        });
        Ok(())
    }
}

fn decode_sig(s: &Sig, i: usize) -> Result<(VerifyingKey, Signature)> {
    let pk = VerifyingKey::from_bytes(&canon_b64::<32>(&s.key, &format!("sigs[{i}].key"))?)
        .with_context(|| format!("sigs[{i}].key is not an Ed25519 public key"))?;
    let sig = Signature::from_bytes(&canon_b64::<64>(&s.sig, &format!("sigs[{i}].sig"))?);
    Ok((pk, sig))
}

/// 9999-12-31T23:59:59Z: the last instant RFC 3339 can spell.
const MAX_EXPIRES: u64 = 253_402_300_799;

fn expires_at(expires: u64) -> String {
    boundary::time::rfc3339_nanos(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(expires.min(MAX_EXPIRES)),
    )
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn decode_key32(s: &str, what: &str) -> Result<[u8; 32]> {
    let v = B64
        .decode(s.trim())
        .with_context(|| format!("{what}: not base64"))?;
    v.try_into()
        .map_err(|_| anyhow::anyhow!("{what}: not a 32-byte key"))
}

/// Create `path` for writing: never an existing file, never through a
/// symlink (O_CREAT|O_EXCL refuses both).
fn create_new(path: &Path, mode: u32) -> Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| format!("creating {} (refused if it exists)", path.display()))
}

pub fn keygen(out: &Path) -> Result<String> {
    let mut seed = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut seed);
    let sk = SigningKey::from_bytes(&seed);
    seed.iter_mut().for_each(|b| *b = 0);
    let pubp = {
        let mut p = out.as_os_str().to_owned();
        p.push(".pub");
        std::path::PathBuf::from(p)
    };
    // Both names are checked before either is made, so a refusal leaves
    // nothing behind; create_new still guards the race.
    for p in [out, pubp.as_path()] {
        if std::fs::symlink_metadata(p).is_ok() {
            bail!("{} exists: refusing to overwrite it", p.display());
        }
    }
    // `-o ~/.boundary/alice.key` on a fresh machine: make the directory
    // (0700, like ssh-keygen's ~/.ssh), never loosen one that exists.
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    let mut f = create_new(out, 0o600)?;
    writeln!(f, "{}", B64.encode(sk.to_bytes()))
        .and_then(|_| f.sync_all())
        .with_context(|| format!("writing {}", out.display()))?;
    let pk = B64.encode(sk.verifying_key().to_bytes());
    let mut f = create_new(&pubp, 0o644)?;
    writeln!(f, "{pk}")
        .and_then(|_| f.sync_all())
        .with_context(|| format!("writing {}", pubp.display()))?;
    Ok(pk)
}

pub fn read_signing_key(key: &Path) -> Result<SigningKey> {
    let text =
        std::fs::read_to_string(key).with_context(|| format!("reading {}", key.display()))?;
    Ok(SigningKey::from_bytes(&decode_key32(
        &text,
        &key.display().to_string(),
    )?))
}

pub fn make_token(
    key: &Path,
    host: &str,
    seq: u64,
    from: Mode,
    to: Mode,
    valid_for: std::time::Duration,
) -> Result<Token> {
    let sk = read_signing_key(key)?;
    if to >= from {
        bail!("a release token loosens: --to {to} is not looser than --from {from}");
    }
    canon_hex::<16>(host, "--host")?;
    let mut nonce = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
    let expires = (unix_now() + valid_for.as_secs().max(1)).min(MAX_EXPIRES);
    let mut t = Token {
        v: 2,
        kind: TOKEN_TYPE.into(),
        host: host.to_string(),
        seq,
        from,
        to,
        expires,
        expires_at: expires_at(expires),
        nonce: hex::encode(nonce),
        sigs: Vec::new(),
    };
    t.cosign(&sk)?;
    Ok(t)
}

/// The trusted operator keys, read the one way policy signatures read them too.
pub use boundary::opkey::operator_keys;

/// How many distinct trusted operator keys must sign a release out of
/// each mode. The operators config is TOML:
///
/// ```toml
/// [quorum]
/// lockdown-release = 2   # leaving LOCKDOWN needs two operators
/// ```
///
/// A missing file means one signature everywhere; a file that does not
/// parse, an unknown key or a quorum of 0 is an error (never a default).
#[derive(Debug, Clone, Default)]
pub struct Quorum {
    need: [u32; 6],
}

impl Quorum {
    pub fn load(path: &Path) -> Result<Quorum> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Quorum::one()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Quorum::parse(&text).with_context(|| format!("{}", path.display()))
    }

    pub fn one() -> Quorum {
        Quorum { need: [1; 6] }
    }

    pub fn parse(text: &str) -> Result<Quorum> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            #[serde(default)]
            quorum: std::collections::BTreeMap<String, u32>,
        }
        let f: File = toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.message()))?;
        let mut q = Quorum::one();
        for (k, n) in f.quorum {
            let m = k
                .strip_suffix("-release")
                .and_then(|m| m.parse::<Mode>().ok())
                .filter(|m| m.as_str().to_ascii_lowercase() + "-release" == k)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "[quorum] {k}: unknown key (MODE-release, e.g. lockdown-release)"
                    )
                })?;
            if n == 0 {
                bail!("[quorum] {k}: 0 signatures would need no ceremony");
            }
            q.need[m as usize] = n;
        }
        Ok(q)
    }

    /// Signatures needed to release out of `from`.
    pub fn need(&self, from: Mode) -> u32 {
        self.need[from as usize]
    }
}

/// Check a token against this host, the state's current transition seq,
/// the trusted keys and the quorum for its `from` mode, and its expiry (not
/// the nonce or whether its modes are the ones asked for).
pub fn verify(
    tok: &Token,
    keys: &[VerifyingKey],
    quorum: &Quorum,
    host: &str,
    seq: u64,
    now: u64,
) -> Result<()> {
    if tok.host != host {
        bail!("token is for host {}, this is {host}", tok.host);
    }
    if tok.seq != seq {
        bail!(
            "token releases transition seq {}, the state is at seq {seq} (used, or made for another transition)",
            tok.seq
        );
    }
    let msg = tok.msg()?;
    let mut seen: Vec<[u8; 32]> = Vec::new();
    let (mut trusted, mut foreign) = (0u32, 0u32);
    for (i, s) in tok.sigs.iter().enumerate() {
        let (pk, sig) = decode_sig(s, i)?;
        if seen.contains(pk.as_bytes()) {
            bail!("sigs[{i}]: the same key signed twice (a quorum needs distinct keys)");
        }
        seen.push(*pk.as_bytes());
        pk.verify_strict(&msg, &sig).map_err(|_| {
            anyhow::anyhow!("sigs[{i}]: signature does not verify (tampered or wrong key)")
        })?;
        if keys.iter().any(|k| k.as_bytes() == pk.as_bytes()) {
            trusted += 1;
        } else {
            foreign += 1;
        }
    }
    tok.check_expires_at()?;
    let need = quorum.need(tok.from);
    if trusted < need {
        bail!(
            "releasing {} needs signatures from {need} distinct trusted operator keys, the token has {trusted}{}",
            tok.from,
            if foreign > 0 {
                format!(" ({foreign} more signed by a key that is not a trusted operator key)")
            } else {
                String::new()
            }
        );
    }
    if now >= tok.expires {
        bail!("token expired at {}", tok.expires_at);
    }
    Ok(())
}

/// Used nonces live beside the state file (`<state>.nonces`, one
/// `HEX EXPIRY` per line), appended and fsynced before a token takes effect.
/// Nonces are canonical lowercase hex (Token::parse refuses any other
/// spelling), so comparing text is comparing bytes.
pub fn nonces_path(state: &Path) -> std::path::PathBuf {
    let mut p = state.as_os_str().to_owned();
    p.push(".nonces");
    p.into()
}

pub fn nonce_used(state: &Path, nonce: &str) -> Result<bool> {
    let Some(bytes) = boundary::safefile::read_private(&nonces_path(state))? else {
        return Ok(false);
    };
    Ok(String::from_utf8_lossy(&bytes).lines().any(|l| {
        l.split_whitespace()
            .next()
            .is_some_and(|n| n.eq_ignore_ascii_case(nonce))
    }))
}

/// Appended through lib::safefile: private directory, never through a
/// symlink, hard link or FIFO someone planted at the guessable name.
pub fn record_nonce(state: &Path, nonce: &str, expires: u64) -> Result<()> {
    let line = format!("{nonce} {expires}\n");
    boundary::safefile::append_private(&nonces_path(state), line.as_bytes(), 0o600)
}

#[cfg(test)]
mod fuzz {
    //! The token parser against arbitrary and mutated input, with a fixed
    //! case budget so `cargo test` (and CI) exercises the class: never a
    //! panic, and nothing but the canonical text of a token parses.
    use super::*;
    use proptest::prelude::*;

    fn good() -> (SigningKey, Token) {
        let sk = SigningKey::from_bytes(&[7u8; 32]);
        let mut t = Token {
            v: 2,
            kind: TOKEN_TYPE.into(),
            host: "0123456789abcdef0123456789abcdef".into(),
            seq: 3,
            from: Mode::Lockdown,
            to: Mode::Open,
            expires: 4_000_000_000,
            expires_at: expires_at(4_000_000_000),
            nonce: "00112233445566778899aabbccddeeff".into(),
            sigs: Vec::new(),
        };
        t.cosign(&sk).unwrap();
        (sk, t)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_text_never_panics(s in ".{0,400}") {
            let _ = Token::parse(&s);
        }

        /// Flip one byte of a valid token's text: either it no longer
        /// parses, or it is the same token (whitespace between fields), or
        /// its signature no longer verifies.
        #[test]
        fn mutated_tokens_do_not_verify(pos in 0usize..2000, byte in any::<u8>()) {
            let (sk, t) = good();
            let text = serde_json::to_string_pretty(&t).unwrap();
            let mut b = text.clone().into_bytes();
            let i = pos % b.len();
            b[i] = byte;
            let Ok(s) = String::from_utf8(b) else { return Ok(()) };
            if let Ok(m) = Token::parse(&s) {
                let keys = [sk.verifying_key()];
                let same = serde_json::to_value(&m).unwrap() == serde_json::to_value(&t).unwrap();
                let ok = verify(&m, &keys, &Quorum::one(), &m.host.clone(), m.seq, 0).is_ok();
                prop_assert!(same || !ok, "a mutated token verified: {s}");
                if same {
                    prop_assert_eq!(&m.nonce, &t.nonce);
                }
            }
        }
    }

    /// A token written before the type was renamed (`release-token`)
    /// still parses and verifies, and reads back under today's name; a
    /// new one is written with `release_token`; any other type is refused.
    #[test]
    fn old_type_name_still_reads() {
        let (sk, t) = good();
        let new = serde_json::to_string(&t).unwrap();
        assert!(new.contains(r#""type":"release_token""#), "{new}");
        let old = new.replace(r#""type":"release_token""#, r#""type":"release-token""#);
        let m = Token::parse(&old).unwrap();
        assert_eq!(m.kind, TOKEN_TYPE);
        verify(&m, &[sk.verifying_key()], &Quorum::one(), &m.host, 3, 0).unwrap();
        let other = new.replace(r#""type":"release_token""#, r#""type":"release_tokens""#);
        assert!(Token::parse(&other).is_err());
    }

    #[test]
    fn good_token_round_trips_and_verifies() {
        let (sk, t) = good();
        let m = Token::parse(&serde_json::to_string(&t).unwrap()).unwrap();
        verify(&m, &[sk.verifying_key()], &Quorum::one(), &m.host, 3, 0).unwrap();
    }
}
