//! Sealed metadata: what the allocator keeps inside memory the program can write to (best
//! fit's block headers, the links of free lists kept in freed blocks) is stored mixed with
//! per-process secrets, and checked when it is read back.
//!
//! * A **link** (the next/prev/left/right pointer a freed block holds) is stored as
//!   `ptr ^ mix(slot) ^ link secret`, where `slot` is the address the link is stored at (the
//!   same idea as glibc 2.32's safe-linking, plus a secret). A use-after-free write of any
//!   value, or a link copied from another block, decodes to a pseudo-random address, which
//!   [`decode`] rejects unless it has the alignment that links of that list always have and
//!   is a user-space address: a random value passes with probability 2^-21.
//! * A **header seal** is the high half of best fit's header word, chosen so that a hash of
//!   the block's address and the whole word under two secret multipliers comes out zero in
//!   its high half ([`header_intact`]). An overflow that runs into the next block's header
//!   changes the word; the hash no longer comes out zero, and the next call that reads the
//!   header reports it.
//!
//! * A **held block** (in a thread cache or on a remote list, `freed.rs`) holds a key, its
//!   address mixed with the held-block secret, and a link stored mixed with that key.
//!
//! The link and held-block secrets come from the 16 random bytes the kernel gives every process
//! (AT_RANDOM), the header seal's multipliers from getrandom(2) (AT_RANDOM's if the call
//! fails). They are set first thing in the allocator's initialisation (`init`), before any
//! heap memory exists, and never change; a thread that calls in while another initialises
//! sets them itself and ends with the same values (see `init` and `global::init`). Code
//! that drives a heap without that initialisation (the unit tests, the fuzz targets) seals
//! with zero secrets and the public multipliers throughout, which is consistent too.
//! The crate feature `unhardened` turns sealing off (links stored plain, no seal) and,
//! with it, every check that relies on metadata being intact ([`HARDENED`] is false): the
//! back-link check of buddy's lists, best fit's footer check, the header check on free.
//! It exists to measure what the hardening costs.

use core::sync::atomic::{AtomicU32, AtomicUsize};
use core::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

/// Multiplier that spreads every bit of its operand into the high bits of the product.
const MIX: usize = 0x9E37_79B9_7F4A_7C15;

/// The secrets, side by side so that a fast path finds all of them from one address.
struct Secrets {
    link: AtomicUsize,
    /// The header seal's two multipliers (odd). Before `init` (and in code that never runs
    /// it: the unit tests, the fuzz targets) they are the public constants, so that a seal
    /// still depends on every bit of the address and the size.
    header_address: AtomicUsize,
    header_size: AtomicUsize,
    /// The inverse of `header_size`'s low half modulo 2^32, which `seal_header` solves with.
    header_size_inverse: AtomicU32,
    /// Keys and links of held blocks (`held_key`).
    held: AtomicUsize,
}
static SECRETS: Secrets = Secrets {
    link: AtomicUsize::new(0),
    header_address: AtomicUsize::new(MIX),
    header_size: AtomicUsize::new(MIX2),
    header_size_inverse: AtomicU32::new(inverse_mod_2_32(MIX2 as u32)),
    held: AtomicUsize::new(0),
};

/// Whether links and headers are sealed in this build.
pub const HARDENED: bool = cfg!(not(feature = "unhardened"));

/// Sets the secrets from AT_RANDOM (or fixed values if the kernel gave none) and, for the
/// header seal, from getrandom(2), before the first heap operation of the process.
/// Idempotent, and safe to run on several threads at once: every run ends with the same
/// values stored.
pub fn init() {
    // SAFETY: getauxval needs no initialisation; AT_RANDOM points at 16 random bytes.
    let (a, b) = unsafe {
        let random = libc::getauxval(libc::AT_RANDOM) as *const usize;
        if random.is_null() {
            (0x5EC2_E7B0_DD1E_5A17, 0x0BAD_5EED_C0FF_EE11)
        } else {
            (random.read_unaligned(), random.add(1).read_unaligned())
        }
    };
    // The header multipliers take bits of their own: derived from AT_RANDOM like the two
    // secrets below, they could be worked out by a program that reads one freed block in a
    // thread cache (its key and its link give both), which could then forge headers. Two
    // threads initialising at once draw different values: the first to store its own wins,
    // the other adopts it, and the size multiplier is derived from the address one, so that
    // both store the same.
    let drawn = fresh_random().unwrap_or(b.wrapping_mul(MIX) ^ a) | 1;
    let address = match SECRETS
        .header_address
        .compare_exchange(MIX, drawn, AcqRel, Acquire)
    {
        Ok(_) => drawn,
        Err(stored) => stored,
    };
    let size = address.rotate_left(29).wrapping_mul(MIX2) ^ MIX | 1;
    SECRETS.header_size.store(size, Relaxed);
    SECRETS
        .header_size_inverse
        .store(inverse_mod_2_32(size as u32), Relaxed);
    SECRETS.held.store(a, Relaxed);
    SECRETS.link.store(b, Relaxed);
}

/// Eight bytes from getrandom(2), without waiting, or `None` (a kernel without the call, a
/// sandbox that forbids it, entropy not ready this early in boot). errno is left as it was.
fn fresh_random() -> Option<usize> {
    let mut word = 0usize;
    let got = crate::os::keeping_errno(|| {
        // SAFETY: the kernel writes at most 8 bytes into `word`.
        unsafe {
            libc::syscall(
                libc::SYS_getrandom,
                &mut word as *mut usize,
                core::mem::size_of::<usize>(),
                libc::GRND_NONBLOCK,
            )
        }
    });
    (got == core::mem::size_of::<usize>() as libc::c_long).then_some(word)
}

/// The stored form of the link `ptr`, kept at address `slot`.
#[inline(always)]
pub fn encode(slot: usize, ptr: usize) -> usize {
    if HARDENED {
        ptr ^ slot.wrapping_mul(MIX) ^ SECRETS.link.load(Relaxed)
    } else {
        ptr
    }
}

/// The key of the held block `p` (a block in a thread cache or on a remote list,
/// `freed.rs`): its address mixed with the held-block secret. A held block keeps it in its
/// second word, and its link to the next held block is stored mixed with it
/// ([`encode_held`]), so malloc's fast path computes one value to check the one word and
/// decode the other.
#[inline(always)]
pub fn held_key(p: usize) -> usize {
    p ^ SECRETS.held.load(Relaxed)
}

/// The stored form of the link `ptr` of the held block whose key is `key` ([`held_key`]).
/// The address is mixed in by XOR alone: multiplying it adds nothing that a reader of the
/// block could not undo, and a link copied from another held block is caught by that
/// block's key instead (`freed::next`). A reader of a freed block learns the link it holds
/// either way (the key lies next to it), so one secret for both words gives nothing away
/// that two would keep.
#[inline(always)]
pub fn encode_held(key: usize, ptr: usize) -> usize {
    if HARDENED { ptr ^ key } else { ptr }
}

/// The held-block link stored as `stored` by the block whose key is `key` (see
/// [`encode_held`]), if it is 0 or a 16-aligned user-space address; `None`: the word was
/// overwritten.
#[inline(always)]
pub fn decode_held(key: usize, stored: usize) -> Option<usize> {
    if !HARDENED {
        return Some(stored);
    }
    let ptr = stored ^ key;
    if ptr & 0xFFFF_8000_0000_000F == 0 {
        Some(ptr)
    } else {
        None
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
    let ptr = stored ^ slot.wrapping_mul(MIX) ^ SECRETS.link.load(Relaxed);
    // One test for both: bits 47..63 clear and the low four bits equal to `low`.
    if ptr.wrapping_sub(low) & 0xFFFF_8000_0000_000F == 0 || ptr == 0 {
        Some(ptr)
    } else {
        None
    }
}

/// Second multiplier of the header seal (odd, like `MIX`).
const MIX2: usize = 0xD6E8_FEB8_6659_FD93;

/// The header word for block `b` whose low half (size and flags) is `low`: its high half
/// is the one seal that makes [`header_intact`] hold. That check reads
/// `(b * A ^ word) * Z` and wants the product's high half zero (`A` and `Z` the two secret
/// multipliers); the seal is solved for, which only the heap's slow paths pay (one more
/// multiplication, by the inverse `init` computed once): with
/// `y = b * A ^ low`, the product's high half is `hi32(lo32(y) * Z) + (hi32(y) ^ seal) *
/// lo32(Z)` modulo 2^32, zero for one seal only, since `lo32(Z)` is odd (invertible).
#[inline(always)]
pub fn seal_header(b: usize, low: u32) -> usize {
    if !HARDENED {
        return low as usize;
    }
    solve_seal(
        b,
        low,
        SECRETS.header_address.load(Relaxed),
        SECRETS.header_size.load(Relaxed),
        SECRETS.header_size_inverse.load(Relaxed),
    )
}

/// [`seal_header`]'s work for the multipliers `a` and `z`, `inverse` being that of `z`'s low
/// half modulo 2^32.
#[inline(always)]
fn solve_seal(b: usize, low: u32, a: usize, z: usize, inverse: u32) -> usize {
    let y = b.wrapping_mul(a) ^ low as usize;
    let from_low = ((y as u32 as usize).wrapping_mul(z) >> 32) as u32;
    let wanted = from_low.wrapping_neg().wrapping_mul(inverse);
    ((((y >> 32) as u32 ^ wanted) as usize) << 32) | low as usize
}

/// Whether `word` is the header [`seal_header`] writes for block `b`. Two rounds, the
/// address first and the whole word after, so that no bit of the address lines up with a
/// bit of the word: with the address and the word mixed in a single round, a valid word
/// moved to `b ^ (d << 32)` stayed valid with its low half XORed by `d` (an address 4 GiB
/// away, its size or IN_USE flag changed), which a program that reads one stale header
/// could forge without knowing the secret. The multipliers are the secrets; the test is
/// one multiplication by a value read from memory per round and a shift, which free's fast
/// path pays (the seal itself is never computed there).
#[inline(always)]
pub fn header_intact(b: usize, word: usize) -> bool {
    if !HARDENED {
        return true;
    }
    let mixed = b.wrapping_mul(SECRETS.header_address.load(Relaxed)) ^ word;
    // Only in the C library (`c-exports`, built alone as a cdylib and staticlib, where
    // SECRETS is local): in the rlib that Rust programs link, SECRETS is a global symbol,
    // and a RIP-relative reference to it does not link into a shared object (a Rust dylib
    // with bestbuddy as its allocator failed: "relocation R_X86_64_PC32 cannot be used
    // against symbol"); there the multiplier comes through the GOT either way.
    #[cfg(all(target_arch = "x86_64", feature = "c-exports"))]
    {
        // LLVM does not fold an atomic load into the multiplication that uses it, and the
        // fold saves free's fast path an instruction: here the second multiplier is read
        // by the `imul` itself. A plain load is a relaxed atomic load on x86_64; the
        // multipliers never change after `init`.
        // SAFETY: the asm reads the one word of SECRETS at that offset, writes nothing but
        // its register, and jumps only to the label.
        unsafe {
            core::arch::asm!(
                "imul {mixed}, qword ptr [rip + {secrets} + {offset}]",
                "shr {mixed}, 32",
                "jne {broken}",
                mixed = inout(reg) mixed => _,
                secrets = sym SECRETS,
                offset = const core::mem::offset_of!(Secrets, header_size),
                broken = label { return false },
                options(readonly, nostack),
            );
        }
        true
    }
    #[cfg(not(all(target_arch = "x86_64", feature = "c-exports")))]
    {
        sealed(mixed, SECRETS.header_size.load(Relaxed))
    }
}

/// [`header_intact`]'s test of `mixed` (the address times the first multiplier, XOR the
/// word) against the second multiplier `z`; the `asm!` there is the same test.
#[cfg(any(test, not(all(target_arch = "x86_64", feature = "c-exports"))))]
#[inline(always)]
fn sealed(mixed: usize, z: usize) -> bool {
    mixed.wrapping_mul(z) >> 32 == 0
}

/// The inverse of the odd `z` modulo 2^32: Newton's iteration doubles the correct low bits
/// each round, from the 3 that `z` itself gets right (`z * z == 1` modulo 8 for odd `z`).
const fn inverse_mod_2_32(z: u32) -> u32 {
    let mut x = z;
    let mut round = 0;
    while round < 4 {
        x = x.wrapping_mul(2u32.wrapping_sub(z.wrapping_mul(x)));
        round += 1;
    }
    x
}

#[cfg(test)]
mod tests {
    #[test]
    fn solved_seals_pass_for_drawn_multipliers_and_nothing_else_does() {
        // The unit tests seal with the public multipliers; the algebra must hold for any
        // odd pair `init` draws, and the seal must be the only one that passes.
        let mut x = 0x853c_49e6_748f_ea9bu64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as usize
        };
        for _ in 0..20_000 {
            let (a, z) = (next() | 1, next() | 1);
            let inverse = super::inverse_mod_2_32(z as u32);
            let b = (next() & 0x7fff_ffff_fff0) | 0x10;
            let low = next() as u32 & 0x003f_fff1;
            let w = super::solve_seal(b, low, a, z, inverse);
            let passes = |w: usize| super::sealed(b.wrapping_mul(a) ^ w, z);
            assert!(passes(w), "a = {a:#x}, z = {z:#x}, b = {b:#x}, low = {low:#x}");
            assert!(!passes(w ^ 1 << 32) && !passes(w ^ 1 << (32 + next() % 32)));
        }
    }

    #[test]
    fn inverse_mod_2_32_inverts_every_odd_multiplier_tried() {
        let mut z = 0x9E37_79B9u32;
        for _ in 0..100_000 {
            z = z.wrapping_mul(0x0019_660D).wrapping_add(0x3C6E_F35F);
            let odd = z | 1;
            assert_eq!(odd.wrapping_mul(super::inverse_mod_2_32(odd)), 1, "z = {odd:#x}");
        }
    }
}
