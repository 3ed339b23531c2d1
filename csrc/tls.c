/* The thread cache's slot: one pointer per thread in the initial-exec TLS model, so reading
 * it is one %fs-relative load (src/tcache.rs reads and writes it with inline assembly, by
 * name) instead of a call to __tls_get_addr. Stable Rust cannot declare a thread-local with a
 * chosen TLS model; C can. The cost: the library needs 32 bytes of static TLS (with the
 * parked slot and the trace's two slots below), which ld.so
 * always has for LD_PRELOAD and direct links, and normally has for a late dlopen.
 *
 * The slot holds the address of the thread's cache, or of the no-cache bins below (no cache
 * yet, or exiting). It has no destructor. */
#include <stdint.h>

/* What the slot points at while the thread has no cache, and (64 bytes in) while it exits:
 * zero bytes laid out as a cache's bins, which malloc's fast path finds empty and free's
 * finds full, so that neither tests the slot before using it. Its size is NO_CACHE_BYTES in
 * src/tcache.rs, which asserts that the bins fit. */
__attribute__((visibility("hidden"), aligned(64)))
uint64_t bestbuddy_no_cache[4736 / 8];

__attribute__((visibility("hidden"), tls_model("initial-exec")))
__thread uintptr_t bestbuddy_cache_slot = (uintptr_t)bestbuddy_no_cache;

/* Where the cache waits while the program's calls are traced (src/tcache.rs, "parked"): the
 * slot above then reads the no-cache bins, so that the fast paths miss into the slow ones, which record. */
__attribute__((visibility("hidden"), tls_model("initial-exec")))
__thread uintptr_t bestbuddy_cache_parked;

/* The trace's slots (src/trace/threads.rs), read the same way: the thread's trace buffer
 * (0: none yet, 1: exiting, else its address), and the time a moving realloc released its
 * old block at (0: none). Neither has a destructor; the trace's pthread key returns the
 * buffer. */
__attribute__((visibility("hidden"), tls_model("initial-exec")))
__thread uintptr_t bestbuddy_trace_slot;

__attribute__((visibility("hidden"), tls_model("initial-exec")))
__thread uint64_t bestbuddy_trace_stamp;
