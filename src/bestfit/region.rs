//! The heap's regions: laying out one more (a single free block that becomes the top), and
//! `malloc_trim`'s walk over the free blocks (the region bookkeeping is `HeapCore`'s).

use super::BestFitHeap;
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
                    if word(b) & IN_USE == 0 {
                        // Keep the header and links at the front and the footer at the end.
                        released |= self.core.decommit_inside(b + 24, b + size - 8);
                    }
                    b += size;
                }
                region = Region::next(region);
            }
        }
        released
    }
}
