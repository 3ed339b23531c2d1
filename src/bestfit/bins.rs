//! The free blocks: 2047 exact bins (doubly linked lists, one block size each), the mixed
//! bin (the treap, see treap.rs), the two-level bitmap of non-empty bins, and the top.
//!
//! ```text
//!  nonempty_words     bit w set iff nonempty[w] != 0
//!        |
//!  nonempty[0..32]    bit i % 64 of word i / 64 set iff bins[i] is not empty
//!        |
//!  bins[0..2048]      bins[i], i < 2047: the list of free blocks of (i + 2) * 16 bytes,
//!                     most recently freed first
//!                     bins[2047] (MIXED_BIN): the treap's root, blocks above 32 KiB
//! ```

use super::BestFitHeap;
use super::block::{EPILOGUE, links_to, set_left, set_right, size_of};
use crate::heap::{CHUNK, RegionSource};
use crate::seal;

/// Sizes up to this have a bin (a list) of their own.
pub(super) const LARGEST_EXACT_BIN: usize = 32 << 10;
pub(super) const BINS: usize = LARGEST_EXACT_BIN / 16;
pub(super) const MIXED_BIN: usize = BINS - 1;
pub(super) const BITMAP_WORDS: usize = BINS / 64;
// `nonempty_words` has a bit per bitmap word.
const _: () = assert!(BITMAP_WORDS <= 64);

/// The bin of a free block of `size` bytes.
#[inline]
pub(super) fn bin_of(size: usize) -> usize {
    if size <= LARGEST_EXACT_BIN {
        size / 16 - 2
    } else {
        MIXED_BIN
    }
}

/// In an exact bin's list the two link words are next and prev.
///
/// # Safety
/// `b` is a free block of the heap.
#[inline]
unsafe fn set_next(b: usize, v: usize) {
    // SAFETY: as in `write_link`.
    unsafe { set_left(b, v) }
}

/// Sets the prev link of `b` in an exact bin's list.
///
/// # Safety
/// As for [`set_next`].
#[inline]
unsafe fn set_prev(b: usize, v: usize) {
    // SAFETY: as in `write_link`.
    unsafe { set_right(b, v) }
}

impl<S: RegionSource> BestFitHeap<S> {
    /// Sets the bit of `bin` and its word's summary bit.
    #[inline]
    fn mark_nonempty(&mut self, bin: usize) {
        self.nonempty[bin / 64] |= 1 << (bin % 64);
        self.nonempty_words |= 1 << (bin / 64);
    }
    /// Clears the bit of `bin`, and its word's summary bit when the word empties.
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
    pub(super) fn first_nonempty(&self, bin: usize) -> usize {
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

    /// The size of the largest free block: the top, the treap's largest, or the block size
    /// of the highest non-empty exact bin.
    ///
    /// # Safety
    /// The heap is intact: the top and the treap's nodes are free blocks of this heap.
    pub(super) unsafe fn largest_free_block(&self) -> usize {
        // SAFETY: forwarded from the caller.
        let (top, treap) = unsafe {
            (
                if self.top == 0 { 0 } else { size_of(self.top) },
                self.treap_largest(),
            )
        };
        // The highest non-empty exact bin: a walk down the bitmap (statistics only).
        let mut exact = 0;
        for word in (0..BITMAP_WORDS).rev() {
            let mut bits = self.nonempty[word];
            if word == MIXED_BIN / 64 {
                bits &= !(1 << (MIXED_BIN % 64));
            }
            if bits != 0 {
                let bin = word * 64 + 63 - bits.leading_zeros() as usize;
                exact = (bin + 2) * 16;
                break;
            }
        }
        top.max(treap).max(exact)
    }

    /// Adds the free block `b` (header and footer written) to the free blocks: as the top if
    /// there is none and `b` ends its region, else to its bin.
    ///
    /// # Safety
    /// `b` is a free block of this heap, header and footer written, in no bin and not the
    /// top, its neighbours not free (or about to be merged into it by the caller).
    #[inline]
    pub(super) unsafe fn insert_free(&mut self, b: usize) {
        // SAFETY: b is a free block with header and footer written.
        unsafe {
            let size = size_of(b);
            self.core.free += size;
            self.core.free_blocks += 1;
            if self.top == 0 && b + size == (b & !(CHUNK - 1)) + EPILOGUE {
                self.top = b;
            } else {
                self.bin_insert(b, size);
            }
        }
    }

    /// Puts the free block `b` of `size` bytes in its bin (its counts are the caller's).
    ///
    /// # Safety
    /// `b` is a free block of this heap of `size` bytes, header and footer written, in no
    /// bin and not the top.
    #[inline]
    pub(super) unsafe fn bin_insert(&mut self, b: usize, size: usize) {
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
    ///
    /// # Safety
    /// `b` is the top or a free block in the bin of its size.
    #[inline]
    pub(super) unsafe fn remove_free(&mut self, b: usize) {
        // SAFETY: b is the top or a free block in its bin.
        unsafe {
            let size = size_of(b);
            self.core.free -= size;
            self.core.free_blocks -= 1;
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

    /// Takes `b` off the list of exact bin `bin`; a list whose links do not point back at
    /// `b` is reported as damage instead of being followed.
    ///
    /// # Safety
    /// `b` is a free block of this heap on the list of exact bin `bin`.
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

    /// Reports a list whose links around `b` do not agree: the neighbour whose back link does
    /// not decode if there is one, else `b`.
    ///
    /// # Safety
    /// `next` and `prev` are 0 or free blocks of this heap (links of `b` that decoded).
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
}
