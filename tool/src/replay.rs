//! `bestbuddy replay`'s passes over a trace for one heap: the figures of the whole replay
//! (peak, timeline, timing), and the heap maps at the peak and at the end.
//!
//! The peak is the call with the largest footprint; among calls with that footprint, the one
//! with the most live requested bytes (the fullest moment of the biggest heap), the first of
//! those. The heap map at the peak comes from a second replay that stops there: replay is
//! deterministic, so this costs time rather than a snapshot at every new maximum.

use std::path::Path;
use std::time::Instant;

use bestbuddy::heap::{CHUNK, Heap, SpanKind};
use bestbuddy_trace::Trace;
use indicatif::ProgressBar;

use crate::Failure;
use crate::engine::{Point, Replay};

/// The timeline holds about this many samples, evenly spread, plus the peak and the end.
pub const TIMELINE_SAMPLES: u64 = 2000;
/// A heap map holds at most this many cells, over all regions.
pub const MAP_CELLS: u64 = 65_536;
/// How many records between two updates of the progress bar.
const PROGRESS_STEP: u64 = 1 << 16;

/// What one heap made of the trace.
pub struct HeapRun {
    pub name: &'static str,
    pub calls: u64,
    /// The figures at the peak call.
    pub peak: Point,
    /// Free bytes and the largest free block in the heap at the peak.
    pub peak_free: u64,
    pub peak_largest_free: u64,
    pub peak_live_requested: u64,
    /// Wall clock of the replay loop (reading and decoding the trace included).
    pub seconds: f64,
    pub timeline: Vec<Point>,
    /// At the peak and at the end; only when asked for.
    pub maps: Option<(HeapMap, HeapMap)>,
}

/// A heap walk drawn as cells: one char per `cell_bytes` of each region.
pub struct HeapMap {
    pub call: u64,
    pub cell_bytes: u64,
    /// Each region's base, and its cells: `M` metadata, `L` live (header and requested bytes),
    /// `P` padding (a live block's bytes beyond those), `F` free; a cell shows the kind with
    /// the most bytes in it.
    pub regions: Vec<(usize, String)>,
    /// The exact bytes of each kind, over all regions, in the order of `KINDS` (the cells
    /// round each one to its majority).
    pub bytes: [u64; 4],
}

/// Replays the trace at `path` through a fresh `H`: the figures, and with `maps` the heap
/// maps (a second replay up to the peak).
pub fn run<H: Heap>(path: &Path, maps: bool, bar: &ProgressBar) -> Result<HeapRun, Failure> {
    let mut trace = open(path)?;
    let total = trace.record_count();
    let step = total.div_ceil(TIMELINE_SAMPLES).max(1);
    let name = trace.name().to_owned();

    let replay: Replay<H> = Replay::new();
    let mut replay = replay;
    let mut timeline = vec![replay.point(0, 0)];
    let mut peak = timeline[0];
    let (mut peak_free, mut peak_largest_free) = (0, 0);
    let mut peak_live_requested = 0;
    let mut last = peak;
    let mut call = 0u64;
    let started = Instant::now();
    for rec in trace.records() {
        let rec = rec.map_err(|e| Failure::input(e.to_string()))?;
        replay.apply(&rec.call).map_err(|m| Failure::input(format!("{name}: byte {}: {m}", rec.offset)))?;
        call += 1;
        last = replay.point(call, rec.time);
        peak_live_requested = peak_live_requested.max(last.requested);
        if (last.footprint, last.requested) > (peak.footprint, peak.requested) {
            peak = last;
            let s = replay.stats();
            (peak_free, peak_largest_free) = (s.free as u64, s.largest_free as u64);
        }
        if call.is_multiple_of(step) {
            timeline.push(last);
        }
        if call.is_multiple_of(PROGRESS_STEP) {
            bar.inc(PROGRESS_STEP);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    bar.inc(call % PROGRESS_STEP);
    if timeline.last() != Some(&last) {
        timeline.push(last);
    }
    if let Err(i) = timeline.binary_search_by_key(&peak.call, |p| p.call) {
        timeline.insert(i, peak);
    }
    let end_map = maps.then(|| heap_map(&replay, call));
    drop(replay);
    let maps = match end_map {
        Some(end) => Some((map_at::<H>(path, peak.call)?, end)),
        None => None,
    };
    Ok(HeapRun {
        name: H::NAME,
        calls: call,
        peak,
        peak_free,
        peak_largest_free,
        peak_live_requested,
        seconds,
        timeline,
        maps,
    })
}

fn open(path: &Path) -> Result<Trace<std::fs::File>, Failure> {
    Trace::open(path).map_err(|e| Failure::input(e.to_string()))
}

/// Replays the first `calls` records again and draws the heap there.
fn map_at<H: Heap>(path: &Path, calls: u64) -> Result<HeapMap, Failure> {
    let mut trace = open(path)?;
    let mut replay: Replay<H> = Replay::new();
    for rec in trace.records().take(usize::try_from(calls).unwrap_or(usize::MAX)) {
        let rec = rec.map_err(|e| Failure::input(e.to_string()))?;
        replay.apply(&rec.call).map_err(|m| Failure::input(format!("byte {}: {m}", rec.offset)))?;
    }
    Ok(heap_map(&replay, calls))
}

/// The smallest power of two of at least 16 bytes that draws `regions` regions in at most
/// [`MAP_CELLS`] cells.
pub fn cell_bytes(regions: u64) -> u64 {
    (regions * CHUNK as u64).div_ceil(MAP_CELLS).next_power_of_two().max(16)
}

/// The kinds a cell counts bytes of, in the order a tie is settled.
const KINDS: [u8; 4] = [b'M', b'L', b'P', b'F'];
const M: usize = 0;
const L: usize = 1;
const P: usize = 2;
const F: usize = 3;

/// Draws the heap of `replay` as it is after `call` records.
fn heap_map<H: Heap>(replay: &Replay<H>, call: u64) -> HeapMap {
    let regions = replay.stats().regions as u64;
    let cell = cell_bytes(regions);
    let blocks = replay.blocks_by_address();
    let header = replay.block_header();
    let mut out = Vec::new();
    let mut cells = Cells { base: usize::MAX, cell: cell as usize, counts: Vec::new(), bytes: [0; 4] };
    let mut next_block = 0;
    replay.walk(|span| {
        let base = span.start & !(CHUNK - 1);
        if base != cells.base {
            cells.flush(&mut out);
            cells.base = base;
            cells.counts = vec![[0; 4]; CHUNK / cells.cell];
        }
        let (s, e) = (span.start, span.start + span.size);
        match span.kind {
            SpanKind::Metadata => cells.add(M, s, e),
            SpanKind::Free => cells.add(F, s, e),
            SpanKind::Live => {
                while blocks.get(next_block).is_some_and(|&(p, _)| p < s) {
                    next_block += 1;
                }
                match blocks.get(next_block) {
                    Some(&(p, requested)) if p < e => {
                        let head_end = (s + header).min(p);
                        let used_end = p.saturating_add(requested as usize).min(e);
                        cells.add(L, s, head_end);
                        cells.add(P, head_end, p);
                        cells.add(L, p, used_end);
                        cells.add(P, used_end, e);
                    }
                    _ => cells.add(L, s, e),
                }
            }
        }
    });
    cells.flush(&mut out);
    HeapMap { call, cell_bytes: cell, regions: out, bytes: cells.bytes.map(|b| b as u64) }
}

/// The cells of the region being drawn.
struct Cells {
    base: usize,
    cell: usize,
    /// Bytes of each kind, per cell.
    counts: Vec<[usize; 4]>,
    /// Bytes of each kind, over every region drawn.
    bytes: [usize; 4],
}

impl Cells {
    /// Counts `[start, end)` as `kind`.
    fn add(&mut self, kind: usize, mut start: usize, end: usize) {
        if let Some(b) = self.bytes.get_mut(kind) {
            *b += end.saturating_sub(start);
        }
        while start < end {
            let i = (start - self.base) / self.cell;
            let cell_end = (self.base + (i + 1) * self.cell).min(end);
            if let Some(c) = self.counts.get_mut(i).and_then(|c| c.get_mut(kind)) {
                *c += cell_end - start;
            }
            start = cell_end;
        }
    }

    fn flush(&mut self, out: &mut Vec<(usize, String)>) {
        if self.counts.is_empty() {
            return;
        }
        let s: String = self
            .counts
            .iter()
            .map(|c| {
                let best = (0..4).fold(0, |b, k| if c[k] > c[b] { k } else { b });
                char::from(KINDS[best])
            })
            .collect();
        out.push((self.base, s));
        self.counts.clear();
    }
}
