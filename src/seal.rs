//! Sealed metadata: what the allocator keeps inside memory the program can write to (best
//! fit's block headers, the links of free lists kept in freed blocks) is stored mixed with
//! per-process secrets, and checked when it is read back.
//!
//! * A **link** (the next/prev/left/right pointer a freed block holds) is stored as
//!   `ptr ^ mix(slot) ^ LINK_SECRET`, where `slot` is the address the link is stored at (the
//!   same idea as glibc 2.32's safe-linking, plus a secret). A use-after-free write of any
//!   value, or a link copied from another block, decodes to a pseudo-random address, which
//!   [`decode`] rejects unless it has the alignment that links of that list always have and
//!   is a user-space address: a random value passes with probability 2^-21.
//! * A **header seal** is the high half of best fit's header word: a hash of the block's
//!   address, the low half (size and flags) and `HEADER_SECRET`. An overflow that runs into
//!   the next block's header changes the word; the seal no longer matches, and the next call
//!   that reads the header reports it.
//!
//! The secrets come from the 16 random bytes the kernel gives every process (AT_RANDOM). They
//! are read lazily and never change, so every thread, at any moment (even before the
//! allocator's initialisation ran, or while it runs on another thread), seals with the same
//! values. The crate feature `unhardened` turns sealing off (links stored plain, no seal) and,
//! with it, every check that relies on metadata being intact ([`HARDENED`] is false): the
//! back-link check of buddy's lists, best fit's footer check, the cache key check in `pop`.
//! It exists to measure what the hardening costs.

use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Multiplier that spreads every bit of its operand into the high bits of the product.
const MIX: usize = 0x9E37_79B9_7F4A_7C15;

/// 0 until first read, then the AT_RANDOM-derived secret (never 0).
static LINK_SECRET: AtomicUsize = AtomicUsize::new(0);
static HEADER_SECRET: AtomicUsize = AtomicUsize::new(0);
static CACHE_SECRET: AtomicUsize = AtomicUsize::new(0);

/// Whether links and headers are sealed in this build.
pub const HARDENED: bool = cfg!(not(feature = "unhardened"));

/// The three secrets, from AT_RANDOM (or fixed values if the kernel gave none). Any number of
/// threads may run this at once: they compute and store the same values.
#[cold]
#[inline(never)]
fn load_secrets() {
    // SAFETY: getauxval needs no initialisation; AT_RANDOM points at 16 random bytes.
    let (a, b) = unsafe {
        let random = libc::getauxval(libc::AT_RANDOM) as *const usize;
        if random.is_null() {
            (0x5EC2_E7B0_DD1E_5A17, 0x0BAD_5EED_C0FF_EE11)
        } else {
            (random.read_unaligned(), random.add(1).read_unaligned())
        }
    };
    // Never 0, which means "not loaded yet".
    HEADER_SECRET.store((b.wrapping_mul(MIX) ^ a) | 1, Relaxed);
    CACHE_SECRET.store(a | 1, Relaxed);
    LINK_SECRET.store(b | 1, Relaxed);
}

#[inline(always)]
fn secret(cell: &AtomicUsize) -> usize {
    let s = cell.load(Relaxed);
    if s != 0 {
        return s;
    }
    load_secrets();
    cell.load(Relaxed)
}

/// The secret a cached block's second word is keyed with (see tcache.rs).
#[inline(always)]
pub fn cache_secret() -> usize {
    secret(&CACHE_SECRET)
}

/// The stored form of the link `ptr`, kept at address `slot`.
#[inline(always)]
pub fn encode(slot: usize, ptr: usize) -> usize {
    if HARDENED {
        ptr ^ slot.wrapping_mul(MIX) ^ secret(&LINK_SECRET)
    } else {
        ptr
    }
}

/// The link stored as `stored` at address `slot`, if it is 0 or has the low four bits `low`
/// that every link of its list has, and lies in user space (below 2^47). `None`: the word was
/// not written by [`encode`] for this slot: the freed block was overwritten.
#[inline(always)]
pub fn decode(slot: usize, stored: usize, low: usize) -> Option<usize> {
    if !HARDENED {
        return Some(stored);
    }
    let ptr = stored ^ slot.wrapping_mul(MIX) ^ secret(&LINK_SECRET);
    // One test for both: bits 47..63 clear and the low four bits equal to `low`.
    if ptr.wrapping_sub(low) & 0xFFFF_8000_0000_000F == 0 || ptr == 0 {
        Some(ptr)
    } else {
        None
    }
}

/// The header word for block `b` whose low half (size and flags) is `low`.
#[inline(always)]
pub fn seal_header(b: usize, low: u32) -> usize {
    if HARDENED {
        let tag = (b ^ low as usize ^ secret(&HEADER_SECRET)).wrapping_mul(MIX) >> 32;
        (tag << 32) | low as usize
    } else {
        low as usize
    }
}

/// Whether `word` is the header [`seal_header`] writes for block `b`.
#[inline(always)]
pub fn header_intact(b: usize, word: usize) -> bool {
    !HARDENED || seal_header(b, word as u32) == word
}
