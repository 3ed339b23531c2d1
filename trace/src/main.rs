//! `bestbuddy-trace`: dump, check and count the records of a bestbuddy trace.
//! Exit status: 0 fine, 1 `check` found an impossible history, 2 an invalid trace or a
//! usage error.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use bestbuddy_trace::{CheckError, Kind, Trace, TraceError, check, write_json_line};

const USAGE: &str = "\
usage: bestbuddy-trace COMMAND FILE

Reads a trace that bestbuddy wrote under BESTBUDDY_TRACE=FILE (format: docs/TRACE.md).

commands:
  dump FILE    print every record in the merged order of all threads, one JSON object a line:
               {\"thread\":N,\"tid\":N,\"seq\":N,\"time\":NS,\"kind\":\"malloc\",\"size\":N,\"result\":\"0x..\"}
               (time: ns since tracing started; only the fields the call has)
  check FILE   check that the history is possible (no block handed out twice, no free of a
               block that is not live) and summarise the trace
  stat FILE    count the records of each kind

Warnings (a trace cut off, or without its END chunk) go to stderr.
Exit status: 0 fine, 1 check found an impossible history, 2 an invalid trace or a usage error.

options:
  -h, --help     this text
  -V, --version  the version";

const PROG: &str = "bestbuddy-trace";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    match strs.as_slice() {
        [] => usage_error("no command given"),
        ["-h" | "--help" | "help", ..] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        ["-V" | "--version", ..] => {
            println!("{PROG} {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        ["dump", file] => run(file, dump),
        ["check", file] => run(file, check_cmd),
        ["stat", file] => run(file, stat),
        [cmd @ ("dump" | "check" | "stat"), ..] => usage_error(&format!("{cmd} takes one FILE")),
        [other, ..] => usage_error(&format!("unknown command '{other}'")),
    }
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("{PROG}: {msg}\nusage: {PROG} dump|check|stat FILE (see {PROG} --help)");
    ExitCode::from(2)
}

/// What a command ended on: an exit status, after what it printed.
enum Failure {
    Invalid(TraceError),
    Impossible(String),
    Output(io::Error),
}

fn run(file: &str, cmd: fn(&mut Trace<File>) -> Result<(), Failure>) -> ExitCode {
    let mut trace = match Trace::open(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{PROG}: {e}");
            return ExitCode::from(2);
        }
    };
    let result = cmd(&mut trace);
    // After the output, so that a reader of a long dump sees them last.
    for w in trace.status().warnings() {
        eprintln!("{PROG}: warning: {file}: {w}");
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Invalid(e)) => {
            eprintln!("{PROG}: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Impossible(msg)) => {
            eprintln!("{PROG}: {msg}");
            ExitCode::from(1)
        }
        // A closed pipe (`dump | head`) is the reader's choice, not a failure.
        Err(Failure::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Failure::Output(e)) => {
            eprintln!("{PROG}: writing the output: {e}");
            ExitCode::from(2)
        }
    }
}

fn dump(trace: &mut Trace<File>) -> Result<(), Failure> {
    let mut out = BufWriter::new(io::stdout().lock());
    for rec in trace.records() {
        let rec = rec.map_err(Failure::Invalid)?;
        write_json_line(&mut out, &rec).map_err(Failure::Output)?;
    }
    out.flush().map_err(Failure::Output)
}

fn check_cmd(trace: &mut Trace<File>) -> Result<(), Failure> {
    let s = check(trace).map_err(|e| match e {
        CheckError::Invalid(e) => Failure::Invalid(e),
        CheckError::Impossible(e) => Failure::Impossible(e.to_string()),
    })?;
    let h = *trace.header();
    let data = trace.len().saturating_sub(u64::from(h.len));
    let per_record = if s.records == 0 { 0.0 } else { data as f64 / s.records as f64 };
    let whole = if trace.status().is_complete() {
        "complete (the process finished it)"
    } else {
        "NOT complete (see the warnings)"
    };
    let fork = if h.fork_child { ", a fork child of" } else { ", parent" };
    println!(
        "{}: a possible history: {} from {} in {}, {:.2} bytes per record, over {:.3} s; \
         pid {}{} {}, {} heap; trace {}. At the end {} ({} bytes asked for) were live; at most \
         {}, {} bytes.",
        trace.name(),
        plural(s.records, "record"),
        plural(trace.thread_count() as u64, "thread"),
        plural(trace.chunk_count() as u64, "chunk"),
        per_record,
        s.last_time as f64 / 1e9,
        h.pid,
        fork,
        h.ppid,
        h.heap.name(),
        whole,
        plural(s.live_blocks as u64, "block"),
        s.live_bytes,
        plural(s.peak_blocks as u64, "block"),
        s.peak_bytes
    );
    Ok(())
}

fn plural(n: u64, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

fn stat(trace: &mut Trace<File>) -> Result<(), Failure> {
    let mut counts = [0u64; 11];
    let mut total = 0u64;
    for rec in trace.records() {
        let rec = rec.map_err(Failure::Invalid)?;
        let i = usize::from(rec.kind() as u8).saturating_sub(1);
        if let Some(n) = counts.get_mut(i) {
            *n = n.saturating_add(1);
        }
        total = total.saturating_add(1);
    }
    let mut out = io::stdout().lock();
    let mut w = || -> io::Result<()> {
        for (kind, n) in Kind::ALL.iter().zip(counts) {
            if n > 0 {
                writeln!(out, "{:<15} {n}", kind.name())?;
            }
        }
        writeln!(out, "{:<15} {total}", "records")?;
        writeln!(out, "{:<15} {}", "threads", trace.thread_count())?;
        writeln!(out, "{:<15} {}", "chunks", trace.chunk_count())?;
        writeln!(out, "{:<15} {}", "bytes", trace.len())
    };
    w().map_err(Failure::Output)
}
