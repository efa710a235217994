//! The injector: read secrets, seal them into memfds, protect, exec CMD in place.

use std::ffi::{CString, OsStr};
use std::fmt;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use clap::ArgMatches;
use zeroize::Zeroizing;

use crate::cli::Cli;
use crate::exit;

/// The largest secret accepted: a secret is a key or a password, not a file
/// system, and every byte of it stays locked in RAM while bd-inject runs.
pub const MAX_SECRET: usize = 1 << 20;

/// Most secrets at once: their fds (3, 4, ...) stay below [`HIGH_FD`].
pub const MAX_SECRETS: usize = 60;

/// Where the memfds wait until the child moves them to 3, 4, ...
const HIGH_FD: RawFd = 64;

/// Not in every libc yet; since Linux 6.3.
const MFD_NOEXEC_SEAL: libc::c_uint = 0x0008;

/// An error with the exit code it maps to.
#[derive(Debug)]
pub struct Error {
    pub code: u8,
    msg: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

fn err(msg: impl Into<String>) -> Error {
    Error {
        code: exit::FAILED,
        msg: msg.into(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Env(String),
    Stdin,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(p) => write!(f, "--from-file {}", p.display()),
            Source::Env(v) => write!(f, "--from-env {v}"),
            Source::Stdin => f.write_str("stdin"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub name: String,
    pub source: Source,
    pub env: bool,
}

fn valid_name(n: &str) -> bool {
    let mut c = n.chars();
    matches!(c.next(), Some(ch) if ch == '_' || ch.is_ascii_alphabetic())
        && c.all(|ch| ch == '_' || ch.is_ascii_alphanumeric())
}

/// Pair every --from-file, --from-env and --env with the --name before it.
pub fn specs(cli: &Cli, m: &ArgMatches) -> Result<Vec<Spec>, Error> {
    let name_idx: Vec<usize> = m
        .indices_of("names")
        .map(|i| i.collect())
        .unwrap_or_default();
    let mut specs: Vec<Spec> = cli
        .names
        .iter()
        .map(|n| Spec {
            name: n.clone(),
            source: Source::Stdin,
            env: false,
        })
        .collect();
    let mut has_source = vec![false; specs.len()];
    let owner = |idx: usize, opt: &str| -> Result<usize, Error> {
        name_idx
            .iter()
            .rposition(|&n| n < idx)
            .ok_or_else(|| err(format!("{opt} must follow the --name it belongs to")))
    };
    let mut sources: Vec<(usize, String, Source)> = Vec::new();
    if let Some(ix) = m.indices_of("from_file") {
        for (i, p) in ix.zip(&cli.from_file) {
            sources.push((i, "--from-file".into(), Source::File(p.clone())));
        }
    }
    if let Some(ix) = m.indices_of("from_env") {
        for (i, v) in ix.zip(&cli.from_env) {
            sources.push((i, "--from-env".into(), Source::Env(v.clone())));
        }
    }
    for (i, opt, src) in sources {
        let k = owner(i, &opt)?;
        if has_source[k] {
            return Err(err(format!(
                "--name {}: more than one source ({} and {src})",
                specs[k].name, specs[k].source
            )));
        }
        has_source[k] = true;
        specs[k].source = src;
    }
    // --env counts occurrences, so clap gives it a default (0) with an
    // index of its own: only indices from the command line are real.
    let env_given = m.value_source("env") == Some(clap::parser::ValueSource::CommandLine);
    if let Some(ix) = m.indices_of("env").filter(|_| env_given) {
        for i in ix {
            let k = owner(i, "--env")?;
            specs[k].env = true;
        }
    }
    if specs.len() > MAX_SECRETS {
        return Err(err(format!("at most {MAX_SECRETS} secrets at once")));
    }
    let mut seen = std::collections::HashSet::new();
    for s in &specs {
        if !valid_name(&s.name) {
            return Err(err(format!(
                "--name {:?}: not a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)",
                s.name
            )));
        }
        if !seen.insert(s.name.as_str()) {
            return Err(err(format!("--name {}: given twice", s.name)));
        }
    }
    if specs.iter().filter(|s| s.source == Source::Stdin).count() > 1 {
        return Err(err(
            "more than one secret without --from-file or --from-env: only one can come from stdin",
        ));
    }
    Ok(specs)
}

/// A locked, zeroed buffer of `len` bytes.
fn locked_buf(len: usize) -> Zeroizing<Vec<u8>> {
    let buf = Zeroizing::new(vec![0u8; len]);
    lock(&buf);
    buf
}

/// Read at most MAX_SECRET + 1 bytes. The buffer starts at `hint` + 1
/// bytes (a regular file's size: locking and wiping 1 MiB for a 30-byte key
/// costs more than everything else bd-inject does) and, should the source
/// hold more, moves once to the full size through a copy whose old buffer
/// is wiped, never a reallocation that would leave an unwiped copy behind.
fn read_bounded(
    mut r: impl Read,
    spec: &Spec,
    hint: Option<u64>,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let first = match hint {
        Some(h) if h < MAX_SECRET as u64 => h as usize + 1,
        _ => MAX_SECRET + 1,
    };
    let mut buf = locked_buf(first);
    let mut n = 0;
    loop {
        if n == buf.len() {
            if buf.len() > MAX_SECRET {
                break;
            }
            let mut big = locked_buf(MAX_SECRET + 1);
            big[..n].copy_from_slice(&buf[..n]);
            buf = big;
        }
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(err(format!(
                    "--name {}: reading {}: {e}",
                    spec.name, spec.source
                )))
            }
        }
    }
    if n > MAX_SECRET {
        return Err(err(format!(
            "--name {}: secret from {} is larger than the limit of {MAX_SECRET} bytes (1 MiB)",
            spec.name, spec.source
        )));
    }
    buf.truncate(n);
    Ok(buf)
}

fn lock(buf: &[u8]) {
    // Best effort: a small RLIMIT_MEMLOCK must not stop the injection; the
    // copy is wiped right after the child starts either way.
    // SAFETY: the range is a live allocation of buf.len() bytes.
    let rc = unsafe { libc::mlock(buf.as_ptr().cast(), buf.len()) };
    if rc != 0 {
        eprintln!(
            "bd-inject: warning: mlock of the secret buffer failed: {} (raise RLIMIT_MEMLOCK)",
            std::io::Error::last_os_error()
        );
    }
}

/// Restores the terminal's settings when dropped (also on an error path).
struct EchoOff {
    saved: nix::sys::termios::Termios,
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        let _ = nix::sys::termios::tcsetattr(
            std::io::stdin(),
            nix::sys::termios::SetArg::TCSAFLUSH,
            &self.saved,
        );
    }
}

/// A secret typed on a terminal: a prompt on stderr, echo off (like
/// systemd-ask-password), one line, bounded like every other source.
fn read_tty(spec: &Spec) -> Result<Zeroizing<Vec<u8>>, Error> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin)
        .map_err(|e| err(format!("--name {}: reading the terminal: {e}", spec.name)))?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    quiet.local_flags.insert(LocalFlags::ECHONL);
    eprint!("bd-inject: secret for {} (input hidden): ", spec.name);
    tcsetattr(&stdin, SetArg::TCSAFLUSH, &quiet)
        .map_err(|e| err(format!("--name {}: turning echo off: {e}", spec.name)))?;
    let _restore = EchoOff { saved };
    let mut line = Zeroizing::new(Vec::new());
    std::io::BufRead::read_until(
        &mut std::io::Read::take(stdin.lock(), MAX_SECRET as u64 + 2),
        b'\n',
        &mut line,
    )
    .map_err(|e| err(format!("--name {}: reading the terminal: {e}", spec.name)))?;
    if line.len() > MAX_SECRET + 1 {
        return Err(err(format!(
            "--name {}: secret from the terminal is larger than the limit of {MAX_SECRET} bytes (1 MiB)",
            spec.name
        )));
    }
    Ok(line)
}

pub fn read_secret(spec: &Spec, allow_empty: bool) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut buf = match &spec.source {
        Source::File(p) => {
            let f = std::fs::File::open(p).map_err(|e| {
                err(format!(
                    "--name {}: --from-file {}: {e}",
                    spec.name,
                    p.display()
                ))
            })?;
            let hint = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
            read_bounded(f, spec, hint)?
        }
        Source::Stdin if std::io::IsTerminal::is_terminal(&std::io::stdin()) => read_tty(spec)?,
        Source::Stdin => read_bounded(std::io::stdin().lock(), spec, None)?,
        Source::Env(var) => {
            let v = std::env::var_os(var).ok_or_else(|| {
                err(format!(
                    "--name {}: --from-env {var}: the variable is not set",
                    spec.name
                ))
            })?;
            let bytes = v.as_bytes();
            if bytes.len() > MAX_SECRET {
                return Err(err(format!(
                    "--name {}: secret from --from-env {var} is larger than the limit of \
                     {MAX_SECRET} bytes (1 MiB)",
                    spec.name
                )));
            }
            let mut buf = Zeroizing::new(vec![0u8; bytes.len()]);
            lock(&buf);
            buf.copy_from_slice(bytes);
            drop(Zeroizing::new(v.into_encoded_bytes()));
            // The value also sits in the environment block on our stack
            // (what /proc/PID/environ shows) for as long as we wait on CMD.
            scrub_environ(var);
            // The source variable must not reach the child.
            std::env::remove_var(var);
            buf
        }
    };
    if !matches!(spec.source, Source::Env(_)) {
        if buf.ends_with(b"\r\n") {
            let n = buf.len() - 2;
            buf.truncate(n);
        } else if buf.ends_with(b"\n") {
            let n = buf.len() - 1;
            buf.truncate(n);
        }
    }
    if buf.is_empty() && !allow_empty {
        return Err(err(format!(
            "--name {}: the secret from {} is empty (--allow-empty accepts it)",
            spec.name, spec.source
        )));
    }
    Ok(buf)
}

/// A sealed memfd holding `secret`, parked at an fd >= HIGH_FD.
pub fn sealed_memfd(name: &str, secret: &[u8]) -> Result<OwnedFd, Error> {
    let cname = CString::new(name).map_err(|_| err(format!("--name {name}: contains NUL")))?;
    let base = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: cname is a valid C string; flags are plain bits.
    let mut fd = unsafe { libc::memfd_create(cname.as_ptr(), base | MFD_NOEXEC_SEAL) };
    if fd < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
        // Kernels before 6.3 do not know MFD_NOEXEC_SEAL.
        // SAFETY: as above.
        fd = unsafe { libc::memfd_create(cname.as_ptr(), base) };
    }
    if fd < 0 {
        return Err(err(format!(
            "--name {name}: memfd_create: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: fd was just returned by memfd_create and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut f = std::fs::File::from(fd);
    std::io::Write::write_all(&mut f, secret)
        .map_err(|e| err(format!("--name {name}: writing the memfd: {e}")))?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on an fd we own.
    if unsafe { libc::fcntl(f.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(err(format!(
            "--name {name}: sealing the memfd: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: as above.
    let high = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_DUPFD_CLOEXEC, HIGH_FD) };
    if high < 0 {
        return Err(err(format!(
            "--name {name}: moving the memfd: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: high is a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(high) })
}

/// No core dumps and no ptrace by unprivileged users while we hold secrets.
///
/// RLIMIT_CORE is set to exactly 1, not 0: the kernel skips a core_pattern
/// pipe for a process whose limit is 1 (and a file dump is smaller than a
/// page), while 0 stops only file dumps. CMD inherits it; with the shield
/// loaded, the LSM keeps it there.
fn harden_self() -> Result<(), Error> {
    boundary::protect::no_core_dumps(std::process::id())
        .map_err(|e| err(format!("setrlimit(RLIMIT_CORE, 1): {e}")))?;
    // SAFETY: plain prctl.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        return Err(err(format!(
            "prctl(PR_SET_DUMPABLE, 0): {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

unsafe extern "C" {
    static mut environ: *mut *mut libc::c_char;
}

/// Overwrite the value of `var` in the process's environment block in place.
fn scrub_environ(var: &str) {
    // SAFETY: single-threaded at this point; environ is a NULL-terminated
    // array of NUL-terminated strings, and we write only within each one.
    unsafe {
        let mut p = environ;
        if p.is_null() {
            return;
        }
        while !(*p).is_null() {
            let e = *p;
            let bytes = std::ffi::CStr::from_ptr(e).to_bytes();
            if bytes.len() > var.len()
                && bytes.starts_with(var.as_bytes())
                && bytes[var.len()] == b'='
            {
                let start = var.len() + 1;
                std::ptr::write_bytes(e.add(start), 0, bytes.len() - start);
            }
            p = p.add(1);
        }
    }
}

fn traced(who: &str, tracer: u32) -> Error {
    Error {
        code: exit::TRACED,
        msg: format!(
            "{who} is being traced (TracerPid {tracer}): refusing to hand it a secret; \
             a tracer attached before protection keeps its access"
        ),
    }
}

/// Where execve(2) will find CMD: as given when it holds a '/', else the
/// first executable match on PATH (else the first match, so exec reports
/// EACCES); `None` when nothing matches.
fn resolve(cmd: &OsStr) -> Option<PathBuf> {
    if cmd.as_bytes().contains(&b'/') {
        return Some(PathBuf::from(cmd));
    }
    use std::os::unix::fs::PermissionsExt as _;
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let mut first = None;
    for dir in std::env::split_paths(&path) {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let c = dir.join(cmd);
        let Ok(md) = std::fs::metadata(&c) else {
            continue;
        };
        if !md.is_file() {
            continue;
        }
        if md.permissions().mode() & 0o111 != 0 {
            return Some(c);
        }
        first.get_or_insert(c);
    }
    first
}

fn nul_terminated(b: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut v = Zeroizing::new(Vec::with_capacity(b.len() + 1));
    v.extend_from_slice(b);
    v.push(0);
    v
}

/// True when the BPF-LSM shield is loaded under `pin`: its maps are pinned
/// and its ptrace hook is attached (a pinned link).
pub fn shield_active(pin: &Path) -> bool {
    // The link first: where no shield was ever loaded this is the one
    // stat(2) on the way to exec, not five.
    boundary::pin::link_path(pin, "lsm_file_protect", "ptrace_access_check").exists()
        && boundary::protect::maps_pinned(pin)
}

/// Runs CMD in place of this process; returns only when that fails.
pub fn run(cli: &Cli, m: &ArgMatches) -> Error {
    match exec(cli, m) {
        Err(e) => e,
    }
}

fn exec(cli: &Cli, m: &ArgMatches) -> Result<std::convert::Infallible, Error> {
    harden_self()?;
    let specs = specs(cli, m)?;
    let me = std::process::id();
    match boundary::protect::tracer_pid(me) {
        Some(0) => {}
        Some(t) => return Err(traced("bd-inject", t)),
        None => return Err(err("reading /proc/self/status: TracerPid unknown")),
    }

    // Protect ourselves before any secret exists in our memory or in a
    // memfd: /proc/PID/fd/N of a memfd is as readable as the memfd. The
    // child inherits the entry when it is forked, so there is no moment
    // when its memory is readable either.
    let pin = boundary::pin::pin_dir(cli.pin_dir.as_deref());
    if shield_active(&pin) {
        boundary::protect::protect_pid(&pin, me)
            .map_err(|e| err(format!("protecting the child under {}: {e}", pin.display())))?;
        // A tracer that attached before the line above keeps its access.
        match boundary::protect::tracer_pid(me) {
            Some(0) => {}
            Some(t) => return Err(traced("bd-inject", t)),
            None => return Err(err("reading /proc/self/status: TracerPid unknown")),
        }
    } else if cli.require_protection {
        return Err(err(format!(
            "--require-protection: the BPF-LSM shield is not loaded under {} (run `bd-load` on \
             a kernel with `bpf` in /sys/kernel/security/lsm)",
            pin.display()
        )));
    }

    let mut fds = Vec::new();
    let mut env_values: Vec<(String, Zeroizing<Vec<u8>>)> = Vec::new();
    for s in &specs {
        let secret = read_secret(s, cli.allow_empty)?;
        fds.push(sealed_memfd(&s.name, &secret)?);
        if s.env {
            env_values.push((s.name.clone(), secret));
        }
        // Otherwise `secret` is wiped here: the memfd holds the only copy.
    }

    let shown = cli.cmd[0].to_string_lossy().into_owned();
    let Some(prog) = resolve(&cli.cmd[0]) else {
        return Err(Error {
            code: exit::NOT_FOUND,
            msg: format!("{shown}: command not found"),
        });
    };
    // CMD is started with execve(2) from pre_exec, never execvp(3): on
    // ENOEXEC (an executable file with no #! line) execvp would hand the
    // file to /bin/sh, and CMD's failure would look like sh's 127.
    let prog_c = nul_terminated(prog.as_os_str().as_bytes());
    let argv_c: Vec<Zeroizing<Vec<u8>>> = cli
        .cmd
        .iter()
        .map(|a| nul_terminated(a.as_bytes()))
        .collect();
    let mut ours: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        ours.push((
            format!("{}_FILE", s.name).into_bytes(),
            format!("/proc/self/fd/{}", 3 + i).into_bytes(),
        ));
    }
    let mut envp_c: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    for (k, v) in std::env::vars_os() {
        let k = k.as_bytes();
        if ours.iter().any(|(n, _)| n.as_slice() == k)
            || env_values.iter().any(|(n, _)| n.as_bytes() == k)
        {
            continue;
        }
        envp_c.push(nul_terminated(&[k, b"=", v.as_bytes()].concat()));
    }
    for (k, v) in &ours {
        envp_c.push(nul_terminated(&[k.as_slice(), b"=", v.as_slice()].concat()));
    }
    for (name, v) in &env_values {
        let mut e = Zeroizing::new(Vec::with_capacity(name.len() + v.len() + 2));
        e.extend_from_slice(name.as_bytes());
        e.push(b'=');
        e.extend_from_slice(v);
        e.push(0);
        envp_c.push(e);
    }
    let argv_p: Vec<*const libc::c_char> = argv_c
        .iter()
        .map(|a| a.as_ptr().cast())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp_p: Vec<*const libc::c_char> = envp_c
        .iter()
        .map(|a| a.as_ptr().cast())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    // CMD replaces bd-inject in this process (no fork, no wait): the pid
    // stays the one protected above, so the shield covers CMD from its first
    // instruction; its exit status and signals are its caller's to see
    // directly; and every copy of a secret in bd-inject's memory is gone
    // with the old address space. The memfds move from HIGH_FD to 3, 4, ...
    // (dup2 clears close-on-exec on the copies), everything else closes.
    let high: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    for (i, &fd) in high.iter().enumerate() {
        // SAFETY: plain dup2 onto fds below HIGH_FD, which hold nothing we
        // use from here on.
        if unsafe { libc::dup2(fd, 3 + i as RawFd) } < 0 {
            return Err(err(format!(
                "moving the memfd of {} to fd {}: {}",
                specs[i].name,
                3 + i,
                std::io::Error::last_os_error()
            )));
        }
    }
    let n = high.len() as libc::c_uint;
    // SAFETY: marks our own fds close-on-exec.
    if unsafe { libc::close_range(3 + n, libc::c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC as _) } != 0 {
        return Err(err(format!(
            "close_range: {}",
            std::io::Error::last_os_error()
        )));
    }
    // A tracer attached since the checks above (possible only without the
    // shield) would see CMD from its first instruction: look once more.
    match boundary::protect::tracer_pid(me) {
        Some(0) => {}
        Some(t) => return Err(traced("bd-inject", t)),
        None => return Err(err("reading /proc/self/status: TracerPid unknown")),
    }
    // The Rust runtime ignores SIGPIPE in bd-inject, and an ignored signal
    // stays ignored across execve: CMD must start with the default (as it
    // did when bd-inject spawned it), or `CMD | head` would never end it.
    // SAFETY: plain signal(2) with SIG_DFL; nothing here relies on SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // SAFETY: NUL-terminated strings and NULL-terminated arrays that live
    // until execve returns (it returns only on failure).
    unsafe {
        libc::execve(prog_c.as_ptr().cast(), argv_p.as_ptr(), envp_p.as_ptr());
    }
    let e = std::io::Error::last_os_error();
    let code = match e.raw_os_error() {
        Some(libc::ENOENT) => exit::NOT_FOUND,
        Some(libc::EACCES | libc::ENOEXEC | libc::EPERM) => exit::NOT_EXECUTABLE,
        _ => exit::FAILED,
    };
    let what = match code {
        exit::NOT_FOUND => "command not found".to_string(),
        exit::NOT_EXECUTABLE => format!("cannot execute: {e}"),
        _ => format!("starting it failed: {e}"),
    };
    Err(Error {
        code,
        msg: format!("{shown}: {what}"),
    })
}
