//! What the encoder writes comes back: every kind, every null flag, extreme values.

use super::encoder::{TraceWriter, Written};
use super::{open, read_all};
use crate::{Call, Kind, Record, check};

/// Every kind with and without its null flags, pointers far apart in both directions.
pub(crate) fn every_kind() -> Vec<Call> {
    let hi = 0x7fff_ffff_ffff_0000;
    vec![
        Call::Live { size: 24, result: 0x5555_0000 },
        Call::Malloc { size: 1, result: 0x7fff_0010 },
        Call::Malloc { size: u64::MAX, result: 0 },
        Call::Free { ptr: 0x7fff_0010 },
        Call::Free { ptr: 0 },
        Call::Calloc { count: 3, size: 7, result: hi },
        Call::Calloc { count: u64::MAX, size: 2, result: 0 },
        Call::Realloc { ptr: hi, size: 100, result: 16 },
        Call::Realloc { ptr: 0, size: 5, result: 0x1000 },
        Call::Realloc { ptr: 0x1000, size: 1 << 40, result: 0 },
        Call::Realloc { ptr: 0x1000, size: 0, result: 0 },
        Call::ReallocArray { ptr: 16, count: 4, size: 8, result: 0x2000 },
        Call::ReallocArray { ptr: 0, count: 2, size: 2, result: 0x3000 },
        Call::ReallocArray { ptr: 0x3000, count: 1 << 62, size: 8, result: 0 },
        Call::PosixMemalign { align: 64, size: 100, code: 0, result: 0x4040 },
        Call::PosixMemalign { align: 3, size: 100, code: 22, result: 0 },
        Call::AlignedAlloc { align: 4096, size: 4096, result: 0x10000 },
        Call::AlignedAlloc { align: 4096, size: 1, result: 0 },
        Call::Memalign { align: 128, size: 9, result: 0x20080 },
        Call::Memalign { align: 1 << 63, size: 9, result: 0 },
        Call::Valloc { size: 10, result: 0x30000 },
        Call::Valloc { size: u64::MAX - 1, result: 0 },
        Call::Pvalloc { size: 10, result: 0x40000 },
        Call::Pvalloc { size: 1 << 63, result: 0 },
    ]
}

pub(crate) fn expect(rec: &Record, w: &Written) {
    assert_eq!(
        (rec.thread, rec.tid, rec.seq, rec.time, rec.offset, rec.call),
        (w.thread, w.tid, w.seq, w.time, w.offset, w.call)
    );
}

#[test]
fn every_kind_and_flag_round_trips() {
    let mut w = TraceWriter::new(1_000_000_000, 5);
    for (i, call) in every_kind().into_iter().enumerate() {
        w.call(1, i as u64 * (1 << 40) + i as u64, call);
    }
    let (bytes, written) = w.finish();
    let mut t = open(&bytes).unwrap();
    assert!(t.status().is_complete());
    assert_eq!(t.status().warnings(), Vec::<String>::new());
    assert_eq!(t.header().pid, 1234);
    assert_eq!(t.record_count(), written.len() as u64);
    let recs: Vec<Record> = t.records().collect::<Result<_, _>>().unwrap();
    assert_eq!(recs.len(), written.len());
    for (r, w) in recs.iter().zip(&written) {
        expect(r, w);
    }
    let kinds: std::collections::BTreeSet<Kind> = recs.iter().map(Record::kind).collect();
    assert_eq!(kinds.len(), Kind::ALL.len());
}

#[test]
fn varints_of_every_length() {
    let mut w = TraceWriter::new(7, 1000);
    for shift in 0..63 {
        w.call(1, 0, Call::Malloc { size: 1u64 << shift, result: 1u64 << shift });
        w.call(1, 0, Call::Malloc { size: (1u64 << shift) - 1, result: (1u64 << shift) - 1 });
    }
    // Up to the top of the address range in two steps below 2^63 each.
    w.call(1, 0, Call::Malloc { size: 1 << 63, result: 1 << 63 });
    w.call(1, 0, Call::Malloc { size: u64::MAX, result: u64::MAX });
    let (bytes, written) = w.finish();
    let recs = read_all(&bytes).unwrap();
    assert_eq!(recs.len(), written.len());
    for (r, w) in recs.iter().zip(&written) {
        expect(r, w);
    }
}

#[test]
fn header_fields_and_longer_header() {
    let mut h = super::encoder::header(2, 1, 42, 41, 99);
    // A header of a later minor layout: 8 more bytes this reader skips.
    h[10] = 40;
    h.extend_from_slice(&[0xee; 8]);
    let mut w = TraceWriter::with_header(h, 99, 10);
    w.call(1, 5, Call::Live { size: 8, result: 0x100 });
    let (bytes, written) = w.finish();
    let mut t = open(&bytes).unwrap();
    let hd = *t.header();
    assert_eq!((hd.heap, hd.fork_child, hd.pid, hd.ppid, hd.start_time, hd.len), (crate::Heap::Buddy, true, 42, 41, 99, 40));
    let recs: Vec<Record> = t.records().collect::<Result<_, _>>().unwrap();
    expect(&recs[0], &written[0]);
}

#[test]
fn empty_trace_and_no_end() {
    let (bytes, _) = TraceWriter::new(0, 4).finish_without_end();
    let t = open(&bytes).unwrap();
    assert!(!t.status().ended && t.status().cut.is_none());
    assert_eq!(t.status().warnings().len(), 1);
    assert!(t.is_empty());
    let (bytes, _) = TraceWriter::new(0, 4).finish();
    assert!(open(&bytes).unwrap().status().is_complete());
}

#[test]
fn chunks_after_end_are_read() {
    let mut w = TraceWriter::new(0, 100);
    w.call(1, 1, Call::Malloc { size: 1, result: 0x10 });
    let (mut bytes, _) = w.finish();
    let mut c = super::encoder::Chunk::new(1, 1001, 1, 50);
    c.push(60, Call::Free { ptr: 0x10 });
    bytes.extend_from_slice(&c.bytes());
    let mut t = open(&bytes).unwrap();
    assert!(t.status().is_complete());
    let recs: Vec<Record> = t.records().collect::<Result<_, _>>().unwrap();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[1].call, Call::Free { ptr: 0x10 });
    assert!(check(&mut t).is_ok());
}

#[test]
fn a_million_records_stream() {
    let n = 1_000_000u64;
    let mut w = TraceWriter::new(1, 4096);
    for i in 0..n / 2 {
        let t = (i % 4) as u32 + 1;
        let p = 0x1000_0000 + (i << 4);
        w.call(t, i * 3, Call::Malloc { size: i % 500, result: p });
        w.call(t, i * 3 + 1, Call::Free { ptr: p });
    }
    let (bytes, _) = w.finish();
    let mut t = open(&bytes).unwrap();
    assert_eq!(t.record_count(), n);
    let s = check(&mut t).unwrap();
    assert_eq!((s.records, s.live_blocks, s.peak_blocks), (n, 0, 1));
}
