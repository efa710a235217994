//! Renders bd-inject's --help, -h, --version and usage lines from the clap
//! definition (src/cli.rs) at build time: the binary has no std to run clap
//! in, and the man page, the completions and the help text must stay one
//! source.

#[allow(dead_code)]
#[path = "src/cli.rs"]
mod cli;

use clap::CommandFactory;

fn main() {
    println!("cargo:rerun-if-changed=src/cli.rs");
    println!("cargo:rerun-if-changed=build.rs");
    // A fixed width: the old binary wrapped to the terminal; text baked in at
    // build time cannot, and 100 columns is what clap used off a terminal.
    let mut cmd = cli::Cli::command().term_width(100);
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let usage = cmd.render_usage().to_string();
    let write = |name: &str, text: String| {
        std::fs::write(out.join(name), text).expect("writing to OUT_DIR");
    };
    write("help_long.txt", cmd.render_long_help().to_string());
    write("help_short.txt", cmd.render_help().to_string());
    write("version.txt", cmd.render_version().to_string());
    // clap's "required arguments were not provided" error shows the usage
    // of what is required only.
    write("usage_required.txt", usage.replace(" [OPTIONS]", ""));
    write("usage.txt", usage);

    // The binary starts itself (no C runtime, no libc): see src/main.rs and
    // SECURITY.md. Static and not position-independent, so that nothing
    // needs relocating before the first instruction of Rust runs.
    for arg in ["-nostartfiles", "-nostdlib", "-static", "-no-pie"] {
        println!("cargo:rustc-link-arg-bin=bd-inject={arg}");
    }
}
