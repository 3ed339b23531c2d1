//! The allocator for Rust programs: `BestBuddy`, a `GlobalAlloc`, and `stats()`. The Rust
//! counterpart of `exports.rs`, in the same layer: each method forwards to the C semantics
//! in `cabi.rs`, so a Rust program's calls take the same fast paths, are counted per entry
//! point (`stats()`) and recorded under `BESTBUDDY_TRACE` as a C program's are.
//!
//! Which C call each method is: `alloc` is malloc (alignment up to 16, which every block has)
//! or memalign (the global layer's aligned allocation); `alloc_zeroed` calloc (the global
//! zeroed path, which knows a fresh mapping is zero already) or memalign and a fill;
//! `realloc` realloc up to 16, above it a new aligned block, a copy and a free: realloc
//! keeps only the 16-byte alignment. A failure returns null, as `GlobalAlloc` wants; errno
//! is then ENOMEM, as with Rust's `System` allocator, which calls malloc.
//!
//! Nothing here allocates or panics: `GlobalAlloc` must not unwind, and a panic would
//! allocate.

use core::alloc::{GlobalAlloc, Layout};

use crate::cabi;
use crate::heap::MIN_ALIGN;
use crate::introspect::{self, BestbuddyStats};

/// bestbuddy as Rust's global allocator.
///
/// ```
/// use bestbuddy::BestBuddy;
///
/// #[global_allocator]
/// static GLOBAL: BestBuddy = BestBuddy;
///
/// fn main() {
///     // A page-aligned buffer, from the global layer's aligned path.
///     let layout = std::alloc::Layout::from_size_align(10_000, 4096).unwrap();
///     // SAFETY: the layout's size is not zero; the block is freed with the same layout.
///     unsafe {
///         let p = std::alloc::alloc_zeroed(layout);
///         assert!(!p.is_null() && p as usize % 4096 == 0);
///         assert_eq!(*p.add(9_999), 0);
///         std::alloc::dealloc(p, layout);
///     }
/// }
/// ```
///
/// The heap serving it is the crate's feature: `bestfit` (the default) or `buddy`. One
/// process has one bestbuddy allocator: every `BestBuddy` value (the type has no state)
/// shares the heaps, the thread caches and the statistics, which [`stats`] reads. The
/// environment variables of the C library apply (`BESTBUDDY_OPTIONS`, `BESTBUDDY_STATS`,
/// `BESTBUDDY_TRACE`), read at the first allocation.
///
/// Misuse that the allocator detects (a block freed twice, a pointer it never handed out,
/// damaged metadata) aborts the program with one line on stderr, as in C.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BestBuddy;

// SAFETY: every block comes from the process allocator of `global`, aligned as the layout
// asks (malloc's blocks to 16, memalign's to the alignment) and at least the layout's size;
// it stays valid until it is freed, and nothing here unwinds.
unsafe impl GlobalAlloc for BestBuddy {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= MIN_ALIGN {
            cabi::malloc(layout.size()).cast()
        } else {
            cabi::memalign(layout.align(), layout.size()).cast()
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // The allocator knows each block's size: the layout is not needed.
        // SAFETY: `GlobalAlloc` says ptr is a live block of this allocator.
        unsafe { cabi::free(ptr.cast()) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= MIN_ALIGN {
            // calloc's product of 1 and a Layout's size (at most isize::MAX) cannot overflow.
            return cabi::calloc(1, layout.size()).cast();
        }
        let p: *mut u8 = cabi::memalign(layout.align(), layout.size()).cast();
        if !p.is_null() {
            // SAFETY: p is a fresh block of at least layout.size() bytes.
            unsafe { core::ptr::write_bytes(p, 0, layout.size()) };
        }
        p
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= MIN_ALIGN {
            // `GlobalAlloc` rules out a new size of 0, which realloc would take for a free
            // (and return null, which the caller would take for a failure): never pass it.
            // SAFETY: ptr is a live block of this allocator (`GlobalAlloc`'s contract).
            return unsafe { cabi::realloc(ptr.cast(), new_size.max(1)) }.cast();
        }
        // SAFETY: the contract of `GlobalAlloc::realloc` says new_size, rounded up to the
        // alignment, does not overflow isize, and the alignment is the old layout's (valid).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: new_layout is a valid layout (above); its size may be 0 only through a
        // broken contract, and memalign serves 0 bytes anyway.
        let q = unsafe { self.alloc(new_layout) };
        if !q.is_null() {
            // SAFETY: ptr holds layout.size() bytes and q new_size; they are distinct live
            // blocks. ptr is then freed, as the contract allows once the call succeeds.
            unsafe {
                core::ptr::copy_nonoverlapping(ptr, q, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        // On failure the old block is untouched and still the caller's.
        q
    }
}

/// The allocator's statistics now: live blocks and bytes, the heaps' mapped, used and free
/// memory, the thread caches, large mappings, calls per entry point (a Rust program's
/// allocations count as the C calls `BestBuddy` makes: `calls_malloc` for `alloc`,
/// `calls_memalign` above 16-byte alignment, `calls_calloc` for `alloc_zeroed`,
/// `calls_realloc`, `calls_free`), and the process's RSS. The same figures as the C function
/// `bestbuddy_stats_get` and the table `BESTBUDDY_STATS=1` prints at exit.
///
/// It allocates nothing, takes each arena's lock in turn, and may be called from any thread,
/// whether or not `BestBuddy` is the global allocator (the allocator's figures are zero
/// until its first allocation).
///
/// ```
/// # #[global_allocator]
/// # static GLOBAL: bestbuddy::BestBuddy = bestbuddy::BestBuddy;
/// # fn main() {
/// let before = bestbuddy::stats();
/// let v: Vec<u64> = (0..100_000).collect();
/// let after = bestbuddy::stats();
/// assert!(after.heap_in_use + after.large_bytes > 0);
/// assert!(after.calls_malloc + after.calls_realloc > before.calls_malloc + before.calls_realloc);
/// # drop(v);
/// # }
/// ```
pub fn stats() -> BestbuddyStats {
    introspect::stats()
}
