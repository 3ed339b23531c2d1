//! The charts, drawn once for any plotters backend: SVG (text left to the viewer's fonts)
//! and PNG (text drawn with the DejaVu Sans subset in `fonts/`, so no system font is needed).

use plotters::coord::Shift;
use plotters::element::{Circle, DashedPathElement, EmptyElement, PathElement, Rectangle};
use plotters::prelude::*;

use crate::Error;
use crate::model::{Heap, Kind, Map, Replay, Totals};
use crate::units;

pub const FONT: &str = "sans-serif";

// Okabe and Ito's palette: told apart by the common colour blindnesses, and the map's four
// kinds also differ in lightness, so they still read in greyscale print.
const BLUE: RGBColor = RGBColor(0x00, 0x72, 0xB2);
const VERMILLION: RGBColor = RGBColor(0xD5, 0x5E, 0x00);
const GREEN: RGBColor = RGBColor(0x00, 0x9E, 0x73);
const PURPLE: RGBColor = RGBColor(0xCC, 0x79, 0xA7);
const REQUESTED: RGBColor = RGBColor(0x33, 0x33, 0x33);
const GRID: RGBColor = RGBColor(0xE4, 0xE4, 0xE4);
const OUTLINE: RGBColor = RGBColor(0x99, 0x99, 0x99);
const TEXT: RGBColor = RGBColor(0x22, 0x22, 0x22);

/// The colour a kind of cell is drawn in (also the HTML legend's).
pub fn kind_colour(kind: Kind) -> RGBColor {
    match kind {
        Kind::Live => BLUE,
        Kind::Padding => RGBColor(0xE6, 0x9F, 0x00),
        Kind::Free => RGBColor(0xE8, 0xE8, 0xE8),
        Kind::Metadata => RGBColor(0x22, 0x22, 0x22),
        Kind::Unknown => PURPLE,
    }
}

/// One hue per heap: blue for best fit, vermillion for buddy, others after them.
pub fn heap_colour(heap: &Heap, index: usize) -> RGBColor {
    match heap.name.as_str() {
        "best-fit" => BLUE,
        "buddy" => VERMILLION,
        _ => [BLUE, VERMILLION, GREEN, PURPLE][index % 4],
    }
}

pub fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

pub const FOOTPRINT_SIZE: (u32, u32) = (1200, 600);
const LEGEND_WIDTH: u32 = 250;

/// Footprint over time: each heap's footprint (solid) and reserved bytes (dashed) in its
/// hue, the requested bytes once in dark grey, each heap's peak marked.
pub fn footprint<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, replay: &Replay) -> Result<(), Error> {
    root.fill(&WHITE)?;
    let heaps: Vec<&Heap> = replay.heaps.iter().collect();
    let xmax = heaps.iter().flat_map(|h| h.timeline.iter().map(|s| s.call)).max().unwrap_or(0).max(1);
    let ymax_bytes = heaps
        .iter()
        .flat_map(|h| h.timeline.iter().map(|s| s.heap.max(s.reserved).max(s.requested)))
        .chain(heaps.iter().filter_map(|h| h.peak().map(|p| p.1)))
        .max()
        .unwrap_or(0)
        .max(1);
    let (div, unit) = units::axis_unit(ymax_bytes);
    let y = |b: u64| b as f64 / div;

    let (chart_area, legend_area) = root.split_horizontally(FOOTPRINT_SIZE.0 - LEGEND_WIDTH);
    let names = heaps.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(" and ");
    let title = format!("Footprint over time: {names}{}", cut_note(replay.complete));
    let mut chart = ChartBuilder::on(&chart_area)
        .caption(title, (FONT, 22).into_font().color(if replay.complete { &TEXT } else { &RGBColor(0xB0, 0x00, 0x20) }))
        .margin(14)
        .x_label_area_size(46)
        .y_label_area_size(72)
        .build_cartesian_2d(0f64..xmax as f64 * 1.01, 0f64..y(ymax_bytes) * 1.12)?;
    chart
        .configure_mesh()
        .x_desc("call")
        .y_desc(format!("bytes ({unit})"))
        .x_label_formatter(&|v| units::short_count(*v))
        .y_label_formatter(&|v| units::axis_value(*v))
        .label_style((FONT, 14).into_font().color(&TEXT))
        .axis_desc_style((FONT, 15).into_font().color(&TEXT))
        .bold_line_style(GRID)
        .light_line_style(WHITE)
        .draw()?;

    for (i, h) in heaps.iter().enumerate() {
        let c = heap_colour(h, i);
        let pts = |f: fn(&crate::model::Sample) -> u64| {
            h.timeline.iter().map(move |s| (s.call as f64, y(f(s)))).collect::<Vec<_>>()
        };
        chart.draw_series(DashedLineSeries::new(pts(|s| s.reserved), 7, 5, c.stroke_width(2)))?;
        // The footprint is a step function: drawn as steps, segment by segment, because a
        // thick polyline turning back on itself (a short-lived large block between two
        // samples) gets mitred joins that spike far outside the plot in the bitmap backend.
        let heap = pts(|s| s.heap);
        let steps = heap.windows(2).flat_map(|w| {
            let ((x0, y0), (x1, y1)) = (w[0], w[1]);
            [
                PathElement::new(vec![(x0, y0), (x1, y0)], c.stroke_width(3)),
                PathElement::new(vec![(x1, y0), (x1, y1)], c.stroke_width(3)),
            ]
        });
        chart.draw_series(steps)?;
    }
    if let Some(h) = heaps.iter().find(|h| !h.timeline.is_empty()) {
        let pts = h.timeline.iter().map(|s| (s.call as f64, y(s.requested)));
        chart.draw_series(LineSeries::new(pts, REQUESTED.stroke_width(1)))?;
    }

    // The peaks: a ring on each (the figures are in the legend, where they cover no line).
    let peaks: Vec<(usize, u64, u64)> =
        heaps.iter().enumerate().filter_map(|(i, h)| h.peak().map(|(call, b)| (i, call, b))).collect();
    for &(i, call, bytes) in &peaks {
        let c = heap_colour(heaps[i], i);
        chart.draw_series(std::iter::once(
            EmptyElement::at((call as f64, y(bytes)))
                + Circle::new((0, 0), 7, c.stroke_width(2))
                + Circle::new((0, 0), 2, c.filled()),
        ))?;
    }

    // The legend, beside the plot so it never covers a line.
    let text = (FONT, 14).into_font().color(&TEXT);
    let mut row = 70;
    for (i, h) in heaps.iter().enumerate() {
        let c = heap_colour(h, i);
        legend_area.draw(&PathElement::new(vec![(8, row), (48, row)], c.stroke_width(3)))?;
        legend_area.draw_text(&format!("{} footprint", h.name), &text, (56, row - 8))?;
        row += 24;
        legend_area.draw(&DashedPathElement::new(vec![(8, row), (48, row)], 7, 5, c.stroke_width(2)))?;
        legend_area.draw_text(&format!("{} reserved", h.name), &text, (56, row - 8))?;
        row += 34;
    }
    legend_area.draw(&PathElement::new(vec![(8, row), (48, row)], REQUESTED.stroke_width(1)))?;
    legend_area.draw_text("requested (live)", &text, (56, row - 8))?;
    row += 34;
    legend_area.draw(&Circle::new((28, row), 7, TEXT.stroke_width(2)))?;
    legend_area.draw_text("peak footprint", &text, (56, row - 8))?;
    row += 26;
    for &(i, call, bytes) in &peaks {
        let c = heap_colour(heaps[i], i);
        let style = (FONT, 14).into_font().color(&c);
        legend_area.draw_text(&format!("{}: {}", heaps[i].name, units::bytes(bytes)), &style, (20, row))?;
        legend_area.draw_text(&format!("at call {}", units::count(call)), &style, (20, row + 17))?;
        row += 42;
    }
    row += 14;
    let note = (FONT, 12).into_font().color(&OUTLINE);
    for line in ["footprint: heap regions", "  mapped + large mappings", "reserved: the blocks' sizes", "requested: what was asked"] {
        legend_area.draw_text(line, &note, (8, row))?;
        row += 17;
    }
    root.present()?;
    Ok(())
}

/// Where the cells of a map go.
pub struct MapLayout {
    pub width: u32,
    pub height: u32,
    per_row: usize,
    cell_w: i32,
    cell_h: i32,
    /// Each region's top and its rows.
    bands: Vec<(i32, i32)>,
}

// Sized to stay legible when the page shows two maps side by side at half their width.
const MAP_LEFT: i32 = 200;
const MAP_TOP: i32 = 160;

pub fn map_layout(map: &Map) -> MapLayout {
    let max_cells = map.regions.iter().map(|r| r.cells.len()).max().unwrap_or(0).max(1);
    let rows_at = |per_row: usize| map.regions.iter().map(|r| r.cells.len().max(1).div_ceil(per_row)).sum::<usize>();
    // 128 cells to a row, more when there are so many that the picture would be huge.
    let mut per_row = 128usize.min(max_cells);
    while per_row < 1024 && rows_at(per_row) > 2000 {
        per_row *= 2;
    }
    let cell_w = (1024 / per_row).clamp(1, 24) as i32;
    let total_rows = rows_at(per_row).max(1);
    let cell_h = (1400 / total_rows).clamp(2, 10) as i32;
    let mut bands = Vec::with_capacity(map.regions.len());
    let mut y = MAP_TOP;
    for r in &map.regions {
        let rows = r.cells.len().max(1).div_ceil(per_row) as i32;
        bands.push((y, rows));
        y += rows * cell_h + (20 - rows * cell_h).max(6);
    }
    let width = (MAP_LEFT + per_row as i32 * cell_w + 24).max(1000) as u32;
    let height = (y + 16).max(MAP_TOP + 40) as u32;
    MapLayout { width, height, per_row, cell_w, cell_h, bands }
}

/// What a chart's title adds when the trace was cut off: a chart file shown on its own
/// must not look like a whole run either.
fn cut_note(complete: bool) -> &'static str {
    if complete { "" } else { " (INCOMPLETE: trace cut off)" }
}

/// The map's title: "best-fit: heap map at the peak (call 77)".
pub fn map_title(heap: &str, moment: &str, map: &Map, complete: bool) -> String {
    let call = units::count(map.call);
    match (moment, complete) {
        ("peak", _) => format!("{heap}: heap map at the peak (call {call}){}", cut_note(complete)),
        (_, true) => format!("{heap}: heap map at the end (call {call})"),
        (_, false) => format!("{heap}: heap map at the cut (call {call}){}", cut_note(complete)),
    }
}

/// The totals line: "live 12 MiB · padding 1.2 MiB · free 3 MiB · metadata 40 KiB".
pub fn totals_line(map: &Map, t: &Totals) -> String {
    Kind::ALL
        .iter()
        .filter(|&&k| k != Kind::Unknown || t.cells(k) > 0)
        .map(|&k| format!("{} {}", k.label(), units::bytes(map.bytes(t, k))))
        .collect::<Vec<_>>()
        .join("  \u{b7}  ")
}

/// One heap's regions at one moment: a band of rows per region, in address order, each cell
/// a rectangle coloured by kind; runs of one kind in a row are drawn as one rectangle.
pub fn heap_map<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    layout: &MapLayout,
    heap: &str,
    moment: &str,
    map: &Map,
    complete: bool,
) -> Result<(), Error> {
    root.fill(&WHITE)?;
    let t = map.totals();
    let title_colour = if complete { TEXT } else { RGBColor(0xB0, 0x00, 0x20) };
    root.draw_text(&map_title(heap, moment, map, complete), &(FONT, 30).into_font().color(&title_colour), (16, 12))?;
    root.draw_text(&totals_line(map, &t), &(FONT, 22).into_font().color(&TEXT), (16, 54))?;
    let small = (FONT, 20).into_font().color(&TEXT);
    let mut x = 16;
    for k in Kind::ALL {
        if k == Kind::Unknown && t.cells(k) == 0 {
            continue;
        }
        root.draw(&Rectangle::new([(x, 90), (x + 20, 110)], kind_colour(k).filled()))?;
        root.draw(&Rectangle::new([(x, 90), (x + 20, 110)], OUTLINE.stroke_width(1)))?;
        root.draw_text(k.label(), &small, (x + 28, 90))?;
        x += 48 + 12 * k.label().len() as i32;
    }
    let regions = map.regions.len();
    let scale = format!(
        "one cell = {}  \u{b7}  {} region{}  \u{b7}  address order: left to right, top to bottom",
        units::bytes(map.cell_bytes),
        regions,
        if regions == 1 { "" } else { "s" }
    );
    root.draw_text(&scale, &(FONT, 18).into_font().color(&OUTLINE), (16, 124))?;
    if regions == 0 {
        root.draw_text("no regions mapped", &small, (16, MAP_TOP + 8))?;
    }

    let label = (FONT, 16).into_font().color(&TEXT);
    for (r, &(top, rows)) in map.regions.iter().zip(&layout.bands) {
        let base: String = r.base.chars().take(18).collect();
        root.draw_text(&base, &label, (12, top))?;
        for (row, chunk) in r.cells.as_bytes().chunks(layout.per_row).enumerate() {
            let y0 = top + row as i32 * layout.cell_h;
            let mut start = 0;
            while start < chunk.len() {
                let kind = Kind::of(chunk[start]);
                let mut end = start + 1;
                while end < chunk.len() && Kind::of(chunk[end]) == kind {
                    end += 1;
                }
                let x0 = MAP_LEFT + start as i32 * layout.cell_w;
                let x1 = MAP_LEFT + end as i32 * layout.cell_w;
                root.draw(&Rectangle::new([(x0, y0), (x1, y0 + layout.cell_h)], kind_colour(kind).filled()))?;
                start = end;
            }
        }
        // The region's outline, so free cells at its edges still show where it ends.
        let full = r.cells.len().min(layout.per_row) as i32;
        let x1 = MAP_LEFT + full * layout.cell_w;
        root.draw(&Rectangle::new([(MAP_LEFT - 1, top - 1), (x1, top + rows * layout.cell_h)], OUTLINE.stroke_width(1)))?;
    }
    root.present()?;
    Ok(())
}
