//! bestbuddy: a malloc replacement with two heap policies, best fit and buddy.
//!
//! From Rust, it is a global allocator: [`BestBuddy`] implements
//! [`GlobalAlloc`](core::alloc::GlobalAlloc), and [`stats`] reads its statistics.
//!
//! ```
//! use bestbuddy::BestBuddy;
//!
//! // Every Box, Vec and String of the program now comes from bestbuddy.
//! #[global_allocator]
//! static GLOBAL: BestBuddy = BestBuddy;
//!
//! fn main() {
//!     let words: Vec<String> = (0..1000).map(|i| format!("word {i}")).collect();
//!     assert_eq!(words[999], "word 999");
//!     // The allocator's own figures: this program's calls, its heap, its caches.
//!     let stats = bestbuddy::stats();
//!     assert!(stats.calls_malloc > 0);
//!     println!("{} live blocks, {} bytes of heap mapped", stats.live_blocks, stats.heap_mapped);
//! }
//! ```
//!
//! The heap is chosen with the crate's features: `bestfit` (the default) or `buddy`
//! (`default-features = false, features = ["buddy"]`). Linux x86_64 with glibc only.
//!
//! As a dependency the crate replaces nothing by itself: libc's `malloc` stays libc's, and
//! only a program that names `BestBuddy` as its `#[global_allocator]` allocates from it. The
//! C library (`libbestbuddy.so` for `LD_PRELOAD`, `libbestbuddy.a`) is this crate built with
//! the feature `c-exports`, which exports `malloc`, `free` and the rest of the family
//! (the repository's Makefile builds it; see its README).
//!
//! Layers, each importing only those below it (docs/ARCHITECTURE.md has the picture, and
//! `make layers` checks the imports against it):
//!
//! 1. `exports`, `rust_alloc`: the exported C symbols (feature `c-exports`), one-line
//!    forwarders; `BestBuddy` and `stats()`, the same calls for Rust programs.
//! 2. `cabi`, `introspect`: C semantics (errno, overflow, zero sizes, alignment rules) and
//!    glibc's introspection calls.
//! 3. `global`: the process-wide allocator: which path serves each call, lazy
//!    initialisation, fork and thread-exit handlers, settings and statistics.
//! 4. `tcache`: the per-thread caches of small blocks.
//! 5. `arena`: the heaps behind their locks, and the remote lists of cross-thread frees.
//! 6. `freed` (a held block's link format), `large` (blocks in mappings of their own).
//! 7. `bestfit`, `buddy`: the two policies.
//! 8. `heap`: the `Heap` trait, the `HeapCore` both policies embed, regions and where they
//!    come from.
//! 9. `chunkmap`, `options`, `trace`; then `seal`, `sync`; then `os`, `diag`: address
//!    ownership, settings from the environment, the trace of the program's calls, sealed
//!    metadata, locks, OS primitives, messages; below them all, `valgrind`: what memcheck
//!    is told about the program's blocks (feature `valgrind`).
//!
//! Beside them, `shadow`: the model that the unit tests and the fuzz targets check both
//! heaps against (only in those builds: feature `shadow-model`).
//!
//! Nothing here allocates: the crate is `no_std` outside its own unit tests (and the
//! `shadow-model` build that the fuzz targets in fuzz/ link into a std program), panics
//! abort, and diagnostics are written with write(2) from a stack buffer.

#![cfg_attr(not(any(test, feature = "shadow-model")), no_std)]
// Without exports.rs, the C layer beneath it has callers only for what `BestBuddy` uses.
#![cfg_attr(not(feature = "c-exports"), allow(dead_code))]

#[cfg(not(any(feature = "bestfit", feature = "buddy")))]
compile_error!(
    "bestbuddy: choose a heap with a cargo feature: `cargo build --release` (feature \
     `bestfit`, the default) or `cargo build --release --no-default-features --features buddy`"
);

mod arena;
pub mod bestfit;
pub mod buddy;
mod cabi;
pub mod chunkmap;
pub mod counters;
mod diag;
#[cfg(feature = "c-exports")]
mod exports;
mod freed;
pub mod global;
pub mod heap;
mod introspect;
mod large;
pub mod options;
pub mod os;
mod rust_alloc;
mod seal;
#[cfg(any(test, feature = "shadow-model"))]
pub mod shadow;
mod sync;
mod tcache;
mod trace;
mod valgrind;

#[cfg(test)]
mod tests;

pub use introspect::BestbuddyStats as Stats;
pub use rust_alloc::{BestBuddy, stats};

// Only the C library, which is no_std and the whole program's Rust, brings a panic handler: a
// Rust program that links the rlib has std's (a second one would not link).
#[cfg(all(feature = "c-exports", not(any(test, feature = "shadow-model"))))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    diag::fatal("internal panic")
}

// Initialise when the library is loaded, so a program's first malloc does not pay for it.
// ld.so calls malloc before any constructor runs, so nothing depends on this having run.
// A Rust program initialises on its first allocation.
#[cfg(feature = "c-exports")]
ctor::declarative::ctor! {
    #[ctor(unsafe)]
    fn bestbuddy_init_at_load() {
        global::init_at_load();
    }
}

// At normal process exit (after the program's atexit handlers, with the other libraries'
// destructors): the allocator's one exit hook, the statistics table (BESTBUDDY_STATS) then
// the end of the trace. A `.fini_array` entry needs no atexit registration, which could
// allocate. In every build, not only the C library's: a Rust program on `BestBuddy` has its
// statistics table and its trace finished the same way; in a program that never allocated
// from here (the tool, the fuzz targets) it finds nothing to do.
#[used]
#[unsafe(link_section = ".fini_array")]
static BESTBUDDY_AT_EXIT: extern "C" fn() = bestbuddy_at_exit;

extern "C" fn bestbuddy_at_exit() {
    introspect::at_exit();
}
