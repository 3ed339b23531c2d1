//! Reads the malloc traces that bestbuddy writes under `BESTBUDDY_TRACE` (docs/TRACE.md).
//!
//! ```no_run
//! let mut trace = bestbuddy_trace::Trace::open("trace.bin")?;
//! for warning in trace.status().warnings() {
//!     eprintln!("{warning}");
//! }
//! for rec in trace.records() {
//!     let rec = rec?;
//!     println!("{} {:?}", rec.time, rec.call);
//! }
//! # Ok::<(), bestbuddy_trace::TraceError>(())
//! ```
//!
//! [`Trace::open`] reads the header and indexes the chunks, seeking past their payloads;
//! [`Trace::records`] merges the threads' records into the one order of TRACE.md, decoding
//! one chunk per thread at a time, and reading a chunk only when the merge reaches its base
//! time. Memory stays bounded by the number of chunks and the buffers of the threads whose
//! chunks overlap in time, never by the trace's length. Any input, however damaged, gives a
//! [`TraceError`] naming the byte offset, never a panic (the fuzz target `trace` in fuzz/
//! holds the reader to it). [`check`] replays the merged order against a set of live blocks.

mod check;
mod decode;
mod error;
mod format;
mod json;
mod merge;
mod record;
mod trace;

#[cfg(test)]
mod tests;

pub use check::{CheckError, Checker, Impossible, Summary, check};
pub use error::TraceError;
pub use format::{Header, Heap, VERSION};
pub use json::write_json_line;
pub use merge::Records;
pub use record::{Call, Kind, Record};
pub use trace::{Cut, Status, Trace};
