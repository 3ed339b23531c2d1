/* Every malloc/calloc/realloc result is aligned for max_align_t (16 bytes),
 * across many sizes, and blocks that are live at the same time never overlap. */
#include "common.h"
#include <stdalign.h>

#define NSMALL 4097

static void *blk[NSMALL + 200];
static size_t len[NSMALL + 200];

int main(void)
{
    on_bestbuddy();
    CHECK(alignof(max_align_t) == 16);
    int n = 0;
    /* every size 0..4096 */
    for (size_t sz = 0; sz < NSMALL; sz++) {
        void *p = malloc(sz);
        CHECK(p != NULL);
        CHECKF(bb_aligned(p, 16), "malloc(%zu) = %p", sz, p);
        blk[n] = p;
        len[n++] = sz;
    }
    /* every power of two up to 32 MiB, and its neighbours */
    for (int k = 12; k <= 25; k++) {
        size_t base = (size_t)1 << k;
        size_t cand[3] = {base - 1, base, base + 1};
        for (int c = 0; c < 3; c++) {
            void *p = malloc(cand[c]);
            CHECK(p != NULL);
            CHECKF(bb_aligned(p, 16), "malloc(%zu) = %p", cand[c], p);
            blk[n] = p;
            len[n++] = cand[c];
        }
    }
    /* fill each block with its own tag; verify after all are allocated */
    for (int i = 0; i < n; i++)
        bb_fill(blk[i], 0, len[i], (unsigned)i);
    for (int i = 0; i < n; i++)
        CHECKF(bb_verify(blk[i], len[i], (unsigned)i) == (size_t)-1,
               "block %d (%zu bytes) overwritten: blocks overlap", i, len[i]);
    for (int i = 0; i < n; i++)
        free(blk[i]);

    /* calloc and realloc results too */
    for (size_t sz = 1; sz < 70000; sz = sz * 3 / 2 + 1) {
        void *p = calloc(1, sz);
        CHECK(p != NULL);
        CHECKF(bb_aligned(p, 16), "calloc(1,%zu) = %p", sz, p);
        void *q = calloc(sz, 3);
        CHECK(q != NULL);
        CHECKF(bb_aligned(q, 16), "calloc(%zu,3) = %p", sz, q);
        p = realloc(p, sz * 5 + 3);
        CHECK(p != NULL);
        CHECKF(bb_aligned(p, 16), "realloc(p, %zu) = %p", sz * 5 + 3, p);
        p = realloc(p, sz / 2 + 1);
        CHECK(p != NULL);
        CHECKF(bb_aligned(p, 16), "realloc(p, %zu) = %p", sz / 2 + 1, p);
        free(q);
        free(p);
    }
    return 0;
}
