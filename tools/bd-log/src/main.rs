use bd_log::cli::{Cli, Cmd};
use clap::Parser;

fn main() {
    let cli = Cli::parse();
    // Signing keys live in this process: never in a core dump.
    if let Err(e) = boundary::protect::no_core_dumps_self() {
        eprintln!("bd-log: cannot keep core dumps off: {e}");
    }
    let code = match &cli.cmd {
        Cmd::Keygen { output, epochs } => bd_log::ops::keygen(output, *epochs),
        Cmd::Append(a) => match bd_log::append::run(a) {
            Ok(()) => 0,
            Err(f) => {
                bd_log::diag!("bd-log: {}", f.msg);
                f.code
            }
        },
        Cmd::Rotate(a) => match bd_log::append::rotate(a) {
            Ok(()) => 0,
            Err(f) => {
                bd_log::diag!("bd-log: {}", f.msg);
                f.code
            }
        },
        Cmd::Note { log, key } => bd_log::proof::note(log, key),
        Cmd::Prove {
            log,
            pubkey,
            note,
            seq,
            anchor,
        } => bd_log::proof::prove(log, pubkey, note, seq, anchor.as_deref()),
        Cmd::VerifyExcerpt {
            pubkey,
            excerpt,
            anchor,
            witness_key,
            witnesses_required,
        } if !witness_key.is_empty() => bd_log::witness::verify_excerpt(
            pubkey,
            excerpt,
            anchor.as_deref(),
            witness_key,
            *witnesses_required,
        ),
        Cmd::VerifyExcerpt {
            pubkey,
            excerpt,
            anchor,
            ..
        } => bd_log::proof::verify_excerpt(pubkey, excerpt, anchor.as_deref()),
        Cmd::Witness(a) => bd_log::witness::run(a),
        Cmd::Verify(a) => bd_log::ops::verify(a),
        Cmd::Checkpoint {
            log,
            pubkey,
            note,
            key,
            output,
        } => bd_log::ops::checkpoint(log, pubkey, *note, key.as_deref(), output.as_deref()),
        Cmd::Vkey { key, log, origin } => {
            bd_log::witness::vkey(key, log.as_deref(), origin.as_deref())
        }
        Cmd::Show(a) => bd_log::ops::show(a),
        Cmd::Tail(a) => bd_log::ops::tail(a),
        Cmd::Repair { log } => bd_log::ops::repair(log),
    };
    std::process::exit(code);
}
