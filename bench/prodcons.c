/* prodcons: producer/consumer.
 *
 * One thread allocates blocks of random small sizes (16..256 bytes, a few up
 * to 2 KiB), fills in a stamp and pushes them through a bounded ring buffer
 * (single producer, single consumer, RING slots, indices published in
 * batches so the queue itself costs little); a second thread pops them,
 * checks and frees them.  Every block is freed by a thread other than the
 * one that allocated it, all the time: the worst case for allocators whose
 * thread caches assume memory comes back to the thread that got it.
 *
 *   prodcons [--scale F]
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "common.h"

#define RING 1024 /* power of two */
#define BATCH 32  /* indices are published every BATCH items (power of two) */
#define BASE_ITEMS 15000000L

static void *ring[RING];
static _Alignas(64) _Atomic unsigned long head; /* next slot to write (producer) */
static _Alignas(64) _Atomic unsigned long tail; /* next slot to read (consumer) */
static long items;
static uint64_t produced_sum, consumed_sum;

static void backoff(unsigned *spins)
{
    if (++*spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
        __asm__ volatile("pause");
#endif
    } else
        sched_yield();
}

static void *producer(void *arg)
{
    (void)arg;
    uint64_t s = 0x452821e638d01377ULL, sum = 0;
    unsigned long h = 0, t_seen = 0;
    for (long k = 0; k < items; k++) {
        size_t n = rng_below(&s, 32) == 0 ? rng_range(&s, 257, 2048) : rng_range(&s, 16, 256);
        unsigned char *p = xmalloc(n);
        uint64_t stamp = (rng_next(&s) << 32) | n;
        memcpy(p, &stamp, 8);
        for (size_t i = 64; i < n; i += 64)
            p[i] = (unsigned char)i;
        p[n - 1] = (unsigned char)(stamp >> 32);
        sum += stamp;
        unsigned spins = 0;
        while (h - t_seen >= RING) {
            /* full: make sure everything written is visible, then wait */
            atomic_store_explicit(&head, h, memory_order_release);
            t_seen = atomic_load_explicit(&tail, memory_order_acquire);
            if (h - t_seen >= RING)
                backoff(&spins);
        }
        ring[h & (RING - 1)] = p;
        h++;
        if ((h & (BATCH - 1)) == 0 || k == items - 1)
            atomic_store_explicit(&head, h, memory_order_release);
    }
    produced_sum = sum;
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    uint64_t sum = 0;
    unsigned long t = 0, h_seen = 0;
    for (long k = 0; k < items; k++) {
        unsigned spins = 0;
        while (t == h_seen) {
            /* empty: hand back the slots read so far, then wait */
            atomic_store_explicit(&tail, t, memory_order_release);
            h_seen = atomic_load_explicit(&head, memory_order_acquire);
            if (t == h_seen)
                backoff(&spins);
        }
        unsigned char *p = ring[t & (RING - 1)];
        t++;
        if ((t & (BATCH - 1)) == 0)
            atomic_store_explicit(&tail, t, memory_order_release);
        uint64_t stamp;
        memcpy(&stamp, p, 8);
        size_t n = (size_t)(uint32_t)stamp;
        if (n < 16 || n > 2048 || p[n - 1] != (unsigned char)(stamp >> 32)) {
            fprintf(stderr, "prodcons: block %p corrupted\n", (void *)p);
            abort();
        }
        sum += stamp;
        free(p);
    }
    consumed_sum = sum;
    return NULL;
}

int main(int argc, char **argv)
{
    struct bench_opts o = bench_args(argc, argv, 2);
    pthread_t pt, ct;
    items = scaled(BASE_ITEMS, o.scale);
    if (pthread_create(&ct, NULL, consumer, NULL) != 0 ||
        pthread_create(&pt, NULL, producer, NULL) != 0) {
        perror("pthread_create");
        return 1;
    }
    pthread_join(pt, NULL);
    pthread_join(ct, NULL);
    if (produced_sum != consumed_sum) {
        fprintf(stderr, "prodcons: produced %016llx != consumed %016llx\n",
                (unsigned long long)produced_sum, (unsigned long long)consumed_sum);
        return 1;
    }
    printf("prodcons items=%ld\n", items);
    printf("checksum %016llx\n", (unsigned long long)consumed_sum);
    return 0;
}
