use clap::Parser;

/// Append to, verify and read a SHA-256 hash-chained, Ed25519-signed log.
#[derive(Debug, Parser)]
#[command(name = "bd-log", version, about)]
pub struct Cli {}
