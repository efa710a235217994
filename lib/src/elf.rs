//! ELF facts boundary needs about an executable: its interpreter and the
//! shared libraries the interpreter maps for it. Used for LOCKDOWN's allow
//! list (`bd-lock allow --libs`) and for the libraries boundary's own
//! processes may map executable (bd-load's self-protection, bpf/self.h).

use anyhow::{bail, Context as _, Result};
use std::path::{Path, PathBuf};

/// PT_INTERP of a 64-bit little-endian ELF file, None for a static binary
/// or a file that is not ELF (a script: its interpreter is exec-checked).
pub fn interp(bin: &Path) -> Result<Option<PathBuf>> {
    let b = std::fs::read(bin).with_context(|| format!("reading {}", bin.display()))?;
    if b.len() < 64 || &b[..4] != b"\x7fELF" {
        return Ok(None);
    }
    if b[4] != 2 || b[5] != 1 {
        bail!(
            "{}: only 64-bit little-endian ELF is supported",
            bin.display()
        );
    }
    let u16_at = |o: usize| {
        b.get(o..o + 2)
            .map(|x| u16::from_le_bytes([x[0], x[1]]) as usize)
    };
    let u64_at = |o: usize| {
        b.get(o..o + 8)
            .map(|x| u64::from_le_bytes(x.try_into().unwrap_or_default()) as usize)
    };
    let bad = || anyhow::anyhow!("{}: truncated ELF program headers", bin.display());
    let (phoff, phentsize, phnum) = (
        u64_at(0x20).ok_or_else(bad)?,
        u16_at(0x36).ok_or_else(bad)?,
        u16_at(0x38).ok_or_else(bad)?,
    );
    for i in 0..phnum {
        let ph = phoff.saturating_add(i.saturating_mul(phentsize));
        let ty = b.get(ph..ph + 4).ok_or_else(bad)?;
        if u32::from_le_bytes([ty[0], ty[1], ty[2], ty[3]]) != 3 {
            continue; // not PT_INTERP
        }
        let (off, len) = (
            u64_at(ph + 8).ok_or_else(bad)?,
            u64_at(ph + 0x20).ok_or_else(bad)?,
        );
        let raw = b.get(off..off.saturating_add(len)).ok_or_else(bad)?;
        let raw = raw.split(|&c| c == 0).next().unwrap_or_default();
        return Ok(Some(PathBuf::from(
            String::from_utf8_lossy(raw).into_owned(),
        )));
    }
    Ok(None)
}

/// The ELF interpreter and DT_NEEDED closure of `bin`, as its dynamic
/// linker resolves them (`INTERP --list BIN`, what ldd runs, in an empty
/// environment): the files it must be let map. A static binary or a script
/// has none. Libraries named in /etc/ld.so.preload are left out although
/// the listing shows them: they are injected, not needed, and a refused
/// preload is skipped by the dynamic linker (the program runs without it).
pub fn needed_libs(bin: &Path) -> Result<Vec<PathBuf>> {
    let Some(interp) = interp(bin)? else {
        return Ok(Vec::new());
    };
    // A clean environment: LD_LIBRARY_PATH, LD_PRELOAD and the like in the
    // caller's would change what is listed.
    let o = std::process::Command::new(&interp)
        .env_clear()
        .arg("--list")
        .arg(bin)
        .output()
        .with_context(|| format!("running {} --list {}", interp.display(), bin.display()))?;
    let text = String::from_utf8_lossy(&o.stdout);
    if !o.status.success() {
        bail!(
            "{} --list {}: {}",
            interp.display(),
            bin.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    let preloaded = preloaded();
    let mut v = vec![std::fs::canonicalize(&interp)
        .with_context(|| format!("resolving {}", interp.display()))?];
    for l in text.lines() {
        // "libc.so.6 => /lib/.../libc.so.6 (0x...)", "/lib64/ld-linux... (0x...)",
        // "linux-vdso.so.1 (0x...)" (no file), "libfoo.so => not found".
        let l = l.trim();
        if l.contains("not found") {
            bail!("{}: {l}: a library it needs is not there", bin.display());
        }
        let path = match l.split_once("=>") {
            Some((_, r)) => r.trim(),
            None => l,
        };
        let path = path.split(" (").next().unwrap_or("").trim();
        if path.starts_with('/') {
            let p = std::fs::canonicalize(path).with_context(|| format!("resolving {path}"))?;
            if !preloaded.contains(&p) {
                v.push(p);
            }
        }
    }
    Ok(v)
}

/// The files /etc/ld.so.preload names (separated by white space or colons,
/// as ld.so reads it), resolved; those that do not resolve are not mapped.
pub fn preloaded() -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string("/etc/ld.so.preload") else {
        return Vec::new();
    };
    text.split(|c: char| c.is_whitespace() || c == ':')
        .filter(|w| !w.is_empty())
        .filter_map(|w| std::fs::canonicalize(w).ok())
        .collect()
}
