//! The thread cache's size classes for best fit: which block size each class holds, and the
//! rounding of requests of 4..32 KiB up to a class.
//!
//! ```text
//!  class     0   1   2  ...  254  | 255   256  ...  262  | 263 ... 270  | 271 ... 278
//!  block B  32  48  64  ... 4096  | 4608  5120 ...  8192 | 9216..16384  | 18432..32768
//!           exact: one per 16 B   | coarse: eight per power of two, spaced by an eighth
//! ```
//! Up to 4 KiB every block size (a multiple of 16) is a class of its own, as it is a bin of
//! the heap: a request takes exactly the block the heap would give it, cached or not. Above
//! that, one class per 16 bytes would be 1,792 more bins in every thread's cache, each one
//! seldom hit; instead the cache rounds a request up to the next of eight block sizes per
//! power of two (4.5, 5, 5.5 ... 8 KiB; 9, 10 ... 16 KiB; 18, 20 ... 32 KiB), as jemalloc's
//! and mimalloc's size classes do (they take four), so that the blocks of one class are
//! interchangeable and a cache can hold them, without taking the heap's lock for them. A
//! request so rounded wastes less than an eighth of its block; eight steps rather than four
//! keep that small for the sizes programs favour just above a power of two (a 4 KiB page and
//! its header). Requests that do not go through the cache (memalign, caching off) keep their
//! exact size, and so does a block resized in place.
//!
//! A block is cached only when its size is exactly a class's (`class_of_block`): one of
//! another size (shrunk or grown in place by realloc, carved for an aligned request, or a
//! refill's block that kept a sliver too small to split off) goes back to the heap.

use super::block::{FLAGS, HEADER, MIN_BLOCK, block_size};

/// The exact classes: block sizes `MIN_BLOCK..=LARGEST_EXACT` by 16.
pub(super) const EXACT_CLASSES: usize = (LARGEST_EXACT - MIN_BLOCK) / 16 + 1;
/// The largest block of an exact class.
const LARGEST_EXACT: usize = 4096;
/// log2 of the coarse classes per power of two.
const STEPS_LOG: usize = 3;
/// The largest block of a coarse class, and of any class.
const LARGEST_CLASS: usize = 32 << 10;
/// The coarse classes: `1 << STEPS_LOG` per power of two from `LARGEST_EXACT` to
/// `LARGEST_CLASS`.
const COARSE_CLASSES: usize = (log2(LARGEST_CLASS) - log2(LARGEST_EXACT)) << STEPS_LOG;
/// Every class.
pub(super) const CLASSES: usize = EXACT_CLASSES + COARSE_CLASSES;
/// The largest request a class serves.
pub(super) const LARGEST_CACHED_REQUEST: usize = LARGEST_CLASS - HEADER;
/// The largest request an exact class serves.
pub(super) const LARGEST_EXACT_REQUEST: usize = LARGEST_EXACT - HEADER;

const _: () = assert!(EXACT_CLASSES == 255 && COARSE_CLASSES == 24);
const _: () = assert!(LARGEST_EXACT.is_power_of_two() && LARGEST_CLASS.is_power_of_two());

/// `floor(log2(x))` for `x > 0`.
#[inline(always)]
const fn log2(x: usize) -> usize {
    (usize::BITS - 1 - x.leading_zeros()) as usize
}

/// The coarse class (counted from the first coarse one) that a block of `block` bytes
/// rounds up to, `LARGEST_EXACT < block <= LARGEST_CLASS`, and log2 of that class's step:
/// the block lies in `(2^t, 2^(t+1)]`, whose classes are 9/8, 10/8 ... 16/8 of `2^t`.
#[inline(always)]
const fn coarse(block: usize) -> (usize, usize) {
    let t = log2(block - 1);
    let shift = t - STEPS_LOG;
    let class = ((t - log2(LARGEST_EXACT)) << STEPS_LOG) + ((block - 1) >> shift)
        - (1 << STEPS_LOG);
    (class, shift)
}

/// The class of a request of `size` bytes (its block rounded up to a coarse class's size
/// above 4 KiB), or `None` above `LARGEST_CACHED_REQUEST`.
#[inline]
pub(super) fn class_of_request(size: usize) -> Option<usize> {
    if size <= LARGEST_EXACT_REQUEST {
        Some(block_size(size) / 16 - 2)
    } else if size <= LARGEST_CACHED_REQUEST {
        Some(EXACT_CLASSES + coarse(block_size(size)).0)
    } else {
        None
    }
}

/// The block size of `class` (`class < CLASSES`).
#[inline]
pub(super) fn block_of_class(class: usize) -> usize {
    if class < EXACT_CLASSES {
        (class + 2) * 16
    } else {
        let coarse = class - EXACT_CLASSES;
        let steps = 1 << STEPS_LOG;
        let t = log2(LARGEST_EXACT) + coarse / steps;
        (steps + 1 + coarse % steps) << (t - STEPS_LOG)
    }
}

/// The class whose blocks are exactly the size a block's header gives in its low bits
/// (`bits`: size and flags), or `None` (not a class's size, or outside the classes; a size
/// below `MIN_BLOCK`, which only a damaged header has, too).
///
/// Free's fast path asks it. One unsigned comparison bounds an exact class's size both ways
/// (a size below `MIN_BLOCK` wraps to a huge value), and it is bounded on the size rather
/// than the class, so that the bin's offset in the cache is the size itself, less a
/// constant, with no shifts; the coarse classes take the second branch.
#[inline(always)]
pub(super) fn class_of_block(bits: usize) -> Option<usize> {
    let block = bits & !FLAGS;
    // Both branches give the class as the block size an exact class of that number would
    // have, and the class is taken from it in one place, so that the compiler still indexes
    // the bins by the size, less a constant, on the exact branch.
    let as_exact = if block.wrapping_sub(MIN_BLOCK) < EXACT_CLASSES * 16 {
        block
    } else {
        (coarse_class_of_block(block)? + 2) * 16
    };
    const _: () = assert!(FLAGS == 15);
    // SAFETY: both branches give a multiple of 16 (the flags, cleared above, are the low 4
    // bits); said, so that the compiler does not clear them again before indexing the bin.
    unsafe { core::hint::assert_unchecked(as_exact.is_multiple_of(16)) };
    Some(as_exact / 16 - 2)
}

/// `class_of_block` above the exact classes.
#[inline(always)]
fn coarse_class_of_block(block: usize) -> Option<usize> {
    if block.wrapping_sub(LARGEST_EXACT + 1) >= LARGEST_CLASS - LARGEST_EXACT {
        return None;
    }
    let (class, shift) = coarse(block);
    // Exactly a class's size: a multiple of its step (the round-up of `coarse` changed
    // nothing).
    if block & ((1 << shift) - 1) == 0 {
        Some(EXACT_CLASSES + class)
    } else {
        None
    }
}
