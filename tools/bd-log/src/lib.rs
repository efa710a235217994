//! bd-log: Append to, verify and read a SHA-256 hash-chained, Ed25519-signed log.
//!
//! The clap definitions live here, not in main.rs, so that `cargo xtask man`
//! and `cargo xtask completions` render exactly what the binary parses.

/// A diagnostic on stderr that never panics: `eprintln!` panics when stderr is
/// full or closed, which would turn a documented exit code into 101.
#[macro_export]
macro_rules! diag {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// One output line in the contract of docs/EVENTS.md: `v`, `type` (snake
/// case) and `time` first, then `body`'s fields (an object) in its order.
pub fn json_line(ty: &str, body: serde_json::Value) -> String {
    let mut out = format!(
        "{{\"v\":1,\"type\":\"{ty}\",\"time\":\"{}\"",
        boundary::time::now_rfc3339()
    );
    if let serde_json::Value::Object(m) = body {
        for (k, v) in m {
            out.push(',');
            out.push_str(&serde_json::Value::String(k).to_string());
            out.push(':');
            out.push_str(&v.to_string());
        }
    }
    out.push('}');
    out
}

pub mod append;
pub mod cli;
pub mod fsutil;
pub mod ops;
pub mod proof;
pub mod witness;

/// The command line, as the binary, the man page and the completions see it.
pub fn command() -> clap::Command {
    <cli::Cli as clap::CommandFactory>::command()
}

const FORMAT: &str = "\
Each line is one JSON object, written in exactly this shape (no spaces):

  {\"seq\":N,\"ts\":\"2026-11-25T19:18:40.123456789Z\",\"prev\":\"<64 hex>\",\"record\":<the input line>}

seq is the 0-based line number. ts is the append time, UTC with nine fractional digits, never earlier than the previous line's (append clamps it if the clock steps back). prev is the SHA-256 of the previous line's exact bytes without its newline, in lowercase hex; line 0 has 64 zeros. The record is the input line byte for byte (trimmed of surrounding whitespace), so hashes never depend on re-serialising JSON.

A checkpoint line has the same prefix and a signed body instead of a record (format v2):

  {\"seq\":N,\"ts\":T,\"prev\":H,\"checkpoint\":{\"origin\":O,\"size\":N,\"root\":R,\"epoch\":E,\"key\":K,\"frontier\":[F,...],\"sig\":S}}

size is the number of lines before the checkpoint (its own seq). root is the base64 RFC 6962 Merkle root over lines 0..size-1 (leaf i is the exact bytes of the line with seq i, without its newline; entries and checkpoints alike), frontier the base64 roots of the tree's perfect subtrees at that size (one per set bit of size, largest first: what an appender or a verifier needs to go on from this line alone). The checkpoint is a C2SP tlog-checkpoint signed note: sig is the base64 of the signed-note key ID (4 bytes, SHA-256(origin, 0x0A, 0x01, public key)[:4]) and the Ed25519 signature over the note text

  O
  N
  R

(three lines, each ending in a newline, without the indentation shown here), by the key of epoch E, whose public key is K (base64). bd-log checkpoint --note prints the same checkpoint as a signed note any signed-note tool can read with that public key. The note has no time: a checkpoint's ts repeats the ts of the line before it, which its tree covers. A checkpoint has exactly one valid spelling; verify rejects any other. Logs written before format v2 (checkpoints with head and time fields) are refused with a message that says so: verify them with the bd-log that wrote them.

Keys are forward-secure. keygen draws a seed s0; the seed of epoch i+1 is SHA-256(\"boundary-log-epoch\" || s(i)) and the Ed25519 secret of epoch i is SHA-256(\"boundary-log-key\" || s(i)). KEY holds only the current epoch's seed; KEY.pub lists every epoch's public key, made at setup. After a write that holds a checkpoint, once the current epoch is --epoch-interval old (default 1h), append fdatasyncs the log, moves the key to the next epoch, rewrites KEY (a new file renamed over it, synced) and erases the old seed from memory. Checkpoints state their epoch; verify accepts a signature only by that epoch's key in KEY.pub, and along a chain an epoch is the previous checkpoint's or the next one, never earlier and never skipping one. Whoever steals KEY at epoch k can derive keys k, k+1, ... only: they cannot re-sign a checkpoint of an earlier epoch, and so cannot rewrite lines covered by one, nor cut the log back to one and regrow it (the next checkpoint would need the erased key of that epoch or the one after).

Line 0 is the genesis checkpoint (size 0, prev all zeros). It fixes the log's origin, bdlog- followed by 128 random bits in hex, chosen when the log is created: every later checkpoint must carry the same origin, and append refuses a log whose genesis key is not one of its key's. Use one key per log: a key file more than one epoch ahead of a log's last checkpoint cannot continue it (append exits 2).

A file that continues a rotated one has no genesis: its first line is a continuation checkpoint at the next seq (size = that seq) whose prev is the SHA-256 of the previous file's last line and whose root and frontier continue the same tree, with the same origin and the same or the next epoch. Concatenated oldest first, the files are one chain. The file a rotation closes ends in a checkpoint.

Checkpoints are written after every --checkpoint-every entries, when entries have been uncovered for --checkpoint-interval, and when input ends. Entries after the last checkpoint are chained but not yet signed: someone who can write the file can rewrite them undetected, and verify reports how many there are.";

const VERIFY: &str = "\
verify reads the log in large blocks with constant memory, hashing lines in parallel. It checks that every line has the exact shape above, that seq counts 0, 1, 2, ..., that every prev is the hash of the line before, that ts never decreases, that line 0 is a genesis checkpoint, and that every checkpoint is canonical, matches its position (size, ts) and origin, signs the Merkle root verify computes itself over the lines before it (memory O(log n)), names the public key of its epoch in KEY.pub, carries a valid signature by it, and that epochs advance by at most one. Every record must be exactly what the writer writes (at most 1 MiB, UTF-8, no surrounding whitespace, one JSON value), covered by a checkpoint or not: the chain authenticates bytes only up to the last checkpoint, and this catches corruption and forgery in the uncovered tail (such as a damaged newline merging two lines). Memory is bounded whatever the input: a line longer than any bd-log line (1 MiB + 4 KiB) is reported as bad at its seq without being held (verification stops there), and append refuses such an input line (exit 1, or skipped with --skip-invalid) while discarding its bytes as they arrive.

On failure it names the first bad seq. A changed line breaks the link to the next line only, so a broken link at seq i with an intact link at i+1 is reported as seq i-1 (altered); a changed prev breaks both links and is reported at its own seq. A deleted, inserted, duplicated or moved line shows as the first seq out of place. Editing a record and recomputing the chain without the key is reported at the next checkpoint, whose signature no longer matches. A torn last line is reported at the seq it would have had.

Cutting the log back to an earlier checkpoint leaves a valid, shorter log: only --anchor catches that (and, after the key moved on, the epoch rule: regrowing it needs the erased key). Export a checkpoint regularly (bd-log checkpoint, or --note for the signed note) to somewhere the host cannot write; verify --anchor then requires the log's tree at the anchor's size to have the anchor's root (what a consistency proof from the anchor to the latest checkpoint shows; verify holds every leaf, so it compares the root directly) and, for a checkpoint line, that exact line at its seq. This holds across a rotated set.

A rotated set is verified as one chain: give the files oldest first (-l LOG.2.gz -l LOG.1 -l LOG), or a pattern (-l 'LOG*', quoted so that bd-log expands it: the matches, without the LOG.torn-* and LOG.unverified-* files repair makes, are ordered by the seq each starts at), or the concatenation on stdin (-l -). gzip and zstd members are read decompressed whatever their name. Each file is verified on its own, then each link between two files, and a broken link is named: missing file (a gap in seq between a file that ends in its closing checkpoint and the next), truncated file (a gap after a file that does not end in a checkpoint), reordered set (a file that starts at or before the start of the one given before it, or a duplicate), new origin (a genesis where a continuation belongs: the appender lost the chain), spliced from another log (a continuation with another origin), rolled back (a file that continues from inside the previous one), broken link (the continuation commits to other bytes than the previous file's last line). With --anchor, a set that ends before the anchor's seq is truncated or rolled back (exit 1); an anchor older than the first file given cannot be checked (exit 2: give the older files). The set may start after seq 0 (older files deleted by logrotate): verify says so. A file cut back exactly to one of its own checkpoints is reported as a missing file after it; with no file after it, only --anchor catches it.

If the first checkpoint names another key and its signature verifies under that key, the log was written under another key: verify exits 2 and names that key, instead of reporting tampering. A checkpoint that names another key without a valid signature by it is tampering (exit 1).";

const CRASHES: &str = "\
append holds an exclusive flock(2) on the log while it reads the log's tail and writes one batch of whole lines with a single O_APPEND write, so concurrent appenders interleave whole batches, each continuing the chain of the one before. A new appender continues an existing log's chain; it does not re-verify the log (run verify for that).

A line counts as acknowledged once the write(2) holding it has returned (and, with --fsync always, once fdatasync has returned; with --fsync checkpoint the data is synced after each checkpoint, by a background thread so appending does not wait for the disk, and at the end, which append waits for). --ack prints an acknowledgement line after each write. A crash (or kill -9) can lose only input that was not yet acknowledged: lines still in the pipe or in the batch being formatted. SIGINT and SIGTERM are not crashes: append stops reading, writes every line it has read, adds a final checkpoint and exits with status 0.

SIGHUP never stops append (logrotate's postrotate sends it, via systemctl reload boundary): it covers the tail with a checkpoint and, if the log's path now names another file or none (a rename by logrotate or bd-log rotate), fsyncs the old file closed and continues the chain in the file at the path, created if missing, starting with a continuation checkpoint. Without a signal append notices the rename at its next write (one stat(2) per write) and does the same. A log truncated to 0 bytes under a running appender (copytruncate) gets a continuation checkpoint in place; lines written between the copy and the truncation are lost, and verify of the set reports them as missing. An appender that starts on a missing or empty log continues LOG.1 when that ends in a checkpoint vouched by the same key, else it starts a new origin (which verify of the set reports). The shipped logrotate snippet (/etc/logrotate.d/boundary) uses nocreate, delaycompress and never copytruncate. A file with the append-only attribute cannot be renamed: do not combine --append-only with logrotate.

If a write was cut short, the log ends in a torn line (bytes without a newline). verify reports it, and append refuses (exit status 7, fault) until bd-log repair copies the torn bytes to LOG.torn-<unix-nanoseconds> next to the log, syncs that file, and truncates the log to its last complete line. Nothing is deleted. The entries after the last checkpoint before the crash stay uncovered until the next append writes a checkpoint.

With --append-only, append sets the file's append-only attribute (FS_APPEND_FL, as chattr +a): nobody, not even root without first clearing it, can truncate, rewrite or rename the log. repair needs to truncate, so it clears the attribute, repairs and sets it again; that needs CAP_LINUX_IMMUTABLE (root). Otherwise it stops and says to run chattr -a first.

Input: blank lines are ignored. A line that is not UTF-8 JSON, or is over 1 MiB, is reported with its input line number and not written. By default append stops there: every line before it is written and covered by a final checkpoint, and it exits with status 1. With --skip-invalid it reports and skips each such line, appends the rest, and exits with status 1 at the end.";

/// Man page sections beyond what clap knows: (title, text).
///
/// Text is plain: paragraphs split by blank lines; a paragraph whose lines
/// start with two spaces is printed verbatim; a line `KEY<TAB>text` is a
/// tagged item (used for EXIT STATUS and FILES).
pub fn man_sections() -> Vec<(&'static str, &'static str)> {
    vec![
        ("LOG FORMAT", FORMAT),
        ("VERIFICATION", VERIFY),
        ("WITNESSES", witness::MAN),
        ("LOCKING, CRASHES AND REPAIR", CRASHES),
        (
            "EXIT STATUS",
            boundary::exit::man(
                &[
                    (0, "verify: the log (or set) is valid (and extends the anchor, if one was given); append: every input line was appended and covered by a checkpoint; rotate: the log was closed, renamed and continued in a new file; keygen, checkpoint, show, tail, repair: success (repair: also when there was nothing to repair)"),
                    (1, "verify: the log is tampered, truncated, torn or does not extend the anchor (a set: a missing, reordered, spliced or rolled-back file, each named); append: an input line was not JSON (or has a duplicate key or nests deeper than 32): append stopped there (or skipped it with --skip-invalid), the lines before it are in the log; checkpoint: the log has no checkpoint, or fails verification (nothing is exported); show, tail: a malformed or torn line was skipped"),
                    (2, "usage or I/O error; verify: could not decide (unreadable or bad key, the log is signed by another key (named on stderr), unusable anchor or one older than every file given; with --json an object with result ERROR and error); append: key, lock or I/O error, or the log is signed by a different key; rotate: the destination exists (nothing rotated); keygen: a key file already exists"),
                    (7, "append, rotate: the log ends in a torn line, a malformed last line or a tail this appender cannot vouch for: run bd-log repair (or verify) first"),
                ],
                "",
            ),
        ),
        (
            "ENVIRONMENT",
            "BD_LOG\tdefault for --log\n\
BD_LOG_KEY\tdefault for append --key\n\
BD_LOG_PUBKEY\tdefault for verify --pubkey",
        ),
        (
            "FILES",
            "KEY\tsecret key, one line bdlog-key v2 epoch=E epochs=N started=T seed=BASE64 id=BASE64 (the current epoch's seed only, and the identity key that signs exported notes for witnesses), mode 0600 (refused if group or others can read it); rewritten by append as epochs pass, so its directory must be writable by the appender. An old 64-hex-digit key is read as a single-epoch key\n\
KEY.pub\tbdlog-pub v2 epochs=N, then every epoch's base64 Ed25519 public key, one a line; give it to verifiers. append, rotate and note also read it beside KEY, to check the log's past checkpoints. An old 64-hex-digit key is read as one epoch\n\
LOG\tthe log, created mode 0640 by the first append\n\
LOG.torn-NANOS\ttorn bytes moved aside by repair\n\
LOG.1, LOG.2.gz, ...\tfiles closed by a rotation (logrotate or bd-log rotate); each later one continues the chain of the one before\n\
/etc/logrotate.d/boundary\tthe shipped logrotate snippet\n\
/var/log/boundary.log\ta conventional place for the log (nothing defaults to it)",
        ),
        (
            "EXAMPLES",
            "Create a key and start logging policy decisions:

  bd-log keygen -o /etc/boundary/log.key
  bd-watch | bd-policy -p policy.toml | bd-log append -l /var/log/boundary.log -k /etc/boundary/log.key

Verify every night and ship the latest checkpoint off the host (crontab):

  15 3 * * * bd-log verify -l /var/log/boundary.log -p /etc/boundary/log.key.pub && bd-log checkpoint -l /var/log/boundary.log -p /etc/boundary/log.key.pub | ssh vault 'cat > anchors/boundary.json'

Check the rotated set, oldest first, quietly (cron mails only failures):

  bd-log verify -q -l '/var/log/boundary/boundary.log*' -p /etc/boundary/keys/log.key.pub

Rotate by hand (logrotate does it through SIGHUP):

  bd-log rotate -l /var/log/boundary/boundary.log -k /etc/boundary/keys/log.key

Later, prove the log was not cut back since that anchor:

  bd-log verify -l /var/log/boundary.log -p log.key.pub --anchor anchors/boundary.json

After a crash:

  bd-log verify -l /var/log/boundary.log -p log.key.pub   # FAIL ... torn last line
  bd-log repair -l /var/log/boundary.log

Read entries:

  bd-log show -l /var/log/boundary.log --since 1h --records | jq .
  bd-log tail -l /var/log/boundary.log -n 20
  bd-log show -l /var/log/boundary.log --since 2h --until 1h
  bd-log show -l /var/log/boundary.log --follow --records",
        ),
        (
            "SEE ALSO",
            "bd-watch(1), bd-policy(1), chattr(1), sha256sum(1), logrotate(8)",
        ),
    ]
}
