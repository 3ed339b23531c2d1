//! Unit tests: traces written by the test encoder (encoder.rs, written from docs/TRACE.md)
//! and read back; every rejection of TRACE.md with its byte offset; cuts at every byte.
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

mod checker;
mod encoder;
mod fixtures;
mod merge;
mod reject;
mod roundtrip;

use std::io::Cursor;

use crate::{Call, Record, Trace, TraceError};

pub(crate) fn open(bytes: &[u8]) -> Result<Trace<Cursor<&[u8]>>, TraceError> {
    Trace::from_reader(Cursor::new(bytes), "t.bin")
}

/// Every record, or the first error (an open error included).
pub(crate) fn read_all(bytes: &[u8]) -> Result<Vec<Record>, TraceError> {
    open(bytes)?.records().collect()
}

pub(crate) fn err_of(bytes: &[u8]) -> TraceError {
    match read_all(bytes) {
        Ok(r) => panic!("accepted an invalid trace ({} records)", r.len()),
        Err(e) => e,
    }
}

/// Asserts the error is at `offset` and its message contains `text`.
#[track_caller]
pub(crate) fn assert_rejects(bytes: &[u8], offset: u64, text: &str) {
    let e = err_of(bytes);
    assert_eq!(e.offset, offset, "wrong offset in: {e}");
    assert!(e.message.contains(text), "'{text}' not in: {e}");
    assert!(e.to_string().starts_with(&format!("t.bin: byte {offset}: ")), "{e}");
}
