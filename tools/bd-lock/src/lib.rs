//! bd-lock: Show and change the boundary mode; engage lockdown; release by ceremony.
//!
//! The clap definitions live here, not in main.rs, so that `cargo xtask man`
//! and `cargo xtask completions` render exactly what the binary parses.

pub mod cli;
pub mod token;

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
    vec![("EXIT STATUS", "0\tsuccess\n2\tusage error")]
}
