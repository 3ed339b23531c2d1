//! The exported C symbols: one-line forwarders to the C semantics in `cabi.rs` and
//! `introspect.rs`. This is every public name of glibc's malloc.o (so a static link never
//! pulls glibc's malloc in beside ours), the `__libc_*` aliases, reallocarray, cfree, and
//! the bestbuddy_* API that cbindgen writes into include/bestbuddy.h.

use core::ffi::{c_char, c_int, c_void};

use crate::cabi;
use crate::introspect::{self, BestbuddyStats, Mallinfo, Mallinfo2};

#[unsafe(no_mangle)]
pub extern "C" fn malloc(size: usize) -> *mut c_void {
    cabi::malloc(size)
}

/// # Safety
/// `ptr` is null or a block of this allocator (see `cabi`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free(ptr: *mut c_void) {
    // SAFETY: forwarded from the caller.
    unsafe { cabi::free(ptr) }
}

#[unsafe(no_mangle)]
pub extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
    cabi::calloc(count, size)
}

/// # Safety
/// `ptr` is null or a block of this allocator (see `cabi`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: forwarded from the caller.
    unsafe { cabi::realloc(ptr, size) }
}

/// # Safety
/// `ptr` is null or a block of this allocator (see `cabi`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reallocarray(ptr: *mut c_void, count: usize, size: usize) -> *mut c_void {
    // SAFETY: forwarded from the caller.
    unsafe { cabi::reallocarray(ptr, count, size) }
}

/// # Safety
/// `out` must be valid for a pointer-sized write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    // SAFETY: forwarded from the caller.
    unsafe { cabi::posix_memalign(out, align, size) }
}

#[unsafe(no_mangle)]
pub extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    cabi::aligned_alloc(align, size)
}

#[unsafe(no_mangle)]
pub extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    cabi::memalign(align, size)
}

#[unsafe(no_mangle)]
pub extern "C" fn valloc(size: usize) -> *mut c_void {
    cabi::valloc(size)
}

#[unsafe(no_mangle)]
pub extern "C" fn pvalloc(size: usize) -> *mut c_void {
    cabi::pvalloc(size)
}

/// # Safety
/// `ptr` is null or a block of this allocator (see `cabi`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn malloc_usable_size(ptr: *mut c_void) -> usize {
    // SAFETY: forwarded from the caller.
    unsafe { cabi::malloc_usable_size(ptr) }
}

/// # Safety
/// `ptr` is null or a block of this allocator (see `cabi`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cfree(ptr: *mut c_void) {
    // SAFETY: forwarded from the caller.
    unsafe { cabi::free(ptr) }
}

#[unsafe(no_mangle)]
pub extern "C" fn __libc_malloc(size: usize) -> *mut c_void {
    cabi::malloc(size)
}

/// # Safety
/// `ptr` is null or a block of this allocator (see `cabi`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __libc_free(ptr: *mut c_void) {
    // SAFETY: forwarded from the caller.
    unsafe { cabi::free(ptr) }
}

#[unsafe(no_mangle)]
pub extern "C" fn __libc_calloc(count: usize, size: usize) -> *mut c_void {
    cabi::calloc(count, size)
}

/// # Safety
/// `ptr` is null or a block of this allocator (see `cabi`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __libc_realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: forwarded from the caller.
    unsafe { cabi::realloc(ptr, size) }
}

#[unsafe(no_mangle)]
pub extern "C" fn __libc_memalign(align: usize, size: usize) -> *mut c_void {
    cabi::memalign(align, size)
}

#[unsafe(no_mangle)]
pub extern "C" fn mallopt(param: c_int, value: c_int) -> c_int {
    introspect::mallopt(param, value)
}

#[unsafe(no_mangle)]
pub extern "C" fn mallinfo() -> Mallinfo {
    introspect::mallinfo()
}

#[unsafe(no_mangle)]
pub extern "C" fn mallinfo2() -> Mallinfo2 {
    introspect::mallinfo2()
}

#[unsafe(no_mangle)]
pub extern "C" fn malloc_stats() {
    introspect::malloc_stats()
}

/// # Safety
/// `stream` must be a valid `FILE *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn malloc_info(options: c_int, stream: *mut libc::FILE) -> c_int {
    // SAFETY: forwarded from the caller's contract.
    unsafe { introspect::malloc_info(options, stream) }
}

#[unsafe(no_mangle)]
pub extern "C" fn malloc_trim(pad: usize) -> c_int {
    introspect::malloc_trim(pad)
}

/// The heap policy serving every allocation of this process: "best-fit" or "buddy".
///
/// The string is static and must not be freed. The policy is chosen when the library is
/// built (cargo feature `bestfit`, the default, or `buddy`).
#[unsafe(no_mangle)]
pub extern "C" fn bestbuddy_backend() -> *const c_char {
    match crate::global::BACKEND {
        "buddy" => c"buddy".as_ptr(),
        _ => c"best-fit".as_ptr(),
    }
}

/// Fills `*out` with the allocator's statistics: live blocks and bytes, heap and large
/// mappings with their peaks, free bytes, the largest free block, fragmentation, calls per
/// entry point, thread-cache hits and misses, bytes returned to the OS, resident memory.
///
/// Pass `sizeof(struct bestbuddy_stats)` as `size`: the library fills that many bytes, so a
/// program built against an older header (a shorter struct) keeps working. Returns 0, or -1
/// with errno set to EINVAL when `out` is NULL or `size` is too small for one field.
/// Reading takes each arena's lock in turn; it does not allocate.
///
/// # Safety
/// `out` is NULL or valid for writing `size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bestbuddy_stats_get(out: *mut BestbuddyStats, size: usize) -> c_int {
    // SAFETY: forwarded from the caller.
    unsafe { introspect::stats_get(out, size) }
}
