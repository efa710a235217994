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
 */
#include "kernel.h"
#include "maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";


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
	__u32 argc = 0;
	__u64 now, pending, flags, credit;

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
	task = (struct task_struct *)bpf_get_current_task();

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

	/* __data_loc: low 16 bits offset from the record start, high 16 length
	 * including the NUL. */
	loc = BPF_CORE_READ(ctx, __data_loc_filename);
	off = loc & 0xffff;
	flen = loc >> 16;
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

	for (__u32 i = 0; i < BD_ARGS_LEN; i++) {
		if (i >= len)
			break;
		if (e->args[i] == 0)
			argc++;
	}
	/* A truncated last string still counts as an argument. */
	if (len && e->args[(len - 1) & (BD_ARGS_LEN - 1)] != 0)
		argc++;
	e->argc = argc;

	if (bpf_map_lookup_elem(&bd_prot_pids, &tgid))
		e->flags |= BD_EXEC_PROTECTED;

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
