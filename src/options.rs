//! The environment the allocator reads when it starts, in one place: `BESTBUDDY_OPTIONS`,
//! the glibc variables that name the same settings, `BESTBUDDY_STATS`, `BESTBUDDY_VERBOSE`
//! and `BESTBUDDY_TRACE`.
//!
//! `BESTBUDDY_OPTIONS` is a comma-separated list of `key=value` (the README's table):
//! - `junk=1`: fill new blocks with 0xAA and freed ones with 0x55 (glibc's M_PERTURB with
//!   0x55; thread caches step aside so that every block is filled);
//! - `check=N`: walk every heap's invariants every N allocator calls (caches step aside so
//!   that every call is counted) and abort with what broke;
//! - the tunables of `KEYS`: `arena_max`, `tcache_bytes` (and `tcache=0`), `trim_delay_ms`,
//!   `mmap_threshold`, `mmap_max`, `top_pad`, `trim_threshold`, `perturb`, each also read
//!   from its glibc variable where glibc has one (`MALLOC_ARENA_MAX`, ...); a key of
//!   `BESTBUDDY_OPTIONS` wins over its glibc variable;
//! - `verbose=1` (or `BESTBUDDY_VERBOSE=1`): print the settings in force at start-up.
//!
//! Byte sizes take a `k`, `m` or `g` suffix (binary units). `BESTBUDDY_TRACE=PATH`, read
//! beside them, turns the trace on (docs/TRACE.md).
//!
//! Read once, by scanning `environ` (getenv may not be usable this early), ignored in setuid
//! and setgid programs (AT_SECURE). An unknown option or a bad value is named on stderr, once,
//! and ignored. Nothing here allocates: warnings go out through `diag::Line`.

use core::ffi::c_char;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::diag::Line;

unsafe extern "C" {
    static environ: *const *const c_char;
}

const NAME: &[u8] = b"BESTBUDDY_OPTIONS=";
const STATS: &[u8] = b"BESTBUDDY_STATS=";
const TRACE: &[u8] = b"BESTBUDDY_TRACE=";
const VERBOSE: &[u8] = b"BESTBUDDY_VERBOSE=";

/// A tunable's value and where it came from: `BESTBUDDY_OPTIONS`, or the glibc variable's
/// name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Set {
    pub value: usize,
    pub from: &'static str,
}

#[derive(Default, Debug, PartialEq, Eq)]
pub struct Options {
    pub junk: bool,
    /// 0: never.
    pub check_every: usize,
    /// BESTBUDDY_STATS set to anything but empty or `0`: print the statistics at exit.
    pub stats_at_exit: bool,
    /// BESTBUDDY_TRACE's value: the environment's own bytes, which the program may change
    /// later (the trace copies them at once).
    pub trace: Option<&'static [u8]>,
    /// Print the settings in force at start-up.
    pub verbose: bool,
    /// The tunables, `None` where neither BESTBUDDY_OPTIONS nor a glibc variable set them.
    pub arena_max: Option<Set>,
    /// Bytes a thread cache's bin aims to hold; 0 turns the caches off.
    pub tcache_bytes: Option<Set>,
    pub trim_delay_ms: Option<Set>,
    pub mmap_threshold: Option<Set>,
    pub mmap_max: Option<Set>,
    pub top_pad: Option<Set>,
    pub trim_threshold: Option<Set>,
    pub perturb: Option<Set>,
}

/// How a tunable's value is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Bytes: decimal, with an optional `k`, `m` or `g` suffix.
    Bytes,
    /// A count or a delay: decimal.
    Count,
    /// A count of at least 1 (glibc ignores an arena limit of 0).
    Positive,
    /// A byte, 0..=255 (its glibc variable takes the low byte of any number, as glibc does).
    Byte,
}

/// A tunable: its key in BESTBUDDY_OPTIONS, its glibc variable (with the `=`), how its value
/// is written and which field of `Options` it sets.
struct Key {
    name: &'static str,
    glibc: Option<&'static str>,
    kind: Kind,
    field: fn(&mut Options) -> &mut Option<Set>,
}

const KEYS: [Key; 8] = [
    Key {
        name: "arena_max",
        glibc: Some("MALLOC_ARENA_MAX"),
        kind: Kind::Positive,
        field: |o| &mut o.arena_max,
    },
    Key {
        name: "tcache_bytes",
        glibc: None,
        kind: Kind::Bytes,
        field: |o| &mut o.tcache_bytes,
    },
    Key {
        name: "trim_delay_ms",
        glibc: None,
        kind: Kind::Count,
        field: |o| &mut o.trim_delay_ms,
    },
    Key {
        name: "mmap_threshold",
        glibc: Some("MALLOC_MMAP_THRESHOLD_"),
        kind: Kind::Bytes,
        field: |o| &mut o.mmap_threshold,
    },
    Key {
        name: "mmap_max",
        glibc: Some("MALLOC_MMAP_MAX_"),
        kind: Kind::Count,
        field: |o| &mut o.mmap_max,
    },
    Key {
        name: "top_pad",
        glibc: Some("MALLOC_TOP_PAD_"),
        kind: Kind::Bytes,
        field: |o| &mut o.top_pad,
    },
    Key {
        name: "trim_threshold",
        glibc: Some("MALLOC_TRIM_THRESHOLD_"),
        kind: Kind::Bytes,
        field: |o| &mut o.trim_threshold,
    },
    Key {
        name: "perturb",
        glibc: Some("MALLOC_PERTURB_"),
        kind: Kind::Byte,
        field: |o| &mut o.perturb,
    },
];

/// The options of this process; `None` while libc has not set `environ` up yet (ld.so's
/// first allocations), so the caller can try again later. Each warning is printed here, so
/// the caller reads the environment once.
pub fn read() -> Option<Options> {
    // SAFETY: environ is libc's; it is null or a null-terminated array of C strings.
    let mut env = unsafe { core::ptr::addr_of!(environ).read() };
    if env.is_null() {
        return None;
    }
    // SAFETY: getauxval needs no initialisation.
    if unsafe { libc::getauxval(libc::AT_SECURE) } != 0 {
        return Some(Options::default());
    }
    let mut list = None;
    let mut trace = None;
    let mut stats_at_exit = false;
    let mut verbose = false;
    let mut glibc: [Option<&'static [u8]>; KEYS.len()] = [None; KEYS.len()];
    // SAFETY: walking the environment array and its strings up to their terminators; the
    // strings outlive the process's use of them unless the program rewrites its environment
    // (only the trace's path is kept, and it is copied at once).
    unsafe {
        while !(*env).is_null() {
            let entry: &'static [u8] = core::ffi::CStr::from_ptr(*env).to_bytes();
            if let Some(value) = entry.strip_prefix(NAME) {
                list.get_or_insert(value);
            } else if let Some(value) = entry.strip_prefix(TRACE) {
                trace.get_or_insert(value);
            } else if let Some(value) = entry.strip_prefix(STATS) {
                stats_at_exit = flag(value);
            } else if let Some(value) = entry.strip_prefix(VERBOSE) {
                verbose = flag(value);
            } else if entry.starts_with(b"MALLOC_") {
                for (slot, key) in glibc.iter_mut().zip(KEYS.iter()) {
                    if let Some(value) = key.glibc.and_then(|name| variable(entry, name)) {
                        slot.get_or_insert(value);
                    }
                }
            }
            env = env.add(1);
        }
    }
    let mut options = Options::default();
    // The glibc variables first, so that BESTBUDDY_OPTIONS overrides them.
    for (value, key) in glibc.iter().zip(KEYS.iter()) {
        if let (Some(value), Some(name)) = (value, key.glibc) {
            match tunable(key, value, true) {
                Some(n) => {
                    *(key.field)(&mut options) = Some(Set {
                        value: n,
                        from: name,
                    })
                }
                None => warn(name, "bad value '", value, "' ignored"),
            }
        }
    }
    if let Some(list) = list {
        parse_into(&mut options, list);
    }
    options.trace = trace;
    options.stats_at_exit = stats_at_exit;
    options.verbose |= verbose;
    Some(options)
}

/// `NAME=value` when `entry` is that variable: its value.
fn variable(entry: &'static [u8], name: &str) -> Option<&'static [u8]> {
    entry
        .strip_prefix(name.as_bytes())
        .and_then(|rest| rest.strip_prefix(b"="))
}

/// A variable that is on unless empty or `0`.
fn flag(value: &[u8]) -> bool {
    !value.is_empty() && value != b"0"
}

/// Parses the value of BESTBUDDY_OPTIONS, naming each unknown option and bad value on stderr.
pub fn parse(value: &[u8]) -> Options {
    let mut options = Options::default();
    parse_into(&mut options, value);
    options
}

/// Parses BESTBUDDY_OPTIONS into `options`, over what is there (the glibc variables).
fn parse_into(options: &mut Options, value: &[u8]) {
    for item in value.split(|&b| b == b',').filter(|item| !item.is_empty()) {
        let (key, arg) = match item.iter().position(|&b| b == b'=') {
            Some(eq) => (&item[..eq], &item[eq + 1..]),
            None => (item, &b""[..]),
        };
        let bad = || {
            let mut line = Line::new();
            line.str("bestbuddy: BESTBUDDY_OPTIONS: bad value '")
                .bytes(arg)
                .str("' for ")
                .bytes(key)
                .str(" ignored\n");
            line.write_to(2);
        };
        match key {
            b"junk" | b"check" | b"verbose" | b"tcache" => match number(arg) {
                Some(n) => match key {
                    b"junk" => options.junk = n != 0,
                    b"check" => options.check_every = n,
                    b"verbose" => options.verbose = n != 0,
                    // `tcache=0` is `tcache_bytes=0`; `tcache=1` keeps the caches as they are.
                    _ if n == 0 => {
                        options.tcache_bytes = Some(Set {
                            value: 0,
                            from: "BESTBUDDY_OPTIONS",
                        })
                    }
                    _ if n == 1 => {}
                    _ => bad(),
                },
                None => bad(),
            },
            _ => match KEYS.iter().find(|k| k.name.as_bytes() == key) {
                Some(k) => match tunable(k, arg, false) {
                    Some(n) => {
                        *(k.field)(options) = Some(Set {
                            value: n,
                            from: "BESTBUDDY_OPTIONS",
                        })
                    }
                    None => bad(),
                },
                None => warn("BESTBUDDY_OPTIONS", "unknown option '", item, "' ignored"),
            },
        }
    }
}

/// `bestbuddy: <name>: <before><what><after>`, one line on stderr.
fn warn(name: &str, before: &str, what: &[u8], after: &str) {
    let mut line = Line::new();
    line.str("bestbuddy: ")
        .str(name)
        .str(": ")
        .str(before)
        .bytes(what)
        .str(after)
        .str("\n");
    line.write_to(2);
}

/// The value of tunable `key` written `arg`, or `None` if it is not one; `glibc`: it comes
/// from the glibc variable, whose perturb byte is the number's low byte.
fn tunable(key: &Key, arg: &[u8], glibc: bool) -> Option<usize> {
    match key.kind {
        Kind::Bytes => bytes(arg),
        Kind::Count => number(arg),
        Kind::Positive => number(arg).filter(|&n| n >= 1),
        Kind::Byte if glibc => number(arg).map(|n| n & 0xff),
        Kind::Byte => number(arg).filter(|&n| n <= 0xff),
    }
}

/// A decimal number without sign, of at most 18 digits (so it cannot overflow).
fn number(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0, |n, &d| n * 10 + (d - b'0') as usize))
}

/// A byte size: a decimal number with an optional suffix `k`, `m` or `g` (either case,
/// binary units); `None` if it is not one or overflows.
fn bytes(arg: &[u8]) -> Option<usize> {
    let (digits, shift) = match arg.last().map(u8::to_ascii_lowercase) {
        Some(b'k') => (&arg[..arg.len() - 1], 10),
        Some(b'm') => (&arg[..arg.len() - 1], 20),
        Some(b'g') => (&arg[..arg.len() - 1], 30),
        _ => (arg, 0),
    };
    number(digits)?.checked_mul(1 << shift)
}

/// The thread cache's default byte budget of one bin (tcache.rs's `BIN_BYTES`, which
/// `tcache_scale` scales from).
pub const TCACHE_BYTES_DEFAULT: usize = 8 << 10;
/// The most `tcache_bytes` may ask for: past it the bins' block bounds decide alone, and
/// the block counts computed from it stay far inside u32.
const TCACHE_BYTES_MAX: usize = 1 << 30;
static TCACHE_BYTES: AtomicUsize = AtomicUsize::new(TCACHE_BYTES_DEFAULT);

/// The idle-arena trim delay's default, in milliseconds (`Arenas::trim_idle`): none, so an
/// arena whose last thread exited is trimmed by the next slow path of another thread, unless
/// a new thread takes it first.
pub const TRIM_DELAY_MS_DEFAULT: u64 = 0;
static TRIM_DELAY_MS: AtomicU64 = AtomicU64::new(TRIM_DELAY_MS_DEFAULT);

/// Publishes the settings that layers above read as they go (the thread cache's budget and
/// the trim delay), from the options read at start-up.
pub fn publish(options: &Options) {
    if let Some(set) = options.tcache_bytes {
        TCACHE_BYTES.store(set.value.min(TCACHE_BYTES_MAX), Ordering::Relaxed);
    }
    if let Some(set) = options.trim_delay_ms {
        TRIM_DELAY_MS.store(set.value as u64, Ordering::Relaxed);
    }
}

/// `tcache_bytes`: what one bin of a thread cache aims to hold (0: the caches are off, which
/// global/init.rs applies through `tcache::ENABLED`).
pub fn tcache_bytes() -> usize {
    TCACHE_BYTES.load(Ordering::Relaxed)
}

/// A byte budget of the thread cache (`BIN_BYTES`, `BIN_GROWN_BYTES`), scaled by
/// `tcache_bytes` against its default.
pub fn tcache_scale(bytes: usize) -> usize {
    match tcache_bytes() {
        TCACHE_BYTES_DEFAULT => bytes,
        set => (bytes as u128 * set as u128 / TCACHE_BYTES_DEFAULT as u128) as usize,
    }
}

/// `trim_delay_ms`: how long an arena no thread lives in keeps its free pages before they go
/// back to the OS (`Arenas::trim_idle`).
pub fn trim_delay_ms() -> u64 {
    TRIM_DELAY_MS.load(Ordering::Relaxed)
}
