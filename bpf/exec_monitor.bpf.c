/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * exec_monitor: one struct bd_exec per successful execve, from the
 * sched/sched_process_exec tracepoint, into the shared ring buffer bd_events.
 *
 * The tracepoint fires after the new image is in place, so current->mm
 * already holds the new argv and comm is the new name. A record that cannot
 * be reserved is counted in bd_stats[BD_STAT_EXEC_LOST]: loss is never silent.
 * Records are submitted without waking the reader until an eighth of the
 * ring is pending (see below), so a reader must also poll with a timeout.
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
 * Ancestors, parent first, from the task tree as it is at exec time. Each
 * step is a handful of probe reads (no map lookups, no string longer than
 * BD_ANC_NAME_LEN), and the walk is bounded by BD_ANC_MAX, so the cost per
 * exec has a fixed ceiling (measured: docs/EVENTS.md, "Ancestry").
 *
 * Why probe reads and not bpf_get_current_task_btf() with direct loads
 * (measured ~1.5 us cheaper per exec on 6.18): the 6.1 and 6.12 verifiers
 * refuse that program as a tracepoint ("reg type unsupported for arg#0").
 */
static __always_inline void fill_ancestors(struct bd_exec *e, struct task_struct *task)
{
	struct task_struct *p = BPF_CORE_READ(task, real_parent);
	__u32 n = 0;

	for (int i = 0; i < BD_ANC_MAX; i++) {
		struct bd_ancestor *a = &e->anc[i];
		struct task_struct *leader;
		const unsigned char *name;
		__u32 tgid;
		long len;

		if (!p)
			break;
		/* A parent that is a thread stands for its process. */
		leader = BPF_CORE_READ(p, group_leader);
		if (!leader)
			leader = p;
		tgid = BPF_CORE_READ(leader, tgid);
		if (tgid == 0) /* the idle task: above init */
			break;
		a->pid = tgid;
		a->flags = 0;
		BPF_CORE_READ_STR_INTO(&a->comm, leader, comm);
		name = BPF_CORE_READ(leader, mm, exe_file, f_path.dentry, d_name.name);
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
		p = BPF_CORE_READ(leader, real_parent);
		if (i == BD_ANC_MAX - 1 && p && BPF_CORE_READ(p, tgid) != 0)
			e->flags |= BD_EXEC_ANC_TRUNC;
	}
	e->n_anc = n;
}

/*
 * Wakeup credit of the reader, a token bucket in nanoseconds: each forced
 * wakeup spends BD_WAKE_GAP_NS, time earns it back, at most
 * BD_WAKE_BURST * BD_WAKE_GAP_NS is banked. Shared by every CPU without
 * locking: a lost update costs at most an extra or a missed wakeup, and a
 * missed one is caught by bd-watch's poll one gap later.
 */
__u64 bd_wake_at = 0;
__u64 bd_wake_credit = 0;

SEC("tracepoint/sched/sched_process_exec")
int exec_monitor(struct trace_event_raw_sched_process_exec *ctx)
{
	struct bd_exec *e;
	struct task_struct *task;
	struct mm_struct *mm;
	__u64 id, ug;
	__u32 loc, off, flen, tgid;
	unsigned long arg_start, arg_end, len;
	__u64 now, pending, flags, credit;
	struct bd_file_key key;
	struct bd_canary_val *c;
	struct inode *inode;

	task = (struct task_struct *)bpf_get_current_task();
	/* __data_loc: low 16 bits offset from the record start, high 16 length
	 * including the NUL. */
	loc = BPF_CORE_READ(ctx, __data_loc_filename);
	off = loc & 0xffff;
	flen = loc >> 16;

	/* The file the kernel is running now (after the exec), by identity. */
	inode = BPF_CORE_READ(task, mm, exe_file, f_inode);
	key.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	key.ino = BPF_CORE_READ(inode, i_ino);
	c = bd_canary_hit(&key);
	if (c)
		bd_canary_event(BD_TRIP_EXEC, c->trip, &key, (void *)ctx + off, 0);

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

	e->hdr.type = BD_EV_EXEC;
	e->hdr.size = sizeof(*e);
	e->hdr.ktime_ns = bpf_ktime_get_ns();
	e->pid = tgid;
	e->tid = (__u32)id;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = (__u32)ug;
	e->gid = ug >> 32;
	e->flags = 0;
	e->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(e->comm, sizeof(e->comm));

	if (bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), (void *)ctx + off) < 0)
		e->filename[0] = 0;
	if (flen > BD_PATH_LEN)
		e->flags |= BD_EXEC_FILENAME_TRUNC;

	mm = BPF_CORE_READ(task, mm);
	arg_start = BPF_CORE_READ(mm, arg_start);
	arg_end = BPF_CORE_READ(mm, arg_end);
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
	 * A lone exec (a canary) must reach the reader at once, yet waking it for
	 * every exec of a storm costs a context switch per exec. So an idle reader
	 * is woken at once while the wakeup credit lasts (ordinary exec rates
	 * never run out); in a storm, at most once per BD_WAKE_GAP_NS, and a record
	 * that gets no wakeup is found by bd-watch, which looks again one gap after
	 * each record it read. A reader that falls behind is woken once an eighth
	 * of the ring is pending. bench/tripwire measures the latency,
	 * bench/kernel the storm cost.
	 */
	flags = BPF_RB_NO_WAKEUP;
	now = bpf_ktime_get_ns();
	/* Another CPU may have stamped a later time: then nothing is earned. */
	credit = bd_wake_credit + (now > bd_wake_at ? now - bd_wake_at : 0);
	if (credit > BD_WAKE_BURST * BD_WAKE_GAP_NS)
		credit = BD_WAKE_BURST * BD_WAKE_GAP_NS;
	if (pending >= bpf_ringbuf_query(&bd_events, BPF_RB_RING_SIZE) / 8) {
		flags = BPF_RB_FORCE_WAKEUP;
	} else if (pending == 0 && credit >= BD_WAKE_GAP_NS) {
		flags = BPF_RB_FORCE_WAKEUP;
		credit -= BD_WAKE_GAP_NS;
	}
	bd_wake_credit = credit;
	bd_wake_at = now;
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
