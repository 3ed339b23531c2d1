//! The shadow model (src/shadow/, the one the fuzz targets use too) driven by seeded random
//! operation sequences: a mix like a program's, every operation in it; and two mixes that
//! lean on the batch calls, which the model's twin heap serves one block at a time, so every
//! block must land where one `alloc` per block would put it, and a `free_many` must leave
//! the heap as one `free` per block does (best fit's layouts compared too). Those two stay
//! within one region, so the twin follows them to the end.

use super::Rng;
use crate::bestfit::BestFitHeap;
use crate::buddy::BuddyHeap;
use crate::heap::{Heap, MIN_ALIGN};
use crate::shadow::{Config, Layout, Model, Op, no_layout};

fn random_size(rng: &mut Rng, max: usize) -> usize {
    match rng.below(100) {
        0..=59 => rng.below(129),
        60..=89 => rng.below(4097),
        90..=98 => rng.below(65_537),
        _ => rng.below(max + 1),
    }
}

/// A `free_many` batch of up to `max` of `n` live blocks: often consecutive allocations
/// (runs of neighbours, which best fit coalesces once), sometimes picked from anywhere; in
/// ascending, descending or shuffled order.
fn batch(rng: &mut Rng, n: usize, max: usize) -> Vec<usize> {
    let k = (1 + rng.below(max)).min(n);
    let mut picks: Vec<usize> = if rng.below(2) == 0 {
        let from = rng.below(n - k + 1);
        (from..from + k).collect()
    } else {
        let mut all: Vec<usize> = (0..n).collect();
        (0..k)
            .map(|_| all.swap_remove(rng.below(all.len())))
            .collect()
    };
    match rng.below(3) {
        0 => {}
        1 => picks.reverse(),
        _ => {
            for i in (1..picks.len()).rev() {
                picks.swap(i, rng.below(i + 1));
            }
        }
    }
    picks
}

/// An operation on a model of `n` live blocks, as a program makes them: mostly allocations
/// (some aligned), frees and reallocs, and each other operation now and then (a trim
/// rarely: it verifies every live block). None when it needs a live block and there is none.
fn program_op<H: Heap>(rng: &mut Rng, n: usize) -> Option<Op> {
    let op = match rng.below(1000) {
        0..=349 => Op::Alloc {
            size: random_size(rng, H::MAX_REQUEST),
            align: MIN_ALIGN,
        },
        350..=449 => {
            let align = MIN_ALIGN << rng.below(H::MAX_ALIGN.trailing_zeros() as usize - 3);
            Op::Alloc {
                size: random_size(rng, H::MAX_REQUEST / 2),
                align,
            }
        }
        450..=469 => Op::AllocMany {
            size: rng.below(4097),
            count: 1 + rng.below(16),
        },
        470..=474 => Op::SpareLimit(rng.below(4)),
        475 => Op::Trim,
        _ if n == 0 => return None,
        476..=749 => Op::Free(rng.below(n)),
        750..=769 => Op::FreeMany(batch(rng, n, 16)),
        770..=899 => Op::Realloc {
            index: rng.below(n),
            size: random_size(rng, H::MAX_REQUEST),
        },
        900..=959 => Op::Resize {
            index: rng.below(n),
            size: random_size(rng, H::MAX_REQUEST),
        },
        960..=979 => Op::Usable(rng.below(n)),
        _ => Op::Misuse(rng.below(n)),
    };
    Some(op)
}

fn run<H: Heap>(seed: u64, steps: usize, config: Config, layout: fn(&H) -> Layout) {
    let mut rng = Rng::new(seed);
    let mut m = Model::<H>::new(config, layout);
    for _ in 0..steps {
        if let Some(op) = program_op::<H>(&mut rng, m.len()) {
            m.apply(op);
        }
    }
    m.finish(rng.below(3));
}

#[test]
fn bestfit_random_sequences() {
    for seed in 1..=6 {
        run::<BestFitHeap>(seed, 3000, Config::TEST, BestFitHeap::layout);
    }
}

#[test]
fn buddy_random_sequences() {
    for seed in 1..=6 {
        run::<BuddyHeap>(seed, 3000, Config::TEST, no_layout);
    }
}

/// Thousands of live blocks; the heaps are walked every 97 operations.
const LONG: Config = Config {
    check_every: 97,
    ..Config::TEST
};

#[test]
fn bestfit_long_sequence() {
    run::<BestFitHeap>(99, 60_000, LONG, BestFitHeap::layout);
}

#[test]
fn buddy_long_sequence() {
    run::<BuddyHeap>(99, 60_000, LONG, no_layout);
}

/// `alloc_many` must place every block exactly where one `alloc` per block would (the
/// twin's): single allocations, batches of up to 32 blocks, and a random third of the live
/// blocks freed at a time.
fn alloc_many_places_like_alloc<H: Heap>(seed: u64, layout: fn(&H) -> Layout) {
    let mut rng = Rng::new(seed);
    let mut m = Model::<H>::new(Config::TEST, layout);
    for _ in 0..2000 {
        let n = m.len();
        match rng.below(4) {
            0 => m.apply(Op::Alloc {
                size: random_size(&mut rng, 65_536),
                align: MIN_ALIGN,
            }),
            1 => m.apply(Op::AllocMany {
                size: rng.below(4097),
                count: 1 + rng.below(32),
            }),
            _ if n > 0 => {
                for _ in 0..1 + n / 3 {
                    let i = rng.below(m.len());
                    m.apply(Op::Free(i));
                }
            }
            _ => {}
        }
    }
    assert!(
        m.followed_by_twin(),
        "the heap outgrew one region: the twin stopped"
    );
    m.finish(rng.below(3));
}

#[test]
fn bestfit_alloc_many_places_like_alloc() {
    for seed in 1..=4 {
        alloc_many_places_like_alloc::<BestFitHeap>(seed, BestFitHeap::layout);
    }
}

#[test]
fn buddy_alloc_many_places_like_alloc() {
    for seed in 1..=4 {
        alloc_many_places_like_alloc::<BuddyHeap>(seed, no_layout);
    }
}

/// As `alloc_many_places_like_alloc`, over heaps that grow to several regions (mid-batch
/// too), which the twin does not follow: a second heap of the same kind takes one `alloc`
/// per block, and after every step each block handed out sits at the same offset of the
/// same region (regions numbered in the order they first hold a block) and the heaps'
/// figures agree. Buddy only: best fit breaks ties between regions by address, so where
/// its blocks go across regions depends on where the OS maps them, which differs between
/// the two heaps while other tests map and unmap.
fn alloc_many_across_regions<H: Heap>(seed: u64) {
    use std::collections::HashMap;
    use std::vec::Vec;
    /// A block's place: its region's number and its offset in it.
    fn place(regions: &mut HashMap<usize, usize>, p: usize) -> (usize, usize) {
        let base = p & !(crate::heap::CHUNK - 1);
        let n = regions.len();
        (*regions.entry(base).or_insert(n), p - base)
    }
    let mut rng = Rng::new(seed);
    let (mut batched, mut single) = (H::EMPTY, H::EMPTY);
    // Regions that empty stay mapped, so that both heaps reuse them alike.
    batched.set_spare_limit(1 << 10);
    single.set_spare_limit(1 << 10);
    let (mut batched_regions, mut single_regions) = (HashMap::new(), HashMap::new());
    let (mut batched_live, mut single_live) = (Vec::new(), Vec::new());
    // SAFETY: private heaps; every block freed is one they handed out, freed once.
    unsafe {
        for _ in 0..1500 {
            if rng.below(3) != 0 || batched_live.is_empty() {
                let size = 1 + rng.below(32 << 10);
                let mut out = vec![0usize; 1 + rng.below(64)];
                assert_eq!(batched.alloc_many(size, &mut out), out.len());
                for &p in &out {
                    let q = single.alloc(size, MIN_ALIGN) as usize;
                    assert_ne!(q, 0);
                    assert_eq!(
                        place(&mut batched_regions, p),
                        place(&mut single_regions, q),
                        "{}: alloc_many of {size} bytes",
                        H::NAME
                    );
                    batched_live.push(p);
                    single_live.push(q);
                }
            } else {
                for _ in 0..1 + batched_live.len() / 3 {
                    let i = rng.below(batched_live.len());
                    batched.free(batched_live.swap_remove(i) as *mut u8).unwrap();
                    single.free(single_live.swap_remove(i) as *mut u8).unwrap();
                }
            }
            assert_eq!(batched.stats(), single.stats(), "{}", H::NAME);
        }
        assert!(batched.stats().peak_regions > 2, "{}: the test wants several regions", H::NAME);
        batched.check().unwrap();
        for (&p, &q) in batched_live.iter().zip(&single_live) {
            batched.free(p as *mut u8).unwrap();
            single.free(q as *mut u8).unwrap();
        }
        assert_eq!(batched.stats(), single.stats(), "{}", H::NAME);
        batched.check().unwrap();
        batched.trim();
        single.trim();
    }
}

#[test]
fn buddy_alloc_many_places_like_alloc_across_regions() {
    for seed in 1..=4 {
        alloc_many_across_regions::<BuddyHeap>(seed);
    }
}

/// `free_many` must leave the heap as freeing the same blocks one by one in the same order
/// does (the twin): runs of up to 48 allocations of one size, and batches of up to 64
/// blocks (see `batch`); at the end, one batch of every live block.
fn free_many_frees_like_free<H: Heap>(seed: u64, layout: fn(&H) -> Layout) {
    let mut rng = Rng::new(seed);
    let mut m = Model::<H>::new(Config::TEST, layout);
    for _ in 0..1500 {
        match rng.below(3) {
            0 => {
                let size = if rng.below(4) == 0 {
                    random_size(&mut rng, 65_536)
                } else {
                    rng.below(1025)
                };
                for _ in 0..1 + rng.below(48) {
                    m.apply(Op::Alloc {
                        size,
                        align: MIN_ALIGN,
                    });
                }
            }
            _ if !m.is_empty() => m.apply(Op::FreeMany(batch(&mut rng, m.len(), 64))),
            _ => {}
        }
    }
    assert!(
        m.followed_by_twin(),
        "the heap outgrew one region: the twin stopped"
    );
    m.apply(Op::FreeMany((0..m.len()).collect()));
    m.finish(0);
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
