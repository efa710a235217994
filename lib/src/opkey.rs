//! Operator keys and detached signatures over policy files.
//!
//! Key files are the ones `bd-lock keygen` writes: the secret key is the
//! base64 Ed25519 seed on one line (mode 0600), the public key the base64
//! key in `FILE.pub`. The host trusts the public keys in a directory of
//! `*.pub` files (default `/etc/boundary/operators.d`) or in one file with a
//! key per line (`#` comments allowed).
//!
//! A policy signature is a JSON file beside the policy (`POLICY.sig`). The
//! Ed25519 signature covers a fixed encoding of the file's role and the
//! SHA-256 of its exact bytes, never the TOML text re-read: re-formatting a
//! signed file breaks its signature, which is the point.

use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

pub use ed25519_dalek::VerifyingKey as PublicKey;

/// Where the host's trusted operator public keys live by default.
pub const DEFAULT_OPERATOR_KEYS: &str = "/etc/boundary/operators.d";

fn decode_key32(s: &str, what: &str) -> Result<[u8; 32]> {
    let v = B64
        .decode(s.trim())
        .map_err(|_| anyhow!("{what}: not base64"))?;
    v.try_into()
        .map_err(|_| anyhow!("{what}: not a 32-byte key"))
}

/// Read a secret key file (base64 seed).
pub fn read_secret(path: &Path) -> Result<SigningKey> {
    let mut text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
    );
    let seed = zeroize::Zeroizing::new(decode_key32(&text, &path.display().to_string())?);
    zeroize::Zeroize::zeroize(&mut *text);
    Ok(SigningKey::from_bytes(&seed))
}

/// The trusted operator keys: a file of base64 keys (one per line, `#`
/// comments) or a directory whose `*.pub` files are such files.
pub fn operator_keys(path: &Path) -> Result<Vec<VerifyingKey>> {
    let mut files = Vec::new();
    if path.is_dir() {
        for e in std::fs::read_dir(path).with_context(|| format!("reading {}", path.display()))? {
            let p = e
                .with_context(|| format!("reading {}", path.display()))?
                .path();
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
                .map_err(|_| anyhow!("{what}: not an Ed25519 public key"))?;
            keys.push(k);
        }
    }
    if keys.is_empty() {
        bail!("no operator keys in {}", path.display());
    }
    Ok(keys)
}

/// What a signed file is for: a policy signature does not sign an overlay
/// and the reverse, so a signed file cannot be passed off in the other role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Policy,
    Overlay,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Policy => "policy",
            Role::Overlay => "overlay",
        }
    }
}

/// `POLICY.sig`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySig {
    pub v: u32,
    #[serde(rename = "type")]
    pub kind: String,
    pub role: Role,
    /// SHA-256 of the signed file's bytes, hex.
    pub sha256: String,
    /// Signer's public key, base64.
    pub key: String,
    /// Ed25519 over [`PolicySig::message`], base64.
    pub sig: String,
}

impl PolicySig {
    pub fn message(role: Role, digest: &[u8; 32]) -> Vec<u8> {
        let mut m = b"boundary policy signature v1\0".to_vec();
        m.extend_from_slice(role.as_str().as_bytes());
        m.push(0);
        m.extend_from_slice(digest);
        m
    }
}

/// A policy signature file's `type` (docs/EVENTS.md: snake_case names).
pub const SIG_TYPE: &str = "policy_signature";
/// The name signature files were written with before; still read.
pub const SIG_TYPE_OLD: &str = "policy-signature";

/// The signature file of `path`: `path` + `.sig`.
pub fn sig_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".sig");
    p.into()
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Sign `bytes` (the exact contents of a policy or overlay file).
pub fn sign(sk: &SigningKey, role: Role, bytes: &[u8]) -> PolicySig {
    let d = sha256(bytes);
    let sig = sk.sign(&PolicySig::message(role, &d));
    PolicySig {
        v: 1,
        kind: SIG_TYPE.into(),
        role,
        sha256: hex::encode(d),
        key: B64.encode(sk.verifying_key().to_bytes()),
        sig: B64.encode(sig.to_bytes()),
    }
}

/// Check that `bytes` are signed, in `role`, by one of `keys`, with the
/// signature file at `sig_file`. Returns the signer's key (base64).
pub fn verify_file(
    bytes: &[u8],
    role: Role,
    sig_file: &Path,
    keys: &[VerifyingKey],
) -> Result<String> {
    let text = match std::fs::read_to_string(sig_file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("{}: no signature (unsigned)", sig_file.display())
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", sig_file.display())),
    };
    let s: PolicySig = serde_json::from_str(&text)
        .map_err(|e| anyhow!("{}: not a policy signature: {e}", sig_file.display()))?;
    let what = sig_file.display();
    // The type is not signed (PolicySig::message): files signed before
    // the rename keep verifying.
    if s.v != 1 || (s.kind != SIG_TYPE && s.kind != SIG_TYPE_OLD) {
        bail!("{what}: not a version 1 policy signature");
    }
    if s.role != role {
        bail!(
            "{what}: signed as the {} but used as the {}",
            s.role.as_str(),
            role.as_str()
        );
    }
    let d = sha256(bytes);
    if s.sha256 != hex::encode(d) {
        bail!("{what}: the file changed since it was signed (SHA-256 differs)");
    }
    let pk = VerifyingKey::from_bytes(&decode_key32(&s.key, &format!("{what}: key"))?)
        .map_err(|_| anyhow!("{what}: key is not an Ed25519 public key"))?;
    if !keys.iter().any(|k| k.as_bytes() == pk.as_bytes()) {
        bail!("{what}: signed by a key that is not a trusted operator key");
    }
    let raw = B64
        .decode(s.sig.trim())
        .map_err(|_| anyhow!("{what}: signature is not base64"))?;
    let sig = Signature::from_slice(&raw)
        .map_err(|_| anyhow!("{what}: signature has the wrong length"))?;
    pk.verify_strict(&PolicySig::message(role, &d), &sig)
        .map_err(|_| anyhow!("{what}: signature does not verify (tampered or wrong key)"))?;
    Ok(s.key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_every_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let sk = SigningKey::from_bytes(&[7; 32]);
        let other = SigningKey::from_bytes(&[8; 32]);
        let keys = vec![sk.verifying_key()];
        let body = b"[[rule]]\nname = \"all\"\ndecision = \"deny\"\n";
        let sigf = dir.path().join("p.toml.sig");
        let put = |s: &PolicySig| std::fs::write(&sigf, serde_json::to_string(s).unwrap()).unwrap();

        put(&sign(&sk, Role::Policy, body));
        assert!(verify_file(body, Role::Policy, &sigf, &keys).is_ok());
        let e = verify_file(b"changed", Role::Policy, &sigf, &keys).unwrap_err();
        assert!(e.to_string().contains("changed since"), "{e}");
        let e = verify_file(body, Role::Overlay, &sigf, &keys).unwrap_err();
        assert!(e.to_string().contains("used as the overlay"), "{e}");

        put(&sign(&other, Role::Policy, body));
        let e = verify_file(body, Role::Policy, &sigf, &keys).unwrap_err();
        assert!(e.to_string().contains("not a trusted operator key"), "{e}");

        // A trusted key named, but the signature made by another key.
        let mut forged = sign(&other, Role::Policy, body);
        forged.key = B64.encode(sk.verifying_key().to_bytes());
        put(&forged);
        let e = verify_file(body, Role::Policy, &sigf, &keys).unwrap_err();
        assert!(e.to_string().contains("does not verify"), "{e}");

        std::fs::remove_file(&sigf).unwrap();
        let e = verify_file(body, Role::Policy, &sigf, &keys).unwrap_err();
        assert!(e.to_string().contains("unsigned"), "{e}");
    }

    /// Signature files written before the type was renamed
    /// (`policy-signature`) still verify; new ones say `policy_signature`;
    /// any other type is refused.
    #[test]
    fn old_type_name_still_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let sk = SigningKey::from_bytes(&[7; 32]);
        let keys = vec![sk.verifying_key()];
        let body = b"[[rule]]\nname = \"all\"\ndecision = \"deny\"\n";
        let sigf = dir.path().join("p.toml.sig");
        let new = serde_json::to_string(&sign(&sk, Role::Policy, body)).unwrap();
        assert!(new.contains(r#""type":"policy_signature""#), "{new}");
        std::fs::write(&sigf, &new).unwrap();
        verify_file(body, Role::Policy, &sigf, &keys).unwrap();
        let old = new.replace("policy_signature", "policy-signature");
        std::fs::write(&sigf, &old).unwrap();
        verify_file(body, Role::Policy, &sigf, &keys).unwrap();
        std::fs::write(&sigf, new.replace("policy_signature", "signature")).unwrap();
        assert!(verify_file(body, Role::Policy, &sigf, &keys).is_err());
    }
}
