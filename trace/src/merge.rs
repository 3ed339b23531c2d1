//! The merged order of docs/TRACE.md: a k-way merge over the threads, each thread's chunks
//! decoded lazily into one buffer of its own. The next record of every thread waits in a
//! heap keyed by (time, kind rank, thread); a thread's own records keep their order because
//! only its next one is ever in the heap.
//!
//! A thread whose next chunk is not loaded yet waits in the heap under that chunk's base
//! time, rank 0: no record of the chunk sorts before that key, so the chunk is read only
//! when the merge gets there. Buffers are held by the threads whose chunks overlap in time,
//! not by every thread of the trace (a program that runs many short threads one after
//! another holds one buffer at a time).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{Read, Seek};

use crate::decode::{ChunkDecoder, Fail};
use crate::error::{At, TraceError};
use crate::record::Record;
use crate::trace::{ChunkEntry, Trace, load_payload, too_many};

/// The iterator of [`Trace::records`].
pub struct Records<'a, R> {
    reader: &'a mut R,
    name: &'a str,
    chunks: &'a [ChunkEntry],
    start_time: u64,
    streams: Vec<Stream>,
    /// (absolute time, kind rank, thread, index into `streams`) of each stream's next record.
    heap: BinaryHeap<Reverse<(u64, u8, u32, usize)>>,
    started: bool,
    done: bool,
}

/// One thread's records.
struct Stream {
    thread: u32,
    /// The next chunk to load, or [`NONE`].
    next_chunk: u32,
    current: Option<Current>,
    buf: Vec<u8>,
    /// The time of the thread's last record returned (or skipped as a repeat).
    last_time: Option<u64>,
    /// The record the heap holds for this thread; `None` while the heap holds the base time
    /// of its next chunk instead.
    head: Option<Record>,
}

/// The chunk being decoded.
struct Current {
    entry: ChunkEntry,
    decoder: ChunkDecoder,
    /// Records decoded so far in this chunk.
    found: u32,
}

impl<'a, R: Read + Seek> Records<'a, R> {
    pub(crate) fn new(trace: &'a mut Trace<R>) -> Records<'a, R> {
        let streams = trace
            .threads
            .iter()
            .map(|t| Stream {
                thread: t.thread,
                next_chunk: t.first,
                current: None,
                buf: Vec::new(),
                last_time: None,
                head: None,
            })
            .collect();
        Records {
            reader: &mut trace.reader,
            name: &trace.name,
            chunks: &trace.chunks,
            start_time: trace.header.start_time,
            streams,
            heap: BinaryHeap::new(),
            started: false,
            done: false,
        }
    }

    /// Puts stream `i`'s next record, or the base time of its next chunk, in the heap.
    fn refill(&mut self, i: usize) -> Result<(), At> {
        let Some(s) = self.streams.get_mut(i) else { return Ok(()) };
        match advance(s, self.reader, self.chunks, self.start_time)? {
            Next::Record(abs, rec) => {
                self.heap.push(Reverse((abs, rec.kind().merge_rank(), rec.thread, i)));
                s.head = Some(rec);
            }
            Next::Chunk(base) => self.heap.push(Reverse((base, 0, s.thread, i))),
            Next::Done => {}
        }
        Ok(())
    }

    fn step(&mut self) -> Result<Option<Record>, At> {
        if !self.started {
            self.started = true;
            for (i, s) in self.streams.iter().enumerate() {
                let first = usize::try_from(s.next_chunk).ok().and_then(|c| self.chunks.get(c));
                if let Some(entry) = first {
                    self.heap.push(Reverse((entry.header.base_time, 0, s.thread, i)));
                }
            }
        }
        while let Some(Reverse((_, _, _, i))) = self.heap.pop() {
            let rec = self.streams.get_mut(i).and_then(|s| s.head.take());
            self.refill(i)?;
            if rec.is_some() {
                return Ok(rec);
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
impl<R> Records<'_, R> {
    /// The threads holding a chunk buffer now.
    pub(crate) fn buffers_held(&self) -> usize {
        self.streams.iter().filter(|s| s.buf.capacity() > 0).count()
    }
}

impl<R: Read + Seek> Iterator for Records<'_, R> {
    type Item = Result<Record, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(rec)) => Some(Ok(rec)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e.named(self.name)))
            }
        }
    }
}

/// What a thread has next.
enum Next {
    /// A record, with its absolute time (the merge's key).
    Record(u64, Record),
    /// A chunk not loaded yet, with its base time.
    Chunk(u64),
    Done,
}

/// The thread's next record from its current chunk; when that runs out, the base time of
/// the next chunk; with no current chunk, loads the next one first. Skips repeated records,
/// checks times and record counts.
fn advance<R: Read + Seek>(
    s: &mut Stream,
    reader: &mut R,
    chunks: &[ChunkEntry],
    start_time: u64,
) -> Result<Next, At> {
    let next_entry =
        |s: &Stream| usize::try_from(s.next_chunk).ok().and_then(|i| chunks.get(i)).copied();
    if s.current.is_none() {
        let Some(entry) = next_entry(s) else { return Ok(Next::Done) };
        s.next_chunk = entry.next;
        if entry.repeats == 0 && s.last_time.is_some_and(|last| entry.header.base_time < last) {
            return Err(At::new(
                entry.offset.saturating_add(32),
                format!(
                    "thread {}'s times go backwards: the chunk's base time is before its last record",
                    s.thread
                ),
            ));
        }
        load_payload(reader, &entry, &mut s.buf)?;
        s.current = Some(Current {
            entry,
            decoder: ChunkDecoder::new(entry.payload_offset(), entry.header.base_time),
            found: 0,
        });
    }
    while let Some(cur) = &mut s.current {
        let entry = cur.entry;
        if cur.decoder.at_end(&s.buf) {
            if !entry.cut && cur.found != entry.header.records {
                return Err(At::new(
                    entry.offset.saturating_add(8),
                    format!(
                        "the chunk declares {} records; its payload holds {}",
                        entry.header.records, cur.found
                    ),
                ));
            }
            s.current = None;
            break;
        }
        if cur.found >= entry.header.records {
            return Err(too_many(&entry));
        }
        let raw = match cur.decoder.next(&s.buf) {
            Ok(raw) => raw,
            Err(Fail::Invalid(at)) => return Err(at),
            Err(Fail::Short(_)) if entry.cut => {
                s.current = None;
                break;
            }
            Err(Fail::Short(at)) => {
                return Err(At::new(at, "a record that runs past the end of its chunk's payload"));
            }
        };
        let index = cur.found;
        cur.found = cur.found.saturating_add(1);
        if index < entry.repeats {
            continue;
        }
        if s.last_time.is_some_and(|last| raw.time < last) {
            return Err(At::new(raw.offset, format!("thread {}'s times go backwards", s.thread)));
        }
        s.last_time = Some(raw.time);
        let rec = Record {
            thread: entry.header.thread,
            tid: entry.header.tid,
            seq: entry.header.first_seq.saturating_add(u64::from(index)),
            time: raw.time.saturating_sub(start_time),
            offset: raw.offset,
            call: raw.call,
        };
        return Ok(Next::Record(raw.time, rec));
    }
    // The chunk is done: its buffer goes until the merge reaches the next one.
    s.buf = Vec::new();
    Ok(match next_entry(s) {
        Some(entry) => Next::Chunk(entry.header.base_time),
        None => Next::Done,
    })
}
