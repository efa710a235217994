/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * lsm_file_protect: BPF-LSM shields for protected processes and files.
 *
 * Processes: a tgid in bd_prot_pids (and every process it forks afterwards)
 * cannot be inspected by anyone but itself and the tgids in bd_allow_pids,
 * root included. Every way in goes through ptrace_may_access() and so
 * through the ptrace_access_check hook; the mode bits tell the kinds apart:
 *
 *   PTRACE_MODE_ATTACH | REALCREDS  ptrace(PTRACE_ATTACH/SEIZE),
 *                                   process_vm_readv/writev, pidfd_getfd
 *                                   -> block_ptrace
 *   PTRACE_MODE_ATTACH | FSCREDS    open("/proc/<pid>/mem")      -> block_mem
 *   PTRACE_MODE_READ (no ATTACH)    open("/proc/<pid>/environ"), and with the
 *                                   same bits auxv, maps, smaps, stack,
 *                                   syscall, io, fd/ ...         -> block_environ
 *
 * environ cannot be told apart from the other READ checks inside this hook,
 * so block_environ denies them all: each leaks memory contents or layout,
 * and a shield that missed one would be unsound. READ checks flagged
 * PTRACE_MODE_NOAUDIT (ps reading /proc/<pid>/stat, which then only hides
 * wchan and the stack pointers) are denied without an event, as the kernel
 * itself does not audit them; otherwise every `ps` would flood bd-watch.
 * A protected process calling PTRACE_TRACEME (making its parent its tracer)
 * is refused under block_ptrace too.
 *
 * Files: a (dev, ino) in bd_prot_files cannot be opened by anyone not in
 * bd_allow_pids, and neither can a block device in bd_prot_devs (the
 * devices that hold a protected file's filesystem: hook BLOCK_DEV). dev is the kernel's internal dev_t (sb->s_dev, MKDEV form:
 * major << 20 | minor); userspace converts st_dev (lib/src/protect.rs).
 *
 * Every denial, or would-be denial in audit mode, is one struct bd_deny in
 * bd_events; a record that cannot be reserved is counted in
 * bd_stats[BD_STAT_DENY_LOST]. bd_stats[BD_STAT_DENIED] counts denials.
 */
#include "kernel.h"
#include "self.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";


#define PTRACE_MODE_READ 0x01
#define PTRACE_MODE_ATTACH 0x02
#define PTRACE_MODE_NOAUDIT 0x04
#define PTRACE_MODE_FSCREDS 0x08
#define PTRACE_MODE_REALCREDS 0x10


/* Accessors allowed through every shield: tgid -> 1. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bd_allow_pids SEC(".maps");

/* Protected files by identity. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct bd_file_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bd_prot_files SEC(".maps");

/* Block devices under a protected file's filesystem: kernel dev_t (as
 * inode->i_rdev, MKDEV form) -> 1. bd-load fills it with the device the
 * filesystem is on and every device below it (partition -> disk, dm/md ->
 * slaves, loop -> the device holding its backing file); the backing file of
 * a loop device goes into bd_prot_files. Empty while no file is protected. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bd_prot_devs SEC(".maps");

/* Policy flags and audit mode: one slot, written by bd-load lsm-config. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bd_lsm_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bd_lsm_cfg SEC(".maps");

/* Kernel types only this object reads (CO-RE flavours: "___bd" is ignored
 * when matching against the kernel's BTF). */
struct atomic_t___bd {
	int counter;
} __attribute__((preserve_access_index));

struct signal_struct___bd {
	struct atomic_t___bd live;
} __attribute__((preserve_access_index));

struct task_struct___bd {
	struct signal_struct___bd *signal;
} __attribute__((preserve_access_index));

#define BD_LSM_ALL (BD_LSM_BLOCK_ENVIRON | BD_LSM_BLOCK_MEM | BD_LSM_BLOCK_PTRACE)

/* Fail closed: a slot never written (or unreadable) means everything
 * blocked, enforcing. */
static __always_inline void lsm_cfg(__u32 *flags, __u32 *audit)
{
	__u32 zero = 0;
	struct bd_lsm_cfg *c = bpf_map_lookup_elem(&bd_lsm_cfg, &zero);

	if (!c || !c->configured) {
		*flags = BD_LSM_ALL;
		*audit = 0;
		return;
	}
	*flags = c->flags;
	*audit = c->audit;
}

static __always_inline int current_allowed(__u32 *tgid_out)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	*tgid_out = tgid;
	return bpf_map_lookup_elem(&bd_allow_pids, &tgid) != 0;
}

SEC("lsm/ptrace_access_check")
int BPF_PROG(ptrace_access_check, struct task_struct *child, unsigned int mode, int ret)
{
	__u32 tgid, accessor, flags, audit, need;

	if (ret)
		return ret; /* an earlier LSM refused: keep its errno */
	tgid = BPF_CORE_READ(child, tgid);
	/* Boundary's own processes hold fds on its maps and links: reaching
	 * into one (pidfd_getfd, /proc/PID/mem, ptrace) is self-protection's
	 * business, whatever the LSM config says. */
	if ((mode & PTRACE_MODE_ATTACH) && task_is_boundary(child) && !current_is_boundary())
		return deny(BD_HOOK_PTRACE, 0, bpf_get_current_pid_tgid() >> 32, mode, child, 0);
	if (!bpf_map_lookup_elem(&bd_prot_pids, &tgid))
		return 0;
	if (current_allowed(&accessor))
		return 0;
	lsm_cfg(&flags, &audit);

	if (mode & PTRACE_MODE_ATTACH)
		need = (mode & PTRACE_MODE_FSCREDS) ? BD_LSM_BLOCK_MEM : BD_LSM_BLOCK_PTRACE;
	else
		need = BD_LSM_BLOCK_ENVIRON;
	if (!(flags & need))
		return 0;
	/* Unaudited READ probes only decide whether ps shows a few fields. */
	if (!(mode & PTRACE_MODE_ATTACH) && (mode & PTRACE_MODE_NOAUDIT)) {
		if (!audit)
			bd_count_denied(BD_HOOK_PTRACE);
		return verdict(audit);
	}
	return deny(BD_HOOK_PTRACE, audit, accessor, mode, child, 0);
}

SEC("lsm/ptrace_traceme")
int BPF_PROG(ptrace_traceme, struct task_struct *parent, int ret)
{
	__u32 tgid, ptgid, flags, audit;

	if (ret)
		return ret; /* an earlier LSM refused: keep its errno */
	tgid = bpf_get_current_pid_tgid() >> 32;
	if (!bpf_map_lookup_elem(&bd_prot_pids, &tgid))
		return 0;
	ptgid = BPF_CORE_READ(parent, tgid);
	if (bpf_map_lookup_elem(&bd_allow_pids, &ptgid))
		return 0;
	lsm_cfg(&flags, &audit);
	if (!(flags & BD_LSM_BLOCK_PTRACE))
		return 0;
	return deny(BD_HOOK_PTRACE_ME, audit, tgid, PTRACE_MODE_ATTACH, parent, 0);
}

struct inode___blk {
	unsigned short i_mode;
	__u32 i_rdev;
} __attribute__((preserve_access_index));

#define S_IFMT 00170000
#define S_IFBLK 0060000

/* ---- storage passthrough char devices (hooks passthrough_open, passthrough_cmd) ---- */

/*
 * A SCSI or NVMe passthrough node hands root the blocks of a disk without
 * the block layer, so the block_dev check (by block device number) never
 * sees it: SCSI generic /dev/sgN (SCSI commands by write()/read() or SG_IO),
 * /dev/bsg/H:C:T:L (SG_IO), NVMe generic /dev/ngXnY and the controller
 * /dev/nvmeN (NVME_IOCTL_* passthrough, io_uring uring_cmd). The rule,
 * while any file is protected (bd_prot_files or bd_prot_devs not empty),
 * for everyone not on the allow list and not boundary:
 *
 *   file_open  of a char device of major 21 (sg: fixed, whatever node, a
 *              fresh mknod included), or of a char device whose cdev the
 *              kernel already looked up and whose device's class is "bsg",
 *              "nvme-generic" or "nvme"              -> passthrough_open
 *   file_ioctl and uring_cmd on any of those         -> passthrough_cmd
 *
 * Every such node, not only the disk under the protected file: which disk
 * an sg, bsg or ng node addresses is not in its inode, and which one holds
 * the file is bd-load's knowledge, not this program's. bsg, ng and nvme
 * majors are dynamic, and at file_open of an inode never opened before
 * i_cdev is still NULL (chrdev_open runs after this hook and fills it), so
 * those are judged by class where the command is issued: they have no
 * read/write, only ioctl and uring_cmd, by then i_cdev is set, and a
 * node made with mknod reaches the same cdev. The class is read from the
 * parent device cdev_device_add() gives the cdev; a node whose cdev has no
 * parent device (sg's) is judged by its fixed major.
 */
#define S_IFCHR 0020000
#define SCSI_GENERIC_MAJOR 21

struct kobject___pt {
	struct kobject___pt *parent;
} __attribute__((preserve_access_index));

struct class___pt {
	const char *name;
} __attribute__((preserve_access_index));

struct device___pt {
	struct kobject___pt kobj;
	struct class___pt *class;
} __attribute__((preserve_access_index));

struct cdev___pt {
	struct kobject___pt kobj;
} __attribute__((preserve_access_index));

struct inode___pt {
	unsigned short i_mode;
	__u32 i_rdev;
	struct cdev___pt *i_cdev;
} __attribute__((preserve_access_index));

struct io_uring_cmd___pt {
	struct file *file;
	__u32 cmd_op;
} __attribute__((preserve_access_index));

static long pt_first_elem(void *map, const void *key, void *val, void *ctx)
{
	return 1; /* stop at the first */
}

/* Is any file protected now? Both maps: a file on a filesystem without a
 * device number (btrfs) has no bd_prot_devs entry, yet its blocks are on
 * some disk a passthrough node reaches. Counted by the helper's return
 * (elements visited), not by a flag the callback sets: verifiers before
 * 6.7 assume a callback runs exactly once, take such a flag as always set
 * and hard-wire the branch (on 6.1 every open was refused, nothing
 * protected). */
static __always_inline int pt_protecting(void)
{
	int unused = 0;

	return bpf_for_each_map_elem(&bd_prot_files, pt_first_elem, &unused, 0) > 0 ||
	       bpf_for_each_map_elem(&bd_prot_devs, pt_first_elem, &unused, 0) > 0;
}

static __always_inline int pt_class_is(const char *n, const char *want, int len)
{
	for (int k = 0; k < len; k++)
		if (n[k] != want[k])
			return 0;
	return 1;
}

/* Is this inode a storage passthrough node? */
static __always_inline int passthrough_node(struct inode *inode)
{
	struct inode___pt *i = (struct inode___pt *)inode;
	struct kobject___pt *parent;
	struct device___pt *dev;
	struct cdev___pt *cd;
	const char *name;
	char n[16] = {};

	if ((BPF_CORE_READ(i, i_mode) & S_IFMT) != S_IFCHR)
		return 0;
	if ((BPF_CORE_READ(i, i_rdev) >> 20) == SCSI_GENERIC_MAJOR)
		return 1;
	cd = BPF_CORE_READ(i, i_cdev);
	if (!cd)
		return 0;
	parent = BPF_CORE_READ(cd, kobj.parent);
	if (!parent)
		return 0;
	dev = (struct device___pt *)((void *)parent -
				     bpf_core_field_offset(struct device___pt, kobj));
	name = BPF_CORE_READ(dev, class, name);
	if (!name || bpf_probe_read_kernel_str(n, sizeof(n), name) < 0)
		return 0;
	/* the terminating NUL included: "nvme" is not "nvme-subsystem" */
	return pt_class_is(n, "bsg", 4) || pt_class_is(n, "nvme", 5) ||
	       pt_class_is(n, "nvme-generic", 13);
}

static __always_inline int passthrough_deny(__u32 hook, struct file *file, __u32 access)
{
	__u32 accessor, flags, audit;

	if (!pt_protecting())
		return 0;
	if (current_allowed(&accessor) || current_is_boundary())
		return 0;
	lsm_cfg(&flags, &audit);
	return deny(hook, audit, accessor, access, 0, file);
}

/* At open: access is the device number (kernel dev_t), as for block_dev. */
static __always_inline int passthrough_open(struct file *file, struct inode *inode)
{
	if (!passthrough_node(inode))
		return 0;
	return passthrough_deny(BD_HOOK_PASSTHRU_OPEN, file,
				BPF_CORE_READ((struct inode___pt *)inode, i_rdev));
}

/* An ioctl: access is the command (SG_IO 0x2285, NVME_IOCTL_IO_CMD ...).
 * Also an fd on /dev/sgN opened before the file was protected: its SG_IO
 * is refused here (its read/write is not: SECURITY.md). */
SEC("lsm/file_ioctl")
int BPF_PROG(passthrough_ioctl, struct file *file, unsigned int cmd, unsigned long arg, int ret)
{
	if (ret)
		return ret; /* an earlier LSM refused: keep its errno */
	if (!passthrough_node(BPF_CORE_READ(file, f_inode)))
		return 0;
	return passthrough_deny(BD_HOOK_PASSTHRU_CMD, file, cmd);
}

/* 6.8+ (and Debian's 6.1) send a 32-bit caller's ioctl here instead of
 * file_ioctl; where the hook is absent bd-load reports it unsupported and
 * file_ioctl sees every caller. */
SEC("lsm/file_ioctl_compat")
int BPF_PROG(passthrough_ioctl_compat, struct file *file, unsigned int cmd, unsigned long arg)
{
	if (!passthrough_node(BPF_CORE_READ(file, f_inode)))
		return 0;
	return passthrough_deny(BD_HOOK_PASSTHRU_CMD, file, cmd);
}

/* io_uring IORING_OP_URING_CMD (NVMe passthrough without an ioctl): access
 * is the command's cmd_op. */
SEC("lsm/uring_cmd")
int BPF_PROG(passthrough_uring_cmd, struct io_uring_cmd___pt *ioucmd, int ret)
{
	struct file *file;

	if (ret)
		return ret;
	file = BPF_CORE_READ(ioucmd, file);
	if (!passthrough_node(BPF_CORE_READ(file, f_inode)))
		return 0;
	return passthrough_deny(BD_HOOK_PASSTHRU_CMD, file, BPF_CORE_READ(ioucmd, cmd_op));
}

/* ---- kernel tracing (issue 13) ---- */

#define TRACEFS_MAGIC 0x74726163
#define O_ACCMODE 00000003
#define O_TRUNC 00001000

/*
 * tracefs (/sys/kernel/tracing, and the same superblock automounted at
 * /sys/kernel/debug/tracing). A uprobe or kprobe event with fetch arguments
 * (`p:grab /bin/prog:0x1139 +0(%di):string` written to uprobe_events,
 * kprobe_events or dynamic_events) copies a protected process's memory, or
 * the kernel's copy of it (page cache, pipe buffers), into the trace buffer,
 * past every ptrace check. The rule, for everyone not on the allow list and
 * not boundary itself:
 *
 *   while this object is loaded  no tracefs file opened for write or with
 *   (any mode)                   O_TRUNC: no probe is defined, and none
 *                                defined earlier is enabled
 *   COLDROOM and above           no tracefs file opened at all (as
 *                                BPF_PROG_LOAD is refused)
 *
 * Not only while something is protected: a probe is a path and an offset,
 * so root could define it between two protected runs and merely wait; an
 * operator who traces asks for an allow-list entry (bd-load allow, in OPEN).
 * Reading stays open below COLDROOM: a probe enabled before the load keeps
 * writing to the buffer (SECURITY.md says so). This is
 * decided at open, by superblock, rather than in locked_down(LOCKDOWN_TRACEFS):
 * that question carries no file and no open mode, not every tracefs file
 * asks it, and the kernel also asks it when it creates tracefs files
 * itself (a module's events), which must not fail. Boundary's own
 * processes pass: bd-load reads tracepoint ids under events/.
 */
static __always_inline int tracefs_open(struct file *file)
{
	__u32 accessor, fl = BPF_CORE_READ(file, f_flags);
	__u32 mode = bd_effective_mode();
	int wr = (fl & O_ACCMODE) || (fl & O_TRUNC);

	if (mode < BD_MODE_COLDROOM && !wr)
		return 0;
	if (current_allowed(&accessor) || current_is_boundary())
		return 0;
	return deny(BD_HOOK_TRACEFS, 0, accessor, fl, 0, file);
}

SEC("lsm/file_open")
int BPF_PROG(file_open, struct file *file, int ret)
{
	struct bd_file_key key = {};
	struct inode *inode;
	__u32 accessor, flags, audit, rdev;

	if (ret)
		return ret; /* an earlier LSM refused: keep its errno */
	inode = BPF_CORE_READ(file, f_inode);
	key.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	key.ino = BPF_CORE_READ(inode, i_ino);
	if (bpf_map_lookup_elem(&bd_prot_files, &key)) {
		if (current_allowed(&accessor))
			return 0;
		lsm_cfg(&flags, &audit);
		return deny(BD_HOOK_FILE_OPEN, audit, accessor, BPF_CORE_READ(file, f_flags), 0,
			    file);
	}
	if (BPF_CORE_READ(inode, i_sb, s_magic) == TRACEFS_MAGIC)
		return tracefs_open(file);
	/* The raw device under a protected file's filesystem holds its
	 * blocks: refused by device number, whatever node (a fresh mknod
	 * included) it is opened through. */
	if ((BPF_CORE_READ((struct inode___blk *)inode, i_mode) & S_IFMT) == S_IFCHR)
		return passthrough_open(file, inode);
	if ((BPF_CORE_READ((struct inode___blk *)inode, i_mode) & S_IFMT) != S_IFBLK)
		return 0;
	rdev = BPF_CORE_READ((struct inode___blk *)inode, i_rdev);
	if (!bpf_map_lookup_elem(&bd_prot_devs, &rdev))
		return 0;
	if (current_allowed(&accessor))
		return 0;
	lsm_cfg(&flags, &audit);
	return deny(BD_HOOK_BLOCK_DEV, audit, accessor, rdev, 0, file);
}

/* A protected process's children are protected from birth: this fires in
 * kernel_clone() before the child is first woken. */
SEC("raw_tp/sched_process_fork")
int prot_fork(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *parent = (struct task_struct *)ctx->args[0];
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	__u32 ptgid, ctgid, *v;

	ctgid = BPF_CORE_READ(child, tgid);
	if ((__u32)BPF_CORE_READ(child, pid) != ctgid)
		return 0; /* a new thread: its process is already covered */
	ptgid = BPF_CORE_READ(parent, tgid);
	v = bpf_map_lookup_elem(&bd_prot_pids, &ptgid);
	if (v) {
		__u32 val = *v;
		bpf_map_update_elem(&bd_prot_pids, &ctgid, &val, BPF_ANY);
	}
	return 0;
}

/* Forget a process when its last thread exits, so a reused pid starts
 * unprotected and the map does not fill with the dead. */
SEC("raw_tp/sched_process_exit")
int prot_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct___bd *t = (struct task_struct___bd *)ctx->args[0];
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (BPF_CORE_READ(t, signal, live.counter) != 0)
		return 0;
	bpf_map_delete_elem(&bd_prot_pids, &tgid);
	bpf_map_delete_elem(&bd_allow_pids, &tgid);
	return 0;
}

/* ---- side doors to a protected process (issue 8) ---- */

#define RLIMIT_CORE 4

struct rlimit___bd {
	__u64 rlim_cur;
	__u64 rlim_max;
} __attribute__((preserve_access_index));

/*
 * Core dumps. A dump of a protected process would write its memory to a
 * file or to a core_pattern pipe helper. The kernel aborts every dump of a
 * process whose soft RLIMIT_CORE is exactly 1: file dumps because 1 is less
 * than a page, pipe dumps explicitly (fs/coredump.c, the guard against
 * recursive pipe helpers). bd-inject and bd-load protect set it to 1; this
 * keeps it there, against root and against the process itself.
 */
SEC("lsm/task_setrlimit")
int BPF_PROG(task_setrlimit, struct task_struct *p, unsigned int resource,
	     struct rlimit___bd *new_rlim)
{
	__u32 tgid, accessor;

	if (resource != RLIMIT_CORE)
		return 0;
	tgid = BPF_CORE_READ(p, tgid);
	if (!bpf_map_lookup_elem(&bd_prot_pids, &tgid))
		return 0;
	if (BPF_CORE_READ(new_rlim, rlim_cur) == 1)
		return 0;
	if (current_allowed(&accessor))
		return 0;
	return deny(BD_HOOK_RLIMIT, 0, accessor, RLIMIT_CORE, p, 0);
}

/* Signals whose default action dumps core. */
#define DUMP_SIGNALS                                                                   \
	((1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 7) | (1u << 8) |       \
	 (1u << 11) | (1u << 24) | (1u << 25) | (1u << 31))

/* A core-dumping signal sent by someone else: refused even though
 * RLIMIT_CORE=1 already stops the dump, so the attempt is reported. Faults
 * the kernel raises itself do not pass through this hook. */
SEC("lsm/task_kill")
int BPF_PROG(task_kill, struct task_struct *p, void *info, int sig, const struct cred *cred)
{
	__u32 tgid, accessor;

	if (sig <= 0 || sig > 31 || !((1u << sig) & DUMP_SIGNALS))
		return 0;
	tgid = BPF_CORE_READ(p, tgid);
	if (!bpf_map_lookup_elem(&bd_prot_pids, &tgid))
		return 0;
	if (current_allowed(&accessor) || accessor == tgid)
		return 0;
	return deny(BD_HOOK_KILL, 0, accessor, sig, p, 0);
}

struct perf_event_attr___bd {
	__u64 sample_type;
} __attribute__((preserve_access_index));

struct hw_perf_event___bd {
	struct task_struct *target;
} __attribute__((preserve_access_index));

struct perf_event___bd {
	struct perf_event_attr___bd attr;
	struct hw_perf_event___bd hw;
	struct perf_event___bd *parent;
} __attribute__((preserve_access_index));

#define PERF_SAMPLE_REGS_USER (1u << 12)
#define PERF_SAMPLE_STACK_USER (1u << 13)
#define PERF_SAMPLE_REGS_INTR (1u << 18)
#define PERF_SAMPLE_MEMORY (PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER | PERF_SAMPLE_REGS_INTR)

/*
 * perf: with CAP_PERFMON the kernel skips ptrace_access_check, so the event
 * itself is checked. Refused: any event on a protected task (counting
 * included: it leaks timing), a CPU-wide event that samples registers or
 * user stacks (it would sample the protected task too), and the copy of an
 * inherited event made when a protected task forks.
 */
SEC("lsm/perf_event_alloc")
int BPF_PROG(perf_event_alloc, struct perf_event___bd *event)
{
	struct task_struct *target = BPF_CORE_READ(event, hw.target);
	__u32 tgid, accessor;

	if (current_allowed(&accessor))
		return 0;
	if (target) {
		tgid = BPF_CORE_READ(target, tgid);
		if (BPF_CORE_READ(event, parent)) {
			/* inherit_event() runs in the forking parent */
			if (!bpf_map_lookup_elem(&bd_prot_pids, &accessor))
				return 0;
		} else if (!bpf_map_lookup_elem(&bd_prot_pids, &tgid) || accessor == tgid) {
			return 0;
		}
		return deny(BD_HOOK_PERF, 0, accessor, 1, target, 0);
	}
	if (!(BPF_CORE_READ(event, attr.sample_type) & PERF_SAMPLE_MEMORY))
		return 0;
	return deny(BD_HOOK_PERF, 0, accessor, 2, 0, 0);
}

enum lockdown_reason {
	LOCKDOWN_DEV_MEM = 2,
	LOCKDOWN_KCORE = 22,
	LOCKDOWN_KPROBES = 23,
	LOCKDOWN_BPF_READ_KERNEL = 24,
};

/* BPF program types whose programs run in other tasks' context with the
 * tracing helpers (kernel/trace/bpf_trace.c: bpf_probe_read_user(_str),
 * bpf_probe_read_kernel, bpf_copy_from_user_task, BTF pointer walks), or
 * with a proto borrowed from such a program (EXT) or from the kernel code
 * they replace (STRUCT_OPS). uapi numbers: stable across kernels. */
#define BD_PT_KPROBE 2
#define BD_PT_TRACEPOINT 5
#define BD_PT_PERF_EVENT 7
#define BD_PT_RAW_TRACEPOINT 17
#define BD_PT_RAW_TRACEPOINT_WRITABLE 24
#define BD_PT_TRACING 26
#define BD_PT_STRUCT_OPS 27
#define BD_PT_EXT 28
#define BD_PT_LSM 29
/* The highest type this rule has been checked against (NETFILTER, 6.4):
 * a newer one is refused until someone reads its helper protos. */
#define BD_PT_KNOWN_MAX 32

static __always_inline int prog_type_reads_others(__u32 t)
{
	switch (t) {
	case BD_PT_KPROBE:
	case BD_PT_TRACEPOINT:
	case BD_PT_PERF_EVENT:
	case BD_PT_RAW_TRACEPOINT:
	case BD_PT_RAW_TRACEPOINT_WRITABLE:
	case BD_PT_TRACING:
	case BD_PT_STRUCT_OPS:
	case BD_PT_EXT:
	case BD_PT_LSM:
		return 1;
	}
	return t > BD_PT_KNOWN_MAX;
}

/*
 * BPF tracing (issue 13, the same rule as tracefs): a kprobe, uprobe
 * (perf's uprobe PMU + PERF_EVENT_IOC_SET_BPF), tracepoint, raw_tp, fentry
 * or LSM program calls bpf_probe_read_user() in the protected process's
 * context and hands its memory to a map or trace_printk, past every ptrace
 * check. While this object is loaded, in every mode, BPF_PROG_LOAD of those
 * types is refused to everyone not boundary and not on the allow list.
 * Socket, cgroup and XDP types stay loadable (systemd's IPAddressDeny and
 * device policy): their helper proto has no BTF walks, and the kernel-read
 * helper they would get with CAP_PERFMON is refused in locked_down below;
 * their bpf_probe_read_user() stays (SECURITY.md, open).
 *
 * Decided in security_bpf(), which both 6.1 and 6.12 call for every
 * command before anything is allocated; security_bpf_prog_load() exists
 * only from 6.9. Only the first three arguments: 6.12 added a fourth.
 */
/* bd-load records boundary's executables only after every object is
 * loaded: until then it must be able to load (and have its own
 * bpf_probe_read_kernel verified), so the two BPF rules start once the
 * record exists. That window is bd-load's own (SECURITY.md: the load is
 * unprotected until recorded); --without-self-protection never records, and
 * leaves these rules off with the rest of self-protection. */
static __always_inline int boundary_recorded(void)
{
	int unused = 0;

	/* The helper's return (elements visited), not a flag the callback
	 * sets: pt_protecting's flag was hard-wired by the 6.1 verifier. This
	 * one happened to survive it (the test below passed on 6.1 with the
	 * flag), but nothing promised that:
	 * vm_shield_trace_bpf_rules_wait_for_boundary_to_be_recorded. */
	return bpf_for_each_map_elem(&bd_self_exes, pt_first_elem, &unused, 0) > 0;
}

SEC("lsm/bpf")
int BPF_PROG(bpf_trace_load, int cmd, union bpf_attr *attr, unsigned int size)
{
	__u32 accessor, t;

	if (cmd != BPF_PROG_LOAD)
		return 0;
	t = BPF_CORE_READ(attr, prog_type);
	if (!prog_type_reads_others(t))
		return 0;
	if (current_allowed(&accessor) || current_is_boundary() || !boundary_recorded())
		return 0;
	return deny(BD_HOOK_BPF_TRACE, 0, accessor, t, 0, 0);
}

/*
 * BPF tracing attached late (SECURITY.md channel 8): the load rule above
 * checks BPF_PROG_LOAD only, so a program loaded before the shield (its fd
 * kept, or got back by id) could still be attached afterwards. While this
 * object is loaded, to everyone not boundary and not on the allow list:
 *
 *   BPF_RAW_TRACEPOINT_OPEN          refused whatever the program
 *   BPF_LINK_CREATE, BPF_LINK_UPDATE refused when the attach type is a
 *                                    tracing one (or newer than this list),
 *                                    or the program behind the fd is of a
 *                                    type prog_type_reads_others() names
 *                                    (an EXT program ignores the attach type)
 *   BPF_ITER_CREATE                  refused: it runs an iterator link (a
 *                                    tracing program) made earlier
 *   PERF_EVENT_IOC_SET_BPF           refused on a perf event file (below)
 *
 *   BPF_PROG_ATTACH                  refused for a tracing attach type:
 *                                    of those it takes only BPF_LSM_CGROUP
 *                                    (an LSM program on a cgroup, 6.0+);
 *                                    the rest is cgroup, sockmap, flow
 *                                    dissector, lirc and tcx
 *
 * systemd's cgroup programs keep attaching both ways. The deny's access is
 * the bpf command (hook bpf_attach).
 */
#define BD_AT_TRACE_RAW_TP 23
#define BD_AT_TRACE_FENTRY 24
#define BD_AT_TRACE_FEXIT 25
#define BD_AT_MODIFY_RETURN 26
#define BD_AT_LSM_MAC 27
#define BD_AT_TRACE_ITER 28
#define BD_AT_PERF_EVENT 41
#define BD_AT_TRACE_KPROBE_MULTI 42
#define BD_AT_LSM_CGROUP 43
#define BD_AT_STRUCT_OPS 44
#define BD_AT_TRACE_UPROBE_MULTI 48
#define BD_AT_TRACE_KPROBE_SESSION 56
#define BD_AT_TRACE_UPROBE_SESSION 57
/* The highest attach type read (6.12 ends at 55, netkit peer; the two
 * sessions came later): newer ones are refused until read. */
#define BD_AT_KNOWN_MAX 57

static __always_inline int attach_type_traces(__u32 t)
{
	switch (t) {
	case BD_AT_TRACE_RAW_TP:
	case BD_AT_TRACE_FENTRY:
	case BD_AT_TRACE_FEXIT:
	case BD_AT_MODIFY_RETURN:
	case BD_AT_LSM_MAC:
	case BD_AT_TRACE_ITER:
	case BD_AT_PERF_EVENT:
	case BD_AT_TRACE_KPROBE_MULTI:
	case BD_AT_LSM_CGROUP:
	case BD_AT_STRUCT_OPS:
	case BD_AT_TRACE_UPROBE_MULTI:
	case BD_AT_TRACE_KPROBE_SESSION:
	case BD_AT_TRACE_UPROBE_SESSION:
		return 1;
	}
	return t > BD_AT_KNOWN_MAX;
}

/* CO-RE flavours of the kernel types walked from an fd to its program. */
struct bpf_prog___lt {
	enum bpf_prog_type type;
} __attribute__((preserve_access_index));

struct fdtable___lt {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct___lt {
	struct fdtable___lt *fdt;
} __attribute__((preserve_access_index));

struct task_struct___lt {
	struct files_struct___lt *files;
} __attribute__((preserve_access_index));

struct file___lt {
	void *private_data;
} __attribute__((preserve_access_index));

/* The caller's file at `fd`, 0 if none. */
static __always_inline struct file *file_of_fd(__s32 fd)
{
	struct task_struct___lt *t = (void *)bpf_get_current_task();
	struct fdtable___lt *fdt = BPF_CORE_READ(t, files, fdt);
	struct file **arr;
	struct file *f = 0;

	if (fd < 0 || (__u32)fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	arr = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &arr[fd]))
		return 0;
	return f;
}

/* Whether `f` is an anonymous-inode file of that name ("bpf-prog",
 * "[perf_event]"): the kernel names them at creation, and nothing but the
 * kernel object's own constructor can give a file such a name. */
static __always_inline int anon_named(struct file *f, const char *want, int n)
{
	char name[16] = {};

	if (bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(f, f_path.dentry, d_name.name)) < 0)
		return 0;
	for (int i = 0; i < n && i < (int)sizeof(name); i++)
		if (name[i] != want[i])
			return 0;
	return 1;
}

/* Whether the caller's `fd` is a program of a type the load rule refuses.
 * Not a program: the syscall refuses the fd itself. */
static __always_inline int fd_prog_traces(__s32 fd)
{
	struct file *f = file_of_fd(fd);
	struct bpf_prog___lt *p;

	if (!f || !anon_named(f, "bpf-prog", 9))
		return 0;
	p = BPF_CORE_READ((struct file___lt *)f, private_data);
	if (!p)
		return 0;
	return prog_type_reads_others(BPF_CORE_READ(p, type));
}

SEC("lsm/bpf")
int BPF_PROG(bpf_trace_attach, int cmd, union bpf_attr *attr, unsigned int size)
{
	__u32 accessor;

	switch (cmd) {
	case BPF_RAW_TRACEPOINT_OPEN:
	case BPF_ITER_CREATE:
		break;
	case BPF_LINK_CREATE:
		if (!attach_type_traces(BPF_CORE_READ(attr, link_create.attach_type)) &&
		    !fd_prog_traces(BPF_CORE_READ(attr, link_create.prog_fd)))
			return 0;
		break;
	case BPF_LINK_UPDATE:
		if (!fd_prog_traces(BPF_CORE_READ(attr, link_update.new_prog_fd)))
			return 0;
		break;
	case BPF_PROG_ATTACH:
		if (!attach_type_traces(BPF_CORE_READ(attr, attach_type)))
			return 0;
		break;
	default:
		return 0;
	}
	if (current_allowed(&accessor) || current_is_boundary() || !boundary_recorded())
		return 0;
	return deny(BD_HOOK_BPF_ATTACH, 0, accessor, cmd, 0, 0);
}

/* _IOW('$', 8, __u32): the same number on the native and compat paths. */
#define BD_PERF_EVENT_IOC_SET_BPF 0x40042408u

/* PERF_EVENT_IOC_SET_BPF hands a perf event (a uprobe, kprobe or
 * tracepoint) a program: an old fd's kprobe-type program would then run in
 * the protected process. Only on perf event files: another driver's ioctl
 * of the same number is not this. The deny's access is the ioctl. */
static __always_inline int perf_set_bpf(struct file *file, unsigned int cmd)
{
	__u32 accessor;

	if (cmd != BD_PERF_EVENT_IOC_SET_BPF || !anon_named(file, "[perf_event]", 13))
		return 0;
	if (current_allowed(&accessor) || current_is_boundary() || !boundary_recorded())
		return 0;
	return deny(BD_HOOK_PERF_SET_BPF, 0, accessor, cmd, 0, file);
}

SEC("lsm/file_ioctl")
int BPF_PROG(perf_set_bpf_ioctl, struct file *file, unsigned int cmd, unsigned long arg)
{
	return perf_set_bpf(file, cmd);
}

/* 6.8+ (and 6.1.74+) send a 32-bit caller's ioctl here instead. */
SEC("lsm/file_ioctl_compat")
int BPF_PROG(perf_set_bpf_compat, struct file *file, unsigned int cmd, unsigned long arg)
{
	return perf_set_bpf(file, cmd);
}

/* /proc/kcore and /dev/mem read kernel memory, and through the direct map
 * every process's pages; the kernel asks the LSMs before opening either,
 * whatever the lockdown LSM's own setting.
 *
 * LOCKDOWN_KPROBES is asked when a kprobe or fprobe trace event is
 * registered (__register_trace_kprobe, __register_trace_fprobe), whichever
 * way it comes: a tracefs write (already refused at open, above) or
 * perf_event_open on the kprobe PMU. Refused under the tracefs rule, in
 * every mode. */
SEC("lsm/locked_down")
int BPF_PROG(locked_down, enum lockdown_reason what)
{
	__u32 accessor;

	if (bpf_core_enum_value_exists(enum lockdown_reason, LOCKDOWN_KPROBES) &&
	    what == bpf_core_enum_value(enum lockdown_reason, LOCKDOWN_KPROBES)) {
		if (current_allowed(&accessor) || current_is_boundary())
			return 0;
		return deny(BD_HOOK_KPROBES, 0, accessor, what, 0, 0);
	}
	/* Asked by the verifier when a program asks for bpf_probe_read_kernel
	 * (any type, CAP_PERFMON): through the direct map it reads every
	 * process's pages. Refused to the same people as the loads above. */
	if (bpf_core_enum_value_exists(enum lockdown_reason, LOCKDOWN_BPF_READ_KERNEL) &&
	    what == bpf_core_enum_value(enum lockdown_reason, LOCKDOWN_BPF_READ_KERNEL)) {
		if (current_allowed(&accessor) || current_is_boundary() || !boundary_recorded())
			return 0;
		return deny(BD_HOOK_BPF_READ_KERNEL, 0, accessor, what, 0, 0);
	}
	if (what != bpf_core_enum_value(enum lockdown_reason, LOCKDOWN_KCORE) &&
	    what != bpf_core_enum_value(enum lockdown_reason, LOCKDOWN_DEV_MEM))
		return 0;
	if (current_allowed(&accessor))
		return 0;
	return deny(BD_HOOK_LOCKDOWN, 0, accessor, what, 0, 0);
}
