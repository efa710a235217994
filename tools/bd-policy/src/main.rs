use anyhow::{Context, Result};
use bd_policy::cli::{Cli, Cmd, ModeArgs, RunArgs, TrustArgs};
use boundary::mode::{self, Mode};
use boundary::policy::{Decision, Engine, Policy, RateState, Verdict};
use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

mod cases;
mod mapped;
mod trust;

fn main() {
    let cli: Cli = boundary::json::parse_cli("bd-policy");
    let json = matches!(
        cli.cmd,
        Some(Cmd::Check { json: true, .. })
            | Some(Cmd::Explain { json: true, .. })
            | Some(Cmd::Test { json: true, .. })
            | Some(Cmd::Sign { json: true, .. })
    );
    let code = match run(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bd-policy: {e:#}");
            // An untrusted policy is a verdict (refused), not an error.
            let code = if e.downcast_ref::<trust::Refused>().is_some() {
                boundary::exit::VERDICT
            } else {
                boundary::exit::USAGE
            };
            if json {
                let bad = e.downcast_ref::<trust::Invalid>();
                let file = bad.map(|b| b.file.display().to_string());
                boundary::json::print_error(
                    "bd-policy",
                    code,
                    &format!("{e:#}"),
                    boundary::json::ErrorAt {
                        file: file.as_deref(),
                        line: bad.map(|b| b.line as u64),
                        field: None,
                    },
                );
            }
            code
        }
    };
    std::process::exit(code);
}

fn run(cli: Cli) -> Result<i32> {
    match cli.cmd {
        Some(Cmd::Check {
            policies,
            overlay,
            json,
        }) => Ok(check(&policies, &overlay, json)),
        Some(Cmd::Test {
            policy,
            cases,
            trust,
            require_coverage,
            json,
        }) => {
            let (pol, _) = trust::load(&policy, &trust)?;
            let o = cases::run(&pol, &cases, json)?;
            Ok(if o.bad > 0 {
                2
            } else if o.failed > 0 || (require_coverage && !o.unhit.is_empty()) {
                1
            } else {
                0
            })
        }
        Some(Cmd::Sign {
            key,
            overlay,
            files,
            json,
        }) => trust::sign(&key, overlay, &files, json),
        Some(Cmd::Explain {
            policy,
            trust,
            mode,
            rate_state,
            event,
            json,
        }) => explain(policy, &trust, &mode, rate_state, event, json),
        None => decide(cli.run),
    }
}

fn check(paths: &[PathBuf], overlays: &[PathBuf], json: bool) -> i32 {
    let mut code = 0;
    let line = |file: &std::path::Path,
                overlay: bool,
                rules: Option<usize>,
                warnings: &[String],
                errors: serde_json::Value| {
        println!(
            "{}",
            boundary::json::output_line(
                "policy_check",
                serde_json::json!({
                "file":file,"overlay":overlay,"ok":rules.is_some(),"rules":rules,
                "warnings":warnings,"errors":errors})
            )
        );
    };
    let all = paths
        .iter()
        .map(|p| (p, false))
        .chain(overlays.iter().map(|p| (p, true)));
    for (p, is_overlay) in all {
        let src = match std::fs::read_to_string(p) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("bd-policy: {}: {e}", p.display());
                code = code.max(2);
                if json {
                    let f = p.display().to_string();
                    boundary::json::print_error(
                        "bd-policy",
                        boundary::exit::USAGE,
                        &format!("{f}: {e}"),
                        boundary::json::ErrorAt {
                            file: Some(&f),
                            ..Default::default()
                        },
                    );
                }
                continue;
            }
        };
        let parsed = if is_overlay {
            Policy::parse_overlay(&src)
        } else {
            Policy::parse(&src)
        };
        match parsed {
            Ok(pol) => {
                for w in &pol.warnings {
                    eprintln!("bd-policy: {}: warning: {w}", p.display());
                }
                if json {
                    line(
                        p,
                        is_overlay,
                        Some(pol.rule_count()),
                        &pol.warnings,
                        serde_json::json!([]),
                    );
                } else {
                    println!("{}: ok, {} rules", p.display(), pol.rule_count());
                }
            }
            Err(errs) => {
                // FILE:LINE:COL: message, the form compilers use, so editors
                // and CI annotators jump to the spot.
                let mut list = Vec::new();
                for e in errs {
                    let msg = e.msg.trim_end().replace('\n', ": ");
                    eprintln!("{}:{}:{}: {msg}", p.display(), e.line, e.col);
                    list.push(serde_json::json!({"line":e.line,"col":e.col,"message":msg}));
                }
                if json {
                    line(p, is_overlay, None, &[], list.into());
                }
                code = code.max(1);
            }
        }
    }
    code
}

/// Where the mode comes from: fixed, or re-read from the state file and map.
struct ModeSource {
    fixed: Option<Mode>,
    state: PathBuf,
    pin_dir: PathBuf,
    last_fault: Option<String>,
}

impl ModeSource {
    fn new(a: &ModeArgs) -> Self {
        ModeSource {
            fixed: a.mode,
            state: a.state.clone(),
            pin_dir: boundary::pin::pin_dir(a.pin_dir.as_deref()),
            last_fault: None,
        }
    }

    fn read(&mut self) -> Mode {
        if let Some(m) = self.fixed {
            return m;
        }
        let cur = mode::read_current(&self.state, Some(&self.pin_dir));
        if cur.fault != self.last_fault {
            if let Some(f) = &cur.fault {
                eprintln!("bd-policy: mode reads as LOCKDOWN: {f}");
            }
            self.last_fault = cur.fault.clone();
        }
        cur.mode
    }
}

fn unix_ns() -> u64 {
    boundary::time::unix_nanos(SystemTime::now()).min(u64::MAX as u128) as u64
}

fn explain(
    policy: PathBuf,
    targs: &TrustArgs,
    margs: &ModeArgs,
    rate_state: Option<PathBuf>,
    event: Option<String>,
    json: bool,
) -> Result<i32> {
    let (pol, _) = trust::load(&policy, targs)?;
    let rates = match &rate_state {
        Some(p) => RateState::load(p)?,
        None => RateState::default(),
    };
    let line = match event {
        Some(e) => e,
        None => {
            let mut s = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut s)
                .context("reading the event from standard input")?;
            s
        }
    };
    let line = line.trim_end_matches(['\n', '\r']);
    let m = ModeSource::new(margs).read();
    let mut eng = Engine::new(&pol, rates);
    let (lines, d) = eng.explain(line, m, unix_ns());
    if json {
        println!(
            "{}",
            boundary::json::output_line(
                "explanation",
                serde_json::json!({
                "mode":m,"decision":d.verdict.as_str(),"rule":d.rule,"reason":eng.reason(&d),
                "tripwire":d.tripwire,"rules":lines})
            )
        );
        return Ok(match d.verdict {
            Verdict::Allow | Verdict::Alert => 0,
            Verdict::Deny | Verdict::Tripwire => 1,
        });
    }
    println!("mode {m}");
    for l in lines {
        println!("{l}");
    }
    let rule = d
        .rule
        .map_or("(built-in)".to_string(), |r| format!("{r:?}"));
    println!(
        "decision: {} by rule {rule}: {}",
        d.verdict.as_str(),
        eng.reason(&d)
    );
    if let Some(t) = d.tripwire {
        println!("tripwire: engages {t}");
    }
    Ok(match d.verdict {
        Verdict::Allow | Verdict::Alert => 0,
        Verdict::Deny | Verdict::Tripwire => 1,
    })
}

/// Longest input line decided on, without its newline (docs/EVENTS.md).
const MAX_LINE: usize = 64 << 20;

/// Input is read in blocks of this size (more only while one line is
/// longer), and lines are decided where they lie in the block: no copy.
const IN_BLOCK: usize = 1 << 18;

/// Decisions are written in blocks of about this size.
const OUT_BLOCK: usize = 1 << 18;

/// While input keeps coming, the clock is read once every this many lines
/// (and for every line over 4 KiB): lines this short take well under a
/// microsecond each, so the time stays within the documented millisecond.
const CLOCK_EVERY: u32 = 16;

/// Read into `buf`, retrying on EINTR; 0 at end of input.
fn read_some(input: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
    loop {
        match input.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(anyhow::Error::new(e).context("reading standard input")),
        }
    }
}

/// Everything one decision depends on besides the line, kept across the
/// lines of one input stream and refreshed as time goes.
struct Stream<'p> {
    eng: Engine<'p>,
    src: ModeSource,
    watcher: trust::Watcher,
    /// The mode decisions are made under, and when it was last read.
    mode: Mode,
    mode_at: Instant,
    /// When the policy files were last checked for changes.
    watched_at: Instant,
    /// The clock as of `at`: decision time, and unix ns for rates.
    at: Instant,
    time: String,
    now_ns: u64,
    /// Lines decided since the clock was last read.
    lines: u32,
}

impl Stream<'_> {
    /// Decide one input line (without its line end) and append the
    /// decision to `out`.
    #[inline(always)]
    fn decide(&mut self, out: &mut Vec<u8>, line: &[u8], lineno: u64) {
        // bd-watch's liveness marker is not an event to judge: it goes
        // through as it came, so bd-lock sees its nonce return only while
        // this stage moves lines (the end-to-end dead-man heartbeat).
        if line.starts_with(boundary::event::LIVENESS_PREFIX.as_bytes()) {
            out.extend_from_slice(line);
            out.push(b'\n');
            return;
        }
        self.lines += 1;
        if self.lines >= CLOCK_EVERY || line.len() > 4096 {
            self.tick(out);
        }
        let (text, mut d): (std::borrow::Cow<str>, Decision) =
            match self.eng.decide_bytes(line, self.mode, self.now_ns) {
                Ok((s, d)) => (s.into(), d),
                Err(e) => (
                    String::from_utf8_lossy(line),
                    Decision::malformed(format!("malformed input: not UTF-8: {e}")),
                ),
            };
        if let Some(r) = &mut d.builtin_reason {
            if r.starts_with("malformed") {
                *r = format!("line {lineno}: {r}");
            }
        }
        self.eng.render(out, &d, &self.time, self.mode, &text);
    }

    /// Read the clock (at most once a millisecond), and with it the mode
    /// (every 100 ms) and the policy files (every second).
    #[cold]
    fn tick(&mut self, out: &mut Vec<u8>) {
        self.lines = 0;
        let t = Instant::now();
        if t.duration_since(self.at) < Duration::from_millis(1) {
            return;
        }
        self.at = t;
        let sys = SystemTime::now();
        self.time = boundary::time::rfc3339_nanos(sys);
        self.now_ns = boundary::time::unix_nanos(sys).min(u64::MAX as u128) as u64;
        if t.duration_since(self.mode_at) >= Duration::from_millis(100) {
            self.mode_at = t;
            self.mode = self.src.read();
        }
        if self.watcher.watching() && t.duration_since(self.watched_at) >= Duration::from_secs(1) {
            self.watched_at = t;
            out.extend_from_slice(&self.watcher.check(&self.time, self.mode));
        }
    }
}

fn decide(args: RunArgs) -> Result<i32> {
    let Some(ppath) = &args.policy else {
        anyhow::bail!("no policy: give -p POLICY.toml (or a subcommand: check, explain)");
    };
    let (pol, watcher) = trust::load(ppath, &args.trust)?;
    let rate_path = args.rate_state.clone();
    let rates = match &rate_path {
        Some(p) => RateState::load(p)?,
        None => {
            if pol.uses_rates() {
                eprintln!(
                    "bd-policy: warning: the policy has rate rules but no --rate-state: counters start empty and are lost at exit"
                );
            }
            RateState::default()
        }
    };
    let mut src = ModeSource::new(&args.mode);
    let mode = src.read();
    let now = Instant::now();
    let mut st = Stream {
        eng: Engine::new(&pol, rates),
        src,
        watcher,
        mode,
        mode_at: now,
        watched_at: now,
        at: now,
        time: boundary::time::now_rfc3339(),
        now_ns: unix_ns(),
        lines: 0,
    };

    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut stdout = stdout.lock();
    let mut out: Vec<u8> = Vec::with_capacity(OUT_BLOCK + (1 << 12));
    // buf[start..end] is read but not yet decided; buf[start..searched]
    // is known to hold no newline.
    let mut buf = vec![0u8; IN_BLOCK];
    let (mut start, mut end, mut searched) = (0usize, 0usize, 0usize);
    let mut eof = false;
    let mut lineno: u64 = 0;

    let mut saved_at = Instant::now();

    let write_out =
        |stdout: &mut std::io::StdoutLock, out: &mut Vec<u8>, flush: bool| -> Result<()> {
            stdout.write_all(out).context("writing decisions")?;
            out.clear();
            if flush {
                stdout.flush().context("writing decisions")?;
            }
            Ok(())
        };

    // A large regular file is read through a mapping (mapped.rs), up to its
    // last newline; the rest, and whatever is appended meanwhile, by read(2)
    // below as any other input.
    if let Some(m) = mapped::Mapped::new(std::os::fd::AsFd::as_fd(&stdin)) {
        let data = m.bytes();
        let upto = memchr::memrchr(b'\n', data).map_or(0, |p| p + 1);
        let mut s = 0usize;
        while let Some(p) = memchr::memchr(b'\n', &data[s..upto]) {
            let nl = s + p;
            let mark = out.len();
            lineno += 1;
            if nl - s > MAX_LINE {
                // As the read(2) path words it (it never holds such a line).
                let d = Decision::malformed(format!(
                    "line {lineno}: malformed input: line is {} bytes, over the {MAX_LINE}-byte limit; skipped to its end",
                    nl - s
                ));
                st.eng.render(&mut out, &d, &st.time, st.mode, "");
            } else {
                let mut line = &data[s..nl];
                if line.last() == Some(&b'\r') {
                    line = &line[..line.len() - 1];
                }
                st.decide(&mut out, line, lineno);
            }
            if m.shrunk() {
                // Zeros stood in for this line's bytes, or the next ones:
                // it is not decided, and nothing after it is.
                out.truncate(mark);
                write_out(&mut stdout, &mut out, true)?;
                anyhow::bail!(
                    "reading standard input: the file shrank while it was read (at byte {}); line {lineno} and the lines after it were not decided",
                    m.off + m.shrunk_at() as u64
                );
            }
            s = nl + 1;
            if out.len() >= OUT_BLOCK {
                write_out(&mut stdout, &mut out, false)?;
                m.release_before(s);
                if let Some(rp) = &rate_path {
                    if st.eng.rates.is_dirty() && saved_at.elapsed() >= Duration::from_secs(1) {
                        st.eng.rates.save(rp, &pol, st.now_ns)?;
                        saved_at = Instant::now();
                    }
                }
            }
        }
        if m.shrunk() {
            // Lost while looking for the next newline: every decision made
            // is for a whole line read before; the rest is gone.
            write_out(&mut stdout, &mut out, true)?;
            anyhow::bail!(
                "reading standard input: the file shrank while it was read (at byte {}); the lines from line {} on were not decided",
                m.off + m.shrunk_at() as u64,
                lineno + 1
            );
        }
        m.finish(upto).context("reading standard input")?;
    }

    loop {
        // Every complete line in the block, decided in place.
        while let Some(p) = memchr::memchr(b'\n', &buf[searched..end]) {
            let nl = searched + p;
            let mut line = &buf[start..nl];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            start = nl + 1;
            searched = start;
            lineno += 1;
            st.decide(&mut out, line, lineno);
            if out.len() >= OUT_BLOCK {
                write_out(&mut stdout, &mut out, false)?;
            }
        }
        if eof {
            // The last line had no newline: decided as it is.
            if start < end {
                lineno += 1;
                st.decide(&mut out, &buf[start..end], lineno);
            }
            break;
        }
        // One input line is one decision, whatever its length: a line past
        // the limit is one deny, and the rest of it (which may hold
        // something that parses as a second event) is skipped up to its
        // newline, never decided on its own.
        if end - start > MAX_LINE {
            let mut total = (end - start) as u64;
            (start, end) = (0, 0);
            loop {
                let n = read_some(&mut input, &mut buf)?;
                if n == 0 {
                    eof = true;
                    break;
                }
                if let Some(p) = memchr::memchr(b'\n', &buf[..n]) {
                    total += p as u64;
                    (start, end) = (p + 1, n);
                    break;
                }
                total += n as u64;
            }
            searched = start;
            lineno += 1;
            let d = Decision::malformed(format!(
                "line {lineno}: malformed input: line is {total} bytes, over the {MAX_LINE}-byte limit; skipped to its end"
            ));
            st.eng.render(&mut out, &d, &st.time, st.mode, "");
            continue;
        }
        // No complete line left: keep the partial one, and make room.
        buf.copy_within(start..end, 0);
        (end, searched, start) = (end - start, end - start, 0);
        if end == buf.len() {
            let len = (buf.len() * 2).min(MAX_LINE + 1);
            buf.resize(len, 0);
        }
        // About to read, which may block: each decision reaches the pipe
        // before we wait, while bulk input still gets big writes.
        write_out(&mut stdout, &mut out, true)?;
        // Re-read the mode now (at most once a millisecond), so a live
        // pipeline decides under the mode a tripwire just engaged rather
        // than one up to 100 ms old.
        if st.mode_at.elapsed() >= Duration::from_millis(1) {
            st.mode_at = Instant::now();
            st.mode = st.src.read();
        }
        if let Some(rp) = &rate_path {
            if st.eng.rates.is_dirty() && saved_at.elapsed() >= Duration::from_secs(1) {
                st.eng.rates.save(rp, &pol, st.now_ns)?;
                saved_at = Instant::now();
            }
        }
        let n = read_some(&mut input, &mut buf[end..])?;
        if n == 0 {
            eof = true;
        }
        end += n;
        // The read may have waited: the next line reads the clock.
        st.lines = CLOCK_EVERY;
    }
    write_out(&mut stdout, &mut out, true)?;
    if let Some(rp) = &rate_path {
        if st.eng.rates.is_dirty() {
            st.eng.rates.save(rp, &pol, st.now_ns)?;
        }
    }
    Ok(0)
}
