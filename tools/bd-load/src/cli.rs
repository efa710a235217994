use clap::Parser;

/// Load, attach and pin the boundary BPF programs; show status; unload.
#[derive(Debug, Parser)]
#[command(name = "bd-load", version, about)]
pub struct Cli {}
