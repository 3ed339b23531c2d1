//! The `bestbuddy` binary from outside: `replay` on traces written by the reader crate's test
//! encoder (every bad input, a cut-off trace, determinism, the figures against the
//! sequence's own arithmetic, replay.json's fields), and `run` finding the library and
//! setting the environment of the program alone.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::arithmetic_side_effects, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bestbuddy_trace::Call;
use serde_json::Value;

// The encoder written from docs/TRACE.md for the reader's own tests (trace/src/tests/).
#[path = "../../trace/src/tests/encoder.rs"]
mod encoder;

use encoder::TraceWriter;

const CHUNK: u64 = 4 << 20;

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let path = tmp(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Runs `bestbuddy ARGS`: status, stdout, stderr.
fn bestbuddy(args: &[&str]) -> (i32, String, String) {
    output(Command::new(env!("CARGO_BIN_EXE_bestbuddy")).args(args))
}

fn output(cmd: &mut Command) -> (i32, String, String) {
    let Output { status, stdout, stderr } = cmd.output().unwrap();
    (status.code().unwrap_or(-1), String::from_utf8(stdout).unwrap(), String::from_utf8(stderr).unwrap())
}

/// Replays `trace` with `--out` (and any `extra` arguments) and returns replay.json.
fn replay_json(trace: &Path, dir: &str, extra: &[&str]) -> Value {
    let out = tmp(dir);
    let mut args = vec!["replay", trace.to_str().unwrap(), "--no-peers", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = bestbuddy(&args);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    serde_json::from_str(&std::fs::read_to_string(out.join("replay.json")).unwrap()).unwrap()
}

/// Asserts a failed replay: status 2, one line `bestbuddy: PATH: byte N: ...` with `text`.
#[track_caller]
fn assert_bad(trace: &Path, offset: u64, text: &str) {
    let (code, stdout, stderr) = bestbuddy(&["replay", trace.to_str().unwrap(), "--no-peers"]);
    assert_eq!(code, 2, "stderr: {stderr}");
    assert_eq!(stdout, "", "nothing on stdout for bad input");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    let prefix = format!("bestbuddy: {}: byte {offset}: ", trace.display());
    assert!(stderr.starts_with(&prefix), "'{prefix}' not at the start of: {stderr}");
    assert!(stderr.contains(text), "'{text}' not in: {stderr}");
}

/// A small trace of two threads with every kind of call.
fn sample() -> Vec<u8> {
    let mut w = TraceWriter::new(1_000_000, 4);
    let mut t = 0;
    let mut call = |w: &mut TraceWriter, thread: u32, c: Call| {
        t += 10;
        w.call(thread, t, c);
    };
    call(&mut w, 1, Call::Live { size: 40, result: 0x1000 });
    call(&mut w, 1, Call::Malloc { size: 100, result: 0x2000 });
    call(&mut w, 2, Call::Calloc { count: 10, size: 30, result: 0x3000 });
    call(&mut w, 1, Call::Realloc { ptr: 0x2000, size: 5000, result: 0x4000 });
    call(&mut w, 2, Call::PosixMemalign { align: 256, size: 1000, code: 0, result: 0x5000 });
    call(&mut w, 1, Call::Malloc { size: 3 << 20, result: 0x7000_0000 });
    call(&mut w, 2, Call::Free { ptr: 0x3000 });
    call(&mut w, 1, Call::Malloc { size: 1 << 40, result: 0 });
    call(&mut w, 2, Call::AlignedAlloc { align: 64, size: 64, result: 0x6000 });
    call(&mut w, 1, Call::Realloc { ptr: 0x4000, size: 0, result: 0 });
    call(&mut w, 2, Call::ReallocArray { ptr: 0x6000, count: 4, size: 100, result: 0x6000 });
    call(&mut w, 1, Call::Valloc { size: 10, result: 0x8000 });
    call(&mut w, 2, Call::Pvalloc { size: 10, result: 0x9000 });
    call(&mut w, 1, Call::Memalign { align: 8, size: 24, result: 0xa000 });
    call(&mut w, 2, Call::Free { ptr: 0 });
    call(&mut w, 1, Call::Free { ptr: 0x7000_0000 });
    w.finish().0
}

/// The live requested bytes after each call of `sample()`, by its own arithmetic.
const SAMPLE_REQUESTED: [u64; 16] = {
    let big = 3 << 20;
    [
        40,
        140,
        440,
        5340,
        6340,
        6340 + big,
        6040 + big,
        6040 + big,
        6104 + big,
        1104 + big,
        1440 + big,
        1450 + big,
        1450 + 4096 + big,
        1450 + 4096 + 24 + big,
        1450 + 4096 + 24 + big,
        1450 + 4096 + 24,
    ]
};

#[test]
fn replay_reproduces_the_live_bytes_of_the_sequence() {
    let json = replay_json(&write("sample.bin", &sample()), "sample-out", &[]);
    assert_eq!(json["records"], 16);
    assert_eq!(json["threads"], 2);
    assert_eq!(json["complete"], true);
    for heap in json["heaps"].as_array().unwrap() {
        let timeline = heap["timeline"].as_array().unwrap();
        // 16 calls: every call is a sample, after call 0 (nothing yet).
        assert_eq!(timeline.len(), 17, "{}", heap["name"]);
        assert_eq!(timeline[0]["requested"], 0);
        for (i, want) in SAMPLE_REQUESTED.iter().enumerate() {
            let p = &timeline[i + 1];
            assert_eq!(p["call"], i as u64 + 1);
            assert_eq!(p["requested"], *want, "{} after call {}", heap["name"], i + 1);
            let (reserved, footprint) = (p["reserved"].as_u64().unwrap(), p["heap"].as_u64().unwrap());
            assert!(reserved >= *want, "reserved below requested at {}", i + 1);
            assert!(footprint >= reserved && footprint % 4096 == 0);
        }
        // The 3 MiB block is a mapping of its own for best fit (above its 1 MiB), a heap
        // block for buddy: either way the footprint holds it.
        let at_big = &timeline[6];
        assert!(at_big["heap"].as_u64().unwrap() >= (3 << 20) + CHUNK);
        assert_eq!(heap["table"]["calls"], 16);
        assert_eq!(heap["table"]["peak_live_requested"], SAMPLE_REQUESTED.iter().max().copied().unwrap());
    }
}

#[test]
fn the_replay_says_which_heap_and_shows_the_table() {
    let trace = write("sample-table.bin", &sample());
    let (code, stdout, stderr) = bestbuddy(&["replay", trace.to_str().unwrap(), "--no-peers", "--heap", "buddy"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("16 calls, 2 threads"), "{stdout}");
    assert!(stdout.contains("buddy") && !stdout.contains("best-fit"), "{stdout}");
    for row in ["peak footprint", "peak live requested", "internal fragmentation", "external fragmentation", "largest free block", "time per call"] {
        assert!(stdout.contains(row), "no '{row}' in:\n{stdout}");
    }
}

/// Many blocks freed in a scattered order: both heaps grow past one region and fragment.
fn churn(records: u64) -> Vec<u8> {
    let mut w = TraceWriter::new(0, 500);
    let mut live: Vec<u64> = Vec::new();
    let mut x: u64 = 12345;
    let mut next = 0x10_0000u64;
    for i in 0..records {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        if live.len() > 2000 || (!live.is_empty() && (x >> 33).is_multiple_of(3)) {
            let p = live.swap_remove(((x >> 20) as usize) % live.len());
            w.call(1, i, Call::Free { ptr: p });
        } else {
            let size = [24, 100, 700, 3000, 40_000][((x >> 40) % 5) as usize] + (x >> 50) % 64;
            next += 0x10_0000;
            w.call(1, i, Call::Malloc { size, result: next });
            live.push(next);
        }
    }
    w.finish().0
}

/// The JSON without what may differ between two replays: the timings and the addresses.
fn without_timings(mut v: Value) -> Value {
    for heap in v["heaps"].as_array_mut().unwrap() {
        heap["table"]["ns_per_call"] = Value::Null;
        for which in ["peak", "end"] {
            for r in heap["maps"][which]["regions"].as_array_mut().unwrap() {
                r["base"] = Value::Null;
            }
        }
    }
    v
}

#[test]
fn two_replays_give_the_same_figures() {
    let trace = write("churn.bin", &churn(30_000));
    let a = without_timings(replay_json(&trace, "det-a", &[]));
    let b = without_timings(replay_json(&trace, "det-b", &[]));
    for heap in a["heaps"].as_array().unwrap() {
        assert!(heap["table"]["peak_footprint"].as_u64().unwrap() > CHUNK, "wants more than one region");
    }
    assert_eq!(a, b);
}

#[test]
fn replay_json_has_the_fields_of_the_contract() {
    let json = replay_json(&write("churn-schema.bin", &churn(20_000)), "schema", &[]);
    for key in ["trace", "records", "threads", "complete", "warnings", "heaps", "peers"] {
        assert!(json.get(key).is_some(), "no {key}");
    }
    let heaps = json["heaps"].as_array().unwrap();
    assert_eq!(heaps.iter().map(|h| h["name"].as_str().unwrap()).collect::<Vec<_>>(), ["best-fit", "buddy"]);
    for heap in heaps {
        let table = &heap["table"];
        for key in [
            "calls",
            "peak_footprint",
            "peak_live_requested",
            "internal_fragmentation",
            "external_fragmentation_at_peak",
            "largest_free_at_peak",
            "ns_per_call",
            "peak_call",
        ] {
            assert!(table.get(key).is_some(), "no table.{key}");
        }
        let timeline = heap["timeline"].as_array().unwrap();
        assert!(timeline.len() <= 2003, "{} samples", timeline.len());
        let calls: Vec<u64> = timeline.iter().map(|p| p["call"].as_u64().unwrap()).collect();
        assert!(calls.windows(2).all(|w| w[0] < w[1]), "samples in call order");
        assert!(calls.contains(&table["peak_call"].as_u64().unwrap()), "the peak is a sample");
        assert_eq!(calls.last(), Some(&20_000), "the last call is a sample");
        let peak = timeline.iter().find(|p| p["call"] == table["peak_call"]).unwrap();
        assert_eq!(peak["heap"], table["peak_footprint"]);
        assert!(timeline.iter().all(|p| p["heap"].as_u64() <= table["peak_footprint"].as_u64()));
        for key in ["call", "time_ns", "requested", "reserved", "heap"] {
            assert!(peak.get(key).is_some(), "no timeline.{key}");
        }
        for (which, call) in [("peak", table["peak_call"].as_u64().unwrap()), ("end", 20_000)] {
            let map = &heap["maps"][which];
            assert_eq!(map["call"], call);
            let cell = map["cell_bytes"].as_u64().unwrap();
            assert!(cell >= 16 && cell.is_power_of_two());
            let regions = map["regions"].as_array().unwrap();
            assert!(!regions.is_empty());
            let mut cells = 0;
            for r in regions {
                assert!(r["base"].as_str().unwrap().starts_with("0x"));
                let s = r["cells"].as_str().unwrap();
                assert_eq!(s.len() as u64, CHUNK / cell);
                assert!(s.chars().all(|c| "MLPF".contains(c)), "{s}");
                assert!(s.contains('M') && s.contains('L'), "metadata and live blocks drawn");
                cells += s.len();
            }
            assert!(cells <= 65_536);
            let all: String = regions.iter().map(|r| r["cells"].as_str().unwrap()).collect();
            assert!(all.contains('F'), "free space drawn");
            if heap["name"] == "buddy" {
                // 40,000-byte blocks in 65,536-byte buddies: whole cells of padding.
                assert!(all.contains('P'), "buddy's rounding drawn");
            }
        }
    }
}

#[test]
fn a_long_trace_samples_the_timeline_evenly() {
    let json = replay_json(&write("churn-long.bin", &churn(50_000)), "long", &["--heap", "best-fit"]);
    let heaps = json["heaps"].as_array().unwrap();
    assert_eq!(heaps.len(), 1);
    let n = heaps[0]["timeline"].as_array().unwrap().len();
    assert!((2000..=2003).contains(&n), "{n} samples");
}

#[test]
fn a_missing_trace_is_bad_input() {
    let path = tmp("no-such-trace.bin");
    assert_bad(&path, 0, "cannot open");
}

#[test]
fn a_corrupt_header_is_bad_input() {
    let mut bytes = sample();
    bytes[0] = b'X';
    assert_bad(&write("bad-magic.bin", &bytes), 0, "magic");
    assert_bad(&write("short.bin", &bytes[..10]), 10, "shorter than");
}

#[test]
fn a_newer_version_is_bad_input() {
    let mut bytes = sample();
    bytes[8] = 2;
    assert_bad(&write("newer.bin", &bytes), 8, "newer");
}

#[test]
fn an_impossible_record_is_bad_input() {
    let mut w = TraceWriter::new(0, 100);
    w.call(1, 1, Call::Malloc { size: 10, result: 0x1000 });
    let (mut bytes, _) = w.finish();
    // The record's tag, right after the header and the chunk header: kind 31 is no kind.
    let at = encoder::HEADER_LEN + encoder::CHUNK_HEADER_LEN;
    bytes[at] = 31;
    assert_bad(&write("bad-kind.bin", &bytes), at as u64, "kind");
}

#[test]
fn a_free_of_a_pointer_never_allocated_is_bad_input() {
    let mut w = TraceWriter::new(0, 100);
    w.call(1, 1, Call::Malloc { size: 10, result: 0x1000 });
    w.call(1, 2, Call::Free { ptr: 0x2000 });
    let (bytes, written) = w.finish();
    assert_bad(&write("bad-free.bin", &bytes), written[1].offset, "free of 0x2000, which is not live");

    let mut w = TraceWriter::new(0, 100);
    w.call(1, 1, Call::Realloc { ptr: 0x3000, size: 10, result: 0x4000 });
    let (bytes, written) = w.finish();
    assert_bad(&write("bad-realloc.bin", &bytes), written[0].offset, "realloc of 0x3000, which is not live");
}

#[test]
fn a_block_handed_out_twice_is_bad_input() {
    let mut w = TraceWriter::new(0, 100);
    w.call(1, 1, Call::Malloc { size: 10, result: 0x1000 });
    w.call(1, 2, Call::Calloc { count: 1, size: 10, result: 0x1000 });
    let (bytes, written) = w.finish();
    assert_bad(&write("twice.bin", &bytes), written[1].offset, "calloc returned 0x1000, which is already live");
}

#[test]
fn a_cut_off_trace_is_replayed_up_to_the_cut_and_says_so() {
    let mut w = TraceWriter::new(0, 1000);
    for i in 0..10u64 {
        w.call(1, i, Call::Malloc { size: 100, result: 0x1000 + i * 0x100 });
    }
    let (bytes, written) = w.finish_without_end();
    // Cut in the middle of the 8th record: 7 whole ones stay.
    let cut = (written[7].offset + 1) as usize;
    let trace = write("cut.bin", &bytes[..cut]);
    let out = tmp("cut-out");
    let (code, stdout, stderr) =
        bestbuddy(&["replay", trace.to_str().unwrap(), "--no-peers", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("warning") && stderr.contains("cut off"), "{stderr}");
    assert!(stdout.contains("7 calls") && stdout.contains("CUT OFF"), "{stdout}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(out.join("replay.json")).unwrap()).unwrap();
    assert_eq!(json["complete"], false);
    assert!(json["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("cut off")));
    for heap in json["heaps"].as_array().unwrap() {
        assert_eq!(heap["table"]["calls"], 7);
        assert_eq!(heap["table"]["peak_live_requested"], 700);
    }
}

#[test]
fn peers_replay_the_trace_under_glibc() {
    let trace = write("peers.bin", &sample());
    let out = tmp("peers-out");
    let (code, stdout, stderr) = bestbuddy(&["replay", trace.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("glibc"), "{stdout}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(out.join("replay.json")).unwrap()).unwrap();
    let glibc = json["peers"].as_array().unwrap().iter().find(|p| p["name"] == "glibc").expect("a glibc row");
    assert!(glibc["peak_rss"].as_u64().unwrap() > 0);
    assert!(glibc["seconds"].as_f64().is_some());
}

/// A copy of the tool in `root/bin`, with `lib` (relative to `root`) as the library: the
/// real one when `make` built it, an empty file otherwise (ld.so then warns and goes on).
fn installed(root: &str, lib: &str) -> PathBuf {
    let root = tmp(root);
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("bin")).unwrap();
    let tool = root.join("bin/bestbuddy");
    std::fs::copy(env!("CARGO_BIN_EXE_bestbuddy"), &tool).unwrap();
    let lib_path = root.join(lib);
    std::fs::create_dir_all(lib_path.parent().unwrap()).unwrap();
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../out/bestfit/libbestbuddy.so");
    if lib.contains("buddy") || !built.is_file() {
        std::fs::write(&lib_path, b"").unwrap();
    } else {
        std::fs::copy(built, &lib_path).unwrap();
    }
    tool
}

#[test]
fn run_preloads_the_library_beside_it_for_the_program_alone() {
    let tool = installed("tree/out", "bestfit/libbestbuddy.so");
    let lib = tool.parent().unwrap().join("../bestfit/libbestbuddy.so").canonicalize().unwrap();
    let (code, stdout, stderr) = output(
        Command::new(&tool)
            .args(["run", "--stats", "--trace", "rel.trace", "--", "sh", "-c"])
            .arg("echo \"$LD_PRELOAD|$BESTBUDDY_STATS|$BESTBUDDY_TRACE\"")
            .env_remove("LD_PRELOAD")
            .env_remove("BESTBUDDY_STATS")
            .current_dir(tmp("")),
    );
    assert_eq!(code, 0, "{stderr}");
    let trace = tmp("rel.trace");
    assert_eq!(stdout.trim(), format!("{}|1|{}", lib.display(), trace.display()));
}

#[test]
fn run_finds_the_buddy_library_under_an_install_prefix() {
    let tool = installed("prefix", "lib/libbestbuddy-buddy.so.0");
    let (code, stdout, stderr) = output(
        Command::new(&tool)
            .args(["run", "--heap", "buddy", "--", "sh", "-c", "echo $LD_PRELOAD; echo ${BESTBUDDY_STATS:-unset}"])
            .env("LD_PRELOAD", "/other.so")
            .env_remove("BESTBUDDY_STATS"),
    );
    assert_eq!(code, 0, "{stderr}");
    let lib = tmp("prefix/lib/libbestbuddy-buddy.so.0").canonicalize().unwrap();
    assert_eq!(stdout, format!("{}:/other.so\nunset\n", lib.display()));
}

#[test]
fn run_exits_with_the_programs_status() {
    let tool = installed("status/out", "bestfit/libbestbuddy.so");
    let (code, _, _) = output(Command::new(&tool).args(["run", "--", "sh", "-c", "exit 7"]));
    assert_eq!(code, 7);
    let (code, _, _) = output(Command::new(&tool).args(["run", "--", "sh", "-c", "kill -9 $$"]));
    assert_eq!(code, 128 + 9);
    let (code, _, stderr) = output(Command::new(&tool).args(["run", "--", "/no/such/program"]));
    assert_eq!(code, 127, "{stderr}");
}

#[test]
fn run_without_the_library_says_where_it_looked() {
    // The test binary's own directory has no out/bestfit beside it.
    let (code, stdout, stderr) = bestbuddy(&["run", "--heap", "buddy", "--", "true"]);
    assert_eq!(code, 125);
    assert_eq!(stdout, "");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("bestbuddy: no buddy library beside the tool: looked for "), "{stderr}");
    assert!(stderr.contains("buddy/libbestbuddy.so") && stderr.contains("lib/libbestbuddy-buddy.so.0"), "{stderr}");
}
