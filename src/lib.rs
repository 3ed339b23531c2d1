//! bestbuddy: a malloc replacement with two heap policies, best fit and buddy.
//!
//! Layers, each depending only on those below it (docs/ARCHITECTURE.md has the picture):
//!
//! 1. `exports`    — the exported C symbols, one-line forwarders.
//! 2. `cabi`, `introspect` — C semantics (errno, overflow, zero sizes, alignment rules) and
//!    glibc's introspection calls.
//! 3. `global`     — the process-wide allocator: the per-thread caches (`tcache`) in front
//!    of the active heap behind its lock, the large-block path, lazy initialisation, fork
//!    and thread-exit handlers.
//! 4. `heap` (the trait), `bestfit`, `buddy`, `large` — the policies.
//! 5. `chunkmap`, `sync`, `os`, `diag` — address ownership, locks, OS primitives, messages.
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
