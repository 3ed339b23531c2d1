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

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::chunkmap::{self, CHUNK, Owner};
use crate::heap::{MIN_ALIGN, Misuse};
use crate::os::{self, PAGE};

#[repr(C)]
struct LargeHeader {
    /// `head ^ MAGIC`: tells a real header from a stale or forged one.
    check: usize,
    /// Bytes mapped from `head`.
    mapped: usize,
    /// The payload pointer handed to the program.
    payload: usize,
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

/// Where the payload starts relative to the head for a given alignment.
#[inline]
fn payload_offset(align: usize) -> usize {
    align.max(HEADER_SPACE)
}

/// Maps a block of `size` bytes aligned to `align` (a power of two). Null if the OS refuses.
pub fn alloc(size: usize, align: usize) -> *mut u8 {
    let align = align.max(MIN_ALIGN);
    // Even an empty block owns a byte, so its payload lies inside the mapping.
    let size = size.max(1);
    let offset = payload_offset(align);
    let Some(mapped) = size.checked_add(offset).and_then(|n| os::align_up(n, PAGE)) else {
        return core::ptr::null_mut();
    };
    // The head is aligned to the requested alignment too (when that exceeds a chunk), so the
    // payload, `offset` = the alignment past it, is aligned as asked.
    let Some(head) = os::map_aligned(mapped, align.max(CHUNK)) else {
        return core::ptr::null_mut();
    };
    let head = head.as_ptr() as usize;
    if !chunkmap::claim(head, mapped, Owner::LargeHead) {
        // SAFETY: just mapped, never shown to anyone.
        unsafe { os::unmap(head as *mut u8, mapped) };
        return core::ptr::null_mut();
    }
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
        });
    }
    note_mapped(mapped as isize, 1);
    payload as *mut u8
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
        if (*header).check != chunk ^ MAGIC || (*header).payload != p {
            return Err(Misuse::InvalidPointer);
        }
    }
    Ok(header)
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
        // Forget the block before unmapping, so nobody can find the header of a dead mapping.
        (*header).check = 0;
        chunkmap::release(head, mapped);
        os::unmap(head as *mut u8, mapped);
        note_mapped(-(mapped as isize), -1);
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
            // unmapping: once unmapped, another thread may map and claim that range.
            let keep = os::align_up(new, CHUNK).unwrap_or(new);
            if keep < old {
                chunkmap::release(head + keep, old - keep);
            }
            os::unmap((head + new) as *mut u8, old - new);
        } else {
            if !os::remap_in_place(head as *mut u8, old, new) {
                return Ok(false);
            }
            if !chunkmap::claim(head, new, Owner::LargeHead) {
                // Shrink back: the map could not record the new chunks.
                os::remap_in_place(head as *mut u8, new, old);
                return Ok(false);
            }
        }
        (*header).mapped = new;
        note_mapped(new as isize - old as isize, 0);
        Ok(true)
    }
}
