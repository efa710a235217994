//! bd-watch: Stream kernel events from the pinned ring buffer as JSON lines.
//!
//! The clap definitions live here, not in main.rs, so that `cargo xtask man`
//! and `cargo xtask completions` render exactly what the binary parses.

pub mod ancestry;
pub mod cli;
pub mod usb;
pub mod watch;

/// Exit codes: the shared table of boundary::exit (man page EXIT STATUS).
pub mod exit {
    use boundary::exit as x;
    pub const OK: u8 = x::OK as u8;
    /// A runtime error: could not do what was asked.
    pub const FAILED: u8 = x::USAGE as u8;
    pub const USAGE: u8 = x::USAGE as u8;
    pub const PERMISSION: u8 = x::PERMISSION as u8;
    pub const NOT_LOADED: u8 = x::NOT_LOADED as u8;
    pub const BUSY: u8 = x::BUSY as u8;
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
            "ENVIRONMENT",
            "BD_USB_CONTROL\t1: watch USB hot-plug and authorise devices by mode for any pin dir; \
             0: never (default: only for the system's pin dir)\n\
             BD_SYSFS_USB\tthe sysfs directory of USB devices (default /sys/bus/usb/devices), \
             for tests that model devices in a plain directory",
        ),
        (
            "EXIT STATUS",
            boundary::exit::man(
                &[
                    (0, "stopped as asked: --count reached, --timeout passed, SIGINT/SIGTERM, or stdout closed"),
                    (2, "usage error (bad flag, unreadable --cgroup path) or a runtime error (reading the ring buffer or the counters)"),
                    (3, "the pins need root (or CAP_BPF and access to the pin dir)"),
                    (5, "no ring buffer pinned under the pin dir (run bd-load), or the programs were unloaded while watching"),
                    (8, "another bd-watch is already reading this pin dir's ring buffer"),
                ],
                "",
            ),
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
