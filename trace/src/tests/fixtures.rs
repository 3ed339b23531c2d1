//! Writers of trace files for measuring and fuzzing, run by hand (ignored by `cargo test`):
//!
//! `BB_TRACE_OUT=big.bin BB_TRACE_RECORDS=10000000 cargo test --release -p bestbuddy-trace -- --ignored write_big_trace`
//! `BB_TRACE_OUT=fuzz/corpus/trace cargo test -p bestbuddy-trace -- --ignored write_fuzz_seeds`

use std::path::PathBuf;

use super::encoder::TraceWriter;
use super::roundtrip::every_kind;
use crate::Call;

fn out() -> PathBuf {
    PathBuf::from(std::env::var("BB_TRACE_OUT").expect("BB_TRACE_OUT names the output"))
}

/// A trace of 8 threads, each allocating and freeing in a sliding window of 1,000 blocks
/// of its own, chunks of 4,096 records: a program's steady state, streamed to the file.
#[test]
#[ignore]
fn write_big_trace() {
    let n: u64 = std::env::var("BB_TRACE_RECORDS").map_or(10_000_000, |s| s.parse().unwrap());
    let mut file = std::io::BufWriter::new(std::fs::File::create(out()).unwrap());
    let mut w = TraceWriter::new(1_000_000, 4096);
    let window = 1000;
    for i in 0..n / 2 {
        let t = (i % 8) as u32;
        let k = i / 8;
        let p = |k: u64| 0x7f00_0000_0000 + u64::from(t) * (1 << 32) + (k % (2 * window)) * 64;
        w.call(t + 1, i * 2, Call::Malloc { size: 16 + k % 48, result: p(k) });
        let free = if k >= window { p(k - window) } else { 0 };
        w.call(t + 1, i * 2 + 1, Call::Free { ptr: free });
        // Drains the finished chunks so that only the open buffers stay in memory.
        std::io::Write::write_all(&mut file, &std::mem::take(&mut w.out)).unwrap();
        w.written.clear();
    }
    let (bytes, _) = w.finish();
    std::io::Write::write_all(&mut file, &bytes).unwrap();
}

/// The seeds of fuzz/corpus/trace: small valid traces, one without END, cut ones.
#[test]
#[ignore]
fn write_fuzz_seeds() {
    let dir = out();
    std::fs::create_dir_all(&dir).unwrap();
    let mut w = TraceWriter::new(500, 4);
    for (i, c) in every_kind().into_iter().enumerate() {
        w.call((i % 3) as u32 + 1, i as u64 * 3, c);
    }
    let (all, _) = w.finish();
    let mut w = TraceWriter::new(0, 3);
    for i in 0..12u64 {
        let t = (i % 2) as u32 + 1;
        w.call(t, i, Call::Malloc { size: i, result: 0x1000 + i * 16 });
        w.call(t, i, Call::Free { ptr: 0x1000 + i * 16 });
    }
    let (pairs, _) = w.finish();
    let (no_end, _) = {
        let mut w = TraceWriter::new(0, 2);
        w.call(1, 1, Call::Live { size: 32, result: 0x5000 });
        w.call(1, 2, Call::Realloc { ptr: 0x5000, size: 0, result: 0 });
        w.finish_without_end()
    };
    let seeds: [(&str, &[u8]); 6] = [
        ("every-kind", &all),
        ("pairs", &pairs),
        ("no-end", &no_end),
        ("cut-payload", &all[..all.len() - 45]),
        ("cut-chunk-header", &pairs[..32 + 20]),
        ("header-only", &all[..32]),
    ];
    for (name, bytes) in seeds {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}
