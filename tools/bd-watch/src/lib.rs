//! bd-watch: Stream kernel events from the pinned ring buffer as JSON lines.
//!
//! The clap definitions live here, not in main.rs, so that `cargo xtask man`
//! and `cargo xtask completions` render exactly what the binary parses.

pub mod ancestry;
pub mod cli;
pub mod usb;
pub mod watch;

/// Exit codes (documented in the man page's EXIT STATUS).
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const PERMISSION: u8 = 3;
    pub const NOT_LOADED: u8 = 4;
    pub const BUSY: u8 = 5;
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
            "0\tstopped as asked: --count reached, --timeout passed, SIGINT/SIGTERM, or stdout closed\n\
             1\ta runtime error (reading the ring buffer or the counters)\n\
             2\tusage error (bad flag, unreadable --cgroup path)\n\
             3\tpermission denied: the pins need root (or CAP_BPF and access to the pin dir)\n\
             4\tnothing loaded: no ring buffer pinned under the pin dir (run bd-load), or the \
             programs were unloaded while watching\n\
             5\tanother bd-watch is already reading this pin dir's ring buffer",
        ),
        (
            "FILES",
            "<pin-dir>/maps/bd_events\tthe ring buffer read (pin dir: --pin-dir, BD_PIN_DIR, \
             default /sys/fs/bpf/boundary)\n\
             <pin-dir>/maps/bd_stats\tper-CPU counters; the loss counters are polled every 100 ms\n\
             <pin-dir>/watch_lock\tdirectory flock-ed while a bd-watch runs (one consumer per ring buffer)",
        ),
        (
            "OUTPUT",
            "One JSON object per line: {\"v\":1,\"type\":\"exec\",...}, {\"v\":1,\"type\":\"deny\",...} \
             and {\"v\":1,\"type\":\"lost\",\"kind\":\"exec\",\"count\":N,\"total\":T}. time is RFC 3339 \
             UTC with nanoseconds, derived from the kernel's CLOCK_MONOTONIC ktime_ns (also printed) \
             with the current REALTIME-MONOTONIC offset. Strings that are not UTF-8 are printed \
             with U+FFFD replacement characters. See docs/EVENTS.md.",
        ),
        (
            "EXAMPLES",
            "  bd-watch --type exec -n 10\n  \
             bd-watch --type deny --timeout 1m > denials.jsonl\n  \
             bd-watch | tee all.jsonl | bd-policy -p policy.toml",
        ),
    ]
}
