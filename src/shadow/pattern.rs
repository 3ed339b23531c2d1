//! The fill pattern: every block the model records is filled over its usable bytes with a
//! pattern of its own, and verified before it is freed or resized (and after a trim).
//!
//! A block filled with offset `off` holds `PATTERN[off + i % PERIOD]` at byte `i`:
//! pseudo-random bytes repeating every `PERIOD` (stored three times over, so that any
//! offset plus a chunk of up to `PERIOD` bytes is one slice). Filling and verifying are then
//! memcpy and memcmp, which libFuzzer's coverage hooks do not slow down.
//!
//! Blocks up to `dense` bytes carry the pattern whole. Beyond, only the first `dense`
//! bytes, a stripe across every `dense` boundary and the last `TAIL` bytes do (see
//! [`ranges`]): where a heap keeps anything inside a large block (a split's links or
//! headers) is at such a boundary or at an end, so the stripes see it being written, and a
//! fuzz input that fills two 2 MiB blocks does not fault in 1024 pages. The unit tests fill
//! every byte (`dense` = `usize::MAX`).

use std::sync::LazyLock;

/// The pattern's period, and how many distinct offsets (block seeds) there are.
pub const PERIOD: usize = 1 << 16;

static PATTERN: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let period: Vec<u8> = (0..PERIOD)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
        })
        .collect();
    period.repeat(3)
});

/// Stripe around each `dense` boundary of a larger block.
const STRIPE: usize = 256;
/// The end of a larger block that carries the pattern.
const TAIL: usize = 4 << 10;

/// The byte ranges of a block of `len` usable bytes that carry its pattern: all of it up to
/// `dense` bytes; beyond, the first `dense` bytes, a stripe across every `dense` boundary
/// and the last `TAIL` bytes. `dense` is at least `TAIL`.
fn ranges(len: usize, dense: usize) -> impl Iterator<Item = (usize, usize)> {
    let stripes = if len > dense { (len - 1) / dense } else { 0 };
    std::iter::once((0, len.min(dense)))
        .chain(
            (1..=stripes).map(move |k| (k * dense - STRIPE / 2, (k * dense + STRIPE / 2).min(len))),
        )
        .chain((len > dense).then(|| (len - TAIL, len)))
}

/// Fills the pattern ranges of a block of `len` bytes at `p` with the pattern of `seed`.
pub fn fill(p: usize, len: usize, dense: usize, seed: usize) {
    for (start, end) in ranges(len, dense) {
        // SAFETY: the caller passes the usable bytes of a live block, which nothing else uses.
        let bytes = unsafe { std::slice::from_raw_parts_mut((p + start) as *mut u8, end - start) };
        for (k, c) in bytes.chunks_mut(PERIOD).enumerate() {
            c.copy_from_slice(expected(seed, start + k * PERIOD, c.len()));
        }
    }
}

/// Panics unless the bytes below `upto` of a block of `len` bytes at `p`, filled with the
/// pattern of `seed`, still hold it; `what` names the moment in the message.
pub fn verify(p: usize, len: usize, upto: usize, dense: usize, seed: usize, what: &str) {
    for (start, end) in ranges(len, dense) {
        let end = end.min(upto);
        if start >= end {
            continue;
        }
        // SAFETY: the caller passes bytes of a live block.
        let bytes = unsafe { std::slice::from_raw_parts((p + start) as *const u8, end - start) };
        for (k, c) in bytes.chunks(PERIOD).enumerate() {
            let want = expected(seed, start + k * PERIOD, c.len());
            if c != want {
                let at =
                    start + k * PERIOD + c.iter().zip(want).position(|(a, b)| a != b).unwrap_or(0);
                panic!("{what}: byte {at} of block {p:#x} ({len} bytes) changed");
            }
        }
    }
}

/// Copies the pattern ranges below `upto` of a block of `len` bytes at `p` to `q` (what
/// realloc copies, as far as the pattern can tell).
pub fn copy(p: usize, q: usize, len: usize, upto: usize, dense: usize) {
    for (start, end) in ranges(len, dense) {
        let end = end.min(upto);
        if start < end {
            // SAFETY: both are live blocks of at least `upto` bytes.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    (p + start) as *const u8,
                    (q + start) as *mut u8,
                    end - start,
                )
            };
        }
    }
}

/// The `len` (at most `PERIOD`) pattern bytes of `seed` from block offset `at` on.
fn expected(seed: usize, at: usize, len: usize) -> &'static [u8] {
    // PATTERN is three periods long: any start below two periods has a period after it.
    let start = seed % PERIOD + at % PERIOD;
    &PATTERN[start..start + len]
}
