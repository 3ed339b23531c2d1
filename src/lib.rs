//! bestbuddy: a malloc replacement with two heap policies, best fit and buddy.
//!
//! Layers, each importing only those below it (docs/ARCHITECTURE.md has the picture, and
//! `make layers` checks the imports against it):
//!
//! 1. `exports`: the exported C symbols, one-line forwarders.
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
//!    metadata, locks, OS primitives, messages.
//!
//! Beside them, `shadow`: the model that the unit tests and the fuzz targets check both
//! heaps against (only in those builds: feature `shadow-model`).
//!
//! Nothing here allocates: the crate is `no_std` outside its own unit tests (and the
//! `no-exports` build that the fuzz targets in fuzz/ link into a std program), panics abort,
//! and diagnostics are written with write(2) from a stack buffer.

#![cfg_attr(not(any(test, feature = "no-exports")), no_std)]
// Without exports.rs, the C layer beneath it has no callers.
#![cfg_attr(feature = "no-exports", allow(dead_code))]

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
#[cfg(not(feature = "no-exports"))]
mod exports;
mod freed;
pub mod global;
pub mod heap;
mod introspect;
mod large;
pub mod options;
pub mod os;
mod seal;
#[cfg(any(test, feature = "shadow-model"))]
pub mod shadow;
mod sync;
mod tcache;
mod trace;

#[cfg(test)]
mod tests;

#[cfg(not(any(test, feature = "no-exports")))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    diag::fatal("internal panic")
}

// Initialise when the library is loaded, so a program's first malloc does not pay for it.
// ld.so calls malloc before any constructor runs, so nothing depends on this having run.
#[cfg(not(feature = "no-exports"))]
ctor::declarative::ctor! {
    #[ctor(unsafe)]
    fn bestbuddy_init_at_load() {
        global::init_at_load();
    }
}

// At normal process exit (after the program's atexit handlers, with the other libraries'
// destructors): the allocator's one exit hook, the statistics table (BESTBUDDY_STATS) then
// the end of the trace. A `.fini_array` entry needs no atexit registration, which could
// allocate.
#[cfg(not(feature = "no-exports"))]
#[used]
#[unsafe(link_section = ".fini_array")]
static BESTBUDDY_AT_EXIT: extern "C" fn() = bestbuddy_at_exit;

#[cfg(not(feature = "no-exports"))]
extern "C" fn bestbuddy_at_exit() {
    introspect::at_exit();
}
