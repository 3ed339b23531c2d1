/* Shared driver for the three aligned-allocation tests: every power-of-two
 * alignment from `min_align` to 4 MiB, sizes 0, 1, align-1, align, align+1,
 * 3*align (plus a few fixed ones); each result aligned, writable over the
 * whole size, not overlapping the others, and freeable. */
#ifndef BB_ALIGN_COMMON_H
#define BB_ALIGN_COMMON_H
#include "common.h"

typedef void *(*alloc_fn)(size_t align, size_t size);

#define MAX_ALIGN_LOG 22 /* 4 MiB */

static void run_alignment_test(const char *name, alloc_fn fn, size_t min_align)
{
    for (size_t a = min_align; a <= ((size_t)1 << MAX_ALIGN_LOG); a *= 2) {
        size_t sizes[] = {0, 1, a - 1, a, a + 1, 3 * a, 100, 5000};
        enum { NS = sizeof sizes / sizeof sizes[0] };
        unsigned char *p[NS];
        for (int i = 0; i < NS; i++) {
            size_t n = sizes[i];
            errno = 0;
            p[i] = fn(a, n);
            CHECKF(p[i] != NULL, "%s(%zu, %zu) = NULL errno %d", name, a, n, errno);
            CHECKF(bb_aligned(p[i], a), "%s(%zu, %zu) = %p not aligned", name, a, n,
                   (void *)p[i]);
            CHECKF(bb_aligned(p[i], 16) || a < 16, "%s(%zu, %zu) = %p", name, a, n,
                   (void *)p[i]);
            CHECKF(malloc_usable_size(p[i]) >= n, "%s(%zu, %zu): usable size %zu", name, a, n,
                   malloc_usable_size(p[i]));
            bb_fill(p[i], 0, n, (unsigned)(i + 1));
        }
        for (int i = 0; i < NS; i++)
            CHECKF(bb_verify(p[i], sizes[i], (unsigned)(i + 1)) == (size_t)-1,
                   "%s(%zu, %zu): block overwritten by a neighbour", name, a, sizes[i]);
        /* free in an order different from allocation */
        for (int i = 1; i < NS; i += 2)
            free(p[i]);
        for (int i = 0; i < NS; i += 2)
            free(p[i]);
    }
    /* aligned blocks can be realloc'd (realloc need not keep the alignment) */
    unsigned char *q = fn(4096, 3000);
    CHECK(q != NULL && bb_aligned(q, 4096));
    bb_fill(q, 0, 3000, 9);
    q = realloc(q, 100000);
    CHECK(q != NULL && bb_aligned(q, 16));
    CHECK(bb_verify(q, 3000, 9) == (size_t)-1);
    free(q);
}
#endif
