//! The history checker: walks the merged order keeping the set of live blocks, and finds
//! the first record that no run of the heap could have produced (docs/TRACE.md: in the
//! merged order no result is live, and every non-null free names a live block).

use std::collections::HashMap;
use std::fmt;
use std::io::{Read, Seek};

use crate::error::TraceError;
use crate::record::{Call, Kind, Record};
use crate::trace::Trace;

/// A record that contradicts the live set before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Impossible {
    pub file: String,
    pub offset: u64,
    pub thread: u32,
    pub seq: u64,
    pub message: String,
}

impl fmt::Display for Impossible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: byte {}: impossible history: {} (thread {}, record {})",
            self.file, self.offset, self.message, self.thread, self.seq
        )
    }
}

impl std::error::Error for Impossible {}

/// Why [`check`] stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckError {
    /// The trace is invalid.
    Invalid(TraceError),
    /// The trace is valid, but its history is not a possible one.
    Impossible(Impossible),
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::Invalid(e) => e.fmt(f),
            CheckError::Impossible(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for CheckError {}

/// The live blocks, by address, with the size each was asked for (for `LIVE`, its usable
/// size; for calloc and reallocarray, count times size, saturated). Memory is bounded by
/// the live blocks, not by the trace.
#[derive(Debug, Default)]
pub struct Checker {
    live: HashMap<u64, u64>,
    live_bytes: u64,
    peak_blocks: usize,
    peak_bytes: u64,
}

impl Checker {
    pub fn new() -> Checker {
        Checker::default()
    }

    /// Applies one record of the merged order; on an impossibility the live set is left as
    /// it was before the record, and the `String` says what is wrong.
    pub fn apply(&mut self, call: &Call) -> Result<(), String> {
        match *call {
            Call::Free { ptr } => self.release(ptr, Kind::Free),
            Call::Realloc { ptr, size, result } => self.realloc(Kind::Realloc, ptr, Some(size), result),
            Call::ReallocArray { ptr, count, size, result } => {
                self.realloc(Kind::ReallocArray, ptr, count.checked_mul(size), result)
            }
            Call::Calloc { count, size, result } => {
                self.acquire(call.kind(), result, count.saturating_mul(size))
            }
            Call::Malloc { size, result }
            | Call::PosixMemalign { size, result, .. }
            | Call::AlignedAlloc { size, result, .. }
            | Call::Memalign { size, result, .. }
            | Call::Valloc { size, result }
            | Call::Pvalloc { size, result }
            | Call::Live { size, result } => self.acquire(call.kind(), result, size),
        }
    }

    /// `bytes`: the size asked for, `None` when count times size overflowed.
    fn realloc(&mut self, kind: Kind, ptr: u64, bytes: Option<u64>, result: u64) -> Result<(), String> {
        let name = kind.name();
        if ptr != 0 && !self.live.contains_key(&ptr) {
            return Err(format!("{name} of {ptr:#x}, which is not live"));
        }
        if result == 0 {
            // realloc(p, 0) freed p; with a size above 0 the call failed and p stays live.
            if bytes == Some(0) && ptr != 0 {
                self.release(ptr, kind)?;
            }
            return Ok(());
        }
        if result != ptr && self.live.contains_key(&result) {
            return Err(format!("{name} returned {result:#x}, which is already live"));
        }
        if ptr != 0 {
            self.release(ptr, kind)?;
        }
        self.acquire(kind, result, bytes.unwrap_or(u64::MAX))
    }

    fn acquire(&mut self, kind: Kind, result: u64, size: u64) -> Result<(), String> {
        if result == 0 {
            return Ok(());
        }
        if self.live.contains_key(&result) {
            return Err(format!("{} returned {result:#x}, which is already live", kind.name()));
        }
        self.live.insert(result, size);
        self.live_bytes = self.live_bytes.saturating_add(size);
        self.peak_blocks = self.peak_blocks.max(self.live.len());
        self.peak_bytes = self.peak_bytes.max(self.live_bytes);
        Ok(())
    }

    fn release(&mut self, ptr: u64, kind: Kind) -> Result<(), String> {
        if ptr == 0 {
            return Ok(());
        }
        match self.live.remove(&ptr) {
            Some(size) => {
                self.live_bytes = self.live_bytes.saturating_sub(size);
                Ok(())
            }
            None => Err(format!("{} of {ptr:#x}, which is not live", kind.name())),
        }
    }

    /// Blocks live now.
    pub fn live_blocks(&self) -> usize {
        self.live.len()
    }

    /// The bytes asked for by the blocks live now.
    pub fn live_bytes(&self) -> u64 {
        self.live_bytes
    }

    pub fn peak_blocks(&self) -> usize {
        self.peak_blocks
    }

    pub fn peak_bytes(&self) -> u64 {
        self.peak_bytes
    }
}

/// What a trace whose history is possible holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub records: u64,
    /// Records per kind, indexed by `Kind as usize - 1`.
    pub per_kind: [u64; 11],
    /// Nanoseconds from the trace's start to its last record.
    pub last_time: u64,
    pub live_blocks: usize,
    pub live_bytes: u64,
    pub peak_blocks: usize,
    pub peak_bytes: u64,
}

impl Summary {
    pub fn count(&self, kind: Kind) -> u64 {
        let i = usize::from(kind as u8).saturating_sub(1);
        self.per_kind.get(i).copied().unwrap_or(0)
    }

    fn add(&mut self, rec: &Record) {
        self.records = self.records.saturating_add(1);
        let i = usize::from(rec.kind() as u8).saturating_sub(1);
        if let Some(n) = self.per_kind.get_mut(i) {
            *n = n.saturating_add(1);
        }
        self.last_time = self.last_time.max(rec.time);
    }
}

/// Reads every record of `trace` in the merged order and checks its history.
pub fn check<R: Read + Seek>(trace: &mut Trace<R>) -> Result<Summary, CheckError> {
    let name = trace.name().to_owned();
    let mut checker = Checker::new();
    let mut summary = Summary::default();
    for rec in trace.records() {
        let rec = rec.map_err(CheckError::Invalid)?;
        checker.apply(&rec.call).map_err(|message| {
            CheckError::Impossible(Impossible {
                file: name.clone(),
                offset: rec.offset,
                thread: rec.thread,
                seq: rec.seq,
                message,
            })
        })?;
        summary.add(&rec);
    }
    summary.live_blocks = checker.live_blocks();
    summary.live_bytes = checker.live_bytes();
    summary.peak_blocks = checker.peak_blocks();
    summary.peak_bytes = checker.peak_bytes();
    Ok(summary)
}
