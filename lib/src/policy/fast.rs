//! A single-pass scanner for plain event lines: it fills the slots of the
//! fields a policy names and validates everything else, building nothing.
//!
//! It is a fast path, never a second judge. It accepts only lines it can
//! read without doubt (keys and strings without escapes, integers of at most
//! 18 digits, nesting of at most [`FAST_DEPTH`], at most [`MAX_KEYS`] keys
//! in any one object) and answers `false` for anything else, well-formed or
//! not: the caller then reads the line with the strict reader (`EventSeed`
//! over serde_json and [`crate::json`]), which stays the only one that
//! refuses a line or words an error. So the two can differ only in speed:
//! whenever this returns `true`, the strict reader accepts the same line and
//! fills the same slots (the differential proptests in policy.rs and the
//! fuzz target `policy_fast` hold it to that).
//!
//! What it checks on the lines it accepts is what the strict reader checks:
//! JSON's grammar (RFC 8259: structure, literals, integers without leading
//! zeros, no control characters in strings, only JSON whitespace, nothing
//! after the object) and no key twice in any object, at any depth.
//!
//! Where the time goes: a first pass over the line, 16 bytes at a time
//! ([`classify`]), marks every `"` in a bitmap and tells whether the line
//! holds any backslash or control character at all. Producers write events
//! on one line without escapes, so for almost every line the answer is no,
//! and then every string simply ends at the next quote: one bit scan
//! instead of a loop over its bytes. A line with either goes through the
//! same grammar with a byte-by-byte string loop (escapes still send it on to
//! the strict reader).
//!
//! Then the keys: producers write every event with the same keys in the
//! same order, so the scanner keeps the top-level keys of the last line it
//! read key by key ([`Template`]) and first tries the next line along them:
//! one comparison of the bytes `,"key":` per key stands for the comma, the
//! key, the colon, the duplicate check and the search for the key's plan
//! (a quarter of the instructions per event in the bench). Any difference
//! sends the line back to the key-by-key read, from its first byte.

use std::borrow::Cow;

use super::{KeyPlan, Val};

/// Deepest nesting read here; deeper lines go to the strict reader, whose
/// limit ([`crate::json::MAX_DEPTH`]) is well above it.
const FAST_DEPTH: usize = 16;

/// Most keys read in one object (top level or nested): the duplicate check
/// compares a key with the ones before it, so a longer object goes to the
/// strict reader rather than cost time quadratic in its size here.
const MAX_KEYS: usize = 48;

/// Reusable state of the scanner, kept by the engine between lines so a
/// line costs no allocation.
pub(super) struct Scanner {
    /// Per key class (see [`class`]): 0 for no plan, `i + 1` for plan `i`
    /// alone in its class, [`SHARED`] when several plans share the class.
    plan_of_class: [u8; 64],
    /// One bit per byte of the line: a `"` there.
    quotes: Vec<u64>,
    /// Keys of the objects being read (top level first), as byte ranges.
    keys: Vec<(u32, u32)>,
    /// What [`Scanner::prepare`] found in the line it was last given.
    shape: Shape,
    /// The top-level keys of the last line read in full (see [`Template`]).
    template: Template,
    /// Whether the last line [`Scanner::scan`] accepted was read along the
    /// template (for the tests, which must know the path they test).
    pub(super) via_template: bool,
}

const SHARED: u8 = u8::MAX;

impl Scanner {
    pub(super) fn new(plans: &[KeyPlan]) -> Scanner {
        let mut plan_of_class = [0u8; 64];
        for (i, p) in plans.iter().enumerate() {
            let c = &mut plan_of_class[class(p.key.as_bytes())];
            *c = if *c == 0 && i + 1 < SHARED as usize {
                i as u8 + 1
            } else {
                SHARED
            };
        }
        Scanner {
            plan_of_class,
            quotes: Vec::new(),
            keys: Vec::new(),
            shape: Shape::Other,
            template: Template::default(),
            via_template: false,
        }
    }

    /// The first pass over `b` ([`classify`]) ahead of [`Scanner::scan`]
    /// with `prepared` of the same bytes, and whether `b` is all ASCII:
    /// the pass sees every byte anyway, so the caller learns that the line
    /// is UTF-8 without reading it a second time.
    pub(super) fn prepare(&mut self, b: &[u8]) -> bool {
        let (shape, ascii) = classify(b, &mut self.quotes);
        self.shape = shape;
        ascii
    }

    /// Read `line` into `slots` (all `None` on entry) for `plans` (the ones
    /// this scanner was made for). `false`: the line is not one this
    /// scanner reads (malformed or merely unusual); the slots may then hold
    /// anything, and the caller must clear them and use the strict reader.
    /// `prepared`: [`Scanner::prepare`] was the last call, on this line.
    pub(super) fn scan<'a>(
        &mut self,
        line: &'a str,
        plans: &[KeyPlan],
        slots: &mut [Option<Val<'a>>],
        prepared: bool,
    ) -> bool {
        let b = line.as_bytes();
        // Offsets are kept as u32; a longer line is the strict reader's.
        if b.len() >= u32::MAX as usize {
            return false;
        }
        if !prepared {
            self.prepare(b);
        }
        let shape = self.shape;
        self.keys.clear();
        let (q, k, t) = (&self.quotes[..], &mut self.keys, &self.plan_of_class);
        let tm = &mut self.template;
        // One copy of the scanner per shape, so the tests a shape rules out
        // are not made per byte.
        let r = match shape {
            Shape::Tight => run(Scan::<true, true>::new(line, q, k), tm, t, plans, slots),
            Shape::Clean => run(Scan::<false, true>::new(line, q, k), tm, t, plans, slots),
            Shape::Other => run(Scan::<false, false>::new(line, q, k), tm, t, plans, slots),
        };
        self.via_template = r == Some(true);
        r.is_some()
    }
}

/// Read one line: along the template when the line has its keys, else
/// key by key (and the line's keys become the template). `Some(true)`:
/// read along the template; `Some(false)`: key by key; `None`: not read.
#[inline(always)]
fn run<'a, const T: bool, const C: bool>(
    mut sc: Scan<'a, '_, T, C>,
    template: &mut Template,
    plan_of_class: &[u8; 64],
    plans: &[KeyPlan],
    slots: &mut [Option<Val<'a>>],
) -> Option<bool> {
    if !template.keys.is_empty() {
        if scan_template(&mut sc, template, plans, slots).is_some() {
            return Some(true);
        }
        // Another shape (or a bad line): from the start, key by key.
        for s in slots.iter_mut() {
            *s = None;
        }
        sc.i = 0;
        sc.keys.clear();
    }
    scan_top(&mut sc, plan_of_class, plans, slots)?;
    template.learn(sc.b, sc.keys, plan_of_class, plans);
    Some(false)
}

/// The top-level keys of the last line the key-by-key scan accepted, in
/// order, each as the exact bytes that lead to its value: `{"v":` for the
/// first, `,"pid":` for the others. Producers write every event of a kind
/// with the same keys in the same order, so the next line usually holds
/// these very bytes where its keys are, and then one comparison per key
/// stands for the comma, the key's string, the colon, the duplicate check
/// (these keys were distinct) and the search for the key's plan (kept
/// here). The values are still read and checked one by one as before. A
/// line that differs anywhere is read again key by key.
#[derive(Default)]
struct Template {
    /// The leads of all keys, one after the other.
    lead: Vec<u8>,
    /// Per key: where its lead ends in `lead`, and its plan (0 for none,
    /// `i + 1` for plan `i`).
    keys: Vec<(u32, u8)>,
}

/// Keys longer than this make no template: the comparison is meant to be
/// a few word loads.
const TEMPLATE_KEY: usize = 28;

impl Template {
    /// Keep the keys of `b` (ranges in `keys`, the top-level keys of a line
    /// [`scan_top`] accepted, so distinct and without escapes).
    #[cold]
    fn learn(
        &mut self,
        b: &[u8],
        keys: &[(u32, u32)],
        plan_of_class: &[u8; 64],
        plans: &[KeyPlan],
    ) {
        self.lead.clear();
        self.keys.clear();
        for (n, &(x, y)) in keys.iter().enumerate() {
            let k = &b[x as usize..y as usize];
            let plan = match plan_of_class[class(k)] {
                0 => 0,
                SHARED => plans
                    .iter()
                    .position(|p| same(p.key.as_bytes(), k))
                    .map_or(0, |i| i + 1),
                i => usize::from(same(plans[i as usize - 1].key.as_bytes(), k)) * i as usize,
            };
            // A plan that is not read here (nested fields) cannot be in a
            // line scan_top accepted; and plans past u8 are not kept.
            if k.len() > TEMPLATE_KEY
                || plan > u8::MAX as usize
                || (plan > 0 && !plans[plan - 1].subs.is_empty())
            {
                self.lead.clear();
                self.keys.clear();
                return;
            }
            self.lead.push(if n == 0 { b'{' } else { b',' });
            self.lead.push(b'"');
            self.lead.extend_from_slice(k);
            self.lead.extend_from_slice(b"\":");
            self.keys.push((self.lead.len() as u32, plan as u8));
        }
    }
}

/// [`scan_top`] for a line with exactly the template's keys, in its order,
/// with no whitespace around them; `None` for any other line (which may
/// still be fine: the caller reads it key by key).
#[inline(always)]
fn scan_template<'a, const T: bool, const C: bool>(
    sc: &mut Scan<'a, '_, T, C>,
    t: &Template,
    plans: &[KeyPlan],
    slots: &mut [Option<Val<'a>>],
) -> Option<()> {
    let mut from = 0usize;
    for &(end, plan) in &t.keys {
        let lead = &t.lead[from..end as usize];
        from = end as usize;
        // The key's bytes, between quotes, hold no quote: equal bytes here
        // are the same string token, the same key.
        if !same(sc.b.get(sc.i..sc.i + lead.len())?, lead) {
            return None;
        }
        sc.i += lead.len();
        match plan {
            0 => sc.skip(1)?,
            i => match plans[i as usize - 1].whole {
                Some(s) => match &mut slots[s] {
                    s @ None => sc.named_into(s)?,
                    Some(_) => return None,
                },
                None => drop(sc.named()?),
            },
        }
    }
    if sc.peek()? != b'}' {
        return None;
    }
    sc.i += 1;
    (sc.i == sc.b.len()).then_some(())
}

/// What [`classify`] found in a line.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    /// No backslash, no control character and no space: strings end at
    /// the next quote, and there is no whitespace to skip.
    Tight,
    /// No backslash and no control character, but spaces.
    Clean,
    /// Anything else.
    Other,
}

/// Fill `quotes` with one bit per byte of `b` (set: a `"`), and tell its
/// [`Shape`] and whether every byte is ASCII.
fn classify(b: &[u8], quotes: &mut Vec<u64>) -> (Shape, bool) {
    quotes.clear();
    quotes.reserve(b.len().div_ceil(64));
    let mut acc = Acc::new();
    let (chunks, rest) = b.as_chunks::<64>();
    for c in chunks {
        quotes.push(acc.block64(c));
    }
    if !rest.is_empty() {
        // Padded with quote-free, special-free ASCII bytes.
        let mut pad = [b'a'; 64];
        pad[..rest.len()].copy_from_slice(rest);
        quotes.push(acc.block64(&pad));
    }
    let (special, space, high) = acc.finish();
    let shape = match (special, space) {
        (false, false) => Shape::Tight,
        (false, true) => Shape::Clean,
        _ => Shape::Other,
    };
    (shape, !high)
}

/// What [`classify`] gathers over a line's blocks: the quote bits per block
/// (returned), and whether any byte so far was a backslash or control
/// character (special), a space, or 0x80 and up (high). The SSE2 version
/// keeps the last three as vectors and reduces them once per line: only
/// the quotes need bits per block.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
struct Acc {
    special: std::arch::x86_64::__m128i,
    space: std::arch::x86_64::__m128i,
    high: std::arch::x86_64::__m128i,
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
impl Acc {
    #[inline(always)]
    fn new() -> Acc {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is enabled for this build (the cfg above; it is part
        // of the x86_64 baseline); no memory is touched.
        unsafe {
            Acc {
                special: _mm_setzero_si128(),
                space: _mm_setzero_si128(),
                high: _mm_setzero_si128(),
            }
        }
    }

    #[inline(always)]
    fn block64(&mut self, c: &[u8; 64]) -> u64 {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is enabled (see `new`), and each load reads 16 of
        // the 64 bytes of `c` (unaligned loads are allowed).
        unsafe {
            let quote = _mm_set1_epi8(b'"' as i8);
            let bs = _mm_set1_epi8(b'\\' as i8);
            let lim = _mm_set1_epi8(0x1f);
            let sp = _mm_set1_epi8(b' ' as i8);
            let mut q = 0u64;
            for k in 0..4 {
                let v = _mm_loadu_si128(c.as_ptr().add(16 * k).cast());
                q |= (_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote)) as u32 as u64) << (16 * k);
                // Unsigned v <= 0x1f exactly when max(v, 0x1f) == 0x1f.
                let ctl = _mm_cmpeq_epi8(_mm_max_epu8(v, lim), lim);
                self.special = _mm_or_si128(self.special, _mm_or_si128(_mm_cmpeq_epi8(v, bs), ctl));
                self.space = _mm_or_si128(self.space, _mm_cmpeq_epi8(v, sp));
                self.high = _mm_or_si128(self.high, v);
            }
            q
        }
    }

    /// (special, space, high) over every block given.
    #[inline(always)]
    fn finish(&self) -> (bool, bool, bool) {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is enabled (see `new`); no memory is touched. The
        // top bit of each byte of `high` is set exactly when some byte at
        // that place was 0x80 or more.
        unsafe {
            (
                _mm_movemask_epi8(self.special) != 0,
                _mm_movemask_epi8(self.space) != 0,
                _mm_movemask_epi8(self.high) != 0,
            )
        }
    }
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
type Acc = AccScalar;

/// [`Acc`] a byte at a time: the portable version, and the reference the
/// SIMD one is tested against.
#[derive(Default, Debug, PartialEq)]
struct AccScalar {
    special: bool,
    space: bool,
    high: bool,
}

#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
impl AccScalar {
    fn new() -> AccScalar {
        AccScalar::default()
    }

    fn block64(&mut self, c: &[u8; 64]) -> u64 {
        let mut q = 0u64;
        for (j, &x) in c.iter().enumerate() {
            q |= ((x == b'"') as u64) << j;
            self.special |= x == b'\\' || x < 0x20;
            self.space |= x == b' ';
            self.high |= x >= 0x80;
        }
        q
    }

    fn finish(&self) -> (bool, bool, bool) {
        (self.special, self.space, self.high)
    }
}

/// The scanner over one line. `TIGHT`: the line holds no whitespace at all
/// (nothing to skip); `CLEAN`: it holds no backslash or control character
/// (a string ends at the next quote). See [`Shape`].
struct Scan<'a, 'k, const TIGHT: bool, const CLEAN: bool> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    quotes: &'k [u64],
    keys: &'k mut Vec<(u32, u32)>,
}

#[inline(always)]
fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

impl<'a, 'k, const TIGHT: bool, const CLEAN: bool> Scan<'a, 'k, TIGHT, CLEAN> {
    fn new(s: &'a str, quotes: &'k [u64], keys: &'k mut Vec<(u32, u32)>) -> Self {
        Scan {
            s,
            b: s.as_bytes(),
            i: 0,
            quotes,
            keys,
        }
    }

    #[inline(always)]
    fn ws(&mut self) {
        if TIGHT {
            return;
        }
        // Producers write no whitespace: one test in the usual case
        // (every JSON whitespace byte is at most a space).
        while let Some(&c) = self.b.get(self.i) {
            if c > b' ' || !is_ws(c) {
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

    /// The first `"` at or after `from`.
    #[inline(always)]
    fn next_quote(&self, from: usize) -> Option<usize> {
        let mut w = from / 64;
        let mut m = *self.quotes.get(w)? & (!0u64 << (from % 64));
        while m == 0 {
            w += 1;
            m = *self.quotes.get(w)?;
        }
        Some(w * 64 + m.trailing_zeros() as usize)
    }

    /// A string without escapes or control characters at `i` (its opening
    /// quote): the range of its contents.
    #[inline(always)]
    fn string(&mut self) -> Option<(usize, usize)> {
        let start = self.i + 1;
        let end = if CLEAN {
            // No backslash or control character in the whole line.
            self.next_quote(start)?
        } else {
            // A backslash (escape) or a raw control character in the
            // string sends the line to the strict reader.
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
            end
        };
        self.i = end + 1;
        Some((start, end))
    }

    /// An integer of at most 18 digits (what serde_json turns into a u64 or
    /// i64 for certain); `-0`, fractions and exponents are left to the strict
    /// reader (serde_json makes them floats). Returns (negative, digits).
    #[inline(always)]
    fn int_span(&mut self) -> Option<(bool, usize, usize)> {
        let neg = self.peek()? == b'-';
        let ds = self.i + neg as usize;
        let n = digits_at(self.b, ds);
        let j = ds + n;
        if n == 0 || n > 18 || (n > 1 && self.b[ds] == b'0') {
            return None;
        }
        // With no leading zero, the value is 0 only as the digit "0".
        if matches!(self.b.get(j), Some(b'.' | b'e' | b'E')) || (neg && self.b[ds] == b'0') {
            return None;
        }
        self.i = j;
        Some((neg, ds, j))
    }

    /// [`Scan::int_span`] and its magnitude.
    #[inline(always)]
    fn int_parts(&mut self) -> Option<(bool, u64)> {
        let (neg, ds, j) = self.int_span()?;
        let v = self.b[ds..j]
            .iter()
            .fold(0u64, |v, &c| v * 10 + (c - b'0') as u64);
        Some((neg, v))
    }

    #[inline(always)]
    fn int(&mut self) -> Option<Val<'a>> {
        let (neg, v) = self.int_parts()?;
        Some(if neg { Val::I(-(v as i64)) } else { Val::U(v) })
    }

    #[inline(always)]
    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.b.get(self.i..self.i + word.len())? == word {
            self.i += word.len();
            Some(())
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
                Some(Val::Str(Cow::Borrowed(self.s.get(a..z)?)))
            }
            b'-' | b'0'..=b'9' => self.int(),
            b't' => self.literal(b"true").map(|_| Val::Bool(true)),
            b'f' => self.literal(b"false").map(|_| Val::Bool(false)),
            b'n' => self.literal(b"null").map(|_| Val::Null),
            _ => None,
        }
    }

    /// Validate and skip a scalar, building nothing.
    #[inline(always)]
    fn skip_scalar(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'-' | b'0'..=b'9' => self.int_span().map(drop),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => None,
        }
    }

    /// [`Scan::named`] stored into `slot` (empty), each kind of value
    /// written in place: building a `Val` on the stack and moving it in
    /// made the move's wide load wait on the narrow stores before it (a
    /// failed store-to-load forward per named field, 5 % of the run).
    #[inline(always)]
    fn named_into(&mut self, slot: &mut Option<Val<'a>>) -> Option<()> {
        match self.peek()? {
            b'"' => {
                let (a, z) = self.string()?;
                *slot = Some(Val::Str(Cow::Borrowed(self.s.get(a..z)?)));
            }
            b'-' | b'0'..=b'9' => {
                let (neg, v) = self.int_parts()?;
                *slot = Some(if neg { Val::I(-(v as i64)) } else { Val::U(v) });
            }
            _ => *slot = Some(self.named()?),
        }
        Some(())
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
    #[inline(always)]
    fn skip(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'[' | b'{' => self.skip_container(depth),
            _ => self.skip_scalar(),
        }
    }

    fn skip_container(&mut self, depth: usize) -> Option<()> {
        if depth >= FAST_DEPTH {
            return None;
        }
        let open = self.peek()?;
        self.i += 1;
        self.ws();
        if open == b'[' {
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
            let seen = &self.keys[first..];
            if seen.len() >= MAX_KEYS
                || seen
                    .iter()
                    .any(|&(x, y)| same(&self.b[x as usize..y as usize], k))
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
}

/// The length of the run of ASCII digits at `j` in `b`: eight bytes at a
/// time where eight are left (the first byte that is not a digit found by
/// a bit scan, not a branch per digit), or more than 18 when the run is
/// that long (the caller refuses it anyway).
#[inline(always)]
fn digits_at(b: &[u8], j: usize) -> usize {
    let mut at = j;
    while let Some(w) = b.get(at..at + 8) {
        let mut x = [0u8; 8];
        x.copy_from_slice(w);
        // Each byte minus '0' (as XOR: digits are 0x30..=0x39, so this is
        // 0..=9 exactly for them); then a byte's top bit is set when it is
        // 10 or more: (a & 0x7f) + 0x76 reaches 0x80 from 10 on without a
        // carry into the next byte, and `| a` catches bytes of 0x80 up.
        let a = u64::from_le_bytes(x) ^ 0x3030_3030_3030_3030;
        let m = (((a & 0x7f7f_7f7f_7f7f_7f7f) + 0x7676_7676_7676_7676) | a) & 0x8080_8080_8080_8080;
        if m != 0 {
            return at - j + (m.trailing_zeros() / 8) as usize;
        }
        at += 8;
        if at - j > 18 {
            return at - j;
        }
    }
    while b.get(at).is_some_and(u8::is_ascii_digit) {
        at += 1;
    }
    at - j
}

/// A fingerprint class of a key, 0..64: keys of different classes cannot
/// be equal. Used for the duplicate check at the top level and to find a
/// key's plan.
#[inline(always)]
fn class(k: &[u8]) -> usize {
    let (f, l) = match k {
        [] => (0, 0),
        [f, .., l] => (*f as usize, *l as usize),
        [f] => (*f as usize, *f as usize),
    };
    (k.len() * 7 + f * 3 + l) & 63
}

/// Byte equality without a libc call for the short keys events have (and
/// a template's `,"key":` leads): two overlapping word loads per side for
/// 4..=32 bytes, instead of a byte loop.
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0..4 => a.iter().zip(b).all(|(x, y)| x == y),
        4..8 => word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4),
        8..=16 => word8(a, 0) == word8(b, 0) && word8(a, n - 8) == word8(b, n - 8),
        17..=32 => word16(a, 0) == word16(b, 0) && word16(a, n - 16) == word16(b, n - 16),
        _ => a == b,
    }
}

#[inline(always)]
fn word4(s: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&s[at..at + 4]);
    u32::from_ne_bytes(w)
}

#[inline(always)]
fn word8(s: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&s[at..at + 8]);
    u64::from_ne_bytes(w)
}

#[inline(always)]
fn word16(s: &[u8], at: usize) -> u128 {
    let mut w = [0u8; 16];
    w.copy_from_slice(&s[at..at + 16]);
    u128::from_ne_bytes(w)
}

fn scan_top<'a, const T: bool, const C: bool>(
    sc: &mut Scan<'a, '_, T, C>,
    plan_of_class: &[u8; 64],
    plans: &[KeyPlan],
    slots: &mut [Option<Val<'a>>],
) -> Option<()> {
    sc.eat(b'{')?;
    sc.ws();
    if sc.peek()? == b'}' {
        sc.i += 1;
    } else {
        // Per class, 1 + the index in `keys` of its latest key; per key,
        // the same for the previous key of its class. A new key is
        // compared only with earlier keys of its own class.
        let mut classes = 0u64;
        let mut head = [0u8; 64];
        let mut prev = [0u8; MAX_KEYS];
        loop {
            sc.ws();
            if sc.peek()? != b'"' {
                return None;
            }
            let (a, z) = sc.string()?;
            let k = &sc.b[a..z];
            let c = class(k);
            if classes & (1 << c) != 0 {
                let mut j = head[c];
                while j != 0 {
                    let (x, y) = sc.keys[j as usize - 1];
                    if same(&sc.b[x as usize..y as usize], k) {
                        return None;
                    }
                    j = prev[j as usize - 1];
                }
            }
            classes |= 1 << c;
            let n = sc.keys.len();
            if n == MAX_KEYS {
                return None;
            }
            prev[n] = head[c];
            head[c] = n as u8 + 1;
            sc.keys.push((a as u32, z as u32));
            sc.eat(b':')?;
            sc.ws();
            let plan = match plan_of_class[c] {
                0 => None,
                SHARED => plans.iter().find(|p| same(p.key.as_bytes(), k)),
                i => Some(&plans[i as usize - 1]).filter(|p| same(p.key.as_bytes(), k)),
            };
            match plan {
                None => sc.skip(1)?,
                Some(plan) if plan.subs.is_empty() => match plan.whole {
                    // Always empty here (no key twice).
                    Some(i) => match &mut slots[i] {
                        s @ None => sc.named_into(s)?,
                        Some(_) => return None,
                    },
                    None => drop(sc.named()?),
                },
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The SIMD classifier marks exactly what the byte loop marks,
        /// block after block (its flags carry over from block to block).
        #[test]
        fn acc_agrees_with_the_byte_loop(blocks in proptest::collection::vec((any::<[u8; 32]>(), any::<[u8; 32]>(), any::<[u8; 64]>()), 1..4)) {
            let mut simd = Acc::new();
            let mut scalar = AccScalar::new();
            for (a, b, pick) in blocks {
                let mut c = [0u8; 64];
                c[..32].copy_from_slice(&a);
                c[32..].copy_from_slice(&b);
                // Bias toward the bytes that matter, and keep some blocks
                // plain so a flag's first appearance is tested too.
                for (x, p) in c.iter_mut().zip(pick) {
                    *x = match p % 9 {
                        0 => b'"',
                        1 => b'\\',
                        2 => p % 0x21,
                        3 => b' ',
                        4..=6 => b'a' + p % 26,
                        _ => *x,
                    };
                }
                prop_assert_eq!(simd.block64(&c), scalar.block64(&c));
                prop_assert_eq!(simd.finish(), scalar.finish());
            }
        }

        #[test]
        fn classify_marks_every_quote(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut q = Vec::new();
            let (shape, ascii) = classify(&b, &mut q);
            let special = b.iter().any(|&x| x == b'\\' || x < 0x20);
            let space = b.contains(&b' ');
            prop_assert_eq!(ascii, b.is_ascii());
            prop_assert_eq!(shape == Shape::Tight, !special && !space);
            prop_assert_eq!(shape == Shape::Clean, !special && space);
            for (i, &x) in b.iter().enumerate() {
                prop_assert_eq!(q[i / 64] >> (i % 64) & 1 == 1, x == b'"');
            }
            prop_assert_eq!(q.len(), b.len().div_ceil(64));
        }

        /// The word-wise key comparison is byte equality, at every length
        /// (equal, and differing in any one byte).
        #[test]
        fn same_is_byte_equality(a in proptest::collection::vec(any::<u8>(), 0..40), at in any::<usize>(), x in any::<u8>(), other in proptest::collection::vec(any::<u8>(), 0..40)) {
            prop_assert!(same(&a, &a.clone()));
            prop_assert_eq!(same(&a, &other), a == other);
            if !a.is_empty() {
                let mut b = a.clone();
                let i = at % b.len();
                b[i] = x;
                prop_assert_eq!(same(&a, &b), a == b);
            }
        }

        /// The word-wise digit count is the byte loop's, up to the point
        /// where the caller refuses the run (over 18 digits).
        #[test]
        fn digits_at_counts_like_the_byte_loop(b in proptest::collection::vec(prop_oneof![4 => b'0'..=b'9', 1 => any::<u8>()], 0..40), at in any::<prop::sample::Index>()) {
            let j = if b.is_empty() { 0 } else { at.index(b.len() + 1) };
            let want = b[j..].iter().take_while(|c| c.is_ascii_digit()).count();
            let got = digits_at(&b, j);
            if want > 18 {
                prop_assert!(got > 18 && got <= want, "{} vs {}", got, want);
            } else {
                prop_assert_eq!(got, want);
            }
        }

        /// All-ASCII lines are told apart from lines with one high byte.
        #[test]
        fn classify_tells_ascii(b in proptest::collection::vec(0u8..0x80, 0..300), at in any::<usize>(), hi in 0x80u8..) {
            let mut q = Vec::new();
            prop_assert!(classify(&b, &mut q).1);
            if !b.is_empty() {
                let mut b = b;
                let i = at % b.len();
                b[i] = hi;
                prop_assert!(!classify(&b, &mut q).1);
            }
        }
    }
}
