//! The model's proofs about the heap: a block just placed (alignment, size, no overlap,
//! the lock-free reads agree), a block still live (its pattern intact), a block just freed
//! (refused from then on), misuse refused, and the heap's own invariants and figures.

use super::{Block, Model, pattern};
use crate::chunkmap::{self, Owner};
use crate::heap::{CHUNK, Heap, MIN_ALIGN, Misuse, SpanKind};

impl<H: Heap> Model<H> {
    /// Proves the properties of a block just allocated or resized at `p` (the twin's at
    /// `twin`) for `size` bytes, fills it, and records it.
    pub(super) fn record(&mut self, p: usize, twin: usize, size: usize, align: usize) -> Block {
        assert_ne!(p, 0, "null block for {size} bytes");
        assert_eq!(
            p % align.max(MIN_ALIGN),
            0,
            "block {p:#x} not aligned to {align}"
        );
        // SAFETY: p is a live block of the heap.
        let usable = unsafe { self.heap.usable_size(p as *mut u8) }
            .unwrap_or_else(|e| panic!("usable_size of live block {p:#x}: {e:?}"));
        assert!(
            usable >= size,
            "block {p:#x}: usable {usable} < requested {size}"
        );
        // Neither policy more than doubles a request (buddy rounds up to a power of two).
        let bound = 2 * size.max(align).max(MIN_ALIGN) + 64;
        assert!(
            usable <= bound,
            "block {p:#x}: usable {usable} for {size} bytes aligned to {align}"
        );
        let end = p + usable;
        assert!(
            matches!(chunkmap::owner(p), Owner::Region(_)),
            "block {p:#x} not in a heap region"
        );
        assert!(chunkmap::is_region(p), "{p:#x} not in the region bitmap");
        assert_eq!(
            p & !(CHUNK - 1),
            (end - 1) & !(CHUNK - 1),
            "block {p:#x}+{usable} crosses a region boundary"
        );
        if let Some((&q, &q_end)) = self.by_addr.range(..end).next_back() {
            assert!(q_end <= p, "{p:#x}+{usable} overlaps {q:#x}..{q_end:#x}");
        }
        // What the lock-free fast paths read agrees with the heap: the block is live where
        // it starts, and not at a pointer into its payload.
        assert_eq!(
            // SAFETY: p is a live block of the heap.
            unsafe { H::peek_usable(p as *mut u8) },
            Some(usable),
            "peek_usable of {p:#x}"
        );
        if usable >= 32 {
            assert!(
                // SAFETY: p + 16 lies inside the live block p, so in one of the heap's
                // mapped regions.
                unsafe { H::peek_class((p + 16) as *mut u8) }.is_none(),
                "peek_class of a pointer into {p:#x}"
            );
        }
        self.twin.assert_same_place(p, twin, usable);
        // A pattern offset no other block of this run has (an odd multiplier permutes
        // 0..PERIOD), while fewer than PERIOD blocks are recorded.
        self.recorded += 1;
        let seed = self.recorded.wrapping_mul(40_503) % pattern::PERIOD;
        pattern::fill(p, usable, self.config.dense, seed);
        self.by_addr.insert(p, end);
        self.live_bytes += usable;
        Block {
            p,
            twin,
            size,
            usable,
            align,
            seed,
        }
    }

    /// Panics unless block `b` holds its pattern below `upto`.
    pub(super) fn verify(&self, b: &Block, upto: usize, what: &str) {
        pattern::verify(b.p, b.usable, upto, self.config.dense, b.seed, what);
    }

    /// Checks that the heap no longer takes `p` as a live block, just freed.
    pub(super) fn assert_freed(&mut self, p: usize, what: &str) {
        // While the region stays mapped the block is refused (once it is unmapped, the
        // process allocator asks the chunk map first, so it is refused there).
        if !matches!(chunkmap::owner(p), Owner::Region(_)) {
            return;
        }
        // SAFETY: p lies in a mapped region.
        unsafe {
            assert!(
                self.heap.usable_size(p as *mut u8).is_err(),
                "usable_size of block {p:#x} after {what} accepted"
            );
            // The fast path of free (which caches without the lock) must not take it either.
            assert!(
                H::peek_class(p as *mut u8).is_none(),
                "block {p:#x} cacheable after {what}"
            );
            assert!(
                self.heap.free(p as *mut u8).is_err(),
                "double free of {p:#x} after {what} accepted"
            );
        }
    }

    pub(super) fn usable(&self, i: usize) {
        let b = self.blocks[i];
        let p = b.p as *mut u8;
        // SAFETY: p is a live block of the heap.
        let usable = unsafe { self.heap.usable_size(p) }.expect("live");
        assert_eq!(usable, b.usable, "usable size of {:#x} changed", b.p);
        assert!(usable >= b.size);
        assert_eq!(
            // SAFETY: p is a live block of the heap.
            unsafe { H::peek_usable(p) },
            Some(usable),
            "peek_usable of {:#x}",
            b.p
        );
        // SAFETY: p is a live block of the heap.
        assert!(unsafe { H::peek_live(p) }, "peek_live of {:#x}", b.p);
        // SAFETY: p is a live block of the heap.
        if let Some(c) = unsafe { H::peek_class(p) } {
            assert!(c < H::CACHE_CLASSES, "class {c} of {:#x} out of range", b.p);
            assert!(
                H::class_size(c) <= usable,
                "{:#x}: class {c} serves {} bytes, block holds {usable}",
                b.p,
                H::class_size(c)
            );
        }
    }

    /// Pointers into block `i` and into its region's metadata are refused, and change
    /// nothing (the block keeps its pattern; the twin, spared them, still matches).
    pub(super) fn misuse(&mut self, i: usize) {
        let b = self.blocks[i];
        // A pointer past a 16-byte boundary is invalid whatever the bytes around it; one on a
        // boundary inside the block may read as a freed block's header (the program's bytes
        // before it can say anything), and be refused as a double free instead.
        for off in [8, 16, 32, 48] {
            if off >= b.usable {
                break;
            }
            let q = (b.p + off) as *mut u8;
            let refused = |got: Result<(), Misuse>, call: &str| match got {
                Err(Misuse::InvalidPointer) => {}
                Err(Misuse::DoubleFree) if off % MIN_ALIGN == 0 => {}
                _ => panic!("{call} of {q:?}, {off} bytes into a live block: {got:?}"),
            };
            // SAFETY: q lies in a mapped region of the heap.
            unsafe {
                refused(self.heap.free(q), "free");
                refused(self.heap.usable_size(q).map(drop), "usable_size");
                refused(self.heap.resize_in_place(q, 1).map(drop), "resize_in_place");
            }
        }
        // The region's metadata is never a block.
        let meta = ((b.p & !(CHUNK - 1)) + 64) as *mut u8;
        // SAFETY: meta lies in a mapped region of the heap.
        assert_eq!(
            // SAFETY: meta lies in a mapped region of the heap.
            unsafe { self.heap.free(meta) },
            Err(Misuse::InvalidPointer),
            "free of region metadata {meta:?}"
        );
        self.verify(&b, b.usable, "after misuse");
    }

    pub(super) fn check(&self) {
        if let Err(e) = self.heap.check() {
            panic!("{} invariant broken: {e}", H::NAME);
        }
        let s = self.heap.stats();
        assert!(
            s.used >= self.live_bytes,
            "heap says {} bytes used, model holds {}",
            s.used,
            self.live_bytes
        );
        // Per-block overhead: best fit's 8-byte header, nothing for buddy.
        assert!(
            s.used <= self.live_bytes + 16 * self.blocks.len(),
            "heap says {} bytes used, model holds {} in {} blocks",
            s.used,
            self.live_bytes,
            self.blocks.len()
        );
        self.twin.assert_matches(&self.heap, self.config.walk_twin);
        self.check_walk(&s);
    }

    /// The heap walk tiles every region in address order, its live and free stretches add
    /// up to the heap's counts, and every block the model holds lies in a live stretch.
    fn check_walk(&self, s: &crate::heap::HeapStats) {
        let mut spans = Vec::new();
        // SAFETY: the heap passed `check` just now.
        unsafe { self.heap.walk(|span| spans.push(span)) };
        let (mut live, mut live_blocks, mut free, mut free_blocks, mut regions) = (0, 0, 0, 0, 0);
        let mut largest_free = 0;
        let mut end = 0;
        for span in &spans {
            if span.start % CHUNK == 0 {
                assert!(
                    end % CHUNK == 0,
                    "walk: region before {:#x} not tiled",
                    span.start
                );
                assert!(span.start >= end, "walk: regions out of address order");
                regions += 1;
            } else {
                assert_eq!(span.start, end, "walk: a gap or overlap at {:#x}", end);
            }
            assert!(span.size > 0, "walk: empty stretch at {:#x}", span.start);
            end = span.start + span.size;
            match span.kind {
                SpanKind::Live => {
                    live += span.size;
                    live_blocks += 1;
                }
                SpanKind::Free => {
                    free += span.size;
                    free_blocks += 1;
                    largest_free = largest_free.max(span.size);
                }
                SpanKind::Metadata => {}
            }
        }
        assert!(
            end % CHUNK == 0,
            "walk: the last region is not tiled to its end"
        );
        assert_eq!(regions, s.regions, "walk: regions");
        assert_eq!(live, s.used, "walk: live bytes against stats().used");
        assert_eq!(
            live_blocks, s.used_blocks,
            "walk: live blocks against stats()"
        );
        assert_eq!(
            live_blocks,
            self.blocks.len(),
            "walk: live blocks against the model"
        );
        assert_eq!(
            largest_free, s.largest_free,
            "walk: largest free stretch against stats()"
        );
        assert!(
            s.peak_used >= s.used,
            "stats: peak below the current figure"
        );
        assert_eq!(free, s.free, "walk: free bytes against stats().free");
        assert_eq!(
            free_blocks, s.free_blocks,
            "walk: free blocks against stats()"
        );
        for b in &self.blocks {
            let i = spans.partition_point(|span| span.start <= b.p);
            let span = spans[i.checked_sub(1).expect("walk: block below every stretch")];
            assert_eq!(span.kind, SpanKind::Live, "walk: block {:#x} not live", b.p);
            assert!(
                b.p + b.usable <= span.start + span.size,
                "walk: block {:#x} overruns",
                b.p
            );
        }
    }
}
