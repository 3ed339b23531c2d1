/* A program without a memory error, which uses every allocating entry point: memcheck must
 * find no error and no leak. Also shows the blocks came from bestbuddy (its statistics
 * count them), that calloc's zeros and the bytes realloc keeps (in place or moved) count as
 * written, and that a thread's cache going back to the heap at its exit is not reported.
 *
 * expect-status: 0
 * expect: ERROR SUMMARY: 0 errors from 0 contexts
 * expect: All heap blocks were freed -- no leaks are possible
 * expect-stdout: ^clean: [0-9]+ calls served by bestbuddy$
 */
#include "../c/common.h"
#include "../../include/bestbuddy.h"
#include <pthread.h>

#pragma weak bestbuddy_stats_get

static void *worker(void *arg)
{
    (void)arg;
    void *p[300];
    for (int i = 0; i < 300; i++) {
        p[i] = malloc(16 + i);
        CHECK(p[i] != NULL);
        memset(p[i], i, 16 + i);
    }
    for (int i = 0; i < 300; i += 2)
        free(p[i]);
    for (int i = 1; i < 300; i += 2)
        free(p[i]);
    return NULL;
}

int main(void)
{
    on_bestbuddy();
    struct bestbuddy_stats before, after;
    CHECK(bestbuddy_stats_get(&before, sizeof before) == 0);

    char *a = malloc(100);
    CHECK(a != NULL);
    memset(a, 1, 100);
    int *z = calloc(50, sizeof(int));
    CHECK(z != NULL);
    for (int i = 0; i < 50; i++)
        CHECK(z[i] == 0);

    /* Grown a little (in place where it can), a lot (moved), then shrunk: the bytes kept
     * are the program's as written. */
    a = realloc(a, 110);
    CHECK(a != NULL);
    for (int i = 0; i < 100; i++)
        CHECK(a[i] == 1);
    memset(a + 100, 2, 10);
    a = realloc(a, 5000);
    CHECK(a != NULL);
    for (int i = 0; i < 110; i++)
        CHECK(a[i] == (i < 100 ? 1 : 2));
    a = realloc(a, 50);
    CHECK(a != NULL && a[49] == 1);
    a = reallocarray(a, 20, 10);
    CHECK(a != NULL && a[0] == 1);

    /* A block in a mapping of its own, grown. */
    size_t big_size = (size_t)3 << 20;
    char *big = malloc(big_size);
    CHECK(big != NULL);
    memset(big, 3, big_size);
    big = realloc(big, big_size * 2);
    CHECK(big != NULL && big[big_size - 1] == 3);
    memset(big + big_size, 4, big_size);
    CHECK(big[2 * big_size - 1] == 4);
    free(big);

    /* The aligned family. */
    void *m = NULL;
    CHECK(posix_memalign(&m, 64, 200) == 0 && bb_aligned(m, 64));
    memset(m, 0, 200);
    free(m);
    m = aligned_alloc(256, 512);
    CHECK(m != NULL && bb_aligned(m, 256));
    memset(m, 0, 512);
    free(m);
    m = memalign(4096, 100);
    CHECK(m != NULL && bb_aligned(m, 4096));
    memset(m, 0, 100);
    free(m);
    m = valloc(10);
    CHECK(m != NULL && bb_aligned(m, 4096));
    memset(m, 0, 10);
    free(m);
    m = pvalloc(10); /* a whole page, all the program's */
    CHECK(m != NULL && bb_aligned(m, 4096));
    memset(m, 0, 4096);
    free(m);

    /* What malloc_usable_size says may be used, whole. */
    char *u = malloc(20);
    CHECK(u != NULL);
    size_t n = malloc_usable_size(u);
    CHECK(n >= 20);
    memset(u, 0, n);
    free(u);

    /* Many blocks, through the thread cache and the heap. */
    static void *p[2000];
    for (int i = 0; i < 2000; i++) {
        p[i] = malloc(8 + i % 700);
        CHECK(p[i] != NULL);
        memset(p[i], 5, 8 + i % 700);
    }
    for (int i = 1999; i >= 0; i--)
        free(p[i]);

    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);

    free(a);
    free(z);
    CHECK(bestbuddy_stats_get(&after, sizeof after) == 0);
    unsigned long long calls = after.calls_malloc - before.calls_malloc;
    CHECKF(calls >= 2000, "calls_malloc moved by %llu: valgrind's malloc served the program",
           calls);
    printf("clean: %llu calls served by bestbuddy\n", calls);
    return 0;
}
