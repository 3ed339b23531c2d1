//! Both heaps over regions of the test's own (a `RegionSource` carved from one mapping the
//! test makes): the heap cores need nothing of the process allocator, not even the chunk map.

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering::SeqCst};

use crate::bestfit::BestFitHeap;
use crate::buddy::BuddyHeap;
use crate::chunkmap;
use crate::heap::{CHUNK, Heap, MIN_ALIGN, RegionSource};
use crate::os;

/// Regions in the arena of this source, handed out by a bit each.
const SLOTS: usize = 8;

/// The arena's base (0 until the first map) and which of its slots are handed out.
static BASE: AtomicUsize = AtomicUsize::new(0);
static TAKEN: AtomicU32 = AtomicU32::new(0);

/// Regions carved from one `SLOTS * CHUNK` mapping, made once and never given back.
struct Carved;

impl Carved {
    fn base() -> usize {
        if BASE.load(SeqCst) == 0 {
            let arena = os::map_aligned(SLOTS * CHUNK, CHUNK).expect("test arena");
            BASE.store(arena.as_ptr() as usize, SeqCst);
        }
        BASE.load(SeqCst)
    }
}

// SAFETY: each slot of the test's own mapping is handed out to one heap at a time, zeroed
// when handed out; `contains` is true only inside slots handed out.
unsafe impl RegionSource for Carved {
    fn map(_arena: u8) -> *mut u8 {
        let base = Self::base();
        for slot in 0..SLOTS {
            if TAKEN.fetch_or(1 << slot, SeqCst) & (1 << slot) == 0 {
                let region = (base + slot * CHUNK) as *mut u8;
                // SAFETY: the slot is ours now; a region is handed out zeroed.
                unsafe { region.write_bytes(0, CHUNK) };
                return region;
            }
        }
        core::ptr::null_mut()
    }

    unsafe fn unmap(region: *mut u8) {
        let slot = (region as usize - Self::base()) / CHUNK;
        TAKEN.fetch_and(!(1 << slot), SeqCst);
    }

    fn contains(addr: usize) -> bool {
        let base = BASE.load(SeqCst);
        base != 0
            && (base..base + SLOTS * CHUNK).contains(&addr)
            && TAKEN.load(SeqCst) & (1 << ((addr - base) / CHUNK)) != 0
    }

    /// Given back for real, as the process's regions are, so that the purge is counted.
    unsafe fn decommit_inside(start: usize, end: usize) -> usize {
        // SAFETY: the caller guarantees the range is free memory of a region of ours.
        unsafe { os::decommit_pages_inside(start, end) }
    }
}

/// Fills more than one region, frees it all, and checks the heap and its figures at each
/// step; every block lies in the test's regions, none in the chunk map's.
fn drive<H: Heap<Source = Carved>>() {
    let mut h = H::EMPTY;
    h.set_spare_limit(0);
    let mut blocks = std::vec::Vec::new();
    // SAFETY: a private heap; every pointer handed back is one it returned.
    unsafe {
        for i in 0..1500 {
            let size = 1000 + (i % 7) * 1500;
            let p = h.alloc(size, MIN_ALIGN);
            assert!(!p.is_null());
            assert!(Carved::contains(p as usize));
            assert!(!chunkmap::is_region(p as usize));
            p.write_bytes(0xAB, size);
            blocks.push(p);
        }
        h.check().unwrap();
        assert!(
            h.stats().regions >= 2,
            "the test wants more than one region"
        );
        for (i, &p) in blocks.iter().enumerate() {
            if i % 2 == 0 {
                h.free(p).unwrap();
            }
        }
        h.check().unwrap();
        assert_eq!(h.free(blocks[0]), Err(crate::heap::Misuse::DoubleFree));
        for (i, &p) in blocks.iter().enumerate() {
            if i % 2 == 1 {
                h.free(p).unwrap();
            }
        }
        h.check().unwrap();
        h.trim();
        h.check().unwrap();
        assert_eq!(h.stats().regions, 0);
        assert_eq!(h.stats().used, 0);
    }
    assert_eq!(TAKEN.load(SeqCst), 0);
}

/// A free that forms a free block of 1 MiB or more gives its pages back, but not when it
/// empties a region that is unmapped at once; a block that shrinks in place gives back the
/// pages of a large free block its tail joins or forms.
fn purge<H: Heap<Source = Carved>>() {
    const MIB: usize = 1 << 20;
    let mut h = H::EMPTY;
    h.set_spare_limit(0);
    // SAFETY: a private heap; every pointer handed back is one it returned.
    unsafe {
        let big = h.alloc(2 * MIB, MIN_ALIGN);
        big.write_bytes(0xAB, 2 * MIB);
        h.free(big).unwrap();
        let s = h.stats();
        assert_eq!((s.regions, s.returned), (0, CHUNK), "{}: the region goes back", H::NAME);
        assert_eq!(s.purged, 0, "{}: purged pages of a region it unmapped", H::NAME);

        let one = h.alloc(MIB, MIN_ALIGN);
        let keep = h.alloc(64, MIN_ALIGN);
        one.write_bytes(0xAB, MIB);
        h.free(one).unwrap();
        let purged = h.stats().purged;
        assert!(purged >= MIB - 2 * os::PAGE, "{}: a 1 MiB free purged {purged} B", H::NAME);

        let shrinks = h.alloc(2 * MIB, MIN_ALIGN);
        shrinks.write_bytes(0xAB, 2 * MIB);
        assert!(h.resize_in_place(shrinks, 16 << 10).unwrap());
        let more = h.stats().purged - purged;
        assert!(more >= MIB - 2 * os::PAGE, "{}: shrinking by 2 MiB purged {more} B", H::NAME);
        h.check().unwrap();
        h.free(shrinks).unwrap();
        h.free(keep).unwrap();
        h.check().unwrap();
        assert_eq!(h.stats().regions, 0);
    }
}

#[test]
fn heaps_over_regions_of_the_callers() {
    // One test drives both heaps in turn: the source is one static arena.
    drive::<BestFitHeap<Carved>>();
    drive::<BuddyHeap<Carved>>();
    purge::<BestFitHeap<Carved>>();
    purge::<BuddyHeap<Carved>>();
}
