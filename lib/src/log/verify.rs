//! Streaming, parallel verification of a whole log.
//!
//! A reader thread fills large buffers with whole lines; each buffer is cut
//! into pieces at line boundaries and the pieces are checked in parallel
//! (hash every line, parse its fixed prefix, check links, seq and time order
//! inside the piece, verify checkpoint signatures). The links, seq and time
//! order across piece boundaries are then checked in order. Memory stays at
//! three buffers however long the log is.

use super::{hash_line, parse_line, Body, Checkpoint, Hash, ZERO};
use ed25519_dalek::VerifyingKey;
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

/// A checkpoint exported earlier (`bd-log checkpoint`), parsed and verified.
#[derive(Debug, Clone)]
pub struct Anchor {
    pub line: Vec<u8>,
    pub checkpoint: Checkpoint,
}

impl Anchor {
    /// Parses an exported checkpoint line and checks its signature.
    pub fn parse(text: &[u8], key: &VerifyingKey) -> Result<Anchor, String> {
        let line = text.trim_ascii();
        if line.contains(&b'\n') {
            return Err("expected exactly one checkpoint line".into());
        }
        let checkpoint = Checkpoint::parse_line(line)?;
        checkpoint.verify(key)?;
        Ok(Anchor {
            line: line.to_vec(),
            checkpoint,
        })
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
}

impl Report {
    pub fn ok(&self) -> bool {
        self.bad.is_none()
    }
}

const MAX_PROBLEMS: usize = 16;

#[derive(Default)]
struct PieceOut {
    first_prev: Option<Hash>,
    first_ts: Option<[u8; super::TS_LEN]>,
    last_hash: Option<Hash>,
    last_ts: Option<[u8; super::TS_LEN]>,
    problems: Vec<Problem>,
    checkpoints: Vec<(u64, String)>,
    cut_short: bool,
}

fn ts_arr(ts: &[u8]) -> Option<[u8; super::TS_LEN]> {
    ts.try_into().ok()
}

fn check_piece(
    data: &[u8],
    base: u64,
    key: &VerifyingKey,
    opts: &Options,
    anchor_seq: Option<u64>,
) -> PieceOut {
    let mut out = PieceOut::default();
    let mut start = 0usize;
    let mut prev_hash: Option<Hash> = None;
    let mut prev_ts: Option<[u8; super::TS_LEN]> = None;
    let push = |out: &mut PieceOut, seq, kind| out.problems.push(Problem { seq, kind });
    for (idx, nl) in (base..).zip(memchr::memchr_iter(b'\n', data)) {
        let line = &data[start..nl];
        start = nl + 1;
        let h = hash_line(line);
        let mut ts_here = None;
        match parse_line(line) {
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
                match (prev_ts, ts_here) {
                    (Some(a), Some(b)) if b < a => push(&mut out, idx, Kind::TsOrder),
                    (None, _) if idx == base => out.first_ts = ts_here,
                    _ => {}
                }
                match p.body {
                    Body::Record(_) if idx == 0 => push(
                        &mut out,
                        idx,
                        Kind::Format("line 0 must be the genesis checkpoint".into()),
                    ),
                    Body::Record(r) => {
                        // Always: the chain only authenticates lines up to the
                        // last checkpoint, so a corrupted newline that merges
                        // the tail's last record with the final checkpoint
                        // would otherwise read as one uncovered entry.
                        if let Err(e) = super::check_record(r) {
                            push(&mut out, idx, Kind::Record(e));
                        }
                    }
                    Body::Checkpoint => {
                        match Checkpoint::parse_line(line).and_then(|c| c.verify(key).map(|_| c)) {
                            Err(e) => push(&mut out, idx, Kind::Checkpoint(e)),
                            Ok(c) => out.checkpoints.push((idx, c.origin)),
                        }
                    }
                }
            }
        }
        if anchor_seq == Some(idx) {
            if let Some(a) = &opts.anchor {
                if a.line != line {
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
        if out.problems.len() >= MAX_PROBLEMS {
            out.cut_short = true;
            return out;
        }
    }
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

fn count_lines(piece: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', piece).count() as u64
}

/// Verifies a whole log read from `r` against the trusted public key.
/// I/O errors are returned; everything wrong with the content is in the
/// report.
pub fn verify<R: Read + Send>(r: R, key: &VerifyingKey, opts: &Options) -> io::Result<Report> {
    let chunk = if opts.chunk == 0 { 8 << 20 } else { opts.chunk };
    let npieces = rayon::current_num_threads() * 4;
    let anchor_seq = opts.anchor.as_ref().map(|a| a.checkpoint.seq);
    let mut problems: Vec<Problem> = Vec::new();
    let mut rep = Report::default();
    let mut last_hash: Option<Hash> = Some(ZERO);
    let mut last_ts: Option<[u8; super::TS_LEN]> = None;
    let mut extra_chunks_left: Option<u32> = None;
    let mut torn = 0u64;

    std::thread::scope(|s| -> io::Result<()> {
        let (tx, rx) = sync_channel::<io::Result<Chunk>>(1);
        let (back_tx, back_rx): (Sender<Vec<u8>>, Receiver<Vec<u8>>) = channel();
        s.spawn(move || reader(r, chunk, tx, back_rx));
        for msg in rx.iter() {
            let c = msg?;
            let data = &c.buf[..c.len];
            let pieces = split_pieces(data, npieces);
            let counts: Vec<u64> = pieces.par_iter().map(|p| count_lines(p)).collect();
            let mut bases = Vec::with_capacity(pieces.len());
            let mut b = rep.lines;
            for n in &counts {
                bases.push(b);
                b += n;
            }
            let outs: Vec<PieceOut> = pieces
                .par_iter()
                .zip(bases.par_iter())
                .map(|(p, &base)| check_piece(p, base, key, opts, anchor_seq))
                .collect();
            for ((out, &base), n) in outs.into_iter().zip(&bases).zip(&counts) {
                if let (Some(lh), Some(fp)) = (last_hash, out.first_prev) {
                    if lh != fp {
                        problems.push(Problem {
                            seq: base,
                            kind: Kind::Link,
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
                problems.extend(out.problems);
                for (seq, origin) in out.checkpoints {
                    match &rep.origin {
                        None if seq == 0 => rep.origin = Some(origin),
                        Some(o) if *o == origin => {}
                        _ => problems.push(Problem {
                            seq,
                            kind: Kind::Origin,
                        }),
                    }
                    rep.checkpoints += 1;
                    rep.last_checkpoint = Some(seq);
                }
                last_hash = if out.cut_short { None } else { out.last_hash };
                last_ts = out.last_ts;
                rep.lines = base + n;
            }
            torn = c.torn;
            if c.overlong {
                problems.push(Problem {
                    seq: rep.lines,
                    kind: Kind::Format(format!(
                        "line longer than {} bytes, more than any bd-log line; verification stops here",
                        super::MAX_LINE
                    )),
                });
                // Nothing after it was read: no end-of-log checks.
                extra_chunks_left = Some(0);
                break;
            }
            let _ = back_tx.send(c.buf);
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
                seq: rep.lines,
                kind: Kind::Torn(torn),
            });
        }
        if let Some(a) = anchor_seq {
            if a >= rep.lines {
                problems.push(Problem {
                    seq: rep.lines,
                    kind: Kind::Anchor(format!(
                        "log ends before seq {a} of the anchor checkpoint: truncated or rolled back"
                    )),
                });
            } else {
                rep.anchored = Some(a);
            }
        }
    }
    rep.uncovered = rep.lines - rep.last_checkpoint.map_or(0, |c| c + 1);
    if !problems.is_empty() {
        rep.anchored = None;
        rep.bad = Some(attribute(&mut problems, rep.lines, rep.last_checkpoint));
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
    let only_link =
        at_i.iter().all(|k| matches!(k, Kind::Link | Kind::TsOrder)) && at_i.contains(&&Kind::Link);
    if only_link && i > 0 {
        let link_next = problems
            .iter()
            .any(|p| p.seq == i + 1 && p.kind == Kind::Link);
        let is_last = i + 1 >= lines;
        let last_is_checkpoint = last_cp == Some(i);
        if !link_next && (!is_last || last_is_checkpoint) {
            return (
                i - 1,
                format!(
                    "content altered: its SHA-256 no longer matches the prev recorded in seq {i}"
                ),
            );
        }
        return (
            i,
            format!("prev does not match the SHA-256 of seq {}", i - 1),
        );
    }
    let k = at_i[0];
    let why = match k {
        Kind::Format(e) => format!("malformed line: {e}"),
        Kind::Seq(found) => {
            format!("expected seq {i}, found {found}: a line was deleted, inserted, duplicated or moved")
        }
        Kind::Link => format!("prev does not match the SHA-256 of seq {}", i.saturating_sub(1)),
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
    };
    (i, why)
}
