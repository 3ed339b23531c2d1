//! A Rust program on bestbuddy: `#[global_allocator]` is the only line it takes. The program
//! counts words, sorts strings, sums vectors on several threads, builds a large buffer and
//! page-aligned values, checks each result, then prints what the allocator counted.
//!
//! ```sh
//! cargo run --release --example global_alloc                                   # best fit
//! cargo run --release --example global_alloc --no-default-features --features buddy
//! ```
//!
//! `BESTBUDDY_STATS=1` in the environment also prints the allocator's full table at exit.

use std::collections::{BTreeMap, HashMap};
use std::thread;

use bestbuddy::BestBuddy;

#[global_allocator]
static GLOBAL: BestBuddy = BestBuddy;

/// A page-aligned value: its boxes come from the allocator's aligned path.
#[repr(align(4096))]
struct Page([u64; 512]);

fn main() {
    // Words: a text of 200,000 words from a small vocabulary, counted in a HashMap.
    let vocabulary = [
        "alloc", "free", "buddy", "best", "fit", "heap", "arena", "cache",
    ];
    let text: String = (0..200_000)
        .map(|i: usize| vocabulary[(i * i + 3 * i) % vocabulary.len()])
        .collect::<Vec<_>>()
        .join(" ");
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for word in text.split(' ') {
        *counts.entry(word).or_default() += 1;
    }
    assert_eq!(counts.values().sum::<usize>(), 200_000);
    let by_word: BTreeMap<_, _> = counts.iter().collect();
    println!("words: {by_word:?}");

    // Strings: 100,000 formatted, sorted and deduplicated.
    let mut names: Vec<String> = (0..100_000u64)
        .map(|i| format!("item-{:06}", i * 7_919 % 100_000))
        .collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 100_000);
    assert_eq!(names[12_345], "item-012345");
    drop(names);

    // Threads: each builds its own vectors and sends back a sum; the vectors are freed on
    // the threads that made them, the results on the main thread.
    let workers: Vec<_> = (0..4u64)
        .map(|t| {
            thread::spawn(move || {
                let mut total = 0u64;
                for round in 0..50u64 {
                    let v: Vec<u64> = (0..10_000).map(|i| i * t + round).collect();
                    total += v.iter().sum::<u64>();
                }
                Box::new(total)
            })
        })
        .collect();
    let sums: Vec<u64> = workers
        .into_iter()
        .map(|w| *w.join().expect("worker ran"))
        .collect();
    for (t, &sum) in sums.iter().enumerate() {
        let t = t as u64;
        // sum over rounds r < 50 and i < 10,000 of (i * t + r)
        let expected = 50 * t * (10_000 * 9_999 / 2) + 10_000 * (50 * 49 / 2);
        assert_eq!(sum, expected, "thread {t}");
    }
    println!("thread sums: {sums:?}");

    // A large buffer (64 MiB, a mapping of its own), written and read back.
    let mut big = vec![0u8; 64 << 20];
    for (i, b) in big.iter_mut().enumerate().step_by(4_096) {
        *b = (i >> 12) as u8;
    }
    assert!(
        big.iter()
            .enumerate()
            .step_by(4_096)
            .all(|(i, &b)| b == (i >> 12) as u8)
    );
    drop(big);

    // Aligned values: boxes of page-aligned pages.
    let pages: Vec<Box<Page>> = (0..256u64).map(|i| Box::new(Page([i; 512]))).collect();
    assert!(
        pages
            .iter()
            .all(|p| (&**p as *const Page as usize).is_multiple_of(4_096))
    );
    assert!(
        pages
            .iter()
            .enumerate()
            .all(|(i, p)| p.0.iter().all(|&x| x == i as u64))
    );

    let s = bestbuddy::stats();
    println!(
        "heap: {} ({})",
        bestbuddy::global::BACKEND,
        env!("CARGO_PKG_VERSION")
    );
    println!(
        "calls: malloc {}, free {}, calloc {}, realloc {}, memalign {}",
        s.calls_malloc, s.calls_free, s.calls_calloc, s.calls_realloc, s.calls_memalign
    );
    println!(
        "thread caches: {} hits, {} refills, {} frees, {} remote frees",
        s.cache_hits, s.cache_misses, s.cache_frees, s.remote_frees
    );
    println!(
        "now: {} live blocks, {} KiB; heap {} KiB mapped (peak {} KiB), {} KiB in use (peak {} KiB)",
        s.live_blocks,
        s.live_bytes >> 10,
        s.heap_mapped >> 10,
        s.heap_mapped_peak >> 10,
        s.heap_in_use >> 10,
        s.heap_in_use_peak >> 10
    );
    println!(
        "large mappings: {} now, peak {} KiB; RSS {} KiB (peak {} KiB)",
        s.large_blocks,
        s.large_bytes_peak >> 10,
        s.rss >> 10,
        s.rss_peak >> 10
    );
    // The figures show the allocator served this program: the 100,000 names made and
    // freed, the 256 pages among the live blocks, the 64 MiB buffer at the large mappings'
    // peak.
    assert!(s.calls_malloc > 100_000 && s.calls_free > 100_000);
    assert!(s.calls_memalign >= 256);
    assert!(s.live_blocks >= 256);
    assert!(s.large_bytes_peak >= 64 << 20);
    drop(pages);
    println!("global_alloc: all checks passed");
}
