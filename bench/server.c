/* server: multi-threaded request-handler load with cross-thread frees.
 *
 * THREADS workers (default 4) each keep a pool of POOL live blocks (80% of
 * sizes 16..512 B, 18% 512 B..4 KiB, 2% 4..32 KiB) and replace them at
 * random.  A quarter of the replaced blocks are not freed by their owner but
 * handed to another worker's mailbox, and that worker frees them: memory
 * allocated on one thread is freed on another, as when requests are passed
 * between stages of a server.
 *
 * Mailboxes are intrusive lock-free stacks (the block's first word is the
 * link): senders push with compare-and-swap, the owner takes the whole list
 * with one atomic exchange every 32 operations (no ABA: nobody pops single
 * nodes).  Each block carries a stamp in its second word; the checksum is the
 * sum of stamps of all freed blocks, which does not depend on which thread
 * freed them, so it is deterministic.
 *
 *   server [--scale F] [--threads N]
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "common.h"

#define POOL 8192
#define BASE_OPS 1200000L /* per thread */

struct mailbox {
    _Atomic(void *) head;
    char pad[64 - sizeof(void *)];
};

struct worker {
    pthread_t tid;
    int id;
    long ops;
    uint64_t sum, freed;
};

static int nthreads;
static struct mailbox *boxes;
static _Atomic int finished; /* workers past their last send */

static size_t pick_size(uint64_t *s)
{
    uint64_t r = rng_below(s, 100);
    if (r < 80)
        return rng_range(s, 16, 512);
    if (r < 98)
        return rng_range(s, 513, 4096);
    return rng_range(s, 4097, 32768);
}

/* Block layout: word 0 = mailbox link, word 1 = stamp (size in the low 32
 * bits, a tag in the high 32); the tag's low byte is also in the last byte. */
static unsigned char *make_block(uint64_t *s)
{
    size_t n = pick_size(s);
    unsigned char *p = xmalloc(n);
    uint64_t tag = rng_next(s) >> 32;
    uint64_t stamp = (tag << 32) | n;
    for (size_t i = 64; i < n; i += 64)
        p[i] = (unsigned char)i;
    memcpy(p + 8, &stamp, 8);
    p[n - 1] = (unsigned char)tag;
    return p;
}

static uint64_t drop_block(unsigned char *p)
{
    uint64_t stamp;
    memcpy(&stamp, p + 8, 8);
    size_t n = (size_t)(uint32_t)stamp;
    if (n < 16 || n > 32768 || p[n - 1] != (unsigned char)(stamp >> 32)) {
        fprintf(stderr, "server: block %p corrupted\n", (void *)p);
        abort();
    }
    free(p);
    return stamp;
}

static void send_block(int to, unsigned char *p)
{
    void *old = atomic_load_explicit(&boxes[to].head, memory_order_relaxed);
    do {
        memcpy(p, &old, sizeof old);
    } while (!atomic_compare_exchange_weak_explicit(&boxes[to].head, &old, (void *)p,
                                                    memory_order_release, memory_order_relaxed));
}

static void drain(struct worker *w)
{
    unsigned char *p = atomic_exchange_explicit(&boxes[w->id].head, NULL, memory_order_acquire);
    while (p) {
        unsigned char *next;
        memcpy(&next, p, sizeof next);
        w->sum += drop_block(p);
        w->freed++;
        p = next;
    }
}

static void *run(void *arg)
{
    struct worker *w = arg;
    uint64_t s = 0xa4093822299f31d0ULL + (uint64_t)w->id * 0x082efa98ec4e6c89ULL;
    unsigned char **pool = xmalloc(POOL * sizeof *pool);

    for (long i = 0; i < POOL; i++)
        pool[i] = make_block(&s);
    for (long k = 0; k < w->ops; k++) {
        size_t i = (size_t)rng_below(&s, POOL);
        if (nthreads > 1 && rng_below(&s, 4) == 0) {
            int to = (w->id + 1 + (int)rng_below(&s, (uint64_t)nthreads - 1)) % nthreads;
            send_block(to, pool[i]);
        } else {
            w->sum += drop_block(pool[i]);
            w->freed++;
        }
        pool[i] = make_block(&s);
        if ((k & 31) == 31)
            drain(w);
    }
    /* A worker that is done keeps taking its mail until every worker is: a server's
     * stages go on consuming while the others finish, and mail left until the slowest
     * worker is done would pile up by however far the scheduler let it lag, which is
     * what the peak RSS would then measure.  Once all are done, nobody sends any more:
     * drain once more and free the pool. */
    atomic_fetch_add_explicit(&finished, 1, memory_order_acq_rel);
    while (atomic_load_explicit(&finished, memory_order_acquire) < nthreads) {
        drain(w);
        sched_yield();
    }
    drain(w);
    for (long i = 0; i < POOL; i++) {
        w->sum += drop_block(pool[i]);
        w->freed++;
    }
    free(pool);
    return NULL;
}

int main(int argc, char **argv)
{
    struct bench_opts o = bench_args(argc, argv, 4);
    long ops = scaled(BASE_OPS, o.scale);
    uint64_t sum = 0, freed = 0;

    nthreads = o.threads;
    boxes = xmalloc((size_t)nthreads * sizeof *boxes);
    for (int t = 0; t < nthreads; t++)
        atomic_init(&boxes[t].head, NULL);
    struct worker *w = xmalloc((size_t)nthreads * sizeof *w);
    for (int t = 0; t < nthreads; t++) {
        w[t].id = t;
        w[t].ops = ops;
        w[t].sum = w[t].freed = 0;
        if (pthread_create(&w[t].tid, NULL, run, &w[t]) != 0) {
            perror("pthread_create");
            return 1;
        }
    }
    for (int t = 0; t < nthreads; t++) {
        pthread_join(w[t].tid, NULL);
        sum += w[t].sum;
        freed += w[t].freed;
    }
    if (freed != (uint64_t)nthreads * (uint64_t)(ops + POOL)) {
        fprintf(stderr, "server: freed %llu blocks, expected %llu\n", (unsigned long long)freed,
                (unsigned long long)nthreads * (unsigned long long)(ops + POOL));
        return 1;
    }
    printf("server threads=%d ops/thread=%ld\n", nthreads, ops);
    printf("checksum %016llx\n", (unsigned long long)sum);
    free(w);
    free(boxes);
    return 0;
}
