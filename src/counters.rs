//! Counts of what the program's calls did, kept per thread and summed when read.
//!
//! A thread's counters live in its cache (`tcache.rs`) and only that thread writes them: an
//! increment is a relaxed load and a relaxed store of the same word, which compiles to one
//! `add` to memory, with no lock and no atomic read-modify-write on the fast paths. Readers
//! (statistics) load them relaxed; a figure read while its thread runs may be one call old.
//! Threads without a cache, and threads that have exited, count into a shared set with
//! atomic adds, on paths that are slow anyway.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// What is counted. Calls of `malloc` and `free` are not counted directly (their fast paths
/// would pay twice): they are derived from the cache's counts, see [`Totals::calls`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(usize)]
pub enum Counter {
    /// Allocations served by a thread cache (any entry point).
    CacheHits,
    /// Those of them not on malloc's fast path: for calloc, realloc or the aligned family,
    /// or on a slow path (a parked cache, while calls are traced), whose caller counts its
    /// own call.
    CacheHitsNotMalloc,
    /// Refills of a thread cache bin from the heap.
    CacheMisses,
    /// Blocks freed into a thread cache. Not counted as they happen (free's fast path would
    /// pay for it): `tcache::totals` derives it from what the bins hold and the counts
    /// below, since every block that enters a bin leaves it again as a hit or by a slow path.
    CacheFrees,
    /// Blocks put into bins by slow paths (a refill's from the heap, a remote list's).
    CacheFilled,
    /// Blocks taken out of bins by slow paths (the block a refill serves, flushes).
    CacheEmptied,
    /// Frees that went past the cache to the heap or a mapping.
    FreesUncached,
    /// Frees made by realloc (a block that moved, or realloc(p, 0)), not by free.
    FreesByRealloc,
    /// malloc calls that missed the cache's fast path.
    MallocMissed,
    /// free(NULL).
    FreeNull,
    Calloc,
    Realloc,
    Reallocarray,
    PosixMemalign,
    AlignedAlloc,
    Memalign,
    Valloc,
    Pvalloc,
    UsableSize,
    /// Blocks handed to another arena's remote list (freed by a thread that did not hold
    /// the owner's lock).
    RemoteFrees,
}

/// How many counters there are.
pub const COUNTERS: usize = Counter::RemoteFrees as usize + 1;

/// One set of counters.
pub struct Counters([AtomicU64; COUNTERS]);

impl Default for Counters {
    fn default() -> Self {
        Self::new()
    }
}

impl Counters {
    pub const fn new() -> Self {
        Counters([const { AtomicU64::new(0) }; COUNTERS])
    }

    /// Adds `n` to a counter that only the calling thread writes (its own cache's).
    #[inline(always)]
    pub fn bump(&self, counter: Counter, n: u64) {
        let c = &self.0[counter as usize];
        c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// A counter's value, read by the thread that writes it (its own cache's).
    #[inline]
    pub fn own(&self, counter: Counter) -> u64 {
        self.0[counter as usize].load(Relaxed)
    }

    /// Adds `n` to a counter that several threads write (the shared set).
    pub fn add_shared(&self, counter: Counter, n: u64) {
        self.0[counter as usize].fetch_add(n, Relaxed);
    }

    /// Adds every counter into `totals`.
    pub fn add_into(&self, totals: &mut Totals) {
        for (total, c) in totals.0.iter_mut().zip(self.0.iter()) {
            *total = total.wrapping_add(c.load(Relaxed));
        }
    }

    /// Moves every counter into the shared set `into` (a thread's, as it exits).
    pub fn fold_into(&self, into: &Counters) {
        for (c, shared) in self.0.iter().zip(into.0.iter()) {
            shared.fetch_add(c.load(Relaxed), Relaxed);
        }
    }
}

/// The counters of every thread, added up.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Totals(pub [u64; COUNTERS]);

/// Calls per entry point of the malloc family, as the program made them.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Calls {
    pub malloc: u64,
    pub free: u64,
    pub calloc: u64,
    pub realloc: u64,
    pub reallocarray: u64,
    pub posix_memalign: u64,
    pub aligned_alloc: u64,
    pub memalign: u64,
    pub valloc: u64,
    pub pvalloc: u64,
    pub malloc_usable_size: u64,
}

impl Totals {
    pub fn get(&self, counter: Counter) -> u64 {
        self.0[counter as usize]
    }

    /// The calls per entry point. malloc's are its cache hits and its misses; free's are the
    /// frees that reached the allocator, less those realloc made, plus free(NULL).
    /// Saturating: counters read while threads run may be a call apart.
    pub fn calls(&self) -> Calls {
        use Counter::*;
        let frees = self.get(CacheFrees) + self.get(FreesUncached);
        Calls {
            malloc: self
                .get(CacheHits)
                .saturating_sub(self.get(CacheHitsNotMalloc))
                + self.get(MallocMissed),
            free: frees.saturating_sub(self.get(FreesByRealloc)) + self.get(FreeNull),
            calloc: self.get(Calloc),
            realloc: self.get(Realloc),
            reallocarray: self.get(Reallocarray),
            posix_memalign: self.get(PosixMemalign),
            aligned_alloc: self.get(AlignedAlloc),
            memalign: self.get(Memalign),
            valloc: self.get(Valloc),
            pvalloc: self.get(Pvalloc),
            malloc_usable_size: self.get(UsableSize),
        }
    }
}
