/* posix_memalign failure cases: EINVAL for alignments that are not a power of
 * two or not a multiple of sizeof(void *), ENOMEM for impossible sizes; on
 * failure *memptr is unchanged.  errno as glibc 2.36 leaves it: untouched on
 * EINVAL, ENOMEM on ENOMEM (POSIX does not ask for it, but glibc's memalign
 * sets it and programs written for glibc may read it); see t_errno_glibc.c. */
#include "common.h"

int main(void)
{
    on_bestbuddy();
    const size_t einval[] = {0, 1, 2, 3, 4, 5, 6, 7, 12, 24, 48, 100, 4095, 4097, 3 << 20,
                             ((size_t)1 << 63) + 1, SIZE_MAX, (size_t)-8};
    for (size_t i = 0; i < sizeof einval / sizeof einval[0]; i++) {
        void *m = (void *)0xdead0;
        errno = 4321;
        int rc = posix_memalign(&m, einval[i], 64);
        CHECKF(rc == EINVAL, "posix_memalign(align=%zu) = %d, expected EINVAL", einval[i], rc);
        CHECKF(m == (void *)0xdead0, "posix_memalign(align=%zu) changed *memptr", einval[i]);
        CHECKF(errno == 4321, "posix_memalign(align=%zu) changed errno to %d", einval[i], errno);
        /* size 0 does not change the verdict */
        rc = posix_memalign(&m, einval[i], 0);
        CHECK(rc == EINVAL && m == (void *)0xdead0);
    }

    const size_t enomem_size[] = {(size_t)PTRDIFF_MAX + 1, SIZE_MAX, SIZE_MAX - 4096,
                                  PTRDIFF_MAX, (size_t)1 << 47};
    for (size_t i = 0; i < sizeof enomem_size / sizeof enomem_size[0]; i++) {
        void *m = (void *)0xbeef0;
        errno = 4321;
        int rc = posix_memalign(&m, 64, enomem_size[i]);
        CHECKF(rc == ENOMEM, "posix_memalign(64, %#zx) = %d, expected ENOMEM", enomem_size[i], rc);
        CHECK(m == (void *)0xbeef0);
        CHECKF(errno == ENOMEM, "posix_memalign(64, %#zx) = ENOMEM but errno %d, expected ENOMEM",
               enomem_size[i], errno);
    }
    {
        void *m = (void *)0xbeef0;
        errno = 4321;
        int rc = posix_memalign(&m, (size_t)1 << 63, 10);
        CHECKF(rc == ENOMEM, "posix_memalign(2^63, 10) = %d", rc);
        CHECK(m == (void *)0xbeef0);
        CHECKF(errno == ENOMEM, "posix_memalign(2^63, 10): errno %d, expected ENOMEM", errno);
    }

    /* and the valid cases succeed, with errno untouched */
    for (size_t a = sizeof(void *); a <= 65536; a *= 2) {
        void *m = NULL;
        errno = 4321;
        int rc = posix_memalign(&m, a, 100);
        CHECK(rc == 0 && m != NULL && bb_aligned(m, a));
        CHECK(errno == 4321);
        memset(m, 1, 100);
        free(m);
    }
    return 0;
}
