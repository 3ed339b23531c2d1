//! What memcheck (valgrind) is told about the program's blocks: the client requests of
//! valgrind.h and memcheck.h, written here as inline assembly (feature `valgrind`; without
//! it every function is empty and inlined away, so the default build pays nothing).
//!
//! The picture memcheck is given (README, "Under valgrind"):
//! - every block the program gets is announced (`malloclike`) with the size it asked for,
//!   and every block it gives back (`freelike`) before the allocator touches it again;
//! - everything else the allocator maps (heap regions, large mappings: `os::map_aligned`)
//!   is no-access to the program: headers, padding past a block's requested size, free
//!   memory. So an overflow, a read of a freed block and a leak are memcheck's errors;
//! - the allocator itself reads and writes that memory freely: every way into it runs with
//!   memcheck's error reports off for the calling thread (`quietly`). A read of no-access
//!   memory gives memcheck a defined value and a write leaves it no-access, so nothing the
//!   allocator does changes what memcheck knows of the program's memory.
//!
//! A client request is a no-op sequence of instructions (four rotations of rdi by 128 bits
//! in all, then `xchg rbx, rbx`) that valgrind's JIT recognises: rax points at the request
//! and its five arguments, rdx holds the value returned when not running under valgrind
//! and receives the answer. Natively each request costs a few instructions, so a library
//! built with the feature runs anywhere.

#[cfg(feature = "valgrind")]
mod requests {
    /// valgrind.h's `VG_USERREQ__*` and memcheck.h's (an ABI: the numbers never change).
    pub const MALLOCLIKE_BLOCK: usize = 0x1301;
    pub const FREELIKE_BLOCK: usize = 0x1302;
    pub const RESIZEINPLACE_BLOCK: usize = 0x130b;
    pub const CHANGE_ERR_DISABLEMENT: usize = 0x1801;
    /// memcheck's tool base, `VG_USERREQ_TOOL_BASE('M','C')`: MAKE_MEM_NOACCESS, then
    /// MAKE_MEM_UNDEFINED, MAKE_MEM_DEFINED, DISCARD, CHECK_MEM_IS_ADDRESSABLE.
    const MC: usize = (b'M' as usize) << 24 | (b'C' as usize) << 16;
    pub const MAKE_MEM_NOACCESS: usize = MC;
    pub const MAKE_MEM_UNDEFINED: usize = MC + 1;
    pub const CHECK_MEM_IS_ADDRESSABLE: usize = MC + 4;

    /// Makes the client request `args[0]` with arguments `args[1..]`; `default` is the
    /// answer when not running under valgrind.
    #[inline(always)]
    pub fn request(default: usize, args: [usize; 6]) -> usize {
        let mut result = default;
        // SAFETY: valgrind.h's amd64 sequence. Natively it changes nothing but the flags
        // (the four rotations of rdi add up to 128 bits, and xchg of rbx with itself is a
        // no-op), so neither rdi nor rbx needs declaring; under valgrind the request reads
        // `args` (live on the stack across the asm, which may read memory) and writes rdx.
        unsafe {
            core::arch::asm!(
                "rol rdi, 3",
                "rol rdi, 13",
                "rol rdi, 61",
                "rol rdi, 51",
                "xchg rbx, rbx",
                in("rax") args.as_ptr(),
                inout("rdx") result,
                options(nostack),
            );
        }
        result
    }
}

#[cfg(feature = "valgrind")]
use requests::*;

/// Runs `f` with memcheck's error reports off for this thread: the allocator's own reads
/// and writes of headers, free lists and freed blocks are not the program's errors.
/// Nests (valgrind counts the level per thread). Client requests made inside still work;
/// misuse the allocator finds inside still aborts with its message.
#[inline(always)]
pub fn quietly<T>(f: impl FnOnce() -> T) -> T {
    #[cfg(feature = "valgrind")]
    request(0, [CHANGE_ERR_DISABLEMENT, 1, 0, 0, 0, 0]);
    let result = f();
    #[cfg(feature = "valgrind")]
    request(0, [CHANGE_ERR_DISABLEMENT, usize::MAX, 0, 0, 0, 0]);
    result
}

/// `p` (null: nothing) is a block of `size` bytes the program now owns: memcheck tracks
/// it for leaks and makes it addressable, initialised when `zeroed` (calloc's), else not.
#[inline(always)]
pub fn malloclike<T>(p: *mut T, size: usize, zeroed: bool) {
    #[cfg(feature = "valgrind")]
    if !p.is_null() {
        let zeroed = zeroed as usize;
        request(0, [MALLOCLIKE_BLOCK, p as usize, size, 0, zeroed, 0]);
    }
    #[cfg(not(feature = "valgrind"))]
    let _ = (p, size, zeroed);
}

/// The program gives `p` back (null: nothing): memcheck makes it no-access and reports a
/// pointer it never saw announced as an invalid free. Made before the allocator takes the
/// block, so that nobody else can have it yet.
#[inline(always)]
pub fn freelike<T>(p: *mut T) {
    #[cfg(feature = "valgrind")]
    if !p.is_null() {
        request(0, [FREELIKE_BLOCK, p as usize, 0, 0, 0, 0]);
    }
    #[cfg(not(feature = "valgrind"))]
    let _ = p;
}

/// The block `p` of `old` bytes (as announced) now has `new` bytes, in place: memcheck keeps
/// the state of the bytes both sizes cover, makes a grown tail addressable and undefined,
/// a shrunk one no-access.
// Only the feature's code resizes (`cabi::resizing`): without it, realloc pays nothing.
#[cfg_attr(not(feature = "valgrind"), allow(dead_code))]
#[inline(always)]
pub fn resized_in_place<T>(p: *mut T, old: usize, new: usize) {
    #[cfg(feature = "valgrind")]
    if !p.is_null() && old != new {
        request(0, [RESIZEINPLACE_BLOCK, p as usize, old, new, 0, 0]);
    }
    #[cfg(not(feature = "valgrind"))]
    let _ = (p, old, new);
}

/// Nothing of `[p, p + len)` is the program's: an access to it is memcheck's error.
#[inline(always)]
pub fn no_access<T>(p: *mut T, len: usize) {
    #[cfg(feature = "valgrind")]
    if len != 0 {
        request(0, [MAKE_MEM_NOACCESS, p as usize, len, 0, 0, 0]);
    }
    #[cfg(not(feature = "valgrind"))]
    let _ = (p, len);
}

/// `[p, p + len)` is the program's, but holds nothing it wrote: a branch on it is
/// memcheck's error.
#[inline(always)]
pub fn undefined<T>(p: *mut T, len: usize) {
    #[cfg(feature = "valgrind")]
    if len != 0 {
        request(0, [MAKE_MEM_UNDEFINED, p as usize, len, 0, 0, 0]);
    }
    #[cfg(not(feature = "valgrind"))]
    let _ = (p, len);
}

/// How many bytes from `p`, at most `len`, the program may access: the size of the block
/// `p` as announced, given its usable size. `len` when not running under valgrind (or
/// without the feature). Call it quietly: memcheck reports the first no-access byte it
/// finds as an error (which is how it answers).
#[inline(always)]
pub fn accessible_len<T>(p: *mut T, len: usize) -> usize {
    #[cfg(feature = "valgrind")]
    {
        // The answer is 0 when the whole range is accessible, else its first bad address.
        let bad = request(0, [CHECK_MEM_IS_ADDRESSABLE, p as usize, len, 0, 0, 0]);
        if bad == 0 {
            len
        } else {
            bad.wrapping_sub(p as usize).min(len)
        }
    }
    #[cfg(not(feature = "valgrind"))]
    {
        let _ = p;
        len
    }
}
