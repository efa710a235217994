//! Which rules can possibly hold for an event, found without testing them all.
//!
//! Most rules in a real policy pin one string field to a literal (`comm =
//! "sshd"`, `comm = { in = [...] }`) or to a path prefix (`filename = { glob
//! = "/opt/x/**" }`, `prefix = ...`), and most events match none of them, so
//! scanning every rule in order costs a test per rule per event. Each rule
//! with such a condition is filed under it: a hash of the literal, or of the
//! first `len` bytes for a prefix. An event looks up its own field values
//! (one probe per distinct prefix length) and gets the set of rules that can
//! hold; rules with no indexable condition are always in it. The engine then
//! tests the candidates fully, in policy order, so first-match order, rates
//! and hit counts are exactly those of the plain scan (a test compares both
//! on random policies and events).
//!
//! Rules that pin a number to a range (`uid = { ge = 1000, lt = 2000 }`)
//! and nothing indexable otherwise are filed by that range: the endpoints
//! of all such rules on a field cut the number line into regions (each
//! endpoint, and the open stretches between), each region holding the set
//! of rules whose tests pass there, and an event's number finds its region
//! by binary search.

use super::{num_of, FastGlob, Lit, Op, Rule, Test, Val};
use std::collections::HashMap;

type Map = HashMap<Box<str>, Vec<u64>, foldhash::fast::FixedState>;

fn new_map() -> Map {
    Map::with_hasher(foldhash::fast::FixedState::with_seed(0x6264_2d70_6f6c_6963))
}

/// A rule set as bits, one per rule, in policy order.
pub(super) struct RuleIndex {
    words: usize,
    always: Vec<u64>,
    /// Per slot: exact string values.
    eq: Vec<(usize, Map)>,
    /// Per slot: string prefixes, grouped by length.
    prefix: Vec<(usize, Vec<(usize, Map)>)>,
    /// Per slot: numeric ranges.
    ranges: Vec<Ranges>,
}

/// The rules filed under numeric ranges of one field.
struct Ranges {
    slot: usize,
    /// The endpoints of every rule's range, sorted, each once.
    ends: Vec<f64>,
    /// Rule bits of each region, `words` per region: region `2j` is the
    /// open stretch below `ends[j]` (and above `ends[j - 1]`), region
    /// `2j + 1` is `ends[j]` itself, region `2 * ends.len()` lies above all.
    bits: Vec<u64>,
    /// Every rule filed here: for an array (each test may pass on another
    /// element) or a number that cannot be placed.
    all: Vec<u64>,
}

enum Key<'a> {
    Eq(Vec<&'a str>),
    Prefix(&'a str),
    /// Every comparison of the rule on the slot.
    Range(Vec<(Op, f64)>),
}

/// A rule filed by range: (slot, rule index, its comparisons on the slot).
type Ranged = (usize, usize, Vec<(Op, f64)>);

fn holds(op: Op, n: f64, x: f64) -> bool {
    // The comparison of `test_scalar`, the one the rule will make.
    match op {
        Op::Lt => n < x,
        Op::Le => n <= x,
        Op::Gt => n > x,
        Op::Ge => n >= x,
    }
}

/// The condition a rule is filed under: one that fails whenever the field is
/// missing, not a string, or (for an array) has no element passing it.
fn key_of(r: &Rule) -> Option<(usize, Key<'_>)> {
    let mut prefix = None;
    let mut range = None;
    for c in &r.conds {
        match &c.test {
            Test::Eq(Lit::Str(s)) | Test::GlobFast(FastGlob::Exact(s), _) => {
                return Some((c.slot, Key::Eq(vec![s.as_str()])));
            }
            Test::In(ls) if !ls.is_empty() => {
                let strs: Option<Vec<&str>> = ls
                    .iter()
                    .map(|l| match l {
                        Lit::Str(s) => Some(s.as_str()),
                        _ => None,
                    })
                    .collect();
                if let Some(v) = strs {
                    return Some((c.slot, Key::Eq(v)));
                }
            }
            Test::Prefix(p)
            | Test::GlobFast(FastGlob::Below(p), _)
            | Test::GlobFast(FastGlob::OneComponent(p), _)
                if !p.is_empty() && prefix.is_none() =>
            {
                prefix = Some((c.slot, Key::Prefix(p.as_str())));
            }
            // A comparison fails on a missing field or a non-number.
            Test::Cmp(_, _) if range.is_none() => {
                let cmps: Vec<(Op, f64)> = r
                    .conds
                    .iter()
                    .filter(|d| d.slot == c.slot)
                    .filter_map(|d| match d.test {
                        Test::Cmp(op, x) => Some((op, x)),
                        _ => None,
                    })
                    .collect();
                // A NaN bound never holds; such a rule is simply not filed.
                if cmps.iter().all(|(_, x)| !x.is_nan()) {
                    range = Some((c.slot, Key::Range(cmps)));
                }
            }
            _ => {}
        }
    }
    prefix.or(range)
}

fn set(bits: &mut [u64], i: usize) {
    bits[i / 64] |= 1 << (i % 64);
}

impl RuleIndex {
    pub(super) fn new(rules: &[Rule]) -> RuleIndex {
        let words = rules.len().div_ceil(64).max(1);
        let mut ix = RuleIndex {
            words,
            always: vec![0; words],
            eq: Vec::new(),
            prefix: Vec::new(),
            ranges: Vec::new(),
        };
        let mut ranged: Vec<Ranged> = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            match key_of(r) {
                None => set(&mut ix.always, i),
                Some((slot, Key::Eq(vals))) => {
                    let m = match ix.eq.iter().position(|(s, _)| *s == slot) {
                        Some(k) => &mut ix.eq[k].1,
                        None => {
                            ix.eq.push((slot, new_map()));
                            &mut ix.eq.last_mut().expect("just pushed").1
                        }
                    };
                    for v in vals {
                        set(m.entry(v.into()).or_insert_with(|| vec![0; words]), i);
                    }
                }
                Some((slot, Key::Prefix(p))) => {
                    let lens = match ix.prefix.iter().position(|(s, _)| *s == slot) {
                        Some(k) => &mut ix.prefix[k].1,
                        None => {
                            ix.prefix.push((slot, Vec::new()));
                            &mut ix.prefix.last_mut().expect("just pushed").1
                        }
                    };
                    let m = match lens.iter().position(|(l, _)| *l == p.len()) {
                        Some(k) => &mut lens[k].1,
                        None => {
                            lens.push((p.len(), new_map()));
                            &mut lens.last_mut().expect("just pushed").1
                        }
                    };
                    set(m.entry(p.into()).or_insert_with(|| vec![0; words]), i);
                }
                Some((slot, Key::Range(cmps))) => ranged.push((slot, i, cmps)),
            }
        }
        let mut slots: Vec<usize> = ranged.iter().map(|(s, _, _)| *s).collect();
        slots.sort_unstable();
        slots.dedup();
        for slot in slots {
            let mine: Vec<&Ranged> = ranged.iter().filter(|(s, _, _)| *s == slot).collect();
            let mut ends: Vec<f64> = mine
                .iter()
                .flat_map(|(_, _, c)| c.iter().map(|(_, x)| *x))
                .collect();
            ends.sort_by(f64::total_cmp);
            // -0.0 and 0.0 compare equal: one endpoint.
            ends.dedup_by(|a, b| a == b);
            let regions = 2 * ends.len() + 1;
            let mut bits = vec![0u64; regions * words];
            let mut all = vec![0u64; words];
            for region in 0..regions {
                let j = region / 2;
                // A number standing for the region: any one in it passes
                // the same tests, since no endpoint lies inside. (If none
                // lies strictly between two endpoints, no event lands there.)
                let n = if region % 2 == 1 {
                    ends[j]
                } else if j == 0 {
                    ends[0].next_down()
                } else {
                    ends[j - 1].next_up()
                };
                for (_, i, cmps) in &mine {
                    if cmps.iter().all(|&(op, x)| holds(op, n, x)) {
                        set(&mut bits[region * words..(region + 1) * words], *i);
                    }
                }
            }
            for (_, i, _) in &mine {
                set(&mut all, *i);
            }
            ix.ranges.push(Ranges {
                slot,
                ends,
                bits,
                all,
            });
        }
        ix
    }

    /// Fill `out` with the rules that can hold for the event in `slots`.
    pub(super) fn candidates(&self, slots: &[Option<Val>], out: &mut Vec<u64>) {
        out.clear();
        out.extend_from_slice(&self.always);
        let or = |out: &mut Vec<u64>, bits: &[u64]| {
            for (o, b) in out.iter_mut().zip(bits) {
                *o |= b;
            }
        };
        let strs = |v: &Option<Val>, f: &mut dyn FnMut(&str)| match v {
            Some(Val::Str(s)) => f(s),
            Some(Val::Arr(a)) => {
                for x in a {
                    if let Val::Str(s) = x {
                        f(s)
                    }
                }
            }
            _ => {}
        };
        for (slot, m) in &self.eq {
            strs(&slots[*slot], &mut |s| {
                if let Some(bits) = m.get(s) {
                    or(out, bits);
                }
            });
        }
        for r in &self.ranges {
            let n = match &slots[r.slot] {
                Some(Val::Arr(_)) => {
                    or(out, &r.all);
                    continue;
                }
                Some(v) => match num_of(v) {
                    Some(n) => n,
                    None => continue,
                },
                None => continue,
            };
            if n.is_nan() {
                or(out, &r.all);
                continue;
            }
            let p = r.ends.partition_point(|&e| e < n);
            let region = if r.ends.get(p) == Some(&n) {
                2 * p + 1
            } else {
                2 * p
            };
            or(out, &r.bits[region * self.words..(region + 1) * self.words]);
        }
        for (slot, lens) in &self.prefix {
            strs(&slots[*slot], &mut |s| {
                for (len, m) in lens {
                    if let Some(head) = s.get(..*len) {
                        if let Some(bits) = m.get(head) {
                            or(out, bits);
                        }
                    }
                }
            });
        }
    }

    /// No index: every rule is a candidate (the plain scan; for tests).
    #[cfg(test)]
    pub(super) fn everything(n: usize) -> RuleIndex {
        let words = n.div_ceil(64).max(1);
        let mut always = vec![0; words];
        (0..n).for_each(|i| set(&mut always, i));
        RuleIndex {
            words,
            always,
            eq: Vec::new(),
            prefix: Vec::new(),
            ranges: Vec::new(),
        }
    }

    pub(super) fn words(&self) -> usize {
        self.words
    }
}

/// The set bits of `bits` within `range`, in increasing order.
pub(super) fn ones(
    bits: &[u64],
    range: std::ops::Range<usize>,
) -> impl Iterator<Item = usize> + '_ {
    let (start, end) = (range.start, range.end);
    bits.iter()
        .enumerate()
        .skip(start / 64)
        .take(end.div_ceil(64).saturating_sub(start / 64))
        .flat_map(move |(w, &word)| {
            let mut x = word;
            std::iter::from_fn(move || {
                if x == 0 {
                    return None;
                }
                let b = x.trailing_zeros() as usize;
                x &= x - 1;
                Some(w * 64 + b)
            })
        })
        .filter(move |&i| i >= start && i < end)
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::RuleIndex;
    use proptest::prelude::*;

    const WORDS: &[&str] = &[
        "sh",
        "bash",
        "/usr/bin/sh",
        "/usr/bin/",
        "/usr/bin",
        "/opt/a/x",
        "/opt/a",
        "/opt/ab/y",
        "-c",
        "",
        "é",
        "/usr/bin/bash",
    ];

    fn lit() -> impl Strategy<Value = String> {
        prop::sample::select(WORDS).prop_map(|w| format!("{w:?}"))
    }

    fn test() -> impl Strategy<Value = String> {
        prop_oneof![
            lit(),
            lit().prop_map(|l| format!("{{ ne = {l} }}")),
            prop::collection::vec(lit(), 1..4)
                .prop_map(|v| format!("{{ in = [{}] }}", v.join(","))),
            prop::collection::vec(lit(), 1..3)
                .prop_map(|v| format!("{{ not_in = [{}] }}", v.join(","))),
            lit().prop_map(|l| format!("{{ prefix = {l} }}")),
            lit().prop_map(|l| format!("{{ suffix = {l} }}")),
            prop::sample::select(&["/opt/a/**", "/usr/bin/*", "/usr/bin/sh", "/opt/*/x", "s*"][..])
                .prop_map(|g| format!("{{ glob = {g:?} }}")),
            (0u32..3).prop_map(|n| format!("{n}")),
            (0u32..3).prop_map(|n| format!("{{ ge = {n} }}")),
            (bound(), bound()).prop_map(|(a, b)| format!("{{ ge = {a}, lt = {b} }}")),
            (bound(), bound()).prop_map(|(a, b)| format!("{{ gt = {a}, le = {b} }}")),
            bound().prop_map(|a| format!("{{ le = {a} }}")),
            bound().prop_map(|a| format!("{{ gt = {a}, ne = 2 }}")),
            any::<bool>().prop_map(|b| format!("{{ exists = {b} }}")),
        ]
    }

    /// Range ends: integers, fractions, signed zeros, infinities, NaN.
    fn bound() -> impl Strategy<Value = &'static str> {
        prop::sample::select(
            &[
                "0", "1", "2", "3", "-1", "1.5", "-0.0", "0.0", "inf", "-inf", "nan", "2.0",
            ][..],
        )
    }

    fn policy() -> impl Strategy<Value = String> {
        let rule = (
            prop::collection::btree_map(
                prop::sample::select(&["comm", "filename", "argv", "uid", "ancestors.comm"][..]),
                test(),
                0..3,
            ),
            prop::sample::select(&["allow", "alert", "deny"][..]),
            prop::option::of(prop::sample::select(&["OPEN", "LOCKDOWN"][..])),
        );
        prop::collection::vec(rule, 1..70).prop_map(|rules| {
            let mut s = String::new();
            for (i, (conds, d, mode)) in rules.into_iter().enumerate() {
                s += &format!("[[rule]]\nname = \"r{i}\"\ndecision = \"{d}\"\n");
                if let Some(m) = mode {
                    s += &format!("modes = [\"{m}\"]\n");
                }
                s += "[rule.match]\n";
                for (f, t) in &conds {
                    s += &format!("{f} = {t}\n");
                }
            }
            s
        })
    }

    fn event() -> impl Strategy<Value = String> {
        let val = prop_oneof![
            prop::sample::select(WORDS).prop_map(|w| serde_json::json!(w)),
            (0u32..3).prop_map(|n| serde_json::json!(n)),
            prop::sample::select(&[-1.0, -0.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 1e300][..])
                .prop_map(|x| serde_json::json!(x)),
            (-2i64..4).prop_map(|n| serde_json::json!(n)),
            prop::collection::vec(prop::sample::select(WORDS), 0..3)
                .prop_map(|v| serde_json::json!(v)),
            prop::collection::vec(0u32..4, 0..3).prop_map(|v| serde_json::json!(v)),
        ];
        prop::collection::btree_map(
            prop::sample::select(&["comm", "filename", "argv", "uid"][..]),
            val,
            0..4,
        )
        .prop_flat_map(|m| {
            prop::collection::vec(prop::sample::select(WORDS), 0..3).prop_map(move |anc| {
                let mut o = serde_json::Map::new();
                o.insert("v".into(), 1.into());
                o.insert("type".into(), "exec".into());
                for (k, v) in &m {
                    o.insert((*k).into(), v.clone());
                }
                let anc: Vec<_> = anc
                    .iter()
                    .map(|c| serde_json::json!({ "comm": c }))
                    .collect();
                o.insert("ancestors".into(), anc.into());
                serde_json::Value::Object(o).to_string()
            })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// The index changes which rules are tested, never the decision:
        /// random policies (literals, sets, prefixes, globs, numbers, arrays,
        /// nested fields, modes) decided with and without it agree on every
        /// event, rule and hit count.
        #[test]
        fn index_decides_like_the_plain_scan(src in policy(), events in prop::collection::vec(event(), 1..20)) {
            let pol = Policy::parse(&src).map_err(|e| TestCaseError::fail(format!("{e:?}\n{src}")))?;
            let mut fast = Engine::new(&pol, RateState::default());
            let mut plain = Engine::new(&pol, RateState::default());
            plain.index = RuleIndex::everything(pol.rules.len());
            for ev in &events {
                for mode in [Mode::Open, Mode::Lockdown] {
                    let a = fast.decide(ev, mode, 1);
                    let b = plain.decide(ev, mode, 1);
                    prop_assert_eq!(a.verdict, b.verdict, "{} {}", ev, src);
                    prop_assert_eq!(a.rule, b.rule, "{} {}", ev, src);
                }
            }
            prop_assert_eq!(&fast.hits, &plain.hits);
        }
    }
}
