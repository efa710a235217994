use clap::Parser;

/// Hand a secret to a program through a sealed memfd and shield it with BPF-LSM.
#[derive(Debug, Parser)]
#[command(name = "bd-inject", version, about)]
pub struct Cli {}
