/* libcore is shipped precompiled with unwinding tables that name rust_eh_personality, even
 * when every crate is built with panic = "abort"; nothing ever calls it. Stable Rust cannot
 * give a symbol hidden or weak linkage, C can: hidden keeps it out of the shared library's
 * exports, weak lets a program that links another Rust library keep that library's own. */
__attribute__((weak, visibility("hidden"))) void rust_eh_personality(void) {
    __builtin_trap();
}
