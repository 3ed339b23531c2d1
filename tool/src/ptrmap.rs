//! A map keyed by pointers, hashed with one multiply: the replay keeps every live block of
//! the trace in one, and a trace has tens of millions of lookups (SipHash, std's default,
//! costs several times more per lookup). Shared by `bestbuddy` and `bestbuddy-replayer`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Hashes a pointer with one multiply, folding the high half into the low one (the table
/// indexes by the low bits, which an aligned pointer times an odd number leaves zero).
#[derive(Default)]
pub struct PtrHasher(u64);

impl Hasher for PtrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b) ^ self.0.rotate_left(8));
        }
    }
    fn write_u64(&mut self, x: u64) {
        let m = u128::from(x) * 0x9E37_79B9_7F4A_7C15;
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }
}

pub type PtrMap<V> = HashMap<u64, V, BuildHasherDefault<PtrHasher>>;
