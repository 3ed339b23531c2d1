//! Build script: the shared library's SONAME and link checks, and include/bestbuddy.h.

use std::env;
use std::path::PathBuf;

fn main() {
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
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{name}.so.{major}");
    // Fail the build on any undefined symbol (e.g. a stray rust_eh_personality), instead of
    // failing every program that preloads the library. Not with `no-exports` (the fuzz
    // targets): that cdylib is a by-product nobody loads, and its coverage hooks are undefined.
    if env::var_os("CARGO_FEATURE_NO_EXPORTS").is_none() {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,defs");
    }
    println!("cargo:rerun-if-changed=src/exports.rs");
    // The struct of bestbuddy_stats_get lives beside the statistics it is filled from.
    println!("cargo:rerun-if-changed=src/introspect.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");

    // What stable Rust cannot express: a hidden weak symbol, an initial-exec TLS slot.
    println!("cargo:rerun-if-changed=csrc");
    cc::Build::new()
        .file("csrc/eh_personality.c")
        .file("csrc/tls.c")
        .opt_level(2)
        .compile("bestbuddy_c");

    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
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
