//! The hash-chained, signed log format used by bd-log.
//!
//! One entry per line, written by [`format_entry`] and read back by
//! [`parse_line`], a strict parser of exactly what the writer emits:
//!
//! ```text
//! {"seq":N,"ts":"YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ","prev":"<64 hex>","record":<JSON as given>}
//! {"seq":N,"ts":"…","prev":"<64 hex>","checkpoint":{"origin":"…","size":N,"head":"<64 hex>","time":"…","key":"<64 hex>","sig":"<base64>"}}
//! ```
//!
//! * `seq` is the 0-based line number; `prev` is the SHA-256 of the previous
//!   line's exact bytes without its `\n` (64 zeros on line 0).
//! * Line 0 is the genesis checkpoint (`size` 0): it fixes the log's `origin`
//!   (`bdlog-` + 32 random hex digits) and the signing key for its lifetime.
//! * A checkpoint at seq N covers the N lines before it: `size` = N and
//!   `head` = SHA-256 of line N-1 (equal to its own `prev`); the Ed25519
//!   signature is over [`signed_message`] (origin, size, head, time).
//!
//! The record is stored byte for byte as given (only trimmed of surrounding
//! whitespace), so hashing never depends on a re-serialisation. Putting it
//! last lets the verifier read the fixed prefix with a strict scanner instead
//! of a JSON parser: anything that does not match byte for byte is rejected.

pub mod merkle;
pub mod verify;
pub mod witness;

use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

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
    if rec.len() > MAX_RECORD {
        return Err(format!(
            "record is {} bytes, more than the {MAX_RECORD} byte limit",
            rec.len()
        ));
    }
    if let Err(e) = std::str::from_utf8(rec) {
        return Err(format!(
            "not UTF-8 (invalid byte at column {})",
            e.valid_up_to() + 1
        ));
    }
    if rec.first().is_some_and(u8::is_ascii_whitespace)
        || rec.last().is_some_and(u8::is_ascii_whitespace)
    {
        return Err("record has surrounding whitespace, which the writer trims".into());
    }
    // The strict reader: a duplicate key or nesting past crate::json's bound
    // would be signed as one meaning and read back as another.
    crate::json::check(rec).map_err(|e| format!("not JSON: {e}"))
}
/// Domain separation for checkpoint signatures.
pub const SIG_CONTEXT: &str = "bd-log checkpoint v1";

/// SHA-256 of one line's bytes (without its `\n`).
pub fn hash_line(line: &[u8]) -> Hash {
    Sha256::digest(line).into()
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
    let prev = decode_hash(&s[..64]).ok_or("prev is not 64 lowercase hex digits")?;
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

/// The bytes an Ed25519 checkpoint signature covers.
pub fn signed_message(origin: &str, size: u64, head: &Hash, time: &str) -> Vec<u8> {
    format!(
        "{SIG_CONTEXT}\norigin {origin}\nsize {size}\nhead {}\ntime {time}\n",
        hex::encode(head)
    )
    .into_bytes()
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

/// A parsed checkpoint line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: u64,
    pub ts: String,
    pub origin: String,
    pub size: u64,
    pub head: Hash,
    pub key: [u8; 32],
    pub sig: [u8; 64],
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
    #[serde(borrow)]
    origin: &'a str,
    size: u64,
    head: &'a str,
    time: &'a str,
    key: &'a str,
    sig: &'a str,
}

impl Checkpoint {
    /// Makes and signs the checkpoint line that follows `size` lines whose
    /// last one hashes to `head`.
    pub fn sign(sk: &SigningKey, origin: &str, size: u64, head: Hash, ts: &str) -> Checkpoint {
        let sig = sk.sign(&signed_message(origin, size, &head, ts));
        Checkpoint {
            seq: size,
            ts: ts.to_string(),
            origin: origin.to_string(),
            size,
            head,
            key: sk.verifying_key().to_bytes(),
            sig: sig.to_bytes(),
        }
    }

    /// The line (without `\n`), in the one canonical form.
    pub fn to_line(&self) -> String {
        let head = hex::encode(self.head);
        format!(
            "{{\"seq\":{},\"ts\":\"{}\",\"prev\":\"{head}\",\"checkpoint\":{{\"origin\":\"{}\",\"size\":{},\"head\":\"{head}\",\"time\":\"{}\",\"key\":\"{}\",\"sig\":\"{}\"}}}}",
            self.seq,
            self.ts,
            self.origin,
            self.size,
            self.ts,
            hex::encode(self.key),
            base64::engine::general_purpose::STANDARD.encode(self.sig)
        )
    }

    /// Parses a checkpoint line and insists it is byte for byte canonical,
    /// so a checkpoint has exactly one spelling and nothing unsigned can ride
    /// along in it. Does not check the signature: see [`Checkpoint::verify`].
    pub fn parse_line(line: &[u8]) -> Result<Checkpoint, String> {
        let raw: RawLine = serde_json::from_slice(line)
            .map_err(|e| format!("checkpoint is not well-formed: {e}"))?;
        let c = &raw.checkpoint;
        if !valid_ts(raw.ts.as_bytes()) {
            return Err("checkpoint ts is malformed".into());
        }
        if c.time != raw.ts {
            return Err("checkpoint time differs from the line's ts".into());
        }
        if c.size != raw.seq {
            return Err(format!(
                "checkpoint size {} differs from its seq {}",
                c.size, raw.seq
            ));
        }
        if c.head != raw.prev {
            return Err("checkpoint head differs from the line's prev".into());
        }
        if !valid_origin(c.origin) {
            return Err("checkpoint origin is malformed".into());
        }
        let head =
            decode_hash(c.head.as_bytes()).ok_or("checkpoint head is not 64 lowercase hex")?;
        let key = decode_hash(c.key.as_bytes()).ok_or("checkpoint key is not 64 lowercase hex")?;
        let sig_bytes = base64::engine::general_purpose::STANDARD
            .decode(c.sig)
            .map_err(|_| "checkpoint sig is not base64".to_string())?;
        let sig: [u8; 64] = sig_bytes
            .try_into()
            .map_err(|_| "checkpoint sig is not 64 bytes".to_string())?;
        let cp = Checkpoint {
            seq: raw.seq,
            ts: raw.ts.to_string(),
            origin: c.origin.to_string(),
            size: c.size,
            head,
            key,
            sig,
        };
        if cp.to_line().as_bytes() != line {
            return Err("checkpoint is not in canonical form".into());
        }
        Ok(cp)
    }

    /// Whether the signature verifies under the key the checkpoint names
    /// itself: true for a checkpoint from a log kept under another key, false
    /// for a forged or altered one.
    pub fn self_signed(&self) -> bool {
        VerifyingKey::from_bytes(&self.key).is_ok_and(|k| {
            let msg = signed_message(&self.origin, self.size, &self.head, &self.ts);
            k.verify_strict(&msg, &Signature::from_bytes(&self.sig))
                .is_ok()
        })
    }

    /// Checks the signature against `key` (the trusted public key).
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), String> {
        if self.key != key.to_bytes() {
            return Err(format!(
                "checkpoint names key {}, not the given public key {}",
                hex::encode(self.key),
                hex::encode(key.to_bytes())
            ));
        }
        let msg = signed_message(&self.origin, self.size, &self.head, &self.ts);
        key.verify_strict(&msg, &Signature::from_bytes(&self.sig))
            .map_err(|_| "checkpoint signature does not verify".to_string())
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

fn key_io(path: &Path) -> impl FnOnce(io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn read_hex32(path: &Path, secret: bool) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let mut f = File::open(path).map_err(key_io(path))?;
    if secret {
        let mode = f.metadata().map_err(key_io(path))?.permissions().mode();
        // A public key given where the secret one belongs is the usual
        // cause: say so instead of asking to chmod a public key.
        if path.extension().is_some_and(|e| e == "pub") {
            return Err(KeyError::Bad {
                path: path.into(),
                why: "this is a public key (.pub); give the secret key file (without .pub), \
                      the one bd-log keygen wrote with mode 0600"
                    .into(),
            });
        }
        if mode & 0o077 != 0 {
            return Err(KeyError::Bad {
                path: path.into(),
                why: format!(
                    "secret key is readable by group or others (mode {:o}); chmod 600 it",
                    mode & 0o777
                ),
            });
        }
    }
    let mut text = Zeroizing::new(Vec::new());
    Read::by_ref(&mut f)
        .take(1024)
        .read_to_end(&mut text)
        .map_err(key_io(path))?;
    let body = text.trim_ascii();
    let mut out = Zeroizing::new([0u8; 32]);
    if body.len() != 64 || hex::decode_to_slice(body, &mut out[..]).is_err() {
        return Err(KeyError::Bad {
            path: path.into(),
            why: "expected one line of 64 hex digits (an Ed25519 key from `bd-log keygen`)".into(),
        });
    }
    Ok(out)
}

/// Loads a secret key written by [`write_keypair`].
pub fn load_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    let b = read_hex32(path, true)?;
    Ok(SigningKey::from_bytes(&b))
}

/// Loads a public key (`KEY.pub`).
pub fn load_verifying_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    let b = read_hex32(path, false)?;
    VerifyingKey::from_bytes(&b).map_err(|_| KeyError::Bad {
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

/// Creates a new key pair: `secret` (mode 0600) and `secret.pub` (0644).
/// Refuses to overwrite either file.
pub fn write_keypair(secret: &Path) -> Result<VerifyingKey, KeyError> {
    let public = pub_path(secret);
    for p in [secret, public.as_path()] {
        if p.symlink_metadata().is_ok() {
            return Err(KeyError::Bad {
                path: p.into(),
                why: "already exists; refusing to overwrite a key".into(),
            });
        }
    }
    let sk = SigningKey::generate(&mut rand_core::OsRng);
    let vk = sk.verifying_key();
    let write = |p: &Path, mode: u32, body: &[u8]| -> Result<(), KeyError> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(p)
            .map_err(key_io(p))?;
        f.write_all(body).map_err(key_io(p))?;
        f.sync_all().map_err(key_io(p))
    };
    let mut text = Zeroizing::new(hex::encode(sk.to_bytes()).into_bytes());
    text.push(b'\n');
    write(secret, 0o600, &text)?;
    write(
        &public,
        0o644,
        format!("{}\n", hex::encode(vk.to_bytes())).as_bytes(),
    )?;
    Ok(vk)
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
        hash: Hash,
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
        ts: String::from_utf8_lossy(p.ts).into_owned(),
        checkpoint: p.body == Body::Checkpoint,
    })
}

/// Reads the first line of a non-empty log: the genesis checkpoint (size 0),
/// or, in a file that continues a rotated one, the continuation checkpoint
/// (size = the seq where this file starts, head = the SHA-256 of the
/// previous file's last line). Either fixes the file's origin and key.
pub fn read_genesis(f: &File) -> Result<Checkpoint, String> {
    let mut buf = vec![0u8; 4096];
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
/// `origin`, is signed by `key` and whose head is the hash of the line before
/// it. Bytes after that offset were written by nobody the key vouches for:
/// an appender must not sign over them, and `repair` moves them aside.
/// Returns 0 when no such checkpoint exists. Reads backwards in bounded
/// pieces; a checkpoint-looking line is read whole only if it is small.
pub fn vouched_end(f: &File, size: u64, key: &VerifyingKey, origin: &str) -> io::Result<u64> {
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
        if len <= 4096 {
            let mut line = vec![0u8; len];
            f.read_exact_at(&mut line, start)?;
            if let Ok(cp) = Checkpoint::parse_line(&line) {
                if cp.origin == origin && cp.verify(key).is_ok() {
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
                            hash_line(&prev) == cp.head
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
