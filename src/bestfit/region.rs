//! The heap's regions: laying out one more (a single free block that becomes the top), and
//! the walk over the free blocks that gives their pages back (`malloc_trim`, and the purge
//! of large free blocks; the region bookkeeping is `HeapCore`'s).

use super::BestFitHeap;
use super::bins::{LARGEST_EXACT_BIN, MIXED_BIN};
use super::free::PURGE_MIN;
use super::block::{
    AREA, EPILOGUE, FIRST_BLOCK, IN_USE, MIN_BLOCK, header_intact, make_free, set_header,
    size_of, word,
};
use crate::heap::{CHUNK, Region, RegionSource};

/// The size of block `b` if its header is intact and the block lies inside its region;
/// `None` for a damaged header, whose size must not be followed.
///
/// # Safety
/// `b` is a block header of a region of this heap.
pub(super) unsafe fn intact_size(b: usize) -> Option<usize> {
    let end = (b & !(CHUNK - 1)) + EPILOGUE;
    // SAFETY: b is a block header.
    let size = unsafe { size_of(b) };
    // SAFETY: as above.
    (unsafe { header_intact(b) } && size >= MIN_BLOCK && size <= end - b).then_some(size)
}

impl<S: RegionSource> BestFitHeap<S> {
    /// Maps one more region, which becomes a single free block.
    #[cold]
    pub(super) fn grow(&mut self) -> bool {
        let Some(base) = self.core.map_region() else {
            return false;
        };
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
        true
    }

    /// `Heap::decommit_free`: gives back the pages inside the free blocks of every region
    /// (trim has unmapped the wholly free ones).
    pub(super) fn decommit_free_blocks(&mut self) -> bool {
        self.free_blocks_back(MIN_BLOCK, false)
    }

    /// Gives back the pages inside every free block of at least `PURGE_MIN`, counted as
    /// purged (`free.rs`, `PURGE_BACKLOG`). Those blocks are the top and the treap's largest
    /// (`PURGE_MIN` is above `LARGEST_EXACT_BIN`), so the pass visits them alone: a walk over
    /// every block of every region made the pass cost as much as the heap is large, once
    /// per `PURGE_BACKLOG` bytes of small frees beside the top.
    pub(super) fn purge_large_free(&mut self) {
        const { assert!(PURGE_MIN > LARGEST_EXACT_BIN) };
        let root = self.bins[MIXED_BIN];
        // SAFETY: the top and the treap's nodes are free blocks of this heap, each purged
        // past its header and links and before its footer, its size checked first.
        unsafe {
            // A dry run first bounds the recursion: a tree deeper than the bound (never
            // seen: its priorities are hashes of addresses) is left to the walk over the
            // regions, which finds the same blocks, so that none is purged twice.
            if !self.purge_subtree(root, 0, false) {
                self.free_blocks_back(PURGE_MIN, true);
                return;
            }
            let top = self.top;
            if top != 0 {
                self.purge_if_large(top);
            }
            self.purge_subtree(root, 0, true);
        }
    }

    /// Visits the treap's blocks of at least `PURGE_MIN` under `t`, at `depth` (the left
    /// subtree of a node below that size holds none), purging them when `purge`. False,
    /// having visited part of them, when the tree is deeper than `PURGE_DEPTH_MAX`, which
    /// bounds the recursion.
    ///
    /// # Safety
    /// `t` is 0 or a node of this heap's treap.
    unsafe fn purge_subtree(&mut self, t: usize, depth: usize, purge: bool) -> bool {
        const PURGE_DEPTH_MAX: usize = 96;
        if t == 0 {
            return true;
        }
        if depth == PURGE_DEPTH_MAX {
            return false;
        }
        // SAFETY: t is a node of the treap, a free block whose links name its children.
        unsafe {
            let (left, right) = (self.left(t), self.right(t));
            if self.checked_size(t) >= PURGE_MIN {
                if !self.purge_subtree(left, depth + 1, purge) {
                    return false;
                }
                if purge {
                    self.purge_if_large(t);
                }
            }
            self.purge_subtree(right, depth + 1, purge)
        }
    }

    /// Gives back the pages inside the free block `b` if it is of `PURGE_MIN` or more.
    ///
    /// # Safety
    /// `b` is a free block of this heap (the top, or in its bin).
    unsafe fn purge_if_large(&mut self, b: usize) {
        // SAFETY: b is a free block; its size is checked against its region.
        unsafe {
            let size = self.checked_size(b);
            if size >= PURGE_MIN {
                // Keep the header and links at the front and the footer at the end.
                self.core.purge_inside(b + 24, b + size - 8);
            }
        }
    }

    /// The size of block `b`, its header proven intact and the block inside its region
    /// (a damaged size would steer a purge into live blocks, or a walk out of the region):
    /// the damage is reported.
    ///
    /// # Safety
    /// `b` is a block header of this heap.
    unsafe fn checked_size(&self, b: usize) -> usize {
        // SAFETY: forwarded from the caller.
        match unsafe { intact_size(b) } {
            Some(size) => size,
            None => self.corrupted(b),
        }
    }

    /// Gives back the pages inside every free block of `min` bytes or more, counted as
    /// trimmed or (`purge`) as purged.
    fn free_blocks_back(&mut self, min: usize, purge: bool) -> bool {
        let mut released = false;
        let mut region = self.core.regions().first();
        while !region.is_null() {
            // SAFETY: region is a live region header, partly in use, whose blocks tile it.
            unsafe {
                let base = region as usize;
                let mut b = base + FIRST_BLOCK;
                while b < base + EPILOGUE {
                    let size = self.checked_size(b);
                    if word(b) & IN_USE == 0 && size >= min {
                        // Keep the header and links at the front and the footer at the end.
                        if purge {
                            self.core.purge_inside(b + 24, b + size - 8);
                        } else {
                            released |= self.core.decommit_inside(b + 24, b + size - 8);
                        }
                    }
                    b += size;
                }
                region = Region::next(region);
            }
        }
        released
    }
}
