/* Freed large blocks are kept mapped for reuse while the program still holds large blocks
 * (at most as many bytes as are live, and at most M_TRIM_THRESHOLD, 64 MiB by default): a
 * block of the same size comes back at once and calloc still zeroes it; malloc_trim gives
 * the kept memory back, RSS falls; and so does letting go of every large block. The test
 * maps 7 large blocks afresh in all: from the 8th on, the program counts as cycling through
 * large blocks, and kept ones stay when it lets go of them (t_large_cycling.c). */
#include "common.h"

enum { N = 3 };
#define BLOCK ((size_t)4 << 20)
#define ANCHOR ((size_t)48 << 20)

static char *fill_blocks(char **blocks) {
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(BLOCK);
        CHECK(blocks[i]);
        memset(blocks[i], 0x5a, BLOCK);
    }
    return blocks[0];
}

int main(void) {
    int bb = on_bestbuddy();
    char *blocks[N];
    char *anchor = malloc(ANCHOR);
    CHECK(anchor);
    memset(anchor, 1, ANCHOR);

    fill_blocks(blocks);
    for (int i = 0; i < N; i++)
        free(blocks[i]);
    long kept_kb = bb_status_kb("VmRSS");
    /* Reuse: calloc of the same size must read as zeros although the memory was 0x5a. */
    char *z = calloc(1, BLOCK);
    CHECK(z);
    CHECK(bb_all_bytes(z, BLOCK, 0));
    free(z);
    if (bb) {
        CHECKF(mallinfo2().keepcost >= N * BLOCK, "keepcost %zu: freed blocks not kept",
               mallinfo2().keepcost);
        CHECK(malloc_trim(0) == 1);
        long trimmed_kb = bb_status_kb("VmRSS");
        CHECKF(kept_kb - trimmed_kb >= 8 * 1024, "RSS %ld kB -> %ld kB after malloc_trim",
               kept_kb, trimmed_kb);
        CHECK(mallinfo2().keepcost < BLOCK);
    }

    /* Letting go of every large block gives the kept ones back without malloc_trim. */
    fill_blocks(blocks);
    for (int i = 0; i < N; i++)
        free(blocks[i]);
    long before_kb = bb_status_kb("VmRSS");
    free(anchor);
    long after_kb = bb_status_kb("VmRSS");
    CHECKF(before_kb - after_kb >= (long)(ANCHOR / 1024) + (bb ? 8 * 1024 : 0),
           "RSS %ld kB -> %ld kB after the last large block went", before_kb, after_kb);
    if (bb)
        CHECK(mallinfo2().keepcost < BLOCK);
    return 0;
}
