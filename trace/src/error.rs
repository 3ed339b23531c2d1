//! The one error type of the reader: where in the file, and what.

use std::fmt;

/// An invalid trace, or a read that failed: the file's name, the byte offset in the file
/// of what is wrong, and a message. `Display` gives one line,
/// `trace.bin: byte 1234: unknown record kind 17`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceError {
    /// The name the trace was opened with (its path, or what the caller named it).
    pub file: String,
    /// The byte offset in the file of the field or record at fault.
    pub offset: u64,
    pub message: String,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: byte {}: {}", self.file, self.offset, self.message)
    }
}

impl std::error::Error for TraceError {}

/// An error without the file's name: the decoding layers know offsets, and the [`Trace`]
/// that owns the name completes it.
///
/// [`Trace`]: crate::Trace
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct At {
    pub offset: u64,
    pub message: String,
}

impl At {
    pub fn new(offset: u64, message: impl Into<String>) -> At {
        At { offset, message: message.into() }
    }

    pub fn io(offset: u64, err: &std::io::Error) -> At {
        At::new(offset, format!("read failed: {err}"))
    }

    pub fn named(self, file: &str) -> TraceError {
        TraceError { file: file.to_owned(), offset: self.offset, message: self.message }
    }
}
