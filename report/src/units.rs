//! Numbers as a person reads them: bytes in KiB/MiB/GiB, counts with separators.

/// `n` bytes in the largest binary unit that leaves at least 1 of it (`(1.5, "KiB")` for
/// 1536), or None below 1 KiB. The tool's tables and the report both write bytes so.
pub fn binary_unit(n: u64) -> Option<(f64, &'static str)> {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return None;
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    Some((v, UNITS[unit]))
}

/// 1536 -> "1.5 KiB"; three significant digits at most above 1 KiB.
pub fn bytes(n: u64) -> String {
    match binary_unit(n) {
        Some((v, unit)) => format!("{} {unit}", sig3(v)),
        None => format!("{n} B"),
    }
}

/// A signed difference of bytes, "+1.5 MiB" or "-3 KiB".
pub fn bytes_diff(a: u64, b: u64) -> String {
    if a >= b { format!("+{}", bytes(a - b)) } else { format!("-{}", bytes(b - a)) }
}

/// Three significant digits, no trailing zeros: 1.50 -> "1.5", 123.4 -> "123".
pub fn sig3(v: f64) -> String {
    let decimals = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    trim(format!("{v:.decimals$}"))
}

fn trim(s: String) -> String {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

/// 0.4 -> "40%", 0.0123 -> "1.2%".
pub fn percent(fraction: f64) -> String {
    let p = fraction * 100.0;
    if p.abs() >= 10.0 || p == 0.0 { format!("{p:.0}%") } else { format!("{}%", trim(format!("{p:.1}"))) }
}

/// 1234567 -> "1,234,567".
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An axis of calls: 1500 -> "1.5k", 2000000 -> "2M".
pub fn short_count(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{}G", sig3(v / 1e9))
    } else if a >= 1e6 {
        format!("{}M", sig3(v / 1e6))
    } else if a >= 1e3 {
        format!("{}k", sig3(v / 1e3))
    } else {
        sig3(v)
    }
}

/// The unit an axis up to `max` bytes is drawn in: its divisor and name.
pub fn axis_unit(max: u64) -> (f64, &'static str) {
    if max >= 4 << 30 {
        ((1u64 << 30) as f64, "GiB")
    } else if max >= 4 << 20 {
        ((1u64 << 20) as f64, "MiB")
    } else if max >= 4 << 10 {
        (1024.0, "KiB")
    } else {
        (1.0, "B")
    }
}

/// An axis value already divided by its unit: 12.5 -> "12.5".
pub fn axis_value(v: f64) -> String {
    if v == 0.0 { "0".to_string() } else { sig3(v) }
}

/// Nanoseconds: "55.2 ns", "1.2 µs".
pub fn ns(v: f64) -> String {
    if v >= 1000.0 { format!("{} µs", sig3(v / 1000.0)) } else { format!("{} ns", sig3(v)) }
}

pub fn seconds(v: f64) -> String {
    if v >= 1.0 { format!("{} s", sig3(v)) } else { format!("{} ms", sig3(v * 1000.0)) }
}
