use clap::{Parser, ValueEnum};
use std::path::PathBuf;

/// Stream kernel events from the pinned ring buffer as JSON lines.
#[derive(Debug, Parser)]
#[command(
    name = "bd-watch",
    version,
    about,
    long_about = "Stream kernel events from the pinned ring buffer as JSON lines.\n\n\
        bd-watch reads the ring buffer that bd-load pinned at <pin-dir>/maps/bd_events \
        (it never loads programs) and prints one JSON object per event on stdout, as \
        docs/EVENTS.md describes: `exec` and `deny` events from the kernel, and `lost` \
        whenever a loss counter in bd_stats moves (checked every 100 ms and at exit), so \
        loss is always visible. Each line is flushed as it is written.\n\n\
        USB: for the system's pin dir (or with BD_USB_CONTROL=1) bd-watch also reads the \
        kernel's USB uevents, prints a `usb` event per device plugged or removed, and \
        authorises each new device the kernel's mode allows (AIRGAP: no storage or \
        network devices; COLDROOM: HID keyboards only; LOCKDOWN: none). From AIRGAP up the \
        kernel leaves new devices unauthorised by itself (bd-lock sets authorized_default \
        with the mode), so a refused device is never bound; each refusal is a `deny` event \
        with hook `usb`.\n\n\
        A ring buffer has exactly one consumer: a second bd-watch on the same pin dir is \
        refused (exit 5) while the first runs. To feed several readers, pipe one \
        bd-watch into tee(1).\n\n\
        When the ring buffer is open and the lock held, bd-watch prints `bd-watch: ready` \
        on stderr (and, under systemd, sends READY=1 to $NOTIFY_SOCKET for Type=notify units); events from then on are delivered. Events recorded while no bd-watch \
        was reading wait in the ring buffer (as many as fit) and are printed first; \
        loss from before it started is not reported as new (bd-load status shows totals). It stops cleanly (exit 0) after \
        --count events, after --timeout, on SIGINT or SIGTERM, or when stdout closes.",
    after_help = "Examples:\n  \
        bd-watch                          every event, forever\n  \
        bd-watch --type exec --uid 1000   execs by uid 1000\n  \
        bd-watch -n 3 | head -3           three events, then exit 0\n  \
        bd-watch --cgroup /sys/fs/cgroup/app --timeout 10s\n  \
        bd-watch | bd-policy -p policy.toml \\\n      | bd-log append -l boundary.log -k log.key"
)]
pub struct Cli {
    /// bpffs directory holding the pins [env: BD_PIN_DIR] [default: /sys/fs/bpf/boundary].
    #[arg(long, value_name = "DIR")]
    pub pin_dir: Option<PathBuf>,

    /// Only these event types (repeatable or comma-separated).
    #[arg(long = "type", value_enum, value_delimiter = ',', value_name = "TYPE")]
    pub types: Vec<EventType>,

    /// Only events by this uid (repeatable).
    #[arg(long, value_name = "UID")]
    pub uid: Vec<u32>,

    /// Only events whose comm (process name, at most 15 bytes) is exactly this (repeatable).
    #[arg(long, value_name = "NAME")]
    pub comm: Vec<String>,

    /// Only events from this cgroup: a cgroup v2 directory or a numeric cgroup id (repeatable).
    #[arg(long, value_name = "PATH|ID")]
    pub cgroup: Vec<String>,

    /// Only events by this process id (tgid) (repeatable).
    #[arg(long, value_name = "PID")]
    pub pid: Vec<u32>,

    /// Only exec events whose parent is this process id (repeatable).
    #[arg(long, value_name = "PID")]
    pub ppid: Vec<u32>,

    /// Stop after N matching exec/deny events (lost lines are not counted).
    #[arg(short = 'n', long = "count", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Do not watch USB hot-plug: no `usb` events, and new USB devices the mode
    /// allows stay unauthorised from AIRGAP up (see USB in bd-lock(1)).
    #[arg(long)]
    pub no_usb: bool,

    /// Stop after this long (e.g. 500ms, 10s, 2m).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub timeout: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventType {
    Exec,
    Deny,
    Lost,
    /// USB devices plugged or removed (from kernel uevents).
    Usb,
}
