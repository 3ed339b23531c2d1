//! The thread cache's size classes for best fit: which block size each class holds, and the
//! rounding of requests of 1..32 KiB up to a class.
//!
//! ```text
//!  class      0   1  ...  62    63 |  64   65  ...  71  |  72 ...  79  | ... | 96 ... 103
//!  block B   32  48  ... 1024  1040| 1168 1296 ... 2064 | 2320..4112   | ... | 18448..32784
//!  request  ..24 ..40   ..1016 ..1032|..1160 ..1288 ..2056| ..4104     | ... | ..32776
//!           exact: one per 16 B    | coarse: eight per power of two, plus the slack
//! ```
//! Up to 1 KiB every block size (a multiple of 16) is a class of its own, as it is a bin of
//! the heap: a request takes exactly the block the heap would give it, cached or not. Above
//! that, one class per 16 bytes would be 1,984 more bins in every thread's cache, each one
//! seldom hit, and each holding blocks that no other size can take: a thread that uses many
//! sizes of 1..4 KiB (a server's buffers) kept a few of every one, megabytes per thread
//! (`server`'s peak RSS fell by a quarter with the coarse classes from 1 KiB rather than 4).
//! Instead the cache rounds a request up to the next of eight sizes per power of two (1.125,
//! 1.25 ... 2 KiB; 2.25, 2.5 ... 4 KiB; and so on to 32 KiB), as jemalloc's and mimalloc's
//! size classes do (four per power of two there), so that the blocks of one class are
//! interchangeable and a cache can hold them without taking the heap's lock. A block
//! holds its size in requested bytes plus `SLACK` (the header and the rounding to 16), so
//! that the sizes programs favour, a power of two or a step of an eighth (a 4 KiB page),
//! take no more than the header on top; a request so rounded wastes less than an eighth of
//! its block; eight steps rather than four keep that small for sizes just above a step (a
//! 1 KiB buffer and its header). Requests that do not go through the cache (memalign,
//! caching off) keep their exact size, and so does a block resized in place.
//!
//! A block is cached only when its size is exactly a class's (`bin_of_block`): one of
//! another size (shrunk or grown in place by realloc, carved for an aligned request, or a
//! refill's block that kept a sliver too small to split off) goes back to the heap.

use super::block::{FLAGS, HEADER, MIN_BLOCK, block_size};
use crate::heap::FIRST_CLASS_BIN;

/// What a block holds besides a request of a power of two: the header, and the rounding of
/// the block to 16 bytes (`block_size(2^k) == 2^k + SLACK`).
const SLACK: usize = 16;
const _: () = assert!(block_size(4096) == 4096 + SLACK);
/// The sizes (blocks less `SLACK`) between which the classes are coarse: from above
/// `COARSE_FROM` to `COARSE_TO`, each power of two in eight steps.
const COARSE_FROM: usize = 1 << 10;
const COARSE_TO: usize = 32 << 10;
/// log2 of the coarse classes per power of two.
const STEPS_LOG: usize = 3;
/// The largest block of an exact class: what a request of `COARSE_FROM` bytes takes.
const LARGEST_EXACT: usize = COARSE_FROM + SLACK;
/// The exact classes: block sizes `MIN_BLOCK..=LARGEST_EXACT` by 16.
pub(super) const EXACT_CLASSES: usize = (LARGEST_EXACT - MIN_BLOCK) / 16 + 1;
/// The coarse classes.
const COARSE_CLASSES: usize = (log2(COARSE_TO) - log2(COARSE_FROM)) << STEPS_LOG;
/// Every class.
pub(super) const CLASSES: usize = EXACT_CLASSES + COARSE_CLASSES;
/// The largest block of any class.
const LARGEST_CLASS: usize = COARSE_TO + SLACK;
/// The largest request a class serves.
pub(super) const LARGEST_CACHED_REQUEST: usize = LARGEST_CLASS - HEADER;
/// The largest request an exact class serves.
pub(super) const LARGEST_EXACT_REQUEST: usize = LARGEST_EXACT - HEADER;

const _: () = assert!(EXACT_CLASSES == 64 && COARSE_CLASSES == 40);
const _: () = assert!(COARSE_FROM.is_power_of_two() && COARSE_TO.is_power_of_two());

/// `floor(log2(x))` for `x > 0`.
#[inline(always)]
const fn log2(x: usize) -> usize {
    (usize::BITS - 1 - x.leading_zeros()) as usize
}

/// The coarse class (counted from the first coarse one) that a block of `block` bytes
/// rounds up to, `LARGEST_EXACT < block <= LARGEST_CLASS`, and log2 of that class's step:
/// the block less `SLACK` lies in `(2^t, 2^(t+1)]`, whose classes are 9/8, 10/8 ... 16/8 of
/// `2^t`, plus `SLACK`.
#[inline(always)]
const fn coarse(block: usize) -> (usize, usize) {
    let v = block - SLACK;
    let t = log2(v - 1);
    let shift = t - STEPS_LOG;
    let class = ((t - log2(COARSE_FROM)) << STEPS_LOG) + ((v - 1) >> shift) - (1 << STEPS_LOG);
    (class, shift)
}

/// The class of a request of `size` bytes (its block rounded up to a coarse class's size
/// above 1 KiB), or `None` above `LARGEST_CACHED_REQUEST`.
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
        let t = log2(COARSE_FROM) + coarse / steps;
        ((steps + 1 + coarse % steps) << (t - STEPS_LOG)) + SLACK
    }
}

/// The cache bin (`Heap::peek_bin`: the class plus `FIRST_CLASS_BIN`) whose blocks are
/// exactly the size a block's header gives in its low bits (`bits`: size and flags), or
/// `None` (not a class's size, or above the classes). A size below `MIN_BLOCK` (the
/// epilogue's 0, or a damaged header's) gives a bin below `FIRST_CLASS_BIN`, which never
/// takes a block.
///
/// Free's fast path asks it. An exact class's size is bounded only above, and the bin is
/// the size in 16-byte units, so that its offset in the cache is the size itself, with no
/// shift; the coarse classes take the second branch.
#[inline(always)]
pub(super) fn bin_of_block(bits: usize) -> Option<usize> {
    let block = bits & !FLAGS;
    // Both branches give the bin as the block size an exact class of that bin would have,
    // and the bin is taken from it in one place, so that the compiler still indexes the
    // bins by the size on the exact branch.
    const _: () = assert!(MIN_BLOCK / 16 == FIRST_CLASS_BIN);
    let as_exact = if block < (EXACT_CLASSES + FIRST_CLASS_BIN) * 16 {
        block
    } else {
        (coarse_class_of_block(block)? + FIRST_CLASS_BIN) * 16
    };
    const _: () = assert!(FLAGS == 15);
    // SAFETY: both branches give a multiple of 16 (the flags, cleared above, are the low 4
    // bits); said, so that the compiler does not clear them again before indexing the bin.
    unsafe { core::hint::assert_unchecked(as_exact.is_multiple_of(16)) };
    Some(as_exact / 16)
}

/// `bin_of_block` above the exact classes.
#[inline(always)]
fn coarse_class_of_block(block: usize) -> Option<usize> {
    if block.wrapping_sub(LARGEST_EXACT + 1) >= LARGEST_CLASS - LARGEST_EXACT {
        return None;
    }
    let (class, shift) = coarse(block);
    // Exactly a class's size: its size less `SLACK` is a multiple of its step (the
    // round-up of `coarse` changed nothing).
    if (block - SLACK) & ((1 << shift) - 1) == 0 {
        Some(EXACT_CLASSES + class)
    } else {
        None
    }
}
