//! The merged order across threads, and repeated records.

use super::encoder::{Chunk, TraceWriter, end_chunk, header};
use super::{assert_rejects, read_all};
use crate::{Call, Kind};

fn m(result: u64) -> Call {
    Call::Malloc { size: 8, result }
}

#[test]
fn ties_go_live_free_realloc_others_then_thread() {
    let mut w = TraceWriter::new(100, 100);
    // All at time 5, each thread one record; thread numbers reversed against the ranks.
    w.call(5, 5, Call::Live { size: 8, result: 0x10 });
    w.call(4, 5, Call::Free { ptr: 0x20 });
    w.call(3, 5, Call::ReallocArray { ptr: 0x30, count: 1, size: 1, result: 0x31 });
    w.call(2, 5, Call::Realloc { ptr: 0x40, size: 1, result: 0x41 });
    w.call(1, 5, m(0x50));
    w.call(6, 5, Call::Calloc { count: 1, size: 1, result: 0x60 });
    w.call(7, 4, m(0x70));
    w.call(8, 6, Call::Live { size: 1, result: 0x80 });
    let (bytes, _) = w.finish();
    let got: Vec<(u32, Kind)> = read_all(&bytes).unwrap().iter().map(|r| (r.thread, r.kind())).collect();
    assert_eq!(
        got,
        [
            (7, Kind::Malloc),
            (5, Kind::Live),
            (4, Kind::Free),
            (2, Kind::Realloc),
            (3, Kind::ReallocArray),
            (1, Kind::Malloc),
            (6, Kind::Calloc),
            (8, Kind::Live),
        ]
    );
}

#[test]
fn a_thread_keeps_its_own_order_at_equal_times() {
    let mut w = TraceWriter::new(0, 2);
    // Thread 1: malloc then free at the same time; its free must not jump its malloc.
    w.call(1, 5, m(0x10));
    w.call(1, 5, Call::Free { ptr: 0x10 });
    w.call(2, 5, Call::Free { ptr: 0x99 });
    w.call(2, 7, m(0x20));
    w.call(1, 7, m(0x30));
    let (bytes, _) = w.finish();
    let got: Vec<(u32, u64)> = read_all(&bytes).unwrap().iter().map(|r| (r.thread, r.seq)).collect();
    assert_eq!(got, [(2, 0), (1, 0), (1, 1), (1, 2), (2, 1)]);
}

#[test]
fn interleaved_chunks_merge_by_time() {
    let mut w = TraceWriter::new(0, 3);
    for i in 0..100u64 {
        w.call((i % 3) as u32 + 1, i * 7 % 5 + i * 10, m(0x1000 + i * 16));
    }
    let (bytes, written) = w.finish();
    let recs = read_all(&bytes).unwrap();
    assert_eq!(recs.len(), written.len());
    let mut expected = written.clone();
    expected.sort_by_key(|w| (w.time, w.thread, w.seq));
    let got: Vec<(u32, u64)> = recs.iter().map(|r| (r.thread, r.seq)).collect();
    let want: Vec<(u32, u64)> = expected.iter().map(|w| (w.thread, w.seq)).collect();
    assert_eq!(got, want);
}

/// A trace of thread 1: chunk A (seq 0..4), then a chunk starting at `second_seq` holding
/// the records from there to 6 (the same bytes for the repeated ones).
fn with_second_chunk(second_seq: u64) -> (Vec<u8>, usize) {
    let calls: Vec<Call> = (0..6).map(|i| m(0x100 + i * 16)).collect();
    let mut a = Chunk::new(1, 9, 0, 10);
    for (i, c) in calls[..4].iter().enumerate() {
        a.push(10 + i as u64, *c);
    }
    let mut b = Chunk::new(1, 9, second_seq, 10 + second_seq);
    for (i, c) in calls.iter().enumerate().skip(second_seq as usize) {
        b.push(10 + i as u64, *c);
    }
    let mut bytes = header(1, 0, 1, 1, 0);
    bytes.extend(a.bytes());
    let b_at = bytes.len();
    bytes.extend(b.bytes());
    bytes.extend(end_chunk());
    (bytes, b_at)
}

#[test]
fn repeated_records_are_read_once() {
    for second in 0..=4 {
        let (bytes, _) = with_second_chunk(second);
        let recs = read_all(&bytes).unwrap();
        let seqs: Vec<u64> = recs.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [0, 1, 2, 3, 4, 5], "second chunk from {second}");
        assert_eq!(super::open(&bytes).unwrap().record_count(), 6);
    }
}

#[test]
fn a_chunk_wholly_repeated_is_skipped() {
    let mut a = Chunk::new(1, 9, 0, 10);
    a.push(10, m(0x10));
    a.push(11, m(0x20));
    let mut again = Chunk::new(1, 9, 0, 10);
    again.push(10, m(0x10));
    let mut c = Chunk::new(1, 9, 2, 12);
    c.push(12, m(0x30));
    let mut bytes = header(1, 0, 1, 1, 0);
    for ch in [&a, &again, &c] {
        bytes.extend(ch.bytes());
    }
    let seqs: Vec<u64> = read_all(&bytes).unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [0, 1, 2]);
}

#[test]
fn a_chunk_past_the_next_sequence_is_rejected() {
    let (bytes, b_at) = with_second_chunk(5);
    assert_rejects(&bytes, b_at as u64 + 24, "thread 1 skips records: its chunk starts at sequence 5, expected 4");
    // The first chunk of a thread must start at 0.
    let mut c = Chunk::new(3, 9, 1, 10);
    c.push(10, m(0x10));
    let mut bytes = header(1, 0, 1, 1, 0);
    bytes.extend(c.bytes());
    assert_rejects(&bytes, 32 + 24, "expected 0");
}

#[test]
fn threads_one_after_another_hold_one_buffer_at_a_time() {
    let mut w = TraceWriter::new(0, 4);
    // 50 threads in turn, each with two chunks, beside a thread 1 that lives throughout.
    for t in 2..52u32 {
        let at = u64::from(t) * 100;
        w.call(1, at, m(0x10 + u64::from(t)));
        for k in 0..6 {
            w.call(t, at + 1 + k, m(0x1_0000 * u64::from(t) + k * 16));
        }
        w.flush(t);
    }
    let (bytes, written) = w.finish();
    let mut t = super::open(&bytes).unwrap();
    let mut recs = t.records();
    let mut n = 0;
    let mut most = 0;
    while let Some(r) = recs.next() {
        r.unwrap();
        n += 1;
        most = most.max(recs.buffers_held());
    }
    assert_eq!(n, written.len());
    assert!(most <= 2, "{most} buffers held at once");
}
