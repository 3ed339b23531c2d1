/* A program that has mapped 8 large blocks afresh cycles through large blocks: from then on
 * its freed large mappings are kept (up to 64 MiB) even when fewer large bytes are live, so
 * that the next large blocks take neither system calls nor page faults. But that dead memory
 * must not add to the program's peak: once its heap grows past the footprint it had, the
 * kept mappings go, oldest first, to make room.
 *
 * Eight 4 MiB blocks are mapped, written and all freed: kept (32 MiB). Then 48 MiB of heap
 * blocks (256 KiB each, below either heap's mmap threshold) are written: the heap maps
 * regions past the footprint of the first phase, and no mapping may stay kept. */
#include "common.h"

enum { N = 8, SMALL_N = 192 };
#define BLOCK ((size_t)4 << 20)
#define SMALL ((size_t)256 << 10)

int main(void)
{
    int bb = on_bestbuddy();
    char *blocks[N];
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(BLOCK);
        CHECK(blocks[i] != NULL);
        memset(blocks[i], 0x5a, BLOCK);
    }
    for (int i = 0; i < N; i++)
        free(blocks[i]);
    if (bb)
        CHECKF(mallinfo2().keepcost >= N * BLOCK, "keepcost %zu: a cycling program's freed "
               "large blocks were not kept", mallinfo2().keepcost);

    /* Reused: the same blocks again take no fresh mapping, and calloc still zeroes. */
    char *z = calloc(1, BLOCK);
    CHECK(z != NULL);
    CHECK(bb_all_bytes(z, BLOCK, 0));
    free(z);

    long hwm_before = bb_status_kb("VmHWM");
    char *small[SMALL_N];
    for (int i = 0; i < SMALL_N; i++) {
        small[i] = malloc(SMALL);
        CHECK(small[i] != NULL);
        memset(small[i], 0x33, SMALL);
    }
    long hwm_after = bb_status_kb("VmHWM");
    printf("keepcost %zu, VmHWM %ld -> %ld kB\n", mallinfo2().keepcost, hwm_before, hwm_after);
    if (bb) {
        CHECKF(mallinfo2().keepcost < BLOCK, "keepcost %zu: kept mappings outlived the "
               "heap's growth", mallinfo2().keepcost);
        /* 48 MiB written on top of a 32 MiB peak: with the kept 32 MiB still resident the
         * peak would grow by 48 MiB; shed, by about 16. */
        CHECKF(hwm_after - hwm_before < 36 * 1024, "VmHWM %ld -> %ld kB", hwm_before,
               hwm_after);
    }
    for (int i = 0; i < SMALL_N; i++)
        free(small[i]);
    return 0;
}
