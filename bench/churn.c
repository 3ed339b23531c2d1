/* churn: small-object churn.
 *
 * Each thread keeps a working set of WS live blocks (random sizes 8..512
 * bytes) and, OPS times, picks a random slot, checks and frees its block and
 * puts a fresh block of a new random size there, touching every cache line of
 * it.  This is the classic "lots of small objects with random lifetimes" load
 * (interpreters, compilers, object graphs).
 *
 *   churn [--scale F] [--threads N]
 *
 * With --threads N every thread does the full amount of work on its own
 * working set; threads share nothing, so time(N)/time(1) shows how well the
 * allocator scales (ideal: equal times, up to the number of cores).
 */
#include <pthread.h>

#include "common.h"

#define WS 20000
#define BASE_OPS 8000000L

struct worker {
    pthread_t tid;
    int id;
    long ops;
    uint64_t sum;
};

static void *run(void *arg)
{
    struct worker *w = arg;
    uint64_t s = 0x243f6a8885a308d3ULL + (uint64_t)w->id * 0x13198a2e03707344ULL;
    unsigned char **blk = xmalloc(WS * sizeof *blk);
    uint32_t *len = xmalloc(WS * sizeof *len);
    uint64_t sum = 0;

    for (long i = 0; i < WS; i++) {
        size_t n = rng_range(&s, 8, 512);
        blk[i] = xmalloc(n);
        len[i] = (uint32_t)n;
        touch_lines(blk[i], n, (unsigned char)i);
    }
    for (long k = 0; k < w->ops; k++) {
        size_t i = (size_t)rng_below(&s, WS);
        sum += check_lines(blk[i], len[i], (unsigned char)i) + len[i];
        free(blk[i]);
        size_t n = rng_range(&s, 8, 512);
        blk[i] = xmalloc(n);
        len[i] = (uint32_t)n;
        touch_lines(blk[i], n, (unsigned char)i);
    }
    for (long i = 0; i < WS; i++) {
        sum += check_lines(blk[i], len[i], (unsigned char)i) + len[i];
        free(blk[i]);
    }
    free(blk);
    free(len);
    w->sum = sum;
    return NULL;
}

int main(int argc, char **argv)
{
    struct bench_opts o = bench_args(argc, argv, 1);
    long ops = scaled(BASE_OPS, o.scale);
    struct worker *w = xmalloc((size_t)o.threads * sizeof *w);
    uint64_t sum = 0;

    for (int t = 0; t < o.threads; t++) {
        w[t].id = t;
        w[t].ops = ops;
        w[t].sum = 0;
    }
    if (o.threads == 1) {
        run(&w[0]);
    } else {
        for (int t = 0; t < o.threads; t++)
            if (pthread_create(&w[t].tid, NULL, run, &w[t]) != 0) {
                perror("pthread_create");
                return 1;
            }
        for (int t = 0; t < o.threads; t++)
            pthread_join(w[t].tid, NULL);
    }
    for (int t = 0; t < o.threads; t++)
        sum = sum * 31 + w[t].sum;
    printf("churn threads=%d ops/thread=%ld\n", o.threads, ops);
    printf("checksum %016llx\n", (unsigned long long)sum);
    free(w);
    return 0;
}
