/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * In-kernel canaries, shared by exec_monitor (the exec tracepoint, which
 * every kernel has) and mode_enforce (BPF-LSM: refuses the canary's exec or
 * open). bd_canary is pinned by name like the maps in maps.h; the definition
 * must be identical in both objects.
 */
#ifndef BD_CANARY_H
#define BD_CANARY_H

#include "maps.h"

/* struct bd_file_key -> struct bd_canary_val. Written by `bd-lock canary`. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct bd_file_key);
	__type(value, struct bd_canary_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bd_canary SEC(".maps");

/*
 * Raise the mode to at least `trip`, never lower it. The raise that counts
 * is the atomic add into bd_mode_raise (maps.h), which userspace never
 * overwrites outside a release ceremony: no bd-lock write racing this can
 * lose it. bd_mode is raised in place too, as before, so bd-lock sees the
 * kernel's transition (a new seq, BD_MODE_F_CANARY) and records it; that
 * in-place copy can still be overwritten by a racing bd-lock write, which
 * is harmless now (the raise entry holds). A missing slot already reads as
 * LOCKDOWN (bd_effective_mode): nothing is written.
 */
static __always_inline void bd_canary_raise(__u32 trip, __u32 *from, __u32 *to, __u64 *seq)
{
	__u32 zero = 0, live = BD_RAISE_LIVE, total = BD_RAISE_TOTAL;
	struct bd_mode_state *m = bpf_map_lookup_elem(&bd_mode, &zero);
	struct bd_mode_raise *rl = bpf_map_lookup_elem(&bd_mode_raise, &live);
	struct bd_mode_raise *rt = bpf_map_lookup_elem(&bd_mode_raise, &total);

	*from = BD_MODE_LOCKDOWN;
	*to = BD_MODE_LOCKDOWN;
	*seq = 0;
	if (!m || !rl || !rt)
		return;
	*from = bd_effective_mode();
	if (trip > BD_MODE_LOCKDOWN)
		trip = BD_MODE_LOCKDOWN;
	if (trip == BD_MODE_OPEN)
		return;
	__sync_fetch_and_add(&rt->trips[trip], 1);
	__sync_fetch_and_add(&rl->trips[trip], 1);
	if (m->mode < trip) {
		m->mode = trip;
		m->flags |= BD_MODE_F_CANARY;
		__sync_fetch_and_add(&m->seq, 1);
		if (m->mode < trip) /* another writer lowered it meanwhile */
			m->mode = trip;
	}
	*to = bd_effective_mode();
	*seq = m->seq;
}

/* Report a tripped canary; the reader is woken at once (rare and urgent). */
static __always_inline void bd_canary_event(__u32 hook, __u32 trip, struct bd_file_key *key,
					    const char *path, __s32 err)
{
	struct bd_tripwire *t;
	__u32 from, to;
	__u64 seq, id, ug;

	/* The mode first: the event is only the report of it. */
	bd_canary_raise(trip, &from, &to, &seq);
	t = bpf_ringbuf_reserve(&bd_events, sizeof(*t), 0);
	if (!t) {
		bd_count(BD_STAT_TRIP_LOST);
		return;
	}
	id = bpf_get_current_pid_tgid();
	ug = bpf_get_current_uid_gid();
	t->hdr.type = BD_EV_TRIPWIRE;
	t->hdr.size = sizeof(*t);
	t->hdr.ktime_ns = bpf_ktime_get_ns();
	t->hook = hook;
	t->trip = trip;
	t->from = from;
	t->to = to;
	t->pid = id >> 32;
	t->tid = (__u32)id;
	t->uid = (__u32)ug;
	t->err = err;
	t->cgroup_id = bpf_get_current_cgroup_id();
	t->dev = key->dev;
	t->ino = key->ino;
	t->seq = seq;
	bpf_get_current_comm(t->comm, sizeof(t->comm));
	if (!path || bpf_probe_read_kernel_str(t->path, sizeof(t->path), path) < 0)
		t->path[0] = 0;
	bpf_ringbuf_submit(t, BPF_RB_FORCE_WAKEUP);
	bd_count(BD_STAT_TRIP);
}

/* The canary entry for `key`, counting the hit; NULL if not a canary. */
static __always_inline struct bd_canary_val *bd_canary_hit(struct bd_file_key *key)
{
	struct bd_canary_val *c = bpf_map_lookup_elem(&bd_canary, key);

	if (c)
		__sync_fetch_and_add(&c->hits, 1);
	return c;
}

#endif /* BD_CANARY_H */
