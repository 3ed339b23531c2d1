/* mallinfo2 and mallinfo report real figures: arena > 0, uordblks grows by
 * about 1 MiB after allocating 1 MiB in small blocks and falls after freeing
 * them, hblks/hblkhd grow after a 64 MiB malloc and fall after its free. */
#include "common.h"

enum { NSMALL = 16384, SMALL = 64 }; /* 1 MiB in 64-byte blocks */
static void *small[NSMALL];

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static struct mallinfo old_mallinfo(void)
{
    return mallinfo();
}
#pragma GCC diagnostic pop

int main(void)
{
    on_bestbuddy();
    free(malloc(100)); /* initialise */

    struct mallinfo2 m0 = mallinfo2();
    CHECKF(m0.arena > 0, "mallinfo2().arena = %zu", m0.arena);
    for (int i = 0; i < NSMALL; i++) {
        small[i] = malloc(SMALL);
        CHECK(small[i] != NULL);
        memset(small[i], 1, SMALL);
    }
    struct mallinfo2 m1 = mallinfo2();
    CHECK(m1.arena > 0);
    CHECKF(m1.uordblks >= m0.uordblks + (size_t)NSMALL * SMALL,
           "uordblks %zu -> %zu after allocating 1 MiB", m0.uordblks, m1.uordblks);

    struct mallinfo o1 = old_mallinfo();
    CHECK(o1.arena > 0);
    CHECK((size_t)o1.uordblks >= (size_t)NSMALL * SMALL);

    for (int i = 0; i < NSMALL; i++)
        free(small[i]);
    struct mallinfo2 m2 = mallinfo2();
    CHECKF(m2.uordblks + (size_t)NSMALL * SMALL / 2 <= m1.uordblks,
           "uordblks %zu -> %zu after freeing 1 MiB", m1.uordblks, m2.uordblks);

    /* a 64 MiB block is a "mmapped" block for hblks/hblkhd */
    struct mallinfo2 h0 = mallinfo2();
    void *big = malloc(64 * BB_MIB);
    CHECK(big != NULL);
    memset(big, 2, 4096);
    struct mallinfo2 h1 = mallinfo2();
    CHECKF(h1.hblks >= h0.hblks + 1, "hblks %zu -> %zu after malloc(64 MiB)", h0.hblks, h1.hblks);
    CHECKF(h1.hblkhd >= h0.hblkhd + 64 * BB_MIB, "hblkhd %zu -> %zu after malloc(64 MiB)",
           h0.hblkhd, h1.hblkhd);
    struct mallinfo o2 = old_mallinfo();
    CHECK(o2.hblks >= 1);
    CHECK((size_t)o2.hblkhd >= 64 * BB_MIB);

    free(big);
    struct mallinfo2 h2 = mallinfo2();
    CHECKF(h2.hblks < h1.hblks, "hblks %zu -> %zu after free", h1.hblks, h2.hblks);
    CHECKF(h2.hblkhd + 64 * BB_MIB <= h1.hblkhd, "hblkhd %zu -> %zu after free", h1.hblkhd,
           h2.hblkhd);
    return 0;
}
