/* valloc returns page-aligned blocks of at least the requested size; pvalloc
 * returns page-aligned blocks whose usable size is at least the request
 * rounded up to a whole page (every byte of it writable). */
#include "common.h"

int main(void)
{
    on_bestbuddy();
    long pg = sysconf(_SC_PAGESIZE);
    CHECK(pg > 0);
    size_t page = (size_t)pg;
    const size_t sizes[] = {0, 1, 100, page - 1, page, page + 1, 3 * page - 5, 10 * page,
                            100000, BB_MIB + 3, 5 * BB_MIB};
    enum { NS = sizeof sizes / sizeof sizes[0] };
    void *v[NS], *pv[NS];
    for (int i = 0; i < NS; i++) {
        size_t n = sizes[i];
        v[i] = valloc(n);
        CHECKF(v[i] != NULL, "valloc(%zu) = NULL", n);
        CHECKF(bb_aligned(v[i], page), "valloc(%zu) = %p", n, v[i]);
        CHECK(malloc_usable_size(v[i]) >= n);
        memset(v[i], 0x31, n);

        pv[i] = pvalloc(n);
        CHECKF(pv[i] != NULL, "pvalloc(%zu) = NULL", n);
        CHECKF(bb_aligned(pv[i], page), "pvalloc(%zu) = %p", n, pv[i]);
        size_t rounded = (n + page - 1) / page * page;
        size_t us = malloc_usable_size(pv[i]);
        CHECKF(us >= rounded, "pvalloc(%zu): usable %zu < rounded size %zu", n, us, rounded);
        memset(pv[i], 0x32, rounded); /* the whole rounded size is ours */
    }
    for (int i = 0; i < NS; i++) {
        CHECK(bb_all_bytes(v[i], sizes[i], 0x31));
        size_t rounded = (sizes[i] + page - 1) / page * page;
        CHECK(bb_all_bytes(pv[i], rounded, 0x32));
    }
    for (int i = 0; i < NS; i++) {
        free(v[i]);
        free(pv[i]);
    }
    return 0;
}
