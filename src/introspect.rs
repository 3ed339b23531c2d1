//! mallopt, mallinfo, mallinfo2, malloc_stats, malloc_info and malloc_trim: glibc's
//! introspection calls, answered with this heap's own figures.
//!
//! Each reads the heaps' own memory, which memcheck takes for no-access (`valgrind.rs`):
//! each runs quietly.

use core::ffi::{c_int, c_void};

use crate::counters::Counter;
use crate::diag::Line;
use crate::global::{self, Snapshot};
use crate::valgrind;

// mallopt parameters (malloc.h).
const M_MXFAST: c_int = 1;
const M_TRIM_THRESHOLD: c_int = -1;
const M_TOP_PAD: c_int = -2;
const M_MMAP_THRESHOLD: c_int = -3;
const M_MMAP_MAX: c_int = -4;
const M_PERTURB: c_int = -6;
const M_ARENA_MAX: c_int = -8;

/// glibc's largest M_MXFAST (its MAX_FAST_SIZE on 64-bit).
const MXFAST_MAX: c_int = 160;

/// mallopt answers as glibc 2.36 does: 1 for every parameter, known or not, except an
/// M_MXFAST outside 0..=160. A negative value is taken as glibc takes it, converted to
/// size_t (so "as large as can be"). What each parameter does here is in the README.
pub fn mallopt(param: c_int, value: c_int) -> c_int {
    valgrind::quietly(|| mallopt_quietly(param, value))
}

fn mallopt_quietly(param: c_int, value: c_int) -> c_int {
    let bytes = value as isize as usize;
    match param {
        M_MXFAST => return (0..=MXFAST_MAX).contains(&value) as c_int,
        M_MMAP_THRESHOLD => global::set_mmap_threshold(bytes),
        M_TRIM_THRESHOLD => global::set_trim_threshold(bytes),
        M_TOP_PAD => global::set_top_pad(bytes),
        M_MMAP_MAX => global::set_mmap_max(value.max(0) as usize),
        M_PERTURB => global::set_perturb(value as u8),
        // glibc ignores a value of 0 or less.
        M_ARENA_MAX if value > 0 => global::set_arena_max(value as usize),
        // M_CHECK_ACTION (misuse always aborts here), M_ARENA_TEST (arenas are not created
        // on demand) and anything unknown: accepted, as glibc accepts them.
        _ => {}
    }
    1
}

/// glibc's `struct mallinfo2`: field names kept, meanings mapped onto this heap.
#[repr(C)]
pub struct Mallinfo2 {
    /// Bytes mapped for heap regions.
    pub arena: usize,
    /// Free blocks in the heap.
    pub ordblks: usize,
    pub smblks: usize,
    /// Large blocks, each in a mapping of its own.
    pub hblks: usize,
    /// Bytes mapped for large blocks.
    pub hblkhd: usize,
    pub usmblks: usize,
    pub fsmblks: usize,
    /// Bytes of heap blocks in use (overhead included).
    pub uordblks: usize,
    /// Bytes of free heap blocks.
    pub fordblks: usize,
    /// Bytes malloc_trim could give back at once (wholly free regions, kept large mappings).
    pub keepcost: usize,
}

/// glibc's older `struct mallinfo`, whose fields are int (figures saturate).
#[repr(C)]
pub struct Mallinfo {
    pub arena: c_int,
    pub ordblks: c_int,
    pub smblks: c_int,
    pub hblks: c_int,
    pub hblkhd: c_int,
    pub usmblks: c_int,
    pub fsmblks: c_int,
    pub uordblks: c_int,
    pub fordblks: c_int,
    pub keepcost: c_int,
}

pub fn mallinfo2() -> Mallinfo2 {
    let s = valgrind::quietly(global::snapshot);
    Mallinfo2 {
        arena: global::region_bytes(&s.heap),
        ordblks: s.heap.free_blocks,
        // glibc's fastbins hold freed small blocks for quick reuse, as the thread caches do.
        smblks: s.cache.cached_blocks,
        hblks: s.large_count,
        hblkhd: s.large_bytes,
        // glibc once reported its peak here ("maximum total allocated space").
        usmblks: s.heap.peak_used,
        fsmblks: s.cache.cached_bytes,
        uordblks: s.heap.used,
        fordblks: s.heap.free,
        keepcost: s.heap.spare + s.kept_bytes,
    }
}

pub fn mallinfo() -> Mallinfo {
    let m = mallinfo2();
    let int = |v: usize| v.min(c_int::MAX as usize) as c_int;
    Mallinfo {
        arena: int(m.arena),
        ordblks: int(m.ordblks),
        smblks: int(m.smblks),
        hblks: int(m.hblks),
        hblkhd: int(m.hblkhd),
        usmblks: int(m.usmblks),
        fsmblks: int(m.fsmblks),
        uordblks: int(m.uordblks),
        fordblks: int(m.fordblks),
        keepcost: int(m.keepcost),
    }
}

/// Every figure of the statistics, as `bestbuddy_stats_get` fills it (`struct
/// bestbuddy_stats` in C). Fields are only ever added at the end, so
/// that a program built against an older header gets the fields it knows. Bytes unless
/// named otherwise. Peaks are each arena's own, added up: exact for a program whose threads
/// share one arena, an upper bound otherwise.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct BestbuddyStats {
    /// Blocks the program holds (heap blocks not held by a thread cache, and large blocks).
    pub live_blocks: u64,
    /// Their usable bytes (a large block counts its whole mapping).
    pub live_bytes: u64,
    /// Bytes mapped for heap regions, and the most there have been.
    pub heap_mapped: u64,
    pub heap_mapped_peak: u64,
    /// Bytes of heap blocks in use, headers and thread caches included, and the peak.
    pub heap_in_use: u64,
    pub heap_in_use_peak: u64,
    /// Free bytes inside the heap regions, in how many free blocks.
    pub heap_free: u64,
    pub heap_free_blocks: u64,
    /// The largest free block of any heap.
    pub largest_free: u64,
    /// External fragmentation: 1 - largest_free / heap_free (0 when nothing is free), over
    /// every region's free memory, wholly free regions kept for reuse included: no free
    /// block spans two regions, so a heap of several regions shows some by construction.
    pub fragmentation: f64,
    /// Blocks held by the thread caches, and those other threads handed back for a cache to
    /// take (an arena's stacks by size class), and their usable bytes.
    pub cached_blocks: u64,
    pub cached_bytes: u64,
    /// Large blocks (a mapping each), their mapped bytes and the peak of those.
    pub large_blocks: u64,
    pub large_bytes: u64,
    pub large_bytes_peak: u64,
    /// Freed large mappings kept for reuse.
    pub large_kept_bytes: u64,
    /// Calls per entry point (aliases such as cfree and __libc_malloc count as theirs).
    pub calls_malloc: u64,
    pub calls_free: u64,
    pub calls_calloc: u64,
    pub calls_realloc: u64,
    pub calls_reallocarray: u64,
    pub calls_posix_memalign: u64,
    pub calls_aligned_alloc: u64,
    pub calls_memalign: u64,
    pub calls_valloc: u64,
    pub calls_pvalloc: u64,
    pub calls_malloc_usable_size: u64,
    /// Allocations a thread cache served, and refills of a cache from the heap.
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// Frees a thread cache took.
    pub cache_frees: u64,
    /// Blocks freed by a thread for another arena without taking its lock.
    pub remote_frees: u64,
    /// malloc_trim calls, and bytes given back to the OS (regions, pages, large mappings).
    pub trims: u64,
    /// Bytes unmapped: heap regions and large mappings.
    pub returned_bytes: u64,
    /// Resident bytes of the process now, and the most there have been.
    pub rss: u64,
    pub rss_peak: u64,
    /// Bytes of free pages inside the heap given back to the OS (MADV_DONTNEED) by
    /// malloc_trim, by the trim of an arena whose last thread exited (after the
    /// `trim_delay_ms` option), and by a free that forms a free block of 1 MiB or more.
    /// Added at every trim: pages trimmed twice count twice.
    pub trimmed_bytes: u64,
}

/// Every figure of the statistics, from one snapshot.
pub fn stats() -> BestbuddyStats {
    from_snapshot(&valgrind::quietly(global::snapshot))
}

fn from_snapshot(s: &Snapshot) -> BestbuddyStats {
    let c = s.cache.counters.calls();
    let n = |v: usize| v as u64;
    BestbuddyStats {
        live_blocks: n(s.live_blocks()),
        live_bytes: n(s.live_bytes()),
        heap_mapped: n(global::region_bytes(&s.heap)),
        heap_mapped_peak: n(s.heap.peak_regions * global::REGION_BYTES),
        heap_in_use: n(s.heap.used),
        heap_in_use_peak: n(s.heap.peak_used),
        heap_free: n(s.heap.free),
        heap_free_blocks: n(s.heap.free_blocks),
        largest_free: n(s.heap.largest_free),
        fragmentation: s.fragmentation_permille() as f64 / 1000.0,
        cached_blocks: n(s.cache.cached_blocks),
        cached_bytes: n(s.cache.cached_bytes),
        large_blocks: n(s.large_count),
        large_bytes: n(s.large_bytes),
        large_bytes_peak: n(s.max_large_bytes),
        large_kept_bytes: n(s.kept_bytes),
        calls_malloc: c.malloc,
        calls_free: c.free,
        calls_calloc: c.calloc,
        calls_realloc: c.realloc,
        calls_reallocarray: c.reallocarray,
        calls_posix_memalign: c.posix_memalign,
        calls_aligned_alloc: c.aligned_alloc,
        calls_memalign: c.memalign,
        calls_valloc: c.valloc,
        calls_pvalloc: c.pvalloc,
        calls_malloc_usable_size: c.malloc_usable_size,
        cache_hits: s.cache.counters.get(Counter::CacheHits),
        cache_misses: s.cache.counters.get(Counter::CacheMisses),
        cache_frees: s.cache.counters.get(Counter::CacheFrees),
        remote_frees: s.cache.counters.get(Counter::RemoteFrees),
        trims: n(s.trims),
        returned_bytes: n(s.returned()),
        rss: n(s.rss),
        rss_peak: n(s.peak_rss),
        trimmed_bytes: n(s.heap.decommitted + s.heap.purged),
    }
}

/// Fills the first `size` bytes of `*out` with the statistics (a caller built against an
/// older, shorter struct gets the fields it knows; a longer one gets zeroes past ours).
/// 0, or -1 with errno EINVAL for a null `out` or a `size` below one field.
///
/// # Safety
/// `out` is null or valid for writing `size` bytes.
pub unsafe fn stats_get(out: *mut BestbuddyStats, size: usize) -> c_int {
    if out.is_null() || size < core::mem::size_of::<u64>() {
        crate::os::set_errno(libc::EINVAL);
        return -1;
    }
    let stats = stats();
    let ours = core::mem::size_of::<BestbuddyStats>();
    // SAFETY: the caller vouches for `size` bytes at `out`; `stats` is a plain struct of
    // `ours` bytes, of which the first `size.min(ours)` are copied.
    unsafe {
        let out = out.cast::<u8>();
        core::ptr::copy_nonoverlapping(
            (&stats as *const BestbuddyStats).cast::<u8>(),
            out,
            size.min(ours),
        );
        if size > ours {
            core::ptr::write_bytes(out.add(ours), 0, size - ours);
        }
    }
    0
}

/// Column where the "now" figures end, and the "peak" ones, in the statistics table.
const NOW_END: usize = 32;
const PEAK_END: usize = 46;

/// One row of the table: a label, the figure now, the peak (if any), a note.
fn row(
    label: &str,
    now: impl FnOnce(&mut Line),
    peak: Option<usize>,
    note: impl FnOnce(&mut Line),
) {
    let mut line = Line::new();
    line.str("  ").str(label);
    let width = NOW_END - line.len();
    line.right(width, now);
    if let Some(peak) = peak {
        line.right(PEAK_END - NOW_END, |l| {
            l.bytes_human(peak);
        });
    }
    line.pad_to(PEAK_END).str("   ");
    note(&mut line);
    line.str("\n");
    line.write_to(2);
}

/// Writes the statistics table to stderr: what `BESTBUDDY_STATS=1` prints at exit and what
/// `malloc_stats()` prints. Ends with a walk over every heap block that checks the counts.
pub fn print_stats() {
    valgrind::quietly(print_stats_quietly);
}

fn print_stats_quietly() {
    let s = global::snapshot();
    let walk = global::walk_check();
    let c = s.cache.counters.calls();
    let mut head = Line::new();
    head.str("bestbuddy: statistics of process ")
        // SAFETY: getpid has no preconditions.
        .dec(unsafe { libc::getpid() } as usize)
        .str(", ")
        .str(global::BACKEND)
        .str(" heap\n");
    head.write_to(2);
    let mut columns = Line::new();
    columns.pad_to(NOW_END - 3).str("now");
    columns.pad_to(PEAK_END - 4).str("peak\n");
    columns.write_to(2);
    row(
        "live blocks",
        |l| {
            l.grouped(s.live_blocks());
        },
        None,
        |l| {
            l.str("held by the program: heap blocks and large ones");
        },
    );
    row(
        "live bytes",
        |l| {
            l.bytes_human(s.live_bytes());
        },
        None,
        |l| {
            l.str("usable bytes of those");
        },
    );
    row(
        "heap mapped",
        |l| {
            l.bytes_human(global::region_bytes(&s.heap));
        },
        Some(s.heap.peak_regions * global::REGION_BYTES),
        |l| {
            l.grouped(s.heap.regions)
                .str(plural(s.heap.regions, " region", " regions"))
                .str(" of ")
                .bytes_human(global::REGION_BYTES);
        },
    );
    row(
        "heap in use",
        |l| {
            l.bytes_human(s.heap.used);
        },
        Some(s.heap.peak_used),
        |l| {
            l.grouped(s.heap.used_blocks)
                .str(" blocks, headers and thread caches included");
        },
    );
    row(
        "thread caches",
        |l| {
            l.bytes_human(s.cache.cached_bytes);
        },
        None,
        |l| {
            l.grouped(s.cache.cached_blocks).str(plural(
                s.cache.cached_blocks,
                " block",
                " blocks",
            ));
        },
    );
    row(
        "free in heap",
        |l| {
            l.bytes_human(s.heap.free);
        },
        None,
        |l| {
            l.grouped(s.heap.free_blocks)
                .str(plural(s.heap.free_blocks, " block", " blocks"));
        },
    );
    row(
        "largest free",
        |l| {
            l.bytes_human(s.heap.largest_free);
        },
        None,
        |l| {
            l.str("external fragmentation ")
                .percent(s.fragmentation_permille());
        },
    );
    row(
        "large blocks",
        |l| {
            l.bytes_human(s.large_bytes);
        },
        Some(s.max_large_bytes),
        |l| {
            l.grouped(s.large_count)
                .str(plural(s.large_count, " mapping; ", " mappings; "))
                .bytes_human(s.kept_bytes)
                .str(" kept for reuse");
        },
    );
    row(
        "resident (RSS)",
        |l| {
            l.bytes_human(s.rss);
        },
        Some(s.peak_rss),
        |_| {},
    );
    row(
        "unmapped",
        |l| {
            l.bytes_human(s.returned());
        },
        None,
        |l| {
            l.str("regions and large mappings given back to the OS");
        },
    );
    row(
        "trimmed",
        |l| {
            l.bytes_human(s.heap.decommitted + s.heap.purged);
        },
        None,
        |l| {
            l.str("free pages given back by ")
                .grouped(s.trims)
                .str(plural(s.trims, " malloc_trim call", " malloc_trim calls"))
                .str(", idle arenas and free blocks of 1 MiB or more (each counts its own)");
        },
    );
    let mut calls = Line::new();
    calls.str("  calls: malloc ").grouped(c.malloc as usize);
    calls.str(", free ").grouped(c.free as usize);
    calls.str(", calloc ").grouped(c.calloc as usize);
    calls.str(", realloc ").grouped(c.realloc as usize);
    for (name, n) in [
        ("reallocarray", c.reallocarray),
        ("posix_memalign", c.posix_memalign),
        ("aligned_alloc", c.aligned_alloc),
        ("memalign", c.memalign),
        ("valloc", c.valloc),
        ("pvalloc", c.pvalloc),
        ("malloc_usable_size", c.malloc_usable_size),
    ] {
        if n != 0 {
            calls.str(", ").str(name).str(" ").grouped(n as usize);
        }
    }
    calls.str("\n");
    calls.write_to(2);
    let hits = s.cache.counters.get(Counter::CacheHits) as usize;
    let misses = s.cache.counters.get(Counter::CacheMisses) as usize;
    let mut cache = Line::new();
    cache
        .str("  thread caches: ")
        .grouped(hits)
        .str(" allocations served (");
    let permille = match hits + misses {
        0 => 0,
        all => (hits as u128 * 1000 / all as u128) as usize,
    };
    cache
        .percent(permille)
        .str("), ")
        .grouped(misses)
        .str(" refills, ");
    cache
        .grouped(s.cache.counters.get(Counter::CacheFrees) as usize)
        .str(" frees taken, ");
    cache
        .grouped(s.cache.counters.get(Counter::RemoteFrees) as usize)
        .str(" remote frees\n");
    cache.write_to(2);
    let mut check = Line::new();
    check
        .str("  heap walk: ")
        .grouped(walk.walked_blocks)
        .str(" blocks in use, ");
    check.bytes_human(walk.walked_bytes);
    if walk.agrees() {
        check.str(": agrees with the counters");
    } else {
        check
            .str(": DISAGREES with the counters (")
            .grouped(walk.counted_blocks);
        check
            .str(" blocks, ")
            .grouped(walk.counted_bytes)
            .str(" bytes)");
    }
    check.str("; the program holds ").grouped(walk.live_blocks).str(" of them, ");
    check.bytes_human(walk.live_bytes).str(" usable\n");
    check.write_to(2);
}

/// The process is exiting normally: the statistics table, if BESTBUDDY_STATS asked for
/// it, then what the allocator itself does at exit (`global::at_exit`: the trace's end).
pub fn at_exit() {
    if global::stats_at_exit() {
        print_stats();
    }
    valgrind::quietly(global::at_exit);
}

/// `one` when `n` is 1, else `many`.
fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

/// Prints the statistics table to stderr (the same as `BESTBUDDY_STATS=1` at exit).
pub fn malloc_stats() {
    print_stats();
}

/// Writes the heap's figures as XML to `stream` in the shape of glibc's malloc_info: one
/// `<heap>` per arena in use, then the totals; options must be 0 (else EINVAL, as glibc).
/// The thread caches are reported as glibc reports its fastbins (`type="fast"`).
///
/// # Safety
/// `stream` must be a valid `FILE *`.
pub unsafe fn malloc_info(options: c_int, stream: *mut libc::FILE) -> c_int {
    if options != 0 {
        return libc::EINVAL;
    }
    // Take the figures first: writing to a FILE may allocate, and no lock is held then.
    // The arenas' figures and their totals from one pass, so that they agree.
    let mut arenas = [None; crate::chunkmap::MAX_ARENAS];
    let s = valgrind::quietly(|| global::snapshot_by_arena(&mut arenas));
    let mut head = Line::new();
    head.str("<malloc version=\"1\" backend=\"")
        .str(global::BACKEND)
        .str("\">\n");
    write_line(&head, stream);
    for (index, heap) in arenas.iter().enumerate() {
        let Some(heap) = heap else { continue };
        let mut out = Line::new();
        out.str("<heap nr=\"")
            .dec(index)
            .str("\">\n<sizes>\n</sizes>\n");
        out.str("<total type=\"fast\" count=\"0\" size=\"0\"/>\n");
        total_rest(&mut out, heap.free_blocks, heap.free);
        systems(
            &mut out,
            global::region_bytes(heap),
            heap.peak_regions * global::REGION_BYTES,
        );
        out.str("</heap>\n");
        write_line(&out, stream);
    }
    let mut tail = Line::new();
    tail.str("<total type=\"fast\" count=\"")
        .dec(s.cache.cached_blocks)
        .str("\" size=\"")
        .dec(s.cache.cached_bytes)
        .str("\"/>\n");
    total_rest(&mut tail, s.heap.free_blocks, s.heap.free);
    tail.str("<total type=\"mmap\" count=\"")
        .dec(s.large_count)
        .str("\" size=\"")
        .dec(s.large_bytes)
        .str("\"/>\n");
    let system = global::region_bytes(&s.heap) + s.large_bytes;
    let peak = s.heap.peak_regions * global::REGION_BYTES + s.max_large_bytes;
    systems(&mut tail, system, peak);
    write_line(&tail, stream);
    let st = from_snapshot(&s);
    let mut ours = Line::new();
    ours.str("<bestbuddy live_blocks=\"")
        .dec(st.live_blocks as usize);
    ours.str("\" live_bytes=\"").dec(st.live_bytes as usize);
    ours.str("\" in_use_peak=\"")
        .dec(st.heap_in_use_peak as usize);
    ours.str("\" largest_free=\"").dec(st.largest_free as usize);
    ours.str("\" fragmentation_permille=\"")
        .dec(s.fragmentation_permille());
    ours.str("\" returned=\"").dec(st.returned_bytes as usize);
    ours.str("\" rss=\"").dec(st.rss as usize);
    ours.str("\" rss_peak=\"").dec(st.rss_peak as usize);
    ours.str("\"/>\n</malloc>\n");
    write_line(&ours, stream);
    0
}

/// glibc's `<total type="rest">`: the free blocks outside the fastbins.
fn total_rest(out: &mut Line, count: usize, size: usize) {
    out.str("<total type=\"rest\" count=\"")
        .dec(count)
        .str("\" size=\"")
        .dec(size)
        .str("\"/>\n");
}

/// glibc's `<system>` and `<aspace>` lines: bytes mapped now and at most.
fn systems(out: &mut Line, current: usize, max: usize) {
    out.str("<system type=\"current\" size=\"").dec(current);
    out.str("\"/>\n<system type=\"max\" size=\"").dec(max);
    out.str("\"/>\n<aspace type=\"total\" size=\"").dec(current);
    out.str("\"/>\n<aspace type=\"mprotect\" size=\"")
        .dec(current);
    out.str("\"/>\n");
}

fn write_line(line: &Line, stream: *mut libc::FILE) {
    let bytes = line.as_bytes();
    // SAFETY: malloc_info's caller passes a valid stream; the buffer is valid for its length.
    unsafe { libc::fwrite(bytes.as_ptr().cast::<c_void>(), 1, bytes.len(), stream) };
}

/// Gives free memory back to the OS; 1 if any was released. `pad` is ignored: no region is
/// trimmed partially from its top, free pages are released wherever they are.
pub fn malloc_trim(_pad: usize) -> c_int {
    valgrind::quietly(global::trim) as c_int
}
