//! Loading the policy with its overlays, checking their signatures, and
//! noticing when a file changes under a running bd-policy.

use anyhow::{anyhow, Context, Result};
use bd_policy::cli::TrustArgs;
use boundary::mode::Mode;
use boundary::opkey::PublicKey as VerifyingKey;
use boundary::opkey::{self, Role};
use boundary::policy::Policy;
use std::path::{Path, PathBuf};

/// A policy or overlay that is not signed as --require-signed demands
/// (exit 1, a verdict, so scripts can tell it from a malformed policy, exit 2).
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Refused {}

/// One file the running policy was built from.
pub struct Watched {
    path: PathBuf,
    role: Role,
    loaded: [u8; 32],
    /// The last content reported (so each change is reported once).
    last: [u8; 32],
}

/// The files a running policy came from, checked for changes.
pub struct Watcher {
    files: Vec<Watched>,
    /// Trusted keys when signatures are required, else None.
    keys: Option<Vec<VerifyingKey>>,
}

fn read_checked(
    path: &Path,
    role: Role,
    keys: Option<&[VerifyingKey]>,
) -> Result<(String, [u8; 32])> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if let Some(keys) = keys {
        // Verify the very bytes we then parse: no window for a swap.
        opkey::verify_file(&bytes, role, &opkey::sig_path(path), keys)
            .map_err(|e| anyhow!(Refused(format!("{}: refused: {e:#}", path.display()))))?;
    }
    let digest = opkey::sha256(&bytes);
    let text =
        String::from_utf8(bytes).map_err(|e| anyhow!("{}: not UTF-8: {e}", path.display()))?;
    Ok((text, digest))
}

/// A policy or overlay that does not parse: every error, and where the
/// first one is (for the `--json` error object's `file` and `line`).
#[derive(Debug)]
pub struct Invalid {
    pub file: PathBuf,
    pub line: usize,
    text: String,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}
impl std::error::Error for Invalid {}

fn located(path: &Path, errs: Vec<boundary::policy::PolicyError>) -> anyhow::Error {
    let lines: Vec<String> = errs
        .iter()
        .map(|e| format!("{}: {e}", path.display()))
        .collect();
    Invalid {
        file: path.to_path_buf(),
        line: errs.first().map_or(0, |e| e.line),
        text: lines.join("\n"),
    }
    .into()
}

/// Read the policy and its overlays; with --require-signed, refuse any
/// file without a valid signature by a trusted operator key.
pub fn load(policy: &Path, t: &TrustArgs) -> Result<(Policy, Watcher)> {
    let keys = if t.require_signed {
        Some(opkey::operator_keys(&t.operator_keys).map_err(|e| {
            anyhow!(Refused(format!(
                "--require-signed: cannot read the trusted keys: {e:#}"
            )))
        })?)
    } else {
        None
    };
    let (src, d) = read_checked(policy, Role::Policy, keys.as_deref())?;
    let mut pol = Policy::parse(&src).map_err(|e| located(policy, e))?;
    let mut files = vec![Watched {
        path: policy.to_path_buf(),
        role: Role::Policy,
        loaded: d,
        last: d,
    }];
    for o in &t.overlay {
        let (src, d) = read_checked(o, Role::Overlay, keys.as_deref())?;
        let ov = Policy::parse_overlay(&src).map_err(|e| located(o, e))?;
        pol.add_overlay(ov)
            .map_err(|e| anyhow!("{}: {e}", o.display()))?;
        files.push(Watched {
            path: o.clone(),
            role: Role::Overlay,
            loaded: d,
            last: d,
        });
    }
    for w in &pol.warnings {
        eprintln!("bd-policy: {}: warning: {w}", policy.display());
    }
    Ok((pol, Watcher { files, keys }))
}

impl Watcher {
    /// True when running files are watched (--require-signed).
    pub fn watching(&self) -> bool {
        self.keys.is_some()
    }

    /// Decision lines (with newline) for every file whose content moved
    /// away from what was last reported. A file that changed without a
    /// trusted signature trips LOCKDOWN; one re-signed by an operator is an
    /// alert (restart bd-policy to use it). Either way the policy in force
    /// stays the one loaded at start.
    pub fn check(&mut self, time: &str, mode: Mode) -> Vec<u8> {
        let mut out = Vec::new();
        let Some(keys) = &self.keys else {
            return out;
        };
        for w in &mut self.files {
            let (now, problem) = match std::fs::read(&w.path) {
                Ok(b) => {
                    let d = opkey::sha256(&b);
                    if d == w.last {
                        continue;
                    }
                    let v = opkey::verify_file(&b, w.role, &opkey::sig_path(&w.path), keys);
                    (Some(d), v.err().map(|e| format!("{e:#}")))
                }
                Err(e) => {
                    // Reported once per disappearance, not every second.
                    if w.last == [0; 32] {
                        continue;
                    }
                    (None, Some(format!("{}: {e}", w.path.display())))
                }
            };
            w.last = now.unwrap_or([0; 32]);
            if now == Some(w.loaded) {
                // Changed back to what is in force: nothing to trip on.
                continue;
            }
            let (decision, tripwire, reason) = match &problem {
                Some(p) => (
                    "tripwire",
                    "\"LOCKDOWN\"",
                    format!(
                        "{} {} changed on disk and is not signed by a trusted operator key ({p}); still deciding by the policy loaded at start",
                        match w.role { Role::Policy => "policy", Role::Overlay => "overlay" },
                        w.path.display()
                    ),
                ),
                None => (
                    "alert",
                    "null",
                    format!(
                        "{} changed on disk and is signed by a trusted operator key; restart bd-policy to use it",
                        w.path.display()
                    ),
                ),
            };
            let event = serde_json::json!({
                "v": 1,
                "type": "policy_change",
                "path": w.path.display().to_string(),
                "role": w.role,
                "sha256_loaded": hex(&w.loaded),
                "sha256_now": now.as_ref().map(hex),
                "signed": problem.is_none(),
            });
            out.extend_from_slice(
                format!(
                    "{{\"v\":1,\"type\":\"decision\",\"time\":\"{time}\",\"decision\":\"{decision}\",\"rule\":null,\"reason\":{},\"mode\":\"{mode}\",\"tripwire\":{tripwire},\"event\":{event}}}\n",
                    serde_json::Value::String(reason)
                )
                .as_bytes(),
            );
        }
        out
    }
}

fn hex(d: &[u8; 32]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// `bd-policy sign`.
pub fn sign(key: &Path, overlay: bool, files: &[PathBuf], json: bool) -> Result<i32> {
    let sk = opkey::read_secret(key)?;
    let role = if overlay { Role::Overlay } else { Role::Policy };
    for f in files {
        let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        // Never sign what would not load: a signature vouches for a policy.
        let text =
            std::str::from_utf8(&bytes).map_err(|e| anyhow!("{}: not UTF-8: {e}", f.display()))?;
        let parsed = if overlay {
            Policy::parse_overlay(text)
        } else {
            Policy::parse(text)
        };
        parsed.map_err(|e| located(f, e))?;
        let sig = opkey::sign(&sk, role, &bytes);
        let out = opkey::sig_path(f);
        let body = serde_json::to_string(&sig)? + "\n";
        // Random O_EXCL temp name: a symlink planted at a guessable one
        // (the old POLICY.sig.tmp) is never written through as root.
        boundary::safefile::replace_file(&out, body.as_bytes(), 0o644)?;
        if json {
            println!(
                "{}",
                boundary::json::output_line(
                    "policy_signed",
                    serde_json::json!({"file":f,"signature_file":out,"role":role,
                        "key":sig.key,"sha256":sig.sha256})
                )
            );
            continue;
        }
        println!(
            "{}: signed ({}, sha256 {})",
            out.display(),
            sig.key,
            sig.sha256
        );
    }
    Ok(0)
}
