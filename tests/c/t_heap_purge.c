/* Free pages of the heap go back to the OS once frees form free blocks of 1 MiB or more
 * (best fit's PURGE_MIN, buddy's PURGE_ORDER), while the regions stay in use:
 *   - big blocks: BIG blocks of 64 KiB (below the mmap threshold, so heap blocks, and above
 *     the thread caches' sizes, so each free reaches the heap) are written through, and all
 *     but every PIN_EVERY-th are freed: runs of 23 blocks (1.4 MiB) between live ones, so
 *     every region keeps a block in use and each run forms a free block of over 1 MiB
 *     (for buddy, a run holds a whole aligned megabyte or not, as it falls);
 *   - small blocks: SMALL blocks of 256 bytes, all but one in 8192 freed in address order,
 *     a few at a time through the thread cache: each free adds less than a system call is
 *     worth, and best fit gives those pages back in passes (PURGE_BACKLOG); buddy gives back
 *     each whole megabyte its merges free.
 * The resident set must drop by a good part of what was freed, and the statistics count
 * the pages given back ("trimmed"). Without the purge neither moved: the heap kept every
 * page it had used. */
#include "common.h"
#include "../../include/bestbuddy.h"

#pragma weak bestbuddy_stats_get

#define BIG (64 * BB_KIB)
#define BIGS 96
#define PIN_EVERY 24
#define SMALL 256
#define SMALLS 40000
#define SMALL_PIN_EVERY 8192

static void *big[BIGS];
static void *small[SMALLS];

static unsigned long long trimmed(int ours)
{
    struct bestbuddy_stats s;
    if (!ours)
        return 0;
    CHECK(bestbuddy_stats_get(&s, sizeof s) == 0);
    return s.trimmed_bytes;
}

/* Checks and frees the blocks still live (not NULL), each filled with `byte`. */
static void free_survivors(void **blocks, int n, size_t size, unsigned char byte)
{
    for (int i = 0; i < n; i++)
        if (blocks[i] != NULL) {
            CHECK(bb_all_bytes(blocks[i], size, byte));
            free(blocks[i]);
        }
}

int main(void)
{
    int ours = on_bestbuddy();
    int best_fit = ours && strcmp(bestbuddy_backend(), "best-fit") == 0;

    for (int i = 0; i < BIGS; i++) {
        big[i] = malloc(BIG);
        CHECK(big[i] != NULL);
        memset(big[i], 0x5A, BIG);
    }
    long before = bb_status_kb("VmRSS");
    unsigned long long trimmed_before = trimmed(ours);
    CHECK(before > 0);
    size_t freed = 0;
    for (int i = 0; i < BIGS; i++)
        if (i % PIN_EVERY != PIN_EVERY - 1) {
            free(big[i]);
            big[i] = NULL;
            freed += BIG;
        }
    long after = bb_status_kb("VmRSS");
    unsigned long long given = trimmed(ours) - trimmed_before;
    printf("64 KiB blocks: VmRSS %ld -> %ld kB after freeing %zu KiB; %llu KiB given back\n",
           before, after, freed / BB_KIB, given / BB_KIB);
    if (ours) {
        /* Buddy gives back the whole megabytes of buddies among the runs: at least one. */
        CHECKF(before - after >= 1024, "the resident set dropped by %ld kB only", before - after);
        CHECKF(given >= BB_MIB, "the statistics count %llu bytes given back", given);
    }
    free_survivors(big, BIGS, BIG, 0x5A);

    for (int i = 0; i < SMALLS; i++) {
        small[i] = malloc(SMALL);
        CHECK(small[i] != NULL);
        memset(small[i], 0x3C, SMALL);
    }
    before = bb_status_kb("VmRSS");
    freed = 0;
    for (int i = 0; i < SMALLS; i++)
        if (i % SMALL_PIN_EVERY != SMALL_PIN_EVERY - 1) {
            free(small[i]);
            small[i] = NULL;
            freed += SMALL;
        }
    after = bb_status_kb("VmRSS");
    printf("256-byte blocks: VmRSS %ld -> %ld kB after freeing %zu KiB\n", before, after,
           freed / BB_KIB);
    /* Best fit purges every free block of 1 MiB or more in its passes; buddy only the
     * megabytes that merge whole (here about every other one: a live block in each 2 MiB). */
    if (ours) {
        long want = (long)(freed / BB_KIB) * (best_fit ? 2 : 1) / (best_fit ? 3 : 4);
        CHECKF(before - after >= want, "the resident set dropped by %ld kB, not %ld",
               before - after, want);
    }
    free_survivors(small, SMALLS, SMALL, 0x3C);

    /* The purged memory serves again, and reads as what is written there. */
    for (int i = 0; i < BIGS; i++) {
        big[i] = malloc(BIG);
        CHECK(big[i] != NULL);
        memset(big[i], i, BIG);
    }
    for (int i = 0; i < BIGS; i++) {
        CHECK(bb_all_bytes(big[i], BIG, (unsigned char)i));
        free(big[i]);
    }
    puts("ok");
    return 0;
}
