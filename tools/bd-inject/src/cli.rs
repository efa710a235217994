use clap::{ArgAction, Parser};
use std::ffi::OsString;
use std::path::PathBuf;

/// Hand a secret to a program through a sealed memfd and shield it with BPF-LSM.
#[derive(Debug, Parser)]
#[command(
    name = "bd-inject",
    version,
    about,
    long_about = "Hand a secret to a program through a sealed memfd and shield it with BPF-LSM.\n\n\
        bd-inject reads each secret (from a file, an environment variable or stdin), puts it \
        in an anonymous memory file (memfd) that exists on no disk, seals it against writing, \
        shrinking and growing, and executes CMD in its own place (same pid, no fork) with that \
        file inherited as fd 3, 4, ... and NAME_FILE=/proc/self/fd/N in its environment. The value itself is never in argv, never \
        on disk, and in the environment only with --env.\n\n\
        When the boundary BPF-LSM programs are loaded (pins under --pin-dir), bd-inject \
        protects itself before it starts CMD, so CMD is protected from its first instruction: \
        nobody but CMD itself (and the allow list) can read its memory, its environment or \
        ptrace it, root included. --require-protection refuses to run CMD without that.\n\n\
        Options that describe a secret (--from-file, --from-env, --env) apply to the --name \
        they follow. A secret with no source is read from stdin (at most one); on a terminal bd-inject prompts on \
        stderr and turns echo off while it is typed. One trailing \
        newline is removed from file and stdin secrets. bd-inject itself cannot be core-dumped \
        or ptraced by unprivileged users, keeps its copy of the secret locked in memory \
        until the exec replaces its address space (or wipes it if the exec fails). Because CMD \
        replaces bd-inject, its exit status and signals reach the caller unchanged.",
    after_help = "Examples:\n  \
        bd-inject --name DB_PASSWORD --from-file /run/keys/db -- psql -h db\n  \
        printf %s \"$TOKEN\" | bd-inject --name API_TOKEN -- ./client\n  \
        bd-inject --name A --from-env A_SRC --name B --from-file b.key --env -- app\n  \
        bd-inject --require-protection --name K --from-file k -- /usr/bin/agent\n\n\
        In the program: read the secret from the file named by $DB_PASSWORD_FILE."
)]
pub struct Cli {
    /// Name of a secret; the child gets NAME_FILE=/proc/self/fd/N (repeatable).
    #[arg(long = "name", value_name = "NAME", required = true, action = ArgAction::Append)]
    pub names: Vec<String>,

    /// Read the preceding --name's secret from this file.
    #[arg(long = "from-file", value_name = "FILE", action = ArgAction::Append)]
    pub from_file: Vec<PathBuf>,

    /// Read the preceding --name's secret from this environment variable
    /// (which is then removed from CMD's environment).
    #[arg(long = "from-env", value_name = "VAR", action = ArgAction::Append)]
    pub from_env: Vec<String>,

    /// Also put the preceding --name's value itself in CMD's environment as NAME.
    #[arg(long = "env", action = ArgAction::Count)]
    pub env: u8,

    /// Accept an empty secret (refused by default: an empty secret is almost
    /// always a missing file, an unset variable or Enter pressed at the prompt).
    #[arg(long)]
    pub allow_empty: bool,

    /// Fail (exit 125) instead of running CMD unprotected when the BPF-LSM
    /// programs are not loaded.
    #[arg(long)]
    pub require_protection: bool,

    /// bpffs directory holding the pins [env: BD_PIN_DIR] [default: /sys/fs/bpf/boundary].
    #[arg(long, value_name = "DIR")]
    pub pin_dir: Option<PathBuf>,

    /// The program to run and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub cmd: Vec<OsString>,
}
