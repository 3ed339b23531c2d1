//! What `bestbuddy replay` shows: the tables on stdout, and `replay.json` for the report
//! renderer (its field names are a contract: docs in tool/README.md).

use std::fmt::Write as _;

use serde::Serialize;

use crate::peers::PeerRun;
use crate::replay::{HeapMap, HeapRun};

/// The whole of `replay.json`.
#[derive(Serialize)]
pub struct ReplayJson {
    pub trace: String,
    pub records: u64,
    pub threads: usize,
    pub complete: bool,
    pub warnings: Vec<String>,
    pub heaps: Vec<HeapJson>,
    pub peers: Vec<PeerJson>,
}

#[derive(Serialize)]
pub struct HeapJson {
    pub name: String,
    pub table: TableJson,
    pub timeline: Vec<PointJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maps: Option<MapsJson>,
}

#[derive(Serialize, PartialEq, Debug)]
pub struct TableJson {
    pub calls: u64,
    pub peak_footprint: u64,
    pub peak_live_requested: u64,
    pub internal_fragmentation: f64,
    pub external_fragmentation_at_peak: f64,
    pub largest_free_at_peak: u64,
    pub ns_per_call: f64,
    pub peak_call: u64,
}

#[derive(Serialize)]
pub struct PointJson {
    pub call: u64,
    pub time_ns: u64,
    pub requested: u64,
    pub reserved: u64,
    pub heap: u64,
}

#[derive(Serialize)]
pub struct MapsJson {
    pub peak: MapJson,
    pub end: MapJson,
}

#[derive(Serialize)]
pub struct MapJson {
    pub call: u64,
    pub cell_bytes: u64,
    pub regions: Vec<RegionJson>,
    /// The exact bytes of each kind (the cells show each one's majority).
    pub bytes: KindBytes,
}

#[derive(Serialize)]
pub struct KindBytes {
    pub metadata: u64,
    pub live: u64,
    pub padding: u64,
    pub free: u64,
}

#[derive(Serialize)]
pub struct RegionJson {
    pub base: String,
    pub cells: String,
}

#[derive(Serialize)]
pub struct PeerJson {
    pub name: String,
    pub peak_rss: u64,
    pub seconds: f64,
}

impl TableJson {
    pub fn of(run: &HeapRun) -> TableJson {
        let p = &run.peak;
        TableJson {
            calls: run.calls,
            peak_footprint: p.footprint,
            peak_live_requested: run.peak_live_requested,
            internal_fragmentation: if p.requested == 0 { 1.0 } else { p.reserved as f64 / p.requested as f64 },
            external_fragmentation_at_peak: if run.peak_free == 0 {
                0.0
            } else {
                1.0 - run.peak_largest_free as f64 / run.peak_free as f64
            },
            largest_free_at_peak: run.peak_largest_free,
            ns_per_call: if run.calls == 0 { 0.0 } else { run.seconds * 1e9 / run.calls as f64 },
            peak_call: p.call,
        }
    }
}

impl HeapJson {
    pub fn of(run: &HeapRun) -> HeapJson {
        HeapJson {
            name: run.name.to_owned(),
            table: TableJson::of(run),
            timeline: run
                .timeline
                .iter()
                .map(|p| PointJson {
                    call: p.call,
                    time_ns: p.time_ns,
                    requested: p.requested,
                    reserved: p.reserved,
                    heap: p.footprint,
                })
                .collect(),
            maps: run.maps.as_ref().map(|(peak, end)| MapsJson { peak: map_json(peak), end: map_json(end) }),
        }
    }
}

fn map_json(m: &HeapMap) -> MapJson {
    MapJson {
        call: m.call,
        cell_bytes: m.cell_bytes,
        regions: m
            .regions
            .iter()
            .map(|(base, cells)| RegionJson { base: format!("{base:#x}"), cells: cells.clone() })
            .collect(),
        bytes: KindBytes { metadata: m.bytes[0], live: m.bytes[1], padding: m.bytes[2], free: m.bytes[3] },
    }
}

impl PeerJson {
    pub fn of(p: &PeerRun) -> PeerJson {
        PeerJson { name: p.name.clone(), peak_rss: p.peak_rss, seconds: p.seconds }
    }
}

/// Bytes in binary units: `512 B`, `3.2 KiB`, `12.0 MiB`.
pub fn bytes(n: u64) -> String {
    match bestbuddy_report::units::binary_unit(n) {
        Some((v, unit)) => format!("{v:.1} {unit}"),
        None => format!("{n} B"),
    }
}

/// Rows of cells, left column left-aligned, the others right-aligned, two spaces apart.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> =
        (0..cols).map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let w = widths[c];
            if c == 0 {
                let _ = write!(line, "{cell:<w$}");
            } else {
                let _ = write!(line, "  {cell:>w$}");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The figures of each heap, one column a heap.
pub fn heap_table(runs: &[HeapRun]) -> String {
    let t: Vec<TableJson> = runs.iter().map(TableJson::of).collect();
    let row = |label: &str, f: &dyn Fn(&HeapRun, &TableJson) -> String| -> Vec<String> {
        std::iter::once(label.to_owned()).chain(runs.iter().zip(&t).map(|(r, t)| f(r, t))).collect()
    };
    let rows = vec![
        row("", &|r, _| r.name.to_owned()),
        row("peak footprint (regions + large mappings)", &|_, t| bytes(t.peak_footprint)),
        row("peak live requested", &|_, t| bytes(t.peak_live_requested)),
        row("at the peak (call N):", &|_, t| format!("call {}", t.peak_call)),
        row("  live requested", &|r, _| bytes(r.peak.requested)),
        row("  reserved for live blocks", &|r, _| bytes(r.peak.reserved)),
        row("  internal fragmentation (reserved/requested)", &|_, t| format!("{:.3}", t.internal_fragmentation)),
        row("  free in the heap", &|r, _| bytes(r.peak_free)),
        row("  largest free block", &|_, t| bytes(t.largest_free_at_peak)),
        row("  external fragmentation (1 - largest/free)", &|_, t| {
            format!("{:.1}%", t.external_fragmentation_at_peak * 100.0)
        }),
        row("time per call (replay loop)", &|_, t| format!("{:.1} ns", t.ns_per_call)),
        row("calls replayed", &|_, t| t.calls.to_string()),
    ];
    table(&rows)
}

/// Peak RSS and time of the replayer under each allocator.
pub fn peer_table(peers: &[PeerRun]) -> String {
    let mut rows = vec![vec!["allocator (bestbuddy-replayer)".to_owned(), "peak RSS".to_owned(), "CPU time".to_owned()]];
    for p in peers {
        rows.push(vec![p.name.clone(), bytes(p.peak_rss), format!("{:.3} s", p.seconds)]);
    }
    table(&rows)
}
