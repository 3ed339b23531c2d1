//! The heap's regions: mapping one more (a single free block that becomes the top), giving
//! a wholly free one back, the per-region count of bytes in use, and `malloc_trim`'s walk.

use super::BestFitHeap;
use super::block::{
    AREA, EPILOGUE, FIRST_BLOCK, IN_USE, MIN_BLOCK, header_intact, make_free, set_header, size_of,
    word,
};
use crate::heap::{self, Call, Region, region_of};

impl BestFitHeap {
    /// Maps one more region, which becomes a single free block.
    #[cold]
    pub(super) fn grow(&mut self) -> bool {
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
    ///
    /// # Safety
    /// `region` is one of this heap's regions, with no block in use and its one free block
    /// in no bin and not the top.
    pub(super) unsafe fn release(&mut self, region: *mut Region) {
        // SAFETY: region is one of ours, with no block in use and none in a bin.
        unsafe { self.regions.unmap(region) };
    }

    /// Counts `bytes` more in use in the region of `b` and in the heap; a region that had
    /// none in use is no longer a spare.
    ///
    /// # Safety
    /// `b` lies in one of this heap's regions.
    #[inline]
    pub(super) unsafe fn count_in_use(&mut self, b: usize, bytes: usize) {
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

    /// `Heap::trim`: unmaps every wholly free region and gives back the pages inside the
    /// free blocks of the others.
    pub(super) fn trim_regions(&mut self) -> bool {
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
}
