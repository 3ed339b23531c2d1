//! The pictures and the report of a replay (issue 15): reads the `replay.json` that
//! `bestbuddy replay` writes and draws, into one folder,
//!
//! - `footprint.svg`, `footprint.png`: footprint, reserved and requested bytes over time,
//!   every heap in one chart, the peaks marked;
//! - `map-<heap>-peak.svg/.png`, `map-<heap>-end.svg/.png`: each heap's regions cell by cell
//!   (live, padding, free, metadata) at its peak and at the end;
//! - `report.html`: one self-contained page (no network): the tables, the warnings, what the
//!   numbers teach in a few sentences, the footprint chart inlined as SVG and the maps as
//!   `data:` PNGs.
//!
//! ```no_run
//! let written = bestbuddy_report::render(std::path::Path::new("out/replay.json"),
//!                                        std::path::Path::new("out/report"))?;
//! # Ok::<(), bestbuddy_report::Error>(())
//! ```
//! Or, with the figures already in hand, `render_replay(&replay, out_dir)`.

mod charts;
mod html;
pub mod model;
pub mod units;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::prelude::*;

pub use html::findings;
pub use model::Replay;

/// Why no report was written.
#[derive(Debug)]
pub enum Error {
    /// Reading the JSON or writing an output file.
    Io { path: PathBuf, source: std::io::Error },
    /// The JSON is not a replay (its line and column in `source`).
    Json { path: PathBuf, source: serde_json::Error },
    /// The replay holds nothing to draw.
    Empty(String),
    /// plotters could not draw or save a chart.
    Chart(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Json { path, source } => write!(f, "{}: not a replay's JSON: {source}", path.display()),
            Error::Empty(what) => write!(f, "nothing to draw: {what}"),
            Error::Chart(e) => write!(f, "drawing a chart: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Json { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for Error {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        Error::Chart(e.to_string())
    }
}

/// The file names of the charts in `out_dir`.
pub const FOOTPRINT: &str = "footprint";
pub const REPORT: &str = "report.html";

/// The PNGs draw their text with this font (DejaVu Sans, cut to ASCII and a few signs:
/// fonts/LICENSE-DejaVu.txt), so they need no font on the machine; the SVGs name
/// `sans-serif` and leave it to the viewer.
static FONT_BYTES: &[u8] = include_bytes!("../fonts/DejaVuSans-subset.ttf");

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is a constant of this crate and tested; a bad one would draw no text.
        let _ = plotters::style::register_font(charts::FONT, FontStyle::Normal, FONT_BYTES);
    });
}

/// Reads `json` (a replay's figures) and writes the charts and `report.html` into `out_dir`
/// (made if missing). Returns the files written, `report.html` last.
pub fn render(json: &Path, out_dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let text = fs::read_to_string(json).map_err(|source| Error::Io { path: json.to_path_buf(), source })?;
    let replay: Replay =
        serde_json::from_str(&text).map_err(|source| Error::Json { path: json.to_path_buf(), source })?;
    render_replay(&replay, out_dir)
}

/// As [`render`], from figures already parsed (or built by the replay tool itself).
pub fn render_replay(replay: &Replay, out_dir: &Path) -> Result<Vec<PathBuf>, Error> {
    if replay.heaps.is_empty() {
        return Err(Error::Empty("the replay has no heaps".into()));
    }
    register_font();
    fs::create_dir_all(out_dir).map_err(|source| Error::Io { path: out_dir.to_path_buf(), source })?;
    let mut written = Vec::new();
    let write = |name: &str, bytes: &[u8], written: &mut Vec<PathBuf>| -> Result<(), Error> {
        let path = out_dir.join(name);
        fs::write(&path, bytes).map_err(|source| Error::Io { path: path.clone(), source })?;
        written.push(path);
        Ok(())
    };

    let mut footprint_svg = String::new();
    {
        let root = SVGBackend::with_string(&mut footprint_svg, charts::FOOTPRINT_SIZE).into_drawing_area();
        charts::footprint(&root, replay)?;
    }
    write(&format!("{FOOTPRINT}.svg"), footprint_svg.as_bytes(), &mut written)?;
    let png = draw_png(charts::FOOTPRINT_SIZE, |root| charts::footprint(root, replay))?;
    write(&format!("{FOOTPRINT}.png"), &png, &mut written)?;

    let names = file_names(replay);
    let mut maps = Vec::new();
    for (heap, file_name) in replay.heaps.iter().zip(&names) {
        for (moment, map) in [("peak", &heap.maps.peak), ("end", &heap.maps.end)] {
            let Some(map) = map else {
                maps.push(html::MapPicture { heap: heap.name.clone(), moment, map: None, png: Vec::new() });
                continue;
            };
            let layout = charts::map_layout(map);
            let size = (layout.width, layout.height);
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
                charts::heap_map(&root, &layout, &heap.name, moment, map, replay.complete)?;
            }
            let stem = format!("map-{file_name}-{moment}");
            write(&format!("{stem}.svg"), svg.as_bytes(), &mut written)?;
            let png = draw_png(size, |root| charts::heap_map(root, &layout, &heap.name, moment, map, replay.complete))?;
            write(&format!("{stem}.png"), &png, &mut written)?;
            maps.push(html::MapPicture { heap: heap.name.clone(), moment, map: Some(map.clone()), png });
        }
    }

    let page = html::page(replay, &footprint_svg, &maps);
    write(REPORT, page.as_bytes(), &mut written)?;
    Ok(written)
}

/// Draws into an RGB buffer and encodes it as PNG.
fn draw_png(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> Result<(), Error>,
) -> Result<Vec<u8>, Error> {
    let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        draw(&root)?;
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, size.0, size.1);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Best);
    let mut w = enc.write_header().map_err(|e| Error::Chart(format!("PNG: {e}")))?;
    w.write_image_data(&rgb).map_err(|e| Error::Chart(format!("PNG: {e}")))?;
    w.finish().map_err(|e| Error::Chart(format!("PNG: {e}")))?;
    Ok(out)
}

/// Each heap's name as it goes into a file name: letters, digits and '-' kept, the rest
/// '_', and a second heap of the same name numbered.
fn file_names(replay: &Replay) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (i, h) in replay.heaps.iter().enumerate() {
        let mut n: String = h
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c.to_ascii_lowercase() } else { '_' })
            .take(40)
            .collect();
        if n.is_empty() {
            n = format!("heap{}", i + 1);
        }
        if names.contains(&n) {
            n = format!("{n}-{}", i + 1);
        }
        names.push(n);
    }
    names
}

#[cfg(test)]
mod tests;
