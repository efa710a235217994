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

Exit status (verify): 0 valid, 1 tampered or truncated, 2 could not decide.
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
Every N entries, every T seconds and when input ends, append writes a checkpoint line signed \
with Ed25519 over (origin, size, head hash, time); without the secret key nobody can recompute \
a chain that still verifies. A checkpoint copied off the host (bd-log checkpoint) and given \
back to verify --anchor also catches truncation and rollback.",
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
        long_about = "Create an Ed25519 key pair: the secret key in KEY (mode 0600, 64 hex digits) \
and the public key in KEY.pub. Refuses to overwrite either file. Keep the secret key readable by \
the appender only; give KEY.pub to whoever verifies.",
        after_help = "Example:\n  bd-log keygen -o /etc/boundary/log.key"
    )]
    Keygen {
        /// Secret key file to create (the public key goes to FILE.pub).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
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
chained, not signed). With --anchor, the log must still contain that exact checkpoint line, which \
catches truncation and rollback to an earlier, still consistent, state.",
        after_help = "Exit status: 0 valid, 1 tampered or truncated, 2 could not decide (usage, I/O, bad key or anchor).\n\n\
Examples:\n  bd-log verify -l /var/log/boundary.log -p log.key.pub\n  \
bd-log verify -l /var/log/boundary.log -p log.key.pub \\\n      --anchor anchor.json --json"
    )]
    Verify(VerifyArgs),
    /// Print the latest checkpoint line (to keep elsewhere as an anchor).
    #[command(
        long_about = "Print the latest checkpoint line of the log, exactly as stored, after \
verifying the whole log with the public key: every link, seq, time order and signature up to \
the end, as `bd-log verify` does. A log that fails (tampered, truncated, a forged or replayed \
checkpoint, a torn last line) exports nothing and exits 1, so a rollback can never become an \
anchor. Ship the line off the host (mail, another machine, paper); `bd-log verify --anchor FILE` \
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
    /// Report and skip lines that are not JSON instead of stopping (exit status 1 at the end).
    #[arg(long)]
    pub skip_invalid: bool,
    /// Set the file's append-only attribute (chattr +a; needs root).
    #[arg(long)]
    pub append_only: bool,
    /// After each write, print {"written":N,"seq":S} on stdout: N input lines are in the log, the last at seq S.
    #[arg(long)]
    pub ack: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The log file.
    #[arg(short, long, value_name = "LOG", env = "BD_LOG")]
    pub log: PathBuf,
    /// Public key (KEY.pub from `bd-log keygen`).
    #[arg(short, long, value_name = "PUBKEY", env = "BD_LOG_PUBKEY")]
    pub pubkey: PathBuf,
    /// A checkpoint line exported earlier: the log must still contain it.
    #[arg(short, long, value_name = "CHECKPOINT")]
    pub anchor: Option<PathBuf>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
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
    /// Print only the records (skip checkpoints).
    #[arg(short, long)]
    pub records: bool,
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
