//! mallopt, mallinfo, mallinfo2, malloc_stats, malloc_info and malloc_trim: glibc's
//! introspection calls, answered with this heap's own figures.

use core::ffi::{c_int, c_void};

use crate::diag::Line;
use crate::global::{self, Snapshot};

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
    let s = global::snapshot();
    Mallinfo2 {
        arena: global::region_bytes(&s.heap),
        ordblks: s.heap.free_blocks,
        smblks: 0,
        hblks: s.large_count,
        hblkhd: s.large_bytes,
        usmblks: 0,
        fsmblks: 0,
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

fn stat_line(name: &str, value: usize) {
    let mut line = Line::new();
    line.str(name).str(" = ").dec_padded(value, 12).str("\n");
    line.write_to(2);
}

/// Prints the heap's figures to stderr, in the layout of glibc's malloc_stats.
pub fn malloc_stats() {
    let s: Snapshot = global::snapshot();
    let mut line = Line::new();
    line.str("bestbuddy (")
        .str(global::BACKEND)
        .str(") heap:\n");
    line.write_to(2);
    let system = global::region_bytes(&s.heap);
    stat_line("system bytes    ", system);
    stat_line("in use bytes    ", s.heap.used);
    stat_line("free bytes      ", s.heap.free);
    let mut total = Line::new();
    total.str("Total (incl. mmap):\n");
    total.write_to(2);
    stat_line("system bytes    ", system + s.large_bytes);
    stat_line("in use bytes    ", s.heap.used + s.large_bytes);
    stat_line("max mmap regions", s.max_large_count);
    stat_line("max mmap bytes  ", s.max_large_bytes);
}

/// Writes the heap's figures as XML to `stream`; options must be 0 (else EINVAL, as glibc).
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
    let s = global::snapshot_by_arena(&mut arenas);
    let mut head = Line::new();
    head.str("<malloc version=\"1\" backend=\"")
        .str(global::BACKEND)
        .str("\">\n");
    write_line(&head, stream);
    // One <heap> per arena in use, as glibc lists one per arena.
    for (index, heap) in arenas.iter().enumerate() {
        let Some(heap) = heap else { continue };
        let mut out = Line::new();
        out.str("<heap nr=\"")
            .dec(index)
            .str("\">\n<total type=\"free\" count=\"")
            .dec(heap.free_blocks);
        out.str("\" size=\"")
            .dec(heap.free)
            .str("\"/>\n<total type=\"used\" size=\"");
        out.dec(heap.used)
            .str("\"/>\n<system type=\"current\" size=\"");
        out.dec(global::region_bytes(heap)).str("\"/>\n</heap>\n");
        write_line(&out, stream);
    }
    let mut tail = Line::new();
    tail.str("<total type=\"mmap\" count=\"")
        .dec(s.large_count)
        .str("\" size=\"");
    tail.dec(s.large_bytes)
        .str("\"/>\n<system type=\"current\" size=\"");
    tail.dec(global::region_bytes(&s.heap) + s.large_bytes)
        .str("\"/>\n</malloc>\n");
    write_line(&tail, stream);
    0
}

fn write_line(line: &Line, stream: *mut libc::FILE) {
    let bytes = line.as_bytes();
    // SAFETY: malloc_info's caller passes a valid stream; the buffer is valid for its length.
    unsafe { libc::fwrite(bytes.as_ptr().cast::<c_void>(), 1, bytes.len(), stream) };
}

/// Gives free memory back to the OS; 1 if any was released. `pad` is ignored: no region is
/// trimmed partially from its top, free pages are released wherever they are.
pub fn malloc_trim(_pad: usize) -> c_int {
    global::trim() as c_int
}
