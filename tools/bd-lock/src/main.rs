use clap::Parser;

fn main() {
    let _cli = bd_lock::cli::Cli::parse();
}
