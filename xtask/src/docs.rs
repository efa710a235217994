//! Man pages and shell completions, rendered from the tools' own clap definitions.

use anyhow::{bail, Context, Result};
use clap::{Arg, ArgAction, Command};
use clap_complete::Shell;
use roff::{bold, italic, roman, Roff};
use std::path::Path;

type Tool = (fn() -> Command, fn() -> Vec<(&'static str, &'static str)>);

pub fn tools() -> Vec<Tool> {
    vec![
        (bd_load::command, bd_load::man_sections),
        (bd_watch::command, bd_watch::man_sections),
        (bd_policy::command, bd_policy::man_sections),
        (bd_log::command, bd_log::man_sections),
        (bd_inject::command, bd_inject::man_sections),
        (bd_lock::command, bd_lock::man_sections),
    ]
}

/// Write `content` to `path`, or with `check` fail if it differs.
fn emit(path: &Path, content: &[u8], check: bool, drift: &mut Vec<String>) -> Result<()> {
    if check {
        let old = std::fs::read(path).unwrap_or_default();
        if old != content {
            drift.push(path.display().to_string());
        }
        return Ok(());
    }
    std::fs::write(path, content).with_context(|| format!("writing {}", path.display()))
}

fn finish(drift: Vec<String>, what: &str) -> Result<()> {
    if !drift.is_empty() {
        bail!(
            "{what} out of date (run `cargo xtask {what}` and commit): {}",
            drift.join(", ")
        );
    }
    Ok(())
}

pub fn man(check: bool) -> Result<()> {
    let dir = crate::root().join("man");
    std::fs::create_dir_all(&dir)?;
    let mut drift = Vec::new();
    for (command, sections) in tools() {
        let mut cmd = command();
        cmd.build();
        let page = render_page(&cmd, &sections())?;
        let path = dir.join(format!("{}.1", cmd.get_name()));
        emit(&path, page.as_bytes(), check, &mut drift)?;
    }
    finish(drift, "man")
}

pub fn completions(check: bool) -> Result<()> {
    let dir = crate::root().join("completions");
    let mut drift = Vec::new();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let sub = dir.join(shell.to_string());
        std::fs::create_dir_all(&sub)?;
        for (command, _) in tools() {
            let mut cmd = command();
            let name = cmd.get_name().to_string();
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, &name, &mut buf);
            match shell {
                Shell::Bash => buf = fix_bash_hyphen_names(&buf, &name),
                Shell::Fish => buf = fix_fish_option_values(&buf),
                _ => {}
            }
            let file = match shell {
                Shell::Bash => name.clone(),
                Shell::Zsh => format!("_{name}"),
                _ => format!("{name}.fish"),
            };
            emit(&sub.join(file), &buf, check, &mut drift)?;
        }
    }
    finish(drift, "completions")
}

/// clap_complete spells the case arms of a hyphenated binary's subcommands
/// `bd__subcmd__log__subcmd__verify` while its dispatch loop builds
/// `bd__log__subcmd__verify`, so bash never offers a subcommand's flags. Rename
/// the arms to what the loop builds (a test drives the real bash through it).
fn fix_bash_hyphen_names(script: &[u8], name: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(script);
    let wrong = format!("{}__", name.replace('-', "__subcmd__"));
    let right = format!("{}__", name.replace('-', "__"));
    text.replace(&wrong, &right).into_bytes()
}

/// clap_complete's fish script decides "no subcommand yet" by running argparse
/// over the words before the cursor; while the cursor is on a top-level option's
/// value (`bd-policy --mode <TAB>`) that option lacks its value, argparse fails and
/// no candidate (not even the six modes) is offered. Retry without the last word.
fn fix_fish_option_values(script: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(script);
    let mut out = String::with_capacity(text.len() + 256);
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        let trimmed = line.trim_start();
        if trimmed.starts_with("argparse -s ") && trimmed.ends_with("-- $cmd 2>/dev/null") {
            let indent = &line[..line.len() - trimmed.len()];
            let retry = trimmed.replace("-- $cmd 2>/dev/null", "-- $cmd[1..-2] 2>/dev/null");
            out.push_str(&format!("{indent}or {retry}\n"));
        }
    }
    out.into_bytes()
}

/// Environment variables a tool reads, from its clap definition: `env = ...` on an
/// argument, or `[env: BD_...]` written into an argument's help. Each with the
/// flags it is the default for.
pub fn env_vars(cmd: &Command) -> Vec<(String, Vec<String>)> {
    fn walk(cmd: &Command, prefix: &str, out: &mut Vec<(String, Vec<String>)>) {
        for arg in cmd.get_arguments() {
            let mut names = Vec::new();
            if let Some(e) = arg.get_env() {
                names.push(e.to_string_lossy().into_owned());
            }
            let help = arg
                .get_long_help()
                .or(arg.get_help())
                .map(|h| h.to_string())
                .unwrap_or_default();
            for (i, _) in help.match_indices("env: BD_") {
                let var: String = help[i + 5..]
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                    .collect();
                names.push(var);
            }
            let Some(long) = arg.get_long() else { continue };
            let flag = format!("{prefix}--{long}");
            for n in names {
                match out.iter_mut().find(|(v, _)| *v == n) {
                    Some((_, flags)) => {
                        if !flags.iter().any(|f| f.ends_with(&format!("--{long}"))) {
                            flags.push(flag.clone());
                        }
                    }
                    None => out.push((n, vec![flag.clone()])),
                }
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{} ", sub.get_name()), out);
        }
    }
    let mut cmd = cmd.clone();
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, "", &mut out);
    out.sort();
    out
}

/// Installed location of a document a man page refers to by its repo path:
/// `make install` and the package put docs/*.md, SECURITY.md and the example
/// policies under /usr/share/doc/boundary.
fn installed_doc(word: &str) -> String {
    const DOC: &str = "/usr/share/doc/boundary/";
    if let Some(rest) = word.strip_prefix("docs/") {
        format!("{DOC}{rest}")
    } else if word == "SECURITY.md" || word.starts_with("examples/") {
        format!("{DOC}{word}")
    } else {
        word.to_string()
    }
}

/// The tool's own sections, completed: every environment variable it reads is
/// in ENVIRONMENT, SEE ALSO exists and names the other tools, and documents are
/// named where they are installed, not where they sit in the repository.
fn standard_sections(cmd: &Command, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = extra
        .iter()
        .map(|(t, x)| (t.to_string(), x.to_string()))
        .collect();
    let vars = env_vars(cmd);
    if !vars.is_empty() {
        let at = match out.iter().position(|(t, _)| t == "ENVIRONMENT") {
            Some(i) => i,
            None => {
                let i = out
                    .iter()
                    .position(|(t, _)| t == "FILES" || t == "EXAMPLES" || t == "SEE ALSO")
                    .unwrap_or(out.len());
                out.insert(i, ("ENVIRONMENT".into(), String::new()));
                i
            }
        };
        let text = &mut out[at].1;
        for (var, flags) in vars {
            if text.lines().any(|l| l.starts_with(&format!("{var}\t"))) {
                continue;
            }
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!("{var}\tdefault for {}", flags.join(", ")));
        }
    }
    let me = cmd.get_name();
    let others: Vec<String> = [
        "bd-load",
        "bd-watch",
        "bd-policy",
        "bd-log",
        "bd-inject",
        "bd-lock",
    ]
    .iter()
    .filter(|t| **t != me)
    .map(|t| format!("{t}(1)"))
    .collect();
    match out.iter_mut().find(|(t, _)| t == "SEE ALSO") {
        Some((_, text)) => {
            let rest = text
                .split(", ")
                .map(|w| installed_doc(w.trim()))
                .filter(|w| !(w.starts_with("bd-") && w.ends_with("(1)")));
            let words: Vec<String> = others.iter().cloned().chain(rest).collect();
            *text = words.join(", ");
        }
        None => out.push(("SEE ALSO".into(), others.join(", "))),
    }
    out
}

fn render_page(cmd: &Command, extra: &[(&str, &str)]) -> Result<String> {
    let man = clap_mangen::Man::new(cmd.clone()).date("");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut out)?;
    }
    let mut roff = Roff::new();
    let subs: Vec<&Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        .collect();
    if !subs.is_empty() {
        roff.control("SH", ["COMMANDS"]);
        for sub in subs {
            render_subcommand(&mut roff, cmd.get_name(), sub);
        }
    }
    let sections = standard_sections(cmd, extra);
    for (title, text) in &sections {
        roff.control("SH", [title.as_str()]);
        render_text(&mut roff, text);
    }
    let mut page = String::from_utf8(out)?;
    page.push_str(&roff.render());
    let mut tail = Vec::new();
    man.render_version_section(&mut tail)?;
    page.push_str(&String::from_utf8(tail)?);
    Ok(page)
}

fn render_subcommand(roff: &mut Roff, parent: &str, sub: &Command) {
    let full = format!("{parent} {}", sub.get_name());
    let mut usage = vec![bold(full.clone())];
    for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
        if matches!(arg.get_id().as_str(), "help" | "version") {
            continue;
        }
        usage.push(roman(" "));
        usage.extend(synopsis_of(arg));
    }
    roff.control("SS", [full.as_str()]);
    roff.control("B", []);
    roff.text(usage);
    roff.control("PP", []);
    if let Some(about) = sub.get_long_about().or(sub.get_about()) {
        for para in about.to_string().split("\n\n") {
            roff.text([roman(para.to_string())]);
            roff.control("PP", []);
        }
    }
    for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
        if matches!(arg.get_id().as_str(), "help" | "version") {
            continue;
        }
        roff.control("TP", []);
        roff.text(synopsis_of(arg));
        let help = arg
            .get_long_help()
            .or(arg.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        let mut body = help;
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        if !defaults.is_empty() && !arg.is_hide_default_value_set() {
            body.push_str(&format!(" [default: {}]", defaults.join(", ")));
        }
        let pv: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|p| !p.is_hide_set())
            .map(|p| p.get_name().to_string())
            .collect();
        if !pv.is_empty() && !matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse) {
            body.push_str(&format!(" [possible values: {}]", pv.join(", ")));
        }
        if let Some(env) = arg.get_env() {
            body.push_str(&format!(" [env: {}]", env.to_string_lossy()));
        }
        roff.text([roman(body)]);
    }
    for nested in sub.get_subcommands().filter(|s| s.get_name() != "help") {
        render_subcommand(roff, &full, nested);
    }
}

fn synopsis_of(arg: &Arg) -> Vec<roff::Inline> {
    let mut parts = Vec::new();
    let takes_value = matches!(arg.get_action(), ArgAction::Set | ArgAction::Append);
    let value = arg
        .get_value_names()
        .and_then(|v| v.first())
        .map(|s| s.to_string())
        .unwrap_or_else(|| arg.get_id().as_str().to_uppercase());
    match (arg.get_short(), arg.get_long()) {
        (Some(s), Some(l)) => parts.push(bold(format!("-{s}, --{l}"))),
        (Some(s), None) => parts.push(bold(format!("-{s}"))),
        (None, Some(l)) => parts.push(bold(format!("--{l}"))),
        (None, None) => {
            parts.push(italic(value));
            return parts;
        }
    }
    if takes_value {
        parts.push(roman(" "));
        parts.push(italic(value));
    }
    parts
}

fn render_text(roff: &mut Roff, text: &str) {
    for para in text.split("\n\n") {
        let lines: Vec<&str> = para.lines().collect();
        if lines.is_empty() {
            continue;
        }
        if lines.iter().all(|l| l.starts_with("  ")) {
            roff.control("PP", []);
            roff.control("nf", []);
            roff.control("RS", ["4"]);
            for l in &lines {
                roff.text([roman(l.trim_start().to_string())]);
            }
            roff.control("RE", []);
            roff.control("fi", []);
            continue;
        }
        let mut prose = Vec::new();
        for l in lines {
            if let Some((tag, body)) = l.split_once('\t') {
                if !prose.is_empty() {
                    roff.control("PP", []);
                    roff.text([roman(prose.join(" "))]);
                    prose.clear();
                }
                roff.control("TP", []);
                roff.text([bold(tag.to_string())]);
                roff.text([roman(body.to_string())]);
            } else {
                prose.push(l.to_string());
            }
        }
        if !prose.is_empty() {
            roff.control("PP", []);
            roff.text([roman(prose.join(" "))]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `BD_*` names read with std::env::var(_os) in `tools/<tool>/src`, and in
    /// each `lib/src/<m>.rs` the tool uses as `boundary::<m>::`.
    fn env_reads(root: &std::path::Path, tool: &str) -> Vec<String> {
        fn reads(text: &str, out: &mut Vec<String>) {
            for (i, _) in text.match_indices("env::var") {
                let rest = &text[i..];
                let Some(q) = rest.find("(\"BD_") else {
                    continue;
                };
                if q > 12 {
                    continue;
                }
                let var: String = rest[q + 2..]
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                if !out.contains(&var) {
                    out.push(var);
                }
            }
        }
        let mut out = Vec::new();
        let src = root.join("tools").join(tool).join("src");
        let mut text = String::new();
        for e in std::fs::read_dir(&src).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "rs") {
                text.push_str(&std::fs::read_to_string(&p).unwrap());
            }
        }
        reads(&text, &mut out);
        for e in std::fs::read_dir(root.join("lib/src")).unwrap() {
            let p = e.unwrap().path();
            let Some(m) = p.file_stem().map(|m| m.to_string_lossy().into_owned()) else {
                continue;
            };
            if p.extension().is_some_and(|x| x == "rs")
                && (text.contains(&format!("boundary::{m}::"))
                    || text.contains(&format!("boundary::{m}:")))
            {
                reads(&std::fs::read_to_string(&p).unwrap(), &mut out);
            }
        }
        out
    }

    /// Every man page documents every BD_* variable its tool reads, has SEE ALSO,
    /// and every document it points to exists in the repository (the install
    /// copies docs/*.md, SECURITY.md and examples/ to /usr/share/doc/boundary).
    #[test]
    fn man_pages_name_their_environment_and_existing_documents() {
        let root = crate::root();
        for (command, sections) in tools() {
            let mut cmd = command();
            cmd.build();
            let page = render_page(&cmd, &sections()).unwrap();
            let name = cmd.get_name().to_string();
            let mut vars = env_vars(&cmd);
            assert!(!vars.is_empty(), "{name}: reads no BD_* variable?");
            // Variables read outside clap: std::env::var in the tool's own
            // source, or in a lib module the tool calls.
            for var in env_reads(&root, &name) {
                if !vars.iter().any(|(v, _)| *v == var) {
                    vars.push((var, Vec::new()));
                }
            }
            let env = page
                .split(".SH ENVIRONMENT")
                .nth(1)
                .unwrap_or_else(|| panic!("{name}(1) has no ENVIRONMENT"));
            for (var, _) in &vars {
                assert!(
                    env.contains(var.as_str()),
                    "{name}(1) ENVIRONMENT lacks {var}"
                );
            }
            let see = page
                .split(".SH \"SEE ALSO\"")
                .nth(1)
                .unwrap_or_else(|| panic!("{name}(1) has no SEE ALSO"));
            let line = see.lines().nth(2).unwrap_or("").replace("\\-", "-");
            for word in line.split(", ") {
                if let Some(rel) = word.strip_prefix("/usr/share/doc/boundary/") {
                    let in_repo = [root.join("docs").join(rel), root.join(rel)];
                    assert!(
                        in_repo.iter().any(|p| p.exists()),
                        "{name}(1) SEE ALSO names {word}, which nothing installs"
                    );
                } else {
                    assert!(
                        word.ends_with(')'),
                        "{name}(1) SEE ALSO: `{word}` is not a page"
                    );
                }
            }
            assert!(
                !page.contains("this host kernel"),
                "{name}(1) speaks of `this host kernel`: a man page is read on other hosts"
            );
        }
    }
}
