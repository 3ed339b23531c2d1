//! The format of a freed block that is held outside its heap: in a thread cache, or on an
//! arena's remote list. Both the cache (`tcache.rs`) and the arenas (`arena.rs`) link such
//! blocks, so the format lives below both.
//!
//! ```text
//!   held block: | next (sealed) | p ^ secret | (rest untouched)
//! ```
//! The first word links to the next held block, sealed (`seal::encode_held`), so a write into a
//! freed block cannot steer malloc to an address of the writer's choosing. The second word,
//! the *key*, is the block's address XOR a per-process secret; no block reaches the program
//! with the key in place, so a free that finds it reports a double free wherever the first
//! free left the block.

use crate::seal;

/// The key a held block's second word holds (see `is_held`).
#[inline(always)]
pub fn key_of(p: usize) -> usize {
    seal::held_key(p)
}

/// Links `p` in front of `next` in a list of held blocks and marks it held.
///
/// # Safety
/// `p` is a heap block of at least 16 bytes that the program has given up.
#[inline(always)]
pub unsafe fn link(p: usize, next: usize) {
    // SAFETY: forwarded from the caller.
    unsafe { link_keyed(p, next, key_of(p)) }
}

/// As `link`, with `p`'s key (`key_of(p)`) already at hand.
///
/// # Safety
/// As for `link`.
#[inline(always)]
pub unsafe fn link_keyed(p: usize, next: usize, key: usize) {
    // SAFETY: forwarded from the caller.
    unsafe {
        *(p as *mut usize) = seal::encode_held(key, next);
        *((p + 8) as *mut usize) = key;
    }
}

/// The block after `p` in a list of held blocks, checked: a freed block that the program
/// wrote to is reported as corrupted (under the name of `call`) instead of being followed.
/// The link must decode (a word overwritten whole decodes to garbage), and `p` must still
/// carry its key: a link with a few low bits flipped (a one-byte overflow) decodes to a
/// nearby address, which is then caught here, when it comes up as `p`.
///
/// # Safety
/// `p` is on a list of held blocks (linked with `link`).
#[inline(always)]
pub unsafe fn next(p: usize, call: &str) -> usize {
    let key = key_of(p);
    // SAFETY: forwarded from the caller.
    let (stored, held) = unsafe { (*(p as *const usize), *((p + 8) as *const usize)) };
    match seal::decode_held(key, stored) {
        Some(next) if !seal::HARDENED || held == key => next,
        _ => crate::diag::misuse(call, "corrupted block", p),
    }
}

/// Does the block `p` carry the key, i.e. is it in some thread's cache or on an arena's
/// remote list? Exact, because no block reaches the program with the key in place: the
/// cache's `pop` and the heap paths clear it with `clear` (the key of a block freed into the
/// heap is overwritten by the heap's links or lies inside a larger free block).
///
/// # Safety
/// `p` is a live heap block of at least 16 bytes.
#[inline]
pub unsafe fn is_held(p: *mut u8) -> bool {
    // SAFETY: forwarded from the caller.
    unsafe { *((p as usize + 8) as *const usize) == key_of(p as usize) }
}

/// Clears the two words where a sealed link and the key would be, in a block about to be
/// handed to the program: the key marks freed blocks, and either word left in place would
/// show the program a value mixed with a secret (a sealed null link is the secret itself,
/// mixed only with the block's own address).
///
/// # Safety
/// `p` is a heap block of at least 16 bytes that the program does not hold yet.
#[inline(always)]
pub unsafe fn clear(p: *mut u8) {
    // SAFETY: forwarded from the caller.
    unsafe {
        *(p as *mut usize) = 0;
        *((p as usize + 8) as *mut usize) = 0;
    }
}
