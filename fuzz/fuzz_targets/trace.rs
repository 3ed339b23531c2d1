//! The trace reader (trace/) on arbitrary bytes: opening, every record of the merged order,
//! the status and the history checker must return, never panic, whatever the input.
#![no_main]

use std::io::Cursor;

use bestbuddy_trace::{Trace, check, write_json_line};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(mut trace) = Trace::from_reader(Cursor::new(data), "fuzz") else { return };
    let _ = trace.status().warnings();
    let mut line = Vec::new();
    for rec in trace.records() {
        let Ok(rec) = rec else { break };
        line.clear();
        let _ = write_json_line(&mut line, &rec);
    }
    let _ = check(&mut trace);
});
