/* Requests larger than PTRDIFF_MAX fail with NULL + ENOMEM in every entry
 * point (glibc >= 2.30), and leave the allocator usable. */
#include "common.h"

#define EXPECT_ENOMEM(expr)                                                  \
    do {                                                                     \
        errno = 0;                                                           \
        void *r_ = (expr);                                                   \
        CHECKF(r_ == NULL, "%s returned %p", #expr, r_);                     \
        CHECKF(errno == ENOMEM, "%s: errno %d, expected ENOMEM", #expr, errno); \
    } while (0)

int main(void)
{
    on_bestbuddy();
    const size_t big[] = {
        (size_t)PTRDIFF_MAX + 1, (size_t)PTRDIFF_MAX + 2, (size_t)PTRDIFF_MAX + 4096,
        SIZE_MAX / 4 * 3, SIZE_MAX - 4096, SIZE_MAX - 16, SIZE_MAX - 1, SIZE_MAX,
    };
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        size_t n = big[i];
        EXPECT_ENOMEM(malloc(n));
        EXPECT_ENOMEM(calloc(1, n));
        EXPECT_ENOMEM(calloc(n, 1));
        EXPECT_ENOMEM(valloc(n));
        EXPECT_ENOMEM(pvalloc(n));
        EXPECT_ENOMEM(memalign(64, n));
        EXPECT_ENOMEM(memalign(4096, n));
        EXPECT_ENOMEM(aligned_alloc(16, n));
        EXPECT_ENOMEM(aligned_alloc(1 << 20, n));
        EXPECT_ENOMEM(reallocarray(NULL, n, 1));
        EXPECT_ENOMEM(realloc(NULL, n));

        void *m = (void *)0x1234;
        int rc = posix_memalign(&m, 64, n);
        CHECKF(rc == ENOMEM, "posix_memalign(64, %zu) = %d", n, rc);
        CHECK(m == (void *)0x1234);

        /* realloc of a live block: NULL + ENOMEM, block untouched */
        char *p = malloc(100);
        CHECK(p != NULL);
        memset(p, 0x5C, 100);
        EXPECT_ENOMEM(realloc(p, n));
        CHECK(bb_all_bytes(p, 100, 0x5C));
        free(p);
    }
    /* the largest alignment memalign accepts, with a tiny size */
    EXPECT_ENOMEM(memalign((size_t)1 << 63, 10));
    EXPECT_ENOMEM(aligned_alloc((size_t)1 << 63, 10));

    /* still works */
    void *p = malloc(1000), *q = malloc(2 * BB_MIB);
    CHECK(p != NULL && q != NULL);
    memset(p, 1, 1000);
    memset(q, 2, 2 * BB_MIB);
    free(p);
    free(q);
    return 0;
}
