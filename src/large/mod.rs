//! Blocks above the mmap threshold (256 KiB by default, at most a heap's largest request): each
//! gets a mapping of its own, unmapped on free.
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
//! large blocks still live (or 64 MiB, once the program has mapped 8 large blocks afresh and
//! so shows that it cycles through them: glibc's heap, whose trim threshold grows to 64 MiB,
//! holds as much; a heap that then grows past the process's peak footprint sheds them
//! first, `shed_for_heap`), and reused for a later request they fit (at most sixteen times
//! its size): a program that allocates and frees large blocks in a loop then pays neither a
//! system call nor a page fault per block, and one that lets go of its large blocks gets
//! most of the memory back. A request bigger than every kept mapping grows the largest one
//! (mremap, in place or moved): its resident pages serve the request's first bytes, so only
//! the bytes past it fault. The oldest kept mapping is unmapped to make room; malloc_trim
//! unmaps them all.
//!
//! A block reusing a mapping more than four times its size keeps the mapping's resident
//! pages past its own end ("pinned": the next reuse of the whole mapping then needs no
//! faults) while the pinned bytes of all live blocks stay within the same limit as the kept
//! ones; past it, those pages go back to the OS at once (the range stays mapped). So the
//! dead memory held is at most twice that limit, kept and pinned.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::chunkmap::{self, CHUNK, Owner};
use crate::heap::{MIN_ALIGN, Misuse};
use crate::os::{self, PAGE};

mod kept;

use kept::{
    FRESH_MAPPINGS, PIN_RATIO, PINNED, grow_kept, keep, keep_limit, note_footprint, take_kept,
    take_kept_below,
};
pub use kept::{
    fork_child, fork_parent, fork_prepare, kept_bytes, set_keep_limit, shed_for_heap, trim,
};

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
/// Bytes of large mappings given back to the OS, kept ones included once they go.
pub static RETURNED: AtomicUsize = AtomicUsize::new(0);

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

/// Forgets a mapping in the chunk map, then unmaps it (in that order: once unmapped, the
/// range may be mapped and claimed by another thread).
fn unmap_block(head: usize, mapped: usize) {
    chunkmap::forget(head, mapped);
    // SAFETY: the mapping is ours and holds no live block.
    unsafe { os::unmap(head as *mut u8, mapped) };
    RETURNED.fetch_add(mapped, Ordering::Relaxed);
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
                // Out of address space (RLIMIT_AS, overcommit): the kept mappings are a cache,
                // and a cycling program may hold 64 MiB of them; they go before the request
                // fails.
                let mut fresh = os::map_aligned(mapped, head_align);
                if fresh.is_none() && trim() {
                    fresh = os::map_aligned(mapped, head_align);
                }
                let Some(head) = fresh else {
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
    note_footprint();
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

/// Calls `f` with the payload and usable size of every live large block (kept mappings
/// are not blocks). For the trace's `LIVE` records, at start-up or in a fork child, when no
/// other thread frees large blocks: the headers read are those of mappings that stay put.
pub fn each_live(mut f: impl FnMut(usize, usize)) {
    chunkmap::each_large_head(|head| {
        let header = head as *const LargeHeader;
        // SAFETY: a LargeHead chunk starts with a mapped header (see the caller's promise).
        let (check, mapped, payload) =
            unsafe { ((*header).check, (*header).mapped, (*header).payload) };
        if check == head ^ MAGIC {
            f(payload, head + mapped - payload);
        }
    });
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
            RETURNED.fetch_add(old - new, Ordering::Relaxed);
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
