//! The heap's regions: laying out one more (its four top blocks go on their lists), taking
//! a wholly free one's blocks off them, and `malloc_trim`'s walk over the free blocks (the
//! region bookkeeping is `HeapCore`'s).

use super::{BuddyHeap, META_ORDER, ORDERS, block_bytes};
use crate::heap::RegionSource;

impl<S: RegionSource> BuddyHeap<S> {
    /// Maps one more region, whose four top blocks go on their lists.
    #[cold]
    pub(super) fn grow(&mut self) -> bool {
        let Some(base) = self.core.map_region() else {
            return false;
        };
        // SAFETY: a fresh, zeroed region that only this heap knows.
        unsafe {
            for order in META_ORDER..ORDERS {
                self.push(base + block_bytes(order), order);
            }
        }
        true
    }

    /// Takes the four top blocks of the wholly free region at `base` off their lists.
    ///
    /// # Safety
    /// `base` is one of this heap's regions, with no block in use.
    pub(super) unsafe fn unlink_top_blocks(&mut self, base: usize) {
        // SAFETY: the region is ours and wholly free, so it is exactly its four top blocks.
        unsafe {
            for order in META_ORDER..ORDERS {
                self.unlink(base + block_bytes(order), order);
            }
        }
    }

    /// `Heap::decommit_free`: gives back the pages inside every free block.
    pub(super) fn decommit_free_blocks(&mut self) -> bool {
        let mut released = false;
        for order in 0..ORDERS {
            let mut b = self.heads[order];
            while b != 0 {
                // SAFETY: b is a free block; its first 16 bytes (the links) are kept.
                unsafe {
                    released |= self.core.decommit_inside(b + 16, b + block_bytes(order));
                    b = self.link(b, 0);
                }
            }
        }
        released
    }
}
