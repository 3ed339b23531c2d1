/* transfer: a long-running stress of long-lived sets and transfers between
 * threads (after mimalloc's stress test).
 *
 * ROUNDS rounds; each round starts N fresh threads (default 2) and joins them,
 * so threads keep exiting while blocks they allocated live on elsewhere.  A
 * thread first allocates a long-lived set of RETAINED blocks, which it frees
 * only when it ends.  Then, per step, it allocates a block into a random slot
 * of its working set of DATA slots (freeing what was there), or frees a random
 * slot, or swaps a random slot with one of TRANSFER shared slots by an atomic
 * exchange: those blocks move between threads and outlive the thread and the
 * round that allocated them.  Sizes are 8..512 B log-uniform, one in 100 up to
 * 16 times that and one in 10000 up to 256 times.  Every block is stamped and
 * checked before it is freed (common.h).  The shared slots are emptied at the
 * end.
 *
 * The checksum is the sum of the stamps allocated (which blocks are allocated
 * does not depend on the interleaving); the sum of the stamps freed must match.
 * The result line gives the peak RSS the kernel saw (VmHWM).
 *
 *   transfer [--scale F] [--threads N]
 */
#include <stdatomic.h>

#include "common.h"

#define ROUNDS 20
#define DATA 8192
#define RETAINED 4096
#define TRANSFER 4096
#define MAX_SIZE (512 * 256)
#define BASE_STEPS 1200000L /* per thread and round */

struct worker {
    int id, round;
    long steps;
    uint64_t allocated, freed;
};

static _Atomic(unsigned char *) transfer[TRANSFER];

static unsigned char *make_block(uint64_t *s, uint64_t *sum)
{
    size_t n = rng_logsize(s, 8, 512);
    uint64_t r = rng_below(s, 10000);
    if (r == 0)
        n *= 256;
    else if (r < 100)
        n *= 16;
    unsigned char *p = xmalloc(n);
    *sum += stamp_block(p, n, (uint32_t)(rng_next(s) >> 32));
    return p;
}

static uint64_t drop_block(unsigned char *p)
{
    if (!p)
        return 0;
    uint64_t stamp = check_stamp(p, MAX_SIZE, "transfer");
    free(p);
    return stamp;
}

static void *run(void *arg)
{
    struct worker *w = arg;
    uint64_t s = 0x9216d5d98979fb1bULL ^ ((uint64_t)w->round << 32) ^ (uint64_t)w->id * 0xd1310ba698dfb5acULL;
    unsigned char **retained = xmalloc(RETAINED * sizeof *retained);
    unsigned char **data = calloc(DATA, sizeof *data);
    if (!data)
        abort();
    for (int i = 0; i < RETAINED; i++)
        retained[i] = make_block(&s, &w->allocated);
    for (long k = 0; k < w->steps; k++) {
        size_t i = (size_t)rng_below(&s, DATA);
        uint64_t r = rng_below(&s, 100);
        if (r < 50) {
            w->freed += drop_block(data[i]);
            data[i] = make_block(&s, &w->allocated);
        } else if (r < 75) {
            w->freed += drop_block(data[i]);
            data[i] = NULL;
        } else {
            data[i] = atomic_exchange_explicit(&transfer[rng_below(&s, TRANSFER)], data[i],
                                               memory_order_acq_rel);
        }
    }
    for (int i = 0; i < DATA; i++)
        w->freed += drop_block(data[i]);
    for (int i = 0; i < RETAINED; i++)
        w->freed += drop_block(retained[i]);
    free(data);
    free(retained);
    return NULL;
}

int main(int argc, char **argv)
{
    struct bench_opts o = bench_args(argc, argv, 2);
    long steps = scaled(BASE_STEPS, o.scale);
    uint64_t allocated = 0, freed = 0;
    struct worker *w = xmalloc((size_t)o.threads * sizeof *w);
    for (int r = 0; r < ROUNDS; r++) {
        for (int t = 0; t < o.threads; t++)
            w[t] = (struct worker){ .id = t, .round = r, .steps = steps };
        run_threads(o.threads, run, w, sizeof *w);
        for (int t = 0; t < o.threads; t++) {
            allocated += w[t].allocated;
            freed += w[t].freed;
        }
    }
    for (int i = 0; i < TRANSFER; i++)
        freed += drop_block(atomic_load(&transfer[i]));
    if (freed != allocated) {
        fprintf(stderr, "transfer: freed %016llx != allocated %016llx\n", (unsigned long long)freed,
                (unsigned long long)allocated);
        return 1;
    }
    printf("transfer threads=%d rounds=%d steps/thread/round=%ld vmhwm_kib=%ld\n", o.threads, ROUNDS, steps,
           peak_rss_kib());
    printf("checksum %016llx\n", (unsigned long long)allocated);
    free(w);
    return 0;
}
