//! The mixed bin: the free blocks above `LARGEST_EXACT_BIN` in a treap keyed by (size,
//! address), the priority a hash of the address (max at the root), so no priority field is
//! stored. Its root is `bins[MIXED_BIN]`; a node's links are its left and right words.
//!
//! The operations are iterative and work on link slots: a slot is the address of a link word
//! inside a free block, or `ROOT_SLOT` for the tree's root. Only the links on the changed part
//! of the path are written: a sealed write costs a multiply, and the recursive formulation
//! rewrote every link from the root down.

use super::BestFitHeap;
use super::bins::MIXED_BIN;
use super::block::{size_of, write_link};
use crate::heap::RegionSource;

/// The treap operations' name for the slot that holds the tree's root (no link word of a
/// block is at address 0).
const ROOT_SLOT: usize = 0;

/// The priority of block `b`: a hash of its address.
#[inline]
pub(super) fn priority(b: usize) -> u64 {
    let h = ((b >> 3) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^ (h >> 29)
}

/// The treap's key of free block `b`.
///
/// # Safety
/// `b` is a free block of the heap.
#[inline]
pub(super) unsafe fn key(b: usize) -> (usize, usize) {
    // SAFETY: b is a free block.
    (unsafe { size_of(b) }, b)
}

impl<S: RegionSource> BestFitHeap<S> {
    /// Points a slot at node `v`.
    ///
    /// # Safety
    /// `slot` is `ROOT_SLOT` or a link word of a free block in the tree.
    #[inline]
    unsafe fn slot_set(&mut self, slot: usize, v: usize) {
        if slot == ROOT_SLOT {
            self.bins[MIXED_BIN] = v;
        } else {
            // SAFETY: slot is a link word of a free block in the tree.
            unsafe { write_link(slot, v) }
        }
    }

    /// Inserts the free block `n` (not yet in the tree): down the path of its key while the
    /// nodes outrank it, then the subtree found there is split around `n`'s key into its two
    /// children.
    ///
    /// # Safety
    /// `n` is a free block of this heap larger than `LARGEST_EXACT_BIN`, header written, in
    /// no bin; the tree is a valid treap.
    pub(super) unsafe fn treap_insert(&mut self, n: usize) {
        // SAFETY: n and every node reached are free blocks of this heap, and the tree is a
        // valid treap (the caller's contract).
        unsafe {
            let k = key(n);
            let p = priority(n);
            let mut slot = ROOT_SLOT;
            let mut t = self.bins[MIXED_BIN];
            while t != 0 && priority(t) >= p {
                slot = if k < key(t) { t + 8 } else { t + 16 };
                t = self.link(t, slot);
            }
            self.slot_set(slot, n);
            // Split t: keys below k hang, in order, off n's left; the others off its right.
            let (mut low, mut high) = (n + 8, n + 16);
            while t != 0 {
                if key(t) < k {
                    write_link(low, t);
                    low = t + 16;
                    t = self.right(t);
                } else {
                    write_link(high, t);
                    high = t + 8;
                    t = self.left(t);
                }
            }
            write_link(low, 0);
            write_link(high, 0);
        }
    }

    /// Removes `n`, which must be in the tree: its two subtrees are merged (by priority) into
    /// the slot that pointed at it.
    ///
    /// # Safety
    /// `n` is a free block of this heap with its size unchanged since it was inserted; the
    /// tree is a valid treap (a missing `n` is reported as heap corruption).
    pub(super) unsafe fn treap_remove(&mut self, n: usize) {
        // SAFETY: the tree is a valid treap of free blocks that contains n.
        unsafe {
            let k = key(n);
            let mut slot = ROOT_SLOT;
            let mut t = self.bins[MIXED_BIN];
            while t != n {
                if t == 0 {
                    crate::diag::fatal(
                        "best-fit: free block missing from its bin (heap corrupted)",
                    );
                }
                slot = if k < key(t) { t + 8 } else { t + 16 };
                t = self.link(t, slot);
            }
            let (mut a, mut b) = (self.left(n), self.right(n));
            loop {
                if a == 0 {
                    self.slot_set(slot, b);
                    return;
                }
                if b == 0 {
                    self.slot_set(slot, a);
                    return;
                }
                // Every key of a is below every key of b: the higher priority becomes the
                // subtree's root, and the merge goes on in its inner side.
                if priority(a) > priority(b) {
                    self.slot_set(slot, a);
                    slot = a + 16;
                    a = self.right(a);
                } else {
                    self.slot_set(slot, b);
                    slot = b + 8;
                    b = self.left(b);
                }
            }
        }
    }

    /// The block with the smallest key whose size is at least `size` (0 if none), and
    /// whether it is the treap's smallest block: it is unless the walk passed a smaller one.
    ///
    /// # Safety
    /// `t` is 0 or the root of a valid treap of free blocks of this heap.
    pub(super) unsafe fn treap_lower_bound(&self, mut t: usize, size: usize) -> (usize, bool) {
        let mut best = 0;
        let mut passed_smaller = false;
        // SAFETY: t is a valid treap of free blocks.
        unsafe {
            while t != 0 {
                if size_of(t) >= size {
                    best = t;
                    t = self.left(t);
                } else {
                    passed_smaller = true;
                    t = self.right(t);
                }
            }
        }
        (best, !passed_smaller)
    }

    /// The size of the treap's largest block (0 when the tree is empty): the rightmost node.
    ///
    /// # Safety
    /// The tree is a valid treap of free blocks of this heap.
    pub(super) unsafe fn treap_largest(&self) -> usize {
        let mut t = self.bins[MIXED_BIN];
        let mut largest = 0;
        // SAFETY: t is a valid treap of free blocks.
        unsafe {
            while t != 0 {
                largest = size_of(t);
                t = self.right(t);
            }
        }
        largest
    }
}
