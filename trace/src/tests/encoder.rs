//! A test encoder of docs/TRACE.md, written from the page (not from the reader): the unit
//! tests, the CLI tests (trace/tests/cli.rs includes this file) and the fuzz seeds use it.
#![allow(dead_code, clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use std::collections::BTreeMap;

use super::Call;

pub const HEADER_LEN: usize = 32;
pub const CHUNK_HEADER_LEN: usize = 40;

pub fn varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The 32-byte header of version 1.
pub fn header(heap: u8, flags: u8, pid: u32, ppid: u32, start: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_LEN);
    h.extend_from_slice(b"BBTRACE\0");
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&32u16.to_le_bytes());
    h.push(heap);
    h.push(flags);
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(&pid.to_le_bytes());
    h.extend_from_slice(&ppid.to_le_bytes());
    h.extend_from_slice(&start.to_le_bytes());
    h
}

/// A chunk header with the given fields.
pub fn chunk_header(payload: u32, records: u32, thread: u32, tid: u32, flags: u32, seq: u64, base: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(CHUNK_HEADER_LEN);
    h.extend_from_slice(b"BBCK");
    for v in [payload, records, thread, tid, flags] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    h.extend_from_slice(&seq.to_le_bytes());
    h.extend_from_slice(&base.to_le_bytes());
    h
}

/// The END chunk.
pub fn end_chunk() -> Vec<u8> {
    chunk_header(0, 0, 0, 0, 1, 0, 0)
}

/// One chunk's payload being written: the delta state of TRACE.md.
#[derive(Clone)]
pub struct Chunk {
    pub thread: u32,
    pub tid: u32,
    pub first_seq: u64,
    pub base: u64,
    pub payload: Vec<u8>,
    pub records: u32,
    prev_ptr: u64,
    time: u64,
    /// Offset in the payload of each record.
    pub offsets: Vec<usize>,
}

impl Chunk {
    pub fn new(thread: u32, tid: u32, first_seq: u64, base: u64) -> Chunk {
        Chunk { thread, tid, first_seq, base, payload: Vec::new(), records: 0, prev_ptr: 0, time: base, offsets: Vec::new() }
    }

    fn ptr(&mut self, p: u64) {
        if p != 0 {
            self.delta(p);
        }
    }

    /// The difference from the previous pointer, a signed 64-bit value (TRACE.md).
    fn delta(&mut self, p: u64) {
        let d = i64::try_from(i128::from(p) - i128::from(self.prev_ptr)).expect("pointers 2^63 apart");
        varint(&mut self.payload, zigzag(d));
        self.prev_ptr = p;
    }

    /// Appends `call` at absolute time `time`; a null pointer sets its null flag.
    pub fn push(&mut self, time: u64, call: Call) {
        self.offsets.push(self.payload.len());
        self.records += 1;
        let (kind, in_null, out_null) = match call {
            Call::Malloc { result, .. } => (1, false, result == 0),
            Call::Free { ptr } => (2, ptr == 0, false),
            Call::Calloc { result, .. } => (3, false, result == 0),
            Call::Realloc { ptr, result, .. } => (4, ptr == 0, result == 0),
            Call::ReallocArray { ptr, result, .. } => (5, ptr == 0, result == 0),
            Call::PosixMemalign { result, .. } => (6, false, result == 0),
            Call::AlignedAlloc { result, .. } => (7, false, result == 0),
            Call::Memalign { result, .. } => (8, false, result == 0),
            Call::Valloc { result, .. } => (9, false, result == 0),
            Call::Pvalloc { result, .. } => (10, false, result == 0),
            Call::Live { .. } => (11, false, false),
        };
        self.payload.push(kind | if out_null { 0x20 } else { 0 } | if in_null { 0x40 } else { 0 });
        varint(&mut self.payload, time - self.time);
        self.time = time;
        let v = |c: &mut Chunk, x: u64| varint(&mut c.payload, x);
        match call {
            Call::Malloc { size, result } | Call::Valloc { size, result } | Call::Pvalloc { size, result } => {
                v(self, size);
                self.ptr(result);
            }
            Call::Live { size, result } => {
                v(self, size);
                // LIVE has no OUT_NULL: a null block is coded as the pointer 0.
                self.delta(result);
            }
            Call::Free { ptr } => self.ptr(ptr),
            Call::Calloc { count, size, result } => {
                v(self, count);
                v(self, size);
                self.ptr(result);
            }
            Call::Realloc { ptr, size, result } => {
                self.ptr(ptr);
                v(self, size);
                self.ptr(result);
            }
            Call::ReallocArray { ptr, count, size, result } => {
                self.ptr(ptr);
                v(self, count);
                v(self, size);
                self.ptr(result);
            }
            Call::PosixMemalign { align, size, code, result } => {
                v(self, align);
                v(self, size);
                v(self, code);
                self.ptr(result);
            }
            Call::AlignedAlloc { align, size, result } | Call::Memalign { align, size, result } => {
                v(self, align);
                v(self, size);
                self.ptr(result);
            }
        }
    }

    /// Header and payload.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = chunk_header(self.payload.len() as u32, self.records, self.thread, self.tid, 0, self.first_seq, self.base);
        out.extend_from_slice(&self.payload);
        out
    }
}

/// What the encoder wrote of one record: for comparing with what the reader returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub thread: u32,
    pub tid: u32,
    pub seq: u64,
    pub time: u64,
    pub offset: u64,
    /// The offset just past the record.
    pub end: u64,
    pub call: Call,
}

/// A whole trace, written the way the library does: per-thread buffers flushed as chunks
/// when they hold `per_chunk` records, or on `flush`.
pub struct TraceWriter {
    pub out: Vec<u8>,
    pub start: u64,
    per_chunk: u32,
    open: BTreeMap<u32, Chunk>,
    next_seq: BTreeMap<u32, u64>,
    pending: BTreeMap<u32, Vec<(u64, Call)>>,
    pub written: Vec<Written>,
}

impl TraceWriter {
    pub fn new(start: u64, per_chunk: u32) -> TraceWriter {
        TraceWriter::with_header(header(1, 0, 1234, 1, start), start, per_chunk)
    }

    pub fn with_header(h: Vec<u8>, start: u64, per_chunk: u32) -> TraceWriter {
        TraceWriter {
            out: h,
            start,
            per_chunk,
            open: BTreeMap::new(),
            next_seq: BTreeMap::new(),
            pending: BTreeMap::new(),
            written: Vec::new(),
        }
    }

    /// Records `call` of `thread` at `since` ns after the start.
    pub fn call(&mut self, thread: u32, since: u64, call: Call) {
        let time = self.start + since;
        let seq = *self.next_seq.entry(thread).or_insert(0);
        let chunk = self.open.entry(thread).or_insert_with(|| Chunk::new(thread, 1000 + thread, seq, time));
        chunk.push(time, call);
        self.pending.entry(thread).or_default().push((since, call));
        self.next_seq.insert(thread, seq + 1);
        if chunk.records >= self.per_chunk {
            self.flush(thread);
        }
    }

    /// Writes the thread's buffer as a chunk.
    pub fn flush(&mut self, thread: u32) {
        let Some(chunk) = self.open.remove(&thread) else { return };
        let at = self.out.len() + CHUNK_HEADER_LEN;
        let calls = self.pending.remove(&thread).unwrap_or_default();
        for (i, (since, call)) in calls.into_iter().enumerate() {
            let start = at + chunk.offsets[i];
            let end = at + chunk.offsets.get(i + 1).copied().unwrap_or(chunk.payload.len());
            self.written.push(Written {
                thread,
                tid: chunk.tid,
                seq: chunk.first_seq + i as u64,
                time: since,
                offset: start as u64,
                end: end as u64,
                call,
            });
        }
        self.out.extend_from_slice(&chunk.bytes());
    }

    /// Flushes every thread (in thread order) and writes the END chunk.
    pub fn finish(mut self) -> (Vec<u8>, Vec<Written>) {
        let threads: Vec<u32> = self.open.keys().copied().collect();
        for t in threads {
            self.flush(t);
        }
        self.out.extend_from_slice(&end_chunk());
        (self.out, self.written)
    }

    /// Flushes every thread, without the END chunk.
    pub fn finish_without_end(mut self) -> (Vec<u8>, Vec<Written>) {
        let threads: Vec<u32> = self.open.keys().copied().collect();
        for t in threads {
            self.flush(t);
        }
        (self.out, self.written)
    }
}
