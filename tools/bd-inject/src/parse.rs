//! bd-inject's command line, parsed by hand with `core` only.
//!
//! The binary has no std and no libc (it starts in front of every program it
//! runs, and glibc's start-up alone costs more than the rest of it on a VM),
//! so clap cannot run in it. The clap definition in cli.rs stays the one
//! source of the help text, the man page and the completions; this parser
//! accepts and refuses exactly what clap does, which the lib's tests check
//! by comparing both over random command lines built from the real flags.

/// The arguments, without allocating: `get(i)` is argv\[i\].
#[allow(clippy::len_without_is_empty)] // argv always holds argv[0]
pub trait Argv<'a> {
    fn len(&self) -> usize;
    fn get(&self, i: usize) -> &'a [u8];
}

impl<'a> Argv<'a> for &[&'a [u8]] {
    fn len(&self) -> usize {
        <[&[u8]]>::len(self)
    }
    fn get(&self, i: usize) -> &'a [u8] {
        self[i]
    }
}

/// The options that take a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opt {
    Name,
    FromFile,
    FromEnv,
    PinDir,
}

impl Opt {
    /// As clap names it in its messages.
    pub fn shown(self) -> &'static str {
        match self {
            Opt::Name => "--name <NAME>",
            Opt::FromFile => "--from-file <FILE>",
            Opt::FromEnv => "--from-env <VAR>",
            Opt::PinDir => "--pin-dir <DIR>",
        }
    }
}

/// An option that pairs with the --name before it, in command line order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<'a> {
    Name(&'a [u8]),
    FromFile(&'a [u8]),
    FromEnv(&'a [u8]),
    Env,
}

/// Why the command line was refused (clap's usage errors, exit 125).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error<'a> {
    /// An argument that is no option of ours, or a positional before `--`.
    Unexpected(&'a [u8]),
    /// An option that needs a value got none (or an empty path).
    NoValue(Opt),
    /// A flag given a value with `=`.
    UnneededValue(&'static str, &'a [u8]),
    /// A flag or single-valued option given twice.
    Twice(&'static str),
    /// NAME and VAR must be UTF-8 (clap parses them as String).
    InvalidUtf8,
    /// No --name, or no CMD after `--`.
    Missing { name: bool, cmd: bool },
}

/// What the command line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// `-h` (short) or `--help` (long).
    Help {
        long: bool,
    },
    Version,
    Run(Args<'a>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Args<'a> {
    pub allow_empty: bool,
    pub require_protection: bool,
    pub pin_dir: Option<&'a [u8]>,
    /// argv index of CMD (the first argument after `--`).
    pub cmd: usize,
}

fn long_opt(name: &[u8]) -> Option<Opt> {
    Some(match name {
        b"name" => Opt::Name,
        b"from-file" => Opt::FromFile,
        b"from-env" => Opt::FromEnv,
        b"pin-dir" => Opt::PinDir,
        _ => return None,
    })
}

/// As clap shows them in "unexpected value" errors (--env counts).
const FLAG_SHOWN: [&str; 5] = [
    "--help",
    "--version",
    "--env...",
    "--allow-empty",
    "--require-protection",
];

const FLAGS: [&[u8]; 5] = [
    b"help",
    b"version",
    b"env",
    b"allow-empty",
    b"require-protection",
];

/// The refusal an option brings by itself (unknown, or a flag given a
/// value), regardless of what came before it.
fn next_opt_error(arg: &[u8]) -> Option<Error<'_>> {
    if let Some(long) = arg.strip_prefix(b"--") {
        let (name, value) = match long.iter().position(|&c| c == b'=') {
            Some(k) => (&long[..k], Some(&long[k + 1..])),
            None => (long, None),
        };
        if long_opt(name).is_some() {
            return None;
        }
        let i = FLAGS.iter().position(|f| *f == name);
        match (i, value) {
            (None, _) => Some(Error::Unexpected(arg)),
            (Some(i), Some(v)) => Some(Error::UnneededValue(FLAG_SHOWN[i], v)),
            (Some(_), None) => None,
        }
    } else if matches!(arg.get(1), Some(b'h' | b'V')) {
        None
    } else {
        Some(Error::Unexpected(arg))
    }
}

/// Checks a value as clap's value parsers do: NAME and VAR are Strings
/// (UTF-8), FILE and DIR are paths (not empty).
fn check_value(opt: Opt, v: &[u8]) -> Result<(), Error<'_>> {
    match opt {
        Opt::Name | Opt::FromEnv if core::str::from_utf8(v).is_err() => Err(Error::InvalidUtf8),
        Opt::FromFile | Opt::PinDir if v.is_empty() => Err(Error::NoValue(opt)),
        _ => Ok(()),
    }
}

/// Takes the value of `opt`, as clap's `react` does: a second --pin-dir is
/// refused before its value is looked at.
fn give<'a>(
    opt: Opt,
    v: &'a [u8],
    args: &mut Args<'a>,
    names: &mut usize,
    item: &mut impl FnMut(Item<'a>),
) -> Result<(), Error<'a>> {
    if opt == Opt::PinDir && args.pin_dir.is_some() {
        return Err(Error::Twice(Opt::PinDir.shown()));
    }
    check_value(opt, v)?;
    match opt {
        Opt::Name => {
            *names += 1;
            item(Item::Name(v));
        }
        Opt::FromFile => item(Item::FromFile(v)),
        Opt::FromEnv => item(Item::FromEnv(v)),
        Opt::PinDir => args.pin_dir = Some(v),
    }
    Ok(())
}

/// One pass over argv\[1..\], calling `item` for every --name,
/// --from-file, --from-env and --env in order.
///
/// clap keeps a value given as the next argument pending until the next
/// option acts (or the line ends), and only then checks it: `waiting` is an
/// option still without its value, `held` a value not yet checked.
fn scan<'a, A: Argv<'a>>(
    argv: &A,
    mut item: impl FnMut(Item<'a>),
) -> Result<Parsed<'a>, Error<'a>> {
    let mut args = Args {
        allow_empty: false,
        require_protection: false,
        pin_dir: None,
        cmd: 0,
    };
    let mut names = 0usize;
    let mut waiting: Option<Opt> = None;
    let mut held: Option<(Opt, &'a [u8])> = None;
    macro_rules! resolve {
        () => {
            if let Some((o, v)) = held.take() {
                give(o, v, &mut args, &mut names, &mut item)?;
            }
        };
    }
    let mut i = 1;
    while i < argv.len() {
        let a = argv.get(i);
        i += 1;
        if a == b"--" {
            if let Some(p) = waiting {
                return Err(Error::NoValue(p));
            }
            resolve!();
            args.cmd = i;
            break;
        }
        let dash = a.len() > 1 && a[0] == b'-';
        if let Some(p) = waiting {
            if dash {
                // clap reads the next option before it notices the value
                // is missing: that option's own refusal comes first.
                return Err(next_opt_error(a).unwrap_or(Error::NoValue(p)));
            }
            held = Some((p, a));
            waiting = None;
            continue;
        }
        if let Some(e) = dash.then(|| next_opt_error(a)).flatten() {
            return Err(e);
        }
        if !dash {
            // CMD is `last`: only after `--`.
            return Err(Error::Unexpected(a));
        }
        // A known option, about to act: what was pending is checked first.
        resolve!();
        let Some(long) = a.strip_prefix(b"--") else {
            // A cluster of short flags: clap acts on the first one.
            return Ok(if a[1] == b'h' {
                Parsed::Help { long: false }
            } else {
                Parsed::Version
            });
        };
        let (name, value) = match long.iter().position(|&c| c == b'=') {
            Some(k) => (&long[..k], Some(&long[k + 1..])),
            None => (long, None),
        };
        if let Some(opt) = long_opt(name) {
            match value {
                Some(v) => give(opt, v, &mut args, &mut names, &mut item)?,
                None => waiting = Some(opt),
            }
            continue;
        }
        let (shown, seen) = match name {
            b"help" => return Ok(Parsed::Help { long: true }),
            b"version" => return Ok(Parsed::Version),
            b"env" => {
                item(Item::Env);
                continue;
            }
            b"allow-empty" => ("--allow-empty", &mut args.allow_empty),
            _ => ("--require-protection", &mut args.require_protection),
        };
        if *seen {
            return Err(Error::Twice(shown));
        }
        *seen = true;
    }
    if let Some(p) = waiting {
        return Err(Error::NoValue(p));
    }
    resolve!();
    let cmd = args.cmd != 0 && args.cmd < argv.len();
    if names == 0 || !cmd {
        return Err(Error::Missing {
            name: names == 0,
            cmd: !cmd,
        });
    }
    Ok(Parsed::Run(args))
}

/// Parse argv (argv\[0\] is the program).
pub fn parse<'a, A: Argv<'a>>(argv: &A) -> Result<Parsed<'a>, Error<'a>> {
    scan(argv, |_| {})
}

/// The --name, --from-file, --from-env and --env options of a command line
/// [`parse`] accepted, in order, to `f`.
pub fn items<'a, A: Argv<'a>>(argv: &A, f: impl FnMut(Item<'a>)) {
    let _ = scan(argv, f);
}
