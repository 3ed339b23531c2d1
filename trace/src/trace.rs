//! Opening a trace: the header, then one pass over the chunk headers (seeking past the
//! payloads) that indexes every chunk, checks the sequence numbers of each thread and finds
//! where the file was cut off. Memory: one [`ChunkEntry`] per chunk, one small entry per
//! thread.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use crate::decode::{ChunkDecoder, Fail};
use crate::error::{At, TraceError};
use crate::format::{
    self, CHUNK_HEADER_LEN, ChunkHeader, HEADER_LEN, Header, is_chunk_magic_prefix,
};
use crate::merge::Records;

/// No chunk: the end of a thread's list.
pub(crate) const NONE: u32 = u32::MAX;

/// One chunk of a thread, as indexed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChunkEntry {
    /// The chunk header's offset; the payload follows it.
    pub offset: u64,
    /// The payload bytes in the file: the whole payload, or for the chunk cut off by the end
    /// of the file what is there of it.
    pub avail: u32,
    pub header: ChunkHeader,
    /// Leading records that repeat ones of an earlier chunk of the thread: decoded (the
    /// deltas run through them) but not returned.
    pub repeats: u32,
    /// Whether the payload runs past the end of the file.
    pub cut: bool,
    /// The thread's next chunk (an index into the chunk list), or [`NONE`].
    pub next: u32,
}

impl ChunkEntry {
    pub fn payload_offset(&self) -> u64 {
        self.offset.saturating_add(CHUNK_HEADER_LEN)
    }
}

/// A thread of the trace: where its chunks start, and what was read of it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ThreadEntry {
    pub thread: u32,
    pub first: u32,
    last: u32,
    /// The sequence number its next chunk must start at (or below, repeating records).
    next_seq: u64,
}

/// The end of the file, where the trace is not whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    /// The file's length: where it stops.
    pub at: u64,
    /// The offset of the chunk it stops in.
    pub chunk: u64,
    /// The records that chunk declares; `None` when its header is cut.
    pub declared: Option<u32>,
    /// The whole records of that chunk that were read.
    pub kept: u32,
}

/// How whole the trace is. A trace that [`is_complete`](Status::is_complete) has its `END`
/// chunk and no cut; anything else lacks calls and says so in [`warnings`](Status::warnings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Whether the `END` chunk was found: the process exited normally.
    pub ended: bool,
    /// Where the file was cut off (the process died while a chunk was being written).
    pub cut: Option<Cut>,
}

impl Status {
    pub fn is_complete(&self) -> bool {
        self.ended && self.cut.is_none()
    }

    /// One line for each way the trace is not whole.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(c) = self.cut {
            out.push(match c.declared {
                Some(n) => format!(
                    "cut off at byte {} inside the chunk at byte {}: kept {} of its {} records",
                    c.at, c.chunk, c.kept, n
                ),
                None => format!(
                    "cut off at byte {} inside the header of the chunk at byte {}: kept none of its records",
                    c.at, c.chunk
                ),
            });
        }
        if !self.ended {
            out.push(
                "no END chunk: the process did not finish the trace (it crashed, was killed, \
                 called _exit, or tracing stopped on an error); the calls still buffered are missing"
                    .to_owned(),
            );
        }
        out
    }
}

/// An open trace over a reader (a file, or a `Cursor` over bytes).
#[derive(Debug)]
pub struct Trace<R> {
    pub(crate) reader: R,
    pub(crate) name: String,
    pub(crate) header: Header,
    pub(crate) chunks: Vec<ChunkEntry>,
    /// By thread number.
    pub(crate) threads: Vec<ThreadEntry>,
    pub(crate) status: Status,
    len: u64,
    records: u64,
}

impl Trace<File> {
    /// Opens the trace at `path`; errors are named by the path as given.
    pub fn open(path: impl AsRef<Path>) -> Result<Trace<File>, TraceError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| At::new(0, format!("cannot open: {e}")).named(&name))?;
        Trace::from_reader(file, &name)
    }
}

impl<R: Read + Seek> Trace<R> {
    /// Reads the header and indexes the chunks of the trace that `reader` holds; `name`
    /// names it in errors.
    pub fn from_reader(mut reader: R, name: &str) -> Result<Trace<R>, TraceError> {
        let header = read_header(&mut reader).map_err(|e| e.named(name))?;
        let mut t = Trace {
            reader,
            name: name.to_owned(),
            header: header.0,
            chunks: Vec::new(),
            threads: Vec::new(),
            status: Status { ended: false, cut: None },
            len: header.1,
            records: 0,
        };
        t.index().map_err(|e| e.named(name))?;
        Ok(t)
    }

    fn index(&mut self) -> Result<(), At> {
        let mut threads: HashMap<u32, ThreadEntry> = HashMap::new();
        let mut offset = u64::from(self.header.len);
        while offset < self.len {
            let mut hb = [0u8; CHUNK_HEADER_LEN as usize];
            let got = read_at(&mut self.reader, offset, &mut hb)?;
            let hb = hb.get(..got).unwrap_or(&[]);
            if u64::try_from(got).unwrap_or(0) < CHUNK_HEADER_LEN {
                if !is_chunk_magic_prefix(hb) {
                    return Err(At::new(offset, "not a chunk header (wrong magic)"));
                }
                self.status.cut = Some(Cut { at: self.len, chunk: offset, declared: None, kept: 0 });
                break;
            }
            let h = format::parse_chunk_header(hb, offset)?;
            let payload_offset = offset.saturating_add(CHUNK_HEADER_LEN);
            let end = payload_offset.saturating_add(u64::from(h.payload));
            let cut = end > self.len;
            let avail = if cut { self.len.saturating_sub(payload_offset) } else { u64::from(h.payload) };
            if h.end {
                self.status.ended = true;
            } else {
                let idx = u32::try_from(self.chunks.len())
                    .ok()
                    .filter(|&i| i != NONE)
                    .ok_or_else(|| At::new(offset, "more chunks than this reader indexes"))?;
                let repeats = add_to_thread(&mut threads, &mut self.chunks, idx, &h, offset)?;
                self.chunks.push(ChunkEntry {
                    offset,
                    avail: u32::try_from(avail).unwrap_or(u32::MAX),
                    header: h,
                    repeats,
                    cut,
                    next: NONE,
                });
                if !cut {
                    self.records = self.records.saturating_add(u64::from(h.records.saturating_sub(repeats)));
                }
            }
            if cut {
                let kept = self.count_cut_chunk()?;
                self.status.cut = Some(Cut { at: self.len, chunk: offset, declared: Some(h.records), kept });
                break;
            }
            offset = end;
        }
        let mut threads: Vec<ThreadEntry> = threads.into_values().collect();
        threads.sort_by_key(|t| t.thread);
        self.threads = threads;
        Ok(())
    }

    /// Decodes the whole records of the last chunk (the one cut off) to count them, so that
    /// the status says what was kept before any record is read.
    fn count_cut_chunk(&mut self) -> Result<u32, At> {
        let Some(entry) = self.chunks.last().copied() else { return Ok(0) };
        let mut buf = Vec::new();
        load_payload(&mut self.reader, &entry, &mut buf)?;
        let mut dec = ChunkDecoder::new(entry.payload_offset(), entry.header.base_time);
        let mut kept = 0u32;
        while !dec.at_end(&buf) {
            if kept >= entry.header.records {
                return Err(too_many(&entry));
            }
            match dec.next(&buf) {
                Ok(_) => kept = kept.saturating_add(1),
                Err(Fail::Short(_)) => break,
                Err(Fail::Invalid(at)) => return Err(at),
            }
        }
        self.records = self.records.saturating_add(u64::from(kept.saturating_sub(entry.repeats)));
        Ok(kept)
    }

    /// The file header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Whether the trace is whole; known from [`Trace::open`] on.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The name given to the trace (its path, for [`Trace::open`]).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file holds no chunk (only the header).
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// The records that [`Trace::records`] returns when every chunk decodes (repeated
    /// records not counted; of the chunk cut off, the whole ones).
    pub fn record_count(&self) -> u64 {
        self.records
    }

    /// The number of threads that wrote chunks.
    pub fn thread_count(&self) -> usize {
        self.threads.len()
    }

    /// The number of chunks, the `END` chunk not counted.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// The records in the merged order of docs/TRACE.md, decoded lazily: one chunk buffer
    /// per thread. The first error ends the iteration.
    pub fn records(&mut self) -> Records<'_, R> {
        Records::new(self)
    }
}

/// Links chunk `idx` into its thread and returns how many of its records repeat earlier
/// ones; a chunk that starts past the next expected sequence number is an error.
fn add_to_thread(
    threads: &mut HashMap<u32, ThreadEntry>,
    chunks: &mut [ChunkEntry],
    idx: u32,
    h: &ChunkHeader,
    offset: u64,
) -> Result<u32, At> {
    let t = threads.entry(h.thread).or_insert(ThreadEntry { thread: h.thread, first: idx, last: NONE, next_seq: 0 });
    if h.first_seq > t.next_seq {
        return Err(At::new(
            offset.saturating_add(24),
            format!(
                "thread {} skips records: its chunk starts at sequence {}, expected {}",
                h.thread, h.first_seq, t.next_seq
            ),
        ));
    }
    let behind = t.next_seq.saturating_sub(h.first_seq);
    let repeats = u32::try_from(behind).unwrap_or(u32::MAX).min(h.records);
    let after = h
        .first_seq
        .checked_add(u64::from(h.records))
        .ok_or_else(|| At::new(offset.saturating_add(24), "sequence numbers leave the 64-bit range"))?;
    t.next_seq = t.next_seq.max(after);
    if let Some(prev) = usize::try_from(t.last).ok().and_then(|i| chunks.get_mut(i)) {
        prev.next = idx;
    }
    t.last = idx;
    Ok(repeats)
}

pub(crate) fn too_many(entry: &ChunkEntry) -> At {
    At::new(
        entry.offset.saturating_add(8),
        format!("the chunk declares {} records; its payload holds more", entry.header.records),
    )
}

/// Reads the chunk's payload (what the file holds of it) into `buf`.
pub(crate) fn load_payload<R: Read + Seek>(reader: &mut R, entry: &ChunkEntry, buf: &mut Vec<u8>) -> Result<(), At> {
    let at = entry.payload_offset();
    buf.clear();
    buf.resize(usize::try_from(entry.avail).unwrap_or(0), 0);
    let got = read_at(reader, at, buf)?;
    if got < buf.len() {
        return Err(At::new(at, "the file shrank while it was read"));
    }
    Ok(())
}

/// Reads from `offset` until `buf` is full or the file ends; returns the bytes read.
fn read_at<R: Read + Seek>(reader: &mut R, offset: u64, buf: &mut [u8]) -> Result<usize, At> {
    reader.seek(SeekFrom::Start(offset)).map_err(|e| At::io(offset, &e))?;
    let mut got = 0;
    while let Some(rest) = buf.get_mut(got..) {
        if rest.is_empty() {
            break;
        }
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => got = got.saturating_add(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(At::io(offset, &e)),
        }
    }
    Ok(got)
}

/// The file header, and the file's length.
fn read_header<R: Read + Seek>(reader: &mut R) -> Result<(Header, u64), At> {
    let len = reader.seek(SeekFrom::End(0)).map_err(|e| At::io(0, &e))?;
    let mut buf = [0u8; HEADER_LEN as usize];
    let got = read_at(reader, 0, &mut buf)?;
    Ok((format::parse_header(buf.get(..got).unwrap_or(&[]), len)?, len))
}
