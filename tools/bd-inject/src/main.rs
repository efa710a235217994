use clap::Parser;

fn main() {
    let _cli = bd_inject::cli::Cli::parse();
}
