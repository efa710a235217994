//! bd-load: Load, attach and pin the boundary BPF programs; show status; unload.
//!
//! The clap definitions live here, not in main.rs, so that `cargo xtask man`
//! and `cargo xtask completions` render exactly what the binary parses.

pub mod cli;
pub mod load;
pub mod metrics;
pub mod objects;
pub mod probe;
pub mod protect;
pub mod selfprot;
pub mod status;

/// Exit codes: the shared table of boundary::exit (man page EXIT STATUS).
pub mod exit {
    use boundary::exit as x;
    pub const OK: u8 = x::OK as u8;
    /// A program failed to load or attach, or another runtime error.
    pub const FAILED: u8 = x::USAGE as u8;
    pub const USAGE: u8 = x::USAGE as u8;
    /// Not root / missing CAP_BPF, CAP_PERFMON or CAP_SYS_ADMIN, or no access to the pins.
    pub const PERMISSION: u8 = x::PERMISSION as u8;
    /// The kernel lacks something needed: BTF, ring buffers, bpffs, tracefs,
    /// or BPF-LSM under `--require lsm`.
    pub const MISSING: u8 = x::KERNEL_MISSING as u8;
    /// `status`: nothing is loaded under the pin dir.
    pub const NOT_LOADED: u8 = x::NOT_LOADED as u8;
    /// `unload` and other loosening commands: the boundary mode is not OPEN
    /// (or cannot be read): refused, a verdict.
    pub const MODE: u8 = x::VERDICT as u8;
    /// `protect --require-clean`: a process was traced or had /proc/PID/mem
    /// open before protection: a verdict (it is protected all the same).
    pub const UNCLEAN: u8 = x::VERDICT as u8;
}

/// An error that carries its exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub msg: String,
    /// The verdict is already on stdout as a line of its own (protect
    /// --require-clean's `protect` line): no error object after it.
    pub reported: bool,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Failure {}

pub fn fail(code: u8, msg: impl Into<String>) -> anyhow::Error {
    Failure {
        code,
        msg: msg.into(),
        reported: false,
    }
    .into()
}

/// A verdict whose line is already printed (see [`Failure::reported`]).
pub fn fail_reported(code: u8, msg: impl Into<String>) -> anyhow::Error {
    Failure {
        code,
        msg: msg.into(),
        reported: true,
    }
    .into()
}

/// The exit code for an error: its own if it is a [`Failure`], PERMISSION
/// for permission errors anywhere in the chain, else FAILED.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if let Some(f) = err.downcast_ref::<Failure>() {
        return f.code;
    }
    for cause in err.chain() {
        if let Some(p) = cause.downcast_ref::<boundary::pin::PinError>() {
            if p.is_permission() {
                return exit::PERMISSION;
            }
            if matches!(p, boundary::pin::PinError::NotLoaded { .. }) {
                return exit::NOT_LOADED;
            }
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::PermissionDenied {
                return exit::PERMISSION;
            }
        }
    }
    exit::FAILED
}

/// The command line, as the binary, the man page and the completions see it.
pub fn command() -> clap::Command {
    <cli::Cli as clap::CommandFactory>::command()
}

/// Man page sections beyond what clap knows: (title, text).
///
/// Text is plain: paragraphs split by blank lines; a paragraph whose lines
/// start with two spaces is printed verbatim; a line `KEY<TAB>text` is a
/// tagged item (used for EXIT STATUS and FILES).
pub fn man_sections() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "EXIT STATUS",
            boundary::exit::man(
                &[
                    (0, "success; for load, every program this kernel supports is attached (or was already)"),
                    (1, "refused: unload, unprotect, allow or a looser lsm-config while the boundary mode is not OPEN, cannot be read, or the dead-man switch has lapsed (leave the mode through bd-lock's ceremony first); protect --require-clean: a process already had a tracer or open /proc/PID/mem fds, or a foreign BPF tracing program is loaded (it is protected all the same)"),
                    (2, "usage error, a program failed to load or attach (the verifier log is printed), or another runtime error"),
                    (3, "not root and lacking CAP_BPF with CAP_PERFMON (or CAP_SYS_ADMIN), or the pins are not accessible"),
                    (5, "status: nothing is loaded under the pin dir"),
                    (6, "BTF (/sys/kernel/btf/vmlinux), ring-buffer maps, bpffs or tracefs (not mounted and not mountable), a pin dir off bpffs, or BPF-LSM under --require lsm; protect: the BPF-LSM shield is not attached, so nothing was protected (the pids are recorded so their execs are flagged)"),
                ],
                "",
            ),
        ),
        (
            "FILES",
            "/sys/fs/bpf/boundary\tthe default pin dir (--pin-dir, BD_PIN_DIR)\n\
             <pin-dir>/maps/<map>\tevery map, pinned by name and shared by all objects: \
             bd_events (ring buffer), bd_stats (per-CPU counters), bd_mode, bd_prot_pids, ...\n\
             <pin-dir>/links/<object>-<program>\tone pinned link per attached program; \
             removing it detaches the program\n\
             <pin-dir>/maps/bd_self_exes, bd_self_libs, bd_self_ids, bd_self_dirs\tself-protection: \
             the (dev, ino) of boundary's executables and of the libraries they map, the ids \
             of its maps, programs and links, and its pin directories, recorded after every \
             load (new files only in mode OPEN); while the self_protect programs run only \
             those executables may open, detach or unpin them, and above OPEN they map code \
             only from themselves and those libraries\n\
             <pin-dir>/maps/bd_seal\tthe sealed configuration and state: every file and \
             directory under each --seal path (default /etc/boundary, /etc/default/boundary, \
             /etc/machine-id, /var/lib/boundary) by (dev, ino), and the directories above \
             them; recorded at each load in mode OPEN only (a missing path is named on \
             stderr, a sealed file with more than one hard link is warned about); above OPEN \
             only boundary's executables may change them, or any entry of a sealed \
             directory (one created later included: bd-lock's state.json, a new file at \
             every transition), or mount on them, and bd-lock refuses a ceremony reading \
             other files (status shows the record)\n\
             <pin-dir>/maps/bd_governed, bd_governed_id\tthe --cgroup the cgroup programs \
             attach to, for BPF-LSM programs scoped like them, and its id (the inode of its \
             directory), up to which AIRGAP walks an AF_UNIX peer socket's cgroup\n\
             <pin-dir>/maps/bd_unix_allow\tAF_UNIX sockets a governed task may reach in \
             AIRGAP+ though made outside the governed cgroup: each --unix-allow path that is \
             a socket, by (dev, ino), recorded when mode_enforce is loaded\n\
             /sys/kernel/btf/vmlinux\tkernel BTF, needed for CO-RE\n\
             /sys/kernel/security/lsm\tthe active LSMs; BPF-LSM needs `bpf` in it",
        ),
        (
            "METRICS",
            "status --prometheus prints the Prometheus text exposition format (0.0.4); \
             --textfile FILE writes it atomically for node_exporter's textfile collector \
             (e.g. from a timer every 15 s). Families:\n\n\
             boundary_loaded{pin_dir}\tgauge: 1 if any program is attached\n\
             boundary_program_attached{object,program}\tgauge: 1 if the program's link is pinned\n\
             boundary_program_runs_total, boundary_program_run_seconds_total\tcounters per program, \
             from the kernel's run statistics (they move only while kernel.bpf_stats_enabled = 1)\n\
             boundary_events_total{kind}\tcounter: exec and deny events put in the ring buffer\n\
             boundary_events_lost_total{kind}\tcounter: events dropped on a full ring buffer\n\
             boundary_denied_total\tcounter: operations denied (or, in audit mode, that would have \
             been), all hooks together\n\
             boundary_denied_by_hook_total{hook}\tcounter: the same denials by hook (names as in \
             deny events), counted in the kernel, so they include denials whose event was lost\n\
             boundary_map_entries{map}\tgauge: keys in each pinned hash map\n\
             boundary_mode{mode}\tgauge: 1 for the mode in force, read like bd-lock reads it \
             (--state, BD_STATE); an unreadable or inconsistent state reads as LOCKDOWN\n\
             boundary_mode_level\tgauge: the same mode as 0 (OPEN) to 5 (LOCKDOWN)\n\
             boundary_mode_fault\tgauge: 1 when the mode reads as LOCKDOWN because of a fault\n\
             boundary_mode_transitions\tgauge: the state's transition seq\n\
             boundary_deadman_armed, boundary_deadman_expired\tgauges: the dead-man switch\n\
             boundary_deadman_remaining_seconds\tgauge: seconds to the dead-man deadline \
             (negative once passed; only while armed)",
        ),
        (
            "REPLACING",
            "--replace loads the new programs (the maps are reused through their pins, so \
             state and counters survive), attaches each new program next to the old one, \
             then renames the new link pin over the old one, which detaches the old \
             program. There is no moment without a program; for a moment both run, so a \
             few events can be reported twice. Each program is swapped on its own: the \
             set as a whole is not atomic. --ring-size does not resize an existing ring \
             buffer: unload first.",
        ),
        (
            "EXAMPLES",
            "  bd-load && bd-load status\n  \
             bd-load --cgroup /sys/fs/cgroup/app.slice --require lsm\n  \
             BD_PIN_DIR=/sys/fs/bpf/test bd-load --ring-size 1048576\n  \
             bd-load unload",
        ),
    ]
}
