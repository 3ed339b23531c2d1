/* A thread's cache gives back the blocks of the sizes it stopped using.
 *   - the thread makes and frees 16 blocks each of many sizes (every 16 bytes from 64 to
 *     4000), which leaves blocks of each of those classes in its cache;
 *   - then it works in one size only (32 bytes), in bursts large enough that its bin keeps
 *     missing and overflowing: those slow paths sweep the cache, and the bins that no call
 *     touched since the sweep before give their blocks back to the heap;
 *   - at the end the cache holds about one bin's worth, not a few blocks of every size it
 *     once used (without the sweep, best fit kept them in each of its 16-byte classes).
 * The statistics count the calling thread's own cache block by block. */
#include "common.h"
#include "../../include/bestbuddy.h"

#pragma weak bestbuddy_stats_get

#define PER_SIZE 16
#define BURST 4096
#define BURSTS 16
/* What may stay cached: the busy bin at its largest (a few KiB) and room to spare, well
 * below what the idle sizes held without the sweep. */
#define CACHED_MAX (16 * BB_KIB)

static void *p[BURST];

int main(void)
{
    int ours = on_bestbuddy();
    size_t made = 0;
    for (size_t size = 64; size <= 4000; size += 16) {
        for (int i = 0; i < PER_SIZE; i++) {
            p[i] = malloc(size);
            CHECK(p[i] != NULL);
            memset(p[i], 0x3C, size);
            made += size;
        }
        for (int i = 0; i < PER_SIZE; i++)
            free(p[i]);
    }
    for (int b = 0; b < BURSTS; b++) {
        for (int i = 0; i < BURST; i++) {
            p[i] = malloc(32);
            CHECK(p[i] != NULL);
            memset(p[i], b, 32);
        }
        for (int i = 0; i < BURST; i++) {
            CHECK(((unsigned char *)p[i])[31] == (unsigned char)b);
            free(p[i]);
        }
    }
    if (ours) {
        struct bestbuddy_stats s;
        CHECK(bestbuddy_stats_get(&s, sizeof s) == 0);
        printf("made %zu KiB in many sizes, then worked in one: %llu KiB cached in %llu blocks\n",
               made / BB_KIB, (unsigned long long)(s.cached_bytes / BB_KIB),
               (unsigned long long)s.cached_blocks);
        CHECKF(s.cached_bytes <= CACHED_MAX, "the cache still holds %llu bytes",
               (unsigned long long)s.cached_bytes);
    }
    puts("ok");
    return 0;
}
