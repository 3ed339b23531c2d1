//! A region's header and a heap's list of regions: what every region starts with, whichever
//! the policy, and the checked decoding of a link into them.

use super::{CHUNK, RegionSource};
use crate::seal;

/// The header at the start of every region, whichever the policy.
#[repr(C)]
pub struct Region {
    next: *mut Region,
    prev: *mut Region,
    /// Bytes of blocks in use in this region; 0 iff the region is wholly free.
    pub used: usize,
    /// The arena whose heap owns this region (the same as its chunk map entry says), for
    /// checks that a heap link stays inside its own heap without a radix walk.
    pub arena: u8,
    /// Best fit: the end of the highest block this region ever handed out (0: none), so
    /// that memory past it, never the program's, is not taken for a freed block when a
    /// bad free is reported (`BestFitHeap::validate`). Buddy leaves it 0.
    pub handed_out_to: usize,
}

impl Region {
    /// The region after `region` on its list (null at the end).
    ///
    /// # Safety
    /// `region` is a live region.
    pub unsafe fn next(region: *mut Region) -> *mut Region {
        // SAFETY: forwarded from the caller.
        unsafe { (*region).next }
    }
}

/// The region holding `addr`.
#[inline]
pub fn region_of(addr: usize) -> *mut Region {
    (addr & !(CHUNK - 1)) as *mut Region
}

/// The arena that owns the region holding `addr`, from the region's header (one load): the
/// heaps' validation, their link checks and a thread cache's flush all ask it.
///
/// # Safety
/// `addr` lies in a mapped region (its source says so).
#[inline(always)]
pub unsafe fn region_arena(addr: usize) -> u8 {
    // SAFETY: a region starts with its header, mapped while the region is.
    unsafe { (*region_of(addr)).arena }
}

/// Decodes a sealed heap link (`seal::decode`) and, in a hardened build, also requires a
/// link other than 0 to point into a heap region of `arena`, so that following it reads
/// mapped memory of ours: a link with a few bits flipped (a one-byte overflow into a freed
/// block) decodes to an aligned address that may be anywhere. The source proves the address
/// in one of its regions (for [`OsRegions`](super::OsRegions) the region bitmap), after which
/// its region's header names the arena (two loads, no radix walk: this runs for every link a
/// heap follows). It lives here, not in `seal.rs`, because the region header is the heap's.
#[inline(always)]
pub fn decode_link<S: RegionSource>(
    slot: usize,
    stored: usize,
    low: usize,
    arena: u8,
) -> Option<usize> {
    let ptr = seal::decode(slot, stored, low)?;
    if !seal::HARDENED || ptr == 0 {
        return Some(ptr);
    }
    // SAFETY: the source says ptr lies in one of its regions, which starts with its header.
    if S::contains(ptr) && unsafe { region_arena(ptr) } == arena {
        Some(ptr)
    } else {
        None
    }
}

/// A heap's regions: a doubly linked list through their headers.
pub struct Regions {
    first: *mut Region,
    /// Regions on the list.
    count: usize,
}

impl Regions {
    pub const EMPTY: Regions = Regions {
        first: core::ptr::null_mut(),
        count: 0,
    };

    /// Takes a fresh, zeroed region for `arena` from `S` and puts it on the list. Null if
    /// `S` has none.
    pub fn map<S: RegionSource>(&mut self, arena: u8) -> *mut Region {
        let region = S::map(arena) as *mut Region;
        if region.is_null() {
            return region;
        }
        // SAFETY: a fresh region that only this list knows; `first` is null or a live region.
        unsafe {
            region.write(Region {
                next: self.first,
                prev: core::ptr::null_mut(),
                used: 0,
                arena,
                handed_out_to: 0,
            });
            if !self.first.is_null() {
                (*self.first).prev = region;
            }
        }
        self.first = region;
        self.count += 1;
        region
    }

    /// Takes `region` off the list and gives it back to `S`.
    ///
    /// # Safety
    /// `region` is on this list, came from `S`, and holds no live block; nothing refers to
    /// it afterwards.
    pub unsafe fn unmap<S: RegionSource>(&mut self, region: *mut Region) {
        // SAFETY: region and its neighbours are live regions of this list.
        unsafe {
            let (next, prev) = ((*region).next, (*region).prev);
            if !next.is_null() {
                (*next).prev = prev;
            }
            if prev.is_null() {
                self.first = next;
            } else {
                (*prev).next = next;
            }
            S::unmap(region.cast());
        }
        self.count -= 1;
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// The first region (null if none); walk on with [`Region::next`].
    pub fn first(&self) -> *mut Region {
        self.first
    }
}
