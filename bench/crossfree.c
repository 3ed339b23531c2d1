/* crossfree: random cross-thread frees over many size classes (after
 * rpmalloc's benchmark).
 *
 * N threads (default 2) share SHARED slots.  Each step a thread allocates a
 * block of 16 B..32 KiB, log-uniform (common.h rng_logsize, so every power-of-
 * two class is as likely), and stamps it (common.h).  Half the time it swaps
 * the block into a random shared slot with one atomic exchange and frees what
 * it took out, most often a block another thread allocated; otherwise it
 * replaces a random block of its own LOCAL ones (local churn).  Every freed
 * block is checked first.
 *
 * Which thread frees a block depends on the interleaving, but which blocks are
 * allocated does not: the checksum is the sum of the stamps allocated, and the
 * sum of the stamps freed (the shared slots are emptied at the end) must match
 * it, or the program fails.
 *
 *   crossfree [--scale F] [--threads N]
 */
#include <stdatomic.h>

#include "common.h"

#define SHARED 4096
#define LOCAL 1024
#define MAX_SIZE 32768
#define BASE_OPS 4000000L /* per thread */

struct worker {
    int id;
    long ops;
    uint64_t allocated, freed;
};

static _Atomic(unsigned char *) shared[SHARED];

static unsigned char *make_block(uint64_t *s, uint64_t *sum)
{
    size_t n = rng_logsize(s, 16, MAX_SIZE);
    unsigned char *p = xmalloc(n);
    *sum += stamp_block(p, n, (uint32_t)(rng_next(s) >> 32));
    return p;
}

static uint64_t drop_block(unsigned char *p)
{
    uint64_t stamp = check_stamp(p, MAX_SIZE, "crossfree");
    free(p);
    return stamp;
}

static void *run(void *arg)
{
    struct worker *w = arg;
    uint64_t s = 0xc0ac29b7c97c50ddULL + (uint64_t)w->id * 0x3f84d5b5b5470917ULL;
    unsigned char *local[LOCAL];
    for (int i = 0; i < LOCAL; i++)
        local[i] = make_block(&s, &w->allocated);
    for (long k = 0; k < w->ops; k++) {
        unsigned char *p = make_block(&s, &w->allocated);
        if (rng_below(&s, 2)) {
            unsigned char *old = atomic_exchange_explicit(&shared[rng_below(&s, SHARED)], p,
                                                          memory_order_acq_rel);
            if (old)
                w->freed += drop_block(old);
        } else {
            size_t i = (size_t)rng_below(&s, LOCAL);
            w->freed += drop_block(local[i]);
            local[i] = p;
        }
    }
    for (int i = 0; i < LOCAL; i++)
        w->freed += drop_block(local[i]);
    return NULL;
}

int main(int argc, char **argv)
{
    struct bench_opts o = bench_args(argc, argv, 2);
    long ops = scaled(BASE_OPS, o.scale);
    uint64_t allocated = 0, freed = 0;
    struct worker *w = xmalloc((size_t)o.threads * sizeof *w);
    for (int t = 0; t < o.threads; t++)
        w[t] = (struct worker){ .id = t, .ops = ops };
    run_threads(o.threads, run, w, sizeof *w);
    for (int t = 0; t < o.threads; t++) {
        allocated += w[t].allocated;
        freed += w[t].freed;
    }
    for (int i = 0; i < SHARED; i++) {
        unsigned char *p = atomic_load(&shared[i]);
        if (p)
            freed += drop_block(p);
    }
    if (freed != allocated) {
        fprintf(stderr, "crossfree: freed %016llx != allocated %016llx\n", (unsigned long long)freed,
                (unsigned long long)allocated);
        return 1;
    }
    printf("crossfree threads=%d ops/thread=%ld\n", o.threads, ops);
    printf("checksum %016llx\n", (unsigned long long)allocated);
    free(w);
    return 0;
}
