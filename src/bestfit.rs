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
//!  |seal|size | P |U=1| <- 8 B header   |seal|size | P |U=0|
//!  +------------------+ <- pointer      +------------------+
//!  | payload          |    (16-aligned) | left  (sealed)   |
//!  |  (size - 8 B     |                 | right (sealed)   |
//!  |   usable, incl.  |                 | ...              |
//!  |   the next       |                 +------------------+
//!  |   block's footer |                 | size (footer)    | <- last 8 B
//!  |   slot)          |                 +------------------+
//!  +------------------+
//! ```
//! The header's low 32 bits hold the size and flags, the high 32 bits a seal over them and
//! the block's address, and the treap links are stored sealed (see seal.rs): an overflow into
//! a header or a write into a freed block is reported ("corrupted block") when the heap next
//! reads it, instead of steering the heap.
//! `U` (bit 0) says the block is in use, `P` (bit 1) that the block before it is. A block's
//! size is a multiple of 16 and at least 32 bytes; the 8-byte header is the only per-block
//! overhead of a block in use. The footer is written only in free blocks, which is what lets
//! a block being freed find its free predecessor in O(1).
//!
//! Free blocks are kept in 2048 bins. Bins 0..2046 hold exactly one size each (32, 48, ...
//! 32768 bytes) in a doubly linked list: every block of such a bin fits a request for its
//! size equally well, so insertion, removal and taking one are O(1) (the most recently freed
//! is taken first). Bin 2047 holds every larger size in a treap (a randomised binary search
//! tree, priority = a hash of the block's address, so no priority field is stored) keyed by
//! (size, address), which gives the smallest size >= the request, lowest address first, in
//! O(log n) expected. A two-level bitmap of non-empty bins finds the smallest bin that can
//! serve a request in O(1).
//!
//! The live bitmap has one bit per 16-byte granule of the region, set iff a block in use
//! starts its payload there. It is what makes `free` of an interior or stale pointer a
//! diagnostic instead of a corruption.

use core::ptr;
use core::sync::atomic::Ordering::Relaxed;
use core::sync::atomic::{AtomicU8, AtomicUsize};

use crate::heap::{
    self, Call, Heap, HeapStats, MIN_ALIGN, Misuse, REGION, Region, Regions, SpareLimit, region_of,
};
use crate::seal;

/// Block flag: this block is in use.
const IN_USE: usize = 1;
/// Block flag: the block before this one is in use (so it has no footer to read).
const PREV_IN_USE: usize = 2;
const FLAGS: usize = 15;
/// Bytes of header in front of every block's payload.
const HEADER: usize = 8;
/// Smallest block: header, two tree links, footer.
pub const MIN_BLOCK: usize = 32;
/// Sizes up to this have a bin (a list) of their own.
const LARGEST_EXACT_BIN: usize = 32 << 10;
const BINS: usize = LARGEST_EXACT_BIN / 16;
const MIXED_BIN: usize = BINS - 1;
const BITMAP_WORDS: usize = BINS / 64;
// `nonempty_words` has a bit per bitmap word.
const _: () = assert!(BITMAP_WORDS <= 64);
/// The treap operations' name for the slot that holds the tree's root (no link word of a
/// block is at address 0).
const ROOT_SLOT: usize = 0;

const BITMAP_OFFSET: usize = 64;
const BITMAP_BYTES: usize = REGION / MIN_ALIGN / 8;
/// The first block's header: 8 bytes before a 16-aligned payload.
const FIRST_BLOCK: usize = BITMAP_OFFSET + BITMAP_BYTES + HEADER;
/// The epilogue: a zero-sized block marked in use, so coalescing stops at the region's end.
const EPILOGUE: usize = REGION - HEADER;
/// The bytes of blocks a region holds when it is one free block.
pub const AREA: usize = EPILOGUE - FIRST_BLOCK;

pub struct BestFitHeap {
    /// List heads (bins below `MIXED_BIN`) and the treap root (`MIXED_BIN`); 0 = empty.
    /// Invariant: bin `i < MIXED_BIN` holds only free blocks of size `(i + 2) * 16`, linked
    /// next/prev through their first two payload words; `MIXED_BIN` holds the free blocks
    /// larger than `LARGEST_EXACT_BIN`.
    bins: [usize; BINS],
    /// Bit `i % 64` of word `i / 64` is set iff `bins[i]` is not empty.
    nonempty: [u64; BITMAP_WORDS],
    /// Bit `w` is set iff `nonempty[w]` is not 0: the first non-empty bin above any bin is
    /// found with two bit scans, however many bins lie between.
    nonempty_words: u64,
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
    spare_limit: SpareLimit,
    /// The arena index recorded in the chunk map for this heap's regions.
    arena: u8,
    /// The C call being served, named when damage is found.
    call: Call,
    /// The top: a free block that ends its region, kept out of the bins (0 = none), so that
    /// carving requests off the end of a fresh region costs no tree operations. It counts in
    /// `free` and `free_blocks`; `best_fit` weighs it against the bins' best candidate,
    /// so it is taken only when it is the smallest block that fits.
    top: usize,
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
/// The low half of a header word: size and flags (the high half is the seal).
#[inline]
unsafe fn bits(b: usize) -> usize {
    // SAFETY: b is a block header.
    unsafe { word(b) as u32 as usize }
}
#[inline]
unsafe fn size_of(b: usize) -> usize {
    // SAFETY: b is a block header.
    unsafe { bits(b) & !FLAGS }
}
/// Writes block `b`'s header: `low` (size and flags) under its seal.
#[inline]
unsafe fn set_header(b: usize, low: usize) {
    // SAFETY: b is a block header; sizes are below 4 MiB, so `low` fits in 32 bits.
    unsafe { set_word(b, seal::seal_header(b, low as u32)) }
}
/// Whether block `b`'s header still carries the seal it was written with.
#[inline]
unsafe fn header_intact(b: usize) -> bool {
    // SAFETY: b is a block header.
    seal::header_intact(b, unsafe { word(b) })
}
/// Links of free blocks, stored sealed at b + 8 (left) and b + 16 (right). Block headers
/// sit 8 bytes past a 16-byte boundary: any decoded link without those low bits is damage.
#[inline]
unsafe fn set_link(slot: usize, v: usize) {
    // SAFETY: slot is a link word of a free block.
    unsafe { set_word(slot, seal::encode(slot, v)) }
}
#[inline]
unsafe fn set_left(b: usize, v: usize) {
    // SAFETY: as in `set_link`.
    unsafe { set_link(b + 8, v) }
}
#[inline]
unsafe fn set_right(b: usize, v: usize) {
    // SAFETY: as in `set_link`.
    unsafe { set_link(b + 16, v) }
}
/// Whether the link word at `slot` holds `target`: compared sealed, so that a link already
/// known good (a block that the heap reached) is checked without decoding the other.
#[inline]
unsafe fn links_to(slot: usize, target: usize) -> bool {
    // SAFETY: slot is a link word of a free block.
    unsafe { word(slot) == seal::encode(slot, target) }
}
/// Clears the link words of a block that a merge absorbs: left inside the merged block, they
/// would reach the program unzeroed one day, mixed with the link secret (and a cached
/// block's key, with the cache secret).
#[inline]
unsafe fn scrub_links(b: usize) {
    // SAFETY: b is a block header inside a free block being formed; its header is kept, so
    // that a second free of its payload is still recognised.
    unsafe {
        set_word(b + 8, 0);
        set_word(b + 16, 0);
    }
}
/// In an exact bin's list the two link words are next and prev.
#[inline]
unsafe fn set_next(b: usize, v: usize) {
    // SAFETY: as in `set_link`.
    unsafe { set_left(b, v) }
}
#[inline]
unsafe fn set_prev(b: usize, v: usize) {
    // SAFETY: as in `set_link`.
    unsafe { set_right(b, v) }
}
/// Writes a free block's header and footer.
#[inline]
unsafe fn make_free(b: usize, size: usize, prev_in_use: bool) {
    // SAFETY: [b, b + size) is a block of the region.
    unsafe {
        set_header(b, size | if prev_in_use { PREV_IN_USE } else { 0 });
        set_word(b + size - 8, size);
    }
}
#[inline]
unsafe fn set_prev_in_use(b: usize, on: bool) {
    // SAFETY: b is a block header (possibly the epilogue).
    unsafe {
        let h = bits(b);
        set_header(
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

impl BestFitHeap {
    /// The link stored at `slot` of free block `b`; damage is reported and aborts.
    #[inline]
    unsafe fn link(&self, b: usize, slot: usize) -> usize {
        // SAFETY: slot is a link word of the free block b.
        match seal::decode_region(slot, unsafe { word(slot) }, HEADER, self.arena) {
            Some(v) => v,
            None => self.corrupted(b),
        }
    }
    #[inline]
    unsafe fn left(&self, b: usize) -> usize {
        // SAFETY: b is a free block, whose payload holds its links.
        unsafe { self.link(b, b + 8) }
    }
    #[inline]
    unsafe fn right(&self, b: usize) -> usize {
        // SAFETY: as in `left`.
        unsafe { self.link(b, b + 16) }
    }

    /// Reports a list whose links around `b` do not agree: the neighbour whose back link does
    /// not decode if there is one, else `b`.
    #[cold]
    #[inline(never)]
    unsafe fn report_broken_list(&self, b: usize, next: usize, prev: usize) -> ! {
        // SAFETY: next and prev decoded as links into this heap's regions: free blocks there.
        unsafe {
            if next != 0 {
                self.right(next);
            }
            if prev != 0 {
                self.left(prev);
            }
        }
        self.corrupted(b)
    }

    /// Reports that the metadata of block `b` (header, footer or links) was overwritten.
    #[cold]
    #[inline(never)]
    fn corrupted(&self, b: usize) -> ! {
        crate::diag::misuse(self.call.name(), "corrupted block", b + HEADER)
    }

    /// The header of `b` if it is intact, else the damage is reported.
    #[inline]
    unsafe fn checked_bits(&self, b: usize) -> usize {
        // SAFETY: b is a block header.
        unsafe {
            if !header_intact(b) {
                self.corrupted(b);
            }
            bits(b)
        }
    }

    // The treap operations are iterative and work on link slots: a slot is the address of a
    // link word inside a free block, or `ROOT_SLOT` for the tree's root (`bins[MIXED_BIN]`).
    // Only the links on the changed part of the path are written: a sealed write costs a
    // multiply, and the recursive formulation rewrote every link from the root down.

    /// Points a slot at node `v`.
    #[inline]
    unsafe fn slot_set(&mut self, slot: usize, v: usize) {
        if slot == ROOT_SLOT {
            self.bins[MIXED_BIN] = v;
        } else {
            // SAFETY: slot is a link word of a free block in the tree.
            unsafe { set_link(slot, v) }
        }
    }

    /// Inserts the free block `n` (not yet in the tree): down the path of its key while the
    /// nodes outrank it, then the subtree found there is split around `n`'s key into its two
    /// children.
    unsafe fn treap_insert(&mut self, n: usize) {
        // SAFETY (whole function): n and every node reached are free blocks of this heap, and
        // the tree is a valid treap.
        unsafe {
            let k = key(n);
            let p = priority(n);
            let mut slot = ROOT_SLOT;
            let mut t = self.bins[MIXED_BIN];
            while t != 0 && priority(t) >= p {
                slot = if k < key(t) { t + 8 } else { t + 16 };
                t = self.link(t, slot);
            }
            self.slot_set(slot, n);
            // Split t: keys below k hang, in order, off n's left; the others off its right.
            let (mut low, mut high) = (n + 8, n + 16);
            while t != 0 {
                if key(t) < k {
                    set_link(low, t);
                    low = t + 16;
                    t = self.right(t);
                } else {
                    set_link(high, t);
                    high = t + 8;
                    t = self.left(t);
                }
            }
            set_link(low, 0);
            set_link(high, 0);
        }
    }

    /// Removes `n`, which must be in the tree: its two subtrees are merged (by priority) into
    /// the slot that pointed at it.
    unsafe fn treap_remove(&mut self, n: usize) {
        // SAFETY: the tree is a valid treap of free blocks that contains n.
        unsafe {
            let k = key(n);
            let mut slot = ROOT_SLOT;
            let mut t = self.bins[MIXED_BIN];
            while t != n {
                if t == 0 {
                    crate::diag::fatal("best-fit: free block missing from its bin (heap corrupted)");
                }
                slot = if k < key(t) { t + 8 } else { t + 16 };
                t = self.link(t, slot);
            }
            let (mut a, mut b) = (self.left(n), self.right(n));
            loop {
                if a == 0 {
                    self.slot_set(slot, b);
                    return;
                }
                if b == 0 {
                    self.slot_set(slot, a);
                    return;
                }
                // Every key of a is below every key of b: the higher priority becomes the
                // subtree's root, and the merge goes on in its inner side.
                if priority(a) > priority(b) {
                    self.slot_set(slot, a);
                    slot = a + 16;
                    a = self.right(a);
                } else {
                    self.slot_set(slot, b);
                    slot = b + 8;
                    b = self.left(b);
                }
            }
        }
    }

    /// The block with the smallest key whose size is at least `size` (0 if none), and
    /// whether it is the treap's smallest block: it is unless the walk passed a smaller one.
    unsafe fn treap_lower_bound(&self, mut t: usize, size: usize) -> (usize, bool) {
        let mut best = 0;
        let mut passed_smaller = false;
        // SAFETY: t is a valid treap of free blocks.
        unsafe {
            while t != 0 {
                if size_of(t) >= size {
                    best = t;
                    t = self.left(t);
                } else {
                    passed_smaller = true;
                    t = self.right(t);
                }
            }
        }
        (best, !passed_smaller)
    }
}

impl BestFitHeap {
    #[inline]
    fn mark_nonempty(&mut self, bin: usize) {
        self.nonempty[bin / 64] |= 1 << (bin % 64);
        self.nonempty_words |= 1 << (bin / 64);
    }
    #[inline]
    fn mark_empty(&mut self, bin: usize) {
        let word = &mut self.nonempty[bin / 64];
        *word &= !(1 << (bin % 64));
        if *word == 0 {
            self.nonempty_words &= !(1 << (bin / 64));
        }
    }
    /// The first non-empty bin at or above `bin`, or `BINS` if there is none.
    #[inline]
    fn first_nonempty(&self, bin: usize) -> usize {
        let word = bin / 64;
        let bits = self.nonempty[word] & (!0u64 << (bin % 64));
        if bits != 0 {
            return word * 64 + bits.trailing_zeros() as usize;
        }
        // The words above (none when `word` is the last one a u64 can index).
        let above = (!0u64).checked_shl(word as u32 + 1).unwrap_or(0) & self.nonempty_words;
        if above == 0 {
            return BINS;
        }
        let next = above.trailing_zeros() as usize;
        next * 64 + self.nonempty[next].trailing_zeros() as usize
    }

    /// Adds the free block `b` (header and footer written) to the free blocks: as the top if
    /// there is none and `b` ends its region, else to its bin.
    #[inline]
    unsafe fn insert_free(&mut self, b: usize) {
        // SAFETY: b is a free block with header and footer written.
        unsafe {
            let size = size_of(b);
            self.free += size;
            self.free_blocks += 1;
            if self.top == 0 && b + size == (b & !(REGION - 1)) + EPILOGUE {
                self.top = b;
            } else {
                self.bin_insert(b, size);
            }
        }
    }

    #[inline]
    unsafe fn bin_insert(&mut self, b: usize, size: usize) {
        // SAFETY: b is a free block of `size` bytes with header and footer written.
        unsafe {
            let bin = bin_of(size);
            if bin == MIXED_BIN {
                self.treap_insert(b);
            } else {
                let head = self.bins[bin];
                set_next(b, head);
                set_prev(b, 0);
                if head != 0 {
                    set_prev(head, b);
                }
                self.bins[bin] = b;
            }
            self.mark_nonempty(bin);
        }
    }

    /// Takes the free block `b` (the top, or in its bin) out of the free blocks.
    #[inline]
    unsafe fn remove_free(&mut self, b: usize) {
        // SAFETY: b is the top or a free block in its bin.
        unsafe {
            let size = size_of(b);
            self.free -= size;
            self.free_blocks -= 1;
            if b == self.top {
                self.top = 0;
                return;
            }
            let bin = bin_of(size);
            if bin == MIXED_BIN {
                self.treap_remove(b);
            } else {
                self.unlink(bin, b);
            }
            if self.bins[bin] == 0 {
                self.mark_empty(bin);
            }
        }
    }

    /// The best-fitting free block for `size` bytes, left where it is: the smallest fitting
    /// block of the bins, or the top if it fits and is smaller; 0 if none. The flag says
    /// whether it is the treap's smallest block (what `carve_treap_min` carves from).
    #[inline]
    fn best_fit(&self, size: usize) -> (usize, bool) {
        let bin = self.first_nonempty(bin_of(size));
        // SAFETY: the bins hold valid lists and a valid treap of free blocks; the top is free.
        unsafe {
            let (b, treap_min) = match bin {
                BINS => (0, false),
                MIXED_BIN => self.treap_lower_bound(self.bins[bin], size),
                // An exact bin: every block fits as well as any other.
                _ => (self.bins[bin], false),
            };
            if self.top_beats(size, if b == 0 { 0 } else { size_of(b) }) {
                (self.top, false)
            } else {
                (b, treap_min)
            }
        }
    }

    /// Takes the free block `b` (found by `best_fit`) out of its bin, or out of the top.
    ///
    /// # Safety
    /// `b` is the top or a free block in its bin.
    #[inline]
    unsafe fn take(&mut self, b: usize) {
        // SAFETY: forwarded from the caller.
        unsafe {
            // Its size picks the bin it is taken from: prove the header intact first.
            if seal::HARDENED && self.checked_bits(b) & IN_USE != 0 {
                self.corrupted(b);
            }
            self.remove_free(b);
        }
    }

    /// Whether the top fits `need` bytes and fits them better than a candidate of
    /// `candidate` bytes (0: none): only when strictly smaller, so that on a tie the bins'
    /// block is taken. The one rule `best_fit`, `carve_treap_min` and
    /// `rest_is_best_fit` weigh the top by.
    #[inline]
    fn top_beats(&self, need: usize, candidate: usize) -> bool {
        let top = self.top;
        // SAFETY: the top, when there is one, is a free block of this heap.
        top != 0 && {
            let size = unsafe { size_of(top) };
            size >= need && (candidate == 0 || size < candidate)
        }
    }

    /// `best_fit`, mapping a new region first when no free block fits; 0 if the OS refuses
    /// one.
    #[inline]
    fn best_fit_or_grow(&mut self, size: usize) -> (usize, bool) {
        let fit = self.best_fit(size);
        if fit.0 != 0 || !self.grow() {
            return fit;
        }
        self.best_fit(size)
    }

    /// The common case of a request that no exact bin serves, in O(depth) with no tree
    /// surgery: when the best fit is the treap's smallest block and what is left of it after
    /// `need` bytes still belongs in the treap, the request is carved from that block's end.
    /// The rest keeps the block's address, hence its priority, and a smaller size, so it is
    /// still the smallest key and the tree stays valid as it is; only its header and footer
    /// change. Carves up to `out.len()` blocks so, one below the other, committed (payloads
    /// into `out`); returns how many, 0 when the general path must decide. Each next block
    /// is what `alloc` would take next: the bins do not change meanwhile and a top that was
    /// not smaller than the block is not smaller than its rest.
    ///
    /// # Safety
    /// `b` is the treap's smallest block and the best fit for `need` (`best_fit` said so).
    #[inline]
    unsafe fn carve_treap_min(&mut self, b: usize, need: usize, out: &mut [usize]) -> usize {
        let carves = |size: usize| size >= need && size - need > LARGEST_EXACT_BIN;
        // SAFETY: b is a free block of the treap; the block after it is a block header of
        // its region.
        unsafe {
            let mut size = size_of(b);
            if out.is_empty() || !carves(size) {
                return 0;
            }
            // Its size decides everything here: prove the header intact first.
            let flags = self.checked_bits(b);
            if seal::HARDENED && flags & IN_USE != 0 {
                self.corrupted(b);
            }
            // The block after it gets a neighbour in use (the first carved block).
            let end = b + size;
            set_prev_in_use(end, true);
            let mut n = 0;
            while n < out.len() && carves(size) {
                size -= need;
                let carved = b + size;
                // The block before the lowest carved one is the rest, free; the others have
                // a carved block before them.
                let below_in_use = n + 1 < out.len() && carves(size);
                set_header(carved, need | IN_USE | if below_in_use { PREV_IN_USE } else { 0 });
                set_live(carved + HEADER, true);
                out[n] = carved + HEADER;
                n += 1;
            }
            make_free(b, size, flags & PREV_IN_USE != 0);
            let bytes = end - b - size;
            self.free -= bytes;
            self.count_in_use(b, bytes);
            n
        }
    }

    /// Whether the free block `rest` (in no bin, not the top) is what `alloc(need)` would
    /// take if `rest` were in its bin: a block of an exact bin's size (a larger one would be
    /// in the treap or the top, whose blocks `alloc` may carve from the end), with no
    /// non-empty bin below its own (its own bin holds only blocks of its size: any of them
    /// fits as well), and the top not smaller. Within a batch this holds by construction (the
    /// block the rest came from was a best fit, so nothing smaller fits), but for the top;
    /// the bins are asked anyway, for one bit scan.
    #[inline]
    unsafe fn rest_is_best_fit(&self, rest: usize, need: usize) -> bool {
        // SAFETY: rest and the top are free blocks of this heap.
        unsafe {
            let size = size_of(rest);
            let own = bin_of(size);
            size >= need
                && own != MIXED_BIN
                && self.first_nonempty(bin_of(need)) >= own
                && !self.top_beats(need, size)
        }
    }

    /// Carves blocks of `need` bytes one after another from the start of the free block
    /// `rest` (in no bin, not the top, not counted in `free`, its best fit: see
    /// `rest_is_best_fit`) into `out`, while it fits them; returns how many, and what is
    /// left of it as such a free block (0 if nothing). The same blocks, headers and counts
    /// as `split_off_tail` and `commit` one block at a time, which the batch would do
    /// because each smaller rest is still the best fit: the bins do not change meanwhile,
    /// no non-empty bin lies below a smaller rest's own, and a top that was not smaller
    /// than the rest is not smaller than a smaller one. Each block costs one sealed header;
    /// the rest and its neighbour's flag are written once, at the end.
    #[inline]
    unsafe fn carve_run(&mut self, rest: usize, need: usize, out: &mut [usize]) -> (usize, usize) {
        // SAFETY: [rest, rest + its size) is a free block of ours that no bin holds; the
        // block after it is a block header of the region.
        unsafe {
            let mut b = rest;
            let mut size = size_of(rest);
            let mut prev_flag = bits(rest) & PREV_IN_USE;
            let mut n = 0;
            while n < out.len() && size >= need {
                // A tail too small to be a block stays with the last one, as in a split.
                let take = if size - need < MIN_BLOCK { size } else { need };
                set_header(b, take | IN_USE | prev_flag);
                set_live(b + HEADER, true);
                out[n] = b + HEADER;
                n += 1;
                prev_flag = PREV_IN_USE;
                b += take;
                size -= take;
            }
            self.count_in_use(rest, b - rest);
            if size == 0 {
                // All of it went: the block after it has a neighbour in use now.
                let flags = self.checked_bits(b);
                set_header(b, flags | PREV_IN_USE);
                return (n, 0);
            }
            make_free(b, size, prev_flag != 0);
            (n, b)
        }
    }

    /// Takes `b` off the list of exact bin `bin`; a list whose links do not point back at
    /// `b` is reported as damage instead of being followed.
    #[inline]
    unsafe fn unlink(&mut self, bin: usize, b: usize) {
        // SAFETY: b is a free block on the list of `bin`; its neighbours are too.
        unsafe {
            let (next, prev) = (self.left(b), self.right(b));
            if seal::HARDENED
                && (next != 0 && !links_to(next + 16, b)
                    || prev != 0 && !links_to(prev + 8, b)
                    || prev == 0 && self.bins[bin] != b)
            {
                self.report_broken_list(b, next, prev);
            }
            if next != 0 {
                set_prev(next, prev);
            }
            if prev != 0 {
                set_next(prev, next);
            } else {
                self.bins[bin] = next;
            }
        }
    }

    /// The free block that ends where block `b` starts (b's PREV_IN_USE flag is clear),
    /// found through its footer; damage to the footer or that block's header is reported.
    #[inline]
    unsafe fn free_predecessor(&self, b: usize) -> usize {
        // SAFETY: b is a block header; the footer and the header it leads to are inside the
        // region once the size is proved in range.
        unsafe {
            let prev_size = word(b - 8);
            let first = (b & !(REGION - 1)) + FIRST_BLOCK;
            let start = b.wrapping_sub(prev_size);
            if seal::HARDENED
                && (prev_size < MIN_BLOCK
                    || !prev_size.is_multiple_of(16)
                    || prev_size > b - first
                    || self.checked_bits(start) & (IN_USE | !FLAGS) != prev_size)
            {
                self.corrupted(b);
            }
            start
        }
    }

    /// Marks the live block at payload `p` free (live bit and IN_USE) and takes its bytes
    /// off the in-use counts; returns its header. Its neighbours and bins are left as they
    /// are: the caller coalesces (`coalesce_and_insert`). IN_USE is cleared even in a header
    /// that a merge is about to absorb, so that a second free of `p` is recognised as a
    /// double free.
    #[inline(always)]
    unsafe fn retire(&mut self, p: usize) -> Result<usize, Misuse> {
        // SAFETY: validate proves b a live block of one of our regions.
        unsafe {
            let b = self.validate(p)?;
            set_live(p, false);
            let size = size_of(b);
            set_header(b, bits(b) & !IN_USE);
            (*region_of(b)).used -= size;
            self.used -= size;
            Ok(b)
        }
    }

    /// Whether the block whose payload is `p` (not yet validated) ends where block `low`
    /// starts: `p`'s header is read only once `p` is proven to lie in `low`'s region before
    /// it, and `retire` still validates it.
    #[inline]
    unsafe fn borders_below(&self, p: usize, low: usize) -> bool {
        let first = (low & !(REGION - 1)) + FIRST_BLOCK;
        // SAFETY: p - HEADER lies in the block area of low's region, mapped.
        p.is_multiple_of(MIN_ALIGN)
            && p >= first + HEADER
            && unsafe { p - HEADER + size_of(p - HEADER) == low }
    }

    /// Makes the retired bytes `[b, b + size)` (one block or a run of neighbours, `b`'s
    /// header telling whether the block before is in use) a free block merged with its free
    /// neighbours, and puts it in its bin, or gives its region back when that empties it.
    #[inline(always)]
    unsafe fn coalesce_and_insert(&mut self, b: usize, size: usize) {
        // SAFETY: [b, b + size) is retired, inside one region; its neighbours are blocks.
        unsafe {
            let region = region_of(b);
            let mut start = b;
            let mut total = size;
            if bits(b) & PREV_IN_USE == 0 {
                start = self.free_predecessor(b);
                total += b - start;
                self.remove_free(start);
                scrub_links(b);
            }
            let next = b + size;
            if self.checked_bits(next) & IN_USE == 0 {
                total += size_of(next);
                self.remove_free(next);
                scrub_links(next);
            }
            make_free(start, total, true);
            set_prev_in_use(start + total, false);
            if (*region).used == 0 {
                if self.spare_count >= self.spare_limit.regions() {
                    self.release(region);
                    return;
                }
                self.spare_count += 1;
            }
            self.insert_free(start);
        }
    }

    /// Maps one more region, which becomes a single free block.
    #[cold]
    fn grow(&mut self) -> bool {
        let base = self.regions.map(self.arena) as usize;
        if base == 0 {
            return false;
        }
        // SAFETY: the region is freshly mapped, zeroed and ours alone; the old top is free.
        unsafe {
            make_free(base + FIRST_BLOCK, AREA, true);
            set_header(base + EPILOGUE, IN_USE);
            // The new region's block becomes the top; the old top (too small for the request
            // that made us grow) goes to its bin.
            let old_top = self.top;
            self.top = 0;
            self.insert_free(base + FIRST_BLOCK);
            if old_top != 0 {
                self.bin_insert(old_top, size_of(old_top));
            }
        }
        self.spare_count += 1;
        true
    }

    /// Unmaps a wholly free region whose block is not in any bin.
    unsafe fn release(&mut self, region: *mut Region) {
        // SAFETY: region is one of ours, with no block in use and none in a bin.
        unsafe { self.regions.unmap(region) };
    }

    /// Counts `bytes` more in use in the region of `b` and in the heap; a region that had
    /// none in use is no longer a spare.
    #[inline]
    unsafe fn count_in_use(&mut self, b: usize, bytes: usize) {
        // SAFETY: b lies in one of our regions, whose header is at its start.
        unsafe {
            let region = region_of(b);
            if bytes != 0 && (*region).used == 0 {
                self.spare_count -= 1;
            }
            (*region).used += bytes;
            self.used += bytes;
        }
    }

    /// Marks the (already sized) block `b` in use and does the bookkeeping.
    #[inline]
    unsafe fn commit(&mut self, b: usize) -> *mut u8 {
        // SAFETY: b is a block of a region of ours that no bin holds.
        unsafe {
            let size = size_of(b);
            set_header(b, bits(b) | IN_USE);
            set_prev_in_use(b + size, true);
            set_live(b + HEADER, true);
            self.count_in_use(b, size);
            (b + HEADER) as *mut u8
        }
    }

    /// Trims block `b` (taken out of its bin, or in use) to `need` bytes, giving the tail
    /// back as a free block when it is big enough to be one.
    #[inline]
    unsafe fn cut_back(&mut self, b: usize, need: usize) {
        // SAFETY: forwarded from the caller.
        unsafe {
            let rest = self.split_off_tail(b, need);
            if rest != 0 {
                self.insert_free(rest);
            }
        }
    }

    /// Trims block `b` (taken out of its bin, or in use) to `need` bytes and makes the tail a
    /// free block of its own, merged with a free successor, header and footer written but in
    /// no bin; returns it, or 0 when the tail is too small to be a block (`b` keeps it).
    ///
    /// # Safety
    /// `b` is a block not in any bin, `need` <= its size, `need` a multiple of 16.
    #[inline]
    unsafe fn split_off_tail(&mut self, b: usize, need: usize) -> usize {
        // SAFETY: forwarded from the caller; the successor is a block header of the region.
        unsafe {
            let size = size_of(b);
            if size - need < MIN_BLOCK {
                return 0;
            }
            set_header(b, need | (bits(b) & FLAGS));
            let mut rest = size - need;
            let next = b + size;
            if self.checked_bits(next) & IN_USE == 0 {
                rest += size_of(next);
                self.remove_free(next);
                scrub_links(next);
            } else {
                set_prev_in_use(next, false);
            }
            make_free(b + need, rest, true);
            b + need
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
        // A region of another arena is not ours, whatever routed the block here (a thread
        // cache finds a block's arena in this very header).
        // SAFETY: p is in a mapped region, whose header is at its start.
        if unsafe { heap::region_arena(p) } != self.arena {
            return Err(Misuse::InvalidPointer);
        }
        // SAFETY: p is in a mapped region of ours.
        if unsafe { is_live(p) } {
            // SAFETY: a live block's header is at p - 8.
            if unsafe { !header_intact(p - HEADER) } {
                return Err(Misuse::Corrupted);
            }
            return Ok(p - HEADER);
        }
        // Not a live block. If its old header still says "free", it was one: a double free.
        // SAFETY: p - 8 is inside the region's block area.
        let h = unsafe { bits(p - HEADER) };
        let size = h & !FLAGS;
        if h & IN_USE == 0 && size >= MIN_BLOCK && offset - HEADER + size <= EPILOGUE {
            Err(Misuse::DoubleFree)
        } else {
            Err(Misuse::InvalidPointer)
        }
    }

    /// Verifies one exact bin's list: links both ways, sizes, free blocks. Returns its length.
    unsafe fn check_list(&self, head: usize, bin: usize) -> Result<usize, &'static str> {
        let damaged = "free-list link damaged";
        let (mut count, mut prev, mut b) = (0, 0, head);
        // SAFETY: b is reached from a bin head through links of free blocks.
        unsafe {
            while b != 0 {
                if !header_intact(b) {
                    return Err("block header seal broken");
                }
                if bits(b) & IN_USE != 0 {
                    return Err("block in use found in a bin");
                }
                if bin_of(size_of(b)) != bin {
                    return Err("free block in the wrong bin");
                }
                let next = seal::decode_region(b + 8, word(b + 8), HEADER, self.arena)
                    .ok_or(damaged)?;
                let back = seal::decode_region(b + 16, word(b + 16), HEADER, self.arena)
                    .ok_or(damaged)?;
                if back != prev {
                    return Err("free list back link broken");
                }
                count += 1;
                prev = b;
                b = next;
            }
        }
        Ok(count)
    }

    /// For tests: the heap's layout independent of where its regions were mapped: every
    /// block as (region index in the heap's list, offset, size and flags) in address order, then the top and
    /// each exact bin's list in order, as (region index, offset). Two heaps that made the
    /// same choices have equal layouts (the treap is left out: its shape follows a hash of
    /// the addresses).
    #[cfg(test)]
    pub fn layout(&self) -> std::vec::Vec<(usize, usize, usize)> {
        let mut bases = std::vec::Vec::new();
        let mut out = std::vec::Vec::new();
        // SAFETY: walking our own regions and exact bins' lists (check() proves them).
        unsafe {
            let mut region = self.regions.first();
            while !region.is_null() {
                bases.push(region as usize);
                region = Region::next(region);
            }
            let place = |b: usize| {
                let base = b & !(REGION - 1);
                (bases.iter().position(|&r| r == base).unwrap(), b - base)
            };
            for &base in &bases {
                let mut b = base + FIRST_BLOCK;
                while b < base + EPILOGUE {
                    let (r, off) = place(b);
                    out.push((r, off, bits(b)));
                    b += size_of(b);
                }
            }
            let top = if self.top == 0 { (usize::MAX, 0) } else { place(self.top) };
            out.push((top.0, top.1, usize::MAX));
            for bin in 0..MIXED_BIN {
                let mut b = self.bins[bin];
                while b != 0 {
                    let (r, off) = place(b);
                    out.push((r, off, bin));
                    b = self.left(b);
                }
            }
        }
        out
    }

    /// Verifies one treap: search order, heap order, bin membership. Returns its node count.
    unsafe fn check_tree(
        &self,
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
            if !header_intact(t) {
                return Err("block header seal broken");
            }
            if word(t) & IN_USE != 0 {
                return Err("block in use found in a bin");
            }
            if bin_of(k.0) != bin {
                return Err("free block in the wrong bin");
            }
            let damaged = "free-list link damaged";
            let l =
                seal::decode_region(t + 8, word(t + 8), HEADER, self.arena).ok_or(damaged)?;
            let r = seal::decode_region(t + 16, word(t + 16), HEADER, self.arena)
                .ok_or(damaged)?;
            for child in [l, r] {
                if child != 0 && priority(child) > priority(t) {
                    return Err("treap out of priority order");
                }
            }
            Ok(1 + self.check_tree(l, bin, lo, k)? + self.check_tree(r, bin, k, hi)?)
        }
    }
}

impl Heap for BestFitHeap {
    const NAME: &'static str = "best-fit";
    const EMPTY: Self = BestFitHeap {
        bins: [0; BINS],
        nonempty: [0; BITMAP_WORDS],
        nonempty_words: 0,
        regions: Regions::EMPTY,
        used: 0,
        free: 0,
        free_blocks: 0,
        spare_count: 0,
        spare_limit: SpareLimit::DEFAULT,
        arena: 0,
        call: Call::Malloc,
        top: 0,
    };
    /// Blocks of 32..=4096 bytes, one class per 16 bytes (the sizes of the exact bins).
    const CACHE_CLASSES: usize = 255;

    #[inline]
    fn cache_class(size: usize) -> Option<usize> {
        if size <= 4096 - HEADER {
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
        // Misaligned pointers would share a live block's granule; a pointer before the first
        // block would have its "header" in the region's own header or outside the region.
        // One test for both: below the first payload the offset wraps to a huge value, and
        // the first payload is 16-aligned, so the low bits of the difference are p's.
        const _: () = assert!((FIRST_BLOCK + HEADER).is_multiple_of(MIN_ALIGN));
        let past_first = (p & (REGION - 1)).wrapping_sub(FIRST_BLOCK + HEADER);
        if past_first & (!(REGION - 1) | (MIN_ALIGN - 1)) != 0 {
            return None;
        }
        // SAFETY: p is inside a mapped region, past its first header; a live block's size is
        // stable while it is live.
        unsafe {
            let header = word(p - HEADER);
            // Sealed, the header itself proves p live: its seal binds the address, size and
            // flags, so only the header the heap wrote for a block at p passes, and the heap
            // clears IN_USE in it on free, even when the block is merged away (see `free`);
            // a word of program data (an interior or stale pointer) passes with probability
            // 2^-32, and none is forged without the secret (not even from a stale header
            // that the program can read: see `seal::tag`). Unsealed, the live bitmap does it.
            // A damaged header sends the block to the heap, which reports it.
            let live = if seal::HARDENED {
                header & IN_USE != 0
            } else {
                is_live(p)
            };
            if !live || !seal::header_intact(p - HEADER, header) {
                return None;
            }
            // One unsigned comparison bounds the class both ways: a size below MIN_BLOCK
            // wraps to a huge class (only a damaged or forged header has one).
            let class = ((header as u32 as usize & !FLAGS) / 16).wrapping_sub(2);
            if class < Self::CACHE_CLASSES {
                Some(class)
            } else {
                None
            }
        }
    }

    #[inline]
    unsafe fn peek_usable(p: *mut u8) -> Option<usize> {
        // SAFETY: p is in a mapped region; a live block's size is stable while it is live.
        unsafe {
            let b = (p as usize).wrapping_sub(HEADER);
            // A damaged header sends the caller to the heap, which reports it.
            if Self::peek_live(p) && header_intact(b) {
                Some(size_of(b) - HEADER)
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
        self.call = Call::Malloc;
        let need = block_size(size);
        // An aligned request needs room to skip to an aligned payload, leaving a gap that is
        // either empty or big enough to be a free block of its own.
        let search = if align <= MIN_ALIGN {
            need
        } else {
            need + align + MIN_BLOCK
        };
        let (mut b, treap_min) = self.best_fit_or_grow(search);
        if b == 0 {
            return ptr::null_mut();
        }
        // SAFETY: b is the best fit, a free block of at least `search` bytes.
        unsafe {
            let mut carved = [0usize; 1];
            if align <= MIN_ALIGN && treap_min && self.carve_treap_min(b, need, &mut carved) == 1
            {
                return carved[0] as *mut u8;
            }
            self.take(b);
            if align > MIN_ALIGN {
                let payload = (b + HEADER + align - 1) & !(align - 1);
                let mut gap = payload - HEADER - b;
                if gap != 0 && gap < MIN_BLOCK {
                    gap += align;
                }
                if gap != 0 {
                    let size = size_of(b);
                    make_free(b, gap, bits(b) & PREV_IN_USE != 0);
                    self.insert_free(b);
                    b += gap;
                    set_header(b, size - gap);
                }
            }
            self.cut_back(b, need);
            self.commit(b)
        }
    }

    /// As one `alloc` per block, but a split's rest is kept out of the bins while it stays
    /// the best fit for the next block of the batch (`rest_is_best_fit`): a refill that
    /// carves its blocks one after another from one free block then costs one bin operation
    /// in all, not two a block.
    unsafe fn alloc_many(&mut self, size: usize, out: &mut [usize]) -> usize {
        self.call = Call::Malloc;
        let need = block_size(size);
        // A free block, header and footer written, in no bin and not the top, not counted
        // in `free`: the rest of the last split.
        let mut rest = 0;
        let mut got = 0;
        // SAFETY: every block handled is a free block of this heap: the rest of a split (in
        // no bin), or the best fit, which is carved in place or taken out of its bin first.
        unsafe {
            while got < out.len() {
                if rest != 0 && self.rest_is_best_fit(rest, need) {
                    // Every later rest is smaller, so it stays the best fit for as long as
                    // it fits (see `carve_run`): the rest of the batch is carved in one pass.
                    let (carved, left) = self.carve_run(rest, need, &mut out[got..]);
                    got += carved;
                    rest = left;
                    continue;
                }
                if rest != 0 {
                    self.insert_free(core::mem::take(&mut rest));
                }
                // The same choices as `alloc`, in the same order.
                let (b, treap_min) = self.best_fit_or_grow(need);
                if b == 0 {
                    break;
                }
                if treap_min {
                    let carved = self.carve_treap_min(b, need, &mut out[got..]);
                    if carved != 0 {
                        got += carved;
                        continue;
                    }
                }
                self.take(b);
                // As `cut_back`, but the tail stays out of the bins (it is the next candidate).
                rest = self.split_off_tail(b, need);
                out[got] = self.commit(b) as usize;
                got += 1;
            }
            if rest != 0 {
                self.insert_free(rest);
            }
        }
        got
    }

    unsafe fn free(&mut self, p: *mut u8) -> Result<(), Misuse> {
        // SAFETY: retire proves b a live block of one of our regions.
        unsafe {
            self.call = Call::Free;
            let b = self.retire(p as usize)?;
            self.coalesce_and_insert(b, size_of(b));
        }
        Ok(())
    }

    unsafe fn free_many(&mut self, blocks: &[usize]) -> Result<(), (usize, Misuse)> {
        self.call = Call::Free;
        let mut k = 0;
        // SAFETY: retire proves each block live; a run's blocks are neighbours, so together
        // they form one block from the lowest one's header to the highest one's end.
        unsafe {
            while k < blocks.len() {
                let first = self.retire(blocks[k]).map_err(|m| (blocks[k], m))?;
                let (mut low, mut high) = (first, first + size_of(first));
                k += 1;
                // The blocks that follow in the batch and border the run, above or below,
                // join it: each would coalesce with the run freed on its own, but the run
                // enters a bin once. A thread cache's bin is LIFO, so blocks the program
                // freed in address order come in descending.
                while k < blocks.len() {
                    let p = blocks[k];
                    let above = p == high + HEADER;
                    let below = !above && p < low && self.borders_below(p, low);
                    if !(above || below) {
                        break;
                    }
                    let b = match self.retire(p) {
                        Ok(b) => b,
                        Err(misuse) => {
                            // The run so far is freed, as one block at a time would have.
                            self.coalesce_and_insert(low, high - low);
                            return Err((p, misuse));
                        }
                    };
                    if above {
                        scrub_links(b);
                        high = b + size_of(b);
                    } else {
                        scrub_links(low);
                        low = b;
                    }
                    k += 1;
                }
                self.coalesce_and_insert(low, high - low);
            }
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
            self.call = Call::Realloc;
            let b = self.validate(p as usize)?;
            let current = size_of(b);
            let need = block_size(size);
            if need > current {
                let next = b + current;
                if self.checked_bits(next) & IN_USE != 0 || current + size_of(next) < need {
                    return Ok(false);
                }
                let total = current + size_of(next);
                self.remove_free(next);
                scrub_links(next);
                set_header(b, total | (bits(b) & FLAGS));
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
        self.spare_limit = SpareLimit::new(regions);
    }

    fn trim(&mut self) -> bool {
        self.call = Call::MallocTrim;
        let mut released = false;
        let mut region = self.regions.first();
        while !region.is_null() {
            // SAFETY: region is a live region header; a region with used == 0 is exactly one
            // free block, which is in its bin or the top.
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
                        // A damaged header is reported, not trusted: its size would steer
                        // the madvise below into live blocks.
                        let size = size_of(b);
                        if !header_intact(b) || size < MIN_BLOCK || size > base + EPILOGUE - b {
                            self.corrupted(b);
                        }
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
                    if !header_intact(b) {
                        return Err("block header seal broken");
                    }
                    let h = bits(b);
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
                if (root != 0) != (self.nonempty[bin / 64] & (1 << (bin % 64)) != 0) {
                    return Err("non-empty bin bitmap wrong");
                }
                let word_marked = self.nonempty_words & (1 << (bin / 64)) != 0;
                if word_marked != (self.nonempty[bin / 64] != 0) {
                    return Err("non-empty bitmap word summary wrong");
                }
                in_bins += if bin == MIXED_BIN {
                    self.check_tree(root, bin, (0, 0), (usize::MAX, usize::MAX))?
                } else {
                    self.check_list(root, bin)?
                };
            }
            if self.top != 0 {
                let top = self.top;
                if bits(top) & IN_USE != 0 || top + size_of(top) != (top & !(REGION - 1)) + EPILOGUE
                {
                    return Err("top is not a free block at its region's end");
                }
                in_bins += 1;
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
