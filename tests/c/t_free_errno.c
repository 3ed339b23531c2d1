/* free() preserves errno (glibc >= 2.33) for small, large, aligned and
 * zero-size blocks and for free(NULL), whatever errno held before. */
#include "common.h"

static void free_keeps_errno(void *p, const char *what)
{
    errno = 1234;
    free(p);
    CHECKF(errno == 1234, "free(%s) changed errno to %d", what, errno);
}

int main(void)
{
    on_bestbuddy();
    free_keeps_errno(NULL, "NULL");
    for (int round = 0; round < 3; round++) {
        free_keeps_errno(malloc(0), "malloc(0)");
        free_keeps_errno(malloc(1), "malloc(1)");
        free_keeps_errno(malloc(100), "malloc(100)");
        free_keeps_errno(malloc(4000), "malloc(4000)");
        free_keeps_errno(malloc(100000), "malloc(100000)");
        free_keeps_errno(malloc(BB_MIB), "malloc(1 MiB)");
        free_keeps_errno(malloc(64 * BB_MIB), "malloc(64 MiB)");
        free_keeps_errno(calloc(10, 1000), "calloc(10,1000)");
        free_keeps_errno(memalign(4096, 10), "memalign(4096,10)");
        free_keeps_errno(aligned_alloc(1 << 21, 1 << 21), "aligned_alloc(2M,2M)");
        free_keeps_errno(valloc(5000), "valloc(5000)");
    }
    /* many small blocks: a free that merges / returns memory to the OS (an
     * munmap or madvise that fails would otherwise leak into errno) */
    enum { N = 20000 };
    static void *v[N];
    for (int i = 0; i < N; i++) {
        v[i] = malloc((size_t)(i % 500) * 16 + 1);
        CHECK(v[i] != NULL);
    }
    for (int i = 0; i < N; i++) {
        errno = 1234;
        free(v[i]);
        CHECKF(errno == 1234, "free of block %d changed errno to %d", i, errno);
    }
    /* free() on success leaves errno alone even when it was 0 */
    void *p = malloc(300);
    errno = 0;
    free(p);
    CHECK(errno == 0);
    return 0;
}
