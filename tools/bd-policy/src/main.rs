use clap::Parser;

fn main() {
    let _cli = bd_policy::cli::Cli::parse();
}
