/* malloc_trim returns 0 or 1; after freeing a large working set of small
 * blocks, malloc_trim(0) gives memory back (returns 1 on bestbuddy) and RSS
 * falls back near its starting point. */
#include "common.h"

enum { N = 400000 }; /* ~100 MiB of small blocks */
static void *blk[N];

int main(void)
{
    int bb = on_bestbuddy();
    int r = malloc_trim(0);
    CHECKF(r == 0 || r == 1, "malloc_trim(0) = %d", r);
    r = malloc_trim(1 << 20);
    CHECKF(r == 0 || r == 1, "malloc_trim(1 MiB) = %d", r);

    long rss0 = bb_status_kb("VmRSS");
    uint64_t rng = 77;
    for (int i = 0; i < N; i++) {
        size_t n = 16 + bb_rand(&rng) % 480;
        blk[i] = malloc(n);
        CHECK(blk[i] != NULL);
        memset(blk[i], 0x6B, n);
    }
    long rss1 = bb_status_kb("VmRSS");
    for (int i = 0; i < N; i++)
        free(blk[i]);
    r = malloc_trim(0);
    CHECKF(r == 0 || r == 1, "malloc_trim(0) = %d", r);
    if (bb)
        CHECKF(r == 1, "malloc_trim(0) = %d after freeing ~100 MiB of small blocks", r);
    long rss2 = bb_status_kb("VmRSS");
    printf("RSS kB: start %ld, peak %ld, after free+trim %ld\n", rss0, rss1, rss2);
    if (rss0 > 0 && rss1 > 0 && rss2 > 0) {
        CHECK(rss1 - rss0 > 50 * 1024); /* the working set was real */
        CHECKF(rss2 - rss0 < (rss1 - rss0) / 2,
               "RSS still %ld kB above start after free + malloc_trim(0) (peak +%ld kB)",
               rss2 - rss0, rss1 - rss0);
    }
    /* still works, and a second trim is harmless */
    void *p = malloc(1000);
    CHECK(p != NULL);
    free(p);
    r = malloc_trim(0);
    CHECK(r == 0 || r == 1);
    return 0;
}
