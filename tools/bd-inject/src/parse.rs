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

const FLAGS: [&[u8]; 5] = [
    b"help",
    b"version",
    b"env",
    b"allow-empty",
    b"require-protection",
];

fn known(arg: &[u8]) -> bool {
    if let Some(long) = arg.strip_prefix(b"--") {
        let name = long.split(|&c| c == b'=').next().unwrap_or(long);
        long_opt(name).is_some() || FLAGS.contains(&name)
    } else {
        matches!(arg.get(1), Some(b'h' | b'V'))
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

/// Takes the value of `opt`.
fn give<'a>(
    opt: Opt,
    v: &'a [u8],
    args: &mut Args<'a>,
    names: &mut usize,
    item: &mut impl FnMut(Item<'a>),
) -> Result<(), Error<'a>> {
    check_value(opt, v)?;
    match opt {
        Opt::Name => {
            *names += 1;
            item(Item::Name(v));
        }
        Opt::FromFile => item(Item::FromFile(v)),
        Opt::FromEnv => item(Item::FromEnv(v)),
        Opt::PinDir => {
            if args.pin_dir.is_some() {
                return Err(Error::Twice(Opt::PinDir.shown()));
            }
            args.pin_dir = Some(v);
        }
    }
    Ok(())
}

/// One pass over argv\[1..\]: calls `item` for every --name, --from-file,
/// --from-env and --env in order (only once the whole line is known to
/// be good when `item` is given to [`items`]).
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
    let mut pending: Option<Opt> = None;
    let mut i = 1;
    while i < argv.len() {
        let a = argv.get(i);
        i += 1;
        if a == b"--" {
            if let Some(p) = pending {
                return Err(Error::NoValue(p));
            }
            args.cmd = i;
            break;
        }
        if let Some(p) = pending {
            if a.len() > 1 && a[0] == b'-' {
                return Err(if known(a) {
                    Error::NoValue(p)
                } else {
                    Error::Unexpected(a)
                });
            }
            give(p, a, &mut args, &mut names, &mut item)?;
            pending = None;
            continue;
        }
        if let Some(long) = a.strip_prefix(b"--") {
            let (name, value) = match long.iter().position(|&c| c == b'=') {
                Some(k) => (&long[..k], Some(&long[k + 1..])),
                None => (long, None),
            };
            if let Some(opt) = long_opt(name) {
                match value {
                    Some(v) => give(opt, v, &mut args, &mut names, &mut item)?,
                    None => pending = Some(opt),
                }
                continue;
            }
            let (shown, seen): (&'static str, Option<&mut bool>) = match name {
                b"help" => ("--help", None),
                b"version" => ("--version", None),
                b"env" => ("--env", None),
                b"allow-empty" => ("--allow-empty", Some(&mut args.allow_empty)),
                b"require-protection" => {
                    ("--require-protection", Some(&mut args.require_protection))
                }
                _ => return Err(Error::Unexpected(a)),
            };
            if let Some(v) = value {
                return Err(Error::UnneededValue(shown, v));
            }
            match name {
                b"help" => return Ok(Parsed::Help { long: true }),
                b"version" => return Ok(Parsed::Version),
                b"env" => item(Item::Env),
                _ => {}
            }
            if let Some(seen) = seen {
                if *seen {
                    return Err(Error::Twice(shown));
                }
                *seen = true;
            }
            continue;
        }
        if a.len() > 1 && a[0] == b'-' {
            // A cluster of short flags: clap acts on the first one.
            return match a[1] {
                b'h' => Ok(Parsed::Help { long: false }),
                b'V' => Ok(Parsed::Version),
                _ => Err(Error::Unexpected(a)),
            };
        }
        // CMD is `last`: only after `--`.
        return Err(Error::Unexpected(a));
    }
    if let Some(p) = pending {
        return Err(Error::NoValue(p));
    }
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
