//! The invariant walker (`Heap::check`: after every step of the unit tests, and every N
//! calls with `BESTBUDDY_OPTIONS=check=N`) and, for tests, the heap's layout independent of
//! where its regions were mapped.

use super::BestFitHeap;
use super::bins::{MIXED_BIN, bin_of};
use super::block::{
    EPILOGUE, FIRST_BLOCK, HEADER, IN_USE, MIN_BLOCK, PREV_IN_USE, bits, header_intact, is_live,
    size_of, word,
};
use super::treap::{key, priority};
use crate::heap::{CHUNK, RegionSource, Span, SpanKind, Tally};

impl<S: RegionSource> BestFitHeap<S> {
    /// `Heap::check`: walks every region's blocks, every bin and the top, and compares what
    /// it finds with the heap's counts (the invariants are listed in docs/ARCHITECTURE.md).
    pub(super) fn check_invariants(&self) -> Result<(), &'static str> {
        // SAFETY: walking our own regions.
        let tally = self
            .core
            .check_regions(|region, tally| unsafe { check_region(region as usize, tally) })?;
        // SAFETY: walking our own bins from their heads.
        unsafe {
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
                if bits(top) & IN_USE != 0 || top + size_of(top) != (top & !(CHUNK - 1)) + EPILOGUE
                {
                    return Err("top is not a free block at its region's end");
                }
                in_bins += 1;
            }
            if in_bins != tally.free_blocks {
                return Err("free blocks missing from the bins");
            }
        }
        self.core.check_totals(&tally)
    }

    /// Verifies one exact bin's list: links both ways, sizes, free blocks. Returns its length.
    ///
    /// # Safety
    /// `head` is `bins[bin]` of this heap. The walk then reads only inside this heap's
    /// regions: each link is checked to decode into them before it is followed.
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
                let next = self
                    .core
                    .decode_link(b + 8, word(b + 8), HEADER)
                    .ok_or(damaged)?;
                let back = self
                    .core
                    .decode_link(b + 16, word(b + 16), HEADER)
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

    /// Verifies one treap: search order, heap order, bin membership. Returns its node count.
    ///
    /// # Safety
    /// `t` is 0, the treap's root (`bins[MIXED_BIN]`), or a node reached from it through
    /// links that decoded into this heap's regions.
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
            let l = self
                .core
                .decode_link(t + 8, word(t + 8), HEADER)
                .ok_or(damaged)?;
            let r = self
                .core
                .decode_link(t + 16, word(t + 16), HEADER)
                .ok_or(damaged)?;
            for child in [l, r] {
                if child != 0 && priority(child) > priority(t) {
                    return Err("treap out of priority order");
                }
            }
            Ok(1 + self.check_tree(l, bin, lo, k)? + self.check_tree(r, bin, k, hi)?)
        }
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
            let mut region = self.core.regions().first();
            while !region.is_null() {
                bases.push(region as usize);
                region = crate::heap::Region::next(region);
            }
            let place = |b: usize| {
                let base = b & !(CHUNK - 1);
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
            let top = if self.top == 0 {
                (usize::MAX, 0)
            } else {
                place(self.top)
            };
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
}

/// One region's blocks for `check_invariants`: sizes, seals, flags, live bits, footers; its
/// free blocks go into `tally`. Returns the bytes in use found.
///
/// # Safety
/// `base` is one of the heap's regions.
unsafe fn check_region(base: usize, tally: &mut Tally) -> Result<usize, &'static str> {
    // SAFETY: the blocks of a live region, each read only once its size is in bounds.
    unsafe {
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
                tally.used_blocks += 1;
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
                tally.free += size;
                tally.free_blocks += 1;
                prev_in_use = false;
            }
            b += size;
        }
        if (word(base + EPILOGUE) & PREV_IN_USE != 0) != prev_in_use {
            return Err("epilogue PREV_IN_USE flag wrong");
        }
        Ok(region_used)
    }
}

/// `Heap::walk_region` for best fit: the region header and live bitmap, then the blocks from
/// header to header (each stretch starts at its block's header), then the epilogue.
///
/// # Safety
/// `base` is one of the heap's regions and the heap is intact.
pub(super) unsafe fn walk_region(base: usize, f: &mut dyn FnMut(Span)) {
    f(Span {
        start: base,
        size: FIRST_BLOCK,
        kind: SpanKind::Metadata,
    });
    let mut b = base + FIRST_BLOCK;
    // SAFETY: an intact region's blocks tile it from FIRST_BLOCK to the epilogue.
    unsafe {
        while b < base + EPILOGUE {
            let size = size_of(b);
            let kind = if word(b) & IN_USE != 0 {
                SpanKind::Live
            } else {
                SpanKind::Free
            };
            f(Span {
                start: b,
                size,
                kind,
            });
            b += size;
        }
    }
    f(Span {
        start: base + EPILOGUE,
        size: CHUNK - EPILOGUE,
        kind: SpanKind::Metadata,
    });
}
