//! Issue 11 item 5: every JSON line a tool prints holds to the contract of
//! docs/EVENTS.md (`boundary::json::check_output_line`) AND to the JSON Schema
//! of its type in docs/schema/ (draft 2020-12). One test runs every
//! subcommand of every tool with `--json` (or, where a command prints JSON
//! only, as is) against real state: programs loaded natively into a pin dir
//! of its own, a cgroup of its own for a real `deny`, a bd-lock state file,
//! operator and log keys, policies. A line whose type has no schema fails;
//! a schema no command exercised fails unless listed in `NOT_NATIVE` with
//! the reason. bd-log's lines that are not on the contract yet are checked
//! against their current shape (docs/schema/legacy/) and listed on stderr.

use bd_tests::bin;
use boundary::json::check_output_line;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Types whose schema no native run can produce, with why.
const NOT_NATIVE: &[(&str, &str)] = &[
    ("usb", "needs a USB device plugged (vm_usb exercises it)"),
    ("lost", "needs the ring buffer to overflow"),
];

fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/schema")
}

struct Contract {
    schemas: BTreeMap<String, jsonschema::Validator>,
    legacy: BTreeMap<String, jsonschema::Validator>,
    seen: BTreeSet<String>,
    off_contract: Vec<String>,
    lines: usize,
    /// The stdout of the last command checked.
    last: String,
}

fn compile(dir: &Path) -> BTreeMap<String, jsonschema::Validator> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            assert_eq!(
                v["$schema"],
                "https://json-schema.org/draft/2020-12/schema",
                "{}",
                p.display()
            );
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let val = jsonschema::draft202012::new(&v)
                .unwrap_or_else(|e| panic!("{}: not a valid schema: {e}", p.display()));
            m.insert(name, val);
        }
    }
    m
}

impl Contract {
    fn new() -> Contract {
        let schemas = compile(&schema_dir());
        // Every type schema requires v and type; every output line's time.
        for name in schemas.keys() {
            let v: Value = serde_json::from_str(
                &std::fs::read_to_string(schema_dir().join(format!("{name}.json"))).unwrap(),
            )
            .unwrap();
            let req: Vec<&str> = v["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap())
                .collect();
            assert!(req.contains(&"v") && req.contains(&"type"), "{name}");
            let file_record = matches!(name.as_str(), "release_token" | "policy_signature");
            assert!(file_record || req.contains(&"time"), "{name}: time");
            assert_eq!(v["properties"]["type"]["const"], name.as_str());
        }
        Contract {
            schemas,
            legacy: compile(&schema_dir().join("legacy")),
            seen: BTreeSet::new(),
            off_contract: Vec::new(),
            lines: 0,
            last: String::new(),
        }
    }

    fn validate(&self, what: &str, schema: &str, v: &Value, line: &str) {
        let s = self
            .schemas
            .get(schema)
            .or_else(|| self.legacy.get(schema))
            .unwrap_or_else(|| {
                panic!("{what}: type {schema:?} has no schema in docs/schema/: {line}")
            });
        let errs: Vec<String> = s
            .iter_errors(v)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errs.is_empty(),
            "{what}: not valid against {schema}.json: {errs:?}\n{line}"
        );
    }

    /// Check every stdout line of `o`; returns the types seen, in order.
    /// `legacy` names the docs/schema/legacy shape a line without `type`
    /// may have (bd-log, until it follows the contract).
    fn check(&mut self, what: &str, o: &Output, legacy: Option<&str>) -> Vec<String> {
        let text = String::from_utf8(o.stdout.clone())
            .unwrap_or_else(|_| panic!("{what}: stdout not UTF-8"));
        let mut types = Vec::new();
        self.last = text.clone();
        for line in text.lines() {
            self.lines += 1;
            let v = boundary::json::parse(line)
                .unwrap_or_else(|e| panic!("{what}: not strict JSON: {e}: {line}"));
            let Some(ty) = v.get("type").and_then(Value::as_str) else {
                let l = legacy.unwrap_or_else(|| panic!("{what}: a line without type: {line}"));
                self.validate(what, l, &v, line);
                self.off_contract.push(format!("{what}: {line}"));
                types.push(format!("legacy:{l}"));
                continue;
            };
            // liveness alone puts type before v (bd-policy's prefix match).
            if ty != "liveness" {
                check_output_line(line).unwrap_or_else(|e| panic!("{what}: {e}: {line}"));
            }
            self.validate(what, ty, &v, line);
            self.seen.insert(ty.to_string());
            types.push(ty.to_string());
        }
        types
    }

    /// Run, check, and require exit status `code` and, on a failure, the
    /// error object as the last line.
    fn run(&mut self, what: &str, c: &mut Command, code: i32, want: &[&str]) -> Vec<String> {
        let o = c.output().unwrap();
        let types = self.check(what, &o, None);
        assert_eq!(
            o.status.code(),
            Some(code),
            "{what}: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        for w in want {
            assert!(
                types.iter().any(|t| t == w),
                "{what}: no {w} line: {types:?}"
            );
        }
        if code != 0 && want == ["error"] {
            assert_eq!(types, ["error"], "{what}: one error object: {types:?}");
            let last: Value =
                serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().last().unwrap())
                    .unwrap();
            assert_eq!(last["code"], code, "{what}");
            assert!(
                !o.stderr.is_empty(),
                "{what}: the diagnostic goes to stderr too"
            );
        }
        types
    }

    /// A file a tool wrote (a token, a signature): one line, its schema.
    fn file(&mut self, what: &str, p: &Path, schema: &str) {
        let t = std::fs::read_to_string(p).unwrap();
        assert_eq!(t.lines().count(), 1, "{what}: one line");
        let v = boundary::json::parse(t.trim_end()).unwrap();
        assert_eq!(v["type"], schema, "{what}");
        self.validate(what, schema, &v, &t);
        self.seen.insert(schema.to_string());
    }
}

struct Rig {
    d: tempfile::TempDir,
    pin: PathBuf,
    cg: PathBuf,
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = Command::new(bin("bd-load"))
            .arg("--pin-dir")
            .arg(&self.pin)
            .arg("unload")
            .output();
        // A failed run can leave the mode above OPEN, where unload refuses:
        // the pins are this test's own, so removing them detaches all.
        if self.pin.exists() {
            let _ = std::fs::remove_dir_all(&self.pin);
        }
        let _ = std::fs::remove_dir(&self.cg);
    }
}

impl Rig {
    fn p(&self, name: &str) -> PathBuf {
        self.d.path().join(name)
    }
    fn s(&self, name: &str) -> String {
        self.p(name).display().to_string()
    }
    fn load(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin("bd-load"));
        c.arg("--pin-dir").arg(&self.pin).args(args);
        c
    }
    fn lock(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin("bd-lock"));
        c.arg("--state")
            .arg(self.p("state.json"))
            .arg("--pin-dir")
            .arg(&self.pin)
            .arg("--operator-keys")
            .arg(self.p("ops"))
            .arg("--operators-config")
            .arg(self.p("operators.toml"))
            .arg("--machine-id")
            .arg("/etc/machine-id")
            .arg("--json")
            .args(args);
        c
    }
    fn policy(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin("bd-policy"));
        c.args(args);
        c
    }
    fn log(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin("bd-log"));
        c.args(args);
        c
    }
}

fn cgroup2_root() -> PathBuf {
    let m = std::fs::read_to_string("/proc/mounts").unwrap();
    for l in m.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        if f.len() > 2 && f[2] == "cgroup2" {
            return PathBuf::from(f[1]);
        }
    }
    panic!("no cgroup2 mount in /proc/mounts");
}

fn piped(c: &mut Command, input: &[u8]) -> Output {
    let mut ch = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    ch.stdin.take().unwrap().write_all(input).unwrap();
    ch.wait_with_output().unwrap()
}

#[test]
fn every_subcommand_with_json_validates_against_its_schema() {
    let id = std::process::id();
    let rig = Rig {
        d: tempfile::tempdir().unwrap(),
        pin: PathBuf::from(format!("/sys/fs/bpf/bd-test-contract-{id}")),
        cg: cgroup2_root().join(format!("bd-test-contract-{id}")),
    };
    std::fs::create_dir(&rig.cg).unwrap();
    let mut k = Contract::new();
    let me = id.to_string();
    let cg = rig.cg.display().to_string();

    // ---- bd-load: load, status, the LSM commands.
    let t = k.run(
        "bd-load load --json",
        &mut rig.load(&["load", "--json", "--cgroup", &cg]),
        0,
        &["program"],
    );
    assert!(t.len() > 10, "{t:?}");
    k.run(
        "bd-load status --json",
        &mut rig.load(&["status", "--json"]),
        0,
        &["load_status"],
    );
    k.run(
        "bd-load lsm-list",
        &mut rig.load(&["lsm-list"]),
        0,
        &["lsm_list"],
    );
    k.run(
        "bd-load lsm-config --audit",
        &mut rig.load(&["lsm-config", "--audit"]),
        0,
        &["lsm_config"],
    );
    k.run(
        "bd-load lsm-config --enforce",
        &mut rig.load(&["lsm-config", "--enforce"]),
        0,
        &["lsm_config"],
    );
    k.run(
        "bd-load allow",
        &mut rig.load(&["allow", "--pid", &me]),
        0,
        &["allow"],
    );
    k.run(
        "bd-load allow --remove",
        &mut rig.load(&["allow", "--remove", "--pid", &me]),
        0,
        &["allow"],
    );
    // Natively BPF-LSM does not attach: protect says so (6) with the error
    // object; in a kernel where it attaches it prints protect lines.
    let f = rig.p("secret");
    std::fs::write(&f, "s").unwrap();
    let lsm = Path::new(&format!(
        "{}/links/lsm_file_protect-file_open",
        rig.pin.display()
    ))
    .exists();
    let (code, want) = if lsm { (0, "protect") } else { (6, "error") };
    k.run(
        "bd-load protect --pid",
        &mut rig.load(&["protect", "--pid", &me]),
        code,
        &[want],
    );
    k.run(
        "bd-load protect --path",
        &mut rig.load(&["protect", "--path", f.to_str().unwrap()]),
        code,
        &[want],
    );
    k.run(
        "bd-load unprotect",
        &mut rig.load(&["unprotect", "--pid", &me, "--path", f.to_str().unwrap()]),
        0,
        &["protect"],
    );
    k.run(
        "bd-load bad flag --json",
        &mut rig.load(&["status", "--json", "--bogus"]),
        2,
        &["error"],
    );

    // ---- bd-lock, with its global --json.
    std::fs::create_dir(rig.p("ops")).unwrap();
    k.run(
        "bd-lock keygen",
        &mut rig.lock(&["keygen", "-o", &rig.s("op.key")]),
        0,
        &["operator_key"],
    );
    k.run(
        "bd-lock keygen (second operator)",
        &mut rig.lock(&["keygen", "-o", &rig.s("op2.key")]),
        0,
        &["operator_key"],
    );
    std::fs::copy(rig.p("op.key.pub"), rig.p("ops/op.pub")).unwrap();
    let t = k.run(
        "bd-lock init",
        &mut rig.lock(&["init", "--mode", "OPEN", "--reason", "contract"]),
        0,
        &["mode"],
    );
    assert_eq!(t, ["mode"]);
    // init is no transition: no mode before it (not "from":"OPEN","to":"OPEN").
    let init: Value = serde_json::from_str(k.last.trim_end()).unwrap();
    assert_eq!(
        (&init["from"], init["to"].as_str(), init["via"].as_str()),
        (&Value::Null, Some("OPEN"), Some("init")),
        "{init}"
    );
    let o = rig.lock(&["status"]).output().unwrap();
    k.check("bd-lock status", &o, None);
    k.run(
        "bd-lock init again (refused)",
        &mut rig.lock(&["init", "--mode", "OPEN"]),
        1,
        &["error"],
    );
    k.run(
        "bd-lock set BOGUS (usage)",
        &mut rig.lock(&["set", "BOGUS", "--reason", "x"]),
        2,
        &["error"],
    );
    k.run("bd-lock sync", &mut rig.lock(&["sync"]), 0, &["mode"]);
    k.run(
        "bd-lock allow",
        &mut rig.lock(&["allow", "/bin/true"]),
        0,
        &["exec_allow"],
    );
    k.run(
        "bd-lock allow --remove",
        &mut rig.lock(&["allow", "--remove", "/bin/true"]),
        0,
        &["exec_allow"],
    );
    k.run(
        "bd-lock arm",
        &mut rig.lock(&["arm", "--heartbeat", "1h"]),
        0,
        &[],
    );
    k.run("bd-lock heartbeat", &mut rig.lock(&["heartbeat"]), 0, &[]);
    k.run("bd-lock disarm", &mut rig.lock(&["disarm"]), 0, &[]);
    k.run(
        "bd-lock set AIRGAP",
        &mut rig.lock(&["set", "AIRGAP", "--reason", "contract"]),
        0,
        &["mode"],
    );

    // ---- a canary that trips the mode we are already in (AIRGAP): the
    // kernel reports the hit (a `tripwire` line) and changes nothing.
    let canary = rig.p("canary");
    std::fs::copy("/bin/true", &canary).unwrap();
    let o = rig
        .lock(&["canary", "add", &rig.s("canary"), "--trip", "AIRGAP"])
        .output()
        .unwrap();
    assert!(o.status.success(), "bd-lock canary add: {o:?}");
    k.run(
        "bd-lock canary list --json",
        &mut rig.lock(&["canary", "list", "--json"]),
        0,
        &["canary"],
    );

    // ---- bd-watch: an exec, a liveness marker, the canary's tripwire and a
    // real deny (AIRGAP refuses a connect from the cgroup the programs are
    // attached to).
    let mut w = Command::new(bin("bd-watch"))
        .arg("--pin-dir")
        .arg(&rig.pin)
        .args(["--cgroup", &cg, "-n", "2", "--no-usb", "--timeout", "30s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(w.stderr.take().unwrap());
    let mut l = String::new();
    while err.read_line(&mut l).unwrap() > 0 && !l.contains("ready") {
        l.clear();
    }
    let o = Command::new(&canary).output().unwrap();
    assert!(o.status.success(), "the canary runs natively: {o:?}");
    let nonce = format!("bdlv:c{id}");
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf %s {nonce} > /proc/self/comm; echo $$ > {cg}/cgroup.procs && \
             exec bash -c 'exec 3<>/dev/tcp/192.0.2.1/9'"
        ))
        .output()
        .unwrap();
    assert!(
        !o.status.success(),
        "the connect was refused in AIRGAP: {o:?}"
    );
    std::thread::sleep(Duration::from_millis(200));
    let o = w.wait_with_output().unwrap();
    let t = k.check("bd-watch", &o, None);
    assert!(
        t.contains(&"exec".to_string())
            && t.contains(&"deny".to_string())
            && t.contains(&"tripwire".to_string()),
        "bd-watch: {t:?}"
    );

    k.run(
        "bd-lock engage",
        &mut rig.lock(&["engage", "--reason", "contract"]),
        // LOCKDOWN is not fully enforced without BPF-LSM: exit 4 and the line.
        if lsm { 0 } else { 4 },
        &["mode"],
    );
    k.run(
        "bd-lock release --interactive (no terminal)",
        rig.lock(&["release", "--interactive", "--to", "OPEN"])
            .stdin(Stdio::null()),
        1,
        &["error"],
    );
    let o = rig
        .lock(&[
            "token",
            "-k",
            &rig.s("op.key"),
            "--from",
            "LOCKDOWN",
            "--to",
            "OPEN",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    std::fs::write(rig.p("stdout.tok"), &o.stdout).unwrap();
    k.file(
        "bd-lock token (stdout)",
        &rig.p("stdout.tok"),
        "release_token",
    );
    k.run(
        "bd-lock token -o",
        &mut rig.lock(&[
            "token",
            "-k",
            &rig.s("op.key"),
            "--from",
            "LOCKDOWN",
            "--to",
            "OPEN",
            "-o",
            &rig.s("r.tok"),
        ]),
        0,
        &[],
    );
    k.file("bd-lock token -o", &rig.p("r.tok"), "release_token");
    k.run(
        "bd-lock cosign",
        &mut rig.lock(&[
            "cosign",
            &rig.s("r.tok"),
            "-k",
            &rig.s("op2.key"),
            "-o",
            &rig.s("r2.tok"),
        ]),
        0,
        &[],
    );
    k.file("bd-lock cosign", &rig.p("r2.tok"), "release_token");
    k.run(
        "bd-lock release --token",
        &mut rig.lock(&[
            "release",
            "--token",
            &rig.s("r.tok"),
            "--reason",
            "contract",
        ]),
        0,
        &["mode"],
    );
    k.run(
        "bd-lock release --token (used twice)",
        &mut rig.lock(&[
            "release",
            "--token",
            &rig.s("r.tok"),
            "--reason",
            "contract",
        ]),
        1,
        &["error"],
    );

    // ---- bd-policy.
    let pol = rig.p("p.toml");
    std::fs::write(
        &pol,
        "[[rule]]\nname = \"deny-sh\"\nmatch = { type = \"exec\", filename = \"/bin/sh\" }\n\
         decision = \"deny\"\n[[rule]]\nname = \"all\"\ndecision = \"allow\"\n",
    )
    .unwrap();
    let bad = rig.p("bad.toml");
    std::fs::write(&bad, "[[rule]]\nname = 1\n").unwrap();
    let p = pol.to_str().unwrap();
    let b = bad.to_str().unwrap();
    let t = k.run(
        "bd-policy check --json",
        &mut rig.policy(&["check", "--json", p, b]),
        1,
        &["policy_check"],
    );
    assert_eq!(t, ["policy_check", "policy_check"]);
    k.run(
        "bd-policy check --json (missing file)",
        &mut rig.policy(&["check", "--json", &rig.s("none.toml")]),
        2,
        &["error"],
    );
    k.run(
        "bd-policy explain --json (allow)",
        &mut rig.policy(&[
            "explain",
            "--json",
            "-p",
            p,
            "--mode",
            "OPEN",
            r#"{"v":1,"type":"exec","filename":"/bin/true"}"#,
        ]),
        0,
        &["explanation"],
    );
    k.run(
        "bd-policy explain --json (deny)",
        &mut rig.policy(&[
            "explain",
            "--json",
            "-p",
            p,
            "--mode",
            "OPEN",
            r#"{"v":1,"type":"exec","filename":"/bin/sh"}"#,
        ]),
        1,
        &["explanation"],
    );
    let o = rig
        .policy(&["explain", "--json", "-p", b, "--mode", "OPEN", "{}"])
        .output()
        .unwrap();
    k.check("bd-policy explain --json (bad policy)", &o, None);
    let e: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (
            e["type"].as_str(),
            e["code"].as_i64(),
            e["file"].as_str(),
            e["line"].as_u64()
        ),
        (Some("error"), Some(2), Some(b), Some(2)),
        "{e}"
    );
    let o = piped(
        &mut rig.policy(&["-p", p, "--mode", "OPEN"]),
        b"{\"v\":1,\"type\":\"exec\",\"filename\":\"/bin/sh\"}\nnot json\n{\"v\":1,\"type\":\"exec\",\"a\":1,\"a\":2}\n",
    );
    let t = k.check("bd-policy (decisions)", &o, None);
    assert_eq!(t, ["decision", "decision", "decision"]);
    let decisions = o.stdout.clone();
    k.run(
        "bd-policy sign --json",
        &mut rig.policy(&["sign", "--json", "-k", &rig.s("op.key"), p]),
        0,
        &["policy_signed"],
    );
    k.file("bd-policy sign", &rig.p("p.toml.sig"), "policy_signature");
    k.run(
        "bd-policy sign --json (no key)",
        &mut rig.policy(&["sign", "--json", "-k", &rig.s("none.key"), p]),
        2,
        &["error"],
    );
    let cases = rig.p("cases.jsonl");
    std::fs::write(
        &cases,
        "{\"event\":{\"v\":1,\"type\":\"exec\",\"filename\":\"/bin/sh\"},\"expect\":\"deny\",\"rule\":\"deny-sh\"}\n\
         {\"event\":{\"v\":1,\"type\":\"exec\"},\"expect\":\"deny\",\"name\":\"wrong\"}\n",
    )
    .unwrap();
    let o = rig
        .policy(&["test", "--json", p, cases.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(k.check("bd-policy test --json", &o, None), ["policy_test"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["passed"].as_u64(), v["failed"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );

    // bd-lock on-tripwire --tee copies the decisions it reads.
    let o = piped(&mut rig.lock(&["on-tripwire", "--tee"]), &decisions);
    let t = k.check("bd-lock on-tripwire --tee", &o, None);
    assert_eq!(t, ["decision", "decision", "decision"], "{o:?}");

    // ---- bd-log: on the contract (log_key, log_ack, log_verify, log_rotate).
    let lk = rig.s("log.key");
    let lg = rig.s("b.log");
    let o = rig.log(&["keygen", "-o", &lk]).output().unwrap();
    k.check("bd-log keygen", &o, None);
    let o = piped(
        &mut rig.log(&["append", "-l", &lg, "-k", &lk, "--ack"]),
        &decisions,
    );
    k.check("bd-log append --ack", &o, None);
    let pubk = format!("{lk}.pub");
    let o = rig
        .log(&["verify", "-l", &lg, "-p", &pubk, "--json"])
        .output()
        .unwrap();
    k.check("bd-log verify --json", &o, None);
    let o = rig
        .log(&["verify", "-l", &rig.s("none.log"), "-p", &pubk, "--json"])
        .output()
        .unwrap();
    k.check("bd-log verify --json (error)", &o, None);
    let o = rig.log(&["rotate", "-l", &lg, "-k", &lk]).output().unwrap();
    k.check("bd-log rotate", &o, None);
    // A torn last line (a crash mid-write) for repair to move aside.
    {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new().append(true).open(&lg).unwrap();
        f.write_all(b"{\"seq\":99,\"torn").unwrap();
    }
    k.run(
        "bd-log repair",
        &mut rig.log(&["repair", "-l", &lg]),
        0,
        &["log_repair"],
    );

    // ---- the end: unload (OPEN again), twice, and status of nothing.
    k.run(
        "bd-load unload --json",
        &mut rig.load(&["unload", "--json"]),
        0,
        &["unload"],
    );
    k.run(
        "bd-load unload --json (nothing loaded)",
        &mut rig.load(&["unload", "--json"]),
        0,
        &["unload"],
    );
    k.run(
        "bd-load status --json (nothing loaded)",
        &mut rig.load(&["status", "--json"]),
        5,
        &["load_status"],
    );

    // Every schema was exercised, but for those no native run can produce.
    let unexercised: Vec<&String> = k
        .schemas
        .keys()
        .filter(|s| !k.seen.contains(*s) && !NOT_NATIVE.iter().any(|(n, _)| n == s))
        .collect();
    assert!(
        unexercised.is_empty(),
        "schemas no command produced: {unexercised:?}"
    );
    eprintln!(
        "json_contract: {} lines valid; types seen: {:?}",
        k.lines, k.seen
    );
    for l in &k.off_contract {
        eprintln!("json_contract: not on the contract yet (bd-log, open): {l}");
    }
}

/// The checks above are not vacuous: a type without a schema, a line its
/// schema refuses, and a line off the contract each fail.
#[test]
fn schemas_refuse_what_they_must() {
    let k = Contract::new();
    let t = "2026-11-27T07:00:00.123456789Z";
    let ok = format!(
        r#"{{"v":1,"type":"mode","time":"{t}","from":null,"to":"OPEN","reason":"r","uid":0,"via":"init"}}"#
    );
    k.validate("ok", "mode", &serde_json::from_str(&ok).unwrap(), &ok);
    for bad in [
        ok.replace(r#""to":"OPEN""#, r#""to":"open""#),
        ok.replace(r#","uid":0"#, ""),
        ok.replace(r#""via":"init""#, r#""via":"init","extra":1"#),
        ok.replace(t, "2026-11-27 07:00:00"),
    ] {
        let v: Value = serde_json::from_str(&bad).unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            k.validate("bad", "mode", &v, &bad)
        }));
        assert!(r.is_err(), "the mode schema accepted {bad}");
    }
    let unknown = format!(r#"{{"v":1,"type":"no_such_type","time":"{t}"}}"#);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        k.validate(
            "unknown",
            "no_such_type",
            &serde_json::from_str(&unknown).unwrap(),
            &unknown,
        )
    }));
    assert!(r.is_err(), "a type without a schema passed");
    let e =
        format!(r#"{{"v":1,"type":"error","time":"{t}","tool":"bd-lock","code":0,"message":"x"}}"#);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        k.validate(
            "error code 0",
            "error",
            &serde_json::from_str(&e).unwrap(),
            &e,
        )
    }));
    assert!(r.is_err(), "an error object with exit status 0 passed");
}
