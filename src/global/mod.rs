//! The one process-wide allocator: the thread caches in front of the arenas (heaps of the
//! active policy, each behind its lock) and the large-block path. Below the C layer
//! (`cabi.rs`, `introspect.rs`), above the caches and heaps. This file holds the paths of
//! every call: where a request is served and who owns a pointer; `init.rs` the lazy set-up
//! and thread exit, `fork.rs` the fork handlers, `settings.rs` mallopt, trim, statistics.
//!
//! Which heap serves the program is fixed when the library is built: feature `bestfit`
//! (the default) or `buddy`. Enabling both selects buddy, so that `--features buddy` works
//! with or without `--no-default-features`; enabling neither is a compile error (lib.rs).

mod fork;
mod init;
mod settings;

pub(crate) use init::ensure_init;
pub use init::{at_exit, init_at_load, stats_at_exit};
pub use settings::*;

use core::ptr;
use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use crate::arena::Arenas;
use crate::chunkmap::{self, Owner};
use crate::counters::Counter;
use crate::diag;
use crate::freed;
use crate::heap::{FIRST_CLASS_BIN, Heap, MIN_ALIGN, Misuse};
use crate::large;
use crate::os;
use crate::tcache;
use crate::trace;
use crate::valgrind;
use init::count_call_for_check;

#[cfg(feature = "buddy")]
pub type ActiveHeap = crate::buddy::BuddyHeap;
#[cfg(all(feature = "bestfit", not(feature = "buddy")))]
pub type ActiveHeap = crate::bestfit::BestFitHeap;

static ARENAS: Arenas<ActiveHeap> = Arenas::new();

/// Requests above this many bytes get a mapping of their own (mallopt M_MMAP_THRESHOLD).
/// Invariant: never above `ActiveHeap::MAX_REQUEST`.
static MMAP_THRESHOLD: AtomicUsize =
    AtomicUsize::new(crate::heap::default_mmap_threshold::<ActiveHeap>());

/// mallopt M_PERTURB: when non-zero, new blocks are filled with `!perturb` and freed ones
/// with `perturb` (glibc's semantics).
static PERTURB: AtomicU8 = AtomicU8::new(0);

/// The name of the heap serving this process.
pub const BACKEND: &str = ActiveHeap::NAME;

#[inline]
fn serves_in_heap(size: usize, align: usize) -> bool {
    size <= MMAP_THRESHOLD.load(Ordering::Relaxed) && align <= ActiveHeap::MAX_ALIGN
        || over_mapping_limit(size, align)
}

/// mallopt(M_MMAP_MAX): the most large blocks mapped at once; past it, a request the heap
/// can serve goes to the heap whatever the threshold (glibc's default limit).
static MMAP_MAX: AtomicUsize = AtomicUsize::new(65536);

/// True when `size` bytes aligned to `align` would get a mapping of their own but the
/// mapping limit is reached and the heap can serve them.
#[cold]
#[inline(never)]
fn over_mapping_limit(size: usize, align: usize) -> bool {
    size <= ActiveHeap::MAX_REQUEST
        && align <= ActiveHeap::MAX_ALIGN
        && large::COUNT.load(Ordering::Relaxed) >= MMAP_MAX.load(Ordering::Relaxed)
}

/// Allocates `size` bytes aligned to `align` (a power of two). Null when memory is exhausted;
/// the C layer sets errno.
///
/// The fast path is a pop from this thread's cache; it asks nothing about initialisation: a
/// thread without a cache (the first call of all included) misses into `alloc_slow`.
///
/// For every entry point but malloc, whose fast path is `alloc_cached` and whose misses go to
/// `alloc_slow` (a cache hit here is counted as not malloc's).
#[inline]
pub fn alloc(size: usize, align: usize) -> *mut u8 {
    if align <= MIN_ALIGN {
        let p = alloc_cached(size);
        if !p.is_null() {
            tcache::count(Counter::CacheHitsNotMalloc, 1);
            return p;
        }
    }
    alloc_slow(size, align)
}

/// Counts a call for the statistics (`counters.rs`), in this thread's counters.
#[inline]
pub fn count(counter: Counter) {
    tcache::count(counter, 1);
}

/// The fast path alone: a block of `size` bytes (aligned to `MIN_ALIGN`) from this thread's
/// cache, or null (not a cached size, an empty bin, or no cache yet).
#[inline(always)]
pub fn alloc_cached(size: usize) -> *mut u8 {
    match ActiveHeap::fast_bin(size) {
        Some(bin) => tcache::pop::<{ ActiveHeap::FAST_BIN_SKIP }>(bin),
        None => ptr::null_mut(),
    }
}

/// `alloc_cached` with the class computed in full (`Heap::cache_class`), for the sizes the
/// fast path leaves to the slow one; a hit counts as malloc's fast path's.
#[inline]
pub fn alloc_cached_by_class(size: usize) -> *mut u8 {
    match ActiveHeap::cache_class(size) {
        Some(class) => tcache::pop::<0>(class + FIRST_CLASS_BIN),
        None => ptr::null_mut(),
    }
}

/// While calls are traced: the fast path's work on this thread's parked cache, or null
/// (then `alloc_slow`). Traced calls come this way first, so that recording them adds
/// little besides the record to what the parked cache serves.
#[inline]
pub fn alloc_parked(size: usize) -> *mut u8 {
    match ActiveHeap::cache_class(size) {
        Some(class) => tcache::pop_parked(class),
        None => ptr::null_mut(),
    }
}

#[inline(never)]
pub fn alloc_slow(size: usize, align: usize) -> *mut u8 {
    ensure_init();
    count_call_for_check();
    let align = align.max(MIN_ALIGN);
    if align == MIN_ALIGN
        && serves_in_heap(size, align)
        && tcache::ENABLED.load(Ordering::Relaxed)
        && let Some(class) = ActiveHeap::cache_class(size)
    {
        let p = tcache::refill(&ARENAS, class);
        // The refill may have mapped a region: kept large mappings make room for it.
        large::shed_for_heap();
        if !p.is_null() {
            return p;
        }
    }
    let p = if serves_in_heap(size, align) {
        // SAFETY: the lock is held for the call; a fresh block has 16 bytes or more.
        let p = unsafe {
            let p = tcache::lock_home(&ARENAS).alloc(size, align);
            if !p.is_null() {
                freed::clear(p);
            }
            p
        };
        large::shed_for_heap();
        p
    } else {
        large::alloc(size, align)
    };
    let perturb = PERTURB.load(Ordering::Relaxed);
    if perturb != 0 && !p.is_null() {
        // SAFETY: p holds at least `size` bytes.
        unsafe { ptr::write_bytes(p, !perturb, size) };
    }
    p
}

/// Allocates `size` zeroed bytes.
pub fn alloc_zeroed(size: usize) -> *mut u8 {
    ensure_init();
    if !serves_in_heap(size, MIN_ALIGN) {
        return large::alloc_zeroed(size);
    }
    let p = alloc(size, MIN_ALIGN);
    if !p.is_null() {
        // SAFETY: p holds at least `size` bytes.
        unsafe { ptr::write_bytes(p, 0, size) };
    }
    p
}

/// Where a block the program handed back lives.
#[derive(Clone, Copy)]
enum Home {
    /// In a heap region of this arena.
    Heap(u8),
    /// In a mapping of its own (`large/`).
    Large,
}

/// Who owns `p`, from one chunk map lookup: the single place free, realloc and
/// malloc_usable_size learn it. A pointer the allocator does not own is misuse, and so is a
/// heap block that still carries the held-block key (`freed::is_held`): it was freed
/// already and sits in a thread cache or on a remote list, live as far as its heap knows.
///
/// # Safety
/// As for `free`.
unsafe fn locate(p: *mut u8) -> Result<Home, Misuse> {
    match chunkmap::owner(p as usize) {
        // SAFETY: p is in a region, whose memory may be read once p is proven a live block.
        Owner::Region(_) if unsafe { ActiveHeap::peek_live(p) && freed::is_held(p) } => {
            Err(Misuse::DoubleFree)
        }
        Owner::Region(arena) => Ok(Home::Heap(arena)),
        Owner::LargeHead | Owner::LargeTail => Ok(Home::Large),
        Owner::Nobody => Err(not_ours(p)),
    }
}

/// What a pointer in memory the allocator does not own is: a large block freed a moment ago
/// (its mapping is gone) or something that never came from here.
#[cold]
fn not_ours(p: *mut u8) -> Misuse {
    if large::recently_freed(p as usize) {
        Misuse::DoubleFree
    } else {
        Misuse::InvalidPointer
    }
}

/// Reports misuse found by a call that reads or resizes `p` (not frees it): a block freed
/// already is a use of a freed pointer there, not a double free.
#[cold]
fn report_use(call: &str, misuse: Misuse, p: *mut u8) -> ! {
    match misuse {
        Misuse::DoubleFree => diag::misuse(call, "freed pointer", p as usize),
        misuse => diag::misuse(call, misuse.describe(), p as usize),
    }
}

/// Frees `p` (not null). `call` names the C function for diagnostics.
///
/// # Safety
/// `p` is what the program passed in: a block of this allocator's is validated (misuse
/// aborts with a diagnostic), but a foreign pointer into unmapped memory may fault.
#[inline]
pub unsafe fn free(p: *mut u8, call: &str) {
    // SAFETY: forwarded from the caller.
    if unsafe { free_cached(p) } {
        return;
    }
    // SAFETY: forwarded from the caller.
    unsafe { free_slow(p, call) }
}

/// The fast path of free: true if this thread's cache took `p` (never null, never while
/// calls are traced: the cache is parked then).
///
/// # Safety
/// `p` is what the program passed to free (null included).
#[inline(always)]
pub unsafe fn free_cached(p: *mut u8) -> bool {
    // SAFETY: the cache validates p without the lock and declines anything it cannot prove
    // live (null lies in no region).
    unsafe { tcache::cache_free_fast::<ActiveHeap>(p) }
}

/// While calls are traced: `free_cached` on this thread's parked cache (false: `free_slow`).
///
/// # Safety
/// `p` is what the program passed to free (null included).
#[inline]
pub unsafe fn free_parked(p: *mut u8) -> bool {
    // SAFETY: as in `free_cached`.
    unsafe { tcache::cache_free_parked::<ActiveHeap>(p) }
}

/// Frees `p` (not null) that the fast path declined: through the cache's slow path, else
/// the heap or the mapping.
///
/// # Safety
/// As for `free`.
#[inline(never)]
pub unsafe fn free_slow(p: *mut u8, call: &str) {
    count_call_for_check();
    // SAFETY: as in `free`.
    if unsafe { tcache::cache_free(&ARENAS, p, call) } {
        return;
    }
    count(Counter::FreesUncached);
    // free preserves errno (glibc >= 2.33): unmapping memory could otherwise change it.
    // SAFETY: forwarded from the caller.
    os::keeping_errno(|| unsafe { free_uncached(p, call) });
}

/// Frees `p` into its heap or its mapping, past the caches.
///
/// # Safety
/// As for `free`.
unsafe fn free_uncached(p: *mut u8, call: &str) {
    // SAFETY: forwarded from the caller.
    let home = match unsafe { locate(p) } {
        Ok(home) => home,
        Err(misuse) => diag::misuse(call, misuse.describe(), p as usize),
    };
    let perturb = PERTURB.load(Ordering::Relaxed);
    if perturb != 0 {
        // SAFETY: forwarded from the caller.
        let size = unsafe { usable_size(p, call) };
        // SAFETY: p is a live block of `size` usable bytes (usable_size validated it).
        unsafe { ptr::write_bytes(p, perturb, size) };
    }
    // In each arm below, the chunk map said p's chunk is a region of that arena, or a large
    // block's; the heap or `large` validates p itself.
    let result = match home {
        // Another thread's arena (this thread lives elsewhere): the block goes on its remote
        // list without waiting, and its owner frees it with the rest of the list when it next
        // locks its heap. Locking it here took the owner's lock line and heap metadata from
        // the thread working there, which then waited for them back.
        Home::Heap(arena)
            if tcache::home().is_some_and(|home| home != arena)
                // SAFETY: the chunk map says p is in a region; peek_live reads only what a
                // region keeps mapped.
                && unsafe { ActiveHeap::peek_live(p) } =>
        {
            // SAFETY: p is a live block of that arena, given up by the program.
            unsafe { ARENAS.get(arena).free_remote(p) };
            count(Counter::RemoteFrees);
            Ok(())
        }
        Home::Heap(arena) => match ARENAS.get(arena).try_lock() {
            // SAFETY: see above.
            Some(mut heap) => unsafe { heap.free(p) },
            // Busy: a live block goes on the owner's remote list; anything else is reported
            // by the heap itself, under its lock.
            // SAFETY: see above; peek_live reads only what a region keeps mapped.
            None if unsafe { ActiveHeap::peek_live(p) } => {
                // SAFETY: p is a live block of that arena, given up by the program.
                unsafe { ARENAS.get(arena).free_remote(p) };
                count(Counter::RemoteFrees);
                Ok(())
            }
            // SAFETY: see above.
            None => unsafe { ARENAS.get(arena).lock().free(p) },
        },
        // SAFETY: the chunk map says p's chunk belongs to a large block.
        Home::Large => unsafe { large::free(p) },
    };
    if let Err(misuse) = result {
        diag::misuse(call, misuse.describe(), p as usize);
    }
}

/// The usable size of the live block `p` (not null).
///
/// # Safety
/// `p` is what the program passed in: a block of this allocator's is validated (misuse
/// aborts with a diagnostic), but a foreign pointer into unmapped memory may fault.
pub unsafe fn usable_size(p: *mut u8, call: &str) -> usize {
    // SAFETY: forwarded from the caller.
    let result = match unsafe { locate(p) } {
        // SAFETY: `locate` says p lies in a region of that arena; the heap validates it.
        Ok(Home::Heap(arena)) => unsafe { ARENAS.get(arena).lock().usable_size(p) },
        // SAFETY: `locate` says p lies in a large block's chunks; `large` validates it.
        Ok(Home::Large) => unsafe { large::usable_size(p) },
        Err(misuse) => Err(misuse),
    };
    result.unwrap_or_else(|misuse| report_use(call, misuse, p))
}

/// Blocks that grow to this many bytes or fewer move instead of growing in place, as
/// mimalloc's always do (`moves_to_grow`).
const MOVE_TO_GROW: usize = 1024;

/// Whether realloc moves a block of `usable` bytes that must grow to `size` without trying
/// to grow it in place: a small one, whose move costs a cache pop, a short copy and a cache
/// push, less than the lock and the neighbour's unlinking that growing in place takes.
/// Public, as `stays_in_place` and `growth_target_below` are, for the replay tool, which
/// makes the same choices.
#[inline]
pub fn moves_to_grow(size: usize, usable: usize) -> bool {
    size > usable && size <= MOVE_TO_GROW
}

/// Whether realloc leaves a block of `usable` bytes as it is for `size` (not 0): it already
/// fits, and shrinking would give back too little to be worth a lock (the common case of a
/// string or vector growing by small steps). A quarter, so that the headroom a growth adds
/// (`growth_target`) is never taken back by the next small step.
#[inline(always)]
pub fn stays_in_place(size: usize, usable: usize) -> bool {
    size <= usable && usable - size <= usable / 4 + 32
}

/// realloc's fast path: true when `p` is a live heap block that stays where it is for `size`
/// bytes (`stays_in_place`), counted as a realloc call. It takes no lock and asks the heap
/// what free's fast path asks it, so that a string grown by small appends costs about what a
/// malloc does; false for anything else (null, size 0, large blocks, a block in a cache,
/// misuse, a thread without a cache or tracing), which the caller's full path serves or
/// reports.
///
/// # Safety
/// `p` is what the program passed to realloc.
#[inline(always)]
pub unsafe fn realloc_stays(p: *mut u8, size: usize) -> bool {
    // SAFETY: forwarded from the caller.
    size != 0
        && unsafe { peek_program_block(p) }.is_some_and(|usable| stays_in_place(size, usable))
        && tcache::count_fast(Counter::Realloc)
}

/// malloc_usable_size's fast path: the usable size of `p` when it is a live heap block the
/// program holds, counted as a malloc_usable_size call; `None` for anything else (null,
/// large blocks, a block in a cache, misuse, a thread without a cache or tracing), which
/// the caller's full path serves or reports. Programs that keep account of their memory
/// (redis's zmalloc) ask this on every free.
///
/// # Safety
/// `p` is what the program passed to malloc_usable_size.
#[inline(always)]
pub unsafe fn usable_size_fast(p: *mut u8) -> Option<usize> {
    // SAFETY: forwarded from the caller.
    let usable = unsafe { peek_program_block(p) }?;
    tcache::count_fast(Counter::UsableSize).then_some(usable)
}

/// Without a lock: the usable size of `p` if it is a live heap block that no cache or
/// remote list holds, else `None` (not a heap block, or not one the program holds: the
/// full paths tell which, and report misuse).
///
/// # Safety
/// `p` is what the program passed to the call.
#[inline(always)]
unsafe fn peek_program_block(p: *mut u8) -> Option<usize> {
    if !chunkmap::is_region(p as usize) {
        return None;
    }
    // SAFETY: the chunk map says p is in a region (peek_usable's contract).
    let usable = unsafe { ActiveHeap::peek_usable(p) }?;
    // SAFETY: a usable size proves p a live block of at least 16 bytes, whose second word
    // is_held reads.
    (!unsafe { freed::is_held(p) }).then_some(usable)
}

/// Resizes the live block `p` (not null) to `size` bytes (> 0), in place when it can,
/// otherwise by moving it. Null if memory is exhausted; `p` is then untouched.
///
/// # Safety
/// `p` is what the program passed in: a block of this allocator's is validated (misuse
/// aborts with a diagnostic), but a foreign pointer into unmapped memory may fault.
pub unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8 {
    ensure_init();
    // What a block that has to grow asks its heap for (see `growth_target`).
    let mut want = size;
    // SAFETY: forwarded from the caller.
    let home = unsafe { locate(p) }.unwrap_or_else(|misuse| report_use("realloc", misuse, p));
    // Whether p was resized in place, and its usable size where that was proved on the way
    // (for the copy if it moves).
    let (in_place, known_usable) = match home {
        Home::Heap(arena) => {
            // SAFETY: the chunk map says p is in a region.
            let peeked = unsafe { ActiveHeap::peek_usable(p) };
            let usable = peeked.unwrap_or(0);
            if stays_in_place(size, usable) {
                return p;
            }
            // `size` itself for a request the heap does not serve (past the threshold).
            want = growth_target(size, usable);
            if moves_to_grow(size, usable) || !serves_in_heap(size, MIN_ALIGN) {
                (Ok(false), peeked)
            } else {
                if size < usable {
                    // A shrink gives its tail back during the call: the trace's time of
                    // this call comes before that release (docs/TRACE.md, "Timestamps").
                    trace::stamp_release();
                }
                let mut heap = ARENAS.get(arena).lock();
                // SAFETY: as in `free`.
                let resized = match unsafe { heap.resize_in_place(p, want) } {
                    // SAFETY: as in `free`.
                    Ok(false) if want != size => unsafe { heap.resize_in_place(p, size) },
                    result => result,
                };
                (resized, peeked)
            }
        }
        Home::Large => {
            if serves_in_heap(size, MIN_ALIGN) {
                // Validate now; a small block moves back into the heap below.
                // SAFETY: as in `free`.
                let usable = unsafe { large::usable_size(p) };
                (usable.map(|_| false), usable.ok())
            } else {
                // SAFETY: as in `free`.
                let usable = unsafe { large::usable_size(p) };
                // A shrink unmaps its tail during the call, as above.
                if usable.is_ok_and(|usable| size < usable) {
                    trace::stamp_release();
                }
                // SAFETY: as in `free`. A failed resize leaves the mapping as it was.
                (unsafe { large::resize_in_place(p, size) }, usable.ok())
            }
        }
    };
    match in_place {
        Ok(true) => return p,
        Ok(false) => {}
        Err(misuse) => report_use("realloc", misuse, p),
    }
    let old_size = match known_usable {
        Some(usable) => usable,
        // SAFETY: p was validated above.
        None => unsafe { usable_size(p, "realloc") },
    };
    let mut q = alloc(want, MIN_ALIGN);
    if q.is_null() && want != size {
        q = alloc(size, MIN_ALIGN);
    }
    if q.is_null() {
        return q;
    }
    count(Counter::FreesByRealloc);
    // The trace's time of this call: it has its new block and has not freed the old one.
    trace::stamp_release();
    let copied = old_size.min(size);
    // Under valgrind, memcheck learns of the new block before the copy, which then carries
    // over which bytes the program wrote; the old block's bytes past the size it was asked
    // with (no-access, read as written) are made unwritten again after.
    let asked = valgrind::accessible_len(p, old_size);
    valgrind::malloclike(q, size, false);
    // SAFETY: both blocks are live and distinct; the copy fits both.
    unsafe { ptr::copy_nonoverlapping(p, q, copied) };
    if asked < copied {
        valgrind::undefined(q.wrapping_add(asked), copied - asked);
    }
    // Memcheck hears of the free before the block can serve anyone else.
    valgrind::freelike(p);
    // SAFETY: p is live (validated above), and the program gave it up with this call.
    unsafe { free(p, "realloc") };
    q
}

/// The size a heap block of `usable` bytes asks for when realloc grows it to `size`.
///
/// A block that grows by small steps (a string built by appends, with a realloc for each)
/// would otherwise move every time it outgrows its exact size, copying O(n^2) bytes in all:
/// a growth of less than a quarter asks for a quarter more than the block has, so that the
/// next steps fit in place (the realloc fast path keeps a block while it fits). A growth by
/// a quarter or more (a vector that doubles) asks for exactly what it needs. The heap still
/// places the request by its policy; only the size asked for changes. Never past what the
/// heap serves, so the headroom alone never sends a block to a mapping of its own.
fn growth_target(size: usize, usable: usize) -> usize {
    growth_target_below(size, usable, MMAP_THRESHOLD.load(Ordering::Relaxed))
}

/// `growth_target` with the heap's largest request `max` given.
pub fn growth_target_below(size: usize, usable: usize, max: usize) -> usize {
    let step = usable + usable / 4;
    if size > usable && size < step {
        // Never below `size`, even if mallopt lowered the threshold since the caller read it.
        step.min(max).max(size)
    } else {
        size
    }
}
