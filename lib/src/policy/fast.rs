//! A single-pass scanner for plain event lines: it fills the slots of the
//! fields a policy names and validates everything else, building nothing.
//!
//! It is a fast path, never a second judge. It accepts only lines it can
//! read without doubt (keys and strings without escapes, integers of at most
//! 18 digits, nesting of at most [`FAST_DEPTH`], at most [`TOP_KEYS`] keys
//! at the top) and answers `false` for anything else, well-formed or not:
//! the caller then reads the line with the strict reader (`EventSeed` over
//! serde_json and [`crate::json`]), which stays the only one that refuses a
//! line or words an error. So the two can differ only in speed: whenever
//! this returns `true`, the strict reader accepts the same line and fills
//! the same slots (the differential proptest in policy.rs and the fuzz target
//! `policy_fast` hold it to that).
//!
//! What it checks on the lines it accepts is what the strict reader checks:
//! JSON's grammar (RFC 8259: structure, literals, integers without leading
//! zeros, no control characters in strings, only JSON whitespace, nothing
//! after the object) and no key twice in any object, at any depth.

use std::borrow::Cow;

use super::{KeyPlan, Val};

/// Deepest nesting read here; deeper lines go to the strict reader, whose
/// limit ([`crate::json::MAX_DEPTH`]) is well above it.
const FAST_DEPTH: usize = 16;

/// Most top-level keys read here (their duplicate check lives on the stack).
const TOP_KEYS: usize = 48;

struct Scan<'a, 'k> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    /// Keys of the nested objects being read, as byte ranges of `b`.
    keys: &'k mut Vec<(u32, u32)>,
}

#[inline(always)]
fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

impl<'a> Scan<'a, '_> {
    #[inline(always)]
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if !is_ws(c) {
                break;
            }
            self.i += 1;
        }
    }

    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Consume `c` (after optional whitespace).
    #[inline(always)]
    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    /// A string without escapes or control characters at `i` (its opening
    /// quote): the range of its contents.
    #[inline(always)]
    fn string(&mut self) -> Option<(usize, usize)> {
        // Event strings are short (names, paths): one byte loop beats a
        // SIMD search plus a second pass. A backslash (escape) or a raw
        // control character sends the line to the strict reader.
        let start = self.i + 1;
        let mut end = start;
        loop {
            let c = *self.b.get(end)?;
            if c == b'"' {
                break;
            }
            if c < 0x20 || c == b'\\' {
                return None;
            }
            end += 1;
        }
        self.i = end + 1;
        Some((start, end))
    }

    /// An integer of at most 18 digits (what serde_json turns into a u64 or
    /// i64 for certain); `-0`, fractions and exponents are left to the strict
    /// reader (serde_json makes them floats).
    #[inline(always)]
    fn int(&mut self) -> Option<Val<'a>> {
        let neg = self.b[self.i] == b'-';
        let ds = self.i + neg as usize;
        let mut j = ds;
        let mut v: u64 = 0;
        while let Some(&c) = self.b.get(j) {
            if !c.is_ascii_digit() {
                break;
            }
            v = v.wrapping_mul(10).wrapping_add((c - b'0') as u64);
            j += 1;
        }
        let n = j - ds;
        if n == 0 || n > 18 || (n > 1 && self.b[ds] == b'0') {
            return None;
        }
        if matches!(self.b.get(j), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        self.i = j;
        if neg {
            if v == 0 {
                return None;
            }
            Some(Val::I(-(v as i64)))
        } else {
            Some(Val::U(v))
        }
    }

    #[inline(always)]
    fn literal(&mut self, word: &[u8], v: Val<'a>) -> Option<Val<'a>> {
        if self.b.get(self.i..self.i + word.len())? == word {
            self.i += word.len();
            Some(v)
        } else {
            None
        }
    }

    /// A scalar value (string, integer, true, false, null).
    #[inline(always)]
    fn scalar(&mut self) -> Option<Val<'a>> {
        match self.peek()? {
            b'"' => {
                let (a, z) = self.string()?;
                Some(Val::Str(Cow::Borrowed(&self.s[a..z])))
            }
            b'-' | b'0'..=b'9' => self.int(),
            b't' => self.literal(b"true", Val::Bool(true)),
            b'f' => self.literal(b"false", Val::Bool(false)),
            b'n' => self.literal(b"null", Val::Null),
            _ => None,
        }
    }

    /// The value of a field a rule names: a scalar or an array of scalars
    /// (an object or a nested array goes to the strict reader).
    fn named(&mut self) -> Option<Val<'a>> {
        if self.peek()? != b'[' {
            return self.scalar();
        }
        self.i += 1;
        let mut v = Vec::new();
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(Val::Arr(v));
        }
        loop {
            self.ws();
            v.push(self.scalar()?);
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(Val::Arr(v));
                }
                _ => return None,
            }
        }
    }

    /// Validate and skip any value at `depth` (the top-level object's values
    /// are at depth 1).
    fn skip(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'[' => {
                if depth >= FAST_DEPTH {
                    return None;
                }
                self.i += 1;
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.ws();
                    self.skip(depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'{' => {
                if depth >= FAST_DEPTH {
                    return None;
                }
                self.i += 1;
                self.ws();
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(());
                }
                let first = self.keys.len();
                loop {
                    self.ws();
                    if self.peek()? != b'"' {
                        return None;
                    }
                    let (a, z) = self.string()?;
                    let k = &self.b[a..z];
                    if self.keys[first..]
                        .iter()
                        .any(|&(x, y)| &self.b[x as usize..y as usize] == k)
                    {
                        return None;
                    }
                    self.keys.push((a as u32, z as u32));
                    self.eat(b':')?;
                    self.ws();
                    self.skip(depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            self.keys.truncate(first);
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            _ => self.scalar().map(drop),
        }
    }
}

/// A fingerprint class of a key, for the duplicate check at the top level:
/// keys of different classes cannot be equal.
#[inline(always)]
fn class(k: &[u8]) -> u64 {
    let (f, l) = match k {
        [] => (0, 0),
        [f, .., l] => (*f as usize, *l as usize),
        [f] => (*f as usize, *f as usize),
    };
    1u64 << ((k.len() * 7 + f * 3 + l) & 63)
}

/// Read `line` into `slots` (all `None` on entry) for `plans`. `false`: the
/// line is not one this scanner reads (malformed or merely unusual); the
/// slots may then hold anything, and the caller must clear them and use the
/// strict reader.
pub(super) fn scan<'a>(
    line: &'a str,
    plans: &[KeyPlan],
    slots: &mut [Option<Val<'a>>],
    keys: &mut Vec<(u32, u32)>,
) -> bool {
    keys.clear();
    let mut sc = Scan {
        s: line,
        b: line.as_bytes(),
        i: 0,
        keys,
    };
    scan_top(&mut sc, plans, slots).is_some()
}

fn scan_top<'a>(
    sc: &mut Scan<'a, '_>,
    plans: &[KeyPlan],
    slots: &mut [Option<Val<'a>>],
) -> Option<()> {
    sc.eat(b'{')?;
    sc.ws();
    if sc.peek()? == b'}' {
        sc.i += 1;
    } else {
        let mut top = [(0u32, 0u32); TOP_KEYS];
        let mut n = 0;
        let mut classes = 0u64;
        loop {
            sc.ws();
            if sc.peek()? != b'"' {
                return None;
            }
            let (a, z) = sc.string()?;
            let k = &sc.b[a..z];
            let c = class(k);
            if classes & c != 0
                && top[..n]
                    .iter()
                    .any(|&(x, y)| &sc.b[x as usize..y as usize] == k)
            {
                return None;
            }
            classes |= c;
            if n == TOP_KEYS {
                return None;
            }
            top[n] = (a as u32, z as u32);
            n += 1;
            sc.eat(b':')?;
            sc.ws();
            let key = &sc.s[a..z];
            match plans.iter().find(|p| crate::json::key_eq(&p.key, key)) {
                None => sc.skip(1)?,
                Some(plan) if plan.subs.is_empty() => {
                    let v = sc.named()?;
                    if let Some(i) = plan.whole {
                        slots[i] = Some(v);
                    }
                }
                // A nested field (ancestors.comm and the like).
                Some(_) => return None,
            }
            sc.ws();
            match sc.peek()? {
                b',' => sc.i += 1,
                b'}' => {
                    sc.i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    sc.ws();
    (sc.i == sc.b.len()).then_some(())
}
