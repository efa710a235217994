//! The one strict reader for the JSON lines the tools take as input.
//!
//! serde_json on its own keeps the LAST of two equal keys in an object and
//! skips ignored values without any depth limit, so the same line can mean
//! one thing to boundary and another to the next reader (jq keeps the last
//! key too, Python's json the last, some SIEMs the first), and a line nested
//! 10,000 deep is passed on to readers that cannot parse it (jq 1.6 stops at
//! 256). Every tool that reads JSON lines (bd-policy events, bd-lock
//! on-tripwire decisions, bd-log append's records) therefore goes through
//! here: a duplicate key at any depth, or nesting deeper than [`MAX_DEPTH`],
//! refuses the whole line.
//!
//! [`check`] validates without building anything (it borrows keys where the
//! text has no escapes); [`StrictValue`] builds a [`serde_json::Value`] with
//! the same checks, for callers that need one; [`Checked`] is the seed a
//! hand-written visitor uses for values it does not otherwise look at.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// Deepest nesting accepted: an object or array directly in the line is
/// depth 1. The deepest line boundary itself writes is 4 (a decision's
/// `event.ancestors[i]`), so 32 leaves room for any sane producer and stays
/// far below jq's 256 and serde_json's own 128.
pub const MAX_DEPTH: usize = 32;

/// A map key, borrowed from the input when it has no escapes.
pub struct Key<'de>(pub Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KV;
        impl<'de> Visitor<'de> for KV {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_string())))
            }
        }
        d.deserialize_str(KV)
    }
}

/// Remembers the keys of one object and refuses a repeat. Objects are small
/// (tens of keys), so a linear scan beats hashing, and the first
/// [`KeySet::INLINE`] keys live on the stack: no allocation per object in the
/// common case (this runs for every object of every input line). Past that,
/// the keys move to a hash set (std's, seeded per process), so an object of
/// a million keys in a 64 MiB line costs linear time, not quadratic.
pub struct KeySet<'de> {
    inline: [Cow<'de, str>; KeySet::INLINE],
    n: usize,
    more: Option<std::collections::HashSet<Cow<'de, str>>>,
    /// One bit per fingerprint class of the keys seen: a key whose bit is
    /// clear cannot be a repeat, so most keys skip the scan.
    classes: u64,
}

impl Default for KeySet<'_> {
    fn default() -> Self {
        KeySet {
            inline: [const { Cow::Borrowed("") }; KeySet::INLINE],
            n: 0,
            more: None,
            classes: 0,
        }
    }
}

/// Key equality without a libc call for the short keys events have: length
/// first, then the bytes in line.
#[inline]
pub fn key_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    if a.len() <= 16 {
        a.iter().zip(b).all(|(x, y)| x == y)
    } else {
        a == b
    }
}

impl<'de> KeySet<'de> {
    const INLINE: usize = 24;

    /// Record `k`; an error naming it if it was already there.
    pub fn insert<E: de::Error>(&mut self, k: Cow<'de, str>) -> Result<(), E> {
        let dup = |k: &str| E::custom(format_args!("duplicate key {k:?}"));
        if let Some(set) = &mut self.more {
            if set.contains(&k) {
                return Err(dup(&k));
            }
            set.insert(k);
            return Ok(());
        }
        let b = k.as_bytes();
        let class = match b {
            [] => 0,
            [f, .., l] => (b.len() as u32 * 7) ^ (*f as u32 * 3) ^ (*l as u32 * 5),
            [f] => *f as u32,
        } % 64;
        if self.classes & (1 << class) != 0 && self.inline[..self.n].iter().any(|s| key_eq(s, &k)) {
            return Err(dup(&k));
        }
        self.classes |= 1 << class;
        if self.n < Self::INLINE {
            self.inline[self.n] = k;
            self.n += 1;
        } else {
            let mut set: std::collections::HashSet<Cow<'de, str>> =
                self.inline.iter().cloned().collect();
            set.insert(k);
            self.more = Some(set);
        }
        Ok(())
    }
}

fn too_deep<E: de::Error>() -> E {
    E::custom(format_args!(
        "nesting deeper than {MAX_DEPTH} levels (the input limit)"
    ))
}

/// Validates one value at `depth` (the depth of its enclosing container; 0
/// for the whole line) without keeping it.
#[derive(Clone, Copy)]
pub struct Checked {
    pub depth: usize,
}

impl<'de> DeserializeSeed<'de> for Checked {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Checked {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
        let inner = Checked {
            depth: self.depth + 1,
        };
        if inner.depth > MAX_DEPTH {
            return Err(too_deep());
        }
        while a.next_element_seed(inner)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
        let inner = Checked {
            depth: self.depth + 1,
        };
        if inner.depth > MAX_DEPTH {
            return Err(too_deep());
        }
        let mut keys = KeySet::default();
        while let Some(Key(k)) = a.next_key::<Key<'de>>()? {
            keys.insert(k)?;
            a.next_value_seed(inner)?;
        }
        Ok(())
    }
}

/// Builds a [`serde_json::Value`] with the checks of [`Checked`].
#[derive(Clone, Copy)]
pub struct StrictValue {
    pub depth: usize,
}

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = serde_json::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<serde_json::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = serde_json::Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok(b.into())
    }
    fn visit_i64<E>(self, i: i64) -> Result<Self::Value, E> {
        Ok(i.into())
    }
    fn visit_u64<E>(self, u: u64) -> Result<Self::Value, E> {
        Ok(u.into())
    }
    fn visit_f64<E>(self, x: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, Into::into))
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(s.into())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        let inner = StrictValue {
            depth: self.depth + 1,
        };
        if inner.depth > MAX_DEPTH {
            return Err(too_deep());
        }
        let mut v = Vec::new();
        while let Some(x) = a.next_element_seed(inner)? {
            v.push(x);
        }
        Ok(v.into())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        let inner = StrictValue {
            depth: self.depth + 1,
        };
        if inner.depth > MAX_DEPTH {
            return Err(too_deep());
        }
        let mut m = serde_json::Map::new();
        while let Some(Key(k)) = a.next_key::<Key<'de>>()? {
            // The map itself finds the repeat: no second key list.
            if m.contains_key(k.as_ref()) {
                return Err(de::Error::custom(format_args!("duplicate key {k:?}")));
            }
            let v = a.next_value_seed(inner)?;
            m.insert(k.into_owned(), v);
        }
        Ok(m.into())
    }
}

/// Is `line` exactly one JSON value with no duplicate key and no nesting
/// deeper than [`MAX_DEPTH`]? The error is serde_json's message with its
/// line and column, or ours.
pub fn check(line: &[u8]) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(line);
    Checked { depth: 0 }.deserialize(&mut de)?;
    de.end()
}

/// Parse one line strictly into a Value.
pub fn parse(line: &str) -> Result<serde_json::Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(line);
    let v = StrictValue { depth: 0 }.deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

/// Parse one line strictly into `T`: the line is checked first, then
/// deserialized (borrowing from `line` where `T` does).
pub fn from_line<'a, T: de::Deserialize<'a>>(line: &'a str) -> Result<T, serde_json::Error> {
    check(line.as_bytes())?;
    serde_json::from_str(line)
}

/// The output contract of docs/EVENTS.md for one line a tool printed:
/// strict JSON object, `v` first (an integer), `type` second (lowercase
/// snake_case), `time` an RFC 3339 UTC timestamp ending in `Z`.
pub fn check_output_line(line: &str) -> Result<(), String> {
    if line.contains('\n') {
        return Err("more than one line".into());
    }
    let v = parse(line).map_err(|e| format!("not strict JSON: {e}"))?;
    // Key order as printed (serde_json's Map is sorted): read the text.
    let keys = first_keys(line);
    if keys.first().map(String::as_str) != Some("v")
        || keys.get(1).map(String::as_str) != Some("type")
    {
        return Err(format!(
            "\"v\" and \"type\" must be the first two keys, got {keys:?}"
        ));
    }
    if !v["v"].is_u64() {
        return Err(format!("\"v\" is {}, not an integer", v["v"]));
    }
    let ty = v["type"].as_str().ok_or("\"type\" is not a string")?;
    if ty.is_empty()
        || !ty
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(format!("\"type\" {ty:?} is not lowercase snake_case"));
    }
    let t = v["time"].as_str().ok_or("no \"time\" string")?;
    if !t.ends_with('Z') || humantime::parse_rfc3339(t).is_err() {
        return Err(format!("\"time\" {t:?} is not RFC 3339 UTC"));
    }
    Ok(())
}

/// Where an error was found, for [`error_line`]: each part only when known.
#[derive(Debug, Default, Clone, Copy)]
pub struct ErrorAt<'a> {
    /// The file the error is in (a policy, a token, a key, a log).
    pub file: Option<&'a str>,
    /// 1-based line in `file`.
    pub line: Option<u64>,
    /// The field (a TOML key, a JSON member) at fault.
    pub field: Option<&'a str>,
}

/// The one error object every tool prints on stdout with `--json` when it
/// exits non-zero without a verdict of its own (docs/EVENTS.md, `error`):
///
/// `{"v":1,"type":"error","time":…,"tool":…,"code":N,"message":…,"file"?,"line"?,"field"?}`
///
/// `code` is the process's exit status (lib::exit), `message` the same
/// one-line diagnostic the tool writes on stderr, without the `tool:`
/// prefix. A script reading stdout sees why it got nothing else, and never
/// has to parse stderr.
pub fn error_line(tool: &str, code: i32, message: &str, at: ErrorAt<'_>) -> String {
    #[derive(serde::Serialize)]
    struct E<'a> {
        v: u32,
        #[serde(rename = "type")]
        kind: &'a str,
        time: String,
        tool: &'a str,
        code: i32,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        file: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        line: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        field: Option<&'a str>,
    }
    // One line, whatever the message holds: newlines become "; ".
    let flat;
    let message = if message.contains('\n') {
        flat = message.trim_end().replace('\n', "; ");
        flat.as_str()
    } else {
        message
    };
    serde_json::to_string(&E {
        v: 1,
        kind: "error",
        time: crate::time::now_rfc3339(),
        tool,
        code,
        message,
        file: at.file,
        line: at.line,
        field: at.field,
    })
    .unwrap_or_else(|_| {
        // Serialising strings and integers cannot fail; keep the contract anyway.
        format!(
            "{{\"v\":1,\"type\":\"error\",\"time\":\"{}\",\"tool\":\"{tool}\",\"code\":{code},\"message\":\"(unprintable)\"}}",
            crate::time::now_rfc3339()
        )
    })
}

/// Print [`error_line`] on stdout, ignoring a closed stdout (the tool is
/// already exiting with `code`; stderr carries the diagnostic).
pub fn print_error(tool: &str, code: i32, message: &str, at: ErrorAt<'_>) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{}", error_line(tool, code, message, at)).and_then(|_| o.flush());
}

/// One output line of type `ty`: `{"v":1,"type":ty,"time":now,…fields}`,
/// `fields` (an object) after the three contract keys in the order given.
/// serde_json's own map sorts keys (preserve_order is off), which would put
/// `type` before `v`; this writes the head as text instead.
pub fn output_line(ty: &str, fields: serde_json::Value) -> String {
    let mut line = format!(
        "{{\"v\":1,\"type\":{},\"time\":\"{}\"",
        serde_json::Value::from(ty),
        crate::time::now_rfc3339()
    );
    if let serde_json::Value::Object(m) = fields {
        for (k, x) in m {
            if k == "v" || k == "type" || k == "time" {
                continue;
            }
            line.push(',');
            line.push_str(&serde_json::Value::from(k).to_string());
            line.push(':');
            line.push_str(&x.to_string());
        }
    }
    line.push('}');
    line
}

/// Parse a tool's command line; a usage error (exit 2) on a command line
/// that asked for `--json` also prints the [`error_line`] object on stdout.
pub fn parse_cli<C: clap::Parser>(tool: &str) -> C {
    match C::try_parse() {
        Ok(c) => c,
        Err(e) => {
            if e.use_stderr() && std::env::args_os().any(|a| a == "--json") {
                let msg = e.kind().to_string();
                let detail = e.to_string();
                let first = detail
                    .lines()
                    .next()
                    .unwrap_or(&msg)
                    .trim_start_matches("error: ");
                print_error(tool, e.exit_code(), first, ErrorAt::default());
            }
            e.exit()
        }
    }
}

/// The top-level keys of an object line, in the order written.
fn first_keys(line: &str) -> Vec<String> {
    struct Keys(Vec<String>);
    impl<'de> Visitor<'de> for &mut Keys {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
            while let Some(Key(k)) = a.next_key::<Key<'de>>()? {
                self.0.push(k.into_owned());
                a.next_value::<de::IgnoredAny>()?;
            }
            Ok(())
        }
    }
    let mut k = Keys(Vec::new());
    let mut de = serde_json::Deserializer::from_str(line);
    let _ = serde::Deserializer::deserialize_map(&mut de, &mut k);
    k.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn nested(depth: usize) -> String {
        "[".repeat(depth) + &"]".repeat(depth)
    }

    #[test]
    fn refuses_duplicate_keys_at_any_depth() {
        for bad in [
            r#"{"a":1,"a":2}"#,
            r#"{"x":{"a":1,"b":{"c":1,"c":1}}}"#,
            r#"[{"k":[{"z":0,"z":0}]}]"#,
            // Escapes spell the same key differently in the text.
            r#"{"type":"exec","t\u0079pe":"deny"}"#,
        ] {
            let e = check(bad.as_bytes()).unwrap_err().to_string();
            assert!(e.contains("duplicate key"), "{bad}: {e}");
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains("duplicate key"), "{bad}: {e}");
        }
        // Equal keys in different objects are fine.
        check(br#"{"a":{"a":1},"b":[{"a":1},{"a":2}]}"#).unwrap();
        // Past the inline keys (a hash set), early and late repeats alike.
        let many: Vec<String> = (0..200).map(|i| format!("\"k{i}\":{i}")).collect();
        let line = format!("{{{}}}", many.join(","));
        check(line.as_bytes()).unwrap();
        for (a, b) in [(3, 150), (150, 199), (0, 24), (23, 24)] {
            let mut m = many.clone();
            m[b] = format!("\"k{a}\":0");
            let e = check(format!("{{{}}}", m.join(",")).as_bytes()).unwrap_err();
            assert!(e.to_string().contains("duplicate key"), "{a} {b}: {e}");
        }
    }

    /// A huge object costs linear time: 200,000 distinct keys check in well
    /// under the seconds a quadratic scan would take (no timing asserted;
    /// a regression shows as a test that hangs).
    #[test]
    fn a_huge_object_is_checked_in_linear_time() {
        let many: Vec<String> = (0..200_000).map(|i| format!("\"k{i}\":1")).collect();
        check(format!("{{{}}}", many.join(",")).as_bytes()).unwrap();
    }

    #[test]
    fn refuses_nesting_past_the_bound_even_10k_deep() {
        check(nested(MAX_DEPTH).as_bytes()).unwrap();
        assert!(parse(&nested(MAX_DEPTH)).unwrap().is_array());
        for d in [MAX_DEPTH + 1, 200, 10_000] {
            let e = check(nested(d).as_bytes()).unwrap_err().to_string();
            assert!(e.contains("nesting deeper than"), "{d}: {e}");
            let e = parse(&nested(d)).unwrap_err().to_string();
            assert!(e.contains("nesting deeper than"), "{d}: {e}");
        }
        let objs = "{\"a\":".repeat(10_000) + "1" + &"}".repeat(10_000);
        assert!(check(objs.as_bytes()).is_err());
    }

    #[test]
    fn output_contract() {
        let ok = r#"{"v":1,"type":"mode_status","time":"2026-11-27T04:40:00.123456789Z","x":1}"#;
        check_output_line(ok).unwrap();
        for bad in [
            r#"{"type":"mode","v":1,"time":"2026-11-27T04:40:00Z"}"#,
            r#"{"v":1,"type":"release-token","time":"2026-11-27T04:40:00Z"}"#,
            r#"{"v":1,"type":"mode","ts":"2026-11-27T04:40:00Z"}"#,
            r#"{"v":1,"type":"mode","time":"2026-11-27T04:40:00+01:00"}"#,
            r#"{"v":"1","type":"mode","time":"2026-11-27T04:40:00Z"}"#,
            r#"{"v":1,"type":"mode","type":"x","time":"2026-11-27T04:40:00Z"}"#,
        ] {
            assert!(check_output_line(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn error_line_holds_to_the_contract() {
        let l = error_line(
            "bd-x",
            2,
            "p.toml:3:1: bad\nsecond \"line\"",
            ErrorAt {
                file: Some("p.toml"),
                line: Some(3),
                field: Some("decision"),
            },
        );
        check_output_line(&l).unwrap();
        let v = parse(&l).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["code"], 2);
        assert_eq!(v["tool"], "bd-x");
        assert_eq!(v["message"], "p.toml:3:1: bad; second \"line\"");
        assert_eq!(v["file"], "p.toml");
        assert_eq!(v["line"], 3);
        assert_eq!(v["field"], "decision");
        let l = output_line(
            "x_y",
            serde_json::json!({"v":9,"a":[1],"time":"no","b":null}),
        );
        check_output_line(&l).unwrap();
        assert!(l.starts_with(r#"{"v":1,"type":"x_y","time":""#), "{l}");
        assert!(l.ends_with(r#","a":[1],"b":null}"#), "{l}");
        let l = error_line("bd-x", 5, "nothing loaded", ErrorAt::default());
        check_output_line(&l).unwrap();
        let v = parse(&l).unwrap();
        assert!(v.get("file").is_none() && v.get("line").is_none() && v.get("field").is_none());
    }

    #[test]
    fn trailing_bytes_and_non_json_are_refused() {
        assert!(check(b"{} {}").is_err());
        assert!(check(b"").is_err());
        assert!(check(b"{\"a\":").is_err());
        check(b" {\"a\":[1,2.5,null,true,\"x\"]} ").unwrap();
    }

    fn arb_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(Into::into),
            any::<i64>().prop_map(Into::into),
            "[a-z\\\\\"\u{e9}\u{1F600}]{0,6}".prop_map(Into::into),
        ];
        leaf.prop_recursive(6, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Into::into),
                prop::collection::btree_map("[a-z]{0,3}", inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Anything serde_json writes (unique keys, shallow) reads back the same.
        #[test]
        fn round_trips_what_serde_json_writes(v in arb_json()) {
            let text = v.to_string();
            prop_assert!(check(text.as_bytes()).is_ok());
            prop_assert_eq!(parse(&text).unwrap(), v);
        }

        /// Arbitrary bytes never panic, and the two readers agree.
        #[test]
        fn never_panics_and_agrees_with_itself(b in prop::collection::vec(any::<u8>(), 0..256)) {
            let c = check(&b).is_ok();
            if let Ok(s) = std::str::from_utf8(&b) {
                prop_assert_eq!(parse(s).is_ok(), c);
            }
        }

        /// A line the strict reader accepts is one serde_json accepts too,
        /// with the same value: strictness only ever removes lines.
        #[test]
        fn accepted_lines_mean_the_same_to_serde_json(
            v in arb_json(), cut in 0usize..64, junk in "[\\[\\]{}:,\"a1 ]{0,8}"
        ) {
            let mut text = v.to_string();
            let at = cut.min(text.len());
            if text.is_char_boundary(at) {
                text.insert_str(at, &junk);
            }
            if let Ok(strict) = parse(&text) {
                let loose: serde_json::Value = serde_json::from_str(&text).unwrap();
                prop_assert_eq!(strict, loose);
            }
        }
    }
}
