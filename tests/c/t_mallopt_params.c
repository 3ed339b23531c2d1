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

enum { THREADS = 4, BLOCKS = 400, BLOCK = 100 * 1024 };

static pthread_barrier_t all_allocated, all_counted;

static void *hold_blocks(void *arg)
{
    (void)arg;
    void *p[64];
    for (int i = 0; i < 64; i++) {
        p[i] = malloc(64 + i * 16);
        CHECK(p[i] != NULL);
    }
    pthread_barrier_wait(&all_allocated);
    pthread_barrier_wait(&all_counted);
    for (int i = 0; i < 64; i++)
        free(p[i]);
    return NULL;
}

/* How many heaps malloc_info lists while THREADS threads hold blocks. */
static int heaps_in_use(void)
{
    pthread_t t[THREADS];
    CHECK(pthread_barrier_init(&all_allocated, NULL, THREADS + 1) == 0);
    CHECK(pthread_barrier_init(&all_counted, NULL, THREADS + 1) == 0);
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, hold_blocks, NULL) == 0);
    pthread_barrier_wait(&all_allocated);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CHECK(f != NULL);
    CHECK(malloc_info(0, f) == 0);
    CHECK(fclose(f) == 0);
    int heaps = 0;
    for (const char *s = text; (s = strstr(s, "<heap nr=")) != NULL; s++)
        heaps++;
    free(text);
    pthread_barrier_wait(&all_counted);
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    return heaps;
}

/* Heap bytes mapped once BLOCKS blocks of BLOCK bytes were allocated and all freed. */
static size_t arena_after_churn(void)
{
    static void *p[BLOCKS];
    for (int i = 0; i < BLOCKS; i++) {
        p[i] = malloc(BLOCK);
        CHECK(p[i] != NULL);
        memset(p[i], 1, 64);
    }
    for (int i = 0; i < BLOCKS; i++)
        free(p[i]);
    return mallinfo2().arena;
}

int main(void)
{
    on_bestbuddy();

    /* M_ARENA_MAX: a child without the limit first, so that its threads are the first. */
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        int heaps = heaps_in_use();
        printf("no arena limit: %d heaps\n", heaps);
        fflush(stdout);
        CHECKF(heaps > 1, "%d threads allocating at once shared %d heap", THREADS, heaps);
        _exit(0);
    }
    int status;
    CHECK(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(mallopt(M_ARENA_MAX, 1) == 1);
    int heaps = heaps_in_use();
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
    size_t trimmed = arena_after_churn();
    if (on_bestbuddy())
        CHECKF(mallinfo2().keepcost == 0, "M_TRIM_THRESHOLD=0, yet keepcost %zu (arena %zu)",
               mallinfo2().keepcost, trimmed);
    CHECK(mallopt(M_TRIM_THRESHOLD, 128 * 1024) == 1);

    /* M_TOP_PAD */
    size_t plain = arena_after_churn();
    CHECK(mallopt(M_TOP_PAD, 12 << 20) == 1);
    size_t padded = arena_after_churn();
    printf("heap mapped after freeing everything: %zu KiB, with M_TOP_PAD=12M %zu KiB\n",
           plain >> 10, padded >> 10);
    CHECKF(plain < (size_t)12 << 20, "without a pad, %zu KiB stayed mapped", plain >> 10);
    CHECKF(padded >= (size_t)12 << 20, "M_TOP_PAD=12M, yet only %zu KiB stayed mapped",
           padded >> 10);
    return 0;
}
