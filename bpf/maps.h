/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Maps shared by every boundary BPF object. All are pinned by name, so the
 * loader (aya EbpfLoader::map_pin_path = <pin dir>/maps) creates each once and
 * every later object, and every tool, reuses the same map. Definitions must be
 * identical in every object that includes this header.
 */
#ifndef BD_MAPS_H
#define BD_MAPS_H

#include "bd.h"

/* Events for bd-watch. The loader may resize it (set_max_entries). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bd_events SEC(".maps");

/* Per-CPU counters, indexed by enum bd_stat. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BD_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bd_stats SEC(".maps");

/* Per-CPU denial counters by hook (enum bd_hook): metrics break denials out
 * by hook from the kernel's own count, so lost deny events still count. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BD_HOOK_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bd_deny_hooks SEC(".maps");

/* The current boundary mode: one slot, written by bd-lock. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bd_mode_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bd_mode SEC(".maps");

/*
 * The kernel's own raises (a canary tripped), kept apart from bd_mode so no
 * userspace write of bd_mode (a heartbeat, a transition) can overwrite one:
 * without compare-and-swap (BPF ISA v3, not required here) a raise written
 * into bd_mode can be lost to a bd-lock read-modify-write racing it.
 * trips[m] counts canaries that tripped mode m; the counts only ever grow
 * by atomic add. Entry BD_RAISE_LIVE is what the programs enforce: bd-lock
 * clears it only in a release ceremony. Entry BD_RAISE_TOTAL is never
 * written by userspace: a release compares it before and after clearing
 * the live entry to catch a canary that tripped meanwhile.
 */
#define BD_RAISE_LIVE 0
#define BD_RAISE_TOTAL 1
struct bd_mode_raise {
	__u64 trips[BD_MODE_LOCKDOWN + 1];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct bd_mode_raise);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bd_mode_raise SEC(".maps");

/*
 * Protected processes: tgid -> flags (reserved, 1). Written by
 * lsm_file_protect (children inherit) and bd-load protect / bd-inject;
 * read by exec_monitor to flag execs of protected tasks, which works
 * whether or not the LSM object could load on this kernel.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bd_prot_pids SEC(".maps");

static __always_inline void bd_count(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&bd_stats, &stat);
	if (v)
		*v += 1;
}

/* One operation denied (or that would be, in audit mode) by hook. */
static __always_inline void bd_count_denied(__u32 hook)
{
	__u64 *v;

	bd_count(BD_STAT_DENIED);
	v = bpf_map_lookup_elem(&bd_deny_hooks, &hook);
	if (v)
		*v += 1;
}

/* The strictest mode a live canary raise holds (OPEN if none); a missing
 * entry reads as LOCKDOWN. */
static __always_inline __u32 bd_raised_mode(void)
{
	__u32 live = BD_RAISE_LIVE;
	struct bd_mode_raise *r = bpf_map_lookup_elem(&bd_mode_raise, &live);
	__u32 i;

	if (!r)
		return BD_MODE_LOCKDOWN;
#pragma unroll
	for (i = BD_MODE_LOCKDOWN; i > BD_MODE_OPEN; i--)
		if (r->trips[i])
			return i;
	return BD_MODE_OPEN;
}

/*
 * The mode the programs enforce: the stricter of bd_mode and the kernel's
 * own raises. Fail closed: a missing slot, an unknown value, or a dead-man
 * deadline that has passed all read as LOCKDOWN. A never-written slot is
 * all zeroes = OPEN with no deadline, which is what a freshly loaded system
 * is until bd-lock writes it.
 */
static __always_inline __u32 bd_effective_mode(void)
{
	__u32 zero = 0, raised;
	struct bd_mode_state *m = bpf_map_lookup_elem(&bd_mode, &zero);
	if (!m)
		return BD_MODE_LOCKDOWN;
	if (m->mode > BD_MODE_LOCKDOWN)
		return BD_MODE_LOCKDOWN;
	if (m->heartbeat_deadline_ns && bpf_ktime_get_ns() > m->heartbeat_deadline_ns)
		return BD_MODE_LOCKDOWN;
	raised = bd_raised_mode();
	return raised > m->mode ? raised : m->mode;
}

#endif /* BD_MAPS_H */
