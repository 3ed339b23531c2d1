/* churn-random: small-object churn at the allocator's pace.
 *
 * Each thread keeps WS live blocks of 8..512 B and, OPS times, frees the block
 * of a random slot and allocates one of a new random size in its place: the
 * same shape as churn.c, but each block's first word alone is written, with a
 * stamp (its size and a random tag), and checked against the slot's copy
 * before the block is freed, instead of every cache line written and the first
 * and last read back (churn.c's touch_lines).  churn's line writes and reads
 * cost as much as the allocator, and they bring the block's lines into the
 * cache before free reads its metadata, so churn hides what a program that
 * does little with each block pays: the cache misses on the allocator's own
 * metadata for a random block, and its instructions.  Even the last byte of
 * stamp_block (common.h) is left out here: it is a second line for half the
 * blocks.
 *
 *   churn-random [--scale F] [--threads N]
 *
 * With --threads N every thread does the full work on its own set, sharing
 * nothing (as churn --threads N).
 */
#include "common.h"

#define WS 20000
#define BASE_OPS 50000000L

struct worker {
    int id;
    long ops;
    uint64_t sum;
};

/* The stamp in slot i's block, checked against the slot's copy. */
static uint64_t take(unsigned char **blk, const uint64_t *stamp, size_t i)
{
    uint64_t got;
    memcpy(&got, blk[i], 8);
    if (got != stamp[i]) {
        fprintf(stderr, "churn-random: slot %zu holds a block of another stamp\n", i);
        abort();
    }
    return got;
}

static void *run(void *arg)
{
    struct worker *w = arg;
    uint64_t s = 0x886a3f0f5b0c8d32ULL + (uint64_t)w->id * 0x7b54a41dc25a59b5ULL, sum = 0;
    unsigned char **blk = xmalloc(WS * sizeof *blk);
    uint64_t *stamp = xmalloc(WS * sizeof *stamp);

    for (long i = 0; i < WS; i++) {
        size_t n = rng_range(&s, 8, 512);
        blk[i] = xmalloc(n);
        stamp[i] = (rng_next(&s) & 0xffffffff00000000ULL) | n;
        memcpy(blk[i], &stamp[i], 8);
    }
    for (long k = 0; k < w->ops; k++) {
        size_t i = (size_t)rng_below(&s, WS);
        sum += take(blk, stamp, i);
        free(blk[i]);
        size_t n = rng_range(&s, 8, 512);
        blk[i] = xmalloc(n);
        stamp[i] = (rng_next(&s) & 0xffffffff00000000ULL) | n;
        memcpy(blk[i], &stamp[i], 8);
    }
    for (long i = 0; i < WS; i++) {
        sum += take(blk, stamp, (size_t)i);
        free(blk[i]);
    }
    free(blk);
    free(stamp);
    w->sum = sum;
    return NULL;
}

int main(int argc, char **argv)
{
    struct bench_opts o = bench_args(argc, argv, 1);
    long ops = scaled(BASE_OPS, o.scale);
    uint64_t sum = 0;
    struct worker *w = xmalloc((size_t)o.threads * sizeof *w);
    for (int t = 0; t < o.threads; t++)
        w[t] = (struct worker){ .id = t, .ops = ops };
    if (o.threads == 1)
        run(&w[0]);
    else
        run_threads(o.threads, run, w, sizeof *w);
    for (int t = 0; t < o.threads; t++)
        sum = sum * 31 + w[t].sum;
    printf("churn-random threads=%d ops/thread=%ld\n", o.threads, ops);
    printf("checksum %016llx\n", (unsigned long long)sum);
    free(w);
    return 0;
}
