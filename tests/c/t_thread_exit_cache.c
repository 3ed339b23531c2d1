/* Threads that allocate, free into their per-thread cache and exit give those cached blocks
 * back: after 10,000 such threads, the heap holds no more in use than at the start (plus a
 * bound: one cache's worth), where 10,000 forgotten caches would hold megabytes. */
#include "common.h"
#include <pthread.h>

enum { THREADS = 10000, BATCH = 8, BLOCKS = 256 };

static void *worker(void *arg) {
    size_t seed = (size_t)arg;
    void *blocks[BLOCKS];
    for (int i = 0; i < BLOCKS; i++) {
        blocks[i] = malloc(16 + (seed * 7 + (size_t)i * 13) % 900);
        CHECK(blocks[i]);
        memset(blocks[i], i, 16);
    }
    for (int i = 0; i < BLOCKS; i++)
        free(blocks[i]);
    return NULL;
}

int main(void) {
    int bb = on_bestbuddy();
    struct mallinfo2 before = mallinfo2();
    for (int t = 0; t < THREADS; t += BATCH) {
        pthread_t tid[BATCH];
        for (int i = 0; i < BATCH; i++)
            CHECK(pthread_create(&tid[i], NULL, worker, (void *)(size_t)(t + i)) == 0);
        for (int i = 0; i < BATCH; i++)
            CHECK(pthread_join(tid[i], NULL) == 0);
    }
    struct mallinfo2 after = mallinfo2();
    if (bb) {
        /* Bound: what a few live thread structures and one cache may hold. */
        CHECKF(after.uordblks <= before.uordblks + 512 * BB_KIB,
               "in use grew from %zu to %zu bytes", before.uordblks, after.uordblks);
    }
    return 0;
}
