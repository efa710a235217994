//! Policy rules and the decision engine used by bd-policy.
//!
//! A policy is a TOML file of `[[rule]]` tables, tried in order; the first rule
//! whose conditions all hold decides. No match means deny. See bd-policy(1) for
//! the format; in short:
//!
//! ```toml
//! [[rule]]
//! name = "shell-from-web"
//! decision = "tripwire"          # allow | deny | alert | tripwire
//! tripwire = "LOCKDOWN"          # the mode to engage (implies decision = "tripwire")
//! reason = "the web server started a shell"
//! modes = ["TRUSTED", "AIRGAP"]  # only in these modes (default: every mode)
//! rate = "5/10s"                 # only once more than 5 matches in 10 s ...
//! rate_key = ["uid"]             # ... per distinct uid (default: one counter)
//! [rule.match]
//! type = "exec"                  # equality: string, number or boolean
//! uid = 33
//! filename = { glob = "{/bin,/usr/bin}/*sh" }
//! ```
//!
//! Events are parsed lazily: only the fields some rule names are decoded
//! (strings borrowed from the input line where they hold no escapes); the rest
//! is validated and skipped. Decisions copy the input line verbatim into
//! `"event"`, so nothing is re-serialised.

use crate::mode::Mode;
use anyhow::{anyhow, Context, Result};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::{self, Write as _};
use std::path::Path;
use toml::Spanned;

mod fast;
mod index;

/// Event types the tools emit (docs/EVENTS.md); any other type is denied
/// unless a rule names it explicitly.
pub const KNOWN_TYPES: &[&str] = &[
    "exec", "deny", "lost", "decision", "mode", "usb", "tripwire",
];

/// Index of `tripwire` in [`KNOWN_TYPES`]: a canary the kernel saw hit.
const TRIPWIRE_TYPE: usize = 6;

/// Slot of the `tripwire` field (slots 0 and 1 are `type` and `v`): every
/// policy reads it, for the kernel floor of a `tripwire` event.
const TRIPWIRE_SLOT: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny,
    Alert,
    Tripwire,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
            Verdict::Alert => "alert",
            Verdict::Tripwire => "tripwire",
        }
    }
}

// ---------------------------------------------------------------------------
// Policy file

/// An error in a policy file, located by line and column (1-based).
#[derive(Debug, Clone)]
pub struct PolicyError {
    pub line: usize,
    pub col: usize,
    pub msg: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}: {}", self.line, self.col, self.msg)
    }
}

fn locate(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let col = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, col)
}

// No spans inside: toml cannot give one for a table a dotted key makes
// (`ancestors.comm = ...`); errors are located by finding the key's text
// within the rule or macro (see `key_span`).
type RawMatch = BTreeMap<String, toml::Value>;

/// Where the value of `field` is written within `span` of `src` (found by
/// its first dotted component, quoted or not), or the start of `span`.
fn key_span(src: &str, span: std::ops::Range<usize>, field: &str) -> std::ops::Range<usize> {
    let first = field.split('.').next().unwrap_or(field);
    let body = src.get(span.clone()).unwrap_or("");
    let found = body.match_indices(first).find(|(i, _)| {
        let before = body[..*i].chars().next_back();
        let after = body[i + first.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
    });
    match found {
        Some((i, _)) => {
            // Point at the value (after `=`), as errors elsewhere do; for a
            // dotted key that is the value of the innermost key.
            let rest = &body[i..];
            let v = rest
                .find('=')
                .map(|e| e + 1 + (rest[e + 1..].len() - rest[e + 1..].trim_start().len()))
                .unwrap_or(0);
            span.start + i + v..span.start + i + v + 1
        }
        None => span,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    version: Option<Spanned<i64>>,
    /// Named lists: `in = "NAME"` / `not_in = "NAME"` refer to them.
    #[serde(default)]
    lists: BTreeMap<String, Spanned<toml::Value>>,
    /// Named match tables a rule pulls in with `macros = ["NAME"]`.
    #[serde(default)]
    macros: BTreeMap<String, Spanned<RawMatch>>,
    #[serde(default, rename = "rule")]
    rules: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum KeyList {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    #[serde(default)]
    decision: Option<Spanned<String>>,
    #[serde(default)]
    tripwire: Option<Spanned<String>>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    modes: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    rate: Option<Spanned<String>>,
    #[serde(default)]
    rate_key: Option<Spanned<KeyList>>,
    #[serde(default)]
    macros: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default, rename = "match")]
    matches: RawMatch,
}

/// Test names: a match value that is a table with none of these keys is a
/// nested field (`ancestors.comm = {...}` written as a dotted TOML key).
const TEST_NAMES: &[&str] = &[
    "eq", "ne", "glob", "prefix", "suffix", "contains", "in", "not_in", "lt", "le", "gt", "ge",
    "exists",
];

/// Flatten `a = { b = { in = [...] } }` into (`a.b`, `{ in = [...] }`).
fn flatten_match(field: &str, v: &toml::Value, out: &mut Vec<(String, toml::Value)>) {
    if let toml::Value::Table(t) = v {
        if !t.is_empty() && t.keys().all(|k| !TEST_NAMES.contains(&k.as_str())) {
            for (k, sub) in t {
                flatten_match(&format!("{field}.{k}"), sub, out);
            }
            return;
        }
    }
    out.push((field.to_string(), v.clone()));
}

/// How one top-level key of an event fills field slots: the whole value
/// and/or values below it (`ancestors.comm`: the `comm` of each element).
#[derive(Debug, Clone)]
struct KeyPlan {
    key: String,
    whole: Option<usize>,
    subs: Vec<(usize, Vec<String>)>,
}

fn key_plans(fields: &[String]) -> Vec<KeyPlan> {
    let mut plans: Vec<KeyPlan> = Vec::new();
    for (slot, f) in fields.iter().enumerate() {
        let mut parts = f.split('.');
        let top = parts.next().unwrap_or_default().to_string();
        let rest: Vec<String> = parts.map(str::to_string).collect();
        let i = match plans.iter().position(|p| p.key == top) {
            Some(i) => i,
            None => {
                plans.push(KeyPlan {
                    key: top,
                    whole: None,
                    subs: Vec::new(),
                });
                plans.len() - 1
            }
        };
        if rest.is_empty() {
            plans[i].whole = Some(slot);
        } else {
            plans[i].subs.push((slot, rest));
        }
    }
    plans
}

/// A JSON value as a field value.
fn val_of(v: &serde_json::Value) -> Val<'static> {
    use serde_json::Value as J;
    match v {
        J::Null => Val::Null,
        J::Bool(b) => Val::Bool(*b),
        J::Number(n) => n
            .as_u64()
            .map(Val::U)
            .or_else(|| n.as_i64().map(Val::I))
            .unwrap_or_else(|| Val::F(n.as_f64().unwrap_or(f64::NAN))),
        J::String(s) => Val::Str(Cow::Owned(s.clone())),
        J::Array(a) => Val::Arr(a.iter().map(val_of).collect()),
        J::Object(_) => Val::Obj,
    }
}

/// The value at `path` below `v`; through an array, the values of every
/// element that has it (so `ancestors.comm` is the list of their comms).
fn project(v: &serde_json::Value, path: &[String]) -> Option<Val<'static>> {
    use serde_json::Value as J;
    let Some((first, rest)) = path.split_first() else {
        return Some(val_of(v));
    };
    match v {
        J::Object(m) => m.get(first).and_then(|x| project(x, rest)),
        J::Array(a) => {
            let mut out = Vec::new();
            for x in a {
                if let J::Object(m) = x {
                    match m.get(first).and_then(|y| project(y, rest)) {
                        Some(Val::Arr(inner)) => out.extend(inner),
                        Some(y) => out.push(y),
                        None => {}
                    }
                }
            }
            Some(Val::Arr(out))
        }
        _ => None,
    }
}

/// A literal in a rule.
#[derive(Debug, Clone)]
enum Lit {
    Str(String),
    Int(i128),
    Float(f64),
    Bool(bool),
}

impl fmt::Display for Lit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lit::Str(s) => write!(f, "{s:?}"),
            Lit::Int(i) => write!(f, "{i}"),
            Lit::Float(x) => write!(f, "{x}"),
            Lit::Bool(b) => write!(f, "{b}"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug)]
enum Test {
    Eq(Lit),
    Ne(Lit),
    /// A one-pattern GlobSet rather than a GlobMatcher: the set picks a
    /// literal, prefix or suffix strategy where the pattern allows one and
    /// runs a regex only otherwise.
    Glob(globset::GlobSet, String),
    /// The common glob shapes, matched without building a globset
    /// candidate: `LIT`, `LIT/**` and `LIT*` (no `/` after LIT).
    GlobFast(FastGlob, String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    In(Vec<Lit>),
    NotIn(Vec<Lit>),
    Cmp(Op, f64),
    Exists(bool),
}

#[derive(Debug, Clone, PartialEq)]
enum FastGlob {
    Exact(String),
    /// `LIT/**`: anything below LIT/ (the string LIT/ itself included).
    Below(String),
    /// `LIT*`: LIT followed by anything without a `/`.
    OneComponent(String),
}

impl FastGlob {
    fn parse(pat: &str) -> Option<FastGlob> {
        let lit = |x: &str| !x.contains(['*', '?', '[', ']', '{', '}', '\\']);
        if lit(pat) {
            return Some(FastGlob::Exact(pat.to_string()));
        }
        if let Some(p) = pat.strip_suffix("/**") {
            if lit(p) {
                return Some(FastGlob::Below(format!("{p}/")));
            }
        }
        if let Some(p) = pat.strip_suffix('*') {
            if lit(p) && !p.ends_with('*') {
                return Some(FastGlob::OneComponent(p.to_string()));
            }
        }
        None
    }

    fn is_match(&self, s: &str) -> bool {
        match self {
            FastGlob::Exact(x) => s == x,
            FastGlob::Below(p) => s.starts_with(p.as_str()),
            FastGlob::OneComponent(p) => s
                .strip_prefix(p.as_str())
                .is_some_and(|rest| !rest.contains('/')),
        }
    }
}

#[derive(Debug)]
struct Cond {
    slot: usize,
    test: Test,
}

#[derive(Debug, Clone, Copy)]
struct Rate {
    count: usize,
    window_ns: u64,
}

#[derive(Debug)]
struct Rule {
    name: String,
    verdict: Verdict,
    tripwire: Option<Mode>,
    reason: String,
    /// Bit i set = applies in the mode with value i; all bits = any mode.
    modes: u8,
    conds: Vec<Cond>,
    /// `type = "X"` taken out of `conds`: X's index (see `Policy::type_index`),
    /// so each rule compares an integer instead of a string.
    only_type: Option<usize>,
    rate: Option<Rate>,
    rate_key: Vec<usize>,
    /// Pre-rendered `"decision":…,"rule":…,"reason":…` fragment.
    json: String,
    /// Pre-rendered `"tripwire":…` value.
    tripwire_json: &'static str,
}

impl Rule {
    fn is_default(&self) -> bool {
        self.conds.is_empty()
            && self.only_type.is_none()
            && self.modes == ALL_MODES
            && self.rate.is_none()
    }
}

const ALL_MODES: u8 = 0b11_1111;

/// A compiled policy.
#[derive(Debug)]
pub struct Policy {
    rules: Vec<Rule>,
    /// Field name of each slot; slot 0 is `type`, slot 1 is `v`.
    fields: Vec<String>,
    /// Event types accepted besides [`KNOWN_TYPES`] (named by rules).
    extra_types: Vec<String>,
    /// How each top-level event key fills the slots (see [`KeyPlan`]).
    plans: Vec<KeyPlan>,
    /// `rules[..n_base]` are the policy's own; the rest come from overlays
    /// and can only make a decision stricter (see [`Policy::add_overlay`]).
    n_base: usize,
    /// Non-fatal findings (e.g. no default rule).
    pub warnings: Vec<String>,
}

impl Policy {
    /// Read and compile a policy file; errors carry line and column.
    pub fn load(path: &Path) -> Result<Policy> {
        let src =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Policy::parse(&src).map_err(|errs| {
            let lines: Vec<String> = errs
                .iter()
                .map(|e| format!("{}: {e}", path.display()))
                .collect();
            anyhow!("{}", lines.join("\n"))
        })
    }

    /// Compile policy text, reporting every error found.
    pub fn parse(src: &str) -> std::result::Result<Policy, Vec<PolicyError>> {
        Policy::parse_as(src, false)
    }

    /// Compile an overlay: like a policy, but a rule may not allow.
    pub fn parse_overlay(src: &str) -> std::result::Result<Policy, Vec<PolicyError>> {
        Policy::parse_as(src, true)
    }

    /// Read an overlay file and add its rules after this policy's own.
    /// An overlay can only tighten: its rules may not allow, and its
    /// decision counts only where it is stricter than the policy's own
    /// (allow < alert < deny < tripwire; between tripwires the stricter
    /// mode), so no overlay turns a deny into an allow.
    pub fn add_overlay_file(&mut self, path: &Path) -> Result<()> {
        let src =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let o = Policy::parse_overlay(&src).map_err(|errs| {
            let lines: Vec<String> = errs
                .iter()
                .map(|e| format!("{}: {e}", path.display()))
                .collect();
            anyhow!("{}", lines.join("\n"))
        })?;
        self.add_overlay(o)
            .map_err(|e| anyhow!("{}: {e}", path.display()))
    }

    /// See [`Policy::add_overlay_file`].
    pub fn add_overlay(&mut self, o: Policy) -> std::result::Result<(), String> {
        for r in &o.rules {
            if r.verdict == Verdict::Allow {
                return Err(format!("overlay rule {:?} allows", r.name));
            }
            if self.rules.iter().any(|x| x.name == r.name) {
                return Err(format!(
                    "overlay rule {:?}: a rule of that name already exists",
                    r.name
                ));
            }
        }
        for t in &o.extra_types {
            if !KNOWN_TYPES.contains(&t.as_str()) && !self.extra_types.contains(t) {
                self.extra_types.push(t.clone());
            }
        }
        let Policy {
            rules: orules,
            fields: ofields,
            extra_types: otypes,
            warnings: owarnings,
            ..
        } = o;
        let otype = |t: usize| {
            KNOWN_TYPES
                .get(t)
                .copied()
                .unwrap_or_else(|| &otypes[t - KNOWN_TYPES.len()])
        };
        for mut r in orules {
            for c in &mut r.conds {
                c.slot = self.slot(&ofields[c.slot]);
            }
            for k in &mut r.rate_key {
                *k = self.slot(&ofields[*k]);
            }
            r.only_type = r.only_type.and_then(|t| self.type_index(otype(t)));
            self.rules.push(r);
        }
        self.warnings.extend(owarnings);
        self.plans = key_plans(&self.fields);
        Ok(())
    }

    /// True if the rule at `i` came from an overlay.
    pub fn is_overlay_rule(&self, i: usize) -> bool {
        i >= self.n_base
    }

    /// Rule names in order (base rules, then overlay rules).
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }

    fn parse_as(src: &str, overlay: bool) -> std::result::Result<Policy, Vec<PolicyError>> {
        let err_at = |span: std::ops::Range<usize>, msg: String| {
            let (line, col) = locate(src, span.start);
            PolicyError { line, col, msg }
        };
        let raw: RawPolicy = toml::from_str(src).map_err(|e| {
            let (line, col) = e.span().map_or((1, 1), |s| locate(src, s.start));
            vec![PolicyError {
                line,
                col,
                msg: e.message().trim().to_string(),
            }]
        })?;
        let mut errs = Vec::new();
        if let Some(v) = &raw.version {
            if *v.get_ref() != 1 {
                errs.push(err_at(
                    v.span(),
                    format!("version {} unsupported (1)", v.get_ref()),
                ));
            }
        }
        let mut p = Policy {
            rules: Vec::new(),
            fields: vec!["type".into(), "v".into(), "tripwire".into()],
            extra_types: Vec::new(),
            plans: Vec::new(),
            n_base: 0,
            warnings: Vec::new(),
        };
        let mut lists: HashMap<String, Vec<Lit>> = HashMap::new();
        for (name, v) in &raw.lists {
            match v.get_ref() {
                toml::Value::Array(a) => match a.iter().map(lit).collect() {
                    Ok(ls) => {
                        lists.insert(name.clone(), ls);
                    }
                    Err(e) => errs.push(err_at(v.span(), format!("lists.{name}: {e}"))),
                },
                other => errs.push(err_at(
                    v.span(),
                    format!(
                        "lists.{name}: expected an array, found {}",
                        other.type_str()
                    ),
                )),
            }
        }
        let mut names: HashMap<String, usize> = HashMap::new();
        for (idx, sr) in raw.rules.iter().enumerate() {
            let rule_span = sr.span();
            let r = sr.get_ref();
            let name = r.name.get_ref().clone();
            if name.is_empty() {
                errs.push(err_at(r.name.span(), "rule name is empty".into()));
            }
            if let Some(prev) = names.insert(name.clone(), idx) {
                errs.push(err_at(
                    r.name.span(),
                    format!("duplicate rule name {name:?} (also rule {})", prev + 1),
                ));
            }
            let mut tripwire = None;
            if let Some(t) = &r.tripwire {
                match t.get_ref().parse::<Mode>() {
                    Ok(m) => tripwire = Some(m),
                    Err(e) => errs.push(err_at(t.span(), format!("tripwire: {e}"))),
                }
            }
            let verdict = match &r.decision {
                Some(d) => match d.get_ref().as_str() {
                    "allow" => Verdict::Allow,
                    "deny" => Verdict::Deny,
                    "alert" => Verdict::Alert,
                    "tripwire" => Verdict::Tripwire,
                    other => {
                        errs.push(err_at(
                            d.span(),
                            format!("decision {other:?} unknown (allow, deny, alert or tripwire)"),
                        ));
                        Verdict::Deny
                    }
                },
                None if tripwire.is_some() => Verdict::Tripwire,
                None => {
                    errs.push(err_at(
                        r.name.span(),
                        format!("rule {name:?} has no decision (allow, deny, alert or tripwire)"),
                    ));
                    Verdict::Deny
                }
            };
            if overlay && verdict == Verdict::Allow {
                let span = r.decision.as_ref().map_or(r.name.span(), |d| d.span());
                errs.push(err_at(
                    span,
                    format!("rule {name:?}: an overlay can only tighten: decision \"allow\" is refused (deny, alert or tripwire)"),
                ));
            }
            if tripwire.is_some() && verdict != Verdict::Tripwire {
                if let Some(t) = &r.tripwire {
                    errs.push(err_at(
                        t.span(),
                        format!("tripwire set but decision is {:?}", verdict.as_str()),
                    ));
                }
            }
            if verdict == Verdict::Tripwire && tripwire.is_none() {
                tripwire = Some(Mode::Lockdown);
            }
            let mut modes = ALL_MODES;
            if let Some(ms) = &r.modes {
                modes = 0;
                if ms.get_ref().is_empty() {
                    errs.push(err_at(
                        ms.span(),
                        "modes is empty: the rule never applies".into(),
                    ));
                }
                for m in ms.get_ref() {
                    match m.get_ref().parse::<Mode>() {
                        Ok(m) => modes |= 1 << (m as u32),
                        Err(e) => errs.push(err_at(m.span(), e)),
                    }
                }
            }
            let mut rate = None;
            if let Some(rs) = &r.rate {
                match parse_rate(rs.get_ref()) {
                    Ok(x) => rate = Some(x),
                    Err(e) => errs.push(err_at(rs.span(), e)),
                }
            }
            let mut rate_key = Vec::new();
            if let Some(k) = &r.rate_key {
                if rate.is_none() {
                    errs.push(err_at(k.span(), "rate_key without rate".into()));
                }
                let keys = match k.get_ref() {
                    KeyList::One(s) => vec![s.clone()],
                    KeyList::Many(v) => v.clone(),
                };
                for key in keys {
                    rate_key.push(p.slot(&key));
                }
            }
            let mut conds = Vec::new();
            // Macros first, then the rule's own match: all must hold.
            let mut tables: Vec<(&str, &RawMatch, std::ops::Range<usize>)> = Vec::new();
            if let Some(ms) = &r.macros {
                for m in ms.get_ref() {
                    match raw.macros.get(m.get_ref()) {
                        Some(t) => tables.push((m.get_ref(), t.get_ref(), t.span())),
                        None => errs.push(err_at(
                            m.span(),
                            format!(
                                "unknown macro {:?} (define it under [macros.{}])",
                                m.get_ref(),
                                m.get_ref()
                            ),
                        )),
                    }
                }
            }
            // toml gives array-of-tables elements no useful span: the rule
            // runs from its name to the next array header.
            let rstart = r.name.span().start;
            let rend = src[rstart..].find("\n[[").map_or(src.len(), |i| rstart + i);
            tables.push(("", &r.matches, rstart..rend));
            for (mac, table, tspan) in tables {
                for (field, val) in table {
                    let mut flat = Vec::new();
                    flatten_match(field, val, &mut flat);
                    for (fname, v) in flat {
                        let slot = p.slot(&fname);
                        match compile_tests(&v, &lists) {
                            Ok(tests) => {
                                for test in tests {
                                    if slot == 0 {
                                        p.note_type(&test);
                                    }
                                    conds.push(Cond { slot, test });
                                }
                            }
                            Err(e) if mac.is_empty() => errs.push(err_at(
                                key_span(src, tspan.clone(), field),
                                format!("match.{fname}: {e}"),
                            )),
                            Err(e) => errs.push(err_at(
                                key_span(src, tspan.clone(), field),
                                format!("macros.{mac}.{fname}: {e}"),
                            )),
                        }
                    }
                }
            }
            let reason = r
                .reason
                .clone()
                .unwrap_or_else(|| format!("matched rule {name:?}"));
            let mut json = String::new();
            let _ = write!(
                json,
                "\"decision\":\"{}\",\"rule\":{},\"reason\":{}",
                verdict.as_str(),
                serde_json::Value::String(name.clone()),
                serde_json::Value::String(reason.clone())
            );
            let tripwire_json = match tripwire {
                Some(m) => mode_json(m),
                None => "null",
            };
            let mut only_type = None;
            if let Some(i) = conds
                .iter()
                .position(|c| c.slot == 0 && matches!(c.test, Test::Eq(Lit::Str(_))))
            {
                if let Test::Eq(Lit::Str(t)) = &conds[i].test {
                    only_type = p.type_index(t);
                }
                if only_type.is_some() {
                    conds.remove(i);
                }
            }
            let rule = Rule {
                name,
                verdict,
                tripwire,
                reason,
                modes,
                conds,
                only_type,
                rate,
                rate_key,
                json,
                tripwire_json,
            };
            if let Some(prev) = p.rules.iter().position(|x| x.is_default()) {
                let (line, col) = locate(src, rule_span.start);
                p.warnings.push(format!(
                    "line {line}, column {col}: rule {:?} is never reached: rule {:?} before it matches every event",
                    rule.name, p.rules[prev].name
                ));
            }
            p.rules.push(rule);
        }
        for (name, m) in &raw.macros {
            if !raw.rules.iter().any(|r| {
                r.get_ref()
                    .macros
                    .as_ref()
                    .is_some_and(|ms| ms.get_ref().iter().any(|x| x.get_ref() == name))
            }) {
                let (line, col) = locate(src, m.span().start);
                p.warnings.push(format!(
                    "line {line}, column {col}: macro {name:?} is not used by any rule"
                ));
            }
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        p.plans = key_plans(&p.fields);
        p.n_base = p.rules.len();
        if !overlay && !p.rules.iter().any(Rule::is_default) {
            p.warnings.push(
                "no default rule (a last rule without match, modes or rate): unmatched events are denied"
                    .into(),
            );
        }
        Ok(p)
    }

    /// Index of an event type among the types this policy accepts.
    fn type_index(&self, t: &str) -> Option<usize> {
        KNOWN_TYPES.iter().position(|k| *k == t).or_else(|| {
            self.extra_types
                .iter()
                .position(|k| k == t)
                .map(|i| i + KNOWN_TYPES.len())
        })
    }

    fn type_name(&self, i: usize) -> &str {
        KNOWN_TYPES
            .get(i)
            .copied()
            .unwrap_or_else(|| &self.extra_types[i - KNOWN_TYPES.len()])
    }

    fn slot(&mut self, field: &str) -> usize {
        if let Some(i) = self.fields.iter().position(|f| f == field) {
            return i;
        }
        self.fields.push(field.to_string());
        self.fields.len() - 1
    }

    fn note_type(&mut self, t: &Test) {
        let mut add = |s: &str| {
            if !KNOWN_TYPES.contains(&s) && !self.extra_types.iter().any(|x| x == s) {
                self.extra_types.push(s.to_string());
            }
        };
        match t {
            Test::Eq(Lit::Str(s)) => add(s),
            Test::In(v) => v.iter().for_each(|l| {
                if let Lit::Str(s) = l {
                    add(s)
                }
            }),
            _ => {}
        }
    }

    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// True if any rule has a rate (the caller should keep a rate state file).
    pub fn uses_rates(&self) -> bool {
        self.rules.iter().any(|r| r.rate.is_some())
    }
}

fn mode_json(m: Mode) -> &'static str {
    match m {
        Mode::Open => "\"OPEN\"",
        Mode::Restricted => "\"RESTRICTED\"",
        Mode::Trusted => "\"TRUSTED\"",
        Mode::Airgap => "\"AIRGAP\"",
        Mode::Coldroom => "\"COLDROOM\"",
        Mode::Lockdown => "\"LOCKDOWN\"",
    }
}

fn parse_rate(s: &str) -> std::result::Result<Rate, String> {
    let bad = || format!("rate {s:?}: expected COUNT/DURATION, e.g. \"5/10s\"");
    let (n, d) = s.split_once('/').ok_or_else(bad)?;
    let count: usize = n.trim().parse().map_err(|_| bad())?;
    let d = d.trim();
    // "5/s" means per one second.
    let d = if d.starts_with(|c: char| c.is_ascii_digit()) {
        d.to_string()
    } else {
        format!("1{d}")
    };
    let window = humantime::parse_duration(&d).map_err(|e| format!("{}: {e}", bad()))?;
    if window.is_zero() {
        return Err(format!("rate {s:?}: the window must be longer than zero"));
    }
    if count > 100_000 {
        return Err(format!("rate {s:?}: count above 100000 is not supported"));
    }
    Ok(Rate {
        count,
        window_ns: window.as_nanos().min(u64::MAX as u128) as u64,
    })
}

fn lit(v: &toml::Value) -> std::result::Result<Lit, String> {
    Ok(match v {
        toml::Value::String(s) => Lit::Str(s.clone()),
        toml::Value::Integer(i) => Lit::Int(*i as i128),
        toml::Value::Float(f) => Lit::Float(*f),
        toml::Value::Boolean(b) => Lit::Bool(*b),
        other => {
            return Err(format!(
                "expected a string, number or boolean, found {}",
                other.type_str()
            ))
        }
    })
}

fn compile_tests(
    v: &toml::Value,
    lists: &HashMap<String, Vec<Lit>>,
) -> std::result::Result<Vec<Test>, String> {
    let table = match v {
        toml::Value::Table(t) => t,
        toml::Value::Array(_) => {
            return Err(
                "an array is ambiguous here: write { in = [...] } for set membership".into(),
            )
        }
        other => return Ok(vec![Test::Eq(lit(other)?)]),
    };
    if table.is_empty() {
        return Err("empty test table".into());
    }
    let mut out = Vec::new();
    for (op, arg) in table {
        let s = || match arg {
            toml::Value::String(s) => Ok(s.clone()),
            _ => Err(format!("{op}: expected a string")),
        };
        let num = || match arg {
            toml::Value::Integer(i) => Ok(*i as f64),
            toml::Value::Float(f) => Ok(*f),
            _ => Err(format!("{op}: expected a number")),
        };
        let list = || match arg {
            toml::Value::Array(a) => a
                .iter()
                .map(lit)
                .collect::<std::result::Result<Vec<_>, _>>(),
            toml::Value::String(name) => lists
                .get(name)
                .cloned()
                .ok_or_else(|| format!("{op}: unknown list {name:?} (define it under [lists])")),
            _ => Err(format!("{op}: expected an array or the name of a list")),
        };
        out.push(match op.as_str() {
            "eq" => Test::Eq(lit(arg)?),
            "ne" => Test::Ne(lit(arg)?),
            "glob" => {
                let pat = s()?;
                // Validate with globset even when the fast form is used.
                let g = globset::GlobBuilder::new(&pat)
                    .literal_separator(true)
                    .backslash_escape(true)
                    .build()
                    .map_err(|e| format!("glob {pat:?}: {}", e.kind()))?;
                let set = globset::GlobSetBuilder::new()
                    .add(g)
                    .build()
                    .map_err(|e| format!("glob {pat:?}: {}", e.kind()))?;
                match FastGlob::parse(&pat) {
                    Some(f) => Test::GlobFast(f, pat),
                    None => Test::Glob(set, pat),
                }
            }
            "prefix" => Test::Prefix(s()?),
            "suffix" => Test::Suffix(s()?),
            "contains" => Test::Contains(s()?),
            "in" => Test::In(list()?),
            "not_in" => Test::NotIn(list()?),
            "lt" => Test::Cmp(Op::Lt, num()?),
            "le" => Test::Cmp(Op::Le, num()?),
            "gt" => Test::Cmp(Op::Gt, num()?),
            "ge" => Test::Cmp(Op::Ge, num()?),
            "exists" => match arg {
                toml::Value::Boolean(b) => Test::Exists(*b),
                _ => return Err("exists: expected true or false".into()),
            },
            other => {
                return Err(format!(
                    "unknown test {other:?} (eq, ne, glob, prefix, suffix, contains, in, not_in, lt, le, gt, ge, exists)"
                ))
            }
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Events: lazily decoded fields

/// A decoded JSON value of a field some rule names.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    Null,
    Bool(bool),
    U(u64),
    I(i64),
    F(f64),
    Str(Cow<'a, str>),
    Arr(Vec<Val<'a>>),
    Obj,
}

impl fmt::Display for Val<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Null => f.write_str("null"),
            Val::Bool(b) => write!(f, "{b}"),
            Val::U(u) => write!(f, "{u}"),
            Val::I(i) => write!(f, "{i}"),
            Val::F(x) => write!(f, "{x}"),
            Val::Str(s) => write!(f, "{s:?}"),
            Val::Arr(a) => {
                f.write_str("[")?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Val::Obj => f.write_str("{…}"),
        }
    }
}

/// A field value at `depth` (its enclosing container's depth): the checks
/// of [`crate::json`] (depth bound, unique keys) apply inside it too.
#[derive(Clone, Copy)]
struct ValVisitor {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ValVisitor {
    type Value = Val<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Val<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValVisitor {
    type Value = Val<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> std::result::Result<Val<'de>, E> {
        Ok(Val::Null)
    }
    fn visit_bool<E>(self, b: bool) -> std::result::Result<Val<'de>, E> {
        Ok(Val::Bool(b))
    }
    fn visit_u64<E>(self, u: u64) -> std::result::Result<Val<'de>, E> {
        Ok(Val::U(u))
    }
    fn visit_i64<E>(self, i: i64) -> std::result::Result<Val<'de>, E> {
        Ok(Val::I(i))
    }
    fn visit_f64<E>(self, x: f64) -> std::result::Result<Val<'de>, E> {
        Ok(Val::F(x))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> std::result::Result<Val<'de>, E> {
        Ok(Val::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> std::result::Result<Val<'de>, E> {
        Ok(Val::Str(Cow::Owned(s.to_string())))
    }
    fn visit_string<E>(self, s: String) -> std::result::Result<Val<'de>, E> {
        Ok(Val::Str(Cow::Owned(s)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> std::result::Result<Val<'de>, A::Error> {
        let inner = ValVisitor {
            depth: self.depth + 1,
        };
        if inner.depth > crate::json::MAX_DEPTH {
            return Err(de::Error::custom(format_args!(
                "nesting deeper than {} levels (the input limit)",
                crate::json::MAX_DEPTH
            )));
        }
        let mut v = Vec::new();
        while let Some(x) = a.next_element_seed(inner)? {
            v.push(x);
        }
        Ok(Val::Arr(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, a: A) -> std::result::Result<Val<'de>, A::Error> {
        crate::json::Checked { depth: self.depth }.visit_map(a)?;
        Ok(Val::Obj)
    }
}

/// The strict reader: every field `plans` names into `slots`, the whole
/// line checked by serde_json and [`crate::json`] (duplicate keys, depth).
fn read_strict<'a>(
    line: &'a str,
    plans: &[KeyPlan],
    slots: &mut [Option<Val<'a>>],
) -> std::result::Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(line);
    EventSeed { plans, slots }
        .deserialize(&mut de)
        .and_then(|_| de.end())
}

struct EventSeed<'p, 'a> {
    plans: &'p [KeyPlan],
    slots: &'p mut [Option<Val<'a>>],
}

impl<'de> DeserializeSeed<'de> for EventSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EventSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> std::result::Result<(), A::Error> {
        use crate::json::{Checked, Key, KeySet, StrictValue};
        // A repeated key, anywhere in the event and whether or not a rule
        // names it, could mean one thing to us and another to the next
        // reader: refuse it (crate::json checks below the top level).
        let mut keys = KeySet::default();
        let inner = 1;
        while let Some(Key(k)) = a.next_key::<Key<'de>>()? {
            keys.insert(k.clone())?;
            let Some(plan) = self.plans.iter().find(|p| crate::json::key_eq(&p.key, &k)) else {
                a.next_value_seed(Checked { depth: inner })?;
                continue;
            };
            if plan.subs.is_empty() {
                let v = a.next_value_seed(ValVisitor { depth: inner })?;
                if let Some(i) = plan.whole {
                    self.slots[i] = Some(v);
                }
                continue;
            }
            // Nested fields (rare: ancestors.comm and the like) go through a
            // parsed value; plain fields stay borrowed and lazy.
            let v = a.next_value_seed(StrictValue { depth: inner })?;
            if let Some(i) = plan.whole {
                self.slots[i] = Some(val_of(&v));
            }
            for (slot, path) in &plan.subs {
                if let Some(x) = project(&v, path) {
                    self.slots[*slot] = Some(x);
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Matching

fn num_of(v: &Val) -> Option<f64> {
    match v {
        Val::U(u) => Some(*u as f64),
        Val::I(i) => Some(*i as f64),
        Val::F(x) => Some(*x),
        _ => None,
    }
}

fn lit_eq(v: &Val, l: &Lit) -> bool {
    match (v, l) {
        (Val::Str(s), Lit::Str(t)) => s == t,
        (Val::Bool(a), Lit::Bool(b)) => a == b,
        (Val::U(u), Lit::Int(i)) => *u as i128 == *i,
        (Val::I(u), Lit::Int(i)) => *u as i128 == *i,
        (Val::F(x), Lit::Int(i)) => *x == *i as f64,
        (v, Lit::Float(x)) => num_of(v) == Some(*x),
        _ => false,
    }
}

/// A test on one scalar value.
fn test_scalar(v: &Val, t: &Test) -> bool {
    match t {
        Test::Eq(l) => lit_eq(v, l),
        Test::Ne(l) => !lit_eq(v, l),
        Test::Glob(g, _) => matches!(v, Val::Str(s) if g.is_match(s.as_ref())),
        Test::GlobFast(g, _) => matches!(v, Val::Str(s) if g.is_match(s)),
        Test::Prefix(p) => matches!(v, Val::Str(s) if s.starts_with(p.as_str())),
        Test::Suffix(p) => matches!(v, Val::Str(s) if s.ends_with(p.as_str())),
        Test::Contains(p) => matches!(v, Val::Str(s) if s.contains(p.as_str())),
        Test::In(ls) => ls.iter().any(|l| lit_eq(v, l)),
        Test::NotIn(ls) => !ls.iter().any(|l| lit_eq(v, l)),
        Test::Cmp(op, x) => match num_of(v) {
            Some(n) => match op {
                Op::Lt => n < *x,
                Op::Le => n <= *x,
                Op::Gt => n > *x,
                Op::Ge => n >= *x,
            },
            None => false,
        },
        Test::Exists(_) => true,
    }
}

/// Does the field value pass the test? A missing field passes only
/// `exists = false`; an array field passes a positive test if any element
/// does and a negative test (`ne`, `not_in`) if every element does.
fn test_value(v: Option<&Val>, t: &Test) -> bool {
    match (v, t) {
        (None, Test::Exists(want)) => !*want,
        (None, _) => false,
        (Some(_), Test::Exists(want)) => *want,
        (Some(Val::Arr(a)), Test::Ne(_) | Test::NotIn(_)) => a.iter().all(|x| test_scalar(x, t)),
        (Some(Val::Arr(a)), _) => a.iter().any(|x| test_scalar(x, t)),
        (Some(v), _) => test_scalar(v, t),
    }
}

fn describe_test(t: &Test) -> String {
    let list = |ls: &[Lit]| {
        ls.iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match t {
        Test::Eq(l) => format!("= {l}"),
        Test::Ne(l) => format!("!= {l}"),
        Test::Glob(_, p) | Test::GlobFast(_, p) => format!("matches glob {p:?}"),
        Test::Prefix(p) => format!("starts with {p:?}"),
        Test::Suffix(p) => format!("ends with {p:?}"),
        Test::Contains(p) => format!("contains {p:?}"),
        Test::In(ls) => format!("in [{}]", list(ls)),
        Test::NotIn(ls) => format!("not in [{}]", list(ls)),
        Test::Cmp(op, x) => format!(
            "{} {x}",
            match op {
                Op::Lt => "<",
                Op::Le => "<=",
                Op::Gt => ">",
                Op::Ge => ">=",
            }
        ),
        Test::Exists(b) => (if *b { "exists" } else { "is absent" }).into(),
    }
}

// ---------------------------------------------------------------------------
// Rates

/// Per-rule, per-key timestamps (unix ns) of recent matches.
#[derive(Debug, Default)]
pub struct RateState {
    rules: HashMap<String, HashMap<String, VecDeque<u64>>>,
    dirty: bool,
}

#[derive(serde::Serialize, Deserialize)]
struct RateFile {
    v: u32,
    rules: BTreeMap<String, BTreeMap<String, Vec<u64>>>,
}

impl RateState {
    /// Load from a file; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<RateState> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RateState::default()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let f: RateFile = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a bd-policy rate state file", path.display()))?;
        Ok(RateState {
            rules: f
                .rules
                .into_iter()
                .map(|(r, ks)| (r, ks.into_iter().map(|(k, v)| (k, v.into())).collect()))
                .collect(),
            dirty: false,
        })
    }

    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Write atomically, dropping keys with no match inside their window.
    pub fn save(&mut self, path: &Path, policy: &Policy, now_ns: u64) -> Result<()> {
        let mut f = RateFile {
            v: 1,
            rules: BTreeMap::new(),
        };
        for r in &policy.rules {
            let (Some(rate), Some(keys)) = (r.rate, self.rules.get_mut(&r.name)) else {
                continue;
            };
            keys.retain(|_, q| q.back().is_some_and(|&t| t + rate.window_ns >= now_ns));
            if !keys.is_empty() {
                f.rules.insert(
                    r.name.clone(),
                    keys.iter()
                        .map(|(k, q)| (k.clone(), q.iter().copied().collect()))
                        .collect(),
                );
            }
        }
        // Random O_EXCL temp name in a directory only root can write: a
        // planted symlink can never redirect this write.
        let body = serde_json::to_vec(&f)?;
        crate::safefile::write_atomic(path, &body, 0o600)?;
        self.dirty = false;
        Ok(())
    }

    /// Record a match at `now` and say whether the count in the window now
    /// exceeds the rule's limit.
    fn hit(&mut self, rule: &str, key: String, rate: Rate, now: u64, record: bool) -> usize {
        let keys = self.rules.entry(rule.to_string()).or_default();
        let q = keys.entry(key).or_default();
        while q.front().is_some_and(|&t| t + rate.window_ns < now) {
            q.pop_front();
        }
        if !record {
            return q.len() + 1;
        }
        q.push_back(now);
        // Only the newest count+1 times can decide "more than count".
        while q.len() > rate.count + 1 {
            q.pop_front();
        }
        self.dirty = true;
        q.len()
    }
}

// ---------------------------------------------------------------------------
// Deciding

/// Reusable scratch space for [`Policy::decide`].
pub struct Engine<'p> {
    pub policy: &'p Policy,
    pub rates: RateState,
    /// Per rule (in policy order): how often it was the first match of its
    /// layer (the policy's own rules, or the overlays'). For coverage.
    pub hits: Vec<u64>,
    index: index::RuleIndex,
    /// Scratch for the candidate set of the event being decided.
    cand: Vec<u64>,
    /// The fast scanner and its scratch space.
    scanner: fast::Scanner,
    /// Try [`fast::Scanner`] before the strict reader (off only to measure or
    /// test the strict reader alone).
    pub fast: bool,
}

fn rank(v: Verdict) -> u8 {
    match v {
        Verdict::Allow => 0,
        Verdict::Alert => 1,
        Verdict::Deny => 2,
        Verdict::Tripwire => 3,
    }
}

fn rule_stricter(a: &Rule, b: &Rule) -> bool {
    let (x, y) = (rank(a.verdict), rank(b.verdict));
    x > y || (x == y && x == 3 && a.tripwire > b.tripwire)
}

/// Is overlay rule `r` stricter than decision `d`? Equal is not stricter:
/// the policy's own rule keeps the decision.
fn stricter(r: &Rule, d: &Decision) -> bool {
    let (a, b) = (rank(r.verdict), rank(d.verdict));
    a > b || (a == b && a == 3 && r.tripwire > d.tripwire)
}

/// The outcome for one input line.
#[derive(Debug)]
pub struct Decision<'p> {
    pub verdict: Verdict,
    /// The rule that decided; `None` for built-in denials.
    pub rule: Option<&'p str>,
    /// Built-in denial reason (malformed input, unknown type, no match).
    pub builtin_reason: Option<String>,
    pub tripwire: Option<Mode>,
    rule_idx: Option<usize>,
}

impl Decision<'_> {
    /// A built-in denial for input the engine never saw (e.g. not UTF-8).
    pub fn malformed(reason: String) -> Self {
        Decision::builtin(reason)
    }

    fn builtin(reason: String) -> Self {
        Decision {
            verdict: Verdict::Deny,
            rule: None,
            builtin_reason: Some(reason),
            tripwire: None,
            rule_idx: None,
        }
    }
}

fn rate_key(slots: &[Option<Val>], keys: &[usize]) -> String {
    let mut k = String::new();
    for (i, &s) in keys.iter().enumerate() {
        if i > 0 {
            k.push('\u{1f}');
        }
        match &slots[s] {
            Some(Val::Str(x)) => k.push_str(x),
            Some(v) => {
                let _ = write!(k, "{v}");
            }
            None => k.push_str("(absent)"),
        }
    }
    k
}

/// The mode a kernel `tripwire` event says the kernel has already engaged
/// (a canary was executed or opened). A mode that does not read is
/// LOCKDOWN (fail closed).
fn kernel_mode(slots: &[Option<Val>]) -> Mode {
    match &slots[TRIPWIRE_SLOT] {
        Some(Val::Str(m)) => m.parse::<Mode>().unwrap_or(Mode::Lockdown),
        _ => Mode::Lockdown,
    }
}

/// Whatever the rules say about a kernel `tripwire` event, the decision is
/// at least that tripwire, so bd-lock records the mode the kernel already
/// engaged. Returns the decision and whether the floor overrode the rules.
fn kernel_floor(d: Decision<'_>, kernel: Mode) -> (Decision<'_>, bool) {
    if d.verdict == Verdict::Tripwire && d.tripwire >= Some(kernel) {
        return (d, false);
    }
    (
        Decision {
            verdict: Verdict::Tripwire,
            rule: None,
            builtin_reason: Some(format!(
                "a canary was hit: the kernel raised the mode to at least {kernel}"
            )),
            tripwire: Some(kernel),
            rule_idx: None,
        },
        true,
    )
}

impl<'p> Engine<'p> {
    pub fn new(policy: &'p Policy, rates: RateState) -> Self {
        let index = index::RuleIndex::new(&policy.rules);
        let cand = Vec::with_capacity(index.words());
        Engine {
            policy,
            rates,
            hits: vec![0; policy.rules.len()],
            index,
            cand,
            scanner: fast::Scanner::new(&policy.plans),
            fast: true,
        }
    }

    /// Decide one line (without its newline). `now_ns` is the wall clock in
    /// unix ns (rates). Never fails: bad input is a deny.
    pub fn decide(&mut self, line: &str, mode: Mode, now_ns: u64) -> Decision<'p> {
        self.decide_with(line, mode, now_ns, true, false)
    }

    /// [`Engine::decide`] for a line not yet known to be UTF-8: the line
    /// as text and its decision, or why it is not UTF-8 (the caller words
    /// that denial). The fast scanner's first pass over the line also
    /// tells whether it is all ASCII, which spares the usual line a
    /// separate UTF-8 pass (5 % of a bulk run).
    pub fn decide_bytes<'a>(
        &mut self,
        line: &'a [u8],
        mode: Mode,
        now_ns: u64,
    ) -> Result<(&'a str, Decision<'p>), std::str::Utf8Error> {
        let prepared = self.fast && line.len() < u32::MAX as usize;
        let text = if prepared && self.scanner.prepare(line) {
            // SAFETY: `prepare` found no byte of 0x80 or more in `line`
            // (its proptests hold it to `is_ascii`): all ASCII, and ASCII
            // is UTF-8.
            unsafe { std::str::from_utf8_unchecked(line) }
        } else {
            std::str::from_utf8(line)?
        };
        Ok((text, self.decide_with(text, mode, now_ns, true, prepared)))
    }

    /// [`Engine::decide`], with the kernel floor of a `tripwire` event
    /// applied or (for `explain`, which shows it as a step) not.
    /// `prepared`: the scanner's [`fast::Scanner::prepare`] was the last
    /// call on it, with this line.
    #[inline(always)]
    fn decide_with(
        &mut self,
        line: &str,
        mode: Mode,
        now_ns: u64,
        floor: bool,
        prepared: bool,
    ) -> Decision<'p> {
        // Field slots on the stack for the usual policy (no allocation per
        // line), no more of them than it names (each is cleared and dropped
        // per line); a policy naming more fields falls back to the heap.
        let n = self.policy.fields.len();
        if n <= 8 {
            let mut stack: [Option<Val>; 8] = Default::default();
            self.decide_in(line, &mut stack[..n], mode, now_ns, floor, prepared)
        } else if n <= 16 {
            let mut stack: [Option<Val>; 16] = Default::default();
            self.decide_in(line, &mut stack[..n], mode, now_ns, floor, prepared)
        } else {
            let mut heap = vec![None; n];
            self.decide_in(line, &mut heap, mode, now_ns, floor, prepared)
        }
    }

    fn decide_in<'a>(
        &mut self,
        line: &'a str,
        slots: &mut [Option<Val<'a>>],
        mode: Mode,
        now_ns: u64,
        floor: bool,
        prepared: bool,
    ) -> Decision<'p> {
        let p = self.policy;
        if !(self.fast && self.scanner.scan(line, &p.plans, slots, prepared)) {
            // Not a plain line (or malformed): the strict reader decides,
            // and words the error.
            for s in slots.iter_mut() {
                *s = None;
            }
            if let Err(e) = read_strict(line, &p.plans, slots) {
                return Decision::builtin(format!("malformed input: {e}"));
            }
        }
        let ty = match &slots[0] {
            Some(Val::Str(t)) => match p.type_index(t) {
                Some(i) => i,
                None => return Decision::builtin(format!("unknown event type {t:?}")),
            },
            Some(other) => return Decision::builtin(format!("\"type\" is {other}, not a string")),
            None => return Decision::builtin("event has no \"type\"".into()),
        };
        match &slots[1] {
            Some(v) if lit_eq(v, &Lit::Int(1)) => {}
            Some(v) => return Decision::builtin(format!("unsupported event version \"v\": {v}")),
            None => return Decision::builtin("event has no \"v\"".into()),
        }
        let mbit = 1u8 << (mode as u32);
        let mut cand = std::mem::take(&mut self.cand);
        self.index.candidates(slots, &mut cand);
        let base = self.first_match(&cand, false, 0..p.n_base, slots, ty, mbit, now_ns);
        let over = if p.rules.len() > p.n_base {
            self.first_match(
                &cand,
                true,
                p.n_base..p.rules.len(),
                slots,
                ty,
                mbit,
                now_ns,
            )
        } else {
            None
        };
        self.cand = cand;
        let d = match base {
            Some(i) => self.rule_decision(i),
            None => Decision::builtin("no rule matched (default deny)".into()),
        };
        let d = match over {
            Some(o) if stricter(&p.rules[o], &d) => self.rule_decision(o),
            _ => d,
        };
        if ty != TRIPWIRE_TYPE || !floor {
            return d;
        }
        kernel_floor(d, kernel_mode(slots)).0
    }

    fn rule_decision(&self, i: usize) -> Decision<'p> {
        let r = &self.policy.rules[i];
        Decision {
            verdict: r.verdict,
            rule: Some(&r.name),
            builtin_reason: None,
            tripwire: r.tripwire,
            rule_idx: Some(i),
        }
    }

    /// The first rule in `range` that holds or, with `all` (overlays,
    /// where no rule may shadow another), the strictest; counts every rule
    /// that holds in `hits`. Only rules in `cand` (see [`index`]) are
    /// tested: the others cannot hold.
    #[allow(clippy::too_many_arguments)]
    fn first_match(
        &mut self,
        cand: &[u64],
        all: bool,
        range: std::ops::Range<usize>,
        slots: &[Option<Val>],
        ty: usize,
        mbit: u8,
        now_ns: u64,
    ) -> Option<usize> {
        let p = self.policy;
        let mut best: Option<usize> = None;
        for i in index::ones(cand, range) {
            let r = &p.rules[i];
            if r.modes & mbit == 0 || r.only_type.is_some_and(|t| t != ty) {
                continue;
            }
            if !r
                .conds
                .iter()
                .all(|c| test_value(slots[c.slot].as_ref(), &c.test))
            {
                continue;
            }
            if let Some(rate) = r.rate {
                let key = rate_key(slots, &r.rate_key);
                if self.rates.hit(&r.name, key, rate, now_ns, true) <= rate.count {
                    continue;
                }
            }
            if let Some(h) = self.hits.get_mut(i) {
                *h += 1;
            }
            if !all {
                return Some(i);
            }
            if best.is_none_or(|b| rule_stricter(r, &p.rules[b])) {
                best = Some(i);
            }
        }
        best
    }

    /// Append the decision line for `d` to `out`. `event_line` must be the
    /// line `d` was decided from (copied verbatim unless it was malformed).
    pub fn render(
        &self,
        out: &mut Vec<u8>,
        d: &Decision,
        time: &str,
        mode: Mode,
        event_line: &str,
    ) {
        out.extend_from_slice(b"{\"v\":1,\"type\":\"decision\",\"time\":\"");
        out.extend_from_slice(time.as_bytes());
        out.extend_from_slice(b"\",");
        match (d.rule_idx, &d.builtin_reason) {
            (Some(i), _) => out.extend_from_slice(self.policy.rules[i].json.as_bytes()),
            (None, reason) => {
                out.extend_from_slice(if d.verdict == Verdict::Tripwire {
                    b"\"decision\":\"tripwire\",\"rule\":null,\"reason\":"
                } else {
                    b"\"decision\":\"deny\",\"rule\":null,\"reason\":"
                });
                let r = serde_json::Value::String(reason.clone().unwrap_or_default());
                out.extend_from_slice(r.to_string().as_bytes());
            }
        }
        out.extend_from_slice(b",\"mode\":");
        out.extend_from_slice(mode_json(mode).as_bytes());
        out.extend_from_slice(b",\"tripwire\":");
        let tw = match d.rule_idx {
            Some(i) => self.policy.rules[i].tripwire_json,
            None => d.tripwire.map_or("null", mode_json),
        };
        out.extend_from_slice(tw.as_bytes());
        out.extend_from_slice(b",\"event\":");
        let malformed = d
            .builtin_reason
            .as_deref()
            .is_some_and(|r| r.contains("malformed input") || r.starts_with("event has no"));
        if malformed && crate::json::check(event_line.as_bytes()).is_err() {
            out.extend_from_slice(b"null,\"raw\":");
            out.extend_from_slice(
                serde_json::Value::String(event_line.to_string())
                    .to_string()
                    .as_bytes(),
            );
        } else {
            out.extend_from_slice(event_line.as_bytes());
        }
        out.extend_from_slice(b"}\n");
    }

    /// Why each rule does or does not match `line` (rates are read, not
    /// counted). Returns one text line per rule and the decision.
    pub fn explain(&mut self, line: &str, mode: Mode, now_ns: u64) -> (Vec<String>, Decision<'p>) {
        let p = self.policy;
        let mut slots: Vec<Option<Val>> = vec![None; p.fields.len()];
        let mut out = Vec::new();
        let mut de = serde_json::Deserializer::from_str(line);
        let parsed = EventSeed {
            plans: &p.plans,
            slots: &mut slots,
        }
        .deserialize(&mut de)
        .and_then(|_| de.end());
        if parsed.is_err() {
            let d = self.decide(line, mode, now_ns);
            return (out, d);
        }
        let mut first = None;
        let mut first_over = None;
        for (i, r) in p.rules.iter().enumerate() {
            let mut why = None;
            if r.modes & (1u8 << (mode as u32)) == 0 {
                let ms: Vec<&str> = Mode::ALL
                    .iter()
                    .filter(|m| r.modes & (1 << (**m as u32)) != 0)
                    .map(|m| m.as_str())
                    .collect();
                why = Some(format!("mode {mode} is not in [{}]", ms.join(", ")));
            }
            if why.is_none() {
                if let Some(t) = r.only_type {
                    let shown = slots[0].as_ref().map_or("absent".into(), |v| v.to_string());
                    let got = match &slots[0] {
                        Some(Val::Str(x)) => p.type_index(x),
                        _ => None,
                    };
                    if got != Some(t) {
                        why = Some(format!(
                            "type is {shown}, fails test: = {:?}",
                            p.type_name(t)
                        ));
                    }
                }
            }
            if why.is_none() {
                for c in &r.conds {
                    let v = slots[c.slot].as_ref();
                    if !test_value(v, &c.test) {
                        let shown = v.map_or("absent".into(), |v| v.to_string());
                        why = Some(format!(
                            "{} is {shown}, fails test: {}",
                            p.fields[c.slot],
                            describe_test(&c.test)
                        ));
                        break;
                    }
                }
            }
            if why.is_none() {
                if let Some(rate) = r.rate {
                    let key = rate_key(&slots, &r.rate_key);
                    let n = self.rates.hit(&r.name, key.clone(), rate, now_ns, false);
                    if n <= rate.count {
                        why = Some(format!(
                            "rate: this would be match {n} for key {key:?} in the window, the rule fires above {}",
                            rate.count
                        ));
                    }
                }
            }
            let layer_first = if p.is_overlay_rule(i) {
                &mut first_over
            } else {
                &mut first
            };
            let tag = if p.is_overlay_rule(i) {
                " (overlay)"
            } else {
                ""
            };
            let overlay = p.is_overlay_rule(i);
            let status = match (&why, *layer_first) {
                (Some(w), _) => format!("no: {w}"),
                (None, None) => {
                    *layer_first = Some(i);
                    format!("MATCH -> {}", r.verdict.as_str())
                }
                (None, Some(b)) if overlay => {
                    if rule_stricter(r, &p.rules[b]) {
                        *layer_first = Some(i);
                    }
                    format!("MATCH -> {}", r.verdict.as_str())
                }
                (None, Some(_)) => "would match, but an earlier rule decided".into(),
            };
            out.push(format!("rule {} {:?}{tag}: {status}", i + 1, r.name));
        }
        let d = match first {
            Some(i) => self.rule_decision(i),
            None => {
                // Built-in checks (type, version) come from decide().
                let d = self.decide_with(line, mode, now_ns, false, false);
                if d.rule_idx.is_some() {
                    Decision::builtin("no rule matched (default deny)".into())
                } else {
                    d
                }
            }
        };
        let d = match first_over {
            Some(o)
                if d.builtin_reason.as_deref() == Some("no rule matched (default deny)")
                    || d.rule_idx.is_some() =>
            {
                if stricter(&p.rules[o], &d) {
                    out.push(format!(
                        "overlay rule {:?} is stricter than {}: it decides",
                        p.rules[o].name,
                        d.rule
                            .map_or("the built-in denial".to_string(), |r| format!("rule {r:?}"))
                    ));
                    self.rule_decision(o)
                } else {
                    d
                }
            }
            _ => d,
        };
        let kernel_event =
            matches!(&slots[0], Some(Val::Str(t)) if p.type_index(t) == Some(TRIPWIRE_TYPE));
        if !kernel_event
            || d.rule_idx.is_none()
                && d.builtin_reason.as_deref() != Some("no rule matched (default deny)")
        {
            // Not a kernel tripwire, or a built-in refusal (version, type)
            // that decide() reports first.
            return (out, d);
        }
        let kernel = kernel_mode(&slots);
        let by = d
            .rule
            .map_or("the built-in denial".to_string(), |r| format!("rule {r:?}"));
        let (d, overridden) = kernel_floor(d, kernel);
        out.push(if overridden {
            format!(
                "kernel tripwire event: the kernel already raised the mode to {kernel}, so the decision is at least tripwire {kernel}: it overrides {by}"
            )
        } else {
            format!(
                "kernel tripwire event: the kernel already raised the mode to {kernel}; {by} engages at least that"
            )
        });
        (out, d)
    }

    /// The reason text for a decision.
    pub fn reason<'a>(&'a self, d: &'a Decision) -> &'a str {
        match d.rule_idx {
            Some(i) => &self.policy.rules[i].reason,
            None => d.builtin_reason.as_deref().unwrap_or(""),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(p: &str, line: &str, mode: Mode) -> (Verdict, Option<String>) {
        let pol = Policy::parse(p).unwrap_or_else(|e| panic!("{e:?}"));
        let mut e = Engine::new(&pol, RateState::default());
        let d = e.decide(line, mode, 1);
        (d.verdict, d.rule.map(str::to_string))
    }

    const EXEC: &str = r#"{"v":1,"type":"exec","pid":7,"uid":33,"comm":"sh","filename":"/usr/bin/dash","argv":["sh","-c","id"]}"#;

    /// A kernel `tripwire` event (a canary hit) is decided as at least that
    /// tripwire whatever the rules say: a default-allow policy cannot wave
    /// it through; a stricter rule still wins; an unreadable mode is LOCKDOWN.
    #[test]
    fn kernel_tripwire_is_at_least_a_tripwire() {
        let allow_all = "[[rule]]\nname = \"default\"\ndecision = \"allow\"\n";
        let ev = |m: &str| {
            format!(
                r#"{{"v":1,"type":"tripwire","hook":"exec","tripwire":{m},"path":"/srv/canary"}}"#
            )
        };
        let pol = Policy::parse(allow_all).unwrap();
        let mut e = Engine::new(&pol, RateState::default());
        let d = e.decide(&ev("\"AIRGAP\""), Mode::Open, 1);
        assert_eq!(
            (d.verdict, d.tripwire),
            (Verdict::Tripwire, Some(Mode::Airgap))
        );
        let mut out = Vec::new();
        e.render(&mut out, &d, "t", Mode::Open, &ev("\"AIRGAP\""));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["decision"], "tripwire");
        assert_eq!(v["tripwire"], "AIRGAP");
        for bad in ["\"NOPE\"", "3", "null"] {
            let d = e.decide(&ev(bad), Mode::Open, 1);
            assert_eq!(
                (d.verdict, d.tripwire),
                (Verdict::Tripwire, Some(Mode::Lockdown)),
                "{bad}"
            );
        }
        let strict = "[[rule]]\nname = \"lock\"\ndecision = \"tripwire\"\ntripwire = \"LOCKDOWN\"\n[rule.match]\ntype = \"tripwire\"\n";
        let pol = Policy::parse(strict).unwrap();
        let mut e = Engine::new(&pol, RateState::default());
        let d = e.decide(&ev("\"AIRGAP\""), Mode::Open, 1);
        assert_eq!((d.rule, d.tripwire), (Some("lock"), Some(Mode::Lockdown)));
        // explain ends on the same decision and says why.
        let (lines, d) = e.explain(&ev("\"AIRGAP\""), Mode::Open, 1);
        assert_eq!((d.rule, d.tripwire), (Some("lock"), Some(Mode::Lockdown)));
        assert!(
            lines
                .last()
                .unwrap()
                .contains("rule \"lock\" engages at least that"),
            "{lines:?}"
        );
        let pol = Policy::parse(allow_all).unwrap();
        let mut e = Engine::new(&pol, RateState::default());
        for (m, want) in [("\"AIRGAP\"", Mode::Airgap), ("\"NOPE\"", Mode::Lockdown)] {
            let (lines, d) = e.explain(&ev(m), Mode::Open, 1);
            assert_eq!(
                (d.verdict, d.tripwire, d.rule),
                (Verdict::Tripwire, Some(want), None)
            );
            assert!(
                lines
                    .last()
                    .unwrap()
                    .contains("it overrides rule \"default\""),
                "{lines:?}"
            );
        }
    }

    #[test]
    fn matchers() {
        let p = r#"
[[rule]]
name = "a"
decision = "alert"
[rule.match]
uid = { ge = 33, lt = 34 }
filename = { glob = "/usr/bin/*sh" }
argv = { in = ["-c"] }
comm = { prefix = "s", suffix = "h", contains = "h", ne = "bash" }
pid = { not_in = [1, 2] }
gid = { exists = false }
"#;
        assert_eq!(decide(p, EXEC, Mode::Open).0, Verdict::Alert);
        let miss = EXEC.replace("dash", "dash/x");
        assert_eq!(decide(p, &miss, Mode::Open).0, Verdict::Deny);
    }

    /// Issue 15 item 13: a duplicate key anywhere (named by a rule or not,
    /// top level or nested) and nesting past json::MAX_DEPTH are refused at
    /// the input, and the decision line carries such input as a string, so
    /// every later reader (jq 1.6 included) can parse it.
    #[test]
    fn duplicate_keys_and_deep_nesting_deny_and_are_not_echoed() {
        let p = r#"
[[rule]]
name = "all"
decision = "allow"
[rule.match]
type = "exec"
"#;
        let pol = Policy::parse(p).unwrap();
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        let cases = [
            // Not named by any rule: used to pass.
            r#"{"v":1,"type":"exec","x":1,"x":2}"#.to_string(),
            r#"{"v":1,"type":"exec","argv":[{"a":1,"a":1}]}"#.to_string(),
            r#"{"v":1,"type":"exec","extra":{"k":{"z":1,"z":2}}}"#.to_string(),
            r#"{"v":1,"type":"exec","type":"exec"}"#.to_string(),
            format!(r#"{{"v":1,"type":"exec","pad":{deep}}}"#),
            format!(r#"{{"v":1,"type":"exec","argv":{deep}}}"#),
        ];
        for line in &cases {
            let mut e = Engine::new(&pol, RateState::default());
            let d = e.decide(line, Mode::Open, 1);
            assert_eq!(d.verdict, Verdict::Deny, "{}", &line[..60.min(line.len())]);
            let r = d.builtin_reason.clone().unwrap();
            assert!(
                r.contains("duplicate key") || r.contains("nesting deeper than"),
                "{r}"
            );
            let mut out = Vec::new();
            e.render(&mut out, &d, "t", Mode::Open, line);
            let v = crate::json::parse(std::str::from_utf8(&out).unwrap().trim_end()).unwrap();
            assert_eq!(v["event"], serde_json::Value::Null);
            assert_eq!(v["raw"].as_str(), Some(line.as_str()));
        }
        // The twin: the same events without the defect are allowed.
        for ok in [
            r#"{"v":1,"type":"exec","x":1,"y":2}"#.to_string(),
            r#"{"v":1,"type":"exec","extra":{"k":{"z":1},"j":{"z":1}}}"#.to_string(),
            format!(
                r#"{{"v":1,"type":"exec","pad":{}}}"#,
                "[".repeat(31) + &"]".repeat(31)
            ),
        ] {
            let mut e = Engine::new(&pol, RateState::default());
            assert_eq!(e.decide(&ok, Mode::Open, 1).verdict, Verdict::Allow, "{ok}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// The event reader in the engine, fuzzed with a fixed case budget:
        /// mutated events never panic, one call is one decision, and a line
        /// the shared strict reader refuses is always a malformed deny.
        #[test]
        fn event_reader_never_panics_and_refuses_what_json_refuses(
            cut in 0usize..80,
            junk in "[\\[\\]{}:,\"a1vtype ]{0,10}",
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        ) {
            let pol = Policy::parse(
                "[[rule]]\nname = \"a\"\ndecision = \"allow\"\n[rule.match]\ntype = \"exec\"\nancestors.comm = { exists = true }\n",
            )
            .unwrap();
            let base = r#"{"v":1,"type":"exec","comm":"sh","ancestors":[{"comm":"a"}],"x":{"y":[1]}}"#;
            let mut line = base.to_string();
            let at = cut.min(line.len());
            line.insert_str(at, &junk);
            let lossy = String::from_utf8_lossy(&bytes).into_owned();
            for l in [line.as_str(), lossy.as_str()] {
                let mut e = Engine::new(&pol, RateState::default());
                let d = e.decide(l, Mode::Open, 1);
                if crate::json::check(l.as_bytes()).is_err() {
                    proptest::prop_assert_eq!(d.verdict, Verdict::Deny);
                    proptest::prop_assert!(d
                        .builtin_reason
                        .as_deref()
                        .is_some_and(|r| r.starts_with("malformed input")));
                }
                let mut out = Vec::new();
                e.render(&mut out, &d, "t", Mode::Open, l);
                let text = std::str::from_utf8(&out).unwrap();
                proptest::prop_assert_eq!(text.matches('\n').count(), 1);
                proptest::prop_assert!(crate::json::check(text.trim_end().as_bytes()).is_ok());
            }
        }
    }

    #[test]
    fn fast_globs_agree_with_globset() {
        let pats = [
            "/usr/bin/ls",
            "/opt/v0/**",
            "/tmp/*",
            "/tmp/x*",
            "memfd:*",
            "/a/**/b",
            "*.sh",
        ];
        let inputs = [
            "/usr/bin/ls",
            "/usr/bin/lsx",
            "/opt/v0/a",
            "/opt/v0/a/b",
            "/opt/v0x/a",
            "/opt/v0",
            "/tmp/a",
            "/tmp/a/b",
            "/tmp/",
            "/tmp/xy",
            "/tmp/x/y",
            "memfd:evil",
            "memfd:a/b",
            "x.sh",
        ];
        for p in pats {
            let g = globset::GlobBuilder::new(p)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .unwrap()
                .compile_matcher();
            if let Some(f) = FastGlob::parse(p) {
                for i in inputs {
                    assert_eq!(f.is_match(i), g.is_match(i), "{p} on {i}");
                }
            } else {
                assert!(
                    p.contains("**/") || p.starts_with('*'),
                    "{p} should be fast"
                );
            }
        }
    }

    const WEB_SHELL: &str = r#"{"v":1,"type":"exec","comm":"sh","uid":33,"ancestors":[{"pid":9,"comm":"php-fpm","exe":"php-fpm8.2"},{"pid":1,"comm":"systemd","exe":"systemd"}]}"#;

    #[test]
    fn lists_macros_and_ancestor_paths() {
        let p = r#"
[lists]
web = ["nginx", "php-fpm"]
shells = ["sh", "bash", "dash"]

[macros.web_shell]
comm = { in = "shells" }
ancestors.comm = { in = "web" }

[[rule]]
name = "web-shell"
macros = ["web_shell"]
tripwire = "LOCKDOWN"
[rule.match]
type = "exec"

[[rule]]
name = "quoted-path"
decision = "alert"
[rule.match]
"ancestors.exe" = { glob = "php-fpm*" }

[[rule]]
name = "rest"
decision = "allow"
"#;
        assert_eq!(
            decide(p, WEB_SHELL, Mode::Open),
            (Verdict::Tripwire, Some("web-shell".into()))
        );
        let not_web = WEB_SHELL.replace("php-fpm\"", "cron\"");
        assert_eq!(
            decide(p, &not_web, Mode::Open),
            (Verdict::Alert, Some("quoted-path".into()))
        );
        let no_anc = r#"{"v":1,"type":"exec","comm":"sh"}"#;
        assert_eq!(decide(p, no_anc, Mode::Open).1.as_deref(), Some("rest"));
        // A repeated nested key is refused like any other.
        let dup =
            r#"{"v":1,"type":"exec","comm":"sh","ancestors":[],"ancestors":[{"comm":"nginx"}]}"#;
        assert_eq!(decide(p, dup, Mode::Open), (Verdict::Deny, None));

        let e = Policy::parse("[[rule]]\nname=\"x\"\ndecision=\"deny\"\nmacros=[\"nope\"]\n")
            .unwrap_err();
        assert!(e[0].msg.contains("unknown macro \"nope\""), "{e:?}");
        assert_eq!(e[0].line, 4, "{e:?}");
        let e = Policy::parse(
            "[[rule]]\nname=\"x\"\ndecision=\"deny\"\n[rule.match]\ncomm={in=\"nolist\"}\n",
        )
        .unwrap_err();
        assert!(e[0].msg.contains("unknown list \"nolist\""), "{e:?}");
        assert_eq!(e[0].line, 5);
    }

    #[test]
    fn overlays_only_tighten() {
        let base = r#"
[[rule]]
name = "web-ok"
decision = "allow"
[rule.match]
comm = "sh"
[[rule]]
name = "trip"
tripwire = "AIRGAP"
[rule.match]
comm = "nc"
[[rule]]
name = "default"
decision = "allow"
"#;
        let overlay = r#"
[[rule]]
name = "no-web-shell"
decision = "deny"
[rule.match]
ancestors.comm = { in = ["php-fpm"] }
[[rule]]
name = "nc-alert"
decision = "alert"
[rule.match]
comm = "nc"
[[rule]]
name = "nc-harder"
tripwire = "COLDROOM"
[rule.match]
comm = "nc"
uid = 0
"#;
        let mut pol = Policy::parse(base).unwrap();
        pol.add_overlay(Policy::parse_overlay(overlay).unwrap())
            .unwrap();
        let mut e = Engine::new(&pol, RateState::default());
        let d = e.decide(WEB_SHELL, Mode::Open, 1);
        assert_eq!((d.verdict, d.rule), (Verdict::Deny, Some("no-web-shell")));
        // The overlay's alert is weaker than the policy's tripwire: it stays.
        let nc = r#"{"v":1,"type":"exec","comm":"nc","uid":5}"#;
        let d = e.decide(nc, Mode::Open, 1);
        assert_eq!((d.verdict, d.rule), (Verdict::Tripwire, Some("trip")));
        // A stricter tripwire mode wins.
        let nc0 = r#"{"v":1,"type":"exec","comm":"nc","uid":0}"#;
        let d = e.decide(nc0, Mode::Open, 1);
        assert_eq!(
            (d.verdict, d.tripwire, d.rule),
            (Verdict::Tripwire, Some(Mode::Coldroom), Some("nc-harder"))
        );
        // Unrelated events keep the policy's decision.
        let d = e.decide(r#"{"v":1,"type":"exec","comm":"ls"}"#, Mode::Open, 1);
        assert_eq!((d.verdict, d.rule), (Verdict::Allow, Some("default")));

        let e = Policy::parse_overlay("[[rule]]\nname=\"x\"\ndecision=\"allow\"\n").unwrap_err();
        assert!(e[0].msg.contains("only tighten"), "{e:?}");
        let mut again = Policy::parse(base).unwrap();
        let clash = Policy::parse_overlay("[[rule]]\nname=\"trip\"\ndecision=\"deny\"\n").unwrap();
        assert!(again
            .add_overlay(clash)
            .unwrap_err()
            .contains("already exists"));
    }

    #[test]
    fn errors_have_line_and_column() {
        let e = Policy::parse("[[rule]]\nname = \"x\"\ndecision = \"maybe\"\n").unwrap_err();
        assert_eq!((e[0].line, e[0].col), (3, 12));
        let e = Policy::parse(
            "[[rule]]\nname = \"x\"\nmodes = [\"AIRGAP\", \"FOO\"]\ndecision=\"allow\"\n",
        )
        .unwrap_err();
        assert_eq!((e[0].line, e[0].col), (3, 20));
        let e = Policy::parse("[[rule]]\nnmae = \"x\"\n").unwrap_err();
        assert_eq!(e[0].line, 2, "{e:?}");
    }

    /// The fast scanner against the strict reader (the oracle). Whenever the
    /// scanner takes a line, the strict reader must accept it too and fill
    /// exactly the same slots; a line the strict reader refuses (duplicate
    /// key at any depth, nesting past MAX_DEPTH, bad escapes, numbers,
    /// control characters, trailing text) must never be taken.
    mod fast_differential {
        use super::*;
        use proptest::prelude::*;

        const POLICY: &str = "[[rule]]\nname = \"a\"\ndecision = \"alert\"\n[rule.match]\n\
            uid = { ge = 0 }\ncomm = { prefix = \"s\" }\nargv = { in = [\"-c\"] }\n\
            ok = { eq = true }\nn = { exists = true }\nancestors.comm = { exists = true }\n";

        /// (fast result, strict result) for one line.
        #[allow(clippy::type_complexity)]
        fn both<'a>(
            pol: &Policy,
            line: &'a str,
        ) -> (Option<Vec<Option<Val<'a>>>>, Option<Vec<Option<Val<'a>>>>) {
            let mut f = vec![None; pol.fields.len()];
            let fast = fast::Scanner::new(&pol.plans)
                .scan(line, &pol.plans, &mut f, false)
                .then_some(f);
            let mut s = vec![None; pol.fields.len()];
            let strict = read_strict(line, &pol.plans, &mut s).ok().map(|_| s);
            (fast, strict)
        }

        fn check(pol: &Policy, line: &str) -> std::result::Result<(), TestCaseError> {
            let (fast, strict) = both(pol, line);
            // The same scan after `prepare` (bd-policy's path through
            // decide_bytes), whose ASCII answer must be is_ascii's.
            let mut sc = fast::Scanner::new(&pol.plans);
            prop_assert_eq!(sc.prepare(line.as_bytes()), line.is_ascii());
            let mut f2 = vec![None; pol.fields.len()];
            let prepared = sc.scan(line, &pol.plans, &mut f2, true).then_some(f2);
            prop_assert_eq!(&prepared, &fast, "prepared scan differs: {:?}", line);
            if let Some(f) = fast {
                prop_assert!(
                    strict.is_some(),
                    "fast took a line the strict reader refuses: {line:?}"
                );
                prop_assert_eq!(Some(f), strict, "{:?}", line);
            }
            Ok(())
        }

        fn key() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("v".to_string()),
                Just("type".to_string()),
                Just("uid".to_string()),
                Just("comm".to_string()),
                Just("argv".to_string()),
                Just("ok".to_string()),
                Just("n".to_string()),
                Just("ancestors".to_string()),
                Just("x".to_string()),
                Just("\\u0078".to_string()),
                Just("x\\n".to_string()),
                Just("é".to_string()),
                Just("".to_string()),
            ]
        }

        fn scalar() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("null".to_string()),
                Just("true".to_string()),
                Just("false".to_string()),
                Just("\"exec\"".to_string()),
                Just("\"sh\"".to_string()),
                Just("\"-c\"".to_string()),
                Just("\"a\\\"b\"".to_string()),
                Just("\"\\u00e9\\ud83d\\ude00\"".to_string()),
                Just("\"\\ud800\"".to_string()),
                Just("\"\\q\"".to_string()),
                Just("\"\u{1}\"".to_string()),
                Just("\"ü€😀\"".to_string()),
                Just("-0".to_string()),
                Just("0".to_string()),
                Just("01".to_string()),
                Just("1.5".to_string()),
                Just("1e400".to_string()),
                Just("-1E2".to_string()),
                Just("123456789012345678".to_string()),
                Just("1234567890123456789".to_string()),
                Just("18446744073709551616".to_string()),
                Just("-9223372036854775809".to_string()),
                any::<i64>().prop_map(|i| i.to_string()),
                any::<u32>().prop_map(|i| i.to_string()),
                "[a-z/ -]{0,12}".prop_map(|s| format!("{s:?}")),
            ]
        }

        /// Random JSON text (mostly valid), nesting up to about 40 deep.
        fn value() -> impl Strategy<Value = String> {
            let leaf = scalar();
            leaf.prop_recursive(40, 200, 6, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4)
                        .prop_map(|v| format!("[{}]", v.join(","))),
                    proptest::collection::vec((key(), inner), 0..5).prop_map(|kv| {
                        let body: Vec<String> =
                            kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                        format!("{{{}}}", body.join(","))
                    }),
                ]
            })
        }

        fn ws() -> impl Strategy<Value = String> {
            prop_oneof![
                4 => Just(String::new()),
                1 => Just(" ".to_string()),
                1 => Just("\t\r\n ".to_string()),
                1 => Just("\u{c}".to_string()),
                1 => Just("\u{a0}".to_string()),
            ]
        }

        fn event() -> impl Strategy<Value = String> {
            proptest::collection::vec((key(), value(), ws(), ws()), 0..12).prop_map(|kv| {
                let body: Vec<String> = kv
                    .iter()
                    .map(|(k, v, a, b)| format!("{a}\"{k}\"{b}:{a}{v}{b}"))
                    .collect();
                format!("{{{}}}", body.join(","))
            })
        }

        /// Bytes a mutation inserts or writes over: structure, escapes,
        /// number parts, whitespace and not-whitespace, multi-byte text.
        fn mutation_char() -> impl Strategy<Value = char> {
            prop::sample::select(vec![
                '"', '\\', ',', ':', '{', '}', '[', ']', '0', '1', '-', '+', 'e', '.', ' ', '\t',
                '\u{1}', '\u{7f}', 'é', '😀', 'n', 't', 'u',
            ])
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4096))]

            #[test]
            fn fast_scan_agrees_with_the_strict_reader(
                ev in event(),
                muts in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, mutation_char()), 0..3),
                tail in prop_oneof![4 => Just(String::new()), 1 => Just(" ".to_string()), 1 => Just("x".to_string()), 1 => Just("{}".to_string())],
            ) {
                let pol = Policy::parse(POLICY).unwrap();
                let mut line: Vec<char> = ev.chars().collect();
                for (at, op, c) in muts {
                    if line.is_empty() {
                        line.push(c);
                        continue;
                    }
                    let i = at.index(line.len());
                    match op {
                        0 => { line.remove(i); }
                        1 => line.insert(i, c),
                        _ => line[i] = c,
                    }
                }
                let mut line: String = line.into_iter().collect();
                line.push_str(&tail);
                check(&pol, &line)?;
            }

            /// The same on lines with no whitespace at all (what producers
            /// write, and the scanner's quickest shape), mutated or not.
            #[test]
            fn fast_scan_agrees_on_tight_lines(
                kv in proptest::collection::vec((key(), value()), 0..14),
                muts in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, mutation_char()), 0..2),
            ) {
                let pol = Policy::parse(POLICY).unwrap();
                let body: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                let mut line: Vec<char> = format!("{{{}}}", body.join(",")).chars().collect();
                for (at, op, c) in muts {
                    let i = at.index(line.len());
                    match op {
                        0 => { line.remove(i); }
                        1 => line.insert(i, c),
                        _ => line[i] = c,
                    }
                }
                let line: String = line.into_iter().collect();
                check(&pol, &line)?;
            }

            /// decide_bytes on raw bytes (UTF-8 or not, mutated events):
            /// refuses exactly what std refuses, and otherwise decides as
            /// the strict reader does.
            #[test]
            fn decide_bytes_agrees_with_decide(
                ev in event(),
                muts in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
            ) {
                let pol = Policy::parse(POLICY).unwrap();
                let mut b = ev.into_bytes();
                for (at, x) in muts {
                    if b.is_empty() {
                        b.push(x);
                    } else {
                        let i = at.index(b.len());
                        b[i] = x;
                    }
                }
                let mut eng = Engine::new(&pol, RateState::default());
                let mut strict = Engine::new(&pol, RateState::default());
                strict.fast = false;
                match (eng.decide_bytes(&b, Mode::Open, 1), std::str::from_utf8(&b)) {
                    (Err(e), Err(f)) => prop_assert_eq!(e, f),
                    (Ok((t, d)), Ok(line)) => {
                        prop_assert_eq!(t, line);
                        let s = strict.decide(line, Mode::Open, 1);
                        prop_assert_eq!(
                            (d.verdict, d.rule, d.builtin_reason),
                            (s.verdict, s.rule, s.builtin_reason)
                        );
                    }
                    (a, b) => prop_assert!(false, "UTF-8 verdicts differ: {:?} vs {:?}", a.map(|x| x.0), b),
                }
            }

            /// One scanner across many lines, as bd-policy uses it: the
            /// first line's keys become the template, and every later line
            /// (the same keys with other values, mutated at any byte, keys
            /// dropped, repeated or reordered, whitespace put in) must be
            /// read exactly as the strict reader reads it, whichever path
            /// it takes.
            #[test]
            fn template_scan_agrees_across_lines(
                kv in proptest::collection::vec((key(), value()), 1..14),
                lines in proptest::collection::vec(
                    (
                        proptest::collection::vec(value(), 14),
                        0u8..5,
                        any::<prop::sample::Index>(),
                        proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, mutation_char()), 0..2),
                    ),
                    1..8,
                ),
            ) {
                let pol = Policy::parse(POLICY).unwrap();
                let tight = |kv: &[(String, String)]| {
                    let body: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                    format!("{{{}}}", body.join(","))
                };
                let mut sc = fast::Scanner::new(&pol.plans);
                let mut seq = vec![tight(&kv)];
                for (vals, op, at, muts) in lines {
                    let mut kv2: Vec<(String, String)> =
                        kv.iter().zip(&vals).map(|((k, _), v)| (k.clone(), v.clone())).collect();
                    let i = at.index(kv2.len());
                    match op {
                        0 => {}
                        1 => { kv2.remove(i); }
                        2 => { let d = kv2[i].clone(); kv2.push(d); }
                        3 => kv2.swap(0, i),
                        _ => kv2[i].1 = format!(" {} ", kv2[i].1),
                    }
                    let mut line: Vec<char> = tight(&kv2).chars().collect();
                    for (at, op, c) in muts {
                        let i = at.index(line.len());
                        match op {
                            0 => { line.remove(i); }
                            1 => line.insert(i, c),
                            _ => line[i] = c,
                        }
                    }
                    seq.push(line.into_iter().collect());
                }
                for line in &seq {
                    let mut f = vec![None; pol.fields.len()];
                    prop_assert_eq!(sc.prepare(line.as_bytes()), line.is_ascii());
                    let fast = sc.scan(line, &pol.plans, &mut f, true).then_some(f);
                    let mut s = vec![None; pol.fields.len()];
                    let strict = read_strict(line, &pol.plans, &mut s).ok().map(|_| s);
                    if let Some(f) = fast {
                        prop_assert!(strict.is_some(), "fast took a line the strict reader refuses: {:?} after {:?}", line, seq[0]);
                        prop_assert_eq!(Some(f), strict, "{:?} after {:?}", line, seq[0]);
                    }
                }
                // Not vacuous: a line the scanner takes teaches its keys, so
                // the same line right after is read along the template.
                let mut f = vec![None; pol.fields.len()];
                sc.prepare(seq[0].as_bytes());
                if sc.scan(&seq[0], &pol.plans, &mut f, true) {
                    let mut g = vec![None; pol.fields.len()];
                    sc.prepare(seq[0].as_bytes());
                    prop_assert!(sc.scan(&seq[0], &pol.plans, &mut g, true));
                    prop_assert!(sc.via_template, "{:?} not read along its own keys", seq[0]);
                    prop_assert_eq!(f, g);
                }
            }

            #[test]
            fn fast_scan_agrees_on_deep_nesting(depth in 1usize..48, obj in any::<bool>(), dup in any::<bool>()) {
                let pol = Policy::parse(POLICY).unwrap();
                let (open, close) = if obj { ("{\"x\":", "}") } else { ("[", "]") };
                let inner = if dup { "{\"k\":1,\"k\":2}" } else { "{\"k\":1}" };
                let line = format!(
                    "{{\"v\":1,\"type\":\"exec\",\"deep\":{}{}{}}}",
                    open.repeat(depth),
                    inner,
                    close.repeat(depth)
                );
                check(&pol, &line)?;
            }
        }

        /// A line with the template's keys is read along it; one that
        /// differs only after the template's keys, or inside a value, is
        /// still refused when the strict reader refuses it (a key again,
        /// at the top or nested, trailing text), and read key by key when
        /// it is merely different.
        #[test]
        fn template_reads_the_same_shape_and_refuses_the_rest() {
            let pol = Policy::parse(POLICY).unwrap();
            let mut sc = fast::Scanner::new(&pol.plans);
            let mut scan = |line: &str| {
                let mut f = vec![None; pol.fields.len()];
                sc.prepare(line.as_bytes());
                let ok = sc.scan(line, &pol.plans, &mut f, true);
                let mut s = vec![None; pol.fields.len()];
                let strict = read_strict(line, &pol.plans, &mut s).ok().map(|_| s);
                if ok {
                    assert_eq!(Some(f), strict, "{line}");
                }
                (ok, sc.via_template, strict.is_some())
            };
            let a = r#"{"v":1,"type":"exec","uid":0,"comm":"sh","argv":["sh","-c"],"ok":true,"x":{"y":1}}"#;
            // The first line teaches the template; the second follows it.
            assert_eq!(scan(a), (true, false, true));
            let b = r#"{"v":1,"type":"exec","uid":1000,"comm":"bash","argv":[],"ok":false,"x":{"z":[1]}}"#;
            assert_eq!(scan(b), (true, true, true));
            for (line, strict_ok) in [
                // A key again after the template's keys.
                (
                    r#"{"v":1,"type":"exec","uid":1,"comm":"sh","argv":[],"ok":true,"x":{},"uid":2}"#,
                    false,
                ),
                // A key twice inside a value the template skips.
                (
                    r#"{"v":1,"type":"exec","uid":1,"comm":"sh","argv":[],"ok":true,"x":{"y":1,"y":2}}"#,
                    false,
                ),
                // Text after the object.
                (
                    r#"{"v":1,"type":"exec","uid":1,"comm":"sh","argv":[],"ok":true,"x":{}}x"#,
                    false,
                ),
                (
                    r#"{"v":1,"type":"exec","uid":1,"comm":"sh","argv":[],"ok":true,"x":{}} "#,
                    true,
                ),
                // Whitespace where the template has none.
                (
                    r#"{"v":1,"type":"exec","uid" :1,"comm":"sh","argv":[],"ok":true,"x":{}}"#,
                    true,
                ),
                // Another key order, a key fewer, a key more.
                (
                    r#"{"type":"exec","v":1,"uid":1,"comm":"sh","argv":[],"ok":true,"x":{}}"#,
                    true,
                ),
                (
                    r#"{"v":1,"type":"exec","uid":1,"comm":"sh","argv":[],"ok":true}"#,
                    true,
                ),
                (
                    r#"{"v":1,"type":"exec","uid":1,"comm":"sh","argv":[],"ok":true,"x":{},"n":1}"#,
                    true,
                ),
                // A named value the scanner leaves to the strict reader.
                (
                    r#"{"v":1,"type":"exec","uid":1.5,"comm":"sh","argv":[],"ok":true,"x":{}}"#,
                    true,
                ),
            ] {
                // Each after a line that (re)teaches the template `a`.
                assert!(scan(a).0);
                let (ok, via, strict) = scan(line);
                assert_eq!(strict, strict_ok, "{line}");
                assert!(!via, "{line} was read along the template");
                assert!(!ok || strict, "{line}");
            }
        }

        /// Plain events, the bench's and bd-watch's shape, take the fast
        /// path, and the engine decides the same with it and without it.
        #[test]
        fn plain_events_take_the_fast_path() {
            let pol = Policy::parse(POLICY).unwrap();
            for line in [
                EXEC,
                r#"{"v":1,"type":"exec","time":"2026-11-25T19:18:40.123456789Z","ktime_ns":10000098196,"pid":1000,"uid":1000,"comm":"cat","filename":"/opt/vendor0/bin/cat","argv":["cat"],"argv_truncated":false,"cgroup_id":4242,"protected":false,"n":null,"ok":true,"x":{"y":[1,{"z":-5}],"w":{}}}"#,
                " { \"v\" : 1 , \"type\" : \"exec\" , \"argv\" : [ ] } ",
            ] {
                let (fast, strict) = both(&pol, line);
                assert!(fast.is_some(), "{line}");
                assert_eq!(fast, strict, "{line}");
                let mut a = Engine::new(&pol, RateState::default());
                let mut b = Engine::new(&pol, RateState::default());
                b.fast = false;
                let (da, db) = (a.decide(line, Mode::Open, 1), b.decide(line, Mode::Open, 1));
                assert_eq!(
                    (da.verdict, da.rule, da.builtin_reason),
                    (db.verdict, db.rule, db.builtin_reason)
                );
            }
            // Not plain: left to the strict reader (which accepts these).
            for line in [
                r#"{"v":1,"type":"e\u0078ec"}"#,
                r#"{"v":1.0,"type":"exec"}"#,
                r#"{"v":1,"type":"exec","ancestors":[{"comm":"sh"}]}"#,
            ] {
                let (fast, strict) = both(&pol, line);
                assert!(fast.is_none() && strict.is_some(), "{line}");
            }
        }
    }
}
