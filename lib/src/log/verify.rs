//! Streaming, parallel verification of a whole log.
//!
//! A reader thread fills large buffers with whole lines; each buffer is cut
//! into pieces at line boundaries and the pieces are checked in parallel
//! (hash every line, parse its fixed prefix, check links, seq and time order
//! inside the piece, verify checkpoint signatures). The links, seq and time
//! order across piece boundaries are then checked in order. Memory stays at
//! three buffers however long the log is.

use super::keys::PublicKeys;
use super::merkle::{self, Frontier};
use super::sha;
use super::{hash_line, parse_line, Body, Checkpoint, Hash, ZERO};
use rayon::prelude::*;
use std::io::{self, Read};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};

/// What to check beyond links, seq, time order and signatures.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A checkpoint kept elsewhere: the log must still contain it.
    pub anchor: Option<Anchor>,
    /// Read buffer size (0: the default, 8 MiB).
    pub chunk: usize,
}

/// A tree head kept elsewhere, parsed and verified: a checkpoint line
/// exported earlier (`bd-log checkpoint`) or a C2SP signed note (`bd-log
/// checkpoint --note`, `bd-log note`). The log's tree at `size` must have
/// `root`, which is what a consistency proof from it to the log's latest
/// checkpoint shows; the verifier holds every leaf, so it checks the root
/// directly with its O(log n) frontier.
#[derive(Debug, Clone)]
pub struct Anchor {
    /// For a checkpoint line: the line, which must be at seq `size`.
    pub line: Option<Vec<u8>>,
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    pub epoch: u64,
}

impl Anchor {
    /// Parses an exported checkpoint line or a signed note and checks its
    /// signature with the key of the epoch it names.
    pub fn parse(text: &[u8], keys: impl Into<PublicKeys>) -> Result<Anchor, String> {
        let keys = keys.into();
        let t = text.trim_ascii();
        if t.starts_with(b"{") {
            if t.contains(&b'\n') {
                return Err("expected exactly one checkpoint line".into());
            }
            let c = Checkpoint::parse_line(t)?;
            c.verify(&keys)?;
            return Ok(Anchor {
                line: Some(t.to_vec()),
                origin: c.origin,
                size: c.size,
                root: c.root,
                epoch: c.epoch,
            });
        }
        let note = std::str::from_utf8(text).map_err(|_| "a note must be UTF-8 text")?;
        let (th, epoch) = merkle::TreeHead::open_epochs(note, &keys)
            .map_err(|e| format!("neither a checkpoint line nor a signed note by this key: {e}"))?;
        Ok(Anchor {
            line: None,
            origin: th.origin,
            size: th.size,
            root: th.root,
            epoch,
        })
    }

    /// Lines the log must have for this anchor to be checked: its tree, and
    /// for a checkpoint line the line itself.
    pub fn needs(&self) -> u64 {
        self.size + u64::from(self.line.is_some())
    }
}

/// One thing wrong with one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Format(String),
    Seq(u64),
    Link,
    TsOrder,
    Checkpoint(String),
    Origin,
    Record(String),
    Torn(u64),
    Anchor(String),
    Empty,
    WrongKey(String),
    CheckpointTs,
    /// A checkpoint signs a tree other than the one of the lines before it.
    TreeRoot,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Problem {
    seq: u64,
    kind: Kind,
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Complete lines read (all of them when valid; up to shortly after the
    /// first problem otherwise).
    pub lines: u64,
    pub checkpoints: u64,
    pub last_checkpoint: Option<u64>,
    /// Lines after the last checkpoint (not yet covered by a signature).
    pub uncovered: u64,
    pub origin: Option<String>,
    /// The first bad seq and why.
    pub bad: Option<(u64, String)>,
    /// The anchor's seq, when one was given and the log extends it.
    pub anchored: Option<u64>,
    /// The seq of the first line read: 0 for a log that starts with its
    /// genesis, more for a file that continues a rotated one.
    pub first_seq: u64,
    /// The first line's `prev`: for a continuation file, the SHA-256 of the
    /// last line of the file before it.
    pub first_prev: Option<Hash>,
    /// SHA-256 of the last complete line, and whether it is a checkpoint.
    pub last_hash: Option<Hash>,
    pub last_is_checkpoint: bool,
    /// The first checkpoint names this key, not the given one, and carries a
    /// valid signature by it: the log was written under another key. A
    /// verifier cannot decide anything with the wrong key (exit 2, not 1).
    pub wrong_key: Option<String>,
    /// In a set of files: the file the first problem is in.
    pub bad_file: Option<String>,
    /// In a set of files: how many were read.
    pub files: u64,
    /// Could not decide (an anchor older than every file given): the reason.
    pub undecided: Option<String>,
    /// Epochs of the first and the last checkpoint.
    pub first_epoch: Option<u64>,
    pub last_epoch: Option<u64>,
    /// The Merkle frontier where the file starts (from its first checkpoint)
    /// and where it ends (every line read).
    pub first_frontier: Option<Vec<Hash>>,
    pub end_frontier: Option<Vec<Hash>>,
    /// RFC 6962 root of the whole chain at the last checkpoint.
    pub last_root: Option<Hash>,
    /// The format of the (first) file: 3, or 2 for a log written before v3
    /// (see [`super::FORMAT`]); 0 when nothing was read.
    pub format: u8,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.bad.is_none() && self.undecided.is_none() && self.wrong_key.is_none()
    }
}

const MAX_PROBLEMS: usize = 16;

/// Leaves a piece hashes into its tree at once: a perfect subtree when the
/// batch is aligned, 8 KiB of hashes.
const LEAF_BATCH: usize = 256;

#[derive(Default)]
struct PieceOut {
    first_prev: Option<Hash>,
    first_ts: Option<[u8; super::TS_LEN]>,
    last_hash: Option<Hash>,
    last_ts: Option<[u8; super::TS_LEN]>,
    /// The piece starts with a checkpoint (whose ts must equal the ts of
    /// the line before it, in the previous piece).
    first_is_checkpoint: bool,
    problems: Vec<Problem>,
    checkpoints: Vec<(u64, Checkpoint)>,
    /// The piece's own part of the Merkle tree: the perfect subtrees its
    /// leaves complete, left to right.
    tree: merkle::Subtrees,
    /// At each checkpoint and at the anchor's size: the piece's subtrees of
    /// the leaves before that line.
    snaps: Vec<(u64, Vec<(u32, Hash)>)>,
    /// Leaves hashed (fewer than the piece's lines when cut short).
    leaves: u64,
    /// The piece's last checkpoint line: the byte offset just after it, and its seq.
    last_cp_end: Option<(usize, u64)>,
    cut_short: bool,
    last_is_checkpoint: bool,
}

fn ts_arr(ts: &[u8]) -> Option<[u8; super::TS_LEN]> {
    ts.try_into().ok()
}

fn check_piece(
    data: &[u8],
    base: u64,
    keys: &PublicKeys,
    opts: &Options,
    anchor_seq: Option<u64>,
    file_first: u64,
    format: u8,
) -> PieceOut {
    let mut out = PieceOut {
        tree: merkle::Subtrees::starting_at(base),
        ..PieceOut::default()
    };
    // One UTF-8 pass over the piece instead of one per record: the lines are
    // ASCII but for records, and a `\n` cannot sit inside a UTF-8 sequence,
    // so the piece is valid exactly when every record is.
    let utf8_checked = std::str::from_utf8(data).is_ok();
    let tree_size = opts.anchor.as_ref().map(|a| a.size);
    let mut start = 0usize;
    let mut prev_hash: Option<Hash> = None;
    let mut prev_ts: Option<[u8; super::TS_LEN]> = None;
    let mut prev_is_cp = false;
    let push = |out: &mut PieceOut, seq, kind| out.problems.push(Problem { seq, kind });
    // Leaf hashes wait here until a whole run of the tree can be hashed
    // level by level, two nodes at a time (merkle::Subtrees::push_hashes).
    let mut leaves: Vec<Hash> = Vec::with_capacity(LEAF_BATCH);
    // The next line's leaf, hashed together with this line's.
    let mut next_leaf: Option<Hash> = None;
    let mut nls = memchr::memchr_iter(b'\n', data).peekable();
    let mut idx = base;
    while let Some(nl) = nls.next() {
        let line = &data[start..nl];
        start = nl + 1;
        // Format v3 chains the leaf hash: one SHA-256 per line for both.
        let leaf = match (next_leaf.take(), nls.peek()) {
            (Some(l), _) => l,
            (None, Some(&nl2)) => {
                let [a, b] = sha::leaf_hashes2(line, &data[start..nl2]);
                next_leaf = Some(b);
                a
            }
            (None, None) => merkle::leaf_hash(line),
        };
        let h = if format >= 3 { leaf } else { hash_line(line) };
        // The chain check compares digits, not decoded bytes: encoding
        // the one expected hash is cheaper than decoding every prev.
        let expect = prev_hash.map(|h| (h, super::hex_hash(&h)));
        let parsed = super::parse_line_expecting(line, expect.as_ref().map(|(h, x)| (h, x)));
        if tree_size == Some(idx) || matches!(&parsed, Ok(p) if p.body == Body::Checkpoint) {
            out.tree.push_hashes(&mut leaves);
            leaves.clear();
            out.snaps.push((idx, out.tree.parts().to_vec()));
        }
        leaves.push(leaf);
        if (idx + 1).is_multiple_of(LEAF_BATCH as u64) {
            out.tree.push_hashes(&mut leaves);
            leaves.clear();
        }
        out.leaves += 1;
        let mut ts_here = None;
        out.last_is_checkpoint = false;
        match parsed {
            Err(e) => push(&mut out, idx, Kind::Format(e.to_string())),
            Ok(p) => {
                if p.seq != idx {
                    push(&mut out, idx, Kind::Seq(p.seq));
                }
                match prev_hash {
                    Some(ph) if ph != p.prev => push(&mut out, idx, Kind::Link),
                    Some(_) => {}
                    None => out.first_prev = Some(p.prev),
                }
                ts_here = ts_arr(p.ts);
                if p.body == Body::Checkpoint && idx != file_first && !prev_is_cp {
                    // Its own ts is not in the note it signs: it repeats the
                    // ts of the line before, which the tree covers. (A
                    // rotation's continuation, right after the closing
                    // checkpoint, starts a file and has its own.)
                    match (prev_ts, ts_here) {
                        (Some(a), Some(b)) if a != b => push(&mut out, idx, Kind::CheckpointTs),
                        (None, _) if idx == base => out.first_is_checkpoint = true,
                        _ => {}
                    }
                }
                prev_is_cp = p.body == Body::Checkpoint;
                match (prev_ts, ts_here) {
                    (Some(a), Some(b)) if b < a => push(&mut out, idx, Kind::TsOrder),
                    (None, _) if idx == base => out.first_ts = ts_here,
                    _ => {}
                }
                match p.body {
                    Body::Record(_) if idx == file_first => push(
                        &mut out,
                        idx,
                        Kind::Format(if idx == 0 {
                            "line 0 must be the genesis checkpoint".into()
                        } else {
                            "a file must start with a checkpoint (the genesis or a rotation's continuation)".into()
                        }),
                    ),
                    Body::Record(r) => {
                        // Always: the chain only authenticates lines up to the
                        // last checkpoint, so a corrupted newline that merges
                        // the tail's last record with the final checkpoint
                        // would otherwise read as one uncovered entry.
                        // The strict JSON check waits until it is known
                        // whether a checkpoint covers this line (verify_one).
                        if let Err(e) = super::check_record_shape(r, utf8_checked) {
                            push(&mut out, idx, Kind::Record(e));
                        }
                    }
                    Body::Checkpoint => {
                        out.last_is_checkpoint = true;
                        out.last_cp_end = Some((start, idx));
                        match Checkpoint::parse_line(line) {
                            Err(e) => push(&mut out, idx, Kind::Checkpoint(e)),
                            Ok(c)
                                if idx == file_first
                                    && keys.raw(c.epoch) != Some(&c.key)
                                    && c.self_signed() =>
                            {
                                push(&mut out, idx, Kind::WrongKey(b64(&c.key)))
                            }
                            Ok(c) if c.format != format => push(
                                &mut out,
                                idx,
                                Kind::Format(format!(
                                    "a format v{} checkpoint in a v{format} file (a file keeps the format of its first line)",
                                    c.format
                                )),
                            ),
                            Ok(c) => match c.verify(keys) {
                                Err(e) => push(&mut out, idx, Kind::Checkpoint(e)),
                                Ok(()) => out.checkpoints.push((idx, c)),
                            },
                        }
                    }
                }
            }
        }
        if anchor_seq == Some(idx) {
            if let Some(a) = &opts.anchor {
                if a.line.as_deref() != Some(line) {
                    push(
                        &mut out,
                        idx,
                        Kind::Anchor(
                            "differs from the anchor checkpoint: the log was rewritten or rolled back"
                                .into(),
                        ),
                    );
                }
            }
        }
        prev_hash = Some(h);
        prev_ts = ts_here;
        idx += 1;
        if out.problems.len() >= MAX_PROBLEMS {
            out.tree.push_hashes(&mut leaves);
            out.cut_short = true;
            return out;
        }
    }
    out.tree.push_hashes(&mut leaves);
    out.last_hash = prev_hash;
    out.last_ts = prev_ts;
    out
}

struct Chunk {
    buf: Vec<u8>,
    /// Bytes of complete lines at the front of `buf`.
    len: usize,
    /// At EOF: bytes after the last `\n` (a torn line).
    torn: u64,
    /// The line after the complete ones is longer than any bd-log line
    /// (`MAX_LINE`): reading stopped there rather than hold it.
    overlong: bool,
}

fn reader<R: Read>(
    mut r: R,
    chunk: usize,
    tx: SyncSender<io::Result<Chunk>>,
    back: Receiver<Vec<u8>>,
) {
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let mut buf = back.try_recv().unwrap_or_default();
        if buf.len() < chunk.max(carry.len() * 2) {
            buf.resize(chunk.max(carry.len() * 2), 0);
        }
        buf[..carry.len()].copy_from_slice(&carry);
        let mut filled = carry.len();
        carry.clear();
        let mut eof = false;
        while filled < buf.len() {
            match r.read(&mut buf[filled..]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
        let complete = memchr::memrchr(b'\n', &buf[..filled]).map_or(0, |i| i + 1);
        if eof {
            let torn = (filled - complete) as u64;
            let _ = tx.send(Ok(Chunk {
                buf,
                len: complete,
                torn,
                overlong: false,
            }));
            return;
        }
        // A line longer than the buffer: carry it whole into a bigger one,
        // up to the longest line bd-log writes; past that it cannot be valid.
        let overlong = filled - complete > super::MAX_LINE;
        if !overlong {
            carry.extend_from_slice(&buf[complete..filled]);
        }
        if tx
            .send(Ok(Chunk {
                buf,
                len: complete,
                torn: 0,
                overlong,
            }))
            .is_err()
            || overlong
        {
            return;
        }
    }
}

/// Splits `data` (complete lines) into about `n` pieces at line ends.
fn split_pieces(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    let step = (data.len() / n.max(1)).max(64 * 1024);
    while start < data.len() {
        let want = (start + step).min(data.len());
        let end = if want >= data.len() {
            data.len()
        } else {
            memchr::memchr(b'\n', &data[want - 1..]).map_or(data.len(), |i| want + i)
        };
        out.push(&data[start..end]);
        start = end;
    }
    out
}

/// The strict JSON check of the records in `data` (complete lines, the
/// first at seq `base`), in parallel.
fn strict_records(data: &[u8], base: u64) -> Vec<Problem> {
    let pieces = split_pieces(data, rayon::current_num_threads() * 4);
    let mut bases = Vec::with_capacity(pieces.len());
    let mut b = base;
    for p in &pieces {
        bases.push(b);
        b += count_lines(p);
    }
    pieces
        .par_iter()
        .zip(bases.par_iter())
        .flat_map_iter(|(p, &base)| {
            let mut start = 0;
            let mut out = Vec::new();
            for (idx, nl) in (base..).zip(memchr::memchr_iter(b'\n', p)) {
                let line = &p[start..nl];
                start = nl + 1;
                if let Ok(super::Prefix {
                    body: Body::Record(r),
                    ..
                }) = parse_line(line)
                {
                    if let Err(e) = super::check_record_json(r) {
                        out.push(Problem {
                            seq: idx,
                            kind: Kind::Record(e),
                        });
                    }
                }
            }
            out
        })
        .collect()
}

fn count_lines(piece: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', piece).count() as u64
}

/// Verifies a whole log read from `r` against the trusted public key.
/// I/O errors are returned; everything wrong with the content is in the
/// report. A log that starts with a continuation checkpoint (a file after a
/// rotation) is verified from its first seq on; [`verify_set`] checks the
/// links between files.
pub fn verify<R: Read + Send>(
    r: R,
    keys: impl Into<PublicKeys>,
    opts: &Options,
) -> io::Result<Report> {
    let keys = keys.into();
    let mut rep = verify_one(r, &keys, opts)?;
    finish_anchor(&mut rep, opts);
    Ok(rep)
}

/// One file of a set: a display name and its (decompressed) bytes.
pub struct Input<'a> {
    pub name: String,
    pub reader: Box<dyn Read + Send + 'a>,
}

/// Verifies a rotated set of files, oldest first: each file on its own, then
/// every link between two files (the next file's first checkpoint continues
/// the previous file's chain: same origin, the next seq, `prev` = the SHA-256
/// of its last line). A gap, a file out of order, a new or foreign origin and
/// a rewritten or rolled-back file are each reported as what they are; the
/// anchor, if any, is checked across the whole set.
pub fn verify_set(
    inputs: Vec<Input<'_>>,
    keys: impl Into<PublicKeys>,
    opts: &Options,
) -> io::Result<Report> {
    let keys = keys.into();
    let mut total = Report::default();
    let mut prev: Option<(String, Report)> = None;
    for (i, input) in inputs.into_iter().enumerate() {
        let name = input.name;
        let rep = verify_one(input.reader, &keys, opts)
            .map_err(|e| io::Error::new(e.kind(), format!("{name}: {e}")))?;
        total.files += 1;
        if i == 0 {
            total.first_seq = rep.first_seq;
            total.first_prev = rep.first_prev;
            total.origin = rep.origin.clone();
            total.first_epoch = rep.first_epoch;
            total.first_frontier = rep.first_frontier.clone();
            total.format = rep.format;
        }
        if rep.wrong_key.is_some() {
            total.wrong_key = rep.wrong_key.clone();
            total.bad_file = Some(name);
            return Ok(total);
        }
        if let Some((pname, p)) = &prev {
            if let Some(why) = link_problem(pname, p, &name, &rep) {
                total.bad = Some((rep.first_seq, why));
                total.bad_file = Some(name);
                return Ok(total);
            }
        }
        total.lines += rep.lines;
        total.checkpoints += rep.checkpoints;
        if rep.last_checkpoint.is_some() {
            total.last_checkpoint = rep.last_checkpoint;
        }
        total.last_hash = rep.last_hash;
        total.last_is_checkpoint = rep.last_is_checkpoint;
        total.uncovered = rep.uncovered;
        total.anchored = total.anchored.or(rep.anchored);
        if rep.last_epoch.is_some() {
            total.last_epoch = rep.last_epoch;
            total.last_root = rep.last_root;
        }
        total.end_frontier = rep.end_frontier.clone();
        if rep.bad.is_some() {
            total.bad = rep.bad.clone();
            total.bad_file = Some(name);
            return Ok(total);
        }
        prev = Some((name, rep));
    }
    if total.files == 0 {
        total.bad = Some((0, "no files given".into()));
        return Ok(total);
    }
    // The in-file check already compared the anchor's line where its seq was
    // read; what is left is an anchor before or after the whole set.
    if let Some(a) = &opts.anchor {
        let end = total.first_seq + total.lines;
        if total.anchored.is_some() {
        } else if a.size < total.first_seq {
            total.undecided = Some(format!(
                "the anchor's tree has size {}, before the first file given (which starts at seq {}): \
                 give the rotated files that hold it (several -l, oldest first, or a glob)",
                a.size, total.first_seq
            ));
        } else if a.needs() > end {
            let name = prev.map(|(n, _)| n).unwrap_or_default();
            total.bad = Some((
                end,
                format!(
                    "truncated or rolled back: the last file ends at seq {} but the anchor covers {} lines",
                    end.saturating_sub(1),
                    a.needs()
                ),
            ));
            total.bad_file = Some(name);
        }
    }
    Ok(total)
}

/// What is wrong with the link from file `p` to the file `n` after it.
fn link_problem(pname: &str, p: &Report, nname: &str, n: &Report) -> Option<String> {
    let p_first = p.first_seq;
    let p_last = p.first_seq + p.lines.saturating_sub(1);
    let n_first = n.first_seq;
    if n.origin != p.origin {
        if n_first == 0 {
            return Some(format!(
                "new origin: {nname} starts a new log (genesis, origin {}) instead of continuing {pname} (origin {}); \
                 the appender lost the chain (a copytruncate, or a restart with the previous file moved away)",
                n.origin.as_deref().unwrap_or("?"),
                p.origin.as_deref().unwrap_or("?")
            ));
        }
        return Some(format!(
            "spliced from another log: {nname} has origin {}, {pname} has origin {}",
            n.origin.as_deref().unwrap_or("?"),
            p.origin.as_deref().unwrap_or("?")
        ));
    }
    if n.format != p.format {
        return Some(format!(
            "format changed between files: {pname} is format v{} and {nname} v{}, but a rotation keeps \
             the log's format: {nname} does not continue {pname}",
            p.format, n.format
        ));
    }
    if n_first <= p_first {
        return Some(format!(
            "reordered set: {nname} (seq {n_first}..) comes before {pname} (seq {p_first}..{p_last}) in the chain, \
             or is a duplicate; give the files oldest first"
        ));
    }
    if n_first <= p_last {
        return Some(format!(
            "rolled back: {nname} continues the chain from seq {} but {pname} goes on to seq {p_last}: \
             the log was cut back and rewritten after seq {}",
            n_first - 1,
            n_first - 1
        ));
    }
    if n_first > p_last + 1 {
        if !p.last_is_checkpoint {
            return Some(format!(
                "truncated file: {pname} ends at seq {p_last} without the checkpoint that closes a rotated file, \
                 and {nname} continues from seq {}: seqs {}..{} are missing",
                n_first - 1,
                p_last + 1,
                n_first - 1
            ));
        }
        return Some(format!(
            "missing file: seqs {}..{} are absent between {pname} (ends at seq {p_last}) and {nname} (starts at seq {n_first}); \
             a rotated file was removed from the middle of the set (or {pname} was cut back to a checkpoint)",
            p_last + 1,
            n_first - 1
        ));
    }
    if let (Some(pe), Some(ne)) = (p.last_epoch, n.first_epoch) {
        if ne < pe || ne > pe + 1 {
            return Some(format!(
                "key epochs do not follow: {pname} ends at epoch {pe} and {nname} starts at epoch {ne} \
                 (a checkpoint signed with a later key after a cut: the chain was rewritten)"
            ));
        }
    }
    if n.first_frontier.is_some() && n.first_frontier != p.end_frontier {
        return Some(format!(
            "broken link between files: the first checkpoint of {nname} commits to a Merkle tree \
             other than the one {pname} ends with"
        ));
    }
    if n.first_prev != p.last_hash {
        return Some(format!(
            "broken link between files: the first checkpoint of {nname} commits to a last line of {pname} \
             (seq {p_last}) with other bytes: {pname} was rewritten, or {nname} continues a different copy of it"
        ));
    }
    None
}

/// The end-of-log anchor check for one file read on its own.
fn finish_anchor(rep: &mut Report, opts: &Options) {
    let Some(a) = &opts.anchor else { return };
    if rep.bad.is_some() || rep.wrong_key.is_some() || rep.lines == 0 || rep.anchored.is_some() {
        return;
    }
    let end = rep.first_seq + rep.lines;
    if a.size < rep.first_seq {
        rep.undecided = Some(format!(
            "the anchor's tree has size {}, before this file's first line (seq {}): \
             give the rotated files that hold it (several -l, oldest first, or a glob)",
            a.size, rep.first_seq
        ));
    } else if a.needs() > end {
        rep.bad = Some((
            end,
            format!(
                "log ends before the anchor's tree (size {}): truncated or rolled back",
                a.size
            ),
        ));
    }
}

fn b64(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn verify_one<R: Read + Send>(r: R, keys: &PublicKeys, opts: &Options) -> io::Result<Report> {
    let chunk = if opts.chunk == 0 { 8 << 20 } else { opts.chunk };
    let npieces = rayon::current_num_threads() * 4;
    let anchor_seq = opts
        .anchor
        .as_ref()
        .filter(|a| a.line.is_some())
        .map(|a| a.size);
    let mut problems: Vec<Problem> = Vec::new();
    let mut rep = Report::default();
    let mut last_hash: Option<Hash> = None;
    let mut last_ts: Option<[u8; super::TS_LEN]> = None;
    let mut extra_chunks_left: Option<u32> = None;
    let mut torn = 0u64;
    let mut first: Option<u64> = None;
    let mut format = 0u8;
    let mut wrong_key = None;
    // The RFC 6962 tree of the chain so far: from the genesis, or from the
    // frontier a continuation file's first (signed) checkpoint carries.
    let mut tree: Option<Frontier> = None;
    let mut tree_lost = false;
    // A chunk's lines after its last checkpoint: (buffer, offset, seq).
    let mut pending: Option<(Vec<u8>, usize, u64)> = None;

    std::thread::scope(|s| -> io::Result<()> {
        let (tx, rx) = sync_channel::<io::Result<Chunk>>(1);
        let (back_tx, back_rx): (Sender<Vec<u8>>, Receiver<Vec<u8>>) = channel();
        s.spawn(move || reader(r, chunk, tx, back_rx));
        for msg in rx.iter() {
            let c = msg?;
            let data = &c.buf[..c.len];
            // The first line says where this file sits in the chain: seq 0
            // (the genesis, whose prev must be zeros) or a continuation. A
            // chunk without a complete line (a small buffer) cannot say yet.
            let known = first.is_some() || c.len > 0;
            let file_first = if !known {
                0
            } else {
                *first.get_or_insert_with(|| {
                    let end = memchr::memchr(b'\n', data).unwrap_or(data.len());
                    // The first line's checkpoint says the file's format; read
                    // without a full parse so a damaged line still gets the
                    // right chain rule for the lines after it.
                    format = if memchr::memmem::find(&data[..end], b"\"checkpoint\":{\"v\":3,")
                        .is_some()
                    {
                        3
                    } else {
                        2
                    };
                    match parse_line(&data[..end]) {
                        Ok(p) if p.body == Body::Checkpoint && p.seq > 0 => p.seq,
                        _ => 0,
                    }
                })
            };
            if known && file_first == 0 && rep.lines == 0 {
                last_hash = Some(ZERO);
                tree = Some(Frontier::new());
            }
            let pieces = split_pieces(data, npieces);
            let counts: Vec<u64> = pieces.par_iter().map(|p| count_lines(p)).collect();
            let mut bases = Vec::with_capacity(pieces.len());
            let mut b = file_first + rep.lines;
            for n in &counts {
                bases.push(b);
                b += n;
            }
            let outs: Vec<PieceOut> = pieces
                .par_iter()
                .zip(bases.par_iter())
                .map(|(p, &base)| check_piece(p, base, keys, opts, anchor_seq, file_first, format))
                .collect();
            // Where the lines no checkpoint in this chunk covers start.
            let mut cp_end: Option<(usize, u64)> = None;
            let chunk_seq = file_first + rep.lines;
            for (((out, &base), n), piece) in outs.into_iter().zip(&bases).zip(&counts).zip(&pieces)
            {
                let piece_off = piece.as_ptr() as usize - data.as_ptr() as usize;
                if base == file_first {
                    rep.first_prev = out.first_prev;
                }
                if let (Some(lh), Some(fp)) = (last_hash, out.first_prev) {
                    if lh != fp {
                        problems.push(Problem {
                            seq: base,
                            kind: Kind::Link,
                        });
                    }
                }
                if let (Some(a), Some(b), true) = (
                    last_ts,
                    out.first_ts,
                    out.first_is_checkpoint && !rep.last_is_checkpoint,
                ) {
                    if a != b {
                        problems.push(Problem {
                            seq: base,
                            kind: Kind::CheckpointTs,
                        });
                    }
                }
                if let (Some(a), Some(b)) = (last_ts, out.first_ts) {
                    if b < a {
                        problems.push(Problem {
                            seq: base,
                            kind: Kind::TsOrder,
                        });
                    }
                }
                for p in &out.problems {
                    if let Kind::WrongKey(k) = &p.kind {
                        wrong_key = Some(k.clone());
                    }
                }
                problems.extend(out.problems);
                // The tree, in order: each checkpoint must sign the root of
                // exactly the lines before it, and the anchor's tree must be
                // a prefix of this one. The piece hashed its own subtrees;
                // here they are joined on in O(log n) per checkpoint.
                let mut cps = out.checkpoints.into_iter().peekable();
                for (idx, snap) in &out.snaps {
                    let idx = *idx;
                    let cp = cps.next_if(|(s, _)| *s == idx).map(|(_, c)| c);
                    if let Some(c) = &cp {
                        if tree.is_none() && !tree_lost && idx == file_first {
                            tree = c.frontier();
                            rep.first_frontier = Some(c.frontier.clone());
                        }
                    }
                    let here = tree
                        .as_ref()
                        .filter(|_| !tree_lost)
                        .and_then(|t| merkle::Subtrees::join(t, snap));
                    if let Some(t) = &here {
                        if let Some(c) = &cp {
                            if t.stack() != c.frontier.as_slice() {
                                problems.push(Problem {
                                    seq: idx,
                                    kind: Kind::TreeRoot,
                                });
                            }
                        }
                        if let Some(a) = opts.anchor.as_ref().filter(|a| a.size == t.size()) {
                            if a.origin
                                != rep
                                    .origin
                                    .clone()
                                    .or(cp.as_ref().map(|c| c.origin.clone()))
                                    .unwrap_or_default()
                                || a.root != t.root()
                            {
                                problems.push(Problem {
                                    seq: idx,
                                    kind: Kind::Anchor(format!(
                                        "the log's tree of {} lines differs from the anchor's: the log was rewritten or rolled back, or the anchor is from another log",
                                        a.size
                                    )),
                                });
                            } else {
                                rep.anchored = Some(a.size);
                            }
                        }
                    }
                    if let Some(c) = cp {
                        match &rep.origin {
                            None if idx == file_first => rep.origin = Some(c.origin.clone()),
                            Some(o) if *o == c.origin => {}
                            _ => problems.push(Problem {
                                seq: idx,
                                kind: Kind::Origin,
                            }),
                        }
                        if let Some(le) = rep.last_epoch {
                            if c.epoch < le || c.epoch > le + 1 {
                                problems.push(Problem {
                                    seq: idx,
                                    kind: Kind::Checkpoint(format!(
                                        "key epoch {} after epoch {le}: epochs advance by one at most and never go back (a later key re-signed the log after a cut)",
                                        c.epoch
                                    )),
                                });
                            }
                        }
                        rep.first_epoch.get_or_insert(c.epoch);
                        rep.last_epoch = Some(c.epoch);
                        rep.last_root = Some(c.root);
                        rep.checkpoints += 1;
                        rep.last_checkpoint = Some(idx);
                    }
                }
                if let Some((e, idx)) = out.last_cp_end {
                    cp_end = Some((piece_off + e, idx + 1));
                }
                if out.leaves < *n {
                    tree_lost = true;
                }
                if let Some(t) = tree.as_mut().filter(|_| !tree_lost) {
                    match merkle::Subtrees::join(t, out.tree.parts()) {
                        Some(j) => *t = j,
                        None => tree_lost = true,
                    }
                }
                last_hash = if out.cut_short { None } else { out.last_hash };
                if *n > 0 {
                    rep.last_is_checkpoint = out.last_is_checkpoint;
                }
                last_ts = out.last_ts;
                rep.lines = base + n - file_first;
            }
            // Records no checkpoint covers get the strict JSON check too
            // (see check_record_shape). A chunk's uncovered tail is held
            // until the next chunk shows whether a checkpoint follows it:
            // one buffer more, whatever the log's length.
            if let Some((buf, start, seq)) = pending.take() {
                if cp_end.is_none() {
                    problems.extend(strict_records(&buf[start..], seq));
                }
                let _ = back_tx.send(buf);
            }
            let (tail_off, tail_seq) = cp_end.unwrap_or((0, chunk_seq));
            let hold = tail_off < c.len;
            let mut buf = c.buf;
            buf.truncate(c.len);
            torn = c.torn;
            if hold {
                pending = Some((std::mem::take(&mut buf), tail_off, tail_seq));
            }
            if c.overlong {
                problems.push(Problem {
                    seq: file_first + rep.lines,
                    kind: Kind::Format(format!(
                        "line longer than {} bytes, more than any bd-log line; verification stops here",
                        super::MAX_LINE
                    )),
                });
                // Nothing after it was read: no end-of-log checks.
                extra_chunks_left = Some(0);
                break;
            }
            if !hold {
                let _ = back_tx.send(buf);
            }
            if !problems.is_empty() {
                // One more chunk lets the attribution below see the next line.
                let left = extra_chunks_left.get_or_insert(1);
                if *left == 0 {
                    break;
                }
                *left -= 1;
            }
        }
        Ok(())
    })?;
    if let Some((buf, start, seq)) = pending.take() {
        problems.extend(strict_records(&buf[start..], seq));
    }

    let file_first = first.unwrap_or(0);
    rep.first_seq = file_first;
    rep.format = format;
    rep.last_hash = last_hash;
    if let (Some(t), Some(a)) = (tree.as_ref().filter(|_| !tree_lost), &opts.anchor) {
        if a.size == t.size() && rep.anchored.is_none() {
            if Some(&a.origin) == rep.origin.as_ref() && a.root == t.root() {
                rep.anchored = Some(a.size);
            } else {
                problems.push(Problem {
                    seq: t.size(),
                    kind: Kind::Anchor(format!(
                        "the log's tree of {} lines differs from the anchor's: the log was rewritten or rolled back, or the anchor is from another log",
                        a.size
                    )),
                });
            }
        }
    }
    rep.end_frontier = tree.filter(|_| !tree_lost).map(|t| t.stack().to_vec());
    if let Some(k) = wrong_key {
        rep.wrong_key = Some(k);
        return Ok(rep);
    }
    let complete = extra_chunks_left.is_none();
    if complete {
        if rep.lines == 0 && torn == 0 {
            problems.push(Problem {
                seq: 0,
                kind: Kind::Empty,
            });
        }
        if torn > 0 {
            problems.push(Problem {
                seq: file_first + rep.lines,
                kind: Kind::Torn(torn),
            });
        }
    }
    rep.uncovered = (file_first + rep.lines) - rep.last_checkpoint.map_or(file_first, |c| c + 1);
    if !problems.is_empty() {
        rep.anchored = None;
        rep.bad = Some(attribute(
            &mut problems,
            file_first + rep.lines,
            rep.last_checkpoint,
        ));
    }
    Ok(rep)
}

/// Names the first bad line. A broken link at seq i alone means line i-1's
/// bytes changed (its own prev still matched); a broken link at i and at i+1
/// means line i itself changed (its prev, or the whole line was replaced).
fn attribute(problems: &mut [Problem], lines: u64, last_cp: Option<u64>) -> (u64, String) {
    problems.sort_by_key(|p| p.seq);
    let i = problems[0].seq;
    let at_i: Vec<&Kind> = problems
        .iter()
        .filter(|p| p.seq == i)
        .map(|p| &p.kind)
        .collect();
    let only_link = at_i.iter().all(|k| {
        matches!(
            k,
            Kind::Link | Kind::TsOrder | Kind::CheckpointTs | Kind::TreeRoot
        )
    }) && at_i.contains(&&Kind::Link);
    if only_link && i > 0 {
        let link_next = problems
            .iter()
            .any(|p| p.seq == i + 1 && p.kind == Kind::Link);
        let is_last = i + 1 >= lines;
        // A final checkpoint whose line before it changed also signs a
        // root that no longer fits; without that, its own prev changed.
        let last_is_checkpoint = last_cp == Some(i) && at_i.contains(&&Kind::TreeRoot);
        if !link_next && (!is_last || last_is_checkpoint) {
            return (
                i - 1,
                format!("content altered: its hash no longer matches the prev recorded in seq {i}"),
            );
        }
        return (i, format!("prev does not match the hash of seq {}", i - 1));
    }
    let k = at_i[0];
    let why = match k {
        Kind::Format(e) => format!("malformed line: {e}"),
        Kind::Seq(found) => {
            format!("expected seq {i}, found {found}: a line was deleted, inserted, duplicated or moved")
        }
        Kind::Link => format!("prev does not match the hash of seq {}", i.saturating_sub(1)),
        Kind::TsOrder => format!("ts is earlier than the ts of seq {}", i.saturating_sub(1)),
        Kind::Checkpoint(e) => {
            format!("{e} (this checkpoint or the lines it covers were altered)")
        }
        Kind::Origin => "checkpoint origin differs from the genesis checkpoint's".into(),
        Kind::Record(e) => format!("record is not what the writer writes: {e}"),
        Kind::Torn(n) => format!(
            "torn last line: {n} bytes without a newline (an interrupted write); run `bd-log repair`"
        ),
        Kind::Anchor(e) => e.clone(),
        Kind::Empty => "log is empty: no genesis checkpoint".into(),
        Kind::TreeRoot => "checkpoint's signed Merkle root is not the root of the lines before it \
             (a line it covers was altered and the chain recomputed, or the checkpoint was moved)"
            .into(),
        Kind::CheckpointTs => format!(
            "checkpoint ts differs from the ts of seq {}, which it must repeat (altered)",
            i.saturating_sub(1)
        ),
        Kind::WrongKey(k) => format!("the log is signed by key {k}, not the given public key"),
    };
    (i, why)
}
