//! [`HeapCore`]: the bookkeeping both policies share, written once. Each heap embeds one and
//! keeps only its policy (free lists, bins, order map) beside it.

use core::marker::PhantomData;

use super::region::{Region, Regions, decode_link, region_arena, region_of};
use super::{Call, HeapStats, OsRegions, RegionSource, SpareLimit};

/// A heap's regions (taken from `S`) and counts, its spare limit, its arena and the C call it
/// is serving.
pub struct HeapCore<S: RegionSource = OsRegions> {
    /// Every mapped region. A region's `used` is 0 iff it is wholly free (a spare).
    regions: Regions,
    /// Bytes of blocks in use, over all regions: the sum of the regions' `used`. Blocks held
    /// by thread caches and remote lists are in use as far as the heap knows.
    used: usize,
    /// Blocks in use, over all regions.
    used_blocks: usize,
    /// The most `used` has been. Invariant: `peak_used >= used`.
    peak_used: usize,
    /// The most regions mapped at once. Invariant: at least `regions.count()`.
    peak_regions: usize,
    /// Bytes of regions given back to the source (unmapped).
    returned: usize,
    /// Bytes of free pages handed to the source's `decommit_inside` (malloc_trim), counted
    /// at every trim: a page trimmed twice without being used between counts twice.
    decommitted: usize,
    /// Bytes of free pages handed to the source by frees (and shrinks in place) that formed
    /// or grew a large free block, and by best fit's passes (`purge_inside`), counted at
    /// every such call.
    purged: usize,

    /// Bytes of free blocks, over all regions (spare regions included). The policy keeps
    /// it, and `free_blocks`, as blocks enter and leave its free structures.
    pub(crate) free: usize,
    /// Number of free blocks, over all regions.
    pub(crate) free_blocks: usize,
    /// Regions whose `used` is 0.
    spare_count: usize,
    /// How many wholly free regions stay mapped; a region freed beyond that is unmapped.
    spare_limit: SpareLimit,
    /// The arena index recorded in each region's header (and by `OsRegions` in the chunk
    /// map) for this heap's regions.
    pub(crate) arena: u8,
    /// The C call being served, named when damage is found.
    pub(crate) call: Call,
    source: PhantomData<S>,
}

/// What an invariant walk found, to compare with the counts ([`HeapCore::check_totals`]).
#[derive(Clone, Copy, Default, Debug)]
pub struct Tally {
    pub regions: usize,
    /// Regions with no block in use.
    pub spare: usize,
    pub used: usize,
    pub used_blocks: usize,
    pub free: usize,
    pub free_blocks: usize,
}

/// The least a free that forms a large free block gives back (`purge_inside`): a smaller
/// free, a few blocks flushed next to a large free block, leaves its pages resident in it.
/// In python's run, two thirds of the purges were of one page, each a system call and a
/// page fault again when the block was carved; at this bound a twentieth of the calls gave
/// back four fifths of the bytes.
pub const PURGE_RANGE_MIN: usize = 64 << 10;

impl<S: RegionSource> HeapCore<S> {
    /// No regions, nothing counted: all zero bytes (see `Heap::EMPTY`).
    pub const EMPTY: Self = HeapCore {
        regions: Regions::EMPTY,
        used: 0,
        used_blocks: 0,
        peak_used: 0,
        peak_regions: 0,
        returned: 0,
        decommitted: 0,
        purged: 0,
        free: 0,
        free_blocks: 0,
        spare_count: 0,
        spare_limit: SpareLimit::DEFAULT,
        arena: 0,
        call: Call::Malloc,
        source: PhantomData,
    };

    pub fn regions(&self) -> &Regions {
        &self.regions
    }

    /// Maps a fresh, zeroed region for this heap's arena, counted as a spare (the policy
    /// then lays its free blocks out). Its base, or None if the source has none.
    pub(crate) fn map_region(&mut self) -> Option<usize> {
        let base = self.regions.map::<S>(self.arena) as usize;
        if base == 0 {
            return None;
        }
        self.spare_count += 1;
        self.peak_regions = self.peak_regions.max(self.regions.count());
        Some(base)
    }

    /// Unmaps a wholly free region (a spare) whose blocks the policy has taken off its free
    /// structures.
    ///
    /// # Safety
    /// `region` is one of this heap's regions, with no block in use and none of its blocks
    /// on a free structure; nothing refers to it afterwards.
    pub(crate) unsafe fn release(&mut self, region: *mut Region) {
        // SAFETY: forwarded from the caller.
        unsafe { self.regions.unmap::<S>(region) };
        self.spare_count -= 1;
        self.returned += super::CHUNK;
    }

    /// Counts `blocks` more blocks in use, of `bytes` in all, in the region of `b` and in
    /// the heap; a region that had none in use is no longer a spare.
    ///
    /// # Safety
    /// `b` lies in one of this heap's regions.
    #[inline]
    pub(crate) unsafe fn take(&mut self, b: usize, bytes: usize, blocks: usize) {
        // SAFETY: b lies in one of our regions, whose header is at its start.
        unsafe {
            let region = region_of(b);
            if bytes != 0 && (*region).used == 0 {
                self.spare_count -= 1;
            }
            (*region).used += bytes;
        }
        self.used += bytes;
        self.used_blocks += blocks;
        self.peak_used = self.peak_used.max(self.used);
    }

    /// Counts one block of `bytes` fewer in use in the region of `b` and in the heap. A
    /// region left with none in use is the caller's to pass to [`emptied`](Self::emptied).
    ///
    /// # Safety
    /// `b` lies in one of this heap's regions, which has at least `bytes` in use.
    #[inline]
    pub(crate) unsafe fn give(&mut self, b: usize, bytes: usize) {
        // SAFETY: b lies in one of our regions, whose header is at its start.
        unsafe { (*region_of(b)).used -= bytes };
        self.used -= bytes;
        self.used_blocks -= 1;
    }

    /// The block at `b`, in use, changed from `old` to `new` bytes in place.
    ///
    /// # Safety
    /// `b` lies in one of this heap's regions, which has a block of `old` bytes in use.
    #[inline]
    pub(crate) unsafe fn resized(&mut self, b: usize, old: usize, new: usize) {
        // SAFETY: b lies in one of our regions, whose header is at its start.
        unsafe {
            let region = region_of(b);
            (*region).used = (*region).used + new - old;
        }
        self.used = self.used + new - old;
        self.peak_used = self.peak_used.max(self.used);
    }

    /// A region has just been left with no block in use: counts it a spare, and says whether
    /// that is one more than the limit, when the caller takes its blocks off the free
    /// structures and [`release`](Self::release)s it.
    pub(crate) fn emptied(&mut self) -> bool {
        self.spare_count += 1;
        self.spare_count > self.spare_limit.regions()
    }

    pub(crate) fn set_spare_limit(&mut self, regions: usize) {
        self.spare_limit = SpareLimit::new(regions);
    }

    /// The figures, a wholly free region holding `area` bytes of blocks and the largest
    /// free block being `largest_free` bytes (the policy knows where to look).
    pub fn stats(&self, area: usize, largest_free: usize) -> HeapStats {
        HeapStats {
            regions: self.regions.count(),
            peak_regions: self.peak_regions,
            used: self.used,
            used_blocks: self.used_blocks,
            peak_used: self.peak_used,
            free: self.free,
            free_blocks: self.free_blocks,
            largest_free,
            spare: self.spare_count * area,
            returned: self.returned,
            decommitted: self.decommitted,
            purged: self.purged,
        }
    }

    /// Whether `p`, in a mapped region, lies in a region of this heap's arena (a region's
    /// header names its arena).
    ///
    /// # Safety
    /// `p` lies in a mapped region.
    #[inline(always)]
    pub unsafe fn is_own(&self, p: usize) -> bool {
        // SAFETY: forwarded from the caller.
        unsafe { region_arena(p) == self.arena }
    }

    /// Decodes the link `stored` at `slot` (see [`decode_link`]): `None` unless it leads
    /// into this heap's regions.
    #[inline(always)]
    pub fn decode_link(&self, slot: usize, stored: usize, low: usize) -> Option<usize> {
        decode_link::<S>(slot, stored, low, self.arena)
    }

    /// Gives the whole pages strictly inside the free memory `[start, end)` back to the
    /// source ([`RegionSource::decommit_inside`]).
    ///
    /// # Safety
    /// The range is free memory of one of this heap's regions.
    pub(crate) unsafe fn decommit_inside(&mut self, start: usize, end: usize) -> bool {
        // SAFETY: forwarded from the caller.
        let bytes = unsafe { S::decommit_inside(start, end) };
        self.decommitted += bytes;
        bytes != 0
    }

    /// As `decommit_inside`, for a free or a shrink in place that formed or grew a large
    /// free block (best fit's `PURGE_MIN`, buddy's `PURGE_ORDER`), and best fit's passes,
    /// counted apart from the trims; nothing for a range under `PURGE_RANGE_MIN`.
    ///
    /// # Safety
    /// As for `decommit_inside`.
    pub(crate) unsafe fn purge_inside(&mut self, start: usize, end: usize) {
        if end.saturating_sub(start) < PURGE_RANGE_MIN {
            return;
        }
        // SAFETY: forwarded from the caller.
        self.purged += unsafe { S::decommit_inside(start, end) };
    }

    /// Reports that the heap's metadata at `p` (a header, footer or link of the block whose
    /// payload is `p`) was overwritten, naming the call being served, and aborts.
    #[cold]
    #[inline(never)]
    pub(crate) fn corrupted(&self, p: usize) -> ! {
        crate::diag::misuse(self.call.name(), "corrupted block", p)
    }

    /// The invariant walker's part over regions: `walk` checks one region's blocks, adds
    /// its free blocks to the tally and returns the bytes in use it found, which must be the
    /// region's count.
    pub fn check_regions(
        &self,
        mut walk: impl FnMut(*mut Region, &mut Tally) -> Result<usize, &'static str>,
    ) -> Result<Tally, &'static str> {
        let mut tally = Tally::default();
        let mut region = self.regions.first();
        while !region.is_null() {
            tally.regions += 1;
            let used = walk(region, &mut tally)?;
            // SAFETY: walking our own region list.
            unsafe {
                if used != (*region).used {
                    return Err("region used count wrong");
                }
                if used == 0 {
                    tally.spare += 1;
                }
                region = Region::next(region);
            }
            tally.used += used;
        }
        Ok(tally)
    }

    /// The invariant walker's last step: what it found against the counts.
    pub fn check_totals(&self, tally: &Tally) -> Result<(), &'static str> {
        if tally.used != self.used
            || tally.used_blocks != self.used_blocks
            || tally.free != self.free
            || tally.free_blocks != self.free_blocks
        {
            return Err("heap totals wrong");
        }
        if tally.regions != self.regions.count() || tally.spare != self.spare_count {
            return Err("region counts wrong");
        }
        Ok(())
    }
}
