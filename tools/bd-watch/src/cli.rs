use clap::Parser;

/// Stream kernel events from the pinned ring buffer as JSON lines.
#[derive(Debug, Parser)]
#[command(name = "bd-watch", version, about)]
pub struct Cli {}
