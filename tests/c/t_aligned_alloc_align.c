/* aligned_alloc: every power-of-two alignment from 1 to 4 MiB; glibc 2.36
 * also accepts an alignment that is not a power of two (aligned_alloc(3, 10)). */
#include "align_common.h"

static void *via_aligned_alloc(size_t align, size_t size)
{
    return aligned_alloc(align, size);
}

int main(void)
{
    on_bestbuddy();
    run_alignment_test("aligned_alloc", via_aligned_alloc, 1);
    void *p = aligned_alloc(3, 10);
    CHECK(p != NULL && bb_aligned(p, 16));
    memset(p, 0, 10);
    free(p);
    p = aligned_alloc(48, 1000);
    CHECK(p != NULL && bb_aligned(p, 16));
    memset(p, 0, 1000);
    free(p);
    return 0;
}
