//! Operator keys and release tokens.
//!
//! A token is a JSON object naming one loosening transition (from, to), an
//! expiry and a random nonce, signed with an operator's Ed25519 key. The
//! signature covers a fixed binary encoding, never the JSON text, so
//! re-formatting the file cannot change what was signed.

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use boundary::mode::Mode;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    pub v: u32,
    #[serde(rename = "type")]
    pub kind: String,
    pub from: Mode,
    pub to: Mode,
    /// Unix seconds after which the token is refused.
    pub expires: u64,
    /// The same instant, for people.
    pub expires_at: String,
    /// 16 random bytes, hex.
    pub nonce: String,
    /// Signer's public key, base64.
    pub key: String,
    /// Ed25519 signature over [`Token::message`], base64.
    pub sig: String,
}

impl Token {
    pub fn message(from: Mode, to: Mode, expires: u64, nonce: &[u8; 16]) -> Vec<u8> {
        let mut m = b"boundary release token v1\0".to_vec();
        m.extend_from_slice(&(from as u32).to_be_bytes());
        m.extend_from_slice(&(to as u32).to_be_bytes());
        m.extend_from_slice(&expires.to_be_bytes());
        m.extend_from_slice(nonce);
        m
    }

    pub fn nonce_bytes(&self) -> Result<[u8; 16]> {
        let v = hex::decode(&self.nonce).context("token nonce is not hex")?;
        v.try_into()
            .map_err(|_| anyhow::anyhow!("token nonce is not 16 bytes"))
    }
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
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .with_context(|| format!("creating {}", out.display()))?;
    writeln!(f, "{}", B64.encode(sk.to_bytes()))
        .and_then(|_| f.sync_all())
        .with_context(|| format!("writing {}", out.display()))?;
    let pk = B64.encode(sk.verifying_key().to_bytes());
    std::fs::write(&pubp, format!("{pk}\n"))
        .with_context(|| format!("writing {}", pubp.display()))?;
    Ok(pk)
}

pub fn make_token(
    key: &Path,
    from: Mode,
    to: Mode,
    valid_for: std::time::Duration,
) -> Result<Token> {
    let text =
        std::fs::read_to_string(key).with_context(|| format!("reading {}", key.display()))?;
    let sk = SigningKey::from_bytes(&decode_key32(&text, &key.display().to_string())?);
    if to >= from {
        bail!("a release token loosens: --to {to} is not looser than --from {from}");
    }
    let mut nonce = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
    let expires = unix_now() + valid_for.as_secs().max(1);
    let sig = sk.sign(&Token::message(from, to, expires, &nonce));
    Ok(Token {
        v: 1,
        kind: "release-token".into(),
        from,
        to,
        expires,
        expires_at: boundary::time::rfc3339_nanos(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(expires),
        ),
        nonce: hex::encode(nonce),
        key: B64.encode(sk.verifying_key().to_bytes()),
        sig: B64.encode(sig.to_bytes()),
    })
}

/// The trusted operator keys: a file of base64 keys (one per line, `#`
/// comments) or a directory whose `*.pub` files are such files.
pub fn operator_keys(path: &Path) -> Result<Vec<VerifyingKey>> {
    let mut files = Vec::new();
    if path.is_dir() {
        for e in std::fs::read_dir(path).with_context(|| format!("reading {}", path.display()))? {
            let p = e?.path();
            if p.extension().is_some_and(|x| x == "pub") {
                files.push(p);
            }
        }
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    let mut keys = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f)
            .with_context(|| format!("reading operator keys {}", f.display()))?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let what = format!("{} line {}", f.display(), i + 1);
            let k = VerifyingKey::from_bytes(&decode_key32(line, &what)?)
                .with_context(|| format!("{what}: not an Ed25519 public key"))?;
            keys.push(k);
        }
    }
    if keys.is_empty() {
        bail!("no operator keys in {}", path.display());
    }
    Ok(keys)
}

/// Check a token's signature, signer and expiry (not the nonce or modes).
pub fn verify(tok: &Token, keys: &[VerifyingKey], now: u64) -> Result<()> {
    if tok.v != 1 || tok.kind != "release-token" {
        bail!("not a version 1 release token");
    }
    let pk = VerifyingKey::from_bytes(&decode_key32(&tok.key, "token key")?)
        .context("token key is not an Ed25519 public key")?;
    if !keys.iter().any(|k| k.as_bytes() == pk.as_bytes()) {
        bail!("token is signed by a key that is not a trusted operator key");
    }
    let sig = B64
        .decode(tok.sig.trim())
        .context("token signature: not base64")?;
    let sig = Signature::from_slice(&sig).context("token signature: wrong length")?;
    let msg = Token::message(tok.from, tok.to, tok.expires, &tok.nonce_bytes()?);
    pk.verify_strict(&msg, &sig)
        .map_err(|_| anyhow::anyhow!("token signature does not verify (tampered or wrong key)"))?;
    if now >= tok.expires {
        bail!("token expired at {}", tok.expires_at);
    }
    Ok(())
}

/// Used nonces live beside the state file (`<state>.nonces`, one
/// `HEX EXPIRY` per line), appended and fsynced before a token takes effect.
pub fn nonces_path(state: &Path) -> std::path::PathBuf {
    let mut p = state.as_os_str().to_owned();
    p.push(".nonces");
    p.into()
}

pub fn nonce_used(state: &Path, nonce: &str) -> Result<bool> {
    let p = nonces_path(state);
    match std::fs::read_to_string(&p) {
        Ok(t) => Ok(t
            .lines()
            .any(|l| l.split_whitespace().next() == Some(nonce))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

pub fn record_nonce(state: &Path, nonce: &str, expires: u64) -> Result<()> {
    let p = nonces_path(state);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&p)
        .with_context(|| format!("opening {}", p.display()))?;
    writeln!(f, "{nonce} {expires}")
        .and_then(|_| f.sync_all())
        .with_context(|| format!("writing {}", p.display()))
}
