//! The twin: a second heap of the same policy that takes every operation the model's heap
//! takes, except that it serves `alloc_many` with one `alloc` per block and `free_many` with
//! one `free` per block, and is spared the misuse. The `Heap` contract says a batch places
//! and frees exactly as that loop would, and a refused misuse changes nothing; so the twin's
//! every block lies at the same offset in its region, and the two heaps have equal stats and
//! layouts.
//!
//! Only while each heap holds one region: with two, best fit breaks a tie between free
//! blocks of one size by address (its treap is keyed by size, then address), and which of
//! two regions lies lower is the OS's choice, made apart for each heap. So the twin follows
//! the heap until an operation leaves either with a second region mapped; it then frees its
//! blocks, unmaps its region and stops. (Within that operation the heap only mapped the
//! second region because the first could not serve the request, so every block it placed
//! is still where the twin's is.)

use crate::heap::{CHUNK, Heap, HeapStats, MIN_ALIGN};

/// A heap's layout (for best fit, `BestFitHeap::layout`): what must be equal between the
/// heap and its twin beyond stats and placement.
pub type Layout = Vec<(usize, usize, usize)>;

/// For a heap whose layout is not spelled out (buddy; best fit outside the unit tests):
/// placement and stats are compared.
pub fn no_layout<H>(_: &H) -> Layout {
    Vec::new()
}

pub struct Twin<H: Heap> {
    heap: H,
    /// Still following the heap. Once false, every operation is a no-op and every block 0.
    following: bool,
    layout: fn(&H) -> Layout,
}

impl<H: Heap> Twin<H> {
    pub fn new(layout: fn(&H) -> Layout) -> Self {
        Twin {
            heap: super::fresh_heap(),
            following: true,
            layout,
        }
    }

    pub fn following(&self) -> bool {
        self.following
    }

    /// After each operation: stops following once either heap holds a second region,
    /// freeing `blocks` (the twin's live blocks) and unmapping what the twin holds.
    pub fn keep_up(&mut self, heap: &H, blocks: impl Iterator<Item = usize>) {
        if !self.following || (heap.stats().regions <= 1 && self.heap.stats().regions <= 1) {
            return;
        }
        self.free_many(&blocks.collect::<Vec<_>>());
        self.heap.trim();
        assert_eq!(
            self.heap.stats().regions,
            0,
            "the twin's regions outlive its blocks"
        );
        self.following = false;
    }

    /// The twin's block `q` for the heap's block `p` of `usable` bytes, just recorded: at
    /// the same offset, of the same size.
    pub fn assert_same_place(&self, p: usize, q: usize, usable: usize) {
        if !self.following {
            return;
        }
        assert_ne!(q, 0, "the twin's block for {p:#x} is null");
        assert_eq!(
            p % CHUNK,
            q % CHUNK,
            "block {p:#x}: the twin's {q:#x} lies elsewhere in its region"
        );
        // SAFETY: q is a live block of the twin.
        let twin_usable = unsafe { self.heap.usable_size(q as *mut u8) }
            .unwrap_or_else(|e| panic!("usable_size of the twin's block {q:#x}: {e:?}"));
        assert_eq!(
            usable, twin_usable,
            "block {p:#x} and the twin's {q:#x} differ in size"
        );
    }

    pub fn alloc(&mut self, size: usize, align: usize) -> usize {
        if !self.following {
            return 0;
        }
        // SAFETY: the twin's regions are only written through the heap.
        unsafe { self.heap.alloc(size, align) as usize }
    }

    /// What `alloc_many` must equal: one `alloc` per block.
    pub fn alloc_many(&mut self, size: usize, n: usize) -> Vec<usize> {
        (0..n).map(|_| self.alloc(size, MIN_ALIGN)).collect()
    }

    pub fn free(&mut self, q: usize) {
        if !self.following {
            return;
        }
        // SAFETY: q is a live block of the twin.
        unsafe { self.heap.free(q as *mut u8) }
            .unwrap_or_else(|e| panic!("free of the twin's block {q:#x}: {e:?}"));
    }

    /// What `free_many` must equal: one `free` per block, in the batch's order.
    pub fn free_many(&mut self, batch: &[usize]) {
        for &q in batch {
            self.free(q);
        }
    }

    /// Resizes the twin's block `q` as the heap's was, and says whether the two agree on
    /// doing it in place.
    pub fn resize_in_place(&mut self, q: usize, size: usize, in_place: bool) -> bool {
        if !self.following {
            return true;
        }
        // SAFETY: q is a live block of the twin.
        let twin = unsafe { self.heap.resize_in_place(q as *mut u8, size) }
            .unwrap_or_else(|e| panic!("resize_in_place of the twin's block {q:#x}: {e:?}"));
        twin == in_place
    }

    pub fn set_spare_limit(&mut self, regions: usize) {
        self.heap.set_spare_limit(regions);
    }

    /// Trims the twin as the heap was, and says whether the two agree on releasing.
    pub fn trim(&mut self, released: bool) -> bool {
        !self.following || self.heap.trim() == released
    }

    /// The twin intact (walked if `walk`), with the heap's stats and layout.
    pub fn assert_matches(&self, heap: &H, walk: bool) {
        if !self.following {
            return;
        }
        if walk && let Err(e) = self.heap.check() {
            panic!("{} twin: invariant broken: {e}", H::NAME);
        }
        // The twin frees a batch one block at a time, which may give back other pages than
        // the batch did (`HeapStats::purged`).
        let unpurged = |h: &H| HeapStats {
            purged: 0,
            ..h.stats()
        };
        assert_eq!(
            unpurged(heap),
            unpurged(&self.heap),
            "the heap's and the twin's stats"
        );
        assert_eq!(
            (self.layout)(heap),
            (self.layout)(&self.heap),
            "the heap's and the twin's layouts"
        );
    }
}
