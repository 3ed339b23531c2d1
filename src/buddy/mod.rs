//! The buddy heap: blocks of 2^k bytes (16 B to 2 MiB), split in halves on demand and merged
//! with their buddy, found by address XOR, as far up as they can go on free.
//!
//! ```text
//!  region (4 MiB, aligned to 4 MiB, so every block is aligned to its own size)
//!  0           256K       512K        1M                2M                          4M
//!  +-----------+----------+-----------+-----------------+---------------------------+
//!  | meta      | order 14 | order 15  | order 16        | order 17                  |
//!  | header +  | 256 KiB  | 512 KiB   | 1 MiB           | 2 MiB                     |
//!  | order map |          |           |                 |                           |
//!  +-----------+----------+-----------+-----------------+---------------------------+
//!   a fresh region: the metadata block is never free, so these four blocks never merge.
//!
//!  block in use (2^k B)        free block (2^k B)      order map: 1 byte per 16 B granule
//!  +------------------+        +------------------+    +---+---+---+---+---+---+---+---+
//!  | payload, all     |        | next (sealed)    |    |k+1|0  |0  |0  |j+1|0  |..
//!  | 2^k bytes usable |        | prev (sealed)    |    |   |   |   |   |+F |   |
//!  |  (no header)     |        | ...              |    +---+---+---+---+---+---+---+---+
//!  +------------------+        +------------------+     block start: order + 1, F = bit 7 = free
//! ```
//! Blocks carry no header, so `malloc(4096)` takes a 4096-byte block, and an overflow cannot
//! reach a live block's metadata. A free block's list links are sealed (seal.rs) and checked
//! both ways on unlink, so a write into a freed block is reported, not followed. The order of a block is
//! found at free from the order map at the start of its region: the entry of a block's first
//! granule is `order + 1` (bit 7 set while free); every other entry is 0. The map's own
//! entries (for the metadata block) are never read: offsets below `META` are rejected first.
//!
//! The files: this one has the type and the `Heap` impl (splitting on alloc, merging on
//! free, resizing in place); `orders.rs` the order map and the per-order free lists;
//! `region.rs` laying out a fresh region and taking a wholly free one off the lists, the
//! free pages `malloc_trim` gives back (the counts are `HeapCore`'s); `check.rs` the
//! invariant walker and the heap walk of a region.

use core::ptr;
use core::sync::atomic::Ordering::Relaxed;

use crate::heap::{
    CHUNK, Call, FAST_BINS, FIRST_CLASS_BIN, Heap, HeapCore, MIN_ALIGN, Misuse, OsRegions, Region,
    RegionSource, Span, region_of,
};

mod check;
mod orders;
mod region;

use orders::{
    entry, entry_bin, free_entry, live_entry, live_entry_order, live_order, live_order_below,
    split_addr,
};

/// log2 of the smallest block.
const MIN_SHIFT: usize = 4;
/// The largest order: 16 << 17 = 2 MiB, half a region.
const MAX_ORDER: usize = 17;
const ORDERS: usize = MAX_ORDER + 1;
/// The metadata block at the start of each region: the header and one map byte per granule.
const META: usize = CHUNK >> MIN_SHIFT;
const META_ORDER: usize = 14;
/// A free block of this order (1 MiB) or above gives its pages back to the OS when a free
/// forms it, for the reasons best fit's `PURGE_MIN` gives. A merge gives back only the
/// block of this order that holds the freed one: a free block of at least this order is
/// taken to hold no resident pages, as is nearly true of those a free formed (but for the
/// pages of its links and of the links of the halves a split pushed, and those of frees
/// too small to purge, `PURGE_RANGE_MIN`).
const PURGE_ORDER: usize = 16;
/// Set in the map entry of a free block's first granule (see `orders::live_entry`).
const FREE: u8 = 0x80;

/// The bytes of a block of `order`.
#[inline]
const fn block_bytes(order: usize) -> usize {
    1 << (order + MIN_SHIFT)
}

/// The smallest order whose blocks hold `size` bytes.
#[inline]
pub fn order_for(size: usize) -> usize {
    if size <= MIN_ALIGN {
        0
    } else {
        (usize::BITS - (size - 1).leading_zeros()) as usize - MIN_SHIFT
    }
}

pub struct BuddyHeap<S: RegionSource = OsRegions> {
    /// Free list heads per order (0 = empty); the links live in the free blocks themselves.
    /// Invariant: every block on list `k` is free, of order `k`, with map entry `k + 1`, and
    /// its buddy is not a free block of order `k` (it would have been merged).
    heads: [usize; ORDERS],
    /// Bit `k` is set iff `heads[k]` is not empty.
    nonempty: u32,
    /// The regions (each header sits inside the metadata block), counts, spare limit, arena
    /// and call. A region's `used` is 0 iff it is its four top blocks, free.
    core: HeapCore<S>,
}

// SAFETY: the heap owns its regions; the caller serialises access with a lock.
unsafe impl<S: RegionSource> Send for BuddyHeap<S> {}

impl<S: RegionSource> BuddyHeap<S> {
    /// Checks that `p` is a live block and returns its order.
    ///
    /// # Safety
    /// `p` lies in a chunk owned by a heap region (see the `Heap` trait), mapped.
    #[inline]
    unsafe fn validate(&self, p: usize) -> Result<usize, Misuse> {
        let (base, offset) = split_addr(p);
        if offset < META || !offset.is_multiple_of(MIN_ALIGN) {
            return Err(Misuse::InvalidPointer);
        }
        // A region of another arena is not ours, whatever routed the block here (a thread
        // cache finds a block's arena in this very header).
        // SAFETY: p is in a mapped region, whose header is at its start.
        if unsafe { !self.core.is_own(p) } {
            return Err(Misuse::InvalidPointer);
        }
        // SAFETY: the order map is in the region's metadata block.
        let e = unsafe { entry(base, offset).load(Relaxed) };
        if let Some(order) = live_entry_order(e) {
            return Ok(order);
        }
        if e != 0 {
            return Err(Misuse::DoubleFree);
        }
        // Inside some block. If that block is free, `p` was most likely freed and then merged
        // into its buddy: call it a double free.
        for order in 1..ORDERS {
            let start = offset & !(block_bytes(order) - 1);
            // SAFETY: as above.
            if start >= META && unsafe { entry(base, start).load(Relaxed) } == free_entry(order) {
                return Err(Misuse::DoubleFree);
            }
        }
        Err(Misuse::InvalidPointer)
    }

    /// `Heap::free` of the block at `b`, the call named by the caller.
    ///
    /// # Safety
    /// As for `Heap::free`.
    #[inline(always)]
    unsafe fn free_block(&mut self, b: usize) -> Result<(), Misuse> {
        // SAFETY: validate proves b is a live block of ours.
        unsafe {
            let order = self.validate(b)?;
            self.core.give(b, block_bytes(order));
            let region = region_of(b);
            // Decided before the merge, which must still run: a region is taken off the
            // lists as its four top blocks.
            let unmapping = (*region).used == 0 && self.core.emptied();
            self.release_block(b, order, !unmapping);
            if unmapping {
                self.forget_region(region);
                self.core.release(region);
            }
        }
        Ok(())
    }

    /// Frees the block at `b` of `order`, merging it with its buddy as far up as it goes.
    /// `purge`: whether a merged block of `PURGE_ORDER` or more gives its pages back; false
    /// when the free empties a region that is unmapped next, which gives them all back.
    ///
    /// # Safety
    /// `b` is a block of `order` of this heap that has just stopped being in use (its bytes
    /// already taken off the counts) and is on no list; its map entry is rewritten here.
    #[inline(always)]
    unsafe fn release_block(&mut self, mut b: usize, mut order: usize, purge: bool) {
        let (base, _) = split_addr(b);
        // The bytes this free may leave resident: the block, in the smallest block of at
        // least `PURGE_ORDER` that holds it; past that, the buddies merged were purged when
        // they formed.
        let resident_order = order.max(PURGE_ORDER);
        let resident = ((b - base) & !(block_bytes(resident_order) - 1)) + base;
        // SAFETY: b is a block of ours that just stopped being in use.
        unsafe {
            while order < MAX_ORDER {
                let buddy = ((b - base) ^ block_bytes(order)) + base;
                if buddy - base < META
                    || entry(base, buddy - base).load(Relaxed) != free_entry(order)
                {
                    break;
                }
                self.unlink(buddy, order);
                entry(base, b - base).store(0, Relaxed);
                // The upper half's first words (links, a cached block's key) end up inside
                // the merged block: clear them, so that no value mixed with a secret ever
                // reaches the program.
                let upper = b.max(buddy);
                *(upper as *mut [usize; 2]) = [0, 0];
                b = b.min(buddy);
                order += 1;
            }
            if purge && order >= PURGE_ORDER {
                // Keep the links in the merged block's first 16 bytes.
                self.core.purge_inside(
                    resident.max(b + 16),
                    resident + block_bytes(resident_order),
                );
            }
            self.push(b, order);
        }
    }
}

impl<S: RegionSource> Heap for BuddyHeap<S> {
    const NAME: &'static str = "buddy";
    const EMPTY: Self = BuddyHeap {
        heads: [0; ORDERS],
        nonempty: 0,
        core: HeapCore::EMPTY,
    };
    /// Blocks of 16 B..=32 KiB: orders 0..=11. Every block is a power of two, so every
    /// block of these orders is exactly its class's size.
    const CACHE_CLASSES: usize = 12;

    #[inline]
    fn cache_class(size: usize) -> Option<usize> {
        let order = order_for(size);
        if order < Self::CACHE_CLASSES {
            Some(order)
        } else {
            None
        }
    }

    const FAST_BIN_SKIP: usize = 1;

    /// `order_for` without its branch: `(size - 1) | 15` has its top bit where a block of
    /// `size` bytes needs it, for every size from 1 up; 0 wraps to a huge order, and goes to
    /// the slow path with the sizes too large to cache.
    #[inline(always)]
    fn fast_bin(size: usize) -> Option<usize> {
        let bits = size.wrapping_sub(1) | (MIN_ALIGN - 1);
        // The highest set bit (the low bits are set, so there is one). Written in Rust, it is
        // `63 - leading_zeros`, which LLVM scales by the bin's size before it lowers it to
        // `bsr`: two more instructions on malloc's fast path than the `bsr` itself.
        #[cfg(target_arch = "x86_64")]
        let top = {
            let top: usize;
            // SAFETY: `bsr` of a nonzero register, into a register; nothing else.
            unsafe {
                core::arch::asm!(
                    "bsr {top}, {bits}",
                    bits = in(reg) bits,
                    top = lateout(reg) top,
                    options(pure, nomem, nostack),
                );
            }
            top
        };
        #[cfg(not(target_arch = "x86_64"))]
        let top = bits.ilog2() as usize;
        // Unbounded: the top bit is at most 63, whose bin is still below FAST_BINS, and the
        // bins past buddy's classes are always empty (so 0 and the sizes too large to cache
        // miss into the slow path).
        // The bin is `top + 1 - MIN_SHIFT + FIRST_CLASS_BIN`, one less than `top`: the one
        // is `FAST_BIN_SKIP`, which malloc takes off in the addressing.
        const _: () = assert!(63 + 1 - MIN_SHIFT + FIRST_CLASS_BIN < FAST_BINS);
        const _: () = assert!(1 - MIN_SHIFT as isize + FIRST_CLASS_BIN as isize == -1);
        Some(top)
    }

    fn class_size(class: usize) -> usize {
        block_bytes(class)
    }

    /// # Safety
    /// The trait's contract ([`Heap::peek_class`]): `p` lies in a chunk owned by a region.
    #[inline]
    unsafe fn peek_class(p: *mut u8) -> Option<usize> {
        // SAFETY: forwarded from the caller.
        unsafe { live_order_below(p as usize, Self::CACHE_CLASSES) }
    }

    /// # Safety
    /// The trait's contract ([`Heap::peek_bin`]): `p` lies in a chunk owned by a region.
    #[inline(always)]
    unsafe fn peek_bin(p: *mut u8) -> Option<usize> {
        // SAFETY: forwarded from the caller.
        unsafe { entry_bin(p as usize) }
    }

    /// # Safety
    /// The trait's contract ([`Heap::peek_usable`]): `p` lies in a chunk owned by a region.
    #[inline]
    unsafe fn peek_usable(p: *mut u8) -> Option<usize> {
        // SAFETY: forwarded from the caller.
        unsafe { live_order(p as usize) }.map(block_bytes)
    }

    /// # Safety
    /// The trait's contract ([`Heap::peek_live`]): `p` lies in a chunk owned by a region.
    #[inline]
    unsafe fn peek_live(p: *mut u8) -> bool {
        // SAFETY: forwarded from the caller.
        unsafe { live_order(p as usize) }.is_some()
    }

    const MAX_REQUEST: usize = block_bytes(MAX_ORDER);
    const MAX_ALIGN: usize = block_bytes(MAX_ORDER);
    /// A buddy block has no header: all of it is usable.
    const BLOCK_HEADER: usize = 0;

    /// # Safety
    /// The trait's contract ([`Heap::alloc`]).
    unsafe fn alloc(&mut self, size: usize, align: usize) -> *mut u8 {
        self.core.call = Call::Malloc;
        // A block of order k is aligned to 2^k bytes, so alignment is just a larger order.
        let order = order_for(size).max(order_for(align));
        let mut fits = self.nonempty & (!0u32 << order);
        if fits == 0 {
            if !self.grow() {
                return ptr::null_mut();
            }
            fits = self.nonempty & (!0u32 << order);
        }
        let mut k = fits.trailing_zeros() as usize;
        let b = self.heads[k];
        // SAFETY: b heads list k; its upper halves become free blocks of lower orders.
        unsafe {
            self.unlink(b, k);
            while k > order {
                k -= 1;
                self.push(b + block_bytes(k), k);
            }
            let (base, offset) = split_addr(b);
            entry(base, offset).store(live_entry(order), Relaxed);
            self.core.take(b, block_bytes(order), 1);
        }
        b as *mut u8
    }

    /// One `alloc` per block would take each from the head of its order's list, and, with
    /// that list empty, split the smallest free block above it down to the order, only to
    /// take the pieces it pushed one at a time: a block of order `j` carved by `2^(j-k)`
    /// allocations of order `k` went through a push and an unlink per piece. Here the block
    /// is carved at once: the lists of orders `k` to `j - 1` are empty when it is taken
    /// (`j` is the lowest order at or above `k` with a free block), so those calls
    /// would have handed out its pieces in address order and left on each list at most one
    /// piece of what is left, the aligned blocks that tile the rest.
    ///
    /// # Safety
    /// The trait's contract ([`Heap::alloc_many`]).
    unsafe fn alloc_many(&mut self, size: usize, out: &mut [usize]) -> usize {
        self.core.call = Call::Malloc;
        let order = order_for(size);
        let bytes = block_bytes(order);
        let mut got = 0;
        // SAFETY: every block taken heads its list, is of this heap and is free; the pieces
        // pushed lie inside the carved block; `alloc` is called under this call's contract.
        unsafe {
            while got < out.len() {
                let b = self.heads[order];
                if b != 0 {
                    self.unlink(b, order);
                    let (base, offset) = split_addr(b);
                    entry(base, offset).store(live_entry(order), Relaxed);
                    self.core.take(b, bytes, 1);
                    out[got] = b;
                    got += 1;
                    continue;
                }
                let fits = self.nonempty & (!0u32 << order);
                if fits == 0 {
                    // `alloc` maps a region.
                    let p = self.alloc(size, MIN_ALIGN) as usize;
                    if p == 0 {
                        break;
                    }
                    out[got] = p;
                    got += 1;
                    continue;
                }
                let j = fits.trailing_zeros() as usize;
                let b = self.heads[j];
                self.unlink(b, j);
                let pieces = 1usize << (j - order);
                let taken = pieces.min(out.len() - got);
                let (base, offset) = split_addr(b);
                for i in 0..taken {
                    entry(base, offset + i * bytes).store(live_entry(order), Relaxed);
                    out[got + i] = b + i * bytes;
                }
                got += taken;
                self.core.take(b, taken * bytes, taken);
                // The rest, from the first piece not taken: each free block is the largest
                // aligned one that starts there (its lowest set bit, in pieces), up to the end.
                let mut at = taken;
                while at < pieces {
                    let run = at & at.wrapping_neg();
                    self.push(b + at * bytes, order + run.trailing_zeros() as usize);
                    at += run;
                }
            }
        }
        got
    }

    /// # Safety
    /// The trait's contract ([`Heap::free`]).
    unsafe fn free(&mut self, p: *mut u8) -> Result<(), Misuse> {
        self.core.call = Call::Free;
        // SAFETY: the same contract.
        unsafe { self.free_block(p as usize) }
    }

    /// A flush's blocks, each freed as `free` frees it, in one loop: a call of `free` per
    /// block repeated work that the loop does once (saving and restoring registers, naming
    /// the call).
    ///
    /// # Safety
    /// The trait's contract ([`Heap::free_many`]).
    unsafe fn free_many(&mut self, blocks: &[usize]) -> Result<(), (usize, Misuse)> {
        self.core.call = Call::Free;
        for &b in blocks {
            // SAFETY: forwarded from the caller.
            unsafe { self.free_block(b) }.map_err(|misuse| (b, misuse))?;
        }
        Ok(())
    }

    /// # Safety
    /// The trait's contract ([`Heap::usable_size`]).
    unsafe fn usable_size(&self, p: *mut u8) -> Result<usize, Misuse> {
        // SAFETY: validate reads only the order map of p's region.
        Ok(block_bytes(unsafe { self.validate(p as usize)? }))
    }

    /// # Safety
    /// The trait's contract ([`Heap::resize_in_place`]).
    unsafe fn resize_in_place(&mut self, p: *mut u8, size: usize) -> Result<bool, Misuse> {
        let b = p as usize;
        self.core.call = Call::Realloc;
        let (base, offset) = split_addr(b);
        // SAFETY: validate proves b is live; buddies are read through the order map. An
        // upper half given back is free memory of ours, purged past its links.
        unsafe {
            let current = self.validate(b)?;
            let wanted = order_for(size);
            if wanted < current {
                // Give back the upper halves; each one's buddy is the part we keep. A half
                // of `PURGE_ORDER` or more gives back its pages, as a free that formed it
                // would (its links keep theirs).
                let mut k = current;
                while k > wanted {
                    k -= 1;
                    let half = b + block_bytes(k);
                    if k >= PURGE_ORDER {
                        self.core.purge_inside(half + 16, half + block_bytes(k));
                    }
                    self.push(half, k);
                }
            } else if wanted > current {
                // Growing in place needs `b` to be the lower half at every level up to the
                // wanted order, with each upper half a whole free block.
                for k in current..wanted {
                    let buddy = offset + block_bytes(k);
                    if offset & block_bytes(k) != 0
                        || buddy >= CHUNK
                        || entry(base, buddy).load(Relaxed) != free_entry(k)
                    {
                        return Ok(false);
                    }
                }
                for k in current..wanted {
                    self.unlink(b + block_bytes(k), k);
                }
            } else {
                return Ok(true);
            }
            entry(base, offset).store(live_entry(wanted), Relaxed);
            self.core
                .resized(b, block_bytes(current), block_bytes(wanted));
        }
        Ok(true)
    }

    fn check(&self) -> Result<(), &'static str> {
        self.check_invariants()
    }

    /// # Safety
    /// The trait's contract ([`Heap::walk_region`]).
    unsafe fn walk_region(&self, base: usize, f: &mut dyn FnMut(Span)) {
        // SAFETY: forwarded from the caller.
        unsafe { check::walk_region(base, f) }
    }

    const AREA: usize = CHUNK - META;

    crate::heap::embeds_core!(S);

    /// # Safety
    /// The trait's contract ([`Heap::forget_region`]).
    unsafe fn forget_region(&mut self, region: *mut Region) {
        // SAFETY: region is ours and wholly free, so it is exactly its four top blocks.
        unsafe { self.unlink_top_blocks(region as usize) };
    }

    fn largest_free(&self) -> usize {
        match self.nonempty {
            0 => 0,
            orders => block_bytes(31 - orders.leading_zeros() as usize),
        }
    }

    fn decommit_free(&mut self) -> bool {
        self.decommit_free_blocks()
    }
}
