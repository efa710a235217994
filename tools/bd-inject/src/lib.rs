//! bd-inject: Hand a secret to a program through a sealed memfd and shield it with BPF-LSM.
//!
//! The clap definitions live in cli.rs, not in main.rs, so that `cargo xtask man`
//! and `cargo xtask completions` render exactly what the binary parses.

pub mod cli;
pub mod parse;

/// The command line, as the binary, the man page and the completions see it.
pub fn command() -> clap::Command {
    <cli::Cli as clap::CommandFactory>::command()
}

/// Exit codes of bd-inject itself; any other status is CMD's own.
pub mod exit {
    /// bd-inject or CMD is traced (TracerPid not 0): no secret was handed over.
    pub const TRACED: u8 = 124;
    /// bd-inject failed before running CMD (usage, source, secret, protection).
    pub const FAILED: u8 = 125;
    /// CMD was found but could not be executed.
    pub const NOT_EXECUTABLE: u8 = 126;
    /// CMD was not found.
    pub const NOT_FOUND: u8 = 127;
}

/// Man page sections beyond what clap knows: (title, text).
pub fn man_sections() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "EXIT STATUS",
            boundary::exit::man_wrapper(
                "N\tCMD's exit status, when it exits\n\
             128+N\tnever from bd-inject itself: when CMD is killed by signal N, bd-inject \
             kills itself with the same signal, so a shell sees 128+N\n\
             0\t--help or --version\n\
             124\tbd-inject, or CMD right after it started, is traced (TracerPid not 0, \
             e.g. a debugger following forks): nothing was handed over and CMD was killed\n\
             125\tbd-inject failed before running CMD: usage error, missing or unreadable \
             source, empty secret (without --allow-empty), secret larger than 1 MiB, bad or repeated NAME, more than one \
             secret from stdin, or --require-protection without the BPF-LSM programs loaded, \
             or protecting the child failed\n\
             126\tCMD was found but is not executable (no execute permission, or an \
             executable file with neither a known binary format nor a #! line: it is never \
             handed to /bin/sh)\n\
             127\tCMD was not found",
            ),
        ),
        (
            "ENVIRONMENT",
            "NAME_FILE\tset in CMD's environment for each --name: /proc/self/fd/N, an fd \
             (3, 4, ... in --name order) holding the sealed secret\n\
             NAME\tset in CMD's environment to the secret itself, only with --env\n\
             BD_PIN_DIR\tthe pin dir, when --pin-dir is not given",
        ),
        (
            "FILES",
            "<pin-dir>/maps/bd_prot_pids\tprotected processes; bd-inject adds itself before \
             starting CMD, and CMD inherits the entry when it is forked\n\
             <pin-dir>/links/lsm_file_protect-ptrace_access_check\tpresent when the shield \
             is active",
        ),
        (
            "SECURITY",
            "The memfd is created with MFD_CLOEXEC, MFD_ALLOW_SEALING and, where the kernel \
             has it, MFD_NOEXEC_SEAL, and sealed F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_WRITE|\
             F_SEAL_SEAL: CMD can read it, not change it. Every other fd is closed in CMD. \
             bd-inject sets RLIMIT_CORE to 1 (the kernel then dumps no core, to a file or to a \
             core_pattern pipe; CMD inherits it and the shield holds it there) and \
             PR_SET_DUMPABLE to 0, refuses to run when traced (exit 124), protects itself \
             before it reads any secret, overwrites a --from-env value in its own \
             environment block, and mlocks its copies of each secret: they go with its \
             address space when CMD replaces it, and are wiped if CMD cannot be started. \
             With --env the value is also in \
             CMD's environment (readable by CMD's own children and, without the BPF-LSM \
             shield, by root).",
        ),
        (
            "EXAMPLES",
            "  bd-inject --name DB_PASSWORD --from-file /run/keys/db -- psql\n  \
             bd-inject --name TOKEN --from-env CI_TOKEN --env -- ./deploy.sh",
        ),
    ]
}

#[cfg(test)]
mod parse_vs_clap;
