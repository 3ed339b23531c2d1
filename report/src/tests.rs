use std::fs;
use std::path::{Path, PathBuf};

use crate::model::{Heap, Kind, Map, Region, Replay};
use crate::{Error, findings, render, render_replay, units};

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sample-replay.json");

/// A fresh folder under the system's temporary one, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("bestbuddy-report-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn sample() -> Replay {
    serde_json::from_str(&fs::read_to_string(SAMPLE).unwrap()).unwrap()
}

fn names(files: &[PathBuf]) -> Vec<String> {
    files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect()
}

#[test]
fn units_read_as_a_person_reads_them() {
    assert_eq!(units::bytes(0), "0 B");
    assert_eq!(units::bytes(1023), "1023 B");
    assert_eq!(units::bytes(1536), "1.5 KiB");
    assert_eq!(units::bytes(4 << 20), "4 MiB");
    assert_eq!(units::bytes(97_562_624), "93 MiB");
    assert_eq!(units::bytes(1_234_567_890), "1.15 GiB");
    assert_eq!(units::percent(0.4), "40%");
    assert_eq!(units::percent(0.0123), "1.2%");
    assert_eq!(units::percent(0.0), "0%");
    assert_eq!(units::count(1_234_567), "1,234,567");
    assert_eq!(units::count(999), "999");
    assert_eq!(units::short_count(15_000.0), "15k");
    assert_eq!(units::short_count(2_500_000.0), "2.5M");
    assert_eq!(units::ns(55.24), "55.2 ns");
    assert_eq!(units::ns(1500.0), "1.5 µs");
    assert_eq!(units::axis_unit(100 << 20).1, "MiB");
    assert_eq!(units::axis_unit(3 << 20).1, "KiB");
}

#[test]
fn the_sample_renders_every_file() {
    let dir = Scratch::new("sample");
    let files = render(Path::new(SAMPLE), &dir.0).unwrap();
    let mut expect = vec!["footprint.svg", "footprint.png"];
    for heap in ["best-fit", "buddy"] {
        for moment in ["peak", "end"] {
            for ext in ["svg", "png"] {
                expect.push(Box::leak(format!("map-{heap}-{moment}.{ext}").into_boxed_str()));
            }
        }
    }
    expect.push("report.html");
    assert_eq!(names(&files), expect);
    for f in &files {
        let bytes = fs::read(f).unwrap();
        match f.extension().unwrap().to_str().unwrap() {
            "png" => assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", f.display()),
            "svg" => assert!(bytes.starts_with(b"<svg") && bytes.ends_with(b"</svg>\n"), "{}", f.display()),
            _ => {}
        }
    }
    let svg = fs::read_to_string(dir.0.join("map-buddy-peak.svg")).unwrap();
    assert!(svg.contains("buddy: heap map at the peak (call 22,864)"));
    assert!(svg.matches("<rect").count() > 1000, "the cells are drawn");
    let footprint = fs::read_to_string(dir.0.join("footprint.svg")).unwrap();
    assert!(footprint.matches("<polyline").count() >= 5, "two heaps' lines, reserved and the requested line");
    assert!(footprint.contains("bytes (MiB)"));
}

#[test]
fn the_page_stands_alone() {
    let dir = Scratch::new("alone");
    render(Path::new(SAMPLE), &dir.0).unwrap();
    let html = fs::read_to_string(dir.0.join("report.html")).unwrap();
    for banned in ["<script", "<link", "src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(!html.contains(banned), "{banned}");
    }
    assert_eq!(html.matches("<svg").count(), 1, "the footprint inlined");
    assert_eq!(html.matches("src=\"data:image/png;base64,").count(), 4, "the four maps inlined");
    assert!(html.contains("<table id=\"heaps\">") && html.contains("<table id=\"peers\">"));
    assert!(html.contains("<td class=\"best\">93 MiB</td>"), "the lower peak in bold");
    assert!(!html.contains("Incomplete"));
}

#[test]
fn the_findings_say_what_the_sample_teaches() {
    let f = findings(&sample());
    assert!((3..=5).contains(&f.len()), "{f:#?}");
    assert_eq!(f[0], "Best fit has the lower peak footprint: 93 MiB against buddy's 109 MiB, 16 MiB (15%) less.");
    assert!(f[1].starts_with("At the peak, buddy reserves"), "{}", f[1]);
    assert!(f[1].contains("29% of its reserved memory is rounding each block up to a power of two"), "{}", f[1]);
    assert!(f[1].contains("1% is its 8-byte block headers and rounding to 16 bytes"), "{}", f[1]);
    assert!(f[2].contains("separate runs across 14 of its 21 regions") && f[2].contains("36% of the free memory"), "{}", f[2]);
    assert!(f[3].starts_with("Buddy was faster per call: 49.3 ns against best fit's 64 ns"), "{}", f[3]);
}

#[test]
fn a_cut_off_trace_never_looks_whole() {
    let mut r = sample();
    r.complete = false;
    r.warnings = vec!["trace cut off mid-record at byte 1234: replayed 40,000 whole records".into()];
    let dir = Scratch::new("cut");
    render_replay(&r, &dir.0).unwrap();
    let html = fs::read_to_string(dir.0.join("report.html")).unwrap();
    assert!(html.contains("<title>bestbuddy replay: out/insight/python3-workload.bbtrace (INCOMPLETE trace)</title>"));
    let alert = html.find("<div class=\"alert\" id=\"incomplete\">").expect("the alert");
    assert!(alert < html.find("What the numbers say").unwrap(), "the alert comes before any figure");
    assert!(html.contains("<li>trace cut off mid-record at byte 1234: replayed 40,000 whole records</li>"));
    assert!(findings(&r)[0].starts_with("This trace was cut off"));
    // The chart files, seen on their own, say so too.
    let svg = fs::read_to_string(dir.0.join("footprint.svg")).unwrap();
    assert!(svg.contains("Footprint over time: best-fit and buddy (INCOMPLETE: trace cut off)"));
    let svg = fs::read_to_string(dir.0.join("map-buddy-end.svg")).unwrap();
    assert!(svg.contains("buddy: heap map at the cut (call 39,999) (INCOMPLETE: trace cut off)"));
    // Warnings of a whole trace are shown too, less loudly.
    r.complete = true;
    render_replay(&r, &dir.0).unwrap();
    let html = fs::read_to_string(dir.0.join("report.html")).unwrap();
    assert!(html.contains("<div class=\"note\" id=\"warnings\">") && !html.contains("Incomplete"));
}

#[test]
fn optional_figures_may_be_missing_and_unknown_ones_are_ignored() {
    let dir = Scratch::new("minimal");
    let json = dir.0.with_extension("json");
    fs::write(&json, r#"{"heaps": [{"name": "best-fit", "future": [1, 2]}], "complete": true, "new_field": {}}"#).unwrap();
    let files = render(&json, &dir.0).unwrap();
    let _ = fs::remove_file(&json);
    assert_eq!(names(&files), ["footprint.svg", "footprint.png", "report.html"]);
    let html = fs::read_to_string(dir.0.join("report.html")).unwrap();
    assert!(html.contains("best-fit: no heap map at the peak in this replay"));
    assert!(html.contains("<td>\u{2014}</td>"), "a missing figure is a dash");

    // A table with nulls (NaN written by serde_json) and a heap with a timeline but no table.
    let r: Replay = serde_json::from_str(
        r#"{"heaps": [{"name": "buddy", "table": {"ns_per_call": null, "internal_fragmentation": null},
             "timeline": [{"call": 0, "heap": 4194304}, {"call": 9, "heap": 8388608, "reserved": 10, "requested": 5}]}]}"#,
    )
    .unwrap();
    assert_eq!(r.heaps[0].peak(), Some((9, 8_388_608)));
    render_replay(&r, &dir.0).unwrap();
}

#[test]
fn bad_input_is_an_error_never_a_panic() {
    let dir = Scratch::new("bad");
    let missing = dir.0.join("nope.json");
    assert!(matches!(render(&missing, &dir.0), Err(Error::Io { .. })));
    fs::create_dir_all(&dir.0).unwrap();
    let bad = dir.0.join("bad.json");
    fs::write(&bad, "{\"heaps\": [").unwrap();
    let e = render(&bad, &dir.0).unwrap_err();
    assert!(matches!(e, Error::Json { .. }));
    assert!(e.to_string().contains("bad.json: not a replay's JSON"), "{e}");
    fs::write(&bad, "{\"heaps\": []}").unwrap();
    assert_eq!(render(&bad, &dir.0).unwrap_err().to_string(), "nothing to draw: the replay has no heaps");
}

#[test]
fn names_and_text_from_the_file_are_escaped() {
    let mut r = sample();
    r.trace = "<script>alert(1)</script>".into();
    r.heaps[0].name = "best fit/<b>".into();
    r.heaps[1].name = "best fit/<b>".into();
    r.warnings = vec!["a & b".into()];
    let dir = Scratch::new("escape");
    let files = render_replay(&r, &dir.0).unwrap();
    assert!(names(&files).contains(&"map-best_fit__b_-peak.png".to_string()));
    assert!(names(&files).contains(&"map-best_fit__b_-2-end.svg".to_string()));
    let html = fs::read_to_string(dir.0.join("report.html")).unwrap();
    assert!(!html.contains("<script>") && !html.contains("<b>"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && html.contains("a &amp; b"));
}

#[test]
fn totals_count_kinds_and_free_runs() {
    let map = Map {
        call: 5,
        cell_bytes: 4096,
        regions: vec![
            Region { base: "0x1000".into(), cells: "MLLPFFLFx".into() },
            Region { base: "0x2000".into(), cells: "MLLLL".into() },
            Region { base: "0x3000".into(), cells: "FFFF".into() },
        ],
        bytes: None,
    };
    let t = map.totals();
    assert_eq!([Kind::Live, Kind::Padding, Kind::Free, Kind::Metadata, Kind::Unknown].map(|k| t.cells(k)), [7, 1, 7, 2, 1]);
    assert_eq!((t.free_runs, t.regions_with_free, t.longest_free_run), (3, 2, 4));
    assert_eq!(map.bytes(&t, Kind::Free), 7 * 4096);
}

#[test]
fn a_map_far_past_the_usual_size_stays_drawable() {
    // 65,536 alternating cells in one region: the worst case for runs.
    let cells: String = (0..65_536).map(|i| if i % 2 == 0 { 'L' } else { 'F' }).collect();
    let heap = Heap {
        name: "buddy".into(),
        maps: crate::model::Maps {
            peak: Some(Map { call: 1, cell_bytes: 64, regions: vec![Region { base: "0x7f00".into(), cells }], bytes: None }),
            end: None,
        },
        ..Heap::default()
    };
    let dir = Scratch::new("big");
    render_replay(&Replay { heaps: vec![heap], ..Replay::default() }, &dir.0).unwrap();
    let png = fs::read(dir.0.join("map-buddy-peak.png")).unwrap();
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert!(height < 3000, "{height}");
}
