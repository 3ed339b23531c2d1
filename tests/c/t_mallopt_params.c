/* mallopt's parameters that map onto bestbuddy's design, each shown to act, on glibc's
 * malloc as on bestbuddy (the same assertions pass on both):
 *
 *   M_MMAP_MAX     0: a request above the mmap threshold that the heap can serve comes from
 *                  the heap; n: at most n large blocks are mapped at once.
 *   M_TRIM_THRESHOLD  0 (and no M_TOP_PAD): nothing wholly free stays mapped.
 *   M_TOP_PAD      the free memory kept mapped when everything is freed: with 12 MiB of
 *                  pad, at least 12 MiB of heap stays mapped; by default less.
 *   M_ARENA_MAX    1: four threads allocating at once all share one heap (malloc_info lists
 *                  one <heap>); without the limit (a child forked first) they spread over
 *                  more than one.
 */
#include <pthread.h>
#include <sys/wait.h>

#include "common.h"

enum { THREADS = 4 };

int main(void)
{
    on_bestbuddy();

    /* M_ARENA_MAX: a child without the limit first, so that its threads are the first. */
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        int heaps = bb_heaps_in_use(THREADS);
        printf("no arena limit: %d heaps\n", heaps);
        fflush(stdout);
        CHECKF(heaps > 1, "%d threads allocating at once shared %d heap", THREADS, heaps);
        _exit(0);
    }
    int status;
    CHECK(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(mallopt(M_ARENA_MAX, 1) == 1);
    int heaps = bb_heaps_in_use(THREADS);
    printf("M_ARENA_MAX=1: %d heap(s)\n", heaps);
    CHECKF(heaps == 1, "M_ARENA_MAX=1, yet %d heaps", heaps);

    /* M_MMAP_MAX */
    CHECK(mallopt(M_MMAP_THRESHOLD, 64 * 1024) == 1);
    CHECK(mallopt(M_MMAP_MAX, 1) == 1);
    size_t h0 = mallinfo2().hblks;
    void *first = malloc(200 * 1024), *second = malloc(200 * 1024);
    CHECK(first != NULL && second != NULL);
    memset(second, 2, 200 * 1024);
    CHECKF(mallinfo2().hblks == h0 + 1, "M_MMAP_MAX=1: %zu blocks mapped, expected %zu",
           mallinfo2().hblks, h0 + 1);
    free(first);
    free(second);
    CHECK(mallopt(M_MMAP_MAX, 0) == 1);
    h0 = mallinfo2().hblks;
    void *unmapped = malloc(200 * 1024);
    CHECK(unmapped != NULL);
    memset(unmapped, 3, 200 * 1024);
    CHECKF(mallinfo2().hblks == h0, "M_MMAP_MAX=0: malloc(200 KiB) got a mapping");
    free(unmapped);
    CHECK(mallopt(M_MMAP_MAX, 65536) == 1);
    CHECK(mallopt(M_MMAP_THRESHOLD, 128 * 1024) == 1);

    /* M_TRIM_THRESHOLD 0 alone: no wholly free region stays mapped (keepcost counts
     * them; glibc's counts its top chunk instead). */
    CHECK(mallopt(M_TRIM_THRESHOLD, 0) == 1);
    size_t trimmed = bb_arena_after_churn();
    if (on_bestbuddy())
        CHECKF(mallinfo2().keepcost == 0, "M_TRIM_THRESHOLD=0, yet keepcost %zu (arena %zu)",
               mallinfo2().keepcost, trimmed);
    CHECK(mallopt(M_TRIM_THRESHOLD, 128 * 1024) == 1);

    /* M_TOP_PAD */
    size_t plain = bb_arena_after_churn();
    CHECK(mallopt(M_TOP_PAD, 12 << 20) == 1);
    size_t padded = bb_arena_after_churn();
    printf("heap mapped after freeing everything: %zu KiB, with M_TOP_PAD=12M %zu KiB\n",
           plain >> 10, padded >> 10);
    CHECKF(plain < (size_t)12 << 20, "without a pad, %zu KiB stayed mapped", plain >> 10);
    CHECKF(padded >= (size_t)12 << 20, "M_TOP_PAD=12M, yet only %zu KiB stayed mapped",
           padded >> 10);
    return 0;
}
