//! Unit tests of both heaps: the shadow model (src/shadow/) driven by random operation
//! sequences, and the edge cases one by one. Every heap here is a private instance, not the
//! process allocator (which the test harness itself runs on, since this binary links the
//! exported malloc).

mod edges;
mod model;
mod source;

/// xorshift64*: a small deterministic generator, so a failing seed can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
