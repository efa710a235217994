use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Decide allow / deny / alert / tripwire for each event under the current mode.
#[derive(Debug, Parser)]
#[command(
    name = "bd-policy",
    version,
    about,
    long_about = "Decide allow / deny / alert / tripwire for each event under the current mode.\n\n\
Reads JSON lines (from bd-watch, or any JSON lines) on standard input and prints exactly one \
decision line per input line, in order, on standard output. Rules in the policy file are tried \
in order; the first rule whose conditions hold decides. No match means deny. A malformed line, \
an event without \"type\" or \"v\":1, or an event type no tool emits and no rule names is denied, \
with the cause in \"reason\", and processing continues. A duplicate key at any depth or nesting \
deeper than 32 levels makes a line malformed; a line over 64 MiB is one deny and is skipped to its \
newline. A regular file of 4 MiB or more on standard input is read through a memory mapping; if \
it shrinks meanwhile, bd-policy stops with exit 2 naming the first line not decided (every \
decision written is for a whole line that was read).\n\n\
The current boundary mode is read like bd-lock reads it (state file and pinned bd_mode map, \
re-read every 100 ms; anything unreadable or inconsistent reads as LOCKDOWN), or fixed with \
--mode for offline use. Output is flushed whenever no more input is buffered, so every decision \
reaches a pipe before bd-policy waits for more input.",
    after_help = "Examples:\n  \
bd-watch | bd-policy -p /etc/boundary/policy.toml \\\n      | bd-log append -l /var/log/boundary/boundary.log -k log.key\n  \
bd-policy -p policy.toml --mode AIRGAP < recorded-events.jsonl\n  \
bd-policy check /etc/boundary/policy.toml\n  \
bd-policy test policy.toml cases.jsonl\n  \
bd-policy sign -k operator.key policy.toml\n  \
bd-policy -p policy.toml --require-signed --overlay local.toml\n  \
bd-policy explain -p policy.toml \\\n      '{\"v\":1,\"type\":\"exec\",\"uid\":33,\"filename\":\"/bin/sh\"}'",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Validate policy files; report every error as FILE:LINE:COLUMN: message.
    Check {
        /// Policy files to check.
        #[arg(required_unless_present = "overlay", value_name = "POLICY")]
        policies: Vec<PathBuf>,
        /// Overlay files to check (as overlays: a rule that allows is an error).
        #[arg(long, value_name = "FILE")]
        overlay: Vec<PathBuf>,
        /// One policy_check JSON line per file on stdout ({"file","ok","rules",
        /// "warnings","errors":[{"line","col","message"}]}); an unreadable file is
        /// an error object. The FILE:LINE:COLUMN lines still go to stderr.
        #[arg(long)]
        json: bool,
    },
    /// Check expected decisions from a file of cases; report rules no case hits.
    ///
    /// CASES is JSON lines, one case per line: {"event":{...},"mode":"TRUSTED",
    /// "expect":"deny","rule":"NAME"}. "event" is the input event (or "line", the
    /// raw input line as a string, for malformed input); "mode" defaults to OPEN;
    /// "rule" is optional (null expects a built-in denial); "repeat":N decides the
    /// event N times and checks the last decision (rate rules). Blank lines and
    /// lines starting with # are skipped. Prints each mismatch with its line
    /// number, then the rules no case hit (coverage) and a summary.
    Test {
        /// Policy file.
        #[arg(value_name = "POLICY")]
        policy: PathBuf,
        /// Cases file (JSON lines).
        #[arg(value_name = "CASES")]
        cases: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
        /// Exit 1 also when some rule is hit by no case.
        #[arg(long)]
        require_coverage: bool,
        /// One policy_test JSON line on stdout instead of the report
        /// ({"cases","passed","failed","malformed","rules","unhit","failures"}).
        #[arg(long)]
        json: bool,
    },
    /// Sign policy or overlay files with an operator key (writes FILE.sig).
    ///
    /// The key is an operator secret key as bd-lock keygen writes it. The
    /// signature covers the SHA-256 of the file's exact bytes and its role
    /// (policy or overlay); verify with --require-signed.
    Sign {
        /// Operator secret key file.
        #[arg(short, long, value_name = "KEY")]
        key: PathBuf,
        /// Sign the files as overlays (they can then be given to --overlay only).
        #[arg(long)]
        overlay: bool,
        /// Files to sign.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// One policy_signed JSON line per file on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Show which rule an event hits and why each other rule does not.
    Explain {
        /// Policy file.
        #[arg(short, long, value_name = "POLICY")]
        policy: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
        #[command(flatten)]
        mode: ModeArgs,
        /// Rate state to read (not updated).
        #[arg(long, value_name = "FILE", env = "BD_RATE_STATE")]
        rate_state: Option<PathBuf>,
        /// The event (one JSON object); read from standard input if absent.
        #[arg(value_name = "EVENT")]
        event: Option<String>,
        /// One explanation JSON line on stdout ({"mode","decision","rule",
        /// "reason","tripwire","rules":[one line per rule]}); on failure an
        /// error object.
        #[arg(long)]
        json: bool,
    },
}

/// Overlays and signatures: which files make up the policy, and whether
/// they must be signed.
#[derive(Debug, Args)]
pub struct TrustArgs {
    /// A tighten-only overlay (repeatable): its rules may deny, alert or trip
    /// a wire, never allow; where its decision is stricter than the policy's
    /// it wins, otherwise the policy's stands.
    #[arg(long, value_name = "FILE")]
    pub overlay: Vec<PathBuf>,
    /// Refuse (exit 1) a policy or overlay without a valid FILE.sig by a trusted
    /// operator key; while running, a change to any of the files is reported as
    /// a tripwire decision (LOCKDOWN), and the policy loaded at start stays in force.
    #[arg(long)]
    pub require_signed: bool,
    /// Trusted operator public keys: a directory of *.pub files or one file with a key per line.
    #[arg(long, value_name = "PATH", env = "BD_OPERATOR_KEYS", default_value = boundary::opkey::DEFAULT_OPERATOR_KEYS)]
    pub operator_keys: PathBuf,
}

#[derive(Debug, Args)]
pub struct ModeArgs {
    /// Use this mode instead of reading the state file and the kernel map.
    #[arg(long, value_name = "MODE")]
    pub mode: Option<boundary::mode::Mode>,
    /// bd-lock state file to read the current mode from.
    #[arg(long, value_name = "FILE", env = "BD_STATE", default_value = boundary::mode::DEFAULT_STATE)]
    pub state: PathBuf,
    /// bpffs pin directory of the bd_mode map (default /sys/fs/bpf/boundary).
    #[arg(long, value_name = "DIR", env = "BD_PIN_DIR")]
    pub pin_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Policy file (TOML) to decide by.
    #[arg(short, long, value_name = "POLICY")]
    pub policy: Option<PathBuf>,
    #[command(flatten)]
    pub trust: TrustArgs,
    #[command(flatten)]
    pub mode: ModeArgs,
    /// Where rate counters persist across restarts (needed when a rule has a rate).
    #[arg(long, value_name = "FILE", env = "BD_RATE_STATE")]
    pub rate_state: Option<PathBuf>,
}
