//! bd-policy: Decide allow / deny / alert / tripwire for each event under the current mode.
//!
//! The clap definitions live here, not in main.rs, so that `cargo xtask man`
//! and `cargo xtask completions` render exactly what the binary parses.

pub mod cli;

/// The command line, as the binary, the man page and the completions see it.
pub fn command() -> clap::Command {
    <cli::Cli as clap::CommandFactory>::command()
}

/// Man page sections beyond what clap knows: (title, text).
///
/// Text is plain: paragraphs split by blank lines; a paragraph whose lines
/// start with two spaces is printed verbatim; a line `KEY<TAB>text` is a
/// tagged item (used for EXIT STATUS and FILES).
pub fn man_sections() -> Vec<(&'static str, &'static str)> {
    vec![
        ("POLICY FORMAT", POLICY_FORMAT),
        ("OVERLAYS AND SIGNATURES", OVERLAYS),
        ("TEST CASES", CASES),
        ("OUTPUT", OUTPUT),
        (
            "EXIT STATUS",
            "0\tdecide: input ended and every line got a decision; check: every policy is valid; explain: the event is allowed or alerted; test: every case passed; sign: every file signed\n\
1\tcheck: a policy has errors (each printed as FILE: line L, column C: message); explain: the event is denied or trips a wire; test: a case got another decision (or, with --require-coverage, a rule was hit by no case)\n\
2\tusage error, unreadable or invalid policy or overlay at start, a malformed case line, unreadable rate state, or an output error\n\
3\t--require-signed: a policy or overlay has no valid signature by a trusted operator key (unsigned, changed since signed, signed by another key, signed for the other role), or the trusted keys cannot be read",
        ),
        (
            "FILES",
            "/var/lib/boundary/state.json\tthe bd-lock state file the current mode is read from (--state, BD_STATE)\n\
/sys/fs/bpf/boundary/maps/bd_mode\tthe pinned kernel mode map, compared with the state file (--pin-dir, BD_PIN_DIR)\n\
--rate-state FILE\trate counters (JSON), written atomically every second while they change and at exit (BD_RATE_STATE)\n\
/etc/boundary/operators.d/*.pub\ttrusted operator public keys for --require-signed (--operator-keys, BD_OPERATOR_KEYS)\n\
POLICY.sig\tthe signature of POLICY (or of an overlay) written by bd-policy sign",
        ),
        (
            "EXAMPLES",
            "  bd-watch | bd-policy -p examples/policies/trusted.toml | bd-lock on-tripwire --tee | bd-log append -l LOG -k KEY\n  bd-policy -p policy.toml --mode LOCKDOWN < events.jsonl | jq 'select(.decision != \"allow\")'\n  bd-policy check examples/policies/*.toml\n  echo '{\"v\":1,\"type\":\"exec\",\"uid\":33,\"filename\":\"/bin/sh\"}' | bd-policy explain -p policy.toml --mode TRUSTED",
        ),
        ("SEE ALSO", "bd-watch(1), bd-lock(1), bd-log(1), docs/EVENTS.md, examples/policies/"),
    ]
}

const POLICY_FORMAT: &str = "A policy is a TOML file of [[rule]] tables, tried in order. Keys of a rule:

name\tunique rule name, printed in each decision (required)
decision\tallow, deny, alert (allowed, flagged) or tripwire (required unless tripwire is set)
tripwire\tthe mode a tripwire engages (default LOCKDOWN); bd-lock on-tripwire acts on it
reason\ttext printed in the decision
modes\tlist of modes the rule applies in (default: all)
rate\tCOUNT/DURATION, e.g. \"5/10s\": the rule fires only once its conditions held more than COUNT times within DURATION
rate_key\tfield name or list of field names: one rate counter per distinct value (default: one counter)
macros\tlist of macro names: their tests must hold too
[rule.match]\tfield = test: every test must hold

A test is a string, number or boolean (equality), or a table of one or more of: eq, ne, glob (shell glob: * and ? stay within one path component, ** crosses them, {a,b} alternatives), prefix, suffix, contains, in (list), not_in (list), lt, le, gt, ge (numbers), exists (true/false). A missing field fails every test but exists = false. On an array field (argv) a test holds if any element passes it; ne and not_in hold if every element passes.

A field a.b is the b of the object a or, when a is an array of objects, the list of their b values: ancestors.comm = { in = [\"nginx\"] } holds if any ancestor's comm is nginx. Both \"ancestors.comm\" = ... and the dotted TOML key ancestors.comm = ... work.

[lists] holds named lists (NAME = [values]); in = \"NAME\" and not_in = \"NAME\" use one. [macros.NAME] holds a match table (field = test) that rules pull in with macros = [\"NAME\"]. An unknown list or macro is an error; an unused macro a warning.

A rule without match, modes and rate is a default rule; a policy without one is accepted with a warning (unmatched events are denied). Rules after a default rule are reported as unreachable.

  [lists]
  web = [\"nginx\", \"php-fpm\"]
  [macros.under_web]
  ancestors.comm = { in = \"web\" }
  [[rule]]
  name = \"shell-from-web\"
  tripwire = \"LOCKDOWN\"
  reason = \"the web server started a shell\"
  macros = [\"under_web\"]
  [rule.match]
  type = \"exec\"
  filename = { glob = \"{/bin,/usr/bin}/{sh,bash,dash}\" }";

const OVERLAYS: &str = "--overlay FILE (repeatable) adds a local overlay: a policy file whose rules may deny, alert or trip a wire but never allow (an allow rule is an error). Every overlay rule that holds is considered, and the strictest counts only where it is stricter than the decision of the policy's own rules (allow < alert < deny < tripwire; between tripwires, the stricter mode). So an overlay can add denials and never turn a deny into an allow, nor a tripwire into a deny. Overlays have their own lists and macros; their rule names must differ from the policy's.

bd-policy sign -k KEY FILE... writes FILE.sig with an operator key (the format bd-lock keygen writes): an Ed25519 signature over the SHA-256 of the file's exact bytes and its role (policy, or overlay with --overlay). A file that does not load is not signed.

With --require-signed, the policy and every overlay must carry a valid signature by a key in --operator-keys (default /etc/boundary/operators.d, BD_OPERATOR_KEYS); otherwise bd-policy exits 3 before reading any input. The bytes verified are the bytes parsed. While running, the files are re-read at most once a second (when input arrives): a file that changed and is not validly signed produces one tripwire decision (LOCKDOWN, rule null, event type policy_change, see docs/EVENTS.md); a change signed by an operator produces an alert. Either way the policy loaded at start stays in force until bd-policy restarts.

Open: a signed older version of a file (rollback to a looser signed policy) is accepted; keep policy history out of reach or pin the expected SHA-256 elsewhere.";

const CASES: &str = "bd-policy test POLICY CASES reads JSON lines, one case each (blank lines and # comments skipped):

  {\"event\":{\"v\":1,\"type\":\"exec\",\"comm\":\"sh\",\"ancestors\":[{\"comm\":\"nginx\"}]},\"mode\":\"TRUSTED\",\"expect\":\"tripwire\",\"rule\":\"shell-from-web\"}
  {\"line\":\"not json\",\"expect\":\"deny\",\"rule\":null}

event\tthe input event (or line: the raw input line, for malformed input)
mode\tthe mode to decide under (default OPEN)
expect\tallow, deny, alert or tripwire
rule\tthe rule expected to decide; null expects a built-in denial; absent: any
repeat\tdecide the event N times (one millisecond apart) and check the last decision, for rate rules
name\ta label shown in failures

Each case starts with empty rate counters. Every mismatch is printed as CASES: line N: FAIL: expected ..., got ...; then the rules no case hit (coverage) and a summary. --overlay and --require-signed apply as when deciding.";

const OUTPUT: &str = "One line per input line:

  {\"v\":1,\"type\":\"decision\",\"time\":\"...\",\"decision\":\"deny\",\"rule\":\"NAME\",\"reason\":\"...\",\"mode\":\"TRUSTED\",\"tripwire\":null,\"event\":{...}}

event is the input line copied verbatim. Built-in denials (malformed line, missing type, unknown type, no rule matched) have \"rule\":null; a line that is not JSON has \"event\":null and the line as a string in \"raw\". The time is the decision time, refreshed every millisecond.";
