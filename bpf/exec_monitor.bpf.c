/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * exec_monitor: one struct bd_exec per successful execve, from the
 * sched_process_exec tracepoint (BTF-typed: tp_btf), into the shared ring
 * buffer bd_events.
 *
 * The tracepoint fires after the new image is in place, so task->mm already
 * holds the new argv and comm is the new name. A record that cannot be
 * reserved is counted in bd_stats[BD_STAT_EXEC_LOST]: loss is never silent.
 * Most records wake no one (see the end of exec_monitor), so a reader must
 * also poll with a timeout.
 *
 * Canaries: an exec of a file in bd_canary raises bd_mode in this very
 * tracepoint (before the record), so the exec'ing process's next system call
 * already meets the stricter mode, with no userspace involved; a struct
 * bd_tripwire reports it.
 *
 * liveness_marker: one struct bd_liveness when a thread renames itself to
 * BD_LIVE_MAGIC + nonce (task/task_rename), for the end-to-end dead-man
 * heartbeat; every other rename costs a 5-byte compare.
 */
#include "kernel.h"
#include "maps.h"
#include "canary.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * Copy a dentry's name into dst (BD_ANC_NAME_LEN bytes) when the dentry keeps
 * it inline (short names, the common case): a few direct 8-byte loads
 * instead of a string helper that copies byte by byte. An inline name ends
 * with its NUL inside the array, so copying the array copies all of it.
 * Returns 0 when the name lives elsewhere (the caller reads it then).
 */
static __always_inline int copy_inline_name(char *dst, struct dentry *d, const unsigned char *name)
{
	struct dentry___short *ds = (void *)d;
	struct dentry___iname *di = (void *)d;
	const __u64 *src;
	__u64 *out = (__u64 *)dst;
	__u32 size;

	if (bpf_core_field_exists(ds->d_shortname)) {
		src = (const __u64 *)((const char *)d + bpf_core_field_offset(ds->d_shortname));
		size = bpf_core_field_size(ds->d_shortname);
	} else if (bpf_core_field_exists(di->d_iname)) {
		src = (const __u64 *)((const char *)d + bpf_core_field_offset(di->d_iname));
		size = bpf_core_field_size(di->d_iname);
	} else {
		return 0;
	}
	if ((const void *)name != (const void *)src)
		return 0;
	if (size >= BD_ANC_NAME_LEN) {
		out[0] = src[0];
		out[1] = src[1];
		out[2] = src[2];
		out[3] = src[3];
		out[4] = src[4];
		return 1;
	}
	if (size >= 32) {
		out[0] = src[0];
		out[1] = src[1];
		out[2] = src[2];
		out[3] = src[3];
		dst[32] = 0;
		return 1;
	}
	return 0;
}

/*
 * Ancestors, parent first, from the task tree as it is at exec time. The
 * task pointers are BTF-typed (tp_btf), so each field is a direct load the
 * JIT turns into one faulting-safe instruction, not a helper call; so is
 * the executable's name when the dentry keeps it inline (copy_inline_name),
 * and only a longer one is a string read. The walk is bounded by BD_ANC_MAX, so
 * the cost per exec has a fixed ceiling (measured: docs/EVENTS.md, "Ancestry").
 */
static __always_inline void fill_ancestors(struct bd_exec *e, struct task_struct *task)
{
	struct task_struct *p = task->real_parent;
	__u32 n = 0;

	for (int i = 0; i < BD_ANC_MAX; i++) {
		struct bd_ancestor *a = &e->anc[i];
		struct task_struct *leader;
		const unsigned char *name = 0;
		struct dentry *d = 0;
		struct mm_struct *mm;
		struct file *f;
		__u32 tgid;
		long len;

		if (!p)
			break;
		/* A parent that is a thread stands for its process. */
		leader = p->group_leader;
		if (!leader)
			leader = p;
		tgid = leader->tgid;
		if (tgid == 0) /* the idle task: above init */
			break;
		a->pid = tgid;
		a->flags = 0;
		__builtin_memcpy(a->comm, leader->comm, sizeof(a->comm));
		mm = leader->mm;
		f = mm ? mm->exe_file : 0;
		if (f)
			d = f->f_path.dentry;
		if (d)
			name = d->d_name.name;
		if (name && copy_inline_name(a->exe, d, name))
			len = 1; /* shorter than the array: never cut */
		else
			len = name ? bpf_probe_read_kernel_str(a->exe, sizeof(a->exe), name) : -1;
		if (len < 0) {
			a->exe[0] = 0;
			a->flags |= BD_ANC_NO_EXE;
		} else if (len == sizeof(a->exe)) {
			/* Filled to the last byte: longer names were cut. */
			char c = 0;
			bpf_probe_read_kernel(&c, 1, name + sizeof(a->exe) - 1);
			if (c)
				a->flags |= BD_ANC_EXE_TRUNC;
		}
		n++;
		if (tgid == 1)
			break;
		p = leader->real_parent;
		if (i == BD_ANC_MAX - 1 && p && p->tgid != 0)
			e->flags |= BD_EXEC_ANC_TRUNC;
	}
	e->n_anc = n;
}

/* What one exec record takes in the ring: the record and its 8-byte header
 * (BPF_RINGBUF_HDR_SZ), which keeps it 8-byte aligned. */
#define BD_EXEC_RB_BYTES (sizeof(struct bd_exec) + 8)

/* When the last exec record was made (bpf_ktime_get_ns), for the wakeup
 * decision below. Shared by every CPU without locking: a lost or stale
 * update only makes a record look lone, which costs an extra wakeup. */
__u64 bd_last_exec_ns = 0;

/*
 * A BTF-typed tracepoint (tp_btf), not the classic one: the arguments are
 * the kernel's own (the task, the binprm), read with direct loads instead of
 * a probe-read helper per field, which is most of what a classic tracepoint
 * program spends here (bench/kernel; the table is in the commit that made
 * this change). The kernel runs it from the same trace_sched_process_exec
 * call, after the new image is in place.
 */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(exec_monitor, struct task_struct *task, int old_pid, struct linux_binprm *bprm)
{
	const char *filename = bprm->filename;
	struct bd_exec *e;
	struct mm_struct *mm;
	__u64 id, ug, now, last, pending, behind, flags;
	__u32 tgid;
	unsigned long arg_start, arg_end, len;
	long flen;
	struct bd_file_key key;
	struct bd_canary_val *c;
	struct inode *inode;

	/* The file the kernel is running now (after the exec), by identity. */
	mm = task->mm;
	inode = mm->exe_file->f_inode;
	key.dev = inode->i_sb->s_dev;
	key.ino = inode->i_ino;
	c = bd_canary_hit(&key);
	if (c)
		bd_canary_event(BD_TRIP_EXEC, c->trip, &key, filename, 0);

	/* Before our record: is the reader idle (has it consumed everything)? */
	pending = bpf_ringbuf_query(&bd_events, BPF_RB_AVAIL_DATA);
	e = bpf_ringbuf_reserve(&bd_events, sizeof(*e), 0);
	if (!e) {
		bd_count(BD_STAT_EXEC_LOST);
		return 0;
	}

	id = bpf_get_current_pid_tgid();
	tgid = id >> 32;
	ug = bpf_get_current_uid_gid();
	now = bpf_ktime_get_ns();

	e->hdr.type = BD_EV_EXEC;
	e->hdr.size = sizeof(*e);
	e->hdr.ktime_ns = now;
	e->pid = tgid;
	e->tid = (__u32)id;
	e->ppid = task->real_parent->tgid;
	e->uid = (__u32)ug;
	e->gid = ug >> 32;
	e->flags = 0;
	e->cgroup_id = bpf_get_current_cgroup_id();
	__builtin_memcpy(e->comm, task->comm, sizeof(e->comm));

	flen = bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), filename);
	if (flen < 0) {
		e->filename[0] = 0;
	} else if (flen == sizeof(e->filename)) {
		/* Filled to the last byte: longer names were cut. */
		char ch = 0;
		bpf_probe_read_kernel(&ch, 1, filename + sizeof(e->filename) - 1);
		if (ch)
			e->flags |= BD_EXEC_FILENAME_TRUNC;
	}

	arg_start = mm->arg_start;
	arg_end = mm->arg_end;
	len = arg_end > arg_start ? arg_end - arg_start : 0;
	if (len > BD_ARGS_LEN) {
		len = BD_ARGS_LEN;
		e->flags |= BD_EXEC_ARGS_TRUNC;
	}
	if (len && bpf_probe_read_user(e->args, len, (void *)arg_start) < 0)
		len = 0;
	e->args_len = len;

	/* Counting the strings is a per-byte loop: userspace does it from args
	 * (lib::event), the field stays for the layout. */
	e->argc = 0;

	if (bpf_map_lookup_elem(&bd_prot_pids, &tgid))
		e->flags |= BD_EXEC_PROTECTED;

	e->_pad0 = 0;
	fill_ancestors(e, task);

	/*
	 * A wakeup (BPF_RB_FORCE_WAKEUP) is an irq_work, i.e. a self-IPI: on a
	 * virtual machine a VM exit, measured at ~16 us on the dev VM, ten times
	 * the rest of this program. So a record wakes the reader in two cases
	 * only, and bench/tripwire measures the latency, bench/kernel the cost.
	 *
	 * Lone: it finds the reader idle (nothing pending) and comes
	 * BD_WAKE_GAP_NS or more after the previous exec record. Every other
	 * record comes less than a gap after one the reader was woken for or
	 * found, and bd-watch keeps looking every BD_POLL_NS until a gap has
	 * passed since the last record it read, so it finds it within
	 * BD_POLL_NS.
	 *
	 * Behind: the pending data crosses an eighth of the ring with this
	 * record (below before it, at or above with it), once per crossing,
	 * not on every record above: those wakeups reached no one. A reader
	 * that is draining needs none; one that is stuck (its stdout blocked)
	 * or gone (bench/kernel's no-reader rounds, a killed bd-watch) cannot
	 * use them, and they made every exec on the host pay a VM exit. A live
	 * reader still misses nothing: a wakeup carries no data, records stay
	 * in the ring until read, and only a full ring loses one (counted), so
	 * a missed wakeup costs latency, never data. bd-watch never sleeps
	 * longer than 100 ms, reads until the ring is empty once woken (so
	 * the next pile-up crosses from below again), and two CPUs that both
	 * missed a crossing from the same `pending` leave 7/8 of the ring free
	 * for that wait.
	 */
	last = bd_last_exec_ns;
	bd_last_exec_ns = now;
	behind = bpf_ringbuf_query(&bd_events, BPF_RB_RING_SIZE) / 8;
	flags = BPF_RB_NO_WAKEUP;
	if (pending < behind && pending + BD_EXEC_RB_BYTES >= behind)
		flags = BPF_RB_FORCE_WAKEUP;
	else if (pending == 0 && now - last >= BD_WAKE_GAP_NS)
		flags = BPF_RB_FORCE_WAKEUP;
	bpf_ringbuf_submit(e, flags);
	bd_count(BD_STAT_EXEC);
	return 0;
}

SEC("tracepoint/task/task_rename")
int liveness_marker(struct trace_event_raw_task_rename *ctx)
{
	static const char magic[BD_LIVE_MAGIC_LEN] = BD_LIVE_MAGIC;
	char name[BD_COMM_LEN];
	struct bd_liveness *l;
	__u64 id;

	if (bpf_core_read(name, sizeof(name), &ctx->newcomm))
		return 0;
	for (int i = 0; i < BD_LIVE_MAGIC_LEN; i++)
		if (name[i] != magic[i])
			return 0;
	l = bpf_ringbuf_reserve(&bd_events, sizeof(*l), 0);
	if (!l) {
		bd_count(BD_STAT_EXEC_LOST);
		return 0;
	}
	id = bpf_get_current_pid_tgid();
	l->hdr.type = BD_EV_LIVENESS;
	l->hdr.size = sizeof(*l);
	l->hdr.ktime_ns = bpf_ktime_get_ns();
	l->pid = id >> 32;
	l->tid = (__u32)id;
	__builtin_memcpy(l->comm, name, sizeof(l->comm));
	/* Rare and awaited: wake the reader now. */
	bpf_ringbuf_submit(l, BPF_RB_FORCE_WAKEUP);
	return 0;
}
