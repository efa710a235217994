//! `bd-policy test POLICY CASES.jsonl`: expected decisions and rule coverage.

use anyhow::{Context, Result};
use boundary::mode::Mode;
use boundary::policy::{Engine, Policy, RateState};
use serde::Deserialize;
use std::path::Path;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// The input event; or `line`, the raw input line.
    #[serde(default)]
    event: Option<serde_json::Value>,
    #[serde(default)]
    line: Option<String>,
    #[serde(default)]
    mode: Option<Mode>,
    expect: String,
    /// Absent: any rule; null: a built-in denial; a string: that rule.
    #[serde(default)]
    rule: Option<serde_json::Value>,
    #[serde(default)]
    repeat: Option<u32>,
    /// Shown in reports.
    #[serde(default)]
    name: Option<String>,
}

pub struct Outcome {
    pub cases: usize,
    pub failed: usize,
    pub bad: usize,
    pub unhit: Vec<String>,
    /// Each mismatch, for --json: {"line","name","expected","got"}.
    pub failures: Vec<serde_json::Value>,
}

/// Run every case; print mismatches, coverage and a summary on stdout and
/// malformed case lines on stderr.
pub fn run(policy: &Policy, cases_path: &Path, json: bool) -> Result<Outcome> {
    let text = std::fs::read_to_string(cases_path)
        .with_context(|| format!("reading {}", cases_path.display()))?;
    let cp = cases_path.display();
    let mut eng = Engine::new(policy, RateState::default());
    let mut out = Outcome {
        cases: 0,
        failed: 0,
        bad: 0,
        unhit: Vec::new(),
        failures: Vec::new(),
    };
    // Rates see one decision a millisecond, from a fixed start.
    let mut now_ns: u64 = 1_700_000_000_000_000_000;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let raw = raw.trim();
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        let case: Case = match serde_json::from_str(raw) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("bd-policy: {cp}: line {n}: {e}");
                out.bad += 1;
                continue;
            }
        };
        let input = match (&case.event, &case.line) {
            (Some(ev), None) => ev.to_string(),
            (None, Some(l)) => l.clone(),
            _ => {
                eprintln!("bd-policy: {cp}: line {n}: give exactly one of \"event\" or \"line\"");
                out.bad += 1;
                continue;
            }
        };
        if !["allow", "deny", "alert", "tripwire"].contains(&case.expect.as_str()) {
            eprintln!(
                "bd-policy: {cp}: line {n}: field \"expect\": {:?} is not allow, deny, alert or tripwire",
                case.expect
            );
            out.bad += 1;
            continue;
        }
        let want_rule = match &case.rule {
            None => None,
            Some(serde_json::Value::Null) => Some(None),
            Some(serde_json::Value::String(s)) => Some(Some(s.clone())),
            Some(other) => {
                eprintln!(
                    "bd-policy: {cp}: line {n}: field \"rule\": expected a rule name or null, found {other}"
                );
                out.bad += 1;
                continue;
            }
        };
        let repeat = case.repeat.unwrap_or(1).max(1);
        let mode = case.mode.unwrap_or(Mode::Open);
        out.cases += 1;
        // Each case starts with empty rate counters: cases do not leak into
        // each other, and "repeat" exercises a rate explicitly.
        eng.rates = RateState::default();
        let mut got = None;
        for _ in 0..repeat {
            now_ns += 1_000_000;
            got = Some(eng.decide(&input, mode, now_ns));
        }
        let Some(d) = got else { continue };
        let verdict_ok = d.verdict.as_str() == case.expect;
        let rule_ok = match &want_rule {
            None => true,
            Some(w) => w.as_deref() == d.rule,
        };
        if !(verdict_ok && rule_ok) {
            out.failed += 1;
            let label = case
                .name
                .as_deref()
                .map_or(String::new(), |s| format!(" ({s})"));
            let want = match &want_rule {
                None => case.expect.clone(),
                Some(None) => format!("{} by a built-in denial", case.expect),
                Some(Some(r)) => format!("{} by rule {r:?}", case.expect),
            };
            let by = match d.rule {
                Some(r) => format!("rule {r:?}"),
                None => format!("a built-in denial: {}", eng.reason(&d)),
            };
            if json {
                out.failures
                    .push(serde_json::json!({"line":n,"name":case.name,
                    "expected":want,"got":format!("{} by {by}", d.verdict.as_str()),"mode":mode}));
            } else {
                println!(
                    "{cp}: line {n}{label}: FAIL: expected {want}, got {} by {by} (mode {mode})",
                    d.verdict.as_str()
                );
            }
        }
    }
    let names: Vec<&str> = policy.rule_names().collect();
    for (i, name) in names.iter().enumerate() {
        if eng.hits.get(i).copied().unwrap_or(0) == 0 {
            out.unhit.push((*name).to_string());
        }
    }
    if json {
        println!(
            "{}",
            boundary::json::output_line(
                "policy_test",
                serde_json::json!({"cases_file":cases_path,
                    "cases":out.cases,"passed":out.cases - out.failed,"failed":out.failed,
                    "malformed":out.bad,"rules":names.len(),"unhit":out.unhit,
                    "failures":out.failures})
            )
        );
        return Ok(out);
    }
    if out.unhit.is_empty() {
        println!("coverage: every rule was hit by some case");
    } else {
        let list: Vec<String> = out.unhit.iter().map(|r| format!("{r:?}")).collect();
        println!("coverage: rules never hit: {}", list.join(", "));
    }
    println!(
        "{} cases: {} passed, {} failed{}; {} of {} rules hit",
        out.cases,
        out.cases - out.failed,
        out.failed,
        if out.bad > 0 {
            format!(", {} malformed case lines", out.bad)
        } else {
            String::new()
        },
        names.len() - out.unhit.len(),
        names.len()
    );
    Ok(out)
}
