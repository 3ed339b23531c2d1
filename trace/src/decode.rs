//! The records of one chunk's payload (docs/TRACE.md, "Records"): varints, the pointer
//! and time deltas, the tag's null flags.

use crate::error::At;
use crate::record::{Call, Kind};

const TAG_KIND: u8 = 0x1f;
const TAG_OUT_NULL: u8 = 0x20;
const TAG_IN_NULL: u8 = 0x40;
const TAG_RESERVED: u8 = 0x80;
const VARINT_MAX_BYTES: usize = 10;

/// Why a record could not be decoded.
#[derive(Debug)]
pub(crate) enum Fail {
    /// The bytes ran out inside the record (at the record's offset): in a whole payload an
    /// error, in a payload cut by the end of the file the point where reading stops.
    Short(u64),
    Invalid(At),
}

/// One decoded record before the chunk's identity is added: its offset in the file, its
/// absolute time (`CLOCK_MONOTONIC` ns) and the call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Raw {
    pub offset: u64,
    pub time: u64,
    pub call: Call,
}

/// The decoding state of one chunk: the delta bases start afresh in each chunk.
#[derive(Debug)]
pub(crate) struct ChunkDecoder {
    /// File offset of the payload's first byte.
    payload_offset: u64,
    pos: usize,
    prev_ptr: u64,
    time: u64,
}

impl ChunkDecoder {
    pub fn new(payload_offset: u64, base_time: u64) -> ChunkDecoder {
        ChunkDecoder { payload_offset, pos: 0, prev_ptr: 0, time: base_time }
    }

    pub fn at_end(&self, buf: &[u8]) -> bool {
        self.pos >= buf.len()
    }

    /// The file offset of the next byte to decode.
    pub fn offset(&self) -> u64 {
        offset_of(self.payload_offset, self.pos)
    }

    /// Decodes the record at the current position; on `Fail` the position is unchanged.
    pub fn next(&mut self, buf: &[u8]) -> Result<Raw, Fail> {
        let start = self.offset();
        let mut r = Reader { buf, pos: self.pos, payload_offset: self.payload_offset, start };
        let mut prev_ptr = self.prev_ptr;
        let tag = r.byte()?;
        if tag & TAG_RESERVED != 0 {
            return Err(invalid(start, format!("record tag {tag:#04x} has bit 7 set")));
        }
        let kind = Kind::from_bits(tag & TAG_KIND).ok_or_else(|| {
            invalid(start, format!("unknown record kind {}", tag & TAG_KIND))
        })?;
        let in_null = tag & TAG_IN_NULL != 0;
        let out_null = tag & TAG_OUT_NULL != 0;
        if in_null && !kind.allows_in_null() {
            return Err(invalid(start, format!("a {} record with IN_NULL set", kind.name())));
        }
        if out_null && !kind.allows_out_null() {
            return Err(invalid(start, format!("a {} record with OUT_NULL set", kind.name())));
        }
        let delta = r.varint()?;
        let time = self
            .time
            .checked_add(delta)
            .ok_or_else(|| invalid(start, "the record's time leaves the 64-bit range"))?;
        let mut ptr = |r: &mut Reader<'_>, null: bool| r.pointer(null, &mut prev_ptr);
        let call = match kind {
            Kind::Malloc => Call::Malloc { size: r.varint()?, result: ptr(&mut r, out_null)? },
            Kind::Free => Call::Free { ptr: ptr(&mut r, in_null)? },
            Kind::Calloc => Call::Calloc {
                count: r.varint()?,
                size: r.varint()?,
                result: ptr(&mut r, out_null)?,
            },
            Kind::Realloc => Call::Realloc {
                ptr: ptr(&mut r, in_null)?,
                size: r.varint()?,
                result: ptr(&mut r, out_null)?,
            },
            Kind::ReallocArray => Call::ReallocArray {
                ptr: ptr(&mut r, in_null)?,
                count: r.varint()?,
                size: r.varint()?,
                result: ptr(&mut r, out_null)?,
            },
            Kind::PosixMemalign => Call::PosixMemalign {
                align: r.varint()?,
                size: r.varint()?,
                code: r.varint()?,
                result: ptr(&mut r, out_null)?,
            },
            Kind::AlignedAlloc => Call::AlignedAlloc {
                align: r.varint()?,
                size: r.varint()?,
                result: ptr(&mut r, out_null)?,
            },
            Kind::Memalign => Call::Memalign {
                align: r.varint()?,
                size: r.varint()?,
                result: ptr(&mut r, out_null)?,
            },
            Kind::Valloc => Call::Valloc { size: r.varint()?, result: ptr(&mut r, out_null)? },
            Kind::Pvalloc => Call::Pvalloc { size: r.varint()?, result: ptr(&mut r, out_null)? },
            Kind::Live => Call::Live { size: r.varint()?, result: ptr(&mut r, false)? },
        };
        self.pos = r.pos;
        self.prev_ptr = prev_ptr;
        self.time = time;
        Ok(Raw { offset: start, time, call })
    }
}

fn offset_of(base: u64, pos: usize) -> u64 {
    base.saturating_add(u64::try_from(pos).unwrap_or(u64::MAX))
}

fn invalid(offset: u64, message: impl Into<String>) -> Fail {
    Fail::Invalid(At::new(offset, message))
}

/// A position in a payload; `start` is the offset of the record being read (the offset a
/// record cut short reports).
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    payload_offset: u64,
    start: u64,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, Fail> {
        let b = *self.buf.get(self.pos).ok_or(Fail::Short(self.start))?;
        self.pos = self.pos.saturating_add(1);
        Ok(b)
    }

    /// A LEB128 varint of at most 10 bytes whose value fits in 64 bits.
    fn varint(&mut self) -> Result<u64, Fail> {
        let at = offset_of(self.payload_offset, self.pos);
        let mut value = 0u64;
        for i in 0..VARINT_MAX_BYTES {
            let b = self.byte()?;
            let group = u64::from(b & 0x7f);
            // i < 10, so the shift is at most 63; the last byte holds only bit 63.
            let shift = u32::try_from(i).unwrap_or(0).saturating_mul(7);
            if i == VARINT_MAX_BYTES.saturating_sub(1) && group > 1 {
                return Err(invalid(at, "a varint above 64 bits"));
            }
            value |= group << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(invalid(at, "a varint longer than 10 bytes"))
    }

    /// A pointer: not coded when `null`, else a zigzag delta from the previous one.
    fn pointer(&mut self, null: bool, prev: &mut u64) -> Result<u64, Fail> {
        if null {
            return Ok(0);
        }
        let at = offset_of(self.payload_offset, self.pos);
        let z = self.varint()?;
        // Zigzag: bit 0 is the sign, the rest the magnitude (inverted when negative).
        let delta = ((z >> 1) ^ (z & 1).wrapping_neg()) as i64;
        let p = prev
            .checked_add_signed(delta)
            .ok_or_else(|| invalid(at, "a pointer that leaves the 64-bit range"))?;
        *prev = p;
        Ok(p)
    }
}
