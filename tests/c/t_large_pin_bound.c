/* A small large block that reuses a much bigger kept mapping may keep that mapping's
 * resident pages past its own end (so the next reuse of the whole mapping takes no page
 * faults), but only within a bound: long-lived blocks must not pile up dead memory.
 *
 * Each round maps a 30 MiB block, touches it, frees it (kept: a 64 MiB anchor, never
 * touched, keeps the keep limit at its 64 MiB maximum), then allocates a 2.5 MiB block that
 * lives to the end and so reuses the 30 MiB mapping.  Unbounded, every round would leave
 * 27.5 MiB resident behind a live block (12 rounds: 330 MiB); bestbuddy holds at most the
 * keep limit of such pages, so RSS stays near the 30 MiB live plus 64 MiB. */
#include "common.h"

enum { ROUNDS = 12 };
#define BIG ((size_t)30 << 20)
#define SMALL ((size_t)5 << 19)
#define ANCHOR ((size_t)64 << 20)

int main(void)
{
    int bb = on_bestbuddy();
    long base_kb = bb_status_kb("VmRSS");
    char *anchor = malloc(ANCHOR);
    CHECK(anchor != NULL);
    char *small[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        char *big = malloc(BIG);
        CHECK(big != NULL);
        memset(big, 0x11, BIG);
        free(big);
        small[r] = malloc(SMALL);
        CHECK(small[r] != NULL);
        memset(small[r], 0x22 + r, SMALL);
    }
    long rss_kb = bb_status_kb("VmRSS") - base_kb;
    printf("RSS grew by %ld MiB for %zu MiB live\n", rss_kb >> 10, ROUNDS * SMALL >> 20);
    for (int r = 0; r < ROUNDS; r++) {
        CHECK(bb_all_bytes(small[r], SMALL, (unsigned char)(0x22 + r)));
        free(small[r]);
    }
    free(anchor);
    if (bb)
        CHECKF(rss_kb < 160 * 1024, "RSS grew by %ld MiB", rss_kb >> 10);
    return 0;
}
