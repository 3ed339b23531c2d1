//! Blocks: where they lie in a region, their header word (size, flags and seal), the raw
//! link and footer words of free blocks, and the live bitmap.
//!
//! Every `b` in this module is the address of a block header inside a region of the heap
//! (a mapped region that the heap owns); the functions are unsafe because they trust that.
//! Headers and live bits are read without the heap lock by the thread cache's free path (the
//! size of a block in use changes only when its owner frees or resizes it), so they are
//! accessed as relaxed atomics, which compile to plain loads and stores.

use core::sync::atomic::Ordering::Relaxed;
use core::sync::atomic::{AtomicU8, AtomicUsize};

use super::BestFitHeap;
use crate::heap::{CHUNK, MIN_ALIGN, RegionSource};
use crate::seal;

/// Block flag: this block is in use.
pub(super) const IN_USE: usize = 1;
/// Block flag: the block before this one is in use (so it has no footer to read).
pub(super) const PREV_IN_USE: usize = 2;
pub(super) const FLAGS: usize = 15;
/// Bytes of header in front of every block's payload.
pub(super) const HEADER: usize = 8;
/// Smallest block: header, two tree links, footer.
pub const MIN_BLOCK: usize = 32;

pub(super) const BITMAP_OFFSET: usize = 64;
const _: () = assert!(core::mem::size_of::<crate::heap::Region>() <= BITMAP_OFFSET);
const BITMAP_BYTES: usize = CHUNK / MIN_ALIGN / 8;
/// The first block's header: 8 bytes before a 16-aligned payload.
pub(super) const FIRST_BLOCK: usize = BITMAP_OFFSET + BITMAP_BYTES + HEADER;
/// The epilogue: a zero-sized block marked in use, so coalescing stops at the region's end.
pub(super) const EPILOGUE: usize = CHUNK - HEADER;
/// The bytes of blocks a region holds when it is one free block.
pub const AREA: usize = EPILOGUE - FIRST_BLOCK;

/// The word at `addr`.
///
/// # Safety
/// `addr` is 8-aligned and lies inside a mapped region of the heap.
#[inline]
pub(super) unsafe fn word(addr: usize) -> usize {
    // SAFETY: caller passes an aligned address inside a mapped region.
    unsafe { (*(addr as *const AtomicUsize)).load(Relaxed) }
}

/// Stores `value` at `addr`.
///
/// # Safety
/// As for [`word`]; the word is metadata the heap owns (a header, link or footer word).
#[inline]
pub(super) unsafe fn set_word(addr: usize, value: usize) {
    // SAFETY: as in `word`.
    unsafe { (*(addr as *const AtomicUsize)).store(value, Relaxed) }
}

/// The low half of a header word: size and flags (the high half is the seal).
///
/// # Safety
/// `b` is a block header of the heap (the epilogue included).
#[inline]
pub(super) unsafe fn bits(b: usize) -> usize {
    // SAFETY: b is a block header.
    unsafe { word(b) as u32 as usize }
}

/// The size of block `b`, as its header says (unchecked: see `checked_bits`).
///
/// # Safety
/// As for [`bits`].
#[inline]
pub(super) unsafe fn size_of(b: usize) -> usize {
    // SAFETY: b is a block header.
    unsafe { bits(b) & !FLAGS }
}

/// Writes block `b`'s header: `low` (size and flags) under its seal.
///
/// # Safety
/// `b` is a block header of the heap, being written under the heap lock; `low` is below 2^32.
#[inline]
pub(super) unsafe fn set_header(b: usize, low: usize) {
    let word = seal::seal_header(sealed_address(b), low as u32) ^ free_mark(low);
    // SAFETY: b is a block header; sizes are below 4 MiB, so `low` fits in 32 bits.
    unsafe { set_word(b, word) }
}

/// Whether block `b`'s header still carries the seal it was written with.
///
/// # Safety
/// As for [`bits`].
#[inline]
pub(super) unsafe fn header_intact(b: usize) -> bool {
    // SAFETY: b is a block header.
    let word = unsafe { word(b) };
    seal::header_intact(sealed_address(b), word ^ free_mark(word as u32 as usize))
}

/// What a header without IN_USE has flipped in its seal: the seal's lowest bit. So only
/// the header of a block in use passes `seal::header_intact` as it lies in memory, and
/// free's fast path (`peek_class`), which checks nothing else of a header it has not
/// decoded, needs no test of IN_USE. Unsealed headers carry nothing in their high half.
#[inline(always)]
fn free_mark(low: usize) -> usize {
    if seal::HARDENED {
        ((low & IN_USE) ^ IN_USE) << 32
    } else {
        0
    }
}

/// The address a header's seal binds: the payload's, the pointer free's fast path holds
/// (so it checks the seal without computing the header's address first).
#[inline(always)]
pub(super) fn sealed_address(b: usize) -> usize {
    b + HEADER
}

/// Links of free blocks, stored sealed at b + 8 (left) and b + 16 (right). Block headers
/// sit 8 bytes past a 16-byte boundary: any decoded link without those low bits is damage.
///
/// # Safety
/// `slot` is a link word (b + 8 or b + 16) of a free block `b` of the heap.
#[inline]
pub(super) unsafe fn write_link(slot: usize, v: usize) {
    // SAFETY: slot is a link word of a free block.
    unsafe { set_word(slot, seal::encode(slot, v)) }
}

/// Sets the left link (an exact list's next) of free block `b`.
///
/// # Safety
/// `b` is a free block of the heap.
#[inline]
pub(super) unsafe fn set_left(b: usize, v: usize) {
    // SAFETY: as in `write_link`.
    unsafe { write_link(b + 8, v) }
}

/// Sets the right link (an exact list's prev) of free block `b`.
///
/// # Safety
/// As for [`set_left`].
#[inline]
pub(super) unsafe fn set_right(b: usize, v: usize) {
    // SAFETY: as in `write_link`.
    unsafe { write_link(b + 16, v) }
}

/// Whether the link word at `slot` holds `target`: compared sealed, so that a link already
/// known good (a block that the heap reached) is checked without decoding the other.
///
/// # Safety
/// As for [`write_link`].
#[inline]
pub(super) unsafe fn links_to(slot: usize, target: usize) -> bool {
    // SAFETY: slot is a link word of a free block.
    unsafe { word(slot) == seal::encode(slot, target) }
}

/// Clears the link words of a block that a merge absorbs: left inside the merged block, they
/// would reach the program unzeroed one day, mixed with the link secret (and a cached
/// block's key, with the held-block secret).
///
/// # Safety
/// `b` is a block header of the heap inside a free block being formed (at least
/// `MIN_BLOCK` bytes of it lie at `b`).
#[inline]
pub(super) unsafe fn scrub_links(b: usize) {
    // SAFETY: b is a block header inside a free block being formed; its header is kept, so
    // that a second free of its payload is still recognised.
    unsafe {
        set_word(b + 8, 0);
        set_word(b + 16, 0);
    }
}

/// Writes a free block's header and footer.
///
/// # Safety
/// `[b, b + size)` is a block of one region of the heap, `size` >= `MIN_BLOCK`, a multiple
/// of 16.
#[inline]
pub(super) unsafe fn make_free(b: usize, size: usize, prev_in_use: bool) {
    // SAFETY: [b, b + size) is a block of the region.
    unsafe {
        set_header(b, size | if prev_in_use { PREV_IN_USE } else { 0 });
        set_word(b + size - 8, size);
    }
}

/// Sets or clears block `b`'s PREV_IN_USE flag, resealing its header.
///
/// # Safety
/// `b` is a block header of the heap (possibly the epilogue).
#[inline]
pub(super) unsafe fn set_prev_in_use(b: usize, on: bool) {
    // SAFETY: b is a block header (possibly the epilogue).
    unsafe {
        let h = bits(b);
        set_header(
            b,
            if on {
                h | PREV_IN_USE
            } else {
                h & !PREV_IN_USE
            },
        );
    }
}

/// The block size that serves a request of `size` bytes.
#[inline]
pub(super) const fn block_size(size: usize) -> usize {
    let s = (size + HEADER + 15) & !15;
    if s < MIN_BLOCK { MIN_BLOCK } else { s }
}

/// The live bitmap byte and bit of a payload address. The byte is shared with neighbouring
/// blocks, so it is only written under the heap lock; lock-free readers see either value.
///
/// # Safety
/// `payload` lies in a mapped region of the heap.
#[inline]
unsafe fn live_bit<'a>(payload: usize) -> (&'a AtomicU8, u8) {
    let base = payload & !(CHUNK - 1);
    let granule = (payload - base) / MIN_ALIGN;
    // SAFETY: the bitmap lies in the region's header pages, mapped while the region is.
    (
        unsafe { &*((base + BITMAP_OFFSET + granule / 8) as *const AtomicU8) },
        1 << (granule % 8),
    )
}

/// Whether a block in use starts its payload at `payload`.
///
/// # Safety
/// As for [`live_bit`].
#[inline]
pub(super) unsafe fn is_live(payload: usize) -> bool {
    // SAFETY: forwarded from the caller.
    let (byte, bit) = unsafe { live_bit(payload) };
    byte.load(Relaxed) & bit != 0
}

/// Sets or clears a live bit; only under the heap lock (a plain read-modify-write of a byte
/// that other blocks share).
///
/// # Safety
/// As for [`live_bit`], and the caller holds the heap lock.
#[inline]
pub(super) unsafe fn set_live(payload: usize, live: bool) {
    // SAFETY: forwarded from the caller.
    let (byte, bit) = unsafe { live_bit(payload) };
    let old = byte.load(Relaxed);
    byte.store(if live { old | bit } else { old & !bit }, Relaxed);
}

impl<S: RegionSource> BestFitHeap<S> {
    /// The link stored at `slot` of free block `b`; damage is reported and aborts.
    ///
    /// # Safety
    /// `slot` is a link word of the free block `b` of this heap.
    #[inline]
    pub(super) unsafe fn link(&self, b: usize, slot: usize) -> usize {
        // SAFETY: slot is a link word of the free block b.
        match self.core.decode_link(slot, unsafe { word(slot) }, HEADER) {
            Some(v) => v,
            None => self.corrupted(b),
        }
    }

    /// Free block `b`'s left link (an exact list's next), checked.
    ///
    /// # Safety
    /// `b` is a free block of this heap.
    #[inline]
    pub(super) unsafe fn left(&self, b: usize) -> usize {
        // SAFETY: b is a free block, whose payload holds its links.
        unsafe { self.link(b, b + 8) }
    }

    /// Free block `b`'s right link (an exact list's prev), checked.
    ///
    /// # Safety
    /// As for [`left`](Self::left).
    #[inline]
    pub(super) unsafe fn right(&self, b: usize) -> usize {
        // SAFETY: as in `left`.
        unsafe { self.link(b, b + 16) }
    }

    /// Reports that the metadata of block `b` (header, footer or links) was overwritten.
    #[cold]
    #[inline(never)]
    pub(super) fn corrupted(&self, b: usize) -> ! {
        self.core.corrupted(b + HEADER)
    }

    /// The header of `b` if it is intact, else the damage is reported.
    ///
    /// # Safety
    /// `b` is a block header of this heap (the epilogue included).
    #[inline]
    pub(super) unsafe fn checked_bits(&self, b: usize) -> usize {
        // SAFETY: b is a block header.
        unsafe {
            if !header_intact(b) {
                self.corrupted(b);
            }
            bits(b)
        }
    }
}
