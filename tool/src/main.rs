//! `bestbuddy`: runs a program on one of bestbuddy's heaps (`run`), and replays a malloc
//! trace through both heaps and beside other allocators (`replay`). tool/README.md has the
//! whole story; each file here does one thing:
//!
//! - `run.rs`: `bestbuddy run`, a program with a library preloaded for it alone;
//! - `libs.rs`: where the libraries, the replayer and the other allocators are;
//! - `regions.rs`: the memory the replayed heaps live in (a `RegionSource` of the tool's);
//! - `engine.rs`: one heap core driven by trace records, as the library would serve them;
//! - `replay.rs`: the passes over a trace: figures, timeline, heap maps;
//! - `peers.rs`: the same trace through `bestbuddy-replayer` under other allocators;
//! - `output.rs`: the tables and `replay.json`.

mod engine;
mod libs;
mod output;
mod peers;
mod ptrmap;
mod regions;
mod replay;
mod run;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bestbuddy::bestfit::BestFitHeap;
use bestbuddy::buddy::BuddyHeap;
use bestbuddy_trace::Trace;
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use libs::HeapName;
use regions::Mapped;

/// The exit status of bad input (a missing or invalid trace) and of usage errors.
const BAD_INPUT: u8 = 2;
/// The exit status when the output could not be written.
const FAILED: u8 = 1;

/// A trace this long or longer gets a progress bar (when stderr is a terminal).
const PROGRESS_MIN_RECORDS: u64 = 1_000_000;

#[derive(Parser)]
#[command(
    name = "bestbuddy",
    version,
    about = "Run a program on bestbuddy's heaps, and replay its malloc trace through both",
    long_about = "bestbuddy is a malloc replacement with two heap policies, best fit and buddy.\n\n\
        `bestbuddy run` runs a program on one of them (LD_PRELOAD set for that program alone), \
        optionally recording every malloc-family call into a trace.\n\
        `bestbuddy replay` replays such a trace through both heaps inside this tool, one \
        thread, deterministically, and shows what each heap would have done with the \
        program's memory: peak footprint, fragmentation, time per call; and, where they are \
        installed, the same trace's peak RSS and time under glibc, jemalloc and mimalloc.\n\n\
        Example:\n  bestbuddy run --trace py.trace -- python3 script.py\n  \
        bestbuddy replay py.trace --out report/"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a program with one of the heaps as its malloc.
    #[command(
        long_about = "Run CMD with bestbuddy's library preloaded (LD_PRELOAD is set in CMD's \
        environment only, ahead of any LD_PRELOAD already there). The library is looked for \
        beside this tool: out/bestfit/libbestbuddy.so or out/buddy/libbestbuddy.so from \
        out/bin/bestbuddy (the build tree), or PREFIX/lib/libbestbuddy.so.0 and \
        PREFIX/lib/libbestbuddy-buddy.so.0 from PREFIX/bin/bestbuddy (an install).\n\n\
        Exit status: CMD's own, or 128 + the signal that killed it; 125 when the library is \
        missing, 126 when CMD cannot be executed, 127 when it is not found.",
        after_help = "Example: bestbuddy run --heap buddy --stats -- python3 -c 'print(1)'"
    )]
    Run {
        /// Which heap serves the program's malloc.
        #[arg(long, value_enum, default_value_t = HeapName::BestFit)]
        heap: HeapName,
        /// Print the allocator's statistics table to stderr when the program exits
        /// (sets BESTBUDDY_STATS=1).
        #[arg(long)]
        stats: bool,
        /// Record every malloc-family call into FILE (sets BESTBUDDY_TRACE to its absolute
        /// path; format: docs/TRACE.md). Children that fork write FILE.PID.
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
        /// The program and its arguments (after `--`).
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, value_name = "CMD")]
        command: Vec<OsString>,
    },
    /// Replay a trace through both heaps and compare them (and other allocators).
    #[command(
        long_about = "Replay TRACE (written by `bestbuddy run --trace`, or BESTBUDDY_TRACE) \
        through the heap cores compiled into this tool, over memory the tool maps itself: one \
        thread replays the calls of all threads in the trace's merged order, so two replays \
        give the same figures (only the timings differ). The trace is streamed, never loaded \
        whole: memory grows with the blocks live at once, not with the trace's length.\n\n\
        For each heap it prints: the peak footprint (heap regions mapped plus the mappings of \
        blocks too large for the heap), the peak of the bytes the program had asked for, and \
        at the peak (the call with the largest footprint, the fullest such call): internal \
        fragmentation (bytes reserved for the live blocks, headers and rounding included, \
        over bytes asked for), the largest free block, and external fragmentation (1 - \
        largest free block / free bytes); then the time per call (wall clock of the replay \
        loop, reading the trace included).\n\n\
        Unless --no-peers, it then runs `bestbuddy-replayer` (beside this tool), which makes \
        the trace's calls for real, under glibc's malloc, under jemalloc and mimalloc where \
        Debian's packages installed them, and under both bestbuddy libraries, and prints the \
        peak RSS and time of each.\n\n\
        A trace cut off mid-record (the program died) is replayed up to its last whole \
        record, with a warning. Exit status: 0 fine; 2 a missing or invalid trace (one line \
        on stderr: `bestbuddy: TRACE: byte N: what`), or an impossible history (a free of a \
        pointer never allocated, a block handed out twice); 1 the output could not be written.",
        after_help = "Example: bestbuddy replay py.trace --heap both --out report/"
    )]
    Replay {
        /// The trace file.
        trace: PathBuf,
        /// Which heaps to replay through.
        #[arg(long, value_enum, default_value_t = HeapChoice::Both)]
        heap: HeapChoice,
        /// Also write into DIR: replay.json (the figures, a timeline of each heap of about
        /// 2000 samples, heap maps at the peak and at the end), the charts drawn from it
        /// (footprint.svg/.png, map-HEAP-peak/end.svg/.png) and report.html, one
        /// self-contained page with the tables and the charts.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Skip the replays under other allocators.
        #[arg(long)]
        no_peers: bool,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum HeapChoice {
    BestFit,
    Buddy,
    Both,
}

/// Why the tool stops: the status, and one line for stderr.
pub struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// A missing or invalid trace: exit status 2.
    pub fn input(message: String) -> Failure {
        Failure { code: BAD_INPUT, message }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Run { heap, stats, trace, command } => {
            run::run(run::RunRequest { heap, stats, trace, command })
                .map_err(|(code, message)| Failure { code, message })
        }
        Cmd::Replay { trace, heap, out, no_peers } => replay_cmd(&trace, heap, out.as_deref(), no_peers).map(|()| 0),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("bestbuddy: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn replay_cmd(path: &Path, which: HeapChoice, out: Option<&Path>, no_peers: bool) -> Result<(), Failure> {
    let trace = Trace::open(path).map_err(|e| Failure::input(e.to_string()))?;
    let status = trace.status();
    let mut warnings = status.warnings();
    for w in &warnings {
        eprintln!("bestbuddy: warning: {}: {w}", path.display());
    }
    let records = trace.record_count();
    let threads = trace.thread_count();
    drop(trace);

    let heaps: &[HeapName] = match which {
        HeapChoice::BestFit => &[HeapName::BestFit],
        HeapChoice::Buddy => &[HeapName::Buddy],
        HeapChoice::Both => &[HeapName::BestFit, HeapName::Buddy],
    };
    let maps = out.is_some();
    let mut runs = Vec::new();
    for &heap in heaps {
        let bar = progress(records, heap.name());
        let run = match heap {
            HeapName::BestFit => replay::run::<BestFitHeap<Mapped<0>>>(path, maps, &bar),
            HeapName::Buddy => replay::run::<BuddyHeap<Mapped<1>>>(path, maps, &bar),
        };
        bar.finish_and_clear();
        runs.push(run?);
    }

    let cut = if status.cut.is_some() { ", CUT OFF: figures up to the last whole record" } else { "" };
    let ended = if status.ended { "" } else { ", no END chunk (the program did not exit normally)" };
    let plural = |n: u64, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    println!("{}: {}, {}{cut}{ended}", path.display(), plural(records, "call"), plural(threads as u64, "thread"));
    println!();
    print!("{}", output::heap_table(&runs));

    let peers = if no_peers { Vec::new() } else { peers::run_all(path, &mut warnings) };
    if !peers.is_empty() {
        println!();
        print!("{}", output::peer_table(&peers));
    }
    for w in warnings.iter().filter(|w| w.starts_with("peer")) {
        eprintln!("bestbuddy: warning: {w}");
    }

    if let Some(dir) = out {
        let json = output::ReplayJson {
            trace: path.display().to_string(),
            records,
            threads,
            complete: status.is_complete(),
            warnings,
            heaps: runs.iter().map(output::HeapJson::of).collect(),
            peers: peers.iter().map(output::PeerJson::of).collect(),
        };
        write_json(dir, &json)?;
    }
    Ok(())
}

fn write_json(dir: &Path, json: &output::ReplayJson) -> Result<(), Failure> {
    let failed = |e: std::io::Error| Failure { code: FAILED, message: format!("{}: {e}", dir.display()) };
    std::fs::create_dir_all(dir).map_err(failed)?;
    let path = dir.join("replay.json");
    let text = serde_json::to_string(json).map_err(|e| Failure { code: FAILED, message: e.to_string() })?;
    std::fs::write(&path, text + "\n").map_err(failed)?;
    let files = bestbuddy_report::render(&path, dir)
        .map_err(|e| Failure { code: FAILED, message: format!("{}: {e}", dir.display()) })?;
    if let Some(report) = files.last() {
        eprintln!("bestbuddy: wrote {} and its charts", report.display());
    }
    Ok(())
}

/// A progress bar with an ETA on stderr, for a long trace on a terminal; hidden otherwise.
fn progress(records: u64, heap: &str) -> ProgressBar {
    if records < PROGRESS_MIN_RECORDS || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(records), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{prefix:>8} [{bar:40}] {human_pos}/{human_len} calls, ETA {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(heap.to_owned());
    bar
}
