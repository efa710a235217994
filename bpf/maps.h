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

/*
 * The mode the programs enforce. Fail closed: a missing slot, an unknown
 * value, or a dead-man deadline that has passed all read as LOCKDOWN.
 * A never-written slot is all zeroes = OPEN with no deadline, which is
 * what a freshly loaded system is until bd-lock writes it.
 */
static __always_inline __u32 bd_effective_mode(void)
{
	__u32 zero = 0;
	struct bd_mode_state *m = bpf_map_lookup_elem(&bd_mode, &zero);
	if (!m)
		return BD_MODE_LOCKDOWN;
	if (m->mode > BD_MODE_LOCKDOWN)
		return BD_MODE_LOCKDOWN;
	if (m->heartbeat_deadline_ns && bpf_ktime_get_ns() > m->heartbeat_deadline_ns)
		return BD_MODE_LOCKDOWN;
	return m->mode;
}

#endif /* BD_MAPS_H */
