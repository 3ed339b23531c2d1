//! The one process-wide allocator: the thread caches in front of the arenas (heaps of the
//! active policy, each behind its lock), the large-block path, lazy initialisation, fork
//! and thread-exit handling. Below the C layer (`cabi.rs`), above the heaps.
//!
//! Which heap serves the program is fixed when the library is built: feature `bestfit`
//! (the default) or `buddy`. Enabling both selects buddy, so that `--features buddy` works
//! with or without `--no-default-features`; enabling neither is a compile error (lib.rs).

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicUsize, Ordering};

use crate::arena::Arenas;
use crate::chunkmap::{self, Owner};
use crate::diag;
use crate::freed;
use crate::heap::{Heap, HeapStats, MIN_ALIGN, Misuse, REGION};
use crate::large;
use crate::os;
use crate::seal;
use crate::sync::RawLock;
use crate::tcache;

#[cfg(feature = "buddy")]
pub type ActiveHeap = crate::buddy::BuddyHeap;
#[cfg(all(feature = "bestfit", not(feature = "buddy")))]
pub type ActiveHeap = crate::bestfit::BestFitHeap;

static ARENAS: Arenas<ActiveHeap> = Arenas::new();

/// Requests above this many bytes get a mapping of their own (mallopt M_MMAP_THRESHOLD).
/// Invariant: never above `ActiveHeap::MAX_REQUEST`.
static MMAP_THRESHOLD: AtomicUsize = AtomicUsize::new(ActiveHeap::MAX_REQUEST);

/// mallopt M_PERTURB: when non-zero, new blocks are filled with `!perturb` and freed ones
/// with `perturb` (glibc's semantics).
static PERTURB: AtomicU8 = AtomicU8::new(0);

/// Set once the first call has run `init`; checked on every call, so it is the only thing
/// the fast path asks about initialisation.
static READY: AtomicBool = AtomicBool::new(false);
static INIT_STARTED: AtomicBool = AtomicBool::new(false);

/// Everything the allocator sets up on first use. It may run while ld.so is still starting
/// the program, before any constructor; it must not rely on anything but the kernel and the
/// parts of libc that need no initialisation.
#[inline]
fn ensure_init() {
    if !READY.load(Ordering::Acquire) {
        init();
    }
}

#[cold]
#[inline(never)]
fn init() {
    if INIT_STARTED.swap(true, Ordering::AcqRel) {
        // Another thread is initialising, or this thread re-entered from pthread_atfork
        // (which may allocate). The heap works without the rest of initialisation, but not
        // without the secrets it seals metadata with: set them here too (every thread derives
        // the same values), rather than wait for a thread that a fork may have left behind.
        seal::init();
        return;
    }
    seal::init();
    ARENAS.init();
    // SAFETY: the handlers only lock and unlock this allocator's own locks. pthread_atfork
    // may call malloc, which re-enters here and returns at once; no lock is held now.
    unsafe {
        libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), Some(fork_child));
    }
    tcache::init(thread_exit);
    apply_options();
    READY.store(true, Ordering::Release);
}

/// Set once BESTBUDDY_OPTIONS has been read and applied.
static OPTIONS_APPLIED: AtomicBool = AtomicBool::new(false);
/// `check=N`: walk every heap every N allocator calls (0: never), counting in `CALLS`.
static CHECK_EVERY: AtomicUsize = AtomicUsize::new(0);
static CALLS: AtomicUsize = AtomicUsize::new(0);

/// Reads BESTBUDDY_OPTIONS (see options.rs) and applies it, once. Before libc has set up the
/// environment this does nothing, and the load-time constructor tries again.
fn apply_options() {
    if OPTIONS_APPLIED.load(Ordering::Acquire) {
        return;
    }
    let Some(options) = crate::options::read() else {
        return;
    };
    if OPTIONS_APPLIED.swap(true, Ordering::AcqRel) {
        return;
    }
    if options.junk {
        set_perturb(0x55);
    }
    if options.check_every != 0 {
        CHECK_EVERY.store(options.check_every, Ordering::Relaxed);
        tcache::ENABLED.store(false, Ordering::Relaxed);
        drain_this_thread();
    }
}

/// `check=N`: every N-th call walks every heap's invariants and aborts with what broke.
#[inline]
fn count_call_for_check() {
    let every = CHECK_EVERY.load(Ordering::Relaxed);
    if every != 0 && (CALLS.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(every) {
        check_or_abort();
    }
}

#[cold]
fn check_or_abort() {
    if let Err(broken) = check() {
        diag::fatal_as("check", broken);
    }
}

/// Called from the library's constructor, so that a program pays for initialisation at load
/// rather than in its first allocation. Correctness never depends on it.
pub fn init_at_load() {
    ensure_init();
    apply_options();
}

/// A thread with a cache is exiting: its blocks go back to the heap.
unsafe extern "C" fn thread_exit(cache: *mut core::ffi::c_void) {
    // SAFETY: glibc passes the value this thread set for the key: its own cache.
    unsafe { tcache::drain(&ARENAS, cache.cast(), true) };
}

// glibc's stdio list lock, which its fork takes between the atfork prepare handlers and its
// own malloc's locks (posix/fork.c). The lock is recursive, so taking it here first and
// again in fork is allowed.
unsafe extern "C" {
    fn _IO_list_lock();
    fn _IO_list_unlock();
    fn _IO_list_resetlock();
    /// Non-zero until the process creates its first thread (glibc >= 2.32). A char that
    /// glibc writes while this library runs: declared atomic (same layout) and read as one.
    static __libc_single_threaded: AtomicU8;
}

/// The arenas the prepare handler locked (a bit each), or `FORK_SKIPPED` when it locked
/// nothing; read by the parent and child handlers of the same fork.
static FORK_LOCKED: AtomicU32 = AtomicU32::new(FORK_SKIPPED);
const FORK_SKIPPED: u32 = u32::MAX;

/// fork, before: the lock order is glibc's own, stdio's list lock before the allocator's
/// (a thread in getline holds a FILE's lock and reallocs; one in fflush(NULL) holds the
/// list lock and waits for that FILE; so whoever holds an arena lock must never wait for
/// the list lock). Then the opened arenas, the kept large mappings, the chunk map.
///
/// A process with one thread skips all of it, as glibc's fork does for its own malloc: no
/// other thread can hold a lock, and when fork runs in a signal handler that interrupted
/// this thread's malloc, the lock it holds would never be released (POSIX lets a handler
/// fork; its child may then only call async-signal-safe functions, malloc not among them).
extern "C" fn fork_prepare() {
    // SAFETY: a byte glibc exports for every program to read.
    if unsafe { __libc_single_threaded.load(Ordering::Relaxed) } != 0 {
        FORK_LOCKED.store(FORK_SKIPPED, Ordering::Relaxed);
        return;
    }
    // SAFETY: glibc's own lock, taken as its fork takes it; released by the other handlers.
    unsafe { _IO_list_lock() };
    let locked = ARENAS.lock_all();
    large::fork_prepare();
    chunkmap::LEAF_LOCK.lock();
    FORK_LOCKED.store(locked, Ordering::Relaxed);
}

extern "C" fn fork_parent() {
    let locked = FORK_LOCKED.load(Ordering::Relaxed);
    if locked == FORK_SKIPPED {
        return;
    }
    chunkmap::LEAF_LOCK.unlock();
    large::fork_parent();
    ARENAS.unlock_all(locked);
    // SAFETY: taken by this thread in fork_prepare; glibc released its own hold already.
    unsafe { _IO_list_unlock() };
}

extern "C" fn fork_child() {
    let locked = FORK_LOCKED.load(Ordering::Relaxed);
    if locked == FORK_SKIPPED {
        return;
    }
    chunkmap::LEAF_LOCK.reset_in_child();
    large::fork_child();
    ARENAS.reset_all_in_child(locked);
    // SAFETY: the child's only thread held it; glibc resets it too, before this handler.
    unsafe { _IO_list_resetlock() };
}

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
#[inline]
pub fn alloc(size: usize, align: usize) -> *mut u8 {
    if align <= MIN_ALIGN {
        let p = alloc_cached(size);
        if !p.is_null() {
            return p;
        }
    }
    alloc_slow(size, align)
}

/// The fast path alone: a block of `size` bytes (aligned to `MIN_ALIGN`) from this thread's
/// cache, or null (not a cached size, an empty bin, or no cache yet).
#[inline(always)]
pub fn alloc_cached(size: usize) -> *mut u8 {
    match ActiveHeap::cache_class(size) {
        Some(class) => tcache::pop(class),
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
        if !p.is_null() {
            return p;
        }
    }
    let p = if serves_in_heap(size, align) {
        // SAFETY: the lock is held for the call; a fresh block has 16 bytes or more.
        unsafe {
            let p = tcache::lock_home(&ARENAS).alloc(size, align);
            if !p.is_null() {
                freed::clear(p);
            }
            p
        }
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

/// Frees `p` (not null). `call` names the C function for diagnostics.
///
/// # Safety
/// `p` is what the program passed in: a block of this allocator's is validated (misuse
/// aborts with a diagnostic), but a foreign pointer into unmapped memory may fault.
#[inline]
pub unsafe fn free(p: *mut u8, call: &str) {
    // SAFETY: push_fast validates p without the lock and declines anything it cannot prove
    // live.
    if unsafe { tcache::push_fast::<ActiveHeap>(p) } {
        return;
    }
    // SAFETY: forwarded from the caller.
    unsafe { free_slow(p, call) }
}

/// # Safety
/// As for `free`.
#[inline(never)]
unsafe fn free_slow(p: *mut u8, call: &str) {
    count_call_for_check();
    // SAFETY: as in `free`.
    if unsafe { tcache::push(&ARENAS, p, call) } {
        return;
    }
    // free preserves errno (glibc >= 2.33): unmapping memory could otherwise change it.
    let saved = os::errno();
    // SAFETY: forwarded from the caller.
    unsafe { free_validated(p, call) };
    os::set_errno(saved);
}

/// # Safety
/// As for `free`.
unsafe fn free_validated(p: *mut u8, call: &str) {
    // A block still carrying the cache key was freed already: it sits in a thread cache or
    // on a remote list, live as far as its heap knows (see freed::is_held).
    let owner = chunkmap::owner(p as usize);
    // SAFETY: p is in a region, whose memory may be read once p is proven a live block.
    if matches!(owner, Owner::Region(_)) && unsafe { ActiveHeap::peek_live(p) && freed::is_held(p) }
    {
        diag::misuse(call, Misuse::DoubleFree.describe(), p as usize);
    }
    let perturb = PERTURB.load(Ordering::Relaxed);
    if perturb != 0 {
        // SAFETY: forwarded from the caller.
        let size = unsafe { usable_size(p, call) };
        // SAFETY: p is a live block of `size` usable bytes (usable_size validated it).
        unsafe { ptr::write_bytes(p, perturb, size) };
    }
    let result = match owner {
        // SAFETY (all arms): the chunk map says p's chunk is a region of that arena.
        Owner::Region(owner) => match ARENAS.get(owner).try_lock() {
            Some(mut heap) => unsafe { heap.free(p) },
            // Busy: a live block goes on the owner's remote list; anything else is reported
            // by the heap itself, under its lock.
            None if unsafe { ActiveHeap::peek_live(p) } => {
                unsafe { ARENAS.get(owner).free_remote(p) };
                Ok(())
            }
            None => unsafe { ARENAS.get(owner).lock().free(p) },
        },
        // SAFETY: the chunk map says p's chunk belongs to a large block.
        Owner::LargeHead | Owner::LargeTail => unsafe { large::free(p) },
        Owner::Nobody => Err(not_ours(p)),
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
    let result = match chunkmap::owner(p as usize) {
        // SAFETY: as in `free`.
        Owner::Region(owner) => unsafe { ARENAS.get(owner).lock().usable_size(p) },
        // SAFETY: as in `free`.
        Owner::LargeHead | Owner::LargeTail => unsafe { large::usable_size(p) },
        Owner::Nobody => Err(not_ours(p)),
    };
    match result {
        Ok(size) => size,
        Err(misuse) => diag::misuse(call, misuse.describe(), p as usize),
    }
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
    let in_place = match chunkmap::owner(p as usize) {
        // SAFETY: p is in a region, readable once proven live; see `free_validated`.
        Owner::Region(_) if unsafe { ActiveHeap::peek_live(p) && freed::is_held(p) } => {
            Err(Misuse::DoubleFree)
        }
        Owner::Region(owner) => {
            // SAFETY: the chunk map says p is in a region.
            let usable = unsafe { ActiveHeap::peek_usable(p) }.unwrap_or(0);
            if size <= usable && usable - size <= usable / 4 + 32 {
                // Already fits, and shrinking would give back too little to be worth a lock
                // (the common case of a string or vector growing by small steps). A quarter,
                // so that the headroom a growth adds (`growth_target`) is never taken back
                // by the next small step.
                return p;
            }
            if serves_in_heap(size, MIN_ALIGN) {
                want = growth_target(size, usable);
                let mut heap = ARENAS.get(owner).lock();
                // SAFETY: as in `free`.
                match unsafe { heap.resize_in_place(p, want) } {
                    // SAFETY: as in `free`.
                    Ok(false) if want != size => unsafe { heap.resize_in_place(p, size) },
                    result => result,
                }
            } else {
                Ok(false)
            }
        }
        Owner::LargeHead | Owner::LargeTail => {
            if serves_in_heap(size, MIN_ALIGN) {
                // Validate now; a small block moves back into the heap below.
                // SAFETY: as in `free`.
                unsafe { large::usable_size(p) }.map(|_| false)
            } else {
                // SAFETY: as in `free`.
                unsafe { large::resize_in_place(p, size) }
            }
        }
        Owner::Nobody => Err(not_ours(p)),
    };
    match in_place {
        Ok(true) => return p,
        Ok(false) => {}
        // realloc of a block that was freed: not a double free, but a use of a freed pointer.
        Err(Misuse::DoubleFree) => diag::misuse("realloc", "freed pointer", p as usize),
        Err(misuse) => diag::misuse("realloc", misuse.describe(), p as usize),
    }
    // SAFETY: p was validated above.
    let old_size = unsafe { usable_size(p, "realloc") };
    let mut q = alloc(want, MIN_ALIGN);
    if q.is_null() && want != size {
        q = alloc(size, MIN_ALIGN);
    }
    if q.is_null() {
        return q;
    }
    // SAFETY: both blocks are live and distinct; the copy fits both.
    unsafe {
        ptr::copy_nonoverlapping(p, q, old_size.min(size));
        free(p, "realloc");
    }
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
    let step = usable + usable / 4;
    if size > usable && size < step {
        // Never below `size`, even if mallopt lowered the threshold since the caller read it.
        step.min(MMAP_THRESHOLD.load(Ordering::Relaxed)).max(size)
    } else {
        size
    }
}

/// A snapshot of every figure the introspection calls report.
pub struct Snapshot {
    pub heap: HeapStats,
    pub large_count: usize,
    pub large_bytes: usize,
    pub max_large_count: usize,
    pub max_large_bytes: usize,
    /// Bytes of freed large mappings kept for reuse.
    pub kept_bytes: usize,
}

pub fn snapshot() -> Snapshot {
    let heap = ARENAS.stats();
    Snapshot {
        heap,
        large_count: large::COUNT.load(Ordering::Relaxed),
        large_bytes: large::BYTES.load(Ordering::Relaxed),
        max_large_count: large::MAX_COUNT.load(Ordering::Relaxed),
        max_large_bytes: large::MAX_BYTES.load(Ordering::Relaxed),
        kept_bytes: large::kept_bytes(),
    }
}

/// Each opened arena's figures, by index (for malloc_info); the rest of `out` is None.
pub fn arena_stats(out: &mut [Option<HeapStats>; chunkmap::MAX_ARENAS]) {
    ARENAS.each_indexed(|index, heap| out[index] = Some(heap.stats()));
}

/// Bytes the heap has mapped in regions.
pub fn region_bytes(stats: &HeapStats) -> usize {
    stats.regions * REGION
}

/// Gives this thread's cached blocks back to the heap (before trimming or perturbing).
fn drain_this_thread() {
    let tc = tcache::current();
    if !tc.is_null() {
        // SAFETY: tc is this thread's cache.
        unsafe { tcache::drain(&ARENAS, tc, false) };
    }
}

pub fn trim() -> bool {
    drain_this_thread();
    let mut released = large::trim();
    ARENAS.each(|heap| released |= heap.trim());
    released
}

/// mallopt M_MMAP_THRESHOLD: requests above `bytes` get a mapping of their own. Capped at
/// what the heap serves: larger requests always get one.
pub fn set_mmap_threshold(bytes: usize) {
    MMAP_THRESHOLD.store(bytes.min(ActiveHeap::MAX_REQUEST), Ordering::Relaxed);
}

/// mallopt M_MMAP_MAX: at most `count` large blocks mapped at once (0: none, for requests
/// the heap can serve).
pub fn set_mmap_max(count: usize) {
    MMAP_MAX.store(count, Ordering::Relaxed);
}

/// mallopt M_ARENA_MAX: threads spread over at most `count` arenas.
pub fn set_arena_max(count: usize) {
    ensure_init();
    ARENAS.set_limit(count);
}

/// The two mallopt parameters that bound the wholly free regions each arena keeps mapped:
/// M_TRIM_THRESHOLD and M_TOP_PAD, in bytes (`UNSET` until mallopt sets them). `SETTINGS`
/// makes storing one and applying both a single step.
static TRIM_THRESHOLD: AtomicUsize = AtomicUsize::new(UNSET);
static TOP_PAD: AtomicUsize = AtomicUsize::new(UNSET);
static SETTINGS: RawLock = RawLock::new();
const UNSET: usize = usize::MAX;

/// mallopt M_TRIM_THRESHOLD: keeps up to `bytes` of freed large mappings mapped for reuse,
/// and whole free regions up to that many bytes (or M_TOP_PAD's, if more) per arena.
pub fn set_trim_threshold(bytes: usize) {
    large::set_keep_limit(bytes);
    set_spare_bound(&TRIM_THRESHOLD, bytes);
}

/// mallopt M_TOP_PAD: the free memory a heap keeps mapped past what it uses, as glibc keeps
/// that much at the top of its heap when trimming; here in whole regions (rounded up).
pub fn set_top_pad(bytes: usize) {
    set_spare_bound(&TOP_PAD, bytes);
}

/// Stores one of the two bounds and gives every arena the spare-region limit they make
/// together: the heap's default while neither is set; otherwise the larger of those set.
fn set_spare_bound(bound: &AtomicUsize, bytes: usize) {
    SETTINGS.lock();
    bound.store(bytes.min(UNSET - 1), Ordering::Relaxed);
    let trim = match TRIM_THRESHOLD.load(Ordering::Relaxed) {
        UNSET => 0,
        bytes => bytes / REGION,
    };
    let pad = match TOP_PAD.load(Ordering::Relaxed) {
        UNSET => 0,
        bytes => bytes.div_ceil(REGION),
    };
    ARENAS.set_spare_limit(trim.max(pad));
    SETTINGS.unlock();
}

/// Perturbing fills every block on malloc and free, so the caches step aside: this thread's
/// is drained, and no thread caches a freed block any more.
pub fn set_perturb(byte: u8) {
    PERTURB.store(byte, Ordering::Relaxed);
    tcache::ENABLED.store(byte == 0, Ordering::Relaxed);
    drain_this_thread();
}

/// Runs the heap's invariant walker (for tests and debugging).
pub fn check() -> Result<(), &'static str> {
    let mut result = Ok(());
    ARENAS.each(|heap| {
        if result.is_ok() {
            result = heap.check();
        }
    });
    result
}
