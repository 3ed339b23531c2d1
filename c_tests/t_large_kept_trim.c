/* Freed large blocks are kept mapped for reuse (bounded by M_TRIM_THRESHOLD, 64 MiB by
 * default): a block of the same size comes back at once and calloc still zeroes it;
 * malloc_trim gives the kept memory back, and RSS falls. */
#include "common.h"

enum { N = 8 };
#define BLOCK ((size_t)4 << 20)

int main(void) {
    int bb = on_bestbuddy();
    char *blocks[N];
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(BLOCK);
        CHECK(blocks[i]);
        memset(blocks[i], 0x5a, BLOCK);
    }
    for (int i = 0; i < N; i++)
        free(blocks[i]);
    long kept_kb = bb_status_kb("VmRSS");
    /* Reuse: calloc of the same size must read as zeros although the memory was 0x5a. */
    char *z = calloc(1, BLOCK);
    CHECK(z);
    CHECK(bb_all_bytes(z, BLOCK, 0));
    free(z);
    if (bb) {
        struct mallinfo2 mi = mallinfo2();
        CHECKF(mi.keepcost >= BLOCK, "keepcost %zu: freed large blocks not kept", mi.keepcost);
        CHECK(malloc_trim(0) == 1);
        long trimmed_kb = bb_status_kb("VmRSS");
        CHECKF(kept_kb - trimmed_kb >= 16 * 1024, "RSS %ld kB -> %ld kB after malloc_trim",
               kept_kb, trimmed_kb);
        CHECK(mallinfo2().keepcost < BLOCK);
        /* With nothing kept, freed large blocks go straight back. */
        CHECK(mallopt(M_TRIM_THRESHOLD, 0) == 1);
        char *p = malloc(BLOCK);
        CHECK(p);
        memset(p, 1, BLOCK);
        long before_kb = bb_status_kb("VmRSS");
        free(p);
        long after_kb = bb_status_kb("VmRSS");
        CHECKF(before_kb - after_kb >= 3 * 1024, "RSS %ld kB -> %ld kB after free", before_kb,
               after_kb);
    }
    return 0;
}
