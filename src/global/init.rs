//! Lazy initialisation on the first call, the `BESTBUDDY_OPTIONS` that act at start-up (and
//! `BESTBUDDY_TRACE`), the return of a thread's cache when it exits, and the process's exit
//! hook.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::settings::{
    forbid_caching, set_mmap_max, set_mmap_threshold, set_top_pad, set_trim_threshold,
};
use super::{ARENAS, ActiveHeap, MMAP_MAX, MMAP_THRESHOLD, PERTURB, check, set_perturb};
use crate::diag::{self, Line};
use crate::freed;
use crate::heap::{Heap, SpanKind};
use crate::large;
use crate::options::{self, Options, Set};
use crate::seal;
use crate::tcache;
use crate::trace;
use crate::valgrind;

/// Set once the first call has run `init`; checked on every call, so it is the only thing
/// the fast path asks about initialisation.
static READY: AtomicBool = AtomicBool::new(false);
static INIT_STARTED: AtomicBool = AtomicBool::new(false);

/// Everything the allocator sets up on first use. It may run while ld.so is still starting
/// the program, before any constructor; it must not rely on anything but the kernel and the
/// parts of libc that need no initialisation.
#[inline]
pub(crate) fn ensure_init() {
    if !READY.load(Ordering::Acquire) {
        init();
    }
}

#[cold]
#[inline(never)]
fn init() {
    if INIT_STARTED.swap(true, Ordering::AcqRel) {
        // Another thread is initialising, or this thread re-entered from pthread_atfork
        // (which may allocate). The heap works without the rest of initialisation, but not
        // without the secrets it seals metadata with: set them here too (every thread derives
        // the same values), rather than wait for a thread that a fork may have left behind.
        seal::init();
        return;
    }
    seal::init();
    ARENAS.init();
    // SAFETY: the handlers only lock and unlock this allocator's own locks. pthread_atfork
    // may call malloc, which re-enters here and returns at once; no lock is held now.
    unsafe {
        libc::pthread_atfork(
            Some(super::fork::prepare),
            Some(super::fork::parent),
            Some(super::fork::child),
        );
    }
    tcache::init(thread_exit);
    apply_options();
    READY.store(true, Ordering::Release);
}

/// BESTBUDDY_STATS: print the statistics table when the process exits.
static STATS_AT_EXIT: AtomicBool = AtomicBool::new(false);

/// Whether BESTBUDDY_STATS asked for the statistics table at exit.
pub fn stats_at_exit() -> bool {
    STATS_AT_EXIT.load(Ordering::Relaxed)
}

/// Set once BESTBUDDY_OPTIONS has been read and applied.
static OPTIONS_APPLIED: AtomicBool = AtomicBool::new(false);
/// `check=N`: walk every heap every N allocator calls (0: never), counting in `CALLS`.
static CHECK_EVERY: AtomicUsize = AtomicUsize::new(0);
static CALLS: AtomicUsize = AtomicUsize::new(0);

/// Reads the environment (options.rs: BESTBUDDY_OPTIONS and the glibc variables) and applies
/// it, once, through the functions mallopt uses. Before libc has set up the environment
/// this does nothing, and the load-time constructor tries again.
fn apply_options() {
    // Claimed before reading, so that the warnings of a bad option are printed once even if
    // two threads come here at once.
    if OPTIONS_APPLIED.swap(true, Ordering::AcqRel) {
        return;
    }
    let Some(options) = crate::options::read() else {
        OPTIONS_APPLIED.store(false, Ordering::Release);
        return;
    };
    crate::options::publish(&options);
    if let Some(set) = options.arena_max {
        ARENAS.set_limit(set.value);
    }
    if let Some(set) = options.mmap_threshold {
        set_mmap_threshold(set.value);
    }
    if let Some(set) = options.mmap_max {
        set_mmap_max(set.value);
    }
    if let Some(set) = options.trim_threshold {
        set_trim_threshold(set.value);
    }
    if let Some(set) = options.top_pad {
        set_top_pad(set.value);
    }
    if let Some(set) = options.perturb {
        set_perturb(set.value as u8);
    } else if options.junk {
        set_perturb(0x55);
    }
    STATS_AT_EXIT.store(options.stats_at_exit, Ordering::Relaxed);
    if options.check_every != 0 {
        CHECK_EVERY.store(options.check_every, Ordering::Relaxed);
    }
    if options.check_every != 0 || options.tcache_bytes.is_some_and(|set| set.value == 0) {
        forbid_caching();
    }
    if options.verbose {
        print_settings(&options);
    }
    if let Some(path) = options.trace {
        let heap = if super::BACKEND == "buddy" { 2 } else { 1 };
        trace::start(path, heap, each_live_block);
        // From now on this thread's calls miss the fast paths, which do not record.
        tcache::park_this_thread();
    }
}

/// BESTBUDDY_VERBOSE=1: the settings in force, one line each, as `key=value` that
/// BESTBUDDY_OPTIONS would take, with where each came from.
fn print_settings(options: &Options) {
    let line = |key: &str, value: usize, set: Option<Set>, default: &str| {
        let mut line = Line::new();
        line.str("bestbuddy:   ")
            .str(key)
            .str("=")
            .dec(value)
            .str(" (");
        match set {
            Some(set) => line.str(set.from),
            None => line.str(default),
        };
        line.str(")\n").write_to(2);
    };
    let mut head = Line::new();
    head.str("bestbuddy: settings in force, ")
        .str(super::BACKEND)
        .str(" heap:\n")
        .write_to(2);
    line(
        "arena_max",
        ARENAS.count(),
        options.arena_max,
        "default: one per CPU, at least 2, at most 16",
    );
    let caching = tcache::ENABLED.load(Ordering::Relaxed);
    let tcache_bytes = if caching { options::tcache_bytes() } else { 0 };
    let why_not = if caching {
        "default"
    } else {
        "default; off while perturb, junk or check is set"
    };
    line("tcache_bytes", tcache_bytes, options.tcache_bytes, why_not);
    line(
        "trim_delay_ms",
        options::trim_delay_ms() as usize,
        options.trim_delay_ms,
        "default",
    );
    line(
        "mmap_threshold",
        MMAP_THRESHOLD.load(Ordering::Relaxed),
        options.mmap_threshold,
        "default: 256 KiB",
    );
    line(
        "mmap_max",
        MMAP_MAX.load(Ordering::Relaxed),
        options.mmap_max,
        "default",
    );
    line(
        "top_pad",
        options.top_pad.map_or(0, |set| set.value),
        options.top_pad,
        "default",
    );
    line(
        "trim_threshold",
        options.trim_threshold.map_or(64 << 20, |set| set.value),
        options.trim_threshold,
        "default: one free region kept per arena, 64 MiB of large mappings",
    );
    let from_junk = Set {
        value: 0x55,
        from: "junk=1",
    };
    let perturb = options.perturb.or(options.junk.then_some(from_junk));
    line(
        "perturb",
        PERTURB.load(Ordering::Relaxed) as usize,
        perturb,
        "default",
    );
    let check = Set {
        value: options.check_every,
        from: "BESTBUDDY_OPTIONS",
    };
    let check = (options.check_every != 0).then_some(check);
    line("check", options.check_every, check, "default: never");
    let stats = Set {
        value: 1,
        from: "BESTBUDDY_STATS",
    };
    let stats = options.stats_at_exit.then_some(stats);
    line("stats", options.stats_at_exit as usize, stats, "default");
    let mut trace = Line::new();
    trace.str("bestbuddy:   trace=");
    match options.trace {
        Some(path) => trace.bytes(path).str(" (BESTBUDDY_TRACE)\n"),
        None => trace.str("off (BESTBUDDY_TRACE)\n"),
    };
    trace.write_to(2);
}

/// Lists every block the program holds, as (pointer, usable size): the live blocks of
/// every arena's heap but those held by thread caches or remote lists (freed by the
/// program already) and the caches themselves, then the live large blocks. For the
/// trace's `LIVE` records; each arena is walked under its lock.
fn each_live_block(f: &mut dyn FnMut(usize, usize)) {
    ARENAS.each(|heap| {
        let heap: &ActiveHeap = heap;
        // SAFETY: the heap is intact (the lock is held; the walk follows its metadata), and
        // every `Live` span is a block whose payload starts BLOCK_HEADER into it.
        unsafe {
            heap.walk(|span| {
                if span.kind != SpanKind::Live {
                    return;
                }
                let p = span.start + ActiveHeap::BLOCK_HEADER;
                let Ok(usable) = heap.usable_size(p as *mut u8) else {
                    return;
                };
                if !freed::is_held(p as *mut u8) && !tcache::is_cache(p, usable) {
                    f(p, usable);
                }
            });
        }
    });
    large::each_live(f);
}

/// The process is exiting normally (the library's `.fini_array` entry): the trace is
/// finished. The one exit hook of the allocator.
pub fn at_exit() {
    trace::finish();
}

/// `check=N`: every N-th call walks every heap's invariants and aborts with what broke.
#[inline]
pub(super) fn count_call_for_check() {
    let every = CHECK_EVERY.load(Ordering::Relaxed);
    if every != 0 && (CALLS.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(every) {
        check_or_abort();
    }
}

#[cold]
fn check_or_abort() {
    if let Err(broken) = check() {
        diag::fatal_as(
            "check",
            broken,
            "the heap was damaged since the previous check; a smaller check=N stops nearer \
             the write",
        );
    }
}

/// Called from the library's constructor, so that a program pays for initialisation at load
/// rather than in its first allocation. Correctness never depends on it.
pub fn init_at_load() {
    // Under valgrind, the heaps' memory is no-access to the program (`valgrind.rs`).
    valgrind::quietly(|| {
        ensure_init();
        apply_options();
    });
}

/// A thread with a cache is exiting: its blocks go back to the heap.
unsafe extern "C" fn thread_exit(cache: *mut core::ffi::c_void) {
    // Under valgrind, quietly: the heaps' memory is no-access to the program.
    // SAFETY: glibc passes the value this thread set for the key: its own cache.
    valgrind::quietly(|| unsafe { tcache::drain(&ARENAS, cache.cast(), true) });
}
