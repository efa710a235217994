//! bd-policy's fast scanner against its strict reader: for any input line,
//! an engine trying the scanner first and one using only the strict reader
//! must reach the same decision with the same rule and reason (the scanner
//! only ever accepts; what it does not read goes to the strict reader),
//! starting from raw bytes as bd-policy does (`Engine::decide_bytes`).
//! The input is split at newlines and its lines decided one after the other
//! by the same engines, as bd-policy does: the scanner reads a line along
//! the keys of the line before (its template), so a line must be decided
//! the same whatever came before it.
//! Run: `cargo +nightly fuzz run policy_fast`.
#![no_main]

use boundary::mode::Mode;
use boundary::policy::{Engine, Policy, RateState};
use libfuzzer_sys::fuzz_target;

const POLICY: &str = "[[rule]]\nname = \"a\"\ndecision = \"alert\"\n[rule.match]\n\
    uid = { ge = 1000 }\ncomm = { prefix = \"s\" }\nargv = { in = [\"-c\"] }\n\
    [[rule]]\nname = \"b\"\ndecision = \"deny\"\n[rule.match]\n\
    ancestors.comm = { exists = true }\n\
    [[rule]]\nname = \"r\"\ndecision = \"alert\"\n[rule.match]\npid = { gt = 5, le = 100.5 }\n\
    [[rule]]\nname = \"c\"\ndecision = \"allow\"\n[rule.match]\ntype = \"exec\"\n";

fuzz_target!(|data: &[u8]| {
    let pol = Policy::parse(POLICY).expect("policy");
    let mut fast = Engine::new(&pol, RateState::default());
    let mut strict = Engine::new(&pol, RateState::default());
    strict.fast = false;
    for data in data.split(|&b| b == b'\n') {
        // Raw bytes through decide_bytes: the scanner's own ASCII test must
        // say "UTF-8" exactly when std does, and the decision must match.
        let a = fast.decide_bytes(data, Mode::Open, 1);
        let Ok(line) = std::str::from_utf8(data) else {
            assert!(a.is_err(), "{data:?} is not UTF-8 but was decided");
            continue;
        };
        let (text, a) = a.expect("UTF-8 refused");
        assert_eq!(text, line);
        let b = strict.decide(line, Mode::Open, 1);
        assert_eq!(
            (a.verdict, a.rule, a.builtin_reason),
            (b.verdict, b.rule, b.builtin_reason),
            "{line:?}"
        );
        // And the &str entry point agrees with both.
        let c = fast.decide(line, Mode::Open, 1);
        assert_eq!((c.verdict, c.rule), (b.verdict, b.rule), "{line:?}");
    }
});
