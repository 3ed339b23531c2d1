/* xmalloc: one-way producer/consumer at full speed (after xmalloc-test).
 *
 * In each pair of threads, the producer allocates blocks of 16..512 B (one in
 * 32 of 513 B..4 KiB), stamps them (common.h, after the link word) and links
 * them into batches of BATCH; each full batch is spliced whole onto the
 * consumer's lock-free stack with one compare-and-swap.  The consumer takes the whole
 * stack with one atomic exchange, checks and frees every block.  Nothing
 * bounds the queue but a soft cap of MAX_INFLIGHT batches (a quarter million
 * ), far above what a consumer that keeps up leaves behind; the producer
 * yields only there, and the result line says how often it did.
 *
 * The checksum is the sum of the stamps produced; the consumer's sum of the
 * stamps it freed must match it, or the program fails.
 *
 *   xmalloc [--scale F] [--threads N]     N even, default 2 (one pair)
 */
#include <sched.h>
#include <stdatomic.h>

#include "common.h"

#define BATCH 64
#define MAX_INFLIGHT 262144L /* blocks */
#define BASE_ITEMS 10000000L /* per pair */

struct pair {
    _Alignas(64) _Atomic(unsigned char *) stack; /* blocks linked through their word 0 */
    _Alignas(64) _Atomic long pushed;
    _Alignas(64) _Atomic long popped;
    _Alignas(64) long items, yields;
    uint64_t produced, consumed;
    int id;
};

static void *producer(void *arg)
{
    struct pair *q = arg;
    uint64_t s = 0x452821e638d01377ULL + (uint64_t)q->id * 0xbe5466cf34e90c6cULL, sum = 0;
    unsigned char *first = NULL, *last = NULL;
    int n_in = 0;
    for (long k = 0; k < q->items; k++) {
        size_t n = rng_below(&s, 32) == 0 ? rng_range(&s, 513, 4096) : rng_range(&s, 16, 512);
        unsigned char *p = xmalloc(n);
        sum += stamp_block(p + 8, n - 8, (uint32_t)(rng_next(&s) >> 32));
        memcpy(p, &first, sizeof first);
        if (!first)
            last = p;
        first = p;
        if (++n_in == BATCH || k == q->items - 1) {
            while (atomic_load_explicit(&q->pushed, memory_order_relaxed) -
                       atomic_load_explicit(&q->popped, memory_order_relaxed) >= MAX_INFLIGHT) {
                q->yields++;
                sched_yield();
            }
            unsigned char *old = atomic_load_explicit(&q->stack, memory_order_relaxed);
            do {
                memcpy(last, &old, sizeof old);
            } while (!atomic_compare_exchange_weak_explicit(&q->stack, &old, first, memory_order_release,
                                                            memory_order_relaxed));
            atomic_fetch_add_explicit(&q->pushed, n_in, memory_order_relaxed);
            first = last = NULL;
            n_in = 0;
        }
    }
    q->produced = sum;
    return NULL;
}

static void *consumer(void *arg)
{
    struct pair *q = arg;
    uint64_t sum = 0;
    long got = 0;
    unsigned spins = 0;
    while (got < q->items) {
        unsigned char *p = atomic_exchange_explicit(&q->stack, NULL, memory_order_acquire);
        if (!p) {
            if (++spins >= 64) {
                sched_yield();
                spins = 0;
            }
            continue;
        }
        long blocks = 0;
        while (p) {
            unsigned char *next;
            memcpy(&next, p, sizeof next);
            sum += check_stamp(p + 8, 4096 - 8, "xmalloc");
            free(p);
            p = next;
            blocks++;
        }
        got += blocks;
        atomic_fetch_add_explicit(&q->popped, blocks, memory_order_relaxed);
    }
    q->consumed = sum;
    return NULL;
}

struct role {
    struct pair *q;
    int consumer;
};

static void *run(void *arg)
{
    struct role *r = arg;
    return r->consumer ? consumer(r->q) : producer(r->q);
}

int main(int argc, char **argv)
{
    struct bench_opts o = bench_args(argc, argv, 2);
    if (o.threads % 2)
        bench_usage(argv[0]);
    int npairs = o.threads / 2;
    long items = scaled(BASE_ITEMS, o.scale), yields = 0;
    uint64_t sum = 0;
    struct pair *q = aligned_alloc(64, (size_t)npairs * sizeof *q);
    struct role *r = xmalloc((size_t)o.threads * sizeof *r);
    if (!q)
        abort();
    for (int i = 0; i < npairs; i++) {
        memset(&q[i], 0, sizeof q[i]);
        atomic_init(&q[i].stack, NULL);
        q[i].items = items;
        q[i].id = i;
    }
    for (int t = 0; t < o.threads; t++)
        r[t] = (struct role){ &q[t / 2], t % 2 };
    run_threads(o.threads, run, r, sizeof *r);
    for (int i = 0; i < npairs; i++) {
        if (q[i].produced != q[i].consumed) {
            fprintf(stderr, "xmalloc: pair %d produced %016llx != consumed %016llx\n", i,
                    (unsigned long long)q[i].produced, (unsigned long long)q[i].consumed);
            return 1;
        }
        sum = sum * 31 + q[i].consumed;
        yields += q[i].yields;
    }
    printf("xmalloc pairs=%d items/pair=%ld producer_yields=%ld\n", npairs, items, yields);
    printf("checksum %016llx\n", (unsigned long long)sum);
    free(r);
    free(q);
    return 0;
}
