use boundary::mode::Mode;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Show and change the boundary mode; engage lockdown; release by ceremony.
#[derive(Debug, Parser)]
#[command(
    name = "bd-lock",
    version,
    about,
    long_about = "Show and change the boundary mode; engage lockdown; release by ceremony.\n\n\
Modes, loosest to strictest: OPEN < RESTRICTED < TRUSTED < AIRGAP < COLDROOM < LOCKDOWN. \
The mode lives in the pinned one-slot map bd_mode (what the kernel programs enforce) and in a \
state file (what survives a reboot). A missing, unreadable or unknown state, or a file and a map \
that disagree, reads as LOCKDOWN and bd-lock says why.\n\n\
Tightening (set to a stricter mode, engage) takes effect at once. Loosening needs a ceremony: \
an operator-signed release token (bd-lock token, bd-lock cosign for a quorum; Ed25519 over host, transition seq, from, to, expiry and a nonce that \
is accepted once) or, on a terminal, a typed confirmation phrase followed by a cooling-off delay.\n\n\
Every transition prints one {\"v\":1,\"type\":\"mode\",...} line on standard output, ready for \
bd-log append.",
    after_help = "Examples:\n  \
bd-lock status\n  \
bd-lock engage --reason \"incident 42\"\n  \
bd-lock token -k operator.key --from LOCKDOWN --to TRUSTED \\\n      --expires 15m -o release.tok\n  \
bd-lock release --token release.tok --reason \"incident 42 closed\"\n  \
bd-watch | bd-policy -p policy.toml \\\n      | bd-lock on-tripwire --heartbeat 30s --tee \\\n      | bd-log append -l LOG -k KEY"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Debug, Args)]
pub struct Global {
    /// State file.
    #[arg(long, global = true, value_name = "FILE", env = "BD_STATE", default_value = boundary::mode::DEFAULT_STATE)]
    pub state: PathBuf,
    /// bpffs pin directory holding maps/bd_mode (default /sys/fs/bpf/boundary).
    #[arg(long, global = true, value_name = "DIR", env = "BD_PIN_DIR")]
    pub pin_dir: Option<PathBuf>,
    /// Trusted operator public keys: a file (one base64 key per line, # comments) or a directory of *.pub files.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = "BD_OPERATOR_KEYS",
        default_value = "/etc/boundary/operators.d"
    )]
    pub operator_keys: PathBuf,
    /// Operators config (TOML): `[quorum] lockdown-release = 2` asks that many distinct trusted keys to sign a release out of that mode; missing = 1 everywhere.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "BD_OPERATORS_CONFIG",
        default_value = "/etc/boundary/operators.toml"
    )]
    pub operators_config: PathBuf,
    /// This host's identity, which release tokens are bound to (systemd machine-id: 32 lowercase hex digits).
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "BD_MACHINE_ID",
        default_value = crate::token::DEFAULT_MACHINE_ID
    )]
    pub machine_id: PathBuf,
    /// JSON lines on stdout for every subcommand: `status` prints one
    /// mode_status object, `keygen` an operator_key line, `allow` an
    /// exec_allow line per file; on failure one error object
    /// ({"v":1,"type":"error","code":N,...}) while the message still goes to
    /// stderr. Transitions print their mode lines either way.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Show the current mode, its reason, the kernel map and the dead-man switch.
    Status,
    /// Create the state file on a fresh system (refused if any state exists).
    Init {
        /// Starting mode.
        #[arg(long, default_value = "OPEN", value_name = "MODE")]
        mode: Mode,
        /// Why (recorded in the state file and the mode event).
        #[arg(long, default_value = "initial state")]
        reason: String,
    },
    /// Copy the state file's mode into a freshly loaded kernel map (or a looser one).
    ///
    /// First, a dead-man switch that an earlier boot ran past before it went
    /// down (its stamps next to the state file) is recorded as LOCKDOWN (a
    /// mode event, via "deadman"), and a mode a canary raised in the kernel
    /// is recorded (via "canary").
    Sync,
    /// Change the mode. Tightening is immediate; loosening is refused (use release).
    Set {
        /// The new mode.
        mode: Mode,
        /// Why (recorded in the state file and the mode event).
        #[arg(long)]
        reason: String,
    },
    /// Engage LOCKDOWN now.
    Engage {
        /// Why (recorded in the state file and the mode event; required, so
        /// the log says who pulled the alarm and for what).
        #[arg(long)]
        reason: String,
    },
    /// Loosen the mode by ceremony: a signed release token, or interactively on a terminal.
    Release(Ceremony),
    /// Make an operator key pair: FILE (secret, mode 0600) and FILE.pub.
    Keygen {
        /// Secret key file to create.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Make a signed release token for one loosening transition.
    Token {
        /// Operator secret key (from bd-lock keygen).
        #[arg(short, long, value_name = "FILE")]
        key: PathBuf,
        /// The mode the system must be in for the token to apply.
        #[arg(long, value_name = "MODE")]
        from: Mode,
        /// The mode it releases to.
        #[arg(long, value_name = "MODE")]
        to: Mode,
        /// The state's transition seq the token releases (default: the current seq of --state; see bd-lock status).
        #[arg(long, value_name = "N")]
        seq: Option<u64>,
        /// The machine-id of the host it is for (default: this host's, from --machine-id).
        #[arg(long, value_name = "ID")]
        host: Option<String>,
        /// How long the token is valid (humantime, e.g. 15m, 2h).
        #[arg(long, default_value = "15m", value_name = "DURATION")]
        expires: humantime::Duration,
        /// Token file to write (standard output if absent).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Countersign a release token with another operator key (for a quorum release).
    Cosign {
        /// Token file (rewritten in place unless -o is given).
        #[arg(value_name = "TOKEN")]
        token: PathBuf,
        /// Operator secret key (from bd-lock keygen).
        #[arg(short, long, value_name = "FILE")]
        key: PathBuf,
        /// Write the countersigned token here instead (refused if it exists).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Read decisions on stdin; engage the tripwire's mode on the first tripwire decision.
    ///
    /// Also spelled `bd-lock --on-tripwire`, as runbooks write it.
    #[command(long_flag = "on-tripwire")]
    OnTripwire {
        /// Arm the dead-man switch and keep it alive while the whole pipeline moves.
        ///
        /// Every DURATION/3 a thread of bd-lock renames itself to a fresh
        /// random nonce; exec_monitor turns that into a `liveness` event that
        /// bd-watch prints and bd-policy passes through. The deadline is
        /// renewed only when that line, with a nonce still pending, reaches
        /// bd-lock's standard input (and, with --tee, was written on). A
        /// stopped, stalled or dead bd-watch, bd-policy or bd-lock lets the
        /// kernel act as LOCKDOWN within DURATION.
        #[arg(long, value_name = "DURATION")]
        heartbeat: Option<humantime::Duration>,
        /// Copy every input line to standard output (before any mode event).
        #[arg(long)]
        tee: bool,
    },
    /// Arm the dead-man switch: without a heartbeat within DURATION the kernel acts as LOCKDOWN.
    ///
    /// Re-arming after the deadline has passed loosens the boundary (the kernel
    /// already acts as LOCKDOWN): it needs a ceremony, --token or --interactive.
    Arm {
        /// How long the kernel waits for the next heartbeat before acting as
        /// LOCKDOWN (humantime, e.g. 30s, 5m).
        #[arg(long, value_name = "DURATION")]
        heartbeat: humantime::Duration,
        #[command(flatten)]
        ceremony: Ceremony,
    },
    /// Move the dead-man deadline forward by the armed interval.
    ///
    /// Once the deadline has passed (or has less than 50 ms left) a heartbeat
    /// loosens the boundary: it needs a ceremony, --token or --interactive.
    Heartbeat(Ceremony),
    /// Disarm the dead-man switch (a ceremony if the deadline has already passed).
    Disarm(Ceremony),
    /// Add files (by device and inode) to the LOCKDOWN exec allow list, or remove them.
    Allow {
        /// Remove instead of add.
        #[arg(long)]
        remove: bool,
        /// Also allow what each binary maps executable at start: its ELF
        /// interpreter and DT_NEEDED closure, as the interpreter resolves them
        /// (`INTERP --list PATH`, what ldd runs). dlopen'ed libraries are not
        /// seen: allow them by name.
        #[arg(long, conflicts_with = "device")]
        libs: bool,
        /// Trust the whole filesystem each PATH is on, by device, while it is
        /// mounted read-only (e.g. a dm-verity or squashfs /usr): the kernel
        /// checks the read-only flag at every exec and mapping. Refused for a
        /// read-write mount.
        #[arg(long)]
        device: bool,
        /// Files to allow.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// In-kernel canaries: files whose exec (or, with BPF-LSM, open) raises the mode in the kernel.
    #[command(subcommand)]
    Canary(CanaryCmd),
}

#[derive(Debug, Subcommand)]
pub enum CanaryCmd {
    /// Register files (by device and inode) as canaries.
    ///
    /// Natively, the exec tracepoint raises bd_mode to at least --trip in
    /// the canary's own execve, before it returns: the exec'ing process's
    /// next system call already meets the stricter mode, with no userspace
    /// involved. With BPF-LSM the exec, and any open, of the file is refused
    /// (EPERM) and raises the mode in that same call. Either way a
    /// `tripwire` event reports it, and `bd-lock on-tripwire` (or `bd-lock
    /// sync`) records the transition in the state file. Tightening: allowed
    /// in every mode.
    Add {
        /// The mode the canary raises to (never lowers).
        #[arg(long, value_name = "MODE", default_value = "LOCKDOWN")]
        trip: Mode,
        /// Files to register.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// List the registered canaries (device, inode, mode, hits).
    List {
        /// One JSON object per canary instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Unregister canaries (loosening: refused unless the mode is OPEN).
    Remove {
        /// Files to unregister.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct Ceremony {
    /// Operator-signed release token file.
    #[arg(long, value_name = "FILE", conflicts_with = "interactive")]
    pub token: Option<PathBuf>,
    /// Confirm on the terminal: type a phrase, then wait out the cooling-off delay.
    #[arg(long)]
    pub interactive: bool,
    /// The mode to release to (default: the token's).
    #[arg(long, value_name = "MODE")]
    pub to: Option<Mode>,
    #[arg(long, default_value = "released by ceremony")]
    pub reason: String,
    /// Cooling-off delay for --interactive (at least 10s).
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub cooling_off: humantime::Duration,
}
