//! Where a heap's regions come from: [`RegionSource`], the contract, and [`OsRegions`], the
//! process allocator's source (fresh mappings recorded in the chunk map). A heap over memory
//! of its caller's (a test's, an embedder's) takes a source of that caller's instead; the
//! heap itself names no global of the allocator.

use core::sync::atomic::{AtomicUsize, Ordering};

use super::CHUNK;
use crate::chunkmap::{self, Owner};
use crate::os;

/// Regions `OsRegions` has mapped and not unmapped, all arenas together: how much the heaps
/// hold of the process's footprint, which the kept large mappings make room for
/// (`large::shed_for_heap`).
static OS_REGIONS: AtomicUsize = AtomicUsize::new(0);

/// Regions of `OsRegions` mapped now, all arenas together.
#[inline]
pub fn os_regions() -> usize {
    OS_REGIONS.load(Ordering::Relaxed)
}

/// A supply of regions. Every method is an associated function: a source is global state
/// of its own (the heap stores nothing of it), and it must not allocate from the heap that
/// asks it (the heap's caller holds its lock).
///
/// # Safety
/// The heaps write and read the memory a source hands out on its word: `map` returns null
/// or [`CHUNK`] bytes aligned to `CHUNK`, zeroed, that nothing else uses until `unmap`; and
/// `contains` is true only for an address inside such a region, not yet taken back.
pub unsafe trait RegionSource {
    /// A region for the heap of `arena`: [`CHUNK`] bytes aligned to `CHUNK`, zeroed, that
    /// nobody else uses until [`unmap`](Self::unmap); null when there is none.
    fn map(arena: u8) -> *mut u8;

    /// Takes back a region.
    ///
    /// # Safety
    /// `region` came from [`map`](Self::map) of this source, holds no live block, and
    /// nothing refers to it afterwards.
    unsafe fn unmap(region: *mut u8);

    /// Whether `addr` lies in a region this source handed out and has not taken back: what
    /// a heap asks before it follows a decoded link (reading a region's header at `addr`
    /// must then be safe).
    fn contains(addr: usize) -> bool;

    /// Gives the whole pages strictly inside `[start, end)` (free memory of a region) back
    /// to whoever supplies the memory, leaving the partial pages at either end alone; the
    /// bytes given back. By default nothing is: the memory stays as it is.
    ///
    /// # Safety
    /// The range is free memory of a region of this source; nothing reads the pages inside
    /// it before the heap writes them again (they may read as zeroes afterwards).
    unsafe fn decommit_inside(start: usize, end: usize) -> usize {
        let _ = (start, end);
        0
    }
}

/// The process allocator's regions: chunk-aligned mappings from the OS, recorded in the chunk
/// map as belonging to their arena (which is what `free` consults to route a pointer).
pub struct OsRegions;

// SAFETY: fresh anonymous mappings, claimed in the chunk map before they are handed out and
// forgotten before they are unmapped; `contains` asks the chunk map's region bitmap.
unsafe impl RegionSource for OsRegions {
    fn map(arena: u8) -> *mut u8 {
        let Some(region) = os::map_aligned(CHUNK, CHUNK) else {
            return core::ptr::null_mut();
        };
        if !chunkmap::claim(region.as_ptr() as usize, CHUNK, Owner::Region(arena)) {
            // SAFETY: the region was just mapped and nobody has seen it.
            unsafe { os::unmap(region.as_ptr(), CHUNK) };
            return core::ptr::null_mut();
        }
        OS_REGIONS.fetch_add(1, Ordering::Relaxed);
        region.as_ptr()
    }

    /// # Safety
    /// The trait's contract ([`RegionSource::unmap`]).
    unsafe fn unmap(region: *mut u8) {
        chunkmap::forget(region as usize, CHUNK);
        OS_REGIONS.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: the caller guarantees the region is ours and unused.
        unsafe { os::unmap(region, CHUNK) };
    }

    /// The region bitmap: one shift, one load, one bit test.
    #[inline(always)]
    fn contains(addr: usize) -> bool {
        chunkmap::is_region(addr)
    }

    /// # Safety
    /// The trait's contract ([`RegionSource::decommit_inside`]).
    unsafe fn decommit_inside(start: usize, end: usize) -> usize {
        // SAFETY: the caller guarantees the range is free memory of a mapped region.
        unsafe { os::decommit_pages_inside(start, end) }
    }
}
