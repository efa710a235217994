/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Self-protection state shared by lsm_file_protect and self_protect.
 *
 * Boundary's own binaries are known by the (dev, ino) of their executables,
 * recorded by bd-load after every load (bd_self_exes): the kernel's view of
 * current->mm->exe_file, which neither comm nor argv[0] can fake. Boundary's
 * own maps, programs and links are known by their kernel ids
 * (bd_self_ids), and its pin directories by (dev, ino) (bd_self_dirs).
 */
#ifndef BD_SELF_H
#define BD_SELF_H

#include "maps.h"

/* bd_self_key.kind */
#define BD_SELF_MAP 1
#define BD_SELF_PROG 2
#define BD_SELF_LINK 3

struct bd_self_key {
	__u32 kind; /* BD_SELF_* */
	__u32 id;   /* kernel object id */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct bd_file_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bd_self_exes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 512);
	__type(key, struct bd_self_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bd_self_ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct bd_file_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bd_self_dirs SEC(".maps");

/*
 * The files a boundary process may map executable besides its own
 * executable: the ELF interpreter and DT_NEEDED closure of each of
 * boundary's executables, recorded by bd-load with them (none for a static
 * build). { dev 0, ino 0 } is the "recorded" mark: until it is there,
 * nothing is refused (the window is the load itself, as for the rest).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct bd_file_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bd_self_libs SEC(".maps");

/* Kernel types only the shields read; "___bd" flavours are ignored by CO-RE
 * when matching the running kernel's BTF. */
struct file___bd;
struct mm_struct___bd {
	struct file *exe_file;
} __attribute__((preserve_access_index));

struct task_struct___self {
	int tgid;
	struct mm_struct___bd *mm;
} __attribute__((preserve_access_index));

/* Is `t` (a task_struct) running one of boundary's own executables? A task
 * without an mm (a kernel thread) is not. */
static __always_inline int task_is_boundary(void *t)
{
	struct task_struct___self *task = t;
	struct bd_file_key key = {};
	struct file *exe;
	struct inode *ino;

	exe = BPF_CORE_READ(task, mm, exe_file);
	if (!exe)
		return 0;
	ino = BPF_CORE_READ(exe, f_inode);
	key.dev = BPF_CORE_READ(ino, i_sb, s_dev);
	key.ino = BPF_CORE_READ(ino, i_ino);
	return bpf_map_lookup_elem(&bd_self_exes, &key) != 0;
}

static __always_inline int current_is_boundary(void)
{
	return task_is_boundary((void *)bpf_get_current_task());
}

#define EPERM 1

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

/* Emit one deny record; returns the value the hook returns. `ino` and
 * `name` (both may be 0) describe the file or directory concerned. */
static __always_inline int deny_at(__u32 hook, __u32 audit, __u32 accessor, __u32 access,
				   struct task_struct *target, struct inode *ino,
				   const unsigned char *name)
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
	if (ino) {
		e->target_dev = BPF_CORE_READ(ino, i_sb, s_dev);
		e->target_ino = BPF_CORE_READ(ino, i_ino);
	}
	if (name)
		bpf_probe_read_kernel_str(e->path, sizeof(e->path), name);
	bpf_ringbuf_submit(e, 0);
	bd_count(BD_STAT_DENY);
	return verdict(audit);
}

static __always_inline int deny(__u32 hook, __u32 audit, __u32 accessor, __u32 access,
				struct task_struct *target, struct file *file)
{
	if (!file)
		return deny_at(hook, audit, accessor, access, target, 0, 0);
	return deny_at(hook, audit, accessor, access, target, BPF_CORE_READ(file, f_inode),
		       BPF_CORE_READ(file, f_path.dentry, d_name.name));
}

#endif /* BD_SELF_H */
