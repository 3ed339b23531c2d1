/* Requests no machine can satisfy (below PTRDIFF_MAX but beyond the 47-bit
 * user address space, or far beyond RAM) fail cleanly with NULL + ENOMEM
 * instead of crashing, and the allocator keeps working afterwards. */
#include "common.h"

static int overcommit_mode(void)
{
    FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
    int m = -1;
    if (f != NULL) {
        if (fscanf(f, "%d", &m) != 1)
            m = -1;
        fclose(f);
    }
    return m;
}

static void expect_fail(size_t n)
{
    errno = 0;
    void *p = malloc(n);
    CHECKF(p == NULL && errno == ENOMEM, "malloc(%#zx) = %p errno %d", n, p, errno);
    errno = 0;
    p = calloc(n / 16, 16);
    CHECKF(p == NULL && errno == ENOMEM, "calloc(%#zx, 16) = %p errno %d", n / 16, p, errno);
    errno = 0;
    p = memalign(1 << 16, n);
    CHECKF(p == NULL && errno == ENOMEM, "memalign(64K, %#zx) = %p errno %d", n, p, errno);
    void *m = (void *)0x42;
    int rc = posix_memalign(&m, 4096, n);
    CHECKF(rc == ENOMEM && m == (void *)0x42, "posix_memalign(4096, %#zx) = %d", n, rc);
    char *q = malloc(64);
    CHECK(q != NULL);
    memset(q, 0x3E, 64);
    errno = 0;
    p = realloc(q, n);
    CHECKF(p == NULL && errno == ENOMEM, "realloc(q, %#zx) = %p errno %d", n, p, errno);
    CHECK(bb_all_bytes(q, 64, 0x3E));
    free(q);
}

int main(void)
{
    on_bestbuddy();
    expect_fail(PTRDIFF_MAX);
    expect_fail(PTRDIFF_MAX - 65536);
    expect_fail((size_t)1 << 62);
    expect_fail((size_t)1 << 48);
    expect_fail((size_t)1 << 47);            /* the whole user address space */
    expect_fail(((size_t)1 << 47) - 4096);
    /* 64 TiB: more than RAM + swap; only refused by the kernel when it is
     * not told to overcommit unconditionally. */
    if (overcommit_mode() != 1)
        expect_fail((size_t)1 << 46);

    for (int i = 0; i < 100; i++) {
        size_t n = (size_t)(i + 1) * 12345;
        void *p = malloc(n);
        CHECK(p != NULL);
        memset(p, i, n);
        free(p);
    }
    return 0;
}
