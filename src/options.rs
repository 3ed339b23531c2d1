//! The environment the allocator reads when it starts: BESTBUDDY_OPTIONS, debug options,
//! and BESTBUDDY_STATS, the statistics table at exit.
//!
//! BESTBUDDY_OPTIONS is
//! A comma-separated list:
//! - `junk=1`: fill new blocks with 0xAA and freed ones with 0x55 (glibc's M_PERTURB with
//!   0x55; thread caches step aside so that every block is filled);
//! - `check=N`: walk every heap's invariants every N allocator calls (caches step aside so
//!   that every call is counted) and abort with what broke.
//!
//! `BESTBUDDY_TRACE=PATH`, read beside it, turns the trace on (docs/TRACE.md).
//!
//! Read by scanning `environ` (getenv may not be usable this early), ignored in setuid and
//! setgid programs (AT_SECURE). An unknown option is named on stderr, once, and ignored.

use core::ffi::c_char;

use crate::diag::Line;

unsafe extern "C" {
    static environ: *const *const c_char;
}

const NAME: &[u8] = b"BESTBUDDY_OPTIONS=";
const STATS: &[u8] = b"BESTBUDDY_STATS=";
const TRACE: &[u8] = b"BESTBUDDY_TRACE=";

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
}

/// The options of this process; `None` while libc has not set `environ` up yet (ld.so's
/// first allocations), so the caller can try again later.
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
    let mut options = None;
    let mut trace = None;
    let mut stats_at_exit = false;
    // SAFETY: walking the environment array and its strings up to their terminators.
    unsafe {
        while !(*env).is_null() {
            let entry = core::ffi::CStr::from_ptr(*env).to_bytes();
            if let Some(value) = entry.strip_prefix(NAME) {
                options.get_or_insert_with(|| parse(value));
            } else if let Some(value) = entry.strip_prefix(TRACE) {
                trace.get_or_insert(value);
            } else if let Some(value) = entry.strip_prefix(STATS) {
                stats_at_exit = !value.is_empty() && value != b"0";
            }
            env = env.add(1);
        }
    }
    let mut options = options.unwrap_or_default();
    options.trace = trace;
    options.stats_at_exit = stats_at_exit;
    Some(options)
}

/// Parses the value of BESTBUDDY_OPTIONS, naming each unknown option on stderr.
pub fn parse(value: &[u8]) -> Options {
    let mut options = Options::default();
    for item in value.split(|&b| b == b',').filter(|item| !item.is_empty()) {
        let (key, arg) = match item.iter().position(|&b| b == b'=') {
            Some(eq) => (&item[..eq], &item[eq + 1..]),
            None => (item, &b""[..]),
        };
        match (key, number(arg)) {
            (b"junk", Some(n)) => options.junk = n != 0,
            (b"check", Some(n)) => options.check_every = n,
            _ => {
                let mut line = Line::new();
                line.str("bestbuddy: BESTBUDDY_OPTIONS: unknown option '");
                line.bytes(item).str("' ignored\n");
                line.write_to(2);
            }
        }
    }
    options
}

fn number(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0, |n, &d| n * 10 + (d - b'0') as usize))
}
