//! The trace file: which one (`PATH`, or `PATH.PID`), opening it, its header, and every
//! write to it. Before each write the descriptor is checked to still be the file opened
//! (same device and inode): a program that closed it and got the number back for a file of
//! its own must never find trace bytes in that file. Any failure is one warning on stderr
//! and the end of tracing (docs/TRACE.md, "Which file").

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

use super::format::{self, HEADER_BYTES};
use crate::diag::Line;

/// The longest path accepted, as the kernel's PATH_MAX (its terminating null included).
const PATH_MAX: usize = 4096;
/// Room for ".PID" and the terminating null after a path.
const SUFFIX_ROOM: usize = 16;

/// The path as given (`len` bytes), then, while a `.PID` file is in use, its suffix
/// (`file_len` bytes in all) and a null. Written only while no other thread can read it
/// (at start, before tracing is on; in a fork child's set-up, under its lock, while the
/// state says no thread may write).
struct PathBuf {
    bytes: UnsafeCell<[u8; PATH_MAX + SUFFIX_ROOM]>,
    len: UnsafeCell<usize>,
    file_len: UnsafeCell<usize>,
}

// SAFETY: written only as said on the type, read otherwise.
unsafe impl Sync for PathBuf {}

static PATH: PathBuf = PathBuf {
    bytes: UnsafeCell::new([0; PATH_MAX + SUFFIX_ROOM]),
    len: UnsafeCell::new(0),
    file_len: UnsafeCell::new(0),
};

/// The trace's descriptor (-1: none) and the identity of the file it was opened on.
static FD: AtomicI32 = AtomicI32::new(-1);
static DEV: AtomicU64 = AtomicU64::new(0);
static INO: AtomicU64 = AtomicU64::new(0);
/// Set by the first failure: there is one warning, whatever the number of threads failing.
static FAILED: AtomicBool = AtomicBool::new(false);

/// The file's path as used now (null-terminated in the buffer, the null not included).
fn file_path() -> &'static [u8] {
    // SAFETY: see `PathBuf`: no writer runs while a path is read.
    unsafe { &(&*PATH.bytes.get())[..*PATH.file_len.get()] }
}

/// Keeps a copy of `path` (the value of BESTBUDDY_TRACE). False, having warned, when it
/// is empty or too long.
///
/// # Safety
/// No other thread uses this module's path (start-up, before tracing is on).
pub unsafe fn set_path(path: &[u8]) -> bool {
    if path.is_empty() || path.len() >= PATH_MAX || path.contains(&0) {
        warn(path, "unusable path");
        return false;
    }
    // SAFETY: forwarded from the caller.
    unsafe {
        (&mut *PATH.bytes.get())[..path.len()].copy_from_slice(path);
        *PATH.len.get() = path.len();
    }
    true
}

/// Opens the file this process writes and writes its header: `PATH`, or `PATH.PID` in a
/// fork child and when `PATH` holds the trace of a process still alive. False, having
/// warned, on failure.
///
/// # Safety
/// As for `set_path`, or the caller is a fork child's set-up (no thread writes meanwhile).
pub unsafe fn open(heap: u8, child: bool, start: u64) -> bool {
    // SAFETY: getpid and getppid cannot fail.
    let (pid, ppid) = unsafe { (libc::getpid() as u32, libc::getppid() as u32) };
    // SAFETY: forwarded from the caller.
    unsafe {
        let len = *PATH.len.get();
        *PATH.file_len.get() = len;
        if child || held_by_live_process() {
            add_pid_suffix(pid);
        }
    }
    let path = file_path();
    // A pipe, FIFO or terminal would block the program in its first malloc (a FIFO with no
    // reader blocks the open) and splits writes above PIPE_BUF between threads, so chunks
    // would not stay whole: only a regular file (or a new one) is traced into.
    if exists_as_other_than_file(path) {
        fail(NOT_A_FILE);
        return false;
    }
    // SAFETY: the path is null-terminated in its buffer (`add_pid_suffix` or `set_path`
    // left zeros after it: the buffer is zeroed and only grows).
    let fd = unsafe {
        libc::open(
            path.as_ptr().cast(),
            libc::O_WRONLY
                | libc::O_CREAT
                | libc::O_TRUNC
                | libc::O_APPEND
                | libc::O_CLOEXEC
                | libc::O_NONBLOCK,
            0o666,
        )
    };
    if fd < 0 {
        fail_with_errno();
        return false;
    }
    if !is_regular(fd) {
        // SAFETY: opened above, never shown to anyone.
        unsafe { libc::close(fd) };
        fail(NOT_A_FILE);
        return false;
    }
    let Some((dev, ino)) = identity(fd) else {
        fail_with_errno();
        return false;
    };
    DEV.store(dev, Ordering::Relaxed);
    INO.store(ino, Ordering::Relaxed);
    FD.store(fd, Ordering::Release);
    FAILED.store(false, Ordering::Relaxed);
    let flags = if child { format::FLAG_FORK_CHILD } else { 0 };
    write(&[&format::file_header(heap, flags, pid, ppid, start)])
}

/// Does `PATH` hold the trace of a process still alive (a parent that exec'd this
/// program, or one running beside it)? Then this process writes `PATH.PID`.
fn held_by_live_process() -> bool {
    let path = file_path();
    // SAFETY: the path is null-terminated in its buffer. Non-blocking: a FIFO's open and a
    // pipe's or terminal's read would wait (such paths are refused afterwards).
    let fd = unsafe {
        libc::open(
            path.as_ptr().cast(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK,
        )
    };
    if fd < 0 {
        return false;
    }
    if !is_regular(fd) {
        // SAFETY: fd was opened above.
        unsafe { libc::close(fd) };
        return false;
    }
    let mut header = [0u8; HEADER_BYTES];
    // SAFETY: reads at most the header's size into it.
    let got = unsafe { libc::read(fd, header.as_mut_ptr().cast(), HEADER_BYTES) };
    // SAFETY: fd was opened above.
    unsafe { libc::close(fd) };
    if got != HEADER_BYTES as isize {
        return false;
    }
    match format::header_pid(&header) {
        // SAFETY: signal 0 only asks whether the process exists.
        Some(pid) if pid != 0 => unsafe {
            libc::kill(pid as libc::pid_t, 0) == 0 || *libc::__errno_location() == libc::EPERM
        },
        _ => false,
    }
}

/// Appends `.PID` to the path in use.
///
/// # Safety
/// As for `open`.
unsafe fn add_pid_suffix(pid: u32) {
    let mut digits = Line::new();
    digits.str(".").dec(pid as usize);
    // SAFETY: forwarded from the caller; the buffer has SUFFIX_ROOM bytes past any path,
    // and the byte after the suffix is zeroed for the terminator.
    unsafe {
        let len = *PATH.len.get();
        let suffix = digits.as_bytes();
        let buf = &mut *PATH.bytes.get();
        buf[len..len + suffix.len()].copy_from_slice(suffix);
        buf[len + suffix.len()] = 0;
        *PATH.file_len.get() = len + suffix.len();
    }
}

/// The device and inode of the file open on `fd`.
fn identity(fd: i32) -> Option<(u64, u64)> {
    // SAFETY: stat is plain data that fstat fills.
    unsafe {
        let mut st: libc::stat = core::mem::zeroed();
        if libc::fstat(fd, &mut st) != 0 {
            return None;
        }
        Some((st.st_dev, st.st_ino))
    }
}

/// The warning for a path that names something other than a regular file.
const NOT_A_FILE: &str = "not a regular file (a pipe, FIFO or terminal would block the program or split its chunks)";

/// Is `fd` open on a regular file?
fn is_regular(fd: i32) -> bool {
    // SAFETY: stat is plain data that fstat fills.
    unsafe {
        let mut st: libc::stat = core::mem::zeroed();
        libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFREG
    }
}

/// Does `path` (null-terminated) name something that exists and is not a regular file?
fn exists_as_other_than_file(path: &[u8]) -> bool {
    // SAFETY: stat is plain data that stat fills; the path is null-terminated.
    unsafe {
        let mut st: libc::stat = core::mem::zeroed();
        libc::stat(path.as_ptr().cast(), &mut st) == 0 && st.st_mode & libc::S_IFMT != libc::S_IFREG
    }
}

/// Is the trace's descriptor still open on the file it was opened on?
fn still_ours(fd: i32) -> bool {
    identity(fd) == Some((DEV.load(Ordering::Relaxed), INO.load(Ordering::Relaxed)))
}

/// Writes `parts` as one write(2) (a chunk: header and payload; with O_APPEND, chunks of
/// different threads never mix). False, having warned and stopped tracing, on failure.
pub fn write(parts: &[&[u8]]) -> bool {
    let fd = FD.load(Ordering::Acquire);
    if fd < 0 || FAILED.load(Ordering::Relaxed) {
        return false;
    }
    if !still_ours(fd) {
        fail("the program closed or replaced the trace's file descriptor");
        return false;
    }
    let mut iov = [libc::iovec {
        iov_base: core::ptr::null_mut(),
        iov_len: 0,
    }; 2];
    let mut total = 0;
    for (slot, part) in iov.iter_mut().zip(parts) {
        slot.iov_base = part.as_ptr() as *mut libc::c_void;
        slot.iov_len = part.len();
        total += part.len();
    }
    let count = parts.len().min(iov.len()) as i32;
    loop {
        // SAFETY: each iovec names a live slice of the caller's.
        let written = unsafe { libc::writev(fd, iov.as_ptr(), count) };
        if written == total as isize {
            return true;
        }
        if written < 0 && crate::os::errno() == libc::EINTR {
            continue;
        }
        if written < 0 {
            fail_with_errno();
        } else {
            // A regular file takes all or reports why not; a part means a full disk.
            fail("short write (disk full?)");
        }
        return false;
    }
}

/// Closes the inherited descriptor in a fork child, if it is still the parent's trace
/// (the program may have closed it and opened something else on the same number).
pub fn close_inherited() {
    let fd = FD.swap(-1, Ordering::AcqRel);
    if fd >= 0 && still_ours(fd) {
        // SAFETY: the descriptor is this library's, on the file it opened.
        unsafe { libc::close(fd) };
    }
}

/// Warns once, naming the file and the errno's reason, and stops tracing.
fn fail_with_errno() {
    fail(reason(crate::os::errno()));
}

/// Warns once and stops tracing. The descriptor stays open: another thread may be about
/// to write to it, and closing it would let the program's next file take its number.
fn fail(why: &str) {
    super::stop();
    if !FAILED.swap(true, Ordering::AcqRel) {
        warn(file_path(), why);
    }
}

fn warn(path: &[u8], why: &str) {
    let mut line = Line::new();
    line.str("bestbuddy: BESTBUDDY_TRACE: ")
        .bytes(path)
        .str(": ")
        .str(why)
        .str("; tracing stopped\n");
    line.write_to(2);
}

/// What strerror says for the errors a trace file meets (no locale, no allocation).
fn reason(errno: i32) -> &'static str {
    match errno {
        libc::ENOENT => "No such file or directory",
        libc::EACCES => "Permission denied",
        libc::EPERM => "Operation not permitted",
        libc::ENOTDIR => "Not a directory",
        libc::EISDIR => "Is a directory",
        libc::EROFS => "Read-only file system",
        libc::ENOSPC => "No space left on device",
        libc::EDQUOT => "Disk quota exceeded",
        libc::EFBIG => "File too large",
        libc::ENAMETOOLONG => "File name too long",
        libc::ELOOP => "Too many levels of symbolic links",
        libc::EMFILE => "Too many open files",
        libc::ENFILE => "Too many open files in system",
        libc::EBADF => "Bad file descriptor",
        libc::EIO => "Input/output error",
        libc::EPIPE => "Broken pipe",
        libc::ETXTBSY => "Text file busy",
        libc::ENXIO => "No such device or address",
        _ => "I/O error",
    }
}
