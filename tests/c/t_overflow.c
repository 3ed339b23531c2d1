/* calloc(n, m) and reallocarray(p, n, m) detect n*m overflow: NULL + ENOMEM,
 * and a failed reallocarray leaves the block intact. */
#include "common.h"

int main(void)
{
    on_bestbuddy();
    const size_t pairs[][2] = {
        {SIZE_MAX, 2}, {2, SIZE_MAX}, {SIZE_MAX / 2 + 1, 2}, {(size_t)1 << 32, (size_t)1 << 32},
        {((size_t)1 << 33) + 1, ((size_t)1 << 31) + 1}, {SIZE_MAX, SIZE_MAX},
        {SIZE_MAX / 3 + 1, 3}, {65537, (SIZE_MAX / 65537) + 1},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        size_t a = pairs[i][0], b = pairs[i][1];
        errno = 0;
        void *r = calloc(a, b);
        CHECKF(r == NULL && errno == ENOMEM, "calloc(%zu, %zu) = %p errno %d", a, b, r, errno);

        errno = 0;
        r = reallocarray(NULL, a, b);
        CHECKF(r == NULL && errno == ENOMEM, "reallocarray(NULL, %zu, %zu) = %p errno %d", a, b,
               r, errno);

        unsigned char *p = malloc(48);
        CHECK(p != NULL);
        bb_fill(p, 0, 48, 3);
        errno = 0;
        r = reallocarray(p, a, b);
        CHECKF(r == NULL && errno == ENOMEM, "reallocarray(p, %zu, %zu) = %p errno %d", a, b, r,
               errno);
        CHECK(bb_verify(p, 48, 3) == (size_t)-1);
        free(p);
    }
    /* products that do not overflow but exceed PTRDIFF_MAX */
    volatile size_t big = (size_t)1 << 32; /* hidden from gcc's size warnings */
    errno = 0;
    CHECK(calloc(big, (size_t)1 << 31) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(calloc(big, (size_t)1 << 31) == NULL && errno == ENOMEM);

    /* non-overflowing products work and reallocarray keeps the contents */
    unsigned *v = calloc(1000, sizeof *v);
    CHECK(v != NULL);
    for (int i = 0; i < 1000; i++) {
        CHECK(v[i] == 0);
        v[i] = (unsigned)i * 2654435761u;
    }
    v = reallocarray(v, 100000, sizeof *v);
    CHECK(v != NULL);
    for (int i = 0; i < 1000; i++)
        CHECK(v[i] == (unsigned)i * 2654435761u);
    v[99999] = 1;
    free(v);
    return 0;
}
