//! The shadow model of a heap, shared by the unit tests (src/tests/model.rs, which generate
//! operations from seeded random numbers) and the fuzz targets (fuzz/, which decode them
//! from the fuzzer's bytes). Compiled for the unit tests and with feature `shadow-model`,
//! which the fuzz crate turns on; it needs std.
//!
//! A [`Model`] drives a fresh heap through a sequence of operations ([`Op`], applied one at
//! a time with [`Model::apply`]) and, after each, checks it against what the model knows of
//! the live blocks and against a twin heap (see `twin.rs`):
//!
//! * every block is non-null, aligned as asked (at least `MIN_ALIGN`), lies in one region
//!   (the chunk map and its region bitmap both say so), has
//!   `request <= usable_size <= 2 * request + 64` (buddy rounds up to a power of two), and
//!   overlaps no live block; the lock-free peeks agree with `usable_size`, and refuse a
//!   pointer into the block;
//! * every block carries its own fill pattern (see `pattern.rs`), verified before the block
//!   is freed or resized, up to the smaller size after a resize or realloc, and on every
//!   block after a `trim`;
//! * a freed block is no longer live: `usable_size` and a second `free` are refused, and
//!   the fast path of free would not cache it; a refused resize changes nothing; misuse
//!   (interior pointers, region metadata) is refused and changes nothing;
//! * `heap.check()` passes and `stats().used` covers the live blocks, with at most 16 bytes
//!   of overhead each; while the heap holds one region, the twin (which serves `alloc_many`
//!   and `free_many` one block at a time and is spared the misuse) holds every block at the
//!   same place, with equal stats and layout, and is intact too (in the unit tests);
//! * at the end ([`Model::finish`]) everything is freed: nothing is used, all free memory is
//!   in wholly free regions, at most the spare limit of them stay mapped, and `trim` unmaps
//!   them all.

mod checks;
mod pattern;
mod twin;

use std::collections::BTreeMap;

use crate::heap::{Heap, MIN_ALIGN};
use twin::Twin;
pub use twin::{Layout, no_layout};

/// One operation on the heap. An index names a live block in allocation order (a block
/// resized or reallocated keeps its index), below [`Model::len`].
#[derive(Clone, Debug)]
pub enum Op {
    /// `alloc(size, align)`.
    Alloc { size: usize, align: usize },
    /// A thread cache's refill: `alloc_many` of `count` blocks of `size` bytes.
    AllocMany { size: usize, count: usize },
    /// `free` of a block.
    Free(usize),
    /// A thread cache's flush: `free_many` of these blocks (distinct indices, all taken
    /// before the call), in this order.
    FreeMany(Vec<usize>),
    /// `resize_in_place` of a block.
    Resize { index: usize, size: usize },
    /// realloc: `resize_in_place` of a block, else `alloc`, copy and `free`.
    Realloc { index: usize, size: usize },
    /// `usable_size` and the lock-free peeks of a block.
    Usable(usize),
    /// Interior pointers of a block and its region's metadata, handed to the heap.
    Misuse(usize),
    /// `trim`.
    Trim,
    /// `set_spare_limit`.
    SpareLimit(usize),
}

/// How closely a run is watched.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Walk the heaps and compare them after every this many operations (1: after each).
    pub check_every: usize,
    /// Live blocks hold at most this many usable bytes; requests past it are skipped.
    pub live_budget: usize,
    /// Blocks up to this many bytes carry their pattern whole, larger ones in stripes.
    pub dense: usize,
    /// Walk the twin's invariants too, not only compare it with the heap. The twin runs the
    /// heap's own code, one block per call, which the heap's walk covers too; the walk is
    /// most of the time a fuzz input takes, and the fuzz targets spend it on more inputs.
    pub walk_twin: bool,
}

impl Config {
    /// A fuzz input: every step checked, a few regions at most, large blocks in stripes.
    pub const FUZZ: Config = Config {
        check_every: 1,
        live_budget: 8 << 20,
        dense: 64 << 10,
        walk_twin: false,
    };
    /// A unit test: every step checked, no budget, every byte of every block verified.
    pub const TEST: Config = Config {
        check_every: 1,
        live_budget: usize::MAX,
        dense: usize::MAX,
        walk_twin: true,
    };
}

/// A live block as the model knows it.
#[derive(Clone, Copy)]
struct Block {
    p: usize,
    /// The twin's block at the same place.
    twin: usize,
    size: usize,
    usable: usize,
    align: usize,
    /// Its pattern (see `pattern.rs`).
    seed: usize,
}

pub struct Model<H: Heap> {
    heap: H,
    twin: Twin<H>,
    config: Config,
    /// Live blocks in allocation order.
    blocks: Vec<Block>,
    /// Live blocks by address: start -> end of usable bytes.
    by_addr: BTreeMap<usize, usize>,
    live_bytes: usize,
    /// Blocks recorded so far (each gets a pattern of its own).
    recorded: usize,
    /// Operations applied so far.
    steps: usize,
    /// The largest spare limit ever set: what may stay mapped when everything is free.
    max_spare: usize,
}

/// A fresh heap with an arena number of its own among those alive at once. Heaps in tests
/// that run in parallel map regions from one address space: a region one unmaps may come
/// back as another's, and a heap refuses a block of a region that names another arena, so
/// the model's checks on a freed block can never reach into another test's heap.
pub fn fresh_heap<H: Heap>() -> H {
    static NEXT: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    let mut heap = H::EMPTY;
    heap.set_arena(1 + (n % (crate::chunkmap::MAX_ARENAS - 1)) as u8);
    heap
}

impl<H: Heap> Model<H> {
    /// A fresh heap and twin; `layout` says what of the two must be equal beyond stats.
    pub fn new(config: Config, layout: fn(&H) -> Layout) -> Self {
        Model {
            heap: fresh_heap(),
            twin: Twin::new(layout),
            config,
            blocks: Vec::new(),
            by_addr: BTreeMap::new(),
            live_bytes: 0,
            recorded: 0,
            steps: 0,
            max_spare: 1,
        }
    }

    /// Whether the twin still follows the heap (see `twin.rs`): it stops once the heap
    /// holds two regions.
    pub fn followed_by_twin(&self) -> bool {
        self.twin.following()
    }

    /// Live blocks.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Applies one operation to the heap and the twin, and checks them (every
    /// `check_every` operations).
    pub fn apply(&mut self, op: Op) {
        match op {
            Op::Alloc { size, align } => self.alloc(size, align),
            Op::AllocMany { size, count } => self.alloc_many(size, count),
            Op::Free(i) => self.free(i),
            Op::FreeMany(indices) => self.free_many(&indices),
            Op::Resize { index, size } => self.resize(index, size),
            Op::Realloc { index, size } => self.realloc(index, size),
            Op::Usable(i) => self.usable(i),
            Op::Misuse(i) => self.misuse(i),
            Op::Trim => self.trim(),
            Op::SpareLimit(regions) => {
                self.max_spare = self.max_spare.max(regions);
                self.heap.set_spare_limit(regions);
                self.twin.set_spare_limit(regions);
            }
        }
        self.step();
    }

    /// Frees every block, the order picked by `order` % 3 (allocation order, reverse, by
    /// address), and proves the heap is then back to wholly free regions that `trim` unmaps.
    pub fn finish(mut self, order: usize) {
        match order % 3 {
            0 => {}
            1 => self.blocks.reverse(),
            _ => self.blocks.sort_by_key(|b| b.p),
        }
        while !self.blocks.is_empty() {
            self.free(0);
            self.step();
        }
        self.check();
        let s = self.heap.stats();
        assert_eq!(s.used, 0, "nothing live, yet {} bytes used", s.used);
        assert_eq!(
            s.free, s.spare,
            "free memory outside wholly free regions: {s:?}"
        );
        assert!(
            s.regions <= self.max_spare,
            "{} regions stay mapped, spare limit {}",
            s.regions,
            self.max_spare
        );
        self.trim();
        assert_eq!(self.heap.stats().regions, 0, "trim left regions mapped");
        self.check();
    }

    fn step(&mut self) {
        self.twin
            .keep_up(&self.heap, self.blocks.iter().map(|b| b.twin));
        self.steps += 1;
        if self.steps.is_multiple_of(self.config.check_every) {
            self.check();
        }
    }

    /// Takes block `b` out of the address map and the byte count (the heap's block stays
    /// as it is).
    fn forget(&mut self, b: &Block) {
        self.by_addr.remove(&b.p);
        self.live_bytes -= b.usable;
    }

    /// Takes block `i` out of the model after verifying its contents.
    fn take(&mut self, i: usize, what: &str) -> Block {
        let b = self.blocks.remove(i);
        self.verify(&b, b.usable, what);
        self.forget(&b);
        b
    }

    fn alloc(&mut self, size: usize, align: usize) {
        if self.live_bytes.saturating_add(size) > self.config.live_budget {
            return;
        }
        // SAFETY: the heap's regions are only written inside its live blocks.
        let p = unsafe { self.heap.alloc(size, align) } as usize;
        let q = self.twin.alloc(size, align);
        let b = self.record(p, q, size, align);
        self.blocks.push(b);
    }

    fn alloc_many(&mut self, size: usize, n: usize) {
        if self.live_bytes.saturating_add(size * n) > self.config.live_budget {
            return;
        }
        let mut out = vec![0usize; n];
        // SAFETY: as for alloc.
        let got = unsafe { self.heap.alloc_many(size, &mut out) };
        assert_eq!(got, n, "alloc_many of {n} x {size} bytes gave {got}");
        let twins = self.twin.alloc_many(size, n);
        for (&p, &q) in out.iter().zip(&twins) {
            let b = self.record(p, q, size, MIN_ALIGN);
            self.blocks.push(b);
        }
    }

    fn free(&mut self, i: usize) {
        let b = self.take(i, "before free");
        // SAFETY: b.p is a live block of the heap.
        unsafe { self.heap.free(b.p as *mut u8) }
            .unwrap_or_else(|e| panic!("free of live block {:#x}: {e:?}", b.p));
        self.twin.free(b.twin);
        self.assert_freed(b.p, "free");
    }

    fn free_many(&mut self, indices: &[usize]) {
        let batch: Vec<Block> = indices.iter().map(|&i| self.blocks[i]).collect();
        let mut taken = indices.to_vec();
        taken.sort_unstable();
        taken.dedup();
        assert_eq!(
            taken.len(),
            indices.len(),
            "free_many of a block twice: {indices:?}"
        );
        for &i in taken.iter().rev() {
            self.take(i, "before free_many");
        }
        let ps: Vec<usize> = batch.iter().map(|b| b.p).collect();
        let qs: Vec<usize> = batch.iter().map(|b| b.twin).collect();
        // SAFETY: every block of the batch is a live block of the heap, named once.
        unsafe { self.heap.free_many(&ps) }
            .unwrap_or_else(|(p, e)| panic!("free_many: live block {p:#x} refused: {e:?}"));
        self.twin.free_many(&qs);
        for &p in &ps {
            self.assert_freed(p, "free_many");
        }
    }

    fn resize(&mut self, i: usize, size: usize) {
        let b = self.blocks[i];
        if size > b.usable && self.live_bytes - b.usable + size > self.config.live_budget {
            return;
        }
        self.verify(&b, b.usable, "before resize_in_place");
        // SAFETY: b.p is a live block of the heap.
        let in_place = unsafe { self.heap.resize_in_place(b.p as *mut u8, size) }
            .unwrap_or_else(|e| panic!("resize_in_place of live block {:#x}: {e:?}", b.p));
        assert!(
            self.twin.resize_in_place(b.twin, size, in_place),
            "resize_in_place of {:#x} to {size}: the heap and its twin disagree",
            b.p
        );
        if in_place {
            self.resized(i, b, size);
            return;
        }
        // Refused: the block is as it was.
        // SAFETY: as above.
        let usable = unsafe { self.heap.usable_size(b.p as *mut u8) }.expect("still live");
        assert_eq!(
            usable, b.usable,
            "refused resize of {:#x} changed its size",
            b.p
        );
        self.verify(&b, b.usable, "after refused resize_in_place");
    }

    /// Block `i` (`b`) was resized in place to hold `size` bytes: its contents survived up
    /// to the smaller usable size; record it anew.
    fn resized(&mut self, i: usize, b: Block, size: usize) {
        self.forget(&b);
        // SAFETY: b.p is a live block of the heap.
        let new = unsafe { self.heap.usable_size(b.p as *mut u8) }.expect("resized block is live");
        self.verify(&b, new, "after resize_in_place");
        self.blocks[i] = self.record(b.p, b.twin, size, b.align);
    }

    fn realloc(&mut self, i: usize, size: usize) {
        let b = self.blocks[i];
        if self.live_bytes.saturating_add(size) > self.config.live_budget {
            return;
        }
        self.verify(&b, b.usable, "before realloc");
        // SAFETY: b.p is a live block of the heap.
        let in_place = unsafe { self.heap.resize_in_place(b.p as *mut u8, size) }.expect("live");
        assert!(
            self.twin.resize_in_place(b.twin, size, in_place),
            "realloc of {:#x} to {size}: the heap and its twin disagree on moving",
            b.p
        );
        if in_place {
            self.resized(i, b, size);
            return;
        }
        // SAFETY: as for alloc.
        let p = unsafe { self.heap.alloc(size, MIN_ALIGN) } as usize;
        let q = self.twin.alloc(size, MIN_ALIGN);
        assert_ne!(p, 0, "null block for {size} bytes");
        let keep = b.usable.min(size);
        pattern::copy(b.p, p, b.usable, keep, self.config.dense);
        self.free(i);
        pattern::verify(
            p,
            b.usable,
            keep,
            self.config.dense,
            b.seed,
            "after realloc's copy",
        );
        let moved = self.record(p, q, size, MIN_ALIGN);
        self.blocks.insert(i, moved);
    }

    fn trim(&mut self) {
        let released = self.heap.trim();
        assert!(
            self.twin.trim(released),
            "trim: the heap and its twin disagree on releasing"
        );
        for b in &self.blocks {
            self.verify(b, b.usable, "after trim");
        }
    }
}
