//! A thread's trace buffer: a mapping of its own (never the allocator's heap), records
//! appended by its thread without a lock, written out as one chunk with one write(2).
//!
//! ```text
//!  mapping, BUFFER_BYTES
//!  +------------------------+---------------------------------------------+
//!  | Buffer (HEAD bytes)    | payload: coded records, `len` bytes in use  |
//!  +------------------------+---------------------------------------------+
//! ```
//! The owner publishes `committed` (records and bytes) with a release store after each
//! record, so that the thread that finishes the trace at process exit can write the
//! records of a thread still running (`write_as_is`, under the buffer's lock) while the
//! owner appends past them. Only a flush moves the records out, under the same lock; the
//! owner may then write again records that the finisher wrote, with the same sequence
//! numbers, which a reader skips (docs/TRACE.md, "Chunks").

use core::sync::atomic::{AtomicU64, Ordering};

use super::file;
use super::format::{self, ChunkHeader, Deltas, Kind, MAX_RECORD, Record};
use crate::os;
use crate::sync::RawLock;

/// The size of a buffer's mapping.
pub const BUFFER_BYTES: usize = 64 << 10;
/// Where the payload starts in the mapping (the header fits in front of it).
const HEAD: usize = 256;
const CAPACITY: usize = BUFFER_BYTES - HEAD;

#[repr(C)]
pub struct Buffer {
    /// Taken to write the buffer's records out (by its owner's flush, or by the finisher).
    lock: RawLock,
    /// The registry's links and membership (`threads.rs`), under the registry's lock.
    pub next: *mut Buffer,
    pub prev: *mut Buffer,
    pub registered: bool,
    /// The fork generation the buffer belongs to (`threads.rs`): a fork child's buffer
    /// inherited from its parent holds the parent's records, which the child never writes.
    pub generation: u64,
    /// The thread's number in the file, and its kernel id.
    thread: u32,
    tid: u32,
    /// The sequence number of the first record in the payload, and the chunk's base time.
    /// Changed by the owner under `lock`, read under it.
    seq: u64,
    base_time: u64,
    /// The owner's coding state and its count of records and bytes; only the owner reads
    /// them. Invariant: `committed` holds `records << 32 | len` after each record.
    deltas: Deltas,
    len: usize,
    records: u32,
    committed: AtomicU64,
}

const _: () = assert!(core::mem::size_of::<Buffer>() <= HEAD);

/// The payload area of `buf`.
///
/// # Safety
/// `buf` is a mapping of `BUFFER_BYTES`.
unsafe fn payload(buf: *mut Buffer) -> *mut u8 {
    // SAFETY: the payload lies inside the mapping.
    unsafe { buf.cast::<u8>().add(HEAD) }
}

/// Sets a buffer up for a thread: `thread` its number, records from sequence 0, coded from
/// `now`. The lock is made free: in a fork child, the inherited one may have been held by
/// a thread the child does not have.
///
/// # Safety
/// `buf` is a mapping of `BUFFER_BYTES` that only the calling thread uses.
pub unsafe fn init(buf: *mut Buffer, thread: u32, tid: u32, generation: u64, now: u64) {
    // SAFETY: forwarded from the caller.
    unsafe {
        (*buf).lock.reset_in_child();
        (*buf).next = core::ptr::null_mut();
        (*buf).prev = core::ptr::null_mut();
        (*buf).registered = false;
        (*buf).generation = generation;
        (*buf).thread = thread;
        (*buf).tid = tid;
        (*buf).seq = 0;
        (*buf).base_time = now;
        (*buf).deltas = Deltas::new(now);
        (*buf).len = 0;
        (*buf).records = 0;
        (*buf).committed.store(0, Ordering::Release);
    }
}

/// Appends `record`, writing the buffer out first if it might not fit. False when the
/// trace failed meanwhile (the record is kept all the same; nothing reads it).
///
/// # Safety
/// `buf` is the calling thread's own buffer.
pub unsafe fn append(buf: *mut Buffer, record: &Record) -> bool {
    // SAFETY: forwarded from the caller; the coder gets MAX_RECORD bytes.
    unsafe {
        append_with(buf, |deltas, out| {
            format::encode(
                record,
                deltas,
                core::slice::from_raw_parts_mut(out, MAX_RECORD),
            )
        })
    }
}

/// As `append`, for a record of `format::encode_short`'s (its arguments). Keeps errno.
///
/// # Safety
/// `buf` is the calling thread's own buffer.
#[inline]
pub unsafe fn append_short(
    buf: *mut Buffer,
    kind: Kind,
    time: u64,
    number: Option<usize>,
    pointer: usize,
) -> bool {
    // SAFETY: forwarded from the caller; the coder gets MAX_RECORD bytes.
    unsafe {
        append_with(buf, |deltas, out| {
            format::encode_short(kind, time, number, pointer, deltas, out)
        })
    }
}

/// Appends the record `code` writes (at most MAX_RECORD bytes, coded against the deltas
/// it is given; it returns its length), writing the buffer out first if it might not fit.
///
/// # Safety
/// `buf` is the calling thread's own buffer.
#[inline(always)]
unsafe fn append_with(buf: *mut Buffer, code: impl FnOnce(&mut Deltas, *mut u8) -> usize) -> bool {
    // SAFETY: forwarded from the caller; only the owner changes len, records and deltas.
    unsafe {
        let mut ok = true;
        if CAPACITY - (*buf).len < MAX_RECORD {
            ok = flush_keeping_errno(buf);
        }
        let len = (*buf).len;
        let n = code(&mut (*buf).deltas, payload(buf).add(len));
        (*buf).len = len + n;
        (*buf).records += 1;
        let committed = ((*buf).records as u64) << 32 | (*buf).len as u64;
        (*buf).committed.store(committed, Ordering::Release);
        ok
    }
}

/// `flush`, keeping the program's errno (a record made without `os::keeping_errno` around
/// it touches errno only here).
///
/// # Safety
/// `buf` is the calling thread's own buffer.
#[cold]
#[inline(never)]
unsafe fn flush_keeping_errno(buf: *mut Buffer) -> bool {
    // SAFETY: forwarded from the caller.
    os::keeping_errno(|| unsafe { flush(buf) })
}

/// Writes the buffer's records as one chunk and empties it. False on failure (the records
/// are dropped: tracing has stopped).
///
/// # Safety
/// `buf` is the calling thread's own buffer.
pub unsafe fn flush(buf: *mut Buffer) -> bool {
    // SAFETY: forwarded from the caller.
    unsafe {
        (*buf).lock.lock();
        let records = (*buf).records;
        let ok = records == 0 || write_records(buf, records, (*buf).len);
        (*buf).seq += records as u64;
        (*buf).base_time = (*buf).deltas.time;
        (*buf).deltas = Deltas::new((*buf).base_time);
        (*buf).len = 0;
        (*buf).records = 0;
        (*buf).committed.store(0, Ordering::Release);
        (*buf).lock.unlock();
        ok
    }
}

/// Forgets the buffer's records unwritten (a fork child's inheritance: the parent writes
/// them).
///
/// # Safety
/// `buf` is the calling thread's own buffer.
pub unsafe fn discard(buf: *mut Buffer) {
    // SAFETY: forwarded from the caller.
    unsafe {
        (*buf).len = 0;
        (*buf).records = 0;
        (*buf).committed.store(0, Ordering::Release);
    }
}

/// Writes the records another thread has committed so far as one chunk, leaving its buffer
/// as it is (process exit: that thread may still be running). Without `wait`, only if the
/// buffer's lock is free at once (the trace's end on an abort, which must not wait). False
/// if it was not, or the write failed.
///
/// # Safety
/// `buf` is a registered buffer, kept mapped by the caller (the registry's lock).
pub unsafe fn write_as_is(buf: *mut Buffer, wait: bool) -> bool {
    // SAFETY: forwarded from the caller; seq and base_time change only under the lock, and
    // the committed bytes only in a flush, under it too.
    unsafe {
        if wait {
            (*buf).lock.lock();
        } else if !(*buf).lock.try_lock() {
            return false;
        }
        let committed = (*buf).committed.load(Ordering::Acquire);
        let records = (committed >> 32) as u32;
        let ok = records == 0 || write_records(buf, records, committed as u32 as usize);
        (*buf).lock.unlock();
        ok
    }
}

/// Writes the first `records` records (`len` bytes) of `buf` as one chunk.
///
/// # Safety
/// `buf`'s lock is held, and its first `len` payload bytes hold `records` records.
unsafe fn write_records(buf: *mut Buffer, records: u32, len: usize) -> bool {
    // SAFETY: forwarded from the caller.
    unsafe {
        let header = ChunkHeader {
            payload: len as u32,
            records,
            thread: (*buf).thread,
            tid: (*buf).tid,
            flags: 0,
            seq: (*buf).seq,
            base_time: (*buf).base_time,
        };
        let bytes = core::slice::from_raw_parts(payload(buf), len);
        file::write(&[&header.bytes(), bytes])
    }
}

/// Writes `record` at once as a chunk of its own, from the stack, as the only record of
/// thread `thread` (a thread that has no buffer: it is exiting, or none could be mapped).
pub fn write_single(record: &Record, thread: u32, tid: u32) -> bool {
    let mut out = [0u8; MAX_RECORD];
    let n = format::encode(record, &mut Deltas::new(record.time), &mut out);
    let header = ChunkHeader {
        payload: n as u32,
        records: 1,
        thread,
        tid,
        flags: 0,
        seq: 0,
        base_time: record.time,
    };
    file::write(&[&header.bytes(), &out[..n]])
}

/// Writes the end chunk (thread 0, no records).
pub fn write_end(now: u64) -> bool {
    let header = ChunkHeader {
        payload: 0,
        records: 0,
        thread: 0,
        tid: 0,
        flags: format::CHUNK_END,
        seq: 0,
        base_time: now,
    };
    file::write(&[&header.bytes()])
}
