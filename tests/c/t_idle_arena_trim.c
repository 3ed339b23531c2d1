/* An exited thread's arena gives its free pages back at once.
 *   - a thread fills its arena with small blocks, keeps a few spread over every region it
 *     used (so no region is wholly free and none can simply be unmapped), frees the rest
 *     and exits;
 *   - the next slow path of another thread (here, the first allocation of sizes this thread
 *     never used) trims that arena, without waiting: the bytes trimmed grow by most of what
 *     was freed, and the resident memory falls by as much;
 *   - the kept blocks are intact and can be freed.
 * No delay is the library's default (options.rs, TRIM_DELAY_MS_DEFAULT; `trim_delay_ms`
 * sets one), so the test does not sleep. */
#include "common.h"
#include "../../include/bestbuddy.h"
#include <pthread.h>

#pragma weak bestbuddy_stats_get

#define BLOCKS 200000
#define SIZE 128
#define KEEP_EVERY 1024
#define KEPT (BLOCKS / KEEP_EVERY + 1)

static void *kept[KEPT];

static void *worker(void *arg)
{
    (void)arg;
    static void *p[BLOCKS];
    for (int i = 0; i < BLOCKS; i++) {
        p[i] = malloc(SIZE);
        CHECK(p[i] != NULL);
        memset(p[i], 0x5A, SIZE);
    }
    int k = 0;
    for (int i = 0; i < BLOCKS; i++) {
        if (i % KEEP_EVERY == 0)
            kept[k++] = p[i];
        else
            free(p[i]);
    }
    return NULL;
}

static struct bestbuddy_stats get(void)
{
    struct bestbuddy_stats s;
    CHECK(bestbuddy_stats_get(&s, sizeof s) == 0);
    return s;
}

int main(void)
{
    int ours = on_bestbuddy();
    /* This thread gets its cache (and its home arena) first, so the worker lives alone in
     * an arena of its own. */
    free(malloc(32));

    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);

    struct bestbuddy_stats a = ours ? get() : (struct bestbuddy_stats){ 0 };
    /* Slow paths of this thread: first allocations of sizes it never used. */
    for (size_t size = 48; size <= 3000; size += 16)
        free(malloc(size));
    struct bestbuddy_stats b = ours ? get() : (struct bestbuddy_stats){ 0 };

    size_t freed = (size_t)(BLOCKS - KEPT) * SIZE;
    if (ours) {
        printf("after the worker exited: rss %llu KiB, trimmed %llu KiB; after a slow path: rss "
               "%llu KiB, trimmed %llu KiB (freed %zu KiB)\n",
               (unsigned long long)(a.rss / BB_KIB), (unsigned long long)(a.trimmed_bytes / BB_KIB),
               (unsigned long long)(b.rss / BB_KIB), (unsigned long long)(b.trimmed_bytes / BB_KIB),
               freed / BB_KIB);
        CHECKF(b.trimmed_bytes - a.trimmed_bytes >= freed / 2,
               "only %llu bytes trimmed of %zu freed",
               (unsigned long long)(b.trimmed_bytes - a.trimmed_bytes), freed);
        CHECKF(a.rss > b.rss && a.rss - b.rss >= freed / 2, "rss %llu -> %llu",
               (unsigned long long)a.rss, (unsigned long long)b.rss);
    }
    for (int k = 0; k < KEPT; k++) {
        if (!kept[k])
            continue;
        for (int i = 0; i < SIZE; i++)
            CHECKF(((unsigned char *)kept[k])[i] == 0x5A, "kept block %d changed", k);
        free(kept[k]);
    }
    puts("ok");
    return 0;
}
