//! The C semantics of the malloc family, as glibc 2.36 defines them: errno, overflow,
//! zero sizes, alignment rules. Every exported symbol is a one-line forwarder to a function
//! here; nothing below this file knows about errno. Each entry point counts its calls here
//! (`counters.rs`), but malloc's and free's fast paths, which the cache counts.

use core::ffi::c_void;

use crate::counters::Counter;
use crate::global;
use crate::heap::MIN_ALIGN;
use crate::os::{self, PAGE};

/// glibc >= 2.30 refuses sizes above PTRDIFF_MAX, so pointer differences stay defined.
const PTRDIFF_MAX: usize = isize::MAX as usize;

#[inline]
fn enomem() -> *mut c_void {
    os::set_errno(libc::ENOMEM);
    core::ptr::null_mut()
}

/// The cache's sizes are all far below PTRDIFF_MAX, so the size is only checked on a miss,
/// which is a tail call: the fast path sets up no stack frame.
#[inline]
pub fn malloc(size: usize) -> *mut c_void {
    let p = global::alloc_cached(size);
    if !p.is_null() {
        return p.cast();
    }
    malloc_missed(size)
}

#[inline(never)]
fn malloc_missed(size: usize) -> *mut c_void {
    global::count(Counter::MallocMissed);
    if size > PTRDIFF_MAX {
        return enomem();
    }
    let p = global::alloc_slow(size, MIN_ALIGN);
    if p.is_null() { enomem() } else { p.cast() }
}

/// free preserves errno (glibc >= 2.33); `global::free` sees to it on the paths that make
/// system calls.
///
/// # Safety
/// `p` is null or a pointer the program got from this allocator (anything else that lies in
/// the allocator's memory is diagnosed; elsewhere it may fault, as with any malloc).
#[inline]
pub unsafe fn free(p: *mut c_void) {
    if p.is_null() {
        global::count(Counter::FreeNull);
        return;
    }
    // SAFETY: forwarded from the caller.
    unsafe { global::free(p.cast(), "free") };
}

pub fn calloc(count: usize, size: usize) -> *mut c_void {
    global::count(Counter::Calloc);
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
    global::count(Counter::Realloc);
    // SAFETY: forwarded from the caller.
    unsafe { realloc_uncounted(p, size) }
}

/// # Safety
/// As for `realloc`.
unsafe fn realloc_uncounted(p: *mut c_void, size: usize) -> *mut c_void {
    if p.is_null() {
        return allocate(size, MIN_ALIGN);
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

/// # Safety
/// As for `realloc`.
pub unsafe fn reallocarray(p: *mut c_void, count: usize, size: usize) -> *mut c_void {
    global::count(Counter::Reallocarray);
    match count.checked_mul(size) {
        // SAFETY: forwarded from the caller.
        Some(total) => unsafe { realloc_uncounted(p, total) },
        None => enomem(),
    }
}

/// memalign as glibc 2.36 does it: alignments up to 16 are plain malloc, an alignment that is
/// not a power of two is rounded up to one, one above SIZE_MAX / 2 + 1 is EINVAL.
pub fn memalign(align: usize, size: usize) -> *mut c_void {
    global::count(Counter::Memalign);
    memalign_uncounted(align, size)
}

/// An allocation for an entry point other than malloc: as malloc, but counted apart from it.
fn allocate(size: usize, align: usize) -> *mut c_void {
    if size > PTRDIFF_MAX {
        return enomem();
    }
    let p = global::alloc(size, align);
    if p.is_null() { enomem() } else { p.cast() }
}

fn memalign_uncounted(align: usize, size: usize) -> *mut c_void {
    if align <= MIN_ALIGN {
        return allocate(size, MIN_ALIGN);
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
    global::count(Counter::AlignedAlloc);
    memalign_uncounted(align, size)
}

/// Returns 0, EINVAL or ENOMEM, and writes `*out` only on success. As glibc 2.36 does, an
/// ENOMEM is also left in errno (code written for glibc checks it); EINVAL is not.
///
/// # Safety
/// `out` must be valid for a pointer-sized write.
pub unsafe fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> i32 {
    global::count(Counter::PosixMemalign);
    if !align.is_power_of_two() || !align.is_multiple_of(core::mem::size_of::<*mut c_void>()) {
        return libc::EINVAL;
    }
    let p = memalign_uncounted(align, size);
    if p.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: the caller passes a valid out-pointer, as posix_memalign requires.
    unsafe { *out = p };
    0
}

pub fn valloc(size: usize) -> *mut c_void {
    global::count(Counter::Valloc);
    memalign_uncounted(PAGE, size)
}

pub fn pvalloc(size: usize) -> *mut c_void {
    global::count(Counter::Pvalloc);
    match os::align_up(size, PAGE) {
        Some(rounded) => memalign_uncounted(PAGE, rounded),
        None => enomem(),
    }
}

/// # Safety
/// As for `free`.
pub unsafe fn malloc_usable_size(p: *mut c_void) -> usize {
    global::count(Counter::UsableSize);
    if p.is_null() {
        return 0;
    }
    // SAFETY: forwarded from the caller.
    unsafe { global::usable_size(p.cast(), "malloc_usable_size") }
}
