/* bestbuddy_stats_get(): the figures move by exactly what the program did.
 *   - bad arguments: NULL or a size below one field is -1 with EINVAL; a shorter struct
 *     gets only its own bytes written, a longer one zeroes past the library's;
 *   - N mallocs then N frees move calls_malloc, calls_free and live_blocks by N, and
 *     live_bytes by at least what was asked;
 *   - every other entry point counts its own calls, and none of them counts as malloc
 *     (realloc(NULL, n), memalign(8, n) included);
 *   - a large block shows in large_blocks, large_bytes and live_bytes;
 *   - threads that exit leave their counts behind;
 *   - peaks are never below the figures now; fragmentation lies in [0, 1].
 * Nothing between two readings calls into libc, so the deltas are exact. */
#include "common.h"
#include "../../include/bestbuddy.h"
#include <pthread.h>

#pragma weak bestbuddy_stats_get

#define N 1000
#define THREADS 4

static struct bestbuddy_stats get(void)
{
    struct bestbuddy_stats s;
    memset(&s, 0xEE, sizeof s);
    CHECK(bestbuddy_stats_get(&s, sizeof s) == 0);
    return s;
}

static void *worker(void *arg)
{
    (void)arg;
    void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = malloc(24 + i % 200);
    for (int i = 0; i < N; i++)
        free(p[i]);
    return NULL;
}

int main(void)
{
    if (!on_bestbuddy()) {
        puts("glibc has no bestbuddy_stats_get: nothing to test");
        return 0;
    }
    struct bestbuddy_stats s;
    errno = 0;
    CHECK(bestbuddy_stats_get(NULL, sizeof s) == -1 && errno == EINVAL);
    errno = 0;
    CHECK(bestbuddy_stats_get(&s, 4) == -1 && errno == EINVAL);

    unsigned char buf[sizeof(struct bestbuddy_stats) + 64];
    memset(buf, 0xEE, sizeof buf);
    CHECK(bestbuddy_stats_get((struct bestbuddy_stats *)buf, 16) == 0);
    for (size_t i = 16; i < sizeof buf; i++)
        CHECKF(buf[i] == 0xEE, "byte %zu written past the caller's 16", i);
    memset(buf, 0xEE, sizeof buf);
    CHECK(bestbuddy_stats_get((struct bestbuddy_stats *)buf, sizeof buf) == 0);
    for (size_t i = sizeof(struct bestbuddy_stats); i < sizeof buf; i++)
        CHECKF(buf[i] == 0, "byte %zu past the library's struct not zeroed", i);

    /* N mallocs, then N frees. */
    static void *p[N];
    size_t asked = 0;
    struct bestbuddy_stats a = get();
    for (int i = 0; i < N; i++) {
        size_t size = 16 + (size_t)(i * 37 % 3000);
        p[i] = malloc(size);
        asked += size;
    }
    struct bestbuddy_stats b = get();
    for (int i = 0; i < N; i++)
        free(p[i]);
    struct bestbuddy_stats c = get();
    printf("malloc x%d: live %llu -> %llu blocks, %llu -> %llu bytes (asked %zu)\n", N,
           (unsigned long long)a.live_blocks, (unsigned long long)b.live_blocks,
           (unsigned long long)a.live_bytes, (unsigned long long)b.live_bytes, asked);
    CHECKF(b.calls_malloc - a.calls_malloc == N, "calls_malloc moved by %llu",
           (unsigned long long)(b.calls_malloc - a.calls_malloc));
    CHECKF(c.calls_free - b.calls_free == N, "calls_free moved by %llu",
           (unsigned long long)(c.calls_free - b.calls_free));
    CHECK(b.calls_free == a.calls_free);
    CHECKF(b.live_blocks - a.live_blocks == N, "live_blocks moved by %lld",
           (long long)(b.live_blocks - a.live_blocks));
    CHECK(c.live_blocks == a.live_blocks);
    CHECK(c.live_bytes == a.live_bytes);
    CHECK(b.live_bytes - a.live_bytes >= asked);
    CHECK(b.live_bytes - a.live_bytes <= 2 * asked + 32 * N);
    CHECK(b.cache_hits + b.cache_misses > a.cache_hits + a.cache_misses);

    /* Requests of 8 bytes or less, which malloc's fast path leaves to its miss path (it
     * retries the cache with the class computed in full): counted once each too, and
     * served from the cache once it has blocks of the class. */
    a = get();
    for (int i = 0; i < N; i++)
        p[i] = malloc((size_t)(i % 9));
    b = get();
    for (int i = 0; i < N; i++)
        free(p[i]);
    c = get();
    CHECKF(b.calls_malloc - a.calls_malloc == N, "small: calls_malloc moved by %llu",
           (unsigned long long)(b.calls_malloc - a.calls_malloc));
    CHECKF(c.calls_free - b.calls_free == N, "small: calls_free moved by %llu",
           (unsigned long long)(c.calls_free - b.calls_free));
    CHECKF(b.live_blocks - a.live_blocks == N, "small: live_blocks moved by %lld",
           (long long)(b.live_blocks - a.live_blocks));
    CHECK(c.live_blocks == a.live_blocks);
    CHECKF(b.cache_hits - a.cache_hits >= N / 2, "small: %llu of %d served from the cache",
           (unsigned long long)(b.cache_hits - a.cache_hits), N);

    /* Each other entry point counts itself, never as malloc. */
    a = get();
    void *q[12];
    q[0] = calloc(10, 10);
    q[1] = realloc(NULL, 50);
    q[1] = realloc(q[1], 5000);
    /* A realloc that keeps its block takes the lock-free path, which counts it too. */
    void *kept = q[1];
    q[1] = realloc(q[1], 4990);
    CHECK(q[1] == kept);
    q[2] = reallocarray(NULL, 10, 10);
    q[3] = memalign(64, 100);
    q[4] = memalign(8, 100);
    q[5] = aligned_alloc(256, 512);
    CHECK(posix_memalign(&q[6], 64, 100) == 0);
    void *untouched = NULL;
    CHECK(posix_memalign(&untouched, 3, 100) == EINVAL);
    q[7] = valloc(100);
    q[8] = pvalloc(100);
    size_t usable = malloc_usable_size(q[0]);
    free(NULL);
    CHECK(realloc(q[8], 0) == NULL);
    b = get();
    CHECK(usable >= 100);
    CHECK(b.calls_calloc - a.calls_calloc == 1);
    CHECKF(b.calls_realloc - a.calls_realloc == 4, "calls_realloc moved by %llu",
           (unsigned long long)(b.calls_realloc - a.calls_realloc));
    CHECK(b.calls_reallocarray - a.calls_reallocarray == 1);
    CHECK(b.calls_memalign - a.calls_memalign == 2);
    CHECK(b.calls_aligned_alloc - a.calls_aligned_alloc == 1);
    CHECK(b.calls_posix_memalign - a.calls_posix_memalign == 2);
    CHECK(b.calls_valloc - a.calls_valloc == 1);
    CHECK(b.calls_pvalloc - a.calls_pvalloc == 1);
    CHECK(b.calls_malloc_usable_size - a.calls_malloc_usable_size == 1);
    CHECKF(b.calls_malloc == a.calls_malloc, "calls_malloc moved by %llu",
           (unsigned long long)(b.calls_malloc - a.calls_malloc));
    CHECKF(b.calls_free - a.calls_free == 1, "calls_free moved by %llu (free(NULL) only)",
           (unsigned long long)(b.calls_free - a.calls_free));
    CHECK(b.live_blocks - a.live_blocks == 8);
    for (int i = 0; i < 8; i++)
        free(q[i]);

    /* A large block. */
    a = get();
    char *big = malloc(8 * BB_MIB);
    CHECK(big != NULL);
    b = get();
    free(big);
    c = get();
    CHECK(b.large_blocks == a.large_blocks + 1);
    CHECK(b.large_bytes - a.large_bytes >= 8 * BB_MIB);
    CHECK(b.live_bytes - a.live_bytes >= 8 * BB_MIB);
    CHECK(b.large_bytes_peak >= b.large_bytes);
    CHECK(c.large_blocks == a.large_blocks);

    /* Threads that exit leave their counts behind. */
    a = get();
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, NULL) == 0);
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    b = get();
    printf("%d threads: calls_malloc +%llu, calls_free +%llu\n", THREADS,
           (unsigned long long)(b.calls_malloc - a.calls_malloc),
           (unsigned long long)(b.calls_free - a.calls_free));
    /* pthread_create and exiting threads allocate a little themselves. */
    CHECK(b.calls_malloc - a.calls_malloc >= THREADS * N);
    CHECK(b.calls_malloc - a.calls_malloc <= THREADS * N + 64);
    CHECK(b.calls_free - a.calls_free >= THREADS * N);
    CHECK(b.calls_free - a.calls_free <= THREADS * N + 64);

    /* Trimming. */
    a = get();
    malloc_trim(0);
    b = get();
    CHECK(b.trims == a.trims + 1);

    s = get();
    CHECK(s.heap_in_use_peak >= s.heap_in_use);
    CHECK(s.heap_mapped_peak >= s.heap_mapped);
    CHECK(s.heap_mapped >= s.heap_in_use + s.heap_free);
    CHECK(s.largest_free <= s.heap_free);
    CHECK(s.fragmentation >= 0.0 && s.fragmentation <= 1.0);
    CHECK(s.rss > 0 && s.rss_peak >= s.rss);
    printf("heap mapped %llu, in use %llu (peak %llu), free %llu, largest free %llu, "
           "fragmentation %.3f, rss %llu\n",
           (unsigned long long)s.heap_mapped, (unsigned long long)s.heap_in_use,
           (unsigned long long)s.heap_in_use_peak, (unsigned long long)s.heap_free,
           (unsigned long long)s.largest_free, s.fragmentation, (unsigned long long)s.rss);
    return 0;
}
