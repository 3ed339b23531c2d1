//! Where the replay's heaps get their regions: [`Mapped`], a [`RegionSource`] over one
//! large reservation of the tool's own, so that the heap cores run in the tool exactly as in
//! the library but on memory the allocator's chunk map knows nothing of.
//!
//! ```text
//!  base (CHUNK-aligned)                                     base + slots * CHUNK
//!  | slot 0 | slot 1 | slot 2 | ...                                          |
//!    RW       NONE     RW        PROT_NONE + MAP_NORESERVE until handed out
//!  taken:  1        0        1   (one bit a slot; `contains` is a subtraction, a
//!                                 compare and one bit test)
//! ```
//!
//! The reservation is made once, on the first `map` (1 TiB, halved down to 1 GiB where the
//! address space is limited), and never given back. Handing out a slot makes it writable;
//! taking it back drops its pages (`MADV_DONTNEED`, so it reads as zeroes next time) and makes
//! it inaccessible again, so a heap that kept a stale pointer faults rather than reads old
//! data. The lowest free slot is always taken first: two replays of a trace lay their regions
//! out alike, which keeps them deterministic.
//!
//! Each heap type replayed takes its own source (`Mapped<0>`, `Mapped<1>`): a source is
//! global state (the trait's functions take no `self`). Heaps over one source share its
//! slots; a heap gives its regions back when its blocks are freed and it is trimmed.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use bestbuddy::heap::{CHUNK, RegionSource};

/// The most address space a source reserves, and the least it settles for.
const MAX_RESERVE: usize = 1 << 40;
const MIN_RESERVE: usize = 1 << 30;
const MAX_SLOTS: usize = MAX_RESERVE / CHUNK;
const WORDS: usize = MAX_SLOTS / 64;

/// How many sources there are (one per heap replayed).
pub const SOURCES: usize = 2;

/// One reservation. Invariants: `slots` is 0 until `base` is set; bit `i` of `taken` is set
/// iff slot `i` (below `slots`) is handed out and writable.
struct Reservation {
    base: AtomicUsize,
    slots: AtomicUsize,
    taken: [AtomicU64; WORDS],
}

impl Reservation {
    const fn new() -> Reservation {
        Reservation {
            base: AtomicUsize::new(0),
            slots: AtomicUsize::new(0),
            taken: [const { AtomicU64::new(0) }; WORDS],
        }
    }

    /// Reserves the address range if not yet done; false if not even `MIN_RESERVE` can be.
    fn reserve(&self) -> bool {
        if self.slots.load(Relaxed) != 0 {
            return true;
        }
        let mut len = MAX_RESERVE;
        while len >= MIN_RESERVE {
            // SAFETY: a fresh anonymous mapping at an address the kernel picks; nothing is
            // overwritten.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len + CHUNK,
                    libc::PROT_NONE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            if p != libc::MAP_FAILED {
                let base = (p as usize).next_multiple_of(CHUNK);
                self.base.store(base, Relaxed);
                self.slots.store(len / CHUNK, Relaxed);
                return true;
            }
            len /= 2;
        }
        false
    }

    fn slot_addr(&self, slot: usize) -> *mut u8 {
        (self.base.load(Relaxed) + slot * CHUNK) as *mut u8
    }

    /// Hands out the lowest free slot, writable and zeroed; null when none is left.
    fn map(&self) -> *mut u8 {
        if !self.reserve() {
            return std::ptr::null_mut();
        }
        let slots = self.slots.load(Relaxed);
        for (w, word) in self.taken.iter().enumerate().take(slots.div_ceil(64)) {
            let bits = word.load(Relaxed);
            if bits == u64::MAX {
                continue;
            }
            let slot = w * 64 + bits.trailing_ones() as usize;
            if slot >= slots {
                break;
            }
            let region = self.slot_addr(slot);
            // SAFETY: the slot lies inside our reservation and nobody uses it; its pages were
            // never touched or were dropped by `unmap`, so they read as zeroes.
            if unsafe { libc::mprotect(region.cast(), CHUNK, libc::PROT_READ | libc::PROT_WRITE) } != 0 {
                return std::ptr::null_mut();
            }
            word.fetch_or(1 << (slot % 64), Relaxed);
            return region;
        }
        std::ptr::null_mut()
    }

    /// Takes back the slot at `region`.
    ///
    /// # Safety
    /// `region` was handed out by `map` and nothing refers to its memory any more.
    unsafe fn unmap(&self, region: *mut u8) {
        let slot = (region as usize - self.base.load(Relaxed)) / CHUNK;
        // SAFETY: the slot is ours (the caller's contract); dropping its pages and its access
        // leaves the rest of the reservation alone.
        unsafe {
            libc::madvise(region.cast(), CHUNK, libc::MADV_DONTNEED);
            libc::mprotect(region.cast(), CHUNK, libc::PROT_NONE);
        }
        if let Some(word) = self.taken.get(slot / 64) {
            word.fetch_and(!(1 << (slot % 64)), Relaxed);
        }
    }

    #[inline(always)]
    fn contains(&self, addr: usize) -> bool {
        let slot = addr.wrapping_sub(self.base.load(Relaxed)) / CHUNK;
        slot < self.slots.load(Relaxed)
            && self.taken.get(slot / 64).is_some_and(|w| w.load(Relaxed) >> (slot % 64) & 1 != 0)
    }
}

static RESERVATIONS: [Reservation; SOURCES] = [const { Reservation::new() }; SOURCES];

/// The regions of source `ID` (below [`SOURCES`]).
pub struct Mapped<const ID: usize>;

impl<const ID: usize> Mapped<ID> {
    fn reservation() -> &'static Reservation {
        const { assert!(ID < SOURCES) };
        &RESERVATIONS[ID]
    }
}

// SAFETY: `map` returns null or a CHUNK-aligned slot of CHUNK bytes of our reservation that
// reads as zeroes (fresh, or dropped with MADV_DONTNEED) and is handed to nobody else until
// `unmap`; `contains` is true exactly for addresses in slots handed out and not taken back.
unsafe impl<const ID: usize> RegionSource for Mapped<ID> {
    fn map(_arena: u8) -> *mut u8 {
        Self::reservation().map()
    }

    unsafe fn unmap(region: *mut u8) {
        // SAFETY: forwarded from the caller (the trait's contract).
        unsafe { Self::reservation().unmap(region) }
    }

    #[inline(always)]
    fn contains(addr: usize) -> bool {
        Self::reservation().contains(addr)
    }
}
