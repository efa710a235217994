#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_bd-log");

pub struct Env {
    pub dir: tempfile::TempDir,
    pub key: PathBuf,
    pub pubkey: PathBuf,
    pub log: PathBuf,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("key");
        let out = Command::new(BIN)
            .args(["keygen", "--epochs", "64", "-o"])
            .arg(&key)
            .output()
            .expect("run keygen");
        assert!(out.status.success(), "keygen: {}", stderr(&out));
        let pubkey = dir.path().join("key.pub");
        let log = dir.path().join("log");
        Env {
            dir,
            key,
            pubkey,
            log,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `bd-log append` with `input` on stdin.
    pub fn append(&self, input: &[u8], extra: &[&str]) -> Output {
        run_stdin(
            Command::new(BIN)
                .arg("append")
                .arg("-l")
                .arg(&self.log)
                .arg("-k")
                .arg(&self.key)
                .args(extra),
            input,
        )
    }

    pub fn verify(&self, log: &Path, extra: &[&str]) -> Output {
        Command::new(BIN)
            .arg("verify")
            .arg("-l")
            .arg(log)
            .arg("-p")
            .arg(&self.pubkey)
            .args(extra)
            .output()
            .expect("run verify")
    }

    /// verify --json: (exit code, bad seq, reason, whole object)
    pub fn verify_json(
        &self,
        log: &Path,
        extra: &[&str],
    ) -> (i32, Option<u64>, String, serde_json::Value) {
        let mut args = vec!["--json"];
        args.extend_from_slice(extra);
        let out = self.verify(log, &args);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "verify --json printed {:?}: {e}; stderr {}",
                stdout(&out),
                stderr(&out)
            )
        });
        (
            out.status.code().unwrap_or(-1),
            v["bad_seq"].as_u64(),
            v["reason"].as_str().unwrap_or("").to_string(),
            v,
        )
    }

    pub fn cmd(&self, args: &[&str]) -> Output {
        Command::new(BIN).args(args).output().expect("run bd-log")
    }
}

pub fn run_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bd-log");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait bd-log");
    let _ = feeder.join();
    out
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `n` records `{"i":<start+k>,"pad":"..."}`, one per line.
pub fn records(start: usize, n: usize) -> Vec<u8> {
    let mut s = String::new();
    for k in start..start + n {
        s.push_str(&format!("{{\"i\":{k},\"pad\":\"abcdefghij\"}}\n"));
    }
    s.into_bytes()
}

/// The log's lines, without newlines.
pub fn lines(path: &Path) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).expect("read log");
    let mut v: Vec<Vec<u8>> = data.split(|&b| b == b'\n').map(|l| l.to_vec()).collect();
    if v.last().is_some_and(|l| l.is_empty()) {
        v.pop();
    }
    v
}

pub fn write_lines(path: &Path, lines: &[Vec<u8>]) {
    let mut data = Vec::new();
    for l in lines {
        data.extend_from_slice(l);
        data.push(b'\n');
    }
    std::fs::write(path, data).expect("write log");
}

/// The `i` of each record entry in the log, in order.
pub fn record_ids(path: &Path) -> Vec<u64> {
    lines(path)
        .iter()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).ok()?;
            v.get("record")?.get("i")?.as_u64()
        })
        .collect()
}

pub fn is_checkpoint(line: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(line)
        .map(|v| v.get("checkpoint").is_some())
        .unwrap_or(false)
}

/// The `prev` the line after `line` must hold, computed here with sha2 rather
/// than by the code under test: format v3 (the file's first line, `line0`,
/// is a checkpoint with `"v":3`) chains the RFC 6962 leaf hash
/// SHA-256(0x00 || line), format v2 the plain SHA-256 of the line.
pub fn chain_prev(line0: &[u8], line: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let pat = b"\"checkpoint\":{\"v\":3,";
    let v3 = line0.windows(pat.len()).any(|w| w == pat);
    let mut h = Sha256::new();
    if v3 {
        h.update([0u8]);
    }
    h.update(line);
    h.finalize().into()
}
