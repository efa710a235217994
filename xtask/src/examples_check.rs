//! Every example in every tool's `--help` and man page is a test: each
//! invocation of one of our tools in it must parse with that tool's own clap
//! definition, and no example line may be wrapped by the help renderer (a pasted
//! wrapped line runs a broken command).

use clap::Command;

/// The tools by name, with their clap definitions and man-page sections.
type Sections = Vec<(&'static str, &'static str)>;

fn tools() -> Vec<(String, Command, Sections)> {
    crate::docs::tools()
        .into_iter()
        .map(|(command, sections)| {
            let cmd = command();
            (cmd.get_name().to_string(), cmd, sections())
        })
        .collect()
}

/// Example command lines in a help or man text: indented lines that invoke one of
/// our tools, with `\` continuations joined, descriptions (after 2+ spaces) and `#`
/// comments cut.
pub fn example_lines(text: &str, names: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for raw in text.lines() {
        if !raw.starts_with("  ") && pending.is_empty() {
            continue;
        }
        let mut line = raw.trim().to_string();
        if let Some(i) = line.find("  ") {
            line.truncate(i);
        }
        if let Some(i) = line.find(" # ") {
            line.truncate(i);
        }
        let line = line.trim_end();
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head.trim_end());
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let full = std::mem::take(&mut pending);
        let invokes = full
            .split_whitespace()
            .any(|w| names.iter().any(|n| n == w));
        if invokes {
            out.push(full.trim().to_string());
        }
    }
    out
}

/// The argument vectors of our tools in one shell line: split on pipes and
/// lists, redirections dropped, each segment from the first word naming a tool.
pub fn invocations(line: &str, names: &[String]) -> Result<Vec<Vec<String>>, String> {
    let words = shlex::split(line).ok_or_else(|| format!("unbalanced quotes in `{line}`"))?;
    let mut segments: Vec<Vec<String>> = vec![Vec::new()];
    let mut skip_next = false;
    for w in words {
        if skip_next {
            skip_next = false;
            continue;
        }
        match w.as_str() {
            "|" | "&&" | "||" | ";" => segments.push(Vec::new()),
            "<" | ">" | ">>" | "2>" | "2>>" => skip_next = true,
            _ if w.starts_with('>') || w.starts_with('<') || w.starts_with("2>") => {}
            _ => segments.last_mut().expect("one segment").push(w),
        }
    }
    Ok(segments
        .into_iter()
        .filter_map(|seg| {
            let at = seg.iter().position(|w| names.iter().any(|n| n == w))?;
            Some(seg[at..].to_vec())
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(cmd: &Command, out: &mut Vec<(String, String)>, path: &str) {
        let here = if path.is_empty() {
            cmd.get_name().to_string()
        } else {
            format!("{path} {}", cmd.get_name())
        };
        for t in [
            cmd.get_after_help(),
            cmd.get_after_long_help(),
            cmd.get_before_help(),
            cmd.get_before_long_help(),
            cmd.get_long_about(),
            cmd.get_about(),
        ]
        .into_iter()
        .flatten()
        {
            out.push((format!("{here} --help"), t.to_string()));
        }
        for sub in cmd.get_subcommands() {
            texts(sub, out, &here);
        }
    }

    #[test]
    fn every_example_parses_with_its_tool() {
        let tools = tools();
        let names: Vec<String> = tools.iter().map(|t| t.0.clone()).collect();
        let mut bad = Vec::new();
        let mut checked = 0;
        for (name, cmd, sections) in &tools {
            let mut sources = Vec::new();
            texts(cmd, &mut sources, "");
            for (title, text) in sections.iter().filter(|s| s.0 == "EXAMPLES") {
                sources.push((format!("{name}(1) {title}"), text.to_string()));
            }
            for (origin, text) in sources {
                for line in example_lines(&text, &names) {
                    let calls = match invocations(&line, &names) {
                        Ok(c) => c,
                        Err(e) => {
                            bad.push(format!("{origin}: {e}"));
                            continue;
                        }
                    };
                    for argv in calls {
                        let tool = tools
                            .iter()
                            .find(|t| t.0 == argv[0])
                            .expect("invocations start at a tool name");
                        checked += 1;
                        if let Err(e) = tool.1.clone().try_get_matches_from(&argv) {
                            use clap::error::ErrorKind::*;
                            if !matches!(e.kind(), DisplayHelp | DisplayVersion) {
                                let msg = e.to_string();
                                let first = msg.lines().next().unwrap_or("");
                                bad.push(format!("{origin}: `{line}`: {first}"));
                            }
                        }
                    }
                }
            }
        }
        assert!(
            checked > 40,
            "only {checked} examples found: extraction broke"
        );
        assert!(
            bad.is_empty(),
            "{} examples do not parse:\n{}",
            bad.len(),
            bad.join("\n")
        );
    }

    /// At 80 columns every example line of every --help appears unbroken.
    #[test]
    fn help_never_wraps_an_example() {
        let tools = tools();
        let names: Vec<String> = tools.iter().map(|t| t.0.clone()).collect();
        let mut bad = Vec::new();
        fn visit(cmd: &Command, names: &[String], bad: &mut Vec<String>) {
            let mut c = cmd.clone().term_width(80);
            let rendered = c.render_long_help().to_string();
            for t in [cmd.get_after_help(), cmd.get_after_long_help()]
                .into_iter()
                .flatten()
            {
                for raw in t.to_string().lines() {
                    let line = raw.trim_end();
                    let trimmed = line.trim_start();
                    if raw.starts_with("  ")
                        && trimmed
                            .split_whitespace()
                            .any(|w| names.iter().any(|n| n == w))
                        && !rendered.lines().any(|r| r.trim() == trimmed)
                    {
                        bad.push(format!("{}: `{trimmed}`", cmd.get_name()));
                    }
                }
            }
            for sub in cmd.get_subcommands() {
                visit(sub, names, bad);
            }
        }
        for (_, cmd, _) in &tools {
            let mut cmd = cmd.clone();
            cmd.build();
            visit(&cmd, &names, &mut bad);
        }
        assert!(
            bad.is_empty(),
            "{} example lines are wrapped at 80 columns (keep them under 78, \
             continue long ones with `\\`):\n{}",
            bad.len(),
            bad.join("\n")
        );
    }

    #[test]
    fn extraction_handles_pipes_comments_and_continuations() {
        let names = vec!["bd-log".to_string(), "bd-watch".to_string()];
        let text = "Examples:\n  bd-watch | jq . > out   every event\n  \
                    bd-log verify -l x \\\n    -p k.pub  # nightly\nprose bd-log here\n";
        let lines = example_lines(text, &names);
        assert_eq!(
            lines,
            ["bd-watch | jq . > out", "bd-log verify -l x -p k.pub"]
        );
        let calls = invocations(&lines[1], &names).unwrap();
        assert_eq!(calls, [["bd-log", "verify", "-l", "x", "-p", "k.pub"]]);
        let calls = invocations("15 3 * * * bd-log verify && bd-watch > f", &names).unwrap();
        assert_eq!(calls, [vec!["bd-log", "verify"], vec!["bd-watch"]]);
    }
}
