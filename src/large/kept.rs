//! The freed large mappings kept for reuse, and the bytes pinned by blocks that reuse a
//! mapping much larger than themselves: how much may be kept, taking a kept mapping for a
//! request (or growing the largest), keeping a freed one, and malloc_trim's eviction.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::{BYTES, unmap_block};
use crate::chunkmap::{self, CHUNK, Owner};
use crate::heap::os_regions;
use crate::os;
use crate::sync::Locked;

const KEEP_SLOTS: usize = 8;
const KEEP_MAX_MAPPING: usize = 32 << 20;
/// A program that has mapped this many large blocks afresh is cycling through large blocks:
/// from then on up to `KEEP_FLOOR` bytes of freed mappings are kept even when fewer large
/// bytes are live (each reuse saves an mmap, a munmap and a page fault per page touched).
/// Low, because until then a free while few large bytes are live unmaps what the next
/// request faults in again; what the floor keeps costs no peak, as a heap that grows past
/// the footprint sheds it (`shed_for_heap`).
const CYCLING_AFTER: usize = 8;
const KEEP_FLOOR: usize = 64 << 20;
/// Large blocks mapped afresh or grown from a smaller kept mapping (not reused) so far.
pub(super) static FRESH_MAPPINGS: AtomicUsize = AtomicUsize::new(0);
/// Cleared when moving a kept mapping onto a fresh range failed (see `grow_kept`).
static MOVE_WORKS: AtomicBool = AtomicBool::new(true);
/// At most this many bytes of freed mappings are kept (mallopt M_TRIM_THRESHOLD sets it).
/// 64 MiB by default, the most glibc's own dynamic trim threshold grows to.
static KEEP_LIMIT: AtomicUsize = AtomicUsize::new(64 << 20);

/// A kept mapping of more than this many times a request's size that serves it leaves a
/// tail the block never touches: such tails count as `PINNED`.
pub(super) const PIN_RATIO: usize = 4;
/// Bytes of such tails held by live blocks. They are as dead as kept mappings, and bounded
/// the same way: pinned bytes stay within `keep_limit()` (a budget of their own beside the
/// kept bytes'). A reuse that would exceed it gives the tail's pages back instead (the range
/// stays mapped).
pub(super) static PINNED: AtomicUsize = AtomicUsize::new(0);

/// The most bytes of heap regions, large mappings and kept mappings the process has held
/// at once, as far as the large calls and `shed_for_heap` saw. Kept mappings past the
/// bound of the live bytes (the cycling floor's) may fill the footprint up to it, but not
/// raise it: a heap that grows past it sheds them first.
static FOOTPRINT_PEAK: AtomicUsize = AtomicUsize::new(0);
/// The heaps' regions when `shed_for_heap` last looked.
static REGIONS_SEEN: AtomicUsize = AtomicUsize::new(0);

/// Sets how many bytes of freed mappings may be kept for reuse.
pub fn set_keep_limit(bytes: usize) {
    KEEP_LIMIT.store(bytes, Ordering::Relaxed);
}

/// Freed mappings kept for reuse. Invariant: `bytes` is the sum of the slots' `mapped`; a
/// kept mapping keeps its chunk map entries and its header, with `check` = 0.
struct Kept {
    /// (head, mapped bytes); head 0 = empty slot.
    slots: [(usize, usize); KEEP_SLOTS],
    bytes: usize,
    /// The slot to evict next (oldest first).
    next_victim: usize,
}

static KEPT: Locked<Kept> = Locked::new(Kept {
    slots: [(0, 0); KEEP_SLOTS],
    bytes: 0,
    next_victim: 0,
});

/// Takes the smallest kept mapping of `need..=16 * need` bytes whose head is aligned to `align`.
pub(super) fn take_kept(need: usize, align: usize) -> Option<(usize, usize)> {
    take_kept_by(
        align,
        |mapped| mapped >= need && mapped / 16 <= need,
        |a, b| a < b,
    )
}

/// Takes the largest kept mapping smaller than `need` bytes whose head is aligned to `align`:
/// grown to `need` (`grow_kept`), its resident pages serve the request's first bytes.
pub(super) fn take_kept_below(need: usize, align: usize) -> Option<(usize, usize)> {
    take_kept_by(align, |mapped| mapped < need, |a, b| a > b)
}

/// Takes, of the kept mappings whose head is aligned to `align` and whose size `fits`, the
/// one whose size is `better` than every other's.
fn take_kept_by(
    align: usize,
    fits: impl Fn(usize) -> bool,
    better: impl Fn(usize, usize) -> bool,
) -> Option<(usize, usize)> {
    let mut kept = KEPT.lock();
    let mut best: Option<usize> = None;
    for (i, &(head, mapped)) in kept.slots.iter().enumerate() {
        if head != 0
            && fits(mapped)
            && head % align == 0
            && best.is_none_or(|b| better(mapped, kept.slots[b].1))
        {
            best = Some(i);
        }
    }
    let i = best?;
    let found = kept.slots[i];
    kept.slots[i] = (0, 0);
    kept.bytes -= found.1;
    Some(found)
}

/// Grows the kept mapping `(head, kept)` to `need` bytes, where it is or moved to a fresh
/// range aligned to `align`: the pages it has resident move along (no copy, no fault), and
/// only the bytes past `kept` are new. Returns the new head, or None (the kept mapping is
/// then unmapped: it was taken out of the kept set already).
pub(super) fn grow_kept(head: usize, kept: usize, need: usize, align: usize) -> Option<usize> {
    // Growth counts as a fresh mapping: the program is asking for large blocks anew.
    FRESH_MAPPINGS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: a kept mapping is ours and holds no live block.
    let split = match unsafe { os::remap_in_place(head as *mut u8, kept, need) } {
        Ok(()) => {
            if chunkmap::claim(head, need, Owner::LargeHead) {
                return Some(head);
            }
            unmap_block(head, need);
            return None;
        }
        // The kept range is no longer one mapping (madvise or mprotect split it): mremap
        // refuses to move it too, so it is not tried.
        Err(error) => error == libc::EFAULT,
    };
    if split || !MOVE_WORKS.load(Ordering::Relaxed) {
        unmap_block(head, kept);
        return None;
    }
    let Some(to) = os::map_aligned(need, align) else {
        unmap_block(head, kept);
        return None;
    };
    let to = to.as_ptr() as usize;
    if !chunkmap::claim(to, need, Owner::LargeHead) {
        // SAFETY: just mapped, never shown to anyone.
        unsafe { os::unmap(to as *mut u8, need) };
        unmap_block(head, kept);
        return None;
    }
    // The old range is forgotten before it is unmapped (see `unmap_block`).
    chunkmap::forget(head, kept);
    // SAFETY: both ranges are ours; the old one holds no live block and is forgotten.
    if unsafe { os::remap_to(head as *mut u8, kept, to as *mut u8, need) } {
        return Some(to);
    }
    // The move failed (rare now that a split source is caught above: the map-count limit,
    // no memory for page tables), and moving is not tried again in this process. The
    // target is forgotten but never unmapped: some kernels unmap it before they find the
    // failure, and another thread may map into that hole at once, so unmapping it could
    // take someone else's memory. Where the kernel left it mapped, that much address space
    // stays reserved, untouched (no memory).
    MOVE_WORKS.store(false, Ordering::Relaxed);
    chunkmap::forget(to, need);
    // SAFETY: the old range is ours, forgotten, and holds no live block.
    unsafe { os::unmap(head as *mut u8, kept) };
    None
}

/// How many bytes of kept mappings, and as many of pinned tails, may be held now. No more
/// than the large blocks still live: a program cycling through large blocks reuses them, one
/// that has let go of its large blocks gets the memory back.
pub(super) fn keep_limit() -> usize {
    let live = BYTES.load(Ordering::Relaxed);
    let floor = if FRESH_MAPPINGS.load(Ordering::Relaxed) >= CYCLING_AFTER {
        KEEP_FLOOR
    } else {
        0
    };
    KEEP_LIMIT.load(Ordering::Relaxed).min(live.max(floor))
}

/// The bytes of heap regions, live large mappings and `kept` kept bytes.
fn footprint(kept: usize) -> usize {
    os_regions()
        .saturating_mul(CHUNK)
        .saturating_add(BYTES.load(Ordering::Relaxed))
        .saturating_add(kept)
}

/// Takes the oldest kept mapping out of the set (there must be one) and returns it.
fn evict_oldest(kept: &mut Kept) -> (usize, usize) {
    loop {
        let victim = kept.next_victim;
        kept.next_victim = (victim + 1) % KEEP_SLOTS;
        let old = kept.slots[victim];
        if old.0 != 0 {
            kept.slots[victim] = (0, 0);
            kept.bytes -= old.1;
            return old;
        }
    }
}

/// Unmaps what `evict_oldest` took out, once the lock is released.
fn unmap_evicted(evicted: &[(usize, usize); KEEP_SLOTS]) {
    for &(head, mapped) in evicted {
        if head != 0 {
            unmap_block(head, mapped);
        }
    }
}

/// Notes the footprint after a large block was mapped or reused (see `FOOTPRINT_PEAK`).
pub(super) fn note_footprint() {
    let kept = KEPT.lock();
    FOOTPRINT_PEAK.fetch_max(footprint(kept.bytes), Ordering::Relaxed);
}

/// Makes room for a heap that has mapped regions since the last call: while the footprint
/// exceeds its peak, the kept mappings past the bound of the live large bytes go, oldest
/// first. A program that cycled through large blocks (the floor of `keep_limit`) and then
/// grows its heap so uses the kept memory's place rather than adding to its peak. One load
/// while the heaps' regions stay as they were.
#[inline]
pub fn shed_for_heap() {
    let regions = os_regions();
    if regions != REGIONS_SEEN.load(Ordering::Relaxed) {
        shed_for_heap_slow(regions);
    }
}

#[cold]
#[inline(never)]
fn shed_for_heap_slow(regions: usize) {
    if REGIONS_SEEN.swap(regions, Ordering::Relaxed) >= regions {
        // The heaps gave regions back: nothing to make room for.
        return;
    }
    let strict = KEEP_LIMIT
        .load(Ordering::Relaxed)
        .min(BYTES.load(Ordering::Relaxed));
    let mut evicted = [(0usize, 0usize); KEEP_SLOTS];
    {
        let mut kept = KEPT.lock();
        let peak = FOOTPRINT_PEAK.load(Ordering::Relaxed);
        let mut n = 0;
        while kept.bytes > strict && footprint(kept.bytes) > peak {
            evicted[n] = evict_oldest(&mut kept);
            n += 1;
        }
        FOOTPRINT_PEAK.fetch_max(footprint(kept.bytes), Ordering::Relaxed);
    }
    unmap_evicted(&evicted);
}

/// Keeps the freed mapping at `head` if it may be kept, evicting the oldest kept ones while
/// the kept bytes exceed the limit (which a free lowers, so this also gives memory back when
/// the freed mapping itself is not kept). False if it was not kept.
pub(super) fn keep(head: usize, mapped: usize) -> bool {
    let limit = keep_limit();
    let keepable = mapped <= KEEP_MAX_MAPPING && mapped <= limit;
    let room = if keepable { mapped } else { 0 };
    let mut evicted = [(0usize, 0usize); KEEP_SLOTS];
    {
        let mut kept = KEPT.lock();
        let mut n = 0;
        while kept.bytes + room > limit || (keepable && kept.slots.iter().all(|s| s.0 != 0)) {
            evicted[n] = evict_oldest(&mut kept);
            n += 1;
        }
        if keepable {
            let free_slot = kept.slots.iter().position(|s| s.0 == 0).unwrap_or(0);
            kept.slots[free_slot] = (head, mapped);
            kept.bytes += mapped;
        }
    }
    unmap_evicted(&evicted);
    keepable
}

/// Unmaps every kept mapping; true if there was one.
pub fn trim() -> bool {
    let mut evicted = [(0usize, 0usize); KEEP_SLOTS];
    {
        let mut kept = KEPT.lock();
        for (slot, out) in kept.slots.iter_mut().zip(evicted.iter_mut()) {
            *out = core::mem::take(slot);
        }
        kept.bytes = 0;
    }
    let mut any = false;
    for (head, mapped) in evicted {
        if head != 0 {
            unmap_block(head, mapped);
            any = true;
        }
    }
    any
}

/// fork: the kept-mappings lock is taken in the prepare handler, released after.
pub fn fork_prepare() {
    KEPT.raw().lock();
}

pub fn fork_parent() {
    KEPT.raw().unlock();
}

pub fn fork_child() {
    KEPT.raw().reset_in_child();
}

/// Bytes of freed mappings kept for reuse.
pub fn kept_bytes() -> usize {
    KEPT.lock().bytes
}
