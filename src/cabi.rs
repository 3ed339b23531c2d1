//! The C semantics of the malloc family, as glibc 2.36 defines them: errno, overflow,
//! zero sizes, alignment rules. Every exported symbol is a one-line forwarder to a function
//! here; nothing below this file knows about errno. Each call is also recorded here when
//! `BESTBUDDY_TRACE` is set (`trace/`): the traced paths are cold functions. malloc's and
//! free's fast paths ask nothing about the trace: while it is on, every thread's cache is
//! parked (`tcache.rs`), so they miss into the slow paths, which record. Each entry point
//! counts its calls
//! here (`counters.rs`), but malloc's and free's fast paths, which the cache counts.
//!
//! Here, too, memcheck learns of each block the program gets and gives back, with the
//! sizes the program named, and the allocator's work runs with memcheck's reports off
//! (`valgrind.rs`, feature `valgrind`; in the default build those calls are empty).

use core::ffi::c_void;

use crate::counters::Counter;
use crate::global;
use crate::heap::MIN_ALIGN;
use crate::os::{self, PAGE};
use crate::trace::{self, Kind};
use crate::valgrind;

/// glibc >= 2.30 refuses sizes above PTRDIFF_MAX, so pointer differences stay defined.
const PTRDIFF_MAX: usize = isize::MAX as usize;

#[inline]
fn enomem() -> *mut c_void {
    os::set_errno(libc::ENOMEM);
    core::ptr::null_mut()
}

/// Runs `f`, the allocator's work for a call that hands the program a block of `size` bytes
/// (or null), quietly, then announces the block to memcheck (`zeroed`: calloc's). Without
/// feature `valgrind`, just `f()`.
#[inline(always)]
fn allocating(size: usize, zeroed: bool, f: impl FnOnce() -> *mut c_void) -> *mut c_void {
    let p = valgrind::quietly(f);
    valgrind::malloclike(p, size, zeroed);
    p
}

/// The cache's sizes are all far below PTRDIFF_MAX, so the size is only checked on a miss,
/// which is a tail call: the fast path sets up no stack frame. A traced call always misses
/// (its thread's cache is parked) and is recorded in `malloc_missed`.
#[inline]
pub fn malloc(size: usize) -> *mut c_void {
    allocating(size, false, || {
        let p = global::alloc_cached(size);
        if !p.is_null() {
            return p.cast();
        }
        malloc_missed(size)
    })
}

#[inline(never)]
fn malloc_missed(size: usize) -> *mut c_void {
    // The fast path leaves requests of a few bytes to this one (`Heap::fast_bin`), which
    // tries the cache again with the class computed in full before anything slower.
    let p = global::alloc_cached_by_class(size);
    if !p.is_null() {
        return p.cast();
    }
    if trace::on() {
        return malloc_traced(size);
    }
    global::count(Counter::MallocMissed);
    let p = malloc_slow(size);
    // Asked after the call: the first call's initialisation may have started the trace.
    if trace::on() {
        return traced1(size, p, Kind::Malloc);
    }
    p
}

/// A traced malloc: from the parked cache when it has a block (the short path, which the
/// most calls take), else through the slow path.
#[cold]
#[inline(never)]
fn malloc_traced(size: usize) -> *mut c_void {
    let p = global::alloc_parked(size);
    if !p.is_null() {
        trace::record_cached(size, p as usize);
        return p.cast();
    }
    global::count(Counter::MallocMissed);
    let p = malloc_slow(size);
    trace::record(Kind::Malloc, 0, &[size], p as usize);
    p
}

/// An allocation for another entry point (realloc of null, memalign with a small
/// alignment): as malloc, but recorded and counted as the call the program made.
fn allocate(size: usize) -> *mut c_void {
    if size > PTRDIFF_MAX {
        return enomem();
    }
    let p = global::alloc(size, MIN_ALIGN);
    if p.is_null() { enomem() } else { p.cast() }
}

fn malloc_slow(size: usize) -> *mut c_void {
    if size > PTRDIFF_MAX {
        return enomem();
    }
    let p = global::alloc_slow(size, MIN_ALIGN);
    if p.is_null() { enomem() } else { p.cast() }
}

/// Records an allocating call of one number after it returned `result`, which it passes
/// on. Scalars only, and a result the optimiser cannot see through (`black_box`: knowing
/// that the function returns its argument, it would keep the argument in a saved register
/// across a call), so that the callers' fast paths tail-call it without a stack frame.
#[cold]
#[inline(never)]
fn traced1(arg: usize, result: *mut c_void, kind: Kind) -> *mut c_void {
    trace::record(kind, 0, &[arg], result as usize);
    core::hint::black_box(result)
}

/// As `traced1`, for a call of two numbers.
#[cold]
#[inline(never)]
fn traced2(a: usize, b: usize, result: *mut c_void, kind: Kind) -> *mut c_void {
    trace::record(kind, 0, &[a, b], result as usize);
    core::hint::black_box(result)
}

/// free preserves errno (glibc >= 2.33); `global::free` sees to it on the paths that make
/// system calls.
///
/// # Safety
/// `p` is null or a pointer the program got from this allocator (anything else that lies in
/// the allocator's memory is diagnosed; elsewhere it may fault, as with any malloc).
///
/// The fast path is the cache's (which declines null, and every pointer while calls are
/// traced); the rest, null included, is a tail call.
///
/// Memcheck hears of the free first: a block it never saw announced (or saw freed) is its
/// "Invalid free()", before the allocator's own diagnosis stops the program.
#[inline]
pub unsafe fn free(p: *mut c_void) {
    valgrind::freelike(p);
    valgrind::quietly(|| {
        // SAFETY: forwarded from the caller.
        if unsafe { global::free_cached(p.cast()) } {
            return;
        }
        // SAFETY: forwarded from the caller.
        unsafe { free_missed(p) }
    })
}

/// # Safety
/// As for `free`.
#[inline(never)]
unsafe fn free_missed(p: *mut c_void) {
    if trace::on() {
        // SAFETY: forwarded from the caller.
        return unsafe { free_traced(p) };
    }
    if p.is_null() {
        global::count(Counter::FreeNull);
        return;
    }
    // SAFETY: forwarded from the caller.
    unsafe { global::free_slow(p.cast(), "free") };
}

/// free, recorded before it releases anything (docs/TRACE.md, "Timestamps"), so that a
/// misuse that aborts the process is recorded too.
///
/// # Safety
/// As for `free`.
#[cold]
#[inline(never)]
unsafe fn free_traced(p: *mut c_void) {
    trace::record_free(p as usize);
    if p.is_null() {
        global::count(Counter::FreeNull);
        return;
    }
    // The parked cache first, as the untraced fast path would.
    // SAFETY: forwarded from the caller.
    if !unsafe { global::free_parked(p.cast()) } {
        // SAFETY: forwarded from the caller.
        unsafe { global::free_slow(p.cast(), "free") };
    }
}

pub fn calloc(count: usize, size: usize) -> *mut c_void {
    // A product that overflows gives null, which memcheck is not told about.
    allocating(count.wrapping_mul(size), true, || {
        global::count(Counter::Calloc);
        let p = calloc_untraced(count, size);
        if trace::on() {
            return traced2(count, size, p, Kind::Calloc);
        }
        p
    })
}

fn calloc_untraced(count: usize, size: usize) -> *mut c_void {
    let Some(total) = count.checked_mul(size) else {
        return enomem();
    };
    if total > PTRDIFF_MAX {
        return enomem();
    }
    let p = global::alloc_zeroed(total);
    if p.is_null() { enomem() } else { p.cast() }
}

/// realloc(NULL, n) is malloc(n); realloc(p, 0) frees p and returns NULL (glibc); a failed
/// realloc leaves the block as it was.
///
/// # Safety
/// `p` is null or a pointer the program got from this allocator (anything else that lies in
/// the allocator's memory is diagnosed; elsewhere it may fault, as with any malloc).
pub unsafe fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    // Under valgrind every resize goes through `resizing`, which tells memcheck.
    // SAFETY: forwarded from the caller.
    if !cfg!(feature = "valgrind") && unsafe { global::realloc_stays(p.cast(), size) } {
        return p;
    }
    // SAFETY: forwarded from the caller.
    unsafe {
        resizing(p, Some(size), || {
            global::count(Counter::Realloc);
            if trace::on() {
                return realloc_traced(Kind::Realloc, p, &[size], Some(size));
            }
            let q = realloc_untraced(p, size);
            // Only realloc(NULL, n) can be the first call, whose initialisation starts the
            // trace.
            if trace::on() {
                trace::record(Kind::Realloc, p as usize, &[size], q as usize);
            }
            q
        })
    }
}

/// Runs `f`, the allocator's work for realloc or reallocarray of `p` to `total` bytes
/// (None: the size overflowed), quietly, and tells memcheck what it did: a new block
/// (`p` null), a free (`total` 0), a resize in place; a block that moves is announced by
/// `global::realloc`, which copies it (the copy then carries memcheck's knowledge of which
/// bytes the program wrote). Without feature `valgrind`, just `f()`.
///
/// # Safety
/// As for `realloc`.
#[inline(always)]
unsafe fn resizing(
    p: *mut c_void,
    total: Option<usize>,
    f: impl FnOnce() -> *mut c_void,
) -> *mut c_void {
    #[cfg(feature = "valgrind")]
    match total {
        Some(total) if p.is_null() => return allocating(total, false, f),
        Some(0) => valgrind::freelike(p),
        Some(total) if total <= PTRDIFF_MAX => {
            // The size memcheck knows the block by: a resize in place needs it.
            let old = valgrind::quietly(|| {
                // SAFETY: forwarded from the caller; misuse aborts with realloc's name, as
                // the call below would.
                let usable = unsafe { global::usable_size(p.cast(), "realloc") };
                valgrind::accessible_len(p, usable)
            });
            let q = valgrind::quietly(f);
            if q == p {
                valgrind::resized_in_place(p, old, total);
            }
            return q;
        }
        // Fails: p is left as it was.
        _ => {}
    }
    #[cfg(not(feature = "valgrind"))]
    let _ = (p, total);
    valgrind::quietly(f)
}

/// # Safety
/// As for `realloc`.
unsafe fn realloc_untraced(p: *mut c_void, size: usize) -> *mut c_void {
    if p.is_null() {
        return allocate(size);
    }
    if size == 0 {
        global::count(Counter::FreesByRealloc);
        // Misuse found here is reported as realloc's, the call the program made.
        // SAFETY: forwarded from the caller.
        unsafe { global::free(p.cast(), "realloc") };
        return core::ptr::null_mut();
    }
    if size > PTRDIFF_MAX {
        // Still validate the pointer: a bad one is reported, not silently ignored.
        // SAFETY: forwarded from the caller.
        unsafe { global::usable_size(p.cast(), "realloc") };
        return enomem();
    }
    // SAFETY: forwarded from the caller.
    let q = unsafe { global::realloc(p.cast(), size) };
    if q.is_null() { enomem() } else { q.cast() }
}

/// A traced realloc or reallocarray of `p` to `total` bytes (None: the size overflowed),
/// `args` its numbers. The record's time is where docs/TRACE.md puts it: before a free
/// (size 0), between the new block and the old one's release (a move: `global::realloc`
/// stamps it), after the call otherwise.
///
/// # Safety
/// As for `realloc`.
#[cold]
#[inline(never)]
unsafe fn realloc_traced(
    kind: Kind,
    p: *mut c_void,
    args: &[usize],
    total: Option<usize>,
) -> *mut c_void {
    trace::before_call();
    let Some(total) = total else {
        let q = enomem();
        trace::record(kind, p as usize, args, 0);
        return q;
    };
    if !p.is_null() && total == 0 {
        trace::record(kind, p as usize, args, 0);
        // SAFETY: forwarded from the caller.
        return unsafe { realloc_untraced(p, 0) };
    }
    trace::clear_stamp();
    // SAFETY: forwarded from the caller.
    let q = unsafe { realloc_untraced(p, total) };
    trace::record_at(kind, p as usize, args, q as usize, trace::take_stamp());
    q
}

/// # Safety
/// As for `realloc`.
pub unsafe fn reallocarray(p: *mut c_void, count: usize, size: usize) -> *mut c_void {
    let total = count.checked_mul(size);
    // SAFETY: forwarded from the caller.
    unsafe {
        resizing(p, total, || {
            global::count(Counter::Reallocarray);
            if trace::on() {
                return realloc_traced(Kind::ReallocArray, p, &[count, size], total);
            }
            let q = match total {
                Some(total) => realloc_untraced(p, total),
                None => enomem(),
            };
            if trace::on() {
                trace::record(Kind::ReallocArray, p as usize, &[count, size], q as usize);
            }
            q
        })
    }
}

/// memalign as glibc 2.36 does it: alignments up to 16 are plain malloc, an alignment that is
/// not a power of two is rounded up to one, one above SIZE_MAX / 2 + 1 is EINVAL.
pub fn memalign(align: usize, size: usize) -> *mut c_void {
    allocating(size, false, || {
        global::count(Counter::Memalign);
        aligned(Kind::Memalign, align, size)
    })
}

/// memalign's work, recorded as `kind` with the alignment asked for.
fn aligned(kind: Kind, align: usize, size: usize) -> *mut c_void {
    let p = memalign_untraced(align, size);
    if trace::on() {
        return traced2(align, size, p, kind);
    }
    p
}

fn memalign_untraced(align: usize, size: usize) -> *mut c_void {
    if align <= MIN_ALIGN {
        return allocate(size);
    }
    if align > usize::MAX / 2 + 1 {
        os::set_errno(libc::EINVAL);
        return core::ptr::null_mut();
    }
    let align = align.next_power_of_two();
    // The block must fit in the address space together with its alignment slack.
    if align > PTRDIFF_MAX || size > PTRDIFF_MAX - align {
        return enomem();
    }
    let p = global::alloc(size, align);
    if p.is_null() { enomem() } else { p.cast() }
}

/// glibc 2.36's aligned_alloc is memalign (2.38 made it stricter).
pub fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    allocating(size, false, || {
        global::count(Counter::AlignedAlloc);
        aligned(Kind::AlignedAlloc, align, size)
    })
}

/// Returns 0, EINVAL or ENOMEM, and writes `*out` only on success. As glibc 2.36 does, an
/// ENOMEM is also left in errno (code written for glibc checks it); EINVAL is not.
///
/// # Safety
/// `out` must be valid for a pointer-sized write.
pub unsafe fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> i32 {
    let mut code = 0;
    // The write to `out` is the program's memory: outside, where memcheck checks it.
    let p = allocating(size, false, || {
        global::count(Counter::PosixMemalign);
        let p;
        (code, p) = posix_memalign_untraced(align, size);
        if trace::on() {
            let args = [align, size, code as usize];
            trace::record(Kind::PosixMemalign, 0, &args, p as usize);
        }
        p
    });
    if code == 0 {
        // SAFETY: the caller passes a valid out-pointer, as posix_memalign requires.
        unsafe { *out = p };
    }
    code
}

/// posix_memalign's code, and its block when the code is 0 (else null).
fn posix_memalign_untraced(align: usize, size: usize) -> (i32, *mut c_void) {
    if !align.is_power_of_two() || !align.is_multiple_of(core::mem::size_of::<*mut c_void>()) {
        return (libc::EINVAL, core::ptr::null_mut());
    }
    let p = memalign_untraced(align, size);
    if p.is_null() {
        return (libc::ENOMEM, p);
    }
    (0, p)
}

pub fn valloc(size: usize) -> *mut c_void {
    allocating(size, false, || {
        global::count(Counter::Valloc);
        let p = memalign_untraced(PAGE, size);
        if trace::on() {
            return traced1(size, p, Kind::Valloc);
        }
        p
    })
}

/// The block is the whole pages the size rounds up to: all of them are the program's.
pub fn pvalloc(size: usize) -> *mut c_void {
    let rounded = os::align_up(size, PAGE);
    allocating(rounded.unwrap_or(0), false, || {
        global::count(Counter::Pvalloc);
        let p = match rounded {
            Some(rounded) => memalign_untraced(PAGE, rounded),
            None => enomem(),
        };
        if trace::on() {
            return traced1(size, p, Kind::Pvalloc);
        }
        p
    })
}

/// # Safety
/// As for `free`.
///
/// Under valgrind, the size the block was asked with, as memcheck's own malloc_usable_size
/// says: the bytes past it are no-access to the program there (`valgrind.rs`).
pub unsafe fn malloc_usable_size(p: *mut c_void) -> usize {
    // Under valgrind the size is the one memcheck knows (`accessible_len`), found below.
    if !cfg!(feature = "valgrind") {
        // SAFETY: forwarded from the caller.
        if let Some(usable) = unsafe { global::usable_size_fast(p.cast()) } {
            return usable;
        }
    }
    valgrind::quietly(|| {
        global::count(Counter::UsableSize);
        if p.is_null() {
            return 0;
        }
        // SAFETY: forwarded from the caller.
        let usable = unsafe { global::usable_size(p.cast(), "malloc_usable_size") };
        valgrind::accessible_len(p, usable)
    })
}
