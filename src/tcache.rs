//! The per-thread cache of small blocks in front of the heap.
//!
//! Each thread keeps, per size class, a LIFO list of free blocks threaded through the blocks
//! themselves. malloc pops and free pushes without any lock or atomic read-modify-write; a
//! miss refills half a bin from the heap, and a full bin flushes half of itself, each under one
//! acquisition of the heap lock. A thread's cache goes back to the heap when it exits (a
//! pthread key destructor).
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

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::arena::Arenas;
use crate::chunkmap::{self, MAX_ARENAS};
use crate::freed;
use crate::heap::Heap;
use crate::sync::Guard;

const MAX_CLASSES: usize = 256;
/// How many bytes one bin may hold before it flushes, and its bounds in blocks.
const BIN_BYTES: usize = 8 << 10;
const BIN_MIN: u32 = 8;
const BIN_MIN_ABOVE_1K: u32 = 2;
const BIN_MAX: u32 = 64;

/// The TLS slot holds 0 (no cache yet), `EXITING`, or the address of the thread's cache.
const EXITING: usize = 1;

/// Reads this thread's slot `bestbuddy_cache_slot` (csrc/tls.c): its offset from the thread
/// pointer comes from the GOT (initial-exec), then one %fs-relative load.
#[inline(always)]
fn tls_get() -> usize {
    let value: usize;
    // SAFETY: reads the calling thread's own TLS slot; touches nothing else.
    unsafe {
        core::arch::asm!(
            "mov {v}, qword ptr [rip + bestbuddy_cache_slot@GOTTPOFF]",
            "mov {v}, qword ptr fs:[{v}]",
            v = out(reg) value,
            options(nostack, readonly, preserves_flags),
        );
    }
    value
}

/// Writes this thread's slot.
#[inline]
fn tls_set(value: usize) {
    // SAFETY: writes the calling thread's own TLS slot; touches nothing else.
    unsafe {
        core::arch::asm!(
            "mov {off}, qword ptr [rip + bestbuddy_cache_slot@GOTTPOFF]",
            "mov qword ptr fs:[{off}], {v}",
            off = out(reg) _,
            v = in(reg) value,
            options(nostack, preserves_flags),
        );
    }
}

#[derive(Clone, Copy)]
struct Bin {
    /// First cached block (0 = none); each block's first word links to the next.
    head: usize,
    /// Blocks on the list. Invariant: `count <= limit`.
    count: u32,
    limit: u32,
}

pub struct ThreadCache {
    bins: [Bin; MAX_CLASSES],
    /// The arena this thread allocates from (see `arena.rs`); it moves when contended.
    home: usize,
    /// `freed::key_of(cache) ^ CACHE_MARK`: tells a cache, a heap block of the allocator's
    /// own, from the program's blocks in a heap walk (`is_cache`).
    mark: usize,
}

const CACHE_MARK: usize = 0x7CAC_4E00_7CAC_4E00;

/// Is the live heap block `p` of `usable` bytes a thread's cache (not the program's)?
///
/// # Safety
/// `p` is a live heap block of `usable` bytes.
pub unsafe fn is_cache(p: usize, usable: usize) -> bool {
    let offset = core::mem::offset_of!(ThreadCache, mark);
    // SAFETY: the word lies inside the block (checked against its usable size).
    usable >= core::mem::size_of::<ThreadCache>()
        && unsafe { *((p + offset) as *const usize) } == freed::key_of(p) ^ CACHE_MARK
}

/// The pthread key whose destructor returns a thread's cache; valid once KEY_READY is set.
static KEY: AtomicUsize = AtomicUsize::new(0);
static KEY_READY: AtomicBool = AtomicBool::new(false);
/// Hands out home arenas to new threads in turn.
static NEXT_HOME: AtomicUsize = AtomicUsize::new(0);
/// Cleared by mallopt(M_PERTURB): frees then bypass the caches so every block gets filled.
pub static ENABLED: AtomicBool = AtomicBool::new(true);

/// This thread's cache, or null (none yet, or the thread is exiting).
#[inline]
pub fn current() -> *mut ThreadCache {
    usable_cache().unwrap_or(ptr::null_mut())
}

/// This thread's cache, if it has one: one comparison of the slot (the fast paths test
/// this rather than `current()`'s null pointer, which cost them a conditional move and a
/// second test).
#[inline(always)]
fn usable_cache() -> Option<*mut ThreadCache> {
    let slot = tls_get();
    if slot > EXITING {
        Some(slot as *mut ThreadCache)
    } else {
        None
    }
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

/// Takes a cached block of `class`, or null when the bin is empty or the thread has no cache.
#[inline(always)]
pub fn pop(class: usize) -> *mut u8 {
    let Some(tc) = usable_cache() else {
        return ptr::null_mut();
    };
    // SAFETY: tc is this thread's cache; cached blocks are ours, at least 16 bytes each.
    unsafe {
        let bin = &mut (*tc).bins[class];
        let p = bin.head;
        if p == 0 {
            return ptr::null_mut();
        }
        bin.head = freed::next(p, "malloc");
        bin.count -= 1;
        // Forget the link and the double-free key: the program now owns the block.
        freed::clear(p as *mut u8);
        p as *mut u8
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
    // SAFETY: forwarded from the caller.
    let Some((tc, class)) = (unsafe { cacheable::<H>(p) }) else {
        return false;
    };
    let p = p as usize;
    const { assert!(H::CACHE_CLASSES <= MAX_CLASSES) };
    // SAFETY: p is a live block of at least 16 bytes; class < H::CACHE_CLASSES <= MAX_CLASSES.
    unsafe {
        let bin = (*tc).bins.get_unchecked_mut(class);
        let key = freed::key_of(p);
        if bin.count >= bin.limit || *((p + 8) as *const usize) == key {
            return false;
        }
        freed::link_keyed(p, bin.head, key);
        bin.head = p;
        bin.count += 1;
    }
    true
}

/// This thread's cache and the class of `p`, if `p` is a live small heap block that the
/// cache may take; proved from the chunk map and the heap's metadata, without a lock.
///
/// # Safety
/// `p` is what the program passed to free.
#[inline(always)]
unsafe fn cacheable<H: Heap>(p: *mut u8) -> Option<(*mut ThreadCache, usize)> {
    let tc = usable_cache()?;
    if !chunkmap::is_region(p as usize) {
        return None;
    }
    // SAFETY: the chunk map says p is in a region; peek_class validates it lock-free.
    let class = unsafe { H::peek_class(p) }?;
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    Some((tc, class))
}

/// The slow path of caching a freed block: as `cache_free_fast`, but it also flushes a full bin
/// and reports a double free of a block already in the bin (under the name of `call`). False:
/// free it through the heap (which also reports misuse).
///
/// # Safety
/// `p` is what the program passed to free.
#[cold]
pub unsafe fn cache_free<H: Heap>(arenas: &Arenas<H>, p: *mut u8, call: &str) -> bool {
    // SAFETY: forwarded from the caller.
    let Some((tc, class)) = (unsafe { cacheable::<H>(p) }) else {
        return false;
    };
    let p = p as usize;
    // SAFETY: p is a live block of at least 16 bytes, tc this thread's cache.
    unsafe {
        let home = (*tc).home;
        let bin = &mut (*tc).bins[class];
        // The key is exact (see `freed::is_held`): the block is in this bin, another thread's
        // cache or a remote list. Freed already, whichever it is.
        let key = freed::key_of(p);
        if *((p + 8) as *const usize) == key {
            crate::diag::misuse(call, "double free of", p);
        }
        if bin.count >= bin.limit {
            flush(arenas, home, bin, bin.count / 2);
        }
        freed::link_keyed(p, bin.head, key);
        bin.head = p;
        bin.count += 1;
    }
    true
}

/// Returns `n` blocks of `bin` to their arenas: those of the thread's home in one call of
/// `Heap::free_many` under one lock acquisition, the others chained per owner and pushed on
/// their owners' remote lists with one compare-and-swap each (no waiting).
#[cold]
fn flush<H: Heap>(arenas: &Arenas<H>, home: usize, bin: &mut Bin, n: u32) {
    let mut mine = [0usize; BIN_MAX as usize];
    let mut count = 0;
    // Per owner arena: the first and last block of the chain sent to it (0: none).
    let mut chains = [(0usize, 0usize); MAX_ARENAS];
    for _ in 0..n {
        let p = bin.head;
        // SAFETY: p is a cached block, live in its arena, linked with `freed::link`.
        unsafe {
            bin.head = freed::next(p, "free");
            let owner = owner_of(p);
            if owner as usize == home && count < mine.len() {
                mine[count] = p;
                count += 1;
            } else {
                let chain = &mut chains[owner as usize % MAX_ARENAS];
                // Each block goes in front; the first one in stays last and is linked to
                // the owner's list when the chain is pushed.
                if chain.0 == 0 {
                    chain.1 = p;
                } else {
                    freed::link(p, chain.0);
                }
                chain.0 = p;
            }
        }
        bin.count -= 1;
    }
    if count > 0 {
        // SAFETY: the blocks are live blocks of the home arena that the cache gives up.
        if unsafe { arenas.get(home as u8).lock().free_many(&mine[..count]) }.is_err() {
            crate::diag::fatal("thread cache holds a block the heap does not know");
        }
    }
    for (owner, &(first, last)) in chains.iter().enumerate() {
        if first != 0 {
            // SAFETY: a chain of live blocks of that arena, linked with `freed::link`.
            unsafe { arenas.get(owner as u8).free_remote_chain(first, last) };
        }
    }
}

/// Locks this thread's home arena (arena 0 for a thread without a cache), moving home to a
/// free arena when it is busy.
pub fn lock_home<H: Heap>(arenas: &Arenas<H>) -> Guard<'_, H> {
    let tc = current();
    if tc.is_null() {
        return arenas.lock_home(&mut 0);
    }
    // SAFETY: tc is this thread's cache.
    arenas.lock_home(unsafe { &mut (*tc).home })
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
    }
    let size = H::class_size(class);
    {
        // SAFETY: tc is this thread's cache.
        let (home, bin) = unsafe { (&mut (*tc).home, &mut (*tc).bins[class]) };
        let mut fresh = [0usize; BIN_MAX as usize / 2];
        let want = (bin.limit / 2) as usize;
        // SAFETY: the lock is held for the call.
        let got = unsafe { arenas.lock_home(home).alloc_many(size, &mut fresh[..want]) };
        for &p in &fresh[..got] {
            // SAFETY: a fresh block of at least 16 bytes, which the program does not hold.
            unsafe { freed::link(p, bin.head) };
            bin.head = p;
            bin.count += 1;
        }
    }
    pop(class)
}

/// Makes this thread's cache, in the arena that becomes its home (taken in turn, so threads
/// spread over the arenas). Null when the thread is exiting or the exit hook is not
/// registered yet (the cache could never be returned).
fn create<H: Heap>(arenas: &Arenas<H>) -> *mut ThreadCache {
    if tls_get() == EXITING || !KEY_READY.load(Ordering::Acquire) {
        return ptr::null_mut();
    }
    let mut home = NEXT_HOME.fetch_add(1, Ordering::Relaxed) % arenas.count();
    let size = core::mem::size_of::<ThreadCache>();
    // SAFETY: the lock is held for the call.
    let tc = unsafe { arenas.lock_home(&mut home).alloc(size, 64) } as *mut ThreadCache;
    if tc.is_null() {
        return tc;
    }
    let mut bins = [Bin {
        head: 0,
        count: 0,
        limit: 0,
    }; MAX_CLASSES];
    for (class, bin) in bins.iter_mut().enumerate().take(H::CACHE_CLASSES) {
        let blocks = (BIN_BYTES / H::class_size(class).max(1)) as u32;
        // Blocks above 1 KiB are held fewer at a time: a cached block also keeps its
        // neighbours from coalescing, which costs the long-lived heap more memory than the
        // cache saves (bench's mix, a fragmentation load, shows it).
        let floor = if H::class_size(class) > 1024 {
            BIN_MIN_ABOVE_1K
        } else {
            BIN_MIN
        };
        bin.limit = blocks.clamp(floor, BIN_MAX);
    }
    // SAFETY: tc is a fresh block of the cache's size and alignment; the key is valid.
    unsafe {
        tc.write(ThreadCache {
            bins,
            home,
            mark: freed::key_of(tc as usize) ^ CACHE_MARK,
        });
        // pthread_setspecific may allocate (keys >= 32): bypass caching meanwhile, so that it
        // cannot re-enter here.
        tls_set(EXITING);
        let key = KEY.load(Ordering::Relaxed) as libc::pthread_key_t;
        if libc::pthread_setspecific(key, tc.cast()) != 0 {
            // Without the exit hook the cache could never be returned: do without one.
            tls_set(0);
            free_cache(arenas, tc);
            return ptr::null_mut();
        }
        tls_set(tc as usize);
    }
    tc
}

/// Gives every block of this thread's cache back to its arena; `exiting` also frees the cache
/// itself and makes the thread bypass caching from now on.
///
/// # Safety
/// `tc` is the calling thread's cache.
pub unsafe fn drain<H: Heap>(arenas: &Arenas<H>, tc: *mut ThreadCache, exiting: bool) {
    if exiting {
        // Later calls of this thread go to the heap directly.
        tls_set(EXITING);
    }
    // SAFETY: tc is this thread's cache, no longer reachable from its slot when exiting.
    unsafe {
        let home = (*tc).home;
        for bin in (*tc).bins.iter_mut() {
            if bin.count > 0 {
                flush(arenas, home, bin, bin.count);
            }
        }
        if exiting {
            free_cache(arenas, tc);
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
    unsafe { (*tc).mark = 0 };
    // SAFETY: tc is a live heap block of its arena, given up by the caller.
    if unsafe { arenas.get(owner_of(tc as usize)).lock().free(tc.cast()) }.is_err() {
        crate::diag::fatal("thread cache block lost");
    }
}
