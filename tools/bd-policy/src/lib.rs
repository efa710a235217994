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
        ("OUTPUT", OUTPUT),
        (
            "EXIT STATUS",
            "0\tdecide: input ended and every line got a decision; check: every policy is valid; explain: the event is allowed or alerted\n\
1\tcheck: a policy has errors (each printed as FILE: line L, column C: message); explain: the event is denied or trips a wire\n\
2\tusage error, unreadable or invalid policy at start, unreadable rate state, or an output error",
        ),
        (
            "FILES",
            "/var/lib/boundary/state.json\tthe bd-lock state file the current mode is read from (--state, BD_STATE)\n\
/sys/fs/bpf/boundary/maps/bd_mode\tthe pinned kernel mode map, compared with the state file (--pin-dir, BD_PIN_DIR)\n\
--rate-state FILE\trate counters (JSON), written atomically every second while they change and at exit (BD_RATE_STATE)",
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
[rule.match]\tfield = test: every test must hold

A test is a string, number or boolean (equality), or a table of one or more of: eq, ne, glob (shell glob: * and ? stay within one path component, ** crosses them, {a,b} alternatives), prefix, suffix, contains, in (list), not_in (list), lt, le, gt, ge (numbers), exists (true/false). A missing field fails every test but exists = false. On an array field (argv) a test holds if any element passes it; ne and not_in hold if every element passes.

A rule without match, modes and rate is a default rule; a policy without one is accepted with a warning (unmatched events are denied). Rules after a default rule are reported as unreachable.

  [[rule]]
  name = \"shell-from-web\"
  tripwire = \"LOCKDOWN\"
  reason = \"the web server (uid 33) started a shell\"
  [rule.match]
  type = \"exec\"
  uid = 33
  filename = { glob = \"{/bin,/usr/bin}/{sh,bash,dash}\" }";

const OUTPUT: &str = "One line per input line:

  {\"v\":1,\"type\":\"decision\",\"time\":\"...\",\"decision\":\"deny\",\"rule\":\"NAME\",\"reason\":\"...\",\"mode\":\"TRUSTED\",\"tripwire\":null,\"event\":{...}}

event is the input line copied verbatim. Built-in denials (malformed line, missing type, unknown type, no rule matched) have \"rule\":null; a line that is not JSON has \"event\":null and the line as a string in \"raw\". The time is the decision time, refreshed every millisecond.";
