//! Build script: the shared library's SONAME and link checks, and include/bestbuddy.h (those
//! two only for the C library, feature `c-exports`); the C parts (csrc/) for every build.

use std::env;

fn main() {
    // Only the C library is a cdylib: the Makefile's builds (`cargo rustc --crate-type
    // cdylib,staticlib --features c-exports`). The rlib of a Rust program needs no link
    // arguments.
    if env::var_os("CARGO_FEATURE_C_EXPORTS").is_some() {
        cdylib_link_args();
    }
    println!("cargo:rerun-if-changed=build.rs");

    // What stable Rust cannot express: a hidden weak symbol, an initial-exec TLS slot.
    println!("cargo:rerun-if-changed=csrc");
    cc::Build::new()
        .file("csrc/eh_personality.c")
        .file("csrc/tls.c")
        .opt_level(2)
        .compile("bestbuddy_c");

    #[cfg(feature = "c-exports")]
    write_header();
}

/// The shared library's SONAME, and its check for undefined symbols. Given to every link
/// of the package (`rustc-link-arg`), not as cdylib ones: Cargo.toml lists no cdylib (the
/// Makefile asks for it with `--crate-type`), and cargo warns about cdylib arguments then.
/// The only other link with `c-exports` is the unit tests' binary, where they change
/// nothing that matters (a SONAME in an executable; no undefined symbols there either).
fn cdylib_link_args() {
    // cargo gives a cdylib no SONAME; valgrind's --soname-synonyms and packagers need one.
    // The buddy build is a different library with the same symbols: installed beside best
    // fit (`make install`), it needs a name of its own, or a program linked against one
    // would load whichever the loader found first. Enabling both features selects buddy
    // (src/global/mod.rs), so the feature alone decides the name.
    // The number is the package's major version, as `make install` names the files.
    let name = if env::var_os("CARGO_FEATURE_BUDDY").is_some() {
        "libbestbuddy-buddy"
    } else {
        "libbestbuddy"
    };
    let major = env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets it");
    println!("cargo:rustc-link-arg=-Wl,-soname,{name}.so.{major}");
    // Fail the build on any undefined symbol (e.g. a stray rust_eh_personality), instead of
    // failing every program that preloads the library.
    println!("cargo:rustc-link-arg=-Wl,-z,defs");
}

/// include/bestbuddy.h, the C library's header. Only the C library's build writes it: a
/// Rust program's build of this crate (from a registry, read-only to it) has no C callers.
#[cfg(feature = "c-exports")]
fn write_header() {
    println!("cargo:rerun-if-changed=src/exports.rs");
    // The struct of bestbuddy_stats_get lives beside the statistics it is filled from.
    println!("cargo:rerun-if-changed=src/introspect.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let crate_dir =
        std::path::PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable");
    let header = crate_dir.join("include").join("bestbuddy.h");
    match cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
    {
        // write_to_file leaves the file untouched when the content is the same.
        Ok(bindings) => {
            bindings.write_to_file(&header);
        }
        Err(e) => panic!("cbindgen could not generate {}: {e}", header.display()),
    }
}
