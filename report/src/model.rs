//! The figures `bestbuddy replay` writes to `replay.json`, as this crate reads them.
//!
//! Every field but `heaps` has a default, and unknown fields are ignored: a replay tool that
//! adds a figure, or leaves an optional one out, still gets its report. The types also derive
//! `Serialize`, so the replay tool can write the JSON through them and the two cannot drift.

use serde::{Deserialize, Serialize};

/// The whole file: one replay of one trace, through one or two heaps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Replay {
    /// The trace's path as the user gave it.
    pub trace: String,
    /// Records replayed.
    pub records: u64,
    /// Threads the traced program had.
    pub threads: u64,
    /// False when the trace was cut off (the program crashed mid-record): the figures then
    /// cover only the records before the cut, and the report says so first.
    pub complete: bool,
    pub warnings: Vec<String>,
    /// One or two heaps ("best-fit", "buddy"), in the order the report shows them.
    pub heaps: Vec<Heap>,
    /// Other allocators the trace was replayed under (glibc, jemalloc, mimalloc).
    pub peers: Vec<Peer>,
}

/// One heap's replay.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Heap {
    /// "best-fit" or "buddy"; names the map files (`map-<name>-peak.svg`).
    pub name: String,
    pub table: Table,
    /// Up to a few thousand samples, in call order.
    pub timeline: Vec<Sample>,
    pub maps: Maps,
}

/// The table `bestbuddy replay` prints for a heap. A figure left out is shown as a dash.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Table {
    pub calls: Option<u64>,
    /// Bytes: heap regions mapped plus large mappings, at their highest.
    pub peak_footprint: Option<u64>,
    /// Bytes the program had live (as requested) at their highest.
    pub peak_live_requested: Option<u64>,
    /// Reserved bytes over requested bytes (1.0: no padding at all).
    pub internal_fragmentation: Option<f64>,
    /// 1 - largest free block / free bytes, at the peak (0: all free memory in one block).
    pub external_fragmentation_at_peak: Option<f64>,
    /// Bytes of the largest free block at the peak.
    pub largest_free_at_peak: Option<u64>,
    pub ns_per_call: Option<f64>,
    /// The call at which the footprint peaked.
    pub peak_call: Option<u64>,
}

/// One point of the timeline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sample {
    pub call: u64,
    pub time_ns: u64,
    /// Live bytes as the program asked for them.
    pub requested: u64,
    /// Bytes of the blocks holding them (block sizes, large blocks included).
    pub reserved: u64,
    /// Footprint: heap regions mapped plus large mappings.
    pub heap: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Maps {
    pub peak: Option<Map>,
    pub end: Option<Map>,
}

/// The heap's regions at one moment, one character per `cell_bytes` bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Map {
    pub call: u64,
    pub cell_bytes: u64,
    pub regions: Vec<Region>,
    /// The exact bytes of each kind, when the replay gives them (the cells round each to
    /// its majority).
    pub bytes: Option<KindBytes>,
}

/// Bytes of each kind of a heap map.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KindBytes {
    pub metadata: u64,
    pub live: u64,
    pub padding: u64,
    pub free: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Region {
    /// The region's address, as text ("0x7f0000000000").
    pub base: String,
    /// In address order: `M` metadata, `L` live (header and requested bytes), `P` padding
    /// (reserved beyond requested), `F` free. Any other character counts as unknown.
    pub cells: String,
}

/// Another allocator's run of the same trace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Peer {
    pub name: String,
    pub peak_rss: Option<u64>,
    pub seconds: Option<f64>,
}

/// What a cell of a map holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Metadata,
    Live,
    Padding,
    Free,
    Unknown,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::Live, Kind::Padding, Kind::Free, Kind::Metadata, Kind::Unknown];

    pub fn of(c: u8) -> Kind {
        match c {
            b'M' => Kind::Metadata,
            b'L' => Kind::Live,
            b'P' => Kind::Padding,
            b'F' => Kind::Free,
            _ => Kind::Unknown,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Metadata => "metadata",
            Kind::Live => "live",
            Kind::Padding => "padding",
            Kind::Free => "free",
            Kind::Unknown => "unknown",
        }
    }

    fn index(self) -> usize {
        match self {
            Kind::Live => 0,
            Kind::Padding => 1,
            Kind::Free => 2,
            Kind::Metadata => 3,
            Kind::Unknown => 4,
        }
    }
}

/// Cells of each kind in a map, and how the free ones lie.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    counts: [u64; 5],
    /// Maximal runs of free cells (a run ends at a region's end).
    pub free_runs: u64,
    /// Regions with at least one free cell.
    pub regions_with_free: u64,
    /// The longest run of free cells.
    pub longest_free_run: u64,
}

impl Totals {
    pub fn cells(&self, kind: Kind) -> u64 {
        self.counts[kind.index()]
    }
}

impl Map {
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for r in &self.regions {
            let mut run = 0u64;
            let mut any_free = false;
            for &c in r.cells.as_bytes() {
                let k = Kind::of(c);
                t.counts[k.index()] += 1;
                if k == Kind::Free {
                    if run == 0 {
                        t.free_runs += 1;
                    }
                    run += 1;
                    any_free = true;
                    t.longest_free_run = t.longest_free_run.max(run);
                } else {
                    run = 0;
                }
            }
            t.regions_with_free += u64::from(any_free);
        }
        t
    }

    /// Bytes of each kind: exact when the replay gave them, else cells times the cell size.
    pub fn bytes(&self, totals: &Totals, kind: Kind) -> u64 {
        match (self.bytes, kind) {
            (Some(b), Kind::Metadata) => b.metadata,
            (Some(b), Kind::Live) => b.live,
            (Some(b), Kind::Padding) => b.padding,
            (Some(b), Kind::Free) => b.free,
            _ => totals.cells(kind).saturating_mul(self.cell_bytes),
        }
    }
}

impl Heap {
    /// The footprint's peak: the table's, else the timeline's highest sample.
    pub fn peak(&self) -> Option<(u64, u64)> {
        if let (Some(call), Some(bytes)) = (self.table.peak_call, self.table.peak_footprint) {
            return Some((call, bytes));
        }
        let s = self.timeline.iter().max_by_key(|s| s.heap)?;
        Some((self.table.peak_call.unwrap_or(s.call), self.table.peak_footprint.unwrap_or(s.heap)))
    }
}
