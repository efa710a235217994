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
 *                        loopback (which also cuts sockets opened before).
 *   COLDROOM and stricter  ptrace attach (and what the kernel checks as attach:
 *                        /proc/<pid>/mem, process_vm_readv/writev) of any
 *                        process is refused, system-wide (BPF-LSM).
 *   LOCKDOWN             exec of any file not in bd_exec_allow (by device and
 *                        inode) is refused, system-wide (BPF-LSM).
 *
 * The mode is bd_effective_mode(): a missing slot, an unknown value or a
 * passed dead-man deadline all act as LOCKDOWN. Every refusal is a struct
 * bd_deny in bd_events; a record that cannot be reserved is counted.
 */
#include "kernel.h"
#include "maps.h"
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

/* LOCKDOWN exec allow list: struct bd_file_key (kernel dev_t, inode) -> 1.
 * Written by `bd-lock allow PATH`. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct bd_file_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bd_exec_allow SEC(".maps");

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

	if (ret)
		return ret;
	mode = bd_effective_mode();
	if (mode < BD_MODE_LOCKDOWN)
		return 0;
	inode = BPF_CORE_READ(bprm, file, f_inode);
	key.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	key.ino = BPF_CORE_READ(inode, i_ino);
	if (bpf_map_lookup_elem(&bd_exec_allow, &key))
		return 0;
	d = deny_begin(BD_HOOK_EXEC, mode);
	if (d) {
		d->target_dev = key.dev;
		d->target_ino = key.ino;
		bpf_probe_read_kernel_str(d->path, sizeof(d->path), BPF_CORE_READ(bprm, filename));
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
