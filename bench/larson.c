/* larson: round-robin handover of slots between threads (after Larson and
 * Krishnan's server benchmark).
 *
 * SLOTS live blocks per thread, 8..512 B (one in 16 of 513 B..8 KiB).  The
 * slots are cut into one slice per thread.  In round r, thread t works on
 * slice (t + r) mod N: OPS_PER_ROUND times it picks a random slot of the slice,
 * checks and frees its block and puts a new one of a random size there.  A
 * barrier ends each round, so every slice passes to the next thread and almost
 * every free is of a block that another thread allocated.
 *
 * Each block is stamped (common.h) with its size and a tag that the slot also
 * records; whoever frees it checks every stamped byte and that the stamp is the
 * slot's.  The checksum is the sum of the stamps freed, which does not depend
 * on the interleaving.
 *
 *   larson [--scale F] [--threads N]     default 2 threads
 */
#include "common.h"

#define SLOTS 4096 /* per thread */
#define OPS_PER_ROUND 4096
#define BASE_ROUNDS 1500L

struct slot {
    unsigned char *p;
    uint64_t stamp;
};

struct worker {
    int id;
    uint64_t sum, freed;
};

static int nthreads;
static long rounds;
static struct slot *slots; /* nthreads * SLOTS */
static pthread_barrier_t barrier;

static size_t pick_size(uint64_t *s)
{
    return rng_below(s, 16) == 0 ? rng_range(s, 513, 8192) : rng_range(s, 8, 512);
}

static void refill(struct slot *sl, uint64_t *s)
{
    size_t n = pick_size(s);
    sl->p = xmalloc(n);
    sl->stamp = stamp_block(sl->p, n, (uint32_t)(rng_next(s) >> 32));
}

static void *run(void *arg)
{
    struct worker *w = arg;
    for (long r = 0; r < rounds; r++) {
        int slice = (int)((w->id + r) % nthreads);
        struct slot *base = slots + (size_t)slice * SLOTS;
        /* The stream depends on the slice and the round, not on the thread. */
        uint64_t s = 0x13198a2e03707344ULL ^ ((uint64_t)slice << 40) ^ (uint64_t)r * 0x9e3779b97f4a7c15ULL;
        for (int k = 0; k < OPS_PER_ROUND; k++) {
            struct slot *sl = base + rng_below(&s, SLOTS);
            if (check_stamp(sl->p, 8192, "larson") != sl->stamp) {
                fprintf(stderr, "larson: slot holds a block of another stamp\n");
                abort();
            }
            w->sum += sl->stamp;
            w->freed++;
            free(sl->p);
            refill(sl, &s);
        }
        pthread_barrier_wait(&barrier);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct bench_opts o = bench_args(argc, argv, 2);
    uint64_t s = 0x243f6a8885a308d3ULL, sum = 0, freed = 0;

    nthreads = o.threads;
    rounds = scaled(BASE_ROUNDS, o.scale);
    slots = xmalloc((size_t)nthreads * SLOTS * sizeof *slots);
    for (size_t i = 0; i < (size_t)nthreads * SLOTS; i++)
        refill(&slots[i], &s);
    struct worker *w = xmalloc((size_t)nthreads * sizeof *w);
    for (int t = 0; t < nthreads; t++)
        w[t] = (struct worker){ .id = t };
    pthread_barrier_init(&barrier, NULL, (unsigned)nthreads);
    run_threads(nthreads, run, w, sizeof *w);
    pthread_barrier_destroy(&barrier);
    for (int t = 0; t < nthreads; t++) {
        sum += w[t].sum;
        freed += w[t].freed;
    }
    for (size_t i = 0; i < (size_t)nthreads * SLOTS; i++) {
        sum += check_stamp(slots[i].p, 8192, "larson");
        free(slots[i].p);
    }
    if (freed != (uint64_t)nthreads * (uint64_t)rounds * OPS_PER_ROUND) {
        fprintf(stderr, "larson: %llu blocks replaced, expected %llu\n", (unsigned long long)freed,
                (unsigned long long)nthreads * (unsigned long long)rounds * OPS_PER_ROUND);
        return 1;
    }
    printf("larson threads=%d rounds=%ld replaced=%llu\n", nthreads, rounds, (unsigned long long)freed);
    printf("checksum %016llx\n", (unsigned long long)sum);
    free(w);
    free(slots);
    return 0;
}
