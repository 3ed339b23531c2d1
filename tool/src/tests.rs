//! Replaying a trace the library recorded reproduces the library's own figures: a C program
//! (tests/c/stats_points.c) runs on the best-fit library with BESTBUDDY_TRACE set and prints
//! `live_bytes` from `bestbuddy_stats_get` at marked points; the replay of its trace through
//! best fit must have the same live usable bytes at each. The program also sums
//! `malloc_usable_size` over its own blocks: the replay's bytes must change by as much from
//! point to point (libc's own blocks, in the replay's figure and not the program's sum, are
//! the difference at the first point, and stay so).
//!
//! Needs the library built (`make`; or the path in `BESTBUDDY_TEST_LIB`) and a compiler;
//! a library without the trace writer writes no trace, and the test says it skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

use bestbuddy::bestfit::BestFitHeap;
use bestbuddy_trace::{Call, Trace};

use crate::engine::Replay;
use crate::regions::Mapped;

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bestbuddy-tool-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The live usable bytes of the replay at each `free(NULL)` of the trace.
fn replay_points(trace: &Path) -> Vec<u64> {
    let mut t = Trace::open(trace).unwrap();
    let mut replay: Replay<BestFitHeap<Mapped<0>>> = Replay::new();
    let mut points = Vec::new();
    for rec in t.records() {
        let rec = rec.unwrap();
        replay.apply(&rec.call).unwrap();
        if rec.call == (Call::Free { ptr: 0 }) {
            points.push(replay.live_usable());
        }
    }
    points
}

#[test]
fn replay_matches_the_librarys_own_live_bytes() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::env::var_os("BESTBUDDY_TEST_LIB")
        .map_or_else(|| manifest.join("../out/bestfit/libbestbuddy.so"), PathBuf::from);
    if !lib.is_file() {
        eprintln!("skipped: no library at {} (run make)", lib.display());
        return;
    }
    let dir = scratch();
    let exe = dir.join("stats_points");
    let cc = Command::new("cc")
        .args(["-O1", "-o"])
        .arg(&exe)
        .arg(manifest.join("tests/c/stats_points.c"))
        .arg("-ldl")
        .status()
        .unwrap();
    assert!(cc.success());
    let trace = dir.join("t.trace");
    // `junk=1` sets the thread caches aside (as the replay has none): every call reaches
    // the heap as in the replay, so the same blocks are split and reused.
    let out = Command::new(&exe)
        .env("LD_PRELOAD", &lib)
        .env("BESTBUDDY_TRACE", &trace)
        .env("BESTBUDDY_OPTIONS", "junk=1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    if !trace.is_file() {
        eprintln!("skipped: {} wrote no trace (a library without the trace writer)", lib.display());
        return;
    }
    let lines: Vec<(i64, u64)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let (a, b) = l.split_once(' ').unwrap();
            (a.parse().unwrap(), b.parse().unwrap())
        })
        .collect();
    assert_eq!(lines.len(), 9);
    let replayed = replay_points(&trace);
    assert_eq!(replayed.len(), 9, "one free(NULL) a point, and no other");
    // libc's own blocks (stdout's buffer among them) are in the replay, not in the program's
    // sum; the program makes them all before the first point.
    let libc_own = replayed[0] - lines[0].1;
    let own: Vec<u64> = lines.iter().map(|l| l.1 + libc_own).collect();
    assert_eq!(replayed, own, "replayed (left) and the program's own usable bytes (right) at each point");
    if lines[0].0 >= 0 {
        let reported: Vec<u64> = lines.iter().map(|l| l.0 as u64).collect();
        assert_eq!(replayed, reported, "replayed (left) and bestbuddy_stats_get's (right) live bytes");
    } else {
        eprintln!("bestbuddy_stats_get: not in {}; compared with malloc_usable_size only", lib.display());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
