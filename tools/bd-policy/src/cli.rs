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
with the cause in \"reason\", and processing continues.\n\n\
The current boundary mode is read like bd-lock reads it (state file and pinned bd_mode map, \
re-read every 100 ms; anything unreadable or inconsistent reads as LOCKDOWN), or fixed with \
--mode for offline use. Output is flushed whenever no more input is buffered, so every decision \
reaches a pipe before bd-policy waits for more input.",
    after_help = "Examples:\n  \
bd-watch | bd-policy -p /etc/boundary/policy.toml \\\n      | bd-log append -l /var/log/boundary/boundary.log -k log.key\n  \
bd-policy -p policy.toml --mode AIRGAP < recorded-events.jsonl\n  \
bd-policy check /etc/boundary/policy.toml\n  \
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
    /// Validate policy files; report every error with line and column.
    Check {
        /// Policy files to check.
        #[arg(required = true, value_name = "POLICY")]
        policies: Vec<PathBuf>,
    },
    /// Show which rule an event hits and why each other rule does not.
    Explain {
        /// Policy file.
        #[arg(short, long, value_name = "POLICY")]
        policy: PathBuf,
        #[command(flatten)]
        mode: ModeArgs,
        /// Rate state to read (not updated).
        #[arg(long, value_name = "FILE", env = "BD_RATE_STATE")]
        rate_state: Option<PathBuf>,
        /// The event (one JSON object); read from standard input if absent.
        #[arg(value_name = "EVENT")]
        event: Option<String>,
    },
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
    pub mode: ModeArgs,
    /// Where rate counters persist across restarts (needed when a rule has a rate).
    #[arg(long, value_name = "FILE", env = "BD_RATE_STATE")]
    pub rate_state: Option<PathBuf>,
}
