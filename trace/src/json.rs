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
    // (name, value, whether it is a pointer, printed as a hex string)
    let fields = [
        ("ptr", c.ptr(), true),
        ("count", c.count(), false),
        ("size", c.size(), false),
        ("align", c.align(), false),
        ("code", c.code(), false),
        ("result", c.result(), true),
    ];
    for (name, value, pointer) in fields {
        match value {
            Some(v) if pointer => write!(out, ",\"{name}\":\"{v:#x}\"")?,
            Some(v) => write!(out, ",\"{name}\":{v}")?,
            None => {}
        }
    }
    out.write_all(b"}\n")
}
