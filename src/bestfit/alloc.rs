//! Finding and carving: the best fit for a request (bins, treap and top weighed by one
//! rule), carving blocks off it (one at a time, or a refill's batch in one pass), and
//! resizing a block in use in place.

use core::ptr;

use super::BestFitHeap;
use super::bins::{BINS, LARGEST_EXACT_BIN, MIXED_BIN, bin_of};
use super::block::{
    FLAGS, HEADER, IN_USE, MIN_BLOCK, PREV_IN_USE, bits, block_size, make_free, scrub_links,
    set_header, set_live, set_prev_in_use, size_of,
};
use super::free::PURGE_MIN;
use crate::heap::{Call, MIN_ALIGN, Misuse, RegionSource, region_of};
use crate::seal;

/// Notes that the region's blocks up to `end` (the end of a block just handed out or grown)
/// have been the program's (`Region::handed_out_to`).
///
/// # Safety
/// `end` is the end of a block of a region of this heap (at most its epilogue).
#[inline]
unsafe fn handed_out(end: usize) {
    let region = region_of(end - 1);
    // SAFETY: the region's header is at its start; the heap's lock is held.
    unsafe {
        if (*region).handed_out_to < end {
            (*region).handed_out_to = end;
        }
    }
}

impl<S: RegionSource> BestFitHeap<S> {
    /// The best-fitting free block for `size` bytes, left where it is: the smallest fitting
    /// block of the bins, or the top if it fits and is smaller; 0 if none. The flag says
    /// whether it is the treap's smallest block (what `carve_treap_min` carves from).
    #[inline]
    fn best_fit(&self, size: usize) -> (usize, bool) {
        let bin = self.first_nonempty(bin_of(size));
        // SAFETY: the bins hold valid lists and a valid treap of free blocks; the top is free.
        unsafe {
            let (b, treap_min) = match bin {
                BINS => (0, false),
                MIXED_BIN => self.treap_lower_bound(self.bins[bin], size),
                // An exact bin: every block fits as well as any other.
                _ => (self.bins[bin], false),
            };
            if self.top_beats(size, if b == 0 { 0 } else { size_of(b) }) {
                (self.top, false)
            } else {
                (b, treap_min)
            }
        }
    }

    /// Whether the top fits `need` bytes and fits them better than a candidate of
    /// `candidate` bytes (0: none): only when strictly smaller, so that on a tie the bins'
    /// block is taken. The one rule `best_fit`, `carve_treap_min` and
    /// `rest_is_best_fit` weigh the top by.
    #[inline]
    fn top_beats(&self, need: usize, candidate: usize) -> bool {
        let top = self.top;
        top != 0 && {
            // SAFETY: the top, when there is one, is a free block of this heap.
            let size = unsafe { size_of(top) };
            size >= need && (candidate == 0 || size < candidate)
        }
    }

    /// `best_fit`, mapping a new region first when no free block fits; 0 if the OS refuses
    /// one.
    #[inline]
    fn best_fit_or_grow(&mut self, size: usize) -> (usize, bool) {
        let fit = self.best_fit(size);
        if fit.0 != 0 || !self.grow() {
            return fit;
        }
        self.best_fit(size)
    }

    /// Takes the free block `b` (found by `best_fit`) out of its bin, or out of the top.
    ///
    /// # Safety
    /// `b` is the top or a free block in its bin.
    #[inline]
    unsafe fn take(&mut self, b: usize) {
        // SAFETY: forwarded from the caller.
        unsafe {
            // Its size picks the bin it is taken from: prove the header intact first.
            if seal::HARDENED && self.checked_bits(b) & IN_USE != 0 {
                self.corrupted(b);
            }
            self.remove_free(b);
        }
    }

    /// `Heap::alloc`: the best fit for the request, carved from the end of the treap's
    /// smallest block when that leaves the tree as it is, else taken out of its bin and cut
    /// back (an aligned request first gives the gap in front of its payload back).
    ///
    /// # Safety
    /// As for `Heap::alloc`: `size <= MAX_REQUEST`, `align` a power of two up to
    /// `MAX_ALIGN`, and the heap's regions intact.
    pub(super) unsafe fn allocate(&mut self, size: usize, align: usize) -> *mut u8 {
        self.core.call = Call::Malloc;
        let need = block_size(size);
        // An aligned request needs room to skip to an aligned payload, leaving a gap that is
        // either empty or big enough to be a free block of its own.
        let search = if align <= MIN_ALIGN {
            need
        } else {
            need + align + MIN_BLOCK
        };
        let (mut b, treap_min) = self.best_fit_or_grow(search);
        if b == 0 {
            return ptr::null_mut();
        }
        // SAFETY: b is the best fit, a free block of at least `search` bytes.
        unsafe {
            let mut carved = [0usize; 1];
            if align <= MIN_ALIGN && treap_min && self.carve_treap_min(b, need, &mut carved) == 1 {
                return carved[0] as *mut u8;
            }
            self.take(b);
            if align > MIN_ALIGN {
                let payload = (b + HEADER + align - 1) & !(align - 1);
                let mut gap = payload - HEADER - b;
                if gap != 0 && gap < MIN_BLOCK {
                    gap += align;
                }
                if gap != 0 {
                    let size = size_of(b);
                    make_free(b, gap, bits(b) & PREV_IN_USE != 0);
                    self.insert_free(b);
                    b += gap;
                    set_header(b, size - gap);
                }
            }
            self.cut_back(b, need);
            self.commit(b)
        }
    }

    /// `Heap::alloc_many`: as one `allocate` per block, but a split's rest is kept out of
    /// the bins while it stays the best fit for the next block of the batch
    /// (`rest_is_best_fit`): a refill that carves its blocks one after another from one
    /// free block then costs one bin operation in all, not two a block.
    ///
    /// # Safety
    /// As for `Heap::alloc_many`: `size <= MAX_REQUEST` and the heap's regions intact.
    pub(super) unsafe fn allocate_many(&mut self, size: usize, out: &mut [usize]) -> usize {
        self.core.call = Call::Malloc;
        let need = block_size(size);
        // A free block, header and footer written, in no bin and not the top, not counted
        // in `free`: the rest of the last split.
        let mut rest = 0;
        let mut got = 0;
        // SAFETY: every block handled is a free block of this heap: the rest of a split (in
        // no bin), or the best fit, which is carved in place or taken out of its bin first.
        unsafe {
            while got < out.len() {
                if rest != 0 && self.rest_is_best_fit(rest, need) {
                    // Every later rest is smaller, so it stays the best fit for as long as
                    // it fits (see `carve_run`): the rest of the batch is carved in one pass.
                    let (carved, left) = self.carve_run(rest, need, &mut out[got..]);
                    got += carved;
                    rest = left;
                    continue;
                }
                if rest != 0 {
                    self.insert_free(core::mem::take(&mut rest));
                }
                // The same choices as `allocate`, in the same order.
                let (b, treap_min) = self.best_fit_or_grow(need);
                if b == 0 {
                    break;
                }
                if treap_min {
                    let carved = self.carve_treap_min(b, need, &mut out[got..]);
                    if carved != 0 {
                        got += carved;
                        continue;
                    }
                }
                self.take(b);
                // As `cut_back`, but the tail stays out of the bins (it is the next candidate).
                rest = self.split_off_tail(b, need);
                out[got] = self.commit(b) as usize;
                got += 1;
            }
            if rest != 0 {
                self.insert_free(rest);
            }
        }
        got
    }

    /// The common case of a request that no exact bin serves, in O(depth) with no tree
    /// surgery: when the best fit is the treap's smallest block and what is left of it after
    /// `need` bytes still belongs in the treap, the request is carved from that block's end.
    /// The rest keeps the block's address, hence its priority, and a smaller size, so it is
    /// still the smallest key and the tree stays valid as it is; only its header and footer
    /// change. Carves up to `out.len()` blocks so, one below the other, committed (payloads
    /// into `out`); returns how many, 0 when the general path must decide. Each next block
    /// is what `alloc` would take next: the bins do not change meanwhile and a top that was
    /// not smaller than the block is not smaller than its rest.
    ///
    /// # Safety
    /// `b` is the treap's smallest block and the best fit for `need` (`best_fit` said so).
    #[inline]
    unsafe fn carve_treap_min(&mut self, b: usize, need: usize, out: &mut [usize]) -> usize {
        let carves = |size: usize| size >= need && size - need > LARGEST_EXACT_BIN;
        // SAFETY: b is a free block of the treap; the block after it is a block header of
        // its region.
        unsafe {
            let mut size = size_of(b);
            if out.is_empty() || !carves(size) {
                return 0;
            }
            // Its size decides everything here: prove the header intact first.
            let flags = self.checked_bits(b);
            if seal::HARDENED && flags & IN_USE != 0 {
                self.corrupted(b);
            }
            // The block after it gets a neighbour in use (the first carved block).
            let end = b + size;
            set_prev_in_use(end, true);
            let mut n = 0;
            while n < out.len() && carves(size) {
                size -= need;
                let carved = b + size;
                // The block before the lowest carved one is the rest, free; the others have
                // a carved block before them.
                let below_in_use = n + 1 < out.len() && carves(size);
                set_header(
                    carved,
                    need | IN_USE | if below_in_use { PREV_IN_USE } else { 0 },
                );
                set_live(carved + HEADER, true);
                out[n] = carved + HEADER;
                n += 1;
            }
            make_free(b, size, flags & PREV_IN_USE != 0);
            let bytes = end - b - size;
            self.core.free -= bytes;
            self.core.take(b, bytes, n);
            handed_out(end);
            n
        }
    }

    /// Whether the free block `rest` (in no bin, not the top) is what `alloc(need)` would
    /// take if `rest` were in its bin: a block of an exact bin's size (a larger one would be
    /// in the treap or the top, whose blocks `alloc` may carve from the end), with no
    /// non-empty bin below its own (its own bin holds only blocks of its size: any of them
    /// fits as well), and the top not smaller. Within a batch this holds by construction (the
    /// block the rest came from was a best fit, so nothing smaller fits), but for the top;
    /// the bins are asked anyway, for one bit scan.
    ///
    /// # Safety
    /// `rest` is a free block of this heap, header written.
    #[inline]
    unsafe fn rest_is_best_fit(&self, rest: usize, need: usize) -> bool {
        // SAFETY: rest and the top are free blocks of this heap.
        unsafe {
            let size = size_of(rest);
            let own = bin_of(size);
            size >= need
                && own != MIXED_BIN
                && self.first_nonempty(bin_of(need)) >= own
                && !self.top_beats(need, size)
        }
    }

    /// Carves blocks of `need` bytes one after another from the start of the free block
    /// `rest` (in no bin, not the top, not counted in `free`, its best fit: see
    /// `rest_is_best_fit`) into `out`, while it fits them; returns how many, and what is
    /// left of it as such a free block (0 if nothing). The same blocks, headers and counts
    /// as `split_off_tail` and `commit` one block at a time, which the batch would do
    /// because each smaller rest is still the best fit: the bins do not change meanwhile,
    /// no non-empty bin lies below a smaller rest's own, and a top that was not smaller
    /// than the rest is not smaller than a smaller one. Each block costs one sealed header;
    /// the rest and its neighbour's flag are written once, at the end.
    ///
    /// # Safety
    /// `rest` is a free block of this heap as described, header written; `need` is a block
    /// size (`block_size`).
    #[inline]
    unsafe fn carve_run(&mut self, rest: usize, need: usize, out: &mut [usize]) -> (usize, usize) {
        // SAFETY: [rest, rest + its size) is a free block of ours that no bin holds; the
        // block after it is a block header of the region.
        unsafe {
            let mut b = rest;
            let mut size = size_of(rest);
            let mut prev_flag = bits(rest) & PREV_IN_USE;
            let mut n = 0;
            while n < out.len() && size >= need {
                // A tail too small to be a block stays with the last one, as in a split.
                let take = if size - need < MIN_BLOCK { size } else { need };
                set_header(b, take | IN_USE | prev_flag);
                set_live(b + HEADER, true);
                out[n] = b + HEADER;
                n += 1;
                prev_flag = PREV_IN_USE;
                b += take;
                size -= take;
            }
            self.core.take(rest, b - rest, n);
            handed_out(b);
            if size == 0 {
                // All of it went: the block after it has a neighbour in use now.
                let flags = self.checked_bits(b);
                set_header(b, flags | PREV_IN_USE);
                return (n, 0);
            }
            make_free(b, size, prev_flag != 0);
            (n, b)
        }
    }

    /// Marks the (already sized) block `b` in use and does the bookkeeping.
    ///
    /// # Safety
    /// `b` is a free block of this heap that no bin holds (taken, or the rest of a split),
    /// not counted in `free`.
    #[inline]
    unsafe fn commit(&mut self, b: usize) -> *mut u8 {
        // SAFETY: b is a block of a region of ours that no bin holds.
        unsafe {
            let size = size_of(b);
            set_header(b, bits(b) | IN_USE);
            set_prev_in_use(b + size, true);
            set_live(b + HEADER, true);
            self.core.take(b, size, 1);
            handed_out(b + size);
            (b + HEADER) as *mut u8
        }
    }

    /// Trims block `b` (taken out of its bin, or in use) to `need` bytes, giving the tail
    /// back as a free block when it is big enough to be one.
    ///
    /// # Safety
    /// As for [`split_off_tail`](Self::split_off_tail).
    #[inline]
    unsafe fn cut_back(&mut self, b: usize, need: usize) {
        // SAFETY: forwarded from the caller.
        unsafe {
            let rest = self.split_off_tail(b, need);
            if rest != 0 {
                self.insert_free(rest);
            }
        }
    }

    /// Trims block `b` (taken out of its bin, or in use) to `need` bytes and makes the tail a
    /// free block of its own, merged with a free successor, header and footer written but in
    /// no bin; returns it, or 0 when the tail is too small to be a block (`b` keeps it).
    ///
    /// # Safety
    /// `b` is a block not in any bin, `need` <= its size, `need` a multiple of 16.
    #[inline]
    unsafe fn split_off_tail(&mut self, b: usize, need: usize) -> usize {
        // SAFETY: forwarded from the caller; the successor is a block header of the region.
        unsafe {
            let size = size_of(b);
            if size - need < MIN_BLOCK {
                return 0;
            }
            set_header(b, need | (bits(b) & FLAGS));
            let mut rest = size - need;
            let next = b + size;
            if self.checked_bits(next) & IN_USE == 0 {
                rest += size_of(next);
                self.remove_free(next);
                scrub_links(next);
            } else {
                set_prev_in_use(next, false);
            }
            make_free(b + need, rest, true);
            b + need
        }
    }

    /// `Heap::resize_in_place`: grows block `p` into a free successor, or shrinks it by
    /// splitting off its tail (merged with a free successor).
    ///
    /// # Safety
    /// As for `Heap::resize_in_place`: `p` lies in a chunk owned by a region of this heap.
    pub(super) unsafe fn resize(&mut self, p: *mut u8, size: usize) -> Result<bool, Misuse> {
        // SAFETY: validate proves b is a live block; neighbours are read through its size.
        // What a shrink gives up becomes (part of) the free block after `b`, whose pages a
        // purge may give back past its header and links and before its footer.
        unsafe {
            self.core.call = Call::Realloc;
            let b = self.validate(p as usize)?;
            let current = size_of(b);
            let need = block_size(size);
            if need > current {
                let next = b + current;
                if self.checked_bits(next) & IN_USE != 0 || current + size_of(next) < need {
                    return Ok(false);
                }
                let total = current + size_of(next);
                self.remove_free(next);
                scrub_links(next);
                set_header(b, total | (bits(b) & FLAGS));
                set_prev_in_use(b + total, true);
            }
            self.cut_back(b, need);
            let after = size_of(b);
            if after < current {
                // The bytes given up make a free block with a free successor, if there was
                // one: large enough, it gives back their pages, and the successor's unless
                // that was large enough to have given back its own (as `coalesce_and_insert`).
                let rest = b + after;
                let rest_size = size_of(rest);
                let successor = rest_size - (current - after);
                let resident_to = if successor < PURGE_MIN { rest + rest_size } else { b + current };
                self.purge_resident(rest, rest_size, rest, resident_to);
            }
            self.core.resized(b, current, after);
            handed_out(b + after);
            Ok(true)
        }
    }
}
