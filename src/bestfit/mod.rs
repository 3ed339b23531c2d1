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
//!
//! The files, each owning one piece:
//! - `mod.rs` (this one): the type, the invariants of its fields, and the `Heap` impl: the
//!   lock-free reads of the thread cache's fast path (`peek_*`), the rest forwarding;
//! - `block.rs`: the region's layout, a block's header (size, flags, seal), its link and
//!   footer words, the live bitmap;
//! - `bins.rs`: the exact bins, their two-level bitmap of non-empty bins, and the top;
//! - `treap.rs`: the treap of the mixed bin;
//! - `classes.rs`: the thread cache's size classes, exact up to 1 KiB, eight per power of
//!   two up to 32 KiB (requests of those sizes rounded up to them);
//! - `alloc.rs`: finding the best fit and carving blocks off it; resizing in place;
//! - `free.rs`: validating a pointer, freeing, coalescing;
//! - `region.rs`: laying out a fresh region, and the free pages `malloc_trim` gives back
//!   (the counts are `HeapCore`'s);
//! - `check.rs`: the invariant walker, the heap walk of a region, the tests' layout.

use crate::heap::{
    CHUNK, FIRST_CLASS_BIN, Heap, HeapCore, MIN_ALIGN, Misuse, OsRegions, Region, RegionSource,
    Span,
};
use crate::seal;

mod alloc;
mod bins;
mod block;
mod check;
mod classes;
mod free;
mod region;
mod treap;

use bins::{BINS, BITMAP_WORDS};
pub use block::{AREA, MIN_BLOCK};
use block::{FIRST_BLOCK, HEADER, header_intact, is_live, size_of, word};

pub struct BestFitHeap<S: RegionSource = OsRegions> {
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
    /// The regions, counts, spare limit, arena and call. A region's `used` is 0 iff it is
    /// one free block.
    core: HeapCore<S>,
    /// The top: a free block that ends its region, kept out of the bins (0 = none), so that
    /// carving requests off the end of a fresh region costs no tree operations. It counts in
    /// `free` and `free_blocks`; `best_fit` weighs it against the bins' best candidate,
    /// so it is taken only when it is the smallest block that fits.
    top: usize,
    /// Bytes that frees added to free blocks of at least `free::PURGE_MIN` without giving
    /// their pages back (each too few for a system call, `PURGE_RANGE_MIN`) since the last
    /// pass over every such block (`purge_large_free`), which runs when they reach
    /// `free::PURGE_BACKLOG`: a large free block may hold resident pages only up to that.
    unpurged: usize,
}

// SAFETY: the heap owns its regions; the caller serialises access with a lock.
unsafe impl<S: RegionSource> Send for BestFitHeap<S> {}

impl<S: RegionSource> Heap for BestFitHeap<S> {
    const NAME: &'static str = "best-fit";
    const EMPTY: Self = BestFitHeap {
        bins: [0; BINS],
        nonempty: [0; BITMAP_WORDS],
        nonempty_words: 0,
        core: HeapCore::EMPTY,
        top: 0,
        unpurged: 0,
    };
    /// Blocks of 32..=1040 bytes, one class per 16 bytes (the sizes of the exact bins), then
    /// eight per power of two up to 32 KiB (plus the header and its rounding), to which the
    /// cache rounds requests (`classes.rs`).
    const CACHE_CLASSES: usize = classes::CLASSES;

    #[inline]
    fn cache_class(size: usize) -> Option<usize> {
        classes::class_of_request(size)
    }

    /// Blocks are 16-byte multiples with an 8-byte header, so `(size + 23) / 16` is the
    /// block's size in 16-byte units, the class plus 2 (`FIRST_CLASS_BIN`), except for
    /// requests of 8 bytes or fewer, which would need the clamp to the smallest block: they
    /// get bin 1, which is always empty, so the slow path. Requests above the exact classes
    /// get `None`: the coarse classes' rounding is left to malloc's miss path
    /// (`cache_class`), so that the small sizes pay nothing for it.
    #[inline(always)]
    fn fast_bin(size: usize) -> Option<usize> {
        const _: () = assert!(MIN_BLOCK / 16 == FIRST_CLASS_BIN);
        if size <= classes::LARGEST_EXACT_REQUEST {
            Some((size + 15 + HEADER) / 16)
        } else {
            None
        }
    }

    fn class_size(class: usize) -> usize {
        classes::block_of_class(class) - HEADER
    }

    /// # Safety
    /// The trait's contract ([`Heap::peek_class`]): `p` lies in a chunk owned by a region.
    #[inline]
    unsafe fn peek_class(p: *mut u8) -> Option<usize> {
        // SAFETY: forwarded from the caller.
        unsafe { Self::peek_bin(p) }?.checked_sub(FIRST_CLASS_BIN)
    }

    /// # Safety
    /// The trait's contract ([`Heap::peek_bin`]): `p` lies in a chunk owned by a region.
    #[inline(always)]
    unsafe fn peek_bin(p: *mut u8) -> Option<usize> {
        let p = p as usize;
        let header = if seal::HARDENED {
            // The seal binds the payload's address, size and flags, and a free block's seal
            // has a bit flipped (`free_mark`), so an intact header proves p the payload of a
            // block in use: only the header the heap wrote for a block at p passes, and the
            // heap rewrites it on free, even when the block is merged away (see `retire`). A
            // word that is not such a header (program data behind an interior, misaligned
            // or stale pointer; the region's own header and bitmap, for a pointer below the
            // first block) passes with probability 2^-32, and none is forged without the
            // secret (not even from a stale header the program can read: see
            // `seal::header_intact`). All that must be tested before the word is read is
            // that it lies in p's chunk, which the caller proved a region.
            if p & (CHUNK - 1) < HEADER {
                return None;
            }
            // SAFETY: p - 8 lies in p's chunk, a mapped region (the contract).
            let header = unsafe { word(p - HEADER) };
            if !seal::header_intact(p, header) {
                return None;
            }
            header
        } else {
            // Unsealed, the live bitmap proves p live, so p must first be a payload's place:
            // a misaligned pointer would share a live block's granule, and one before the
            // first block would find its bit in the region's own header. One test for both:
            // below the first payload the offset wraps to a huge value, and the first
            // payload is 16-aligned, so the low bits of the difference are p's.
            const _: () = assert!((FIRST_BLOCK + HEADER).is_multiple_of(MIN_ALIGN));
            let past_first = (p & (CHUNK - 1)).wrapping_sub(FIRST_BLOCK + HEADER);
            // SAFETY: p is inside a mapped region, past its first header.
            if past_first & (!(CHUNK - 1) | (MIN_ALIGN - 1)) != 0 || unsafe { !is_live(p) } {
                return None;
            }
            // SAFETY: as above; a live block's header is at p - 8.
            unsafe { word(p - HEADER) }
        };
        // A live block's size is stable while it is live. Only a block of exactly a class's
        // size is cached (`classes.rs`): one of another size above 1 KiB (a realloc resized
        // it in place, say) would serve the requests of the class below it short, or hold
        // bytes that no request of the class above uses.
        classes::bin_of_block(header as u32 as usize)
    }

    /// # Safety
    /// The trait's contract ([`Heap::peek_usable`]): `p` lies in a chunk owned by a region.
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

    /// # Safety
    /// The trait's contract ([`Heap::peek_live`]): `p` lies in a chunk owned by a region.
    #[inline]
    unsafe fn peek_live(p: *mut u8) -> bool {
        // SAFETY: p is in a mapped region (the caller checked the chunk map).
        (p as usize).is_multiple_of(MIN_ALIGN) && unsafe { is_live(p as usize) }
    }

    /// Requests above 1 MiB get a mapping of their own, so they go back to the OS on free.
    const MAX_REQUEST: usize = 1 << 20;
    const MAX_ALIGN: usize = 1 << 20;
    const BLOCK_HEADER: usize = HEADER;

    /// # Safety
    /// The trait's contract ([`Heap::alloc`]); see `alloc.rs`.
    unsafe fn alloc(&mut self, size: usize, align: usize) -> *mut u8 {
        // SAFETY: the same contract.
        unsafe { self.allocate(size, align) }
    }

    /// # Safety
    /// The trait's contract ([`Heap::alloc_many`]); see `alloc.rs`.
    unsafe fn alloc_many(&mut self, size: usize, out: &mut [usize]) -> usize {
        // SAFETY: the same contract.
        unsafe { self.allocate_many(size, out) }
    }

    /// # Safety
    /// The trait's contract ([`Heap::free`]); see `free.rs`.
    unsafe fn free(&mut self, p: *mut u8) -> Result<(), Misuse> {
        // SAFETY: the same contract.
        unsafe { self.deallocate(p) }
    }

    /// # Safety
    /// The trait's contract ([`Heap::free_many`]); see `free.rs`.
    unsafe fn free_many(&mut self, blocks: &[usize]) -> Result<(), (usize, Misuse)> {
        // SAFETY: the same contract.
        unsafe { self.deallocate_many(blocks) }
    }

    /// # Safety
    /// The trait's contract ([`Heap::usable_size`]).
    unsafe fn usable_size(&self, p: *mut u8) -> Result<usize, Misuse> {
        // SAFETY: validate proves b is a live block.
        unsafe {
            let b = self.validate(p as usize)?;
            Ok(size_of(b) - HEADER)
        }
    }

    /// # Safety
    /// The trait's contract ([`Heap::resize_in_place`]); see `alloc.rs`.
    unsafe fn resize_in_place(&mut self, p: *mut u8, size: usize) -> Result<bool, Misuse> {
        // SAFETY: the same contract.
        unsafe { self.resize(p, size) }
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

    const AREA: usize = AREA;

    crate::heap::embeds_core!(S);

    /// # Safety
    /// The trait's contract ([`Heap::forget_region`]).
    unsafe fn forget_region(&mut self, region: *mut Region) {
        // SAFETY: a wholly free region is one free block, in its bin or the top.
        unsafe { self.remove_free(region as usize + FIRST_BLOCK) };
    }

    fn largest_free(&self) -> usize {
        // SAFETY: the caller holds the heap's lock, so its free structures are intact.
        unsafe { self.largest_free_block() }
    }

    fn decommit_free(&mut self) -> bool {
        self.decommit_free_blocks()
    }
}
