//! The report in a real browser: renders the committed sample, opens `report.html` in
//! headless chromium, and checks that the charts are laid out at a real size (the DOM of a
//! copy with a probe script) and that they show on the screen (a screenshot of the page
//! itself: the chart areas hold the heaps' colours and the maps' kinds of cells).
//!
//! The browser is `$BESTBUDDY_CHROMIUM` when set (`make check-report` sets it from
//! report/tests/chromium.sh, which installs Debian's chromium when it is missing), else
//! `chromium` on PATH. With none, the test says SKIPPED loudly and passes; with
//! `BESTBUDDY_CHROMIUM` set to a path that does not work, it fails.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sample-replay.json");
const WIDTH: u32 = 1400;

/// Appended to a copy of the page (the report itself has no script): writes each chart's
/// box and the page's height into a <pre>, which --dump-dom then prints.
const PROBE: &str = r#"<script>
window.addEventListener('load', () => {
  const rows = ['height ' + document.documentElement.scrollHeight];
  for (const el of document.querySelectorAll('figure svg, figure img')) {
    const r = el.getBoundingClientRect();
    rows.push([el.closest('figure').id, el.tagName.toLowerCase(), Math.round(r.left + scrollX),
               Math.round(r.top + scrollY), Math.round(r.width), Math.round(r.height),
               el.tagName === 'IMG' ? el.naturalWidth : 0].join(' '));
  }
  const pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = '\n' + rows.join('\n') + '\n';
  document.body.appendChild(pre);
});
</script>
</body>"#;

fn browser() -> Option<String> {
    match std::env::var("BESTBUDDY_CHROMIUM") {
        Ok(b) if !b.is_empty() => return Some(b),
        Ok(_) => return None,
        Err(_) => {}
    }
    ["chromium", "chromium-browser", "google-chrome"].into_iter().map(String::from).find(|b| {
        Command::new(b).arg("--version").output().map(|o| o.status.success()).unwrap_or(false)
    })
}

/// Runs chromium headless on `page` with `args`; its stdout.
fn chromium(browser: &str, page: &Path, height: u32, args: &[&str]) -> String {
    let url = format!("file://{}", page.display());
    let out = Command::new("timeout")
        .arg("120")
        .arg(browser)
        .args(["--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars", "--force-device-scale-factor=1"])
        // A profile of its own: no clash with a chromium the user (or another test) runs.
        .arg(format!("--user-data-dir={}", page.with_file_name("chromium-profile").display()))
        .arg(format!("--window-size={WIDTH},{height}"))
        .args(args)
        .arg(&url)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "{browser} {args:?} {url}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[derive(Debug)]
struct Chart {
    id: String,
    tag: String,
    x: u32,
    y: u32,
    w: u32,
    h: u32,
    natural_width: u32,
}

fn probe(dom: &str) -> (u32, Vec<Chart>) {
    let start = dom.find("<pre id=\"probe\">").expect("the probe ran: no <pre id=probe> in the dumped DOM");
    let body = &dom[start..dom[start..].find("</pre>").map(|e| start + e).unwrap()];
    let mut height = 0;
    let mut charts = Vec::new();
    for line in body.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f[..] {
            ["height", h] => height = h.parse().unwrap(),
            [id, tag, x, y, w, h, nw] => {
                let n = |s: &str| s.parse::<i64>().unwrap().max(0) as u32;
                charts.push(Chart { id: id.into(), tag: tag.into(), x: n(x), y: n(y), w: n(w), h: n(h), natural_width: n(nw) });
            }
            _ => {}
        }
    }
    (height, charts)
}

struct Screenshot {
    w: u32,
    h: u32,
    rgb: Vec<u8>,
}

fn read_png(path: &Path) -> Screenshot {
    let decoder = png::Decoder::new(std::io::BufReader::new(fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert!(info.bit_depth == png::BitDepth::Eight && channels >= 3, "{:?} {:?}", info.color_type, info.bit_depth);
    let rgb = buf[..info.buffer_size()].chunks(channels).flat_map(|p| [p[0], p[1], p[2]]).collect();
    Screenshot { w: info.width, h: info.height, rgb }
}

/// The share of a chart's pixels near each colour (within 20 on every channel: white is not the free cells' grey).
fn shares(shot: &Screenshot, c: &Chart, colours: &[[u8; 3]]) -> Vec<f64> {
    let mut hits = vec![0u64; colours.len()];
    let mut all = 0u64;
    for y in c.y..(c.y + c.h).min(shot.h) {
        for x in c.x..(c.x + c.w).min(shot.w) {
            let i = (y as usize * shot.w as usize + x as usize) * 3;
            let p = &shot.rgb[i..i + 3];
            all += 1;
            for (k, col) in colours.iter().enumerate() {
                if p.iter().zip(col).all(|(a, b)| a.abs_diff(*b) <= 20) {
                    hits[k] += 1;
                }
            }
        }
    }
    hits.iter().map(|&h| h as f64 / all.max(1) as f64).collect()
}

const BLUE: [u8; 3] = [0x00, 0x72, 0xB2];
const VERMILLION: [u8; 3] = [0xD5, 0x5E, 0x00];
const ORANGE: [u8; 3] = [0xE6, 0x9F, 0x00];
const FREE: [u8; 3] = [0xE8, 0xE8, 0xE8];

#[test]
fn the_report_renders_in_headless_chromium() {
    let Some(browser) = browser() else {
        eprintln!("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        eprintln!("!! SKIPPED: the report's browser test: no chromium (install Debian's `chromium`,");
        eprintln!("!! or run `make check-report` as root, which installs it)");
        eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
        return;
    };
    let t0 = Instant::now();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-browser");
    let _ = fs::remove_dir_all(&dir);
    bestbuddy_report::render(Path::new(SAMPLE), &dir).unwrap();
    let page = dir.join("report.html");
    let html = fs::read_to_string(&page).unwrap();
    let probe_page = dir.join("probe.html");
    fs::write(&probe_page, html.replacen("</body>", PROBE, 1)).unwrap();

    // 1. The layout: every chart laid out at a real size, every map's PNG decoded.
    let dom = chromium(&browser, &probe_page, 3000, &["--virtual-time-budget=10000", "--dump-dom"]);
    let (height, charts) = probe(&dom);
    eprintln!("page height {height}px");
    for c in &charts {
        eprintln!("  {} <{}> at ({}, {}), {}x{} px, natural width {}", c.id, c.tag, c.x, c.y, c.w, c.h, c.natural_width);
    }
    let ids: Vec<&str> = charts.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["footprint", "map-best-fit-peak", "map-buddy-peak", "map-best-fit-end", "map-buddy-end"]);
    for c in &charts {
        assert!(c.w >= 500 && c.h >= 250, "{c:?} is laid out too small");
        if c.tag == "img" {
            assert!(c.natural_width >= 1000, "{c:?}: its data: PNG did not decode");
        } else {
            assert_eq!(c.tag, "svg", "{c:?}");
        }
    }
    assert!(height > 1000 && height < 20_000, "{height}");

    // 2. The screen: the whole page in one screenshot, each chart's area checked.
    let shot_path = dir.join("screenshot.png");
    let arg = format!("--screenshot={}", shot_path.display());
    chromium(&browser, &page, height, &["--virtual-time-budget=10000", &arg]);
    let shot = read_png(&shot_path);
    assert_eq!((shot.w, shot.h), (WIDTH, height));
    let white = shot.rgb.chunks(3).filter(|p| p.iter().all(|&v| v >= 250)).count();
    assert!(white < shot.rgb.len() / 3, "the screenshot is blank");

    let fp = &charts[0];
    let s = shares(&shot, fp, &[BLUE, VERMILLION]);
    eprintln!("footprint: blue {:.2}%, vermillion {:.2}%", s[0] * 100.0, s[1] * 100.0);
    assert!(s[0] > 0.002 && s[1] > 0.002, "the footprint chart shows both heaps' lines: {s:?}");
    for c in &charts[1..] {
        let s = shares(&shot, c, &[BLUE, ORANGE, FREE]);
        eprintln!("{}: live {:.1}%, padding {:.1}%, free {:.1}%", c.id, s[0] * 100.0, s[1] * 100.0, s[2] * 100.0);
        assert!(s[0] > 0.10, "{}: live cells show", c.id);
        assert!(s[0] + s[1] + s[2] > 0.4, "{}: the cells fill the map", c.id);
    }
    let padding = |id: &str| shares(&shot, charts.iter().find(|c| c.id == id).unwrap(), &[ORANGE])[0];
    assert!(padding("map-buddy-peak") > 3.0 * padding("map-best-fit-peak"), "buddy's padding stands out");
    eprintln!("browser test: {:.1} s; screenshot: {}", t0.elapsed().as_secs_f64(), shot_path.display());
}
