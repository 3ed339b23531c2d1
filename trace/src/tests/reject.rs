//! Every rejection of docs/TRACE.md's "What a reader must reject", at its byte offset; and
//! the cut-off trace, at every byte.

use super::encoder::{Chunk, TraceWriter, chunk_header, end_chunk, header};
use super::{assert_rejects, open, read_all};
use crate::Call;

const H: u64 = 32;
/// The first chunk's payload.
const P: u64 = H + 40;

fn one_chunk(payload: &[u8], records: u32) -> Vec<u8> {
    let mut b = header(1, 0, 1, 1, 0);
    b.extend(chunk_header(payload.len() as u32, records, 1, 7, 0, 0, 0));
    b.extend_from_slice(payload);
    b
}

fn valid() -> Vec<u8> {
    let mut w = TraceWriter::new(0, 2);
    w.call(1, 1, Call::Malloc { size: 1, result: 0x10 });
    w.call(1, 2, Call::Free { ptr: 0x10 });
    w.finish().0
}

#[test]
fn header_rejections() {
    for len in 0..32 {
        let b = &header(1, 0, 1, 1, 0)[..len];
        assert_rejects(b, len as u64, "shorter than the 32-byte header");
    }
    let mut b = valid();
    b[0] = b'X';
    assert_rejects(&b, 0, "wrong magic");
    let mut b = valid();
    b[8] = 2;
    assert_rejects(&b, 8, "the trace is newer than this reader");
    let mut b = valid();
    b[8] = 0;
    assert_rejects(&b, 8, "version 0");
    let mut b = valid();
    b[10] = 31;
    assert_rejects(&b, 10, "header bytes 31, below 32");
    let mut b = header(1, 0, 1, 1, 0);
    b[10] = 33;
    assert_rejects(&b, 32, "shorter than its 33-byte header");
    for heap in [0, 3, 255] {
        let mut b = valid();
        b[12] = heap;
        assert_rejects(&b, 12, &format!("unknown heap {heap}"));
    }
}

#[test]
fn chunk_header_rejections() {
    let mut b = valid();
    b[33] = b'X';
    assert_rejects(&b, H, "not a chunk header (wrong magic)");
    let mut b = valid();
    b[(H + 20) as usize] = 2;
    assert_rejects(&b, H + 20, "chunk flags 0x2");
    let mut b = valid();
    b[(H + 12) as usize] = 0;
    assert_rejects(&b, H + 12, "thread 0 that is not the END chunk");
    let mut b = header(1, 0, 1, 1, 0);
    b.extend(chunk_header(0, 3, 0, 0, 1, 0, 0));
    assert_rejects(&b, H + 8, "an END chunk with 3 records");
    let mut b = header(1, 0, 1, 1, 0);
    b.extend(chunk_header(2, 0, 0, 0, 1, 0, 0));
    b.extend([0, 0]);
    assert_rejects(&b, H + 4, "an END chunk with a 2-byte payload");
    let mut b = header(1, 0, 1, 1, 0);
    b.extend(chunk_header(0, 0, 4, 0, 1, 0, 0));
    assert_rejects(&b, H + 12, "an END chunk of thread 4");
    // A wrong magic at the end of the file, too short for a header: not a cut.
    let mut b = valid();
    b.extend(b"BX");
    assert_rejects(&b, valid().len() as u64, "wrong magic");
}

#[test]
fn record_rejections() {
    assert_rejects(&one_chunk(&[17, 0, 0], 1), P, "unknown record kind 17");
    assert_rejects(&one_chunk(&[0, 0, 0], 1), P, "unknown record kind 0");
    assert_rejects(&one_chunk(&[0x81, 0, 0], 1), P, "tag 0x81 has bit 7 set");
    assert_rejects(&one_chunk(&[0x41, 0, 0], 1), P, "a malloc record with IN_NULL");
    assert_rejects(&one_chunk(&[0x22, 0], 1), P, "a free record with OUT_NULL");
    assert_rejects(&one_chunk(&[0x2b, 0, 0], 1), P, "a live record with OUT_NULL");
    assert_rejects(&one_chunk(&[0x46, 0, 0, 0, 0], 1), P, "a posix_memalign record with IN_NULL");
    // A second record after a good one: the offset is that record's.
    assert_rejects(&one_chunk(&[0x42, 0, 12, 0, 0], 2), P + 2, "unknown record kind 12");
    // Varints: the size of a malloc (offset P + 2).
    let mut long = vec![1, 0];
    long.extend([0x80; 10]);
    long.extend([0, 0]);
    assert_rejects(&one_chunk(&long, 1), P + 2, "longer than 10 bytes");
    let mut big = vec![1, 0];
    big.extend([0xff; 9]);
    big.extend([0x02, 0]);
    assert_rejects(&one_chunk(&big, 1), P + 2, "above 64 bits");
    let mut max = vec![1, 0];
    max.extend([0xff; 9]);
    max.extend([0x01, 0]);
    assert_eq!(read_all(&one_chunk(&max, 1)).unwrap()[0].call, Call::Malloc { size: u64::MAX, result: 0 });
    // Pointers: -1 from 0 (zigzag 1); +2 from 2^64 - 2 (reached by two steps of i64::MAX).
    assert_rejects(&one_chunk(&[2, 0, 1], 1), P + 2, "leaves the 64-bit range");
    let step = [2, 0, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    let mut up = [step, step].concat();
    up.extend([2, 0, 4]);
    assert_rejects(&one_chunk(&up, 3), P + 26, "leaves the 64-bit range");
    // A time that leaves 64 bits: base u64::MAX, delta 1.
    let mut b = header(1, 0, 1, 1, 0);
    b.extend(chunk_header(3, 1, 1, 7, 0, 0, u64::MAX));
    b.extend([0x42, 1, 0]);
    assert_rejects(&b, P, "time leaves the 64-bit range");
}

#[test]
fn payload_and_count_rejections() {
    // The record runs past its payload (the payload says 2 bytes of a 3-byte malloc, and a
    // next chunk follows so the file does not end there).
    let mut b = header(1, 0, 1, 1, 0);
    b.extend(chunk_header(2, 1, 1, 7, 0, 0, 0));
    b.extend([0x21, 0]);
    b.extend(end_chunk());
    assert_rejects(&b, P, "runs past the end of its chunk's payload");
    assert_rejects(&one_chunk(&[0x21, 0, 0], 2), H + 8, "declares 2 records; its payload holds 1");
    assert_rejects(&one_chunk(&[0x21, 0, 0, 0x21, 0, 0], 1), H + 8, "declares 1 records; its payload holds more");
    assert_rejects(&one_chunk(&[], 1), H + 8, "declares 1 records; its payload holds 0");
}

#[test]
fn times_going_backwards() {
    let mut a = Chunk::new(1, 7, 0, 100);
    a.push(150, Call::Malloc { size: 1, result: 0x10 });
    let mut c = Chunk::new(1, 7, 1, 149);
    c.push(160, Call::Free { ptr: 0x10 });
    let mut b = header(1, 0, 1, 1, 0);
    b.extend(a.bytes());
    let c_at = b.len() as u64;
    b.extend(c.bytes());
    assert_rejects(&b, c_at + 32, "thread 1's times go backwards");
    // Equal to the last time is fine.
    let mut c = Chunk::new(1, 7, 1, 150);
    c.push(150, Call::Free { ptr: 0x10 });
    let mut b = header(1, 0, 1, 1, 0);
    b.extend(a.bytes());
    b.extend(c.bytes());
    assert_eq!(read_all(&b).unwrap().len(), 2);
}

#[test]
fn a_repeating_chunk_that_goes_back_in_time() {
    // Its base time may precede the last record (it repeats records), but its first new
    // record may not.
    let mut a = Chunk::new(1, 7, 0, 100);
    a.push(100, Call::Malloc { size: 1, result: 0x10 });
    a.push(120, Call::Malloc { size: 1, result: 0x20 });
    let mut c = Chunk::new(1, 7, 1, 100);
    c.push(110, Call::Malloc { size: 1, result: 0x20 });
    c.push(115, Call::Malloc { size: 1, result: 0x30 });
    let mut b = header(1, 0, 1, 1, 0);
    b.extend(a.bytes());
    let c_at = b.len() as u64 + 40;
    b.extend(c.bytes());
    assert_rejects(&b, c_at + c.offsets[1] as u64, "thread 1's times go backwards");
}

/// A trace of three threads, cut at every byte: below the header an error; else the whole
/// records of the whole chunk headers, a warning unless the cut falls between chunks.
#[test]
fn cut_at_every_byte() {
    let mut w = TraceWriter::new(1_000, 3);
    for i in 0..20u64 {
        let t = (i % 3) as u32 + 1;
        w.call(t, i * 5, Call::Calloc { count: i, size: 300 * i, result: 0x7f00_0000 + i * 4096 });
        if i % 4 == 0 {
            w.flush(t);
        }
    }
    let (bytes, written) = w.finish();
    // Where each chunk starts (the END chunk too), walked from the headers.
    let mut starts = Vec::new();
    let mut at = 32;
    while at < bytes.len() {
        starts.push(at);
        at += 40 + u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
    }
    for cut in 0..=bytes.len() {
        let b = &bytes[..cut];
        if cut < 32 {
            assert!(open(b).is_err(), "cut {cut}");
            continue;
        }
        let mut t = open(b).unwrap_or_else(|e| panic!("cut {cut}: {e}"));
        let st = t.status();
        let boundary = cut == 32 || starts.contains(&cut) || cut == bytes.len();
        assert_eq!(st.cut.is_none(), boundary, "cut {cut}");
        assert_eq!(st.ended, cut == bytes.len(), "cut {cut}");
        assert_eq!(st.is_complete(), cut == bytes.len());
        let chunk_start = starts.iter().copied().filter(|&s| s <= cut).max().unwrap_or(32);
        if let Some(c) = st.cut {
            assert_eq!((c.at, c.chunk), (cut as u64, chunk_start as u64), "cut {cut}");
            assert_eq!(c.declared.is_none(), cut < chunk_start + 40);
            let kept = written.iter().filter(|w| w.offset >= chunk_start as u64 && w.end <= cut as u64).count();
            assert_eq!(c.kept as usize, kept, "cut {cut}");
            assert!(!st.warnings().is_empty());
        }
        // The records that are wholly in the file, and in a chunk whose header is whole.
        let whole: Vec<_> = written
            .iter()
            .filter(|w| w.end <= cut as u64 && (w.offset as usize) >= 40)
            .filter(|w| starts.iter().any(|&s| s + 40 <= w.offset as usize && s + 40 <= cut))
            .collect();
        let recs: Vec<_> = t.records().collect::<Result<_, _>>().unwrap_or_else(|e| panic!("cut {cut}: {e}"));
        assert_eq!(recs.len(), whole.len(), "cut {cut}");
        assert_eq!(t.record_count(), whole.len() as u64, "cut {cut}");
    }
}
