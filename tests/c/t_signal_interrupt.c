/* Signals arriving in the middle of malloc, free and realloc.  Two threads
 * allocate, fill, reallocate, verify and free blocks (and hand blocks to each
 * other, so that frees also cross arenas) while the main thread sends them
 * SIGUSR1 with pthread_kill for about a second: thousands of signals, each
 * sent once the previous one to that thread was handled (a signal sent while
 * one is pending would merge with it).  The handler (SA_RESTART) does not
 * allocate: it bumps a counter and writes some stack, as async-signal-safe
 * code may.
 *
 * Asserts: signals were delivered, every block's contents were intact when
 * verified, and the allocator works normally afterwards.  Bounded: at most
 * RUN_MAX_NS of signals even on a loaded machine. */
#include "common.h"
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>

#define WORKERS 2
#define LIVE 256 /* live blocks per worker */
#define RUN_NS 1000000000L     /* send signals this long ... */
#define RUN_MAX_NS 3000000000L /* ... or up to this long until each worker got */
#define WANT 1000              /* ... this many */

static volatile unsigned long handled[WORKERS]; /* signals handled, per worker */
static __thread int self = -1;                  /* worker index, -1 elsewhere */
static volatile int ready;
static volatile int stop;
static void *handoff[WORKERS]; /* one block on its way to worker i */

static void on_usr1(int sig)
{
    (void)sig;
    int saved = errno;
    volatile unsigned char scratch[512];
    for (size_t i = 0; i < sizeof scratch; i += 8)
        scratch[i] = (unsigned char)i;
    (void)scratch[100];
    if (self >= 0)
        __atomic_fetch_add(&handled[self], 1, __ATOMIC_RELAXED);
    errno = saved;
}

/* A block starts with its size and seed; the bytes after 16 hold the
 * pattern. */
struct hdr {
    size_t size;
    unsigned seed;
};

static size_t pick_size(uint64_t *rng)
{
    uint64_t r = bb_rand(rng);
    switch (r % 64) {
    case 0:
        return 64 * BB_KIB + (r >> 8) % (256 * BB_KIB);
    case 1:
        if ((r >> 8) % 16 == 0)
            return 3 * BB_MIB; /* a mapping of its own on both heaps */
        /* fall through */
    case 2:
    case 3:
        return 4 * BB_KIB + (r >> 8) % (60 * BB_KIB);
    default:
        return 16 + (r >> 8) % 2000;
    }
}

static void *make_block(size_t size, unsigned seed)
{
    unsigned char *p = malloc(size);
    CHECKF(p != NULL, "malloc(%zu) failed", size);
    struct hdr h = {size, seed};
    memcpy(p, &h, sizeof h);
    bb_fill(p, 16, size, seed);
    return p;
}

static void check_block(const void *p, const char *when)
{
    struct hdr h;
    memcpy(&h, p, sizeof h);
    CHECKF(h.size >= 16 && h.size <= 4 * BB_MIB, "%s: block %p has a bad size %zu", when, p,
           h.size);
    const unsigned char *b = p;
    for (size_t i = 16; i < h.size; i++)
        CHECKF(b[i] == bb_pat(i, h.seed), "%s: block %p (%zu bytes, seed %u) differs at byte %zu",
               when, p, h.size, h.seed, i);
}

/* Grows or shrinks a block with realloc and re-fills what is new. */
static void *resize_block(void *p, size_t to)
{
    struct hdr h;
    memcpy(&h, p, sizeof h);
    unsigned char *q = realloc(p, to);
    CHECKF(q != NULL, "realloc(%zu) failed", to);
    size_t keep = h.size < to ? h.size : to;
    const unsigned char *b = q;
    for (size_t i = 16; i < keep; i++)
        CHECKF(b[i] == bb_pat(i, h.seed), "realloc to %zu changed byte %zu", to, i);
    h.size = to;
    memcpy(q, &h, sizeof h);
    bb_fill(q, keep > 16 ? keep : 16, to, h.seed);
    return q;
}

struct worker {
    pthread_t thread;
    int id;
    unsigned long ops;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    uint64_t rng = 0x9e3779b97f4a7c15ull * (unsigned)(w->id + 1);
    void *live[LIVE] = {0};
    unsigned seed = (unsigned)w->id * 1000003u;
    self = w->id;
    __atomic_fetch_add(&ready, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
        size_t i = bb_rand(&rng) % LIVE;
        uint64_t action = bb_rand(&rng) % 16;
        if (live[i] == NULL) {
            live[i] = make_block(pick_size(&rng), ++seed);
        } else if (action < 3) {
            live[i] = resize_block(live[i], pick_size(&rng));
        } else if (action == 3) {
            /* pass the block to the other worker, free what came for us */
            void *mine = __atomic_exchange_n(&handoff[(w->id + 1) % WORKERS], live[i],
                                             __ATOMIC_ACQ_REL);
            live[i] = NULL;
            if (mine != NULL) {
                check_block(mine, "handed over");
                free(mine);
            }
        } else {
            check_block(live[i], "before free");
            free(live[i]);
            live[i] = NULL;
        }
        w->ops++;
    }
    for (size_t i = 0; i < LIVE; i++)
        if (live[i] != NULL) {
            check_block(live[i], "at the end");
            free(live[i]);
        }
    return NULL;
}

static void *still_works(void *arg)
{
    (void)arg;
    void *blocks[64];
    for (int i = 0; i < 64; i++)
        blocks[i] = make_block(16 + (size_t)i * 97, 7u + (unsigned)i);
    for (int i = 0; i < 64; i++)
        blocks[i] = resize_block(blocks[i], 4000 - (size_t)i * 50);
    for (int i = 0; i < 64; i++) {
        check_block(blocks[i], "after the signals");
        free(blocks[i]);
    }
    unsigned char *big = make_block(3 * BB_MIB, 99);
    big = resize_block(big, 3 * BB_MIB + 100 * BB_KIB);
    check_block(big, "after the signals");
    free(big);
    return NULL;
}

static long elapsed_ns(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000000000L + (t.tv_nsec - t0->tv_nsec);
}

int main(void)
{
    on_bestbuddy();

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);

    struct worker w[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        w[i].id = i;
        w[i].ops = 0;
        CHECK(pthread_create(&w[i].thread, NULL, work, &w[i]) == 0);
    }

    while (__atomic_load_n(&ready, __ATOMIC_ACQUIRE) < WORKERS)
        sched_yield();
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned long sent[WORKERS] = {0};
    for (;;) {
        long ns = elapsed_ns(&t0);
        int enough = 1;
        for (int i = 0; i < WORKERS; i++)
            enough &= __atomic_load_n(&handled[i], __ATOMIC_RELAXED) >= WANT;
        if (ns >= RUN_MAX_NS || (ns >= RUN_NS && enough))
            break;
        int any = 0;
        for (int i = 0; i < WORKERS; i++) {
            if (__atomic_load_n(&handled[i], __ATOMIC_RELAXED) == sent[i]) {
                CHECK(pthread_kill(w[i].thread, SIGUSR1) == 0);
                sent[i]++;
                any = 1;
            }
        }
        /* sleep rather than yield: a thread woken from a sleep gets a CPU
         * back at once, even on a loaded machine, while a yielding one
         * waits for every other runnable thread */
        struct timespec pause = {0, any ? 20000 : 5000};
        nanosleep(&pause, NULL);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < WORKERS; i++)
        CHECK(pthread_join(w[i].thread, NULL) == 0);

    for (int i = 0; i < WORKERS; i++) {
        unsigned long got = __atomic_load_n(&handled[i], __ATOMIC_RELAXED);
        printf("worker %d: %lu signals sent, %lu handled, %lu allocator operations\n", i,
               sent[i], got, w[i].ops);
        CHECKF(w[i].ops > 0, "worker %d made no progress", i);
        /* the last one may still have been pending when the thread ended */
        CHECKF(got + 1 >= sent[i] && got >= 100, "worker %d handled %lu of %lu signals", i,
               got, sent[i]);
    }

    for (int i = 0; i < WORKERS; i++)
        if (handoff[i] != NULL) {
            check_block(handoff[i], "left in hand-off");
            free(handoff[i]);
        }

    /* the allocator still works, on this thread and on a new one */
    still_works(NULL);
    pthread_t late;
    CHECK(pthread_create(&late, NULL, still_works, NULL) == 0);
    CHECK(pthread_join(late, NULL) == 0);
    return 0;
}
