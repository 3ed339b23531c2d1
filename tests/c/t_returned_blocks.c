/* Blocks that one thread frees for another thread's arena come back to the owner by size
 * class (their owner's refill of that class takes them whole):
 *   - the owner's next allocations of that size get those very blocks back, after what
 *     its own bin still held, intact as blocks (each is written whole and read back);
 *   - while they wait for the owner, bestbuddy_stats_get counts them as cached, not as
 *     held by the program: live_blocks drops by exactly what was freed;
 *   - when the owner exits with blocks still waiting for it, they go back to its heap:
 *     after the join they are neither cached nor in use.
 * The blocks are freed by a short-lived thread: its exit empties its cache, which hands
 * them on. (malloc_trim would free them into the owner's heap instead.) */
#include "common.h"
#include "../../include/bestbuddy.h"
#include <pthread.h>

#pragma weak bestbuddy_stats_get

/* The owner allocates M blocks again: what its bin still held first, then the N blocks. */
enum { N = 200, SIZE = 40, M = N + 256 };

static char *first[N], *second[M];
static int stage; /* 1: made; 2: freed; 3: taken again; 5: exit */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

static void set_stage(int s)
{
    pthread_mutex_lock(&lock);
    stage = s;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

static void wait_stage(int s)
{
    pthread_mutex_lock(&lock);
    while (stage < s)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
}

static struct bestbuddy_stats get(void)
{
    struct bestbuddy_stats s;
    CHECK(bestbuddy_stats_get(&s, sizeof s) == 0);
    return s;
}

struct batch {
    char **blocks;
    int n;
};

static void *free_all(void *arg)
{
    struct batch *b = arg;
    for (int i = 0; i < b->n; i++)
        free(b->blocks[i]);
    return NULL; /* the exit hands them on */
}

/* Frees the blocks on a thread of its own and waits for it to exit. */
static void free_elsewhere(char **blocks, int n)
{
    struct batch b = {blocks, n};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, free_all, &b) == 0);
    CHECK(pthread_join(t, NULL) == 0);
}

static void *owner(void *arg)
{
    (void)arg;
    for (int i = 0; i < N; i++) {
        first[i] = malloc(SIZE);
        CHECK(first[i]);
        memset(first[i], 0x5A, SIZE);
    }
    set_stage(1);
    wait_stage(2);
    int reused = 0;
    for (int i = 0; i < M; i++) {
        second[i] = malloc(SIZE);
        CHECK(second[i]);
        memset(second[i], i & 0xFF, SIZE);
        for (int j = 0; j < N; j++)
            reused += second[i] == first[j];
    }
    for (int i = 0; i < M; i++)
        for (int k = 0; k < SIZE; k++)
            CHECKF((unsigned char)second[i][k] == (i & 0xFF), "block %d byte %d", i, k);
    if (on_bestbuddy())
        CHECKF(reused == N, "%d of the %d blocks freed by the other thread came back", reused, N);
    set_stage(3);
    wait_stage(5);
    return NULL;
}

int main(void)
{
    int bb = on_bestbuddy();
    pthread_t t;
    CHECK(pthread_create(&t, NULL, owner, NULL) == 0);
    wait_stage(1);

    /* A thread made and joined first: what libc allocates once for a second thread is
     * then in the figures before the count starts. */
    free_elsewhere(NULL, 0);
    struct bestbuddy_stats before = {0};
    if (bb)
        before = get();
    free_elsewhere(first, N);
    if (bb) {
        struct bestbuddy_stats after = get();
        CHECKF(after.live_blocks == before.live_blocks - N, "live blocks %llu -> %llu",
               (unsigned long long)before.live_blocks, (unsigned long long)after.live_blocks);
        CHECKF(after.cached_blocks >= before.cached_blocks + N, "cached blocks %llu -> %llu",
               (unsigned long long)before.cached_blocks, (unsigned long long)after.cached_blocks);
    }
    set_stage(2);
    wait_stage(3);

    /* Freed elsewhere again while the owner lives, then the owner exits with the blocks
     * waiting for it. */
    free_elsewhere(second, M);
    struct bestbuddy_stats waiting = {0};
    if (bb)
        waiting = get();
    set_stage(5);
    CHECK(pthread_join(t, NULL) == 0);
    if (bb) {
        struct bestbuddy_stats gone = get();
        CHECKF(gone.cached_blocks + N <= waiting.cached_blocks, "cached blocks %llu -> %llu",
               (unsigned long long)waiting.cached_blocks, (unsigned long long)gone.cached_blocks);
        CHECKF(gone.heap_in_use + N * SIZE <= waiting.heap_in_use, "heap in use %llu -> %llu",
               (unsigned long long)waiting.heap_in_use, (unsigned long long)gone.heap_in_use);
    }
    return 0;
}
