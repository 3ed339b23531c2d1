//! Which 4 MiB chunk of the address space belongs to whom.
//!
//! Every piece of memory the allocator hands out lies in a chunk-aligned mapping: a heap
//! region is exactly one chunk, a large block's mapping starts on a chunk boundary. So the
//! owner of any pointer is found from its address alone, in O(1), without reading memory that
//! might not be mapped: that is what makes `free` of a foreign pointer (stack, global, libc's
//! own) a clean diagnostic instead of a crash.
//!
//! The map is a two-level radix table over the 48-bit user address space: a static root of
//! 2^11 leaf pointers, each leaf 2^15 one-byte entries mapped on first use (32 KiB).
//! Readers take no lock; leaves are published with release ordering and never freed.
//! Beside it, a flat byte map of the chunks that are heap regions (`is_region`) answers
//! free's fast path with one load.

use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU8, Ordering};

use crate::os;
use crate::sync::RawLock;

pub const CHUNK_SHIFT: usize = 22;
/// 4 MiB: the size and alignment of a heap region, and the granule of large mappings.
pub const CHUNK: usize = 1 << CHUNK_SHIFT;

const ADDRESS_BITS: usize = 48;
const LEAF_BITS: usize = 15;
const ROOT_BITS: usize = ADDRESS_BITS - CHUNK_SHIFT - LEAF_BITS;
const LEAF_LEN: usize = 1 << LEAF_BITS;

/// What a chunk holds. Stored as one byte per chunk: 0 nobody, 2 and 3 the parts of a large
/// block, `REGION_TAG + a` a region of arena `a`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Owner {
    /// Not ours.
    Nobody,
    /// A heap region of the arena with this index: a region header sits at its start.
    Region(u8),
    /// The first chunk of a large block's own mapping: its header sits at the chunk start.
    LargeHead,
    /// A later chunk of a large block's mapping: walk back to the `LargeHead`.
    LargeTail,
}

const LARGE_HEAD_TAG: u8 = 2;
const LARGE_TAIL_TAG: u8 = 3;
const REGION_TAG: u8 = 16;
/// Arena indices fit in the low four bits of a region's entry.
pub const MAX_ARENAS: usize = 16;

impl Owner {
    fn tag(self) -> u8 {
        match self {
            Owner::Nobody => 0,
            Owner::Region(arena) => REGION_TAG + arena,
            Owner::LargeHead => LARGE_HEAD_TAG,
            Owner::LargeTail => LARGE_TAIL_TAG,
        }
    }

    #[inline]
    fn from_tag(tag: u8) -> Owner {
        match tag {
            LARGE_HEAD_TAG => Owner::LargeHead,
            LARGE_TAIL_TAG => Owner::LargeTail,
            t if t >= REGION_TAG => Owner::Region(t - REGION_TAG),
            _ => Owner::Nobody,
        }
    }
}

/// Invariant: `ROOT[i]` is null or points to a leaf of `LEAF_LEN` entries that stays mapped
/// for the life of the process.
static ROOT: [AtomicPtr<AtomicU8>; 1 << ROOT_BITS] =
    [const { AtomicPtr::new(ptr::null_mut()) }; 1 << ROOT_BITS];

/// Chunks of the user address space below 2^47 (x86_64's user half with 4-level paging; the
/// kernel maps nothing higher unless asked to).
const USER_CHUNKS: usize = 1 << (47 - CHUNK_SHIFT);

/// One byte per chunk of the user address space, non-zero iff the chunk is a heap region:
/// the same fact as a `Region` entry of the radix map, in a form that free's fast path reads
/// with one load and no pointer chasing (a static, so it needs no initialisation). A byte
/// rather than a bit: the test is a compare of memory with zero, where a bit cost a shift,
/// a load and a bit test besides. 32 MiB of zero pages, touched only where regions lie (one
/// 4 KiB page covers 16 GiB of address space). Invariant: byte `c` is non-zero iff
/// `owner(c << CHUNK_SHIFT)` is `Owner::Region(_)`, between a `claim` or `forget` and its
/// return.
static REGION_BYTES: [AtomicU8; USER_CHUNKS] = [const { AtomicU8::new(0) }; USER_CHUNKS];

/// Whether `addr` lies in a heap region: `owner(addr)` is `Owner::Region(_)`, without saying
/// whose. Lock-free; no memory but the region bytes is read.
#[inline(always)]
pub fn is_region(addr: usize) -> bool {
    let chunk = addr >> CHUNK_SHIFT;
    #[cfg(target_arch = "x86_64")]
    {
        // Free's fast path asks this of every pointer. Written in Rust, the bound becomes
        // `addr >> 47 != 0` (LLVM folds the comparison of the shifted value back into one of
        // the address), which costs a second copy and shift; and the byte is loaded and then
        // tested. Here: one compare of the index, one compare of memory with zero. A plain
        // load is an acquire load on x86_64, and the asm is not `pure`, so no later load is
        // moved above it.
        // SAFETY: the byte is read only when chunk < USER_CHUNKS, the map's length; the asm
        // reads nothing else, writes nothing, and jumps only to the label.
        unsafe {
            core::arch::asm!(
                "cmp {chunk}, {len}",
                "jae {nowhere}",
                "cmp byte ptr [{map} + {chunk}], 0",
                "je {nowhere}",
                chunk = in(reg) chunk,
                map = in(reg) REGION_BYTES.as_ptr(),
                len = const USER_CHUNKS,
                nowhere = label { return false },
                options(readonly, nostack),
            );
        }
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        if chunk >= USER_CHUNKS {
            return false;
        }
        // SAFETY: chunk < USER_CHUNKS, the map's length.
        unsafe { REGION_BYTES.get_unchecked(chunk) }.load(Ordering::Acquire) != 0
    }
}

/// Sets or clears the region byte of the chunk at `chunk_start` (the radix entry is written
/// first when a region is claimed, and after when it is forgotten, so a reader that sees the
/// byte sees the entry).
fn set_region_bit(chunk_start: usize, region: bool) {
    let chunk = chunk_start >> CHUNK_SHIFT;
    if chunk >= USER_CHUNKS {
        return;
    }
    REGION_BYTES[chunk].store(region as u8, Ordering::Release);
}

/// Serialises leaf creation (readers never take it).
pub static LEAF_LOCK: RawLock = RawLock::new();

#[inline]
fn split(addr: usize) -> Option<(usize, usize)> {
    let chunk = addr >> CHUNK_SHIFT;
    if chunk >> (ROOT_BITS + LEAF_BITS) != 0 {
        return None;
    }
    Some((chunk >> LEAF_BITS, chunk & (LEAF_LEN - 1)))
}

/// The owner of the chunk that contains `addr`.
#[inline]
pub fn owner(addr: usize) -> Owner {
    let Some((root, index)) = split(addr) else {
        return Owner::Nobody;
    };
    let leaf = ROOT[root].load(Ordering::Acquire);
    if leaf.is_null() {
        return Owner::Nobody;
    }
    // SAFETY: a published leaf has LEAF_LEN entries and is never unmapped; index < LEAF_LEN.
    let entry = unsafe { &*leaf.add(index) };
    Owner::from_tag(entry.load(Ordering::Acquire))
}

/// Calls `f` with the start of every chunk that is a large block's first chunk
/// (`Owner::LargeHead`), in address order: how the live large blocks are listed (the trace's
/// `LIVE` records). Lock-free, as `owner`; an entry that changes meanwhile may be missed or
/// seen.
pub fn each_large_head(mut f: impl FnMut(usize)) {
    for (root, slot) in ROOT.iter().enumerate() {
        let leaf = slot.load(Ordering::Acquire);
        if leaf.is_null() {
            continue;
        }
        for index in 0..LEAF_LEN {
            // SAFETY: as in `owner`.
            let entry = unsafe { &*leaf.add(index) };
            if entry.load(Ordering::Acquire) == LARGE_HEAD_TAG {
                f(((root << LEAF_BITS) | index) << CHUNK_SHIFT);
            }
        }
    }
}

/// The entry for `addr`, creating its leaf if needed; `None` if the leaf cannot be mapped.
fn entry(addr: usize) -> Option<&'static AtomicU8> {
    let (root, index) = split(addr)?;
    let mut leaf = ROOT[root].load(Ordering::Acquire);
    if leaf.is_null() {
        LEAF_LOCK.lock();
        leaf = ROOT[root].load(Ordering::Acquire);
        if leaf.is_null()
            && let Some(fresh) = os::map(LEAF_LEN)
        {
            leaf = fresh.as_ptr().cast();
            ROOT[root].store(leaf, Ordering::Release);
        }
        LEAF_LOCK.unlock();
        if leaf.is_null() {
            return None;
        }
    }
    // SAFETY: as in `owner`.
    Some(unsafe { &*leaf.add(index) })
}

/// Records that `[start, start + len)` (start chunk-aligned) now belongs to a region or a
/// large block. Returns false, having changed nothing, if a leaf could not be mapped.
pub fn claim(start: usize, len: usize, first: Owner) -> bool {
    debug_assert!(start.is_multiple_of(CHUNK) && len > 0);
    let rest = if first == Owner::LargeHead {
        Owner::LargeTail
    } else {
        first
    };
    let end = start + len;
    // Create every leaf first so that failure leaves the map untouched.
    let mut chunk = start;
    while chunk < end {
        if entry(chunk).is_none() {
            return false;
        }
        chunk += CHUNK;
    }
    let mut chunk = start;
    while chunk < end {
        let kind = if chunk == start { first } else { rest };
        if let Some(e) = entry(chunk) {
            e.store(kind.tag(), Ordering::Release);
        }
        set_region_bit(chunk, matches!(kind, Owner::Region(_)));
        chunk += CHUNK;
    }
    true
}

/// Forgets `[start, start + len)`; called just before the memory is unmapped.
pub fn forget(start: usize, len: usize) {
    let end = start + len;
    let mut chunk = start;
    while chunk < end {
        set_region_bit(chunk, false);
        if let Some(e) = entry(chunk) {
            e.store(Owner::Nobody.tag(), Ordering::Release);
        }
        chunk += CHUNK;
    }
}
