//! The order map and the free lists: a block's order (and whether it is in use) is read from
//! its first granule's map entry; the free blocks of each order are on a doubly linked list
//! whose sealed links live in the blocks themselves.
//!
//! Map entries are read without the heap lock by the thread cache's free path (an entry of a
//! block in use changes only when its owner frees or resizes it), so they are accessed as
//! relaxed atomics, which compile to plain byte loads and stores.

use core::sync::atomic::AtomicU8;
use core::sync::atomic::Ordering::Relaxed;

use super::{BuddyHeap, FREE, META, MIN_SHIFT, ORDERS, block_bytes};
use crate::heap::{CHUNK, FAST_BINS, FIRST_CLASS_BIN, MIN_ALIGN, RegionSource};
use crate::seal;

/// The region of `p` and `p`'s offset in it.
#[inline]
pub(super) fn split_addr(p: usize) -> (usize, usize) {
    let base = p & !(CHUNK - 1);
    (base, p - base)
}

/// The order map entry of the granule at `offset` in the region at `base`.
///
/// # Safety
/// `base` is a mapped region of the heap and `offset < CHUNK`.
#[inline]
pub(super) unsafe fn entry<'a>(base: usize, offset: usize) -> &'a AtomicU8 {
    // SAFETY: the caller passes a region of ours and an offset inside it.
    unsafe { &*((base + (offset >> MIN_SHIFT)) as *const AtomicU8) }
}

/// The map entry of the first granule of a block of `order` in use: `order + 1`, so that
/// free's fast path can number the block's bin from the entry alone (`BuddyHeap::peek_bin`).
/// Every other granule's entry is 0.
#[inline(always)]
pub(super) const fn live_entry(order: usize) -> u8 {
    (order + 1) as u8
}

/// The map entry of the first granule of a free block of `order`: `FREE | (order + 1)`.
#[inline(always)]
pub(super) const fn free_entry(order: usize) -> u8 {
    FREE | (order + 1) as u8
}

/// The order of the block whose first granule has entry `e`, if that block is in use.
#[inline(always)]
pub(super) fn live_entry_order(e: u8) -> Option<usize> {
    live_entry_order_below(e, ORDERS)
}

/// As [`live_entry_order`], for orders below `bound` only: one comparison rejects a free
/// entry, an entry that starts no block and a large order together.
#[inline(always)]
fn live_entry_order_below(e: u8, bound: usize) -> Option<usize> {
    // A live entry is `order + 1`: less one, live orders count from 0, 0 (no block starts
    // here) wraps to a huge value, and FREE puts a free entry above every order.
    let order = (e as usize).wrapping_sub(1);
    (order < bound).then_some(order)
}

/// The order of the block whose first granule has entry `e` (in use or free), or `None`
/// for an entry that starts no block.
#[inline]
pub(super) fn entry_order(e: u8) -> Option<usize> {
    live_entry_order(e & !FREE)
}

/// Writes link `slot` (0: next, 1: prev) of the free block `b`, sealed (see seal.rs).
///
/// # Safety
/// `b` is a free block of the heap (at least 16 bytes, its first two words its links).
#[inline]
unsafe fn set_link(b: usize, slot: usize, v: usize) {
    let at = b + slot * 8;
    // SAFETY: b is a free block of at least 16 bytes, whose first two words are its links.
    unsafe { *(at as *mut usize) = seal::encode(at, v) }
}

/// Whether link `slot` of the free block `b` holds `target`: compared sealed, so that a
/// neighbour's back link is checked against a block already known good without decoding it
/// (the decode's region checks are for links about to be followed).
///
/// # Safety
/// As for [`set_link`].
#[inline]
unsafe fn links_to(b: usize, slot: usize, target: usize) -> bool {
    let at = b + slot * 8;
    // SAFETY: b is a free block of at least 16 bytes, whose first two words are its links.
    unsafe { *(at as *const usize) == seal::encode(at, target) }
}

/// Without the heap lock: the order of the live block at `p`, or `None` if no live block
/// starts there. A live block's map entry changes only when its owner frees or resizes it.
///
/// # Safety
/// `p` lies in a mapped region.
#[inline]
pub(super) unsafe fn live_order(p: usize) -> Option<usize> {
    // SAFETY: forwarded from the caller; every order the heap writes is below ORDERS.
    unsafe { live_order_below(p, ORDERS) }
}

/// As [`live_order`], for orders below `bound` only.
///
/// # Safety
/// As for [`live_order`].
#[inline(always)]
pub(super) unsafe fn live_order_below(p: usize, bound: usize) -> Option<usize> {
    // SAFETY: forwarded from the caller.
    live_entry_order_below(unsafe { granule_entry(p) }?, bound)
}

/// Free's fast path (`Heap::peek_bin`): the thread cache's bin for the block at `p`,
/// numbered from `p`'s map entry without looking at what the entry holds. A live block of
/// order `k` has entry `k + 1` and finds the bin of class `k`; every other entry finds an
/// always full bin, which sends it to the slow path: 0 one of those in front of the classes
/// (`FIRST_CLASS_BIN`), a free block's or a live block's too large to cache one of those
/// past buddy's classes, below `FAST_BINS`. `None` for a
/// pointer into the metadata block or not 16-aligned, whose entry is no block's.
///
/// # Safety
/// As for [`live_order`].
#[inline(always)]
pub(super) unsafe fn entry_bin(p: usize) -> Option<usize> {
    const _: () = assert!(live_entry(0) as usize + (FIRST_CLASS_BIN - 1) == FIRST_CLASS_BIN);
    const _: () = assert!(u8::MAX as usize + (FIRST_CLASS_BIN - 1) < FAST_BINS);
    const _: () =
        assert!(free_entry(0) as usize + (FIRST_CLASS_BIN - 1) >= FIRST_CLASS_BIN + ORDERS);
    let (base, offset) = split_offset(p)?;
    #[cfg(target_arch = "x86_64")]
    let e = {
        let e: usize;
        // SAFETY: the order map is in the region's metadata block. The byte is loaded as the
        // relaxed atomic load `entry` makes, in `asm!` because LLVM zero-extends that load's
        // byte a second time before it indexes the bins with it (one instruction more).
        unsafe {
            core::arch::asm!(
                "movzx {e:e}, byte ptr [{base} + {index}]",
                base = in(reg) base,
                index = in(reg) offset >> MIN_SHIFT,
                e = lateout(reg) e,
                options(pure, readonly, nostack, preserves_flags),
            );
        }
        e
    };
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: the order map is in the region's metadata block.
    let e = unsafe { entry(base, offset).load(Relaxed) } as usize;
    Some(e + (FIRST_CLASS_BIN - 1))
}

/// The map entry of the granule at `p`, or `None` where `split_offset` finds no block's.
///
/// # Safety
/// As for [`live_order`].
#[inline(always)]
unsafe fn granule_entry(p: usize) -> Option<u8> {
    let (base, offset) = split_offset(p)?;
    // SAFETY: the order map is in the region's metadata block.
    Some(unsafe { entry(base, offset).load(Relaxed) })
}

/// `split_addr` for a pointer whose granule can have a block's entry: `None` if `p` is not
/// 16-aligned or lies in the metadata block (whose entries are the map's own bytes and the
/// region header).
#[inline(always)]
fn split_offset(p: usize) -> Option<(usize, usize)> {
    let (base, offset) = split_addr(p);
    // One test for offset < META and misalignment: below META the difference wraps to a
    // huge value, and META is 16-aligned, so the low bits of the difference are p's.
    const _: () = assert!(META.is_multiple_of(MIN_ALIGN));
    if offset.wrapping_sub(META) & (!(CHUNK - 1) | (MIN_ALIGN - 1)) != 0 {
        return None;
    }
    Some((base, offset))
}

impl<S: RegionSource> BuddyHeap<S> {
    /// Link `slot` (0: next, 1: prev) of the free block `b`; a link that does not decode (the
    /// freed block was written to) is reported and aborts.
    ///
    /// # Safety
    /// `b` is a free block of this heap (on one of its lists).
    #[inline]
    pub(super) unsafe fn link(&self, b: usize, slot: usize) -> usize {
        let at = b + slot * 8;
        // SAFETY: b is a free block of at least 16 bytes, whose first two words are its links.
        let stored = unsafe { *(at as *const usize) };
        match self.core.decode_link(at, stored, 0) {
            Some(v) => v,
            None => self.core.corrupted(b),
        }
    }

    /// Puts `b` on the list of `order` (at its head) and marks it free in the order map.
    ///
    /// # Safety
    /// `b` is a block of `order` in a region of this heap, aligned to its size, on no list
    /// and not in use.
    #[inline]
    pub(super) unsafe fn push(&mut self, b: usize, order: usize) {
        // SAFETY: b is a free block of `order` in a mapped region.
        unsafe {
            let head = self.heads[order];
            set_link(b, 0, head);
            set_link(b, 1, 0);
            if head != 0 {
                set_link(head, 1, b);
            }
            self.heads[order] = b;
            let (base, offset) = split_addr(b);
            entry(base, offset).store(free_entry(order), Relaxed);
        }
        self.nonempty |= 1 << order;
        self.core.free += block_bytes(order);
        self.core.free_blocks += 1;
    }

    /// Takes `b` off the list of `order` and clears its map entry; a list whose neighbours do
    /// not point back at `b` is reported as damage instead of being followed.
    ///
    /// # Safety
    /// `b` is a free block of this heap on the list of `order`.
    #[inline(always)]
    pub(super) unsafe fn unlink(&mut self, b: usize, order: usize) {
        // SAFETY: b is on list `order`.
        unsafe {
            let (next, prev) = (self.link(b, 0), self.link(b, 1));
            // The neighbours must point back at b: a damaged list is reported, not followed.
            if seal::HARDENED
                && (next != 0 && !links_to(next, 1, b)
                    || prev != 0 && !links_to(prev, 0, b)
                    || prev == 0 && self.heads[order] != b)
            {
                self.unlink_damaged(b, next, prev);
            }
            if next != 0 {
                set_link(next, 1, prev);
            }
            if prev != 0 {
                set_link(prev, 0, next);
            } else {
                self.heads[order] = next;
                if next == 0 {
                    self.nonempty &= !(1 << order);
                }
            }
            let (base, offset) = split_addr(b);
            entry(base, offset).store(0, Relaxed);
        }
        self.core.free -= block_bytes(order);
        self.core.free_blocks -= 1;
    }

    /// `unlink` found a neighbour of `b` not pointing back: names the block whose link was
    /// overwritten, a neighbour if its back link does not decode, else `b`.
    ///
    /// # Safety
    /// As for `unlink`; `next` and `prev` are `b`'s decoded links.
    #[cold]
    #[inline(never)]
    unsafe fn unlink_damaged(&self, b: usize, next: usize, prev: usize) -> ! {
        // SAFETY: next and prev decoded into this heap's regions; `link` reports a neighbour
        // whose link does not decode.
        unsafe {
            if next != 0 {
                self.link(next, 1);
            }
            if prev != 0 {
                self.link(prev, 0);
            }
        }
        self.core.corrupted(b)
    }
}
