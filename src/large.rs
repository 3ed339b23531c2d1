//! Blocks above a heap's largest request: each gets a mapping of its own, unmapped on free.
//!
//! ```text
//!  chunk-aligned mapping
//!  +--------------+-- ... --+----------------------------------------+
//!  | LargeHeader  |  (gap)  | payload (aligned as requested)         |
//!  +--------------+-- ... --+----------------------------------------+
//!  ^ head: chunk map says LargeHead here, LargeTail for the chunks after
//! ```
//! The header sits at the mapping's first byte, so it is found from any payload pointer by
//! walking the chunk map back to the `LargeHead` chunk; a pointer is valid iff the header
//! found there names it as its payload.
//!
//! Freed mappings of up to 32 MiB are kept, up to 64 MiB in all and never more than the
//! large blocks still live (or 64 MiB, once the program has mapped 64 large blocks afresh and
//! so shows that it cycles through them: glibc's heap, whose trim threshold grows to 64 MiB,
//! holds as much), and reused for a later request they fit (at most sixteen times its size):
//! a program that allocates and frees large blocks in a loop then pays neither a system call
//! nor a page fault per block, and one that lets go of its large blocks gets most of the
//! memory back. A request bigger than every kept mapping grows the largest one (mremap, in
//! place or moved): its resident pages serve the request's first bytes, so only the bytes
//! past it fault. The oldest kept mapping is unmapped to make room; malloc_trim unmaps them
//! all.
//!
//! A block reusing a mapping more than four times its size keeps the mapping's resident
//! pages past its own end ("pinned": the next reuse of the whole mapping then needs no
//! faults) while the pinned bytes of all live blocks stay within the same limit as the kept
//! ones; past it, those pages go back to the OS at once (the range stays mapped). So the
//! dead memory held is at most twice that limit, kept and pinned.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::chunkmap::{self, CHUNK, Owner};
use crate::heap::{MIN_ALIGN, Misuse};
use crate::os::{self, PAGE};
use crate::sync::Locked;

#[repr(C)]
struct LargeHeader {
    /// `head ^ MAGIC`: tells a real header from a stale or forged one.
    check: usize,
    /// Bytes mapped from `head`.
    mapped: usize,
    /// The payload pointer handed to the program.
    payload: usize,
    /// Bytes past the block's own size that it holds resident because it reuses a kept
    /// mapping much larger than itself (counted in `PINNED`); 0 otherwise.
    pinned: usize,
}

const MAGIC: usize = 0xB0DD_1E5B_E57F_17A5;
const HEADER_SPACE: usize = 64;

/// Large blocks currently mapped, and their mapped bytes (for mallinfo's hblks/hblkhd).
pub static COUNT: AtomicUsize = AtomicUsize::new(0);
pub static BYTES: AtomicUsize = AtomicUsize::new(0);
/// The most of each there ever was (for malloc_stats).
pub static MAX_COUNT: AtomicUsize = AtomicUsize::new(0);
pub static MAX_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Payloads of the last large blocks freed. Their mappings are gone, so a second free finds
/// no header; this ring is what lets it be named a double free rather than an invalid pointer.
static RECENTLY_FREED: [AtomicUsize; 64] = [const { AtomicUsize::new(0) }; 64];
static NEXT_FREED: AtomicUsize = AtomicUsize::new(0);

/// Was `p` the payload of a recently freed large block? (Only asked on the error path.)
pub fn recently_freed(p: usize) -> bool {
    RECENTLY_FREED
        .iter()
        .any(|slot| slot.load(Ordering::Relaxed) == p)
}

const KEEP_SLOTS: usize = 8;
const KEEP_MAX_MAPPING: usize = 32 << 20;
/// A program that has mapped this many large blocks afresh is cycling through large blocks:
/// from then on up to `KEEP_FLOOR` bytes of freed mappings are kept even when fewer large
/// bytes are live (each reuse saves an mmap, a munmap and a page fault per page touched).
const CYCLING_AFTER: usize = 64;
const KEEP_FLOOR: usize = 64 << 20;
/// Large blocks mapped afresh or grown from a smaller kept mapping (not reused) so far.
static FRESH_MAPPINGS: AtomicUsize = AtomicUsize::new(0);
/// Cleared when moving a kept mapping onto a fresh range failed (see `grow_kept`).
static MOVE_WORKS: AtomicBool = AtomicBool::new(true);
/// At most this many bytes of freed mappings are kept (mallopt M_TRIM_THRESHOLD sets it).
/// 64 MiB by default, the most glibc's own dynamic trim threshold grows to.
static KEEP_LIMIT: AtomicUsize = AtomicUsize::new(64 << 20);

/// A kept mapping of more than this many times a request's size that serves it leaves a
/// tail the block never touches: such tails count as `PINNED`.
const PIN_RATIO: usize = 4;
/// Bytes of such tails held by live blocks. They are as dead as kept mappings, and bounded
/// the same way: pinned bytes stay within `keep_limit()` (a budget of their own beside the
/// kept bytes'). A reuse that would exceed it gives the tail's pages back instead (the range
/// stays mapped).
static PINNED: AtomicUsize = AtomicUsize::new(0);

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
fn take_kept(need: usize, align: usize) -> Option<(usize, usize)> {
    take_kept_by(
        align,
        |mapped| mapped >= need && mapped / 16 <= need,
        |a, b| a < b,
    )
}

/// Takes the largest kept mapping smaller than `need` bytes whose head is aligned to `align`:
/// grown to `need` (`grow_kept`), its resident pages serve the request's first bytes.
fn take_kept_below(need: usize, align: usize) -> Option<(usize, usize)> {
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
fn grow_kept(head: usize, kept: usize, need: usize, align: usize) -> Option<usize> {
    // Growth counts as a fresh mapping: the program is asking for large blocks anew.
    FRESH_MAPPINGS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: a kept mapping is ours and holds no live block.
    match unsafe { os::remap_in_place(head as *mut u8, kept, need) } {
        Ok(()) => {
            if chunkmap::claim(head, need, Owner::LargeHead) {
                return Some(head);
            }
            unmap_block(head, need);
            return None;
        }
        // The kept range is no longer one mapping (madvise or mprotect split it): mremap
        // refuses to move it too, so it is not tried.
        Err(libc::EFAULT) => {
            unmap_block(head, kept);
            return None;
        }
        Err(_) => {}
    }
    if !MOVE_WORKS.load(Ordering::Relaxed) {
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
fn keep_limit() -> usize {
    let live = BYTES.load(Ordering::Relaxed);
    let floor = if FRESH_MAPPINGS.load(Ordering::Relaxed) >= CYCLING_AFTER {
        KEEP_FLOOR
    } else {
        0
    };
    KEEP_LIMIT.load(Ordering::Relaxed).min(live.max(floor))
}

/// Keeps the freed mapping at `head` if it may be kept, evicting the oldest kept ones while
/// the kept bytes exceed the limit (which a free lowers, so this also gives memory back when
/// the freed mapping itself is not kept). False if it was not kept.
fn keep(head: usize, mapped: usize) -> bool {
    let limit = keep_limit();
    let keepable = mapped <= KEEP_MAX_MAPPING && mapped <= limit;
    let room = if keepable { mapped } else { 0 };
    let mut evicted = [(0usize, 0usize); KEEP_SLOTS];
    {
        let mut kept = KEPT.lock();
        let mut n = 0;
        while kept.bytes + room > limit || (keepable && kept.slots.iter().all(|s| s.0 != 0)) {
            let victim = kept.next_victim;
            kept.next_victim = (victim + 1) % KEEP_SLOTS;
            let old = kept.slots[victim];
            if old.0 != 0 {
                kept.slots[victim] = (0, 0);
                kept.bytes -= old.1;
                evicted[n] = old;
                n += 1;
            }
        }
        if keepable {
            let free_slot = kept.slots.iter().position(|s| s.0 == 0).unwrap_or(0);
            kept.slots[free_slot] = (head, mapped);
            kept.bytes += mapped;
        }
    }
    for (head, mapped) in evicted {
        if head != 0 {
            unmap_block(head, mapped);
        }
    }
    keepable
}

/// Forgets a mapping in the chunk map, then unmaps it (in that order: once unmapped, the
/// range may be mapped and claimed by another thread).
fn unmap_block(head: usize, mapped: usize) {
    chunkmap::forget(head, mapped);
    // SAFETY: the mapping is ours and holds no live block.
    unsafe { os::unmap(head as *mut u8, mapped) };
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

/// Where the payload starts relative to the head for a given alignment.
#[inline]
fn payload_offset(align: usize) -> usize {
    align.max(HEADER_SPACE)
}

/// Maps a block of `size` bytes aligned to `align` (a power of two). Null if the OS refuses.
pub fn alloc(size: usize, align: usize) -> *mut u8 {
    alloc_reporting_used(size, align).0
}

/// Maps a block of `size` zeroed bytes.
pub fn alloc_zeroed(size: usize) -> *mut u8 {
    let (p, used_end) = alloc_reporting_used(size, MIN_ALIGN);
    if !p.is_null() && used_end > p as usize {
        // Only the bytes that held data before: the rest are fresh from the OS, zero, and
        // writing them would fault their pages in.
        let dirty = (used_end - p as usize).min(size);
        // SAFETY: the block holds at least `size` bytes at p.
        unsafe { core::ptr::write_bytes(p, 0, dirty) };
    }
    p
}

/// As `alloc`, also saying where the bytes that may hold old data end: the block's start
/// when the memory is all fresh from the OS (and so zero).
fn alloc_reporting_used(size: usize, align: usize) -> (*mut u8, usize) {
    let align = align.max(MIN_ALIGN);
    // Even an empty block owns a byte, so its payload lies inside the mapping.
    let size = size.max(1);
    let offset = payload_offset(align);
    let Some(mut mapped) = size.checked_add(offset).and_then(|n| os::align_up(n, PAGE)) else {
        return (core::ptr::null_mut(), 0);
    };
    // The head is aligned to the requested alignment too (when that exceeds a chunk), so the
    // payload, `offset` = the alignment past it, is aligned as asked.
    let head_align = align.max(CHUNK);
    let mut pinned = 0;
    let (head, used) = match take_kept(mapped, head_align) {
        Some((head, kept)) => {
            let tail = kept - mapped;
            if kept > PIN_RATIO * mapped {
                let dead = PINNED.load(Ordering::Relaxed) + tail;
                if dead <= keep_limit() {
                    // Its resident pages save the faults of a fresh mapping the next time
                    // the whole mapping is reused.
                    PINNED.fetch_add(tail, Ordering::Relaxed);
                    pinned = tail;
                } else {
                    // SAFETY: page-aligned, inside the kept mapping, holding nothing live.
                    unsafe { os::decommit((head + mapped) as *mut u8, tail) };
                }
            }
            mapped = kept;
            (head, mapped)
        }
        None => match take_kept_below(mapped, head_align)
            .and_then(|(head, kept)| Some((grow_kept(head, kept, mapped, head_align)?, kept)))
        {
            Some(grown) => grown,
            None => {
                let Some(head) = os::map_aligned(mapped, head_align) else {
                    return (core::ptr::null_mut(), 0);
                };
                let head = head.as_ptr() as usize;
                if !chunkmap::claim(head, mapped, Owner::LargeHead) {
                    // SAFETY: just mapped, never shown to anyone.
                    unsafe { os::unmap(head as *mut u8, mapped) };
                    return (core::ptr::null_mut(), 0);
                }
                FRESH_MAPPINGS.fetch_add(1, Ordering::Relaxed);
                (head, 0)
            }
        },
    };
    let payload = head + offset;
    // A new block at a recently freed address is live, not freed.
    for slot in &RECENTLY_FREED {
        if slot.load(Ordering::Relaxed) == payload {
            let _ = slot.compare_exchange(payload, 0, Ordering::Relaxed, Ordering::Relaxed);
        }
    }
    // SAFETY: the header lies at the start of the fresh mapping.
    unsafe {
        (head as *mut LargeHeader).write(LargeHeader {
            check: head ^ MAGIC,
            mapped,
            payload,
            pinned,
        });
    }
    note_mapped(mapped as isize, 1);
    (payload as *mut u8, head + used)
}

fn note_mapped(bytes: isize, count: isize) {
    let c = COUNT
        .fetch_add(count as usize, Ordering::Relaxed)
        .wrapping_add(count as usize);
    let b = BYTES
        .fetch_add(bytes as usize, Ordering::Relaxed)
        .wrapping_add(bytes as usize);
    MAX_COUNT.fetch_max(c, Ordering::Relaxed);
    MAX_BYTES.fetch_max(b, Ordering::Relaxed);
}

/// Finds the header of the large block whose payload is `p`.
///
/// # Safety
/// The chunk map must say that `p`'s chunk belongs to a large block.
unsafe fn header_of(p: usize) -> Result<*mut LargeHeader, Misuse> {
    let mut chunk = p & !(CHUNK - 1);
    while chunkmap::owner(chunk) == Owner::LargeTail {
        chunk -= CHUNK;
    }
    if chunkmap::owner(chunk) != Owner::LargeHead {
        return Err(Misuse::InvalidPointer);
    }
    let header = chunk as *mut LargeHeader;
    // SAFETY: a LargeHead chunk starts with a mapped header.
    unsafe {
        if (*header).payload != p {
            return Err(Misuse::InvalidPointer);
        }
        if (*header).check != chunk ^ MAGIC {
            // A kept mapping: its block was freed.
            return Err(Misuse::DoubleFree);
        }
    }
    Ok(header)
}

/// Stops counting the block's pinned tail.
///
/// # Safety
/// `header` is the header of a block this thread owns (live, or being freed by it).
unsafe fn unpin(header: *mut LargeHeader) {
    // SAFETY: forwarded from the caller.
    unsafe {
        PINNED.fetch_sub((*header).pinned, Ordering::Relaxed);
        (*header).pinned = 0;
    }
}

/// Unmaps the large block at `p`.
///
/// # Safety
/// As for `header_of`.
pub unsafe fn free(p: *mut u8) -> Result<(), Misuse> {
    // SAFETY: header_of validated the header.
    unsafe {
        let header = header_of(p as usize)?;
        let head = header as usize;
        let mapped = (*header).mapped;
        // The header no longer names a live block, whether the mapping is kept or unmapped.
        // Atomically: of two threads freeing the same block at once, one sees a double free.
        let check = AtomicUsize::from_ptr(core::ptr::addr_of_mut!((*header).check));
        if check
            .compare_exchange(head ^ MAGIC, 0, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return Err(Misuse::DoubleFree);
        }
        note_mapped(-(mapped as isize), -1);
        unpin(header);
        if !keep(head, mapped) {
            unmap_block(head, mapped);
        }
        let slot = NEXT_FREED.fetch_add(1, Ordering::Relaxed) % RECENTLY_FREED.len();
        RECENTLY_FREED[slot].store(p as usize, Ordering::Relaxed);
    }
    Ok(())
}

/// The usable bytes of the large block at `p`.
///
/// # Safety
/// As for `header_of`.
pub unsafe fn usable_size(p: *mut u8) -> Result<usize, Misuse> {
    // SAFETY: header_of validated the header.
    unsafe {
        let header = header_of(p as usize)?;
        Ok(header as usize + (*header).mapped - p as usize)
    }
}

/// Resizes the large block at `p` to hold `size` bytes without moving it: shrinking unmaps
/// the tail, growing asks the kernel to extend the mapping where it is.
///
/// # Safety
/// As for `header_of`.
pub unsafe fn resize_in_place(p: *mut u8, size: usize) -> Result<bool, Misuse> {
    // SAFETY: header_of validated the header; the ranges changed are this block's own.
    unsafe {
        let header = header_of(p as usize)?;
        let head = header as usize;
        let old = (*header).mapped;
        let Some(new) = (p as usize - head)
            .checked_add(size)
            .and_then(|n| os::align_up(n, PAGE))
        else {
            return Ok(false);
        };
        if new == old {
            return Ok(true);
        }
        if new < old {
            // Keep the mapping when the saving would be small: avoids churn on small shrinks.
            if old - new < old / 4 {
                return Ok(true);
            }
            // Chunks wholly past the new end are no longer ours. Forget them before
            // unmapping (see `unmap_block`).
            let keep = os::align_up(new, CHUNK).unwrap_or(new);
            if keep < old {
                chunkmap::forget(head + keep, old - keep);
            }
            os::unmap((head + new) as *mut u8, old - new);
        } else {
            if os::remap_in_place(head as *mut u8, old, new).is_err() {
                return Ok(false);
            }
            if !chunkmap::claim(head, new, Owner::LargeHead) {
                // Shrink back: the map could not record the new chunks.
                let _ = os::remap_in_place(head as *mut u8, new, old);
                return Ok(false);
            }
        }
        // The tail it pinned is used or unmapped now.
        unpin(header);
        (*header).mapped = new;
        note_mapped(new as isize - old as isize, 0);
        Ok(true)
    }
}
