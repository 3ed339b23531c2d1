/* calloc returns zeroed memory even when it reuses freed blocks that were
 * dirty: malloc + memset 0xff many blocks of various sizes, free them, calloc
 * the same sizes and check every byte is 0.  Small and large (mmap-sized)
 * blocks, fresh and reused; calloc(0, n) and calloc(n, 0) give unique
 * freeable pointers. */
#include "common.h"

static const size_t sizes[] = {1,    7,     16,     24,     33,      64,      100,     255,
                               256,  500,   1000,   1024,   2047,    4096,    5000,    8191,
                               16384, 30000, 65536, 100000, 131072, 200000, 1048576, 3000000,
                               8388608, 20000000};
enum { NS = sizeof sizes / sizeof sizes[0], REP = 20 };

static void *blk[NS * REP];

int main(void)
{
    on_bestbuddy();
    for (int round = 0; round < 3; round++) {
        int n = 0;
        for (int r = 0; r < REP; r++)
            for (int i = 0; i < NS; i++) {
                if (sizes[i] > BB_MIB && r >= 3)
                    continue;
                void *p = malloc(sizes[i]);
                CHECK(p != NULL);
                memset(p, 0xff, malloc_usable_size(p));
                blk[n++] = p;
            }
        for (int i = 0; i < n; i++)
            free(blk[i]);
        n = 0;
        for (int r = 0; r < REP; r++)
            for (int i = 0; i < NS; i++) {
                if (sizes[i] > BB_MIB && r >= 3)
                    continue;
                /* alternate argument order, same total size */
                unsigned char *p = (r & 1) ? calloc(sizes[i], 1) : calloc(1, sizes[i]);
                CHECK(p != NULL);
                CHECK(bb_aligned(p, 16));
                for (size_t b = 0; b < sizes[i]; b++)
                    CHECKF(p[b] == 0, "calloc(%zu): byte %zu is %#x (round %d)", sizes[i], b,
                           p[b], round);
                memset(p, 0xff, sizes[i]); /* dirty again for the next round */
                blk[n++] = p;
            }
        for (int i = 0; i < n; i++)
            free(blk[i]);
    }
    /* multi-element calloc */
    unsigned long *v = calloc(123457, sizeof *v);
    CHECK(v != NULL);
    for (size_t i = 0; i < 123457; i++)
        CHECK(v[i] == 0);
    free(v);
    /* zero-sized */
    void *a = calloc(0, 10), *b = calloc(10, 0), *c = calloc(0, 0);
    CHECK(a != NULL && b != NULL && c != NULL);
    CHECK(a != b && b != c && a != c);
    free(a);
    free(b);
    free(c);
    return 0;
}
