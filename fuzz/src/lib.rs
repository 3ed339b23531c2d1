//! One harness for both heaps (`fuzz_targets/bestfit.rs`, `fuzz_targets/buddy.rs`): the
//! fuzz input is decoded into heap operations for the library's shadow model
//! (`bestbuddy::shadow`, src/shadow/, which the unit tests drive too and which says what is
//! checked), applied to a fresh heap one at a time and checked after each.
//!
//! Input: a sequence of operations, each one opcode byte and its operands (missing bytes
//! read as 0; an operation that needs a live block when there is none reads no operands and
//! does nothing). At most [`MAX_OPS`] operations run; the live blocks stay under the budget
//! of `Config::FUZZ` (requests past it are skipped), so an input maps a few regions at
//! most.
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

use bestbuddy::heap::{Heap, MIN_ALIGN};
use bestbuddy::shadow::{Config, Model, Op, no_layout};

/// Operations per input.
pub const MAX_OPS: usize = 256;

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

    /// The operation of `opcode` and its operands, on a heap of `n` live blocks; None when
    /// it needs a live block and there is none.
    fn op<H: Heap>(&mut self, opcode: u8, n: usize) -> Option<Op> {
        let op = match opcode % 16 {
            0..=5 if opcode & 0x80 != 0 => Op::AllocMany {
                size: self.size(H::MAX_REQUEST) % 8193,
                count: 1 + self.u8() % 64,
            },
            0..=5 => Op::Alloc {
                size: self.size(H::MAX_REQUEST),
                align: MIN_ALIGN,
            },
            6 => {
                let shifts = (H::MAX_ALIGN / MIN_ALIGN).trailing_zeros() as usize + 1;
                let align = MIN_ALIGN << (self.u8() % shifts);
                Op::Alloc {
                    size: self.size(H::MAX_REQUEST),
                    align,
                }
            }
            14 if opcode & 0x10 != 0 => Op::SpareLimit(self.u8() % 4),
            14 => Op::Trim,
            _ if n == 0 => return None,
            7..=9 if opcode & 0x80 != 0 => {
                let i = self.index(n);
                let count = (1 + self.u8() % 64).min(n - i);
                let mut batch: Vec<usize> = (i..i + count).collect();
                if opcode & 0x40 != 0 {
                    batch.reverse();
                }
                Op::FreeMany(batch)
            }
            7..=9 => Op::Free(self.index(n)),
            10 | 11 => Op::Resize {
                index: self.index(n),
                size: self.size(H::MAX_REQUEST),
            },
            12 => Op::Realloc {
                index: self.index(n),
                size: self.size(H::MAX_REQUEST),
            },
            13 => Op::Usable(self.index(n)),
            _ => Op::Misuse(self.index(n)),
        };
        Some(op)
    }
}

/// Runs one input against a fresh heap of type `H`.
pub fn run<H: Heap>(data: &[u8]) {
    let mut input = Input { data };
    let mut m = Model::<H>::new(Config::FUZZ, no_layout);
    for _ in 0..MAX_OPS {
        let Some(opcode) = input.byte() else { break };
        if let Some(op) = input.op::<H>(opcode, m.len()) {
            m.apply(op);
        }
    }
    m.finish(input.u8());
}
