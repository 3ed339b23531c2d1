//! `report.html`: one self-contained page, no script and no network.

use std::fmt::Write as _;

use base64::Engine as _;

use crate::charts::{self, hex, kind_colour};
use crate::model::{Heap, Kind, Map, Replay};
use crate::units;

/// A heap map for the page: its PNG (empty when the replay recorded no such map).
pub struct MapPicture {
    pub heap: String,
    pub moment: &'static str,
    pub map: Option<Map>,
    pub png: Vec<u8>,
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A heap's name in a sentence: "best fit", "buddy".
fn spoken(h: &Heap) -> String {
    match h.name.as_str() {
        "best-fit" => "best fit".to_string(),
        n => n.to_string(),
    }
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Padding's share of the reserved bytes: from the table's reserved/requested ratio, else
/// from the peak map's cells.
fn padding_share(h: &Heap) -> Option<(f64, Option<f64>)> {
    if let Some(r) = h.table.internal_fragmentation.filter(|r| r.is_finite() && *r > 0.0) {
        return Some(((1.0 - 1.0 / r).max(0.0), Some(r)));
    }
    let map = h.maps.peak.as_ref()?;
    let t = map.totals();
    let (live, pad) = (t.cells(Kind::Live), t.cells(Kind::Padding));
    (live + pad > 0).then(|| (pad as f64 / (live + pad) as f64, None))
}

/// The three to five sentences the page opens with: what the numbers teach.
pub fn findings(replay: &Replay) -> Vec<String> {
    let mut out = Vec::new();
    if !replay.complete {
        out.push(format!(
            "This trace was cut off: every figure below covers only the {} records before the cut, not the whole run.",
            units::count(replay.records)
        ));
    }
    let heaps = &replay.heaps;
    let bf = heaps.iter().find(|h| h.name == "best-fit");
    let bd = heaps.iter().find(|h| h.name == "buddy");

    // Peak footprint.
    let peaks: Vec<(&Heap, u64)> = heaps.iter().filter_map(|h| h.peak().map(|p| (h, p.1))).collect();
    if let [(a, pa), (b, pb), ..] = peaks[..] {
        let ((lo, plo), (hi, phi)) = if pa <= pb { ((a, pa), (b, pb)) } else { ((b, pb), (a, pa)) };
        if phi - plo <= phi / 200 {
            out.push(format!(
                "Both heaps peak at about the same footprint: {} for {} and {} for {}.",
                units::bytes(plo),
                spoken(lo),
                units::bytes(phi),
                spoken(hi)
            ));
        } else {
            out.push(format!(
                "{} has the lower peak footprint: {} against {}'s {}, {} ({}) less.",
                capital(&spoken(lo)),
                units::bytes(plo),
                spoken(hi),
                units::bytes(phi),
                units::bytes(phi - plo),
                units::percent((phi - plo) as f64 / phi as f64)
            ));
        }
    } else if let [(h, p)] = peaks[..] {
        let live = h.table.peak_live_requested.map(|l| format!(" for at most {} live", units::bytes(l))).unwrap_or_default();
        out.push(format!("{}'s footprint peaks at {}{live}.", capital(&spoken(h)), units::bytes(p)));
    }

    // What each heap reserves beyond the bytes asked for, and why: buddy's power-of-two
    // rounding against best fit's headers and 16-byte rounding.
    let pad = |h: &Heap| {
        padding_share(h).map(|(share, ratio)| {
            let ratio = ratio.map(|r| format!("reserves {}\u{d7} the bytes asked for: ", units::sig3(r))).unwrap_or_default();
            (share, ratio)
        })
    };
    match (bd.and_then(pad), bf.and_then(pad)) {
        (Some((sd, rd)), Some((sf, rf))) => out.push(format!(
            "At the peak, buddy {rd}{} of its reserved memory is rounding each block up to a power of two; \
             best fit {rf}{} is its 8-byte block headers and rounding to 16 bytes.",
            units::percent(sd),
            units::percent(sf)
        )),
        (Some((sd, rd)), None) => out.push(format!(
            "At the peak, buddy {rd}{} of its reserved memory is rounding each block up to a power of two.",
            units::percent(sd)
        )),
        (None, Some((sf, rf))) => out.push(format!(
            "At the peak, best fit {rf}{} of its reserved memory is its 8-byte block headers and rounding to 16 bytes.",
            units::percent(sf)
        )),
        (None, None) => {}
    }

    // Where best fit's free memory lies at the peak.
    if let Some(h) = bf.or_else(|| heaps.first()) {
        let name = spoken(h);
        let map = h.maps.peak.as_ref();
        let t = map.map(Map::totals);
        let mut s = String::new();
        if let (Some(map), Some(t)) = (map, t.as_ref()) {
            let free = map.bytes(t, Kind::Free);
            let _ = write!(
                s,
                "At its peak, {name}'s {} of free memory lies in {} separate run{} across {} of its {} region{}",
                units::bytes(free),
                units::count(t.free_runs),
                if t.free_runs == 1 { "" } else { "s" },
                t.regions_with_free,
                map.regions.len(),
                if map.regions.len() == 1 { "" } else { "s" },
            );
        }
        if let (Some(largest), Some(ext)) = (h.table.largest_free_at_peak, h.table.external_fragmentation_at_peak) {
            if s.is_empty() {
                let _ = write!(s, "At its peak, {name}'s free memory is scattered");
            }
            let _ = write!(
                s,
                ": its largest free block is {}, so {} of the free memory lies outside it (external fragmentation)",
                units::bytes(largest),
                units::percent(ext)
            );
            let other = heaps.iter().find(|o| !std::ptr::eq(*o, h)).and_then(|o| o.table.external_fragmentation_at_peak.map(|e| (o, e)));
            if let Some((o, e)) = other {
                let _ = write!(s, ", against {} for {}", units::percent(e), spoken(o));
            }
        }
        if !s.is_empty() {
            s.push('.');
            out.push(s);
        }
    }

    // Speed per call.
    let speeds: Vec<(&Heap, f64)> =
        heaps.iter().filter_map(|h| h.table.ns_per_call.filter(|v| v.is_finite() && *v > 0.0).map(|v| (h, v))).collect();
    if let [(a, va), (b, vb), ..] = speeds[..] {
        let ((fast, vf), (slow, vs)) = if va <= vb { ((a, va), (b, vb)) } else { ((b, vb), (a, va)) };
        if (vs - vf) / vs < 0.03 {
            out.push(format!(
                "Both heaps took about the same time per call ({} and {}); timings vary from run to run, the other figures do not.",
                units::ns(vf),
                units::ns(vs)
            ));
        } else {
            out.push(format!(
                "{} was faster per call: {} against {}'s {} ({} less time); timings vary from run to run, the other figures do not.",
                capital(&spoken(fast)),
                units::ns(vf),
                spoken(slow),
                units::ns(vs),
                units::percent((vs - vf) / vs)
            ));
        }
    }
    out
}

const STYLE: &str = r#"
:root { color-scheme: light; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, Helvetica, sans-serif; color: #222; background: #fff;
       max-width: 1320px; margin: 0 auto; padding: 16px 24px 48px; line-height: 1.45; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 20px; margin: 32px 0 10px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.meta { color: #555; margin: 0 0 16px; }
.meta code { background: #f3f3f3; padding: 1px 4px; border-radius: 3px; }
.alert { border: 3px solid #b00020; background: #fff0f0; padding: 12px 18px; margin: 16px 0; border-radius: 6px; }
.alert h2 { color: #b00020; border: none; margin: 0 0 6px; font-size: 22px; }
.note { border: 2px solid #e69f00; background: #fff8e6; padding: 10px 16px; margin: 16px 0; border-radius: 6px; }
.findings { font-size: 17px; background: #f5f9fc; border-left: 5px solid #0072b2; padding: 10px 18px; }
.findings p { margin: 6px 0; }
table { border-collapse: collapse; margin: 6px 0 12px; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 14px; border-bottom: 1px solid #e2e2e2; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { border-bottom: 2px solid #888; }
td.best { font-weight: bold; }
td .sub { color: #666; font-size: 13px; }
.swatch { display: inline-block; width: 14px; height: 14px; border: 1px solid #888; vertical-align: -2px; margin: 0 4px 0 12px; }
figure { margin: 12px 0 24px; }
figure svg { width: 100%; height: auto; }
figure svg, figure img { max-width: 100%; height: auto; border: 1px solid #ddd; display: block; }
figcaption { color: #555; font-size: 14px; margin-top: 4px; }
.maps { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 20px; }
.missing { border: 1px dashed #999; padding: 24px; color: #666; }
"#;

/// The whole page.
pub fn page(replay: &Replay, footprint_svg: &str, maps: &[MapPicture]) -> String {
    let mut h = String::new();
    let cut = if replay.complete { "" } else { " (INCOMPLETE trace)" };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>bestbuddy replay: {}{cut}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&replay.trace)
    );
    let _ = write!(h, "<h1>bestbuddy replay{cut}</h1>\n<p class=\"meta\">trace <code>{}</code> \u{b7} {} records \u{b7} {} thread{} \u{b7} {}</p>\n",
        escape(&replay.trace),
        units::count(replay.records),
        units::count(replay.threads),
        if replay.threads == 1 { "" } else { "s" },
        if replay.complete { "complete" } else { "<strong>cut off</strong>" },
    );

    if !replay.complete {
        let _ = write!(
            h,
            "<div class=\"alert\" id=\"incomplete\"><h2>Incomplete trace: the program's run was cut off</h2>\n\
             <p>The trace ends mid-record, so it was replayed up to its last whole record ({} records). \
             Every figure, chart and map below covers only that part of the run.</p>\n",
            units::count(replay.records)
        );
        warnings_list(&mut h, &replay.warnings);
        h.push_str("</div>\n");
    } else if !replay.warnings.is_empty() {
        h.push_str("<div class=\"note\" id=\"warnings\"><strong>Warnings</strong>\n");
        warnings_list(&mut h, &replay.warnings);
        h.push_str("</div>\n");
    }

    h.push_str("<h2>What the numbers say</h2>\n<div class=\"findings\">\n");
    for s in findings(replay) {
        let _ = writeln!(h, "<p>{}</p>", escape(&s));
    }
    h.push_str("</div>\n");

    heaps_table(&mut h, replay);
    peers_table(&mut h, replay);

    h.push_str("<h2>Footprint over time</h2>\n<figure id=\"footprint\">\n");
    h.push_str(strip_prolog(footprint_svg));
    h.push_str(
        "\n<figcaption>Solid: footprint (heap regions mapped and large mappings); dashed: reserved \
         (the sizes of the blocks holding live data); grey: requested (the live bytes the program asked for). \
         Also footprint.svg and footprint.png.</figcaption>\n</figure>\n",
    );

    h.push_str("<h2>Heap maps</h2>\n<p>Each heap's regions in address order, one band per region, \
                one small square per cell:");
    for k in [Kind::Live, Kind::Padding, Kind::Free, Kind::Metadata] {
        let _ = write!(h, "<span class=\"swatch\" style=\"background:{}\"></span>{}", hex(kind_colour(k)), k.label());
    }
    h.push_str(". Live is a block's header and the bytes asked for; padding is what the block reserves beyond them.</p>\n");
    for moment in ["peak", "end"] {
        h.push_str("<div class=\"maps\">\n");
        for m in maps.iter().filter(|m| m.moment == moment) {
            let caption = match &m.map {
                Some(map) => charts::map_title(&m.heap, moment, map, replay.complete),
                None => format!("{}: no heap map at the {moment} in this replay", m.heap),
            };
            let _ = write!(h, "<figure class=\"map\" id=\"map-{}-{moment}\">", escape(&m.heap));
            match &m.map {
                Some(map) => {
                    let b64 = base64::engine::general_purpose::STANDARD.encode(&m.png);
                    let totals = charts::totals_line(map, &map.totals());
                    let _ = write!(
                        h,
                        "<img alt=\"{}\" src=\"data:image/png;base64,{b64}\">\n<figcaption>{} \u{2014} {}</figcaption>",
                        escape(&caption),
                        escape(&caption),
                        escape(&totals)
                    );
                }
                None => {
                    let _ = write!(h, "<div class=\"missing\">{}</div>", escape(&caption));
                }
            }
            h.push_str("</figure>\n");
        }
        h.push_str("</div>\n");
    }
    h.push_str("</body>\n</html>\n");
    h
}

fn strip_prolog(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

fn warnings_list(h: &mut String, warnings: &[String]) {
    if warnings.is_empty() {
        return;
    }
    h.push_str("<ul>\n");
    for w in warnings {
        let _ = writeln!(h, "<li>{}</li>", escape(w));
    }
    h.push_str("</ul>\n");
}

type Cell = (String, Option<f64>);

fn heaps_table(h: &mut String, replay: &Replay) {
    let compared = replay.heaps.len() >= 2;
    h.push_str("<h2>The heaps side by side</h2>\n<table id=\"heaps\">\n<thead><tr><th></th>");
    for heap in &replay.heaps {
        let _ = write!(h, "<th>{}</th>", escape(&heap.name));
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    let dash = || ("\u{2014}".to_string(), None);
    let bytes = |v: Option<u64>| -> Cell { v.map(|b| (units::bytes(b), Some(b as f64))).unwrap_or_else(dash) };
    // (label, lower is better, the cell of each heap)
    type Row<'a> = (&'a str, bool, &'a dyn Fn(&Heap) -> Cell);
    let rows: [Row; 8] = [
        ("calls", false, &|x| x.table.calls.map(|c| (units::count(c), None)).unwrap_or_else(dash)),
        ("peak footprint", true, &|x| bytes(x.table.peak_footprint)),
        ("peak live requested", false, &|x| bytes(x.table.peak_live_requested)),
        ("internal fragmentation (reserved / requested)", true, &|x| {
            x.table
                .internal_fragmentation
                .filter(|r| r.is_finite())
                .map(|r| {
                    let pad = if r > 0.0 { units::percent((1.0 - 1.0 / r).max(0.0)) } else { "\u{2014}".into() };
                    (format!("{}\u{d7} <span class=\"sub\">({pad} padding)</span>", units::sig3(r)), Some(r))
                })
                .unwrap_or_else(dash)
        }),
        ("external fragmentation at the peak", true, &|x| {
            x.table.external_fragmentation_at_peak.filter(|e| e.is_finite()).map(|e| (units::percent(e), Some(e))).unwrap_or_else(dash)
        }),
        ("largest free block at the peak", false, &|x| bytes(x.table.largest_free_at_peak)),
        ("time per call", true, &|x| {
            x.table.ns_per_call.filter(|v| v.is_finite()).map(|v| (units::ns(v), Some(v))).unwrap_or_else(dash)
        }),
        ("footprint peaked at call", false, &|x| x.table.peak_call.map(|c| (units::count(c), None)).unwrap_or_else(dash)),
    ];
    for (label, lower_better, cell) in rows {
        let cells: Vec<Cell> = replay.heaps.iter().map(cell).collect();
        let values: Vec<f64> = cells.iter().filter_map(|c| c.1).collect();
        let best = (lower_better && values.len() >= 2)
            .then(|| values.iter().copied().fold(f64::INFINITY, f64::min))
            .filter(|b| values.iter().any(|v| v > b));
        let _ = write!(h, "<tr><td>{}</td>", escape(label));
        for (text, v) in cells {
            let class = if best.is_some() && v == best { " class=\"best\"" } else { "" };
            // The text is built from numbers and fixed markup only.
            let _ = write!(h, "<td{class}>{text}</td>");
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table>\n");
    if compared {
        h.push_str("<p class=\"meta\">Bold: the lower where lower is better.</p>\n");
    }
}

fn peers_table(h: &mut String, replay: &Replay) {
    if replay.peers.is_empty() {
        return;
    }
    h.push_str("<h2>Other allocators on the same trace</h2>\n<table id=\"peers\">\n<thead><tr><th>allocator</th><th>peak RSS</th><th>CPU time of the replay</th></tr></thead>\n<tbody>\n");
    for p in &replay.peers {
        let rss = p.peak_rss.map(units::bytes).unwrap_or_else(|| "\u{2014}".into());
        let secs = p.seconds.filter(|s| s.is_finite()).map(units::seconds).unwrap_or_else(|| "\u{2014}".into());
        let _ = writeln!(h, "<tr><td>{}</td><td>{rss}</td><td>{secs}</td></tr>", escape(&p.name));
    }
    h.push_str("</tbody></table>\n<p class=\"meta\">Peak RSS is the whole replayer process's, so it is not the same measure as the heaps' footprint above.</p>\n");
}
