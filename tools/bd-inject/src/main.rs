use clap::{CommandFactory, FromArgMatches};
use std::process::ExitCode;

fn main() -> ExitCode {
    let matches = match bd_inject::cli::Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            let code = if e.use_stderr() {
                bd_inject::exit::FAILED
            } else {
                0
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let cli = match bd_inject::cli::Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(bd_inject::exit::FAILED);
        }
    };
    let e = bd_inject::inject::run(&cli, &matches);
    eprintln!("bd-inject: {e:#}");
    ExitCode::from(e.code)
}
