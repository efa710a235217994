//! The no-libc binary against its clap definition: the help and version
//! texts it prints are clap's, its usage errors say what clap says (first
//! line), exit 125, and it is a static executable with no interpreter.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bd-inject"))
}

fn command() -> clap::Command {
    // The width build.rs renders with.
    bd_inject::command().term_width(100)
}

#[test]
fn help_and_version_are_clap_s() {
    for (arg, want) in [
        ("--help", command().render_long_help().to_string()),
        ("-h", command().render_help().to_string()),
        ("--version", command().render_version().to_string()),
        ("-V", command().render_version().to_string()),
    ] {
        let out = bin().arg(arg).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{arg}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{arg}");
        assert!(out.stderr.is_empty(), "{arg}");
    }
}

#[test]
fn usage_errors_say_what_clap_says() {
    let cases: &[&[&str]] = &[
        &[],
        &["--foo"],
        &["--name"],
        &["--name", "A"],
        &["--name", "A", "--"],
        &["--name", "A", "x"],
        &["--name", "A", "--allow-empty", "--allow-empty", "--", "x"],
        &[
            "--pin-dir",
            "/a",
            "--pin-dir",
            "/b",
            "--name",
            "A",
            "--",
            "x",
        ],
        &["--pin-dir=", "--name", "A", "--", "x"],
        &["--env=1", "--name", "A", "--", "x"],
        &["--name", "--from-file", "f", "--", "x"],
        &["-x"],
    ];
    for args in cases {
        let e = command()
            .try_get_matches_from(std::iter::once(&"bd-inject").chain(args.iter()))
            .expect_err("clap refuses it");
        let clap_text = e.render().to_string();
        let out = bin().args(*args).output().unwrap();
        let ours = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {ours}");
        assert_eq!(
            ours.lines().next(),
            clap_text.lines().next(),
            "{args:?}:\n{ours}\nclap:\n{clap_text}"
        );
        assert!(out.stdout.is_empty());
    }
}

/// No PT_INTERP (no dynamic loader, hence no libc start-up and no
/// LD_PRELOAD), ELF type EXEC (static, not position-independent).
#[test]
fn the_binary_is_static_without_an_interpreter() {
    let elf = std::fs::read(env!("CARGO_BIN_EXE_bd-inject")).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF");
    assert_eq!(elf[4], 2, "ELF64");
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap()) as usize;
    assert_eq!(u16_at(16), 2, "e_type ET_EXEC");
    let (phoff, phentsize, phnum) = (u64_at(32), u16_at(54), u16_at(56));
    for i in 0..phnum {
        let p_type = u32::from_le_bytes(elf[phoff + i * phentsize..][..4].try_into().unwrap());
        assert_ne!(p_type, 3, "PT_INTERP present");
        assert_ne!(p_type, 2, "PT_DYNAMIC present");
    }
}
