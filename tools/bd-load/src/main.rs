use clap::Parser;

fn main() {
    let _cli = bd_load::cli::Cli::parse();
}
