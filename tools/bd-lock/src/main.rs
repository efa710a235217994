use anyhow::{bail, Context, Result};
use bd_lock::cli::{Ceremony, Cli, Cmd, Global};
use bd_lock::token::{self, Token};
use boundary::mode::{self, Current, MapState, Mode, ModeMap, State};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

mod canary;
mod deadman;

/// A refusal (exit 1), as opposed to an error (exit 2).
#[derive(Debug)]
struct Refused(String);
impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Refused {}

fn refuse<T>(msg: impl Into<String>) -> Result<T> {
    Err(Refused(msg.into()).into())
}

fn main() {
    let cli: Cli = boundary::json::parse_cli("bd-lock");
    // Signing keys live in this process: never in a core dump.
    if let Err(e) = boundary::protect::no_core_dumps_self() {
        eprintln!("bd-lock: cannot keep core dumps off: {e}");
    }
    let json = cli.global.json;
    let code = match run(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bd-lock: {e:#}");
            let code = if e.downcast_ref::<Refused>().is_some() {
                boundary::exit::VERDICT
            } else {
                boundary::exit::USAGE
            };
            if json {
                boundary::json::print_error(
                    "bd-lock",
                    code,
                    &format!("{e:#}"),
                    boundary::json::ErrorAt::default(),
                );
            }
            code
        }
    };
    std::process::exit(code);
}

struct Ctx {
    state: PathBuf,
    pin: PathBuf,
    operator_keys: PathBuf,
    operators_config: PathBuf,
    machine_id: PathBuf,
    json: bool,
}

impl Ctx {
    fn new(g: &Global) -> Ctx {
        Ctx {
            state: g.state.clone(),
            pin: boundary::pin::pin_dir(g.pin_dir.as_deref()),
            operator_keys: g.operator_keys.clone(),
            operators_config: g.operators_config.clone(),
            machine_id: g.machine_id.clone(),
            json: g.json,
        }
    }
    fn current(&self) -> Current {
        mode::read_current(&self.state, Some(&self.pin))
    }
    /// For callers holding the exclusive state lock.
    fn current_locked(&self) -> Current {
        mode::read_current_locked(&self.state, Some(&self.pin))
    }
    fn map(&self) -> Result<Option<ModeMap>> {
        ModeMap::open(&self.pin)
    }
}

fn run(cli: Cli) -> Result<i32> {
    let ctx = Ctx::new(&cli.global);
    let reads_state = match &cli.cmd {
        Cmd::Keygen { .. } | Cmd::Cosign { .. } | Cmd::Allow { .. } => false,
        Cmd::Token { seq, .. } => seq.is_none(),
        _ => true,
    };
    if reads_state {
        sealed_state(&ctx.pin, &ctx.state)?;
    }
    match cli.cmd {
        Cmd::Status => status(&ctx, ctx.json),
        Cmd::Init { mode, reason } => init(&ctx, mode, &reason),
        Cmd::Sync => sync(&ctx),
        Cmd::Set { mode, reason } => {
            transition(&ctx, mode, &reason, "set", false)?;
            Ok(enforcement_exit(&ctx, ctx.current().mode))
        }
        Cmd::Engage { reason } => {
            transition(&ctx, Mode::Lockdown, &reason, "engage", false)?;
            Ok(enforcement_exit(&ctx, ctx.current().mode))
        }
        Cmd::Release(c) => release(&ctx, &c),
        Cmd::Keygen { output } => {
            let pk = token::keygen(&output)?;
            eprintln!(
                "bd-lock: wrote {} (secret) and {}.pub; install the public key as a trusted operator key:",
                output.display(),
                output.display()
            );
            if ctx.json {
                println!(
                    "{}",
                    boundary::json::output_line(
                        "operator_key",
                        serde_json::json!({
                        "key":pk,"secret_file":output,"public_file":format!("{}.pub", output.display())})
                    )
                );
            } else {
                println!("{pk}");
            }
            Ok(0)
        }
        Cmd::Token {
            key,
            from,
            to,
            seq,
            host,
            expires,
            output,
        } => {
            let host = match host {
                Some(h) => h,
                None => token::machine_id(&ctx.machine_id)?,
            };
            let seq = match seq {
                Some(s) => s,
                None => {
                    let cur = ctx.current();
                    if cur.state.is_none() {
                        bail!(
                            "no readable state at {} to take the transition seq from: pass --seq N (bd-lock status on the host shows it)",
                            ctx.state.display()
                        );
                    }
                    current_seq(&cur)
                }
            };
            let t = token::make_token(&key, &host, seq, from, to, expires.into())?;
            write_token(&t, output.as_deref())?;
            Ok(0)
        }
        Cmd::Cosign { token, key, output } => {
            let mut t = read_token(&token)?;
            let sk = token::read_signing_key(&key)?;
            t.cosign(&sk)
                .map_err(|e| Refused(format!("{}: {e:#}", token.display())))?;
            write_token(&t, Some(output.as_deref().unwrap_or(&token)))?;
            eprintln!(
                "bd-lock: {} now carries {} signature(s)",
                output.as_deref().unwrap_or(&token).display(),
                t.sigs.len()
            );
            Ok(0)
        }
        Cmd::OnTripwire { heartbeat, tee } => on_tripwire(&ctx, heartbeat.map(Into::into), tee),
        Cmd::Arm {
            heartbeat,
            ceremony: c,
        } => arm(&ctx, heartbeat.into(), Some(&c)),
        Cmd::Heartbeat(c) => {
            heartbeat(&ctx, Some(&c))?;
            Ok(0)
        }
        Cmd::Disarm(c) => disarm(&ctx, &c),
        Cmd::Allow {
            remove,
            libs,
            device,
            paths,
        } => {
            if device {
                allow_device(&ctx, remove, &paths)
            } else if libs {
                let mut all = paths.clone();
                for p in &paths {
                    all.extend(boundary::elf::needed_libs(p)?);
                }
                all.sort();
                all.dedup();
                allow(&ctx, remove, &all)
            } else {
                allow(&ctx, remove, &paths)
            }
        }
        Cmd::Canary(c) => canary::run(&ctx, c),
    }
}

/// Exit status of set, engage and status when the kernel does not enforce
/// the mode: no mode map, or a program the mode needs is not attached.
const NOT_ENFORCED: i32 = boundary::exit::NOT_ENFORCED;

/// The mode_enforce programs each mode needs attached (cumulative upwards).
fn enforcing_programs(m: Mode) -> Vec<&'static str> {
    let mut v = Vec::new();
    if m >= Mode::Airgap {
        v.extend([
            "mode_connect4",
            "mode_connect6",
            "mode_sendmsg4",
            "mode_sendmsg6",
            "mode_sock_create",
            "mode_post_bind4",
            "mode_post_bind6",
            "mode_skb_ingress",
            "mode_skb_egress",
        ]);
    }
    if m >= Mode::Coldroom {
        v.extend(["mode_ptrace", "mode_traceme", "mode_locked_down"]);
    }
    if m >= Mode::Lockdown {
        // Without the mapping hooks an allowed dynamic binary runs any
        // LD_PRELOAD library or ld.so runs any file: exec alone is a hole;
        // without the file hooks an allowed file can be rewritten.
        v.extend([
            "mode_exec",
            "mode_mmap",
            "mode_mprotect",
            "mode_file_open",
            "mode_truncate",
            "mode_rename",
            // Without these root makes an allowed bd-lock stale (a link,
            // chmod, utimes...) and no release ceremony runs until a reboot.
            "mode_link",
            "mode_unlink",
            "mode_setattr",
            "mode_setxattr",
            "mode_removexattr",
            "mode_ioctl",
        ]);
    }
    v
}

/// Why the kernel does not enforce `m`, if it does not. A pinned link is
/// what keeps a program attached, so a missing pin means a missing program.
fn enforcement_gap(ctx: &Ctx, m: Mode) -> Option<String> {
    let map = mode::mode_map_path(&ctx.pin);
    if !map.exists() {
        return Some(format!(
            "no kernel map pinned at {}: the kernel enforces nothing (bd-load first)",
            map.display()
        ));
    }
    let missing: Vec<&str> = enforcing_programs(m)
        .into_iter()
        .filter(|p| !boundary::pin::link_path(&ctx.pin, "mode_enforce", p).exists())
        .collect();
    if missing.is_empty() {
        return None;
    }
    Some(format!(
        "{m} is not fully enforced: not attached under {}: {} (cgroup programs need bd-load --cgroup, ptrace and exec ones BPF-LSM)",
        boundary::pin::links_dir(&ctx.pin).display(),
        missing.join(", ")
    ))
}

/// Warn on stderr and return NOT_ENFORCED when the kernel does not enforce `m`.
fn enforcement_exit(ctx: &Ctx, m: Mode) -> i32 {
    match enforcement_gap(ctx, m) {
        Some(why) => {
            eprintln!("bd-lock: WARNING: {why}");
            NOT_ENFORCED
        }
        None => 0,
    }
}

fn uid() -> u32 {
    nix::unistd::getuid().as_raw()
}

/// Print one mode event line and flush it. `from` is None only for `init`:
/// there was no mode before it, and `"from":"OPEN","to":"OPEN"` would read
/// as a transition that never happened (docs/EVENTS.md, `mode`).
fn emit(from: impl Into<Option<Mode>>, to: Mode, reason: &str, via: &str) -> Result<()> {
    #[derive(serde::Serialize)]
    struct Ev<'a> {
        v: u32,
        #[serde(rename = "type")]
        kind: &'a str,
        time: String,
        from: Option<Mode>,
        to: Mode,
        reason: &'a str,
        uid: u32,
        via: &'a str,
    }
    let ev = serde_json::to_string(&Ev {
        v: 1,
        kind: "mode",
        time: boundary::time::now_rfc3339(),
        from: from.into(),
        to,
        reason,
        uid: uid(),
        via,
    })?;
    let mut o = std::io::stdout().lock();
    writeln!(o, "{ev}")
        .and_then(|_| o.flush())
        .context("writing the mode event")
}

fn status(ctx: &Ctx, json: bool) -> Result<i32> {
    let cur = ctx.current();
    let now = mode::monotonic_ns();
    let map_json = cur.map.map(|m| {
        serde_json::json!({
            "mode": Mode::from_u32(m.mode).map_or(serde_json::Value::from(m.mode), |x| x.as_str().into()),
            "seq": m.seq,
            "flags": m.flags,
            "heartbeat_deadline_ns": m.heartbeat_deadline_ns,
            "heartbeat_left_ms": (m.heartbeat_deadline_ns != 0)
                .then(|| (m.heartbeat_deadline_ns as i128 - now as i128) / 1_000_000),
        })
    });
    if json {
        #[derive(serde::Serialize)]
        struct St<'a> {
            v: u32,
            #[serde(rename = "type")]
            kind: &'a str,
            time: String,
            mode: Mode,
            fault: &'a Option<String>,
            deadman_expired: bool,
            state_file: &'a Path,
            state: &'a Option<State>,
            map_path: PathBuf,
            map: Option<serde_json::Value>,
            raised: Option<serde_json::Value>,
        }
        let v = St {
            v: 1,
            kind: "mode_status",
            time: boundary::time::now_rfc3339(),
            mode: cur.mode,
            fault: &cur.fault,
            deadman_expired: cur.deadman_expired,
            state_file: &ctx.state,
            state: &cur.state,
            map_path: mode::mode_map_path(&ctx.pin),
            map: map_json,
            raised: cur
                .raised
                .map(|t| serde_json::json!({"mode": mode::raised_mode(&t), "trips": t})),
        };
        println!("{}", serde_json::to_string(&v)?);
    } else {
        println!("mode: {}", cur.mode);
        if let Some(f) = &cur.fault {
            println!("FAULT: reads as LOCKDOWN because: {f}");
        }
        if let Some(s) = &cur.state {
            println!(
                "state file: {} ({} since {}, seq {}, by uid {}: {})",
                ctx.state.display(),
                s.mode,
                s.since,
                s.seq,
                s.uid,
                s.reason
            );
        }
        match cur.map {
            Some(m) => {
                println!(
                    "kernel map: {} (mode {}, seq {})",
                    mode::mode_map_path(&ctx.pin).display(),
                    Mode::from_u32(m.mode).map_or(format!("unknown {}", m.mode), |x| x.to_string()),
                    m.seq
                );
                let behind = cur.state.as_ref().is_some_and(|s| s.seq < m.seq);
                if m.flags & boundary::event::BD_MODE_F_CANARY != 0 && behind {
                    println!(
                        "kernel map: a canary raised the mode in the kernel; `bd-lock sync` records it in the state file"
                    );
                }
                if let Some(t) = cur.raised.filter(|t| t.iter().any(|&n| n != 0)) {
                    println!(
                        "kernel raise: canaries hold {} ({} trips; cleared only by bd-lock release)",
                        mode::raised_mode(&t),
                        t.iter().sum::<u64>()
                    );
                }
                if m.heartbeat_deadline_ns != 0 {
                    let left = (m.heartbeat_deadline_ns as i128 - now as i128) / 1_000_000;
                    if cur.deadman_expired {
                        println!(
                            "dead-man switch: EXPIRED {} ms ago: the kernel acts as LOCKDOWN",
                            -left
                        );
                    } else {
                        println!("dead-man switch: armed, {left} ms left");
                    }
                }
            }
            None => println!(
                "kernel map: none pinned at {} (modes are not enforced in the kernel)",
                mode::mode_map_path(&ctx.pin).display()
            ),
        }
    }
    if cur.fault.is_some() {
        return Ok(boundary::exit::FAULT);
    }
    Ok(enforcement_exit(ctx, cur.mode))
}

fn init(ctx: &Ctx, m: Mode, reason: &str) -> Result<i32> {
    let _l = mode::lock_state(&ctx.state)?;
    if ctx.state.exists() {
        return refuse(format!(
            "{} exists: init only creates a state on a fresh system",
            ctx.state.display()
        ));
    }
    let mut map = ctx.map()?;
    if let Some(mm) = &map {
        let s = mm.read()?;
        if s.seq != 0 {
            return refuse(format!(
                "the kernel map {} already holds a state (seq {}): use engage, or release by ceremony",
                mm.path().display(),
                s.seq
            ));
        }
    }
    let st = State::new(m, reason);
    if let Some(mm) = &mut map {
        mm.write(MapState {
            mode: m as u32,
            flags: 0,
            heartbeat_deadline_ns: 0,
            seq: st.seq,
        })?;
    }
    write_state(ctx, &st)?;
    emit(None, m, reason, "init")?;
    Ok(0)
}

fn sync(ctx: &Ctx) -> Result<i32> {
    let _l = mode::lock_state(&ctx.state)?;
    if let Some(why) = deadman::fired_before_boot(&ctx.state) {
        deadman_fired(ctx, &why)?;
    }
    // A mode a canary raised in the kernel is recorded, not refused.
    if canary::adopt_locked(ctx, "recorded by bd-lock sync")?.is_some() {
        return Ok(0);
    }
    let st = mode::read_state(&ctx.state)?;
    let Some(mut mm) = ctx.map()? else {
        bail!(
            "no kernel map pinned at {}",
            mode::mode_map_path(&ctx.pin).display()
        );
    };
    let cur = mm.read()?;
    if cur.seq != 0 && cur.mode > st.mode as u32 {
        return refuse(format!(
            "the kernel map is stricter ({}) than the state file ({}): loosening needs a ceremony",
            Mode::from_u32(cur.mode).map_or("unknown".into(), |m| m.to_string()),
            st.mode
        ));
    }
    mm.write(MapState {
        mode: st.mode as u32,
        flags: 0,
        heartbeat_deadline_ns: cur.heartbeat_deadline_ns,
        seq: st.seq,
    })?;
    let from = Mode::from_u32(cur.mode).unwrap_or(Mode::Lockdown);
    emit(
        from,
        st.mode,
        "kernel map synced from the state file",
        "sync",
    )?;
    Ok(0)
}

/// An earlier boot went down after its dead-man switch fired: record the
/// LOCKDOWN the kernel was applying, so the reboot does not undo it. The
/// stamps are consumed (a later release must not be undone by them).
fn deadman_fired(ctx: &Ctx, why: &str) -> Result<()> {
    let mut st = mode::read_state(&ctx.state)?;
    if st.mode != Mode::Lockdown {
        let from = st.mode;
        let map_seq = ctx.map()?.map_or(Ok(0), |m| m.read().map(|m| m.seq))?;
        st.seq = st.seq.max(map_seq) + 1;
        st.mode = Mode::Lockdown;
        st.since = boundary::time::now_rfc3339();
        st.uid = uid();
        st.reason = format!("dead-man switch: {why}");
        write_state(ctx, &st)?;
        emit(from, Mode::Lockdown, &st.reason, "deadman")?;
    }
    sealed_state(&ctx.pin, &ctx.state)?;
    deadman::clear(&ctx.state)
}

/// Move to `to`. Loosening is refused unless `ceremony` says one was done.
/// Returns the mode left.
///
/// The state lock is waited for at most `mode::LOCK_WAIT`. A tightening never
/// waits longer on anything: past that it goes ahead without the lock (the
/// kernel map first, then the file), and says so.
fn transition(ctx: &Ctx, to: Mode, reason: &str, via: &str, ceremony: bool) -> Result<Mode> {
    let l = mode::try_lock_state(&ctx.state);
    match l {
        Ok(Some(_l)) => transition_locked(ctx, to, reason, via, ceremony, None),
        Ok(None) | Err(_) if to >= ctx.current_locked().mode => {
            let why = match &l {
                Ok(_) => format!("{}", mode::LockBusy(lock_file(&ctx.state))),
                Err(e) => format!("{e:#}"),
            };
            eprintln!("bd-lock: state lock unavailable ({why}): tightening to {to} without it");
            transition_locked(ctx, to, reason, via, ceremony, None)
        }
        Ok(None) => Err(mode::LockBusy(lock_file(&ctx.state)).into()),
        Err(e) => Err(e),
    }
}

fn lock_file(state: &Path) -> PathBuf {
    let mut p = state.as_os_str().to_owned();
    p.push(".lock");
    p.into()
}

fn transition_locked(
    ctx: &Ctx,
    to: Mode,
    reason: &str,
    via: &str,
    ceremony: bool,
    expect_from: Option<Mode>,
) -> Result<Mode> {
    let cur = ctx.current_locked();
    let from = cur.mode;
    if let Some(f) = &cur.fault {
        eprintln!("bd-lock: current mode reads as LOCKDOWN: {f}");
    }
    if let Some(e) = expect_from {
        if e != from {
            return refuse(format!("the mode is {from}, not {e} as the ceremony named"));
        }
    }
    if to < from && !ceremony {
        return refuse(format!(
            "{from} -> {to} loosens the boundary: use bd-lock release --token FILE, or --interactive on a terminal"
        ));
    }
    let seq = cur
        .state
        .as_ref()
        .map_or(0, |s| s.seq)
        .max(cur.map.map_or(0, |m| m.seq))
        + 1;
    let mut st = State::new(to, reason);
    st.seq = seq;
    st.heartbeat_ns = cur.state.as_ref().and_then(|s| s.heartbeat_ns);
    // Before the kernel moves: a transition whose state cannot be written
    // to the sealed dir must not happen at all.
    sealed_state(&ctx.pin, &ctx.state)?;
    let mut map = ctx.map()?;
    let new_map = MapState {
        mode: to as u32,
        flags: 0,
        heartbeat_deadline_ns: cur.map.map_or(0, |m| m.heartbeat_deadline_ns),
        seq,
    };
    // Tighten the kernel first, loosen it last: a crash in between leaves
    // the two copies disagreeing, which reads as LOCKDOWN.
    if to >= from {
        if let Some(m) = &mut map {
            m.write(new_map)?;
        }
        write_state(ctx, &st)?;
    } else {
        write_state(ctx, &st)?;
        if let Some(m) = &mut map {
            m.write(new_map)?;
        }
    }
    // Only a ceremony clears the kernel's own raises; one that tripped
    // while they were cleared stays (clear_live) and is recorded at once.
    let kept = if to < from {
        match mode::RaiseMap::open(&ctx.pin)? {
            Some(mut r) => r.clear_live()?,
            None => Mode::Open,
        }
    } else {
        Mode::Open
    };
    emit(from, to, reason, via)?;
    if kept > to {
        eprintln!("bd-lock: a canary tripped during the release: the kernel holds {kept}");
        canary::adopt_locked(ctx, "tripped during a release")?;
    }
    Ok(from)
}

fn read_token(path: &Path) -> Result<Token> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Token::parse(&text)
        .map_err(|e| Refused(format!("{}: not a release token: {e:#}", path.display())).into())
}

/// Write a token atomically: a fresh temp file in the same directory
/// (O_EXCL, so no symlink is followed), renamed over the name.
fn write_token(t: &Token, out: Option<&Path>) -> Result<()> {
    // One line: a token is pasted and piped, and `jq -c` or a line-based
    // reader must see one object.
    let body = serde_json::to_string(t)? + "\n";
    let Some(p) = out else {
        print!("{body}");
        return Ok(());
    };
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut f = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temp file in {}", dir.display()))?;
    f.write_all(body.as_bytes())
        .and_then(|_| f.as_file().sync_all())
        .with_context(|| format!("writing {}", p.display()))?;
    f.persist(p)
        .with_context(|| format!("writing {}", p.display()))?;
    Ok(())
}

/// The transition seq the state is at (what a token for the next
/// transition names).
fn current_seq(cur: &Current) -> u64 {
    cur.state
        .as_ref()
        .map_or(0, |s| s.seq)
        .max(cur.map.map_or(0, |m| m.seq))
}

/// Where bd-load has recorded a seal (bpf/self_protect.bpf.c: bd_seal),
/// the operator keys, the operators config and the machine-id a ceremony
/// trusts must be the sealed inodes. Another mount namespace, a chroot, a
/// bind mount or a tmpfs over /etc shows other files at the same paths, and
/// a --operator-keys elsewhere names unsealed ones: either would make a
/// root-minted token count. No seal recorded (nothing loaded, no BPF-LSM):
/// as before; nor when no configuration directory was sealed (/etc/boundary
/// missing at the load: there is no sealed key set to hold to). A seal map
/// that cannot be read: refused (fail closed).
fn sealed_config(ctx: &Ctx) -> Result<()> {
    let seal = match boundary::seal::Seal::open(&ctx.pin) {
        Ok(Some(s)) => s,
        Ok(None) => return Ok(()),
        Err(e) => {
            return refuse(format!(
                "cannot read the sealed-configuration record ({e:#}); refusing to trust the operators config"
            ))
        }
    };
    if !seal.config_sealed() {
        return Ok(());
    }
    let keys = ctx.operator_keys.as_path();
    let (files, dirs): (Vec<&Path>, Vec<&Path>) = if keys.is_dir() {
        (vec![ctx.machine_id.as_path()], vec![keys])
    } else {
        (vec![ctx.machine_id.as_path(), keys], vec![])
    };
    seal.check(&files, &[ctx.operators_config.as_path()], &dirs)
        .or_else(refuse)
}

/// Where bd-load sealed a state dir, the one holding `state` must be that
/// very inode before bd-lock reads or writes mode state there: the kernel
/// lets a bind onto the state dir (systemd's `ReadWritePaths=`) and one over
/// a directory above it (systemd's `ProtectSystem=`) through, and either
/// could show a forged dir, into which a transition would be written and
/// then lost at the next boot (back in the older, looser mode). Checked at
/// the start of every command that touches the state and again before each
/// write. No seal recorded, or no state dir among the sealed paths: as
/// before. A seal map that cannot be read: refused (fail closed).
fn sealed_state(pin: &Path, state: &Path) -> Result<()> {
    let seal = match boundary::seal::Seal::open(pin) {
        Ok(Some(s)) => s,
        Ok(None) => return Ok(()),
        Err(e) => {
            return refuse(format!(
                "cannot read the sealed-configuration record ({e:#}); refusing to read or write mode state at {}",
                state.display()
            ))
        }
    };
    let dir = match state.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    seal.check_state_dir(dir).or_else(refuse)
}

/// [`mode::write_state`] into the sealed state dir only.
fn write_state(ctx: &Ctx, st: &State) -> Result<()> {
    sealed_state(&ctx.pin, &ctx.state)?;
    mode::write_state(&ctx.state, st)
}

/// Run a ceremony for `from -> to` at transition `seq`; returns the `via`
/// label and, for a token, the seq it is bound to (checked again under the
/// state lock before the mode moves).
fn ceremony(
    ctx: &Ctx,
    c: &Ceremony,
    from: Mode,
    to: Mode,
    seq: u64,
) -> Result<(&'static str, Option<u64>)> {
    sealed_config(ctx)?;
    let quorum = token::Quorum::load(&ctx.operators_config)?;
    if let Some(tp) = &c.token {
        let tok = read_token(tp)?;
        let keys = token::operator_keys(&ctx.operator_keys)?;
        let host = token::machine_id(&ctx.machine_id)?;
        token::verify(&tok, &keys, &quorum, &host, seq, token::unix_now())
            .map_err(|e| Refused(format!("{}: {e:#}", tp.display())))?;
        if tok.from != from || tok.to != to {
            return refuse(format!(
                "{}: the token releases {} -> {}, but this is {from} -> {to}",
                tp.display(),
                tok.from,
                tok.to
            ));
        }
        if token::nonce_used(&ctx.state, &tok.nonce)? {
            return refuse(format!(
                "{}: token already used (nonce {})",
                tp.display(),
                tok.nonce
            ));
        }
        sealed_state(&ctx.pin, &ctx.state)?;
        token::record_nonce(&ctx.state, &tok.nonce, tok.expires)?;
        return Ok(("release-token", Some(tok.seq)));
    }
    if !c.interactive {
        return refuse("a ceremony is needed: --token FILE or --interactive");
    }
    if quorum.need(from) > 1 {
        return refuse(format!(
            "releasing {from} needs {} operators' signatures ({}): use a cosigned --token",
            quorum.need(from),
            ctx.operators_config.display()
        ));
    }
    if !std::io::stdin().is_terminal() {
        return refuse("--interactive needs a terminal on standard input");
    }
    let phrase = format!("release {from} to {to}");
    eprint!("bd-lock: to loosen the boundary type exactly: {phrase}\n> ");
    let mut typed = String::new();
    std::io::stdin().lock().read_line(&mut typed)?;
    if typed.trim() != phrase {
        return refuse("confirmation phrase did not match");
    }
    let delay: Duration = c.cooling_off.into();
    let delay = delay.max(Duration::from_secs(10));
    eprintln!(
        "bd-lock: cooling off for {}; interrupt (Ctrl-C) to abandon",
        humantime::format_duration(delay)
    );
    countdown(delay);
    Ok(("release-interactive", None))
}

/// Sleep `delay`, showing the seconds left on stderr: rewritten in place on
/// a terminal, one line every 10 s otherwise (so a log is not flooded).
fn countdown(delay: Duration) {
    let tty = std::io::stderr().is_terminal();
    let end = std::time::Instant::now() + delay;
    let mut last_shown = u64::MAX;
    loop {
        let left = end.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        if tty {
            eprint!("\rbd-lock: releasing in {secs:>4} s (Ctrl-C abandons) ");
        } else if secs / 10 != last_shown / 10 || last_shown == u64::MAX {
            eprintln!("bd-lock: releasing in {secs} s");
        }
        last_shown = secs;
        std::thread::sleep(left.min(Duration::from_secs(1)));
    }
    if tty {
        eprintln!("\rbd-lock: cooling-off done{:30}", "");
    }
}

fn release(ctx: &Ctx, c: &Ceremony) -> Result<i32> {
    let cur = ctx.current();
    let from = cur.mode;
    let to = match (c.to, &c.token) {
        (Some(t), _) => t,
        (None, Some(tp)) => read_token(tp)?.to,
        (None, None) => bail!("--to MODE is needed with --interactive"),
    };
    if to >= from {
        return refuse(format!(
            "{from} -> {to} does not loosen: use bd-lock set {to} --reason ..."
        ));
    }
    let (via, bound) = ceremony(ctx, c, from, to, current_seq(&cur))?;
    let _l = mode::lock_state(&ctx.state)?;
    if let Some(seq) = bound {
        let now = current_seq(&ctx.current_locked());
        if now != seq {
            return refuse(format!(
                "the state moved to seq {now} during the ceremony; the token was for seq {seq}"
            ));
        }
    }
    // The mode must not have moved during the ceremony.
    transition_locked(ctx, to, &c.reason, via, true, Some(from))?;
    Ok(0)
}

/// A heartbeat or arm this close to the deadline counts as late: the map is
/// read and written in two steps, and the deadline must not pass in between.
const LATE_MARGIN_NS: u64 = 50_000_000;

/// The dead-man deadline has passed, or is within LATE_MARGIN_NS: renewing
/// it now would lift a LOCKDOWN the kernel already applies.
fn deadman_late(cur: &Current) -> bool {
    cur.deadman_expired
        || cur.map.is_some_and(|m| {
            m.heartbeat_deadline_ns != 0
                && mode::monotonic_ns().saturating_add(LATE_MARGIN_NS) > m.heartbeat_deadline_ns
        })
}

/// Before renewing an expired dead-man switch: run the ceremony for
/// LOCKDOWN -> the recorded mode. Returns the `via` label, or None when
/// renewing loosens nothing.
fn expiry_ceremony(ctx: &Ctx, c: Option<&Ceremony>, what: &str) -> Result<Option<&'static str>> {
    let cur = ctx.current();
    if !deadman_late(&cur) {
        return Ok(None);
    }
    let seq = current_seq(&cur);
    let Some(st) = cur.state else {
        return refuse(format!(
            "cannot {what} on a faulted state: {}",
            cur.fault.unwrap_or_default()
        ));
    };
    if st.mode == Mode::Lockdown {
        return Ok(None);
    }
    let Some(c) = c.filter(|c| c.token.is_some() || c.interactive) else {
        return refuse(format!(
            "the dead-man deadline has passed and the kernel acts as LOCKDOWN: to {what} is to release LOCKDOWN -> {}, which needs a ceremony (--token FILE or --interactive)",
            st.mode
        ));
    };
    eprintln!(
        "bd-lock: the dead-man deadline has passed; to {what} releases LOCKDOWN -> {}",
        st.mode
    );
    // The caller moves seq once the switch is renewed (released_expiry),
    // so this token, bound to `seq`, opens this one release only.
    ceremony(ctx, c, Mode::Lockdown, st.mode, seq).map(|(via, _)| Some(via))
}

/// An expired dead-man switch renewed or disarmed by ceremony is a
/// transition (the kernel acted as LOCKDOWN, now it acts as the recorded
/// mode): seq moves in both copies, so the token that opened it, bound to
/// the old seq, cannot open a later expiry even without the nonce store.
fn released_expiry(st: &mut mode::State, ms: &mut mode::MapState) {
    let next = st.seq.max(ms.seq) + 1;
    st.seq = next;
    ms.seq = next;
}

fn arm(ctx: &Ctx, interval: Duration, c: Option<&Ceremony>) -> Result<i32> {
    if interval < Duration::from_secs(1) {
        bail!("--heartbeat must be at least 1s");
    }
    let via = expiry_ceremony(ctx, c, "re-arm")?;
    let _l = mode::lock_state(&ctx.state)?;
    let cur = ctx.current_locked();
    if let Some(f) = &cur.fault {
        return refuse(format!("cannot arm on a faulted state: {f}"));
    }
    if via.is_none()
        && deadman_late(&cur)
        && cur.state.as_ref().is_some_and(|s| s.mode != Mode::Lockdown)
    {
        return refuse("the dead-man deadline passed meanwhile: re-arming now needs a ceremony");
    }
    let Some(mut st) = cur.state else {
        bail!("no state")
    };
    let Some(mut mm) = ctx.map()? else {
        bail!(
            "no kernel map pinned at {}: the dead-man switch lives in the kernel (bd-load first)",
            mode::mode_map_path(&ctx.pin).display()
        );
    };
    let mut ms = mm.read()?;
    ms.heartbeat_deadline_ns = mode::monotonic_ns() + interval.as_nanos() as u64;
    st.heartbeat_ns = Some(interval.as_nanos() as u64);
    if via.is_some() {
        released_expiry(&mut st, &mut ms);
    }
    mm.write(ms)?;
    write_state(ctx, &st)?;
    sealed_state(&ctx.pin, &ctx.state)?;
    deadman::record_deadline(&ctx.state, ms.heartbeat_deadline_ns)?;
    if let Some(via) = via {
        emit(
            Mode::Lockdown,
            st.mode,
            "dead-man switch re-armed after its deadline passed",
            via,
        )?;
    }
    emit(
        st.mode,
        st.mode,
        &format!(
            "dead-man switch armed: heartbeat every {}",
            humantime::format_duration(interval)
        ),
        "arm",
    )?;
    Ok(0)
}

fn heartbeat(ctx: &Ctx, c: Option<&Ceremony>) -> Result<()> {
    let via = expiry_ceremony(ctx, c, "renew the heartbeat")?;
    let _l = mode::lock_state(&ctx.state)?;
    let cur = ctx.current_locked();
    let mut st = mode::read_state(&ctx.state)?;
    let Some(interval) = st.heartbeat_ns else {
        return refuse("the dead-man switch is not armed (bd-lock arm --heartbeat DURATION)");
    };
    if via.is_none() && st.mode != Mode::Lockdown && deadman_late(&cur) {
        return refuse(format!(
            "the dead-man deadline has passed and the kernel acts as LOCKDOWN: renewing it releases LOCKDOWN -> {}, which needs a ceremony (--token FILE or --interactive)",
            st.mode
        ));
    }
    let Some(mut mm) = ctx.map()? else {
        bail!(
            "no kernel map pinned at {}",
            mode::mode_map_path(&ctx.pin).display()
        );
    };
    let mut ms = mm.read()?;
    ms.heartbeat_deadline_ns = mode::monotonic_ns() + interval;
    if via.is_some() {
        released_expiry(&mut st, &mut ms);
    }
    mm.write(ms)?;
    if via.is_some() {
        write_state(ctx, &st)?;
    }
    sealed_state(&ctx.pin, &ctx.state)?;
    deadman::record_deadline(&ctx.state, ms.heartbeat_deadline_ns)?;
    if let Some(via) = via {
        emit(
            Mode::Lockdown,
            st.mode,
            "dead-man heartbeat renewed after its deadline passed",
            via,
        )?;
    }
    Ok(())
}

fn disarm(ctx: &Ctx, c: &Ceremony) -> Result<i32> {
    let cur = ctx.current();
    let Some(st) = cur.state.clone() else {
        return refuse(format!(
            "cannot disarm on a faulted state: {}",
            cur.fault.unwrap_or_default()
        ));
    };
    let mut via = "disarm";
    if cur.deadman_expired {
        // The kernel already acts as LOCKDOWN: disarming loosens it.
        eprintln!(
            "bd-lock: the dead-man deadline has passed; disarming releases LOCKDOWN -> {}",
            st.mode
        );
        via = ceremony(ctx, c, Mode::Lockdown, st.mode, current_seq(&cur))?.0;
    }
    let _l = mode::lock_state(&ctx.state)?;
    let mut st = mode::read_state(&ctx.state)?;
    st.heartbeat_ns = None;
    if let Some(mut mm) = ctx.map()? {
        let mut ms = mm.read()?;
        ms.heartbeat_deadline_ns = 0;
        if cur.deadman_expired {
            released_expiry(&mut st, &mut ms);
        }
        mm.write(ms)?;
    }
    write_state(ctx, &st)?;
    sealed_state(&ctx.pin, &ctx.state)?;
    deadman::clear(&ctx.state)?;
    let from = if cur.deadman_expired {
        Mode::Lockdown
    } else {
        st.mode
    };
    emit(from, st.mode, "dead-man switch disarmed", via)?;
    Ok(0)
}

/// Nonces a liveness marker thread has sent and not yet seen return.
type Pending = std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<String>>>;

/// How many unreturned nonces are still honoured: a slow but moving pipeline
/// may deliver one a little after the next was sent.
const LIVE_PENDING: usize = 3;

fn new_nonce() -> String {
    use rand_core::RngCore;
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    // comm holds 15 bytes: the 5-byte magic leaves 10 for the nonce (60 bits).
    let mut b = [0u8; 10];
    rand_core::OsRng.fill_bytes(&mut b);
    b.iter()
        .map(|x| ALPHABET[(x & 63) as usize] as char)
        .collect()
}

/// The marker thread: every `every`, a fresh nonce into `pending`, then this
/// thread's name set to magic + nonce, which exec_monitor reports. It proves
/// nothing by itself; only the nonce coming back on stdin renews.
fn liveness_marker(pending: Pending, every: Duration, state: PathBuf, pin: PathBuf) {
    loop {
        // Whether or not nonces come back: a boot after a stall can then
        // tell that this host ran past its deadline (deadman.rs). Not into
        // a dir that is not the sealed one: a missing stamp reads as fired.
        if let Err(e) = sealed_state(&pin, &state).and_then(|()| deadman::record_alive(&state)) {
            eprintln!("bd-lock: liveness marker: {e:#}");
        }
        let n = new_nonce();
        {
            let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
            p.push_back(n.clone());
            while p.len() > LIVE_PENDING {
                p.pop_front();
            }
        }
        let name = std::ffi::CString::new(format!("{}{n}", boundary::event::BD_LIVE_MAGIC))
            .expect("nonce has no NUL");
        if let Err(e) = nix::sys::prctl::set_name(&name) {
            // Nothing will come back, so the switch expires: fail closed.
            eprintln!("bd-lock: liveness marker: prctl(PR_SET_NAME): {e}");
        }
        std::thread::sleep(every);
    }
}

/// A nonce that came back: honoured once, with every older one dropped.
fn take_nonce(pending: &Pending, nonce: &str) -> bool {
    let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
    match p.iter().position(|n| n == nonce) {
        Some(i) => {
            p.drain(..=i);
            true
        }
        None => false,
    }
}

fn on_tripwire(ctx: &Ctx, hb: Option<Duration>, tee: bool) -> Result<i32> {
    let pending: Option<Pending> = match hb {
        Some(iv) => {
            arm(ctx, iv, None)?;
            let p = Pending::default();
            let every = (iv / 3).max(Duration::from_millis(200));
            let pt = p.clone();
            let state = ctx.state.clone();
            let pin = ctx.pin.clone();
            std::thread::Builder::new()
                .name("liveness".into())
                .spawn(move || liveness_marker(pt, every, state, pin))
                .context("starting the liveness marker thread")?;
            Some(p)
        }
        None => None,
    };
    let mut hb_failing = false;
    #[derive(serde::Deserialize)]
    struct D<'a> {
        #[serde(rename = "type", borrow)]
        kind: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow)]
        decision: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow)]
        tripwire: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow)]
        rule: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow)]
        reason: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow)]
        nonce: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow)]
        event: Option<Ev<'a>>,
        #[serde(borrow)]
        path: Option<std::borrow::Cow<'a, str>>,
        pid: Option<u64>,
    }
    /// The judged event inside a decision: only its type and what names a
    /// kernel canary's trip.
    #[derive(serde::Deserialize)]
    struct Ev<'a> {
        #[serde(rename = "type", borrow)]
        kind: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow)]
        path: Option<std::borrow::Cow<'a, str>>,
        pid: Option<u64>,
    }
    let stdin = std::io::stdin();
    let mut input = std::io::BufReader::with_capacity(1 << 16, stdin.lock());
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout());
    let mut raw = Vec::new();
    let mut lineno = 0u64;
    loop {
        if input.buffer().is_empty() {
            out.flush().context("writing standard output")?;
        }
        raw.clear();
        // Bytes, not read_line: one non-UTF-8 line must be reported and
        // skipped, never end the loop and miss the tripwire after it.
        if input
            .read_until(b'\n', &mut raw)
            .context("reading standard input")?
            == 0
        {
            break;
        }
        lineno += 1;
        if tee {
            out.write_all(&raw).context("writing standard output")?;
        }
        let Ok(line) = std::str::from_utf8(&raw) else {
            eprintln!("bd-lock: input line {lineno}: not UTF-8: skipped");
            continue;
        };
        // The strict reader every tool uses: a duplicate "decision" key
        // must not read as allow here and tripwire elsewhere.
        let d: D = match boundary::json::from_line(line.trim_end()) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("bd-lock: input line {lineno}: not a decision: {e}");
                continue;
            }
        };
        if d.kind.as_deref() == Some("liveness") {
            let (Some(p), Some(n)) = (&pending, d.nonce.as_deref()) else {
                continue;
            };
            if !take_nonce(p, n) {
                continue;
            }
            // Renew only once the line is written on: a stalled bd-log
            // behind --tee stalls the renewal too (up to the pipe's buffer).
            out.flush().context("writing standard output")?;
            // After expiry this refuses (no ceremony here): the kernel stays
            // in LOCKDOWN until an operator renews by ceremony.
            match heartbeat(ctx, None) {
                Err(e) if !hb_failing => {
                    eprintln!("bd-lock: heartbeat failed: {e:#}");
                    hb_failing = true;
                }
                Err(_) => {}
                Ok(()) => hb_failing = false,
            }
            continue;
        }
        // A canary the kernel already acted on (bd-watch's `tripwire` line,
        // or bd-policy's decision on it): record the kernel's mode first, so
        // a tripwire decision on the same line finds it already engaged.
        let kernel_trip = match (&d.kind, &d.event) {
            (Some(k), _) if k == "tripwire" => Some((d.path.as_deref(), d.pid)),
            (Some(k), Some(e)) if k == "decision" && e.kind.as_deref() == Some("tripwire") => {
                Some((e.path.as_deref(), e.pid))
            }
            _ => None,
        };
        if let Some((path, pid)) = kernel_trip {
            out.flush()?;
            let what = format!(
                "{} by pid {}",
                path.unwrap_or("?"),
                pid.map_or("?".into(), |p| p.to_string())
            );
            match canary::adopt(ctx, &what) {
                Ok(Some((from, to))) => {
                    eprintln!("bd-lock: canary at input line {lineno}: recorded {from} -> {to}")
                }
                Ok(None) => {}
                Err(e) => eprintln!("bd-lock: input line {lineno}: recording the canary: {e:#}"),
            }
        }
        if d.kind.as_deref() != Some("decision") || d.decision.as_deref() != Some("tripwire") {
            continue;
        }
        let target = match d.tripwire.as_deref().map(str::parse::<Mode>) {
            None => Mode::Lockdown,
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                eprintln!("bd-lock: input line {lineno}: {e}: engaging LOCKDOWN");
                Mode::Lockdown
            }
        };
        let cur = ctx.current().mode;
        if target <= cur {
            eprintln!("bd-lock: tripwire {target} at line {lineno}: already {cur}");
            continue;
        }
        let reason = format!(
            "tripwire {}: {}",
            d.rule.as_deref().unwrap_or("?"),
            d.reason.as_deref().unwrap_or("")
        );
        out.flush()?;
        transition(ctx, target, &reason, "tripwire", false)?;
        eprintln!("bd-lock: tripwire at input line {lineno}: engaged {target}");
    }
    out.flush().context("writing standard output")?;
    Ok(0)
}

/// One allow-list change: a text line, or with --json an `exec_allow` line.
#[allow(clippy::too_many_arguments)]
fn allow_line(
    json: bool,
    text: String,
    path: &Path,
    state: &str,
    dev: u64,
    ino: Option<u64>,
    sealed: Option<bool>,
) {
    if json {
        println!(
            "{}",
            boundary::json::output_line(
                "exec_allow",
                serde_json::json!({"path":path,"state":state,"dev":dev,"ino":ino,"sealed":sealed})
            )
        );
    } else {
        println!("{text}");
    }
}

/// `allow --device`: trust every file on PATH's filesystem, while read-only.
fn allow_device(ctx: &Ctx, remove: bool, paths: &[PathBuf]) -> Result<i32> {
    let cur = ctx.current();
    let unsynced = cur.map.is_some_and(|m| m.seq == 0);
    if !remove && cur.mode >= Mode::Lockdown && !unsynced {
        return refuse(
            "the mode is LOCKDOWN: widening the exec allow list now would loosen it; release first",
        );
    }
    let p = boundary::pin::map_path(&ctx.pin, "bd_exec_allow");
    let data = aya::maps::MapData::from_pin(&p)
        .with_context(|| format!("opening {} (is mode_enforce loaded?)", p.display()))?;
    let map = aya::maps::Map::from_map_data(data)?;
    let mut h: aya::maps::HashMap<_, boundary::event::BdFileKey, boundary::event::BdAllowVal> =
        aya::maps::HashMap::try_from(map)
            .with_context(|| format!("{}: not the exec allow list", p.display()))?;
    for path in paths {
        let mut key = boundary::protect::file_key(path)?;
        key.ino = 0;
        if remove {
            match h.remove(&key) {
                Ok(()) | Err(aya::maps::MapError::KeyNotFound) => {}
                Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
            }
            allow_line(
                ctx.json,
                format!(
                    "removed the filesystem of {} (dev {})",
                    path.display(),
                    key.dev
                ),
                path,
                "removed_device",
                key.dev,
                None,
                None,
            );
            continue;
        }
        let st = nix::sys::statvfs::statvfs(path.as_path())
            .with_context(|| format!("statvfs {}", path.display()))?;
        if !st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY) {
            return refuse(format!(
                "{}: its filesystem is mounted read-write: a device entry is trusted only read-only",
                path.display()
            ));
        }
        let v = boundary::event::BdAllowVal {
            flags: boundary::event::BD_ALLOW_SEALED,
            ..Default::default()
        };
        h.insert(key, v, 0)
            .with_context(|| format!("adding {} to {}", path.display(), p.display()))?;
        allow_line(
            ctx.json,
            format!(
                "allowed the filesystem of {} (dev {}, while read-only)",
                path.display(),
                key.dev
            ),
            path,
            "allowed_device",
            key.dev,
            None,
            Some(true),
        );
    }
    Ok(0)
}

/// Is the file a known interpreter? Allowing one in LOCKDOWN allows every
/// script it reads (and `ld.so` runs any ELF file it is given as data).
fn interpreter(path: &Path) -> Option<String> {
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let name = real.file_name()?.to_string_lossy().into_owned();
    let base = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    const SHELLS: &[&str] = &[
        "sh", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "yash", "fish", "csh", "tcsh",
        "busybox", "python", "perl", "ruby", "php", "node", "nodejs", "lua", "luajit", "tclsh",
        "wish", "awk", "gawk", "mawk", "nawk", "guile", "Rscript", "pwsh", "expect", "rc",
    ];
    (SHELLS.contains(&base) || name.starts_with("ld-linux") || name.starts_with("ld.so"))
        .then_some(name)
}

fn allow(ctx: &Ctx, remove: bool, paths: &[PathBuf]) -> Result<i32> {
    let cur = ctx.current();
    // A map bd-load just created (seq 0, never synced) enforces OPEN whatever
    // the state file says, so filling its allow list loosens nothing: this is
    // how boundary-load.service restores the list at boot, before `sync`.
    let unsynced = cur.map.is_some_and(|m| m.seq == 0);
    if !remove && cur.mode >= Mode::Lockdown && !unsynced {
        return refuse(
            "the mode is LOCKDOWN: widening the exec allow list now would loosen it; release first",
        );
    }
    let p = boundary::pin::map_path(&ctx.pin, "bd_exec_allow");
    let data = aya::maps::MapData::from_pin(&p)
        .with_context(|| format!("opening {} (is mode_enforce loaded?)", p.display()))?;
    let map = aya::maps::Map::from_map_data(data)?;
    let mut h: aya::maps::HashMap<_, boundary::event::BdFileKey, boundary::event::BdAllowVal> =
        aya::maps::HashMap::try_from(map)
            .with_context(|| format!("{}: not the exec allow list", p.display()))?;
    let mut unsealed = 0;
    for path in paths {
        // Same (kernel dev_t, inode) key as the LSM file maps use.
        let key = boundary::protect::file_key(path)?;
        if remove {
            match h.remove(&key) {
                Ok(()) => {}
                Err(aya::maps::MapError::KeyNotFound) => {}
                Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
            }
            allow_line(
                ctx.json,
                format!(
                    "removed {} (dev {}, ino {})",
                    path.display(),
                    key.dev,
                    key.ino
                ),
                path,
                "removed",
                key.dev,
                Some(key.ino),
                None,
            );
            continue;
        }
        if let Some(name) = interpreter(path) {
            eprintln!(
                "bd-lock: warning: {} is an interpreter ({name}): in LOCKDOWN it still runs any script or file it is given, allowed or not (SECURITY.md, interpreters)",
                path.display()
            );
        }
        // Unsealed: the kernel (mode_file_open) records the inode's
        // generation and ctime at the next open of it, which is ours just
        // below; only a sealed entry is trusted.
        h.insert(key, boundary::event::BdAllowVal::default(), 0)
            .with_context(|| format!("adding {} to {}", path.display(), p.display()))?;
        drop(
            std::fs::File::open(path)
                .with_context(|| format!("opening {} to seal its entry", path.display()))?,
        );
        let v = h.get(&key, 0).unwrap_or_default();
        if v.flags & boundary::event::BD_ALLOW_SEALED != 0 {
            allow_line(
                ctx.json,
                format!(
                    "allowed {} (dev {}, ino {}, generation {}, ctime_ns {})",
                    path.display(),
                    key.dev,
                    key.ino,
                    v.gen,
                    v.ctime_ns
                ),
                path,
                "allowed",
                key.dev,
                Some(key.ino),
                Some(true),
            );
        } else {
            unsealed += 1;
            allow_line(
                ctx.json,
                format!(
                    "allowed {} (dev {}, ino {}, not sealed)",
                    path.display(),
                    key.dev,
                    key.ino
                ),
                path,
                "allowed",
                key.dev,
                Some(key.ino),
                Some(false),
            );
        }
    }
    if unsealed > 0 {
        eprintln!(
            "bd-lock: WARNING: {unsealed} entries not sealed: mode_enforce's file_open (BPF-LSM) is not attached, so the kernel recorded no generation and ctime; LOCKDOWN trusts an entry only once an open of the file seals it while mode_file_open is attached"
        );
    }
    Ok(0)
}
