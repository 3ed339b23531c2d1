/* glibc semantics: realloc(p, 0) with p != NULL frees p and returns NULL.
 * Checked by the return value and by the absence of a leak: looping it over
 * 64 KiB blocks would otherwise grow RSS by gigabytes. */
#include "common.h"

int main(void)
{
    on_bestbuddy();
    const size_t sizes[] = {1, 16, 100, 4096, 65536, 300000, 3 * BB_MIB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = malloc(sizes[i]);
        CHECK(p != NULL);
        memset(p, 0x77, sizes[i]);
        void *r = realloc(p, 0);
        CHECKF(r == NULL, "realloc(p[%zu], 0) returned %p, expected NULL", sizes[i], r);
    }
    /* a memalign'd block too */
    void *a = memalign(256, 1000);
    CHECK(a != NULL);
    CHECK(realloc(a, 0) == NULL);

    long rss0 = bb_status_kb("VmRSS");
    for (int i = 0; i < 20000; i++) {
        void *p = malloc(64 * BB_KIB);
        CHECK(p != NULL);
        memset(p, i, 64 * BB_KIB);
        CHECK(realloc(p, 0) == NULL);
    }
    long rss1 = bb_status_kb("VmRSS");
    if (rss0 > 0 && rss1 > 0)
        CHECKF(rss1 - rss0 < 100 * 1024,
               "RSS grew by %ld kB over 20000 realloc(p, 0): blocks are not freed", rss1 - rss0);
    /* allocator still fine */
    void *p = malloc(100);
    CHECK(p != NULL);
    free(p);
    return 0;
}
