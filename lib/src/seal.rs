//! boundary's sealed configuration: the files and directories (by device
//! and inode) that self_protect keeps unchanged above OPEN (map `bd_seal`,
//! bpf/self_protect.bpf.c), and the check bd-lock makes that the files it
//! trusts are those very inodes.
//!
//! bd-load records the set, only in OPEN ([`walk`]); bd-lock refuses a
//! ceremony whose operator keys, operators config or machine-id are other
//! inodes ([`Seal::check`]): what a private mount namespace, a chroot, a
//! bind mount or a tmpfs over /etc would show it.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use aya::maps::{HashMap, Map, MapData};

use crate::event::BdFileKey;
use crate::pin;
use crate::protect::kernel_dev;

/// The pinned map's name.
pub const SEAL_MAP: &str = "bd_seal";
/// Sealed: contents, metadata and, for a directory, its entries.
pub const SEAL_FILE: u32 = 1;
/// An ancestor directory of a sealed path: nothing may be mounted on it.
pub const SEAL_GUARD: u32 = 2;
/// The state directory itself (with [`SEAL_FILE`]): the kernel lets a bind
/// onto it through (systemd binds it onto itself for boundary's units,
/// `ReadWritePaths=`), and bd-lock checks it is the dir it reads and writes
/// ([`Seal::check_state_dir`]).
pub const SEAL_STATE: u32 = 4;
/// `{ dev 0, ino 0 }`: a seal has been recorded (no inode has that key).
/// Its value is [`MARK_CONFIG_DIR`] when a configuration directory was
/// among the sealed paths.
pub const RECORDED: BdFileKey = BdFileKey { dev: 0, ino: 0 };
/// The mark's value when the record holds a sealed directory (the operator
/// keys' home, /etc/boundary by default): only then is there a sealed trust
/// root for bd-lock to hold a ceremony to. A host where it was missing at
/// the load (bd-load names it on stderr) keeps the old behaviour.
pub const MARK_CONFIG_DIR: u32 = 4;
/// The mark's value also carries this when the state directory was among
/// the sealed paths: bd-lock then reads and writes mode state only in that
/// very directory.
pub const MARK_STATE_DIR: u32 = 8;
/// The state directory (mode state, its lock, the release-token nonce
/// store, the verify anchor): sealed by default, since a looser mode written
/// there above OPEN is what boot-load copies into the kernel at the next
/// boot. bd-lock replaces state.json by a new inode at every transition;
/// the kernel covers it through its sealed parent directory.
pub const STATE_DIR: &str = "/var/lib/boundary";
/// What bd-load seals unless told otherwise (`--seal`).
pub const DEFAULT_PATHS: &[&str] = &[
    "/etc/boundary",
    "/etc/default/boundary",
    "/etc/machine-id",
    STATE_DIR,
];
/// Files and directories below one sealed directory, at most (bd_seal holds 1024).
const MAX_ENTRIES: usize = 1000;

/// (dev, ino) of a file as the kernel keys it.
pub fn key_of(md: &std::fs::Metadata) -> BdFileKey {
    BdFileKey {
        dev: kernel_dev(md.dev()),
        ino: md.ino(),
    }
}

/// One inode to record.
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: PathBuf,
    /// The `--seal` root this entry was found under (itself for a root, the
    /// root it guards for an ancestor).
    pub root: PathBuf,
    pub key: BdFileKey,
    pub flags: u32,
    /// Hard links to a sealed non-directory: any but this one were made
    /// before the load and stay outside the sealed dir (bd-load warns).
    pub nlink: u64,
    pub dir: bool,
}

/// What to record for `roots`: each root (a directory with everything below
/// it, not following symlinks; a symlink root also seals its target) as
/// SEAL_FILE, each ancestor directory as SEAL_GUARD. Missing roots are
/// returned apart, so the caller can say they are not sealed. The kernel
/// also covers entries created in a sealed directory later (by boundary:
/// nobody else may create them above OPEN), through their parent.
pub fn walk(roots: &[PathBuf]) -> anyhow::Result<(Vec<Entry>, Vec<PathBuf>)> {
    let mut out: Vec<Entry> = Vec::new();
    let mut missing = Vec::new();
    for root in roots {
        let md = match std::fs::symlink_metadata(root) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                missing.push(root.clone());
                continue;
            }
            Err(e) => return Err(e).with_context(|| format!("--seal {}", root.display())),
        };
        if !root.is_absolute() {
            anyhow::bail!("--seal {}: not an absolute path", root.display());
        }
        let mut stack = vec![(root.clone(), md)];
        if stack[0].1.file_type().is_symlink() {
            let t = std::fs::metadata(root)
                .with_context(|| format!("--seal {}: following the symlink", root.display()))?;
            let real = std::fs::canonicalize(root)
                .with_context(|| format!("--seal {}", root.display()))?;
            stack.push((real, t));
        }
        let mut n = 0;
        while let Some((p, md)) = stack.pop() {
            n += 1;
            if n > MAX_ENTRIES {
                anyhow::bail!(
                    "--seal {}: more than {MAX_ENTRIES} files and directories",
                    root.display()
                );
            }
            let state = md.is_dir() && p == *root && is_state_dir(root);
            // The state dir's entries are replaced by rename above OPEN
            // (state.json at each transition, the anchor at each verify):
            // a recorded entry's inode number, freed, comes back as any new
            // file on the filesystem, which the kernel would then take for
            // sealed (a PrivateTmp dir in /tmp refused PID 1's mkdir in the
            // systemd VM). They are covered through the sealed dir instead.
            if md.is_dir() && !state {
                let mut kids = Vec::new();
                for e in std::fs::read_dir(&p).with_context(|| format!("{}", p.display()))? {
                    let e = e.with_context(|| format!("{}", p.display()))?;
                    let kp = e.path();
                    let kmd = std::fs::symlink_metadata(&kp)
                        .with_context(|| format!("{}", kp.display()))?;
                    kids.push((kp, kmd));
                }
                stack.extend(kids);
            }
            out.push(Entry {
                root: root.clone(),
                key: key_of(&md),
                flags: if state {
                    SEAL_FILE | SEAL_STATE
                } else {
                    SEAL_FILE
                },
                nlink: md.nlink(),
                dir: md.is_dir(),
                path: p,
            });
        }
        let canon = std::fs::canonicalize(root).unwrap_or_else(|_| root.clone());
        // Not "/": a mount on the root directory changes no lookup of a
        // running process (each starts at its own root); only a chroot into
        // it would, and bd-lock checks inodes against that.
        for a in canon
            .ancestors()
            .skip(1)
            .chain(root.ancestors().skip(1))
            .filter(|a| a.parent().is_some())
        {
            let md = std::fs::metadata(a).with_context(|| format!("{}", a.display()))?;
            out.push(Entry {
                root: root.clone(),
                key: key_of(&md),
                flags: SEAL_GUARD,
                nlink: md.nlink(),
                dir: true,
                path: a.to_path_buf(),
            });
        }
    }
    // One entry per inode, flags merged (/etc is a guard and may be sealed).
    out.sort_by(|a, b| (a.key.dev, a.key.ino, &a.path).cmp(&(b.key.dev, b.key.ino, &b.path)));
    let mut merged: Vec<Entry> = Vec::new();
    for e in out {
        match merged.last_mut() {
            Some(l) if l.key == e.key => l.flags |= e.flags,
            _ => merged.push(e),
        }
    }
    merged.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((merged, missing))
}

/// Is `root` (a `--seal` path) the state directory rather than configuration?
pub fn is_state_dir(root: &Path) -> bool {
    root == Path::new(STATE_DIR)
        || std::env::var_os("BD_STATE")
            .map(PathBuf::from)
            .is_some_and(|s| s.parent() == Some(root))
}

/// The kernel's seal record.
pub struct Seal {
    map: HashMap<MapData, BdFileKey, u32>,
}

impl Seal {
    /// None when no seal map is pinned (nothing loaded, or no BPF-LSM).
    pub fn open(pin_dir: &Path) -> anyhow::Result<Option<Seal>> {
        if !pin::map_path(pin_dir, SEAL_MAP).exists() {
            return Ok(None);
        }
        let data = pin::open_map(pin_dir, SEAL_MAP)
            .with_context(|| format!("{}", pin::map_path(pin_dir, SEAL_MAP).display()))?;
        let map = HashMap::try_from(Map::HashMap(data))
            .with_context(|| format!("{}", pin::map_path(pin_dir, SEAL_MAP).display()))?;
        Ok(Some(Seal { map }))
    }

    /// Has bd-load recorded a seal?
    pub fn recorded(&self) -> bool {
        self.map.get(&RECORDED, 0).is_ok()
    }

    /// Did the recorded seal include a configuration directory?
    pub fn config_sealed(&self) -> bool {
        self.map
            .get(&RECORDED, 0)
            .is_ok_and(|v| v & MARK_CONFIG_DIR != 0)
    }

    /// The flags of `key`, 0 when it is not in the record.
    pub fn flags(&self, key: &BdFileKey) -> u32 {
        self.map.get(key, 0).unwrap_or(0)
    }

    /// Replace the record by `entries`, the mark last (bd-load, in OPEN,
    /// where the kernel does not enforce it, so the window is harmless).
    pub fn replace(&mut self, entries: &[Entry]) -> anyhow::Result<()> {
        let old: Vec<BdFileKey> = self.map.keys().filter_map(Result::ok).collect();
        for k in old {
            self.map
                .remove(&k)
                .with_context(|| format!("clearing {SEAL_MAP}"))?;
        }
        for e in entries {
            self.map
                .insert(e.key, e.flags, 0)
                .with_context(|| format!("recording {} in {SEAL_MAP}", e.path.display()))?;
        }
        // The state dir is no trust root: sealing it alone must not make
        // bd-lock demand a sealed key set the host never had.
        let dir = entries
            .iter()
            .any(|e| e.dir && e.flags & SEAL_FILE != 0 && !is_state_dir(&e.root));
        let state = entries.iter().any(|e| e.flags & SEAL_STATE != 0);
        let mark = if dir { MARK_CONFIG_DIR } else { 0 } | if state { MARK_STATE_DIR } else { 0 };
        self.map
            .insert(RECORDED, mark, 0)
            .with_context(|| format!("marking {SEAL_MAP} recorded"))
    }

    /// Was a state directory among the sealed paths?
    pub fn state_sealed(&self) -> bool {
        self.map
            .get(&RECORDED, 0)
            .is_ok_and(|v| v & MARK_STATE_DIR != 0)
    }

    /// When a state directory was sealed, `dir` (the one bd-lock is about to
    /// read or write mode state in) must be that very inode: a bind onto it
    /// or over a directory above it (the kernel lets both through, for
    /// systemd's sandboxing), another mount namespace or a chroot would show
    /// another one, and a transition written there would be lost at the next
    /// boot. Returns the mismatch as one line.
    pub fn check_state_dir(&self, dir: &Path) -> Result<(), String> {
        if !self.state_sealed() {
            return Ok(());
        }
        let why = match std::fs::metadata(dir) {
            Ok(md) if self.flags(&key_of(&md)) & SEAL_STATE != 0 => return Ok(()),
            Ok(md) => {
                let k = key_of(&md);
                format!(
                    "device {} inode {} is not the sealed state directory",
                    k.dev, k.ino
                )
            }
            Err(e) => e.to_string(),
        };
        Err(format!(
            "{}: {why} (a mount over it or a directory above it, another mount namespace, \
             a chroot, or a state dir given elsewhere); refusing to read or write mode state \
             there (in OPEN, run bd-load again to record it)",
            dir.display()
        ))
    }

    /// Sealed inodes and guard directories in the record (not the mark).
    pub fn counts(&self) -> (usize, usize) {
        let (mut f, mut g) = (0, 0);
        for k in self.map.keys().filter_map(Result::ok) {
            if k == RECORDED {
                continue;
            }
            let v = self.flags(&k);
            if v & SEAL_FILE != 0 {
                f += 1;
            }
            if v & SEAL_GUARD != 0 {
                g += 1;
            }
        }
        (f, g)
    }

    /// Is the file at `path` (following symlinks) a sealed inode?
    fn sealed_path(&self, path: &Path) -> Result<bool, std::io::Error> {
        let md = std::fs::metadata(path)?;
        Ok(self.flags(&key_of(&md)) & SEAL_FILE != 0)
    }

    /// Check the files a ceremony trusts: `files` must be sealed inodes;
    /// each of `optional` either a sealed inode or absent from a sealed
    /// directory (a missing operators.toml means quorum 1: its absence must
    /// be the sealed one too); `dirs` (a directory of keys) sealed with
    /// every entry in it. Returns the first mismatch as one line.
    pub fn check(&self, files: &[&Path], optional: &[&Path], dirs: &[&Path]) -> Result<(), String> {
        let not_sealed = |p: &Path, why: &str| {
            format!(
                "{}: {why}: not the file bd-load sealed (another mount namespace, a chroot, \
                 a bind mount or a file changed in OPEN after the load); refusing to trust it \
                 (in OPEN, run bd-load again to record the configuration)",
                p.display()
            )
        };
        for p in files {
            match self.sealed_path(p) {
                Ok(true) => {}
                Ok(false) => return Err(not_sealed(p, "not sealed")),
                Err(e) => return Err(not_sealed(p, &e.to_string())),
            }
        }
        for p in optional {
            match self.sealed_path(p) {
                Ok(true) => {}
                Ok(false) => return Err(not_sealed(p, "not sealed")),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let parent = p.parent().unwrap_or(Path::new("/"));
                    match self.sealed_path(parent) {
                        Ok(true) => {}
                        Ok(false) => {
                            return Err(not_sealed(p, "absent, and its directory is not sealed"))
                        }
                        Err(e) => return Err(not_sealed(parent, &e.to_string())),
                    }
                }
                Err(e) => return Err(not_sealed(p, &e.to_string())),
            }
        }
        for d in dirs {
            match self.sealed_path(d) {
                Ok(true) => {}
                Ok(false) => return Err(not_sealed(d, "not sealed")),
                Err(e) => return Err(not_sealed(d, &e.to_string())),
            }
            if d.is_dir() {
                let rd = std::fs::read_dir(d).map_err(|e| not_sealed(d, &e.to_string()))?;
                for e in rd {
                    let p = e.map_err(|e| not_sealed(d, &e.to_string()))?.path();
                    match self.sealed_path(&p) {
                        Ok(true) => {}
                        Ok(false) => return Err(not_sealed(&p, "not sealed")),
                        Err(e) => return Err(not_sealed(&p, &e.to_string())),
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_records_tree_and_guards() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("cfg");
        std::fs::create_dir_all(root.join("operators.d")).unwrap();
        std::fs::write(root.join("operators.d/a.pub"), "x").unwrap();
        std::fs::write(root.join("operators.toml"), "").unwrap();
        let gone = t.path().join("gone");
        let (e, missing) = walk(&[root.clone(), gone.clone()]).unwrap();
        assert_eq!(missing, vec![gone]);
        let flags = |p: &Path| e.iter().find(|x| x.path == p).map(|x| x.flags);
        assert_eq!(flags(&root), Some(SEAL_FILE));
        assert_eq!(flags(&root.join("operators.d/a.pub")), Some(SEAL_FILE));
        assert_eq!(flags(&root.join("operators.toml")), Some(SEAL_FILE));
        assert_eq!(flags(t.path()), Some(SEAL_GUARD));
        assert_eq!(flags(Path::new("/")), None);
        assert!(walk(&[PathBuf::from("relative")]).unwrap().1.len() == 1);
    }

    #[test]
    fn state_dir_is_sealed_by_default_and_is_no_config_dir() {
        assert!(DEFAULT_PATHS.contains(&STATE_DIR));
        assert!(is_state_dir(Path::new(STATE_DIR)));
        assert!(!is_state_dir(Path::new("/etc/boundary")));
        // Entries under the state dir carry it as their root, which is
        // what keeps MARK_CONFIG_DIR off for a state-only record.
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("state.json"), "{}").unwrap();
        let (e, _) = walk(&[t.path().to_path_buf()]).unwrap();
        assert!(e
            .iter()
            .filter(|x| x.flags & SEAL_FILE != 0)
            .all(|x| x.root == t.path()));
    }
}
