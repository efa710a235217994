/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Structs shared by the BPF programs and the Rust tools.
 *
 * Every struct here has a #[repr(C)] twin in lib/src/event.rs (or the module
 * named beside it) and a test that sizes and offsets agree. Padding is
 * explicit so both sides lay out identically; change both sides together.
 * Every ring-buffer record starts with struct bd_hdr.
 */
#ifndef BD_H
#define BD_H

#define BD_COMM_LEN 16
#define BD_PATH_LEN 256
#define BD_ARGS_LEN 1024 /* argv bytes copied, NUL separated */
/* exec_monitor wakes an idle reader only for a lone exec record, one that
 * comes BD_WAKE_GAP_NS or more after the previous one; a reader keeps
 * looking every BD_POLL_NS until a gap has passed since the last record it
 * read (lib::event::BD_WAKE_GAP_NS, BD_POLL_NS). */
#define BD_WAKE_GAP_NS 5000000ull
#define BD_POLL_NS 1000000ull
#define BD_ANC_MAX 8       /* ancestors carried by an exec record */
#define BD_ANC_NAME_LEN 40 /* basename of an ancestor's executable */

/* struct bd_hdr.type */
enum bd_event_type {
	BD_EV_EXEC = 1,
	BD_EV_DENY = 2,
	BD_EV_LIVENESS = 3,
	BD_EV_TRIPWIRE = 4,
};

/* Index into the per-CPU bd_stats array: counters the loader and bd-watch read. */
enum bd_stat {
	BD_STAT_EXEC = 0,      /* exec events submitted */
	BD_STAT_EXEC_LOST = 1, /* exec events dropped: ring buffer reserve failed */
	BD_STAT_DENY = 2,      /* deny events submitted */
	BD_STAT_DENY_LOST = 3, /* deny events dropped: reserve failed */
	BD_STAT_DENIED = 4,    /* operations denied (or would be, in audit mode) */
	BD_STAT_TRIP = 5,      /* canary tripwire events submitted */
	BD_STAT_TRIP_LOST = 6, /* canary tripwire events dropped (the mode was raised) */
	BD_STAT_MAX = 16,
};

/* Slots in the per-CPU bd_deny_hooks array: denials counted by enum bd_hook
 * (every hook number is below this). */
#define BD_HOOK_SLOTS 128

struct bd_hdr {
	__u32 type; /* enum bd_event_type */
	__u32 size; /* sizeof the whole record */
	__u64 ktime_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
};

/* struct bd_exec.flags */
#define BD_EXEC_ARGS_TRUNC (1u << 0)     /* argv longer than BD_ARGS_LEN */
#define BD_EXEC_FILENAME_TRUNC (1u << 1) /* filename longer than BD_PATH_LEN */
#define BD_EXEC_PROTECTED (1u << 2)      /* the task is in bd_prot_pids */
#define BD_EXEC_ANC_TRUNC (1u << 3)      /* more ancestors than BD_ANC_MAX */

/* struct bd_ancestor.flags */
#define BD_ANC_EXE_TRUNC (1u << 0) /* exe name longer than BD_ANC_NAME_LEN - 1 */
#define BD_ANC_NO_EXE (1u << 1)    /* no executable (kernel thread, or mm gone) */

/*
 * One ancestor of an exec'ing task, read from the kernel's task tree at exec
 * time (real_parent, then its real_parent, ...): a process, not a thread.
 * exe is the basename of mm->exe_file: a full path is not obtainable in a
 * tracepoint (bpf_d_path is refused there) and walking d_parent per ancestor
 * would multiply the per-exec cost.
 */
struct bd_ancestor {
	__u32 pid; /* tgid */
	__u32 flags;
	char comm[BD_COMM_LEN];
	char exe[BD_ANC_NAME_LEN];
};

struct bd_exec {
	struct bd_hdr hdr;
	__u32 pid;  /* tgid */
	__u32 tid;
	__u32 ppid; /* real parent's tgid */
	__u32 uid;
	__u32 gid;
	__u32 flags;
	__u64 cgroup_id;
	__u32 args_len; /* valid bytes in args */
	__u32 argc;     /* reserved, 0: userspace counts the strings in args */
	char comm[BD_COMM_LEN];
	char filename[BD_PATH_LEN];
	char args[BD_ARGS_LEN];
	/* Parent first; stops after pid 1 or after BD_ANC_MAX entries. */
	__u32 n_anc;
	__u32 _pad0;
	struct bd_ancestor anc[BD_ANC_MAX];
};

/*
 * A liveness marker: a thread renamed itself to BD_LIVE_MAGIC followed by a
 * nonce (bd-lock on-tripwire --heartbeat does, every interval/3). The kernel
 * stamps who did it; the nonce travels bd-watch | bd-policy | bd-lock and
 * only its return renews the dead-man deadline.
 */
#define BD_LIVE_MAGIC "bdlv:"
#define BD_LIVE_MAGIC_LEN 5
struct bd_liveness {
	struct bd_hdr hdr;
	__u32 pid; /* tgid */
	__u32 tid;
	char comm[BD_COMM_LEN]; /* the new name: magic + nonce */
};

/* struct bd_deny.hook: which check fired */
enum bd_hook {
	BD_HOOK_PTRACE = 1,    /* LSM ptrace_access_check: attach, /proc/pid/mem|environ, process_vm_readv */
	BD_HOOK_FILE_OPEN = 2, /* LSM file_open on a protected file */
	BD_HOOK_EXEC = 3,      /* LSM bprm_check_security (LOCKDOWN allow list) */
	BD_HOOK_CONNECT4 = 4,  /* cgroup/connect4 */
	BD_HOOK_CONNECT6 = 5,  /* cgroup/connect6 */
	BD_HOOK_SENDMSG4 = 6,  /* cgroup/sendmsg4 */
	BD_HOOK_SENDMSG6 = 7,  /* cgroup/sendmsg6 */
	BD_HOOK_PTRACE_ME = 8, /* LSM ptrace_traceme */
	/* 20..39: shields against root and self-protection (lsm_file_protect, self_protect) */
	BD_HOOK_BPF_MAP = 20,     /* LSM bpf_map: an fd on one of boundary's maps */
	BD_HOOK_BPF_PROG = 21,    /* LSM bpf_prog: an fd on one of boundary's programs */
	BD_HOOK_BPF_LINK = 22,    /* LSM bpf: get/detach/update one of boundary's links */
	BD_HOOK_BPF_LOAD = 23,    /* LSM bpf: BPF_PROG_LOAD at COLDROOM and above */
	BD_HOOK_PIN_REMOVE = 24,  /* LSM inode_unlink/rmdir/rename in boundary's pin dir */
	BD_HOOK_PIN_UMOUNT = 25,  /* LSM sb_umount of the bpffs holding the pins */
	BD_HOOK_KERNEL_READ = 26, /* LSM kernel_read_file/kernel_load_data: modules, kexec at COLDROOM+ */
	BD_HOOK_SELF_WRITE = 27,  /* LSM file_open for write of one of boundary's executables */
	BD_HOOK_RLIMIT = 28,      /* LSM task_setrlimit: RLIMIT_CORE of a protected process */
	BD_HOOK_KILL = 29,        /* LSM task_kill: a core-dumping signal to a protected process */
	BD_HOOK_PERF = 30,        /* LSM perf_event_alloc: sampling a protected process */
	BD_HOOK_LOCKDOWN = 31,    /* LSM locked_down: /proc/kcore, /dev/mem */
	BD_HOOK_BLOCK_DEV = 32,   /* LSM file_open of a block device holding a protected file */
	BD_HOOK_SELF_MMAP = 33,   /* LSM mmap_file/file_mprotect: code in a boundary process from a file not its own */
	BD_HOOK_TRACEFS = 34,     /* LSM file_open of tracefs: for write in any mode, any open at COLDROOM+ */
	BD_HOOK_KPROBES = 35,     /* LSM locked_down(LOCKDOWN_KPROBES): a kprobe/fprobe trace event */
	BD_HOOK_BPF_TRACE = 36,   /* LSM bpf: BPF_PROG_LOAD of a tracing type (kprobe, tracepoint, perf, raw_tp, tracing, lsm, ext, struct_ops) */
	/* 37..=39: boundary's sealed configuration above OPEN (bd_seal, bpf/self_protect.bpf.c) */
	BD_HOOK_SEAL_WRITE = 37, /* LSM file_open/path_truncate/path_chmod/path_chown/inode_*xattr of a sealed file */
	BD_HOOK_SEAL_DIR = 38,   /* LSM inode_create/mkdir/mknod/symlink/link/unlink/rmdir/rename in or of a sealed dir or file */
	BD_HOOK_SEAL_MOUNT = 39, /* LSM sb_mount/move_mount onto a sealed path or one of its ancestors */
	/* 40..=44: AIRGAP beyond connect/sendmsg (issue 9) */
	BD_HOOK_SOCK_CREATE = 40,  /* cgroup/sock_create: raw, packet or ICMP socket */
	BD_HOOK_POST_BIND4 = 41,   /* cgroup/post_bind4: bind beyond loopback */
	BD_HOOK_POST_BIND6 = 42,   /* cgroup/post_bind6 */
	BD_HOOK_SKB_INGRESS = 43,  /* cgroup_skb/ingress: packet from beyond loopback */
	BD_HOOK_SKB_EGRESS = 44,   /* cgroup_skb/egress: packet to beyond loopback */
	/* 45..=49: kernel tracing beyond 34..=36 (issue 13) */
	BD_HOOK_BPF_READ_KERNEL = 45, /* LSM locked_down(LOCKDOWN_BPF_READ_KERNEL): bpf_probe_read_kernel in a program */
	BD_HOOK_ALLOWED_NAME = 46,    /* LSM inode_link/unlink/rename of an allowed file (LOCKDOWN); access 1 link, 2 unlink, 3 rename */
	BD_HOOK_ALLOWED_SETATTR = 47, /* LSM inode_setattr of an allowed file (LOCKDOWN): chmod, chown, utimes; access = ia_valid */
	/* 48..=49: storage passthrough char devices while a file is protected */
	BD_HOOK_PASSTHRU_OPEN = 48, /* LSM file_open of /dev/sgN (major 21), or of a bsg/nvme-generic/nvme node */
	BD_HOOK_PASSTHRU_CMD = 49,  /* LSM file_ioctl/uring_cmd on an sg, bsg, nvme-generic or nvme node */
	/* 50..=69: LOCKDOWN file and liveness hooks (issue 9, helper B) */
	BD_HOOK_MMAP_EXEC = 50,     /* LSM mmap_file with PROT_EXEC (LOCKDOWN allow list) */
	BD_HOOK_MPROTECT_EXEC = 51, /* LSM file_mprotect to PROT_EXEC (LOCKDOWN allow list) */
	BD_HOOK_ALLOWED_WRITE = 52,    /* LSM file_open for writing of an allowed file */
	BD_HOOK_ALLOWED_TRUNCATE = 53, /* LSM path_truncate of an allowed file */
	BD_HOOK_ALLOWED_RENAME = 54,   /* LSM inode_rename over an allowed file (LOCKDOWN) */
	BD_HOOK_PACKET_SOCKET = 55,    /* LSM socket_create AF_PACKET in the governed cgroup */
	BD_HOOK_CGROUP_MOVE = 56,      /* LSM file_open of cgroup.procs/threads for writing, governed */
	BD_HOOK_KERNEL_INTEGRITY = 57, /* LSM locked_down, integrity reasons, at COLDROOM+: ioperm, MSR, PCI, debugfs... */
	BD_HOOK_USB_AUTHORIZE = 58,    /* LSM file_open of a USB authorized/authorized_default for writing, AIRGAP+, not boundary */
	BD_HOOK_UNIX_CONNECT = 59,     /* LSM unix_stream_connect: governed, AIRGAP+, to a listener outside the governed cgroup */
	BD_HOOK_UNIX_SEND = 60,        /* LSM unix_may_send: governed, AIRGAP+, a datagram to a socket outside the governed cgroup */
	BD_HOOK_ANON_MMAP_EXEC = 61,   /* LSM mmap_file: anonymous memory with PROT_EXEC (LOCKDOWN) */
	BD_HOOK_ANON_MPROTECT_EXEC = 62, /* LSM file_mprotect: anonymous memory to PROT_EXEC (LOCKDOWN) */
	BD_HOOK_BPF_ATTACH = 63,       /* LSM bpf: raw_tp open, tracing link create/update, iter create, not boundary */
	BD_HOOK_PERF_SET_BPF = 64,     /* LSM file_ioctl(_compat): PERF_EVENT_IOC_SET_BPF on a perf event, not boundary */
	BD_HOOK_ALLOWED_XATTR = 66,      /* LSM inode_setxattr/removexattr/set_acl/remove_acl of an allowed file (LOCKDOWN); access 1-4 */
	BD_HOOK_ALLOWED_IOCTL = 67,      /* LSM file_ioctl(_compat) setting inode flags or generation of an allowed file (LOCKDOWN); access = cmd */
};

/* struct bd_deny.action */
enum bd_action {
	BD_ACT_DENY = 1,  /* the operation was refused */
	BD_ACT_AUDIT = 2, /* audit mode: it would have been refused, and was allowed */
};

struct bd_deny {
	struct bd_hdr hdr;
	__u32 hook;   /* enum bd_hook */
	__u32 action; /* enum bd_action */
	__s32 err;    /* errno returned (positive, e.g. EPERM), 0 in audit */
	__u32 mode;   /* effective boundary mode when it fired (enum bd_mode) */
	__u32 pid;    /* accessor tgid */
	__u32 uid;    /* accessor uid */
	__u64 cgroup_id;
	__u32 target_pid; /* ptrace target tgid, 0 if none */
	__u32 access;     /* hook-specific: ptrace mode bits, open flags, ... */
	__u64 target_dev; /* protected file / exec'd file device (kernel dev_t) */
	__u64 target_ino;
	__u32 family;     /* connect/sendmsg: AF_INET or AF_INET6 */
	__u16 port;       /* host byte order */
	__u16 _pad0;
	__u8 addr[16];    /* IPv4 in the first 4 bytes, network order */
	char comm[BD_COMM_LEN];
	char target_comm[BD_COMM_LEN];
	char path[BD_PATH_LEN]; /* target path or exec filename, "" if unknown */
};

/* Boundary modes, ordered: a larger value is stricter. */
enum bd_mode {
	BD_MODE_OPEN = 0,
	BD_MODE_RESTRICTED = 1,
	BD_MODE_TRUSTED = 2,
	BD_MODE_AIRGAP = 3,
	BD_MODE_COLDROOM = 4,
	BD_MODE_LOCKDOWN = 5,
};

/* The one slot of bd_mode. */
struct bd_mode_state {
	__u32 mode;  /* enum bd_mode */
	__u32 flags; /* reserved, 0 */
	/* Dead-man switch: if nonzero and bpf_ktime_get_ns() passes it, the
	 * programs act as LOCKDOWN until a heartbeat moves it forward. */
	__u64 heartbeat_deadline_ns;
	__u64 seq; /* bumped by every write, for status */
};

/* struct bd_mode_state.flags: the last transition was the kernel's own (a
 * canary raised the mode); bd-lock adopts it into the state file. */
#define BD_MODE_F_CANARY (1u << 0)

/*
 * In-kernel canaries (bd-lock canary add PATH --trip MODE): bd_canary maps a
 * file by identity (struct bd_file_key) to this value. Its exec (natively,
 * the exec tracepoint; with BPF-LSM, also any open, and the exec or open is
 * refused) raises bd_mode to at least `trip` in the same system call.
 */
struct bd_canary_val {
	__u32 trip;  /* enum bd_mode: the mode the canary raises to */
	__u32 flags; /* reserved, 0 */
	__u64 hits;  /* times it tripped (racy count, for list) */
};

/* struct bd_tripwire.hook: where the canary was seen */
enum bd_trip_hook {
	BD_TRIP_EXEC = 1,     /* tracepoint sched_process_exec: after the exec */
	BD_TRIP_LSM_EXEC = 2, /* LSM bprm_check_security/file_open(FMODE_EXEC): exec refused */
	BD_TRIP_LSM_OPEN = 3, /* LSM file_open: open refused */
};

/* A canary tripped: the kernel raised bd_mode from `from` to `to` (equal
 * when it already was at least `trip`). */
struct bd_tripwire {
	struct bd_hdr hdr;
	__u32 hook;   /* enum bd_trip_hook */
	__u32 trip;   /* the canary's mode */
	__u32 from;   /* bd_mode.mode before (raw) */
	__u32 to;     /* bd_mode.mode after (raw) */
	__u32 pid;    /* tgid */
	__u32 tid;
	__u32 uid;
	__s32 err;    /* errno returned (EPERM) when refused, 0 if the exec went on */
	__u64 cgroup_id;
	__u64 dev;    /* kernel dev_t */
	__u64 ino;
	__u64 seq;    /* bd_mode.seq after */
	char comm[BD_COMM_LEN];
	char path[BD_PATH_LEN]; /* exec filename, or the dentry name for an open */
};

/* Key of bd_prot_files and bd_exec_allow: a file by identity, not by name. */
struct bd_file_key {
	__u64 dev; /* kernel dev_t as in sb->s_dev: major << 20 | minor, not st_dev */
	__u64 ino;
};

/*
 * bd_exec_allow value. bd-lock inserts it unsealed; mode_enforce's file_open
 * seals it at the next open of that inode (bd-lock opens the file right
 * away) with the inode's generation and ctime as the kernel has them. An
 * entry is trusted only sealed and while both still match: a reused inode
 * number has another generation, a file changed in place another ctime.
 */
#define BD_ALLOW_SEALED (1u << 0)
struct bd_allow_val {
	__u32 flags;
	__u32 gen;      /* inode->i_generation when sealed */
	__u64 ctime_ns; /* inode ctime when sealed */
};

/* bd_lsm_cfg.flags */
#define BD_LSM_BLOCK_ENVIRON (1u << 0)
#define BD_LSM_BLOCK_MEM (1u << 1)
#define BD_LSM_BLOCK_PTRACE (1u << 2)

/* The one slot of bd_lsm_cfg. An all-zero slot (never written) means the
 * defaults: everything blocked, enforce. */
struct bd_lsm_cfg {
	__u32 flags;
	__u32 audit;      /* 1 = report only */
	__u32 configured; /* 1 once the loader wrote flags/audit */
	__u32 _pad0;
};

#endif /* BD_H */
