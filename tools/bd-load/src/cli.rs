use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Load, attach and pin the boundary BPF programs; show status; unload.
#[derive(Debug, Parser)]
#[command(
    name = "bd-load",
    version,
    about,
    long_about = "Load, attach and pin the boundary BPF programs; show status; unload.\n\n\
        bd-load loads every BPF object built into it (bpf/*.bpf.o), creates the shared \
        maps once under <pin-dir>/maps (pinned by name, so every object and every tool \
        uses the same map), attaches each program by its type and pins its link under \
        <pin-dir>/links/<object>-<program>, so the programs stay attached after bd-load \
        exits. Running it again changes nothing and reports what is already loaded; \
        --replace swaps in the programs built into this binary. It prints one line per \
        program on stdout, `<object>-<program> <state> <detail>` (with --json: one JSON \
        object per program, {\"v\":1,\"type\":\"program\",\"object\",\"program\",\"section\",\
        \"state\",\"detail\"}), state one of attached, already, replaced, unattached, \
        unsupported, failed.\n\n\
        Tracepoints (classic, raw, and BTF-typed tp_btf, which exec_monitor is) attach \
        everywhere the kernel has BTF. BPF-LSM programs attach only where the kernel \
        runs the bpf LSM (`bpf` in /sys/kernel/security/lsm); elsewhere they are \
        reported by name as not loadable, and --require lsm makes that an error. \
        Cgroup programs (sock_addr, skb, device) attach to the cgroup given with \
        --cgroup; without it they are loaded, verified, and left unattached.\n\n\
        Before loading it checks privilege (root, or CAP_BPF with CAP_PERFMON), kernel \
        BTF (/sys/kernel/btf/vmlinux), ring-buffer maps and bpffs, and mounts bpffs, \
        tracefs and securityfs if they are missing. The pin dir is --pin-dir, else \
        $BD_PIN_DIR, else /sys/fs/bpf/boundary.",
    after_help = "Examples:\n  \
        bd-load                     load all that this kernel supports\n  \
        bd-load --cgroup /sys/fs/cgroup/app\n  \
        bd-load --require lsm       exit 6 unless BPF-LSM attaches\n  \
        bd-load status --json       programs, maps, counters, features\n  \
        bd-load --replace           swap in this binary's programs\n  \
        bd-load unload              detach and remove every pin"
)]
pub struct Cli {
    /// bpffs directory holding the pins [env: BD_PIN_DIR] [default: /sys/fs/bpf/boundary].
    #[arg(long, global = true, value_name = "DIR")]
    pub pin_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub cmd: Option<Cmd>,

    #[command(flatten)]
    pub load: LoadArgs,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Load, attach and pin the programs (the default).
    Load(LoadArgs),
    /// Show attached programs, maps, event and loss counters, kernel features.
    Status(StatusArgs),
    /// Detach every program and remove every pin and the pin dir.
    ///
    /// Only in mode OPEN: a tighter mode is left through bd-lock's release
    /// ceremony first; otherwise unload refuses with exit status 1.
    Unload(UnloadArgs),
    #[command(flatten)]
    Lsm(crate::protect::LsmCmd),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Require {
    /// BPF-LSM programs must load and attach.
    Lsm,
}

#[derive(Debug, Default, Args)]
pub struct LoadArgs {
    /// Cgroup (v2 directory) to attach the cgroup programs to; `/` means the
    /// root of the cgroup2 mount: every process of the host (of the cgroup
    /// namespace), so none can leave the governed cgroup.
    #[arg(long, value_name = "PATH")]
    pub cgroup: Option<PathBuf>,

    /// Size of the event ring buffer in bytes: a power of two, at least 4096.
    /// Applies when the buffer is created (first load); unload to resize.
    #[arg(long, value_name = "BYTES", value_parser = parse_ring_size)]
    pub ring_size: Option<u32>,

    /// Fail (exit 6, kernel lacks a feature) unless this kind of program can load and attach here.
    #[arg(long, value_enum, value_name = "KIND")]
    pub require: Vec<Require>,

    /// Replace programs that are already attached with this binary's.
    #[arg(long)]
    pub replace: bool,

    /// Print one JSON line per program on stdout (the default prints a table).
    #[arg(long)]
    pub json: bool,

    /// Do not load the self_protect programs nor record boundary's own
    /// executables and objects: anyone root can then edit the maps, unpin
    /// and detach. For tests that must show an attack working; never in
    /// production.
    #[arg(long)]
    pub without_self_protection: bool,

    /// A file, or a directory with every file and directory below it, that
    /// self-protection keeps unchanged above OPEN (no write, truncate,
    /// chmod, chown, xattr, create, link, unlink, rename, or mount on it or
    /// on a directory above it; in a sealed directory only boundary's own
    /// executables change entries, new ones included) and that bd-lock
    /// checks, by device and inode, before trusting operator keys, the
    /// quorum or the machine-id. The defaults include the state directory
    /// (/var/lib/boundary): seal yours too if BD_STATE moves it (bd-load
    /// knows it by BD_STATE). A bind onto the state directory itself is let
    /// through (systemd binds it onto itself for boundary's units); bd-lock
    /// then reads and writes mode state only in that sealed directory.
    /// Repeat for more; given once, it replaces the defaults. Recorded at
    /// each load in mode OPEN only (above OPEN the record stays as it is);
    /// a missing path is named on stderr and not sealed.
    #[arg(long, value_name = "PATH", default_values = boundary::seal::DEFAULT_PATHS)]
    pub seal: Vec<PathBuf>,

    /// An AF_UNIX socket a task of the governed cgroup may still connect or
    /// send to from AIRGAP up although it was made outside that cgroup
    /// (every other such socket is refused: a daemon outside could reach
    /// the network for it). Recorded by the socket's device and inode when
    /// the programs are loaded; a socket bound again later (the daemon
    /// restarted) is another inode and refused until the next load. Repeat
    /// for more; given once, it replaces the defaults (journald's sockets
    /// and /dev/log); a path that is not a socket is named on stderr and
    /// skipped.
    #[arg(long, value_name = "PATH", default_values = DEFAULT_UNIX_ALLOW)]
    pub unix_allow: Vec<PathBuf>,
}

/// Logging sockets an air-gapped workload needs: journald's native and
/// syslog sockets (/dev/log links to the latter under systemd).
pub const DEFAULT_UNIX_ALLOW: &[&str] = &[
    "/run/systemd/journal/socket",
    "/run/systemd/journal/dev-log",
    "/dev/log",
];

impl LoadArgs {
    /// True when any load flag was given.
    pub fn any(&self) -> bool {
        self.cgroup.is_some()
            || self.ring_size.is_some()
            || !self.require.is_empty()
            || self.replace
            || self.json
            || self.without_self_protection
            || self
                .seal
                .iter()
                .map(|p| p.as_os_str())
                .ne(boundary::seal::DEFAULT_PATHS
                    .iter()
                    .map(std::ffi::OsStr::new))
            || self
                .unix_allow
                .iter()
                .map(|p| p.as_os_str())
                .ne(DEFAULT_UNIX_ALLOW.iter().map(std::ffi::OsStr::new))
    }
}

#[derive(Debug, Args)]
pub struct UnloadArgs {
    /// One JSON object on stdout: {"v":1,"type":"unload","pin_dir",
    /// "removed":[pins]} (on failure an error object).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// One JSON object on stdout instead of text.
    #[arg(long, conflicts_with_all = ["prometheus", "textfile"])]
    pub json: bool,
    /// Prometheus text exposition format on stdout: events, losses, denials,
    /// programs, mode and dead-man deadline (metric names in bd-load(1)).
    #[arg(long)]
    pub prometheus: bool,
    /// Write the Prometheus text to FILE atomically instead (for
    /// node_exporter's textfile collector, e.g. from a timer).
    #[arg(long, value_name = "FILE")]
    pub textfile: Option<std::path::PathBuf>,
    /// bd-lock state file the mode is read from (Prometheus output only).
    #[arg(long, value_name = "FILE", env = "BD_STATE", default_value = boundary::mode::DEFAULT_STATE)]
    pub state: std::path::PathBuf,
    /// Paths whose seal to report (as given to load's --seal; repeatable):
    /// each is shown sealed or not by its current device and inode.
    #[arg(long, value_name = "PATH", default_values = boundary::seal::DEFAULT_PATHS)]
    pub seal: Vec<PathBuf>,
}

fn parse_ring_size(s: &str) -> Result<u32, String> {
    let n: u64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of bytes"))?;
    if n < 4096 || !n.is_power_of_two() || n > (1 << 30) {
        return Err(format!(
            "{n} must be a power of two between 4096 and 1073741824"
        ));
    }
    Ok(n as u32)
}
