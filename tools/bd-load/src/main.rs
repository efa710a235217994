use bd_load::cli::{Cli, Cmd, LoadArgs};
use bd_load::{exit, exit_code, load, status};
use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

fn run_load(pin_dir: &Path, args: &LoadArgs) -> anyhow::Result<u8> {
    let outcomes = load::load(pin_dir, args)?;
    // Recorded after every load, --replace included: new programs, new ids.
    let recorded = if args.without_self_protection {
        Ok(None)
    } else {
        bd_load::selfprot::record(pin_dir)
    };
    match recorded {
        Ok(Some(r)) => eprintln!(
            "bd-load: self-protection: {} executables, {} libraries, {} maps, {} programs, {} links, {} pin dirs recorded",
            r.exes.len(),
            r.libs.len(),
            r.maps,
            r.progs,
            r.links,
            r.dirs
        ),
        Ok(None) => {}
        Err(e) => {
            eprintln!("bd-load: self-protection: recording failed: {e:#}");
            return Ok(match exit_code(&e) {
                exit::MODE => exit::MODE,
                _ => exit::FAILED,
            });
        }
    }
    if !args.without_self_protection {
        match bd_load::selfprot::record_seal(pin_dir, &args.seal) {
            Ok(Some(r)) => eprintln!(
                "bd-load: seal: {} files and directories sealed above OPEN, {} directories above them guarded against mounts{}",
                r.sealed,
                r.guards,
                if r.recorded { "" } else { " (record kept: not in mode OPEN)" }
            ),
            Ok(None) => {}
            Err(e) => {
                eprintln!("bd-load: seal: recording failed: {e:#}");
                return Ok(exit::FAILED);
            }
        }
    }
    // A tracing program loaded before the shield cannot be attached now,
    // but one already attached keeps running: say so (SECURITY.md, channel 8).
    match status::foreign_tracing(pin_dir) {
        Ok(l) => status::report_foreign(&l),
        Err(e) => eprintln!("bd-load: {e}: foreign tracing programs not checked"),
    }
    let mut stdout = std::io::stdout().lock();
    let mut failed = false;
    for o in &outcomes {
        if args.json {
            writeln!(stdout, "{}", serde_json::to_string(o)?)?;
        } else {
            writeln!(
                stdout,
                "{:<40} {:<11} {}",
                format!("{}-{}", o.object, o.program),
                o.state,
                o.detail
            )?;
        }
        if o.state == "failed" {
            failed = true;
            eprintln!("bd-load: {}.{}: {}", o.object, o.program, o.detail);
        }
    }
    Ok(if failed { exit::FAILED } else { exit::OK })
}

fn run(cli: &Cli) -> anyhow::Result<u8> {
    let pin_dir = boundary::pin::pin_dir(cli.pin_dir.as_deref());
    if cli.cmd.is_some() && cli.load.any() {
        return Err(bd_load::fail(
            exit::USAGE,
            "load flags (--cgroup, --ring-size, --require, --replace, --json) go after \
             `load`, or with no subcommand at all",
        ));
    }
    match &cli.cmd {
        None => run_load(&pin_dir, &cli.load),
        Some(Cmd::Load(args)) => run_load(&pin_dir, args),
        Some(Cmd::Status(args)) => {
            let mut s = status::status(&pin_dir)?;
            s.seal = status::seal_status(&pin_dir, &args.seal);
            if args.prometheus || args.textfile.is_some() {
                let text = bd_load::metrics::render(&s, &pin_dir, &args.state);
                match &args.textfile {
                    Some(f) => bd_load::metrics::write_textfile(f, &text)?,
                    None => print!("{text}"),
                }
            } else if args.json {
                println!("{}", serde_json::to_string(&s)?);
            } else {
                print!("{}", status::render_text(&s));
            }
            Ok(if s.loaded { exit::OK } else { exit::NOT_LOADED })
        }
        Some(Cmd::Unload(args)) => {
            // Permission first: a non-root caller learns that, not the mode.
            bd_load::probe::require_privilege("unloading BPF programs")?;
            bd_load::selfprot::require_open(&pin_dir, "unload")?;
            let removed = load::unload(&pin_dir)?;
            if args.json {
                println!(
                    "{}",
                    boundary::json::output_line(
                        "unload",
                        serde_json::json!({"pin_dir":pin_dir,"removed":removed})
                    )
                );
            }
            if removed.is_empty() {
                eprintln!("bd-load: nothing loaded under {}", pin_dir.display());
            } else {
                eprintln!(
                    "bd-load: removed {} pins and {}",
                    removed.len(),
                    pin_dir.display()
                );
            }
            Ok(exit::OK)
        }
        Some(Cmd::Lsm(cmd)) => {
            bd_load::protect::run(cmd, &pin_dir)?;
            Ok(exit::OK)
        }
    }
}

/// Does this command line print JSON on stdout? Then a failure prints the
/// error object there too. The LSM subcommands print JSON only.
fn wants_json(cli: &Cli) -> bool {
    match &cli.cmd {
        None => cli.load.json,
        Some(Cmd::Load(a)) => a.json,
        Some(Cmd::Status(a)) => a.json,
        Some(Cmd::Unload(a)) => a.json,
        Some(Cmd::Lsm(_)) => true,
    }
}

fn main() -> ExitCode {
    let cli: Cli = boundary::json::parse_cli("bd-load");
    match run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let code = exit_code(&e);
            eprintln!("bd-load: {e:#}");
            let reported = e
                .downcast_ref::<bd_load::Failure>()
                .is_some_and(|f| f.reported);
            if wants_json(&cli) && !reported {
                boundary::json::print_error(
                    "bd-load",
                    code.into(),
                    &format!("{e:#}"),
                    boundary::json::ErrorAt::default(),
                );
            }
            ExitCode::from(code)
        }
    }
}
