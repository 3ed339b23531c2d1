/* A realloc that fails (impossible size) returns NULL + ENOMEM and leaves the
 * original block intact: same contents, still usable, still freeable. */
#include "common.h"

int main(void)
{
    on_bestbuddy();
    const size_t sizes[] = {1, 24, 500, 4096, 70000, 2 * BB_MIB, 40 * BB_MIB};
    const size_t bad[] = {(size_t)PTRDIFF_MAX + 1, PTRDIFF_MAX, (size_t)1 << 47, SIZE_MAX - 8};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        unsigned char *p = malloc(n);
        CHECK(p != NULL);
        bb_fill(p, 0, n, (unsigned)i);
        size_t us = malloc_usable_size(p);
        for (size_t j = 0; j < sizeof bad / sizeof bad[0]; j++) {
            errno = 0;
            void *r = realloc(p, bad[j]);
            CHECKF(r == NULL && errno == ENOMEM, "realloc(%zu-byte block, %#zx) = %p errno %d", n,
                   bad[j], r, errno);
            CHECKF(bb_verify(p, n, (unsigned)i) == (size_t)-1,
                   "contents of %zu-byte block changed by failed realloc", n);
            CHECK(malloc_usable_size(p) == us);
        }
        /* the block still works normally */
        p = realloc(p, n + 1000);
        CHECK(p != NULL);
        CHECK(bb_verify(p, n, (unsigned)i) == (size_t)-1);
        free(p);
    }
    return 0;
}
