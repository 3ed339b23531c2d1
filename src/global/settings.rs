//! What the program can ask of the allocator as a whole: statistics, trimming, the invariant
//! walk, and the settings mallopt and BESTBUDDY_OPTIONS change.

use core::sync::atomic::{AtomicUsize, Ordering};

use super::{ARENAS, ActiveHeap, MMAP_MAX, MMAP_THRESHOLD, PERTURB, ensure_init};
use crate::chunkmap;
use crate::heap::{CHUNK, Heap, HeapStats};
use crate::large;
use crate::sync::RawLock;
use crate::tcache;

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
    Snapshot {
        heap,
        large_count: large::COUNT.load(Ordering::Relaxed),
        large_bytes: large::BYTES.load(Ordering::Relaxed),
        max_large_count: large::MAX_COUNT.load(Ordering::Relaxed),
        max_large_bytes: large::MAX_BYTES.load(Ordering::Relaxed),
        kept_bytes: large::kept_bytes(),
    }
}

/// Bytes the heap has mapped in regions.
pub fn region_bytes(stats: &HeapStats) -> usize {
    stats.regions * CHUNK
}

/// Gives this thread's cached blocks back to the heap (before trimming or perturbing).
pub(super) fn drain_this_thread() {
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
