/* realloc keeps every byte: grow one block from 1 byte to ~8 MiB and shrink it
 * back in steps that cross every power of two (2^k - 1, 2^k, 2^k + 1 and odd
 * sizes in between), verifying the whole position-dependent pattern after
 * every step.  A neighbour block is allocated between steps so growth cannot
 * always happen in place; the neighbours are checked too. */
#include "common.h"

#define MAXLOG 23

static size_t steps[4 * (MAXLOG + 1) + 8];
static int nsteps;

static void add_step(size_t n)
{
    if (nsteps == 0 || steps[nsteps - 1] != n)
        steps[nsteps++] = n;
}

int main(void)
{
    on_bestbuddy();
    for (int k = 0; k <= MAXLOG; k++) {
        size_t b = (size_t)1 << k;
        if (b > 1)
            add_step(b - 1);
        add_step(b);
        add_step(b + 1);
        add_step(b + b / 2 + 3); /* odd size between powers of two */
    }

    for (int variant = 0; variant < 2; variant++) {
        unsigned seed = 17u + (unsigned)variant;
        void *nb[2 * (sizeof steps / sizeof steps[0])];
        size_t nbsz[sizeof nb / sizeof nb[0]];
        int nnb = 0;
        size_t cur = 1;
        unsigned char *p = malloc(cur);
        CHECK(p != NULL);
        bb_fill(p, 0, cur, seed);
        /* grow, then shrink */
        for (int dir = 0; dir < 2; dir++) {
            for (int s = 0; s < nsteps; s++) {
                size_t n = dir == 0 ? steps[s] : steps[nsteps - 1 - s];
                if (n == cur)
                    continue;
                unsigned char *q = realloc(p, n);
                CHECKF(q != NULL, "realloc(%zu -> %zu) = NULL", cur, n);
                CHECK(bb_aligned(q, 16));
                size_t keep = cur < n ? cur : n;
                size_t bad = bb_verify(q, keep, seed);
                CHECKF(bad == (size_t)-1, "realloc %zu -> %zu: byte %zu lost (%p -> %p)", cur, n,
                       bad, (void *)p, (void *)q);
                if (n > cur)
                    bb_fill(q, cur, n, seed);
                p = q;
                cur = n;
                /* variant 1: pin a small neighbour after the block */
                if (variant == 1 && nnb < (int)(sizeof nb / sizeof nb[0])) {
                    size_t m = 1 + (size_t)(s % 13) * 24;
                    nb[nnb] = malloc(m);
                    CHECK(nb[nnb] != NULL);
                    nbsz[nnb] = m;
                    bb_fill(nb[nnb], 0, m, 1000u + (unsigned)nnb);
                    nnb++;
                }
            }
        }
        CHECK(bb_verify(p, cur, seed) == (size_t)-1);
        free(p);
        for (int i = 0; i < nnb; i++) {
            CHECKF(bb_verify(nb[i], nbsz[i], 1000u + (unsigned)i) == (size_t)-1,
                   "neighbour block %d damaged by realloc", i);
            free(nb[i]);
        }
    }

    /* many blocks at once, each bounced across size classes */
    enum { NB = 64 };
    unsigned char *blk[NB];
    size_t sz[NB];
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < NB; i++) {
        sz[i] = 1 + bb_rand(&rng) % 300;
        blk[i] = malloc(sz[i]);
        CHECK(blk[i] != NULL);
        bb_fill(blk[i], 0, sz[i], (unsigned)i);
    }
    for (int round = 0; round < 2000; round++) {
        int i = (int)(bb_rand(&rng) % NB);
        int lg = (int)(bb_rand(&rng) % 19); /* up to 512 KiB */
        size_t n = 1 + bb_rand(&rng) % ((size_t)1 << lg);
        unsigned char *q = realloc(blk[i], n);
        CHECK(q != NULL);
        size_t keep = sz[i] < n ? sz[i] : n;
        CHECKF(bb_verify(q, keep, (unsigned)i) == (size_t)-1, "realloc %zu -> %zu lost data",
               sz[i], n);
        if (n > sz[i])
            bb_fill(q, sz[i], n, (unsigned)i);
        blk[i] = q;
        sz[i] = n;
    }
    for (int i = 0; i < NB; i++) {
        CHECK(bb_verify(blk[i], sz[i], (unsigned)i) == (size_t)-1);
        free(blk[i]);
    }
    return 0;
}
