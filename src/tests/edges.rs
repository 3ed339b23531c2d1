//! Edge cases of each heap's policy, one by one.

use crate::bestfit::{self, BestFitHeap};
use crate::buddy::{self, BuddyHeap};
use crate::heap::{CHUNK, FAST_BINS, FIRST_CLASS_BIN, Heap, MIN_ALIGN, Misuse};

fn alloc<H: Heap>(h: &mut H, size: usize) -> usize {
    // SAFETY: the test's own heap; every pointer given lies in its regions.
    let p = unsafe { h.alloc(size, MIN_ALIGN) } as usize;
    assert_ne!(p, 0);
    p
}

fn free<H: Heap>(h: &mut H, p: usize) {
    // SAFETY: the test's own heap; every pointer given lies in its regions.
    unsafe { h.free(p as *mut u8) }.unwrap();
    h.check().unwrap();
}

/// Free blocks ("holes") of the given sizes, each fenced by a small block in use.
fn fenced_holes<H: Heap>(h: &mut H, sizes: &[usize]) -> Vec<usize> {
    let mut holes = vec![];
    for &s in sizes {
        holes.push(alloc(h, s));
        alloc(h, 16);
    }
    for &p in &holes {
        free(h, p);
    }
    holes
}

#[test]
fn bestfit_takes_smallest_fitting_block() {
    let mut h = <BestFitHeap>::EMPTY;
    // Holes of 200, 100, 300, 100 bytes, each fenced by a block in use.
    let sizes = [200, 100, 300, 100];
    let holes = fenced_holes(&mut h, &sizes);
    // 90 bytes: the two 100-byte holes fit best (either may come first: same size).
    let mut got = [alloc(&mut h, 90), alloc(&mut h, 90)];
    got.sort();
    assert_eq!(got, [holes[1], holes[3]]);
    // 150 bytes: the 200-byte hole, not the 300-byte one.
    assert_eq!(alloc(&mut h, 150), holes[0]);
    // 1000 bytes fit in no hole: taken from the rest of the region, above every hole.
    assert!(alloc(&mut h, 1000) > holes[3]);
    assert_eq!(alloc(&mut h, 250), holes[2]);
    h.check().unwrap();
}

#[test]
fn bestfit_best_fit_among_large_sizes() {
    let mut h = <BestFitHeap>::EMPTY;
    // Above the exact bins (32 KiB), in the treap: equal sizes go to the lowest address.
    let sizes = [72000, 40000, 56000, 40000, 160000];
    let holes = fenced_holes(&mut h, &sizes);
    assert_eq!(alloc(&mut h, 48000), holes[2]);
    assert_eq!(alloc(&mut h, 32000), holes[1]);
    assert_eq!(alloc(&mut h, 32000), holes[3]);
    assert_eq!(alloc(&mut h, 64000), holes[0]);
    h.check().unwrap();
}

#[test]
fn bestfit_best_fit_among_exact_bin_sizes() {
    // 4..32 KiB: exact bins, one size each; equal sizes in either order.
    let mut h = <BestFitHeap>::EMPTY;
    let sizes = [9000, 5000, 7000, 5000, 20000];
    let holes = fenced_holes(&mut h, &sizes);
    assert_eq!(alloc(&mut h, 6000), holes[2]);
    let mut got = [alloc(&mut h, 4000), alloc(&mut h, 4000)];
    got.sort();
    assert_eq!(got, [holes[1], holes[3]]);
    assert_eq!(alloc(&mut h, 8000), holes[0]);
    assert_eq!(alloc(&mut h, 19000), holes[4]);
    h.check().unwrap();
}

#[test]
fn bestfit_free_coalesces_with_both_neighbours() {
    let mut h = <BestFitHeap>::EMPTY;
    let a = alloc(&mut h, 100);
    let b = alloc(&mut h, 100);
    let c = alloc(&mut h, 100);
    let fence = alloc(&mut h, 100);
    free(&mut h, a);
    free(&mut h, c);
    let before = h.stats().free_blocks;
    free(&mut h, b);
    // a, b and c became one block: two free blocks fewer, one more... net one fewer.
    assert_eq!(h.stats().free_blocks, before - 1);
    // The merged block serves a request as large as all three.
    assert_eq!(alloc(&mut h, 3 * 112 - 8), a);
    let _ = fence;
}

#[test]
fn bestfit_realloc_grows_into_free_neighbour_and_shrinks_in_place() {
    let mut h = <BestFitHeap>::EMPTY;
    let a = alloc(&mut h, 100);
    let b = alloc(&mut h, 1000);
    let _fence = alloc(&mut h, 16);
    free(&mut h, b);
    // SAFETY: the test's own heap; every pointer given lies in its regions.
    unsafe {
        assert_eq!(h.resize_in_place(a as *mut u8, 1000), Ok(true));
        assert!(h.usable_size(a as *mut u8).unwrap() >= 1000);
        h.check().unwrap();
        // Shrinking splits the tail off as a free block that serves the next request.
        assert_eq!(h.resize_in_place(a as *mut u8, 100), Ok(true));
        assert!(h.usable_size(a as *mut u8).unwrap() < 200);
        h.check().unwrap();
    }
    assert!(alloc(&mut h, 800) > a);
}

#[test]
fn bestfit_overhead_and_minimum_block() {
    let mut h = <BestFitHeap>::EMPTY;
    let a = alloc(&mut h, 1);
    let b = alloc(&mut h, 24);
    let c = alloc(&mut h, 25);
    // One 8-byte header per block: 24 usable bytes in the 32-byte minimum block.
    assert_eq!(b - a, bestfit::MIN_BLOCK);
    assert_eq!(c - b, bestfit::MIN_BLOCK);
    // SAFETY: the test's own heap; every pointer given lies in its regions.
    assert_eq!(unsafe { h.usable_size(c as *mut u8) }, Ok(40));
}

#[test]
fn bestfit_aligned_requests() {
    let mut h = <BestFitHeap>::EMPTY;
    let mut align = 32;
    while align <= <BestFitHeap>::MAX_ALIGN {
        // SAFETY: the test's own heap; every pointer given lies in its regions.
        let p = unsafe { h.alloc(100, align) } as usize;
        assert_eq!(p % align, 0);
        h.check().unwrap();
        align <<= 1;
    }
}

#[test]
fn buddy_power_of_two_requests_take_their_own_order() {
    let mut h = <BuddyHeap>::EMPTY;
    for shift in 4..=21 {
        let size = 1usize << shift;
        let p = alloc(&mut h, size);
        // SAFETY: the test's own heap; every pointer given lies in its regions.
        assert_eq!(unsafe { h.usable_size(p as *mut u8) }, Ok(size));
        // Blocks are aligned to their size.
        assert_eq!(p % size, 0);
    }
    assert_eq!(buddy::order_for(4096), 8);
    assert_eq!(buddy::order_for(4097), 9);
    assert_eq!(buddy::order_for(1), 0);
    h.check().unwrap();
}

#[test]
fn buddy_splits_and_merges_back() {
    let mut h = <BuddyHeap>::EMPTY;
    let a = alloc(&mut h, 16);
    let fresh = h.stats();
    // Splitting a 256 KiB block down to 16 bytes left one free block per order in between.
    assert_eq!(fresh.free_blocks, 3 + 14);
    let b = alloc(&mut h, 16);
    assert_eq!(b, a ^ 16, "the second block is the first one's buddy");
    free(&mut h, a);
    free(&mut h, b);
    // Everything merged back: the region's four top blocks.
    assert_eq!(h.stats().free_blocks, 4);
    assert_eq!(h.stats().used, 0);
}

#[test]
fn buddy_realloc_in_place() {
    let mut h = <BuddyHeap>::EMPTY;
    let a = alloc(&mut h, 64);
    // SAFETY: the test's own heap; every pointer given lies in its regions.
    unsafe {
        // a is the lower half at every level and its buddies are free: grows in place.
        assert_eq!(h.resize_in_place(a as *mut u8, 1000), Ok(true));
        assert_eq!(h.usable_size(a as *mut u8), Ok(1024));
        h.check().unwrap();
        assert_eq!(h.resize_in_place(a as *mut u8, 20), Ok(true));
        assert_eq!(h.usable_size(a as *mut u8), Ok(32));
        h.check().unwrap();
    }
    let b = alloc(&mut h, 32);
    assert_eq!(b, a + 32);
    // a's buddy is now in use: growing must move.
    // SAFETY: the test's own heap; every pointer given lies in its regions.
    assert_eq!(unsafe { h.resize_in_place(a as *mut u8, 64) }, Ok(false));
}

#[test]
fn regions_are_released_beyond_the_spare_limit() {
    fn go<H: Heap>() {
        let mut h = H::EMPTY;
        let mut blocks = vec![];
        // Enough 512 KiB blocks to need several regions.
        for _ in 0..24 {
            blocks.push(alloc(&mut h, 512 << 10));
        }
        assert!(h.stats().regions >= 3);
        for p in blocks {
            free(&mut h, p);
        }
        // One wholly free region is kept for reuse, the rest went back to the OS.
        assert_eq!(h.stats().regions, 1);
        assert!(h.trim());
        assert_eq!(h.stats().regions, 0);
        assert!(!h.trim(), "nothing left to release");
    }
    go::<BestFitHeap>();
    go::<BuddyHeap>();
}

#[test]
fn trim_releases_free_pages_inside_used_regions() {
    fn go<H: Heap>() {
        let mut h = H::EMPTY;
        let keep = alloc(&mut h, 100);
        let big = alloc(&mut h, 256 << 10);
        let _fence = alloc(&mut h, 100);
        free(&mut h, big);
        assert!(h.trim());
        h.check().unwrap();
        assert_eq!(h.stats().regions, 1);
        let _ = keep;
    }
    go::<BestFitHeap>();
    go::<BuddyHeap>();
}

#[test]
fn region_layout_constants() {
    assert_eq!(CHUNK, 4 << 20);
    assert_eq!(bestfit::AREA % 16, 0);
    assert_eq!(buddy::order_for(<BuddyHeap>::MAX_REQUEST), 17);
}

#[test]
fn options_parse() {
    use crate::options::{Options, parse};
    assert_eq!(parse(b""), Options::default());
    assert_eq!(
        parse(b"junk=1"),
        Options {
            junk: true,
            check_every: 0,
            ..Options::default()
        }
    );
    assert_eq!(
        parse(b"check=100,junk=0"),
        Options {
            junk: false,
            check_every: 100,
            ..Options::default()
        }
    );
    // Unknown or malformed options are ignored (and named on stderr).
    assert_eq!(
        parse(b"bogus,check=x,junk=1,,"),
        Options {
            junk: true,
            check_every: 0,
            ..Options::default()
        }
    );
    assert_eq!(parse(b"check=99999999999999999999"), Options::default());
}

#[test]
fn options_parse_tunables() {
    use crate::options::{Options, Set, parse};
    let set = |value| {
        Some(Set {
            value,
            from: "BESTBUDDY_OPTIONS",
        })
    };
    let o = parse(b"arena_max=3,mmap_threshold=64k,top_pad=2M,trim_threshold=1g,perturb=255");
    assert_eq!(o.arena_max, set(3));
    assert_eq!(o.mmap_threshold, set(64 << 10));
    assert_eq!(o.top_pad, set(2 << 20));
    assert_eq!(o.trim_threshold, set(1 << 30));
    assert_eq!(o.perturb, set(255));
    let o = parse(b"tcache_bytes=16k,trim_delay_ms=5,mmap_max=0,verbose=1");
    assert_eq!(o.tcache_bytes, set(16 << 10));
    assert_eq!(o.trim_delay_ms, set(5));
    assert_eq!(o.mmap_max, set(0));
    assert!(o.verbose);
    assert_eq!(parse(b"tcache=0").tcache_bytes, set(0));
    assert_eq!(parse(b"tcache=1"), Options::default());
    // Bad values are ignored (and named on stderr); a later good one still applies.
    let bad = b"arena_max=0,perturb=256,mmap_threshold=1x,top_pad=k,tcache=2,trim_delay_ms=-1";
    assert_eq!(parse(bad), Options::default());
    assert_eq!(parse(b"top_pad=99999999999999999g"), Options::default());
    assert_eq!(
        parse(b"mmap_threshold=x,mmap_threshold=1k").mmap_threshold,
        set(1024)
    );
}

#[test]
fn header_seal_binds_address_apart_from_size() {
    use crate::seal;
    if !seal::HARDENED {
        return;
    }
    // A header word moved to another address, with its size or flags changed to match the
    // move, must not pass: with the address and the low half XORed in one round, a word at
    // b passed at b ^ (d << 32) with its low half XORed by d.
    let b = 0x7f12_3456_7808usize;
    let low = 0x1230 | 1;
    let w = seal::seal_header(b, low);
    assert!(seal::header_intact(b, w));
    for d in 1..4096usize {
        assert!(!seal::header_intact(b ^ (d << 32), w ^ d), "forged at d = {d}");
        assert!(!seal::header_intact(b, w ^ d), "low half changed by {d}");
    }
}

#[test]
fn header_seal_solved_and_every_bit_counts() {
    use crate::seal;
    if !seal::HARDENED {
        return;
    }
    // The seal is solved for (`seal::seal_header`): the word it gives must pass, and a word
    // with any one bit flipped (an overflow's byte, a flag changed) must not.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = (x as usize & 0x7fff_ffff_fff0) | 0x10;
        let low = (x >> 40) as u32 & 0x003f_fff1;
        let w = seal::seal_header(b, low);
        assert_eq!(w as u32, low);
        assert!(seal::header_intact(b, w), "b = {b:#x}, low = {low:#x}");
        for bit in 0..64 {
            assert!(!seal::header_intact(b, w ^ 1 << bit), "b = {b:#x}, bit {bit}");
        }
        assert!(!seal::header_intact(b + 16, w) && !seal::header_intact(b - 16, w));
    }
}

/// A heap refuses a block of another arena's region, whatever routed it there (a thread
/// cache finds a block's arena in the region's header): nothing of the other heap changes.
fn refuses_another_arenas_block<H: Heap>() {
    let (mut a, mut b) = (H::EMPTY, H::EMPTY);
    a.set_arena(1);
    b.set_arena(2);
    // SAFETY: the test's own heap; every pointer given lies in its regions.
    let p = unsafe { a.alloc(100, MIN_ALIGN) };
    assert!(!p.is_null());
    // SAFETY: the test's own heap; every pointer given lies in its regions.
    assert_eq!(unsafe { b.free(p) }, Err(Misuse::InvalidPointer));
    // SAFETY: the test's own heap; every pointer given lies in its regions.
    assert_eq!(unsafe { b.usable_size(p) }, Err(Misuse::InvalidPointer));
    // SAFETY: the test's own heap; every pointer given lies in its regions.
    assert_eq!(unsafe { b.free_many(&[p as usize]) }, Err((p as usize, Misuse::InvalidPointer)));
    a.check().unwrap();
    // SAFETY: the test's own heap; every pointer given lies in its regions.
    unsafe { a.free(p) }.unwrap();
    a.trim();
    assert_eq!(a.stats().regions, 0);
}

#[test]
fn bestfit_refuses_another_arenas_block() {
    refuses_another_arenas_block::<BestFitHeap>();
}

#[test]
fn buddy_refuses_another_arenas_block() {
    refuses_another_arenas_block::<BuddyHeap>();
}

/// Misuse on both heaps: a stale pointer and an interior pointer are refused, and the heap
/// is unchanged by the refusal.
fn misuse<H: Heap>() {
    let mut h = H::EMPTY;
    // SAFETY: the test's own heap; every pointer given lies in its regions.
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
        let base = (a as usize & !(crate::heap::CHUNK - 1)) as *mut u8;
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

/// A batch that names a block twice, or a pointer that is no block, is refused with the
/// misuse (the thread cache then aborts): the second copy is seen as a double free.
#[test]
fn bestfit_free_many_reports_a_repeated_block() {
    let mut h = <BestFitHeap>::EMPTY;
    // SAFETY: the test's own heap; every pointer given lies in its regions.
    let blocks: Vec<usize> = (0..4).map(|_| unsafe { h.alloc(100, MIN_ALIGN) } as usize).collect();
    let batch = [blocks[1], blocks[0], blocks[1]];
    // SAFETY: the test's own heap; every pointer given lies in its regions.
    assert_eq!(unsafe { h.free_many(&batch) }, Err((blocks[1], Misuse::DoubleFree)));
    let interior = [blocks[2], blocks[3] + 16];
    // SAFETY: the test's own heap; every pointer given lies in its regions.
    assert_eq!(unsafe { h.free_many(&interior) }, Err((blocks[3] + 16, Misuse::InvalidPointer)));
    h.check().unwrap();
}

/// A block refused in the middle of a run leaves the blocks before it freed, the heap
/// consistent (as one free at a time would): a second free of a neighbour, joined from
/// below.
#[test]
fn bestfit_free_many_refusal_inside_a_run_keeps_the_heap_whole() {
    let mut h = <BestFitHeap>::EMPTY;
    // SAFETY: the test's own heap; every pointer given lies in its regions.
    let b: Vec<usize> = (0..3).map(|_| unsafe { h.alloc(100, MIN_ALIGN) } as usize).collect();
    // SAFETY: the test's own heap; every pointer given lies in its regions.
    unsafe { h.free_many(&[b[1]]) }.unwrap();
    // SAFETY: the test's own heap; every pointer given lies in its regions.
    assert_eq!(unsafe { h.free_many(&[b[2], b[1]]) }, Err((b[1], Misuse::DoubleFree)));
    h.check().unwrap();
    // SAFETY: the test's own heap; every pointer given lies in its regions.
    unsafe { h.free(b[0] as *mut u8) }.unwrap();
    h.check().unwrap();
    assert_eq!(h.stats().used, 0);
}

/// The cache's classes, for every request a class serves: the class holds it, is the
/// smallest that does, and malloc's fast path agrees with it wherever it answers.
fn classes_cover_every_request<H: Heap>(max_waste: impl Fn(usize) -> usize) {
    let largest = H::class_size(H::CACHE_CLASSES - 1);
    let mut last = 0;
    for size in 1..=largest {
        let class = H::cache_class(size).unwrap_or_else(|| panic!("{size} bytes not cached"));
        assert!(class < H::CACHE_CLASSES);
        assert!(class == last || class == last + 1, "class {class} after {last} at {size}");
        last = class;
        assert!(H::class_size(class) >= size, "class {class} holds {size} short");
        assert!(class == 0 || H::class_size(class - 1) < size, "{size}: class {class} too big");
        assert!(H::class_size(class) - size <= max_waste(size), "{size}: class {class} wastes");
        match fast_bin_number::<H>(size) {
            Some(bin) if bin >= FIRST_CLASS_BIN => {
                assert_eq!(bin, class + FIRST_CLASS_BIN, "fast_bin of {size}")
            }
            _ => {}
        }
    }
    assert_eq!(last, H::CACHE_CLASSES - 1, "some class serves no request");
    assert_eq!(H::cache_class(largest + 1), None);
    // Past the classes, and for 0, the fast path finds no bin or an always empty one.
    for size in [0, largest + 1, largest * 2, 1 << 40, usize::MAX] {
        assert!(
            fast_bin_number::<H>(size).is_none_or(|bin| !is_class_bin::<H>(bin)),
            "fast_bin of {size}"
        );
    }
}

/// `Heap::fast_bin`'s bin number (its answer less `FAST_BIN_SKIP`), checked to be a bin of
/// the cache.
fn fast_bin_number<H: Heap>(size: usize) -> Option<usize> {
    let bin = H::fast_bin(size)? - H::FAST_BIN_SKIP;
    assert!(bin < FAST_BINS, "fast_bin of {size}: {bin}");
    Some(bin)
}

/// Whether the cache's bin `bin` is a class's (the others are always empty and full).
fn is_class_bin<H: Heap>(bin: usize) -> bool {
    (FIRST_CLASS_BIN..FIRST_CLASS_BIN + H::CACHE_CLASSES).contains(&bin)
}

#[test]
fn bestfit_classes_exact_to_1k_then_eight_per_power_of_two() {
    // Up to 1 KiB a class per 16 bytes (the header and the rounding to 16); above it, a
    // block at most an eighth bigger than the request's own.
    classes_cover_every_request::<BestFitHeap>(|size| {
        if size <= 1024 + 8 { 23 } else { size / 8 + 24 }
    });
    assert_eq!(<BestFitHeap>::CACHE_CLASSES, 64 + 40);
    let blocks: Vec<usize> =
        (63..<BestFitHeap>::CACHE_CLASSES).map(|c| <BestFitHeap>::class_size(c) + 8).collect();
    assert_eq!(&blocks[..10], &[1040, 1168, 1296, 1424, 1552, 1680, 1808, 1936, 2064, 2320]);
    assert_eq!(blocks.last(), Some(&((32 << 10) + 16)));
    // A power of two, or a step of an eighth of one, takes no more than its header and the
    // rounding to 16 on top.
    for size in [1024, 1152, 2048, 3072, 4096, 4608, 8192, 12288, 16384, 20480, 32768] {
        let class = <BestFitHeap>::cache_class(size).unwrap();
        assert_eq!(<BestFitHeap>::class_size(class), size + 8, "{size}");
    }
    // The fast path leaves the coarse classes to the miss path.
    assert_eq!(fast_bin_number::<BestFitHeap>(1032), Some(63 + FIRST_CLASS_BIN));
    assert_eq!(<BestFitHeap>::fast_bin(1033), None);
}

#[test]
fn buddy_classes_are_the_orders_to_32k() {
    classes_cover_every_request::<BuddyHeap>(|size| size.max(16));
    assert_eq!(<BuddyHeap>::CACHE_CLASSES, 12);
    assert_eq!(<BuddyHeap>::class_size(11), 32 << 10);
}

/// Free's lock-free class of a live block: a block of every class's exact size has that
/// class; a block of another size (allocated past the cache, or resized in place by
/// realloc) has none, so the cache never serves it to a request it is too small for.
fn peek_class_only_for_class_sizes<H: Heap>() {
    let mut h = H::EMPTY;
    for class in 0..H::CACHE_CLASSES {
        let p = alloc(&mut h, H::class_size(class));
        // SAFETY: p is a live block of the test's own heap.
        assert_eq!(unsafe { H::peek_class(p as *mut u8) }, Some(class), "class {class}");
        // SAFETY: as above.
        let bin = unsafe { H::peek_bin(p as *mut u8) };
        assert_eq!(bin, Some(class + FIRST_CLASS_BIN), "bin of class {class}");
    }
    let largest = H::class_size(H::CACHE_CLASSES - 1);
    let p = alloc(&mut h, largest + 1);
    // SAFETY: p is a live block of the test's own heap.
    assert_eq!(unsafe { H::peek_class(p as *mut u8) }, None, "above the classes");
    // Free's fast path: no bin, or an always full one.
    // SAFETY: as above.
    let bin = unsafe { H::peek_bin(p as *mut u8) };
    assert!(bin.is_none_or(|b| b < FAST_BINS && !is_class_bin::<H>(b)));
    for size in [4097, 5000, 9000, 20000, 32000] {
        let p = alloc(&mut h, size);
        // SAFETY: p is a live block of the test's own heap.
        let usable = unsafe { h.usable_size(p as *mut u8) }.unwrap();
        // SAFETY: as above.
        match unsafe { H::peek_class(p as *mut u8) } {
            Some(class) => assert_eq!(H::class_size(class), usable, "{size}"),
            None => assert!(H::cache_class(size).is_none_or(|c| H::class_size(c) != usable)),
        }
    }
    // A class's block shrunk in place.
    let p = alloc(&mut h, H::class_size(H::cache_class(20000).unwrap()));
    // SAFETY: p is a live block of the test's own heap.
    unsafe {
        assert!(H::peek_class(p as *mut u8).is_some());
        assert_eq!(h.resize_in_place(p as *mut u8, 9000), Ok(true));
        let usable = h.usable_size(p as *mut u8).unwrap();
        match H::peek_class(p as *mut u8) {
            Some(class) => assert_eq!(H::class_size(class), usable),
            None => assert_ne!(H::class_size(H::cache_class(9000).unwrap()), usable),
        }
    }
    h.check().unwrap();
}

#[test]
fn bestfit_peek_class_only_for_class_sizes() {
    peek_class_only_for_class_sizes::<BestFitHeap>();
    // Best fit's blocks of 5000 bytes and a block shrunk to 9000 are of no class.
    let mut h = <BestFitHeap>::EMPTY;
    let p = alloc(&mut h, 5000);
    // SAFETY: p is a live block of the test's own heap.
    assert_eq!(unsafe { <BestFitHeap>::peek_class(p as *mut u8) }, None);
    let q = alloc(&mut h, <BestFitHeap>::class_size(<BestFitHeap>::cache_class(20000).unwrap()));
    // SAFETY: q is a live block of the test's own heap.
    unsafe {
        assert_eq!(h.resize_in_place(q as *mut u8, 9000), Ok(true));
        assert_eq!(<BestFitHeap>::peek_class(q as *mut u8), None);
    }
}

#[test]
fn buddy_peek_class_only_for_class_sizes() {
    peek_class_only_for_class_sizes::<BuddyHeap>();
}

/// Buddy's free path numbers a bin from whatever a pointer's map entry holds: for every
/// pointer that is not a live block of a class (inside a block, a free block, a block
/// merged away, one too large to cache) the bin is always full, or there is none.
#[test]
fn buddy_peek_bin_is_a_class_bin_only_for_live_class_blocks() {
    let mut h = <BuddyHeap>::EMPTY;
    let live: Vec<usize> = (0..14).map(|order| alloc(&mut h, 16 << order)).collect();
    let freed: Vec<usize> = (0..12).map(|order| alloc(&mut h, 16 << order)).collect();
    for &p in &freed {
        // SAFETY: the test's own heap.
        unsafe { h.free(p as *mut u8) }.unwrap();
    }
    let full = |p: usize| {
        // SAFETY: p lies in a region of the test's own heap.
        unsafe { <BuddyHeap>::peek_bin(p as *mut u8) }
            .is_none_or(|b| b < FAST_BINS && !is_class_bin::<BuddyHeap>(b))
    };
    for (order, &p) in live.iter().enumerate() {
        // SAFETY: as above.
        let bin = unsafe { <BuddyHeap>::peek_bin(p as *mut u8) };
        if order < <BuddyHeap>::CACHE_CLASSES {
            assert_eq!(bin, Some(order + FIRST_CLASS_BIN), "order {order}");
        } else {
            assert!(full(p), "order {order}");
        }
        for inside in [1, 8, 16, 32, 16 << order >> 1] {
            if inside < 16 << order {
                assert!(full(p + inside), "order {order} + {inside}");
            }
        }
    }
    for &p in &freed {
        assert!(full(p), "freed {p:#x}");
    }
    let region = live[0] & !(CHUNK - 1);
    for offset in [0, 16, 4096, (CHUNK >> 4) - 16] {
        assert!(full(region + offset), "metadata at {offset:#x}");
    }
    h.check().unwrap();
}

#[test]
fn statistics_table_units() {
    use crate::diag::Line;
    let show = |f: &dyn Fn(&mut Line)| {
        let mut line = Line::new();
        f(&mut line);
        String::from_utf8(line.as_bytes().to_vec()).unwrap()
    };
    assert_eq!(show(&|l| { l.grouped(0); }), "0");
    assert_eq!(show(&|l| { l.grouped(999); }), "999");
    assert_eq!(show(&|l| { l.grouped(1000); }), "1,000");
    assert_eq!(show(&|l| { l.grouped(19_270_957); }), "19,270,957");
    assert_eq!(show(&|l| { l.bytes_human(0); }), "0 B");
    assert_eq!(show(&|l| { l.bytes_human(1023); }), "1023 B");
    assert_eq!(show(&|l| { l.bytes_human(1024); }), "1.0 KiB");
    assert_eq!(show(&|l| { l.bytes_human(1536); }), "1.5 KiB");
    assert_eq!(show(&|l| { l.bytes_human(4 << 20); }), "4.0 MiB");
    assert_eq!(show(&|l| { l.bytes_human((1 << 30) - 1); }), "1024.0 MiB");
    assert_eq!(show(&|l| { l.bytes_human(usize::MAX); }), "16384.0 PiB");
    assert_eq!(show(&|l| { l.percent(0); }), "0.0 %");
    assert_eq!(show(&|l| { l.percent(907); }), "90.7 %");
    assert_eq!(show(&|l| { l.percent(1000); }), "100.0 %");
    assert_eq!(show(&|l| { l.str("ab").right(5, |f| { f.str("x"); }); }), "ab    x");
    assert_eq!(show(&|l| { l.str("ab").pad_to(4).str("|"); }), "ab  |");
}
