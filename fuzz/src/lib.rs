//! One harness for both heaps (`fuzz_targets/bestfit.rs`, `fuzz_targets/buddy.rs`).
//!
//! The fuzz input is decoded into a sequence of heap operations, run on a fresh heap through
//! the `Heap` trait, and checked after every step against a shadow model of the live blocks
//! (the same properties as `src/tests/model.rs`):
//!
//! * every block is non-null, aligned as asked (at least `MIN_ALIGN`), lies in one region the
//!   chunk map gives to a heap, has `request <= usable_size <= 2 * request + 64` (buddy
//!   rounds up to a power of two), and overlaps no live block;
//! * every block is filled with its own pattern over its whole usable size (beyond 64 KiB:
//!   the first 64 KiB, a stripe across every 64 KiB boundary and the last 4 KiB), and the
//!   pattern is verified before the block is freed or resized, and on every block after a
//!   `trim`;
//! * the lock-free peeks agree with `usable_size`; misuse (interior pointers, a second free)
//!   is refused and changes nothing;
//! * `heap.check()` passes and `stats().used` covers the live blocks, with at most 16 bytes
//!   of overhead each, after every step;
//! * at the end everything is freed: nothing is used, all free memory is in wholly free
//!   regions, at most the spare limit of them stay mapped, and `trim` unmaps them all.
//!
//! Input: a sequence of operations, each one opcode byte and its operands (missing bytes
//! read as 0). At most [`MAX_OPS`] operations run; the live blocks stay under
//! [`LIVE_BUDGET`] bytes (requests past it are skipped), so an input maps a few regions at
//! most and runs in well under a millisecond.
//!
//! | opcode % 16 | operation                                   | operands            |
//! |-------------|---------------------------------------------|---------------------|
//! | 0..=5       | alloc(size, MIN_ALIGN); opcode bit 7 set: alloc_many(size % 8193, 1..=64) | size (count byte) |
//! | 6           | alloc(size, align)                          | align byte, size    |
//! | 7..=9       | free the i-th live block; bit 7 set: free_many of 1..=64 blocks from the i-th on, bit 6: reversed | index (count byte) |
//! | 10, 11      | resize_in_place of the i-th block           | index, size         |
//! | 12          | realloc: resize in place, else alloc+copy+free | index, size      |
//! | 13          | usable_size and the peeks of the i-th block | index               |
//! | 14          | opcode bit 4 set: set_spare_limit(0..=3), else trim | (limit byte) |
//! | 15          | misuse: interior pointers, region metadata  | index               |
//!
//! A size is a class byte then 1, 2 or 3 bytes (little endian): class & 7 = 0..=2: 0..=255,
//! 3..=5: 0..=4096, 6: 0..=65535, 7: 0..=MAX_REQUEST. An index is 2 bytes, modulo the number
//! of live blocks (in allocation order). The last byte after the operations (if any) picks
//! the order of the final frees: allocation order, reverse, or by address.

use std::collections::BTreeMap;

use bestbuddy::chunkmap::{self, Owner};
use bestbuddy::heap::{Heap, MIN_ALIGN, Misuse, REGION};

/// Operations per input.
pub const MAX_OPS: usize = 256;
/// Bytes of live blocks (usable sizes) at most.
pub const LIVE_BUDGET: usize = 8 << 20;

struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }

    fn u8(&mut self) -> usize {
        self.byte().unwrap_or(0) as usize
    }

    fn u16(&mut self) -> usize {
        self.u8() | self.u8() << 8
    }

    fn u24(&mut self) -> usize {
        self.u16() | self.u8() << 16
    }

    fn size(&mut self, max: usize) -> usize {
        let size = match self.u8() & 7 {
            0..=2 => self.u8(),
            3..=5 => self.u16() % 4097,
            6 => self.u16(),
            _ => self.u24() % (max + 1),
        };
        size.min(max)
    }

    fn index(&mut self, n: usize) -> usize {
        self.u16() % n
    }
}

/// A live block as the model knows it.
#[derive(Clone, Copy)]
struct Block {
    p: usize,
    size: usize,
    usable: usize,
    align: usize,
    seed: u64,
}

/// A block filled with offset `off` holds `PATTERN[off + i % PERIOD]` at byte `i`:
/// pseudo-random bytes repeating every `PERIOD` (stored three times over, so that any
/// offset plus a chunk of up to `PERIOD` bytes is one slice). Filling and verifying are then
/// memcpy and memcmp, which libFuzzer's coverage hooks do not slow down.
const PERIOD: usize = 1 << 16;
static PATTERN: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
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

/// Blocks up to this size are filled and verified whole.
const DENSE: usize = 64 << 10;
/// Stripe around each `DENSE` boundary of a larger block, and its tail.
const STRIPE: usize = 256;
const TAIL: usize = 4 << 10;

/// The byte ranges of a block of `len` usable bytes that carry its pattern: all of it up to
/// `DENSE` bytes; beyond, the first `DENSE` bytes, a stripe across every `DENSE` boundary
/// and the last `TAIL` bytes. Where a heap keeps anything inside a large block (a split's
/// links or headers) is at such a boundary or at an end, so the stripes see it being
/// written; and a fuzz input that fills two 2 MiB blocks does not fault in 1024 pages.
fn ranges(len: usize) -> impl Iterator<Item = (usize, usize)> {
    let stripes = if len > DENSE { (len - 1) / DENSE } else { 0 };
    std::iter::once((0, len.min(DENSE)))
        .chain(
            (1..=stripes).map(move |k| (k * DENSE - STRIPE / 2, (k * DENSE + STRIPE / 2).min(len))),
        )
        .chain((len > DENSE).then(|| (len - TAIL, len)))
}

/// Fills the pattern ranges of a block of `len` bytes at `p` with the pattern of `seed`.
fn fill(p: usize, len: usize, seed: u64) {
    let off = seed as usize % PERIOD;
    for (start, end) in ranges(len) {
        // SAFETY: the caller passes the usable bytes of a live block, which nothing else uses.
        let bytes = unsafe { std::slice::from_raw_parts_mut((p + start) as *mut u8, end - start) };
        for (k, c) in bytes.chunks_mut(PERIOD).enumerate() {
            let i = (start + k * PERIOD) % PERIOD;
            // A chunk starting at pattern index i: PATTERN is three periods long.
            c.copy_from_slice(&PATTERN[off + i..off + i + c.len()]);
        }
    }
}

/// Panics unless the bytes below `upto` of a block of `len` bytes at `p`, filled with the
/// pattern of `seed`, still hold it.
fn verify(p: usize, len: usize, upto: usize, seed: u64, what: &str) {
    let off = seed as usize % PERIOD;
    for (start, end) in ranges(len) {
        let end = end.min(upto);
        if start >= end {
            continue;
        }
        // SAFETY: the caller passes bytes of a live block.
        let bytes = unsafe { std::slice::from_raw_parts((p + start) as *const u8, end - start) };
        for (k, c) in bytes.chunks(PERIOD).enumerate() {
            let i = (start + k * PERIOD) % PERIOD;
            let want = &PATTERN[off + i..off + i + c.len()];
            if c != want {
                let at =
                    start + k * PERIOD + c.iter().zip(want).position(|(a, b)| a != b).unwrap_or(0);
                panic!("{what}: byte {at} of block {p:#x} ({len} bytes) changed");
            }
        }
    }
}

/// Copies the pattern ranges below `upto` of a block of `len` bytes at `p` to `q`.
fn copy(p: usize, q: usize, len: usize, upto: usize) {
    for (start, end) in ranges(len) {
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

struct Model<H: Heap> {
    heap: H,
    /// Live blocks in allocation order.
    blocks: Vec<Block>,
    /// Live blocks by address: start -> end of usable bytes.
    by_addr: BTreeMap<usize, usize>,
    live_bytes: usize,
    next_seed: u64,
    /// The largest spare limit ever set: what may stay mapped when everything is free.
    max_spare: usize,
}

impl<H: Heap> Model<H> {
    fn new() -> Self {
        Model {
            heap: H::EMPTY,
            blocks: Vec::new(),
            by_addr: BTreeMap::new(),
            live_bytes: 0,
            next_seed: 0,
            max_spare: 1,
        }
    }

    /// A pattern offset no other block of this input has (an odd multiplier permutes
    /// 0..PERIOD, and an input makes far fewer than PERIOD blocks).
    fn seed(&mut self) -> u64 {
        self.next_seed += 1;
        self.next_seed.wrapping_mul(40_503) % PERIOD as u64
    }

    /// Proves the properties of a block just allocated or resized at `p` for `size` bytes,
    /// fills it, and records it.
    fn record(&mut self, p: usize, size: usize, align: usize) -> Block {
        assert_ne!(p, 0, "null block for {size} bytes");
        assert_eq!(
            p % align.max(MIN_ALIGN),
            0,
            "block {p:#x} not aligned to {align}"
        );
        let usable = unsafe { self.heap.usable_size(p as *mut u8) }
            .unwrap_or_else(|e| panic!("usable_size of live block {p:#x}: {e:?}"));
        assert!(
            usable >= size,
            "block {p:#x}: usable {usable} < requested {size}"
        );
        // Neither policy more than doubles a request (buddy rounds up to a power of two).
        let bound = 2 * size.max(align).max(MIN_ALIGN) + 64;
        assert!(
            usable <= bound,
            "block {p:#x}: usable {usable} for {size} bytes aligned to {align}"
        );
        let end = p + usable;
        assert!(
            matches!(chunkmap::owner(p), Owner::Region(_)),
            "block {p:#x} not in a heap region"
        );
        assert_eq!(
            p & !(REGION - 1),
            (end - 1) & !(REGION - 1),
            "block {p:#x}+{usable} crosses a region boundary"
        );
        if let Some((&q, &q_end)) = self.by_addr.range(..end).next_back() {
            assert!(q_end <= p, "{p:#x}+{usable} overlaps {q:#x}..{q_end:#x}");
        }
        let seed = self.seed();
        fill(p, usable, seed);
        self.by_addr.insert(p, end);
        self.live_bytes += usable;
        Block {
            p,
            size,
            usable,
            align,
            seed,
        }
    }

    /// Takes block `i` out of the model after verifying its contents.
    fn take(&mut self, i: usize, what: &str) -> Block {
        let b = self.blocks.remove(i);
        verify(b.p, b.usable, b.usable, b.seed, what);
        self.by_addr.remove(&b.p);
        self.live_bytes -= b.usable;
        b
    }

    fn alloc(&mut self, size: usize, align: usize) {
        if self.live_bytes + size > LIVE_BUDGET {
            return;
        }
        let p = unsafe { self.heap.alloc(size, align) } as usize;
        let b = self.record(p, size, align);
        self.blocks.push(b);
    }

    /// A thread cache's refill: `n` blocks of `size` bytes in one call.
    fn alloc_many(&mut self, size: usize, n: usize) {
        if self.live_bytes + size * n > LIVE_BUDGET {
            return;
        }
        let mut out = [0usize; 64];
        let got = unsafe { self.heap.alloc_many(size, &mut out[..n]) };
        assert_eq!(got, n, "alloc_many of {n} x {size} bytes gave {got}");
        for &p in &out[..got] {
            let b = self.record(p, size, MIN_ALIGN);
            self.blocks.push(b);
        }
    }

    /// A thread cache's flush: up to `n` blocks from index `i` on (consecutive allocations,
    /// often neighbours), in their order or reversed, freed in one call.
    fn free_many(&mut self, i: usize, n: usize, reverse: bool) {
        let n = n.min(self.blocks.len() - i);
        let mut batch: Vec<usize> = (0..n).map(|_| self.take(i, "before free_many").p).collect();
        if reverse {
            batch.reverse();
        }
        unsafe { self.heap.free_many(&batch) }
            .unwrap_or_else(|(p, e)| panic!("free_many: live block {p:#x} refused: {e:?}"));
        for &p in &batch {
            if matches!(chunkmap::owner(p), Owner::Region(_)) {
                assert!(
                    unsafe { self.heap.usable_size(p as *mut u8) }.is_err(),
                    "usable_size of block {p:#x} freed by free_many accepted"
                );
            }
        }
    }

    fn free(&mut self, i: usize) {
        let b = self.take(i, "before free");
        unsafe { self.heap.free(b.p as *mut u8) }
            .unwrap_or_else(|e| panic!("free of live block {:#x}: {e:?}", b.p));
        // While the region stays mapped, the block is no longer live: refused, not accepted.
        if matches!(chunkmap::owner(b.p), Owner::Region(_)) {
            assert!(
                unsafe { self.heap.usable_size(b.p as *mut u8) }.is_err(),
                "usable_size of freed block {:#x} accepted",
                b.p
            );
            assert!(
                unsafe { self.heap.free(b.p as *mut u8) }.is_err(),
                "double free of {:#x} accepted",
                b.p
            );
        }
    }

    fn resize(&mut self, i: usize, size: usize) {
        let b = self.blocks[i];
        if size > b.usable && self.live_bytes - b.usable + size > LIVE_BUDGET {
            return;
        }
        verify(b.p, b.usable, b.usable, b.seed, "before resize_in_place");
        let moved = !unsafe { self.heap.resize_in_place(b.p as *mut u8, size) }
            .unwrap_or_else(|e| panic!("resize_in_place of live block {:#x}: {e:?}", b.p));
        if moved {
            // Refused: the block is as it was.
            let usable = unsafe { self.heap.usable_size(b.p as *mut u8) }.expect("still live");
            assert_eq!(
                usable, b.usable,
                "refused resize of {:#x} changed its size",
                b.p
            );
            verify(
                b.p,
                b.usable,
                b.usable,
                b.seed,
                "after refused resize_in_place",
            );
            return;
        }
        self.resized(i, b, size);
    }

    /// Block `i` (`b`) was resized in place to hold `size` bytes: its contents survived up
    /// to the smaller usable size; record it anew.
    fn resized(&mut self, i: usize, b: Block, size: usize) {
        self.by_addr.remove(&b.p);
        self.live_bytes -= b.usable;
        let new = unsafe { self.heap.usable_size(b.p as *mut u8) }.expect("resized block is live");
        verify(b.p, b.usable, new, b.seed, "after resize_in_place");
        self.blocks[i] = self.record(b.p, size, b.align);
    }

    fn realloc(&mut self, i: usize, size: usize) {
        let b = self.blocks[i];
        if self.live_bytes + size > LIVE_BUDGET {
            return;
        }
        verify(b.p, b.usable, b.usable, b.seed, "before realloc");
        if unsafe { self.heap.resize_in_place(b.p as *mut u8, size) }.expect("live") {
            self.resized(i, b, size);
            return;
        }
        let q = unsafe { self.heap.alloc(size, MIN_ALIGN) } as usize;
        assert_ne!(q, 0, "null block for {size} bytes");
        let keep = b.usable.min(size);
        copy(b.p, q, b.usable, keep);
        self.free(i);
        verify(q, b.usable, keep, b.seed, "after realloc's copy");
        let nb = self.record(q, size, MIN_ALIGN);
        self.blocks.insert(i, nb);
    }

    fn usable(&self, i: usize) {
        let b = self.blocks[i];
        let p = b.p as *mut u8;
        let usable = unsafe { self.heap.usable_size(p) }.expect("live");
        assert_eq!(usable, b.usable, "usable size of {:#x} changed", b.p);
        assert!(usable >= b.size);
        assert_eq!(
            unsafe { H::peek_usable(p) },
            Some(usable),
            "peek_usable of {:#x}",
            b.p
        );
        assert!(unsafe { H::peek_live(p) }, "peek_live of {:#x}", b.p);
        if let Some(c) = unsafe { H::peek_class(p) } {
            assert!(c < H::CACHE_CLASSES, "class {c} of {:#x} out of range", b.p);
            assert!(
                H::class_size(c) <= usable,
                "{:#x}: class {c} serves {} bytes, block holds {usable}",
                b.p,
                H::class_size(c)
            );
        }
    }

    fn misuse(&mut self, i: usize) {
        let b = self.blocks[i];
        if b.usable >= 32 {
            let q = (b.p + 16) as *mut u8;
            unsafe {
                assert_eq!(
                    self.heap.free(q),
                    Err(Misuse::InvalidPointer),
                    "interior free"
                );
                assert!(self.heap.usable_size(q).is_err(), "interior usable_size");
                assert!(self.heap.resize_in_place(q, 1).is_err(), "interior resize");
            }
        }
        // The region's metadata is never a block.
        let base = b.p & !(REGION - 1);
        unsafe {
            assert!(
                self.heap.free((base + 64) as *mut u8).is_err(),
                "free of region metadata"
            );
        }
        verify(b.p, b.usable, b.usable, b.seed, "after misuse");
    }

    fn trim(&mut self) {
        self.heap.trim();
        for b in &self.blocks {
            verify(b.p, b.usable, b.usable, b.seed, "after trim");
        }
    }

    fn check(&self) {
        if let Err(e) = self.heap.check() {
            panic!("{} invariant broken: {e}", H::NAME);
        }
        let s = self.heap.stats();
        assert!(
            s.used >= self.live_bytes,
            "heap says {} bytes used, model holds {}",
            s.used,
            self.live_bytes
        );
        // Per-block overhead: best fit's 8-byte header, nothing for buddy.
        assert!(
            s.used <= self.live_bytes + 16 * self.blocks.len(),
            "heap says {} bytes used, model holds {} in {} blocks",
            s.used,
            self.live_bytes,
            self.blocks.len()
        );
    }

    fn finish(mut self, order: usize) {
        match order % 3 {
            0 => {}
            1 => self.blocks.reverse(),
            _ => self.blocks.sort_by_key(|b| b.p),
        }
        while !self.blocks.is_empty() {
            self.free(0);
            self.check();
        }
        let s = self.heap.stats();
        assert_eq!(s.used, 0, "nothing live, yet {} bytes used", s.used);
        assert_eq!(
            s.free, s.spare,
            "free memory outside wholly free regions: {s:?}"
        );
        assert!(
            s.regions <= self.max_spare,
            "{} regions stay mapped, spare limit {}",
            s.regions,
            self.max_spare
        );
        self.heap.trim();
        assert_eq!(self.heap.stats().regions, 0, "trim left regions mapped");
        self.check();
    }
}

/// Runs one input against a fresh heap of type `H`.
pub fn run<H: Heap>(data: &[u8]) {
    let mut input = Input { data };
    let mut m = Model::<H>::new();
    for _ in 0..MAX_OPS {
        let Some(op) = input.byte() else { break };
        let n = m.blocks.len();
        match op % 16 {
            0..=5 if op & 0x80 != 0 => {
                let size = input.size(H::MAX_REQUEST) % 8193;
                let count = 1 + input.u8() % 64;
                m.alloc_many(size, count);
            }
            0..=5 => {
                let size = input.size(H::MAX_REQUEST);
                m.alloc(size, MIN_ALIGN);
            }
            6 => {
                let shifts = (H::MAX_ALIGN / MIN_ALIGN).trailing_zeros() as usize + 1;
                let align = MIN_ALIGN << (input.u8() % shifts);
                let size = input.size(H::MAX_REQUEST);
                m.alloc(size, align);
            }
            7..=9 if n > 0 && op & 0x80 != 0 => {
                let i = input.index(n);
                let count = 1 + input.u8() % 64;
                m.free_many(i, count, op & 0x40 != 0);
            }
            7..=9 if n > 0 => {
                let i = input.index(n);
                m.free(i);
            }
            10 | 11 if n > 0 => {
                let i = input.index(n);
                let size = input.size(H::MAX_REQUEST);
                m.resize(i, size);
            }
            12 if n > 0 => {
                let i = input.index(n);
                let size = input.size(H::MAX_REQUEST);
                m.realloc(i, size);
            }
            13 if n > 0 => {
                let i = input.index(n);
                m.usable(i);
            }
            14 if op & 0x10 != 0 => {
                let limit = input.u8() % 4;
                m.max_spare = m.max_spare.max(limit);
                m.heap.set_spare_limit(limit);
            }
            14 => m.trim(),
            15 if n > 0 => {
                let i = input.index(n);
                m.misuse(i);
            }
            _ => {}
        }
        m.check();
    }
    let order = input.u8();
    m.finish(order);
}
