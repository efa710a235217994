//! A C2SP tlog-witness witness for the tests, on 127.0.0.1 only, written to
//! the spec (c2sp.org/tlog-witness, add-checkpoint): no ecosystem witness
//! can be built here (litewitness and the transparency-dev witness are Go
//! modules, and this machine has no Go toolchain new enough to build them).
//!
//! It keeps, per origin, the latest cosigned (size, root), persisted to a
//! state file before it answers; checks the log's note signature with the
//! log key it trusts for the origin (404 unknown origin, 403 no or bad
//! signature), the old size against its state (409 with its size as
//! text/x.tlog.size), the consistency proof (422), and answers 200 with a
//! cosignature/v1 line. The check and the update happen under one lock, as
//! the spec's race paragraph requires.
//!
//! The log signature and the proofs are checked here with this file's own
//! RFC 6962 code, not bd-log's, so a bug in the code under test cannot make
//! both sides agree.

#![allow(dead_code)]

use base64::Engine as _;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

type Hash = [u8; 32];
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn sha(parts: &[&[u8]]) -> Hash {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn node(l: &Hash, r: &Hash) -> Hash {
    sha(&[&[1], l, r])
}

/// RFC 9162 2.1.4.2, written again here from the RFC's text.
fn consistent(size1: u64, size2: u64, root1: &Hash, root2: &Hash, proof: &[Hash]) -> bool {
    if size1 == size2 {
        return proof.is_empty() && root1 == root2;
    }
    if size1 == 0 || size1 > size2 || proof.is_empty() {
        return size1 == 0 && proof.is_empty();
    }
    let mut p: Vec<Hash> = proof.to_vec();
    if size1.is_power_of_two() {
        p.insert(0, *root1);
    }
    let (mut fn_, mut sn) = (size1 - 1, size2 - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (p[0], p[0]);
    for c in &p[1..] {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node(c, &fr);
            sr = node(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    fr == *root1 && sr == *root2 && sn == 0
}

/// A witness key pair and its vkey.
pub struct WitnessId {
    pub name: String,
    pub sk: SigningKey,
}

impl WitnessId {
    pub fn new(name: &str) -> WitnessId {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let seed = sha(&[
            name.as_bytes(),
            &std::process::id().to_be_bytes(),
            &now.to_be_bytes(),
        ]);
        WitnessId {
            name: name.to_string(),
            sk: SigningKey::from_bytes(&seed),
        }
    }

    pub fn key_id(&self) -> [u8; 4] {
        let d = sha(&[
            self.name.as_bytes(),
            &[0x0a, 0x04],
            self.sk.verifying_key().as_bytes(),
        ]);
        [d[0], d[1], d[2], d[3]]
    }

    /// `<name>+<hex key ID>+<base64(0x04 || key)>` (c2sp.org/signed-note).
    pub fn vkey(&self) -> String {
        let mut raw = vec![0x04];
        raw.extend_from_slice(self.sk.verifying_key().as_bytes());
        let id = self.key_id();
        format!(
            "{}+{:02x}{:02x}{:02x}{:02x}+{}",
            self.name,
            id[0],
            id[1],
            id[2],
            id[3],
            B64.encode(raw)
        )
    }

    /// One cosignature/v1 line over `body`, built from the spec's bytes.
    pub fn cosign(&self, body: &str, time: u64) -> String {
        use ed25519_dalek::Signer;
        let msg = format!("cosignature/v1\ntime {time}\n{body}");
        let sig = self.sk.sign(msg.as_bytes());
        let mut blob = self.key_id().to_vec();
        blob.extend_from_slice(&time.to_be_bytes());
        blob.extend_from_slice(&sig.to_bytes());
        format!("\u{2014} {} {}\n", self.name, B64.encode(blob))
    }
}

/// Checks a cosignature/v1 line by `vk` (name, key) over `body`,
/// independently of bd-log's code. Returns the timestamp.
pub fn check_cosignature(line: &str, name: &str, vk: &VerifyingKey, body: &str) -> Option<u64> {
    let rest = line.strip_prefix("\u{2014} ")?;
    let (n, b) = rest.split_once(' ')?;
    let blob = B64.decode(b.trim_end()).ok()?;
    let d = sha(&[name.as_bytes(), &[0x0a, 0x04], vk.as_bytes()]);
    if n != name || blob.len() != 76 || blob[..4] != d[..4] {
        return None;
    }
    let time = u64::from_be_bytes(blob[4..12].try_into().ok()?);
    let sig = Signature::from_slice(&blob[12..]).ok()?;
    let msg = format!("cosignature/v1\ntime {time}\n{body}");
    vk.verify_strict(msg.as_bytes(), &sig).ok()?;
    Some(time)
}

struct State {
    /// origin -> (size, root) of the latest cosigned checkpoint.
    latest: BTreeMap<String, (u64, Hash)>,
    file: PathBuf,
}

impl State {
    fn load(file: PathBuf) -> State {
        let mut latest = BTreeMap::new();
        if let Ok(t) = std::fs::read_to_string(&file) {
            for l in t.lines() {
                let mut p = l.split(' ');
                let (Some(o), Some(s), Some(r)) = (p.next(), p.next(), p.next()) else {
                    continue;
                };
                let root: Hash = B64.decode(r).unwrap().try_into().unwrap();
                latest.insert(o.to_string(), (s.parse().unwrap(), root));
            }
        }
        State { latest, file }
    }

    /// Written and synced before the answer, as the spec requires.
    fn persist(&self) -> std::io::Result<()> {
        use std::io::Write;
        let tmp = self.file.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp)?;
        for (o, (s, r)) in &self.latest {
            writeln!(f, "{o} {s} {}", B64.encode(r))?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, &self.file)
    }
}

/// What the witness received, for the tests to look at.
#[derive(Debug, Clone)]
pub struct Seen {
    pub old: u64,
    pub proof_lines: usize,
    pub status: u16,
}

pub struct Witness {
    pub id: Arc<WitnessId>,
    /// When set, the witness answers 200 with a cosignature over another
    /// body (a broken or lying witness), for the client's check.
    pub lie: Arc<std::sync::atomic::AtomicBool>,
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Witness {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The logs a witness trusts: origin -> the log's Ed25519 note key.
pub type Logs = BTreeMap<String, VerifyingKey>;

impl Witness {
    /// Starts a witness on 127.0.0.1 (a free port) with its state in `state`.
    pub fn start(id: WitnessId, logs: Logs, state: PathBuf) -> Witness {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1"));
        let port = server.server_addr().to_ip().expect("ip listener").port();
        let id = Arc::new(id);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let st = Arc::new(Mutex::new(State::load(state)));
        let lie = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (srv, id2, seen2, lie2) = (server.clone(), id.clone(), seen.clone(), lie.clone());
        let thread = std::thread::spawn(move || {
            while let Ok(mut req) = srv.recv() {
                let mut body = String::new();
                let ok_read = req.as_reader().read_to_string(&mut body).is_ok();
                let post = *req.method() == tiny_http::Method::Post;
                let (status, ctype, text, old, proofs) =
                    if !post || req.url().trim_end_matches('/') != "/add-checkpoint" {
                        (404, "text/plain", "not found\n".to_string(), 0, 0)
                    } else if !ok_read {
                        (400, "text/plain", "body is not UTF-8\n".to_string(), 0, 0)
                    } else {
                        let lie = lie2.load(std::sync::atomic::Ordering::Relaxed);
                        add_checkpoint(&id2, &logs, &st, &body, lie)
                    };
                seen2.lock().unwrap().push(Seen {
                    old,
                    proof_lines: proofs,
                    status,
                });
                let h =
                    tiny_http::Header::from_bytes(&b"Content-Type"[..], ctype.as_bytes()).unwrap();
                let _ = req.respond(
                    tiny_http::Response::from_string(text)
                        .with_status_code(status)
                        .with_header(h),
                );
            }
        });
        Witness {
            id,
            lie,
            url: format!("http://127.0.0.1:{port}/"),
            seen,
            server,
            thread: Some(thread),
        }
    }

    pub fn vkey(&self) -> String {
        self.id.vkey()
    }

    pub fn statuses(&self) -> Vec<u16> {
        self.seen.lock().unwrap().iter().map(|s| s.status).collect()
    }
}

fn decimal(s: &str) -> Option<u64> {
    (s == "0" || (!s.is_empty() && !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit())))
        .then(|| s.parse().ok())
        .flatten()
}

type Answer = (u16, &'static str, String, u64, usize);

fn add_checkpoint(id: &WitnessId, logs: &Logs, st: &Mutex<State>, req: &str, lie: bool) -> Answer {
    let bad = |why: &str| (400, "text/plain", format!("{why}\n"), 0, 0);
    let Some((head, note)) = req.split_once("\n\n") else {
        return bad("no blank line before the checkpoint");
    };
    let mut lines = head.split('\n');
    let Some(old) = lines
        .next()
        .and_then(|l| l.strip_prefix("old "))
        .and_then(decimal)
    else {
        return bad("first line is not 'old N'");
    };
    let mut proof: Vec<Hash> = Vec::new();
    for l in lines {
        match B64.decode(l).ok().and_then(|b| <Hash>::try_from(b).ok()) {
            Some(h) => proof.push(h),
            None => return bad("a proof line is not a base64 hash"),
        }
    }
    if proof.len() > 63 {
        return bad("more than 63 proof lines");
    }
    let n = proof.len();
    let ans = |status: u16, text: String| (status, "text/plain", text, old, n);
    // The note: text up to the last blank line, then signature lines.
    let Some(at) = note.rfind("\n\n") else {
        return ans(400, "checkpoint is not a signed note\n".into());
    };
    let (body, sigs) = (&note[..at + 1], &note[at + 2..]);
    let text: Vec<&str> = body.lines().collect();
    if text.len() < 3 {
        return ans(400, "checkpoint has fewer than three lines\n".into());
    }
    let origin = text[0];
    let (Some(size), Some(root)) = (
        decimal(text[1]),
        B64.decode(text[2])
            .ok()
            .and_then(|b| <Hash>::try_from(b).ok()),
    ) else {
        return ans(400, "checkpoint size or root is malformed\n".into());
    };
    let Some(lk) = logs.get(origin) else {
        return ans(404, format!("unknown origin {origin}\n"));
    };
    // The log's signature: key name = origin, ID over type 0x01.
    let d = sha(&[origin.as_bytes(), &[0x0a, 0x01], lk.as_bytes()]);
    let mut signed = false;
    for l in sigs.lines() {
        let Some((name, b)) = l.strip_prefix("\u{2014} ").and_then(|r| r.split_once(' ')) else {
            return ans(400, "malformed signature line\n".into());
        };
        let Some(blob) = B64.decode(b).ok() else {
            return ans(400, "signature is not base64\n".into());
        };
        if name != origin || blob.len() < 4 || blob[..4] != d[..4] {
            continue;
        }
        let ok = blob.len() == 68
            && Signature::from_slice(&blob[4..])
                .is_ok_and(|s| lk.verify_strict(body.as_bytes(), &s).is_ok());
        if !ok {
            return ans(403, "the log's signature does not verify\n".into());
        }
        signed = true;
    }
    if !signed {
        return ans(403, "no signature by the log's key\n".into());
    }
    if old > size {
        return ans(400, "old size above the checkpoint size\n".into());
    }
    let mut st = st.lock().unwrap();
    let (cur_size, cur_root) = st.latest.get(origin).copied().unwrap_or((0, sha(&[])));
    if old != cur_size {
        return (409, "text/x.tlog.size", format!("{cur_size}\n"), old, n);
    }
    if size == 0 && root != sha(&[]) {
        return ans(
            422,
            "size 0 with a root that is not the empty tree's\n".into(),
        );
    }
    if old == 0 && !proof.is_empty() {
        return ans(422, "a proof from size 0\n".into());
    }
    if old == size && root != cur_root {
        return ans(422, "same size, another root: split view\n".into());
    }
    if old > 0 && !consistent(old, size, &cur_root, &root, &proof) {
        return ans(422, "the consistency proof does not verify\n".into());
    }
    st.latest.insert(origin.to_string(), (size, root));
    if let Err(e) = st.persist() {
        return ans(500, format!("state: {e}\n"));
    }
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if lie {
        return ans(200, id.cosign(&body.replacen('\n', "\nx", 1), time));
    }
    ans(200, id.cosign(body, time))
}
