/* posix_memalign: every power-of-two alignment from sizeof(void *) to 4 MiB. */
#include "align_common.h"

static void *via_posix_memalign(size_t align, size_t size)
{
    void *p = (void *)0x1;
    int rc = posix_memalign(&p, align, size);
    if (rc != 0) {
        CHECKF(p == (void *)0x1, "posix_memalign failed (%d) but changed *memptr", rc);
        errno = rc;
        return NULL;
    }
    return p;
}

int main(void)
{
    on_bestbuddy();
    run_alignment_test("posix_memalign", via_posix_memalign, sizeof(void *));
    return 0;
}
