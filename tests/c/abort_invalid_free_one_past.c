/* free() of the address one past the end of a live block,
 * p + malloc_usable_size(p), must abort with
 * "bestbuddy: free(): invalid pointer <p+usable>".
 *
 * Best fit (and glibc): p = malloc(64) has 72 usable bytes, so p + 72 is
 * 8 bytes off the 16-byte grid and never the start of any block.
 *
 * Buddy has no headers and tiles each region with blocks: the end of one
 * block is always the start of the next, so one past a 64-byte block is the
 * next block's pointer. free() of it then frees that block if it is live
 * (nothing to detect) or reports "double free of" if it is free.  The only
 * one-past-the-end address that is no block's start is a region's end: a
 * 2 MiB block (buddy's largest) is always the top half of its 4 MiB region,
 * so p + 2 MiB is the next chunk boundary, which is the test for buddy. Such a
 * block is a heap block only with the mmap threshold raised to it (the default,
 * 256 KiB, maps it). */
#include "abort_common.h"

int main(void)
{
    int bb = on_bestbuddy();
    int buddy = bb && strcmp(bestbuddy_backend(), "buddy") == 0;
    size_t size = buddy ? 2 * BB_MIB : 64;
    if (buddy)
        CHECK(mallopt(M_MMAP_THRESHOLD, (int)(2 * BB_MIB)) == 1);
    char *p = malloc(size);
    CHECK(p != NULL);
    memset(p, 0, size);
    size_t usable = malloc_usable_size(p);
    CHECK(usable >= size);
    if (buddy) {
        CHECK(usable == 2 * BB_MIB);
        CHECK(bb_aligned(p + usable, 4 * BB_MIB));
    } else if (bb) {
        CHECK(!bb_aligned(p + usable, 16));
    }
    char *bad = p + usable;
    expect_line("bestbuddy: free(): invalid pointer %p", bad);
    free(launder(bad));
    printf("survived invalid free\n");
    return 0;
}
