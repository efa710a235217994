use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = bd_watch::cli::Cli::parse();
    match bd_watch::watch::run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(bd_watch::watch::Failure(code, msg)) => {
            eprintln!("bd-watch: {msg}");
            ExitCode::from(code)
        }
    }
}
