/* mix: long-lived mix with short-lived traffic (fragmentation load).
 *
 * A set of long-lived blocks (up to LONG of them) grows and shrinks in
 * phases: even phases grow it to LONG blocks, odd phases shrink it to LONG/4
 * by freeing blocks chosen at random, which leaves holes all over the heap.
 * The size distribution of new long-lived blocks changes from phase to phase
 * (log-uniform 16 B up to 512 B .. 16 KiB, plus 0.5% of 16..256 KiB), so the
 * holes left by one phase are the wrong size for the next.  Meanwhile every
 * step allocates one short-lived block (16 B .. 4 KiB) that lives for SHORT
 * steps (a FIFO), the request/temporary traffic of a long-running program.
 *
 * Prints the peak and final live bytes (what the program holds) and the RSS
 * at the end, before teardown: RSS far above the final live bytes means the
 * allocator kept fragmented memory it could not give back.
 *
 *   mix [--scale F]
 */
#include "common.h"

#define LONG 20000
#define SHORT 4096
#define PHASES 10
#define BASE_STEPS 250000L /* per phase */

struct blk {
    unsigned char *p;
    size_t n;
};

static size_t live, peak;

static struct blk get(size_t n)
{
    struct blk b = { xmalloc(n), n };
    touch_lines(b.p, n, (unsigned char)n);
    live += n;
    if (live > peak)
        peak = live;
    return b;
}

static uint64_t put(struct blk b)
{
    uint64_t c = check_lines(b.p, b.n, (unsigned char)b.n) + b.n;
    free(b.p);
    live -= b.n;
    return c;
}

static size_t long_size(uint64_t *s, int phase)
{
    if (rng_below(s, 200) == 0)
        return rng_logsize(s, 16384, 262144);
    return rng_logsize(s, 16, (size_t)512 << (phase % 6));
}

int main(int argc, char **argv)
{
    struct bench_opts o = bench_args(argc, argv, 1);
    long steps = scaled(BASE_STEPS, o.scale);
    uint64_t s = 0xc0ac29b7c97c50ddULL, sum = 0;
    struct blk *lg = xmalloc(LONG * sizeof *lg);
    struct blk *sh = xmalloc(SHORT * sizeof *sh);
    size_t nlong = 0, sp = 0;

    memset(sh, 0, SHORT * sizeof *sh);
    for (int ph = 0; ph < PHASES; ph++) {
        size_t target = (ph % 2 == 0) ? LONG : LONG / 4;
        for (long k = 0; k < steps; k++) {
            /* short-lived traffic: FIFO of SHORT blocks */
            if (sh[sp].p)
                sum += put(sh[sp]);
            sh[sp] = get(rng_logsize(&s, 16, 4096));
            sp = (sp + 1) % SHORT;

            /* long-lived set: move towards the phase's target, else replace */
            if (rng_below(&s, 2) == 0)
                continue;
            if (nlong < target) {
                lg[nlong++] = get(long_size(&s, ph));
            } else {
                size_t i = (size_t)rng_below(&s, nlong);
                sum += put(lg[i]);
                if (nlong > target)
                    lg[i] = lg[--nlong];
                else
                    lg[i] = get(long_size(&s, ph));
            }
        }
    }
    size_t final_live = live, final_rss = current_rss();
    for (size_t i = 0; i < nlong; i++)
        sum += put(lg[i]);
    for (size_t i = 0; i < SHORT; i++)
        if (sh[i].p)
            sum += put(sh[i]);
    free(lg);
    free(sh);
    printf("mix steps=%ld peak_live_bytes=%zu final_live_bytes=%zu final_rss_bytes=%zu\n",
           steps * PHASES, peak, final_live, final_rss);
    printf("checksum %016llx %zu %zu\n", (unsigned long long)sum, peak, final_live);
    return 0;
}
