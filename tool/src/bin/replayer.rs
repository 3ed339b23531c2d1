//! `bestbuddy-replayer TRACE`: makes the trace's calls for real, with whatever malloc the
//! process has (`bestbuddy replay` runs it with glibc's, and with jemalloc, mimalloc and both
//! of bestbuddy's heaps preloaded), then prints one JSON line:
//! `{"calls":N,"peak_rss":BYTES,"seconds":S}`: peak RSS (VmHWM; the replayer's own
//! memory included, the same for every allocator), and the CPU seconds (user and system) of
//! the replay loop: CPU time rather than wall time, so that `bestbuddy replay` can run the
//! allocators side by side on a machine with cores to spare without each one's figure
//! counting the time it waited for a core.
//!
//! Each block is a real call of the same entry point with the same arguments, kept in a map
//! under the traced pointer; a byte in each page of a new block is written, as the program
//! would fill what it asked for, so that its pages count as resident (a realloc writes the
//! whole new block again: the bytes it copied are resident already). Failed calls (a null result) are not made. A free of a pointer that
//! is not live exits with status 2 (`bestbuddy replay` checks the trace before it runs this).

use std::ffi::c_void;
use std::process::ExitCode;

use bestbuddy_trace::{Call, Trace};

#[path = "../ptrmap.rs"]
mod ptrmap;
use ptrmap::PtrMap;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path] = args.as_slice() else {
        eprintln!("usage: bestbuddy-replayer TRACE");
        return ExitCode::from(2);
    };
    match replay(path) {
        Ok((calls, seconds)) => {
            println!("{{\"calls\":{calls},\"peak_rss\":{},\"seconds\":{seconds}}}", peak_rss());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bestbuddy-replayer: {e}");
            ExitCode::from(2)
        }
    }
}

fn replay(path: &str) -> Result<(u64, f64), String> {
    let mut trace = Trace::open(path).map_err(|e| e.to_string())?;
    let mut live: Live = PtrMap::default();
    let mut calls = 0u64;
    let started = cpu_seconds();
    for rec in trace.records() {
        let rec = rec.map_err(|e| e.to_string())?;
        apply(&mut live, &rec.call).map_err(|m| format!("{path}: byte {}: {m}", rec.offset))?;
        calls += 1;
    }
    let seconds = cpu_seconds() - started;
    for (_, p) in live.drain() {
        // SAFETY: every pointer in the map is a live block of this process's malloc.
        unsafe { libc::free(p as *mut c_void) };
    }
    Ok((calls, seconds))
}

type Live = PtrMap<usize>;

/// Makes one call; `live` maps traced pointers to ours.
fn apply(live: &mut Live, call: &Call) -> Result<(), String> {
    let name = call.kind().name();
    let n = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    // SAFETY: every call below takes plain sizes, or pointers this process's malloc returned
    // that are still live (taken out of the map, so each is used once).
    let got = unsafe {
        match *call {
            Call::Free { ptr } => {
                if ptr != 0 {
                    libc::free(take(live, name, ptr)?);
                }
                return Ok(());
            }
            Call::Realloc { ptr, size, result } => return realloc(live, name, ptr, Some(size), result),
            Call::ReallocArray { ptr, count, size, result } => {
                return realloc(live, name, ptr, count.checked_mul(size), result);
            }
            _ if call.result() == Some(0) => return Ok(()),
            Call::Malloc { size, .. } | Call::Live { size, .. } => libc::malloc(n(size)),
            Call::Calloc { count, size, .. } => libc::calloc(n(count), n(size)),
            Call::PosixMemalign { align, size, .. } => {
                let mut p = std::ptr::null_mut();
                if libc::posix_memalign(&mut p, n(align), n(size)) != 0 {
                    p = std::ptr::null_mut();
                }
                p
            }
            Call::AlignedAlloc { align, size, .. } => libc::aligned_alloc(n(align), n(size)),
            Call::Memalign { align, size, .. } => libc::memalign(n(align), n(size)),
            Call::Valloc { size, .. } => valloc(n(size)),
            Call::Pvalloc { size, .. } => pvalloc(n(size)),
        }
    };
    let size = match *call {
        Call::Calloc { count, size, .. } => count.saturating_mul(size),
        Call::Pvalloc { size, .. } => size.next_multiple_of(4096),
        _ => call.size().unwrap_or(0),
    };
    store(live, name, call.result().unwrap_or(0), got, size)
}

/// realloc and reallocarray (`bytes`: count times size, `None` past 2^64).
fn realloc(live: &mut Live, name: &str, ptr: u64, bytes: Option<u64>, result: u64) -> Result<(), String> {
    let Some(bytes) = bytes else { return Ok(()) };
    if result == 0 {
        // realloc(p, 0) freed p; with a size above 0 the call failed and p stays live.
        if bytes == 0 && ptr != 0 {
            // SAFETY: a live block of this process's malloc, taken out of the map.
            unsafe { libc::free(take(live, name, ptr)?) };
        }
        return Ok(());
    }
    let old = if ptr == 0 { std::ptr::null_mut() } else { take(live, name, ptr)? };
    let size = usize::try_from(bytes).unwrap_or(usize::MAX).max(1);
    // SAFETY: null or a live block of this process's malloc, taken out of the map.
    let got = unsafe { libc::realloc(old, size) };
    store(live, name, result, got, bytes)
}

fn take(live: &mut Live, name: &str, ptr: u64) -> Result<*mut c_void, String> {
    live.remove(&ptr).map(|p| p as *mut c_void).ok_or_else(|| format!("{name} of {ptr:#x}, which is not live"))
}

/// Keeps the block `got` (of `size` bytes) under the traced `result`, after writing a byte
/// in each of its pages.
fn store(live: &mut Live, name: &str, result: u64, got: *mut c_void, size: u64) -> Result<(), String> {
    if got.is_null() {
        return Err(format!("{name} failed here, where the traced program's call succeeded"));
    }
    let size = usize::try_from(size).unwrap_or(usize::MAX).max(1);
    for offset in (0..size).step_by(4096) {
        // SAFETY: inside the fresh block of `size` bytes (malloc(0) of every allocator here
        // hands out a block of 16 or more, so offset 0 is in one).
        unsafe { got.cast::<u8>().add(offset).write_volatile(1) };
    }
    if live.insert(result, got as usize).is_some() {
        return Err(format!("{name} returned {result:#x}, which is already live"));
    }
    Ok(())
}

// Not in the libc crate: glibc's symbols (every allocator here has them too).
unsafe extern "C" {
    fn valloc(size: usize) -> *mut c_void;
    fn pvalloc(size: usize) -> *mut c_void;
}

/// Peak resident set size of this process, in bytes.
/// CPU seconds this process has used, user and system.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes the struct it is given.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn peak_rss() -> u64 {
    // VmHWM, the peak of this process image's own memory. Not getrusage's ru_maxrss: Linux
    // starts that at exec from the peak of the process that forked (the tool, which may have
    // just replayed the same trace), so every allocator would show the tool's figure.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}
