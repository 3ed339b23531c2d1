/* A thread that only frees blocks (a consumer of blocks another thread made) keeps few of
 * them in its cache: a bin that serves no allocation holds nothing the program can reuse,
 * only memory the maker has to find elsewhere.
 *   - a maker thread allocates BLOCKS blocks each of three sizes and exits (its cache goes
 *     back with it, and no thread lives in its arena any more, so no chains wait there);
 *   - a consumer thread that never allocated frees them all, and reads the statistics
 *     before and after: the difference is what its own bins kept.
 * A bin in a thread that also allocates grows to 32 KiB and keeps half when it flushes,
 * so three such bins would hold at least 38 KiB here; a freeing-only bin stops at its
 * natural size (8 KiB) and flushes whole. */
#include "common.h"
#include "../../include/bestbuddy.h"
#include <pthread.h>

#pragma weak bestbuddy_stats_get

#define BLOCKS 2048
#define CLASSES 3
/* Three natural bins (8 KiB each at most) and nothing of the bins that keep half. */
#define KEPT_MAX (24 * BB_KIB)

static const size_t sizes[CLASSES] = { 48, 208, 880 };
static void *blocks[CLASSES][BLOCKS];
static int ours;
static unsigned long long kept;

static void *maker(void *arg)
{
    (void)arg;
    for (int c = 0; c < CLASSES; c++)
        for (int i = 0; i < BLOCKS; i++) {
            blocks[c][i] = malloc(sizes[c]);
            CHECK(blocks[c][i] != NULL);
            bb_fill(blocks[c][i], 0, sizes[c], (unsigned)i);
        }
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    struct bestbuddy_stats before, after;
    if (ours)
        CHECK(bestbuddy_stats_get(&before, sizeof before) == 0);
    /* Interleaved, as a consumer of mixed sizes would see them. */
    for (int i = 0; i < BLOCKS; i++)
        for (int c = 0; c < CLASSES; c++) {
            CHECK(bb_verify(blocks[c][i], sizes[c], (unsigned)i) == (size_t)-1);
            free(blocks[c][i]);
        }
    if (ours) {
        CHECK(bestbuddy_stats_get(&after, sizeof after) == 0);
        kept = after.cached_bytes - before.cached_bytes;
    }
    return NULL;
}

int main(void)
{
    ours = on_bestbuddy();
    pthread_t t;
    CHECK(pthread_create(&t, NULL, maker, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(pthread_create(&t, NULL, consumer, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    if (ours) {
        printf("a freeing-only thread kept %llu bytes of %zu freed\n", kept,
               (size_t)BLOCKS * (sizes[0] + sizes[1] + sizes[2]));
        CHECKF(kept <= KEPT_MAX, "the consumer's cache kept %llu bytes", kept);
    }
    puts("ok");
    return 0;
}
