//! The hash-chained, signed log format used by bd-log.
//!
//! One entry per line, written by [`format_entry`] and read back by
//! [`parse_line`], a strict parser of exactly what the writer emits:
//!
//! ```text
//! {"seq":N,"ts":"YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ","prev":"<64 hex>","record":<JSON as given>}
//! {"seq":N,"ts":"…","prev":"<64 hex>","checkpoint":{"v":3,"origin":"…","size":N,"root":"<b64>","epoch":E,"key":"<b64>","frontier":["<b64>",…],"sig":"<b64>"}}
//! ```
//!
//! * `seq` is the 0-based line number; `prev` is the RFC 6962 leaf hash
//!   SHA-256(0x00 || line) of the previous line's exact bytes without its
//!   `\n` (64 zeros on line 0), the same hash the Merkle tree uses for it
//!   (format v3, [`FORMAT`]). In a format v2 log (checkpoints without `"v":3`)
//!   `prev` is SHA-256(line); both verify. A log keeps its format across
//!   rotations.
//! * Line 0 is the genesis checkpoint (`size` 0): it fixes the log's `origin`
//!   (`bdlog-` + 32 random hex digits).
//! * A checkpoint at seq N covers the N lines before it: `size` = N, `root`
//!   is the RFC 6962 Merkle root over lines 0..N (leaf i = line i's bytes),
//!   `frontier` the tree's right edge at N, and `sig` the signed-note key ID
//!   and Ed25519 signature over the C2SP tlog-checkpoint text
//!   `origin\nN\nroot\n` by the key of epoch `epoch` ([`keys`]), whose
//!   public key is `key`. [`Checkpoint::note`] gives it as a signed note.
//!
//! The record is stored byte for byte as given (only trimmed of surrounding
//! whitespace), so hashing never depends on a re-serialisation. Putting it
//! last lets the verifier read the fixed prefix with a strict scanner instead
//! of a JSON parser: anything that does not match byte for byte is rejected.

pub mod keys;
pub mod merkle;
pub mod sha;
pub mod verify;
pub mod witness;

use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// A SHA-256 digest.
pub type Hash = [u8; 32];
/// The `prev` of line 0 and the `head` of the genesis checkpoint.
pub const ZERO: Hash = [0; 32];
/// Length of a timestamp as the writer prints it (`2026-11-25T19:18:40.123456789Z`).
pub const TS_LEN: usize = 30;
/// Largest record `append` accepts, in bytes (keeps every reader's memory bounded).
pub const MAX_RECORD: usize = 1 << 20;

/// No line bd-log writes is longer: a record plus the prefix and a checkpoint's
/// worth of slack. Readers stop holding a line once it passes this, so memory
/// stays bounded whatever the input.
pub const MAX_LINE: usize = MAX_RECORD + 4096;

/// A record exactly as the writer stores one: at most [`MAX_RECORD`] bytes,
/// UTF-8 (overlong and surrogate encodings are invalid UTF-8), no surrounding
/// whitespace (the writer trims it), one JSON value. `bd-log append` refuses
/// anything else and `verify` fails on anything else, covered or not: bytes the
/// writer never writes cannot be a record it wrote.
pub fn check_record(rec: &[u8]) -> Result<(), String> {
    check_record_shape(rec, false)?;
    check_record_json(rec)
}

/// The JSON part of [`check_record`].
pub fn check_record_json(rec: &[u8]) -> Result<(), String> {
    // The strict reader: a duplicate key or nesting past crate::json's bound
    // would be signed as one meaning and read back as another.
    crate::json::check(rec).map_err(|e| format!("not JSON: {e}"))
}

/// What [`check_record`] checks short of parsing the JSON: size, UTF-8 (unless
/// the caller already checked a larger span holding the record) and no
/// surrounding whitespace. `verify` does only this for records a signed
/// checkpoint covers: the writer parsed them strictly before chaining them,
/// and the chain and the signature show they are the bytes it wrote.
pub fn check_record_shape(rec: &[u8], utf8_checked: bool) -> Result<(), String> {
    if rec.len() > MAX_RECORD {
        return Err(format!(
            "record is {} bytes, more than the {MAX_RECORD} byte limit",
            rec.len()
        ));
    }
    if !utf8_checked {
        if let Err(e) = std::str::from_utf8(rec) {
            return Err(format!(
                "not UTF-8 (invalid byte at column {})",
                e.valid_up_to() + 1
            ));
        }
    }
    if rec.first().is_some_and(u8::is_ascii_whitespace)
        || rec.last().is_some_and(u8::is_ascii_whitespace)
    {
        return Err("record has surrounding whitespace, which the writer trims".into());
    }
    Ok(())
}
/// No canonical checkpoint line is longer (64 frontier hashes at most).
pub const MAX_CHECKPOINT_LINE: usize = 8192;

/// SHA-256 of one line's bytes (without its `\n`): a format v2 log's `prev`.
pub fn hash_line(line: &[u8]) -> Hash {
    Sha256::digest(line).into()
}

/// The format new logs are written in. v3: `prev` is the RFC 6962 leaf hash
/// of the previous line, SHA-256(0x00 || line), so one hash per line serves
/// the chain and the Merkle tree. v2: `prev` is SHA-256(line). Every
/// checkpoint of a v3 log says `"v":3`; a v2 checkpoint has no `v`.
pub const FORMAT: u8 = 3;

/// What the next line's `prev` holds for `line` in a log of `format`.
pub fn chain_hash(format: u8, line: &[u8]) -> Hash {
    chain_hash_from_leaf(format, line, merkle::leaf_hash(line))
}

/// [`chain_hash`] for a writer that already holds the line's leaf hash (it
/// feeds the tree): v3 reuses it, v2 hashes the line again.
pub fn chain_hash_from_leaf(format: u8, line: &[u8], leaf: Hash) -> Hash {
    if format >= 3 {
        leaf
    } else {
        hash_line(line)
    }
}

/// The body of a line after the common prefix.
#[derive(Debug, PartialEq, Eq)]
pub enum Body<'a> {
    /// An entry: the record's bytes exactly as stored.
    Record(&'a [u8]),
    /// A checkpoint: parse the whole line with [`Checkpoint::parse_line`].
    Checkpoint,
}

/// The fixed prefix every line starts with.
#[derive(Debug, PartialEq, Eq)]
pub struct Prefix<'a> {
    pub seq: u64,
    pub ts: &'a [u8],
    pub prev: Hash,
    pub body: Body<'a>,
}

fn take<'a>(s: &'a [u8], lit: &[u8], what: &'static str) -> Result<&'a [u8], &'static str> {
    s.strip_prefix(lit).ok_or(what)
}

/// A canonical unsigned decimal (no sign, no leading zeros), then the rest.
fn take_u64(s: &[u8]) -> Option<(u64, &[u8])> {
    let n = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 || n > 20 || (n > 1 && s[0] == b'0') {
        return None;
    }
    let mut v: u64 = 0;
    for &d in &s[..n] {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some((v, &s[n..]))
}

/// Value of a lowercase hex digit, 0xff for anything else.
const HEX: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Lowercase hex only, as the writer prints it (so one hash has one
/// spelling). Table-driven: this runs once per line in verify.
fn decode_hash(s: &[u8]) -> Option<Hash> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        let (h, l) = (HEX[pair[0] as usize], HEX[pair[1] as usize]);
        bad |= h | l;
        *o = (h << 4) | (l & 0x0f);
    }
    // Valid digits are < 16, so any 0xff lookup sets the high bits.
    (bad & 0xf0 == 0).then_some(out)
}

/// Checks the fixed-width timestamp shape; fixed width makes byte order
/// equal time order, so the verifier compares timestamps as bytes.
pub fn valid_ts(ts: &[u8]) -> bool {
    const SHAPE: &[u8; TS_LEN] = b"dddd-dd-ddTdd:dd:dd.dddddddddZ";
    if ts.len() != TS_LEN {
        return false;
    }
    for (b, s) in ts.iter().zip(SHAPE.iter()) {
        let ok = if *s == b'd' {
            b.is_ascii_digit()
        } else {
            b == s
        };
        if !ok {
            return false;
        }
    }
    let two = |i: usize| u32::from(ts[i] - b'0') * 10 + u32::from(ts[i + 1] - b'0');
    (1..=12).contains(&two(5))
        && (1..=31).contains(&two(8))
        && two(11) < 24
        && two(14) < 60
        && two(17) < 61
}

/// Strictly parses the fixed prefix of one line (without its `\n`).
///
/// For an entry the record is everything between `"record":` and the final
/// `}`; it is not parsed here ([`verify::verify`] checks that it is one JSON value).
pub fn parse_line(line: &[u8]) -> Result<Prefix<'_>, &'static str> {
    parse_line_expecting(line, None)
}

/// Two lowercase hex digits for each byte value.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut t = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [D[i >> 4], D[i & 15]];
        i += 1;
    }
    t
};

/// A hash as the writer prints it in `prev`: 64 lowercase hex digits.
pub fn hex_hash(h: &Hash) -> [u8; 64] {
    let mut out = [0u8; 64];
    for (o, b) in out.chunks_exact_mut(2).zip(h) {
        o.copy_from_slice(&HEX_PAIRS[usize::from(*b)]);
    }
    out
}

/// [`parse_line`] for a reader that knows which `prev` the line should
/// have (the hash and its [`hex_hash`]): when the digits are exactly those,
/// `prev` is that hash without decoding them (equal bytes are valid
/// lowercase hex by construction); otherwise they are decoded as usual.
pub fn parse_line_expecting<'a>(
    line: &'a [u8],
    expected: Option<(&Hash, &[u8; 64])>,
) -> Result<Prefix<'a>, &'static str> {
    let s = take(line, b"{\"seq\":", "line does not start with {\"seq\":")?;
    let (seq, s) = take_u64(s).ok_or("seq is not a canonical unsigned integer")?;
    let s = take(s, b",\"ts\":\"", "expected ,\"ts\":\" after seq")?;
    if s.len() < TS_LEN || !valid_ts(&s[..TS_LEN]) {
        return Err("ts is not an RFC 3339 UTC timestamp with 9 fractional digits");
    }
    let (ts, s) = s.split_at(TS_LEN);
    let s = take(s, b"\",\"prev\":\"", "expected \",\"prev\":\" after ts")?;
    if s.len() < 64 {
        return Err("prev is not 64 lowercase hex digits");
    }
    let prev = match expected {
        Some((h, hex)) if s[..64] == hex[..] => *h,
        _ => decode_hash(&s[..64]).ok_or("prev is not 64 lowercase hex digits")?,
    };
    let s = take(&s[64..], b"\",", "expected \", after prev")?;
    if let Some(rec) = s.strip_prefix(b"\"record\":") {
        let rec = rec.strip_suffix(b"}").ok_or("entry does not end with }")?;
        if rec.is_empty() {
            return Err("empty record");
        }
        Ok(Prefix {
            seq,
            ts,
            prev,
            body: Body::Record(rec),
        })
    } else if s.starts_with(b"\"checkpoint\":{") {
        Ok(Prefix {
            seq,
            ts,
            prev,
            body: Body::Checkpoint,
        })
    } else {
        Err("expected \"record\": or \"checkpoint\": after prev")
    }
}

/// Appends one entry line (with its `\n`) to `out`. `record` must be one
/// valid JSON value without a newline (the caller validated it).
pub fn format_entry(out: &mut Vec<u8>, seq: u64, ts: &str, prev: &Hash, record: &[u8]) {
    let mut hexbuf = [0u8; 64];
    // Infallible: the buffer is exactly twice the hash length.
    let _ = hex::encode_to_slice(prev, &mut hexbuf);
    out.extend_from_slice(b"{\"seq\":");
    out.extend_from_slice(itoa(seq, &mut [0u8; 20]));
    out.extend_from_slice(b",\"ts\":\"");
    out.extend_from_slice(ts.as_bytes());
    out.extend_from_slice(b"\",\"prev\":\"");
    out.extend_from_slice(&hexbuf);
    out.extend_from_slice(b"\",\"record\":");
    out.extend_from_slice(record);
    out.extend_from_slice(b"}\n");
}

fn itoa(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return &buf[i..];
        }
    }
}

/// An origin is printable without escaping, so lines stay canonical.
pub fn valid_origin(o: &str) -> bool {
    !o.is_empty()
        && o.len() <= 128
        && o.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// A fresh origin: `bdlog-` and 128 random bits.
pub fn new_origin() -> String {
    let mut r = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut r);
    format!("bdlog-{}", hex::encode(r))
}

/// A parsed checkpoint line (format v2 or v3): a C2SP tlog-checkpoint over the
/// RFC 6962 tree of every line before it, signed with the key of its epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: u64,
    pub ts: String,
    pub origin: String,
    pub size: u64,
    /// The line's `prev`: the chain hash ([`chain_hash`]) of line size-1
    /// (zeros for a genesis).
    pub head: Hash,
    /// RFC 6962 root of lines 0..size.
    pub root: Hash,
    /// The signing key's epoch (see [`keys`]).
    pub epoch: u64,
    /// The public key of that epoch, as the signer names it.
    pub key: [u8; 32],
    /// The tree's right edge at `size` (one hash per set bit of `size`), so
    /// an appender or a verifier can go on from this line alone.
    pub frontier: Vec<Hash>,
    /// Signed-note key ID (4 bytes) and Ed25519 signature, as in the note's
    /// signature line.
    pub sig: [u8; 68],
    /// The log's format (2 or 3), which fixes what `prev` hashes. Not in
    /// the signed note: line 0 (a genesis) is in every later tree, and a
    /// file's first line is checked against the file before it.
    pub format: u8,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine<'a> {
    seq: u64,
    #[serde(borrow)]
    ts: &'a str,
    prev: &'a str,
    checkpoint: RawCheckpoint<'a>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheckpoint<'a> {
    #[serde(default)]
    v: Option<u64>,
    #[serde(borrow)]
    origin: &'a str,
    size: u64,
    root: &'a str,
    epoch: u64,
    key: &'a str,
    #[serde(borrow)]
    frontier: Vec<&'a str>,
    sig: &'a str,
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn unb64_32(s: &str) -> Option<Hash> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .ok()?
        .try_into()
        .ok()
}

impl Checkpoint {
    /// Makes and signs the checkpoint line that follows `frontier.size()`
    /// lines whose last one hashes to `head`, with `sk` as epoch `epoch`'s
    /// key, in the current [`FORMAT`].
    pub fn sign(
        sk: &SigningKey,
        epoch: u64,
        origin: &str,
        head: Hash,
        frontier: &merkle::Frontier,
        ts: &str,
    ) -> Checkpoint {
        Checkpoint::sign_format(sk, epoch, origin, head, frontier, ts, FORMAT)
    }

    /// As [`Checkpoint::sign`], for a log of `format` (2 or 3).
    pub fn sign_format(
        sk: &SigningKey,
        epoch: u64,
        origin: &str,
        head: Hash,
        frontier: &merkle::Frontier,
        ts: &str,
        format: u8,
    ) -> Checkpoint {
        let size = frontier.size();
        let th = merkle::TreeHead {
            origin: origin.to_string(),
            size,
            root: frontier.root(),
        };
        let vk = sk.verifying_key();
        let mut sig = [0u8; 68];
        sig[..4].copy_from_slice(&merkle::key_id(origin, &vk));
        sig[4..].copy_from_slice(&sk.sign(th.text().as_bytes()).to_bytes());
        Checkpoint {
            seq: size,
            ts: ts.to_string(),
            origin: origin.to_string(),
            size,
            head,
            root: th.root,
            epoch,
            key: vk.to_bytes(),
            frontier: frontier.stack().to_vec(),
            sig,
            format,
        }
    }

    /// The tree head this checkpoint signs.
    pub fn tree_head(&self) -> merkle::TreeHead {
        merkle::TreeHead {
            origin: self.origin.clone(),
            size: self.size,
            root: self.root,
        }
    }

    /// The checkpoint as a C2SP signed note (tlog-checkpoint), readable by
    /// any tool that speaks signed notes given this epoch's public key.
    pub fn note(&self) -> String {
        format!(
            "{}\n\u{2014} {} {}\n",
            self.tree_head().text(),
            self.origin,
            b64(&self.sig)
        )
    }

    /// The frontier this line carries, checked against its size.
    pub fn frontier(&self) -> Option<merkle::Frontier> {
        merkle::Frontier::from_parts(self.size, self.frontier.clone())
    }

    /// The line (without `\n`), in the one canonical form.
    pub fn to_line(&self) -> String {
        let mut fr = String::with_capacity(self.frontier.len() * 47);
        for (i, h) in self.frontier.iter().enumerate() {
            if i > 0 {
                fr.push(',');
            }
            fr.push('"');
            fr.push_str(&b64(h));
            fr.push('"');
        }
        format!(
            "{{\"seq\":{},\"ts\":\"{}\",\"prev\":\"{}\",\"checkpoint\":{{{}\"origin\":\"{}\",\"size\":{},\"root\":\"{}\",\"epoch\":{},\"key\":\"{}\",\"frontier\":[{fr}],\"sig\":\"{}\"}}}}",
            self.seq,
            self.ts,
            hex::encode(self.head),
            if self.format >= 3 { "\"v\":3," } else { "" },
            self.origin,
            self.size,
            b64(&self.root),
            self.epoch,
            b64(&self.key),
            b64(&self.sig)
        )
    }

    /// Parses a checkpoint line and insists it is byte for byte canonical,
    /// so a checkpoint has exactly one spelling and nothing unsigned can ride
    /// along in it. Does not check the signature: see [`Checkpoint::verify`].
    pub fn parse_line(line: &[u8]) -> Result<Checkpoint, String> {
        let raw: RawLine = serde_json::from_slice(line).map_err(|e| {
            if line.windows(7).any(|w| w == b"\"head\":") {
                "an old-format (v1) checkpoint, which signs the chain head: this bd-log reads \
                 v2 and v3 logs only; verify the old log with the bd-log that wrote it"
                    .to_string()
            } else {
                format!("checkpoint is not well-formed: {e}")
            }
        })?;
        let c = &raw.checkpoint;
        let format = match c.v {
            None => 2,
            Some(3) => 3,
            Some(v) => {
                return Err(format!(
                    "a format v{v} checkpoint: this bd-log reads formats v2 and v3"
                ))
            }
        };
        if !valid_ts(raw.ts.as_bytes()) {
            return Err("checkpoint ts is malformed".into());
        }
        if c.size != raw.seq {
            return Err(format!(
                "checkpoint size {} differs from its seq {}",
                c.size, raw.seq
            ));
        }
        if !valid_origin(c.origin) {
            return Err("checkpoint origin is malformed".into());
        }
        let head =
            decode_hash(raw.prev.as_bytes()).ok_or("checkpoint prev is not 64 lowercase hex")?;
        let root = unb64_32(c.root).ok_or("checkpoint root is not 32 bytes of base64")?;
        let key = unb64_32(c.key).ok_or("checkpoint key is not 32 bytes of base64")?;
        let mut frontier = Vec::with_capacity(c.frontier.len());
        for f in &c.frontier {
            frontier.push(unb64_32(f).ok_or("checkpoint frontier hash is not 32 bytes of base64")?);
        }
        if frontier.len() as u32 != c.size.count_ones() {
            return Err("checkpoint frontier does not fit its size".into());
        }
        let sig: [u8; 68] = base64::engine::general_purpose::STANDARD
            .decode(c.sig)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("checkpoint sig is not 68 bytes of base64 (key ID and signature)")?;
        let cp = Checkpoint {
            seq: raw.seq,
            ts: raw.ts.to_string(),
            origin: c.origin.to_string(),
            size: c.size,
            head,
            root,
            epoch: c.epoch,
            key,
            frontier,
            sig,
            format,
        };
        if cp.to_line().as_bytes() != line {
            return Err("checkpoint is not in canonical form".into());
        }
        Ok(cp)
    }

    fn check_sig(&self, vk: &VerifyingKey) -> Result<(), String> {
        if self.sig[..4] != merkle::key_id(&self.origin, vk) {
            return Err("checkpoint signature's key ID is not its key's".into());
        }
        let fr = self
            .frontier()
            .ok_or("checkpoint frontier does not fit its size")?;
        if fr.root() != self.root {
            return Err("checkpoint frontier does not hash to its root".into());
        }
        let sig = Signature::from_slice(&self.sig[4..]).map_err(|_| "bad signature bytes")?;
        vk.verify_strict(self.tree_head().text().as_bytes(), &sig)
            .map_err(|_| "checkpoint signature does not verify".to_string())
    }

    /// Whether the signature verifies under the key the checkpoint names
    /// itself: true for a checkpoint from a log kept under another key, false
    /// for a forged or altered one.
    pub fn self_signed(&self) -> bool {
        VerifyingKey::from_bytes(&self.key).is_ok_and(|k| self.check_sig(&k).is_ok())
    }

    /// Checks the signature against the trusted key of the epoch the
    /// checkpoint states: a signature by any other epoch's key (a later
    /// one, held by whoever broke in) does not verify.
    pub fn verify(&self, keys: &keys::PublicKeys) -> Result<(), String> {
        let Some(pk) = keys.raw(self.epoch) else {
            return Err(format!(
                "checkpoint states epoch {}, but the public key has {} epochs",
                self.epoch,
                keys.len()
            ));
        };
        if self.key != *pk {
            return Err(format!(
                "checkpoint names key {}, not the public key of its epoch {} ({})",
                b64(&self.key),
                self.epoch,
                b64(pk)
            ));
        }
        let vk = keys
            .get(self.epoch)
            .ok_or("the public key of this epoch is not a valid Ed25519 point")?;
        self.check_sig(&vk)
    }
}

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: {why}")]
    Bad { path: PathBuf, why: String },
}

/// Loads the current epoch's signing key from a secret key file.
pub fn load_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    keys::load_secret(path).map(|k| k.signing_key())
}

/// Loads epoch 0's public key (`KEY.pub`); [`keys::load_public`] gives
/// every epoch's, which checkpoint verification needs.
pub fn load_verifying_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let k = keys::load_public(path)?;
    k.get(0).ok_or_else(|| KeyError::Bad {
        path: path.into(),
        why: "not a valid Ed25519 public key".into(),
    })
}

/// The public key's path for a secret key path: `KEY.pub`.
pub fn pub_path(secret: &Path) -> PathBuf {
    let mut s = secret.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// Creates a new key pair with the default number of epochs; returns the
/// public key of epoch 0.
pub fn write_keypair(secret: &Path) -> Result<VerifyingKey, KeyError> {
    let k = keys::write_keypair_epochs(secret, keys::DEFAULT_EPOCHS)?;
    k.get(0).ok_or_else(|| KeyError::Bad {
        path: secret.into(),
        why: "internal: epoch 0 key".into(),
    })
}

/// Reads backwards from `end` to find the start of the line that ends at
/// `end` (exclusive, `end` points just past that line's last byte, i.e. at
/// its `\n` or at EOF). Returns the line's start offset.
pub fn line_start_before(f: &File, end: u64) -> io::Result<u64> {
    let mut pos = end;
    let mut buf = vec![0u8; 64 * 1024];
    while pos > 0 {
        let n = (buf.len() as u64).min(pos) as usize;
        let at = pos - n as u64;
        f.read_exact_at(&mut buf[..n], at)?;
        if let Some(i) = memchr::memrchr(b'\n', &buf[..n]) {
            return Ok(at + i as u64 + 1);
        }
        pos = at;
    }
    Ok(0)
}

/// The state of a log's end, as an appender needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tail {
    /// No bytes at all.
    Empty,
    /// Ends in a complete line.
    Line {
        seq: u64,
        /// SHA-256 of the line (a v2 chain's `prev`).
        hash: Hash,
        /// Its RFC 6962 leaf hash (a v3 chain's `prev`).
        leaf: Hash,
        ts: String,
        checkpoint: bool,
    },
    /// The last line has no `\n`: a write was cut short.
    Torn { offset: u64, len: u64 },
}

/// Looks at the last line of a log of `size` bytes.
pub fn read_tail(f: &File, size: u64) -> Result<Tail, String> {
    if size == 0 {
        return Ok(Tail::Empty);
    }
    let mut last = [0u8; 1];
    f.read_exact_at(&mut last, size - 1)
        .map_err(|e| e.to_string())?;
    if last[0] != b'\n' {
        let start = line_start_before(f, size).map_err(|e| e.to_string())?;
        return Ok(Tail::Torn {
            offset: start,
            len: size - start,
        });
    }
    let start = line_start_before(f, size - 1).map_err(|e| e.to_string())?;
    let len = (size - 1 - start) as usize;
    if len > MAX_LINE {
        return Err(format!(
            "last line is {len} bytes, larger than any bd-log line"
        ));
    }
    let mut line = vec![0u8; len];
    f.read_exact_at(&mut line, start)
        .map_err(|e| e.to_string())?;
    let p = parse_line(&line).map_err(|e| format!("last line (at byte {start}): {e}"))?;
    Ok(Tail::Line {
        seq: p.seq,
        hash: hash_line(&line),
        leaf: merkle::leaf_hash(&line),
        ts: String::from_utf8_lossy(p.ts).into_owned(),
        checkpoint: p.body == Body::Checkpoint,
    })
}

/// Reads the first line of a non-empty log: the genesis checkpoint (size 0),
/// or, in a file that continues a rotated one, the continuation checkpoint
/// (size = the seq where this file starts, head = the SHA-256 of the
/// previous file's last line). Either fixes the file's origin and key.
pub fn read_genesis(f: &File) -> Result<Checkpoint, String> {
    let mut buf = vec![0u8; MAX_CHECKPOINT_LINE];
    let n = f.read_at(&mut buf, 0).map_err(|e| e.to_string())?;
    let end = memchr::memchr(b'\n', &buf[..n]).ok_or("first line is incomplete or too long")?;
    let cp = Checkpoint::parse_line(&buf[..end]).map_err(|e| format!("first line: {e}"))?;
    if cp.size == 0 && cp.head != ZERO {
        return Err("first line is a genesis checkpoint whose head is not zeros".into());
    }
    Ok(cp)
}

/// Finds the last complete checkpoint line at or before `size`, scanning
/// backwards; returns its bytes (without `\n`).
pub fn last_checkpoint_line(f: &File, size: u64) -> io::Result<Option<Vec<u8>>> {
    find_checkpoint_line(f, size, None)
}

/// The checkpoint line whose seq is `seq`, searching back from `size`.
pub fn checkpoint_line_at(f: &File, size: u64, seq: u64) -> io::Result<Option<Vec<u8>>> {
    find_checkpoint_line(f, size, Some(seq))
}

fn find_checkpoint_line(f: &File, size: u64, want: Option<u64>) -> io::Result<Option<Vec<u8>>> {
    let mut end = size;
    // Skip a torn tail: only complete lines count.
    if end > 0 {
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, end - 1)?;
        if b[0] != b'\n' {
            end = line_start_before(f, end)?;
        }
    }
    while end > 0 {
        let start = line_start_before(f, end - 1)?;
        let len = (end - 1 - start) as usize;
        let mut head = vec![0u8; len.min(160)];
        f.read_exact_at(&mut head, start)?;
        if head.windows(14).any(|w| w == b"\"checkpoint\":{") {
            let mut line = vec![0u8; len];
            f.read_exact_at(&mut line, start)?;
            if let Ok(p) = parse_line(&line) {
                if p.body == Body::Checkpoint && want.is_none_or(|w| w == p.seq) {
                    return Ok(Some(line));
                }
                if want.is_some_and(|w| p.seq < w) {
                    return Ok(None);
                }
            }
        }
        end = start;
    }
    Ok(None)
}

/// Where the part of a log that a key holder vouched for ends: just past the
/// last checkpoint line (at or before `size`) that is canonical, names
/// `origin`, is accepted by `accept` (its signature checks) and whose head is the hash of the line before
/// it. Bytes after that offset were written by nobody the key vouches for:
/// an appender must not sign over them, and `repair` moves them aside.
/// Returns 0 when no such checkpoint exists. Reads backwards in bounded
/// pieces; a checkpoint-looking line is read whole only if it is small.
pub fn vouched_end(
    f: &File,
    size: u64,
    accept: &dyn Fn(&Checkpoint) -> bool,
    origin: &str,
) -> io::Result<u64> {
    let mut end = size;
    if end > 0 {
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, end - 1)?;
        if b[0] != b'\n' {
            end = line_start_before(f, end)?;
        }
    }
    while end > 0 {
        let start = line_start_before(f, end - 1)?;
        let len = (end - 1 - start) as usize;
        // A canonical checkpoint line is about 400 bytes; anything far longer is not one.
        if len <= MAX_CHECKPOINT_LINE {
            let mut line = vec![0u8; len];
            f.read_exact_at(&mut line, start)?;
            if let Ok(cp) = Checkpoint::parse_line(&line) {
                if cp.origin == origin && accept(&cp) {
                    // A file's first line: the genesis, or a rotation's
                    // continuation whose head links to the previous file
                    // (checked by verify across the set, not here).
                    let ok = if start == 0 {
                        cp.size > 0 || cp.head == ZERO
                    } else {
                        let pstart = line_start_before(f, start - 1)?;
                        let plen = (start - 1 - pstart) as usize;
                        let mut prev = vec![0u8; plen.min(MAX_RECORD + 4096)];
                        if plen <= MAX_RECORD + 4096 {
                            f.read_exact_at(&mut prev, pstart)?;
                            chain_hash(cp.format, &prev) == cp.head
                                && parse_line(&prev).is_ok_and(|p| p.seq + 1 == cp.seq)
                        } else {
                            false
                        }
                    };
                    if ok {
                        return Ok(end);
                    }
                }
            }
        }
        end = start;
    }
    Ok(0)
}

#[cfg(test)]
mod tests;
