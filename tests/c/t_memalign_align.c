/* memalign: every power-of-two alignment from 1 to 4 MiB; an alignment that
 * is not a power of two is accepted (glibc rounds it up); alignment 2^63 with
 * a small size fails with ENOMEM. */
#include "align_common.h"

static void *via_memalign(size_t align, size_t size)
{
    return memalign(align, size);
}

int main(void)
{
    on_bestbuddy();
    run_alignment_test("memalign", via_memalign, 1);
    void *p = memalign(24, 100);
    CHECK(p != NULL && bb_aligned(p, 16));
    memset(p, 0, 100);
    free(p);
    p = memalign(0, 100); /* glibc: treated as the minimum alignment */
    CHECK(p != NULL && bb_aligned(p, 16));
    free(p);
    errno = 0;
    p = memalign((size_t)1 << 63, 10);
    CHECK(p == NULL && errno == ENOMEM);
    return 0;
}
