/* Threaded stress: 8 threads x 200k operations.  Random sizes 1..64 KiB
 * (log-distributed) and occasionally 1 MiB, from malloc/calloc/memalign/
 * realloc.  Blocks move between threads through a shared, mutex-protected
 * exchange so that about 30% of frees happen in a thread other than the one
 * that allocated.  Every block carries a pattern derived from a per-block
 * tag, verified before every free and realloc: any overlap between live
 * blocks or corruption is caught. */
#include "common.h"
#include <pthread.h>
#include <time.h>

enum { NTHREADS = 8, OPS = 200000, LOCAL = 256, EXCHANGE = 1024 };

struct blk {
    unsigned char *p;
    size_t n;
    uint64_t tag;
};

static struct blk exchange[EXCHANGE];
static pthread_mutex_t ex_lock = PTHREAD_MUTEX_INITIALIZER;

static inline unsigned char tb(uint64_t tag, size_t i)
{
    return (unsigned char)((tag >> ((i & 7) * 8)) ^ (i * 13) ^ (i >> 9));
}

/* Pattern: every byte of the first 512 and last 64 bytes, and one byte in
 * every 64 in between (keeps the test fast with large blocks). */
static void mark(struct blk *b)
{
    size_t n = b->n;
    for (size_t i = 0; i < n && i < 512; i++)
        b->p[i] = tb(b->tag, i);
    for (size_t i = 512; i < n; i += 64)
        b->p[i] = tb(b->tag, i);
    for (size_t i = n > 64 ? n - 64 : 0; i < n; i++)
        b->p[i] = tb(b->tag, i);
}

/* Verify the pattern over [0, upto); the tail bytes only when `tail`. */
static void check_blk(const struct blk *b, size_t upto, int tail)
{
    size_t n = upto;
    for (size_t i = 0; i < n && i < 512; i++)
        CHECKF(b->p[i] == tb(b->tag, i), "block %p (%zu bytes) corrupt at %zu", (void *)b->p, b->n, i);
    for (size_t i = 512; i < n; i += 64)
        CHECKF(b->p[i] == tb(b->tag, i), "block %p (%zu bytes) corrupt at %zu", (void *)b->p, b->n, i);
    if (tail)
        for (size_t i = n > 64 ? n - 64 : 0; i < n; i++)
            CHECKF(b->p[i] == tb(b->tag, i), "block %p (%zu bytes) corrupt at %zu", (void *)b->p,
                   b->n, i);
}

static size_t rand_size(uint64_t *rng)
{
    uint64_t r = bb_rand(rng);
    if (r % 1000 == 0)
        return BB_MIB + (size_t)(r >> 40) % 4096;
    int lg = (int)((r >> 10) % 17); /* 1 .. 64 KiB, log-uniform */
    return 1 + (size_t)((r >> 20) % ((uint64_t)1 << lg));
}

static void new_blk(struct blk *b, uint64_t *rng)
{
    size_t n = rand_size(rng);
    uint64_t r = bb_rand(rng);
    unsigned char *p;
    switch (r % 8) {
    case 0:
        p = calloc(1, n);
        CHECK(p != NULL);
        CHECK(p[0] == 0 && p[n - 1] == 0 && p[n / 2] == 0);
        break;
    case 1:
        p = memalign((size_t)16 << (r >> 8) % 9, n);
        CHECK(p != NULL);
        CHECK(bb_aligned(p, (size_t)16 << (r >> 8) % 9));
        break;
    default:
        p = malloc(n);
        CHECK(p != NULL);
    }
    CHECK(bb_aligned(p, 16));
    b->p = p;
    b->n = n;
    b->tag = bb_rand(rng) | 1;
    mark(b);
}

static void drop_blk(struct blk *b)
{
    if (b->p == NULL)
        return;
    check_blk(b, b->n, 1);
    free(b->p);
    b->p = NULL;
}

static void *worker(void *arg)
{
    uint64_t rng = 0x1234567ull * (uint64_t)((uintptr_t)arg + 1) + 99;
    struct blk local[LOCAL];
    memset(local, 0, sizeof local);
    for (int op = 0; op < OPS; op++) {
        uint64_t r = bb_rand(&rng);
        struct blk *b = &local[r % LOCAL];
        if (b->p == NULL) {
            new_blk(b, &rng);
            continue;
        }
        unsigned act = (unsigned)((r >> 32) % 100);
        if (act < 30) {
            /* swap with the exchange; free what was there (usually a block
             * from another thread) */
            size_t j = (size_t)(r >> 16) % EXCHANGE;
            struct blk old;
            pthread_mutex_lock(&ex_lock);
            old = exchange[j];
            exchange[j] = *b;
            pthread_mutex_unlock(&ex_lock);
            b->p = NULL;
            drop_blk(&old);
        } else if (act < 40) {
            size_t nn = rand_size(&rng);
            check_blk(b, b->n, 1);
            unsigned char *q = realloc(b->p, nn);
            CHECK(q != NULL && bb_aligned(q, 16));
            struct blk nb = {q, nn, b->tag};
            check_blk(&nb, nn < b->n ? nn : b->n, 0);
            *b = nb;
            mark(b);
        } else {
            drop_blk(b);
        }
    }
    for (int i = 0; i < LOCAL; i++)
        drop_blk(&local[i]);
    return NULL;
}

int main(void)
{
    on_bestbuddy();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        CHECK(pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i) == 0);
    for (int i = 0; i < NTHREADS; i++)
        CHECK(pthread_join(th[i], NULL) == 0);
    for (int i = 0; i < EXCHANGE; i++)
        drop_blk(&exchange[i]);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%d threads x %d ops in %.2f s\n", NTHREADS, OPS,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    return 0;
}
