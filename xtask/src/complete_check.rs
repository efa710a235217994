//! Drives the committed completion scripts through the real bash, zsh and fish
//! and checks that, for every (sub)command of every tool, each shell offers all of
//! its long flags after `--`, and every value of every enumerated option (modes,
//! event types, fsync policies...). The expectations come from the same clap
//! definitions the scripts were generated from, so a new flag is checked without
//! editing this file.

use anyhow::{bail, Context, Result};
use clap::Command;
use std::path::{Path, PathBuf};
use std::process::Command as Proc;
use std::time::{Duration, Instant};

/// One completion request: the words before the cursor (the tool first), the
/// partial word under the cursor, and what must be among the candidates.
#[derive(Debug, Clone)]
pub struct Query {
    pub words: Vec<String>,
    pub cur: String,
    pub want: Vec<String>,
}

impl Query {
    pub fn line(&self) -> String {
        let mut l = self.words.join(" ");
        l.push(' ');
        l.push_str(&self.cur);
        l
    }
}

/// Every query for one tool: flags of each (sub)command, values of each enum option.
pub fn queries(cmd: &mut Command) -> Vec<Query> {
    cmd.build();
    let mut out = Vec::new();
    walk(cmd, vec![cmd.get_name().to_string()], &mut out);
    out
}

fn walk(cmd: &Command, path: Vec<String>, out: &mut Vec<Query>) {
    let visible = || cmd.get_arguments().filter(|a| !a.is_hide_set());
    let flags: Vec<String> = visible()
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect();
    if !flags.is_empty() {
        out.push(Query {
            words: path.clone(),
            cur: "--".into(),
            want: flags,
        });
    }
    for arg in visible() {
        let Some(long) = arg.get_long() else { continue };
        let takes_value = arg.get_num_args().is_none_or(|n| n.takes_values());
        let values: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|p| !p.is_hide_set())
            .map(|p| p.get_name().to_string())
            .collect();
        if takes_value && !values.is_empty() && !matches!(long, "help" | "version") {
            let mut words = path.clone();
            words.push(format!("--{long}"));
            out.push(Query {
                words,
                cur: String::new(),
                want: values,
            });
        }
    }
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        let mut p = path.clone();
        p.push(sub.get_name().to_string());
        walk(sub, p, out);
    }
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Candidates bash offers for each query, through the function the script
/// registers with `complete -F` (as readline would call it).
pub fn bash(script: &Path, tool: &str, qs: &[Query]) -> Result<Vec<Vec<String>>> {
    let mut s = format!(
        "source {}\nfn=$(complete -p {tool} | sed -E 's/.* -F ([^ ]+) .*/\\1/')\n",
        sh_quote(&script.display().to_string())
    );
    for (i, q) in qs.iter().enumerate() {
        let words: Vec<String> = q
            .words
            .iter()
            .chain(std::iter::once(&q.cur))
            .map(|w| sh_quote(w))
            .collect();
        let prev = sh_quote(q.words.last().map(String::as_str).unwrap_or(""));
        s.push_str(&format!(
            "COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE={}; COMP_POINT=${{#COMP_LINE}}; COMPREPLY=()\n\
             \"$fn\" {tool} {} {prev}\necho @@{i}; printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
            words.join(" "),
            q.words.len(),
            sh_quote(&q.line()),
            sh_quote(&q.cur),
        ));
    }
    split(
        &run(Proc::new("bash").args(["--norc", "--noprofile", "-c", &s]))?,
        qs.len(),
    )
}

/// Candidates fish offers (`complete -C`), first field of each line.
pub fn fish(script: &Path, qs: &[Query]) -> Result<Vec<Vec<String>>> {
    let mut s = format!("source {}\n", sh_quote(&script.display().to_string()));
    for (i, q) in qs.iter().enumerate() {
        s.push_str(&format!(
            "echo @@{i}; complete -C {}\n",
            sh_quote(&q.line())
        ));
    }
    let text = run(Proc::new("fish").args(["--no-config", "-c", &s]))?;
    let per = split(&text, qs.len())?;
    Ok(per
        .into_iter()
        .map(|v| {
            v.into_iter()
                .map(|l| l.split('\t').next().unwrap_or("").to_string())
                .collect()
        })
        .collect())
}

/// What zsh lists on screen after TAB, in a real interactive zsh under tmux with
/// compinit over our completion directory. Returns the missing candidates per
/// query (zsh prints its menu, not a machine-readable list).
pub fn zsh_missing(dir: &Path, bin_dir: &Path, qs: &[Query]) -> Result<Vec<Vec<String>>> {
    let session = format!("bdcomp{}", std::process::id());
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let zdump = std::env::temp_dir().join(format!("{session}.zcompdump"));
    let tmux = |args: &[&str]| -> Result<String> { run(Proc::new("tmux").args(args)) };
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "220",
        "-y",
        "120",
        &format!("env -i PATH={path} HOME=/tmp TERM=xterm zsh -f"),
    ])?;
    let guard = KillSession(session.clone());
    let setup = format!(
        "fpath=({} $fpath); autoload -U compinit; compinit -u -d {}; PS1='%% '; clear",
        dir.display(),
        zdump.display()
    );
    tmux(&["send-keys", "-t", &session, &setup, "Enter"])?;
    wait_for(&session, |screen| screen.trim() == "%")?;
    let mut out = Vec::new();
    for q in qs {
        tmux(&["send-keys", "-t", &session, "-l", &q.line()])?;
        tmux(&["send-keys", "-t", &session, "Tab"])?;
        let mut missing = q.want.clone();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(8) {
            let screen = tmux(&["capture-pane", "-p", "-t", &session])?;
            let words: Vec<&str> = screen.split_whitespace().collect();
            missing.retain(|w| {
                // A lone candidate is completed in place on the command line.
                !words.contains(&w.as_str()) && !screen.contains(&format!(" {w} "))
            });
            if missing.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        out.push(missing);
        tmux(&["send-keys", "-t", &session, "C-u"])?;
        tmux(&["send-keys", "-t", &session, "clear", "Enter"])?;
        wait_for(&session, |screen| screen.trim() == "%")?;
    }
    drop(guard);
    let _ = std::fs::remove_file(zdump);
    Ok(out)
}

struct KillSession(String);
impl Drop for KillSession {
    fn drop(&mut self) {
        let _ = Proc::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .output();
    }
}

fn wait_for(session: &str, ok: impl Fn(&str) -> bool) -> Result<()> {
    let start = Instant::now();
    loop {
        let screen = run(Proc::new("tmux").args(["capture-pane", "-p", "-t", session]))?;
        if ok(&screen) {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(15) {
            bail!("zsh in tmux did not reach its prompt; screen:\n{screen}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run(cmd: &mut Proc) -> Result<String> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().with_context(|| format!("running {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn split(text: &str, n: usize) -> Result<Vec<Vec<String>>> {
    let mut per = vec![Vec::new(); n];
    let mut cur: Option<usize> = None;
    for line in text.lines() {
        if let Some(i) = line
            .strip_prefix("@@")
            .and_then(|s| s.parse::<usize>().ok())
        {
            cur = Some(i);
        } else if let Some(i) = cur {
            if !line.is_empty() {
                per[i].push(line.to_string());
            }
        }
    }
    Ok(per)
}

pub fn completions_dir() -> PathBuf {
    crate::root().join("completions")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(shell: &str, qs: &[Query], missing: &[Vec<String>], bad: &mut Vec<String>) {
        for (q, m) in qs.iter().zip(missing) {
            if !m.is_empty() {
                bad.push(format!("{shell}: `{}<TAB>` does not offer {m:?}", q.line()));
            }
        }
    }

    fn missing_from(qs: &[Query], got: &[Vec<String>]) -> Vec<Vec<String>> {
        qs.iter()
            .zip(got)
            .map(|(q, g)| q.want.iter().filter(|w| !g.contains(w)).cloned().collect())
            .collect()
    }

    fn need(prog: &str) {
        let ok = Proc::new(prog)
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(
            ok,
            "{prog} is not installed: .ci/run installs it (apt-get install {prog})"
        );
    }

    /// Every subcommand's flags and every enumerated value, in all three shells.
    #[test]
    fn every_shell_completes_every_flag_and_value() {
        for p in ["bash", "fish", "zsh", "tmux"] {
            if p == "tmux" {
                let ok = Proc::new("tmux")
                    .arg("-V")
                    .output()
                    .is_ok_and(|o| o.status.success());
                assert!(ok, "tmux is not installed: .ci/run installs it");
            } else {
                need(p);
            }
        }
        let dir = completions_dir();
        let bin_dir = crate::root().join("target/release");
        let mut bad = Vec::new();
        let mut total = 0;
        for (command, _) in crate::docs::tools() {
            let mut cmd = command();
            let name = cmd.get_name().to_string();
            let qs = queries(&mut cmd);
            assert!(!qs.is_empty(), "{name}: no queries derived");
            total += qs.len();
            let got = bash(&dir.join("bash").join(&name), &name, &qs).unwrap();
            report("bash", &qs, &missing_from(&qs, &got), &mut bad);
            let got = fish(&dir.join("fish").join(format!("{name}.fish")), &qs).unwrap();
            report("fish", &qs, &missing_from(&qs, &got), &mut bad);
            let missing = zsh_missing(&dir.join("zsh"), &bin_dir, &qs).unwrap();
            report("zsh", &qs, &missing, &mut bad);
        }
        assert!(
            total > 30,
            "only {total} completion queries: the walk is broken"
        );
        assert!(
            bad.is_empty(),
            "{} completion failures:\n{}",
            bad.len(),
            bad.join("\n")
        );
    }

    /// The modes are offered wherever a MODE is taken (the ValueEnum on Mode).
    #[test]
    fn mode_options_enumerate_the_six_modes() {
        let mut cmd = bd_policy::command();
        let qs = queries(&mut cmd);
        let q = qs
            .iter()
            .find(|q| q.words == ["bd-policy", "--mode"])
            .expect("bd-policy --mode is an enumerated option");
        assert_eq!(
            q.want,
            [
                "OPEN",
                "RESTRICTED",
                "TRUSTED",
                "AIRGAP",
                "COLDROOM",
                "LOCKDOWN"
            ]
        );
    }
}
