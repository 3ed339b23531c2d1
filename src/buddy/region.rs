//! The heap's regions: mapping one more (its four top blocks go on their lists), giving a
//! wholly free one back, the per-region count of bytes in use, and `malloc_trim`.

use super::{BuddyHeap, META_ORDER, ORDERS, block_bytes};
use crate::heap::{self, Region, region_of};

impl BuddyHeap {
    /// Maps one more region, whose four top blocks go on their lists.
    #[cold]
    pub(super) fn grow(&mut self) -> bool {
        let base = self.regions.map(self.arena) as usize;
        if base == 0 {
            return false;
        }
        // SAFETY: a fresh, zeroed region that only this heap knows.
        unsafe {
            for order in META_ORDER..ORDERS {
                self.push(base + block_bytes(order), order);
            }
        }
        self.spare_count += 1;
        true
    }

    /// Unmaps a wholly free region, taking its four top blocks off their lists.
    ///
    /// # Safety
    /// `region` is one of this heap's regions, with no block in use.
    pub(super) unsafe fn release(&mut self, region: *mut Region) {
        let base = region as usize;
        // SAFETY: region is ours and wholly free, so it is exactly its four top blocks.
        unsafe {
            for order in META_ORDER..ORDERS {
                self.unlink(base + block_bytes(order), order);
            }
            self.regions.unmap(region);
        }
        self.spare_count -= 1;
    }

    /// Counts `bytes` more in use (`taken`) or fewer in the region of `b` and in the heap,
    /// keeping the count of wholly free regions.
    ///
    /// # Safety
    /// `b` lies in one of this heap's regions.
    #[inline]
    pub(super) unsafe fn account(&mut self, b: usize, bytes: usize, taken: bool) {
        let region = region_of(b);
        // SAFETY: b lies in one of our regions.
        unsafe {
            if taken {
                if (*region).used == 0 {
                    self.spare_count -= 1;
                }
                (*region).used += bytes;
                self.used += bytes;
            } else {
                (*region).used -= bytes;
                self.used -= bytes;
                if (*region).used == 0 {
                    self.spare_count += 1;
                }
            }
        }
    }

    /// `Heap::trim`: unmaps every wholly free region and gives back the pages inside the
    /// other free blocks.
    pub(super) fn trim_regions(&mut self) -> bool {
        let mut released = false;
        let mut region = self.regions.first();
        while !region.is_null() {
            // SAFETY: walking our own region list; `next` is read before a release.
            unsafe {
                let next = Region::next(region);
                if (*region).used == 0 {
                    self.release(region);
                    released = true;
                }
                region = next;
            }
        }
        for order in 0..ORDERS {
            let mut b = self.heads[order];
            while b != 0 {
                // SAFETY: b is a free block; its first 16 bytes (the links) are kept.
                unsafe {
                    released |= heap::decommit_inside(b + 16, b + block_bytes(order));
                    b = self.link(b, 0);
                }
            }
        }
        released
    }
}
