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
 * bd_allow_pids. dev is the kernel's internal dev_t (sb->s_dev, MKDEV form:
 * major << 20 | minor); userspace converts st_dev (lib/src/protect.rs).
 *
 * Every denial, or would-be denial in audit mode, is one struct bd_deny in
 * bd_events; a record that cannot be reserved is counted in
 * bd_stats[BD_STAT_DENY_LOST]. bd_stats[BD_STAT_DENIED] counts denials.
 */
#include "kernel.h"
#include "maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define EPERM 1

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

/* The hook's verdict as a constant the verifier can see on each path:
 * kernels since 6.7 refuse LSM programs unless every return is provably in
 * [-4095, 0], and clang would otherwise fold `audit ? 0 : -EPERM` into
 * arithmetic the verifier cannot bound. */
static __always_inline int verdict(__u32 audit)
{
	int v;

	if (audit) {
		v = 0;
		barrier_var(v);
	} else {
		v = -EPERM;
		barrier_var(v);
	}
	return v;
}

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

/* Emit one deny record; returns the value the hook returns. */
static __always_inline int deny(__u32 hook, __u32 audit, __u32 accessor, __u32 access,
				struct task_struct *target, struct file *file)
{
	struct bd_deny *e;
	__u64 ug = bpf_get_current_uid_gid();

	bd_count_denied(hook);
	e = bpf_ringbuf_reserve(&bd_events, sizeof(*e), 0);
	if (!e) {
		bd_count(BD_STAT_DENY_LOST);
		return verdict(audit);
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->hdr.type = BD_EV_DENY;
	e->hdr.size = sizeof(*e);
	e->hdr.ktime_ns = bpf_ktime_get_ns();
	e->hook = hook;
	e->action = audit ? BD_ACT_AUDIT : BD_ACT_DENY;
	e->err = audit ? 0 : EPERM;
	e->mode = bd_effective_mode();
	e->pid = accessor;
	e->uid = (__u32)ug;
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->access = access;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	if (target) {
		e->target_pid = BPF_CORE_READ(target, tgid);
		BPF_CORE_READ_STR_INTO(&e->target_comm, target, comm);
	}
	if (file) {
		struct inode *ino = BPF_CORE_READ(file, f_inode);
		const unsigned char *name = BPF_CORE_READ(file, f_path.dentry, d_name.name);

		e->target_dev = BPF_CORE_READ(ino, i_sb, s_dev);
		e->target_ino = BPF_CORE_READ(ino, i_ino);
		bpf_probe_read_kernel_str(e->path, sizeof(e->path), name);
	}
	bpf_ringbuf_submit(e, 0);
	bd_count(BD_STAT_DENY);
	return verdict(audit);
}

SEC("lsm/ptrace_access_check")
int BPF_PROG(ptrace_access_check, struct task_struct *child, unsigned int mode, int ret)
{
	__u32 tgid, accessor, flags, audit, need;

	if (ret)
		return ret; /* an earlier LSM refused: keep its errno */
	tgid = BPF_CORE_READ(child, tgid);
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

SEC("lsm/file_open")
int BPF_PROG(file_open, struct file *file, int ret)
{
	struct bd_file_key key = {};
	struct inode *inode;
	__u32 accessor, flags, audit;

	if (ret)
		return ret; /* an earlier LSM refused: keep its errno */
	inode = BPF_CORE_READ(file, f_inode);
	key.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	key.ino = BPF_CORE_READ(inode, i_ino);
	if (!bpf_map_lookup_elem(&bd_prot_files, &key))
		return 0;
	if (current_allowed(&accessor))
		return 0;
	lsm_cfg(&flags, &audit);
	return deny(BD_HOOK_FILE_OPEN, audit, accessor, BPF_CORE_READ(file, f_flags), 0, file);
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
