/* Blocks of 4..32 KiB go through the thread caches, on both heaps:
 *   - a block of such a size, freed, serves the next request of its class from the cache
 *     (one cache hit, the same block), and a free of it is one the cache takes;
 *   - the usable size is the class's: best fit rounds a request above 4 KiB up by less
 *     than an eighth (eight classes per power of two), buddy to a power of two; a request
 *     of 32 KiB is cached too;
 *   - a block that realloc shrank in place to a size that is no class's is freed into the
 *     heap, not the cache: cached, it would serve the next request of its class short;
 *   - another thread's frees of such blocks are taken by its cache too.
 * Nothing between two readings of the statistics calls into libc, so the deltas are exact. */
#include "common.h"
#include "../../include/bestbuddy.h"
#include <pthread.h>

#pragma weak bestbuddy_stats_get

static struct bestbuddy_stats get(void)
{
    struct bestbuddy_stats s;
    CHECK(bestbuddy_stats_get(&s, sizeof s) == 0);
    return s;
}

static const size_t sizes[] = {
    4089, 4096, 4100, 4105, 4600, 5000, 6000, 8000, 8184, 8192, 9000, 12000, 16000, 16376,
    16384, 20000, 24000, 30000, 32000, 32752, 32768,
};
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* The largest usable size a request of n bytes may get. */
static size_t usable_bound(int buddy, size_t n)
{
    if (buddy) {
        size_t p = 16;
        while (p < n)
            p <<= 1;
        return p;
    }
    return n + n / 8 + 32;
}

enum { CROSS = 64, CROSS_SIZE = 16000 };
static void *cross[CROSS];

static void *free_them(void *arg)
{
    (void)arg;
    for (int i = 0; i < CROSS; i++)
        free(cross[i]);
    return NULL;
}

int main(void)
{
    if (!on_bestbuddy()) {
        puts("glibc has no bestbuddy_stats_get: nothing to test");
        return 0;
    }
    int buddy = strcmp(bestbuddy_backend(), "buddy") == 0;

    /* A freed block serves the next request of its class from the cache. */
    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = sizes[i];
        char *p = malloc(n);
        CHECK(p != NULL);
        struct bestbuddy_stats a = get();
        free(p);
        struct bestbuddy_stats b = get();
        char *q = malloc(n);
        struct bestbuddy_stats c = get();
        CHECKF(b.cache_frees - a.cache_frees == 1, "free of %zu bytes: %llu frees cached", n,
               (unsigned long long)(b.cache_frees - a.cache_frees));
        CHECKF(c.cache_hits - b.cache_hits == 1 && q == p,
               "malloc(%zu) after a free of its class: %llu hits, %p after %p", n,
               (unsigned long long)(c.cache_hits - b.cache_hits), (void *)q, (void *)p);
        size_t usable = malloc_usable_size(q);
        CHECKF(usable >= n && usable <= usable_bound(buddy, n), "malloc(%zu): %zu usable", n,
               usable);
        memset(q, 0x5a, usable);
        free(q);
    }

    /* Two requests of one class share its blocks: the bigger takes the smaller's block. */
    char *p = malloc(5000);
    size_t usable = malloc_usable_size(p);
    free(p);
    char *q = malloc(usable);
    CHECKF(q == p, "malloc(%zu) did not reuse the block of malloc(5000)", usable);
    free(q);

    /* A block shrunk in place to no class's size goes back to the heap. Best fit: a 20000
     * byte request's block (20496) shrunk to 9000 (a block of 9008, between the classes'
     * blocks of 8208 and 9232). Buddy: every block stays a power of two and stays
     * cacheable. */
    p = malloc(20000);
    CHECK(p != NULL);
    memset(p, 0x11, 9000);
    q = realloc(p, 9000);
    CHECK(q != NULL);
    for (size_t i = 0; i < 9000; i++)
        CHECKF(q[i] == 0x11, "byte %zu lost by the shrinking realloc", i);
    size_t shrunk = malloc_usable_size(q);
    struct bestbuddy_stats a = get();
    free(q);
    struct bestbuddy_stats b = get();
    if (!buddy && q == p) {
        CHECKF(b.cache_frees == a.cache_frees,
               "a block shrunk in place to %zu usable bytes was cached", shrunk);
    }
    /* Whatever the cache holds of that class now serves it in full. */
    for (int i = 0; i < 4; i++) {
        char *r = malloc(9200);
        CHECK(r != NULL);
        CHECKF(malloc_usable_size(r) >= 9200, "malloc(9200) got %zu usable bytes",
               malloc_usable_size(r));
        memset(r, 0x22, 9200);
        free(r);
    }

    /* Another thread's frees of these sizes are cached there (its cache gives them back
     * to this thread's arena in chains). */
    for (int i = 0; i < CROSS; i++) {
        cross[i] = malloc(CROSS_SIZE);
        CHECK(cross[i] != NULL);
    }
    a = get();
    pthread_t t;
    CHECK(pthread_create(&t, NULL, free_them, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    b = get();
    CHECKF(b.cache_frees - a.cache_frees >= CROSS, "%llu of %d frees by another thread cached",
           (unsigned long long)(b.cache_frees - a.cache_frees), CROSS);
    CHECK(b.calls_free - a.calls_free >= CROSS);

    /* Above 32 KiB nothing is cached. */
    p = malloc(40000);
    CHECK(p != NULL);
    a = get();
    free(p);
    b = get();
    CHECK(b.cache_frees == a.cache_frees);
    puts("blocks of 4..32 KiB are cached; a block shrunk to no class's size is not");
    return 0;
}
