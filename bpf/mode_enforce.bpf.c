/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * mode_enforce: what the boundary mode (bd_mode, written by bd-lock) means
 * in the kernel.
 *
 *   AIRGAP and stricter  connect()/sendmsg() from the governed cgroup (the
 *                        cgroup bd-load attaches these programs to, and its
 *                        descendants) to anything but loopback is refused;
 *                        so are creating raw, packet and ICMP sockets there
 *                        (their packets escape every address check), binding
 *                        to anything but loopback, and every IP packet the
 *                        cgroup's sockets send to or receive from beyond
 *                        loopback (which also cuts sockets opened before);
 *                        and AF_UNIX connect/send from the governed cgroup to
 *                        a socket made outside it, but for a logging allow
 *                        list (BPF-LSM).
 *   COLDROOM and stricter  ptrace attach (and what the kernel checks as attach:
 *                        /proc/<pid>/mem, process_vm_readv/writev) of any
 *                        process is refused, system-wide (BPF-LSM).
 *   LOCKDOWN             exec of any file not in bd_exec_allow (by device and
 *                        inode) is refused, and so is mapping one executable
 *                        (mmap/mprotect with PROT_EXEC: shared libraries,
 *                        LD_PRELOAD, dlopen, ld.so running a file, and the
 *                        ELF interpreter the kernel maps at exec), system-wide
 *                        (BPF-LSM), and so is anonymous executable memory,
 *                        for every process; an allowed file's names and
 *                        attributes (whose change would move the ctime its
 *                        entry is sealed with) are frozen for every process
 *                        but boundary's own.
 *
 * Canaries (bd_canary, any mode): an exec or open of a canary file is refused
 * and raises bd_mode to the canary's mode in that same system call.
 *
 * The mode is bd_effective_mode(): a missing slot, an unknown value or a
 * passed dead-man deadline all act as LOCKDOWN. Every refusal is a struct
 * bd_deny in bd_events; a record that cannot be reserved is counted.
 */
#include "kernel.h"
#include "maps.h"
#include "canary.h"
#include "self.h"
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10
#define EPERM 1
#define PTRACE_MODE_ATTACH 0x02
#define AF_PACKET 17
#define SOCK_RAW 3
#define IPPROTO_ICMP 1
#define IPPROTO_ICMPV6 58
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define PROT_EXEC 0x4
#define FMODE_WRITE 0x2
#define FMODE_EXEC 0x20
#define O_TRUNC 01000
#define SB_RDONLY 1
#define CGROUP2_SUPER_MAGIC 0x63677270
#define SYSFS_MAGIC 0x62656572
#define BD_DENY_STALE 1 /* bd_deny.access: entry found, inode changed or reused */

/* LOCKDOWN exec allow list: struct bd_file_key (kernel dev_t, inode) ->
 * struct bd_allow_val. Written by `bd-lock allow PATH`. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct bd_file_key);
	__type(value, struct bd_allow_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bd_exec_allow SEC(".maps");

/* Newer kernels keep flag bits above the nanoseconds (multigrain
 * timestamps: I_CTIME_QUERIED, set by a mere stat), so only the low 30 bits
 * (nanoseconds are below 2^30) take part. */
#define NSEC_MASK 0x3fffffffull

static __always_inline __u64 inode_ctime_ns(struct inode *inode)
{
	if (bpf_core_field_exists(struct inode___ctime_split, i_ctime_sec)) {
		struct inode___ctime_split *i = (void *)inode;
		return BPF_CORE_READ(i, i_ctime_sec) * 1000000000ull +
		       (BPF_CORE_READ(i, i_ctime_nsec) & NSEC_MASK);
	}
	if (bpf_core_field_exists(struct inode___ctime_dunder, __i_ctime)) {
		struct inode___ctime_dunder *i = (void *)inode;
		return BPF_CORE_READ(i, __i_ctime.tv_sec) * 1000000000ull +
		       (BPF_CORE_READ(i, __i_ctime.tv_nsec) & NSEC_MASK);
	}
	struct inode___ctime_old *i = (void *)inode;
	return BPF_CORE_READ(i, i_ctime.tv_sec) * 1000000000ull +
	       (BPF_CORE_READ(i, i_ctime.tv_nsec) & NSEC_MASK);
}

static __always_inline void file_key(struct inode *inode, struct bd_file_key *key)
{
	key->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	key->ino = BPF_CORE_READ(inode, i_ino);
}

/*
 * Is the inode trusted by the allow list? 1 yes; 0 not listed; -1 listed but
 * unsealed, or its generation or ctime moved since (changed in place, or the
 * number reused by another file): not trusted, fail closed.
 */
static __always_inline int allow_check(struct inode *inode, struct bd_file_key *key)
{
	struct bd_allow_val *v = bpf_map_lookup_elem(&bd_exec_allow, key);
	struct bd_file_key whole = { .dev = key->dev, .ino = 0 };

	if (!v) {
		/* A whole filesystem trusted by device (inode 0, never a real
		 * one): only while it is mounted read-only. */
		if (!bpf_map_lookup_elem(&bd_exec_allow, &whole))
			return 0;
		return BPF_CORE_READ(inode, i_sb, s_flags) & SB_RDONLY ? 1 : -1;
	}
	if (!(v->flags & BD_ALLOW_SEALED) || v->gen != BPF_CORE_READ(inode, i_generation) ||
	    v->ctime_ns != inode_ctime_ns(inode))
		return -1;
	return 1;
}

/*
 * The governed cgroup, for BPF-LSM programs that must scope themselves like
 * the cgroup programs do: slot 0 holds the cgroup bd-load --cgroup attached
 * to (set by bd-load). Empty: no task is governed.
 */
struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bd_governed SEC(".maps");

static __always_inline int governed(void)
{
	return bpf_current_task_under_cgroup(&bd_governed, 0) == 1;
}

/* A deny record without the task fields: for packets, which arrive in
 * softirq context where "current" is whoever the CPU was running. */
static __always_inline struct bd_deny *deny_begin_notask(__u32 hook, __u32 mode)
{
	struct bd_deny *d = bpf_ringbuf_reserve(&bd_events, sizeof(*d), 0);

	bd_count_denied(hook);
	if (!d) {
		bd_count(BD_STAT_DENY_LOST);
		return 0;
	}
	__builtin_memset(d, 0, sizeof(*d));
	d->hdr.type = BD_EV_DENY;
	d->hdr.size = sizeof(*d);
	d->hdr.ktime_ns = bpf_ktime_get_ns();
	d->hook = hook;
	d->action = BD_ACT_DENY;
	d->err = EPERM;
	d->mode = mode;
	return d;
}

static __always_inline struct bd_deny *deny_begin(__u32 hook, __u32 mode)
{
	struct bd_deny *d = bpf_ringbuf_reserve(&bd_events, sizeof(*d), 0);
	__u64 id, ug;

	bd_count_denied(hook);
	if (!d) {
		bd_count(BD_STAT_DENY_LOST);
		return 0;
	}
	__builtin_memset(d, 0, sizeof(*d));
	id = bpf_get_current_pid_tgid();
	ug = bpf_get_current_uid_gid();
	d->hdr.type = BD_EV_DENY;
	d->hdr.size = sizeof(*d);
	d->hdr.ktime_ns = bpf_ktime_get_ns();
	d->hook = hook;
	d->action = BD_ACT_DENY;
	d->err = EPERM;
	d->mode = mode;
	d->pid = id >> 32;
	d->uid = (__u32)ug;
	d->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(d->comm, sizeof(d->comm));
	return d;
}

static __always_inline void deny_submit(struct bd_deny *d)
{
	bpf_ringbuf_submit(d, 0);
	bd_count(BD_STAT_DENY);
}

static __always_inline int v4_loopback(__u32 ip_be)
{
	/* 127.0.0.0/8; the first address byte is the lowest in memory. */
	return (ip_be & 0xff) == 127;
}

static __always_inline int v6_loopback(struct bpf_sock_addr *ctx)
{
	__u32 a = ctx->user_ip6[0], b = ctx->user_ip6[1];
	__u32 c = ctx->user_ip6[2], d = ctx->user_ip6[3];

	if (a != 0 || b != 0)
		return 0;
	if (c == 0 && d == bpf_htonl(1)) /* ::1 */
		return 1;
	if (c == bpf_htonl(0xffff)) /* ::ffff:127.x.y.z */
		return v4_loopback(d);
	return 0;
}

static __always_inline int sock4(struct bpf_sock_addr *ctx, __u32 hook)
{
	__u32 mode = bd_effective_mode();
	__u32 ip = ctx->user_ip4;
	struct bd_deny *d;

	if (mode < BD_MODE_AIRGAP || v4_loopback(ip))
		return 1;
	d = deny_begin(hook, mode);
	if (d) {
		d->family = AF_INET;
		d->port = bpf_ntohs((__u16)ctx->user_port);
		__builtin_memcpy(d->addr, &ip, 4);
		deny_submit(d);
	}
	return 0;
}

static __always_inline int sock6(struct bpf_sock_addr *ctx, __u32 hook)
{
	__u32 mode = bd_effective_mode();
	struct bd_deny *d;
	__u32 ip[4];

	if (mode < BD_MODE_AIRGAP || v6_loopback(ctx))
		return 1;
	d = deny_begin(hook, mode);
	if (d) {
		ip[0] = ctx->user_ip6[0];
		ip[1] = ctx->user_ip6[1];
		ip[2] = ctx->user_ip6[2];
		ip[3] = ctx->user_ip6[3];
		d->family = AF_INET6;
		d->port = bpf_ntohs((__u16)ctx->user_port);
		__builtin_memcpy(d->addr, ip, 16);
		deny_submit(d);
	}
	return 0;
}

SEC("cgroup/connect4")
int mode_connect4(struct bpf_sock_addr *ctx)
{
	return sock4(ctx, BD_HOOK_CONNECT4);
}

SEC("cgroup/connect6")
int mode_connect6(struct bpf_sock_addr *ctx)
{
	return sock6(ctx, BD_HOOK_CONNECT6);
}

SEC("cgroup/sendmsg4")
int mode_sendmsg4(struct bpf_sock_addr *ctx)
{
	return sock4(ctx, BD_HOOK_SENDMSG4);
}

SEC("cgroup/sendmsg6")
int mode_sendmsg6(struct bpf_sock_addr *ctx)
{
	return sock6(ctx, BD_HOOK_SENDMSG6);
}

/*
 * Raw (any family), packet and ICMP sockets carry packets no connect or
 * sendmsg address check sees, so AIRGAP refuses to create them in the
 * governed cgroup. access = socket type, port = protocol in the deny event.
 */
SEC("cgroup/sock_create")
int mode_sock_create(struct bpf_sock *ctx)
{
	__u32 family = ctx->family, type = ctx->type, proto = ctx->protocol;
	__u32 mode = bd_effective_mode();
	struct bd_deny *d;

	if (mode < BD_MODE_AIRGAP)
		return 1;
	if (family != AF_PACKET && type != SOCK_RAW && proto != IPPROTO_ICMP &&
	    proto != IPPROTO_ICMPV6)
		return 1;
	d = deny_begin(BD_HOOK_SOCK_CREATE, mode);
	if (d) {
		d->family = family;
		d->access = type;
		d->port = (__u16)proto;
		deny_submit(d);
	}
	return 0;
}

/* Binding beyond loopback (the wildcard included) would let the outside in. */
SEC("cgroup/post_bind4")
int mode_post_bind4(struct bpf_sock *ctx)
{
	__u32 mode = bd_effective_mode();
	__u32 ip = ctx->src_ip4;
	struct bd_deny *d;

	if (mode < BD_MODE_AIRGAP || v4_loopback(ip))
		return 1;
	d = deny_begin(BD_HOOK_POST_BIND4, mode);
	if (d) {
		d->family = AF_INET;
		d->port = (__u16)ctx->src_port;
		__builtin_memcpy(d->addr, &ip, 4);
		deny_submit(d);
	}
	return 0;
}

SEC("cgroup/post_bind6")
int mode_post_bind6(struct bpf_sock *ctx)
{
	__u32 mode = bd_effective_mode();
	__u32 ip[4];
	struct bd_deny *d;

	ip[0] = ctx->src_ip6[0];
	ip[1] = ctx->src_ip6[1];
	ip[2] = ctx->src_ip6[2];
	ip[3] = ctx->src_ip6[3];
	if (mode < BD_MODE_AIRGAP)
		return 1;
	if (ip[0] == 0 && ip[1] == 0 &&
	    ((ip[2] == 0 && ip[3] == bpf_htonl(1)) ||
	     (ip[2] == bpf_htonl(0xffff) && v4_loopback(ip[3]))))
		return 1;
	d = deny_begin(BD_HOOK_POST_BIND6, mode);
	if (d) {
		d->family = AF_INET6;
		d->port = (__u16)ctx->src_port;
		__builtin_memcpy(d->addr, ip, 16);
		deny_submit(d);
	}
	return 0;
}

/*
 * Every IP packet of the governed cgroup's sockets: the far address (source
 * on ingress, destination on egress) must be loopback. The packet starts at
 * the network header here. Non-IP packets pass (packet sockets cannot be
 * created in AIRGAP; ARP is the kernel's own).
 */
static __always_inline int skb_check(struct __sk_buff *skb, __u32 hook, int ingress)
{
	__u32 mode = bd_effective_mode();
	__u32 ip[4] = {};
	struct bd_deny *d;

	if (mode < BD_MODE_AIRGAP)
		return 1;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		if (bpf_skb_load_bytes(skb, ingress ? 12 : 16, ip, 4))
			goto deny;
		if (v4_loopback(ip[0]))
			return 1;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		if (bpf_skb_load_bytes(skb, ingress ? 8 : 24, ip, 16))
			goto deny;
		if (ip[0] == 0 && ip[1] == 0 &&
		    ((ip[2] == 0 && ip[3] == bpf_htonl(1)) ||
		     (ip[2] == bpf_htonl(0xffff) && v4_loopback(ip[3]))))
			return 1;
	} else {
		return 1;
	}
deny:
	d = deny_begin_notask(hook, mode);
	if (d) {
		d->family = skb->protocol == bpf_htons(ETH_P_IPV6) ? AF_INET6 : AF_INET;
		__builtin_memcpy(d->addr, ip, 16);
		deny_submit(d);
	}
	return 0;
}

SEC("cgroup_skb/ingress")
int mode_skb_ingress(struct __sk_buff *skb)
{
	return skb_check(skb, BD_HOOK_SKB_INGRESS, 1);
}

SEC("cgroup_skb/egress")
int mode_skb_egress(struct __sk_buff *skb)
{
	return skb_check(skb, BD_HOOK_SKB_EGRESS, 0);
}

SEC("lsm/bprm_check_security")
int BPF_PROG(mode_exec, struct linux_binprm *bprm, int ret)
{
	struct bd_file_key key = {};
	struct inode *inode;
	struct bd_deny *d;
	__u32 mode;
	int ok;

	struct bd_canary_val *c;

	if (ret)
		return ret;
	inode = BPF_CORE_READ(bprm, file, f_inode);
	file_key(inode, &key);
	/* Normally file_open below already refused a canary's exec (the kernel
	 * opens the file first); this catches an open that hook did not see. */
	c = bd_canary_hit(&key);
	if (c) {
		bd_canary_event(BD_TRIP_LSM_EXEC, c->trip, &key, BPF_CORE_READ(bprm, filename),
				EPERM);
		return -EPERM;
	}
	mode = bd_effective_mode();
	if (mode < BD_MODE_LOCKDOWN)
		return 0;
	ok = allow_check(inode, &key);
	if (ok > 0)
		return 0;
	d = deny_begin(BD_HOOK_EXEC, mode);
	if (d) {
		d->access = ok < 0 ? BD_DENY_STALE : 0;
		d->target_dev = key.dev;
		d->target_ino = key.ino;
		bpf_probe_read_kernel_str(d->path, sizeof(d->path), BPF_CORE_READ(bprm, filename));
		deny_submit(d);
	}
	return -EPERM;
}

/* An executable mapping of `file` in LOCKDOWN: 0 if allowed, else a deny
 * event and -EPERM. */
static __always_inline int map_exec(struct file *file, __u32 hook)
{
	struct bd_file_key key = {};
	struct inode *inode;
	struct bd_deny *d;
	__u32 mode;
	int ok;

	mode = bd_effective_mode();
	if (mode < BD_MODE_LOCKDOWN)
		return 0;
	inode = BPF_CORE_READ(file, f_inode);
	file_key(inode, &key);
	ok = allow_check(inode, &key);
	if (ok > 0)
		return 0;
	d = deny_begin(hook, mode);
	if (d) {
		d->access = ok < 0 ? BD_DENY_STALE : 0;
		d->target_dev = key.dev;
		d->target_ino = key.ino;
		bpf_probe_read_kernel_str(d->path, sizeof(d->path),
					  BPF_CORE_READ(file, f_path.dentry, d_name.name));
		deny_submit(d);
	}
	return -EPERM;
}

/*
 * Anonymous executable memory in LOCKDOWN: refused for every process, on
 * every kernel. The allow list names files; code written into anonymous
 * memory (a JIT, or shellcode an allowed interpreter was talked into
 * writing) is no file on it. Nothing on the shipped allow list JITs
 * (boundary's own tools, shells, systemd and its daemons, sshd), and
 * boundary's own processes are refused it above OPEN by self_protect.
 * access = the prot asked for.
 */
static __always_inline int anon_exec(__u32 hook, __u32 prot)
{
	struct bd_deny *d;
	__u32 mode = bd_effective_mode();

	if (mode < BD_MODE_LOCKDOWN)
		return 0;
	d = deny_begin(hook, mode);
	if (d) {
		d->access = prot;
		deny_submit(d);
	}
	return -EPERM;
}

/*
 * Same signature at v6.1 and v6.12 (include/linux/lsm_hook_defs.h). `file`
 * is NULL for anonymous memory, but a test of the argument itself is not
 * kept on every kernel: where LSM arguments are marked trusted (6.12) the
 * verifier takes it for non-NULL and drops `!file` as dead code. The inode
 * is read through bpf_probe_read_kernel (BPF_CORE_READ), a plain value
 * (0 when file is NULL) whose test the verifier keeps on both kernels.
 */
SEC("lsm/mmap_file")
int BPF_PROG(mode_mmap, struct file *file, unsigned long reqprot, unsigned long prot,
	     unsigned long flags, int ret)
{
	if (ret)
		return ret;
	/* prot, not reqprot: what the kernel will map (READ_IMPLIES_EXEC). */
	if (!(prot & PROT_EXEC))
		return 0;
	if (!BPF_CORE_READ(file, f_inode))
		return anon_exec(BD_HOOK_ANON_MMAP_EXEC, prot);
	return map_exec(file, BD_HOOK_MMAP_EXEC);
}

SEC("lsm/file_mprotect")
int BPF_PROG(mode_mprotect, struct vm_area_struct *vma, unsigned long reqprot,
	     unsigned long prot, int ret)
{
	struct file *file;

	if (ret)
		return ret;
	if (!(prot & PROT_EXEC))
		return 0;
	/* Read, not an argument: a plain value on every kernel. */
	file = BPF_CORE_READ(vma, vm_file);
	if (!file || !BPF_CORE_READ(file, f_inode))
		return anon_exec(BD_HOOK_ANON_MPROTECT_EXEC, prot);
	return map_exec(file, BD_HOOK_MPROTECT_EXEC);
}

/* A write-side refusal on an allowed inode: deny event and -EPERM. */
static __always_inline int deny_allowed(__u32 hook, __u32 mode, struct bd_file_key *key,
					struct dentry *dentry)
{
	struct bd_deny *d = deny_begin(hook, mode);

	if (d) {
		d->target_dev = key->dev;
		d->target_ino = key->ino;
		bpf_probe_read_kernel_str(d->path, sizeof(d->path),
					  BPF_CORE_READ(dentry, d_name.name));
		deny_submit(d);
	}
	return -EPERM;
}

/*
 * In LOCKDOWN an allowed file's ctime and generation are frozen: every
 * change of them (a new or removed name, a rename, chmod, chown, utimes,
 * xattrs and ACLs, inode-flag ioctls) would make its entry stale, and a
 * stale bd-lock cannot run the release ceremony until a reboot. Boundary's
 * own processes pass. Does the change of `dentry`'s inode need refusing?
 */
#define FROZEN_LINK 1
#define FROZEN_UNLINK 2
#define FROZEN_RENAME 3
#define FROZEN_SETXATTR 1
#define FROZEN_REMOVEXATTR 2
#define FROZEN_SET_ACL 3
#define FROZEN_REMOVE_ACL 4

static __always_inline int frozen_allowed(struct dentry *dentry, __u32 mode)
{
	struct bd_file_key key = {};
	struct inode *inode;

	if (mode < BD_MODE_LOCKDOWN)
		return 0;
	/* A plain value (probe read): 6.12 marks LSM pointer arguments
	 * trusted and would drop a NULL test of the argument itself. */
	inode = BPF_CORE_READ(dentry, d_inode);
	if (!inode)
		return 0;
	file_key(inode, &key);
	if (!bpf_map_lookup_elem(&bd_exec_allow, &key))
		return 0;
	return !current_is_boundary();
}

/* The refusal found by frozen_allowed: deny event, -EPERM. */
static __always_inline int deny_frozen(__u32 hook, __u32 mode, struct dentry *dentry,
				       __u32 access)
{
	struct bd_file_key key = {};
	struct bd_deny *d;

	/* Read before the reservation: a read between it and its NULL test
	 * lets clang keep a second test the verifier follows to an exit with
	 * the record unreleased. */
	file_key(BPF_CORE_READ(dentry, d_inode), &key);
	d = deny_begin(hook, mode);
	if (d) {
		d->target_dev = key.dev;
		d->target_ino = key.ino;
		d->access = access;
		bpf_probe_read_kernel_str(d->path, sizeof(d->path),
					  BPF_CORE_READ(dentry, d_name.name));
		deny_submit(d);
	}
	return -EPERM;
}

/*
 * Integrity of allowed files, in every mode (the list is prepared before
 * LOCKDOWN, and what is written then runs in LOCKDOWN): no open for writing.
 * Any open of an unsealed entry's inode seals it first.
 */

/* Names compared by the write-refusals below (cgroup and sysfs files). */
#define NAME_LEN 32
static const char cg_procs[NAME_LEN] = "cgroup.procs";
static const char cg_threads[NAME_LEN] = "cgroup.threads";
static const char usb_auth[NAME_LEN] = "authorized";
static const char usb_auth_default[NAME_LEN] = "authorized_default";

static __always_inline int name_is(const char *a, const char *b)
{
	for (int i = 0; i < NAME_LEN; i++) {
		if (a[i] != b[i])
			return 0;
		if (!a[i])
			return 1;
	}
	return 1;
}

/*
 * An open for writing of a file named `a` or `b` on a filesystem of `magic`:
 * its name into `name` and 1; else 0. The cheap tests (magic, mode) come
 * before the name is read: file_open runs for every open.
 */
static __always_inline int write_open_of(struct file *file, struct inode *inode,
					 unsigned long magic, const char *a, const char *b,
					 char *name)
{
	if (BPF_CORE_READ(inode, i_sb, s_magic) != magic)
		return 0;
	if (!(BPF_CORE_READ(file, f_mode) & FMODE_WRITE))
		return 0;
	bpf_probe_read_kernel_str(name, NAME_LEN, BPF_CORE_READ(file, f_path.dentry, d_name.name));
	return name_is(name, a) || name_is(name, b);
}

/* Refuse a write-open found by write_open_of: deny event naming the file. */
static __always_inline int deny_named(__u32 hook, __u32 mode, struct inode *inode, __u32 access,
				      const char *name)
{
	struct bd_deny *d = deny_begin(hook, mode);

	if (d) {
		d->target_ino = BPF_CORE_READ(inode, i_ino);
		d->target_dev = BPF_CORE_READ(inode, i_sb, s_dev);
		d->access = access;
		__builtin_memcpy(d->path, name, NAME_LEN);
		deny_submit(d);
	}
	return -EPERM;
}

/*
 * AIRGAP and above: a governed task may not move any task to another cgroup
 * (cgroup.procs / cgroup.threads opened for writing), or it would leave the
 * cgroup the network programs govern. access 1: a cgroup.procs/threads
 * write (2: clone3, below).
 */
static __always_inline int cgroup_move(struct file *file, struct inode *inode)
{
	char name[NAME_LEN] = {};
	__u32 mode;

	if (!write_open_of(file, inode, CGROUP2_SUPER_MAGIC, cg_procs, cg_threads, name))
		return 0;
	mode = bd_effective_mode();
	if (mode < BD_MODE_AIRGAP || !governed())
		return 0;
	return deny_named(BD_HOOK_CGROUP_MOVE, mode, inode, 1, name);
}

/*
 * AIRGAP and above: only boundary authorises USB devices. From AIRGAP up
 * authorized_default is 0 and bd-watch authorises what the mode allows; a
 * root shell writing 1 to a device's (or interface's) `authorized`, or to
 * `authorized_default` of a hub or usbcore, would bind a refused mass
 * storage stick or network adapter. Writers other than boundary's own
 * processes (bd-watch, bd-lock) are refused. Until bd-load has recorded
 * boundary's executables (the bd_self_libs mark; never under
 * --without-self-protection) nobody could be told apart, so nothing is.
 */
static __always_inline int usb_authorize(struct file *file, struct inode *inode)
{
	struct bd_file_key mark = {};
	char name[NAME_LEN] = {};
	__u32 mode;

	if (!write_open_of(file, inode, SYSFS_MAGIC, usb_auth, usb_auth_default, name))
		return 0;
	mode = bd_effective_mode();
	if (mode < BD_MODE_AIRGAP)
		return 0;
	if (!bpf_map_lookup_elem(&bd_self_libs, &mark) || current_is_boundary())
		return 0;
	return deny_named(BD_HOOK_USB_AUTHORIZE, mode, inode, 0, name);
}

SEC("lsm/file_open")
int BPF_PROG(mode_file_open, struct file *file, int ret)
{
	struct bd_file_key key = {};
	struct bd_canary_val *c;
	struct bd_allow_val *v;
	struct inode *inode;
	__u32 hook;

	if (ret)
		return ret;
	inode = BPF_CORE_READ(file, f_inode);
	if (!inode)
		return 0;
	if (cgroup_move(file, inode))
		return -EPERM;
	if (usb_authorize(file, inode))
		return -EPERM;
	file_key(inode, &key);
	c = bd_canary_hit(&key);
	if (c) {
		/* The exec's open carries __FMODE_EXEC in f_flags (f_mode gets
		 * FMODE_EXEC only on some kernels). */
		hook = (BPF_CORE_READ(file, f_flags) & FMODE_EXEC) ||
				       (BPF_CORE_READ(file, f_mode) & FMODE_EXEC) ?
			       BD_TRIP_LSM_EXEC :
			       BD_TRIP_LSM_OPEN;
		bd_canary_event(hook, c->trip, &key,
				(const char *)BPF_CORE_READ(file, f_path.dentry, d_name.name), EPERM);
		return -EPERM;
	}
	v = bpf_map_lookup_elem(&bd_exec_allow, &key);
	if (!v)
		return 0;
	if (!(v->flags & BD_ALLOW_SEALED)) {
		v->gen = BPF_CORE_READ(inode, i_generation);
		v->ctime_ns = inode_ctime_ns(inode);
		v->flags |= BD_ALLOW_SEALED;
	}
	/* O_TRUNC is still in f_flags here (do_dentry_open drops it later):
	 * open(O_RDONLY|O_TRUNC) truncates, and from 6.2 through
	 * security_file_truncate, which path_truncate does not see. */
	if (!(BPF_CORE_READ(file, f_mode) & FMODE_WRITE) &&
	    !(BPF_CORE_READ(file, f_flags) & O_TRUNC))
		return 0;
	return deny_allowed(BD_HOOK_ALLOWED_WRITE, bd_effective_mode(), &key,
			    BPF_CORE_READ(file, f_path.dentry));
}

/* truncate(2) by path (open(O_TRUNC) is refused in file_open above). */
SEC("lsm/path_truncate")
int BPF_PROG(mode_truncate, const struct path *path, int ret)
{
	struct bd_file_key key = {};
	struct dentry *dentry;
	struct inode *inode;

	if (ret)
		return ret;
	dentry = BPF_CORE_READ(path, dentry);
	inode = BPF_CORE_READ(dentry, d_inode);
	if (!inode)
		return 0;
	file_key(inode, &key);
	if (!bpf_map_lookup_elem(&bd_exec_allow, &key))
		return 0;
	return deny_allowed(BD_HOOK_ALLOWED_TRUNCATE, bd_effective_mode(), &key, dentry);
}

/*
 * Renaming a file over an allowed one, in LOCKDOWN only: outside it, package
 * upgrades replace files that way, and the new inode is not on the list
 * while the old number, if reused, no longer matches its generation.
 */
SEC("lsm/inode_rename")
int BPF_PROG(mode_rename, struct inode *old_dir, struct dentry *old_dentry, struct inode *new_dir,
	     struct dentry *new_dentry, int ret)
{
	struct bd_file_key key = {};
	struct inode *inode;
	__u32 mode;

	if (ret)
		return ret;
	mode = bd_effective_mode();
	if (mode < BD_MODE_LOCKDOWN)
		return 0;
	/* The allowed file itself moved (its ctime with it). */
	if (frozen_allowed(old_dentry, mode))
		return deny_frozen(BD_HOOK_ALLOWED_NAME, mode, old_dentry, FROZEN_RENAME);
	inode = BPF_CORE_READ(new_dentry, d_inode);
	if (!inode)
		return 0;
	file_key(inode, &key);
	if (!bpf_map_lookup_elem(&bd_exec_allow, &key))
		return 0;
	return deny_allowed(BD_HOOK_ALLOWED_RENAME, mode, &key, new_dentry);
}

/* inode_link: a new name of an allowed inode (nlink, so ctime). */
SEC("lsm/inode_link")
int BPF_PROG(mode_link, struct dentry *old_dentry, struct inode *dir, struct dentry *new_dentry,
	     int ret)
{
	__u32 mode;

	if (ret)
		return ret;
	mode = bd_effective_mode();
	if (!frozen_allowed(old_dentry, mode))
		return 0;
	return deny_frozen(BD_HOOK_ALLOWED_NAME, mode, old_dentry, FROZEN_LINK);
}

/* inode_unlink of any name of an allowed inode: the last one removes the
 * file, any other drops nlink and moves ctime. */
SEC("lsm/inode_unlink")
int BPF_PROG(mode_unlink, struct inode *dir, struct dentry *dentry, int ret)
{
	__u32 mode;

	if (ret)
		return ret;
	mode = bd_effective_mode();
	if (!frozen_allowed(dentry, mode))
		return 0;
	return deny_frozen(BD_HOOK_ALLOWED_NAME, mode, dentry, FROZEN_UNLINK);
}

/*
 * inode_setattr: chmod, chown, utimes/utimensat (any ATTR_* change, ctime
 * always moves). v6.1 passes (dentry, attr), later kernels (mnt_idmap,
 * dentry, attr): the count the trampoline recorded says which, so one
 * program loads on both. Read as plain values, then through
 * bpf_probe_read_kernel. access = ia_valid (ATTR_MODE 1, ATTR_UID 2,
 * ATTR_GID 4, ATTR_ATIME 16, ATTR_MTIME 32, ...).
 */
struct iattr___bd {
	unsigned int ia_valid;
} __attribute__((preserve_access_index));

SEC("lsm/inode_setattr")
int mode_setattr(unsigned long long *ctx)
{
	__u64 d = 0, a = 0;
	struct iattr___bd *attr;
	struct dentry *dentry;
	__u32 mode;

	mode = bd_effective_mode();
	if (mode < BD_MODE_LOCKDOWN)
		return 0;
	if (bpf_get_func_arg_cnt(ctx) >= 3) {
		bpf_get_func_arg(ctx, 1, &d);
		bpf_get_func_arg(ctx, 2, &a);
	} else {
		bpf_get_func_arg(ctx, 0, &d);
		bpf_get_func_arg(ctx, 1, &a);
	}
	dentry = (struct dentry *)d;
	if (!frozen_allowed(dentry, mode))
		return 0;
	attr = (struct iattr___bd *)a;
	return deny_frozen(BD_HOOK_ALLOWED_SETATTR, mode, dentry, BPF_CORE_READ(attr, ia_valid));
}

/* Extended attributes, ACLs among them (through setxattr on v6.1). The
 * first argument is a user_namespace at v6.1, a mnt_idmap at v6.12; the
 * dentry is second in both. */
SEC("lsm/inode_setxattr")
int BPF_PROG(mode_setxattr, void *idmap, struct dentry *dentry)
{
	__u32 mode = bd_effective_mode();

	if (!frozen_allowed(dentry, mode))
		return 0;
	return deny_frozen(BD_HOOK_ALLOWED_XATTR, mode, dentry, FROZEN_SETXATTR);
}

SEC("lsm/inode_removexattr")
int BPF_PROG(mode_removexattr, void *idmap, struct dentry *dentry)
{
	__u32 mode = bd_effective_mode();

	if (!frozen_allowed(dentry, mode))
		return 0;
	return deny_frozen(BD_HOOK_ALLOWED_XATTR, mode, dentry, FROZEN_REMOVEXATTR);
}

/* From v6.2 POSIX ACLs no longer pass through inode_setxattr/removexattr
 * but these hooks (absent at v6.1: bd-load skips them there). */
SEC("lsm/inode_set_acl")
int BPF_PROG(mode_set_acl, void *idmap, struct dentry *dentry)
{
	__u32 mode = bd_effective_mode();

	if (!frozen_allowed(dentry, mode))
		return 0;
	return deny_frozen(BD_HOOK_ALLOWED_XATTR, mode, dentry, FROZEN_SET_ACL);
}

SEC("lsm/inode_remove_acl")
int BPF_PROG(mode_remove_acl, void *idmap, struct dentry *dentry)
{
	__u32 mode = bd_effective_mode();

	if (!frozen_allowed(dentry, mode))
		return 0;
	return deny_frozen(BD_HOOK_ALLOWED_XATTR, mode, dentry, FROZEN_REMOVE_ACL);
}

/*
 * ioctls that change the inode through a read-only descriptor: inode
 * flags (chattr: FS_IOC_SETFLAGS, FS_IOC_FSSETXATTR), which move ctime,
 * and the generation (FS_IOC_SETVERSION, ext4's EXT4_IOC_SETVERSION),
 * which the entry is sealed with too. Matched on direction, type and
 * number, not size, so the 32-bit forms (FS_IOC32_*) match as well.
 * access = the command.
 */
#define IOC_NOSIZE(c) ((c) & 0xc000ffffu)
#define IOC_W(t, n) (0x40000000u | ((t) << 8) | (n))

static __always_inline int inode_changing_ioctl(unsigned int cmd)
{
	unsigned int c = IOC_NOSIZE(cmd);

	return c == IOC_W('f', 2) ||  /* FS_IOC_SETFLAGS */
	       c == IOC_W('f', 4) ||  /* EXT4_IOC_SETVERSION */
	       c == IOC_W('v', 2) ||  /* FS_IOC_SETVERSION */
	       c == IOC_W('X', 32);   /* FS_IOC_FSSETXATTR */
}

static __always_inline int frozen_ioctl(struct file *file, unsigned int cmd)
{
	struct dentry *dentry;
	__u32 mode;

	if (!inode_changing_ioctl(cmd))
		return 0;
	mode = bd_effective_mode();
	dentry = BPF_CORE_READ(file, f_path.dentry);
	if (!frozen_allowed(dentry, mode))
		return 0;
	return deny_frozen(BD_HOOK_ALLOWED_IOCTL, mode, dentry, cmd);
}

/* Same signature at v6.1 and v6.12. */
SEC("lsm/file_ioctl")
int BPF_PROG(mode_ioctl, struct file *file, unsigned int cmd, unsigned long arg, int ret)
{
	if (ret)
		return ret;
	return frozen_ioctl(file, cmd);
}

/* 32-bit callers from v6.8 (earlier they went through file_ioctl; absent
 * there: bd-load skips it). */
SEC("lsm/file_ioctl_compat")
int BPF_PROG(mode_ioctl_compat, struct file *file, unsigned int cmd, unsigned long arg, int ret)
{
	if (ret)
		return ret;
	return frozen_ioctl(file, cmd);
}

/*
 * AF_PACKET sockets of the governed cgroup: cgroup/sock_create never sees
 * them and their frames bypass the cgroup skb hooks, so BPF-LSM refuses
 * them in AIRGAP and above. Sockets the kernel makes for itself pass.
 */
SEC("lsm/socket_create")
int BPF_PROG(mode_socket_create, int family, int type, int protocol, int kern, int ret)
{
	struct bd_deny *d;
	__u32 mode;

	if (ret)
		return ret;
	if (kern || family != AF_PACKET)
		return 0;
	mode = bd_effective_mode();
	if (mode < BD_MODE_AIRGAP || !governed())
		return 0;
	d = deny_begin(BD_HOOK_PACKET_SOCKET, mode);
	if (d) {
		d->family = family;
		d->access = type;
		d->port = (__u16)protocol;
		deny_submit(d);
	}
	return -EPERM;
}

/*
 * AF_UNIX out of the governed cgroup, AIRGAP and above: a governed task that
 * may not reach the network could ask a daemon outside the cgroup to reach
 * it for it (PID 1's /run/systemd/private and `systemd-run`, dbus, a
 * container runtime's socket, a proxy root left running). So a governed
 * task connects (stream, seqpacket) or sends datagrams only to a socket
 * made inside the governed cgroup: the peer sock's cgroup (sk_cgrp_data,
 * set when the socket was created) must be the governed cgroup or below it.
 * Named, abstract and unnamed sockets alike; socketpair() never asks.
 *
 * Ancestry: bd_governed (a cgroup array) answers only for the current
 * task, so bd-load also records the governed cgroup's id (its kernfs id,
 * the inode number of its directory) in bd_governed_id, and the peer's
 * cgroup is walked up through cgroup->self.parent comparing kn->id: the same
 * fields on 6.1 and 6.12, where cgroup->ancestor_ids became ancestors.
 *
 * The exception is a short list of sockets by identity (bd_unix_allow: the
 * socket inode's kernel dev_t and inode number, recorded by bd-load
 * --unix-allow, by default journald's /run/systemd/journal/socket and
 * /run/systemd/journal/dev-log, which /dev/log links to): logging, which an
 * air-gapped workload needs and which reaches no network. By inode, not by
 * the listener's cgroup: those sockets are made by PID 1 (socket
 * activation) in init.scope, the cgroup of /run/systemd/private too. By
 * inode, not by path in the kernel: a path names whatever is bound there
 * later; the inode is the socket journald listens on.
 */
#define AF_UNIX 1
#define SUN_PATH_LEN 108
#define CGROUP_DEPTH_MAX 64

/* The governed cgroup's id (slot 0), written by bd-load with bd_governed. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bd_governed_id SEC(".maps");

/* AF_UNIX sockets a governed task may reach in AIRGAP+ wherever they were
 * made: struct bd_file_key of the socket inode -> reserved (1). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct bd_file_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bd_unix_allow SEC(".maps");

/* Only the fields read here, as CO-RE flavours (the ___bd suffix is dropped
 * when matching the kernel's BTF) so kernel.h stays as it is. */
struct kernfs_node___bd {
	__u64 id;
} __attribute__((preserve_access_index));
struct cgroup___bd;
struct cgroup_subsys_state___bd {
	struct cgroup___bd *cgroup;
	struct cgroup_subsys_state___bd *parent;
} __attribute__((preserve_access_index));
struct cgroup___bd {
	struct cgroup_subsys_state___bd self;
	struct kernfs_node___bd *kn;
} __attribute__((preserve_access_index));
struct sock_cgroup_data___bd {
	struct cgroup___bd *cgroup;
} __attribute__((preserve_access_index));
struct sock___bd {
	struct sock_cgroup_data___bd sk_cgrp_data;
} __attribute__((preserve_access_index));
struct socket___bd {
	struct sock___bd *sk;
} __attribute__((preserve_access_index));
struct sockaddr_un___bd {
	unsigned short sun_family;
	char sun_path[SUN_PATH_LEN];
} __attribute__((preserve_access_index));
struct unix_address___bd {
	int len;
	struct sockaddr_un___bd name[];
} __attribute__((preserve_access_index));
struct unix_sock___bd {
	struct unix_address___bd *addr;
	struct path path;
} __attribute__((preserve_access_index));

/* Is the socket's cgroup the governed one or below it? Unknown (no id
 * recorded, a chain deeper than we walk) is no. */
static __always_inline int sock_governed(struct sock___bd *sk)
{
	struct cgroup___bd *cg = BPF_CORE_READ(sk, sk_cgrp_data.cgroup);
	__u32 zero = 0;
	__u64 *gid = bpf_map_lookup_elem(&bd_governed_id, &zero);
	__u64 want;

	if (!gid || !*gid)
		return 0;
	want = *gid;
	for (int i = 0; i < CGROUP_DEPTH_MAX; i++) {
		if (!cg)
			return 0;
		if (BPF_CORE_READ(cg, kn, id) == want)
			return 1;
		cg = BPF_CORE_READ(cg, self.parent, cgroup);
	}
	return 0;
}

/* The peer sock (a struct unix_sock) may be reached by a governed task:
 * 0, else a deny event with its address and socket inode, and -EPERM. */
static __always_inline int unix_peer(struct sock___bd *peer, __u32 hook)
{
	struct unix_sock___bd *u = (void *)peer;
	struct unix_address___bd *addr;
	struct bd_file_key key = {};
	struct inode *inode;
	struct bd_deny *d;
	__u32 mode;

	mode = bd_effective_mode();
	if (mode < BD_MODE_AIRGAP || !governed())
		return 0;
	if (sock_governed(peer))
		return 0;
	inode = BPF_CORE_READ(u, path.dentry, d_inode);
	if (inode) {
		file_key(inode, &key);
		if (bpf_map_lookup_elem(&bd_unix_allow, &key))
			return 0;
	}
	d = deny_begin(hook, mode);
	if (d) {
		d->family = AF_UNIX;
		d->target_dev = key.dev;
		d->target_ino = key.ino;
		addr = BPF_CORE_READ(u, addr);
		if (addr) {
			/* name is a flexible array, which aya's CO-RE cannot
			 * index: the field's offset, then sun_path's fixed
			 * place in the UAPI sockaddr_un (after sun_family). */
			bpf_probe_read_kernel(d->path, SUN_PATH_LEN,
					      (char *)addr +
						      bpf_core_field_offset(struct unix_address___bd,
									    name) +
						      sizeof(unsigned short));
			/* An abstract name starts with a NUL: written @name. */
			if (!d->path[0])
				d->path[0] = '@';
		}
		deny_submit(d);
	}
	return -EPERM;
}

/* Same signature at v6.1 and v6.12: the connecting sock, the listener, the
 * new sock for the server side. */
SEC("lsm/unix_stream_connect")
int BPF_PROG(mode_unix_connect, struct sock___bd *sock, struct sock___bd *other,
	     struct sock___bd *newsk, int ret)
{
	if (ret)
		return ret;
	return unix_peer(other, BD_HOOK_UNIX_CONNECT);
}

/* connect() of a datagram socket and every datagram sent with an address. */
SEC("lsm/unix_may_send")
int BPF_PROG(mode_unix_send, struct socket___bd *sock, struct socket___bd *other, int ret)
{
	if (ret)
		return ret;
	return unix_peer(BPF_CORE_READ(other, sk), BD_HOOK_UNIX_SEND);
}

/*
 * AIRGAP and above: clone3(CLONE_INTO_CGROUP) starts the child in the cgroup
 * whose directory fd it names, with no write of cgroup.procs for file_open
 * above to see, so a governed task could start an ungoverned child. The
 * kernel asks task_alloc with the clone flags before it moves the child.
 */
#define CLONE_INTO_CGROUP 0x200000000ULL

SEC("lsm/task_alloc")
int BPF_PROG(mode_task_alloc, struct task_struct *task, unsigned long clone_flags, int ret)
{
	struct bd_deny *d;
	__u32 mode;

	if (ret)
		return ret;
	if (!((__u64)clone_flags & CLONE_INTO_CGROUP))
		return 0;
	mode = bd_effective_mode();
	if (mode < BD_MODE_AIRGAP || !governed())
		return 0;
	d = deny_begin(BD_HOOK_CGROUP_MOVE, mode);
	if (d) {
		d->access = 2;
		__builtin_memcpy(d->path, "clone3", 7);
		deny_submit(d);
	}
	return -EPERM;
}

/*
 * COLDROOM and above: nobody changes the running kernel. Modules, kexec and
 * BPF are refused by self_protect; what is left is what the kernel's own
 * lockdown LSM calls integrity: port I/O (ioperm/iopl), MSR writes, PCI
 * config and BAR access, debugfs files that write or map, hibernation
 * images, ACPI tables, unsafe module parameters, bpf_probe_write_user and
 * the rest below LOCKDOWN_INTEGRITY_MAX. The kernel asks every LSM with the
 * reason, whatever the lockdown LSM's own setting, so these are refused
 * here dynamically, by mode. /dev/mem (LOCKDOWN_DEV_MEM) is the shield's:
 * lsm_file_protect refuses it in every mode.
 */
enum lockdown_reason {
	LOCKDOWN_NONE = 0,
	LOCKDOWN_MODULE_SIGNATURE = 1,
	LOCKDOWN_DEV_MEM = 2,
	LOCKDOWN_EFI_TEST = 3,
	LOCKDOWN_KEXEC = 4,
	LOCKDOWN_HIBERNATION = 5,
	LOCKDOWN_PCI_ACCESS = 6,
	LOCKDOWN_IOPORT = 7,
	LOCKDOWN_MSR = 8,
	LOCKDOWN_ACPI_TABLES = 9,
	LOCKDOWN_PCMCIA_CIS = 10,
	LOCKDOWN_TIOCSSERIAL = 11,
	LOCKDOWN_MODULE_PARAMETERS = 12,
	LOCKDOWN_MMIOTRACE = 13,
	LOCKDOWN_DEBUGFS = 14,
	LOCKDOWN_INTEGRITY_MAX = 21,
};

/* The reason's name, for the reasons every kernel since lockdown (5.4)
 * has; the values move between versions, the names do not. */
#define REASON(r, name)                                                        \
	if (what == bpf_core_enum_value(enum lockdown_reason, r)) {            \
		__builtin_memcpy(path, name, sizeof(name));                    \
		return;                                                        \
	}
static __always_inline void reason_name(__u32 what, char *path)
{
	REASON(LOCKDOWN_MODULE_SIGNATURE, "module_signature");
	REASON(LOCKDOWN_EFI_TEST, "efi_test");
	REASON(LOCKDOWN_KEXEC, "kexec");
	REASON(LOCKDOWN_HIBERNATION, "hibernation");
	REASON(LOCKDOWN_PCI_ACCESS, "pci_access");
	REASON(LOCKDOWN_IOPORT, "ioport");
	REASON(LOCKDOWN_MSR, "msr");
	REASON(LOCKDOWN_ACPI_TABLES, "acpi_tables");
	REASON(LOCKDOWN_PCMCIA_CIS, "pcmcia_cis");
	REASON(LOCKDOWN_TIOCSSERIAL, "tiocsserial");
	REASON(LOCKDOWN_MODULE_PARAMETERS, "module_parameters");
	REASON(LOCKDOWN_MMIOTRACE, "mmiotrace");
	REASON(LOCKDOWN_DEBUGFS, "debugfs");
}
#undef REASON

SEC("lsm/locked_down")
int BPF_PROG(mode_locked_down, enum lockdown_reason what, int ret)
{
	struct bd_deny *d;
	__u32 mode;

	if (ret)
		return ret;
	if (what == bpf_core_enum_value(enum lockdown_reason, LOCKDOWN_NONE) ||
	    what == bpf_core_enum_value(enum lockdown_reason, LOCKDOWN_DEV_MEM) ||
	    what >= bpf_core_enum_value(enum lockdown_reason, LOCKDOWN_INTEGRITY_MAX))
		return 0;
	mode = bd_effective_mode();
	if (mode < BD_MODE_COLDROOM)
		return 0;
	d = deny_begin(BD_HOOK_KERNEL_INTEGRITY, mode);
	if (d) {
		/* the raw value differs between kernel versions: path names it */
		d->access = what;
		reason_name(what, d->path);
		deny_submit(d);
	}
	return -EPERM;
}

SEC("lsm/ptrace_access_check")
int BPF_PROG(mode_ptrace, struct task_struct *child, unsigned int pmode, int ret)
{
	struct bd_deny *d;
	__u32 mode;

	if (ret)
		return ret;
	if (!(pmode & PTRACE_MODE_ATTACH))
		return 0;
	mode = bd_effective_mode();
	if (mode < BD_MODE_COLDROOM)
		return 0;
	d = deny_begin(BD_HOOK_PTRACE, mode);
	if (d) {
		d->target_pid = BPF_CORE_READ(child, tgid);
		d->access = pmode;
		BPF_CORE_READ_STR_INTO(&d->target_comm, child, comm);
		deny_submit(d);
	}
	return -EPERM;
}

SEC("lsm/ptrace_traceme")
int BPF_PROG(mode_traceme, struct task_struct *parent, int ret)
{
	struct bd_deny *d;
	__u32 mode;

	if (ret)
		return ret;
	mode = bd_effective_mode();
	if (mode < BD_MODE_COLDROOM)
		return 0;
	d = deny_begin(BD_HOOK_PTRACE_ME, mode);
	if (d) {
		d->target_pid = BPF_CORE_READ(parent, tgid);
		BPF_CORE_READ_STR_INTO(&d->target_comm, parent, comm);
		deny_submit(d);
	}
	return -EPERM;
}
