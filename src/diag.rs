//! Diagnostics: one line to stderr from a stack buffer, then abort.
//!
//! Nothing here allocates or formats with `core::fmt` (whose machinery is large and could
//! in principle recurse into user code); text is assembled byte by byte.

use core::sync::atomic::{AtomicUsize, Ordering};

/// A fixed buffer for one diagnostic line; text beyond its capacity is dropped.
pub struct Line {
    buf: [u8; 512],
    len: usize,
}

impl Line {
    pub const fn new() -> Self {
        Line {
            buf: [0; 512],
            len: 0,
        }
    }

    fn byte(&mut self, b: u8) {
        if self.len < self.buf.len() {
            self.buf[self.len] = b;
            self.len += 1;
        }
    }

    pub fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    /// Appends raw bytes (e.g. from the environment); control characters become '?'.
    pub fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        for &b in bytes {
            self.byte(if b < b' ' && b != b'\n' { b'?' } else { b });
        }
        self
    }

    /// Writes the digits of `v` in `base` (2..=16), most significant first.
    fn digits(&mut self, mut v: usize, base: usize) {
        let mut tmp = [0u8; 64];
        let mut n = 0;
        loop {
            tmp[n] = b"0123456789abcdef"[v % base];
            n += 1;
            v /= base;
            if v == 0 {
                break;
            }
        }
        while n > 0 {
            n -= 1;
            self.byte(tmp[n]);
        }
    }

    /// Writes `v` as `%p` does in glibc: `0x` then lowercase hex without padding.
    pub fn hex(&mut self, v: usize) -> &mut Self {
        self.str("0x");
        self.digits(v, 16);
        self
    }

    pub fn dec(&mut self, v: usize) -> &mut Self {
        self.digits(v, 10);
        self
    }

    /// Writes `v` with a comma between groups of three digits: `1,234,567`.
    pub fn grouped(&mut self, v: usize) -> &mut Self {
        let mut digits = Line::new();
        digits.dec(v);
        let n = digits.len;
        for (i, &d) in digits.as_bytes().iter().enumerate() {
            if i != 0 && (n - i).is_multiple_of(3) {
                self.byte(b',');
            }
            self.byte(d);
        }
        self
    }

    /// Writes a count of bytes in binary units with one decimal: `512 B`, `1.5 KiB`,
    /// `12.0 MiB`, `3.2 GiB`.
    pub fn bytes_human(&mut self, bytes: usize) -> &mut Self {
        const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
        if bytes < 1024 {
            return self.dec(bytes).str(" B");
        }
        let mut unit = 0;
        let mut scale: u128 = 1024;
        while unit + 1 < UNITS.len() && bytes as u128 >= scale * 1024 {
            scale *= 1024;
            unit += 1;
        }
        // Tenths, rounded to nearest.
        let tenths = (bytes as u128 * 10 + scale / 2) / scale;
        self.dec((tenths / 10) as usize)
            .str(".")
            .dec((tenths % 10) as usize)
            .str(" ")
            .str(UNITS[unit])
    }

    /// Writes thousandths as a percentage with one decimal: `62.1 %`.
    pub fn percent(&mut self, permille: usize) -> &mut Self {
        self.dec(permille / 10)
            .str(".")
            .dec(permille % 10)
            .str(" %")
    }

    /// Appends spaces up to column `column` (none if the line is that long already).
    pub fn pad_to(&mut self, column: usize) -> &mut Self {
        while self.len < column && self.len < self.buf.len() {
            self.byte(b' ');
        }
        self
    }

    /// Writes what `f` writes right-aligned in a field of `width` characters.
    pub fn right(&mut self, width: usize, f: impl FnOnce(&mut Line)) -> &mut Self {
        let mut field = Line::new();
        f(&mut field);
        for _ in field.len..width {
            self.byte(b' ');
        }
        self.bytes(field.as_bytes())
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Writes the line to file descriptor `fd` (retrying short writes).
    pub fn write_to(&self, fd: i32) {
        let mut done = 0;
        while done < self.len {
            // SAFETY: the slice is valid for reads of `len - done` bytes.
            let r = unsafe { libc::write(fd, self.buf[done..].as_ptr().cast(), self.len - done) };
            if r <= 0 {
                break;
            }
            done += r as usize;
        }
    }
}

/// Reports detected misuse of the allocator and aborts:
/// `bestbuddy: <call>(): <what> <pointer>: <what it means and how to find its cause>`.
#[cold]
#[inline(never)]
pub fn misuse(call: &str, what: &str, ptr: usize) -> ! {
    let mut line = Line::new();
    line.str("bestbuddy: ")
        .str(call)
        .str("(): ")
        .str(what)
        .str(" ")
        .hex(ptr)
        .str(": ")
        .str(misuse_hint(what))
        .str("\n");
    line.write_to(2);
    abort()
}

/// What a misuse message adds after the pointer: what the misuse means, and the option
/// that finds its cause (README.md, "Messages", lists them with the messages).
fn misuse_hint(what: &str) -> &'static str {
    match what {
        "double free of" => {
            "it was freed before; BESTBUDDY_TRACE=FILE records every call, to find that free"
        }
        "freed pointer" => {
            "a use after free; BESTBUDDY_TRACE=FILE records every call, to find the free"
        }
        "invalid pointer" => {
            "not a block that malloc returned (inside a block, on the stack, a global, or \
             another allocator's)"
        }
        "corrupted block" => {
            "memory next to it or inside it was overwritten after it was freed or past its \
             end; BESTBUDDY_OPTIONS=check=1 checks the heaps at every call, to stop nearer \
             the write"
        }
        _ => "the program misused the allocator",
    }
}

/// Reports an internal inconsistency (heap corruption found by a check) and aborts.
#[cold]
#[inline(never)]
pub fn fatal(what: &str) -> ! {
    fatal_as(
        "fatal",
        what,
        "the allocator's own data is damaged (a write through a stray pointer, or a bug: \
         please report it with the program, BESTBUDDY_TRACE=FILE records its calls)",
    )
}

/// Reports a broken invariant under a label, with what it means and what to do
/// (`bestbuddy: <label>: <what>: <hint>`), and aborts.
#[cold]
#[inline(never)]
pub fn fatal_as(label: &str, what: &str, hint: &str) -> ! {
    let mut line = Line::new();
    line.str("bestbuddy: ")
        .str(label)
        .str(": ")
        .str(what)
        .str(": ")
        .str(hint)
        .str("\n");
    line.write_to(2);
    abort()
}

/// What runs before a diagnostic aborts the process: 0, or a `fn()` that a layer above
/// registered (the trace's end, so that the records of the calls that led to the misuse,
/// which the messages send the reader to, reach the file). Taken once: a second abort
/// from inside it goes straight to `abort`.
static BEFORE_ABORT: AtomicUsize = AtomicUsize::new(0);

/// Registers `f` to run before a diagnostic aborts the process.
pub fn set_before_abort(f: fn()) {
    BEFORE_ABORT.store(f as usize, Ordering::Release);
}

fn abort() -> ! {
    let f = BEFORE_ABORT.swap(0, Ordering::AcqRel);
    if f != 0 {
        // SAFETY: only `set_before_abort` stores a non-zero value, and it stores a `fn()`.
        let f: fn() = unsafe { core::mem::transmute::<usize, fn()>(f) };
        f();
    }
    // SAFETY: abort never returns and is always safe to call.
    unsafe { libc::abort() }
}
