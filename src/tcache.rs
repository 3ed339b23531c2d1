//! The per-thread cache of small blocks in front of the heap.
//!
//! Each thread keeps, per size class, a LIFO list of free blocks threaded through the blocks
//! themselves. malloc pops and free pushes without any lock or atomic read-modify-write; a
//! miss refills half a bin from the heap, and a full bin flushes half of itself, each under one
//! acquisition of the heap lock. The bins that no call used between two sweeps of the
//! thread's slow paths give their blocks back (`sweep`). A thread's cache goes back to the
//! heap when it exits (a pthread key destructor).
//!
//! ```text
//!  TLS slot (initial-exec, csrc/tls.c) --> ThreadCache { bins[class]: head, count, limit }
//! ```
//! Cached blocks are linked in the format of `freed.rs` (a sealed link and the double-free
//! key): `pop` rejects a link that does not decode ("malloc(): corrupted block"), and a
//! free that finds the key reports a double free, whether the first free left the block in
//! this thread's cache, another's, or on an arena's remote list.
//!
//! What the cache changes about placement: a cached request is served by the block of its
//! exact class that this thread freed most recently, not by the heap's policy; only refills go
//! through the policy (best fit: smallest fitting block, lowest address first; buddy: split).
//! Blocks held in caches count as in use in mallinfo2.

use core::mem::MaybeUninit;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering};

use crate::arena::{Arena, Arenas, CHAIN_MIN};
use crate::chunkmap::{self, MAX_ARENAS};
use crate::counters::{Counter, Counters, Totals};
use crate::freed;
use crate::heap::{FAST_BINS, FIRST_CLASS_BIN, Heap};
use crate::sync::{Guard, RawLock};
use crate::trace;

/// At least every heap's `Heap::CACHE_CLASSES` (asserted where a bin is indexed); the bins
/// past a heap's classes are its fast paths' always empty and full ones (`FAST_BINS`).
const MAX_CLASSES: usize = FAST_BINS - FIRST_CLASS_BIN;
/// How many bytes one bin may hold before it flushes (scaled by `tcache_bytes`, options.rs),
/// and its bounds in blocks.
const BIN_BYTES: usize = 8 << 10;
const BIN_MIN: u32 = 8;
const BIN_MIN_ABOVE_1K: u32 = 2;
const BIN_MIN_ABOVE_4K: u32 = 4;
const BIN_MAX: u32 = 64;
/// How far a bin that keeps missing or overflowing may grow (`grow`), in bytes and blocks.
const BIN_GROWN_BYTES: usize = 32 << 10;
const BIN_GROWN_MAX: u32 = 256;
/// A bin's limit when its thread starts; it doubles, up to `grown_limit`, each time the bin
/// misses or overflows (see `grow`).
const BIN_START: u32 = 4;
/// How many of a thread's cached allocations and frees lie at least between two sweeps for
/// idle bins (`sweep`).
const SWEEP_OPS: u64 = 32 << 10;

unsafe extern "C" {
    /// csrc/tls.c: zero bytes, which every thread's slot points at until it has a cache
    /// (`no_cache`), and while it exits (`exiting_mark`).
    static bestbuddy_no_cache: [u64; NO_CACHE_BYTES / 8];
}
/// The size of `bestbuddy_no_cache` (csrc/tls.c says the same).
const NO_CACHE_BYTES: usize = 4736;
const _: () = assert!(
    core::mem::offset_of!(ThreadCache, bins) + core::mem::size_of::<[Bin; MAX_CLASSES]>() + 64
        <= NO_CACHE_BYTES
);

/// The slot of a thread without a cache: bins that malloc's fast path finds empty and
/// free's finds full, so neither fast path tests the slot before using it.
#[inline]
fn no_cache() -> usize {
    (&raw const bestbuddy_no_cache) as usize
}

/// The slot of an exiting thread (it bypasses caching from then on): the no-cache bins seen
/// from a different address, so the fast paths miss as they do for `no_cache`.
#[inline]
fn exiting_mark() -> usize {
    no_cache() + 64
}

/// Whether a slot's value is a cache (not `no_cache` or `exiting_mark`).
#[inline]
fn holds_cache(slot: usize) -> bool {
    slot.wrapping_sub(no_cache()) > 64
}

crate::os::tls_word!(
    /// This thread's slot `bestbuddy_cache_slot` (csrc/tls.c): `no_cache()` (no cache yet),
    /// `exiting_mark()`, or the address of its cache.
    ///
    /// While the program's calls are traced, a thread's cache is *parked*: the slot reads
    /// `no_cache()`, as
    /// for a thread without a cache, so that malloc's and free's fast paths, which ask nothing
    /// else, miss into the slow paths, where each call is recorded; the cache itself waits in
    /// the second slot, `bestbuddy_cache_parked`, and the slow paths go on using it
    /// (`slow_cache`). So tracing costs the fast paths nothing while it is off.
    tls_get,
    tls_set,
    "bestbuddy_cache_slot"
);

crate::os::tls_word!(
    /// This thread's parked cache (see `tls_get`): 0, or the cache's address.
    parked_get,
    parked_set,
    "bestbuddy_cache_parked"
);

struct Bin {
    /// First cached block (0 = none); each block's first word links to the next.
    head: usize,
    /// How many more blocks the bin may take: `limit` less the blocks on the list, kept
    /// instead of the count so that free's fast path tests and updates one field (a zero
    /// test and a decrement, no comparison with the limit). Written by the owning thread
    /// alone (a relaxed load and store, as plain as a `u32`), read by statistics from any
    /// thread. Invariant: `room <= limit`.
    room: AtomicU32,
    /// At most this many blocks; 0 while caching is off (`follow_enabled`). Written by the
    /// owning thread, read by statistics from any thread.
    limit: AtomicU32,
}

impl Bin {
    const fn empty() -> Bin {
        Bin {
            head: 0,
            room: AtomicU32::new(0),
            limit: AtomicU32::new(0),
        }
    }

    #[inline(always)]
    fn room(&self) -> u32 {
        self.room.load(Ordering::Relaxed)
    }

    #[inline(always)]
    fn set_room(&self, n: u32) {
        self.room.store(n, Ordering::Relaxed);
    }

    /// Blocks on the list.
    #[inline(always)]
    fn count(&self) -> u32 {
        self.limit().saturating_sub(self.room())
    }

    #[inline(always)]
    fn set_count(&self, n: u32) {
        self.set_room(self.limit() - n);
    }

    #[inline(always)]
    fn limit(&self) -> u32 {
        self.limit.load(Ordering::Relaxed)
    }

    /// Gives the bin, which must be empty, the limit `limit`: all of it is room.
    fn set_empty_limit(&self, limit: u32) {
        debug_assert!(self.head == 0);
        self.limit.store(limit, Ordering::Relaxed);
        self.set_room(limit);
    }
}

#[repr(C)]
pub struct ThreadCache {
    /// Always empty and full (limit 0): the bins in front of `bins` that malloc's fast path
    /// finds for the sizes it leaves to the slow path, and free's for blocks the cache never
    /// holds (`Heap::fast_bin`, `Heap::peek_bin`).
    no_bins: [Bin; FIRST_CLASS_BIN],
    /// One per class; `no_bins` lie right in front (`fast_bin_at`). Invariant: those past
    /// the heap's `CACHE_CLASSES` are never given a limit, so they stay empty and full like
    /// `no_bins` (the fast paths may number them: `FAST_BINS`).
    bins: [Bin; MAX_CLASSES],
    /// The arena this thread allocates from (see `arena.rs`); it moves when contended.
    home: usize,
    /// Whether the bins have their limits (`ENABLED` when this thread last looked, on a slow
    /// path): while false every limit and room is 0, so free's fast path never caches.
    caching: bool,
    /// What this thread's calls did (`counters.rs`).
    counters: Counters,
    /// How many cached calls (hits, misses, frees taken) the thread had made when it last
    /// swept (`note_slow`).
    swept_at: u64,
    /// Per class: the digest of the bin's list (`digest`) when the last sweep saw it; 0 when
    /// it was empty then, or the sweep emptied it.
    seen: [u32; MAX_CLASSES],
    /// Per class: whether the thread took blocks of it from the heap (a refill) since its
    /// bin was made (`create`) or a sweep emptied it as idle (`sweep`). A bin whose thread only frees into it (a
    /// consumer of blocks another thread makes) serves no allocation, so what it holds
    /// back is memory the maker has to find elsewhere: such a bin grows no further than
    /// `natural_limit` and flushes whole (`cache_free`).
    refilled: [bool; MAX_CLASSES],
    /// The registry's list of live caches, under `REGISTRY`.
    next: *mut ThreadCache,
    prev: *mut ThreadCache,
    /// `freed::key_of(cache) ^ CACHE_MARK`: tells a cache, a heap block of the allocator's
    /// own, from the program's blocks in a heap walk (`is_cache`).
    mark: AtomicUsize,
}

const CACHE_MARK: usize = 0x7CAC_4E00_7CAC_4E00;

const _: () = assert!(
    core::mem::offset_of!(ThreadCache, bins)
        == core::mem::offset_of!(ThreadCache, no_bins)
            + FIRST_CLASS_BIN * core::mem::size_of::<Bin>()
);

/// The bin the fast paths number `bin` (`Heap::fast_bin`, `Heap::peek_bin`): below
/// `FIRST_CLASS_BIN` one of `no_bins`, `class + FIRST_CLASS_BIN` the class's.
///
/// # Safety
/// `tc` is a live cache; `bin < FAST_BINS`.
#[inline(always)]
unsafe fn fast_bin_at(tc: *mut ThreadCache, bin: usize) -> *mut Bin {
    // SAFETY: the struct is repr(C) with `bins` right after `no_bins` (asserted above), so
    // the bins counted from the first of `no_bins` lie inside the cache.
    unsafe { (&raw mut (*tc).no_bins).cast::<Bin>().add(bin) }
}

/// Is the live heap block `p` of `usable` bytes a thread's cache (not the program's)?
///
/// # Safety
/// `p` is a live heap block of `usable` bytes.
pub unsafe fn is_cache(p: usize, usable: usize) -> bool {
    let offset = core::mem::offset_of!(ThreadCache, mark);
    // SAFETY: the word lies inside the block (checked against its usable size), aligned;
    // read as an atomic because `free_cache` clears it without the lock the reader holds.
    usable >= core::mem::size_of::<ThreadCache>()
        && unsafe { (*((p + offset) as *const AtomicUsize)).load(Ordering::Relaxed) }
            == freed::key_of(p) ^ CACHE_MARK
}

/// Guards the list of live caches (`CACHES`) and each cache's `next`/`prev`: taken when a
/// cache is made or given back, and when statistics are read, never with an arena lock.
pub static REGISTRY: RawLock = RawLock::new();
/// The first live cache, under `REGISTRY`.
static CACHES: AtomicPtr<ThreadCache> = AtomicPtr::new(ptr::null_mut());
/// The counts of threads without a cache, and those of exited threads' caches.
static SHARED: Counters = Counters::new();

/// The pthread key whose destructor returns a thread's cache; valid once KEY_READY is set.
static KEY: AtomicUsize = AtomicUsize::new(0);
static KEY_READY: AtomicBool = AtomicBool::new(false);
/// Cleared by mallopt(M_PERTURB) and by the `check` option: frees then bypass the caches so
/// that every block gets filled or checked. Free's fast path does not read it: each thread
/// follows it on its slow paths (`follow_enabled`) by setting its bins' limits to 0, so a
/// thread that never leaves its fast paths keeps caching until it does (as glibc's tcache
/// never perturbs the blocks it takes).
pub static ENABLED: AtomicBool = AtomicBool::new(true);

/// This thread's cache, or null (none yet, or the thread is exiting): for the slow paths.
#[inline]
pub fn current() -> *mut ThreadCache {
    slow_cache().unwrap_or(ptr::null_mut())
}

/// This thread's cache, parked or not, parking it while calls are traced and taking it back
/// when they no longer are (see `tls_get`).
#[inline]
fn slow_cache() -> Option<*mut ThreadCache> {
    let slot = tls_get();
    if holds_cache(slot) {
        if trace::on() {
            park(slot);
        }
        return Some(slot as *mut ThreadCache);
    }
    let parked = parked_get();
    if parked == 0 {
        return None;
    }
    if slot == no_cache() && !trace::on() {
        parked_set(0);
        tls_set(parked);
    }
    Some(parked as *mut ThreadCache)
}

/// Parks the cache `slot` of this thread: the fast paths miss from now on.
#[cold]
fn park(slot: usize) {
    parked_set(slot);
    tls_set(no_cache());
}

/// Calls are traced from now on: parks this thread's cache at once, so that not even its
/// next fast path serves a call unrecorded (other threads park theirs on their next slow
/// path; the trace starts before the program makes threads, or in a fork child, which has
/// one).
pub fn park_this_thread() {
    let slot = tls_get();
    if holds_cache(slot) {
        park(slot);
    }
}

/// This thread's cache, parked or not, without changing where it is (for counting).
#[inline]
fn any_cache() -> Option<*mut ThreadCache> {
    let slot = tls_get();
    if holds_cache(slot) {
        return Some(slot as *mut ThreadCache);
    }
    match parked_get() {
        0 => None,
        parked => Some(parked as *mut ThreadCache),
    }
}

/// What the fast paths use: this thread's cache, or the no-cache bins, which miss (so the
/// fast paths need no test of the slot).
#[inline(always)]
fn fast_cache() -> *mut ThreadCache {
    tls_get() as *mut ThreadCache
}

/// Called once from the allocator's initialisation: registers the exit hook.
pub fn init(destructor: unsafe extern "C" fn(*mut libc::c_void)) {
    // SAFETY: pthread_key_create only writes the key.
    unsafe {
        let mut key: libc::pthread_key_t = 0;
        if libc::pthread_key_create(&mut key, Some(destructor)) == 0 {
            KEY.store(key as usize, Ordering::Relaxed);
            KEY_READY.store(true, Ordering::Release);
        }
    }
}

/// Takes a cached block from the bin numbered `bin` by `Heap::fast_bin`, or null when the
/// bin is empty or the thread has no cache. `bin` counts `SKIP` past the bin's number
/// (`Heap::FAST_BIN_SKIP`), taken off in the addressing.
#[inline(always)]
pub fn pop<const SKIP: usize>(bin: usize) -> *mut u8 {
    let tc = fast_cache();
    debug_assert!(bin - SKIP < FAST_BINS);
    // SAFETY: tc is this thread's cache; fast_bin's numbers are below
    // FAST_BINS, so the bin lies inside it.
    let p = unsafe { take_from::<SKIP>(tc, bin * size_of::<Bin>()) };
    if !p.is_null() {
        // SAFETY: tc is this thread's cache.
        unsafe { (*tc).counters.bump(Counter::CacheHits, 1) };
    }
    p
}

/// Where the first bin's head and room lie in a cache (`take_from`).
const HEAD_IN_CACHE: usize =
    core::mem::offset_of!(ThreadCache, no_bins) + core::mem::offset_of!(Bin, head);
const ROOM_IN_CACHE: usize =
    core::mem::offset_of!(ThreadCache, no_bins) + core::mem::offset_of!(Bin, room);

/// While calls are traced: `pop` from this thread's parked cache, for the traced malloc's
/// first try (a miss, or no parked cache yet, takes the slow path, which parks the cache
/// and refills). Counted as `pop` counts, a hit of malloc's.
#[inline]
pub fn pop_parked(class: usize) -> *mut u8 {
    let tc = parked_get() as *mut ThreadCache;
    if tc.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: a parked cache is this thread's.
    let p = unsafe { take_cached(tc, class) };
    if !p.is_null() {
        // SAFETY: as above.
        unsafe { (*tc).counters.bump(Counter::CacheHits, 1) };
    }
    p
}

/// Takes a cached block of `class` from `tc`, or null when its bin is empty.
///
/// # Safety
/// `tc` is this thread's cache.
#[inline(always)]
unsafe fn take_cached(tc: *mut ThreadCache, class: usize) -> *mut u8 {
    // SAFETY: tc is this thread's cache; `bins[class]` is bin `class + FIRST_CLASS_BIN`
    // counted from the first of `no_bins` (`fast_bin_at`).
    unsafe { take_from::<0>(tc, (class + FIRST_CLASS_BIN) * size_of::<Bin>()) }
}

/// Takes the first block of the bin `offset` bytes into `tc`'s bins, less `SKIP` bins, or
/// null when it is empty. The head is read, and the head and room written, at that offset
/// from the cache (`SKIP` is taken off in the displacement), in `asm!` for the writes: LLVM
/// otherwise adds the two into a register of their own for the two stores, an instruction
/// on every hit of malloc's fast path. The plain `inc` is the relaxed load and store
/// `Bin::set_room` makes: only the owning thread writes the room.
///
/// # Safety
/// `tc` is this thread's cache and `offset` less `SKIP` bins a bin's offset from the first
/// of its bins (`fast_bin_at`): a multiple of the size of a bin, below `FAST_BINS` of them.
/// Cached blocks are ours, at least 16 bytes each.
#[inline(always)]
unsafe fn take_from<const SKIP: usize>(tc: *mut ThreadCache, offset: usize) -> *mut u8 {
    // SAFETY: the bin lies inside the cache (the contract).
    unsafe {
        let at = tc.cast::<u8>().add(offset).sub(SKIP * size_of::<Bin>());
        let p = *(at.add(HEAD_IN_CACHE) as *const usize);
        if p == 0 {
            return ptr::null_mut();
        }
        let next = freed::next(p, "malloc");
        #[cfg(target_arch = "x86_64")]
        // The asm writes the head and the room of that bin and nothing else.
        core::arch::asm!(
            "mov qword ptr [{tc} + {offset} + {head}], {next}",
            "inc dword ptr [{tc} + {offset} + {room}]",
            tc = in(reg) tc,
            offset = in(reg) offset,
            next = in(reg) next,
            head = const HEAD_IN_CACHE as isize - (SKIP * size_of::<Bin>()) as isize,
            room = const ROOM_IN_CACHE as isize - (SKIP * size_of::<Bin>()) as isize,
            options(nostack),
        );
        #[cfg(not(target_arch = "x86_64"))]
        {
            let bin = &mut *fast_bin_at(tc, offset / size_of::<Bin>() - SKIP);
            bin.head = next;
            bin.set_room(bin.room() + 1);
        }
        // Forget the link and the double-free key: the program now owns the block.
        freed::clear(p as *mut u8);
        p as *mut u8
    }
}

/// Counts one `counter` call into this thread's cache, for a fast path that serves the call
/// without the slow path's `count`: false, counting nothing, when the thread has no cache or
/// has parked it (calls are traced), so that the caller takes its slow path instead.
#[inline(always)]
pub fn count_fast(counter: Counter) -> bool {
    let slot = tls_get();
    if !holds_cache(slot) {
        return false;
    }
    // SAFETY: a slot that holds a cache holds this thread's.
    unsafe { (*(slot as *mut ThreadCache)).counters.bump(counter, 1) };
    true
}

/// Adds `n` to this thread's `counter` (the shared set's, for a thread without a cache).
#[inline]
pub fn count(counter: Counter, n: u64) {
    match any_cache() {
        // SAFETY: tc is this thread's cache.
        Some(tc) => unsafe { (*tc).counters.bump(counter, n) },
        None => SHARED.add_shared(counter, n),
    }
}

/// The fast path of free: caches `p` if it is a live small heap block, this thread has a
/// cache with room in that bin, and `p` does not look cached already. It makes no call, so
/// the caller's miss path can be a tail call. False: take `cache_free`, then the heap.
///
/// # Safety
/// `p` is what the program passed to free.
#[inline(always)]
pub unsafe fn cache_free_fast<H: Heap>(p: *mut u8) -> bool {
    let tc = fast_cache();
    // SAFETY: forwarded from the caller; tc is this thread's cache.
    unsafe { push::<H>(tc, p) }
}

/// While calls are traced: `cache_free_fast` into this thread's parked cache, for the
/// traced free's first try. False: take `cache_free` (which parks a cache not yet parked
/// and flushes a full bin), then the heap.
///
/// # Safety
/// `p` is what the program passed to free.
#[inline]
pub unsafe fn cache_free_parked<H: Heap>(p: *mut u8) -> bool {
    let tc = parked_get() as *mut ThreadCache;
    // SAFETY: forwarded from the caller; a parked cache is this thread's.
    !tc.is_null() && unsafe { push::<H>(tc, p) }
}

/// `cache_free_fast`'s work for the cache `tc`.
///
/// # Safety
/// `p` is what the program passed to free; `tc` is this thread's cache.
#[inline(always)]
unsafe fn push<H: Heap>(tc: *mut ThreadCache, p: *mut u8) -> bool {
    if !chunkmap::is_region(p as usize) {
        return false;
    }
    // SAFETY: the chunk map says p is in a region; peek_bin validates it lock-free.
    let Some(bin) = (unsafe { H::peek_bin(p) }) else {
        return false;
    };
    let p = p as usize;
    const { assert!(H::CACHE_CLASSES <= MAX_CLASSES) };
    // SAFETY: bin < FAST_BINS (`Heap::peek_bin`), a bin of the cache. Only a class's bin
    // has room, and peek_bin numbers a class's bin only for a live block of that class
    // (at least 16 bytes), so p is one when it is written below.
    unsafe {
        let bin = &mut *fast_bin_at(tc, bin);
        let key = freed::key_of(p);
        // A full bin (the empty ones below the classes are always full) sends the block to
        // the slow path, as does a key: that path reports the double free. Rooms stay far
        // below 2^31, so a room of 0 is the one that goes negative (a decrement and a sign
        // test, where a test for 0 before the decrement takes one instruction more).
        let room = bin.room().wrapping_sub(1);
        if (room as i32) < 0 {
            return false;
        }
        if *((p + 8) as *const usize) == key {
            return false;
        }
        freed::link_keyed(p, bin.head, key);
        bin.head = p;
        bin.set_room(room);
    }
    true
}

/// The slow path of caching a freed block: as `cache_free_fast`, but it also flushes a full bin
/// and reports a double free of a block already in the bin (under the name of `call`). False:
/// free it through the heap (which also reports misuse).
///
/// # Safety
/// `p` is what the program passed to free.
#[cold]
pub unsafe fn cache_free<H: Heap>(arenas: &Arenas<H>, p: *mut u8, call: &str) -> bool {
    let tc = match slow_cache() {
        Some(tc) => tc,
        // A thread that frees before it allocates (a consumer of blocks others made) gets
        // its cache here: otherwise each of its frees would lock the block's arena, or push
        // the block alone on its remote list, instead of going back in chains.
        None if chunkmap::is_region(p as usize) && ENABLED.load(Ordering::Relaxed) => {
            let tc = create(arenas);
            if tc.is_null() {
                return false;
            }
            tc
        }
        None => return false,
    };
    // SAFETY: tc is this thread's cache.
    if !unsafe { follow_enabled(arenas, tc) } {
        return false;
    }
    if !chunkmap::is_region(p as usize) {
        return false;
    }
    // SAFETY: the chunk map says p is in a region; peek_class validates it lock-free.
    let Some(class) = (unsafe { H::peek_class(p) }) else {
        return false;
    };
    let p = p as usize;
    // SAFETY: p is a live block of at least 16 bytes, tc this thread's cache.
    unsafe {
        let home = (*tc).home;
        let counters = &(*tc).counters;
        let bin = &mut (*tc).bins[class];
        // The key is exact (see `freed::is_held`): the block is in this bin, another thread's
        // cache or a remote list. Freed already, whichever it is.
        let key = freed::key_of(p);
        if *((p + 8) as *const usize) == key {
            crate::diag::misuse(call, "double free of", p);
        }
        let overflow = bin.room() == 0;
        let refilled = (*tc).refilled[class];
        if overflow {
            grow(bin, if refilled { grown_limit::<H>(class) } else { natural_limit::<H>(class) });
        }
        if bin.room() == 0 {
            // A bin that serves allocations keeps half, for the next ones; one that only
            // takes frees keeps none, and sends its blocks back in chains twice as long.
            let n = if refilled { bin.count() / 2 } else { bin.count() };
            flush(arenas, home, bin, class, n, counters);
            arenas.trim_idle();
        }
        freed::link_keyed(p, bin.head, key);
        bin.head = p;
        bin.set_count(bin.count() + 1);
        if overflow {
            note_slow(arenas, tc, class);
        }
    }
    true
}

/// Returns `n` blocks of `bin` to their arenas: those of the thread's home in one call of
/// `Heap::free_many` under one lock acquisition, the others chained per owner and pushed on
/// their owners' remote lists with one compare-and-swap each (no waiting).
/// Blocks pushed on remote lists are counted in `counters`.
#[cold]
fn flush<H: Heap>(
    arenas: &Arenas<H>,
    home: usize,
    bin: &mut Bin,
    class: usize,
    n: u32,
    counters: &Counters,
) {
    // Left uninitialised: only the first `count` entries are read, and zeroing them all
    // cost every flush a 2 KiB memset.
    let mut mine = [const { MaybeUninit::<usize>::uninit() }; BIN_GROWN_MAX as usize];
    let mut count = 0;
    // Per owner arena other than home: the first and last block of the chain sent to it
    // and its length, written for the owners in `owners` alone (no zeroing either).
    let mut chains = [const { MaybeUninit::<(usize, usize, u32)>::uninit() }; MAX_ARENAS];
    let mut owners = 0u32;
    let mut p = bin.head;
    for _ in 0..n {
        // SAFETY: p is a cached block, live in its arena, linked with `freed::link`.
        unsafe {
            let next = freed::next(p, "free");
            let owner = owner_of(p) as usize % MAX_ARENAS;
            if owner == home && count < mine.len() {
                mine[count].write(p);
                count += 1;
            } else if owners & 1 << owner == 0 {
                owners |= 1 << owner;
                // The first block in stays last; it is linked when the chain is handed on.
                chains[owner].write((p, p, 1));
            } else {
                // Each block goes in front.
                let chain = chains[owner].assume_init_mut();
                freed::link(p, chain.0);
                chain.0 = p;
                chain.2 += 1;
            }
            p = next;
        }
    }
    bin.head = p;
    bin.set_count(bin.count() - n);
    if count > 0 {
        // SAFETY: the first `count` entries were written above.
        let mine = unsafe { core::slice::from_raw_parts(mine.as_ptr().cast::<usize>(), count) };
        // SAFETY: the blocks are live blocks of the home arena that the cache gives up.
        if unsafe { arenas.get(home as u8).lock().free_many(mine) }.is_err() {
            crate::diag::fatal("thread cache holds a block the heap does not know");
        }
    }
    counters.bump(Counter::CacheEmptied, n as u64);
    let remote = n as u64 - count as u64;
    if remote != 0 {
        counters.bump(Counter::RemoteFrees, remote);
    }
    while owners != 0 {
        let owner = owners.trailing_zeros() as usize;
        owners &= owners - 1;
        // SAFETY: written in the loop above, as `owners` says.
        let (first, last, count) = unsafe { chains[owner].assume_init() };
        let arena = arenas.get(owner as u8);
        // SAFETY: a chain of live blocks of that arena, all of `class`, linked with
        // `freed::link`.
        unsafe {
            if count < CHAIN_MIN
                || !ENABLED.load(Ordering::Relaxed)
                || !arena.offer_chain(first, last, count, class, grown_limit::<H>(class))
            {
                arena.free_remote_chain(first, last);
            }
        }
    }
}

/// Locks this thread's home arena (arena 0 for a thread without a cache), moving home to a
/// free arena when it is busy. A cache first takes the blocks that other threads freed for
/// its home (`collect_remote`).
pub fn lock_home<H: Heap>(arenas: &Arenas<H>) -> Guard<'_, H> {
    let tc = current();
    if tc.is_null() {
        return arenas.lock_home(&mut 0, false);
    }
    // SAFETY: tc is this thread's cache.
    unsafe {
        match collect_remote(arenas, tc) {
            Some(heap) => heap,
            None => arenas.lock_home(&mut (*tc).home, true),
        }
    }
}

/// Takes the blocks other threads freed for this thread's home arena (its remote list, in
/// one swap, without the lock) and keeps in the cache's bins those that fit: the next
/// allocations of their sizes reuse them without a trip through the heap. Without this, the
/// owner of blocks freed elsewhere (a producer whose blocks a consumer frees) freed each
/// one into its heap under the lock and carved it again for the next refill. The rest is
/// freed into the home's heap in the same pass, in batches, under its lock, which is then
/// returned still held (None: nothing was left over, the lock was not taken).
///
/// # Safety
/// `tc` is this thread's cache.
unsafe fn collect_remote<'a, H: Heap>(
    arenas: &'a Arenas<H>,
    tc: *mut ThreadCache,
) -> Option<Guard<'a, H>> {
    const BATCH: usize = 64;
    // SAFETY: tc is this thread's cache.
    let arena = arenas.get(unsafe { (*tc).home } as u8);
    let mut p = arena.take_remote();
    if p == 0 {
        return None;
    }
    let keep = ENABLED.load(Ordering::Relaxed);
    let mut heap: Option<Guard<'a, H>> = None;
    let mut batch = [0usize; BATCH];
    let mut n = 0;
    let mut kept = 0;
    while p != 0 {
        // SAFETY: the list was the home's remote list, ours since the swap: live blocks of
        // that arena linked with `freed::link`, each proven a live block when pushed.
        unsafe {
            let next = freed::next(p, "free");
            let bin = match H::peek_class(p as *mut u8) {
                Some(class) if keep => Some(&mut (*tc).bins[class]),
                _ => None,
            };
            match bin {
                Some(bin) if bin.room() > 0 => {
                    freed::link(p, bin.head);
                    bin.head = p;
                    bin.set_room(bin.room() - 1);
                    kept += 1;
                }
                _ => {
                    batch[n] = p;
                    n += 1;
                    if n == BATCH {
                        // The home's own lock, not `lock_home`'s: the blocks are its.
                        Arena::<H>::free_batch(heap.get_or_insert_with(|| arena.lock()), &batch);
                        n = 0;
                    }
                }
            }
            p = next;
        }
    }
    if n != 0 {
        // SAFETY: as above.
        unsafe { Arena::<H>::free_batch(heap.get_or_insert_with(|| arena.lock()), &batch[..n]) };
    }
    // SAFETY: tc is this thread's cache.
    unsafe { (*tc).counters.bump(Counter::CacheFilled, kept) };
    heap
}

/// This thread's home arena, if it has a cache.
pub fn home() -> Option<u8> {
    let tc = current();
    // SAFETY: tc is this thread's cache.
    (!tc.is_null()).then(|| unsafe { (*tc).home as u8 })
}

/// The slow path of a cached allocation: sets the thread's cache up if needed, refills the
/// bin of `class` from the home arena under one lock acquisition and takes a block. Null if
/// the thread cannot have a cache (then the caller allocates from the heap directly).
#[cold]
#[inline(never)]
pub fn refill<H: Heap>(arenas: &Arenas<H>, class: usize) -> *mut u8 {
    let mut tc = current();
    if tc.is_null() {
        tc = create(arenas);
        if tc.is_null() {
            return ptr::null_mut();
        }
    } else {
        // A parked cache (the calls are traced) still serves from its bins.
        // SAFETY: tc is this thread's cache.
        let p = unsafe { take_cached(tc, class) };
        if !p.is_null() {
            // A hit, but not on malloc's fast path: the caller counts its own call.
            // SAFETY: as above.
            unsafe {
                (*tc).counters.bump(Counter::CacheHits, 1);
                (*tc).counters.bump(Counter::CacheHitsNotMalloc, 1);
            }
            return p;
        }
    }
    // SAFETY: tc is this thread's cache.
    if !unsafe { follow_enabled(arenas, tc) } {
        return ptr::null_mut();
    }
    arenas.trim_idle();
    let size = H::class_size(class);
    // SAFETY: tc is this thread's cache.
    unsafe {
        // Before `collect_remote`, which may return holding the home's lock.
        note_slow(arenas, tc, class);
        let bin = &mut (*tc).bins[class];
        grow(bin, grown_limit::<H>(class));
        (*tc).refilled[class] = true;
        // A chain of this class that another thread handed back whole becomes the bin as it
        // is: its blocks' lines come over one at a time as they are allocated, instead of
        // all at once in a walk that waits for each.
        if let Some((first, count)) = arenas.get((*tc).home as u8).take_chain(class) {
            if count > bin.limit() {
                bin.limit.store(count, Ordering::Relaxed);
            }
            bin.head = first;
            bin.set_count(count);
            (*tc).counters.bump(Counter::CacheFilled, count as u64);
            return take_refilled(tc, class);
        }
        let held = collect_remote(arenas, tc);
        let bin = &mut (*tc).bins[class];
        let want = bin.limit() / 2;
        // Served by what other threads gave back, without the lock unless some was left
        // over, when that is half a refill's worth or more. Fewer (a consumer's chains of
        // other sizes came back) are topped up from the heap: a bin that took whatever
        // trickled back missed again a few allocations later, and each miss swapped the
        // remote list's line away from the threads pushing to it.
        if bin.count() >= want.div_ceil(2) {
            return take_refilled(tc, class);
        }
        let mut heap = match held {
            Some(heap) => heap,
            None => arenas.lock_home(&mut (*tc).home, true),
        };
        let mut fresh = [0usize; BIN_GROWN_MAX as usize / 2];
        // At most `want` in the bin afterwards, within its limit.
        let room = (want - bin.count()) as usize;
        // The lock is held for the call.
        let got = heap.alloc_many(size, &mut fresh[..room]);
        drop(heap);
        for &p in &fresh[..got] {
            // A fresh block of at least 16 bytes, which the program does not hold.
            freed::link(p, bin.head);
            bin.head = p;
        }
        bin.set_count(bin.count() + got as u32);
        (*tc).counters.bump(Counter::CacheFilled, got as u64);
        take_refilled(tc, class)
    }
}

/// The block a refill serves, from the bin it refilled, counted as a miss.
///
/// # Safety
/// `tc` is this thread's cache.
unsafe fn take_refilled(tc: *mut ThreadCache, class: usize) -> *mut u8 {
    // SAFETY: forwarded from the caller.
    unsafe {
        let counters = &(*tc).counters;
        counters.bump(Counter::CacheMisses, 1);
        let p = take_cached(tc, class);
        if !p.is_null() {
            counters.bump(Counter::CacheEmptied, 1);
        }
        p
    }
}

/// Makes this thread's cache, in the arena that becomes its home (the one fewest threads
/// live in, `Arenas::adopt`). Null when the thread is exiting or the exit hook is not
/// registered yet (the cache could never be returned).
fn create<H: Heap>(arenas: &Arenas<H>) -> *mut ThreadCache {
    if tls_get() == exiting_mark() || !KEY_READY.load(Ordering::Acquire) {
        return ptr::null_mut();
    }
    let mut home = arenas.adopt();
    let size = core::mem::size_of::<ThreadCache>();
    // SAFETY: the lock is held for the call.
    let tc = unsafe { arenas.lock_home(&mut home, true).alloc(size, 64) } as *mut ThreadCache;
    if tc.is_null() {
        arenas.leave(home);
        return tc;
    }
    // SAFETY: tc is a fresh block of the cache's size and alignment; the key is valid.
    unsafe {
        tc.write(ThreadCache {
            no_bins: [const { Bin::empty() }; FIRST_CLASS_BIN],
            bins: [const { Bin::empty() }; MAX_CLASSES],
            home,
            caching: false,
            counters: Counters::new(),
            swept_at: 0,
            seen: [0; MAX_CLASSES],
            refilled: [false; MAX_CLASSES],
            next: ptr::null_mut(),
            prev: ptr::null_mut(),
            mark: AtomicUsize::new(freed::key_of(tc as usize) ^ CACHE_MARK),
        });
        // pthread_setspecific may allocate (keys >= 32): bypass caching meanwhile, so that it
        // cannot re-enter here.
        tls_set(exiting_mark());
        let key = KEY.load(Ordering::Relaxed) as libc::pthread_key_t;
        if libc::pthread_setspecific(key, tc.cast()) != 0 {
            // Without the exit hook the cache could never be returned: do without one.
            tls_set(no_cache());
            free_cache(arenas, tc);
            arenas.leave(home);
            return ptr::null_mut();
        }
        follow_enabled(arenas, tc);
        tls_set(tc as usize);
        register(tc);
        if trace::on() {
            park(tc as usize);
        }
    }
    tc
}

/// How many blocks a bin of `class` holds at most.
fn natural_limit<H: Heap>(class: usize) -> u32 {
    let blocks = (crate::options::tcache_scale(BIN_BYTES) / H::class_size(class).max(1)) as u32;
    // Blocks above 1 KiB are held fewer at a time: a cached block also keeps its neighbours
    // from coalescing, which costs the long-lived heap more memory than the cache saves
    // (bench's mix, a fragmentation load, shows it). Above 4 KiB, where the byte budget
    // makes one block, a bin still holds 4: a bin of 2 sits at its ends (a refill of one
    // block leaves it empty after the pop, a flush of one leaves it full after the push),
    // so that about a third of the calls of a class in steady use, whose count walks at
    // random over the bin's three states, take the lock; a bin of 4 lands one block away
    // from its ends.
    let size = H::class_size(class);
    let floor = if size > 4096 {
        BIN_MIN_ABOVE_4K
    } else if size > 1024 {
        BIN_MIN_ABOVE_1K
    } else {
        BIN_MIN
    };
    blocks.clamp(floor, BIN_MAX)
}

/// A bin's limit when its thread starts caching, and after a sweep found it idle.
fn start_limit<H: Heap>(class: usize) -> u32 {
    natural_limit::<H>(class).min(BIN_START)
}

/// How many blocks a bin of `class` may grow to hold (`grow`). Blocks above 1 KiB do not
/// grow, for the reason `natural_limit` holds fewer of them.
fn grown_limit<H: Heap>(class: usize) -> u32 {
    let size = H::class_size(class).max(1);
    if size > 1024 {
        natural_limit::<H>(class)
    } else {
        ((crate::options::tcache_scale(BIN_GROWN_BYTES) / size) as u32)
            .clamp(BIN_MIN, BIN_GROWN_MAX)
    }
}

/// Lets a bin that ran empty or full hold twice as many blocks, up to `max` (`grown_limit`,
/// or `natural_limit` for a bin that only takes frees: see `ThreadCache::refilled`). Bins
/// start small (`BIN_START`), so that a thread pins, in the sizes it uses seldom, a few
/// blocks rather than a refill's worth of each (a thread making blocks of a hundred sizes
/// once each held kilobytes of every one); and a bin's count wanders like a random walk
/// between its ends, where the refills and flushes are, so a bin twice as deep reaches them
/// about a quarter as often. Only the classes a thread keeps missing or overflowing grow,
/// so what the caches hold grows with those alone. A bin with caching off (limit 0) stays
/// off.
fn grow(bin: &Bin, max: u32) {
    let limit = bin.limit();
    if limit == 0 || limit >= max {
        return;
    }
    let grown = (limit * 2).min(max);
    bin.limit.store(grown, Ordering::Relaxed);
    bin.set_room(bin.room() + (grown - limit));
}

/// On a miss or an overflow of the bin of `class`: sweeps when the thread made `SWEEP_OPS`
/// cached calls since it last did. Counted in calls, which the fast paths count anyway, not
/// in misses and overflows: a thread using many classes (crossfree) misses often, and a sweep
/// every so many of them emptied its rarer bins between two of their uses, each use then a
/// refill under the lock. A thread whose calls all hit does not sweep: its cache stays as
/// it is, as nothing would change it.
///
/// # Safety
/// `tc` is this thread's cache; the caller holds no arena lock.
#[inline]
unsafe fn note_slow<H: Heap>(arenas: &Arenas<H>, tc: *mut ThreadCache, class: usize) {
    // SAFETY: tc is this thread's cache.
    unsafe {
        let c = &(*tc).counters;
        // The cached calls, from counts that only grow: frees are not counted as they happen
        // (see Counter::CacheFrees), but in a thread that churns they come back out as
        // about as many hits, and in one that only frees as blocks flushed.
        let ops = 2 * c.own(Counter::CacheHits)
            + c.own(Counter::CacheMisses)
            + c.own(Counter::CacheEmptied);
        if ops.wrapping_sub((*tc).swept_at) >= SWEEP_OPS {
            (*tc).swept_at = ops;
            sweep(arenas, tc, class);
        }
    }
}

/// Gives back every block of the bins that no call took from or gave to since the last
/// sweep (the same list, by its digest), and lets them start small again (`start_limit`),
/// as jemalloc's tcache GC flushes what a bin did not use. Without it a bin holds blocks as
/// long as its thread lives, however seldom its class is used: a thread that makes a few
/// blocks each of many sizes (one in a hundred of transfer's sizes) held a few kilobytes in
/// each of up to 255 classes, memory no other class could use. A class counts as idle by
/// the thread's calls in between (`SWEEP_OPS`), not by time. Bins in use keep their blocks
/// and their grown limits: the digest cannot tell how many of their blocks went unused (no
/// low-water mark; the fast paths would have to keep it). A bin that was used but happened
/// to end as it began counts as idle and gives its blocks back too, at the cost of a
/// refill. `busy`: the bin of the call being served, which stays.
///
/// # Safety
/// `tc` is this thread's cache; the caller holds no arena lock.
#[cold]
#[inline(never)]
unsafe fn sweep<H: Heap>(arenas: &Arenas<H>, tc: *mut ThreadCache, busy: usize) {
    // SAFETY: tc is this thread's cache.
    unsafe {
        let home = (*tc).home;
        let counters = &(*tc).counters;
        for class in 0..H::CACHE_CLASSES {
            let bin = &mut (*tc).bins[class];
            let count = bin.count();
            let now = if count == 0 {
                0
            } else {
                digest(bin.head, count)
            };
            if now == (*tc).seen[class] && class != busy {
                if now != 0 {
                    flush(arenas, home, bin, class, count, counters);
                    bin.set_empty_limit(start_limit::<H>(class));
                    (*tc).seen[class] = 0;
                    (*tc).refilled[class] = false;
                }
                // Blocks other threads handed back for a class this thread did not use
                // since the last sweep go to the heap, where any size can use them.
                let arena = arenas.get(home as u8);
                if arena.has_returned(class) {
                    arena.drain_class(&mut arena.lock(), class);
                }
            } else {
                (*tc).seen[class] = now;
            }
        }
    }
}

/// A bin's list in 32 bits, never 0: its first block and its count. The same digest twice
/// means, but for a chance of 2^-32 or a block taken and given back in between, that no call
/// touched the bin.
fn digest(head: usize, count: u32) -> u32 {
    ((head ^ (head >> 32)) as u32 ^ count.wrapping_mul(0x9E37_79B9)) | 1
}

/// Brings the bins' limits of `tc` in line with `ENABLED`: off, every block goes back to the
/// heap and every limit becomes 0; on, the limits come back. Returns whether the cache
/// caches now.
///
/// # Safety
/// `tc` is this thread's cache.
unsafe fn follow_enabled<H: Heap>(arenas: &Arenas<H>, tc: *mut ThreadCache) -> bool {
    let on = ENABLED.load(Ordering::Relaxed);
    // SAFETY: tc is this thread's cache.
    unsafe {
        if (*tc).caching != on {
            (*tc).caching = on;
            let home = (*tc).home;
            let counters = &(*tc).counters;
            for (class, bin) in (*tc).bins.iter_mut().enumerate().take(H::CACHE_CLASSES) {
                if bin.count() > 0 {
                    flush(arenas, home, bin, class, bin.count(), counters);
                }
                bin.set_empty_limit(if on { start_limit::<H>(class) } else { 0 });
            }
            if !on {
                // Chains handed back for refills that will not come while caching is off.
                let arena = arenas.get(home as u8);
                arena.drain_returned(&mut arena.lock());
            }
        }
    }
    on
}

/// Adds `tc` to the registry's list.
///
/// # Safety
/// `tc` is a fresh cache, on no list.
unsafe fn register(tc: *mut ThreadCache) {
    REGISTRY.lock();
    let first = CACHES.load(Ordering::Relaxed);
    // SAFETY: the list's caches are live while they are on it, and REGISTRY is held.
    unsafe {
        (*tc).next = first;
        if !first.is_null() {
            (*first).prev = tc;
        }
    }
    CACHES.store(tc, Ordering::Relaxed);
    REGISTRY.unlock();
}

/// Takes `tc` off the registry's list, its counts moving to the shared set.
///
/// # Safety
/// `tc` is on the list.
unsafe fn unregister(tc: *mut ThreadCache) {
    REGISTRY.lock();
    // SAFETY: as in `register`.
    unsafe {
        (*tc).counters.fold_into(&SHARED);
        let (next, prev) = ((*tc).next, (*tc).prev);
        if !next.is_null() {
            (*next).prev = prev;
        }
        if prev.is_null() {
            CACHES.store(next, Ordering::Relaxed);
        } else {
            (*prev).next = next;
        }
    }
    REGISTRY.unlock();
}

/// What the thread caches hold and have counted, over every thread.
#[derive(Default)]
pub struct CacheTotals {
    pub counters: Totals,
    /// Blocks held in thread caches, and their usable bytes.
    pub cached_blocks: usize,
    pub cached_bytes: usize,
    /// The heap blocks that hold the caches themselves, and their usable bytes.
    pub cache_blocks: usize,
    pub cache_bytes: usize,
}

/// Adds up every live cache's counters and contents, and the shared counters. The blocks
/// that other threads handed back by class for a cache to take (`Arena::offer_chain`) count
/// as cached too: the program gave them up. The calling thread's own cache is counted
/// exactly; others' cached bytes, and the handed-back ones, by their class.
pub fn totals<H: Heap>(arenas: &Arenas<H>) -> CacheTotals {
    let own = current();
    let mut totals = CacheTotals::default();
    REGISTRY.lock();
    SHARED.add_into(&mut totals.counters);
    let mut tc = CACHES.load(Ordering::Relaxed);
    while !tc.is_null() {
        // SAFETY: a cache on the list is live while REGISTRY is held; its owner writes its
        // counters and bin counts only with relaxed atomic stores.
        unsafe {
            (*tc).counters.add_into(&mut totals.counters);
            totals.cache_blocks += 1;
            totals.cache_bytes += H::peek_usable(tc.cast()).unwrap_or(0);
            for (class, bin) in (*tc).bins.iter().enumerate().take(H::CACHE_CLASSES) {
                let n = bin.count() as usize;
                totals.cached_blocks += n;
                totals.cached_bytes += if tc == own {
                    usable_in::<H>(bin)
                } else {
                    // Another thread's list may change under us: its blocks are counted at
                    // their class's size (a refill's last block can hold a little more).
                    n * H::class_size(class)
                };
            }
            tc = (*tc).next;
        }
    }
    REGISTRY.unlock();
    // What entered the bins is what they hold and what left them (see Counter::CacheFrees);
    // saturating, since another thread's counts may be read a call apart.
    let c = &mut totals.counters;
    c.0[Counter::CacheFrees as usize] =
        (totals.cached_blocks as u64 + c.get(Counter::CacheHits) + c.get(Counter::CacheEmptied))
            .saturating_sub(c.get(Counter::CacheFilled));
    // After the line above: these left a bin (counted emptied) and have not entered one.
    for index in 0..MAX_ARENAS {
        arenas.get(index as u8).each_returned(|class, count| {
            totals.cached_blocks += count as usize;
            totals.cached_bytes += count as usize * H::class_size(class);
        });
    }
    totals
}

/// The usable bytes of the blocks on a bin of this thread's cache, block by block.
///
/// # Safety
/// `bin` is a bin of the calling thread's cache.
unsafe fn usable_in<H: Heap>(bin: &Bin) -> usize {
    let mut bytes = 0;
    let mut p = bin.head;
    while p != 0 {
        // SAFETY: cached blocks are live heap blocks, linked with `freed::link`.
        unsafe {
            bytes += H::peek_usable(p as *mut u8).unwrap_or(0);
            p = freed::next(p, "malloc_stats");
        }
    }
    bytes
}

/// Gives every block of this thread's cache back to its arena; `exiting` also frees the cache
/// itself and makes the thread bypass caching from now on.
///
/// # Safety
/// `tc` is the calling thread's cache.
pub unsafe fn drain<H: Heap>(arenas: &Arenas<H>, tc: *mut ThreadCache, exiting: bool) {
    if exiting {
        // Later calls of this thread go to the heap directly.
        tls_set(exiting_mark());
        parked_set(0);
    }
    // SAFETY: tc is this thread's cache, no longer reachable from its slot when exiting.
    unsafe {
        let home = (*tc).home;
        let counters = &(*tc).counters;
        for (class, bin) in (*tc).bins.iter_mut().enumerate() {
            if bin.count() > 0 {
                flush(arenas, home, bin, class, bin.count(), counters);
            }
        }
        if exiting {
            unregister(tc);
            free_cache(arenas, tc);
            arenas.leave(home);
        } else {
            follow_enabled(arenas, tc);
        }
    }
}

/// The arena of a heap block held by a cache (or of a cache itself), from its region's
/// header (the region bitmap and one load, no radix walk: every flushed block asks). The
/// heap that frees it checks the header's arena against its own.
///
/// # Safety
/// `p` came out of a cache or is a cache: only blocks proven to lie in a region enter a
/// cache, and a region stays mapped while it has a block in use (cached blocks count as in
/// use). A cache link that the program overwrote can break that in a build without
/// sealing, which is why the region bitmap is asked first.
unsafe fn owner_of(p: usize) -> u8 {
    if !chunkmap::is_region(p) {
        crate::diag::fatal("thread cache holds a block outside every region");
    }
    // SAFETY: p lies in a mapped region (the bitmap says so), whose header is at its start.
    unsafe { crate::heap::region_arena(p) }
}

/// Gives the block holding a thread's cache back to its arena.
///
/// # Safety
/// `tc` is a cache no thread uses any more.
unsafe fn free_cache<H: Heap>(arenas: &Arenas<H>, tc: *mut ThreadCache) {
    // The block may reach the program next: it must not pass for a cache then.
    // SAFETY: tc is a cache no thread uses.
    unsafe { (*tc).mark.store(0, Ordering::Relaxed) };
    // SAFETY: tc is a live heap block of its arena, given up by the caller.
    if unsafe { arenas.get(owner_of(tc as usize)).lock().free(tc.cast()) }.is_err() {
        crate::diag::fatal("thread cache block lost");
    }
}
