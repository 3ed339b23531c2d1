//! A shadow model of address ranges: every live block is recorded with its range and fill
//! pattern; after every operation the model proves there is no overlap, alignment and usable
//! size hold, contents survived, and the heap's own invariant walker passes. At the end,
//! everything freed must leave only wholly free regions.

use std::collections::BTreeMap;

use super::Rng;
use crate::bestfit::BestFitHeap;
use crate::buddy::BuddyHeap;
use crate::chunkmap::{self, Owner};
use crate::heap::{Heap, MIN_ALIGN, Misuse};

struct Live {
    usable: usize,
    align: usize,
    seed: u8,
}

struct Model<H: Heap> {
    heap: H,
    /// Live blocks by address.
    live: BTreeMap<usize, Live>,
}

fn pattern(seed: u8, i: usize) -> u8 {
    seed.wrapping_add((i as u8).wrapping_mul(31)) ^ (i >> 8) as u8
}

impl<H: Heap> Model<H> {
    fn new() -> Self {
        Model {
            heap: H::EMPTY,
            live: BTreeMap::new(),
        }
    }

    fn fill(p: usize, size: usize, seed: u8) {
        let bytes = unsafe { std::slice::from_raw_parts_mut(p as *mut u8, size) };
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = pattern(seed, i);
        }
    }

    fn verify(p: usize, size: usize, seed: u8) {
        let bytes = unsafe { std::slice::from_raw_parts(p as *const u8, size) };
        for (i, &b) in bytes.iter().enumerate() {
            assert_eq!(
                b,
                pattern(seed, i),
                "byte {i} of block {p:#x} ({size} bytes) changed"
            );
        }
    }

    /// Records a new block, proving it overlaps no live one.
    fn record(&mut self, p: usize, size: usize, align: usize, seed: u8) {
        assert_ne!(p, 0);
        assert_eq!(
            p % align.max(MIN_ALIGN),
            0,
            "block {p:#x} not aligned to {align}"
        );
        let usable =
            unsafe { self.heap.usable_size(p as *mut u8) }.expect("usable size of a live block");
        assert!(usable >= size, "usable {usable} < requested {size}");
        let end = p + usable;
        if let Some((&q, l)) = self.live.range(..end).next_back() {
            assert!(
                q + l.usable <= p || q >= end,
                "{p:#x}+{usable} overlaps {q:#x}+{}",
                l.usable
            );
        }
        // The whole usable range is writable.
        Self::fill(p, usable, seed);
        // What the lock-free fast paths read agrees with the heap: the region bitmap, and
        // the block is live where it starts and not at a pointer into its payload.
        assert!(chunkmap::is_region(p), "{p:#x} not in the region bitmap");
        assert_eq!(unsafe { H::peek_usable(p as *mut u8) }, Some(usable));
        if usable >= 32 {
            assert!(unsafe { H::peek_class((p + 16) as *mut u8) }.is_none());
        }
        self.live.insert(
            p,
            Live {
                usable,
                align,
                seed,
            },
        );
    }

    fn alloc(&mut self, size: usize, align: usize, seed: u8) {
        let p = unsafe { self.heap.alloc(size, align) } as usize;
        self.record(p, size, align, seed);
    }

    fn free(&mut self, p: usize) {
        let l = self.live.remove(&p).expect("freeing a live block");
        Self::verify(p, l.usable, l.seed);
        unsafe { self.heap.free(p as *mut u8) }.expect("free of a live block");
        // A second free is reported, never accepted (when the region is still mapped; the
        // process allocator asks the chunk map first, so an unmapped one is refused there).
        if matches!(chunkmap::owner(p), Owner::Region(_)) {
            // The fast path of free (which caches without the lock) must not take it either.
            assert!(unsafe { H::peek_class(p as *mut u8) }.is_none(), "freed block cacheable");
            assert!(
                unsafe { self.heap.free(p as *mut u8) }.is_err(),
                "double free accepted"
            );
        }
    }

    fn realloc(&mut self, p: usize, size: usize, seed: u8) {
        let l = self.live.remove(&p).expect("realloc of a live block");
        Self::verify(p, l.usable, l.seed);
        let in_place = unsafe { self.heap.resize_in_place(p as *mut u8, size) }.expect("live");
        if in_place {
            let keep = l.usable.min(size);
            Self::verify(p, keep, l.seed);
            let usable = unsafe { self.heap.usable_size(p as *mut u8) }.unwrap();
            assert!(usable >= size);
            self.record(p, size, l.align, seed);
        } else {
            let q = unsafe { self.heap.alloc(size, MIN_ALIGN) } as usize;
            assert_ne!(q, 0);
            unsafe {
                std::ptr::copy_nonoverlapping(p as *const u8, q as *mut u8, l.usable.min(size))
            };
            unsafe { self.heap.free(p as *mut u8) }.expect("free of the old block");
            Self::verify(q, l.usable.min(size), l.seed);
            self.record(q, size, MIN_ALIGN, seed);
        }
    }

    fn check(&self) {
        if let Err(e) = self.heap.check() {
            panic!("{} invariant broken: {e}", H::NAME);
        }
        let s = self.heap.stats();
        let live: usize = self.live.values().map(|l| l.usable).sum();
        assert!(
            s.used >= live,
            "heap says {} bytes used, model holds {live}",
            s.used
        );
    }
}

fn random_size(rng: &mut Rng, max: usize) -> usize {
    match rng.below(100) {
        0..=59 => rng.below(129),
        60..=89 => rng.below(4097),
        90..=98 => rng.below(65_537),
        _ => rng.below(max + 1),
    }
}

fn run<H: Heap>(seed: u64, steps: usize, check_every: usize) {
    let mut rng = Rng::new(seed);
    let mut m = Model::<H>::new();
    for step in 0..steps {
        let s = (step & 0xff) as u8;
        let n = m.live.len();
        match rng.below(10) {
            0..=3 => {
                let size = random_size(&mut rng, H::MAX_REQUEST);
                m.alloc(size, MIN_ALIGN, s);
            }
            4 => {
                let align = MIN_ALIGN << rng.below(H::MAX_ALIGN.trailing_zeros() as usize - 3);
                let size = random_size(&mut rng, H::MAX_REQUEST / 2);
                m.alloc(size, align, s);
            }
            5..=7 if n > 0 => {
                let p = *m.live.keys().nth(rng.below(n)).unwrap();
                m.free(p);
            }
            8 | 9 if n > 0 => {
                let p = *m.live.keys().nth(rng.below(n)).unwrap();
                let size = random_size(&mut rng, H::MAX_REQUEST);
                m.realloc(p, size, s);
            }
            _ => {}
        }
        if step % check_every == 0 {
            m.check();
        }
    }
    m.check();
    let keys: Vec<usize> = m.live.keys().copied().collect();
    for p in keys {
        m.free(p);
    }
    m.check();
    // Everything freed: the heap is back to whole free regions, and trim gives them back.
    let s = m.heap.stats();
    assert_eq!(s.used, 0);
    assert_eq!(s.free, s.spare, "free memory outside wholly free regions");
    m.heap.trim();
    assert_eq!(m.heap.stats().regions, 0, "trim left regions mapped");
    m.check();
}

#[test]
fn bestfit_random_sequences() {
    for seed in 1..=6 {
        run::<BestFitHeap>(seed, 3000, 1);
    }
}

#[test]
fn buddy_random_sequences() {
    for seed in 1..=6 {
        run::<BuddyHeap>(seed, 3000, 1);
    }
}

#[test]
fn bestfit_long_sequence() {
    run::<BestFitHeap>(99, 60_000, 97);
}

#[test]
fn buddy_long_sequence() {
    run::<BuddyHeap>(99, 60_000, 97);
}

/// Misuse on both heaps: a stale pointer and an interior pointer are refused, and the heap
/// is unchanged by the refusal.
fn misuse<H: Heap>() {
    let mut h = H::EMPTY;
    unsafe {
        let a = h.alloc(256, MIN_ALIGN);
        let b = h.alloc(256, MIN_ALIGN);
        assert_eq!(h.free(a.add(16)), Err(Misuse::InvalidPointer));
        assert_eq!(h.free(a.add(8)), Err(Misuse::InvalidPointer));
        assert_eq!(h.usable_size(b.add(32)), Err(Misuse::InvalidPointer));
        assert_eq!(
            h.resize_in_place(b.add(48), 10),
            Err(Misuse::InvalidPointer)
        );
        // The region's metadata is never a block.
        let base = (a as usize & !(crate::heap::REGION - 1)) as *mut u8;
        assert_eq!(h.free(base.add(64)), Err(Misuse::InvalidPointer));
        h.free(a).unwrap();
        assert_eq!(h.free(a), Err(Misuse::DoubleFree));
        h.free(b).unwrap();
        assert_eq!(h.free(b), Err(Misuse::DoubleFree));
        h.check().unwrap();
        h.trim();
        assert_eq!(h.stats().regions, 0);
    }
}

#[test]
fn bestfit_misuse() {
    misuse::<BestFitHeap>();
}

#[test]
fn buddy_misuse() {
    misuse::<BuddyHeap>();
}

/// Where a block lies, independent of where the OS put the regions: the order in which its
/// region first appeared, and the offset inside it.
fn place(regions: &mut Vec<usize>, p: usize) -> (usize, usize) {
    let base = p & !(crate::heap::REGION - 1);
    let index = regions.iter().position(|&r| r == base).unwrap_or_else(|| {
        regions.push(base);
        regions.len() - 1
    });
    (index, p - base)
}

/// A heap's layout (see `BestFitHeap::layout`), for comparing two heaps beyond placement.
type Layout = Vec<(usize, usize, usize)>;

/// Buddy's placement and stats are compared; its layout is not spelled out.
fn no_layout(_: &BuddyHeap) -> Layout {
    Vec::new()
}

/// Two heaps driven through the same choices: both intact, with equal stats and layouts.
fn assert_twins<H: Heap>(a: &H, b: &H, layout: fn(&H) -> Layout) {
    a.check().unwrap();
    b.check().unwrap();
    assert_eq!(a.stats(), b.stats());
    assert_eq!(layout(a), layout(b));
}

/// `alloc_many` must place every block exactly where one `alloc` per block would: two heaps
/// take the same random sequence of allocations and frees, one serving batches with
/// `alloc_many`, the other with a loop of `alloc`, and every block must land at the same
/// place in both; both heaps' invariants hold throughout, and best fit's layouts (headers,
/// top, bin order) are equal.
fn alloc_many_places_like_alloc<H: Heap>(seed: u64, layout: fn(&H) -> Layout) {
    let mut rng = Rng::new(seed);
    let (mut a, mut b) = (H::EMPTY, H::EMPTY);
    let (mut regions_a, mut regions_b) = (vec![], vec![]);
    let mut live: Vec<(usize, usize)> = vec![];
    for _ in 0..2000 {
        match rng.below(4) {
            0 => {
                let size = random_size(&mut rng, 65_536);
                let (p, q) = unsafe { (a.alloc(size, MIN_ALIGN), b.alloc(size, MIN_ALIGN)) };
                assert_eq!(place(&mut regions_a, p as usize), place(&mut regions_b, q as usize));
                live.push((p as usize, q as usize));
            }
            1 => {
                let size = rng.below(4097);
                let n = 1 + rng.below(32);
                let mut batch = [0usize; 32];
                let got = unsafe { a.alloc_many(size, &mut batch[..n]) };
                assert_eq!(got, n);
                for &p in &batch[..n] {
                    let q = unsafe { b.alloc(size, MIN_ALIGN) } as usize;
                    assert_eq!(place(&mut regions_a, p), place(&mut regions_b, q), "batch of {n} x {size}");
                    live.push((p, q));
                }
            }
            _ if !live.is_empty() => {
                // Free a random third of the live blocks, in random order.
                for _ in 0..1 + live.len() / 3 {
                    let (p, q) = live.swap_remove(rng.below(live.len()));
                    unsafe {
                        a.free(p as *mut u8).unwrap();
                        b.free(q as *mut u8).unwrap();
                    }
                }
            }
            _ => {}
        }
        assert_twins(&a, &b, layout);
    }
    for (p, q) in live {
        unsafe {
            a.free(p as *mut u8).unwrap();
            b.free(q as *mut u8).unwrap();
        }
    }
    a.trim();
    b.trim();
    assert_eq!(a.stats().regions, 0);
}

#[test]
fn bestfit_alloc_many_places_like_alloc() {
    for seed in 1..=4 {
        alloc_many_places_like_alloc::<BestFitHeap>(seed, BestFitHeap::layout);
    }
}

#[test]
fn buddy_alloc_many_places_like_alloc() {
    alloc_many_places_like_alloc::<BuddyHeap>(1, no_layout);
}

/// `free_many` must leave the heap as freeing the same blocks one by one in the same order
/// does: two heaps take the same random sequence, one freeing batches with `free_many`, the
/// other with a loop of `free`; every later block must land at the same place in both, with
/// equal stats and layouts (best fit) and both heaps' invariants holding throughout.
/// Batches are often slices of consecutive allocations (runs of neighbours, which best fit
/// coalesces once) in ascending, descending or shuffled order, sometimes picked from
/// anywhere.
fn free_many_frees_like_free<H: Heap>(seed: u64, layout: fn(&H) -> Layout) {
    let mut rng = Rng::new(seed);
    let (mut a, mut b) = (H::EMPTY, H::EMPTY);
    let (mut regions_a, mut regions_b) = (vec![], vec![]);
    let mut live: Vec<(usize, usize)> = vec![];
    for _ in 0..1500 {
        match rng.below(3) {
            0 => {
                let size = if rng.below(4) == 0 { random_size(&mut rng, 65_536) } else { rng.below(1025) };
                let n = 1 + rng.below(48);
                for _ in 0..n {
                    let (p, q) = unsafe { (a.alloc(size, MIN_ALIGN), b.alloc(size, MIN_ALIGN)) };
                    assert_eq!(place(&mut regions_a, p as usize), place(&mut regions_b, q as usize));
                    live.push((p as usize, q as usize));
                }
            }
            _ if !live.is_empty() => {
                let n = (1 + rng.below(64)).min(live.len());
                let mut batch: Vec<(usize, usize)> = if rng.below(2) == 0 {
                    let from = rng.below(live.len() - n + 1);
                    live.drain(from..from + n).collect()
                } else {
                    (0..n).map(|_| live.swap_remove(rng.below(live.len()))).collect()
                };
                match rng.below(3) {
                    0 => {}
                    1 => batch.reverse(),
                    _ => {
                        for i in (1..batch.len()).rev() {
                            batch.swap(i, rng.below(i + 1));
                        }
                    }
                }
                let ps: Vec<usize> = batch.iter().map(|&(p, _)| p).collect();
                let qs: Vec<usize> = batch.iter().map(|&(_, q)| q).collect();
                unsafe {
                    a.free_many(&ps).unwrap();
                    for &q in &qs {
                        b.free(q as *mut u8).unwrap();
                    }
                }
            }
            _ => {}
        }
        assert_twins(&a, &b, layout);
    }
    let ps: Vec<usize> = live.iter().map(|&(p, _)| p).collect();
    unsafe { a.free_many(&ps).unwrap() };
    for (_, q) in live {
        unsafe { b.free(q as *mut u8).unwrap() };
    }
    a.trim();
    b.trim();
    assert_eq!(a.stats().regions, 0);
    assert_eq!(b.stats().regions, 0);
}

#[test]
fn bestfit_free_many_frees_like_free() {
    for seed in 1..=4 {
        free_many_frees_like_free::<BestFitHeap>(seed, BestFitHeap::layout);
    }
}

#[test]
fn buddy_free_many_frees_like_free() {
    free_many_frees_like_free::<BuddyHeap>(1, no_layout);
}

/// A batch that names a block twice, or a pointer that is no block, is refused with the
/// misuse (the thread cache then aborts): the second copy is seen as a double free.
#[test]
fn bestfit_free_many_reports_a_repeated_block() {
    let mut h = BestFitHeap::EMPTY;
    let blocks: Vec<usize> = (0..4).map(|_| unsafe { h.alloc(100, MIN_ALIGN) } as usize).collect();
    let batch = [blocks[1], blocks[0], blocks[1]];
    assert_eq!(unsafe { h.free_many(&batch) }, Err((blocks[1], Misuse::DoubleFree)));
    let interior = [blocks[2], blocks[3] + 16];
    assert_eq!(unsafe { h.free_many(&interior) }, Err((blocks[3] + 16, Misuse::InvalidPointer)));
    h.check().unwrap();
}

/// A block refused in the middle of a run leaves the blocks before it freed, the heap
/// consistent (as one free at a time would): a second free of a neighbour, joined from
/// below.
#[test]
fn bestfit_free_many_refusal_inside_a_run_keeps_the_heap_whole() {
    let mut h = BestFitHeap::EMPTY;
    let b: Vec<usize> = (0..3).map(|_| unsafe { h.alloc(100, MIN_ALIGN) } as usize).collect();
    unsafe { h.free_many(&[b[1]]) }.unwrap();
    assert_eq!(unsafe { h.free_many(&[b[2], b[1]]) }, Err((b[1], Misuse::DoubleFree)));
    h.check().unwrap();
    unsafe { h.free(b[0] as *mut u8) }.unwrap();
    h.check().unwrap();
    assert_eq!(h.stats().used, 0);
}
