/* Free pages of the heap go back to the OS once a free forms a free block of 1 MiB or
 * more (best fit's PURGE_MIN, buddy's PURGE_ORDER), while the region stays in use:
 *   - BLOCKS blocks of 64 KiB (below the mmap threshold, so heap blocks, and above the
 *     thread caches' sizes, so each free reaches the heap) are written through;
 *   - the first FREED of them are freed: they lie together, so they merge into free
 *     blocks of which at least one passes 1 MiB, while the rest keep the region in use;
 *   - the resident set must drop by at least 1 MiB. Without the purge it stayed where it
 *     was: the heap kept every page it had used. */
#include "common.h"

#define BLOCK (64 * BB_KIB)
#define BLOCKS 96
#define FREED 64

static void *blocks[BLOCKS];

int main(void)
{
    int ours = on_bestbuddy();
    for (int i = 0; i < BLOCKS; i++) {
        blocks[i] = malloc(BLOCK);
        CHECK(blocks[i] != NULL);
        memset(blocks[i], 0x5A, BLOCK);
    }
    long before = bb_status_kb("VmRSS");
    CHECK(before > 0);
    for (int i = 0; i < FREED; i++)
        free(blocks[i]);
    long after = bb_status_kb("VmRSS");
    printf("VmRSS %ld kB with %d blocks of 64 KiB, %ld kB after freeing %d of them\n", before,
           BLOCKS, after, FREED);
    if (ours)
        CHECKF(before - after >= 1024, "the resident set dropped by %ld kB only",
               before - after);
    for (int i = FREED; i < BLOCKS; i++) {
        CHECK(bb_all_bytes(blocks[i], BLOCK, 0x5A));
        free(blocks[i]);
    }
    /* The purged memory serves again, and reads as what is written there. */
    for (int i = 0; i < FREED; i++) {
        blocks[i] = malloc(BLOCK);
        CHECK(blocks[i] != NULL);
        memset(blocks[i], i, BLOCK);
    }
    for (int i = 0; i < FREED; i++) {
        CHECK(bb_all_bytes(blocks[i], BLOCK, (unsigned char)i));
        free(blocks[i]);
    }
    puts("ok");
    return 0;
}
