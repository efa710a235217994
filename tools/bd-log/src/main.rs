use clap::Parser;

fn main() {
    let _cli = bd_log::cli::Cli::parse();
}
