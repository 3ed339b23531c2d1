//! What the program can ask of the allocator as a whole: statistics, trimming, the invariant
//! walk, and the settings mallopt and BESTBUDDY_OPTIONS change.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::{ARENAS, ActiveHeap, MMAP_MAX, MMAP_THRESHOLD, PERTURB, ensure_init};
use crate::chunkmap;
use crate::freed;
use crate::heap::{CHUNK, Heap, HeapStats, SpanKind};
use crate::large;
use crate::os;
use crate::sync::RawLock;
use crate::tcache::{self, CacheTotals};

/// A snapshot of every figure the introspection calls and the statistics report.
pub struct Snapshot {
    /// The heaps' figures, summed over the arenas.
    pub heap: HeapStats,
    /// The thread caches' contents and every thread's call counters.
    pub cache: CacheTotals,
    pub large_count: usize,
    pub large_bytes: usize,
    pub max_large_count: usize,
    pub max_large_bytes: usize,
    /// Bytes of freed large mappings kept for reuse.
    pub kept_bytes: usize,
    /// Bytes of large mappings given back to the OS.
    pub large_returned: usize,
    /// Resident bytes of the process now, and the most there have been.
    pub rss: usize,
    pub peak_rss: usize,
    /// malloc_trim calls made.
    pub trims: usize,
}

impl Snapshot {
    /// Blocks the program holds: heap blocks in use but not held by a thread cache, and
    /// large blocks.
    pub fn live_blocks(&self) -> usize {
        self.live_heap_blocks() + self.large_count
    }

    /// Heap blocks the program holds: in use, but neither held by a thread cache nor
    /// holding one.
    pub fn live_heap_blocks(&self) -> usize {
        self.heap
            .used_blocks
            .saturating_sub(self.cache.cached_blocks + self.cache.cache_blocks)
    }

    /// Usable bytes of heap blocks the program holds.
    pub fn live_heap_bytes(&self) -> usize {
        usable_bytes(self.heap.used, self.heap.used_blocks)
            .saturating_sub(self.cache.cached_bytes + self.cache.cache_bytes)
    }

    /// Usable bytes the program holds: its heap blocks', and its large blocks' mappings.
    pub fn live_bytes(&self) -> usize {
        self.live_heap_bytes() + self.large_bytes
    }

    /// External fragmentation of the heaps, 1 - largest free block / free bytes, in
    /// thousandths (0 when nothing is free).
    pub fn fragmentation_permille(&self) -> usize {
        match self.heap.free {
            0 => 0,
            free => 1000 - (self.heap.largest_free as u128 * 1000 / free as u128) as usize,
        }
    }

    /// Bytes given back to the OS: heap regions and pages, large mappings.
    /// (Pages malloc_trim decommitted are `heap.decommitted`, and those frees of large
    /// free blocks gave back `heap.purged`, apart: each counts them again each time.)
    pub fn returned(&self) -> usize {
        self.heap.returned + self.large_returned
    }
}

/// The usable bytes of `blocks` heap blocks of `bytes` in all (each loses its header).
fn usable_bytes(bytes: usize, blocks: usize) -> usize {
    bytes - blocks * ActiveHeap::BLOCK_HEADER
}

pub fn snapshot() -> Snapshot {
    snapshot_by_arena(&mut [None; chunkmap::MAX_ARENAS])
}

/// As `snapshot`, and each opened arena's figures in `arenas` by index (the others None),
/// from the same pass over the arenas, so that the totals are their sum (for malloc_info).
pub fn snapshot_by_arena(arenas: &mut [Option<HeapStats>; chunkmap::MAX_ARENAS]) -> Snapshot {
    let mut heap = HeapStats::default();
    ARENAS.each_indexed(|index, arena| {
        let stats = arena.stats();
        heap += stats;
        arenas[index] = Some(stats);
    });
    let (rss, peak_rss) = os::resident_bytes();
    Snapshot {
        heap,
        cache: tcache::totals(&ARENAS),
        large_count: large::COUNT.load(Ordering::Relaxed),
        large_bytes: large::BYTES.load(Ordering::Relaxed),
        max_large_count: large::MAX_COUNT.load(Ordering::Relaxed),
        max_large_bytes: large::MAX_BYTES.load(Ordering::Relaxed),
        kept_bytes: large::kept_bytes(),
        large_returned: large::RETURNED.load(Ordering::Relaxed),
        rss,
        peak_rss,
        trims: TRIMS.load(Ordering::Relaxed),
    }
}

/// What a walk over every heap's blocks found, against what the counters say, taken in one
/// pass under each arena's lock.
#[derive(Default, Debug)]
pub struct WalkCheck {
    /// Blocks in use and their bytes, as the walk found them and as the heaps count them.
    pub walked_blocks: usize,
    pub walked_bytes: usize,
    pub counted_blocks: usize,
    pub counted_bytes: usize,
    /// Blocks in use that a thread cache or a remote list holds (they carry the held-block
    /// key), and their usable bytes.
    pub held_blocks: usize,
    pub held_bytes: usize,
    /// Blocks that hold the thread caches themselves.
    pub cache_blocks: usize,
    /// Blocks the program holds, by the walk, and their usable bytes.
    pub live_blocks: usize,
    pub live_bytes: usize,
}

impl WalkCheck {
    /// Whether the walk and the heaps' counts agree.
    pub fn agrees(&self) -> bool {
        self.walked_blocks == self.counted_blocks && self.walked_bytes == self.counted_bytes
    }
}

/// Walks every block of every heap (`Heap::walk`), to check the statistics against what the
/// memory holds.
pub fn walk_check() -> WalkCheck {
    let mut check = WalkCheck::default();
    ARENAS.each(|heap| {
        let stats = heap.stats();
        check.counted_blocks += stats.used_blocks;
        check.counted_bytes += stats.used;
        // SAFETY: the heap is locked and intact (its own checks abort on damage first); a
        // live block's payload lies past its header and holds at least 16 bytes.
        unsafe {
            heap.walk(|span| {
                if span.kind != SpanKind::Live {
                    return;
                }
                check.walked_blocks += 1;
                check.walked_bytes += span.size;
                let usable = span.size - ActiveHeap::BLOCK_HEADER;
                let p = span.start + ActiveHeap::BLOCK_HEADER;
                if freed::is_held(p as *mut u8) {
                    check.held_blocks += 1;
                    check.held_bytes += usable;
                } else if tcache::is_cache(p, usable) {
                    check.cache_blocks += 1;
                } else {
                    check.live_blocks += 1;
                    check.live_bytes += usable;
                }
            })
        };
    });
    check
}

/// Bytes the heap has mapped in regions.
pub fn region_bytes(stats: &HeapStats) -> usize {
    stats.regions * CHUNK
}

/// The bytes one heap region maps.
pub const REGION_BYTES: usize = CHUNK;

/// Gives this thread's cached blocks back to the heap (before trimming or perturbing).
pub(super) fn drain_this_thread() {
    let tc = tcache::current();
    if !tc.is_null() {
        // SAFETY: tc is this thread's cache.
        unsafe { tcache::drain(&ARENAS, tc, false) };
    }
}

/// malloc_trim calls made.
pub static TRIMS: AtomicUsize = AtomicUsize::new(0);

pub fn trim() -> bool {
    TRIMS.fetch_add(1, Ordering::Relaxed);
    drain_this_thread();
    let mut released = large::trim();
    ARENAS.each_indexed(|index, heap| {
        // What other threads handed back for this arena's threads is memory the program
        // gave up: freed into the heap under the same lock, before its pages are trimmed.
        ARENAS.get(index as u8).drain_returned(heap);
        released |= heap.trim();
    });
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
        bytes => bytes / CHUNK,
    };
    let pad = match TOP_PAD.load(Ordering::Relaxed) {
        UNSET => 0,
        bytes => bytes.div_ceil(CHUNK),
    };
    ARENAS.set_spare_limit(trim.max(pad));
    SETTINGS.unlock();
}

/// Perturbing fills every block on malloc and free, so the caches step aside: this thread's
/// is drained, and no thread caches a freed block any more. Turning it off brings the caches
/// back unless the start-up options turned them off for good (`forbid_caching`).
pub fn set_perturb(byte: u8) {
    PERTURB.store(byte, Ordering::Relaxed);
    let caching = byte == 0 && !CACHING_FORBIDDEN.load(Ordering::Relaxed);
    tcache::ENABLED.store(caching, Ordering::Relaxed);
    drain_this_thread();
}

/// Set by `tcache=0` and `check=N`: the caches stay off whatever mallopt(M_PERTURB) says.
static CACHING_FORBIDDEN: AtomicBool = AtomicBool::new(false);

/// Turns the thread caches off for the rest of the process (BESTBUDDY_OPTIONS `tcache=0`,
/// and `check=N`, which counts every call on the slow paths).
pub(super) fn forbid_caching() {
    CACHING_FORBIDDEN.store(true, Ordering::Relaxed);
    tcache::ENABLED.store(false, Ordering::Relaxed);
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
