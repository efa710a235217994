use clap::Parser;

fn main() {
    let _cli = bd_watch::cli::Cli::parse();
}
