//! The history checker: possible histories pass, the first impossible record is named.

use super::encoder::TraceWriter;
use super::open;
use crate::{Call, CheckError, check};

/// Runs the checker over `calls` of thread 1 (one per ns); the error's offset and message.
fn check_calls(calls: &[Call]) -> Result<crate::Summary, (u64, String, u64)> {
    let mut w = TraceWriter::new(0, 3);
    for (i, c) in calls.iter().enumerate() {
        w.call(1, i as u64, *c);
    }
    let (bytes, written) = w.finish();
    let mut t = open(&bytes).unwrap();
    check(&mut t).map_err(|e| match e {
        CheckError::Impossible(i) => {
            let seq = written.iter().find(|w| w.offset == i.offset).unwrap().seq;
            assert_eq!(seq, i.seq);
            (i.offset, i.message, seq)
        }
        CheckError::Invalid(e) => panic!("{e}"),
    })
}

#[test]
fn possible_histories_pass() {
    let s = check_calls(&[
        Call::Live { size: 16, result: 0x10 },
        Call::Malloc { size: 8, result: 0x20 },
        Call::Free { ptr: 0 },
        Call::Realloc { ptr: 0x20, size: 100, result: 0x20 },
        Call::Realloc { ptr: 0x20, size: 200, result: 0x30 },
        Call::Malloc { size: 8, result: 0x20 },
        Call::Realloc { ptr: 0x30, size: 1 << 50, result: 0 },
        Call::Realloc { ptr: 0x30, size: 0, result: 0 },
        Call::Malloc { size: 8, result: 0x30 },
        Call::ReallocArray { ptr: 0x30, count: 0, size: 8, result: 0 },
        Call::ReallocArray { ptr: 0, count: 2, size: 8, result: 0x30 },
        Call::Realloc { ptr: 0, size: 0, result: 0x40 },
        Call::PosixMemalign { align: 64, size: 8, code: 12, result: 0 },
        Call::Calloc { count: 2, size: 4, result: 0x50 },
        Call::Free { ptr: 0x10 },
    ])
    .unwrap();
    // Live at the end: 0x20 (8 bytes), 0x30 (2 x 8), 0x40 (0), 0x50 (2 x 4).
    assert_eq!((s.records, s.live_blocks, s.live_bytes), (15, 4, 32));
}

#[test]
fn the_first_impossibility_is_named() {
    let e = check_calls(&[Call::Malloc { size: 8, result: 0x20 }, Call::Calloc { count: 1, size: 1, result: 0x20 }]).unwrap_err();
    assert_eq!((e.1.as_str(), e.2), ("calloc returned 0x20, which is already live", 1));
    let e = check_calls(&[Call::Malloc { size: 8, result: 0x20 }, Call::Free { ptr: 0x20 }, Call::Free { ptr: 0x20 }]).unwrap_err();
    assert_eq!((e.1.as_str(), e.2), ("free of 0x20, which is not live", 2));
    let e = check_calls(&[Call::Realloc { ptr: 0x20, size: 8, result: 0x30 }]).unwrap_err();
    assert_eq!(e.1, "realloc of 0x20, which is not live");
    let e = check_calls(&[
        Call::Malloc { size: 8, result: 0x20 },
        Call::Malloc { size: 8, result: 0x30 },
        Call::Realloc { ptr: 0x20, size: 8, result: 0x30 },
    ])
    .unwrap_err();
    assert_eq!((e.1.as_str(), e.2), ("realloc returned 0x30, which is already live", 2));
    // A failed realloc keeps p: freeing it after is fine, a second free is not.
    let e = check_calls(&[
        Call::Live { size: 8, result: 0x20 },
        Call::Realloc { ptr: 0x20, size: 8, result: 0 },
        Call::Free { ptr: 0x20 },
        Call::Live { size: 8, result: 0x20 },
        Call::Live { size: 8, result: 0x20 },
    ])
    .unwrap_err();
    assert_eq!((e.1.as_str(), e.2), ("live returned 0x20, which is already live", 4));
}

#[test]
fn a_block_freed_and_reused_across_threads_at_one_time() {
    // Thread 2 frees 0x20 at time 5; thread 1 gets it at time 5: FREE sorts first.
    let mut w = TraceWriter::new(0, 10);
    w.call(2, 1, Call::Malloc { size: 8, result: 0x20 });
    w.call(1, 5, Call::Malloc { size: 8, result: 0x20 });
    w.call(2, 5, Call::Free { ptr: 0x20 });
    let (bytes, _) = w.finish();
    assert!(check(&mut open(&bytes).unwrap()).is_ok());
}
