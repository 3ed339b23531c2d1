//! Freeing: proving a pointer is a live block (`validate`), retiring it, and merging it with
//! its free neighbours into one free block (`coalesce_and_insert`), one block at a time or a
//! flush's batch with each run of neighbours merged once.

use super::BestFitHeap;
use super::region::intact_size;
use super::block::{
    EPILOGUE, FIRST_BLOCK, FLAGS, HEADER, IN_USE, MIN_BLOCK, PREV_IN_USE, bits, header_intact,
    is_live, make_free, scrub_links, set_header, set_live, set_prev_in_use, size_of, word,
};
use crate::heap::{CHUNK, Call, MIN_ALIGN, Misuse, PURGE_RANGE_MIN, RegionSource, region_of};
use crate::seal;

/// A free block this large (a quarter of a region) gives its pages back to the OS when a
/// free forms it. Without it a heap keeps resident every page it ever used: a program
/// whose blocks moved out of the heap (vectors grown past the mmap threshold into mappings
/// of their own) kept tens of megabytes of free pages. Smaller free blocks stay resident:
/// they are the ones the next allocations carve, and a fragmentation load that formed and
/// carved blocks of a quarter of this size took six times the page faults when they went
/// back. A merge gives back only what the free adds and the neighbours below this size:
/// a free block of at least this size is taken to hold no resident pages, as is nearly
/// true of those a free formed (but for the pages of its header, links and footer, those
/// a split has written since, and those of frees too small to purge, `PURGE_RANGE_MIN`).
pub(super) const PURGE_MIN: usize = 1 << 20;
/// How many bytes frees may leave resident in free blocks of at least `PURGE_MIN`, each
/// too few to give back alone, before one pass gives back the pages inside every such
/// block (`BestFitHeap::unpurged`). Without it, a gap freed a few blocks at a time in
/// address order kept all but its first megabyte resident.
pub(super) const PURGE_BACKLOG: usize = 1 << 20;

impl<S: RegionSource> BestFitHeap<S> {
    /// Checks that `p` is the payload of a live block and returns the block.
    ///
    /// # Safety
    /// `p` lies in a chunk owned by a heap region (see the `Heap` trait), mapped.
    #[inline]
    pub(super) unsafe fn validate(&self, p: usize) -> Result<usize, Misuse> {
        let base = p & !(CHUNK - 1);
        let offset = p - base;
        if !p.is_multiple_of(MIN_ALIGN) || !(FIRST_BLOCK + HEADER..EPILOGUE).contains(&offset) {
            return Err(Misuse::InvalidPointer);
        }
        // A region of another arena is not ours, whatever routed the block here (a thread
        // cache finds a block's arena in this very header).
        // SAFETY: p is in a mapped region, whose header is at its start.
        if unsafe { !self.core.is_own(p) } {
            return Err(Misuse::InvalidPointer);
        }
        // SAFETY: p is in a mapped region of ours.
        if unsafe { is_live(p) } {
            // SAFETY: a live block's header is at p - 8.
            if unsafe { !header_intact(p - HEADER) } {
                return Err(Misuse::Corrupted);
            }
            return Ok(p - HEADER);
        }
        // Not a live block. If its old header still says "free", it was one: a double free.
        // SAFETY: p - 8 is inside the region's block area.
        let h = unsafe { bits(p - HEADER) };
        let size = h & !FLAGS;
        if h & IN_USE == 0 && size >= MIN_BLOCK && offset - HEADER + size <= EPILOGUE {
            return Err(Misuse::DoubleFree);
        }
        // A header whose page was given back (a purge, a trim) reads 0: the block was freed
        // and merged into a larger free block, which is what a walk of the region finds.
        // Memory the region never handed out reads 0 as well, and is no freed block.
        // SAFETY: as above; the region's header is at its start, and the walk reads the
        // region's block headers.
        let freed = unsafe {
            word(p - HEADER) == 0
                && p < (*region_of(p)).handed_out_to
                && self.inside_free_block(p)
        };
        if freed {
            return Err(Misuse::DoubleFree);
        }
        Err(Misuse::InvalidPointer)
    }

    /// Whether `p` lies inside a free block of its region, found by a walk from the
    /// region's first block (for `validate`'s report, after a misuse: a header found
    /// damaged on the way ends the walk with false).
    ///
    /// # Safety
    /// `p` lies in the block area of a mapped region of this heap.
    #[cold]
    #[inline(never)]
    unsafe fn inside_free_block(&self, p: usize) -> bool {
        let base = p & !(CHUNK - 1);
        let mut b = base + FIRST_BLOCK;
        // SAFETY: the region's blocks tile its block area, each header telling its size,
        // checked before it is followed.
        unsafe {
            while b < base + EPILOGUE {
                let Some(size) = intact_size(b) else {
                    return false;
                };
                if p < b + size {
                    return bits(b) & IN_USE == 0;
                }
                b += size;
            }
        }
        false
    }

    /// `Heap::free`: retires the block and merges it with its free neighbours.
    ///
    /// # Safety
    /// As for [`validate`](Self::validate), with `p` as a pointer.
    pub(super) unsafe fn deallocate(&mut self, p: *mut u8) -> Result<(), Misuse> {
        // SAFETY: retire proves b a live block of one of our regions.
        unsafe {
            self.core.call = Call::Free;
            let b = self.retire(p as usize)?;
            self.coalesce_and_insert(b, size_of(b));
        }
        Ok(())
    }

    /// `Heap::free_many`: frees each run of neighbours in `blocks` (above or below the run
    /// so far) as one block: one coalesce and one bin insert per run.
    ///
    /// # Safety
    /// As for [`validate`](Self::validate), for every block.
    pub(super) unsafe fn deallocate_many(
        &mut self,
        blocks: &[usize],
    ) -> Result<(), (usize, Misuse)> {
        self.core.call = Call::Free;
        let mut k = 0;
        // SAFETY: retire proves each block live; a run's blocks are neighbours, so together
        // they form one block from the lowest one's header to the highest one's end.
        unsafe {
            while k < blocks.len() {
                let first = self.retire(blocks[k]).map_err(|m| (blocks[k], m))?;
                let (mut low, mut high) = (first, first + size_of(first));
                k += 1;
                // The blocks that follow in the batch and border the run, above or below,
                // join it: each would coalesce with the run freed on its own, but the run
                // enters a bin once. A thread cache's bin is LIFO, so blocks the program
                // freed in address order come in descending.
                while k < blocks.len() {
                    let p = blocks[k];
                    let above = p == high + HEADER;
                    let below = !above && p < low && self.borders_below(p, low);
                    if !(above || below) {
                        break;
                    }
                    let b = match self.retire(p) {
                        Ok(b) => b,
                        Err(misuse) => {
                            // The run so far is freed, as one block at a time would have.
                            self.coalesce_and_insert(low, high - low);
                            return Err((p, misuse));
                        }
                    };
                    if above {
                        scrub_links(b);
                        high = b + size_of(b);
                    } else {
                        scrub_links(low);
                        low = b;
                    }
                    k += 1;
                }
                self.coalesce_and_insert(low, high - low);
            }
        }
        Ok(())
    }

    /// Marks the live block at payload `p` free (live bit and IN_USE) and takes its bytes
    /// off the in-use counts; returns its header. Its neighbours and bins are left as they
    /// are: the caller coalesces (`coalesce_and_insert`). IN_USE is cleared even in a header
    /// that a merge is about to absorb, so that a second free of `p` is recognised as a
    /// double free (once its page is given back, `validate` finds the free block that holds
    /// it instead).
    ///
    /// # Safety
    /// As for [`validate`](Self::validate).
    #[inline(always)]
    unsafe fn retire(&mut self, p: usize) -> Result<usize, Misuse> {
        // SAFETY: validate proves b a live block of one of our regions.
        unsafe {
            let b = self.validate(p)?;
            set_live(p, false);
            let size = size_of(b);
            set_header(b, bits(b) & !IN_USE);
            self.core.give(b, size);
            Ok(b)
        }
    }

    /// Whether the block whose payload is `p` (not yet validated) ends where block `low`
    /// starts: `p`'s header is read only once `p` is proven to lie in `low`'s region before
    /// it, and `retire` still validates it.
    ///
    /// # Safety
    /// `low` is a block header of this heap and `p < low`.
    #[inline]
    unsafe fn borders_below(&self, p: usize, low: usize) -> bool {
        let first = (low & !(CHUNK - 1)) + FIRST_BLOCK;
        p.is_multiple_of(MIN_ALIGN)
            && p >= first + HEADER
            // SAFETY: p - HEADER lies in the block area of low's region, mapped.
            && unsafe { p - HEADER + size_of(p - HEADER) == low }
    }

    /// The free block that ends where block `b` starts (b's PREV_IN_USE flag is clear),
    /// found through its footer; damage to the footer or that block's header is reported.
    ///
    /// # Safety
    /// `b` is a block header of this heap, not the first of its region.
    #[inline]
    unsafe fn free_predecessor(&self, b: usize) -> usize {
        // SAFETY: b is a block header; the footer and the header it leads to are inside the
        // region once the size is proved in range.
        unsafe {
            let prev_size = word(b - 8);
            let first = (b & !(CHUNK - 1)) + FIRST_BLOCK;
            let start = b.wrapping_sub(prev_size);
            if seal::HARDENED
                && (prev_size < MIN_BLOCK
                    || !prev_size.is_multiple_of(16)
                    || prev_size > b - first
                    || self.checked_bits(start) & (IN_USE | !FLAGS) != prev_size)
            {
                self.corrupted(b);
            }
            start
        }
    }

    /// Makes the retired bytes `[b, b + size)` (one block or a run of neighbours, `b`'s
    /// header telling whether the block before is in use) a free block merged with its free
    /// neighbours, and puts it in its bin, or gives its region back when that empties it.
    ///
    /// # Safety
    /// `[b, b + size)` are retired blocks (`retire`) of one region of this heap, `b` the
    /// lowest one's header.
    #[inline(always)]
    unsafe fn coalesce_and_insert(&mut self, b: usize, size: usize) {
        // SAFETY: [b, b + size) is retired, inside one region; its neighbours are blocks.
        unsafe {
            let region = region_of(b);
            let mut start = b;
            let mut total = size;
            // What may hold resident pages: the retired bytes, and a neighbour too small to
            // have been purged when it formed (see `PURGE_MIN`).
            let (mut resident_from, mut resident_to) = (b, b + size);
            if bits(b) & PREV_IN_USE == 0 {
                start = self.free_predecessor(b);
                total += b - start;
                if b - start < PURGE_MIN {
                    resident_from = start;
                }
                self.remove_free(start);
                scrub_links(b);
            }
            let next = b + size;
            if self.checked_bits(next) & IN_USE == 0 {
                let next_size = size_of(next);
                total += next_size;
                if next_size < PURGE_MIN {
                    resident_to = next + next_size;
                }
                self.remove_free(next);
                scrub_links(next);
            }
            make_free(start, total, true);
            set_prev_in_use(start + total, false);
            if (*region).used == 0 && self.core.emptied() {
                self.core.release(region);
                return;
            }
            self.insert_free(start);
            self.purge_resident(start, total, resident_from, resident_to);
        }
    }

    /// The free block at `start` of `total` bytes has just taken in `[from, to)`, bytes that
    /// may hold resident pages: when the block is of `PURGE_MIN` or more, gives them back, or
    /// counts them towards the next pass (`unpurged`) when they are too few for a system
    /// call of their own.
    ///
    /// # Safety
    /// `start` is a free block of `total` bytes of this heap, the top or in its bin, its
    /// header and footer written; `[from, to)` lies inside it.
    #[inline(always)]
    pub(super) unsafe fn purge_resident(&mut self, start: usize, total: usize, from: usize, to: usize) {
        if total >= PURGE_MIN {
            // SAFETY: forwarded from the caller.
            unsafe { self.purge_resident_large(start, total, from, to) };
        }
    }

    /// `purge_resident` for a block of `PURGE_MIN` or more, out of line: most frees form
    /// smaller ones.
    ///
    /// # Safety
    /// As for `purge_resident`.
    #[cold]
    #[inline(never)]
    unsafe fn purge_resident_large(&mut self, start: usize, total: usize, from: usize, to: usize) {
        // Keep the header and links at the front and the footer at the end.
        let (from, to) = (from.max(start + 24), to.min(start + total - 8));
        if to.saturating_sub(from) >= PURGE_RANGE_MIN {
            // SAFETY: inside a free block, past its links and before its footer.
            unsafe { self.core.purge_inside(from, to) };
        } else {
            self.unpurged += to.saturating_sub(from);
            if self.unpurged >= PURGE_BACKLOG {
                self.unpurged = 0;
                self.purge_large_free();
            }
        }
    }
}
