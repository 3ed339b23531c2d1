//! bestbuddy as the allocator of a Rust shared library (`crate-type = ["dylib"]`, see
//! Cargo.toml): `make test-rust-alloc` builds it on each heap, since an rlib can compile and
//! still fail to link into a shared object (a RIP-relative reference to one of its global
//! statics did: "relocation R_X86_64_PC32 cannot be used against symbol").

use bestbuddy::BestBuddy;

#[global_allocator]
static ALLOCATOR: BestBuddy = BestBuddy;

/// A vector of `n` bytes of `v`, from the shared library's allocator.
pub fn filled(n: usize, v: u8) -> Vec<u8> {
    vec![v; n]
}
