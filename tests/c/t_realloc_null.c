/* realloc(NULL, n) behaves like malloc(n): a fresh, aligned, usable block
 * (realloc(NULL, 0) included, as malloc(0) on glibc). */
#include "common.h"

int main(void)
{
    on_bestbuddy();
    const size_t sizes[] = {0, 1, 15, 16, 17, 100, 1000, 4096, 65536, 200000, BB_MIB, 10 * BB_MIB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        errno = 0;
        unsigned char *p = realloc(NULL, n);
        CHECKF(p != NULL, "realloc(NULL, %zu) = NULL errno %d", n, errno);
        CHECK(bb_aligned(p, 16));
        CHECK(malloc_usable_size(p) >= n);
        unsigned char *q = realloc(NULL, n);
        CHECK(q != NULL && q != p);
        bb_fill(p, 0, n, 1);
        bb_fill(q, 0, n, 2);
        CHECK(bb_verify(p, n, 1) == (size_t)-1);
        /* the block behaves like any other: it can grow, shrink and be freed */
        p = realloc(p, n * 2 + 10);
        CHECK(p != NULL);
        CHECK(bb_verify(p, n, 1) == (size_t)-1);
        CHECK(bb_verify(q, n, 2) == (size_t)-1);
        free(p);
        free(q);
    }
    return 0;
}
