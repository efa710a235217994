//! bd-lock: Show and change the boundary mode; engage lockdown; release by ceremony.
//!
//! The clap definitions live here, not in main.rs, so that `cargo xtask man`
//! and `cargo xtask completions` render exactly what the binary parses.

pub mod cli;
pub mod token;

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
        ("MODES", MODES),
        ("CEREMONY", CEREMONY),
        ("DEAD-MAN SWITCH", DEADMAN),
        (
            "EXIT STATUS",
            boundary::exit::man(
                &[
                    (0, "success (status: the state is consistent)"),
                    (1, "refused: a loosening without a ceremony; a token that is expired, replayed, tampered, not canonical, for another host, transition or seq, signed by an untrusted key or by fewer distinct trusted keys than the quorum; cosign by a key that already signed; operator keys, operators config or machine-id that are not the inodes bd-load sealed (another mount namespace, a chroot, a bind mount over /etc, files named elsewhere, or changed in OPEN without loading again); a wrong confirmation phrase; --interactive without a terminal; init on an existing state; widening the allow list in LOCKDOWN"),
                    (2, "usage, unreadable file, no kernel map where one is needed, a failed map or file write"),
                    (4, "set, engage, status: done (or consistent), but the kernel does not enforce the mode: no mode map is pinned, or a mode_enforce program the mode needs is not attached (AIRGAP: the cgroup programs, bd-load --cgroup; COLDROOM: ptrace hooks; LOCKDOWN: exec hook, BPF-LSM); a WARNING line on stderr names what is missing"),
                    (7, "status only: the state reads as LOCKDOWN because of a fault (missing, unreadable, unknown, or file and map disagree)"),
                ],
                "",
            ),
        ),
        (
            "FILES",
            "/var/lib/boundary/state.json\tthe state file (--state, BD_STATE): mode, seq, since, reason, uid, heartbeat interval; written atomically (temp file, fsync, rename, fsync dir)\n\
/var/lib/boundary/state.json.lock\tflock serialising every writer (transitions and heartbeats)\n\
/var/lib/boundary/state.json.nonces\tused release-token nonces, one per line, appended and fsynced before a token takes effect\n\
/sys/fs/bpf/boundary/maps/bd_mode\tthe kernel's mode slot (--pin-dir, BD_PIN_DIR)\n\
/sys/fs/bpf/boundary/maps/bd_mode_raise\tthe kernel's canary raises, counted per mode; enforced with bd_mode (the stricter wins), cleared only by a release\n\
/var/lib/boundary/state.json.deadline, .alive\tdead-man stamps (wall clock, boot id): the armed deadline, and when the heartbeat loop last ran; sync at boot records LOCKDOWN when an earlier boot ran past its deadline\n\
/sys/fs/bpf/boundary/maps/bd_exec_allow\tthe LOCKDOWN exec allow list (device, inode)\n\
/sys/fs/bpf/boundary/maps/bd_seal\tthe sealed configuration bd-load recorded (device, inode): when it holds a record, a ceremony trusts only those operator keys, operators config and machine-id\n\
/etc/boundary/operators.toml\tthe operators config (--operators-config, BD_OPERATORS_CONFIG): [quorum] MODE-release = K\n\
/etc/machine-id\tthe host identity tokens are bound to (--machine-id, BD_MACHINE_ID)\n\
/etc/boundary/operators.d/*.pub\ttrusted operator public keys (--operator-keys, BD_OPERATOR_KEYS): base64 Ed25519 keys, one per line; a single file also works",
        ),
        (
            "EXAMPLES",
            "  bd-lock init --mode RESTRICTED                 # once, on a fresh system\n  bd-lock status --json\n  bd-lock set AIRGAP --reason \"maintenance window\"\n  bd-lock engage --reason \"incident 42\" | bd-log append -l /var/log/boundary.log -k key\n  bd-lock keygen -o ~/.boundary/alice.key        # on the operator's machine\n  bd-lock token -k ~/.boundary/alice.key --from LOCKDOWN --to RESTRICTED --expires 15m -o release.tok\n  bd-lock cosign release.tok -k ~/.boundary/bob.key # a second operator, for a quorum\n  bd-lock release --token release.tok --reason \"incident 42 closed\"\n  bd-lock release --interactive --to TRUSTED\n  bd-lock allow /usr/local/sbin/bd-lock /usr/local/sbin/bd-load /bin/bash\n  bd-watch | bd-policy -p policy.toml | bd-lock on-tripwire --heartbeat 30s --tee | bd-log append -l LOG -k KEY",
        ),
        ("SEE ALSO", "bd-policy(1), bd-load(1), bd-log(1), docs/MODES.md, SECURITY.md"),
    ]
}

const MODES: &str = "What each mode means in the kernel (bpf/mode_enforce.bpf.c), beyond the policy rules bd-policy applies per mode:

OPEN, RESTRICTED, TRUSTED\tnothing beyond the always-on protections (bd-inject, lsm_file_protect). They are policy levels: the shipped policies deny execs from writable or anonymous locations (RESTRICTED) and anything outside the system directories (TRUSTED), and trip wires.
AIRGAP\tin the governed cgroup (bd-load --cgroup; --cgroup / governs the whole host): connect() and sendmsg() to any address but loopback (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104) fail with EPERM; so do creating raw (any family), packet (AF_PACKET) and ICMP sockets and binding to anything but loopback (the wildcard included); every IP packet to or from beyond loopback is dropped in both directions, which also cuts sockets opened before AIRGAP.
COLDROOM\tAIRGAP, and ptrace attach of any process (PTRACE_ATTACH/SEIZE, /proc/PID/mem, process_vm_readv/writev) and PTRACE_TRACEME fail with EPERM, system-wide (BPF-LSM).
LOCKDOWN\tCOLDROOM, and exec of any file not in the allow list (bd-lock allow, by device and inode) fails with EPERM, system-wide (BPF-LSM). Prepare the list before engaging; it cannot be widened while in LOCKDOWN.

Each refusal is a deny event in the ring buffer bd-watch reads. Without BPF-LSM (a kernel without `bpf` in its active LSMs) the ptrace and exec parts are not loaded: bd-load names them as unsupported.";

const CEREMONY: &str = "Tightening is immediate. Loosening (a move to a looser mode, or disarming a dead-man switch that has already fired) needs one of:

--token FILE\ta release token (version 2) made by bd-lock token with an operator's secret key. It names the host (its machine-id), the state's transition seq it releases, from, to, an expiry and a 16-byte random nonce; each Ed25519 signature covers a fixed binary encoding of those fields. It is refused unless it is the canonical encoding of its fields (lowercase hex, canonical base64, upper-case mode names), the host and seq are this host's and the state's current ones (so it opens one transition, even if the nonce store is lost), enough distinct keys listed in --operator-keys signed it (the quorum for from in --operators-config, default 1), it has not expired, from is the current mode and to the requested one, and its nonce was never used before (the nonce is recorded before the mode changes).
Quorum\t--operators-config FILE (TOML) holds [quorum] MODE-release = K, e.g. lockdown-release = 2: a release out of that mode needs K distinct trusted keys. Others add their signature with bd-lock cosign TOKEN -k KEY. The same key twice is refused; an untrusted key does not count; --interactive is refused where K > 1. A missing file means K = 1; a bad file is an error.
--interactive\ton a terminal only: type the phrase \"release FROM to TO\", then wait out --cooling-off (at least 10 s, default 60 s); the mode must not change meanwhile.

Keys: the operator keeps the secret key off the host; the host holds only public keys, in /etc/boundary/operators.d/ (one *.pub per operator, so revoking is removing a file).

Sealed configuration\twith BPF-LSM, bd-load records /etc/boundary, /etc/default/boundary and /etc/machine-id (bd-load --seal) by device and inode, and the kernel refuses changes to them above OPEN. Before any ceremony (release, disarm, an expired dead-man switch) bd-lock checks that the --operator-keys (the directory and every entry), the --operators-config (or, absent, its directory) and the --machine-id it reads are those inodes, and refuses (exit 1) otherwise. To change them: release to OPEN, edit, run bd-load again, tighten. With no seal recorded, or none that includes a configuration directory, nothing is checked.";

const DEADMAN: &str = "bd-lock arm --heartbeat 30s writes a CLOCK_MONOTONIC deadline into the kernel map. If bpf_ktime_get_ns() passes it, every program acts as LOCKDOWN until a heartbeat (bd-lock heartbeat) moves it forward again. bd-lock on-tripwire --heartbeat 30s arms the switch and sends heartbeats (every third of the interval) while it runs, so a killed pipeline fails closed. At end of input on-tripwire leaves the switch armed. bd-lock disarm clears it. Once the deadline has passed (or has less than 50 ms left), disarming, a heartbeat and re-arming all lift a LOCKDOWN the kernel already applies: each is a loosening, refused without a ceremony (--token for LOCKDOWN -> the recorded mode, or --interactive) and recorded as a mode event from LOCKDOWN. The on-tripwire heartbeat thread never holds a ceremony, so after expiry it stops renewing and says so once.";
