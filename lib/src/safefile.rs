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
    ensure_private_dir(parent_dir(path))?;
    replace_file(path, body, mode)
}

/// Replace an OUTPUT file (a signature, a metrics textfile) whose directory
/// the user chose and which other programs may share: no ownership demand on
/// the directory, but the same random O_CREAT|O_EXCL temp name and rename,
/// so nothing planted at a guessable name is ever written through.
pub fn replace_file(path: &Path, body: &[u8], mode: u32) -> Result<()> {
    let dir = parent_dir(path);
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

/// Open flags for every state file a tool reads or appends: never through a
/// symlink, never blocking on a FIFO someone planted.
const SAFE_FLAGS: i32 = libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK;

/// Refuse anything but a regular file with one link, owned by us or root:
/// a hard link to another file, a FIFO or a device is never state.
fn check_opened(f: &std::fs::File, path: &Path) -> Result<()> {
    let md = f
        .metadata()
        .with_context(|| format!("reading {}", path.display()))?;
    if !md.file_type().is_file() {
        bail!("{}: not a regular file: refusing it", path.display());
    }
    let me = nix::unistd::geteuid().as_raw();
    if md.nlink() != 1 || (md.uid() != me && md.uid() != 0) {
        bail!(
            "{}: has {} links and owner uid {}: refusing a file that may be someone else's",
            path.display(),
            md.nlink(),
            md.uid()
        );
    }
    Ok(())
}

/// Append `line` to a state log (like the release-token nonce store) and
/// fsync it: the directory must be private ([`check_dir`]), and the file is
/// opened O_APPEND|O_CREAT|O_NOFOLLOW|O_NONBLOCK and must be a regular file
/// with one link, so nothing planted there (symlink, hard link, FIFO) is
/// written through or hangs the writer.
pub fn append_private(path: &Path, line: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    check_dir(parent_dir(path))?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(mode)
        .custom_flags(SAFE_FLAGS)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    check_opened(&f, path)?;
    f.write_all(line)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// Read a state file with the checks of [`append_private`]; `None` if it does
/// not exist.
pub fn read_private(path: &Path) -> Result<Option<Vec<u8>>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(SAFE_FLAGS)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    check_opened(&f, path)?;
    let mut v = Vec::new();
    f.read_to_end(&mut v)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(v))
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
        let e = append_private(&d.path().join("n"), b"x\n", 0o600).unwrap_err();
        assert!(format!("{e:#}").contains("writable by group or others"));
        assert!(!d.path().join("n").exists());
    }

    #[test]
    fn append_refuses_symlinks_fifos_and_hard_links() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let sym = d.path().join("sym");
        std::os::unix::fs::symlink(&victim, &sym).unwrap();
        assert!(append_private(&sym, b"x\n", 0o600).is_err());
        assert!(read_private(&sym).is_err());
        let hard = d.path().join("hard");
        std::fs::hard_link(&victim, &hard).unwrap();
        assert!(append_private(&hard, b"x\n", 0o600).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        let fifo = d.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        // O_NONBLOCK: a write-open of a FIFO without a reader fails at once
        // (ENXIO) instead of hanging; a read-open succeeds and is refused.
        assert!(append_private(&fifo, b"x\n", 0o600).is_err());
        assert!(read_private(&fifo).is_err());
        // The twin: a plain file appends and reads back.
        let ok = d.path().join("ok");
        append_private(&ok, b"a\n", 0o600).unwrap();
        append_private(&ok, b"b\n", 0o600).unwrap();
        assert_eq!(read_private(&ok).unwrap().unwrap(), b"a\nb\n");
        assert_eq!(read_private(&d.path().join("none")).unwrap(), None);
    }
}
