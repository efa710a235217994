//! bd-log keys: forward-secure, per-epoch Ed25519 keys.
//!
//! `keygen` draws a 32-byte seed `s0`; the seed of epoch i+1 is
//! `s(i+1) = SHA-256("boundary-log-epoch" || s(i))` and the Ed25519 key of
//! epoch i is the one whose RFC 8032 secret is `SHA-256("boundary-log-key" ||
//! s(i))`. Both steps are one-way, so whoever holds the seed of epoch k can
//! derive every later key and no earlier one.
//!
//! Files (base64 throughout, as the operator keys of lib::opkey):
//!
//! ```text
//! KEY      bdlog-key v2 epoch=E epochs=N started=UNIX seed=<base64 s(E)> id=<base64 i>
//! KEY.pub  bdlog-pub v2 epochs=N
//!          <base64 public key of epoch 0>
//!          ...                              (N lines)
//! ```
//!
//! The public file lists every epoch's public key, made at setup, so a
//! verifier needs nothing from the appending host. The appender keeps only
//! the current epoch's seed: [`store_secret`] rewrites the file atomically
//! (a new file renamed over the old one, both synced), and the old seed is
//! zeroized in memory.
//!
//! `id=` is the seed of the log's **identity key**, an Ed25519 key that does
//! not evolve. It signs exported notes next to the epoch key (see
//! [`sign_note`]) so that a C2SP witness, configured once with one vkey per
//! log (`bd-log vkey`), keeps cosigning as epochs pass. bd-log's own
//! verifiers never load it: KEY.pub holds epoch keys only, and a note or a
//! checkpoint counts for them only with the right epoch's signature. A key
//! written before the identity key existed has no `id=` and still loads;
//! its notes carry the epoch signature alone. The old one-line hex keys (and a one-line base64 key
//! as `bd-lock keygen` writes) still load, as a key with a single epoch, so
//! without forward security.

use super::KeyError;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use zeroize::{Zeroize, Zeroizing};

/// Epochs `keygen` makes unless told: a year and a day of hourly epochs.
pub const DEFAULT_EPOCHS: u64 = 8784;
/// Largest epoch count `keygen` accepts (the public file grows 45 bytes an epoch).
pub const MAX_EPOCHS: u64 = 1 << 20;

const SEED_CTX: &[u8] = b"boundary-log-epoch";
const KEY_CTX: &[u8] = b"boundary-log-key";

/// The seed of the next epoch.
pub fn next_seed(s: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut h = Sha256::new();
    h.update(SEED_CTX);
    h.update(s);
    Zeroizing::new(h.finalize().into())
}

/// The Ed25519 key of the epoch whose seed is `s`.
pub fn epoch_key(s: &[u8; 32]) -> SigningKey {
    let mut h = Sha256::new();
    h.update(KEY_CTX);
    h.update(s);
    let k: Zeroizing<[u8; 32]> = Zeroizing::new(h.finalize().into());
    SigningKey::from_bytes(&k)
}

/// The appender's secret: the current epoch's seed, nothing older.
pub struct SecretKey {
    epoch: u64,
    epochs: u64,
    /// Unix seconds when this epoch began (to know when to evolve).
    pub started: u64,
    seed: Zeroizing<[u8; 32]>,
    /// An old one-line key: the seed is the Ed25519 secret itself, one epoch.
    legacy: bool,
    /// The identity key's secret (absent in keys made before it existed).
    id: Option<Zeroizing<[u8; 32]>>,
}

impl SecretKey {
    /// A fresh key at epoch 0.
    pub fn generate(epochs: u64) -> SecretKey {
        let mut seed = Zeroizing::new([0u8; 32]);
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut seed[..]);
        let mut id = Zeroizing::new([0u8; 32]);
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut id[..]);
        SecretKey {
            epoch: 0,
            epochs: epochs.max(1),
            started: now_secs(),
            seed,
            legacy: false,
            id: Some(id),
        }
    }

    /// The long-lived identity key witnesses are configured with, if this
    /// key has one.
    pub fn identity_key(&self) -> Option<SigningKey> {
        self.id.as_ref().map(|s| SigningKey::from_bytes(s))
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn epochs(&self) -> u64 {
        self.epochs
    }

    pub fn is_legacy(&self) -> bool {
        self.legacy
    }

    /// This epoch's signing key.
    pub fn signing_key(&self) -> SigningKey {
        if self.legacy {
            SigningKey::from_bytes(&self.seed)
        } else {
            epoch_key(&self.seed)
        }
    }

    /// The key of a later epoch `e` (>= the current one), derived without
    /// changing this key: `None` for an earlier epoch (that is the point) or
    /// one past the last.
    pub fn signing_key_at(&self, e: u64) -> Option<SigningKey> {
        if e < self.epoch || e >= self.epochs {
            return None;
        }
        if e == self.epoch {
            return Some(self.signing_key());
        }
        let mut s = next_seed(&self.seed);
        for _ in self.epoch + 1..e {
            s = next_seed(&s);
        }
        Some(epoch_key(&s))
    }

    /// Moves forward to epoch `e`, erasing every older seed from memory.
    /// Returns false (and stays put) for an earlier epoch or one past the
    /// last; the caller stores the key with [`store_secret`].
    pub fn evolve_to(&mut self, e: u64) -> bool {
        if e <= self.epoch || e >= self.epochs {
            return e == self.epoch;
        }
        while self.epoch < e {
            // The old seed is overwritten in place by Zeroizing's drop.
            self.seed = next_seed(&self.seed);
            self.epoch += 1;
        }
        self.started = now_secs();
        true
    }

    fn to_text(&self) -> Zeroizing<String> {
        let mut b64 = Zeroizing::new(B64.encode(&self.seed[..]));
        let mut id = Zeroizing::new(
            self.id
                .as_ref()
                .map(|i| format!(" id={}", B64.encode(&i[..])))
                .unwrap_or_default(),
        );
        let s = Zeroizing::new(format!(
            "bdlog-key v2 epoch={} epochs={} started={} seed={}{}\n",
            self.epoch, self.epochs, self.started, *b64, *id
        ));
        b64.zeroize();
        id.zeroize();
        s
    }

    /// The public file for a fresh key (epoch 0): every epoch's public key.
    pub fn public_text(&self) -> String {
        let mut out = format!("bdlog-pub v2 epochs={}\n", self.epochs);
        if self.legacy {
            out.push_str(&B64.encode(self.signing_key().verifying_key().to_bytes()));
            out.push('\n');
            return out;
        }
        let mut s = Zeroizing::new(*self.seed);
        for i in 0..self.epochs {
            if i > 0 {
                s = next_seed(&s);
            }
            out.push_str(&B64.encode(epoch_key(&s).verifying_key().to_bytes()));
            out.push('\n');
        }
        out
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Every epoch's public key, as `KEY.pub` lists them. Points are decoded on
/// first use only: a verifier touches a handful of the thousands.
pub struct PublicKeys {
    raw: Vec<[u8; 32]>,
    decoded: Vec<OnceLock<Option<VerifyingKey>>>,
}

impl Clone for PublicKeys {
    fn clone(&self) -> Self {
        PublicKeys::from_raw(self.raw.clone())
    }
}

impl std::fmt::Debug for PublicKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKeys({} epochs)", self.raw.len())
    }
}

impl PublicKeys {
    pub fn from_raw(raw: Vec<[u8; 32]>) -> PublicKeys {
        let decoded = raw.iter().map(|_| OnceLock::new()).collect();
        PublicKeys { raw, decoded }
    }

    /// Number of epochs.
    pub fn len(&self) -> u64 {
        self.raw.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The raw public key of epoch `e`.
    pub fn raw(&self, e: u64) -> Option<&[u8; 32]> {
        self.raw.get(usize::try_from(e).ok()?)
    }

    /// The public key of epoch `e` (None past the last or if not a point).
    pub fn get(&self, e: u64) -> Option<VerifyingKey> {
        let i = usize::try_from(e).ok()?;
        *self
            .decoded
            .get(i)?
            .get_or_init(|| VerifyingKey::from_bytes(&self.raw[i]).ok())
    }

    /// The epoch whose key has this signed-note key ID under `name`.
    pub fn epoch_by_key_id(&self, name: &str, id: &[u8; 4]) -> Option<u64> {
        (0..self.len()).find(|&e| {
            self.get(e)
                .is_some_and(|k| super::merkle::key_id(name, &k) == *id)
        })
    }
}

impl From<VerifyingKey> for PublicKeys {
    fn from(k: VerifyingKey) -> PublicKeys {
        PublicKeys::from_raw(vec![k.to_bytes()])
    }
}

impl From<&VerifyingKey> for PublicKeys {
    fn from(k: &VerifyingKey) -> PublicKeys {
        PublicKeys::from(*k)
    }
}

impl From<&PublicKeys> for PublicKeys {
    fn from(k: &PublicKeys) -> PublicKeys {
        k.clone()
    }
}

fn bad(path: &Path, why: impl Into<String>) -> KeyError {
    KeyError::Bad {
        path: path.into(),
        why: why.into(),
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn decode32(s: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
    let mut out = Zeroizing::new([0u8; 32]);
    if s.len() == 64 && s.iter().all(u8::is_ascii_hexdigit) {
        hex::decode_to_slice(s, &mut out[..]).ok()?;
        return Some(out);
    }
    let v = Zeroizing::new(B64.decode(s).ok()?);
    if v.len() != 32 {
        return None;
    }
    out.copy_from_slice(&v);
    Some(out)
}

fn field<'a>(part: Option<&'a str>, name: &str) -> Option<&'a str> {
    part?.strip_prefix(name)?.strip_prefix('=')
}

/// Loads the appender's secret key. Refuses a public key, a file others can
/// read, and anything that is not a bd-log key (one line error naming the file).
pub fn load_secret(path: &Path) -> Result<SecretKey, KeyError> {
    if path.extension().is_some_and(|e| e == "pub") {
        return Err(bad(
            path,
            "this is a public key (.pub); give the secret key file (without .pub), \
             the one bd-log keygen wrote with mode 0600",
        ));
    }
    let mut f = std::fs::File::open(path).map_err(io_err(path))?;
    let mode = f.metadata().map_err(io_err(path))?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(bad(
            path,
            format!(
                "secret key is readable by group or others (mode {:o}); chmod 600 it",
                mode & 0o777
            ),
        ));
    }
    let mut text = Zeroizing::new(Vec::new());
    Read::by_ref(&mut f)
        .take(4096)
        .read_to_end(&mut text)
        .map_err(io_err(path))?;
    let body = text.trim_ascii();
    if !body.contains(&b' ') {
        // One line: an old hex key, or a base64 key as bd-lock keygen writes.
        let seed = decode32(body).ok_or_else(|| {
            bad(
                path,
                "expected a bd-log key (`bdlog-key v2 ...` from bd-log keygen), \
                 or an old one-line key (64 hex digits or base64 of 32 bytes)",
            )
        })?;
        if body.len() == 64 {
            eprintln!(
                "bd-log: {}: old hex key: used as a key with one epoch (no forward security); \
                 make a new one with bd-log keygen",
                path.display()
            );
        }
        return Ok(SecretKey {
            epoch: 0,
            epochs: 1,
            started: 0,
            seed,
            legacy: true,
            id: None,
        });
    }
    let what =
        "expected `bdlog-key v2 epoch=E epochs=N started=T seed=BASE64 [id=BASE64]` (from bd-log keygen)";
    let s = std::str::from_utf8(body).map_err(|_| bad(path, what))?;
    let mut parts = s.split(' ');
    if parts.next() != Some("bdlog-key") || parts.next() != Some("v2") {
        return Err(bad(path, what));
    }
    let num = |p: Option<&str>, n: &str| field(p, n).and_then(|v| v.parse::<u64>().ok());
    let epoch = num(parts.next(), "epoch").ok_or_else(|| bad(path, what))?;
    let epochs = num(parts.next(), "epochs").ok_or_else(|| bad(path, what))?;
    let started = num(parts.next(), "started").ok_or_else(|| bad(path, what))?;
    let seed = field(parts.next(), "seed")
        .and_then(|v| decode32(v.as_bytes()))
        .ok_or_else(|| bad(path, what))?;
    let id = match parts.next() {
        None => None,
        Some(p) => Some(
            field(Some(p), "id")
                .and_then(|v| decode32(v.as_bytes()))
                .ok_or_else(|| bad(path, what))?,
        ),
    };
    if parts.next().is_some() || epochs == 0 || epoch >= epochs {
        return Err(bad(path, what));
    }
    Ok(SecretKey {
        epoch,
        epochs,
        started,
        seed,
        legacy: false,
        id,
    })
}

/// Loads `KEY.pub`: every epoch's public key, or an old one-line key (hex,
/// with a note on stderr, or base64) as a single epoch.
pub fn load_public(path: &Path) -> Result<PublicKeys, KeyError> {
    let f = std::fs::File::open(path).map_err(io_err(path))?;
    let mut text = String::new();
    f.take(64 * MAX_EPOCHS + 4096)
        .read_to_string(&mut text)
        .map_err(|e| bad(path, format!("not a text file: {e}")))?;
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("").trim();
    if !first.starts_with("bdlog-pub") {
        let k = decode32(first.as_bytes())
            .filter(|_| lines.all(|l| l.trim().is_empty()))
            .ok_or_else(|| {
                bad(
                    path,
                    "expected a bd-log public key (`bdlog-pub v2 epochs=N` and N base64 keys, \
                     from bd-log keygen), or an old one-line key (64 hex digits or base64)",
                )
            })?;
        if first.len() == 64 {
            eprintln!(
                "bd-log: {}: old hex public key: read as a key with one epoch",
                path.display()
            );
        }
        return Ok(PublicKeys::from_raw(vec![*k]));
    }
    let n = first
        .strip_prefix("bdlog-pub v2 epochs=")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&n| n > 0 && n <= MAX_EPOCHS)
        .ok_or_else(|| bad(path, "line 1: expected `bdlog-pub v2 epochs=N`"))?;
    let mut raw = Vec::with_capacity(n as usize);
    for (i, l) in lines.enumerate() {
        let k = decode32(l.trim().as_bytes()).ok_or_else(|| {
            bad(
                path,
                format!(
                    "line {}: expected a base64 Ed25519 public key (32 bytes)",
                    i + 2
                ),
            )
        })?;
        raw.push(*k);
    }
    if raw.len() as u64 != n {
        return Err(bad(
            path,
            format!("says epochs={n} but lists {} keys (truncated?)", raw.len()),
        ));
    }
    Ok(PublicKeys::from_raw(raw))
}

fn write_new(p: &Path, mode: u32, body: &[u8]) -> Result<(), KeyError> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(p)
        .map_err(io_err(p))?;
    f.write_all(body).map_err(io_err(p))?;
    f.sync_all().map_err(io_err(p))
}

/// Rewrites the secret key file with `k`'s current epoch: a new file (mode
/// 0600) in the same directory, synced, renamed over the old one, and the
/// directory synced, so the file holds the old seed or the new one, never
/// neither. The old file's blocks are released by the filesystem; the name
/// never reaches the old seed again.
pub fn store_secret(path: &Path, k: &SecretKey) -> Result<(), KeyError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.evolve-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    if let Err(e) = write_new(&tmp, 0o600, k.to_text().as_bytes()) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        KeyError::Io {
            path: path.to_path_buf(),
            source: e,
        }
    })?;
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Signed-note key ID of a raw Ed25519 public key under `name` (type 0x01).
fn raw_key_id(name: &str, key: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0a, 0x01]);
    h.update(key);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The identity key as a C2SP signed-note vkey for a log origin:
/// `<origin>+<hex key ID>+base64(0x01 || key)`, what a witness operator
/// configures for that origin. The key name is the origin, as
/// tlog-checkpoint recommends; so the vkey exists only once the log has one.
pub fn identity_vkey(origin: &str, key: &VerifyingKey) -> String {
    let mut raw = vec![0x01];
    raw.extend_from_slice(key.as_bytes());
    format!(
        "{origin}+{}+{}",
        hex::encode(raw_key_id(origin, key.as_bytes())),
        B64.encode(raw)
    )
}

/// Whether a signature line's key ID (under `origin`) names one of the
/// epoch keys: such a line is the log's own epoch signature.
pub fn is_epoch_key_id(origin: &str, keys: &PublicKeys, id: &[u8]) -> bool {
    keys.raw.iter().any(|k| raw_key_id(origin, k)[..] == *id)
}

/// The identity key's signature line (with its newline) over `th`, key
/// name the origin; `None` for a key without an identity key, and in the
/// one-in-2^32-per-epoch case where its key ID equals an epoch key's under
/// this origin (a verifier that picks keys by ID would try the wrong one).
pub fn identity_line(
    th: &super::merkle::TreeHead,
    secret: &SecretKey,
    epochs: &PublicKeys,
) -> Option<String> {
    use ed25519_dalek::Signer as _;
    let ik = secret.identity_key()?;
    let id = raw_key_id(&th.origin, ik.verifying_key().as_bytes());
    if is_epoch_key_id(&th.origin, epochs, &id) {
        return None;
    }
    let sig = ik.sign(th.text().as_bytes());
    let mut blob = id.to_vec();
    blob.extend_from_slice(&sig.to_bytes());
    Some(format!("\u{2014} {} {}\n", th.origin, B64.encode(blob)))
}

/// The note a log exports: the tree head signed by the epoch key `epoch_sk`
/// (what bd-log's verifiers require) and, when `secret` has one, by the
/// identity key too (what a C2SP witness configured with one vkey per log
/// checks). Returns the note and whether the identity signature is in it.
pub fn sign_note(
    th: &super::merkle::TreeHead,
    epoch_sk: &SigningKey,
    secret: &SecretKey,
    epochs: &PublicKeys,
) -> (String, bool) {
    let mut note = th.sign(epoch_sk);
    match identity_line(th, secret, epochs) {
        Some(l) => {
            note.push_str(&l);
            (note, true)
        }
        None => (note, false),
    }
}

/// Creates `secret` (mode 0600) and `secret.pub` (0644) for a key of
/// `epochs` epochs. Refuses to overwrite either file.
pub fn write_keypair_epochs(secret: &Path, epochs: u64) -> Result<PublicKeys, KeyError> {
    let public = super::pub_path(secret);
    for p in [secret, public.as_path()] {
        if p.symlink_metadata().is_ok() {
            return Err(bad(p, "already exists; refusing to overwrite a key"));
        }
    }
    if epochs == 0 || epochs > MAX_EPOCHS {
        return Err(bad(
            secret,
            format!("--epochs must be between 1 and {MAX_EPOCHS}"),
        ));
    }
    let k = SecretKey::generate(epochs);
    let pub_text = k.public_text();
    write_new(secret, 0o600, k.to_text().as_bytes())?;
    write_new(&public, 0o644, pub_text.as_bytes())?;
    load_public(&public)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The identity key survives evolution and a store/load round trip; a
    /// v2 key without `id=` loads without one; a note carries both
    /// signatures and the epoch opener takes it by the epoch line alone.
    #[test]
    fn identity_key_round_trips_and_signs_notes_beside_the_epoch_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        let keys = write_keypair_epochs(&p, 4).unwrap();
        let mut k = load_secret(&p).unwrap();
        let id0 = k.identity_key().unwrap().verifying_key();
        assert!(k.evolve_to(2));
        store_secret(&p, &k).unwrap();
        let k2 = load_secret(&p).unwrap();
        assert_eq!(
            (k2.epoch(), k2.identity_key().unwrap().verifying_key()),
            (2, id0)
        );
        let th = super::super::merkle::TreeHead {
            origin: "bdlog-test".into(),
            size: 3,
            root: [7; 32],
        };
        let (note, with_id) = sign_note(&th, &k2.signing_key(), &k2, &keys);
        assert!(with_id);
        assert_eq!(note.matches('\u{2014}').count(), 2);
        let (got, e) = super::super::merkle::TreeHead::open_epochs(&note, &keys).unwrap();
        assert_eq!((got, e), (th.clone(), 2));
        // The identity line alone is no note for the epoch keys.
        let id_line = note.lines().last().unwrap();
        let only = format!("{}\n{id_line}\n", th.text());
        assert!(super::super::merkle::TreeHead::open_epochs(&only, &keys).is_err());
        // ... but it is for the identity key, through its vkey's key.
        assert!(super::super::merkle::TreeHead::open(&only, &id0).is_ok());
        assert!(identity_vkey("bdlog-test", &id0).starts_with("bdlog-test+"));
        // A v2 key written before identity keys: loads, signs epoch only.
        let text = std::fs::read_to_string(&p).unwrap();
        let at = text.find(" id=").unwrap();
        std::fs::write(&p, format!("{}\n", &text[..at])).unwrap();
        let old = load_secret(&p).unwrap();
        assert!(old.identity_key().is_none());
        let (note, with_id) = sign_note(&th, &old.signing_key(), &old, &keys);
        assert!(!with_id);
        assert_eq!(note.matches('\u{2014}').count(), 1);
        // A malformed id= is refused, not ignored.
        std::fs::write(&p, format!("{} id=AAAA\n", &text[..at])).unwrap();
        assert!(load_secret(&p).is_err());
    }
}
