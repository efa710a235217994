//! Writing state files so that nobody else can steer the write.
//!
//! Every tool that keeps state (the mode state file, rate state, nonces)
//! writes through here: the directory must not be writable by anyone but its
//! owner (root), the temp file is created with O_CREAT|O_EXCL under a random
//! name in the same directory (so a planted symlink at a guessable name can
//! never redirect the write), then fsynced and renamed over the target, and
//! the directory fsynced.

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

/// The directory a state file lives in (`.` for a bare name).
pub fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Create `dir` (0700 for every component created) if missing, then refuse it
/// if someone other than us or root owns it, or group or others can write to it:
/// whoever can write there can swap our files.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    check_dir(dir)
}

/// Refuse a state directory writable by others or owned by another user.
pub fn check_dir(dir: &Path) -> Result<()> {
    let md = std::fs::metadata(dir).with_context(|| format!("reading {}", dir.display()))?;
    if !md.is_dir() {
        bail!("{}: not a directory", dir.display());
    }
    let me = nix::unistd::geteuid().as_raw();
    if md.uid() != me && md.uid() != 0 {
        bail!(
            "state directory {} is owned by uid {}, not by uid {me} or root: refusing to keep state there",
            dir.display(),
            md.uid()
        );
    }
    let mode = md.permissions().mode();
    if mode & 0o022 != 0 {
        bail!(
            "state directory {} is writable by group or others (mode {:o}): refusing to keep state there (chmod go-w)",
            dir.display(),
            mode & 0o7777
        );
    }
    Ok(())
}

/// Replace `path` with `body` atomically (file mode `mode`).
pub fn write_atomic(path: &Path, body: &[u8], mode: u32) -> Result<()> {
    let dir = parent_dir(path);
    ensure_private_dir(dir)?;
    if path.file_name().is_none() {
        bail!("{}: not a file path", path.display());
    }
    // tempfile opens O_CREAT|O_EXCL with a random name and removes the file
    // again if anything below fails.
    let mut tmp = tempfile::Builder::new()
        .prefix(".bd-tmp.")
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .with_context(|| format!("creating a temp file in {}", dir.display()))?;
    tmp.write_all(body)
        .and_then(|_| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", tmp.path().display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("renaming into {}", path.display()))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("fsync {}", dir.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlink_at_any_name_is_never_followed() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let target = d.path().join("rates.json");
        // The old guessable temp names, all pointing at the victim.
        for pid in [std::process::id(), 1, 2] {
            std::os::unix::fs::symlink(&victim, d.path().join(format!(".rates.json.tmp.{pid}")))
                .unwrap();
        }
        write_atomic(&target, b"new", 0o600).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        let md = std::fs::metadata(&target).unwrap();
        assert_eq!(md.permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn world_writable_dir_is_refused() {
        let d = tempfile::tempdir().unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        let e = write_atomic(&d.path().join("s"), b"x", 0o600).unwrap_err();
        assert!(
            format!("{e:#}").contains("writable by group or others"),
            "{e:#}"
        );
        assert!(!d.path().join("s").exists());
    }
}
