//! `bd-load status` names tracing-type BPF programs that are not
//! boundary's (SECURITY.md channel 8: a program loaded before the shield
//! cannot be attached afterwards, but one already attached keeps running,
//! so it is reported). Native: this host loads tracepoint programs. The
//! refusal to attach is tested in the VM (vm_shield_trace.rs).

use bd_tests::bin;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const BPF_PROG_LOAD: i64 = 5;
const BPF_OBJ_GET_INFO_BY_FD: i64 = 15;
const BPF_LINK_CREATE: i64 = 28;
const BPF_PROG_TYPE_TRACEPOINT: u32 = 5;
const BPF_PERF_EVENT: u32 = 41;
const PERF_TYPE_TRACEPOINT: u32 = 2;

fn put(a: &mut [u8], off: usize, v: u64, n: usize) {
    a[off..off + n].copy_from_slice(&v.to_ne_bytes()[..n]);
}

fn bpf(cmd: i64, attr: &mut [u8; 128]) -> std::io::Result<i64> {
    // SAFETY: `attr` is a zero-padded bpf_attr of the size passed; every
    // pointer in it outlives the call.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len() as u32) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn owned(fd: i64) -> OwnedFd {
    // SAFETY: a new fd the kernel just returned to us.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

/// A trivial tracepoint program (`return 0`) named `name`: fd and id.
fn load_tracepoint_prog(name: &str) -> (OwnedFd, u32) {
    // r0 = 0; exit
    let insns: [u64; 2] = [0x0000_0000_0000_00b7, 0x0000_0000_0000_0095];
    let license = c"GPL";
    let mut a = [0u8; 128];
    put(&mut a, 0, BPF_PROG_TYPE_TRACEPOINT as u64, 4);
    put(&mut a, 4, 2, 4);
    put(&mut a, 8, insns.as_ptr() as u64, 8);
    put(&mut a, 16, license.as_ptr() as u64, 8);
    a[48..48 + name.len()].copy_from_slice(name.as_bytes());
    let fd = owned(bpf(BPF_PROG_LOAD, &mut a).expect("BPF_PROG_LOAD of a tracepoint program"));
    let mut info = [0u8; 256];
    let mut a = [0u8; 128];
    put(&mut a, 0, fd.as_raw_fd() as u64, 4);
    put(&mut a, 4, info.len() as u64, 4);
    put(&mut a, 8, info.as_mut_ptr() as u64, 8);
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut a).expect("BPF_OBJ_GET_INFO_BY_FD");
    let id = u32::from_ne_bytes(info[4..8].try_into().unwrap());
    (fd, id)
}

/// The program attached by a link to a perf tracepoint event (sched
/// process exec, CPU 0): the perf fd and the link fd.
fn link_to_tracepoint(prog: &OwnedFd) -> (OwnedFd, OwnedFd) {
    let id: u64 = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .iter()
        .find_map(|t| {
            std::fs::read_to_string(format!("{t}/events/sched/sched_process_exec/id")).ok()
        })
        .expect("tracefs: sched_process_exec id")
        .trim()
        .parse()
        .unwrap();
    let mut pa = [0u8; 128];
    put(&mut pa, 0, PERF_TYPE_TRACEPOINT as u64, 4);
    put(&mut pa, 4, 112, 4); // PERF_ATTR_SIZE_VER5
    put(&mut pa, 8, id, 8); // config
    put(&mut pa, 16, 1, 8); // sample_period
                            // SAFETY: a perf_event_attr of the size it declares.
    let pfd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            pa.as_ptr(),
            -1i32,
            0i32,
            -1i32,
            0u64,
        )
    };
    assert!(
        pfd >= 0,
        "perf_event_open: {}",
        std::io::Error::last_os_error()
    );
    let pfd = owned(pfd);
    let mut a = [0u8; 128];
    put(&mut a, 0, prog.as_raw_fd() as u64, 4);
    put(&mut a, 4, pfd.as_raw_fd() as u64, 4);
    put(&mut a, 8, BPF_PERF_EVENT as u64, 4);
    let link = owned(bpf(BPF_LINK_CREATE, &mut a).expect("BPF_LINK_CREATE"));
    (pfd, link)
}

fn status(pin: &PathBuf) -> serde_json::Value {
    let o = Command::new(bin("bd-load"))
        .arg("--pin-dir")
        .arg(pin)
        .args(["status", "--json"])
        .output()
        .expect("run bd-load status");
    // Nothing is loaded under this pin dir: exit 5 (not loaded), with the
    // report printed all the same.
    assert!(
        matches!(o.status.code(), Some(0 | 5)),
        "bd-load status: {o:?}"
    );
    serde_json::from_slice(&o.stdout).expect("status json")
}

fn listed(s: &serde_json::Value, id: u32) -> Option<serde_json::Value> {
    s["foreign_tracing"]
        .as_array()
        .unwrap_or_else(|| panic!("no foreign_tracing: {s}"))
        .iter()
        .find(|t| t["prog_id"] == id)
        .cloned()
}

#[test]
fn status_lists_a_foreign_tracing_program_until_it_is_closed() {
    let me = std::process::id();
    let pin = PathBuf::from(format!("/sys/fs/bpf/bd-test-k-foreign-{me}"));
    let name = format!("bdk{}", me % 1_000_000);
    let (prog, id) = load_tracepoint_prog(&name);

    // Loaded, not attached: listed, with no link.
    let t = listed(&status(&pin), id).expect("the loaded program is not listed");
    assert_eq!(t["prog_type"], "tracepoint", "{t}");
    assert_eq!(t["name"], name.as_str(), "{t}");
    assert_eq!(t["uid"], 0, "{t}");
    assert_eq!(t["links"], serde_json::json!([]), "{t}");
    let text = Command::new(bin("bd-load"))
        .arg("--pin-dir")
        .arg(&pin)
        .arg("status")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(
        text.contains(&format!(
            "foreign BPF tracing program id {id} (tracepoint, name {name:?}"
        )),
        "{text}"
    );

    // Attached by a link: listed with it.
    let (pfd, link) = link_to_tracepoint(&prog);
    let t = listed(&status(&pin), id).expect("the attached program is not listed");
    assert_eq!(t["links"].as_array().map(Vec::len), Some(1), "{t}");

    // Closed: the kernel frees it (after an RCU grace period) and it goes.
    drop(link);
    drop(pfd);
    drop(prog);
    let end = Instant::now() + Duration::from_secs(10);
    while listed(&status(&pin), id).is_some() {
        assert!(
            Instant::now() < end,
            "program {id} still listed after it was closed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
