use clap::Parser;

/// Decide allow / deny / alert / tripwire for each event under the current mode.
#[derive(Debug, Parser)]
#[command(name = "bd-policy", version, about)]
pub struct Cli {}
