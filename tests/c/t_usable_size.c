/* malloc_usable_size(NULL) == 0; for every block the usable size is >= the
 * request and every usable byte is writable without damaging other blocks. */
#include "common.h"

enum { NB = 3000 };
static unsigned char *blk[NB];
static size_t us[NB];

int main(void)
{
    on_bestbuddy();
    CHECK(malloc_usable_size(NULL) == 0);
    uint64_t rng = 12345;
    int n = 0;
    for (size_t sz = 0; sz <= 2048 && n < NB; sz++) { /* every small size */
        blk[n] = malloc(sz);
        CHECK(blk[n] != NULL);
        us[n] = malloc_usable_size(blk[n]);
        CHECKF(us[n] >= sz, "malloc(%zu): usable %zu", sz, us[n]);
        n++;
    }
    for (int k = 11; k <= 25 && n < NB; k++) { /* powers of two and neighbours */
        for (int d = -1; d <= 1; d++) {
            size_t sz = ((size_t)1 << k) + (size_t)d;
            blk[n] = malloc(sz);
            CHECK(blk[n] != NULL);
            us[n] = malloc_usable_size(blk[n]);
            CHECKF(us[n] >= sz, "malloc(%zu): usable %zu", sz, us[n]);
            n++;
        }
    }
    while (n < NB) { /* random sizes, calloc/realloc/memalign too */
        size_t sz = 1 + bb_rand(&rng) % 70000;
        int kind = (int)(bb_rand(&rng) % 4);
        void *p = kind == 0 ? malloc(sz)
                  : kind == 1 ? calloc(1, sz)
                  : kind == 2 ? memalign((size_t)64 << (bb_rand(&rng) % 8), sz)
                              : realloc(malloc(sz / 2 + 1), sz);
        CHECK(p != NULL);
        blk[n] = p;
        us[n] = malloc_usable_size(p);
        CHECKF(us[n] >= sz, "kind %d, %zu bytes: usable %zu", kind, sz, us[n]);
        n++;
    }
    /* write the full usable range of every block, then verify all */
    for (int i = 0; i < n; i++)
        bb_fill(blk[i], 0, us[i], (unsigned)i);
    for (int i = 0; i < n; i++)
        CHECKF(bb_verify(blk[i], us[i], (unsigned)i) == (size_t)-1,
               "block %d: usable bytes overlap another block", i);
    /* usable size is stable while the block lives */
    for (int i = 0; i < n; i++)
        CHECK(malloc_usable_size(blk[i]) == us[i]);
    for (int i = 0; i < n; i++)
        free(blk[i]);
    return 0;
}
