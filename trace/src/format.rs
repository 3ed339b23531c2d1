//! The fixed-size parts of docs/TRACE.md: the file header and the chunk header.

use crate::error::At;

pub const MAGIC: [u8; 8] = *b"BBTRACE\0";
pub const CHUNK_MAGIC: [u8; 4] = *b"BBCK";
/// The newest format version this reader knows.
pub const VERSION: u16 = 1;
/// The header's size in version 1; a longer header carries fields this reader skips.
pub const HEADER_LEN: u16 = 32;
pub const CHUNK_HEADER_LEN: u64 = 40;
pub const CHUNK_END: u32 = 1;

/// Which heap the traced process ran on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heap {
    BestFit,
    Buddy,
}

impl Heap {
    pub fn name(self) -> &'static str {
        match self {
            Heap::BestFit => "best-fit",
            Heap::Buddy => "buddy",
        }
    }
}

/// The file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: u16,
    /// Its length in the file; chunks start here.
    pub len: u16,
    pub heap: Heap,
    /// Flag bit 0: the trace of a fork child (it begins with `LIVE` records).
    pub fork_child: bool,
    pub pid: u32,
    pub ppid: u32,
    /// When tracing started, `CLOCK_MONOTONIC` ns; records' times count from here.
    pub start_time: u64,
}

/// Little-endian fields of a header read whole: every offset is below the length checked
/// before, so the lookups cannot fail; they still return a value rather than panic.
pub(crate) struct Fields<'a>(pub &'a [u8]);

impl Fields<'_> {
    fn bytes<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0; N];
        if let Some(src) = self.0.get(at..at.saturating_add(N)) {
            out.copy_from_slice(src);
        }
        out
    }
    pub fn u8(&self, at: usize) -> u8 {
        self.0.get(at).copied().unwrap_or(0)
    }
    pub fn u16(&self, at: usize) -> u16 {
        u16::from_le_bytes(self.bytes(at))
    }
    pub fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.bytes(at))
    }
    pub fn u64(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.bytes(at))
    }
}

/// Parses the first 32 bytes of the file (`buf`), `file_len` long in all.
pub(crate) fn parse_header(buf: &[u8], file_len: u64) -> Result<Header, At> {
    if buf.len() < usize::from(HEADER_LEN) {
        return Err(At::new(
            file_len,
            format!("the file is {file_len} bytes, shorter than the {HEADER_LEN}-byte header"),
        ));
    }
    let f = Fields(buf);
    if f.bytes::<8>(0) != MAGIC {
        return Err(At::new(0, "not a bestbuddy trace (wrong magic)"));
    }
    let version = f.u16(8);
    if version > VERSION {
        return Err(At::new(
            8,
            format!(
                "format version {version}: the trace is newer than this reader (it reads version {VERSION})"
            ),
        ));
    }
    if version == 0 {
        return Err(At::new(8, "format version 0 does not exist"));
    }
    let len = f.u16(10);
    if len < HEADER_LEN {
        return Err(At::new(10, format!("header bytes {len}, below {HEADER_LEN}")));
    }
    if u64::from(len) > file_len {
        return Err(At::new(
            file_len,
            format!("the file is {file_len} bytes, shorter than its {len}-byte header"),
        ));
    }
    let heap = match f.u8(12) {
        1 => Heap::BestFit,
        2 => Heap::Buddy,
        other => return Err(At::new(12, format!("unknown heap {other} (1 best fit, 2 buddy)"))),
    };
    Ok(Header {
        version,
        len,
        heap,
        fork_child: f.u8(13) & 1 != 0,
        pid: f.u32(16),
        ppid: f.u32(20),
        start_time: f.u64(24),
    })
}

/// A chunk header, as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkHeader {
    pub payload: u32,
    pub records: u32,
    pub thread: u32,
    pub tid: u32,
    pub end: bool,
    pub first_seq: u64,
    pub base_time: u64,
}

/// Parses and validates a whole chunk header (40 bytes) found at `offset`.
pub(crate) fn parse_chunk_header(buf: &[u8], offset: u64) -> Result<ChunkHeader, At> {
    let f = Fields(buf);
    let at = |field: u64| offset.saturating_add(field);
    if f.bytes::<4>(0) != CHUNK_MAGIC {
        return Err(At::new(offset, "not a chunk header (wrong magic)"));
    }
    let flags = f.u32(20);
    if flags & !CHUNK_END != 0 {
        return Err(At::new(at(20), format!("chunk flags {flags:#x}: only bit 0 (END) is defined")));
    }
    let h = ChunkHeader {
        payload: f.u32(4),
        records: f.u32(8),
        thread: f.u32(12),
        tid: f.u32(16),
        end: flags & CHUNK_END != 0,
        first_seq: f.u64(24),
        base_time: f.u64(32),
    };
    if h.thread == 0 && !h.end {
        return Err(At::new(at(12), "a chunk of thread 0 that is not the END chunk"));
    }
    if h.end && h.thread != 0 {
        return Err(At::new(at(12), format!("an END chunk of thread {} (END is thread 0)", h.thread)));
    }
    if h.end && h.records != 0 {
        return Err(At::new(at(8), format!("an END chunk with {} records", h.records)));
    }
    if h.end && h.payload != 0 {
        return Err(At::new(at(4), format!("an END chunk with a {}-byte payload", h.payload)));
    }
    Ok(h)
}

/// Whether `buf`, the start of a chunk header cut by the end of the file, could be one:
/// its magic, as far as it goes.
pub(crate) fn is_chunk_magic_prefix(buf: &[u8]) -> bool {
    CHUNK_MAGIC.starts_with(buf) || buf.starts_with(&CHUNK_MAGIC)
}
