//! Diagnostics: one line to stderr from a stack buffer, then abort.
//!
//! Nothing here allocates or formats with `core::fmt` (whose machinery is large and could
//! in principle recurse into user code); text is assembled byte by byte.

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

    /// Right-aligns `v` in a field of `width` characters.
    pub fn dec_padded(&mut self, v: usize, width: usize) -> &mut Self {
        let mut tmp = Line::new();
        tmp.dec(v);
        for _ in tmp.len..width {
            self.str(" ");
        }
        self.str(tmp.as_str())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
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
/// `bestbuddy: <call>(): <what> <pointer>`.
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
        .str("\n");
    line.write_to(2);
    // SAFETY: abort never returns and is always safe to call.
    unsafe { libc::abort() }
}

/// Reports an internal inconsistency (heap corruption found by a check) and aborts.
#[cold]
#[inline(never)]
pub fn fatal(what: &str) -> ! {
    fatal_as("fatal", what)
}

/// Reports a broken invariant under a label (`bestbuddy: <label>: <what>`) and aborts.
#[cold]
#[inline(never)]
pub fn fatal_as(label: &str, what: &str) -> ! {
    let mut line = Line::new();
    line.str("bestbuddy: ")
        .str(label)
        .str(": ")
        .str(what)
        .str("\n");
    line.write_to(2);
    // SAFETY: as above.
    unsafe { libc::abort() }
}
