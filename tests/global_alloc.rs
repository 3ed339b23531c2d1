//! bestbuddy as a Rust program's global allocator: this test binary, its harness included,
//! allocates from `BestBuddy`. `make test-rust-alloc` runs it on both heaps:
//! `cargo test --test global_alloc` (best fit) and the same with
//! `--no-default-features --features buddy`.
//!
//! The tests run in parallel threads of one process, so the statistics they read are only
//! ever compared as "more than before".

use std::alloc::{GlobalAlloc, Layout};
use std::collections::HashMap;
use std::sync::mpsc;
use std::thread;

use bestbuddy::BestBuddy;

#[global_allocator]
static GLOBAL: BestBuddy = BestBuddy;

/// The heap the features chose, as `bestbuddy_backend()` names it.
const EXPECTED_BACKEND: &str = if cfg!(feature = "buddy") {
    "buddy"
} else {
    "best-fit"
};

/// A byte that depends on a block's identity and the offset, so that a block whose contents
/// were moved wrongly, or overwritten by another block, shows it.
fn pattern(seed: usize, i: usize) -> u8 {
    (seed.wrapping_mul(31).wrapping_add(i.wrapping_mul(7)) % 251) as u8
}

fn fill(p: *mut u8, len: usize, seed: usize) {
    for i in 0..len {
        // SAFETY: the callers pass a live block of at least `len` bytes.
        unsafe { p.add(i).write(pattern(seed, i)) };
    }
}

fn check(p: *const u8, len: usize, seed: usize) {
    for i in 0..len {
        // SAFETY: the callers pass a live block of at least `len` bytes.
        let got = unsafe { p.add(i).read() };
        assert_eq!(
            got,
            pattern(seed, i),
            "byte {i} of a block of {len} (seed {seed})"
        );
    }
}

#[test]
fn serves_the_heap_the_features_chose() {
    assert_eq!(bestbuddy::global::BACKEND, EXPECTED_BACKEND);
}

#[test]
fn vec_string_hashmap_churn() {
    let mut map: HashMap<String, Vec<u32>> = HashMap::new();
    for round in 0..20u32 {
        for i in 0..2_000u32 {
            let key = format!("key-{}", (i * 7 + round) % 1_500);
            map.entry(key).or_default().push(i ^ round);
        }
        // Drop about a third of the keys each round, so that blocks are freed and reused.
        map.retain(|k, _| !k.len().is_multiple_of(3) || round % 2 == 0);
        let mut text = String::new();
        for (k, v) in map.iter().take(200) {
            text.push_str(k);
            text.push(':');
            text.push_str(&v.len().to_string());
            text.push(';');
        }
        assert!(text.len() > 200 * 8);
    }
    // Every value is still what was pushed: the sum of each vector, recomputed.
    let mut total = 0u64;
    for v in map.values() {
        total += v.iter().map(|&x| u64::from(x)).sum::<u64>();
        assert!(v.iter().all(|&x| x < 2_048));
    }
    assert!(total > 0);
    let mut words: Vec<String> = (0..50_000)
        .map(|i| format!("{:08}", i * 7_919 % 50_000))
        .collect();
    words.sort();
    words.dedup();
    assert_eq!(words.len(), 50_000);
    assert_eq!(words[0], "00000000");
    assert_eq!(words[49_999], "00049999");
}

/// Boxes made on one thread and dropped on another: each thread sends its boxes to the
/// next, which checks their contents and frees them (remote frees into another thread's
/// cache or arena).
#[test]
fn boxes_exchanged_across_threads() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 20_000;
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..THREADS).map(|_| mpsc::channel::<Box<[u8]>>()).unzip();
    let mut handles = Vec::new();
    for (t, rx) in receivers.into_iter().enumerate() {
        let tx = senders[(t + 1) % THREADS].clone();
        handles.push(thread::spawn(move || {
            for i in 0..PER_THREAD {
                // Sizes from 1 byte to 8 KiB, a few far larger.
                let len = if i % 997 == 0 {
                    200_000
                } else {
                    1 + (i * 37 + t) % 8_192
                };
                let seed = t * PER_THREAD + i;
                let block: Box<[u8]> = (0..len).map(|j| pattern(seed, j)).collect();
                tx.send(block).expect("the next thread is receiving");
            }
            drop(tx);
            let from = (t + THREADS - 1) % THREADS;
            let mut received = 0;
            for (i, block) in rx.iter().enumerate() {
                let seed = from * PER_THREAD + i;
                check(block.as_ptr(), block.len(), seed);
                received += 1;
            }
            received
        }));
    }
    drop(senders);
    for h in handles {
        assert_eq!(h.join().expect("no thread panicked"), PER_THREAD);
    }
}

#[test]
fn alloc_zeroed_gives_zeros() {
    let sizes = [1, 15, 16, 17, 100, 4_096, 65_536, 1 << 20, 3 << 20];
    for &align in &[1, 16, 64, 4_096, 1 << 20] {
        for &size in &sizes {
            let layout = Layout::from_size_align(size, align).unwrap();
            // Dirty a block of the same layout first, so that a zeroed one that reuses its
            // memory must have been cleared.
            // SAFETY: the layout's size is not zero; each block is freed with its layout.
            unsafe {
                let dirty = GLOBAL.alloc(layout);
                assert!(!dirty.is_null());
                dirty.write_bytes(0xA5, size);
                GLOBAL.dealloc(dirty, layout);
                let p = GLOBAL.alloc_zeroed(layout);
                assert!(!p.is_null(), "alloc_zeroed({size}, {align})");
                assert_eq!(
                    p as usize % align,
                    0,
                    "alignment of alloc_zeroed({size}, {align})"
                );
                let bytes = std::slice::from_raw_parts(p, size);
                assert!(
                    bytes.iter().all(|&b| b == 0),
                    "alloc_zeroed({size}, {align}) not zero"
                );
                GLOBAL.dealloc(p, layout);
            }
        }
    }
    // vec! of zeros goes through alloc_zeroed too.
    let v = vec![0u64; 1 << 18];
    assert!(v.iter().all(|&x| x == 0));
}

#[test]
fn every_alignment_is_honoured() {
    let mut align = 1;
    while align <= 4_096 {
        for &size in &[1, align.max(2) - 1, align, 3 * align + 5, 100_000] {
            aligned_block(size, align);
        }
        align *= 2;
    }
    for &size in &[8, 4_096, 1 << 20, 5 << 20] {
        aligned_block(size, 1 << 20);
    }
    // Types that ask for it: a Box and a Vec of page-aligned values.
    #[repr(align(4096))]
    struct Page([u8; 4_096]);
    let pages: Vec<Box<Page>> = (0..64).map(|i| Box::new(Page([i as u8; 4_096]))).collect();
    for (i, page) in pages.iter().enumerate() {
        assert_eq!(&**page as *const Page as usize % 4_096, 0);
        assert!(page.0.iter().all(|&b| b == i as u8));
    }
    let many: Vec<Page> = (0..16).map(|i| Page([i as u8; 4_096])).collect();
    assert_eq!(many.as_ptr() as usize % 4_096, 0);
}

/// A block of `size` bytes aligned to `align`: aligned, writable in full, and holding what
/// was written while another block of the same layout is live.
fn aligned_block(size: usize, align: usize) {
    let layout = Layout::from_size_align(size, align).unwrap();
    // SAFETY: the layout's size is not zero; each block is freed with its layout.
    unsafe {
        let a = GLOBAL.alloc(layout);
        let b = GLOBAL.alloc(layout);
        assert!(!a.is_null() && !b.is_null(), "alloc({size}, {align})");
        assert_eq!(a as usize % align, 0, "alloc({size}, {align}) at {a:p}");
        assert_eq!(b as usize % align, 0, "alloc({size}, {align}) at {b:p}");
        fill(a, size, 1);
        fill(b, size, 2);
        check(a, size, 1);
        check(b, size, 2);
        GLOBAL.dealloc(a, layout);
        GLOBAL.dealloc(b, layout);
    }
}

#[test]
fn realloc_keeps_contents_growing_and_shrinking() {
    let steps = [
        1,
        24,
        100,
        1_000,
        4_000,
        70_000,
        1 << 20,
        3 << 20,
        500,
        10,
        2_000_000,
        33,
    ];
    for &align in &[1, 8, 16, 32, 256, 4_096, 1 << 20] {
        let mut layout = Layout::from_size_align(steps[0], align).unwrap();
        // SAFETY: sizes are not zero; each realloc passes the block's current layout, and
        // the final block is freed with its own.
        unsafe {
            let mut p = GLOBAL.alloc(layout);
            assert!(!p.is_null());
            fill(p, layout.size(), align);
            for &size in &steps[1..] {
                let q = GLOBAL.realloc(p, layout, size);
                assert!(!q.is_null(), "realloc to {size} at alignment {align}");
                assert_eq!(
                    q as usize % align,
                    0,
                    "realloc to {size} at alignment {align}"
                );
                // What the block held up to the smaller of the two sizes survives the move.
                check(q, layout.size().min(size), align);
                p = q;
                layout = Layout::from_size_align(size, align).unwrap();
                fill(p, size, align);
            }
            GLOBAL.dealloc(p, layout);
        }
    }
    // A Vec that grows by pushing and shrinks to fit, and a String built by appends.
    let mut v: Vec<u32> = Vec::new();
    for i in 0..300_000u32 {
        v.push(i);
    }
    v.truncate(1_000);
    v.shrink_to_fit();
    assert!(v.iter().enumerate().all(|(i, &x)| x == i as u32));
    let mut s = String::new();
    for i in 0..20_000 {
        s.push_str(&i.to_string());
    }
    assert!(s.starts_with("0123456789101112"));
}

/// The calls went to bestbuddy: its own counters grew with them. Every other test may run
/// at the same time, so the figures are only compared as larger than before.
#[test]
fn the_allocator_served_the_calls() {
    let before = bestbuddy::stats();
    let small: Vec<Box<u64>> = (0..10_000).map(Box::new).collect();
    let zeroed = vec![0u8; 100_000];
    let layout = Layout::from_size_align(1_000, 256).unwrap();
    // SAFETY: the size is not zero; the block is resized and freed with its layouts.
    unsafe {
        let p = GLOBAL.alloc(layout);
        assert!(!p.is_null());
        let q = std::alloc::realloc(p, layout, 5_000);
        assert!(!q.is_null());
        let r = GLOBAL.alloc(Layout::from_size_align(100, 8).unwrap());
        let r = GLOBAL.realloc(r, Layout::from_size_align(100, 8).unwrap(), 10_000);
        assert!(!r.is_null());
        let during = bestbuddy::stats();
        assert!(
            during.live_blocks >= 10_000,
            "{} live blocks",
            during.live_blocks
        );
        assert!(during.heap_mapped > 0);
        assert!(during.heap_in_use_peak >= during.heap_in_use);
        GLOBAL.dealloc(r, Layout::from_size_align(10_000, 8).unwrap());
        std::alloc::dealloc(q, Layout::from_size_align(5_000, 256).unwrap());
    }
    drop(small);
    drop(zeroed);
    let after = bestbuddy::stats();
    assert!(
        after.calls_malloc >= before.calls_malloc + 10_000,
        "malloc calls"
    );
    assert!(after.calls_free >= before.calls_free + 10_000, "free calls");
    assert!(
        after.calls_memalign >= before.calls_memalign + 2,
        "memalign calls"
    );
    assert!(after.calls_calloc > before.calls_calloc, "calloc calls");
    assert!(after.calls_realloc > before.calls_realloc, "realloc calls");
    assert!(after.cache_hits > before.cache_hits, "thread cache hits");
    assert!(after.heap_mapped_peak > 0 && after.rss > 0);
}
