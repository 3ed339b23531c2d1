//! The `bestbuddy-trace` binary: its output, warnings and exit statuses.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::arithmetic_side_effects, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

use bestbuddy_trace::Call;

#[path = "../src/tests/encoder.rs"]
mod encoder;

use encoder::TraceWriter;

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn run(args: &[&str]) -> (i32, String, String) {
    let Output { status, stdout, stderr } =
        Command::new(env!("CARGO_BIN_EXE_bestbuddy-trace")).args(args).output().unwrap();
    (status.code().unwrap(), String::from_utf8(stdout).unwrap(), String::from_utf8(stderr).unwrap())
}

fn sample() -> Vec<u8> {
    let mut w = TraceWriter::new(1_000_000, 100);
    w.call(1, 5, Call::Malloc { size: 24, result: 0x7f00_0010 });
    w.call(2, 6, Call::PosixMemalign { align: 64, size: 100, code: 0, result: 0x7f00_0040 });
    w.call(1, 7, Call::ReallocArray { ptr: 0x7f00_0010, count: 3, size: 8, result: 0x7f00_0010 });
    w.call(2, 8, Call::Free { ptr: 0 });
    w.call(1, 9, Call::Realloc { ptr: 0x7f00_0010, size: 0, result: 0 });
    w.finish().0
}

#[test]
fn dump_prints_one_json_line_a_record() {
    let path = write("sample.bin", &sample());
    let (code, out, err) = run(&["dump", path.to_str().unwrap()]);
    assert_eq!((code, err.as_str()), (0, ""));
    let want = [
        r#"{"thread":1,"tid":1001,"seq":0,"time":5,"kind":"malloc","size":24,"result":"0x7f000010"}"#,
        r#"{"thread":2,"tid":1002,"seq":0,"time":6,"kind":"posix_memalign","size":100,"align":64,"code":0,"result":"0x7f000040"}"#,
        r#"{"thread":1,"tid":1001,"seq":1,"time":7,"kind":"reallocarray","ptr":"0x7f000010","count":3,"size":8,"result":"0x7f000010"}"#,
        r#"{"thread":2,"tid":1002,"seq":1,"time":8,"kind":"free","ptr":"0x0"}"#,
        r#"{"thread":1,"tid":1001,"seq":2,"time":9,"kind":"realloc","ptr":"0x7f000010","size":0,"result":"0x0"}"#,
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), want);
}

#[test]
fn check_and_stat_summarise() {
    let path = write("sample2.bin", &sample());
    let (code, out, err) = run(&["check", path.to_str().unwrap()]);
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    assert!(out.contains("5 records from 2 threads") && out.contains("complete (the process finished it)"), "{out}");
    let (code, out, _) = run(&["stat", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("posix_memalign  1\n") && out.contains("records         5\n"), "{out}");
}

#[test]
fn warnings_go_to_stderr() {
    let bytes = sample();
    let path = write("cut.bin", &bytes[..bytes.len() - 43]);
    let (code, out, err) = run(&["check", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("NOT complete"), "{out}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].starts_with(&format!("bestbuddy-trace: warning: {}: cut off at byte", path.display())), "{err}");
    assert!(lines[1].contains("no END chunk"), "{err}");
}

#[test]
fn exit_statuses() {
    let mut w = TraceWriter::new(0, 10);
    w.call(1, 1, Call::Free { ptr: 0x10 });
    let path = write("double.bin", &w.finish().0);
    let (code, _, err) = run(&["check", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("byte 72: impossible history: free of 0x10, which is not live"), "{err}");
    let mut bad = sample();
    bad[72] = 17;
    let path = write("bad.bin", &bad);
    let (code, out, err) = run(&["dump", path.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert_eq!(err, format!("bestbuddy-trace: {}: byte 72: unknown record kind 17\n", path.display()));
    assert_eq!(run(&["check", "/nonexistent/x.bin"]).0, 2);
    assert_eq!(run(&[]).0, 2);
    assert_eq!(run(&["frob", "x"]).0, 2);
    assert_eq!(run(&["dump"]).0, 2);
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("usage: bestbuddy-trace COMMAND FILE"));
}
