use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const AFTER: &str = "\
Examples:
  bd-log keygen -o /etc/boundary/log.key      # also writes log.key.pub
  bd-watch | bd-policy -p policy.toml \\
      | bd-log append -l /var/log/boundary.log -k /etc/boundary/log.key
  bd-log verify -l /var/log/boundary.log -p /etc/boundary/log.key.pub
  bd-log checkpoint -l /var/log/boundary.log -p log.key.pub > anchor.json
  bd-log verify -l /var/log/boundary.log -p log.key.pub --anchor anchor.json
  bd-log show -l /var/log/boundary.log --since 1h

Exit status (verify): 0 valid, 1 tampered or truncated, 2 could not decide (also: wrong key).
See bd-log(1) for the line format, the other exit codes and the crash rules.";

/// Append to, verify and read a SHA-256 hash-chained, Ed25519-signed log.
#[derive(Debug, Parser)]
#[command(
    name = "bd-log",
    version,
    about,
    long_about = "Append to, verify and read a tamper-evident log.\n\n\
Every line is a JSON object {\"seq\",\"ts\",\"prev\",\"record\"} where prev is the SHA-256 of the \
previous line's exact bytes, so changing, removing or reordering any line breaks the chain. \
Every N entries, every T seconds and when input ends, append writes a checkpoint line: a C2SP \
tlog-checkpoint (origin, size, RFC 6962 Merkle root of every line before it) signed with \
Ed25519; without the secret key nobody can recompute a chain that still verifies. The key is \
forward-secure: it moves to its next epoch (at most once per --epoch-interval) and the old one \
is erased, so a key stolen later cannot re-sign earlier checkpoints. A checkpoint copied off \
the host (bd-log checkpoint) and given back to verify --anchor also catches truncation and rollback.",
    after_help = AFTER
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Create a signing key pair: KEY (secret, mode 0600) and KEY.pub.
    #[command(
        long_about = "Create a forward-secure Ed25519 key: the secret KEY (mode 0600, one line \
`bdlog-key v2 epoch=E epochs=N started=T seed=BASE64` holding only the current epoch's seed) and \
KEY.pub (`bdlog-pub v2 epochs=N`, then every epoch's base64 public key, one a line). KEY also \
holds (`id=`) the seed of the log's identity key, a long-lived Ed25519 key that signs exported \
notes next to the epoch key so that C2SP witnesses, configured once with one vkey per log, keep \
cosigning as epochs pass; bd-log's verifiers never accept it alone. The output line gives its \
public key (id_key); `bd-log vkey` prints the vkey for a log's origin. Old one-line \
hex keys still work, as a key with a single epoch (no forward security), and v2 keys without \
id= as keys without an identity key. Refuses to overwrite either file. Keep the secret key readable by \
the appender only; give KEY.pub to whoever verifies.",
        after_help = "Example:\n  bd-log keygen -o /etc/boundary/log.key"
    )]
    Keygen {
        /// Secret key file to create (the public key goes to FILE.pub).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Forward-secure epochs to make (append moves to the next one at most once per
        /// --epoch-interval, default 1h: 8784 is a year and a day); KEY.pub lists each one's
        /// public key (45 bytes an epoch).
        #[arg(long, value_name = "N", default_value_t = boundary::log::keys::DEFAULT_EPOCHS,
              value_parser = clap::value_parser!(u64).range(1..=boundary::log::keys::MAX_EPOCHS))]
        epochs: u64,
    },
    /// Append JSON lines from stdin to the log, with signed checkpoints.
    #[command(
        long_about = "Read JSON lines on stdin and append each as an entry (seq, ts, prev, record). \
Blank lines are ignored. A line that is not JSON stops the append (or, with --skip-invalid, is \
reported and skipped): it is named by its input line number and never written, and every line \
before it is written and covered by a final checkpoint. An exclusive lock on the log keeps \
concurrent appenders from interleaving; each batch is one write(2) of whole lines with O_APPEND. \
A log whose last line is torn (a crash mid-write) is refused until `bd-log repair` is run.",
        after_help = "Examples:\n  \
bd-watch | bd-policy -p policy.toml \\\n      | bd-log append -l /var/log/boundary.log -k /etc/boundary/log.key\n  \
echo '{\"note\":\"maintenance\"}' \\\n      | bd-log append -l /var/log/boundary.log -k log.key --fsync always"
    )]
    Append(AppendArgs),
    /// Check every link, checkpoint signature, seq and time order.
    #[command(
        long_about = "Verify the whole log: every prev link, every checkpoint signature (against \
the given public key), seq numbering and non-decreasing ts. Prints PASS or FAIL, the first bad seq \
and why, and how many trailing entries are not yet covered by a checkpoint (those are only \
chained, not signed), and that every checkpoint signs the RFC 6962 root of the lines before it with \
the key of the epoch it states, epochs never going back nor skipping one. With --anchor (a \
checkpoint line or a signed note kept elsewhere) the log's Merkle tree at the anchor's size must \
have the anchor's root, which catches truncation and rollback to an earlier, still consistent, \
state, across rotated files too. Several -l (oldest first), \
a quoted pattern, -l - or gzip or zstd members are verified as one rotated set: each link between two \
files is checked, and a missing file, a reordered set, a new or foreign origin and a rollback are \
each named. A log signed by another key is exit 2 (could not decide), naming that key. \
Witnesses: with --witness-key V... [--witnesses-required K] the --anchor note must carry valid \
cosignatures (C2SP cosignature/v1) from at least K distinct given witnesses; unknown signature \
lines are ignored, and a given witness's line that does not verify (forged, or moved from \
another note) fails it. --witnessed NOTE is that check for the cron: NOTE is the note \
`bd-log witness` cosigned; it must carry the quorum, the log must extend it (as an anchor) and \
it must cover the log's latest checkpoint, up to --max-unwitnessed lines (default 0; with a \
running appender allow the checkpoints written between `bd-log note` and verify).",
        after_help = "Exit status: 0 valid, 1 tampered or truncated, or the witness quorum is not met \
(missing, forged or misplaced cosignatures) or the witnessed note does not cover the latest \
checkpoint, 2 could not decide (usage, I/O, \
the log is signed by another key, bad or unusable anchor, a bad vkey, K above the number of \
witness keys, a checkpoint line given where a cosigned note is needed).\n\n\
Examples:\n  bd-log verify -l /var/log/boundary.log -p log.key.pub\n  \
bd-log verify -l /var/log/boundary.log -p log.key.pub \\\n      --anchor anchor.json --json\n  \
bd-log verify -l 'boundary.log*' -p log.key.pub -q\n  \
bd-log verify -l boundary.log.2.gz -l boundary.log.1 -l boundary.log \\\n      -p log.key.pub\n  \
bd-log verify -l 'boundary.log*' -p log.key.pub --witnessed note.txt \\\n      \
-w w1.vkey -w w2.vkey --witnesses-required 1 --max-unwitnessed 20000"
    )]
    Verify(VerifyArgs),
    /// Print the latest checkpoint line or note (to keep elsewhere as an anchor).
    #[command(
        long_about = "Print the latest checkpoint line of the log, exactly as stored, after \
verifying the whole log with the public key: every link, seq, time order and signature up to \
the end, as `bd-log verify` does. A log that fails (tampered, truncated, a forged or replayed \
checkpoint, a torn last line) exports nothing and exits 1, so a rollback can never become an \
anchor. With --note it prints the checkpoint as the C2SP signed note it is, signed by the \
checkpoint's epoch key; add --key KEY to sign it with the log's identity key too, for witnesses \
(see bd-log vkey). Ship it off the host \
(mail, another machine, paper); `bd-log verify --anchor FILE` \
later proves the log still extends it.",
        after_help = "Example:\n  bd-log checkpoint -l /var/log/boundary.log -p log.key.pub \\\n      | ssh vault 'cat >> anchors'"
    )]
    Checkpoint {
        /// The log file.
        #[arg(short, long, value_name = "LOG", env = "BD_LOG")]
        log: PathBuf,
        /// Public key (KEY.pub from `bd-log keygen`) the log must verify under.
        #[arg(short, long, value_name = "PUBKEY", env = "BD_LOG_PUBKEY")]
        pubkey: PathBuf,
        /// Print the checkpoint as a C2SP tlog-checkpoint signed note instead of the log line.
        #[arg(long)]
        note: bool,
        /// With --note: the secret key, to add the log's identity signature (the one
        /// witnesses are configured with) next to the checkpoint's epoch signature.
        /// Without it the note carries the epoch signature only.
        #[arg(short, long, value_name = "KEY", requires = "note")]
        key: Option<PathBuf>,
        /// Write the checkpoint to FILE (a random temp name, fsync, rename) instead
        /// of stdout. Above OPEN, boundary's sealed state directory accepts writes
        /// from boundary's own processes only: the verify unit advances its anchor
        /// this way, not through a shell redirection.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Print entries as JSON lines (all, by seq, or since a time).
    #[command(
        after_help = "Examples:\n  bd-log show -l boundary.log --seq 100..200\n  \
bd-log show -l boundary.log --since 2026-11-25T00:00:00Z --records"
    )]
    Show(ShowArgs),
    /// Print the last entries as JSON lines.
    #[command(after_help = "Example:\n  bd-log tail -l boundary.log -n 5")]
    Tail(TailArgs),
    /// Print a C2SP tlog-checkpoint (signed note) over the log's Merkle tree.
    #[command(
        long_about = "Verify the log (or a rotated set from seq 0) with the key's public half, build \
the RFC 6962 Merkle tree whose leaf i is the line with seq i (its exact bytes), up to and \
including the last checkpoint, and print a C2SP tlog-checkpoint signed note: the log's origin, \
the tree size and the base64 root hash, signed with the log key (Ed25519, key name = origin). \
Other tools that speak signed notes can read it; `bd-log prove` and `bd-log verify-excerpt` use it.",
        after_help = "Example:\n  bd-log note -l 'boundary.log*' -k log.key > note.txt"
    )]
    Note {
        /// The log file(s), oldest first, or a quoted pattern (as verify).
        #[arg(short, long, value_name = "LOG", env = "BD_LOG", required = true)]
        log: Vec<PathBuf>,
        /// Secret key the log is signed with.
        #[arg(short, long, value_name = "KEY", env = "BD_LOG_KEY")]
        key: PathBuf,
    },
    /// Export entries with RFC 6962 inclusion proofs against a signed note.
    #[command(
        long_about = "Print an excerpt: the signed note (from `bd-log note`) on the first line, then \
one JSON line per requested seq with the log line and its inclusion proof (base64 hashes) in the \
note's tree. With --anchor OLD (an earlier note) the excerpt also carries the consistency proof \
from OLD's tree to the note's, which proves the log was only appended to in between. The log \
must match the note (same root), or nothing is printed (exit 1). Memory: one 32-byte hash per \
line up to the note's size.",
        after_help = "Example:\n  bd-log prove -l boundary.log -p log.key.pub --note note.txt --seq 100..120 \\\n      > excerpt.jsonl"
    )]
    Prove {
        /// The log file(s), oldest first, or a quoted pattern (as verify).
        #[arg(short, long, value_name = "LOG", env = "BD_LOG", required = true)]
        log: Vec<PathBuf>,
        /// Public key of the log.
        #[arg(short, long, value_name = "PUBKEY", env = "BD_LOG_PUBKEY")]
        pubkey: PathBuf,
        /// The signed note (from `bd-log note`) the proofs are against.
        #[arg(long, value_name = "NOTE")]
        note: PathBuf,
        /// One seq (N) or a range (A..B, end exclusive).
        #[arg(short, long, value_name = "SEQ")]
        seq: String,
        /// An earlier note: add the consistency proof from it to NOTE.
        #[arg(short, long, value_name = "OLD")]
        anchor: Option<PathBuf>,
    },
    /// Check an excerpt from `bd-log prove` with only the public key.
    #[command(
        long_about = "Verify an excerpt without the log: the note's signature under the public key, \
each line's inclusion proof against the note's root at the seq the line states, and, with \
--anchor OLD, the consistency proof from that earlier note (a rollback or rewrite since OLD fails). \
Prints PASS or FAIL. Exit status: 0 valid, 1 a proof or the note fails, 2 could not decide.",
        after_help = "Example:\n  bd-log verify-excerpt -p log.key.pub -e excerpt.jsonl --anchor old-note.txt"
    )]
    VerifyExcerpt {
        /// Public key of the log.
        #[arg(short, long, value_name = "PUBKEY", env = "BD_LOG_PUBKEY")]
        pubkey: PathBuf,
        /// The excerpt (`-` for stdin).
        #[arg(short, long, value_name = "EXCERPT")]
        excerpt: PathBuf,
        /// An earlier note the excerpt's note must be consistent with.
        #[arg(short, long, value_name = "OLD")]
        anchor: Option<PathBuf>,
        // --- witnesses (issue 13) ---
        /// A witness whose cosignature counts: a C2SP vkey (name+id+key, type 0x04) or a file
        /// holding one. Repeat for each witness.
        #[arg(short = 'w', long, value_name = "VKEY")]
        witness_key: Vec<String>,
        /// How many distinct given witnesses must have cosigned the note (default: all given).
        #[arg(short = 'k', long, value_name = "K", requires = "witness_key",
              value_parser = clap::value_parser!(u64).range(1..))]
        witnesses_required: Option<u64>,
    },
    // --- witnesses (issue 13) ---
    /// Get a checkpoint note cosigned by C2SP tlog-witness witnesses.
    #[command(
        long_about = "Submit a signed note (from `bd-log note`) to each witness's add-checkpoint \
endpoint (C2SP tlog-witness), with the RFC 6962 consistency proof from the tree size that witness \
last cosigned for this log (from --old, else learnt from the witness's 409 Conflict answer and \
retried), so a witness cosigns only a tree that extends every tree it cosigned before. Each \
returned cosignature (C2SP tlog-cosignature, cosignature/v1, Ed25519) is verified against the \
given witness key before it is kept; the note is then rewritten with the new cosignature lines \
added (atomically: a reader sees the old note or the new one), keeping its other signature \
lines. The log must match the note (same root), or nothing is sent. Give one --url and one \
--witness-key per witness, in the same order. https uses the system's trust store, or only the \
CA certificates of --ca-cert; a TLS failure (unknown issuer, wrong name) is a witness that could not \
be reached. Configure each witness with the log's identity vkey (bd-log vkey): a note that carries \
only the epoch signature (a key made before the identity key existed) is refused, once the epoch \
moves, by a witness configured with a fixed epoch key. Memory: one \
32-byte hash per line up to the note's size.",
        after_help = "Exit status: 0 at least K witnesses cosigned (K = --witnesses-required, default \
all); 1 a witness refused the note as inconsistent with a tree it cosigned before (a split view, \
a rollback or a rewrite: 422, or a 409 naming a larger size), or returned a cosignature that does \
not verify, or fewer than K cosigned and none was unreachable, or the log does not match the note \
(nothing sent); 2 usage or input error (bad vkey, a note not signed by the log key, a bad \
--ca-cert file); 7 fewer than K cosigned \
because a witness could not be reached or does not serve this log (network, TLS handshake, timeout, 403, 404, \
5xx). Whatever the exit status, the cosignatures obtained are written.\n\n\
Example:\n  bd-log note -l 'boundary.log*' -k log.key > note.txt\n  \
bd-log witness -l 'boundary.log*' -p log.key.pub --note note.txt \\\n      \
--url https://w1.example/ --witness-key w1.vkey \\\n      \
--url https://w2.example/ --witness-key w2.vkey --witnesses-required 1\n  \
bd-log prove -l 'boundary.log*' -p log.key.pub --note note.txt --seq 100 \\\n      \
| bd-log verify-excerpt -p log.key.pub -e - -w w1.vkey -w w2.vkey -k 1"
    )]
    Witness(WitnessArgs),
    /// Print the log's identity key as the C2SP vkey a witness is configured with.
    #[command(
        long_about = "Print the vkey (c2sp.org/signed-note: name+keyID+base64(0x01 || key)) of the \
log's identity key, the long-lived key that signs exported notes (bd-log note, checkpoint --note \
--key) next to the forward-secure epoch key. A C2SP tlog-witness is configured per log origin with \
the log's public key: give it this vkey and the origin, once; it then keeps cosigning as the \
epoch key evolves. The key name is the log's origin (tlog-checkpoint recommends it), so the vkey \
exists once the log does: name the log (its genesis gives the origin) or the origin. bd-log's own \
verifiers never accept the identity signature alone; see SECURITY.md, Witnesses. Exit 2 if the \
key has no identity key (made before it existed: its notes carry the epoch signature only).",
        after_help = "Example:\n  bd-log vkey -k /etc/boundary/keys/log.key -l /var/log/boundary/boundary.log \\\n      > log.vkey   # hand to the witness operators with the origin (its first field)"
    )]
    Vkey {
        /// Secret key of the log (the identity key is stored in it).
        #[arg(short, long, value_name = "KEY", env = "BD_LOG_KEY")]
        key: PathBuf,
        /// The log (or any file of a rotated set): its first line names the origin.
        #[arg(
            short,
            long,
            value_name = "LOG",
            required_unless_present = "origin",
            conflicts_with = "origin"
        )]
        log: Option<PathBuf>,
        /// The origin, instead of reading it from the log.
        #[arg(long, value_name = "ORIGIN")]
        origin: Option<String>,
    },
    /// Close the log with a checkpoint and continue its chain in a new file.
    #[command(
        long_about = "Rotate the log without breaking its chain: under the log's lock, write a \
checkpoint covering every entry (waiting, as append does, for a running appender to cover its \
own), rename LOG to LOG.1 (or --to), and start a new LOG whose first line is a checkpoint at the \
next seq whose head is the SHA-256 of the closed file's last line: same origin, same key, \
continuing seq. A running `bd-log append` notices the rename at its next write and goes on in \
the new file. logrotate does the same through SIGHUP: the appender closes the renamed file with \
a checkpoint and continues in a new LOG (dist/logrotate/boundary). `bd-log verify -l LOG.1 -l \
LOG` checks the link between the two.",
        after_help = "Example:\n  bd-log rotate -l /var/log/boundary/boundary.log -k /etc/boundary/keys/log.key"
    )]
    Rotate(RotateArgs),
    /// Move a torn last line aside so appends can continue.
    #[command(
        long_about = "After a crash the log may end in a torn line (bytes without a newline). \
repair copies those bytes into LOG.torn-<unix-nanoseconds> next to the log (mode 0600, synced), \
then truncates the log to its last complete line. Nothing is deleted. If the log has the \
append-only attribute (chattr +a), repair clears it for the truncation and sets it again, which \
needs root (CAP_LINUX_IMMUTABLE); otherwise it says what to run.",
        after_help = "Example:\n  bd-log repair -l /var/log/boundary.log \\\n      && bd-log verify -l /var/log/boundary.log -p log.key.pub"
    )]
    Repair {
        /// The log file.
        #[arg(short, long, value_name = "LOG", env = "BD_LOG")]
        log: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Fsync {
    /// fdatasync after every write, before the lines count as acknowledged.
    Always,
    /// fdatasync after each checkpoint (in the background) and at the end of input (waited for).
    Checkpoint,
    /// Never; leave it to the kernel.
    Never,
}

/// `never` is Duration::MAX: no epoch ever lasts that long.
fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    match s {
        "never" => Ok(std::time::Duration::MAX),
        "0" => Ok(std::time::Duration::ZERO),
        _ => humantime::parse_duration(s)
            .map_err(|e| format!("{e} (a duration like 1h, 0s, or never)")),
    }
}

#[derive(Debug, Args)]
pub struct AppendArgs {
    /// The log file (created with a genesis checkpoint if missing or empty).
    #[arg(short, long, value_name = "LOG", env = "BD_LOG")]
    pub log: PathBuf,
    /// Secret key from `bd-log keygen` (must not be readable by group or others).
    #[arg(short, long, value_name = "KEY", env = "BD_LOG_KEY")]
    pub key: PathBuf,
    /// Write a signed checkpoint after this many entries.
    #[arg(short = 'n', long, value_name = "N", default_value_t = 10000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub checkpoint_every: u64,
    /// Write a signed checkpoint when entries are this old and uncovered (e.g. 30s, 5m).
    #[arg(short = 't', long, value_name = "DURATION", default_value = "10s",
          value_parser = humantime::parse_duration)]
    pub checkpoint_interval: std::time::Duration,
    /// When to fdatasync the log.
    #[arg(long, value_enum, default_value_t = Fsync::Checkpoint)]
    pub fsync: Fsync,
    /// Log format of a new log: 3 (prev is the line's RFC 6962 leaf hash) or 2 (prev is SHA-256 of the line, for verifiers older than v3). An existing log, and a file continuing a rotated one, keeps its own.
    #[arg(long, value_name = "V", default_value_t = boundary::log::FORMAT,
          value_parser = clap::value_parser!(u8).range(2..=3))]
    pub format: u8,
    /// Report and skip lines that are not JSON instead of stopping (exit status 1 at the end).
    #[arg(long)]
    pub skip_invalid: bool,
    /// Set the file's append-only attribute (chattr +a; needs root).
    #[arg(long)]
    pub append_only: bool,
    /// After each write, print {"v":1,"type":"log_ack","time":T,"written":N,"seq":S} on stdout: N input lines are in the log, the last at seq S.
    #[arg(long)]
    pub ack: bool,
    /// Forward security: after a checkpoint, move the key to its next epoch once the current
    /// epoch is this old (the old seed is erased); 0s evolves at every checkpoint. `never` keeps
    /// one epoch.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_interval)]
    pub epoch_interval: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The log file; repeat for a rotated set, oldest first (LOG.2.gz, LOG.1, LOG). `-` reads
    /// stdin; a pattern with * ? or [ is expanded and the files ordered by where they sit in the
    /// chain; gzip and zstd members are read decompressed.
    #[arg(short, long, value_name = "LOG", env = "BD_LOG", required = true)]
    pub log: Vec<PathBuf>,
    /// Public key (KEY.pub from `bd-log keygen`).
    #[arg(short, long, value_name = "PUBKEY", env = "BD_LOG_PUBKEY")]
    pub pubkey: PathBuf,
    /// A checkpoint line or signed note exported earlier: the log's tree must extend it.
    #[arg(short, long, value_name = "CHECKPOINT")]
    pub anchor: Option<PathBuf>,
    /// Print the result as one JSON object (also an error object when it cannot decide).
    #[arg(long)]
    pub json: bool,
    /// Print nothing when the log is valid (failures are still reported).
    #[arg(short, long, conflicts_with = "json")]
    pub quiet: bool,
    // --- witnesses (issue 13) ---
    /// A witness whose cosignature on the --anchor or --witnessed note counts: a C2SP vkey
    /// (name+id+key, type 0x04) or a file holding one. Repeat for each witness.
    #[arg(short = 'w', long, value_name = "VKEY")]
    pub witness_key: Vec<String>,
    /// How many distinct given witnesses must have cosigned (default: all given).
    #[arg(short = 'k', long, value_name = "K", requires = "witness_key",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub witnesses_required: Option<u64>,
    /// The cosigned note `bd-log witness` wrote: an anchor that must carry the witness quorum
    /// and cover the log's latest checkpoint (see --max-unwitnessed). Needs --witness-key.
    #[arg(
        long,
        value_name = "NOTE",
        conflicts_with = "anchor",
        requires = "witness_key"
    )]
    pub witnessed: Option<PathBuf>,
    /// With --witnessed: how many log lines covered by checkpoints may lie beyond the
    /// witnessed tree (the checkpoints written since the note was made).
    #[arg(
        long,
        value_name = "LINES",
        default_value_t = 0,
        requires = "witnessed"
    )]
    pub max_unwitnessed: u64,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The log file.
    #[arg(short, long, value_name = "LOG", env = "BD_LOG")]
    pub log: PathBuf,
    /// One seq (N) or a range (A..B, end exclusive; A.. or ..B).
    #[arg(short, long, value_name = "SEQ")]
    pub seq: Option<String>,
    /// Only entries with ts at or after this: RFC 3339 time, or a duration ago (e.g. 1h).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only entries with ts before this: RFC 3339 time, or a duration ago (e.g. 10m).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Print only the records (skip checkpoints).
    #[arg(short, long)]
    pub records: bool,
    /// After the end of the log, keep printing lines as they are appended (follows a rotation).
    #[arg(short, long)]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The log file the running appender writes.
    #[arg(short, long, value_name = "LOG", env = "BD_LOG")]
    pub log: PathBuf,
    /// Secret key the log is signed with (the closing and the continuation checkpoint need it).
    #[arg(short, long, value_name = "KEY", env = "BD_LOG_KEY")]
    pub key: PathBuf,
    /// Name for the closed file (default LOG.1); refused if it exists.
    #[arg(long, value_name = "PATH")]
    pub to: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TailArgs {
    /// The log file.
    #[arg(short, long, value_name = "LOG", env = "BD_LOG")]
    pub log: PathBuf,
    /// How many lines.
    #[arg(short = 'n', long, default_value_t = 10)]
    pub lines: u64,
    /// Only entries with ts at or after this: RFC 3339 time, or a duration ago (e.g. 1h).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Print only the records (skip checkpoints).
    #[arg(short, long)]
    pub records: bool,
}

// --- witnesses (issue 13) ---
#[derive(Debug, Args)]
pub struct WitnessArgs {
    /// The log file(s), oldest first, or a quoted pattern (as verify); the proofs come from it.
    #[arg(short, long, value_name = "LOG", env = "BD_LOG", required = true)]
    pub log: Vec<PathBuf>,
    /// Public key of the log (the note must be signed by it).
    #[arg(short, long, value_name = "PUBKEY", env = "BD_LOG_PUBKEY")]
    pub pubkey: PathBuf,
    /// The signed note to have cosigned (from `bd-log note`); rewritten with the cosignatures.
    #[arg(long, value_name = "NOTE")]
    pub note: PathBuf,
    /// The note the witnesses last cosigned, if known: its size is the first old size sent.
    #[arg(long, value_name = "OLD")]
    pub old: Option<PathBuf>,
    /// A witness's submission URL prefix (add-checkpoint is appended). Repeat per witness.
    #[arg(short, long, value_name = "URL", required = true)]
    pub url: Vec<String>,
    /// The witness's key for the --url at the same position: a C2SP vkey or a file holding one.
    #[arg(short = 'w', long, value_name = "VKEY", required = true)]
    pub witness_key: Vec<String>,
    /// How many witnesses must cosign for exit status 0 (default: all given).
    #[arg(short = 'k', long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    pub witnesses_required: Option<u64>,
    /// Write the cosigned note here instead of replacing NOTE (`-` for stdout).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Give up on a witness after this long (e.g. 10s, 1m).
    #[arg(long, value_name = "DURATION", default_value = "30s",
          value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
    /// Trust only the CA certificate(s) in this PEM file for https witnesses (as curl
    /// --cacert), e.g. a fleet's private CA; default: the system's trust store.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}
