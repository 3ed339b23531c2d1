//! `dump`'s line for one record: a JSON object with the fields its kind has, in the order
//! thread, tid, seq, time, kind, ptr, count, size, align, code, result. Every value is a
//! number or a fixed string, so nothing needs escaping.

use std::io::{self, Write};

use crate::record::Record;

/// Writes `rec` as one JSON line (with its newline).
pub fn write_json_line(out: &mut impl Write, rec: &Record) -> io::Result<()> {
    let c = &rec.call;
    write!(
        out,
        "{{\"thread\":{},\"tid\":{},\"seq\":{},\"time\":{},\"kind\":\"{}\"",
        rec.thread,
        rec.tid,
        rec.seq,
        rec.time,
        c.kind().name()
    )?;
    if let Some(p) = c.ptr() {
        write!(out, ",\"ptr\":\"{p:#x}\"")?;
    }
    if let Some(n) = c.count() {
        write!(out, ",\"count\":{n}")?;
    }
    if let Some(n) = c.size() {
        write!(out, ",\"size\":{n}")?;
    }
    if let Some(n) = c.align() {
        write!(out, ",\"align\":{n}")?;
    }
    if let Some(n) = c.code() {
        write!(out, ",\"code\":{n}")?;
    }
    if let Some(p) = c.result() {
        write!(out, ",\"result\":\"{p:#x}\"")?;
    }
    out.write_all(b"}\n")
}
