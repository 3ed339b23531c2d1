/* Multi-threaded allocator stress test, independent of the benchmarks and of the
 * tests/c helpers: any malloc can be put under it (LD_PRELOAD or a static link).
 *
 *   stress [THREADS [OPS_PER_THREAD [SEED [SLOTS]]]]     defaults: 4 200000 1 1024
 *
 * Every thread owns SLOTS block slots and runs OPS_PER_THREAD random operations on them:
 *
 *   - allocate into an empty slot with malloc, calloc, realloc(NULL, n), memalign,
 *     posix_memalign or aligned_alloc; sizes log-uniform, three in four from 1 B to 1 KiB
 *     and the rest from 1 B to 256 KiB, and one allocation in 8,000 of 4 MiB plus a few
 *     bytes;
 *   - realloc a block to a new random size (growing, shrinking, or realloc(p, 0));
 *   - free a block;
 *   - hand a block to another thread, either through that thread's lock-free inbox (a
 *     Treiber stack of nodes that are themselves malloc'd and freed by the receiver) or
 *     by swapping it into a mutex-protected exchange table.  The receiver frees the
 *     block or adopts it into one of its slots, where it may later be realloc'd or
 *     handed on again: blocks are freed and realloc'd by threads other than the one that
 *     allocated them.
 *
 * What it checks:
 *   - every result is non-NULL, aligned to 16 bytes (and to the requested alignment),
 *     and malloc_usable_size(p) >= the requested size;
 *   - calloc memory reads as zero over the requested size;
 *   - every block is filled over its whole usable size with a pattern derived from a
 *     per-block tag and the byte offset, and the whole pattern is verified before every
 *     free, realloc and handoff, and when a block is received: any overlap between two
 *     live blocks, any write by the allocator into a live block, a wrong usable size or
 *     a block given to two owners shows up as a mismatch;
 *   - realloc keeps the first min(old size, new size) bytes.
 *
 * On the first mismatch it prints the block, the offset, the expected and found bytes on
 * stderr and exits 1.  Otherwise it prints the operations done, per kind, and exits 0.
 *
 * BESTBUDDY_EXPECT=<backend> (as in tests/c): the program must run on bestbuddy with that
 * heap ("best-fit", "buddy"); BESTBUDDY_EXPECT=glibc: it must not run on bestbuddy.
 *
 * Build: cc -O2 -g -fno-builtin -pthread stress.c -o stress (-fno-builtin keeps the
 * compiler from removing or merging malloc/free pairs).
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern const char *bestbuddy_backend(void) __attribute__((weak));

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)
#define MAX_THREADS 256

/* ------------------------------------------------------------- random -- */

static inline uint64_t rnd(uint64_t *s) /* xorshift64* */
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static uint64_t splitmix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* ------------------------------------------------------------- blocks -- */

struct blk {
    unsigned char *p;
    size_t n;     /* requested size */
    size_t u;     /* bytes filled with the pattern: malloc_usable_size at allocation */
    uint64_t tag; /* nonzero */
};

/* Word access that -fno-builtin cannot turn into memcpy calls. */
typedef uint64_t __attribute__((may_alias, aligned(1))) u64_any;

/* The pattern: byte i of a block is byte (i % 8) of word(tag, i / 8). */
static inline uint64_t word(uint64_t tag, size_t w)
{
    return tag ^ ((uint64_t)w * 0x9E3779B97F4A7C15ull);
}

static inline unsigned char pbyte(uint64_t tag, size_t i)
{
    return (unsigned char)(word(tag, i / 8) >> (8 * (i % 8)));
}

static void fail_blk(const struct blk *b, size_t i, unsigned expect, unsigned got, const char *when)
{
    fflush(stdout);
    fprintf(stderr,
            "stress: MISMATCH %s: block %p (requested %zu, usable %zu, tag %016llx): "
            "byte %zu is 0x%02x, expected 0x%02x\n",
            when, (void *)b->p, b->n, b->u, (unsigned long long)b->tag, i, got, expect);
    _exit(1);
}

static void die(const char *what)
{
    fflush(stdout);
    fprintf(stderr, "stress: FAILED: %s\n", what);
    _exit(1);
}

/* Fill [from, to) with the block's pattern (little-endian words, as pbyte reads). */
static void mark(const struct blk *b, size_t from, size_t to)
{
    size_t i = from;
    for (; i < to && (i & 7) != 0; i++)
        b->p[i] = pbyte(b->tag, i);
    for (; i + 8 <= to; i += 8) {
        *(u64_any *)(b->p + i) = word(b->tag, i / 8);
    }
    for (; i < to; i++)
        b->p[i] = pbyte(b->tag, i);
}

static _Atomic uint64_t bytes_checked;

/* Verify [0, to) against the pattern. */
static void verify(const struct blk *b, size_t to, const char *when)
{
    size_t i = 0;
    for (; i + 8 <= to; i += 8) {
        if (*(const u64_any *)(b->p + i) != word(b->tag, i / 8)) {
            for (size_t k = i; k < i + 8; k++)
                if (b->p[k] != pbyte(b->tag, k))
                    fail_blk(b, k, pbyte(b->tag, k), b->p[k], when);
        }
    }
    for (; i < to; i++)
        if (b->p[i] != pbyte(b->tag, i))
            fail_blk(b, i, pbyte(b->tag, i), b->p[i], when);
}

/* ---------------------------------------------------------- handoffs -- */

struct node { /* one block in flight to another thread */
    struct node *next;
    struct blk b;
};

struct inbox {
    _Atomic(struct node *) head;
    char pad[64 - sizeof(void *)];
};

#define EXCHANGE 1024
static struct blk exchange[EXCHANGE];
static pthread_mutex_t ex_lock = PTHREAD_MUTEX_INITIALIZER;

static struct inbox inboxes[MAX_THREADS];
static int nthreads;
static long ops_per_thread;
static size_t nslots;
static uint64_t seed;

/* ------------------------------------------------------------- counts -- */

enum {
    C_MALLOC, C_CALLOC, C_REALLOC_NULL, C_MEMALIGN, C_POSIX_MEMALIGN, C_ALIGNED_ALLOC,
    C_REALLOC, C_REALLOC_ZERO, C_FREE, C_SEND_INBOX, C_SWAP_EXCHANGE, C_RECV_FREE,
    C_RECV_ADOPT, C_HUGE, C_NKINDS
};
static const char *const cname[C_NKINDS] = {
    "malloc", "calloc", "realloc(NULL)", "memalign", "posix_memalign", "aligned_alloc",
    "realloc", "realloc(p,0)", "free", "sent-inbox", "swapped-exchange", "received-freed",
    "received-adopted", "4MiB-blocks",
};
static _Atomic uint64_t counts[C_NKINDS];

struct worker {
    int id;
    uint64_t rng;
    struct blk *slot;
    uint64_t c[C_NKINDS];
    uint64_t checked;
};

/* ------------------------------------------------------------ the ops -- */

static size_t rand_size(uint64_t *rng, int *huge)
{
    uint64_t r = rnd(rng);
    if (r % 8000 == 0) {
        *huge = 1;
        return 4 * MIB + (size_t)(r >> 32) % 8192;
    }
    *huge = 0;
    /* three in four up to 1 KiB (the sizes programs use most), the rest up to 256 KiB */
    unsigned lg = (unsigned)((r >> 11) % ((r >> 8) % 4 != 0 ? 11 : 19));
    size_t top = (size_t)1 << lg;
    return top / 2 + 1 + (size_t)((r >> 24) % (top - top / 2)); /* (top/2, top] */
}

static void track(struct worker *w, struct blk *b, size_t n)
{
    size_t u = malloc_usable_size(b->p);
    if (u < n) {
        fprintf(stderr, "stress: malloc_usable_size(%p) = %zu < requested %zu\n", (void *)b->p, u, n);
        die("usable size below the requested size");
    }
    b->n = n;
    b->u = u;
    (void)w;
}

static void new_blk(struct worker *w, struct blk *b)
{
    int huge;
    size_t n = rand_size(&w->rng, &huge);
    uint64_t r = rnd(&w->rng);
    size_t align = 16;
    int kind;
    void *p = NULL;
    switch (r % 16) {
    case 0: case 1:
        kind = C_CALLOC;
        p = calloc(1, n);
        break;
    case 2:
        kind = C_REALLOC_NULL;
        p = realloc(NULL, n);
        break;
    case 3:
        kind = C_MEMALIGN;
        align = (size_t)16 << (r >> 8) % 13; /* 16 B .. 64 KiB */
        p = memalign(align, n);
        break;
    case 4:
        kind = C_POSIX_MEMALIGN;
        align = (size_t)8 << (r >> 8) % 14; /* 8 B .. 64 KiB */
        if (posix_memalign(&p, align, n) != 0)
            p = NULL;
        break;
    case 5:
        kind = C_ALIGNED_ALLOC;
        align = (size_t)16 << (r >> 8) % 9; /* 16 B .. 4 KiB */
        p = aligned_alloc(align, n);
        break;
    default:
        kind = C_MALLOC;
        p = malloc(n);
    }
    if (p == NULL)
        die("allocation returned NULL");
    if (((uintptr_t)p & 15) != 0 || ((uintptr_t)p & (align - 1)) != 0) {
        fprintf(stderr, "stress: %s(%zu) with alignment %zu returned %p\n", cname[kind], n, align, p);
        die("misaligned block");
    }
    w->c[kind]++;
    if (huge)
        w->c[C_HUGE]++;
    b->p = p;
    track(w, b, n);
    b->tag = splitmix(r ^ (uint64_t)(uintptr_t)p) | 1;
    if (kind == C_CALLOC) {
        for (size_t i = 0; i < n; i++)
            if (b->p[i] != 0) {
                fprintf(stderr, "stress: calloc(1, %zu) = %p: byte %zu is 0x%02x\n", n, p, i,
                        b->p[i]);
                die("calloc memory not zeroed");
            }
    }
    mark(b, 0, b->u);
}

static void check_whole(struct worker *w, const struct blk *b, const char *when)
{
    verify(b, b->u, when);
    w->checked += b->u;
}

static void free_blk(struct worker *w, struct blk *b)
{
    check_whole(w, b, "before free");
    free(b->p);
    b->p = NULL;
    w->c[C_FREE]++;
}

static void realloc_blk(struct worker *w, struct blk *b)
{
    int huge = 0;
    size_t nn = (rnd(&w->rng) % 64 == 0) ? 0 : rand_size(&w->rng, &huge);
    check_whole(w, b, "before realloc");
    if (nn == 0) {
        /* glibc frees and returns NULL; a unique pointer would be correct C too */
        void *q = realloc(b->p, 0);
        w->c[C_REALLOC_ZERO]++;
        w->c[C_FREE]++;
        if (q != NULL)
            free(q);
        b->p = NULL;
        return;
    }
    unsigned char *q = realloc(b->p, nn);
    if (q == NULL)
        die("realloc returned NULL");
    if (((uintptr_t)q & 15) != 0)
        die("realloc returned a misaligned block");
    w->c[C_REALLOC]++;
    if (huge)
        w->c[C_HUGE]++;
    struct blk old = *b;
    b->p = q;
    track(w, b, nn);
    size_t keep = old.n < nn ? old.n : nn;
    verify(b, keep, "after realloc (contents not kept)");
    w->checked += keep;
    mark(b, keep, b->u);
}

static void send_blk(struct worker *w, struct blk *b)
{
    check_whole(w, b, "before handoff");
    uint64_t r = rnd(&w->rng);
    if (nthreads > 1 && (r & 1) == 0) {
        int to = (int)((uint64_t)w->id + 1 + (r >> 8) % (uint64_t)(nthreads - 1)) % nthreads;
        struct node *nd = malloc(sizeof *nd);
        if (nd == NULL)
            die("malloc of a handoff node returned NULL");
        nd->b = *b;
        struct node *head = atomic_load_explicit(&inboxes[to].head, memory_order_relaxed);
        do {
            nd->next = head;
        } while (!atomic_compare_exchange_weak_explicit(&inboxes[to].head, &head, nd,
                                                        memory_order_release,
                                                        memory_order_relaxed));
        w->c[C_SEND_INBOX]++;
        b->p = NULL;
    } else {
        size_t j = (size_t)(r >> 16) % EXCHANGE;
        pthread_mutex_lock(&ex_lock);
        struct blk old = exchange[j];
        exchange[j] = *b;
        pthread_mutex_unlock(&ex_lock);
        w->c[C_SWAP_EXCHANGE]++;
        *b = old; /* usually a block from another thread, or empty */
        if (b->p != NULL) {
            check_whole(w, b, "received from the exchange");
            if (rnd(&w->rng) & 1) {
                free_blk(w, b);
                w->c[C_RECV_FREE]++;
            } else {
                w->c[C_RECV_ADOPT]++;
            }
        }
    }
}

/* Take everything in this thread's inbox: free each block or adopt it into an empty slot. */
static void drain(struct worker *w)
{
    struct node *nd = atomic_exchange_explicit(&inboxes[w->id].head, NULL, memory_order_acquire);
    while (nd != NULL) {
        struct node *next = nd->next;
        struct blk b = nd->b;
        free(nd);
        check_whole(w, &b, "received from an inbox");
        struct blk *s = &w->slot[rnd(&w->rng) % nslots];
        if (s->p == NULL && (rnd(&w->rng) & 1)) {
            *s = b;
            w->c[C_RECV_ADOPT]++;
        } else {
            free_blk(w, &b);
            w->c[C_RECV_FREE]++;
        }
        nd = next;
    }
}

static void *run_worker(void *arg)
{
    struct worker *w = arg;
    w->slot = calloc(nslots, sizeof *w->slot);
    if (w->slot == NULL)
        die("calloc of the slot table returned NULL");
    for (long op = 0; op < ops_per_thread; op++) {
        uint64_t r = rnd(&w->rng);
        if ((op & 31) == 0)
            drain(w);
        struct blk *b = &w->slot[r % nslots];
        if (b->p == NULL) {
            new_blk(w, b);
            continue;
        }
        unsigned act = (unsigned)((r >> 40) % 100);
        if (act < 45)
            free_blk(w, b);
        else if (act < 70)
            realloc_blk(w, b);
        else
            send_blk(w, b);
    }
    drain(w);
    for (size_t i = 0; i < nslots; i++)
        if (w->slot[i].p != NULL)
            free_blk(w, &w->slot[i]);
    free(w->slot);
    for (int k = 0; k < C_NKINDS; k++)
        atomic_fetch_add(&counts[k], w->c[k]);
    atomic_fetch_add(&bytes_checked, w->checked);
    return NULL;
}

static long arg_long(const char *s, const char *what, long lo, long hi)
{
    char *end;
    long v = strtol(s, &end, 0);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "stress: bad %s '%s' (%ld..%ld)\n", what, s, lo, hi);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    nthreads = 4;
    ops_per_thread = 200000;
    seed = 1;
    nslots = 1024;
    if (argc > 5 || (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))) {
        fprintf(stderr, "usage: %s [THREADS [OPS_PER_THREAD [SEED [SLOTS]]]]  (defaults 4 200000 1 1024)\n",
                argv[0]);
        return 2;
    }
    if (argc > 1)
        nthreads = (int)arg_long(argv[1], "thread count", 1, MAX_THREADS);
    if (argc > 2)
        ops_per_thread = arg_long(argv[2], "ops per thread", 0, 1L << 40);
    if (argc > 3)
        seed = (uint64_t)arg_long(argv[3], "seed", 0, 1L << 62);
    if (argc > 4)
        nslots = (size_t)arg_long(argv[4], "slot count", 1, 1 << 20);

    const char *backend = bestbuddy_backend != NULL ? bestbuddy_backend() : "not bestbuddy";
    const char *expect = getenv("BESTBUDDY_EXPECT");
    if (expect != NULL && *expect != '\0') {
        int ok = strcmp(expect, "glibc") == 0 ? bestbuddy_backend == NULL
                                              : bestbuddy_backend != NULL && strcmp(backend, expect) == 0;
        if (!ok) {
            fprintf(stderr, "stress: running on '%s', BESTBUDDY_EXPECT=%s\n", backend, expect);
            return 1;
        }
    }

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    static struct worker ws[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    for (int i = 0; i < nthreads; i++) {
        ws[i].id = i;
        ws[i].rng = splitmix(seed * 1000003u + (uint64_t)i) | 1;
        if (pthread_create(&th[i], NULL, run_worker, &ws[i]) != 0)
            die("pthread_create");
    }
    for (int i = 0; i < nthreads; i++)
        if (pthread_join(th[i], NULL) != 0)
            die("pthread_join");

    /* What is still in flight: later inbox pushes and the exchange table. */
    struct worker last = {.id = 0, .rng = 7};
    for (int i = 0; i < nthreads; i++) {
        struct node *nd = atomic_exchange(&inboxes[i].head, NULL);
        while (nd != NULL) {
            struct node *next = nd->next;
            struct blk b = nd->b;
            free(nd);
            free_blk(&last, &b);
            last.c[C_RECV_FREE]++;
            nd = next;
        }
    }
    for (size_t j = 0; j < EXCHANGE; j++)
        if (exchange[j].p != NULL)
            free_blk(&last, &exchange[j]);
    for (int k = 0; k < C_NKINDS; k++)
        counts[k] += last.c[k];
    bytes_checked += last.checked;
    clock_gettime(CLOCK_MONOTONIC, &t1);

    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    unsigned long long total = (unsigned long long)nthreads * (unsigned long long)ops_per_thread;
    printf("stress: %s: %d threads x %ld ops (seed %llu, %zu slots): %llu ops in %.2f s, "
           "%.1f GiB verified\n",
           backend, nthreads, ops_per_thread, (unsigned long long)seed, nslots, total, secs,
           (double)bytes_checked / (double)(1ull << 30));
    printf("stress:");
    for (int k = 0; k < C_NKINDS; k++)
        printf(" %s=%llu", cname[k], (unsigned long long)counts[k]);
    printf("\nstress: OK\n");
    return 0;
}
