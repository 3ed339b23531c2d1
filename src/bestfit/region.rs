//! The heap's regions: laying out one more (a single free block that becomes the top), and
//! the walk over the free blocks that gives their pages back (`malloc_trim`, and the purge
//! of large free blocks; the region bookkeeping is `HeapCore`'s).

use super::BestFitHeap;
use super::free::PURGE_MIN;
use super::block::{
    AREA, EPILOGUE, FIRST_BLOCK, IN_USE, MIN_BLOCK, header_intact, make_free, set_header, size_of,
    word,
};
use crate::heap::{Region, RegionSource};

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
    /// purged (`free.rs`, `PURGE_BACKLOG`).
    pub(super) fn purge_large_free(&mut self) {
        self.free_blocks_back(PURGE_MIN, true);
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
                    // A damaged header is reported, not trusted: its size would steer the
                    // madvise below into live blocks.
                    let size = size_of(b);
                    if !header_intact(b) || size < MIN_BLOCK || size > base + EPILOGUE - b {
                        self.corrupted(b);
                    }
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
