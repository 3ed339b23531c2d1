//! The invariant walker (`Heap::check`: after every step of the unit tests, and every N
//! calls with `BESTBUDDY_OPTIONS=check=N`).

use core::sync::atomic::Ordering::Relaxed;

use super::orders::{entry, entry_order, free_entry, live_entry_order, split_addr};
use super::{BuddyHeap, MAX_ORDER, META, MIN_SHIFT, ORDERS, block_bytes};
use crate::heap::{CHUNK, RegionSource, Span, SpanKind, Tally};

impl<S: RegionSource> BuddyHeap<S> {
    /// `Heap::check`: walks every region's order map and every list, and compares what it
    /// finds with the heap's counts (the invariants are listed in docs/ARCHITECTURE.md).
    pub(super) fn check_invariants(&self) -> Result<(), &'static str> {
        // SAFETY: walking our own regions.
        let tally = self
            .core
            .check_regions(|region, tally| unsafe { check_region(region as usize, tally) })?;
        // SAFETY: walking our own lists from their heads.
        unsafe {
            let mut listed = 0;
            for order in 0..ORDERS {
                let head = self.heads[order];
                if (head != 0) != (self.nonempty & (1 << order) != 0) {
                    return Err("non-empty order bitmap wrong");
                }
                let mut prev = 0;
                let mut b = head;
                while b != 0 {
                    let (base, offset) = split_addr(b);
                    if entry(base, offset).load(Relaxed) != free_entry(order) {
                        return Err("listed block is not free of its order");
                    }
                    let damaged = "free-list link damaged";
                    let next = self
                        .core
                        .decode_link(b, *(b as *const usize), 0)
                        .ok_or(damaged)?;
                    let back = self
                        .core
                        .decode_link(b + 8, *((b + 8) as *const usize), 0)
                        .ok_or(damaged)?;
                    if back != prev {
                        return Err("free list back link broken");
                    }
                    listed += 1;
                    prev = b;
                    b = next;
                }
            }
            if listed != tally.free_blocks {
                return Err("free blocks missing from the lists");
            }
        }
        self.core.check_totals(&tally)
    }
}

/// One region's order map for `check_invariants`: blocks tile it, aligned to their sizes,
/// no two free buddies; its free blocks go into `tally`. Returns the bytes in use found.
///
/// # Safety
/// `base` is one of the heap's regions.
unsafe fn check_region(base: usize, tally: &mut Tally) -> Result<usize, &'static str> {
    let mut region_used = 0;
    let mut offset = META;
    // SAFETY: the order map lies in the region's metadata block.
    unsafe {
        while offset < CHUNK {
            let e = entry(base, offset).load(Relaxed);
            let Some(order) = entry_order(e) else {
                return Err("order map: no block starts here");
            };
            let bytes = block_bytes(order);
            if !offset.is_multiple_of(bytes) || offset + bytes > CHUNK {
                return Err("block not aligned to its size");
            }
            // Entries inside a block must be 0; checked for blocks up to 4 KiB, which keeps
            // a check proportional to the number of blocks.
            for g in 1..(bytes >> MIN_SHIFT).min(256) {
                if entry(base, offset + (g << MIN_SHIFT)).load(Relaxed) != 0 {
                    return Err("order map: entry inside a block");
                }
            }
            if live_entry_order(e).is_some() {
                region_used += bytes;
                tally.used_blocks += 1;
            } else {
                let buddy = offset ^ bytes;
                if order < MAX_ORDER && buddy >= META && entry(base, buddy).load(Relaxed) == e {
                    return Err("two free buddies not merged");
                }
                tally.free += bytes;
                tally.free_blocks += 1;
            }
            offset += bytes;
        }
    }
    Ok(region_used)
}

/// `Heap::walk_region` for buddy: the metadata block (region header and order map), then
/// each block as the order map says, in address order.
///
/// # Safety
/// `base` is one of the heap's regions and the heap is intact.
pub(super) unsafe fn walk_region(base: usize, f: &mut dyn FnMut(Span)) {
    f(Span {
        start: base,
        size: META,
        kind: SpanKind::Metadata,
    });
    let mut offset = META;
    while offset < CHUNK {
        // SAFETY: the order map lies in the region's metadata block; in an intact region
        // every block start has an entry.
        let e = unsafe { entry(base, offset).load(Relaxed) };
        let Some(order) = entry_order(e) else {
            return; // not intact after all: nothing past here can be walked
        };
        let size = block_bytes(order);
        let kind = if live_entry_order(e).is_some() {
            SpanKind::Live
        } else {
            SpanKind::Free
        };
        f(Span {
            start: base + offset,
            size,
            kind,
        });
        offset += size;
    }
}
