//! File locking and the append-only attribute.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// An flock(2) held on the log until dropped. flock, not fcntl locks:
/// fcntl locks are per process and vanish when any fd of the file closes.
/// Holds the fd number, not a borrow, so the holder can keep writing through
/// its `File`; the guard must not outlive that `File`.
pub struct Lock(RawFd);

impl Lock {
    pub fn exclusive(f: &File) -> io::Result<Self> {
        Self::take(f, libc::LOCK_EX)
    }

    pub fn shared(f: &File) -> io::Result<Self> {
        Self::take(f, libc::LOCK_SH)
    }

    fn take(f: &File, op: libc::c_int) -> io::Result<Self> {
        loop {
            // SAFETY: flock on a valid fd owned by `f`.
            if unsafe { libc::flock(f.as_raw_fd(), op) } == 0 {
                return Ok(Lock(f.as_raw_fd()));
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // SAFETY: unlocking our own fd; failure leaves it to close(2).
        unsafe { libc::flock(self.0, libc::LOCK_UN) };
    }
}

const FS_APPEND_FL: libc::c_long = 0x0000_0020;

fn get_flags(f: &File) -> io::Result<libc::c_long> {
    let mut flags: libc::c_long = 0;
    // SAFETY: FS_IOC_GETFLAGS writes at most a long into `flags`.
    if unsafe { libc::ioctl(f.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // The kernel writes an int: keep only those bits.
    Ok(flags & 0xffff_ffff)
}

fn set_flags(f: &File, flags: libc::c_long) -> io::Result<()> {
    // SAFETY: FS_IOC_SETFLAGS reads an int-sized value from `flags`.
    if unsafe { libc::ioctl(f.as_raw_fd(), libc::FS_IOC_SETFLAGS, &flags) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether the file carries the append-only attribute (chattr +a).
pub fn is_append_only(f: &File) -> io::Result<bool> {
    Ok(get_flags(f)? & FS_APPEND_FL != 0)
}

/// Sets or clears the append-only attribute; returns whether it changed.
pub fn set_append_only(f: &File, on: bool) -> io::Result<bool> {
    let flags = get_flags(f)?;
    let want = if on {
        flags | FS_APPEND_FL
    } else {
        flags & !FS_APPEND_FL
    };
    if want == flags {
        return Ok(false);
    }
    set_flags(f, want)?;
    Ok(true)
}

/// What a non-regular file is, for the refusal message.
fn kind(t: std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    }
}

/// Opens a log (or anything a command reads to the end) only if it is a
/// regular file. A FIFO would block open(2) or read(2) forever, and a device
/// never ends: refused before open, and again on the open fd (O_NONBLOCK, so
/// a FIFO swapped in between cannot block the open either).
pub fn open_regular(opts: &mut OpenOptions, path: &Path) -> io::Result<File> {
    let refuse = |t| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: refusing to use it as a log", kind(t)),
        )
    };
    if let Ok(m) = std::fs::metadata(path) {
        if !m.file_type().is_file() {
            return Err(refuse(m.file_type()));
        }
    }
    let f = opts
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    let t = f.metadata()?.file_type();
    if !t.is_file() {
        return Err(refuse(t));
    }
    Ok(f)
}

/// `open_regular` for reading.
pub fn open_read(path: &Path) -> io::Result<File> {
    open_regular(OpenOptions::new().read(true), path)
}
