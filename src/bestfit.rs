//! The best-fit heap: every request takes the smallest free block that fits, ties going to
//! the lowest address; a freed block coalesces with both neighbours at once.
//!
//! ```text
//!  region (4 MiB, aligned to 4 MiB)
//!  +--------+----------------+---------------------------------------------+----+
//!  | header | live bitmap    | blocks ...                                  |epi-|
//!  | 64 B   | 32 KiB         |                                             |logue
//!  +--------+----------------+---------------------------------------------+----+
//!
//!  block in use                         free block
//!  +------------------+                 +------------------+
//!  | size | P | U=1   | <- 8 B header   | size | P | U=0   |
//!  +------------------+ <- pointer      +------------------+
//!  | payload          |    (16-aligned) | left  (treap)    |
//!  |  (size - 8 B     |                 | right (treap)    |
//!  |   usable, incl.  |                 | ...              |
//!  |   the next       |                 +------------------+
//!  |   block's footer |                 | size (footer)    | <- last 8 B
//!  |   slot)          |                 +------------------+
//!  +------------------+
//! ```
//! `U` (bit 0) says the block is in use, `P` (bit 1) that the block before it is. A block's
//! size is a multiple of 16 and at least 32 bytes; the 8-byte header is the only per-block
//! overhead of a block in use. The footer is written only in free blocks, which is what lets
//! a block being freed find its free predecessor in O(1).
//!
//! Free blocks are kept in 32 treaps (randomised binary search trees, priority = a hash of
//! the block's address, so no priority field is stored) keyed by (size, address): bins 0..31
//! hold exactly one size each (32, 48, ... 512 bytes), bin 31 every larger size. A bitmap of
//! non-empty bins finds the smallest size class that can serve a request in O(1); within a
//! bin the tree gives the lowest address (small bins) or the smallest size >= the request,
//! then the lowest address (bin 31), in O(log n) expected.
//!
//! The live bitmap has one bit per 16-byte granule of the region, set iff a block in use
//! starts its payload there. It is what makes `free` of an interior or stale pointer a
//! diagnostic instead of a corruption.

use core::ptr;
use core::sync::atomic::Ordering::Relaxed;
use core::sync::atomic::{AtomicU8, AtomicUsize};

use crate::heap::{self, Heap, HeapStats, MIN_ALIGN, Misuse, REGION, Region, Regions, region_of};

/// Block flag: this block is in use.
const IN_USE: usize = 1;
/// Block flag: the block before this one is in use (so it has no footer to read).
const PREV_IN_USE: usize = 2;
const FLAGS: usize = 15;
/// Bytes of header in front of every block's payload.
const HEADER: usize = 8;
/// Smallest block: header, two tree links, footer.
pub const MIN_BLOCK: usize = 32;
/// Sizes up to this have a bin of their own.
const LARGEST_EXACT_BIN: usize = 512;
const BINS: usize = 32;
const MIXED_BIN: usize = BINS - 1;

const BITMAP_OFFSET: usize = 64;
const BITMAP_BYTES: usize = REGION / MIN_ALIGN / 8;
/// The first block's header: 8 bytes before a 16-aligned payload.
const FIRST_BLOCK: usize = BITMAP_OFFSET + BITMAP_BYTES + HEADER;
/// The epilogue: a zero-sized block marked in use, so coalescing stops at the region's end.
const EPILOGUE: usize = REGION - HEADER;
/// The bytes of blocks a region holds when it is one free block.
pub const AREA: usize = EPILOGUE - FIRST_BLOCK;

pub struct BestFitHeap {
    /// Treap roots (0 = empty). Invariant: bin `i < MIXED_BIN` holds only free blocks of size
    /// `(i + 2) * 16`; `MIXED_BIN` holds free blocks larger than `LARGEST_EXACT_BIN`.
    bins: [usize; BINS],
    /// Bit `i` is set iff `bins[i]` is not empty.
    nonempty: u32,
    /// Every mapped region. A region's `used` is 0 iff it is one free block.
    regions: Regions,
    /// Bytes of blocks in use, over all regions.
    used: usize,
    /// Bytes and count of free blocks, over all regions (spare regions included).
    free: usize,
    free_blocks: usize,
    /// Regions whose `used` is 0.
    spare_count: usize,
    /// How many wholly free regions stay mapped; a region freed beyond that is unmapped.
    spare_limit: usize,
    /// The arena index recorded in the chunk map for this heap's regions.
    arena: u8,
}

// SAFETY: the heap owns its regions; the caller serialises access with a lock.
unsafe impl Send for BestFitHeap {}

// --- raw block access. Every `b` below is the address of a block header inside a mapped
// region; the functions are unsafe because they trust that.

//
// Headers and live bits are read without the heap lock by the thread cache's free path (the
// size of a block in use changes only when its owner frees or resizes it), so they are
// accessed as relaxed atomics, which compile to plain loads and stores.

#[inline]
unsafe fn word(addr: usize) -> usize {
    // SAFETY: caller passes an aligned address inside a mapped region.
    unsafe { (*(addr as *const AtomicUsize)).load(Relaxed) }
}
#[inline]
unsafe fn set_word(addr: usize, value: usize) {
    // SAFETY: as in `word`.
    unsafe { (*(addr as *const AtomicUsize)).store(value, Relaxed) }
}
#[inline]
unsafe fn size_of(b: usize) -> usize {
    // SAFETY: b is a block header.
    unsafe { word(b) & !FLAGS }
}
#[inline]
unsafe fn left(b: usize) -> usize {
    // SAFETY: b is a free block, whose payload holds its links.
    unsafe { word(b + 8) }
}
#[inline]
unsafe fn right(b: usize) -> usize {
    // SAFETY: as in `left`.
    unsafe { word(b + 16) }
}
#[inline]
unsafe fn set_left(b: usize, v: usize) {
    // SAFETY: as in `left`.
    unsafe { set_word(b + 8, v) }
}
#[inline]
unsafe fn set_right(b: usize, v: usize) {
    // SAFETY: as in `left`.
    unsafe { set_word(b + 16, v) }
}
/// Writes a free block's header and footer.
#[inline]
unsafe fn make_free(b: usize, size: usize, prev_in_use: bool) {
    // SAFETY: [b, b + size) is a block of the region.
    unsafe {
        set_word(b, size | if prev_in_use { PREV_IN_USE } else { 0 });
        set_word(b + size - 8, size);
    }
}
#[inline]
unsafe fn set_prev_in_use(b: usize, on: bool) {
    // SAFETY: b is a block header (possibly the epilogue).
    unsafe {
        let h = word(b);
        set_word(
            b,
            if on {
                h | PREV_IN_USE
            } else {
                h & !PREV_IN_USE
            },
        );
    }
}

/// The block size that serves a request of `size` bytes.
#[inline]
fn block_size(size: usize) -> usize {
    let s = (size + HEADER + 15) & !15;
    if s < MIN_BLOCK { MIN_BLOCK } else { s }
}

#[inline]
fn bin_of(size: usize) -> usize {
    if size <= LARGEST_EXACT_BIN {
        size / 16 - 2
    } else {
        MIXED_BIN
    }
}

/// The live bitmap byte and bit of a payload address. The byte is shared with neighbouring
/// blocks, so it is only written under the heap lock; lock-free readers see either value.
#[inline]
unsafe fn live_bit<'a>(payload: usize) -> (&'a AtomicU8, u8) {
    let base = payload & !(REGION - 1);
    let granule = (payload - base) / MIN_ALIGN;
    // SAFETY: the bitmap lies in the region's header pages, mapped while the region is.
    (
        unsafe { &*((base + BITMAP_OFFSET + granule / 8) as *const AtomicU8) },
        1 << (granule % 8),
    )
}

#[inline]
unsafe fn is_live(payload: usize) -> bool {
    // SAFETY: forwarded from the caller.
    let (byte, bit) = unsafe { live_bit(payload) };
    byte.load(Relaxed) & bit != 0
}

/// Sets or clears a live bit; only under the heap lock (a plain read-modify-write of a byte
/// that other blocks share).
#[inline]
unsafe fn set_live(payload: usize, live: bool) {
    // SAFETY: forwarded from the caller.
    let (byte, bit) = unsafe { live_bit(payload) };
    let old = byte.load(Relaxed);
    byte.store(if live { old | bit } else { old & !bit }, Relaxed);
}

// --- the treap over (size, address). Priority: a hash of the address, max at the root.

#[inline]
fn priority(b: usize) -> u64 {
    let h = ((b >> 3) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^ (h >> 29)
}

#[inline]
unsafe fn key(b: usize) -> (usize, usize) {
    // SAFETY: b is a free block.
    (unsafe { size_of(b) }, b)
}

/// Inserts `n` (not yet in the tree) and returns the new root.
unsafe fn treap_insert(t: usize, n: usize) -> usize {
    // SAFETY (whole function): t and n are free blocks of this heap, t a valid treap.
    unsafe {
        if t == 0 {
            set_left(n, 0);
            set_right(n, 0);
            return n;
        }
        if priority(n) > priority(t) {
            let (l, r) = treap_split(t, key(n));
            set_left(n, l);
            set_right(n, r);
            return n;
        }
        if key(n) < key(t) {
            set_left(t, treap_insert(left(t), n));
        } else {
            set_right(t, treap_insert(right(t), n));
        }
        t
    }
}

/// Splits `t` into the keys below `k` and those above it.
unsafe fn treap_split(t: usize, k: (usize, usize)) -> (usize, usize) {
    // SAFETY: t is a valid treap of free blocks.
    unsafe {
        if t == 0 {
            return (0, 0);
        }
        if key(t) < k {
            let (l, r) = treap_split(right(t), k);
            set_right(t, l);
            (t, r)
        } else {
            let (l, r) = treap_split(left(t), k);
            set_left(t, r);
            (l, t)
        }
    }
}

/// Joins two treaps where every key of `a` is below every key of `b`.
unsafe fn treap_merge(a: usize, b: usize) -> usize {
    // SAFETY: a and b are valid treaps of free blocks.
    unsafe {
        if a == 0 {
            return b;
        }
        if b == 0 {
            return a;
        }
        if priority(a) > priority(b) {
            set_right(a, treap_merge(right(a), b));
            a
        } else {
            set_left(b, treap_merge(a, left(b)));
            b
        }
    }
}

/// Removes `n` (which must be in `t`) and returns the new root.
unsafe fn treap_remove(t: usize, n: usize) -> usize {
    // SAFETY: t is a valid treap of free blocks that contains n.
    unsafe {
        if t == 0 {
            crate::diag::fatal("best-fit: free block missing from its bin (heap corrupted)");
        }
        if t == n {
            return treap_merge(left(t), right(t));
        }
        if key(n) < key(t) {
            set_left(t, treap_remove(left(t), n));
        } else {
            set_right(t, treap_remove(right(t), n));
        }
        t
    }
}

/// Removes the leftmost (smallest-key) node of the non-empty treap `t`; returns the new root
/// and the node. The node has no left child, so its right subtree takes its place, which
/// keeps both the search order and the heap order.
unsafe fn treap_pop_min(t: usize) -> (usize, usize) {
    // SAFETY: t is a non-empty valid treap of free blocks.
    unsafe {
        if left(t) == 0 {
            return (right(t), t);
        }
        let mut parent = t;
        let mut node = left(t);
        while left(node) != 0 {
            parent = node;
            node = left(node);
        }
        set_left(parent, right(node));
        (t, node)
    }
}

/// The block with the smallest key whose size is at least `size`, or 0.
unsafe fn treap_lower_bound(mut t: usize, size: usize) -> usize {
    let mut best = 0;
    // SAFETY: t is a valid treap of free blocks.
    unsafe {
        while t != 0 {
            if size_of(t) >= size {
                best = t;
                t = left(t);
            } else {
                t = right(t);
            }
        }
    }
    best
}

impl BestFitHeap {
    #[inline]
    unsafe fn insert_free(&mut self, b: usize) {
        // SAFETY: b is a free block with header and footer written.
        unsafe {
            let size = size_of(b);
            let bin = bin_of(size);
            self.bins[bin] = treap_insert(self.bins[bin], b);
            self.nonempty |= 1 << bin;
            self.free += size;
            self.free_blocks += 1;
        }
    }

    #[inline]
    unsafe fn remove_free(&mut self, b: usize) {
        // SAFETY: b is a free block in its bin.
        unsafe {
            let size = size_of(b);
            let bin = bin_of(size);
            self.bins[bin] = treap_remove(self.bins[bin], b);
            if self.bins[bin] == 0 {
                self.nonempty &= !(1 << bin);
            }
            self.free -= size;
            self.free_blocks -= 1;
        }
    }

    /// Takes the best-fitting free block of at least `size` bytes out of its bin; 0 if none.
    #[inline]
    fn take_best_fit(&mut self, size: usize) -> usize {
        let first = bin_of(size);
        let candidates = self.nonempty & (!0u32 << first);
        if candidates == 0 {
            return 0;
        }
        let bin = candidates.trailing_zeros() as usize;
        // SAFETY: the bins hold valid treaps of free blocks.
        unsafe {
            let b = if bin == MIXED_BIN {
                let b = treap_lower_bound(self.bins[bin], size);
                if b == 0 {
                    return 0;
                }
                self.bins[bin] = treap_remove(self.bins[bin], b);
                b
            } else {
                // An exact bin: every block fits, the lowest address is the leftmost node,
                // taken in one walk down the left spine.
                let (root, b) = treap_pop_min(self.bins[bin]);
                self.bins[bin] = root;
                b
            };
            if self.bins[bin] == 0 {
                self.nonempty &= !(1 << bin);
            }
            self.free -= size_of(b);
            self.free_blocks -= 1;
            b
        }
    }

    /// Maps one more region, which becomes a single free block.
    #[cold]
    fn grow(&mut self) -> bool {
        let base = self.regions.map(self.arena) as usize;
        if base == 0 {
            return false;
        }
        // SAFETY: the region is freshly mapped, zeroed and ours alone.
        unsafe {
            make_free(base + FIRST_BLOCK, AREA, true);
            set_word(base + EPILOGUE, IN_USE);
            self.insert_free(base + FIRST_BLOCK);
        }
        self.spare_count += 1;
        true
    }

    /// Unmaps a wholly free region whose block is not in any bin.
    unsafe fn release(&mut self, region: *mut Region) {
        // SAFETY: region is one of ours, with no block in use and none in a bin.
        unsafe { self.regions.unmap(region) };
    }

    /// Marks the (already sized) block `b` in use and does the bookkeeping.
    #[inline]
    unsafe fn commit(&mut self, b: usize) -> *mut u8 {
        // SAFETY: b is a block of a region of ours that no bin holds.
        unsafe {
            let size = size_of(b);
            set_word(b, word(b) | IN_USE);
            set_prev_in_use(b + size, true);
            set_live(b + HEADER, true);
            let region = region_of(b);
            if (*region).used == 0 {
                self.spare_count -= 1;
            }
            (*region).used += size;
            self.used += size;
            (b + HEADER) as *mut u8
        }
    }

    /// Trims block `b` (taken out of its bin, or in use) to `need` bytes, giving the tail
    /// back as a free block when it is big enough to be one.
    #[inline]
    unsafe fn cut_back(&mut self, b: usize, need: usize) {
        // SAFETY: b is a block not in any bin, need <= its size, need a multiple of 16.
        unsafe {
            let size = size_of(b);
            if size - need < MIN_BLOCK {
                return;
            }
            set_word(b, need | (word(b) & FLAGS));
            let mut rest = size - need;
            let next = b + size;
            if word(next) & IN_USE == 0 {
                rest += size_of(next);
                self.remove_free(next);
            } else {
                set_prev_in_use(next, false);
            }
            make_free(b + need, rest, true);
            self.insert_free(b + need);
        }
    }

    /// Checks that `p` is the payload of a live block and returns the block.
    #[inline]
    unsafe fn validate(&self, p: usize) -> Result<usize, Misuse> {
        let base = p & !(REGION - 1);
        let offset = p - base;
        if !p.is_multiple_of(MIN_ALIGN) || !(FIRST_BLOCK + HEADER..EPILOGUE).contains(&offset) {
            return Err(Misuse::InvalidPointer);
        }
        // SAFETY: p is in a mapped region of ours.
        if unsafe { is_live(p) } {
            return Ok(p - HEADER);
        }
        // Not a live block. If its old header still says "free", it was one: a double free.
        // SAFETY: p - 8 is inside the region's block area.
        let h = unsafe { word(p - HEADER) };
        let size = h & !FLAGS;
        if h & IN_USE == 0 && size >= MIN_BLOCK && offset - HEADER + size <= EPILOGUE {
            Err(Misuse::DoubleFree)
        } else {
            Err(Misuse::InvalidPointer)
        }
    }

    /// Verifies one treap: search order, heap order, bin membership. Returns its node count.
    unsafe fn check_tree(
        t: usize,
        bin: usize,
        lo: (usize, usize),
        hi: (usize, usize),
    ) -> Result<usize, &'static str> {
        if t == 0 {
            return Ok(0);
        }
        // SAFETY: t is reached from a bin root through links of free blocks.
        unsafe {
            let k = key(t);
            if k <= lo || k >= hi {
                return Err("treap out of key order");
            }
            if word(t) & IN_USE != 0 {
                return Err("block in use found in a bin");
            }
            if bin_of(k.0) != bin {
                return Err("free block in the wrong bin");
            }
            for child in [left(t), right(t)] {
                if child != 0 && priority(child) > priority(t) {
                    return Err("treap out of priority order");
                }
            }
            Ok(
                1 + Self::check_tree(left(t), bin, lo, k)?
                    + Self::check_tree(right(t), bin, k, hi)?,
            )
        }
    }
}

impl Heap for BestFitHeap {
    const NAME: &'static str = "best-fit";
    const EMPTY: Self = BestFitHeap {
        bins: [0; BINS],
        nonempty: 0,
        regions: Regions::EMPTY,
        used: 0,
        free: 0,
        free_blocks: 0,
        spare_count: 0,
        spare_limit: 1,
        arena: 0,
    };
    /// Blocks of 32..=1024 bytes, one class per 16 bytes.
    const CACHE_CLASSES: usize = 63;

    #[inline]
    fn cache_class(size: usize) -> Option<usize> {
        if size <= 1024 - HEADER {
            Some(block_size(size) / 16 - 2)
        } else {
            None
        }
    }

    fn class_size(class: usize) -> usize {
        (class + 2) * 16 - HEADER
    }

    #[inline]
    unsafe fn peek_class(p: *mut u8) -> Option<usize> {
        let p = p as usize;
        // Misaligned pointers would share a live block's granule. No range check is needed:
        // granules outside the block area (header, bitmap, epilogue) never have a live bit.
        if !p.is_multiple_of(MIN_ALIGN) {
            return None;
        }
        // SAFETY: p is inside a mapped region; a live block's size is stable while it is live.
        unsafe {
            if !is_live(p) {
                return None;
            }
            let size = size_of(p - HEADER);
            if size <= 1024 {
                Some(size / 16 - 2)
            } else {
                None
            }
        }
    }

    #[inline]
    unsafe fn peek_usable(p: *mut u8) -> Option<usize> {
        // SAFETY: p is in a mapped region; a live block's size is stable while it is live.
        unsafe {
            if Self::peek_live(p) {
                Some(size_of(p as usize - HEADER) - HEADER)
            } else {
                None
            }
        }
    }

    #[inline]
    unsafe fn peek_live(p: *mut u8) -> bool {
        // SAFETY: p is in a mapped region (the caller checked the chunk map).
        (p as usize).is_multiple_of(MIN_ALIGN) && unsafe { is_live(p as usize) }
    }

    /// Requests above 1 MiB get a mapping of their own, so they go back to the OS on free.
    const MAX_REQUEST: usize = 1 << 20;
    const MAX_ALIGN: usize = 1 << 20;

    unsafe fn alloc(&mut self, size: usize, align: usize) -> *mut u8 {
        let need = block_size(size);
        // An aligned request needs room to skip to an aligned payload, leaving a gap that is
        // either empty or big enough to be a free block of its own.
        let search = if align <= MIN_ALIGN {
            need
        } else {
            need + align + MIN_BLOCK
        };
        let mut b = self.take_best_fit(search);
        if b == 0 {
            if !self.grow() {
                return ptr::null_mut();
            }
            b = self.take_best_fit(search);
        }
        // SAFETY: b is a free block of at least `search` bytes, out of its bin.
        unsafe {
            if align > MIN_ALIGN {
                let payload = (b + HEADER + align - 1) & !(align - 1);
                let mut gap = payload - HEADER - b;
                if gap != 0 && gap < MIN_BLOCK {
                    gap += align;
                }
                if gap != 0 {
                    let size = size_of(b);
                    make_free(b, gap, word(b) & PREV_IN_USE != 0);
                    self.insert_free(b);
                    b += gap;
                    set_word(b, size - gap);
                }
            }
            self.cut_back(b, need);
            self.commit(b)
        }
    }

    unsafe fn free(&mut self, p: *mut u8) -> Result<(), Misuse> {
        // SAFETY: validate proves b is a live block of one of our regions.
        unsafe {
            let b = self.validate(p as usize)?;
            set_live(p as usize, false);
            let size = size_of(b);
            // Clear IN_USE in this header even if it is about to be merged away, so that a
            // second free of `p` is recognised as a double free.
            set_word(b, word(b) & !IN_USE);
            let region = region_of(b);
            (*region).used -= size;
            self.used -= size;

            let mut start = b;
            let mut total = size;
            if word(b) & PREV_IN_USE == 0 {
                let prev_size = word(b - 8);
                start = b - prev_size;
                total += prev_size;
                self.remove_free(start);
            }
            let next = b + size;
            if word(next) & IN_USE == 0 {
                total += size_of(next);
                self.remove_free(next);
            }
            make_free(start, total, true);
            set_prev_in_use(start + total, false);
            if (*region).used == 0 {
                if self.spare_count >= self.spare_limit {
                    self.release(region);
                    return Ok(());
                }
                self.spare_count += 1;
            }
            self.insert_free(start);
        }
        Ok(())
    }

    unsafe fn usable_size(&self, p: *mut u8) -> Result<usize, Misuse> {
        // SAFETY: validate proves b is a live block.
        unsafe {
            let b = self.validate(p as usize)?;
            Ok(size_of(b) - HEADER)
        }
    }

    unsafe fn resize_in_place(&mut self, p: *mut u8, size: usize) -> Result<bool, Misuse> {
        // SAFETY: validate proves b is a live block; neighbours are read through its size.
        unsafe {
            let b = self.validate(p as usize)?;
            let current = size_of(b);
            let need = block_size(size);
            if need > current {
                let next = b + current;
                if word(next) & IN_USE != 0 || current + size_of(next) < need {
                    return Ok(false);
                }
                let total = current + size_of(next);
                self.remove_free(next);
                set_word(b, total | (word(b) & FLAGS));
                set_prev_in_use(b + total, true);
            }
            self.cut_back(b, need);
            let after = size_of(b);
            let region = region_of(b);
            (*region).used = (*region).used + after - current;
            self.used = self.used + after - current;
            Ok(true)
        }
    }

    fn stats(&self) -> HeapStats {
        HeapStats {
            regions: self.regions.count(),
            used: self.used,
            free: self.free,
            free_blocks: self.free_blocks,
            spare: self.spare_count * AREA,
        }
    }

    fn set_arena(&mut self, arena: u8) {
        self.arena = arena;
    }

    fn set_spare_limit(&mut self, regions: usize) {
        self.spare_limit = regions;
    }

    fn trim(&mut self) -> bool {
        let mut released = false;
        let mut region = self.regions.first();
        while !region.is_null() {
            // SAFETY: region is a live region header; a region with used == 0 is exactly one
            // free block, which is in its bin.
            unsafe {
                let next = Region::next(region);
                let base = region as usize;
                if (*region).used == 0 {
                    self.remove_free(base + FIRST_BLOCK);
                    self.spare_count -= 1;
                    self.release(region);
                    released = true;
                } else {
                    let mut b = base + FIRST_BLOCK;
                    while b < base + EPILOGUE {
                        let size = size_of(b);
                        if word(b) & IN_USE == 0 {
                            // Keep the header and links at the front and the footer at the end.
                            released |= heap::decommit_inside(b + 24, b + size - 8);
                        }
                        b += size;
                    }
                }
                region = next;
            }
        }
        released
    }

    fn check(&self) -> Result<(), &'static str> {
        let mut used = 0;
        let mut free = 0;
        let mut free_blocks = 0;
        let mut regions = 0;
        let mut spare = 0;
        // SAFETY: walking our own regions.
        unsafe {
            let mut region = self.regions.first();
            while !region.is_null() {
                regions += 1;
                if (*region).used == 0 {
                    spare += 1;
                }
                let base = region as usize;
                if word(base + EPILOGUE) & IN_USE == 0 {
                    return Err("epilogue damaged");
                }
                let mut region_used = 0;
                let mut b = base + FIRST_BLOCK;
                let mut prev_in_use = true;
                while b < base + EPILOGUE {
                    let size = size_of(b);
                    if size < MIN_BLOCK || !size.is_multiple_of(16) || b + size > base + EPILOGUE {
                        return Err("block size out of bounds");
                    }
                    let h = word(b);
                    if (h & PREV_IN_USE != 0) != prev_in_use {
                        return Err("PREV_IN_USE flag disagrees with the previous block");
                    }
                    let live = is_live(b + HEADER);
                    if h & IN_USE != 0 {
                        if !live {
                            return Err("block in use without its live bit");
                        }
                        region_used += size;
                        prev_in_use = true;
                    } else {
                        if live {
                            return Err("free block with a live bit");
                        }
                        if !prev_in_use {
                            return Err("two adjacent free blocks");
                        }
                        if word(b + size - 8) != size {
                            return Err("free block footer disagrees with its header");
                        }
                        free += size;
                        free_blocks += 1;
                        prev_in_use = false;
                    }
                    b += size;
                }
                if (word(base + EPILOGUE) & PREV_IN_USE != 0) != prev_in_use {
                    return Err("epilogue PREV_IN_USE flag wrong");
                }
                if region_used != (*region).used {
                    return Err("region used count wrong");
                }
                used += region_used;
                region = Region::next(region);
            }
            let mut in_bins = 0;
            for (bin, &root) in self.bins.iter().enumerate() {
                if (root != 0) != (self.nonempty & (1 << bin) != 0) {
                    return Err("non-empty bin bitmap wrong");
                }
                in_bins += Self::check_tree(root, bin, (0, 0), (usize::MAX, usize::MAX))?;
            }
            if in_bins != free_blocks {
                return Err("free blocks missing from the bins");
            }
        }
        if used != self.used || free != self.free || free_blocks != self.free_blocks {
            return Err("heap totals wrong");
        }
        if regions != self.regions.count() || spare != self.spare_count {
            return Err("region counts wrong");
        }
        Ok(())
    }
}
