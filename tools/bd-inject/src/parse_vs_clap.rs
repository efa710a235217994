//! The binary's hand parser (parse.rs) against clap (cli.rs), over random
//! command lines built from the real flags: the same help, version, refusal
//! (and kind of refusal) or the same options in the same order.

use crate::cli::Cli;
use crate::parse::{self, Item, Parsed};
use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches};
use proptest::prelude::*;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// What a command line means, as both parsers can say it.
#[derive(Debug, PartialEq)]
enum Meaning {
    Help {
        long: bool,
    },
    Version,
    Refused(&'static str),
    Run {
        items: Vec<(u8, Vec<u8>)>,
        allow_empty: bool,
        require_protection: bool,
        pin_dir: Option<Vec<u8>>,
        cmd: Vec<Vec<u8>>,
    },
}

fn item_key(it: Item<'_>) -> (u8, Vec<u8>) {
    match it {
        Item::Name(v) => (0, v.to_vec()),
        Item::FromFile(v) => (1, v.to_vec()),
        Item::FromEnv(v) => (2, v.to_vec()),
        Item::Env => (3, Vec::new()),
    }
}

fn hand(argv: &[Vec<u8>]) -> Meaning {
    let a: Vec<&[u8]> = argv.iter().map(|v| v.as_slice()).collect();
    let a = a.as_slice();
    match parse::parse(&a) {
        Ok(Parsed::Help { long }) => Meaning::Help { long },
        Ok(Parsed::Version) => Meaning::Version,
        Err(e) => Meaning::Refused(match e {
            parse::Error::Unexpected(_) => "unexpected",
            parse::Error::NoValue(_) => "no value",
            parse::Error::UnneededValue(..) => "unneeded value",
            parse::Error::Twice(_) => "twice",
            parse::Error::InvalidUtf8 => "utf8",
            parse::Error::Missing { .. } => "missing",
        }),
        Ok(Parsed::Run(r)) => {
            let mut items = Vec::new();
            parse::items(&a, |it| items.push(item_key(it)));
            // clap keeps the index of the last --env only (ArgAction::Count
            // resets it), so the clap-based bd-inject paired only the last
            // --env with its --name; the hand parser reports each one
            // (`each_env_pairs_with_its_name` below). Compare what clap can see.
            if let Some(last) = items.iter().rposition(|(k, _)| *k == 3) {
                let mut i = 0;
                items.retain(|(k, _)| {
                    i += 1;
                    *k != 3 || i - 1 == last
                });
            }
            Meaning::Run {
                items,
                allow_empty: r.allow_empty,
                require_protection: r.require_protection,
                pin_dir: r.pin_dir.map(|p| p.to_vec()),
                cmd: argv[r.cmd..].to_vec(),
            }
        }
    }
}

fn command() -> clap::Command {
    // The width build.rs renders with.
    Cli::command().term_width(100)
}

fn clap_meaning(argv: &[Vec<u8>]) -> Meaning {
    let os: Vec<OsString> = argv.iter().map(|v| OsString::from_vec(v.clone())).collect();
    let m = match command().try_get_matches_from(os) {
        Ok(m) => m,
        Err(e) => {
            return match e.kind() {
                ErrorKind::DisplayHelp => Meaning::Help {
                    long: e.render().to_string() == command().render_long_help().to_string(),
                },
                ErrorKind::DisplayVersion => Meaning::Version,
                ErrorKind::UnknownArgument => Meaning::Refused("unexpected"),
                ErrorKind::InvalidValue => Meaning::Refused("no value"),
                ErrorKind::TooManyValues => Meaning::Refused("unneeded value"),
                ErrorKind::ArgumentConflict => Meaning::Refused("twice"),
                ErrorKind::InvalidUtf8 => Meaning::Refused("utf8"),
                ErrorKind::MissingRequiredArgument => Meaning::Refused("missing"),
                k => panic!("clap error kind {k:?} not mapped: {e}"),
            };
        }
    };
    let cli = Cli::from_arg_matches(&m).expect("matches clap accepted");
    let mut items: Vec<(usize, (u8, Vec<u8>))> = Vec::new();
    if let Some(ix) = m.indices_of("names") {
        items.extend(
            ix.zip(&cli.names)
                .map(|(i, v)| (i, (0, v.as_bytes().to_vec()))),
        );
    }
    if let Some(ix) = m.indices_of("from_file") {
        items.extend(
            ix.zip(&cli.from_file)
                .map(|(i, v)| (i, (1, v.as_os_str().as_bytes().to_vec()))),
        );
    }
    if let Some(ix) = m.indices_of("from_env") {
        items.extend(
            ix.zip(&cli.from_env)
                .map(|(i, v)| (i, (2, v.as_bytes().to_vec()))),
        );
    }
    if m.value_source("env") == Some(clap::parser::ValueSource::CommandLine) {
        if let Some(ix) = m.indices_of("env") {
            items.extend(ix.map(|i| (i, (3, Vec::new()))));
        }
    }
    items.sort_by_key(|(i, _)| *i);
    Meaning::Run {
        items: items.into_iter().map(|(_, it)| it).collect(),
        allow_empty: cli.allow_empty,
        require_protection: cli.require_protection,
        pin_dir: cli.pin_dir.map(|p| p.into_os_string().into_vec()),
        cmd: cli.cmd.into_iter().map(|c| c.into_vec()).collect(),
    }
}

/// Tokens: every flag and option (with and without `=`), short flags and
/// clusters, unknown ones, `--`, and values of every shape the value parsers
/// treat differently (empty, hyphen, not UTF-8, with `=`).
fn token() -> impl Strategy<Value = Vec<u8>> {
    let t: Vec<&[u8]> = vec![
        b"--name",
        b"--name",
        b"--from-file",
        b"--from-env",
        b"--env",
        b"--allow-empty",
        b"--require-protection",
        b"--pin-dir",
        b"--help",
        b"--version",
        b"-h",
        b"-V",
        b"-hV",
        b"-Vh",
        b"-x",
        b"-xh",
        b"--",
        b"--",
        b"--foo",
        b"--nam",
        b"--name=",
        b"--name=A",
        b"--from-file=f",
        b"--from-file=",
        b"--from-env=V",
        b"--pin-dir=",
        b"--pin-dir=/p",
        b"--env=1",
        b"--allow-empty=x",
        b"--help=x",
        b"-",
        b"",
        b"A",
        b"B_1",
        b"f",
        b"/x/y",
        b"1S",
        b"a=b",
        b"\xff",
        b"-1",
        b"--=x",
    ];
    prop::sample::select(t).prop_map(|b| b.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn hand_parser_agrees_with_clap(tokens in prop::collection::vec(token(), 0..12)) {
        let mut argv = vec![b"bd-inject".to_vec()];
        argv.extend(tokens);
        prop_assert_eq!(hand(&argv), clap_meaning(&argv), "argv {:?}", argv.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>());
    }

    /// Most random lines are refused early; these are accepted ones with
    /// options in every order.
    #[test]
    fn hand_parser_agrees_on_good_lines(
        opts in prop::collection::vec(prop::sample::select(vec![
            &["--name", "A"][..], &["--name=B"], &["--from-file", "f"], &["--from-file=g"],
            &["--from-env", "V"], &["--from-env=W"], &["--env"], &["--allow-empty"],
            &["--require-protection"], &["--pin-dir", "/p"], &["--pin-dir=/q"],
        ]), 1..10),
        cmd in prop::collection::vec(token(), 1..4),
    ) {
        let mut argv = vec![b"bd-inject".to_vec()];
        for o in opts { argv.extend(o.iter().map(|s| s.as_bytes().to_vec())); }
        argv.push(b"--".to_vec());
        argv.extend(cmd);
        prop_assert_eq!(hand(&argv), clap_meaning(&argv), "argv {:?}", argv.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>());
    }
}

/// `--name A --env --name B --env`: --env applies to the --name it follows,
/// as documented, both times (the clap-based bd-inject lost the first one).
#[test]
fn each_env_pairs_with_its_name() {
    let argv: Vec<&[u8]> = vec![
        b"bd-inject",
        b"--name",
        b"A",
        b"--env",
        b"--name",
        b"B",
        b"--env",
        b"--",
        b"x",
    ];
    let a = argv.as_slice();
    let mut items = Vec::new();
    parse::items(&a, |it| items.push(item_key(it)));
    assert_eq!(
        items,
        vec![
            (0, b"A".to_vec()),
            (3, vec![]),
            (0, b"B".to_vec()),
            (3, vec![])
        ]
    );
    // What clap reports: one index, the last.
    let m = command()
        .try_get_matches_from([
            "bd-inject",
            "--name",
            "A",
            "--env",
            "--name",
            "B",
            "--env",
            "--",
            "x",
        ])
        .unwrap();
    assert_eq!(
        m.indices_of("env").map(|i| i.collect::<Vec<_>>()),
        Some(vec![6])
    );
}
