/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * self_protect: boundary defends its own BPF objects, pins and binaries
 * against root, and at COLDROOM and above refuses new kernel code.
 *
 * "Boundary" is a task whose executable's (dev, ino) is in bd_self_exes
 * (recorded by bd-load after loading); "boundary's objects" are the map,
 * program and link ids in bd_self_ids and the pin directories in
 * bd_self_dirs. Until bd-load has recorded them nothing here refuses
 * anything (the window is the load itself, run by root at boot).
 *
 *   bpf_map, bpf_prog        every new fd on one of our maps/programs
 *                            (BPF_OBJ_GET, *_GET_FD_BY_ID) -> BPF_MAP/BPF_PROG
 *   bpf (cmd)                BPF_LINK_GET_FD_BY_ID of our link, BPF_LINK_DETACH
 *                            and BPF_LINK_UPDATE on an fd of our link -> BPF_LINK;
 *                            BPF_PROG_LOAD at COLDROOM+ -> BPF_LOAD
 *   inode_unlink/rmdir/rename  in a pin directory     -> PIN_REMOVE
 *   sb_umount                the bpffs holding the pins -> PIN_UMOUNT
 *   file_open (write, O_TRUNC), path_truncate
 *                            one of boundary's executables -> SELF_WRITE
 *   mmap_file, file_mprotect (PROT_EXEC) in a boundary process, above OPEN:
 *                            anything but its executable and the recorded
 *                            libraries (bd_self_libs) -> SELF_MMAP
 *   kernel_read_file/kernel_load_data  anything but firmware at
 *                            COLDROOM+ (modules, kexec, policies) -> KERNEL_READ
 *   above OPEN, the sealed configuration and state (bd_seal: /etc/boundary,
 *   /etc/default/boundary, /etc/machine-id, /var/lib/boundary by default;
 *   a sealed dir covers every entry in it, those created later included):
 *     file_open (write, O_TRUNC), path_truncate, path_chmod, path_chown,
 *     inode_setxattr/removexattr  a sealed file, or one in a sealed dir -> SEAL_WRITE
 *     inode_create/mkdir/mknod/symlink/link/unlink/rmdir/rename
 *                            in or out of a sealed dir, of a sealed file or
 *                            dir, a link of a covered file -> SEAL_DIR
 *     sb_mount, move_mount   onto a sealed path (but a bind onto the state
 *                            dir); a new filesystem (not a bind or move) onto
 *                            an ancestor dir -> SEAL_MOUNT
 *
 * None of these honours audit mode or the allow list: the attacker the
 * product exists for is root, and both are root's to change.
 */
#include "kernel.h"
#include "self.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define FMODE_WRITE 0x2
#define O_TRUNC 01000
#define PROT_EXEC 0x4

struct bpf_map___bd {
	__u32 id;
} __attribute__((preserve_access_index));

struct bpf_prog_aux___bd {
	__u32 id;
} __attribute__((preserve_access_index));

struct bpf_prog___bd {
	struct bpf_prog_aux___bd *aux;
} __attribute__((preserve_access_index));

struct bpf_link___bd {
	__u32 id;
} __attribute__((preserve_access_index));

struct fdtable___bd {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct___bd {
	struct fdtable___bd *fdt;
} __attribute__((preserve_access_index));

struct task_struct___sp {
	struct files_struct___bd *files;
} __attribute__((preserve_access_index));

struct file___sp {
	void *private_data;
} __attribute__((preserve_access_index));

struct super_block___sp {
	__u32 s_dev;
} __attribute__((preserve_access_index));

struct vfsmount___sp {
	struct super_block___sp *mnt_sb;
} __attribute__((preserve_access_index));

/*
 * boundary's configuration, sealed above OPEN: the files and directories
 * bd-load recorded (--seal, only in OPEN), by (dev, ino). The trust root of
 * the release ceremony (operators.d, operators.toml, machine-id), the exec
 * allow lists and the boot arguments live there; root rewriting any of them
 * would make the ceremony its own. The state dir (/var/lib/boundary: mode
 * state, nonce store) too: a looser mode written there above OPEN would be
 * copied into the kernel at the next boot. Value: BD_SEAL_* flags. { 0, 0 } is the
 * "recorded" mark bd-lock reads: a seal exists, so the files it trusts must
 * be the sealed ones. Only this object uses it, so it is defined here and
 * not in self.h (which lsm_file_protect shares).
 */
#define BD_SEAL_FILE 1  /* sealed: contents, metadata, and for a dir its entries */
#define BD_SEAL_GUARD 2 /* an ancestor dir of a sealed path: nothing mounts on it */
#define BD_SEAL_STATE 4 /* the state dir itself: a bind onto it is let through (sb_mount) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct bd_file_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bd_seal SEC(".maps");

/* seal_write access */
#define SEAL_W_OPEN 1
#define SEAL_W_TRUNCATE 2
#define SEAL_W_CHMOD 3
#define SEAL_W_CHOWN 4
#define SEAL_W_SETXATTR 5
#define SEAL_W_REMOVEXATTR 6
/* seal_dir access */
#define SEAL_D_CREATE 1
#define SEAL_D_MKDIR 2
#define SEAL_D_MKNOD 3
#define SEAL_D_SYMLINK 4
#define SEAL_D_LINK 5
#define SEAL_D_UNLINK 6
#define SEAL_D_RMDIR 7
#define SEAL_D_RENAME 8
/* seal_mount access */
#define SEAL_M_MOUNT 1
#define SEAL_M_MOVE 2

/* Mount flags that change an existing mount's propagation or options rather
 * than put something new on the path: `unshare -m` makes / private this way,
 * and a remount cannot show other files. */
#define MS_REMOUNT 32
#define MS_BIND 4096
#define MS_MOVE 8192
#define MS_UNBINDABLE (1 << 17)
#define MS_PRIVATE (1 << 18)
#define MS_SLAVE (1 << 19)
#define MS_SHARED (1 << 20)

enum kernel_read_file_id {
	READING_FIRMWARE = 1,
};

enum kernel_load_data_id {
	LOADING_FIRMWARE = 1,
};

static __always_inline int is_self(__u32 kind, __u32 id)
{
	struct bd_self_key k = { .kind = kind, .id = id };

	return bpf_map_lookup_elem(&bd_self_ids, &k) != 0;
}

static __always_inline __u32 tgid(void)
{
	return bpf_get_current_pid_tgid() >> 32;
}

/* The id of the bpf_link behind the caller's fd, 0 if there is none. A
 * non-link fd yields whatever its private data holds; the syscall refuses
 * such an fd itself, so a false match can only refuse a call that fails. */
static __always_inline __u32 link_id_of_fd(__s32 fd)
{
	struct task_struct___sp *t = (void *)bpf_get_current_task();
	struct fdtable___bd *fdt = BPF_CORE_READ(t, files, fdt);
	struct file **arr;
	struct file *f = 0;
	void *priv;

	if (fd < 0 || (__u32)fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	arr = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &arr[fd]) || !f)
		return 0;
	priv = BPF_CORE_READ((struct file___sp *)f, private_data);
	if (!priv)
		return 0;
	return BPF_CORE_READ((struct bpf_link___bd *)priv, id);
}

SEC("lsm/bpf_map")
int BPF_PROG(bd_self_map, struct bpf_map___bd *map, unsigned int fmode)
{
	__u32 id = BPF_CORE_READ(map, id);

	if (!is_self(BD_SELF_MAP, id) || current_is_boundary())
		return 0;
	return deny(BD_HOOK_BPF_MAP, 0, tgid(), id, 0, 0);
}

SEC("lsm/bpf_prog")
int BPF_PROG(bd_self_prog, struct bpf_prog___bd *prog)
{
	__u32 id = BPF_CORE_READ(prog, aux, id);

	if (!is_self(BD_SELF_PROG, id) || current_is_boundary())
		return 0;
	return deny(BD_HOOK_BPF_PROG, 0, tgid(), id, 0, 0);
}

/* Only the first three arguments: 6.12 and later add more, and the hook's
 * return-value slot moves with them. */
SEC("lsm/bpf")
int BPF_PROG(bd_self_bpf, int cmd, union bpf_attr *attr, unsigned int size)
{
	__u32 id = 0;

	switch (cmd) {
	case BPF_LINK_GET_FD_BY_ID:
		id = BPF_CORE_READ(attr, link_id);
		break;
	case BPF_LINK_DETACH:
		id = link_id_of_fd(BPF_CORE_READ(attr, link_detach.link_fd));
		break;
	case BPF_LINK_UPDATE:
		id = link_id_of_fd(BPF_CORE_READ(attr, link_update.link_fd));
		break;
	case BPF_PROG_LOAD:
		if (bd_effective_mode() < BD_MODE_COLDROOM || current_is_boundary())
			return 0;
		return deny(BD_HOOK_BPF_LOAD, 0, tgid(), cmd, 0, 0);
	default:
		return 0;
	}
	if (!id || !is_self(BD_SELF_LINK, id) || current_is_boundary())
		return 0;
	return deny(BD_HOOK_BPF_LINK, 0, tgid(), cmd, 0, 0);
}

static __always_inline int in_pin_dir(struct inode *dir)
{
	struct bd_file_key k = {};

	k.dev = BPF_CORE_READ(dir, i_sb, s_dev);
	k.ino = BPF_CORE_READ(dir, i_ino);
	return bpf_map_lookup_elem(&bd_self_dirs, &k) != 0;
}

static __always_inline int pin_remove(struct inode *dir, struct dentry *d, __u32 access)
{
	if (!in_pin_dir(dir) || current_is_boundary())
		return 0;
	return deny_at(BD_HOOK_PIN_REMOVE, 0, tgid(), access, 0, dir, BPF_CORE_READ(d, d_name.name));
}

static __always_inline int seal_dir(struct inode *dir, struct dentry *d, __u32 access);

SEC("lsm/inode_unlink")
int BPF_PROG(bd_self_unlink, struct inode *dir, struct dentry *dentry)
{
	int r = pin_remove(dir, dentry, 1);

	if (r)
		return r;
	return seal_dir(dir, dentry, SEAL_D_UNLINK);
}

SEC("lsm/inode_rmdir")
int BPF_PROG(bd_self_rmdir, struct inode *dir, struct dentry *dentry)
{
	int r = pin_remove(dir, dentry, 2);

	if (r)
		return r;
	return seal_dir(dir, dentry, SEAL_D_RMDIR);
}

/* A rename out of a sealed dir, into one (over an entry or not), or of a
 * sealed file or dir itself (/etc/boundary moved aside). */
SEC("lsm/inode_rename")
int BPF_PROG(bd_self_rename, struct inode *old_dir, struct dentry *old_dentry,
	     struct inode *new_dir, struct dentry *new_dentry)
{
	int r = pin_remove(old_dir, old_dentry, 3);

	if (r)
		return r;
	r = pin_remove(new_dir, new_dentry, 3);
	if (r)
		return r;
	r = seal_dir(old_dir, old_dentry, SEAL_D_RENAME);
	if (r)
		return r;
	return seal_dir(new_dir, new_dentry, SEAL_D_RENAME);
}

/* The filesystem itself is recorded as { s_dev, ino 0 }: unmounting the
 * last mount of the bpffs would drop every pin, and with them the links. */
SEC("lsm/sb_umount")
int BPF_PROG(bd_self_umount, struct vfsmount___sp *mnt, int flags)
{
	struct bd_file_key k = {};

	k.dev = BPF_CORE_READ(mnt, mnt_sb, s_dev);
	if (!bpf_map_lookup_elem(&bd_self_dirs, &k) || current_is_boundary())
		return 0;
	return deny(BD_HOOK_PIN_UMOUNT, 0, tgid(), flags, 0, 0);
}

static __always_inline int self_exe(struct inode *ino)
{
	struct bd_file_key k = {};

	k.dev = BPF_CORE_READ(ino, i_sb, s_dev);
	k.ino = BPF_CORE_READ(ino, i_ino);
	return bpf_map_lookup_elem(&bd_self_exes, &k) != 0;
}

static __always_inline __u32 seal_flags(struct inode *ino)
{
	struct bd_file_key k = {};
	__u32 *v;

	if (!ino)
		return 0;
	k.dev = BPF_CORE_READ(ino, i_sb, s_dev);
	k.ino = BPF_CORE_READ(ino, i_ino);
	v = bpf_map_lookup_elem(&bd_seal, &k);
	return v ? *v : 0;
}

static __always_inline int sealed(struct inode *ino)
{
	return seal_flags(ino) & BD_SEAL_FILE;
}

/* The seal holds above OPEN only: OPEN is where root administers and
 * upgrades, and where bd-load records the files again. Checked before the
 * map lookups: in OPEN the hooks cost one array lookup. */
static __always_inline int seal_on(void)
{
	return bd_effective_mode() != BD_MODE_OPEN;
}

/* A file is covered when it is sealed itself or sits in a sealed dir: one
 * created there after the load is not recorded, and bd-lock replaces
 * state.json by a new inode (temp name, rename) at every transition, so
 * the state dir is sealed by its entries' parent, not by their inodes. */
static __always_inline int seal_covers(struct dentry *d)
{
	if (sealed(BPF_CORE_READ(d, d_inode)))
		return 1;
	return sealed(BPF_CORE_READ(d, d_parent, d_inode));
}

static __always_inline int seal_write(struct dentry *d, __u32 access)
{
	if (!seal_on() || !seal_covers(d) || current_is_boundary())
		return 0;
	return deny_at(BD_HOOK_SEAL_WRITE, 0, tgid(), access, 0, BPF_CORE_READ(d, d_inode),
		       BPF_CORE_READ(d, d_name.name));
}

/* An entry changes in `dir`: refused if the dir is sealed, or the entry
 * itself (a sealed file or dir moved or removed from an unsealed parent,
 * such as /etc/machine-id out of /etc). */
static __always_inline int seal_dir(struct inode *dir, struct dentry *d, __u32 access)
{
	if (!seal_on())
		return 0;
	if (!sealed(dir) && !(d && sealed(BPF_CORE_READ(d, d_inode))))
		return 0;
	if (current_is_boundary())
		return 0;
	return deny_at(BD_HOOK_SEAL_DIR, 0, tgid(), access, 0, dir,
		       d ? BPF_CORE_READ(d, d_name.name) : 0);
}

/* Overwriting or truncating a boundary binary in place keeps its inode, and
 * with it the trust bd_self_exes gives it. O_TRUNC is still in f_flags here
 * (do_dentry_open drops it later): open(O_RDONLY|O_TRUNC) truncates, from
 * 6.2 through security_file_truncate, which path_truncate does not see. */
SEC("lsm/file_open")
int BPF_PROG(bd_self_open, struct file *file)
{
	__u32 flags = BPF_CORE_READ(file, f_flags);

	if (!(BPF_CORE_READ(file, f_mode) & FMODE_WRITE) && !(flags & O_TRUNC))
		return 0;
	if (self_exe(BPF_CORE_READ(file, f_inode)) && !current_is_boundary())
		return deny(BD_HOOK_SELF_WRITE, 0, tgid(), flags, 0, file);
	return seal_write(BPF_CORE_READ(file, f_path.dentry), SEAL_W_OPEN);
}

/* truncate(2) by path opens nothing. Same signature at v6.1 and v6.12; the
 * access field says O_TRUNC for either way of truncating. */
SEC("lsm/path_truncate")
int BPF_PROG(bd_self_truncate, const struct path *path)
{
	struct dentry *d = BPF_CORE_READ(path, dentry);
	struct inode *ino = BPF_CORE_READ(d, d_inode);

	if (ino && self_exe(ino) && !current_is_boundary())
		return deny_at(BD_HOOK_SELF_WRITE, 0, tgid(), O_TRUNC, 0, ino,
			       BPF_CORE_READ(d, d_name.name));
	return seal_write(d, SEAL_W_TRUNCATE);
}

/* chmod and chown through the path hooks: inode_setattr gained an idmap
 * argument in front between v6.1 and v6.12, these did not change. */
SEC("lsm/path_chmod")
int BPF_PROG(bd_seal_chmod, const struct path *path)
{
	return seal_write(BPF_CORE_READ(path, dentry), SEAL_W_CHMOD);
}

SEC("lsm/path_chown")
int BPF_PROG(bd_seal_chown, const struct path *path)
{
	return seal_write(BPF_CORE_READ(path, dentry), SEAL_W_CHOWN);
}

/* The first argument is a user_namespace at v6.1, a mnt_idmap at v6.12;
 * the dentry is second in both. */
SEC("lsm/inode_setxattr")
int BPF_PROG(bd_seal_setxattr, void *idmap, struct dentry *dentry)
{
	return seal_write(dentry, SEAL_W_SETXATTR);
}

SEC("lsm/inode_removexattr")
int BPF_PROG(bd_seal_removexattr, void *idmap, struct dentry *dentry)
{
	return seal_write(dentry, SEAL_W_REMOVEXATTR);
}

/* Same leading arguments at v6.1 and v6.12 for every hook below. */
SEC("lsm/inode_create")
int BPF_PROG(bd_seal_create, struct inode *dir, struct dentry *dentry)
{
	return seal_dir(dir, 0, SEAL_D_CREATE);
}

SEC("lsm/inode_mkdir")
int BPF_PROG(bd_seal_mkdir, struct inode *dir, struct dentry *dentry)
{
	return seal_dir(dir, 0, SEAL_D_MKDIR);
}

SEC("lsm/inode_mknod")
int BPF_PROG(bd_seal_mknod, struct inode *dir, struct dentry *dentry)
{
	return seal_dir(dir, 0, SEAL_D_MKNOD);
}

SEC("lsm/inode_symlink")
int BPF_PROG(bd_seal_symlink, struct inode *dir, struct dentry *dentry)
{
	return seal_dir(dir, 0, SEAL_D_SYMLINK);
}

/* Into a sealed dir, or a covered file linked anywhere: a second name out
 * of the seal would outlive a later release, and a file created in a sealed
 * dir after the load (bd-lock's state.json, renamed in at every transition)
 * is covered only through its parent, which the second name does not have:
 * writes through it would go unchecked. */
SEC("lsm/inode_link")
int BPF_PROG(bd_seal_link, struct dentry *old_dentry, struct inode *dir, struct dentry *new_dentry)
{
	if (seal_on() && seal_covers(old_dentry) && !current_is_boundary())
		return deny_at(BD_HOOK_SEAL_DIR, 0, tgid(), SEAL_D_LINK, 0,
			       BPF_CORE_READ(old_dentry, d_inode),
			       BPF_CORE_READ(old_dentry, d_name.name));
	return seal_dir(dir, 0, SEAL_D_LINK);
}

/* `need`: the BD_SEAL_* flags of the mount point that refuse this mount;
 * `except`: those that let it through all the same. */
static __always_inline int seal_mount(const struct path *to, __u32 need, __u32 except,
				      __u32 access)
{
	struct dentry *d = BPF_CORE_READ(to, dentry);
	struct inode *ino = BPF_CORE_READ(d, d_inode);
	__u32 f;

	if (!seal_on())
		return 0;
	f = seal_flags(ino);
	/* An entry of a sealed dir is covered as its files are for writes
	 * (seal_covers): state.json, made after the load, is not recorded
	 * itself, and a forged file bound onto it would be what bd-lock
	 * reads. No exemption carries over: systemd binds the state dir
	 * itself, never an entry of it. */
	if (!(f & need) && sealed(BPF_CORE_READ(d, d_parent, d_inode)) &&
	    BPF_CORE_READ(d, d_parent) != d)
		f = BD_SEAL_FILE;
	if (!(f & need) || (f & except) || current_is_boundary())
		return 0;
	return deny_at(BD_HOOK_SEAL_MOUNT, 0, tgid(), access, 0, ino, BPF_CORE_READ(d, d_name.name));
}

/*
 * mount(2) onto a sealed file or dir: any new mount, bind or move would show
 * other files at the sealed paths. Onto an ancestor (/etc): a new filesystem
 * only (tmpfs over /etc). Binds and moves there stay allowed because
 * systemd's service sandboxing (ProtectSystem=, ReadOnlyPaths=) binds /etc
 * onto itself and moves its new root in every service it starts; what a
 * foreign bind shows at the sealed paths is other inodes, which bd-lock
 * refuses to trust.
 *
 * A bind onto the state dir itself (BD_SEAL_STATE) is let through for the
 * same reason: ReadWritePaths=/var/lib/boundary makes systemd bind the dir
 * onto itself (mount(2), source string == target) in the namespace of
 * boundary's own units, which did not start above OPEN while it was
 * refused. Telling that self-bind from a forged one here would mean
 * comparing the source string with the target's path, and the source is
 * resolved only after this hook: a bind over /var/lib in that window (an
 * ancestor bind, allowed anyway) makes it name other inodes. So the kernel
 * buys nothing by refusing it; bd-lock checks, before every read and write
 * of the state, that the dir it opened is the sealed inode, which catches
 * a bind onto the dir and one over its parent alike. A move onto it and a
 * new filesystem stay refused.
 */
SEC("lsm/sb_mount")
int BPF_PROG(bd_seal_sb_mount, const char *dev_name, const struct path *path, const char *type,
	     unsigned long flags)
{
	if (flags & (MS_REMOUNT | MS_UNBINDABLE | MS_PRIVATE | MS_SLAVE | MS_SHARED))
		return 0;
	if (flags & MS_MOVE)
		return seal_mount(path, BD_SEAL_FILE, 0, SEAL_M_MOUNT);
	if (flags & MS_BIND)
		return seal_mount(path, BD_SEAL_FILE, BD_SEAL_STATE, SEAL_M_MOUNT);
	return seal_mount(path, BD_SEAL_FILE | BD_SEAL_GUARD, 0, SEAL_M_MOUNT);
}

/* The new mount API (fsmount, open_tree) attaches through move_mount(2),
 * which sb_mount does not see. Onto a sealed path only, as for a bind; a
 * tree moved onto its own directory (a sandbox's self-bind) shows the same
 * inodes and is let through. */
SEC("lsm/move_mount")
int BPF_PROG(bd_seal_move_mount, const struct path *from_path, const struct path *to_path)
{
	struct inode *from = BPF_CORE_READ(from_path, dentry, d_inode);
	struct inode *to = BPF_CORE_READ(to_path, dentry, d_inode);

	if (from == to)
		return 0;
	return seal_mount(to_path, BD_SEAL_FILE, 0, SEAL_M_MOVE);
}

/*
 * Code in a boundary process comes only from its own executable and the
 * libraries bd-load recorded for boundary's executables (bd_self_libs), by
 * inode: LD_PRELOAD, LD_AUDIT, LD_LIBRARY_PATH, /etc/ld.so.preload, an NSS
 * or other dlopen()ed module, a library replaced by a new file, a memfd or
 * anonymous memory made executable would otherwise run with boundary's
 * identity (task_is_boundary), which every check here trusts. A file is
 * NULL for anonymous memory: refused too.
 *
 * Not in OPEN: there root may unload every shield anyway, and it is where
 * packages are upgraded: a library replaced by its new version is another
 * inode, which `bd-load load` records then. Refusing it in OPEN would leave
 * a dynamically linked bd-load unable to start and record it.
 */
static __always_inline int self_map_exec(struct file *file, __u32 prot)
{
	struct bd_file_key k = {};
	struct inode *ino;

	if (!(prot & PROT_EXEC))
		return 0;
	if (bd_effective_mode() == BD_MODE_OPEN)
		return 0;
	if (!bpf_map_lookup_elem(&bd_self_libs, &k)) /* not recorded yet */
		return 0;
	if (!current_is_boundary())
		return 0;
	if (!file)
		return deny_at(BD_HOOK_SELF_MMAP, 0, tgid(), prot, 0, 0, 0);
	ino = BPF_CORE_READ(file, f_inode);
	/* Anonymous memory again: where the kernel marks LSM arguments
	 * trusted (6.12), the verifier takes `file` for non-NULL and drops the
	 * test above as dead code; the reads through NULL then yield a zero
	 * key, which is bd_self_libs' "recorded" mark and would pass. What
	 * was read is a plain value the verifier cannot second-guess. */
	if (!ino)
		return deny_at(BD_HOOK_SELF_MMAP, 0, tgid(), prot, 0, 0, 0);
	k.dev = BPF_CORE_READ(ino, i_sb, s_dev);
	k.ino = BPF_CORE_READ(ino, i_ino);
	if (bpf_map_lookup_elem(&bd_self_libs, &k) || bpf_map_lookup_elem(&bd_self_exes, &k))
		return 0;
	return deny(BD_HOOK_SELF_MMAP, 0, tgid(), prot, 0, file);
}

/* prot, not reqprot: what the kernel will map (READ_IMPLIES_EXEC). Same
 * signatures at v6.1 and v6.12. */
SEC("lsm/mmap_file")
int BPF_PROG(bd_self_mmap, struct file *file, unsigned long reqprot, unsigned long prot,
	     unsigned long flags)
{
	return self_map_exec(file, prot);
}

SEC("lsm/file_mprotect")
int BPF_PROG(bd_self_mprotect, struct vm_area_struct *vma, unsigned long reqprot,
	     unsigned long prot)
{
	return self_map_exec(BPF_CORE_READ(vma, vm_file), prot);
}

static __always_inline int kernel_read(__u32 id, __u32 firmware)
{
	/* Firmware is data for a driver already loaded; everything else
	 * (modules, compressed modules, kexec images, policies, keys)
	 * changes what the kernel runs. */
	if (id == firmware || bd_effective_mode() < BD_MODE_COLDROOM)
		return 0;
	return deny(BD_HOOK_KERNEL_READ, 0, tgid(), id, 0, 0);
}

SEC("lsm/kernel_read_file")
int BPF_PROG(bd_kernel_read_file, struct file *file, enum kernel_read_file_id id, _Bool contents)
{
	return kernel_read(id, bpf_core_enum_value(enum kernel_read_file_id, READING_FIRMWARE));
}

SEC("lsm/kernel_load_data")
int BPF_PROG(bd_kernel_load_data, enum kernel_load_data_id id, _Bool contents)
{
	return kernel_read(id, bpf_core_enum_value(enum kernel_load_data_id, LOADING_FIRMWARE));
}
