use clap::Parser;

/// Show and change the boundary mode; engage lockdown; release by ceremony.
#[derive(Debug, Parser)]
#[command(name = "bd-lock", version, about)]
pub struct Cli {}
