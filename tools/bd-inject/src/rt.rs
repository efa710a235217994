//! The little runtime the no_std binary needs: its entry point, the few
//! memory functions the compiler calls, system calls through the `syscalls`
//! crate, mmap-backed buffers that are wiped when dropped, and formatted
//! messages on stderr.

use core::fmt::{self, Write as _};
use syscalls::{syscall, Errno, Sysno};

// ---------------------------------------------------------------- start

// The kernel enters at _start with the stack pointer on argc, followed by
// argv[], NULL, envp[], NULL. No libc: nothing runs before start_rust.
#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".globl _start",
    "_start:",
    "xor ebp, ebp",
    "mov rdi, rsp",
    "and rsp, -16",
    "call {entry}",
    "ud2",
    entry = sym crate::start_rust,
);

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".globl _start",
    "_start:",
    "mov x29, xzr",
    "mov x30, xzr",
    "mov x0, sp",
    "and sp, x0, #-16",
    "bl {entry}",
    "brk #1",
    entry = sym crate::start_rust,
);

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("bd-inject's entry point is written for x86_64 and aarch64 only");

// ---------------------------------------------------------------- memory functions
//
// Without libc nobody provides these, yet the compiler emits calls to them.
// Written so that the optimiser cannot turn them back into calls to
// themselves (string instructions on x86_64, volatile accesses elsewhere).

#[cfg(target_arch = "x86_64")]
#[no_mangle]
unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller's contract (valid, non-overlapping ranges of n bytes).
    unsafe {
        core::arch::asm!("rep movsb", inout("rcx") n => _, inout("rdi") dst => _,
            inout("rsi") src => _, options(nostack, preserves_flags));
    }
    dst
}

#[cfg(target_arch = "x86_64")]
#[no_mangle]
unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: the caller's contract (a valid range of n bytes).
    unsafe {
        core::arch::asm!("rep stosb", inout("rcx") n => _, inout("rdi") dst => _,
            in("al") c as u8, options(nostack, preserves_flags));
    }
    dst
}

#[cfg(not(target_arch = "x86_64"))]
#[no_mangle]
unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: the caller's contract.
        unsafe { core::ptr::write_volatile(dst.add(i), core::ptr::read_volatile(src.add(i))) };
    }
    dst
}

#[cfg(not(target_arch = "x86_64"))]
#[no_mangle]
unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: the caller's contract.
        unsafe { core::ptr::write_volatile(dst.add(i), c as u8) };
    }
    dst
}

#[no_mangle]
unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize) <= (src as usize) || (dst as usize) >= (src as usize) + n {
        for i in 0..n {
            // SAFETY: the caller's contract; forward is safe when dst is below src.
            unsafe { core::ptr::write_volatile(dst.add(i), core::ptr::read_volatile(src.add(i))) };
        }
    } else {
        for i in (0..n).rev() {
            // SAFETY: as above, backwards when dst overlaps src from above.
            unsafe { core::ptr::write_volatile(dst.add(i), core::ptr::read_volatile(src.add(i))) };
        }
    }
    dst
}

#[no_mangle]
unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: the caller's contract.
        let (x, y) = unsafe {
            (
                core::ptr::read_volatile(a.add(i)),
                core::ptr::read_volatile(b.add(i)),
            )
        };
        if x != y {
            return x as i32 - y as i32;
        }
    }
    0
}

#[no_mangle]
unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the caller's contract.
    unsafe { memcmp(a, b, n) }
}

#[no_mangle]
unsafe extern "C" fn strlen(s: *const u8) -> usize {
    let mut n = 0;
    // SAFETY: the caller's contract (a NUL-terminated string).
    while unsafe { core::ptr::read_volatile(s.add(n)) } != 0 {
        n += 1;
    }
    n
}

/// A NUL-terminated C string as bytes.
///
/// # Safety
/// `p` points to a NUL-terminated string that lives for 'a.
pub unsafe fn cstr<'a>(p: *const u8) -> &'a [u8] {
    // SAFETY: the caller's contract.
    unsafe { core::slice::from_raw_parts(p, strlen(p)) }
}

/// With panic=abort nothing unwinds, but core (built for unwinding) still
/// names the personality routine in its unwind tables.
#[no_mangle]
extern "C" fn rust_eh_personality() {}

// ---------------------------------------------------------------- system calls

pub type Res<T> = Result<T, Errno>;

pub const AT_FDCWD: i32 = -100;
const O_RDONLY: usize = 0;
const O_CLOEXEC: usize = 0o2000000;

pub fn write_all(fd: i32, mut b: &[u8]) -> Res<()> {
    while !b.is_empty() {
        // SAFETY: b is a live slice.
        match unsafe { syscall!(Sysno::write, fd, b.as_ptr(), b.len()) } {
            Ok(0) => return Err(Errno::EIO),
            Ok(n) => b = &b[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub fn read(fd: i32, b: &mut [u8]) -> Res<usize> {
    loop {
        // SAFETY: b is a live, writable slice.
        match unsafe { syscall!(Sysno::read, fd, b.as_mut_ptr(), b.len()) } {
            Err(Errno::EINTR) => {}
            r => return r,
        }
    }
}

/// open(2) read-only, close-on-exec, of a NUL-terminated path.
pub fn open_ro(path: &CPath) -> Res<Fd> {
    // SAFETY: path is NUL-terminated.
    let fd = unsafe { syscall!(Sysno::openat, AT_FDCWD, path.ptr(), O_RDONLY | O_CLOEXEC) }?;
    Ok(Fd(fd as i32))
}

/// An fd closed when dropped.
pub struct Fd(pub i32);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own the fd.
        let _ = unsafe { syscall!(Sysno::close, self.0) };
    }
}

/// What bd-inject needs of stat(2), through statx (one layout on every
/// architecture).
pub struct Stat {
    pub mode: u32,
    pub size: u64,
}

const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;

impl Stat {
    pub fn is_file(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }
}

fn statx(dirfd: i32, path: *const u8, flags: usize) -> Res<Stat> {
    const STATX_TYPE_MODE_SIZE: usize = 0x1 | 0x2 | 0x200;
    let mut buf = [0u64; 32]; // struct statx is 256 bytes
                              // SAFETY: buf is large enough for struct statx; path is NUL-terminated.
    unsafe {
        syscall!(
            Sysno::statx,
            dirfd,
            path,
            flags,
            STATX_TYPE_MODE_SIZE,
            buf.as_mut_ptr()
        )
    }?;
    // stx_mode is the u16 at byte 28, stx_size the u64 at byte 40.
    let mode = ((buf[3] >> 32) & 0xffff) as u32;
    Ok(Stat { mode, size: buf[5] })
}

/// stat(2), following symlinks.
pub fn stat(path: &CPath) -> Res<Stat> {
    statx(AT_FDCWD, path.ptr(), 0)
}

/// fstat(2).
pub fn fstat(fd: i32) -> Res<Stat> {
    const AT_EMPTY_PATH: usize = 0x1000;
    statx(fd, c"".as_ptr().cast(), AT_EMPTY_PATH)
}

pub fn getpid() -> u32 {
    // SAFETY: no arguments.
    unsafe { syscall!(Sysno::getpid) }.unwrap_or(0) as u32
}

pub fn exit(code: u8) -> ! {
    // SAFETY: ends the process.
    let _ = unsafe { syscall!(Sysno::exit_group, code as usize) };
    loop {
        core::hint::spin_loop();
    }
}

// ---------------------------------------------------------------- buffers

/// Overwrites `b` with zeros in a way the optimiser may not drop. Not the
/// zeroize crate: the workspace enables its `alloc` feature (feature
/// unification), and that makes any binary linking it need an allocator.
fn wipe(b: &mut [u8]) {
    for x in b.iter_mut() {
        // SAFETY: a valid, exclusive reference.
        unsafe { core::ptr::write_volatile(x, 0) };
    }
    core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
}

/// A zeroed buffer of fixed capacity (from the arena or its own mmap),
/// wiped when dropped: no allocator, and no copy of a secret left behind by
/// a reallocation.
pub struct Buf {
    ptr: *mut u8,
    cap: usize,
    len: usize,
    /// Its own mapping (else a piece of the arena).
    mapped: bool,
}

/// Small buffers (paths, the environment, most secrets) come from here, a
/// bump arena in .bss that is never reused: an mmap and munmap each cost
/// two system calls, a dozen of them a sizeable part of bd-inject's run.
#[repr(C, align(4096))]
struct Arena([u8; ARENA]);
const ARENA: usize = 1 << 16;
static mut ARENA_MEM: Arena = Arena([0; ARENA]);
static mut ARENA_USED: usize = 0;

impl Buf {
    pub fn new(cap: usize) -> Res<Buf> {
        const PROT_RW: usize = 0x1 | 0x2;
        const MAP_PRIVATE_ANON: usize = 0x02 | 0x20;
        let cap = cap.max(1);
        // SAFETY: single-threaded; each piece is handed out once, zeroed
        // (.bss, never reused), and exclusively owned by its Buf.
        unsafe {
            let used = core::ptr::addr_of!(ARENA_USED).read();
            let size = cap.next_multiple_of(16);
            if size <= ARENA - used {
                core::ptr::addr_of_mut!(ARENA_USED).write(used + size);
                let base = core::ptr::addr_of_mut!(ARENA_MEM) as *mut u8;
                return Ok(Buf {
                    ptr: base.add(used),
                    cap,
                    len: 0,
                    mapped: false,
                });
            }
        }
        // SAFETY: a fresh anonymous mapping; nothing else refers to it.
        let p = unsafe {
            syscall!(
                Sysno::mmap,
                0usize,
                cap,
                PROT_RW,
                MAP_PRIVATE_ANON,
                usize::MAX,
                0usize
            )
        }?;
        Ok(Buf {
            ptr: p as *mut u8,
            cap,
            len: 0,
            mapped: true,
        })
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: ptr..ptr+len is mapped and initialised (mmap zeroes).
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The whole capacity, for reading into; `set_len` then says how much.
    pub fn spare(&mut self) -> &mut [u8] {
        // SAFETY: ptr..ptr+cap is mapped, zeroed, and exclusively ours.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.add(self.len), self.cap - self.len) }
    }

    pub fn set_len(&mut self, n: usize) {
        self.len = n.min(self.cap);
    }

    pub fn truncate(&mut self, n: usize) {
        if n < self.len {
            let old = self.len;
            // SAFETY: as in spare(); wipes what is cut off.
            wipe(unsafe { core::slice::from_raw_parts_mut(self.ptr.add(n), old - n) });
            self.len = n;
        }
    }

    /// Appends as much of `b` as fits; false when something did not.
    pub fn push(&mut self, b: &[u8]) -> bool {
        let n = b.len().min(self.cap - self.len);
        self.spare()[..n].copy_from_slice(&b[..n]);
        self.len += n;
        n == b.len()
    }

    pub fn as_ptr(&self) -> *const u8 {
        self.ptr
    }

    /// Best effort: a small RLIMIT_MEMLOCK must not stop the injection; the
    /// copy is gone with the address space when CMD starts either way.
    pub fn lock(&self) {
        // SAFETY: the range is our mapping.
        if let Err(e) = unsafe { syscall!(Sysno::mlock, self.ptr, self.cap) } {
            eprint(format_args!(
                "bd-inject: warning: mlock of the secret buffer failed: {} (raise RLIMIT_MEMLOCK)\n",
                OsErr(e)
            ));
        }
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        // SAFETY: the whole mapping, ours; unmapped right after.
        wipe(unsafe { core::slice::from_raw_parts_mut(self.ptr, self.cap) });
        if self.mapped {
            // SAFETY: as above.
            let _ = unsafe { syscall!(Sysno::munmap, self.ptr, self.cap) };
        }
    }
}

impl fmt::Write for Buf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.push(s.as_bytes()) {
            Ok(())
        } else {
            Err(fmt::Error)
        }
    }
}

/// A NUL-terminated path in a [`Buf`].
pub struct CPath(Buf);

impl CPath {
    /// `parts` concatenated and NUL-terminated; None if it holds a NUL.
    pub fn new(parts: &[&[u8]]) -> Res<Option<CPath>> {
        let n: usize = parts.iter().map(|p| p.len()).sum();
        let mut b = Buf::new(n + 1)?;
        for p in parts {
            if p.contains(&0) {
                return Ok(None);
            }
            b.push(p);
        }
        b.push(b"\0");
        Ok(Some(CPath(b)))
    }

    /// Formatted (short: a /proc path), NUL-terminated; None if it holds a
    /// NUL or is longer than 63 bytes.
    pub fn format(args: fmt::Arguments<'_>) -> Res<Option<CPath>> {
        let mut b = Buf::new(64)?;
        if b.write_fmt(args).is_err() || b.as_slice().contains(&0) || !b.push(b"\0") {
            return Ok(None);
        }
        Ok(Some(CPath(b)))
    }

    pub fn ptr(&self) -> *const u8 {
        self.0.as_ptr()
    }

    /// Without the NUL.
    pub fn bytes(&self) -> &[u8] {
        let s = self.0.as_slice();
        &s[..s.len() - 1]
    }
}

// ---------------------------------------------------------------- messages

/// Formats into a fixed buffer (longer messages are cut) and writes once.
struct Line {
    buf: [u8; 8192],
    len: usize,
}

impl Line {
    fn new() -> Line {
        Line {
            buf: [0; 8192],
            len: 0,
        }
    }
}

impl fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

pub fn eprint(args: fmt::Arguments<'_>) {
    let mut l = Line::new();
    let _ = l.write_fmt(args);
    let _ = write_all(2, &l.buf[..l.len]);
}

/// Bytes shown as `Path::display` shows them: invalid UTF-8 as U+FFFD.
pub struct Lossy<'a>(pub &'a [u8]);

impl fmt::Display for Lossy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_str("\u{FFFD}")?;
            }
        }
        Ok(())
    }
}

/// An errno as std's io::Error shows it: "message (os error N)".
pub struct OsErr(pub Errno);

/// glibc's strerror wording for the errors bd-inject can meet.
pub fn describe(e: Errno) -> Option<&'static str> {
    Some(match e {
        Errno::EPERM => "Operation not permitted",
        Errno::ENOENT => "No such file or directory",
        Errno::ESRCH => "No such process",
        Errno::EINTR => "Interrupted system call",
        Errno::EIO => "Input/output error",
        Errno::ENXIO => "No such device or address",
        Errno::E2BIG => "Argument list too long",
        Errno::ENOEXEC => "Exec format error",
        Errno::EBADF => "Bad file descriptor",
        Errno::EAGAIN => "Resource temporarily unavailable",
        Errno::ENOMEM => "Cannot allocate memory",
        Errno::EACCES => "Permission denied",
        Errno::EFAULT => "Bad address",
        Errno::EBUSY => "Device or resource busy",
        Errno::EEXIST => "File exists",
        Errno::ENODEV => "No such device",
        Errno::ENOTDIR => "Not a directory",
        Errno::EISDIR => "Is a directory",
        Errno::EINVAL => "Invalid argument",
        Errno::ENFILE => "Too many open files in system",
        Errno::EMFILE => "Too many open files",
        Errno::ENOTTY => "Inappropriate ioctl for device",
        Errno::ETXTBSY => "Text file busy",
        Errno::EFBIG => "File too large",
        Errno::ENOSPC => "No space left on device",
        Errno::EROFS => "Read-only file system",
        Errno::ENAMETOOLONG => "File name too long",
        Errno::ENOSYS => "Function not implemented",
        Errno::ELOOP => "Too many levels of symbolic links",
        Errno::EOVERFLOW => "Value too large for defined data type",
        Errno::ELIBBAD => "Accessing a corrupted shared library",
        Errno::EOPNOTSUPP => "Operation not supported",
        _ => return None,
    })
}

impl fmt::Display for OsErr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.into_raw();
        match describe(self.0) {
            Some(d) => write!(f, "{d} (os error {n})"),
            None => write!(f, "Unknown error {n} (os error {n})"),
        }
    }
}

/// An errno as nix shows it: "ENAME: message".
pub struct NixErr(pub Errno);

impl fmt::Display for NixErr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.0.name().unwrap_or("UnknownErrno");
        write!(f, "{name}: {}", describe(self.0).unwrap_or("Unknown errno"))
    }
}
