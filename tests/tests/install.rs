//! `make install`, `make uninstall` and `make deb` into temporary trees: the
//! files a host gets, their modes, that binaries are stripped and only
//! binaries are installed, that units and helper scripts name the installed
//! paths, that config survives a reinstall, and the package's metadata.
//! (The package installed on a real Debian system with systemd as PID 1 is
//! `cargo xtask sys-vm-test`.)

use bd_tests::bin;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const TOOLS: &[&str] = &[
    "bd-load",
    "bd-watch",
    "bd-policy",
    "bd-log",
    "bd-inject",
    "bd-lock",
];
const UNITS: &[&str] = &[
    "boundary-load.service",
    "boundary.service",
    "boundary-verify.service",
    "boundary-verify.timer",
    "boundary-alert@.service",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The cargo target dir holding release/bd-*.
fn target_dir() -> PathBuf {
    bin("bd-load")
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf()
}

fn make(args: &[&str]) -> Output {
    let o = Command::new("make")
        .arg("-C")
        .arg(repo())
        .arg("--no-print-directory")
        .arg(format!("TARGET_DIR={}", target_dir().display()))
        .args(args)
        .output()
        .expect("make (apt-get install make)");
    assert!(
        o.status.success(),
        "make {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn sections(elf: &Path) -> String {
    let o = Command::new("readelf")
        .arg("-S")
        .arg("-W")
        .arg(elf)
        .output()
        .unwrap();
    assert!(o.status.success(), "readelf -S {}", elf.display());
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn make_install_into_destdir_installs_stripped_binaries_docs_units_and_config() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    make(&[&format!("DESTDIR={}", d.display()), "install"]);
    let pre = d.join("usr/local");

    for t in TOOLS {
        let b = pre.join("sbin").join(t);
        assert_eq!(mode(&b), 0o755, "{}", b.display());
        let s = sections(&b);
        assert!(!s.contains(".symtab"), "{} is not stripped", b.display());
        // .debug_gdb_scripts is an allocated section rustc adds; real debug
        // info is .debug_info / .debug_line.
        assert!(
            !s.contains(".debug_info") && !s.contains(".debug_line"),
            "{} keeps debug info",
            b.display()
        );
        // The stripped binary still runs and knows what it is.
        let v = Command::new(&b).arg("--version").output().unwrap();
        assert!(v.status.success() && String::from_utf8_lossy(&v.stdout).contains(t));
        assert!(pre.join(format!("share/man/man1/{t}.1")).is_file());
        assert!(pre
            .join(format!("share/bash-completion/completions/{t}"))
            .is_file());
        assert!(pre
            .join(format!("share/zsh/vendor-completions/_{t}"))
            .is_file());
        assert!(pre
            .join(format!("share/fish/vendor_completions.d/{t}.fish"))
            .is_file());
    }
    // Only binaries in BINDIR: never cargo's dep-info files.
    let sbin: Vec<_> = fs::read_dir(pre.join("sbin"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        sbin.len(),
        TOOLS.len(),
        "unexpected files in sbin: {sbin:?}"
    );
    assert!(sbin.iter().all(|n| !n.contains('.')), "{sbin:?}");

    for doc in [
        "README.md",
        "SECURITY.md",
        "EVENTS.md",
        "MODES.md",
        "ARCHITECTURE.md",
    ] {
        assert!(pre.join("share/doc/boundary").join(doc).is_file(), "{doc}");
    }
    assert!(pre
        .join("share/doc/boundary/examples/policies/lockdown.toml")
        .is_file());

    // Units and helpers name the installed paths; nothing left unsubstituted.
    for u in UNITS {
        let p = pre.join("lib/systemd/system").join(u);
        let text = fs::read_to_string(&p).unwrap();
        for var in [
            "@BINDIR@",
            "@LIBEXECDIR@",
            "@SYSCONFDIR@",
            "@STATEDIR@",
            "@LOGDIR@",
            "@DOCDIR@",
        ] {
            assert!(!text.contains(var), "{u}: {var} left unsubstituted");
        }
        for line in text.lines() {
            if let Some(cmd) = line.strip_prefix("ExecStart=") {
                let exe = cmd.split_whitespace().next().unwrap();
                assert!(
                    exe.starts_with("/bin/") || d.join(&exe[1..]).is_file(),
                    "{u}: ExecStart {exe} not installed"
                );
            }
        }
    }
    for h in ["boot-load", "pipeline", "verify"] {
        let p = pre.join("lib/boundary").join(h);
        assert_eq!(mode(&p), 0o755);
        let text = fs::read_to_string(&p).unwrap();
        assert!(text.contains("/usr/local/sbin") && !text.contains("@BINDIR@"));
        let o = Command::new("bash").arg("-n").arg(&p).output().unwrap();
        assert!(
            o.status.success(),
            "{h}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    // Config skeleton: keys root-only, policy loads, allow list names our tools.
    let etc = d.join("etc/boundary");
    assert_eq!(mode(&etc.join("keys")), 0o700);
    assert!(etc.join("operators.d").is_dir());
    let pol = Command::new(bin("bd-policy"))
        .arg("check")
        .arg(etc.join("policy.toml"))
        .output()
        .unwrap();
    assert!(
        pol.status.success(),
        "{}",
        String::from_utf8_lossy(&pol.stderr)
    );
    let allow = fs::read_to_string(etc.join("exec-allow.list")).unwrap();
    assert!(allow.contains("/usr/local/sbin/bd-lock\n"));
    assert!(allow.contains("/usr/local/lib/boundary/pipeline\n"));
    assert!(fs::read_to_string(d.join("etc/default/boundary"))
        .unwrap()
        .contains("BD_HEARTBEAT="));
    assert_eq!(mode(&d.join("var/lib/boundary")), 0o700);
    assert_eq!(mode(&d.join("var/log/boundary")), 0o750);
}

#[test]
fn reinstall_keeps_config_and_uninstall_removes_only_what_install_put() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let dest = format!("DESTDIR={}", d.display());
    make(&[&dest, "PREFIX=/opt/bd", "install"]);
    let pol = d.join("etc/boundary/policy.toml");
    fs::write(&pol, "# edited by the operator\n").unwrap();
    fs::write(d.join("etc/boundary/keys/log.key"), "secret").unwrap();
    make(&[&dest, "PREFIX=/opt/bd", "install"]);
    assert_eq!(
        fs::read_to_string(&pol).unwrap(),
        "# edited by the operator\n"
    );
    // PREFIX moved everything, BINDIR and MANDIR can move again.
    assert!(d.join("opt/bd/sbin/bd-lock").is_file());
    assert!(d
        .join("opt/bd/lib/systemd/system/boundary.service")
        .is_file());
    make(&[&dest, "PREFIX=/opt/bd", "uninstall"]);
    let left = files_under(&d.join("opt/bd"));
    assert!(left.is_empty(), "left after uninstall: {left:?}");
    assert!(pol.is_file() && d.join("etc/boundary/keys/log.key").is_file());

    let tmp2 = tempfile::tempdir().unwrap();
    let d2 = tmp2.path();
    make(&[
        &format!("DESTDIR={}", d2.display()),
        "BINDIR=/b",
        "MANDIR=/m",
        "install",
    ]);
    assert!(d2.join("b/bd-log").is_file() && d2.join("m/man1/bd-log.1").is_file());
    let unit = fs::read_to_string(d2.join("usr/local/lib/boundary/pipeline")).unwrap();
    assert!(unit.contains("PATH=/b:"), "{unit}");
}

#[test]
fn make_install_refuses_before_a_build_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let o = Command::new("make")
        .arg("-C")
        .arg(repo())
        .arg("--no-print-directory")
        .arg(format!("TARGET_DIR={}", tmp.path().display()))
        .arg(format!("DESTDIR={}", tmp.path().join("root").display()))
        .arg("install")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("missing: run 'make'"), "{err}");
    assert!(
        !tmp.path().join("root").exists(),
        "install wrote before refusing"
    );
}

#[test]
fn units_pass_systemd_analyze_verify() {
    // Installed for real under a temp prefix (no DESTDIR), so the paths the
    // units name exist and systemd-analyze checks them against the host's
    // own targets (sysinit.target, network-pre.target...).
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().display().to_string();
    make(&[
        &format!("PREFIX={d}/usr"),
        &format!("SYSCONFDIR={d}/etc"),
        &format!("STATEDIR={d}/var/lib/boundary"),
        &format!("LOGDIR={d}/var/log/boundary"),
        "install",
    ]);
    let units: Vec<PathBuf> = UNITS
        .iter()
        .map(|u| {
            let p = tmp.path().join("usr/lib/systemd/system").join(u);
            if u.contains('@') {
                // A template is verified through an instance.
                let inst = tmp.path().join("boundary-alert@boundary.service.service");
                fs::copy(&p, &inst).unwrap();
                inst
            } else {
                p
            }
        })
        .collect();
    let o = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&units)
        .output()
        .expect("systemd-analyze (apt-get install systemd)");
    let err = String::from_utf8_lossy(&o.stderr);
    // Only our own units are judged: other units on the machine may warn.
    let ours: Vec<&str> = err.lines().filter(|l| l.contains("boundary")).collect();
    assert!(o.status.success() && ours.is_empty(), "{err}");
}

#[test]
fn make_deb_builds_one_package_with_conffiles_and_safe_modes() {
    let tmp = tempfile::tempdir().unwrap();
    make(&[&format!("DEBDIR={}", tmp.path().display()), "deb"]);
    let debs: Vec<PathBuf> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    assert_eq!(debs.len(), 1, "{debs:?}");
    let deb = &debs[0];
    let name = deb.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("boundary_") && name.ends_with("_amd64.deb"),
        "{name}"
    );
    let field = |f: &str| {
        let o = Command::new("dpkg-deb")
            .arg("-f")
            .arg(deb)
            .arg(f)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert_eq!(field("Package"), "boundary");
    assert_eq!(field("Architecture"), "amd64");
    let ctl = tmp.path().join("ctl");
    let o = Command::new("dpkg-deb")
        .arg("-e")
        .arg(deb)
        .arg(&ctl)
        .output()
        .unwrap();
    assert!(o.status.success());
    let conffiles = fs::read_to_string(ctl.join("conffiles")).unwrap();
    for c in [
        "/etc/boundary/policy.toml",
        "/etc/boundary/exec-allow.list",
        "/etc/default/boundary",
    ] {
        assert!(conffiles.lines().any(|l| l == c), "{c} not a conffile");
    }
    assert!(
        !conffiles.contains("/etc/boundary/keys/"),
        "keys must never be package files"
    );
    for s in ["postinst", "prerm", "postrm"] {
        assert_eq!(mode(&ctl.join(s)), 0o755);
        let o = Command::new("sh")
            .arg("-n")
            .arg(ctl.join(s))
            .output()
            .unwrap();
        assert!(o.status.success(), "{s}");
    }
    let list = Command::new("dpkg-deb")
        .arg("-c")
        .arg(deb)
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    let keys = list
        .lines()
        .find(|l| l.ends_with("./etc/boundary/keys/"))
        .expect("keys dir in the package");
    assert!(keys.starts_with("drwx------ root/root"), "{keys}");
    assert!(list.contains("./usr/sbin/bd-lock"));
    assert!(list.contains("./usr/lib/systemd/system/boundary-load.service"));
    assert!(!list.contains(".d\n") && !list.contains("/var/"), "{list}");
}
