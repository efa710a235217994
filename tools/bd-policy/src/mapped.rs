//! Standard input that is a large regular file, read through a shared
//! read-only mapping of its page cache instead of copied by read(2): the
//! copy was a sixth of bd-policy's system time in a bulk run (issue 12).
//!
//! A mapping has one hazard read(2) has not: if the file shrinks while it
//! is mapped (truncate, hole punch on a filesystem that unmaps), touching a
//! page past the new end raises SIGBUS, which would kill the process. So
//! while a mapping is live a SIGBUS handler is installed: a fault inside
//! our mapping gets a zero-filled page put in its place and is recorded;
//! any other SIGBUS restores the default action and re-faults (the usual
//! crash). The caller checks [`Mapped::shrunk`] after each line and drops
//! the line being decided when it is set: zero bytes are never judged as if
//! they were input, and every decision already made came from bytes read
//! before the file shrank.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Smaller inputs are read as before: a mapping costs a few system calls
/// and page-table work that only pays off over many pages.
pub const MIN_MAP: u64 = 4 << 20;

/// Decided input is given back in steps of this size at least.
const RELEASE_EVERY: usize = 1 << 20;

/// The live mapping's address range, for the handler ([0, 0): none).
static LO: AtomicUsize = AtomicUsize::new(0);
static HI: AtomicUsize = AtomicUsize::new(0);
/// Lowest address a SIGBUS in the mapping was seen at (usize::MAX: none).
static FAULT_AT: AtomicUsize = AtomicUsize::new(usize::MAX);
static SHRUNK: AtomicBool = AtomicBool::new(false);
/// The page size, for the handler (which calls nothing but mmap).
static PAGE: AtomicUsize = AtomicUsize::new(4096);

/// A read-only mapping of standard input from its current offset to the end
/// the file had when it was mapped.
pub struct Mapped {
    ptr: *mut libc::c_void,
    /// Length of the mapping (from `off` rounded down to a page).
    map_len: usize,
    /// Offset of the input's first unread byte within the mapping.
    skip: usize,
    /// Bytes of input in the mapping (from the first unread byte).
    pub len: usize,
    /// File offset of the first unread byte.
    pub off: u64,
    fd: libc::c_int,
    /// Bytes at the start of the mapping already given back (see
    /// [`Mapped::release_before`]).
    released: std::cell::Cell<usize>,
}

impl Mapped {
    /// Map `fd` if it is a regular file with at least [`MIN_MAP`] bytes left
    /// to read; `None` (read it with read(2)) otherwise, or when any step of
    /// setting the mapping up fails.
    pub fn new(fd: BorrowedFd) -> Option<Mapped> {
        let raw = fd.as_raw_fd();
        // SAFETY: fstat and lseek on a descriptor we borrow, writing only
        // into `st`, which is a plain C struct and zeroed first.
        let (st, off) = unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstat(raw, &mut st) != 0 {
                return None;
            }
            (st, libc::lseek(raw, 0, libc::SEEK_CUR))
        };
        if st.st_mode & libc::S_IFMT != libc::S_IFREG || off < 0 || st.st_size <= off {
            return None;
        }
        let (off, size) = (off as u64, st.st_size as u64);
        if size - off < MIN_MAP || usize::try_from(size).is_err() {
            return None;
        }
        // SAFETY: sysconf has no memory effects.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let page = if page > 0 { page as u64 } else { 4096 };
        PAGE.store(page as usize, Ordering::SeqCst);
        let base = off - off % page;
        let map_len = (size - base) as usize;
        install_handler()?;
        // SAFETY: a new read-only shared mapping of the file at an address
        // the kernel picks: nothing else refers to that range. The handler
        // above is in place before any byte of it can be touched.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                raw,
                base as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return None;
        }
        // SAFETY: advice on the range just mapped; failure is harmless.
        unsafe { libc::madvise(ptr, map_len, libc::MADV_SEQUENTIAL) };
        SHRUNK.store(false, Ordering::SeqCst);
        FAULT_AT.store(usize::MAX, Ordering::SeqCst);
        LO.store(ptr as usize, Ordering::SeqCst);
        HI.store(ptr as usize + map_len, Ordering::SeqCst);
        Some(Mapped {
            ptr,
            map_len,
            skip: (off - base) as usize,
            len: (size - off) as usize,
            off,
            fd: raw,
            released: std::cell::Cell::new(0),
        })
    }

    /// The mapped input.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: [ptr, ptr + map_len) is our live read-only mapping and
        // skip + len == map_len. Pages the file loses while mapped read as
        // zeros (the handler maps a zero page over them) rather than fault,
        // and the caller learns of it through `shrunk`.
        unsafe { std::slice::from_raw_parts((self.ptr as *const u8).add(self.skip), self.len) }
    }

    /// Give back the pages wholly before input byte `upto` (already
    /// decided): without it, every page of the file read so far would
    /// stay mapped, and counted in the resident size, until the end.
    /// Unmapping them costs the same whenever it is done.
    pub fn release_before(&self, upto: usize) {
        let page = PAGE.load(Ordering::Relaxed);
        let end = (self.skip + upto.min(self.len)) / page * page;
        let from = self.released.get();
        if end < from + RELEASE_EVERY {
            return;
        }
        // SAFETY: [from, end) lies in our mapping and nothing reads it
        // again (input is read forward only); a shared file mapping
        // refaults from the page cache should it be touched.
        unsafe {
            libc::madvise(
                (self.ptr as *mut u8).add(from).cast(),
                end - from,
                libc::MADV_DONTNEED,
            )
        };
        self.released.set(end);
    }

    /// Whether some page of the mapping was found missing (the file shrank)
    /// since it was mapped: the bytes read since then may be zeros that
    /// were never input.
    #[inline(always)]
    pub fn shrunk(&self) -> bool {
        SHRUNK.load(Ordering::SeqCst)
    }

    /// Offset in the input (from its first unread byte) of the first
    /// missing page seen, when [`Mapped::shrunk`].
    pub fn shrunk_at(&self) -> usize {
        FAULT_AT
            .load(Ordering::SeqCst)
            .saturating_sub(self.ptr as usize + self.skip)
    }
}

impl Mapped {
    /// Unmap, and leave the file offset just after the first `consumed`
    /// bytes of the mapped input, for read(2) to go on from there.
    pub fn finish(self, consumed: usize) -> std::io::Result<()> {
        let to = self.off + consumed as u64;
        let fd = self.fd;
        drop(self);
        // SAFETY: lseek on the descriptor the mapping was made from.
        if unsafe { libc::lseek(fd, to as libc::off_t, libc::SEEK_SET) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        LO.store(0, Ordering::SeqCst);
        HI.store(0, Ordering::SeqCst);
        // SAFETY: our mapping, no longer referenced: `bytes` borrows self.
        unsafe { libc::munmap(self.ptr, self.map_len) };
    }
}

/// Install [`on_sigbus`] for SIGBUS. `None` if the kernel refuses.
fn install_handler() -> Option<()> {
    // SAFETY: a sigaction struct zeroed then filled; the handler only does
    // async-signal-safe work (atomics, mmap, sigaction).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigbus as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut sa.sa_mask);
        (libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut()) == 0).then_some(())
    }
}

extern "C" fn on_sigbus(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler;
    // si_addr is the faulting address for SIGBUS. The mmap replaces one page
    // of our own mapping (checked against LO..HI) with a zero page.
    unsafe {
        let addr = (*info).si_addr() as usize;
        let (lo, hi) = (LO.load(Ordering::SeqCst), HI.load(Ordering::SeqCst));
        if addr >= lo && addr < hi {
            let page = PAGE.load(Ordering::SeqCst);
            let at = addr - addr % page;
            let p = libc::mmap(
                at as *mut libc::c_void,
                page,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            );
            if p != libc::MAP_FAILED {
                FAULT_AT.fetch_min(addr, Ordering::SeqCst);
                SHRUNK.store(true, Ordering::SeqCst);
                return;
            }
        }
        // Not ours (or no page could be put in): the default action, on
        // the re-executed access.
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut());
    }
}
