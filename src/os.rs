//! OS primitives: the only file that maps, unmaps or advises memory.
//!
//! Contract for every function here: addresses and lengths are multiples of [`PAGE`],
//! lengths are non-zero, and a failure is reported as `None`/`false`, never by panicking.
//! None of them allocates, so they are safe to call with any allocator lock held.

use core::ptr::{self, NonNull};

use crate::valgrind;

/// The page size on x86_64 Linux. The library targets only that platform (see README).
pub const PAGE: usize = 4096;

/// Rounds `n` up to a multiple of `align` (a power of two); `None` on overflow.
#[inline]
pub const fn align_up(n: usize, align: usize) -> Option<usize> {
    match n.checked_add(align - 1) {
        Some(v) => Some(v & !(align - 1)),
        None => None,
    }
}

/// Maps `len` bytes of fresh, zeroed, read-write anonymous memory.
pub fn map(len: usize) -> Option<NonNull<u8>> {
    // SAFETY: an anonymous private mapping at an address of the kernel's choice touches no
    // existing memory.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        None
    } else {
        NonNull::new(p.cast())
    }
}

/// Maps `len` bytes whose start is aligned to `align` (a power of two >= PAGE), by mapping
/// `len + align - PAGE` bytes and unmapping the unaligned head and the surplus tail.
///
/// This maps the heap regions and the large blocks: under valgrind (feature `valgrind`)
/// the memory starts no-access to the program, which owns only the blocks announced to
/// memcheck (`valgrind.rs`).
pub fn map_aligned(len: usize, align: usize) -> Option<NonNull<u8>> {
    let span = len.checked_add(align - PAGE)?;
    let raw = map(span)?.as_ptr() as usize;
    let start = align_up(raw, align)?;
    let head = start - raw;
    let tail = span - head - len;
    // SAFETY: both ranges lie inside the mapping just made and are page-aligned.
    unsafe {
        if head != 0 {
            unmap(raw as *mut u8, head);
        }
        if tail != 0 {
            unmap((start + len) as *mut u8, tail);
        }
    }
    valgrind::no_access(start as *mut u8, len);
    NonNull::new(start as *mut u8)
}

/// Unmaps `[ptr, ptr + len)`.
///
/// # Safety
/// The range must be memory this library mapped and nothing may use it afterwards.
pub unsafe fn unmap(ptr: *mut u8, len: usize) {
    // SAFETY: the caller owns the range. munmap only fails for invalid arguments, which
    // would be a bug here; there is nothing better to do than leak the range.
    unsafe { libc::munmap(ptr.cast(), len) };
}

/// Gives the physical pages of `[ptr, ptr + len)` back to the OS; the range stays mapped and
/// reads as zeros afterwards.
///
/// # Safety
/// The range must be mapped by this library and hold no live data.
pub unsafe fn decommit(ptr: *mut u8, len: usize) -> bool {
    // SAFETY: the caller guarantees the range holds nothing anyone will read.
    unsafe { libc::madvise(ptr.cast(), len, libc::MADV_DONTNEED) == 0 }
}

/// Gives back the whole pages strictly inside `[start, end)`, leaving the partial pages at
/// either end alone; the bytes given back (0 when there is no whole page, or on failure).
///
/// # Safety
/// As for [`decommit`], for those pages.
pub unsafe fn decommit_pages_inside(start: usize, end: usize) -> usize {
    let Some(first) = align_up(start, PAGE) else {
        return 0;
    };
    let last = end & !(PAGE - 1);
    if last <= first {
        return 0;
    }
    // SAFETY: forwarded from the caller.
    if unsafe { decommit(first as *mut u8, last - first) } { last - first } else { 0 }
}

/// Tries to grow or shrink the mapping at `ptr` from `old_len` to `new_len` without moving
/// it; on failure, the errno mremap gave, as a value: the thread's errno is left as it was
/// (a realloc that then succeeds another way must not report the attempt).
///
/// # Safety
/// `[ptr, ptr + old_len)` must be a mapping made by this library.
pub unsafe fn remap_in_place(ptr: *mut u8, old_len: usize, new_len: usize) -> Result<(), i32> {
    keeping_errno(|| {
        // SAFETY: without MREMAP_MAYMOVE the mapping stays where it is or nothing changes.
        let r = unsafe { libc::mremap(ptr.cast(), old_len, new_len, 0) };
        if r == libc::MAP_FAILED {
            Err(errno())
        } else {
            // A grown tail is the allocator's, as what `map_aligned` maps.
            if new_len > old_len {
                valgrind::no_access(ptr.wrapping_add(old_len), new_len - old_len);
            }
            Ok(())
        }
    })
}

/// Moves the mapping `[from, from + old_len)` to `to`, grown to `new_len` bytes: its pages
/// (resident or not) move with it, without copying or faulting, and the bytes past
/// `old_len` read as zeros. Whatever was mapped at `[to, to + new_len)` is replaced; the old
/// range is unmapped. On failure errno is left as it was.
///
/// # Safety
/// Both ranges are mappings made by this library that nobody else uses; nothing may use the
/// old range afterwards.
pub unsafe fn remap_to(from: *mut u8, old_len: usize, to: *mut u8, new_len: usize) -> bool {
    keeping_errno(|| {
        // SAFETY: with MREMAP_FIXED the kernel only touches the two ranges named, both ours.
        let r = unsafe {
            libc::mremap(
                from.cast(),
                old_len,
                new_len,
                libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                to,
            )
        };
        if r == libc::MAP_FAILED {
            return false;
        }
        // The moved pages keep what memcheck knew of them; the grown tail is the
        // allocator's, as what `map_aligned` maps.
        if new_len > old_len {
            valgrind::no_access(to.wrapping_add(old_len), new_len - old_len);
        }
        true
    })
}

/// Milliseconds of `CLOCK_MONOTONIC_COARSE` (the vDSO's: no system call, the last tick's
/// time), for delays that need no precision.
pub fn coarse_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec; CLOCK_MONOTONIC_COARSE exists on every
    // kernel this library runs on (2.6.32 on); on failure the zeroed time is read.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// Runs `f` and leaves the thread's errno as it was before: for system calls whose failure
/// the allocator handles itself, so that a call that succeeds does not report it.
#[inline]
pub fn keeping_errno<T>(f: impl FnOnce() -> T) -> T {
    let saved = errno();
    let result = f();
    set_errno(saved);
    result
}

/// The calling thread's errno.
#[inline]
pub fn errno() -> i32 {
    // SAFETY: __errno_location always returns the calling thread's valid errno slot.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's errno.
#[inline]
pub fn set_errno(value: i32) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = value };
}

/// The process's resident bytes now (the second field of /proc/self/statm, in pages) and the
/// most there have been (getrusage's ru_maxrss, in KiB); 0 for what cannot be read. Leaves
/// errno as it was.
pub fn resident_bytes() -> (usize, usize) {
    keeping_errno(|| {
        let mut buf = [0u8; 128];
        // SAFETY: a NUL-terminated path; read writes at most the buffer's length; the
        // descriptor is closed before returning.
        let len = unsafe {
            let fd = libc::open(
                c"/proc/self/statm".as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            );
            if fd < 0 {
                0
            } else {
                let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
                libc::close(fd);
                n.max(0) as usize
            }
        };
        let resident_pages = buf[..len].split(|&b| b == b' ').nth(1).map_or(0, |field| {
            field
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .fold(0usize, |n, &d| {
                    n.saturating_mul(10).saturating_add((d - b'0') as usize)
                })
        });
        // SAFETY: rusage is plain data that getrusage fills.
        let peak_kib = unsafe {
            let mut usage: libc::rusage = core::mem::zeroed();
            if libc::getrusage(libc::RUSAGE_SELF, &mut usage) == 0 {
                usage.ru_maxrss.max(0) as usize
            } else {
                0
            }
        };
        // The kernel updates the peak lazily: never report it below the figure now.
        let resident = resident_pages * PAGE;
        (resident, (peak_kib * 1024).max(resident))
    })
}

/// Defines `$get() -> usize` and `$set(usize)` for the initial-exec thread-local word
/// `$symbol` of csrc/tls.c: its offset from the thread pointer comes from the GOT, then one
/// %fs-relative load or store (stable Rust cannot choose a thread-local's TLS model; C can).
macro_rules! tls_word {
    ($(#[$doc:meta])* $get:ident, $set:ident, $symbol:literal) => {
        $(#[$doc])*
        #[inline(always)]
        fn $get() -> usize {
            let value: usize;
            // SAFETY: reads the calling thread's own TLS word; touches nothing else.
            unsafe {
                core::arch::asm!(
                    concat!("mov {v}, qword ptr [rip + ", $symbol, "@GOTTPOFF]"),
                    "mov {v}, qword ptr fs:[{v}]",
                    v = out(reg) value,
                    options(nostack, readonly, preserves_flags),
                );
            }
            value
        }

        /// Writes the thread-local word that the getter beside it reads.
        #[inline]
        fn $set(value: usize) {
            // SAFETY: writes the calling thread's own TLS word; touches nothing else.
            unsafe {
                core::arch::asm!(
                    concat!("mov {off}, qword ptr [rip + ", $symbol, "@GOTTPOFF]"),
                    "mov qword ptr fs:[{off}], {v}",
                    off = out(reg) _,
                    v = in(reg) value,
                    options(nostack, preserves_flags),
                );
            }
        }
    };
}
pub(crate) use tls_word;
