//! bd-inject, the binary: read secrets, seal them into memfds, protect
//! itself, and execute CMD in its own place.
//!
//! It has no std and no libc. bd-inject starts in front of every program it
//! runs, and on a VM glibc's start-up alone (dozens of cpuid instructions,
//! each a VM exit) costs more than everything bd-inject does; without it
//! bd-inject adds a few hundredths of a millisecond (README, Benchmarks).
//! The command line is parsed by src/parse.rs, which the lib's tests hold
//! to clap's behaviour; help and version texts are rendered from clap by
//! build.rs. System calls go through the `syscalls` crate; memory comes
//! from mmap, is locked when it holds a secret and wiped when dropped.

#![no_std]
#![no_main]

mod parse;
mod rt;

use core::fmt::{self, Write as _};

use parse::{Argv, Item, Parsed};
use rt::{cstr, Buf, CPath, Lossy, NixErr, OsErr, Res};
use syscalls::{syscall, Errno, Sysno};

/// The largest secret accepted: a secret is a key or a password, not a file
/// system, and every byte of it stays locked in RAM while bd-inject runs.
const MAX_SECRET: usize = 1 << 20;
/// Most secrets at once: their fds (3, 4, ...) stay below [`HIGH_FD`].
const MAX_SECRETS: usize = 60;
/// Where the memfds wait until they move to 3, 4, ...
const HIGH_FD: i32 = 64;

const TRACED: u8 = 124;
const FAILED: u8 = 125;
const NOT_EXECUTABLE: u8 = 126;
const NOT_FOUND: u8 = 127;

const DEFAULT_PIN_DIR: &[u8] = b"/sys/fs/bpf/boundary";

static HELP_LONG: &str = include_str!(concat!(env!("OUT_DIR"), "/help_long.txt"));
static HELP_SHORT: &str = include_str!(concat!(env!("OUT_DIR"), "/help_short.txt"));
static VERSION: &str = include_str!(concat!(env!("OUT_DIR"), "/version.txt"));
static USAGE: &str = include_str!(concat!(env!("OUT_DIR"), "/usage.txt"));
static USAGE_REQUIRED: &str = include_str!(concat!(env!("OUT_DIR"), "/usage_required.txt"));

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // Nothing in bd-inject panics on input; should an invariant break, fail
    // closed: no CMD, exit 125.
    rt::eprint(format_args!("bd-inject: internal error\n"));
    rt::exit(FAILED)
}

/// An error with the exit code it maps to.
struct Fail {
    code: u8,
    /// None when not even the message could be allocated.
    msg: Option<Buf>,
}

fn fail_with(code: u8, args: fmt::Arguments<'_>) -> Fail {
    let msg = Buf::new(8192).ok().map(|mut b| {
        // A message longer than the buffer is cut.
        let _ = b.write_fmt(args);
        b
    });
    Fail { code, msg }
}

macro_rules! fail {
    ($($t:tt)*) => { fail_with(FAILED, format_args!($($t)*)) };
}

fn oom(e: Errno) -> Fail {
    fail!("out of memory: {}", OsErr(e))
}

// ---------------------------------------------------------------- argv, environment

/// argv as the kernel laid it out on the stack.
#[derive(Clone, Copy)]
struct RawArgv {
    argv: *const *const u8,
    argc: usize,
}

impl Argv<'static> for RawArgv {
    fn len(&self) -> usize {
        self.argc
    }
    fn get(&self, i: usize) -> &'static [u8] {
        // SAFETY: i < argc, and the strings live on the stack until exec.
        unsafe { cstr(*self.argv.add(i)) }
    }
}

/// The environment block on the stack, and the variables taken out of it
/// (each --from-env source).
struct Env {
    envp: *const *mut u8,
    removed: [&'static [u8]; MAX_SECRETS],
    n_removed: usize,
}

impl Env {
    fn entries(&self) -> impl Iterator<Item = *mut u8> + '_ {
        (0..)
            // SAFETY: envp is NULL-terminated.
            .map(|i| unsafe { *self.envp.add(i) })
            .take_while(|p| !p.is_null())
    }

    fn is_removed(&self, key: &[u8]) -> bool {
        self.removed[..self.n_removed].contains(&key)
    }

    /// The value of `name` as getenv(3) finds it (first match), unless it
    /// was taken out.
    fn get(&self, name: &[u8]) -> Option<&'static [u8]> {
        if name.is_empty() || name.contains(&b'=') || self.is_removed(name) {
            return None;
        }
        self.entries().find_map(|p| {
            // SAFETY: every entry is a NUL-terminated string on the stack.
            let e = unsafe { cstr(p) };
            e.strip_prefix(name)?.strip_prefix(b"=")
        })
    }

    /// Overwrites the value of `var` in place (what /proc/PID/environ
    /// shows) and takes the variable out of what CMD gets.
    fn take(&mut self, var: &'static [u8]) {
        for p in self.entries() {
            // SAFETY: as in get(); we write only within the string.
            let e = unsafe { cstr(p) };
            if e.len() > var.len() && e.starts_with(var) && e[var.len()] == b'=' {
                let start = var.len() + 1;
                // SAFETY: start..len lies within the string.
                unsafe { core::ptr::write_bytes(p.add(start), 0, e.len() - start) };
            }
        }
        if self.n_removed < MAX_SECRETS && !self.is_removed(var) {
            self.removed[self.n_removed] = var;
            self.n_removed += 1;
        }
    }
}

// ---------------------------------------------------------------- entry

#[no_mangle]
extern "C" fn start_rust(sp: *const usize) -> ! {
    // SAFETY: the kernel's initial stack: argc, argv[argc], NULL, envp..., NULL.
    let (argv, envp) = unsafe {
        let argc = *sp;
        let argv = sp.add(1) as *const *const u8;
        (RawArgv { argv, argc }, argv.add(argc + 1) as *const *mut u8)
    };
    let mut env = Env {
        envp,
        removed: [b""; MAX_SECRETS],
        n_removed: 0,
    };
    match parse::parse(&argv) {
        Ok(Parsed::Help { long }) => {
            let _ = rt::write_all(1, if long { HELP_LONG } else { HELP_SHORT }.as_bytes());
            rt::exit(0)
        }
        Ok(Parsed::Version) => {
            let _ = rt::write_all(1, VERSION.as_bytes());
            rt::exit(0)
        }
        Err(e) => {
            usage_error(e);
            rt::exit(FAILED)
        }
        Ok(Parsed::Run(args)) => {
            let Err(e) = exec(&argv, &args, &mut env);
            let msg = e
                .msg
                .as_ref()
                .map_or(&b"out of memory"[..], |m| m.as_slice());
            rt::eprint(format_args!("bd-inject: {}\n", Lossy(msg)));
            rt::exit(e.code)
        }
    }
}

/// clap's wording for its usage errors.
fn usage_error(e: parse::Error<'_>) {
    use parse::Error as E;
    const MORE: &str = "For more information, try '--help'.\n";
    match e {
        E::Unexpected(a) => rt::eprint(format_args!(
            "error: unexpected argument '{}' found\n\n{USAGE}\n\n{MORE}",
            Lossy(a)
        )),
        E::NoValue(o) => rt::eprint(format_args!(
            "error: a value is required for '{}' but none was supplied\n\n{MORE}",
            o.shown()
        )),
        E::UnneededValue(f, v) => rt::eprint(format_args!(
            "error: unexpected value '{}' for '{f}' found; no more were expected\n\n{USAGE}\n\n{MORE}",
            Lossy(v)
        )),
        E::Twice(f) => rt::eprint(format_args!(
            "error: the argument '{f}' cannot be used multiple times\n\n{USAGE}\n\n{MORE}"
        )),
        E::InvalidUtf8 => rt::eprint(format_args!(
            "error: invalid UTF-8 was detected in one or more arguments\n\n{USAGE}\n\n{MORE}"
        )),
        E::Missing { name, cmd } => rt::eprint(format_args!(
            "error: the following required arguments were not provided:\n{}{}\n{USAGE_REQUIRED}\n\n{MORE}",
            if name { "  --name <NAME>\n" } else { "" },
            if cmd { "  <CMD>...\n" } else { "" },
        )),
    }
}

// ---------------------------------------------------------------- specs

#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    File(&'static [u8]),
    Env(&'static [u8]),
    Stdin,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(p) => write!(f, "--from-file {}", Lossy(p)),
            Source::Env(v) => write!(f, "--from-env {}", Lossy(v)),
            Source::Stdin => f.write_str("stdin"),
        }
    }
}

#[derive(Clone, Copy)]
struct Spec {
    name: &'static [u8],
    source: Source,
    has_source: bool,
    env: bool,
}

/// The specs, in --name order, in an mmap-backed array (clap accepted any
/// number of names; the limit is checked after pairing, as before).
struct Specs {
    buf: Buf,
    n: usize,
}

impl Specs {
    fn all(&self) -> &[Spec] {
        // SAFETY: the mapping is page-aligned and holds n initialised Specs.
        unsafe { core::slice::from_raw_parts(self.buf.as_ptr() as *const Spec, self.n) }
    }
    fn all_mut(&mut self) -> &mut [Spec] {
        // SAFETY: as above, exclusively ours.
        unsafe { core::slice::from_raw_parts_mut(self.buf.as_ptr() as *mut Spec, self.n) }
    }
}

fn valid_name(n: &[u8]) -> bool {
    matches!(n.first(), Some(c) if *c == b'_' || c.is_ascii_alphabetic())
        && n.iter().all(|&c| c == b'_' || c.is_ascii_alphanumeric())
}

/// Pair every --from-file, --from-env and --env with the --name before it,
/// checking in the order the clap-based bd-inject did: every --from-file,
/// then every --from-env, then every --env, then the limit, the names and
/// stdin.
fn specs(argv: &RawArgv) -> Result<Specs, Fail> {
    let mut n = 0;
    parse::items(argv, |it| n += matches!(it, Item::Name(_)) as usize);
    let mut specs = Specs {
        buf: Buf::new(n * core::mem::size_of::<Spec>()).map_err(oom)?,
        n: 0,
    };
    parse::items(argv, |it| {
        if let Item::Name(name) = it {
            // SAFETY: within the mapping sized for n Specs; aligned (page).
            unsafe {
                (specs.buf.as_ptr() as *mut Spec).add(specs.n).write(Spec {
                    name,
                    source: Source::Stdin,
                    has_source: false,
                    env: false,
                })
            };
            specs.n += 1;
        }
    });
    for pass in 0..3 {
        let mut owner: Option<usize> = None;
        let mut names = 0;
        let mut res: Result<(), Fail> = Ok(());
        let all = specs.all_mut();
        parse::items(argv, |it| {
            if res.is_err() {
                return;
            }
            let (opt, src) = match (pass, it) {
                (_, Item::Name(_)) => {
                    owner = Some(names);
                    names += 1;
                    return;
                }
                (0, Item::FromFile(p)) => ("--from-file", Some(Source::File(p))),
                (1, Item::FromEnv(v)) => ("--from-env", Some(Source::Env(v))),
                (2, Item::Env) => ("--env", None),
                _ => return,
            };
            let Some(k) = owner else {
                res = Err(fail!("{opt} must follow the --name it belongs to"));
                return;
            };
            let s = &mut all[k];
            match src {
                None => s.env = true,
                Some(src) if s.has_source => {
                    res = Err(fail!(
                        "--name {}: more than one source ({} and {src})",
                        Lossy(s.name),
                        s.source
                    ));
                }
                Some(src) => {
                    s.has_source = true;
                    s.source = src;
                }
            }
        });
        res?;
    }
    let all = specs.all();
    if all.len() > MAX_SECRETS {
        return Err(fail!("at most {MAX_SECRETS} secrets at once"));
    }
    for (i, s) in all.iter().enumerate() {
        // The parser refused NAMEs that are not UTF-8.
        let name = core::str::from_utf8(s.name).unwrap_or("");
        if !valid_name(s.name) {
            return Err(fail!(
                "--name {name:?}: not a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)"
            ));
        }
        if all[..i].iter().any(|o| o.name == s.name) {
            return Err(fail!("--name {name}: given twice"));
        }
    }
    if all.iter().filter(|s| s.source == Source::Stdin).count() > 1 {
        return Err(fail!(
            "more than one secret without --from-file or --from-env: only one can come from stdin"
        ));
    }
    Ok(specs)
}

// ---------------------------------------------------------------- secrets

/// A locked, zeroed buffer of `len` bytes.
fn locked_buf(len: usize) -> Result<Buf, Fail> {
    let b = Buf::new(len).map_err(oom)?;
    b.lock();
    Ok(b)
}

/// Read at most MAX_SECRET + 1 bytes. The buffer starts at `hint` + 1
/// bytes (a regular file's size: locking and wiping 1 MiB for a 30-byte key
/// costs more than everything else bd-inject does) and, should the source
/// hold more, moves once to the full size through a copy whose old buffer
/// is wiped.
fn read_bounded(fd: i32, spec: &Spec, hint: Option<u64>) -> Result<Buf, Fail> {
    let first = match hint {
        Some(h) if h < MAX_SECRET as u64 => h as usize + 1,
        _ => MAX_SECRET + 1,
    };
    let mut buf = locked_buf(first)?;
    loop {
        if buf.len() == buf.cap() {
            if buf.cap() > MAX_SECRET {
                break;
            }
            let mut big = locked_buf(MAX_SECRET + 1)?;
            big.push(buf.as_slice());
            buf = big;
        }
        match rt::read(fd, buf.spare()) {
            Ok(0) => break,
            Ok(k) => buf.set_len(buf.len() + k),
            Err(e) => {
                return Err(fail!(
                    "--name {}: reading {}: {}",
                    Lossy(spec.name),
                    spec.source,
                    OsErr(e)
                ))
            }
        }
    }
    if buf.len() > MAX_SECRET {
        return Err(fail!(
            "--name {}: secret from {} is larger than the limit of {MAX_SECRET} bytes (1 MiB)",
            Lossy(spec.name),
            spec.source
        ));
    }
    Ok(buf)
}

const TCGETS: usize = 0x5401;
const TCSETSF: usize = 0x5404;
/// struct termios: c_lflag is the fourth u32.
const LFLAG: usize = 12;
const ECHO: u32 = 0o10;
const ECHONL: u32 = 0o100;

type Termios = [u8; 64];

fn tcgetattr(fd: i32) -> Res<Termios> {
    let mut t = [0u8; 64];
    // SAFETY: t is larger than the kernel's struct termios.
    unsafe { syscall!(Sysno::ioctl, fd, TCGETS, t.as_mut_ptr()) }?;
    Ok(t)
}

fn tcsetattr_flush(fd: i32, t: &Termios) -> Res<()> {
    // SAFETY: as above; the kernel only reads it.
    unsafe { syscall!(Sysno::ioctl, fd, TCSETSF, t.as_ptr()) }?;
    Ok(())
}

/// Restores the terminal's settings when dropped (also on an error path).
struct EchoOff(Termios);

impl Drop for EchoOff {
    fn drop(&mut self) {
        let _ = tcsetattr_flush(0, &self.0);
    }
}

/// A secret typed on a terminal: a prompt on stderr, echo off (like
/// systemd-ask-password), one line, bounded like every other source.
fn read_tty(spec: &Spec) -> Result<Buf, Fail> {
    let name = Lossy(spec.name);
    let saved =
        tcgetattr(0).map_err(|e| fail!("--name {name}: reading the terminal: {}", NixErr(e)))?;
    let mut quiet = saved;
    let mut l = u32::from_ne_bytes([
        saved[LFLAG],
        saved[LFLAG + 1],
        saved[LFLAG + 2],
        saved[LFLAG + 3],
    ]);
    l = (l & !ECHO) | ECHONL;
    quiet[LFLAG..LFLAG + 4].copy_from_slice(&l.to_ne_bytes());
    rt::eprint(format_args!(
        "bd-inject: secret for {name} (input hidden): "
    ));
    tcsetattr_flush(0, &quiet)
        .map_err(|e| fail!("--name {name}: turning echo off: {}", NixErr(e)))?;
    let _restore = EchoOff(saved);
    let mut line = locked_buf(MAX_SECRET + 2)?;
    loop {
        let start = line.len();
        if start == line.cap() {
            break;
        }
        match rt::read(0, line.spare()) {
            Ok(0) => break,
            Ok(k) => {
                line.set_len(start + k);
                if let Some(nl) = line.as_slice()[start..].iter().position(|&c| c == b'\n') {
                    line.truncate(start + nl + 1);
                    break;
                }
            }
            Err(e) => return Err(fail!("--name {name}: reading the terminal: {}", OsErr(e))),
        }
    }
    if line.len() > MAX_SECRET + 1 {
        return Err(fail!(
            "--name {name}: secret from the terminal is larger than the limit of {MAX_SECRET} bytes (1 MiB)"
        ));
    }
    Ok(line)
}

fn read_secret(spec: &Spec, allow_empty: bool, env: &mut Env) -> Result<Buf, Fail> {
    let name = Lossy(spec.name);
    let mut buf = match spec.source {
        Source::File(p) => {
            let path = CPath::new(&[p])
                .map_err(oom)?
                .ok_or_else(|| fail!("--name {name}: --from-file {}: contains NUL", Lossy(p)))?;
            let f = rt::open_ro(&path)
                .map_err(|e| fail!("--name {name}: --from-file {}: {}", Lossy(p), OsErr(e)))?;
            let hint = rt::fstat(f.0).ok().filter(|m| m.is_file()).map(|m| m.size);
            read_bounded(f.0, spec, hint)?
        }
        Source::Stdin if tcgetattr(0).is_ok() => read_tty(spec)?,
        Source::Stdin => read_bounded(0, spec, None)?,
        Source::Env(var) => {
            let v = env.get(var).ok_or_else(|| {
                fail!(
                    "--name {name}: --from-env {}: the variable is not set",
                    Lossy(var)
                )
            })?;
            if v.len() > MAX_SECRET {
                return Err(fail!(
                    "--name {name}: secret from --from-env {} is larger than the limit of \
                     {MAX_SECRET} bytes (1 MiB)",
                    Lossy(var)
                ));
            }
            let mut buf = locked_buf(v.len())?;
            buf.push(v);
            // The value also sits in the environment block on our stack
            // (what /proc/PID/environ shows), and must not reach CMD.
            env.take(var);
            buf
        }
    };
    if !matches!(spec.source, Source::Env(_)) {
        let s = buf.as_slice();
        if s.ends_with(b"\r\n") {
            buf.truncate(s.len() - 2);
        } else if s.ends_with(b"\n") {
            buf.truncate(s.len() - 1);
        }
    }
    if buf.len() == 0 && !allow_empty {
        return Err(fail!(
            "--name {name}: the secret from {} is empty (--allow-empty accepts it)",
            spec.source
        ));
    }
    Ok(buf)
}

/// A sealed memfd holding `secret`, parked at an fd >= HIGH_FD.
fn sealed_memfd(name: &[u8], secret: &[u8]) -> Result<rt::Fd, Fail> {
    const MFD_CLOEXEC: usize = 1;
    const MFD_ALLOW_SEALING: usize = 2;
    /// Since Linux 6.3.
    const MFD_NOEXEC_SEAL: usize = 8;
    const F_ADD_SEALS: usize = 1033;
    const F_DUPFD_CLOEXEC: usize = 1030;
    const SEALS: usize = 1 | 2 | 4 | 8; // SEAL, SHRINK, GROW, WRITE
    let shown = Lossy(name);
    let cname = CPath::new(&[name])
        .map_err(oom)?
        .ok_or_else(|| fail!("--name {shown}: contains NUL"))?;
    let base = MFD_CLOEXEC | MFD_ALLOW_SEALING;
    // SAFETY: cname is NUL-terminated; flags are plain bits.
    let mut r = unsafe { syscall!(Sysno::memfd_create, cname.ptr(), base | MFD_NOEXEC_SEAL) };
    if r == Err(Errno::EINVAL) {
        // Kernels before 6.3 do not know MFD_NOEXEC_SEAL.
        // SAFETY: as above.
        r = unsafe { syscall!(Sysno::memfd_create, cname.ptr(), base) };
    }
    let f = rt::Fd(r.map_err(|e| fail!("--name {shown}: memfd_create: {}", OsErr(e)))? as i32);
    rt::write_all(f.0, secret)
        .map_err(|e| fail!("--name {shown}: writing the memfd: {}", OsErr(e)))?;
    // SAFETY: fcntl on an fd we own.
    unsafe { syscall!(Sysno::fcntl, f.0, F_ADD_SEALS, SEALS) }
        .map_err(|e| fail!("--name {shown}: sealing the memfd: {}", OsErr(e)))?;
    // SAFETY: as above.
    let high = unsafe { syscall!(Sysno::fcntl, f.0, F_DUPFD_CLOEXEC, HIGH_FD as usize) }
        .map_err(|e| fail!("--name {shown}: moving the memfd: {}", OsErr(e)))?;
    Ok(rt::Fd(high as i32))
}

// ---------------------------------------------------------------- protection

/// Soft RLIMIT_CORE = 1 (the hard limit raised to 1 if it was 0): the kernel
/// then dumps no core, to a file or to a core_pattern pipe. The same as
/// boundary::protect::no_core_dumps.
fn no_core_dumps(pid: u32) -> Res<()> {
    const RLIMIT_CORE: usize = 4;
    let mut old = [0u64; 2];
    // SAFETY: prlimit64 reads the current limits into `old`.
    unsafe { syscall!(Sysno::prlimit64, pid, RLIMIT_CORE, 0usize, old.as_mut_ptr()) }?;
    let new = [1u64, old[1].max(1)];
    // SAFETY: a valid pointer to `new`; no old value requested.
    unsafe { syscall!(Sysno::prlimit64, pid, RLIMIT_CORE, new.as_ptr(), 0usize) }?;
    Ok(())
}

/// No core dumps and no ptrace by unprivileged users while we hold secrets.
fn harden_self(me: u32) -> Result<(), Fail> {
    const PR_SET_DUMPABLE: usize = 4;
    no_core_dumps(me).map_err(|e| fail!("setrlimit(RLIMIT_CORE, 1): {}", OsErr(e)))?;
    // SAFETY: plain prctl.
    unsafe {
        syscall!(
            Sysno::prctl,
            PR_SET_DUMPABLE,
            0usize,
            0usize,
            0usize,
            0usize
        )
    }
    .map_err(|e| fail!("prctl(PR_SET_DUMPABLE, 0): {}", OsErr(e)))?;
    Ok(())
}

/// The TracerPid of `pid` from /proc/PID/status: 0 when nobody traces it,
/// None when it cannot be read. As boundary::protect::tracer_pid.
fn tracer_pid(pid: u32) -> Option<u32> {
    let path = CPath::format(format_args!("/proc/{pid}/status")).ok()??;
    let f = rt::open_ro(&path).ok()?;
    let find = |text: &[u8]| {
        text.split(|&c| c == b'\n')
            .find_map(|l| l.strip_prefix(b"TracerPid:"))
            .and_then(|v| core::str::from_utf8(v).ok()?.trim().parse().ok())
    };
    // One read(2) of a page: TracerPid is the 8th line, well inside it.
    let mut page = [0u8; 4096];
    let n = rt::read(f.0, &mut page).ok()?;
    if n < page.len() {
        return find(&page[..n]);
    }
    // A full page (never seen): its last line may be cut, so read it all.
    let mut buf = Buf::new(1 << 16).ok()?;
    buf.push(&page);
    loop {
        let start = buf.len();
        if start == buf.cap() {
            return None;
        }
        let k = rt::read(f.0, buf.spare()).ok()?;
        if k == 0 {
            break;
        }
        buf.set_len(start + k);
    }
    find(buf.as_slice())
}

fn check_traced(me: u32) -> Result<(), Fail> {
    match tracer_pid(me) {
        Some(0) => Ok(()),
        Some(t) => Err(fail_with(
            TRACED,
            format_args!(
                "bd-inject is being traced (TracerPid {t}): refusing to hand it a secret; \
                 a tracer attached before protection keeps its access"
            ),
        )),
        None => Err(fail!("reading /proc/self/status: TracerPid unknown")),
    }
}

/// `<pin>/<rel>` as Path::join makes it.
fn pin_path(pin: &[u8], dir: &[u8], name: &[u8]) -> Result<CPath, Fail> {
    let sep: &[u8] = if pin.ends_with(b"/") { b"" } else { b"/" };
    CPath::new(&[pin, sep, dir, b"/", name])
        .map_err(oom)?
        .ok_or_else(|| fail!("{}: contains NUL", Lossy(pin)))
}

fn exists(p: &CPath) -> bool {
    rt::stat(p).is_ok()
}

/// True when the BPF-LSM shield is loaded under `pin`: its ptrace hook is
/// attached (a pinned link) and its maps are pinned.
fn shield_active(pin: &[u8]) -> Result<bool, Fail> {
    // The link first: where no shield was ever loaded this is the one
    // stat(2) on the way to exec, not five.
    if !exists(&pin_path(
        pin,
        b"links",
        b"lsm_file_protect-ptrace_access_check",
    )?) {
        return Ok(false);
    }
    for m in [
        &b"bd_prot_pids"[..],
        b"bd_allow_pids",
        b"bd_prot_files",
        b"bd_lsm_cfg",
    ] {
        if !exists(&pin_path(pin, b"maps", m)?) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Adds `pid` to `<pin>/maps/bd_prot_pids` and holds its core limit at 1,
/// as boundary::protect::protect_pid does (through aya there): the same
/// map, key and value, and the same messages.
fn protect_pid(pin: &[u8], pid: u32) -> Result<(), Fail> {
    const BPF_MAP_UPDATE_ELEM: usize = 2;
    const BPF_OBJ_GET: usize = 7;
    const BPF_OBJ_GET_INFO_BY_FD: usize = 15;
    let under =
        |args: fmt::Arguments<'_>| fail!("protecting the child under {}: {}", Lossy(pin), args);
    // A pid that does not exist now would protect whoever gets it next.
    let proc = CPath::format(format_args!("/proc/{pid}"))
        .map_err(oom)?
        .ok_or_else(|| fail!("/proc/{pid}: path"))?;
    if !exists(&proc) {
        return Err(under(format_args!("pid {pid}: no such process")));
    }
    let path = pin_path(pin, b"maps", b"bd_prot_pids")?;
    let shown = Lossy(path.bytes());
    let denied = |e: Errno| e == Errno::EPERM || e == Errno::EACCES;
    if let Err(e) = rt::stat(&path) {
        return Err(match e {
            Errno::ENOENT => under(format_args!(
                "{shown}: not loaded (no such pin; run `bd-load` first)"
            )),
            e if denied(e) => under(format_args!(
                "{shown}: permission denied (needs root, or CAP_BPF with access to the pin dir)"
            )),
            e => under(format_args!("{shown}: {}", OsErr(e))),
        });
    }
    let mut attr = [0u64; 16];
    attr[0] = path.ptr() as u64;
    // SAFETY: a zeroed bpf_attr with the pathname; the path outlives the call.
    let fd = unsafe {
        syscall!(
            Sysno::bpf,
            BPF_OBJ_GET,
            attr.as_mut_ptr(),
            core::mem::size_of_val(&attr)
        )
    }
    .map_err(|e| {
        if denied(e) {
            under(format_args!(
                "{shown}: permission denied (needs root, or CAP_BPF with access to the pin dir)"
            ))
        } else {
            under(format_args!("{shown}: `bpf_obj_get` failed: {}", OsErr(e)))
        }
    })?;
    let map = rt::Fd(fd as i32);
    // struct bpf_map_info starts type, id, key_size, value_size (u32 each).
    let mut info = [0u32; 32];
    let mut attr = [0u64; 16];
    attr[0] = map.0 as u64 | ((core::mem::size_of_val(&info) as u64) << 32);
    attr[1] = info.as_mut_ptr() as u64;
    // SAFETY: bpf_attr.info = { bpf_fd, info_len, info }; info is ours.
    unsafe {
        syscall!(
            Sysno::bpf,
            BPF_OBJ_GET_INFO_BY_FD,
            attr.as_mut_ptr(),
            core::mem::size_of_val(&attr)
        )
    }
    .map_err(|e| {
        under(format_args!(
            "{shown}: `bpf_obj_get_info_by_fd` failed: {}",
            OsErr(e)
        ))
    })?;
    if info[2] != 4 {
        return Err(under(format_args!(
            "{shown}: invalid key size {}, expected 4",
            info[2]
        )));
    }
    if info[3] != 4 {
        return Err(under(format_args!(
            "{shown}: invalid value size {}, expected 4",
            info[3]
        )));
    }
    let key = pid;
    let value = 1u32;
    let mut attr = [0u64; 16];
    attr[0] = map.0 as u64;
    attr[1] = &key as *const u32 as u64;
    attr[2] = &value as *const u32 as u64;
    // attr[3], flags: BPF_ANY.
    // SAFETY: bpf_attr for map updates; key and value outlive the call.
    unsafe {
        syscall!(
            Sysno::bpf,
            BPF_MAP_UPDATE_ELEM,
            attr.as_mut_ptr(),
            core::mem::size_of_val(&attr)
        )
    }
    .map_err(|e| {
        under(format_args!(
            "{shown}: `bpf_map_update_elem` failed: {}",
            OsErr(e)
        ))
    })?;
    no_core_dumps(pid).map_err(|e| {
        under(format_args!(
            "pid {pid}: setting RLIMIT_CORE to 1 (no core dumps): {}",
            OsErr(e)
        ))
    })
}

// ---------------------------------------------------------------- exec

/// Where execve(2) will find CMD: as given when it holds a '/', else the
/// first executable match on PATH (else the first match, so exec reports
/// EACCES); None when nothing matches.
fn resolve(cmd: &[u8], env: &Env) -> Result<Option<CPath>, Fail> {
    if cmd.contains(&b'/') {
        return CPath::new(&[cmd]).map_err(oom);
    }
    let path = env.get(b"PATH").unwrap_or(b"/usr/local/bin:/usr/bin:/bin");
    let mut first = None;
    for dir in path.split(|&c| c == b':') {
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        let sep: &[u8] = if dir.ends_with(b"/") { b"" } else { b"/" };
        let Some(c) = CPath::new(&[dir, sep, cmd]).map_err(oom)? else {
            continue;
        };
        let Ok(md) = rt::stat(&c) else {
            continue;
        };
        if !md.is_file() {
            continue;
        }
        if md.mode & 0o111 != 0 {
            return Ok(Some(c));
        }
        if first.is_none() {
            first = Some(c);
        }
    }
    Ok(first)
}

/// Runs CMD in place of this process; returns only when that fails.
fn exec(
    argv: &RawArgv,
    args: &parse::Args<'static>,
    env: &mut Env,
) -> Result<core::convert::Infallible, Fail> {
    let me = rt::getpid();
    harden_self(me)?;
    let specs = specs(argv)?;
    let specs = specs.all();
    check_traced(me)?;

    // Protect ourselves before any secret exists in our memory or in a
    // memfd: /proc/PID/fd/N of a memfd is as readable as the memfd. CMD
    // keeps this pid, so there is no moment when its memory is readable.
    let pin: &[u8] = match args.pin_dir {
        Some(p) => p,
        None => match env.get(b"BD_PIN_DIR") {
            Some(v) if !v.is_empty() => v,
            _ => DEFAULT_PIN_DIR,
        },
    };
    if shield_active(pin)? {
        protect_pid(pin, me)?;
        // A tracer that attached before the line above keeps its access.
        check_traced(me)?;
    } else if args.require_protection {
        return Err(fail!(
            "--require-protection: the BPF-LSM shield is not loaded under {} (run `bd-load` on \
             a kernel with `bpf` in /sys/kernel/security/lsm)",
            Lossy(pin)
        ));
    }

    let mut fds: [Option<rt::Fd>; MAX_SECRETS] = core::array::from_fn(|_| None);
    let mut env_values: [Option<Buf>; MAX_SECRETS] = core::array::from_fn(|_| None);
    for (i, s) in specs.iter().enumerate() {
        let secret = read_secret(s, args.allow_empty, env)?;
        fds[i] = Some(sealed_memfd(s.name, secret.as_slice())?);
        if s.env {
            env_values[i] = Some(secret);
        }
        // Otherwise `secret` is wiped here: the memfd holds the only copy.
    }

    let cmd0 = argv.get(args.cmd);
    let shown = Lossy(cmd0);
    let Some(prog) = resolve(cmd0, env)? else {
        return Err(fail_with(
            NOT_FOUND,
            format_args!("{shown}: command not found"),
        ));
    };

    // CMD's environment: ours without the --from-env sources and without
    // what we set, then NAME_FILE for each secret, then NAME=value (--env).
    let is_ours = |k: &[u8]| {
        specs.iter().any(|s| {
            (k.len() == s.name.len() + 5 && k.starts_with(s.name) && k.ends_with(b"_FILE"))
                || (s.env && k == s.name)
        })
    };
    let n_env = env.entries().count();
    let mut ptrs = Buf::new((n_env + 2 * specs.len() + 1) * 8).map_err(oom)?;
    let push_ptr = |ptrs: &mut Buf, p: *const u8| ptrs.push(&(p as usize).to_ne_bytes());
    for p in env.entries() {
        // SAFETY: NUL-terminated strings on the stack.
        let e = unsafe { cstr(p) };
        // As std::env::vars_os: a variable is NAME=value with a NAME of at
        // least one byte; anything else is not passed on.
        let Some(eq) = e.iter().skip(1).position(|&c| c == b'=').map(|k| k + 1) else {
            continue;
        };
        let k = &e[..eq];
        if env.is_removed(k) || is_ours(k) {
            continue;
        }
        push_ptr(&mut ptrs, p);
    }
    let mut ours = Buf::new(specs.iter().map(|s| s.name.len() + 32).sum()).map_err(oom)?;
    for (i, s) in specs.iter().enumerate() {
        let at = ours.len();
        let _ = write!(ours, "{}_FILE=/proc/self/fd/{}\0", Lossy(s.name), 3 + i);
        // SAFETY: `at` is within the mapping, which never moves.
        push_ptr(&mut ptrs, unsafe { ours.as_ptr().add(at) });
    }
    let vals_len = specs
        .iter()
        .zip(&env_values)
        .filter_map(|(s, v)| Some(s.name.len() + v.as_ref()?.len() + 2))
        .sum();
    let mut vals = locked_buf(vals_len)?;
    for (s, v) in specs.iter().zip(&env_values) {
        let Some(v) = v else { continue };
        let at = vals.len();
        vals.push(s.name);
        vals.push(b"=");
        vals.push(v.as_slice());
        vals.push(b"\0");
        // SAFETY: as above.
        push_ptr(&mut ptrs, unsafe { vals.as_ptr().add(at) });
    }
    push_ptr(&mut ptrs, core::ptr::null());

    // CMD replaces bd-inject in this process (no fork, no wait): the pid
    // stays the one protected above, so the shield covers CMD from its first
    // instruction; its exit status and signals are its caller's to see
    // directly; and every copy of a secret in bd-inject's memory is gone
    // with the old address space. The memfds move from HIGH_FD to 3, 4, ...
    // (dup3 leaves close-on-exec off on the copies), everything else closes.
    for (i, fd) in fds.iter().enumerate() {
        let Some(fd) = fd else { break };
        // SAFETY: plain dup3 onto fds below HIGH_FD, which hold nothing we
        // use from here on (never equal to fd.0, which is >= HIGH_FD).
        unsafe { syscall!(Sysno::dup3, fd.0, 3 + i, 0usize) }.map_err(|e| {
            fail!(
                "moving the memfd of {} to fd {}: {}",
                Lossy(specs[i].name),
                3 + i,
                OsErr(e)
            )
        })?;
    }
    const CLOSE_RANGE_CLOEXEC: usize = 4;
    // SAFETY: marks our own fds close-on-exec.
    unsafe {
        syscall!(
            Sysno::close_range,
            3 + specs.len(),
            u32::MAX as usize,
            CLOSE_RANGE_CLOEXEC
        )
    }
    .map_err(|e| fail!("close_range: {}", OsErr(e)))?;
    // A tracer attached since the checks above (possible only without the
    // shield) would see CMD from its first instruction: look once more.
    check_traced(me)?;
    // An ignored signal stays ignored across execve: CMD starts with
    // SIGPIPE at its default whatever bd-inject was started with, or
    // `CMD | head` would never end it.
    const SIGPIPE: usize = 13;
    let dfl = [0u64; 4]; // SIG_DFL, no flags, no restorer, empty mask
                         // SAFETY: a valid struct sigaction; no old action requested.
    let _ = unsafe { syscall!(Sysno::rt_sigaction, SIGPIPE, dfl.as_ptr(), 0usize, 8usize) };
    // SAFETY: NUL-terminated strings and NULL-terminated arrays that live
    // until execve returns (it returns only on failure): argv from CMD on is
    // the kernel's own NULL-terminated array.
    let e = unsafe {
        syscall!(
            Sysno::execve,
            prog.ptr(),
            argv.argv.add(args.cmd),
            ptrs.as_ptr()
        )
    }
    .err()
    .unwrap_or(Errno::EINVAL);
    drop(vals);
    let code = match e {
        Errno::ENOENT => NOT_FOUND,
        Errno::EACCES | Errno::ENOEXEC | Errno::EPERM => NOT_EXECUTABLE,
        _ => FAILED,
    };
    Err(match code {
        NOT_FOUND => fail_with(code, format_args!("{shown}: command not found")),
        NOT_EXECUTABLE => fail_with(code, format_args!("{shown}: cannot execute: {}", OsErr(e))),
        _ => fail_with(
            code,
            format_args!("{shown}: starting it failed: {}", OsErr(e)),
        ),
    })
}
