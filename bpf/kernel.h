/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The few kernel types the programs touch, hand-written for CO-RE: only the
 * fields we read, marked preserve_access_index so libbpf/aya relocate each
 * access against the running kernel's BTF. Not a generated vmlinux.h.
 *
 * Shared by every object: add fields or types, never remove or reorder
 * what others use.
 */
#ifndef BD_KERNEL_H
#define BD_KERNEL_H

#include <linux/types.h>
#include <linux/bpf.h>

typedef __u32 u32;
typedef __u64 u64;
typedef __u32 dev_t_k;

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct kuid { __u32 val; };
struct kgid { __u32 val; };
typedef struct kuid kuid_t;
typedef struct kgid kgid_t;

struct cred {
	kuid_t uid;
	kgid_t gid;
	kuid_t euid;
	kgid_t egid;
};

struct file;

struct mm_struct {
	struct file *exe_file;
	unsigned long arg_start;
	unsigned long arg_end;
	unsigned long env_start;
	unsigned long env_end;
};

struct task_struct {
	int pid;
	int tgid;
	char comm[16];
	struct task_struct *real_parent;
	struct task_struct *group_leader;
	const struct cred *real_cred;
	const struct cred *cred;
	struct mm_struct *mm;
};

struct super_block {
	__u32 s_dev;
	unsigned long s_flags;
	unsigned long s_magic;
};

struct inode {
	unsigned long i_ino;
	struct super_block *i_sb;
	unsigned short i_mode;
	__u32 i_generation;
};

/* inode ctime, three layouts (read with bpf_core_field_exists):
 * up to 6.5 i_ctime, 6.6-6.10 __i_ctime, from 6.11 i_ctime_sec/_nsec. */
struct timespec64 {
	__s64 tv_sec;
	long tv_nsec;
};
struct inode___ctime_old {
	struct timespec64 i_ctime;
};
struct inode___ctime_dunder {
	struct timespec64 __i_ctime;
};
struct inode___ctime_split {
	__s64 i_ctime_sec;
	__u32 i_ctime_nsec;
};

struct qstr {
	const unsigned char *name;
};

struct dentry {
	struct qstr d_name;
	struct inode *d_inode;
	struct dentry *d_parent;
};

/* The short name kept inside the dentry itself (d_name.name points at it for
 * names shorter than the array), two layouts (bpf_core_field_exists):
 * d_iname[32] up to 6.13, d_shortname (a union, 32 or 40 bytes: some
 * stable kernels carry it with 32) from 6.14. Only the field's offset and
 * size are relocated, never its members, so no member layout must match. */
struct dentry___iname {
	unsigned char d_iname[32];
};
union shortname_store {
	unsigned long words[4];
};
struct dentry___short {
	union shortname_store d_shortname;
};

struct vfsmount;

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
};

struct file {
	struct path f_path;
	struct inode *f_inode;
	unsigned int f_flags;
	unsigned int f_mode;
};

struct vm_area_struct {
	struct file *vm_file;
};

struct linux_binprm {
	struct file *file;
	const char *filename;
	const char *interp;
};

/* sched/sched_process_exec tracepoint context (trace_event_raw_sched_process_exec) */
struct trace_entry {
	unsigned short type;
	unsigned char flags;
	unsigned char preempt_count;
	int pid;
};

struct trace_event_raw_sched_process_exec {
	struct trace_entry ent;
	__u32 __data_loc_filename;
	int pid;
	int old_pid;
	char __data[0];
};

/* task/task_rename tracepoint context: a comm change (prctl PR_SET_NAME,
 * /proc/PID/comm). Only newcomm is read. */
struct trace_event_raw_task_rename {
	struct trace_entry ent;
	char newcomm[16];
};

#pragma clang attribute pop

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#endif /* BD_KERNEL_H */
