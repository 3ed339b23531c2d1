//! The bytes of docs/TRACE.md: the file header, the chunk header and the records, with
//! their varint and zigzag coding. Pure functions over byte slices; nothing here does I/O.

/// The file header's magic, version and size.
pub const MAGIC: [u8; 8] = *b"BBTRACE\0";
pub const VERSION: u16 = 1;
pub const HEADER_BYTES: usize = 32;
/// Header flag: the trace of a fork child.
pub const FLAG_FORK_CHILD: u8 = 1;

/// The chunk header's magic and size.
pub const CHUNK_MAGIC: [u8; 4] = *b"BBCK";
pub const CHUNK_HEADER_BYTES: usize = 40;
/// Chunk flag: the end chunk, written when the process exits normally.
pub const CHUNK_END: u32 = 1;

/// Tag bits besides the kind.
const OUT_NULL: u8 = 1 << 5;
const IN_NULL: u8 = 1 << 6;

/// The most bytes one record takes: a tag and at most five varints of 10 bytes (time,
/// pointer, three numbers) plus the result; rounded up.
pub const MAX_RECORD: usize = 64;

/// The kinds of record, with their codes (docs/TRACE.md, "Records").
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Kind {
    Malloc = 1,
    Free = 2,
    Calloc = 3,
    Realloc = 4,
    ReallocArray = 5,
    PosixMemalign = 6,
    AlignedAlloc = 7,
    Memalign = 8,
    Valloc = 9,
    Pvalloc = 10,
    Live = 11,
}

impl Kind {
    /// Whether the record codes a pointer argument before its numbers.
    pub fn takes_pointer(self) -> bool {
        matches!(self, Kind::Free | Kind::Realloc | Kind::ReallocArray)
    }

    /// Whether the record codes a result after its numbers.
    pub fn returns(self) -> bool {
        self != Kind::Free
    }
}

/// One call as the trace records it. `pointer` is the pointer argument (0: null; only for
/// kinds that take one), `args` the numbers in the order of the table (`nargs` of them),
/// `result` the block returned or stored (0: null).
#[derive(Clone, Copy, Debug)]
pub struct Record {
    pub kind: Kind,
    pub time: u64,
    pub pointer: usize,
    pub args: [usize; 3],
    pub nargs: usize,
    pub result: usize,
}

impl Record {
    /// A record of `kind` at `time`; `args` beyond the third are dropped (no kind has more).
    pub fn new(kind: Kind, time: u64, pointer: usize, args: &[usize], result: usize) -> Record {
        let mut record = Record {
            kind,
            time,
            pointer,
            args: [0; 3],
            nargs: 0,
            result,
        };
        for (slot, &arg) in record.args.iter_mut().zip(args) {
            *slot = arg;
            record.nargs += 1;
        }
        record
    }
}

/// What the records of one chunk are coded against: the time and the pointer coded last.
/// Each chunk starts afresh, from its base time and pointer 0.
#[derive(Clone, Copy, Debug)]
pub struct Deltas {
    pub time: u64,
    pub pointer: usize,
}

impl Deltas {
    pub fn new(base_time: u64) -> Deltas {
        Deltas {
            time: base_time,
            pointer: 0,
        }
    }
}

/// Appends bytes to a slice, dropping what does not fit (callers make room for
/// `MAX_RECORD` first, so nothing is dropped in practice; no panic either way).
struct Cursor<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Cursor<'_> {
    fn byte(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    /// LEB128: 7 bits a byte, least significant group first.
    fn varint(&mut self, mut v: u64) {
        loop {
            let low = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.byte(low);
                return;
            }
            self.byte(low | 0x80);
        }
    }

    /// A pointer as the zigzag varint of its difference from the last one coded.
    fn pointer(&mut self, p: usize, deltas: &mut Deltas) {
        let diff = (p as i64).wrapping_sub(deltas.pointer as i64);
        self.varint(((diff << 1) ^ (diff >> 63)) as u64);
        deltas.pointer = p;
    }
}

/// Codes `record` into `out` against `deltas` (updated) and returns its length. `out` must
/// have `MAX_RECORD` bytes. The record's time must not be below `deltas.time`; a lower one
/// is coded as `deltas.time` (a thread's times never decrease).
pub fn encode(record: &Record, deltas: &mut Deltas, out: &mut [u8]) -> usize {
    let mut c = Cursor { buf: out, len: 0 };
    let kind = record.kind;
    let mut tag = kind as u8;
    if kind.takes_pointer() && record.pointer == 0 {
        tag |= IN_NULL;
    }
    if kind.returns() && kind != Kind::Live && record.result == 0 {
        tag |= OUT_NULL;
    }
    c.byte(tag);
    let time = record.time.max(deltas.time);
    c.varint(time - deltas.time);
    deltas.time = time;
    if kind.takes_pointer() && record.pointer != 0 {
        c.pointer(record.pointer, deltas);
    }
    for &arg in &record.args[..record.nargs.min(3)] {
        c.varint(arg as u64);
    }
    if kind.returns() && record.result != 0 {
        c.pointer(record.result, deltas);
    }
    c.len
}

/// As `encode`, for the records of the traced calls' short path: a `kind` without null
/// flags, whose fields are `number` (when given) then `pointer` (not null), the pointer
/// argument or the result. Writes through a raw pointer without a bound check per byte.
///
/// # Safety
/// `out` is valid for `MAX_RECORD` bytes of writes.
#[inline(always)]
pub unsafe fn encode_short(
    kind: Kind,
    time: u64,
    number: Option<usize>,
    pointer: usize,
    deltas: &mut Deltas,
    out: *mut u8,
) -> usize {
    let time = time.max(deltas.time);
    let diff = (pointer as i64).wrapping_sub(deltas.pointer as i64);
    // SAFETY: a tag and three varints of at most 10 bytes each fit in MAX_RECORD.
    let end = unsafe {
        out.write(kind as u8);
        let mut at = put_varint(out.add(1), time - deltas.time);
        if let Some(n) = number {
            at = put_varint(at, n as u64);
        }
        put_varint(at, ((diff << 1) ^ (diff >> 63)) as u64)
    };
    deltas.time = time;
    deltas.pointer = pointer;
    end as usize - out as usize
}

/// Writes `v` as a varint at `out` and returns the byte after it.
///
/// # Safety
/// `out` is valid for 10 bytes of writes.
#[inline(always)]
unsafe fn put_varint(mut out: *mut u8, mut v: u64) -> *mut u8 {
    // SAFETY: a u64 takes at most 10 groups of 7 bits.
    unsafe {
        while v >= 0x80 {
            out.write(v as u8 | 0x80);
            out = out.add(1);
            v >>= 7;
        }
        out.write(v as u8);
        out.add(1)
    }
}

/// The 32-byte file header.
pub fn file_header(heap: u8, flags: u8, pid: u32, ppid: u32, start: u64) -> [u8; HEADER_BYTES] {
    let mut h = [0u8; HEADER_BYTES];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..10].copy_from_slice(&VERSION.to_le_bytes());
    h[10..12].copy_from_slice(&(HEADER_BYTES as u16).to_le_bytes());
    h[12] = heap;
    h[13] = flags;
    h[16..20].copy_from_slice(&pid.to_le_bytes());
    h[20..24].copy_from_slice(&ppid.to_le_bytes());
    h[24..32].copy_from_slice(&start.to_le_bytes());
    h
}

/// The process id a file header names, if `h` is one.
pub fn header_pid(h: &[u8; HEADER_BYTES]) -> Option<u32> {
    if h[0..8] != MAGIC {
        return None;
    }
    Some(u32::from_le_bytes([h[16], h[17], h[18], h[19]]))
}

/// What a chunk header says.
#[derive(Clone, Copy, Debug)]
pub struct ChunkHeader {
    pub payload: u32,
    pub records: u32,
    pub thread: u32,
    pub tid: u32,
    pub flags: u32,
    pub seq: u64,
    pub base_time: u64,
}

impl ChunkHeader {
    pub fn bytes(&self) -> [u8; CHUNK_HEADER_BYTES] {
        let mut h = [0u8; CHUNK_HEADER_BYTES];
        h[0..4].copy_from_slice(&CHUNK_MAGIC);
        h[4..8].copy_from_slice(&self.payload.to_le_bytes());
        h[8..12].copy_from_slice(&self.records.to_le_bytes());
        h[12..16].copy_from_slice(&self.thread.to_le_bytes());
        h[16..20].copy_from_slice(&self.tid.to_le_bytes());
        h[20..24].copy_from_slice(&self.flags.to_le_bytes());
        h[24..32].copy_from_slice(&self.seq.to_le_bytes());
        h[32..40].copy_from_slice(&self.base_time.to_le_bytes());
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coded(record: &Record, deltas: &mut Deltas) -> ([u8; MAX_RECORD], usize) {
        let mut out = [0u8; MAX_RECORD];
        let len = encode(record, deltas, &mut out);
        (out, len)
    }

    #[test]
    fn malloc_then_free_code_deltas() {
        let mut d = Deltas::new(1000);
        let (b, n) = coded(&Record::new(Kind::Malloc, 1300, 0, &[24], 0x1000), &mut d);
        // tag, time 300 (2 bytes), size 24, pointer +0x1000 zigzagged = 0x2000 (2 bytes)
        assert_eq!(&b[..n], &[1, 0xac, 0x02, 24, 0x80, 0x40]);
        let (b, n) = coded(&Record::new(Kind::Free, 1300, 0xff0, &[], 0), &mut d);
        // -0x10 zigzags to 0x1f
        assert_eq!(&b[..n], &[2, 0, 0x1f]);
    }

    #[test]
    fn null_flags() {
        let mut d = Deltas::new(0);
        let (b, n) = coded(&Record::new(Kind::Free, 5, 0, &[], 0), &mut d);
        assert_eq!(&b[..n], &[2 | IN_NULL, 5]);
        let (b, n) = coded(&Record::new(Kind::Realloc, 5, 0x10, &[0], 0), &mut d);
        assert_eq!(&b[..n], &[4 | OUT_NULL, 0, 0x20, 0]);
        let (b, n) = coded(&Record::new(Kind::Live, 5, 0, &[16], 0x10), &mut d);
        assert_eq!(&b[..n], &[11, 0, 16, 0]);
    }

    #[test]
    fn largest_record_fits() {
        let mut d = Deltas::new(0);
        let r = Record::new(
            Kind::ReallocArray,
            u64::MAX,
            usize::MAX,
            &[usize::MAX; 3],
            1,
        );
        let (_, n) = coded(&r, &mut d);
        assert!(n <= MAX_RECORD);
        assert_eq!(d.time, u64::MAX);
    }

    #[test]
    fn short_coding_is_the_same() {
        let records = [
            (Kind::Malloc, 1300, Some(24), 0x1000),
            (Kind::Free, 1250, None, 0xff0),
            (Kind::Malloc, 9_000_000_000, Some(usize::MAX), usize::MAX),
            (Kind::Free, 9_000_000_001, None, 1),
        ];
        let (mut general, mut short) = (Deltas::new(1000), Deltas::new(1000));
        for (kind, time, number, pointer) in records {
            let r = match number {
                Some(n) => Record::new(kind, time, 0, &[n], pointer),
                None => Record::new(kind, time, pointer, &[], 0),
            };
            let (want, n) = coded(&r, &mut general);
            let mut got = [0u8; MAX_RECORD];
            // SAFETY: got has MAX_RECORD bytes.
            let m =
                unsafe { encode_short(kind, time, number, pointer, &mut short, got.as_mut_ptr()) };
            assert_eq!(&got[..m], &want[..n]);
            assert_eq!((short.time, short.pointer), (general.time, general.pointer));
        }
    }

    #[test]
    fn times_never_go_back() {
        let mut d = Deltas::new(100);
        let (b, n) = coded(&Record::new(Kind::Valloc, 50, 0, &[1], 0x1000), &mut d);
        assert_eq!(b[1], 0);
        assert!(n > 2);
        assert_eq!(d.time, 100);
    }
}
